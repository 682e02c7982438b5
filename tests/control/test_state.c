/* SPDX-License-Identifier: MIT */
/*
 * test_state.c - runtime changes kept across restarts (control/sl_state.h)
 * with real configs and a real state directory:
 *
 *   test_state
 *
 * Edits and applies saved, then restored by a fresh sl_state as a restart
 * would (instances, drains and guard rules as they were, the generation
 * kept); the file atomic and private (0600, no temporary left, a stale
 * temporary ignored); a changed startup file wins and the state is set
 * aside; a state whose applied file no longer compiles, whose edit no
 * longer applies, or that is not a state at all refuses the restore with
 * the file and the reason; undo after a failed publish; the edit limit.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CUnit/Basic.h>

#include "sl_confine.h"
#include "sl_state.h"

static char g_dir[64];     /* the state directory */
static char g_cfgdir[64];  /* the config directory */
static char g_startup[96]; /* the --config file's path */

static const char *startup_yaml =
	"sluiced: {address: 10.77.0.1}\n"
	"guards:\n"
	"  - name: forget\n"
	"    literals: [Hsiao Yun-Hwa]\n"
	"pipelines:\n"
	"  - name: demo\n"
	"    id: 1\n"
	"    stages:\n"
	"      - {name: draft, instances: [10.77.0.11:7801, "
	"10.77.0.12:7801]}\n"
	"    edges:\n"
	"      - {from: client, to: draft}\n"
	"      - {from: draft, to: client, guard: forget}\n";

/* Another file to apply: a list file for its guard, one instance. */
static const char *applied_yaml =
	"sluiced: {address: 10.77.0.1}\n"
	"guards:\n"
	"  - name: forget\n"
	"    literals_file: authors.txt\n"
	"pipelines:\n"
	"  - name: demo\n"
	"    id: 1\n"
	"    stages:\n"
	"      - {name: draft, instances: [10.77.0.21:7801, "
	"10.77.0.22:7801]}\n"
	"    edges:\n"
	"      - {from: client, to: draft}\n"
	"      - {from: draft, to: client, guard: forget}\n";

static struct sl_confine g_files;

/* A restart: a fresh state on the directory, restoring onto the startup
 * config compiled from @text. */
static int
restart(struct sl_state *st, const char *text, struct sl_config **cfg,
	struct sl_state_restored *info, char *err)
{
	char e[512];
	int rc;

	*cfg = NULL;
	rc = sl_state_init(st, g_dir, g_startup, text, strlen(text), e,
			   sizeof(e));
	CU_ASSERT_EQUAL_FATAL(rc, 0);
	*cfg = sl_config_parse_in(text, strlen(text), g_startup, &g_files, e,
				  sizeof(e));
	CU_ASSERT_PTR_NOT_NULL_FATAL(*cfg);
	err[0] = '\0';
	return sl_state_restore(st, &g_files, cfg, info, err, 512);
}

static void
clear_dir(void)
{
	char path[128];

	snprintf(path, sizeof(path), "%s/%s", g_dir, SL_STATE_FILE);
	unlink(path);
	snprintf(path, sizeof(path), "%s/%s.superseded", g_dir, SL_STATE_FILE);
	unlink(path);
	snprintf(path, sizeof(path), "%s/%s.tmp", g_dir, SL_STATE_FILE);
	unlink(path);
}

/* Requests as sl_ctl records them. */
static Sluice__V1__Request *
add_req(Sluice__V1__Request *r, Sluice__V1__AddInstance *a,
	Sluice__V1__Instance *in, const char *name, const char *ip)
{
	sluice__v1__request__init(r);
	sluice__v1__add_instance__init(a);
	sluice__v1__instance__init(in);
	in->name = (char *)name;
	in->address = (char *)ip;
	in->port = 7801;
	a->pipeline = "demo";
	a->stage = "draft";
	a->instance = in;
	r->body_case = SLUICE__V1__REQUEST__BODY_ADD_INSTANCE;
	r->add_instance = a;
	r->id = 77;
	r->token = "must-not-be-kept";
	return r;
}

static Sluice__V1__Request *
drain_req(Sluice__V1__Request *r, Sluice__V1__DrainInstance *d,
	  const char *name)
{
	sluice__v1__request__init(r);
	sluice__v1__drain_instance__init(d);
	d->pipeline = "demo";
	d->stage = "draft";
	d->instance = (char *)name;
	r->body_case = SLUICE__V1__REQUEST__BODY_DRAIN_INSTANCE;
	r->drain_instance = d;
	return r;
}

