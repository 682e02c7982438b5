/* SPDX-License-Identifier: MIT */
/*
 * sl_config_guard.c - guards in the pipeline file and in runtime edits:
 * rules from lists, files and text, compiled rule sets shared by
 * reference between snapshots.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <hs.h>
#include <yaml.h>

#include "sl_confine.h"
#include "sl_config.h"
#include "sl_config_int.h"
#include "sl_guard.h"

static int
rules_add(struct guard_rules *r, enum sl_guard_kind kind, const char *pattern,
	  char *owned)
{
	if (r->n == r->cap) {
		unsigned int cap = r->cap ? r->cap * 2 : 64;
		void *p = realloc(r->rules, cap * sizeof(*r->rules));

		if (p == NULL)
			return -ENOMEM;
		r->rules = p;
		p = realloc(r->owned, cap * sizeof(*r->owned));
		if (p == NULL)
			return -ENOMEM;
		r->owned = p;
		r->cap = cap;
	}
	if (owned != NULL)
		r->owned[r->n_owned++] = owned;
	r->rules[r->n] = (struct sl_guard_rule){
		.id = r->n + 1, .kind = kind, .pattern = pattern};
	r->n++;
	return 0;
}

static void
rules_free(struct guard_rules *r)
{
	for (unsigned int i = 0; i < r->n_owned; i++)
		free(r->owned[i]);
	free(r->owned);
	free(r->rules);
}

/* A ref holding @set and a copy of the rules it was compiled from. */
static struct sl_guard_ref *
guard_ref_new(struct sl_guard_set *set, const struct guard_rules *r,
	      const char *mask)
{
	struct sl_guard_ref *ref = calloc(1, sizeof(*ref));

	if (ref == NULL)
		return NULL;
	ref->patterns = calloc(r->n ? r->n : 1, sizeof(*ref->patterns));
	ref->regex = calloc(r->n ? r->n : 1, sizeof(*ref->regex));
	if (ref->patterns == NULL || ref->regex == NULL)
		goto fail;
	for (unsigned int i = 0; i < r->n; i++) {
		ref->patterns[i] = strdup(r->rules[i].pattern);
		if (ref->patterns[i] == NULL)
			goto fail;
		ref->regex[i] = r->rules[i].kind == SL_GUARD_KIND_REGEX;
		ref->n_rules = i + 1;
	}
	snprintf(ref->mask, sizeof(ref->mask), "%s", mask ? mask : "");
	ref->set = set;
	ref->refs = 1;
	return ref;
fail:
	for (unsigned int i = 0; i < ref->n_rules; i++)
		free(ref->patterns[i]);
	free(ref->patterns);
	free(ref->regex);
	free(ref);
	return NULL;
}

/* A list of scalars (literals or regexes) into @r. */
static int
guard_list(struct sl_cfg_ctx *c, const yaml_node_t *node, const char *path,
	   enum sl_guard_kind kind, struct guard_rules *r)
{
	char sub[SL_CFG_PATH_MAX];
	unsigned int n, i;

	if (cfg_expect_list(c, node, path, 1, SL_GUARD_RULES_MAX, &n))
		return -EINVAL;
	for (i = 0; i < n; i++) {
		yaml_node_t *item = cfg_list_item(c, node, i);

		cfg_path_index(sub, path, i);
		if (cfg_expect_scalar(c, item, sub))
			return -EINVAL;
		if (item->data.scalar.length == 0)
			return cfg_fail(c, item, sub, "must not be empty");
		if (rules_add(r, kind, (const char *)item->data.scalar.value,
			      NULL))
			return cfg_fail(c, item, sub, "out of memory");
	}
	return 0;
}

/* One literal a line (blank lines skipped, a CR before the LF ignored),
 * read through the config's file confinement (sl_confine.h): beneath the
 * config directory, no links, a regular file of bounded size. */
