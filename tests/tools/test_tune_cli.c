/* SPDX-License-Identifier: MIT */
/*
 * test_tune_cli.c - `sluicectl tune` against simulated nodes (issue 16):
 * the real binary ($SL_SLUICECTL) run on small fleets, its JSON Lines
 * parsed, and what it prints held against sl_tune's formulas and against
 * sluice-sim run here by hand:
 *
 *   the spaces    sl_sim_space_policy is the bench space's pool
 *                 configurations at one cache size, plus hash_request
 *   rs            one line per evaluation, trials exact, configurations
 *                 without replacement, epsilon eps/N a trial and eps in
 *                 all, the Laplace scale N/(n_c eps), the first lowest
 *                 value wins, the winner's true attainment equal to
 *                 sl_sim_run's mean over the fleet
 *   noiseless     epsilon inf on every node: the released value is the
 *                 fleet's mean
 *   hb            Hyperband's plan (R 3, eta 3: 6 evaluations) and its
 *                 charges: eps/T per eliminating rung, the final
 *                 selection's eps/T split by finalists
 *   proxy         evaluations on the proxy only, nothing charged
 *   same seeds    byte-identical output, text and JSON
 *   refusals      a budget smaller than the job (exit 1, nothing run), bad
 *                 options named (exit 2), --apply without a pool, --apply
 *                 --dry-run connecting to nothing
 */
#include <CUnit/Basic.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sim_space.h"
#include "sl_tune.h"
#include "tt_proc.h"

static const char *g_ctl;
static char g_dir[64];

struct out {
	int rc;
	char *out;
	char *err;
};

static void
out_free(struct out *o)
{
	free(o->out);
	free(o->err);
	memset(o, 0, sizeof(*o));
}

/* Run sluicectl with the NULL-ended arguments after "tune". */
static struct out
tune(const char *first, ...)
{
	const char *argv[64];
	char out_path[128], err_path[128];
	struct out o;
	va_list ap;
	int n = 0;

	argv[n++] = g_ctl;
	argv[n++] = "--socket";
	argv[n++] = "/nonexistent/sluiced.sock";
	argv[n++] = "tune";
	va_start(ap, first);
	for (const char *a = first; a != NULL && n < 63;
	     a = va_arg(ap, const char *))
		argv[n++] = a;
	va_end(ap);
	argv[n] = NULL;
	snprintf(out_path, sizeof(out_path), "%s/out", g_dir);
	snprintf(err_path, sizeof(err_path), "%s/err", g_dir);
	o.rc = tt_run((char *const *)argv, out_path, err_path);
	o.out = tt_slurp(out_path, NULL);
	o.err = tt_slurp(err_path, NULL);
	return o;
}

/* The JSON objects of @text, one a line, into @v (at most @cap). */
static size_t
lines(const char *text, json_t **v, size_t cap)
{
	size_t n = 0;

	while (text && *text && n < cap) {
		const char *nl = strchr(text, '\n');
		size_t len = nl ? (size_t)(nl - text) : strlen(text);
		json_error_t e;

		v[n] = json_loadb(text, len, 0, &e);
		if (v[n] == NULL) {
			printf("\n    not JSON: %.*s (%s)\n", (int)len, text,
			       e.text);
			break;
		}
		n++;
		text += len + (nl != NULL);
	}
	return n;
}

static void
lines_free(json_t **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		json_decref(v[i]);
}

static double
num(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);

	return json_is_number(v) ? json_number_value(v) : NAN;
}

static const char *
str(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : "";
}

/* The true attainment of @c over the fleet of @nodes (seed, p) at
 * @requests a node, as sl_tune_sim computes it, by running sl_sim here. */
static double
true_attainment(const struct sl_sim_config *c, unsigned int nodes,
		uint64_t seed, unsigned int requests)
{
	struct sl_sim_node fleet[16];
	struct sl_sim_result *r = calloc(1, sizeof(*r));
	char err[256];
	double t = 0;

	sl_sim_fleet(fleet, nodes, 0, 0, seed);
	for (unsigned int i = 0; i < nodes; i++) {
		struct sl_sim_knobs k;
		double e;

		sl_sim_knobs_default(&k);
		sl_sim_config_knobs(c, &k);
		sl_sim_node_knobs(&fleet[i], &k);
		k.requests = requests;
		k.warmup = 0;
		CU_ASSERT_EQUAL_FATAL(sl_sim_run(&k, NULL, r, err, sizeof(err)),
				      0);
		e = 1 - r->attainment;
		t += (1 - e) / nodes;
	}
	free(r);
	return t;
}