static Sluice__V1__Request *
remove_req(Sluice__V1__Request *r, Sluice__V1__RemoveInstance *d,
	   const char *name)
{
	sluice__v1__request__init(r);
	sluice__v1__remove_instance__init(d);
	d->pipeline = "demo";
	d->stage = "draft";
	d->instance = (char *)name;
	r->body_case = SLUICE__V1__REQUEST__BODY_REMOVE_INSTANCE;
	r->remove_instance = d;
	return r;
}

static Sluice__V1__Request *
guard_req(Sluice__V1__Request *r, Sluice__V1__EditGuard *g, const char *lit)
{
	sluice__v1__request__init(r);
	sluice__v1__edit_guard__init(g);
	g->guard = "forget";
	g->pattern = (char *)lit;
	r->body_case = SLUICE__V1__REQUEST__BODY_EDIT_GUARD;
	r->edit_guard = g;
	return r;
}

/* Apply @req to *@cfg (as sl_ctl does) and save it. */
static void
change(struct sl_state *st, struct sl_config **cfg,
       const Sluice__V1__Request *req)
{
	char msg[512];
	int code;
	struct sl_config *next =
		sl_state_apply_edit(*cfg, req, &code, msg, sizeof(msg));

	if (next == NULL)
		printf("\n    edit refused: %s", msg);
	CU_ASSERT_PTR_NOT_NULL_FATAL(next);
	CU_ASSERT_EQUAL_FATAL(sl_state_save_edit(st, req, st->generation + 1,
						 msg, sizeof(msg)),
			      0);
	sl_config_free(*cfg);
	*cfg = next;
}

static const struct sl_instance_cfg *
find_instance(const struct sl_config *cfg, const char *name)
{
	const struct sl_stage_cfg *st = &cfg->pipelines[0].stages[0];

	for (uint16_t i = 0; i < st->n_instances; i++)
		if (strcmp(st->instances[i].name, name) == 0)
			return &st->instances[i];
	return NULL;
}

static void
test_edits_restored(void)
{
	struct sl_state st, st2;
	struct sl_state_restored info;
	struct sl_config *cfg, *back;
	Sluice__V1__Request r;
	Sluice__V1__AddInstance a;
	Sluice__V1__Instance in;
	Sluice__V1__DrainInstance d;
	Sluice__V1__EditGuard g;
	char err[512], path[128];
	struct stat sb;

	clear_dir();
	CU_ASSERT_EQUAL_FATAL(restart(&st, startup_yaml, &cfg, &info, err), 0);
	CU_ASSERT_FALSE(info.restored);
	CU_ASSERT_EQUAL(st.generation, 1);
	change(&st, &cfg, add_req(&r, &a, &in, "extra", "10.77.0.15"));
	change(&st, &cfg, drain_req(&r, &d, "draft/0"));
	change(&st, &cfg, guard_req(&r, &g, "Tofu Island"));
	CU_ASSERT_EQUAL(st.generation, 4);
	snprintf(path, sizeof(path), "%s/%s", g_dir, SL_STATE_FILE);
	CU_ASSERT_EQUAL_FATAL(stat(path, &sb), 0);
	CU_ASSERT_EQUAL(sb.st_mode & 07777, 0600);
	snprintf(path, sizeof(path), "%s/%s.tmp", g_dir, SL_STATE_FILE);
	CU_ASSERT_NOT_EQUAL(access(path, F_OK), 0);
	sl_state_fini(&st);
	sl_config_free(cfg);

	/* The restart. */
	CU_ASSERT_EQUAL_FATAL(restart(&st2, startup_yaml, &back, &info, err),
			      1);
	CU_ASSERT_TRUE(info.restored);
	CU_ASSERT_EQUAL(info.generation, 4);
	CU_ASSERT_EQUAL(info.edits, 3);
	CU_ASSERT_STRING_EQUAL(info.config, g_startup);
	CU_ASSERT_EQUAL(st2.generation, 4);
	CU_ASSERT_EQUAL(back->generation, 4);
	CU_ASSERT_EQUAL(back->pipelines[0].stages[0].n_instances, 3);
	CU_ASSERT_PTR_NOT_NULL_FATAL(find_instance(back, "extra"));
	CU_ASSERT_EQUAL(find_instance(back, "extra")->ep.ip, 0x0a4d000f);
	CU_ASSERT_TRUE(find_instance(back, "draft/0")->draining);
	CU_ASSERT_FALSE(find_instance(back, "draft/1")->draining);
	CU_ASSERT_EQUAL_FATAL(back->guards[0].n_rules, 2);
	CU_ASSERT_STRING_EQUAL(back->guards[0].ref->patterns[1], "Tofu Island");
	/* The edits kept are the requests, without id or token. */
	CU_ASSERT_EQUAL_FATAL(st2.n_edits, 3);
	CU_ASSERT_EQUAL(st2.edits[0]->id, 0);
	CU_ASSERT_STRING_EQUAL(st2.edits[0]->token, "");
	CU_ASSERT_STRING_EQUAL(st2.edits[0]->add_instance->instance->name,
			       "extra");
	/* A later change goes on from there. */
	change(&st2, &back,
	       remove_req(&r, (Sluice__V1__RemoveInstance *)&d, "extra"));
	CU_ASSERT_EQUAL(st2.generation, 5);
	sl_state_fini(&st2);
	sl_config_free(back);
	CU_ASSERT_EQUAL_FATAL(restart(&st2, startup_yaml, &back, &info, err),
			      1);
	CU_ASSERT_EQUAL(info.edits, 4);
	CU_ASSERT_EQUAL(info.generation, 5);
	CU_ASSERT_PTR_NULL(find_instance(back, "extra"));
	sl_state_fini(&st2);
	sl_config_free(back);
}