static int
guard_file(struct sl_cfg_ctx *c, const yaml_node_t *node, const char *path,
	   struct guard_rules *r)
{
	char why[512], q[SL_CFG_QUOTE_MAX + 8];
	const char *name, *p;
	unsigned int line = 0;
	char *text;
	size_t len;

	if (cfg_expect_scalar(c, node, path))
		return -EINVAL;
	name = (const char *)node->data.scalar.value;
	if (sl_confine_file(c->files, name, &text, &len, why, sizeof(why)) != 0)
		return cfg_fail(c, node, path, "\"%s\": %s",
				cfg_quote(node, q, sizeof(q)), why);
	for (p = text; *p != '\0';) {
		size_t n = strcspn(p, "\n");
		const char *next = p[n] == '\n' ? p + n + 1 : p + n;
		char *lit;

		line++;
		if (n > 0 && p[n - 1] == '\r')
			n--;
		if (n == 0) {
			p = next;
			continue;
		}
		if (n >= SL_GUARD_TEXT_MAX) {
			free(text);
			return cfg_fail(c, node, path,
					"\"%s\": line %u: at most %u bytes, "
					"got %zu",
					cfg_quote(node, q, sizeof(q)), line,
					SL_GUARD_TEXT_MAX - 1, n);
		}
		lit = strndup(p, n);
		if (lit == NULL ||
		    rules_add(r, SL_GUARD_KIND_LITERAL, lit, lit)) {
			free(lit);
			free(text);
			return cfg_fail(c, node, path, "out of memory");
		}
		if (r->n > SL_GUARD_RULES_MAX) {
			free(text);
			return cfg_fail(c, node, path, "more than %u rules",
					SL_GUARD_RULES_MAX);
		}
		p = next;
	}
	free(text);
	return 0;
}

static int
guard_text(struct sl_cfg_ctx *c, const yaml_node_t *node, const char *path,
	   char *out)
{
	if (cfg_expect_scalar(c, node, path))
		return -EINVAL;
	if (node->data.scalar.length >= SL_GUARD_TEXT_MAX)
		return cfg_fail(c, node, path, "at most %u bytes, got %zu",
				SL_GUARD_TEXT_MAX - 1,
				node->data.scalar.length);
	if (!sl_utf8_valid(node->data.scalar.value, node->data.scalar.length))
		return cfg_fail(c, node, path, "not valid UTF-8");
	memcpy(out, node->data.scalar.value, node->data.scalar.length + 1);
	return 0;
}

static int
parse_guard(struct sl_cfg_ctx *c, const yaml_node_t *node, const char *path,
	    struct sl_guard_cfg *g)
{
	static const char *const keys[] = {
		"name",          "action",  "literals",
		"literals_file", "regex",   "mask",
		"prefix",        "refusal", NULL};
	static const char *const actions[] = {"block", "redact", "log", NULL};
	char sub[SL_CFG_PATH_MAX], mask[SL_GUARD_TEXT_MAX] = "";
	struct guard_rules r = {0};
	struct sl_guard_error gerr;
	struct sl_guard_set *set;
	unsigned int word = 0, n_inline = 0, n_file = 0;
	yaml_node_t *v[8];
	int rc = -EINVAL;