static void
test_spaces(void)
{
	struct sl_sim_config bench[SL_SIM_SPACE_MAX], pol[SL_SIM_SPACE_MAX];
	unsigned int nb = sl_sim_space_bench(bench);
	unsigned int np = sl_sim_space_policy(pol, 1), k = 0;
	char name[96];

	CU_ASSERT_EQUAL(nb, 45);
	CU_ASSERT_EQUAL(np, 11);
	/* The policy space is the bench's pool configurations at cache 1,
	 * in the bench's order, then hash_request on the pool. */
	for (unsigned int i = 0; i < nb; i++)
		if (bench[i].layout == 0 && bench[i].cache == 1) {
			CU_ASSERT(k < np && memcmp(&bench[i], &pol[k],
						   sizeof(pol[k])) == 0);
			k++;
		}
	CU_ASSERT_EQUAL(k, 10);
	CU_ASSERT_EQUAL(pol[10].policy, SL_BALANCE_HASH_REQUEST);
	CU_ASSERT_EQUAL(pol[10].layout, 0);
	sl_sim_config_name(&pol[3], name, sizeof(name));
	CU_ASSERT_STRING_EQUAL(name, "prompt_aware pool:7 lb 1.25 warm 2 "
				     "cache 1");
	sl_sim_config_name(&bench[44], name, sizeof(name));
	CU_ASSERT_STRING_EQUAL(name, "hash_request pinned:1/3/3 cache 2");
}

static void
test_rs(void)
{
	/* 4 nodes, 2 a sample, 4 of the 11 configurations at 3 units of 4
	 * requests, epsilon 2 */
	struct out o =
		tune("--json", "--nodes", "4", "--n-c", "2", "--trials", "4",
		     "--epsilon", "2", "--unit-requests", "4", "--max-units",
		     "3", "--seed", "5", "--noise-seed", "9", NULL);
	struct sl_sim_config space[SL_SIM_SPACE_MAX];
	json_t *v[16];
	size_t n = lines(o.out, v, 16);
	double spent = 0, best = 2;
	int seen[16] = {0}, winner = -1;
	char apply[256];

	sl_sim_space_policy(space, 1);
	CU_ASSERT_EQUAL(o.rc, 0);
	CU_ASSERT_STRING_EQUAL(o.err, "");
	CU_ASSERT_EQUAL_FATAL(n, 5);
	for (size_t i = 0; i < 4; i++) {
		int c = (int)num(v[i], "config");
		double value = num(v[i], "value");

		CU_ASSERT_EQUAL(num(v[i], "trial"), i + 1);
		CU_ASSERT_EQUAL(num(v[i], "trials"), 4);
		CU_ASSERT(json_is_false(json_object_get(v[i], "proxy")));
		CU_ASSERT_EQUAL(num(v[i], "units"), 3);
		CU_ASSERT(c >= 0 && c < 11);
		if (c < 0 || c >= 11)
			continue;
		CU_ASSERT_EQUAL(seen[c]++, 0); /* without replacement */
		CU_ASSERT_STRING_EQUAL(str(v[i], "policy"),
				       sl_balance_name(space[c].policy));
		CU_ASSERT_EQUAL(num(v[i], "load_bound"), space[c].load_bound);
		CU_ASSERT_EQUAL(num(v[i], "warm_prefixes"),
				space[c].warm_prefixes);
		CU_ASSERT(value >= 0 && value <= 1);
		CU_ASSERT_EQUAL(num(v[i], "noisy_attainment"), 1 - value);
		/* RS: Laplace(N / (n_c eps)), eps / N charged a trial */
		CU_ASSERT_EQUAL(num(v[i], "scale"), 4.0 / (2 * 2.0));
		CU_ASSERT_EQUAL(num(v[i], "scale"), sl_tune_rs_scale(4, 2, 2));
		CU_ASSERT_EQUAL(num(v[i], "epsilon_charged"), 2.0 / 4);
		spent += 2.0 / 4;
		CU_ASSERT_EQUAL(num(v[i], "epsilon_spent"), spent);
		CU_ASSERT_EQUAL(num(v[i], "epsilon_left"), 2 - spent);
		if (value < best) { /* run_rs: the first lowest */
			best = value;
			winner = c;
		}
	}
	CU_ASSERT_EQUAL(spent, 2);
	CU_ASSERT_EQUAL_FATAL(winner >= 0, 1);
	{
		const json_t *w = json_object_get(v[4], "winner");
		const struct sl_sim_config *c = &space[winner];
		int len;

		CU_ASSERT_EQUAL(num(w, "config"), winner);
		CU_ASSERT_STRING_EQUAL(str(w, "policy"),
				       sl_balance_name(c->policy));
		CU_ASSERT_STRING_EQUAL(str(v[4], "tuner"), "rs");
		CU_ASSERT_EQUAL(num(v[4], "value"), best);
		CU_ASSERT_EQUAL(num(v[4], "evaluations"), 4);
		CU_ASSERT_EQUAL(num(v[4], "private_evaluations"), 4);
		/* every node of each configuration once, at one fidelity */
		CU_ASSERT_EQUAL(num(v[4], "sim_runs"), 4 * 4);
		CU_ASSERT_EQUAL(num(v[4], "epsilon_spent"), 2);
		CU_ASSERT_EQUAL(num(v[4], "epsilon_left"), 0);
		CU_ASSERT_EQUAL(num(v[4], "budget"), 2);
		CU_ASSERT_EQUAL(num(v[4], "true_attainment"),
				true_attainment(c, 4, 5, 3 * 4));
		len = snprintf(apply, sizeof(apply),
			       "sluicectl policy set --pipeline PIPELINE "
			       "--pool POOL");
		if (c->load_bound > 0)
			len += snprintf(apply + len, sizeof(apply) - len,
					" --load-bound %.2f", c->load_bound);
		if (c->warm_prefixes > 0)
			len += snprintf(apply + len, sizeof(apply) - len,
					" --warm-prefixes %u",
					c->warm_prefixes);
		snprintf(apply + len, sizeof(apply) - len, " %s",
			 sl_balance_name(c->policy));
		CU_ASSERT_STRING_EQUAL(str(v[4], "apply"), apply);
	}
	lines_free(v, n);
	out_free(&o);
}