/* A pool that two stages share. */
static const char *pool_yaml =
	"sluiced: {address: 10.77.0.1}\n"
	"pipelines:\n"
	"  - name: demo\n"
	"    id: 1\n"
	"    pools:\n"
	"      - {name: lm, instances: [10.77.0.11:7801, 10.77.0.12:7801]}\n"
	"    stages:\n"
	"      - {name: draft, pool: lm}\n"
	"      - {name: polish, pool: lm}\n";

static Sluice__V1__Request *
policy_req(Sluice__V1__Request *r, Sluice__V1__SetPolicy *p, const char *stage,
	   const char *pool, Sluice__V1__Balance policy)
{
	sluice__v1__request__init(r);
	sluice__v1__set_policy__init(p);
	p->pipeline = "demo";
	p->stage = (char *)stage;
	p->pool = (char *)pool;
	p->policy = policy;
	r->body_case = SLUICE__V1__REQUEST__BODY_SET_POLICY;
	r->set_policy = p;
	return r;
}

/*
 * Policies and a pool's members, changed at run time and restored: a
 * pool's policy is every one of its stages', a stage's its own; an
 * instance added through one stage of a pool joins the pool (every stage
 * of it). Unknown names are refused with the field named.
 */
static void
test_pool_edits_restored(void)
{
	struct sl_state st, st2;
	struct sl_state_restored info;
	struct sl_config *cfg, *back;
	Sluice__V1__Request r;
	Sluice__V1__SetPolicy sp;
	Sluice__V1__AddInstance a;
	Sluice__V1__Instance in;
	char err[512], msg[512];
	int code;

	clear_dir();
	CU_ASSERT_EQUAL_FATAL(restart(&st, pool_yaml, &cfg, &info, err), 0);
	policy_req(&r, &sp, "", "lm",
		   SLUICE__V1__BALANCE__BALANCE_PROMPT_AWARE);
	sp.load_bound = 2.5;
	sp.warm_prefixes = 3;
	change(&st, &cfg, &r);
	change(&st, &cfg,
	       policy_req(&r, &sp, "polish", "",
			  SLUICE__V1__BALANCE__BALANCE_HASH_REQUEST));
	change(&st, &cfg, add_req(&r, &a, &in, "lm/2", "10.77.0.13"));
	sl_state_fini(&st);
	sl_config_free(cfg);

	CU_ASSERT_EQUAL_FATAL(restart(&st2, pool_yaml, &back, &info, err), 1);
	CU_ASSERT_EQUAL(info.edits, 3);
	CU_ASSERT_EQUAL(back->pipelines[0].pools[0].policy,
			SL_BALANCE_PROMPT_AWARE);
	CU_ASSERT_EQUAL(back->pipelines[0].pools[0].load_bound, 2.5);
	CU_ASSERT_EQUAL(back->pipelines[0].pools[0].warm_prefixes, 3);
	CU_ASSERT_EQUAL(back->pipelines[0].stages[0].balance,
			SL_BALANCE_PROMPT_AWARE);
	CU_ASSERT_EQUAL(back->pipelines[0].stages[1].balance,
			SL_BALANCE_HASH_REQUEST);
	CU_ASSERT_EQUAL(back->pipelines[0].pools[0].n_instances, 3);
	for (unsigned int s = 0; s < 2; s++) {
		const struct sl_stage_cfg *sc = &back->pipelines[0].stages[s];

		CU_ASSERT_EQUAL_FATAL(sc->n_instances, 3);
		CU_ASSERT_STRING_EQUAL(sc->instances[2].name, "lm/2");
		CU_ASSERT_EQUAL(sc->instances[2].ep.ip, 0x0a4d000d);
	}
	CU_ASSERT_NOT_EQUAL(back->pipelines[0].stages[0].instances[2].uid,
			    back->pipelines[0].stages[1].instances[2].uid);

	/* Refusals name the field. */
	CU_ASSERT_PTR_NULL(sl_state_apply_edit(
		back,
		policy_req(&r, &sp, "", "gpu",
			   SLUICE__V1__BALANCE__BALANCE_ROUND_ROBIN),
		&code, msg, sizeof(msg)));
	CU_ASSERT_EQUAL(code, SLUICE__V1__ERROR__CODE__CODE_NOT_FOUND);
	CU_ASSERT_STRING_EQUAL(msg, "pool: no pool named \"gpu\" in demo");
	CU_ASSERT_PTR_NULL(sl_state_apply_edit(
		back,
		policy_req(&r, &sp, "rerank", "",
			   SLUICE__V1__BALANCE__BALANCE_ROUND_ROBIN),
		&code, msg, sizeof(msg)));
	CU_ASSERT_EQUAL(code, SLUICE__V1__ERROR__CODE__CODE_NOT_FOUND);
	CU_ASSERT_STRING_EQUAL(msg, "stage: no stage named \"rerank\" in demo");
	CU_ASSERT_PTR_NULL(sl_state_apply_edit(
		back,
		policy_req(&r, &sp, "draft", "lm",
			   SLUICE__V1__BALANCE__BALANCE_ROUND_ROBIN),
		&code, msg, sizeof(msg)));
	CU_ASSERT_EQUAL(code, SLUICE__V1__ERROR__CODE__CODE_INVALID);
	/* A pool's settings: in range, and only for a pool; a refusal
	 * changes nothing. */
	policy_req(&r, &sp, "", "lm", SLUICE__V1__BALANCE__BALANCE_ROUND_ROBIN);
	sp.load_bound = 1.0;
	CU_ASSERT_PTR_NULL(
		sl_state_apply_edit(back, &r, &code, msg, sizeof(msg)));
	CU_ASSERT_EQUAL(code, SLUICE__V1__ERROR__CODE__CODE_INVALID);
	CU_ASSERT_STRING_EQUAL(
		msg, "load_bound: must be above 1.0 and at most 16.0, got 1");
	sp.load_bound = 0;
	sp.warm_prefixes = 5;
	CU_ASSERT_PTR_NULL(
		sl_state_apply_edit(back, &r, &code, msg, sizeof(msg)));
	CU_ASSERT_STRING_EQUAL(msg, "warm_prefixes: must be 1..4, got 5");
	policy_req(&r, &sp, "polish", "",
		   SLUICE__V1__BALANCE__BALANCE_ROUND_ROBIN);
	sp.load_bound = 2;
	CU_ASSERT_PTR_NULL(
		sl_state_apply_edit(back, &r, &code, msg, sizeof(msg)));
	CU_ASSERT_STRING_EQUAL(
		msg, "load_bound: a pool's setting: name the pool (--pool)");
	CU_ASSERT_EQUAL(back->pipelines[0].pools[0].policy,
			SL_BALANCE_PROMPT_AWARE);
	CU_ASSERT_EQUAL(back->pipelines[0].pools[0].load_bound, 2.5);
	sl_state_fini(&st2);
	sl_config_free(back);
}