	if (cfg_map_collect(c, node, path, keys, v))
		return -EINVAL;
	if (v[0] == NULL)
		return cfg_missing(c, node, path, "name");
	cfg_path_key(sub, path, "name");
	if (cfg_get_name(c, v[0], sub, NULL, g->name))
		return -EINVAL;
	if (v[1] != NULL) {
		cfg_path_key(sub, path, "action");
		if (cfg_get_word(c, v[1], sub, actions, "block, redact or log",
				 &word))
			return -EINVAL;
	}
	g->action = (int)word;
	snprintf(g->refusal, sizeof(g->refusal), "%s",
		 "I can't help with that.");
	cfg_path_key(sub, path, "mask");
	if (v[5] != NULL &&
	    (g->action != SL_GUARD_ACTION_REDACT
		     ? cfg_fail(c, v[5], sub, "only with action: redact")
		     : guard_text(c, v[5], sub, mask)))
		return -EINVAL;
	cfg_path_key(sub, path, "prefix");
	if (v[6] != NULL && guard_text(c, v[6], sub, g->prefix))
		return -EINVAL;
	cfg_path_key(sub, path, "refusal");
	if (v[7] != NULL && guard_text(c, v[7], sub, g->refusal))
		return -EINVAL;
	cfg_path_key(sub, path, "literals");
	if (v[2] != NULL && guard_list(c, v[2], sub, SL_GUARD_KIND_LITERAL, &r))
		goto out;
	n_inline = r.n;
	cfg_path_key(sub, path, "literals_file");
	if (v[3] != NULL && guard_file(c, v[3], sub, &r))
		goto out;
	n_file = r.n;
	cfg_path_key(sub, path, "regex");
	if (v[4] != NULL && guard_list(c, v[4], sub, SL_GUARD_KIND_REGEX, &r))
		goto out;
	if (r.n == 0 && g->prefix[0] == '\0') {
		rc = cfg_fail(c, node, path,
			      "a guard needs rules (literals, literals_file, "
			      "regex) or a prefix");
		goto out;
	}
	g->n_rules = r.n;
	if (r.n == 0) {
		rc = 0;
		goto out;
	}
	for (unsigned int i = 0; i < r.n; i++) {
		r.rules[i].action = (enum sl_guard_action)g->action;
		r.rules[i].mask = mask[0] ? mask : NULL;
	}
	set = sl_guard_compile(r.rules, r.n, NULL, &gerr);
	if (set == NULL) {
		/* The line of the list the rejected rule came from. */
		const yaml_node_t *at =
			gerr.rule < 0                        ? node
			: (unsigned int)gerr.rule < n_inline ? v[2]
			: (unsigned int)gerr.rule < n_file   ? v[3]
							     : v[4];

		rc = cfg_fail(c, at, path, "%s", gerr.text);
		goto out;
	}
	g->ref = guard_ref_new(set, &r, mask);
	if (g->ref == NULL) {
		sl_guard_free(set);
		rc = cfg_fail(c, node, path, "out of memory");
		goto out;
	}
	rc = 0;
out:
	rules_free(&r);
	return rc;
}

int
cfg_parse_guards(struct sl_cfg_ctx *c, const yaml_node_t *node)
{
	char path[SL_CFG_PATH_MAX];
	unsigned int n, i, j;

	if (node == NULL)
		return 0;
	if (cfg_expect_list(c, node, "guards", 1, SL_MAX_GUARDS, &n))
		return -EINVAL;
	for (i = 0; i < n; i++) {
		yaml_node_t *item = cfg_list_item(c, node, i);
		struct sl_guard_cfg *g = &c->cfg->guards[i];

		cfg_path_index(path, "guards", i);
		/* Counted first: sl_config_free releases what compiled. */
		c->cfg->n_guards = (uint16_t)(i + 1);
		if (parse_guard(c, item, path, g))
			return -EINVAL;
		for (j = 0; j < i; j++)
			if (!strcmp(c->cfg->guards[j].name, g->name)) {
				char sub[SL_CFG_PATH_MAX];

				cfg_path_key(sub, path, "name");
				return cfg_fail(c, item, sub,
						"duplicate guard \"%s\"",
						g->name);
			}
	}
	return 0;
}

/*
 * Is guard @gi on an edge to the client of a pipeline that says guard:
 * required? Then it must keep a rule: write why into @err, return true.
 */