static void
test_noiseless(void)
{
	/* every node, no noise: the released value is the fleet's mean,
	 * and the winner's is its true attainment */
	struct out o = tune("--json", "--nodes", "3", "--n-c", "3", "--trials",
			    "3", "--epsilon", "inf", "--unit-requests", "4",
			    "--max-units", "2", "--seed", "2", NULL);
	json_t *v[8];
	size_t n = lines(o.out, v, 8);

	CU_ASSERT_EQUAL(o.rc, 0);
	CU_ASSERT_EQUAL_FATAL(n, 4);
	for (size_t i = 0; i < 3; i++) {
		CU_ASSERT_EQUAL(num(v[i], "scale"), 0);
		CU_ASSERT_EQUAL(num(v[i], "epsilon_charged"), 0);
		CU_ASSERT(json_is_null(json_object_get(v[i], "epsilon_left")));
	}
	CU_ASSERT(fabs(num(v[3], "true_attainment") -
		       (1 - num(v[3], "value"))) < 1e-12);
	CU_ASSERT_EQUAL(num(v[3], "epsilon_spent"), 0);
	lines_free(v, n);
	out_free(&o);
}

static void
test_hb(void)
{
	/* R 3, eta 3: bracket 1 evaluates 3 configurations at 1 unit and
	 * keeps 1 for 3 units; bracket 0 evaluates 2 at 3 units: 6
	 * evaluations. T = 2 rounds, 3 finalists (1 + 2). */
	struct out o =
		tune("--json", "--tuner", "hb", "--nodes", "3", "--n-c", "3",
		     "--epsilon", "3", "--max-units", "3", "--unit-requests",
		     "4", "--seed", "3", "--noise-seed", "4", NULL);
	static const unsigned int units[6] = {1, 1, 1, 3, 3, 3};
	static const unsigned int bracket[6] = {1, 1, 1, 1, 0, 0};
	static const unsigned int rung[6] = {0, 0, 0, 1, 0, 0};
	/* eps/T = 1.5 at bracket 1's first rung; the final selection's 1.5
	 * split 1/3 (bracket 1's finalist) and 2/3 (bracket 0's two) */
	static const double spent[6] = {1.5, 1.5, 1.5, 2.0, 3.0, 3.0};
	static const double charged[6] = {1.5, 0, 0, 0.5, 1.0, 0};
	/* 2 T k_t / (n_c eps): k_t 1 at the eliminating rung, 3 at last */
	static const double scale[6] = {4.0 / 9, 4.0 / 9, 4.0 / 9,
					4.0 / 3, 4.0 / 3, 4.0 / 3};
	struct sl_tune_hb_plan plan;
	json_t *v[16];
	size_t n = lines(o.out, v, 16);

	CU_ASSERT_EQUAL(sl_tune_hb_plan(&plan, 3, 3), 0);
	CU_ASSERT_EQUAL(plan.evaluations, 6);
	CU_ASSERT_EQUAL(o.rc, 0);
	CU_ASSERT_STRING_EQUAL(o.err, "");
	CU_ASSERT_EQUAL_FATAL(n, 7);
	for (size_t i = 0; i < 6; i++) {
		CU_ASSERT_EQUAL(num(v[i], "trial"), i + 1);
		CU_ASSERT_EQUAL(num(v[i], "trials"), 6);
		CU_ASSERT_EQUAL(num(v[i], "units"), units[i]);
		CU_ASSERT_EQUAL(num(v[i], "bracket"), bracket[i]);
		CU_ASSERT_EQUAL(num(v[i], "rung"), rung[i]);
		CU_ASSERT(fabs(num(v[i], "epsilon_spent") - spent[i]) < 1e-12);
		CU_ASSERT(fabs(num(v[i], "epsilon_charged") - charged[i]) <
			  1e-12);
		CU_ASSERT(fabs(num(v[i], "scale") - scale[i]) < 1e-12);
		CU_ASSERT_EQUAL(
			num(v[i], "scale"),
			sl_tune_hb_scale(&plan, bracket[i], rung[i], 3, 3));
	}
	/* the one kept at rung 1 is one of rung 0's three */
	CU_ASSERT(num(v[3], "config") == num(v[0], "config") ||
		  num(v[3], "config") == num(v[1], "config") ||
		  num(v[3], "config") == num(v[2], "config"));
	CU_ASSERT_STRING_EQUAL(str(v[6], "tuner"), "hb");
	CU_ASSERT_EQUAL(num(v[6], "evaluations"), 6);
	CU_ASSERT(fabs(num(v[6], "epsilon_spent") - 3) < 1e-12);
	lines_free(v, n);
	out_free(&o);
}