static void
test_apply_restored(void)
{
	struct sl_state st;
	struct sl_state_restored info;
	struct sl_config *cfg;
	Sluice__V1__Request r;
	Sluice__V1__DrainInstance d;
	Sluice__V1__AddInstance a;
	Sluice__V1__Instance in;
	char err[512], want[512];

	clear_dir();
	CU_ASSERT_EQUAL_FATAL(restart(&st, startup_yaml, &cfg, &info, err), 0);
	change(&st, &cfg, add_req(&r, &a, &in, "extra", "10.77.0.15"));
	/* An apply: what came before it no longer counts. */
	sl_config_free(cfg);
	cfg = sl_config_parse_in(applied_yaml, strlen(applied_yaml),
				 "applied.yaml", &g_files, err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
	CU_ASSERT_EQUAL(sl_state_save_apply(&st, "applied.yaml", applied_yaml,
					    strlen(applied_yaml), 3, err,
					    sizeof(err)),
			0);
	CU_ASSERT_EQUAL(st.n_edits, 0);
	change(&st, &cfg, drain_req(&r, &d, "draft/1"));
	sl_state_fini(&st);
	sl_config_free(cfg);

	CU_ASSERT_EQUAL_FATAL(restart(&st, startup_yaml, &cfg, &info, err), 1);
	CU_ASSERT_EQUAL(info.generation, 4);
	CU_ASSERT_EQUAL(info.edits, 1);
	CU_ASSERT_STRING_EQUAL(info.config, "applied.yaml");
	CU_ASSERT_PTR_NULL(find_instance(cfg, "extra"));
	CU_ASSERT_EQUAL(find_instance(cfg, "draft/0")->ep.ip, 0x0a4d0015);
	CU_ASSERT_TRUE(find_instance(cfg, "draft/1")->draining);
	CU_ASSERT_EQUAL(cfg->guards[0].n_rules, 2); /* from authors.txt */
	sl_state_fini(&st);
	sl_config_free(cfg);

	/* The list file is gone: the state no longer compiles, and the
	 * start is refused with the file and the reason. */
	snprintf(want, sizeof(want), "%s/authors.txt", g_cfgdir);
	CU_ASSERT_EQUAL_FATAL(rename(want, "/tmp/sl_state_authors.txt"), 0);
	CU_ASSERT_EQUAL(restart(&st, startup_yaml, &cfg, &info, err), -EINVAL);
	snprintf(want, sizeof(want),
		 "%s/%s: the applied file no longer compiles: applied.yaml:4: "
		 "guards[0].literals_file: \"authors.txt\": No such file or "
		 "directory",
		 g_dir, SL_STATE_FILE);
	CU_ASSERT_STRING_EQUAL(err, want);
	CU_ASSERT_FALSE(info.restored);
	sl_state_fini(&st);
	sl_config_free(cfg);
	snprintf(want, sizeof(want), "%s/authors.txt", g_cfgdir);
	CU_ASSERT_EQUAL(rename("/tmp/sl_state_authors.txt", want), 0);
}

static void
test_refusals(void)
{
	struct sl_state st;
	struct sl_state_restored info;
	struct sl_config *cfg;
	Sluice__V1__Request r;
	Sluice__V1__RemoveInstance rm;
	char err[512], want[512], path[128];
	FILE *f;

	/* An edit that does not apply to what the state starts from. */
	clear_dir();
	CU_ASSERT_EQUAL_FATAL(restart(&st, startup_yaml, &cfg, &info, err), 0);
	CU_ASSERT_EQUAL(sl_state_save_edit(&st, remove_req(&r, &rm, "ghost"), 2,
					   err, sizeof(err)),
			0);
	sl_state_fini(&st);
	sl_config_free(cfg);
	CU_ASSERT_EQUAL(restart(&st, startup_yaml, &cfg, &info, err), -EINVAL);
	snprintf(want, sizeof(want),
		 "%s/%s: edit 1 of 1 (remove demo/draft/ghost) no longer "
		 "applies: instance: no instance named \"ghost\" in draft",
		 g_dir, SL_STATE_FILE);
	CU_ASSERT_STRING_EQUAL(err, want);
	/* Nothing was replaced. */
	CU_ASSERT_EQUAL(cfg->pipelines[0].stages[0].n_instances, 2);
	sl_state_fini(&st);
	sl_config_free(cfg);

	/* Not a state file. */
	snprintf(path, sizeof(path), "%s/%s", g_dir, SL_STATE_FILE);
	f = fopen(path, "w");
	CU_ASSERT_FATAL(f != NULL);
	fputs("garbage, not protobuf\xff\xff", f);
	fclose(f);
	CU_ASSERT_EQUAL(restart(&st, startup_yaml, &cfg, &info, err), -EINVAL);
	snprintf(want, sizeof(want),
		 "%s/%s: not a sluice state file (version 1)", g_dir,
		 SL_STATE_FILE);
	CU_ASSERT_STRING_EQUAL(err, want);
	sl_state_fini(&st);
	sl_config_free(cfg);
}

static void
test_startup_changed(void)
{
	struct sl_state st;
	struct sl_state_restored info;
	struct sl_config *cfg;
	Sluice__V1__Request r;
	Sluice__V1__DrainInstance d;
	char err[512], want[512], path[128], *edited;

	clear_dir();
	CU_ASSERT_EQUAL_FATAL(restart(&st, startup_yaml, &cfg, &info, err), 0);
	change(&st, &cfg, drain_req(&r, &d, "draft/0"));
	sl_state_fini(&st);
	sl_config_free(cfg);
	/* The operator edits the file: it wins, the state is kept aside. */
	edited = malloc(strlen(startup_yaml) + 32);
	sprintf(edited, "%s# edited\n", startup_yaml);
	CU_ASSERT_EQUAL(restart(&st, edited, &cfg, &info, err), 2);
	snprintf(want, sizeof(want),
		 "state %s/%s was made from another version of %s: starting "
		 "from %s; generation 2 with 1 edits kept in %s/%s.superseded",
		 g_dir, SL_STATE_FILE, g_startup, g_startup, g_dir,
		 SL_STATE_FILE);
	CU_ASSERT_STRING_EQUAL(err, want);
	CU_ASSERT_FALSE(info.restored);
	CU_ASSERT_FALSE(find_instance(cfg, "draft/0")->draining);
	CU_ASSERT_EQUAL(st.generation, 1);
	snprintf(path, sizeof(path), "%s/%s", g_dir, SL_STATE_FILE);
	CU_ASSERT_NOT_EQUAL(access(path, F_OK), 0);
	snprintf(path, sizeof(path), "%s/%s.superseded", g_dir, SL_STATE_FILE);
	CU_ASSERT_EQUAL(access(path, F_OK), 0);
	sl_state_fini(&st);
	sl_config_free(cfg);
	free(edited);
}

static void
test_undo_and_stale_tmp(void)
{
	struct sl_state st;
	struct sl_state_restored info;
	struct sl_config *cfg;
	Sluice__V1__Request r;
	Sluice__V1__DrainInstance d;
	Sluice__V1__AddInstance a;
	Sluice__V1__Instance in;
	char err[512], path[128];
	FILE *f;

	clear_dir();
	CU_ASSERT_EQUAL_FATAL(restart(&st, startup_yaml, &cfg, &info, err), 0);
	change(&st, &cfg, drain_req(&r, &d, "draft/0"));
	CU_ASSERT_EQUAL(sl_state_save_apply(&st, "applied.yaml", applied_yaml,
					    strlen(applied_yaml), 3, err,
					    sizeof(err)),
			0);
	/* The dataplane refused the apply: back to the drain. */
	CU_ASSERT_EQUAL(sl_state_undo_last(&st, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(st.generation, 2);
	CU_ASSERT_EQUAL(st.n_edits, 1);
	CU_ASSERT_PTR_NULL(st.config_name);
	sl_state_fini(&st);
	sl_config_free(cfg);
	/* A crash mid-write left a temporary: ignored. */
	snprintf(path, sizeof(path), "%s/%s.tmp", g_dir, SL_STATE_FILE);
	f = fopen(path, "w");
	CU_ASSERT_FATAL(f != NULL);
	fputs("half", f);
	fclose(f);
	CU_ASSERT_EQUAL_FATAL(restart(&st, startup_yaml, &cfg, &info, err), 1);
	CU_ASSERT_EQUAL(info.generation, 2);
	CU_ASSERT_EQUAL(info.edits, 1);
	CU_ASSERT_STRING_EQUAL(info.config, g_startup);
	CU_ASSERT_TRUE(find_instance(cfg, "draft/0")->draining);
	/* Undo of an edit. */
	change(&st, &cfg, add_req(&r, &a, &in, "late", "10.77.0.16"));
	CU_ASSERT_EQUAL(st.n_edits, 2);
	CU_ASSERT_EQUAL(sl_state_undo_last(&st, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(st.n_edits, 1);
	CU_ASSERT_EQUAL(st.generation, 2);
	sl_state_fini(&st);
	sl_config_free(cfg);
	CU_ASSERT_EQUAL_FATAL(restart(&st, startup_yaml, &cfg, &info, err), 1);
	CU_ASSERT_EQUAL(info.edits, 1);
	CU_ASSERT_PTR_NULL(find_instance(cfg, "late"));
	sl_state_fini(&st);
	sl_config_free(cfg);
}

static void
test_edit_limit(void)
{
	struct sl_state st;
	Sluice__V1__Request r;
	Sluice__V1__DrainInstance d;
	char err[512];
	unsigned int ok = 0;

	/* In memory only (no directory): the limit is the same. */
	CU_ASSERT_EQUAL_FATAL(sl_state_init(&st, NULL, g_startup, startup_yaml,
					    strlen(startup_yaml), err,
					    sizeof(err)),
			      0);
	drain_req(&r, &d, "draft/0");
	for (unsigned int i = 0; i < SL_STATE_MAX_EDITS; i++)
		ok += sl_state_save_edit(&st, &r, i + 2, err, sizeof(err)) == 0;
	CU_ASSERT_EQUAL(ok, SL_STATE_MAX_EDITS);
	CU_ASSERT_EQUAL(sl_state_save_edit(&st, &r, 9999, err, sizeof(err)),
			-ENOSPC);
	CU_ASSERT_STRING_EQUAL(err, "4096 edits since the last apply are kept "
				    "already; apply a pipeline file to start "
				    "again");
	CU_ASSERT_EQUAL(st.n_edits, SL_STATE_MAX_EDITS);
	/* An apply starts again. */
	CU_ASSERT_EQUAL(sl_state_save_apply(&st, "a.yaml", applied_yaml,
					    strlen(applied_yaml), 5000, err,
					    sizeof(err)),
			0);
	CU_ASSERT_EQUAL(sl_state_save_edit(&st, &r, 5001, err, sizeof(err)), 0);
	sl_state_fini(&st);
}

static int
setup(void)
{
	char path[128];
	FILE *f;

	snprintf(g_dir, sizeof(g_dir), "/tmp/sl_state.XXXXXX");
	snprintf(g_cfgdir, sizeof(g_cfgdir), "/tmp/sl_state_cfg.XXXXXX");
	if (mkdtemp(g_dir) == NULL || mkdtemp(g_cfgdir) == NULL)
		return -1;
	snprintf(g_startup, sizeof(g_startup), "%s/sluice.yaml", g_cfgdir);
	snprintf(path, sizeof(path), "%s/authors.txt", g_cfgdir);
	f = fopen(path, "w");
	if (f == NULL)
		return -1;
	fputs("Hsiao Yun-Hwa\nBasil Mahfouz\n", f);
	fclose(f);
	g_files.dir = g_cfgdir;
	return 0;
}

static int
teardown(void)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "rm -rf %s %s", g_dir, g_cfgdir);
	return system(cmd) == 0 ? 0 : -1;
}

int
main(void)
{
	static const struct {
		const char *name;
		void (*fn)(void);
	} tests[] = {
		{"edits restored", test_edits_restored},
		{"pool and policy edits restored", test_pool_edits_restored},
		{"an apply and its edits restored", test_apply_restored},
		{"refused: edit, not a state", test_refusals},
		{"a changed startup file wins", test_startup_changed},
		{"undo, stale temporary", test_undo_and_stale_tmp},
		{"edit limit", test_edit_limit},
	};
	CU_pSuite suite;
	unsigned int failed;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	suite = CU_add_suite("state", setup, teardown);
	for (size_t i = 0; suite && i < sizeof(tests) / sizeof(tests[0]); i++)
		CU_add_test(suite, tests[i].name, tests[i].fn);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
	CU_cleanup_registry();
	return failed ? 1 : 0;
}