static bool
guard_required_on(const struct sl_config *cfg, unsigned int gi, char *err,
		  size_t errlen, const char *guard)
{
	for (unsigned int p = 0; p < cfg->n_pipelines; p++) {
		const struct sl_pipeline_cfg *pl = &cfg->pipelines[p];

		for (unsigned int e = 0; pl->guard_required && e < pl->n_edges;
		     e++)
			if (pl->edges[e].to == SL_STAGE_CLIENT &&
			    pl->edges[e].guard == gi + 1) {
				snprintf(err, errlen,
					 "pattern: the last rule of guard %s, "
					 "which pipeline %s requires on %s -> "
					 "client (guard: required)",
					 guard, pl->name,
					 sl_stage_name_of(pl,
							  pl->edges[e].from));
				return true;
			}
	}
	return false;
}

int
sl_config_guard_edit(struct sl_config *cfg, const char *guard, bool remove,
		     bool regex, const char *pattern, char *err, size_t errlen)
{
	struct sl_guard_cfg *g = NULL;
	struct sl_guard_ref *old, *ref;
	struct guard_rules r = {0};
	struct sl_guard_error gerr;
	struct sl_guard_set *set;
	unsigned int i, found = UINT_MAX;
	int rc;

	for (i = 0; i < cfg->n_guards && g == NULL; i++)
		if (strcmp(cfg->guards[i].name, guard) == 0)
			g = &cfg->guards[i];
	if (g == NULL) {
		snprintf(err, errlen, "guard: no guard named \"%s\"", guard);
		return -ENOENT;
	}
	old = g->ref;
	for (i = 0; old != NULL && i < old->n_rules; i++)
		if (old->regex[i] == regex &&
		    strcmp(old->patterns[i], pattern) == 0)
			found = i;
	if (remove && found == UINT_MAX) {
		snprintf(err, errlen, "pattern: guard %s has no %s \"%s\"",
			 guard, regex ? "regex" : "literal", pattern);
		return -ENOENT;
	}
	if (!remove && found != UINT_MAX) {
		snprintf(err, errlen, "pattern: guard %s has that %s already",
			 guard, regex ? "regex" : "literal");
		return -EEXIST;
	}
	for (i = 0; old != NULL && i < old->n_rules; i++)
		if (i != found &&
		    rules_add(&r,
			      old->regex[i] ? SL_GUARD_KIND_REGEX
					    : SL_GUARD_KIND_LITERAL,
			      old->patterns[i], NULL)) {
			rc = -ENOMEM;
			goto out;
		}
	if (!remove &&
	    rules_add(&r, regex ? SL_GUARD_KIND_REGEX : SL_GUARD_KIND_LITERAL,
		      pattern, NULL)) {
		rc = -ENOMEM;
		goto out;
	}
	if (r.n == 0 && g->prefix[0] == '\0') {
		snprintf(err, errlen,
			 "pattern: the last rule of guard %s, which has no "
			 "prefix",
			 guard);
		rc = -EINVAL;
		goto out;
	}
	if (r.n == 0 && guard_required_on(cfg, (unsigned int)(g - cfg->guards),
					  err, errlen, guard)) {
		rc = -EINVAL;
		goto out;
	}
	set = NULL;
	if (r.n != 0) {
		for (i = 0; i < r.n; i++) {
			r.rules[i].action = (enum sl_guard_action)g->action;
			r.rules[i].mask =
				old != NULL && old->mask[0] ? old->mask : NULL;
		}
		set = sl_guard_compile(r.rules, r.n, NULL, &gerr);
		if (set == NULL) {
			snprintf(err, errlen, "pattern: %s", gerr.text);
			rc = -EINVAL;
			goto out;
		}
	}
	ref = NULL;
	if (set != NULL) {
		ref = guard_ref_new(set, &r, old != NULL ? old->mask : NULL);
		if (ref == NULL) {
			sl_guard_free(set);
			rc = -ENOMEM;
			goto out;
		}
	}
	g->ref = ref;
	g->n_rules = r.n;
	sl_guard_ref_put(old);
	rc = 0;
out:
	if (rc == -ENOMEM)
		snprintf(err, errlen, "pattern: out of memory");
	rules_free(&r);
	return rc;
}