static void
test_proxy(void)
{
	struct out o =
		tune("--json", "--tuner", "proxy", "--nodes", "3", "--trials",
		     "3", "--proxy-nodes", "2", "--unit-requests", "4",
		     "--max-units", "2", "--epsilon", "1", NULL);
	json_t *v[8];
	size_t n = lines(o.out, v, 8);

	CU_ASSERT_EQUAL(o.rc, 0);
	CU_ASSERT_EQUAL_FATAL(n, 4);
	for (size_t i = 0; i < 3; i++) {
		CU_ASSERT(json_is_true(json_object_get(v[i], "proxy")));
		CU_ASSERT_EQUAL(num(v[i], "epsilon_charged"), 0);
		CU_ASSERT_EQUAL(num(v[i], "epsilon_spent"), 0);
		CU_ASSERT_EQUAL(num(v[i], "scale"), 0);
	}
	CU_ASSERT_EQUAL(num(v[3], "private_evaluations"), 0);
	CU_ASSERT_EQUAL(num(v[3], "epsilon_spent"), 0);
	CU_ASSERT_EQUAL(num(v[3], "epsilon_left"), 1);
	/* 3 configurations on 2 proxy nodes, the winner on 3 nodes */
	CU_ASSERT_EQUAL(num(v[3], "sim_runs"), 3 * 2 + 3);
	lines_free(v, n);
	out_free(&o);
}

static void
test_same_seed(void)
{
	struct out a, b;

	a = tune("--nodes", "3", "--n-c", "2", "--trials", "3",
		 "--unit-requests", "4", "--max-units", "2", "--seed", "7",
		 "--noise-seed", "8", NULL);
	b = tune("--nodes", "3", "--n-c", "2", "--trials", "3",
		 "--unit-requests", "4", "--max-units", "2", "--seed", "7",
		 "--noise-seed", "8", NULL);
	CU_ASSERT_EQUAL(a.rc, 0);
	CU_ASSERT_EQUAL(b.rc, 0);
	CU_ASSERT_STRING_EQUAL(a.out, b.out);
	/* text: the job, a line per trial, the winner, the command */
	CU_ASSERT_PTR_NOT_NULL(strstr(a.out, "tune: rs on 3 simulated nodes "
					     "(n_c 2, epsilon 10, budget 10, "
					     "bias 0, heterogeneity 0, seed "
					     "7), 11 configurations, 3 "
					     "evaluations, full = 2 units of "
					     "4 requests a node\ntrial 1/3: "));
	CU_ASSERT_PTR_NOT_NULL(strstr(a.out, "\ntrial 2/3: "));
	CU_ASSERT_PTR_NOT_NULL(strstr(a.out, "\ntrial 3/3: "));
	CU_ASSERT_PTR_NOT_NULL(strstr(a.out, "; epsilon spent 10 of 10, 0 "
					     "left; 3 evaluations, 9 "
					     "simulations\napply with: "
					     "sluicectl policy set --pipeline "
					     "PIPELINE --pool POOL "));
	out_free(&a);
	out_free(&b);
	a = tune("--json", "--tuner", "hb", "--nodes", "3", "--max-units", "3",
		 "--unit-requests", "3", "--noise-seed", "1", NULL);
	b = tune("--json", "--tuner", "hb", "--nodes", "3", "--max-units", "3",
		 "--unit-requests", "3", "--noise-seed", "1", NULL);
	CU_ASSERT_EQUAL(a.rc, 0);
	CU_ASSERT_STRING_EQUAL(a.out, b.out);
	out_free(&a);
	out_free(&b);
}

static void
test_budget_refused(void)
{
	struct out o = tune("--json", "--nodes", "3", "--epsilon", "5",
			    "--budget", "4", "--noise-seed", "1", NULL);

	CU_ASSERT_EQUAL(o.rc, 1);
	CU_ASSERT_STRING_EQUAL(o.out, ""); /* nothing evaluated */
	CU_ASSERT_STRING_EQUAL(o.err,
			       "sluicectl: tune: privacy budget: the job needs "
			       "epsilon 5, the budget has 4 left of 4; nothing "
			       "run, nothing spent\n");
	out_free(&o);
	/* a budget larger than the job: it spends the job's epsilon */
	o = tune("--json", "--nodes", "2", "--trials", "2", "--epsilon", "1",
		 "--budget", "3", "--unit-requests", "3", "--max-units", "1",
		 "--noise-seed", "1", NULL);
	CU_ASSERT_EQUAL(o.rc, 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(o.out, "\"epsilon_spent\": 1, "
					     "\"epsilon_left\": 2, \"budget\": "
					     "3, "));
	out_free(&o);
}

static void
refused(int rc, const char *err, const char *a1, const char *a2, const char *a3,
	const char *a4)
{
	struct out o = tune(a1, a2, a3, a4, NULL);

	CU_ASSERT_EQUAL(o.rc, rc);
	CU_ASSERT_STRING_EQUAL(o.out, "");
	CU_ASSERT_STRING_EQUAL(o.err, err);
	if (o.rc != rc || strcmp(o.err, err) != 0)
		printf("\n    %s %s: rc %d, stderr \"%s\"\n", a1, a2 ? a2 : "",
		       o.rc, o.err);
	out_free(&o);
}

static void
test_bad_options(void)
{
	refused(2, "sluicectl: tune: --nodes: must be 1..4096, got \"0\"\n",
		"--nodes", "0", NULL, NULL);
	refused(2,
		"sluicectl: tune: --trials: must be 1..11 (the "
		"configurations), got 12\n",
		"--trials", "12", NULL, NULL);
	refused(2,
		"sluicectl: tune: --tuner: must be rs, hb or proxy, got "
		"\"bo\"\n",
		"--tuner", "bo", NULL, NULL);
	refused(2,
		"sluicectl: tune: --epsilon: must be a number above 0 (or "
		"inf: no noise), got \"0\"\n",
		"--epsilon", "0", NULL, NULL);
	refused(2,
		"sluicectl: tune: --heterogeneity: must be in [0, 1], got "
		"\"2\"\n",
		"--heterogeneity", "2", NULL, NULL);
	refused(2, "sluicectl: tune: --n-c: must be 1..4 (the nodes), got 5\n",
		"--nodes", "4", "--n-c", "5");
	refused(2,
		"sluicectl: tune: --max-units: Hyperband's R 27, eta 3 starts "
		"a bracket of 12 configurations, more than the 11 there "
		"are\n",
		"--tuner", "hb", "--max-units", "27");
	refused(2, "sluicectl: tune: --eta: must be 2..16, got \"1\"\n",
		"--eta", "1", NULL, NULL);
	refused(2,
		"sluicectl: tune: --trials: Hyperband's evaluations follow "
		"from --max-units and --eta, not --trials\n",
		"--tuner", "hb", "--trials", "5");
	refused(2,
		"sluicectl: tune: --apply: needs --pipeline P and --pool "
		"NAME\n",
		"--apply", "--pool", "lm", NULL);
	refused(2,
		"sluicectl: tune: option --load-bound: unknown or needs a "
		"value (see --help)\n",
		"--load-bound", "2", NULL, NULL);
	refused(2,
		"sluicectl: tune: unexpected argument \"now\" (see --help)\n",
		"now", NULL, NULL, NULL);
}

static void
test_apply_offline(void)
{
	/* --dry-run: the command, no connection (the socket is
	 * /nonexistent); without it, sluiced unreachable is exit 3 */
	struct out o =
		tune("--apply", "--dry-run", "--pipeline", "fc", "--pool", "lm",
		     "--nodes", "2", "--trials", "2", "--unit-requests", "3",
		     "--max-units", "1", "--noise-seed", "1", NULL);

	CU_ASSERT_EQUAL(o.rc, 0);
	CU_ASSERT_STRING_EQUAL(o.err, "");
	CU_ASSERT_PTR_NOT_NULL(strstr(o.out, "\napply with: sluicectl policy "
					     "set --pipeline fc --pool lm "));
	out_free(&o);
	o = tune("--apply", "--pipeline", "fc", "--pool", "lm", "--nodes", "2",
		 "--trials", "2", "--unit-requests", "3", "--max-units", "1",
		 "--noise-seed", "1", NULL);
	CU_ASSERT_EQUAL(o.rc, 3);
	CU_ASSERT_PTR_NOT_NULL(strstr(o.out, "\napplying: sluicectl policy "
					     "set --pipeline fc --pool lm "));
	CU_ASSERT_PTR_NOT_NULL(strstr(o.err, "/nonexistent/sluiced.sock"));
	out_free(&o);
}

int
main(void)
{
	CU_pSuite s;
	unsigned int fails;

	g_ctl = getenv("SL_SLUICECTL");
	if (g_ctl == NULL) {
		fprintf(stderr, "test_tune_cli: set SL_SLUICECTL\n");
		return 2;
	}
	snprintf(g_dir, sizeof(g_dir), "/tmp/test_tune_cli.XXXXXX");
	if (mkdtemp(g_dir) == NULL)
		return 1;
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	s = CU_add_suite("tune-cli", NULL, NULL);
	CU_add_test(s, "the spaces", test_spaces);
	CU_add_test(s, "rs: trials, charges, winner, true value", test_rs);
	CU_add_test(s, "noiseless: the fleet's mean", test_noiseless);
	CU_add_test(s, "hb: plan and composition", test_hb);
	CU_add_test(s, "proxy: nothing private", test_proxy);
	CU_add_test(s, "same seeds, same bytes", test_same_seed);
	CU_add_test(s, "budget too small refused", test_budget_refused);
	CU_add_test(s, "bad options named, exit 2", test_bad_options);
	CU_add_test(s, "--apply without sluiced", test_apply_offline);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	fails = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
	CU_cleanup_registry();
	{
		char path[128];

		snprintf(path, sizeof(path), "%s/out", g_dir);
		unlink(path);
		snprintf(path, sizeof(path), "%s/err", g_dir);
		unlink(path);
		rmdir(g_dir);
	}
	return fails ? 1 : 0;
}
