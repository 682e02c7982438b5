/* SPDX-License-Identifier: MIT */
/*
 * tune.c - how well each tuner picks a scheduling configuration for a
 * fleet from noisy, private evaluations (issue 16, "Measure"; paper B of
 * ../shared/docs/research/private_fedhpo.md), on sluice-sim's nodes
 * (tools/sim) with tools/tune's noise models and tuners.
 *
 * A fleet of N simulated nodes, each with its own traffic (non-IID): its
 * own sluicegen seed and either Poisson questions at its own rate or its
 * own window of an Azure LLM trace (conv or code) at its own rate. The
 * heterogeneity p moves every node's rate towards its kind's fleet mean
 * (geometrically): p = 0 the natural non-IID fleet, p = 1 the same rate
 * everywhere. A discrete space of K scheduling configurations (policy and
 * layout, load_bound, warm_prefixes, prefix cache slots); a node's error
 * is 1 - SLO attainment at 4 s, computed by sl_sim_run once per
 * (configuration, node, fidelity) into a table in memory; trials only draw
 * from the table (the space and the fleet are tools/sim/sim_space.h's,
 * which sluicectl tune shares). Hyperband's resource is the simulated requests per node:
 * fidelities 1/27, 1/9, 1/3 and 1 of the full count (R 27, eta 3, as paper
 * B's rounds).
 *
 * Cells (>= 100 trials each, the same trial seeds in every cell):
 *   noiseless RS and HB     every node, no noise, no bias
 *   noisy RS and HB         n_c = 1 % of N (at least 1), eps in {1, 10,
 *                           100, inf}, b in {0, 1, 3}
 *   one-shot proxy RS       RS on a public proxy fleet (Poisson questions,
 *                           other seeds, no tenant trace), full and
 *                           noiseless; the winner deployed once: eps 0
 * Per cell: median and IQR over trials of the TRUE SLO attainment (every
 * node, full fidelity, no noise) of the configuration picked, its regret
 * (best configuration's true error minus the pick's), eps spent, private
 * evaluations and resource units. The same-run baseline is noiseless RS.
 *
 *   tune [--quick] [--nodes N] [--trials T] [--unit REQ] [--trace-share F]
 *        [--heterogeneity P] [--proxy-nodes M] [--seed S]
 *        [--json-file PATH] [--commit TEXT]
 *
 * Prints the table and the two aims; writes the JSON object to
 * PATH when given. Deterministic: fixed seeds (table and trials).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sim.h"
#include "sim_space.h"
#include "sl_tune.h"

/* Hyperband's plan: R 27 units, eta 3 (fidelities 1, 3, 9, 27 units). */
#define HB_R 27
#define HB_ETA 3
#define LEVELS 4
static const unsigned int level_units[LEVELS] = {1, 3, 9, 27};

/* RS as the paper's: 16 configurations at full fidelity. */
#define RS_CONFIGS SL_TUNE_PAPER_RS_CONFIGS

/* SLO attainment's target, ALTO's. */
#define SLO_MS 4000.0

/* --- the search space ---------------------------------------------------- */

/* tools/sim/sim_space.h's bench space: policy and layout, load_bound,
 * warm_prefixes, prefix cache slots (45 configurations). */
static struct sl_sim_config configs[SL_SIM_SPACE_MAX];
static unsigned int n_configs;

static void
space_build(void)
{
	n_configs = sl_sim_space_bench(configs);
}

static void
config_name(const struct sl_sim_config *c, char *buf, size_t cap)
{
	sl_sim_config_name(c, buf, cap);
}

static void
space_params(void *ctx, size_t index, double *params)
{
	const struct sl_sim_config *c = &configs[index];

	(void)ctx;
	params[0] = c->policy;
	params[1] = c->layout;
	params[2] = c->load_bound;
	params[3] = c->warm_prefixes;
	params[4] = c->cache;
}

/* --- the fleet ----------------------------------------------------------- */

struct fleet {
	const char *name;
	unsigned int nodes;
	struct sl_sim_node *node;
	unsigned int levels;           /* fidelities in the table */
	double *err;                   /* [level][config][node] */
	double full[SL_SIM_SPACE_MAX]; /* uniform mean at full fidelity */
	double heterogeneity;
};

static double *
fleet_err(struct fleet *f, unsigned int level, size_t config)
{
	return f->err + ((size_t)level * n_configs + config) * f->nodes;
}

/* The private fleet (sl_sim_fleet): trace_share of the nodes replay a
 * trace window (half conv, half code), the others Poisson questions; each
 * its own seed and a log-normal rate around its kind's, moved towards it
 * by @p. */
static void
fleet_private(struct fleet *f, unsigned int nodes, double trace_share, double p,
	      uint64_t seed)
{
	f->name = "private";
	f->nodes = nodes;
	f->heterogeneity = p;
	f->node = calloc(nodes, sizeof(*f->node));
	sl_sim_fleet(f->node, nodes, trace_share, p, seed);
}

/* The public proxy: the operator's own benchmark traffic, Poisson
 * questions (no tenant trace), other seeds, rates on a geometric grid
 * over the Poisson nodes' range. */
static void
fleet_proxy(struct fleet *f, unsigned int nodes)
{
	f->name = "proxy";
	f->nodes = nodes;
	f->heterogeneity = 0;
	f->node = calloc(nodes, sizeof(*f->node));
	sl_sim_fleet_proxy(f->node, nodes);
}

/* A mismatched proxy, for contrast (paper B's cross-modality pairs): the
 * same public questions at a light 4 requests/s only, where queues stay
 * short and the configurations that win under load look no better. */
static void
fleet_proxy_light(struct fleet *f, unsigned int nodes)
{
	f->name = "light proxy";
	f->nodes = nodes;
	f->heterogeneity = 0;
	f->node = calloc(nodes, sizeof(*f->node));
	for (unsigned int i = 0; i < nodes; i++)
		f->node[i] =
			(struct sl_sim_node){.kind = SL_SIM_TRAFFIC_POISSON,
					     .rate = 4,
					     .seed = 910000 + i};
}

static struct sl_sim_data *sim_data[SL_SIM_TRAFFIC_KINDS];
static unsigned int unit_requests;

/* The error of configuration @c on node @n after @units units. */
static int
simulate(const struct sl_sim_config *c, const struct sl_sim_node *n,
	 unsigned int units, double *err)
{
	struct sl_sim_knobs k;
	struct sl_sim_result r;
	char msg[256];
	int rc;

	sl_sim_knobs_default(&k);
	sl_sim_config_knobs(c, &k);
	sl_sim_node_knobs(n, &k);
	k.requests = units * unit_requests;
	k.warmup = 0;
	k.slo_ms = SLO_MS;
	rc = sl_sim_check(&k, msg, sizeof(msg));
	if (rc == 0)
		rc = sl_sim_run(&k, sim_data[n->kind], &r, msg, sizeof(msg));
	if (rc != 0) {
		fprintf(stderr, "tune: sl_sim_run: %s\n", msg);
		return rc;
	}
	*err = 1 - r.attainment;
	return 0;
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Fill @f's table at its first @levels fidelities (the last one full). */
static int
fleet_table(struct fleet *f, unsigned int levels)
{
	double t0 = now_s();
	size_t runs = (size_t)n_configs * f->nodes * levels, done = 0;

	f->levels = levels;
	f->err = calloc(runs, sizeof(double));
	if (!f->err)
		return -ENOMEM;
	for (unsigned int l = 0; l < levels; l++) {
		unsigned int units = level_units[LEVELS - levels + l];

		for (size_t c = 0; c < n_configs; c++) {
			double *e = fleet_err(f, l, c);

			for (unsigned int i = 0; i < f->nodes; i++) {
				int rc = simulate(&configs[c], &f->node[i],
						  units, &e[i]);

				if (rc != 0)
					return rc;
				done++;
			}
			if (c % 16 == 15)
				fprintf(stderr,
					"tune: %s table: %zu/%zu runs, %.0f "
					"s\n",
					f->name, done, runs, now_s() - t0);
		}
	}
	for (size_t c = 0; c < n_configs; c++) {
		const double *e = fleet_err(f, levels - 1, c);
		double s = 0;

		for (unsigned int i = 0; i < f->nodes; i++)
			s += e[i];
		f->full[c] = s / f->nodes;
	}
	fprintf(stderr, "tune: %s table: %zu runs in %.1f s\n", f->name, runs,
		now_s() - t0);
	return 0;
}

/* The tuner's objective: a row of the table. The table was simulated
 * at the fleet's own heterogeneity, so the job's is not read (the proxy
 * job passes 0 to the private fleet it deploys on). */
static int
table_errors(void *ctx, size_t index, const double *params,
	     unsigned int resource, double heterogeneity, double *errors)
{
	struct fleet *f = ctx;

	(void)params;
	(void)heterogeneity;
	if (index >= n_configs)
		return -EINVAL;
	for (unsigned int l = 0; l < f->levels; l++)
		if (level_units[LEVELS - f->levels + l] == resource) {
			memcpy(errors, fleet_err(f, l, index),
			       f->nodes * sizeof(double));
			return 0;
		}
	return -EINVAL;
}

/* --- cells --------------------------------------------------------------- */

enum tuner { TUNER_RS, TUNER_HB, TUNER_PROXY };
static const char *const tuner_name[] = {"rs", "hb", "proxy_rs"};

struct quartiles {
	double q25, median, q75;
};

struct cell {
	enum tuner tuner;
	struct fleet *proxy; /* TUNER_PROXY's public fleet */
	bool noisy;
	unsigned int n_c;
	double epsilon; /* INFINITY: no DP */
	double bias;
	struct quartiles attainment, regret;
	double epsilon_spent;       /* the largest over trials */
	double private_evaluations; /* mean over trials */
	double budget_units;        /* resource units, mean */
	double private_units;       /* of them on the private fleet */
	double best_share;          /* trials that picked the best config */
	int rc;
};

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* numpy's default percentile: linear between order statistics. */
static double
percentile(const double *sorted, unsigned int n, double q)
{
	double pos = q * (n - 1);
	unsigned int lo = (unsigned int)floor(pos);

	if (lo + 1 >= n)
		return sorted[n - 1];
	return sorted[lo] + (pos - lo) * (sorted[lo + 1] - sorted[lo]);
}

static struct quartiles
quartiles(double *v, unsigned int n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return (struct quartiles){percentile(v, n, 0.25), percentile(v, n, 0.5),
				  percentile(v, n, 0.75)};
}

static struct sl_tune_space space = {.dim = 5, .params = space_params};
static double best_error;
static size_t best_config;

static void
cell_run(struct cell *cell, struct fleet *fleet, unsigned int trials,
	 uint64_t seed)
{
	struct fleet *proxy = cell->proxy;
	struct sl_tune_objective priv = {.nodes = fleet->nodes,
					 .node_errors = table_errors,
					 .ctx = fleet};
	struct sl_tune_objective pub = {.nodes = proxy ? proxy->nodes : 0,
					.node_errors = table_errors,
					.ctx = proxy};
	double *att = calloc(trials, sizeof(double));
	double *reg = calloc(trials, sizeof(double));
	unsigned int best = 0;

	if (!att || !reg) {
		free(att);
		free(reg);
		cell->rc = -ENOMEM;
		return;
	}
	space.size = n_configs;
	cell->epsilon_spent = 0;
	cell->private_evaluations = cell->budget_units = 0;
	cell->private_units = 0;
	cell->rc = 0;
	for (unsigned int t = 0; t < trials; t++) {
		struct sl_rng rng, noise_rng;
		struct sl_tune_budget budget;
		struct sl_tune_result res;
		struct sl_tune_job job = {
			.space = &space,
			.objective = cell->tuner == TUNER_PROXY ? &pub : &priv,
			.noise = {.n_c = cell->n_c,
				  .bias = cell->bias,
				  .epsilon = cell->epsilon,
				  .heterogeneity = fleet->heterogeneity},
			.rng = &rng,
			.noise_rng = &noise_rng,
		};
		double e;
		int rc;

		/* the same draws in every cell for trial t */
		sl_rng_seeded(&rng, seed * 1000003 + t);
		sl_rng_seeded(&noise_rng, seed * 1000003 + t + (1ull << 40));
		if (isfinite(cell->epsilon)) {
			sl_tune_budget_init(&budget, cell->epsilon);
			job.budget = &budget;
		}
		switch (cell->tuner) {
		case TUNER_RS:
			rc = sl_tune_rs(&job, RS_CONFIGS, HB_R, &res);
			break;
		case TUNER_HB:
			rc = sl_tune_hyperband(&job, HB_R, HB_ETA, &res);
			break;
		default:
			job.noise.n_c = proxy->nodes;
			job.noise.heterogeneity = 0;
			rc = sl_tune_proxy_rs(&job, &priv, RS_CONFIGS, HB_R,
					      &res);
			break;
		}
		if (rc != 0) {
			fprintf(stderr, "tune: %s trial %u: %s\n",
				tuner_name[cell->tuner], t, strerror(-rc));
			cell->rc = rc;
			break;
		}
		e = fleet->full[res.index];
		att[t] = 1 - e;
		reg[t] = e - best_error;
		best += res.index == best_config;
		cell->epsilon_spent =
			fmax(cell->epsilon_spent, res.epsilon_spent);
		cell->private_evaluations +=
			(double)res.private_evaluations / trials;
		cell->budget_units += (double)res.budget / trials;
		cell->private_units += (double)res.private_budget / trials;
	}
	cell->attainment = quartiles(att, trials);
	cell->regret = quartiles(reg, trials);
	cell->best_share = (double)best / trials;
	free(att);
	free(reg);
}

static void
cell_label(const struct cell *c, char *buf, size_t cap)
{
	if (c->tuner == TUNER_PROXY)
		snprintf(buf, cap, "one-shot proxy RS%s",
			 strcmp(c->proxy->name, "proxy") ? ", light" : "");
	else if (!c->noisy)
		snprintf(buf, cap, "noiseless %s",
			 c->tuner == TUNER_RS ? "RS" : "HB");
	else if (isfinite(c->epsilon))
		snprintf(buf, cap, "noisy %s eps %g b %g",
			 c->tuner == TUNER_RS ? "RS" : "HB", c->epsilon,
			 c->bias);
	else
		snprintf(buf, cap, "noisy %s eps inf b %g",
			 c->tuner == TUNER_RS ? "RS" : "HB", c->bias);
}

/* Spearman's rank correlation of the configurations' full errors. */
static double
rank_correlation(const double *a, const double *b, unsigned int n)
{
	double ra[SL_SIM_SPACE_MAX], rb[SL_SIM_SPACE_MAX],
		ma = 0, mb = 0, sab = 0, saa = 0, sbb = 0;

	for (unsigned int i = 0; i < n; i++) {
		double la = 0, ea = 0, lb = 0, eb = 0;

		for (unsigned int j = 0; j < n; j++) {
			la += a[j] < a[i];
			ea += a[j] == a[i];
			lb += b[j] < b[i];
			eb += b[j] == b[i];
		}
		ra[i] = la + (ea + 1) / 2; /* ties: the mean rank */
		rb[i] = lb + (eb + 1) / 2;
		ma += ra[i] / n;
		mb += rb[i] / n;
	}
	for (unsigned int i = 0; i < n; i++) {
		sab += (ra[i] - ma) * (rb[i] - mb);
		saa += (ra[i] - ma) * (ra[i] - ma);
		sbb += (rb[i] - mb) * (rb[i] - mb);
	}
	return saa > 0 && sbb > 0 ? sab / sqrt(saa * sbb) : 0;
}

static void
json_q(FILE *f, const char *name, const struct quartiles *q)
{
	fprintf(f, "\"%s\": {\"median\": %.6f, \"q25\": %.6f, \"q75\": %.6f}",
		name, q->median, q->q25, q->q75);
}

static void
json_num(FILE *f, double x)
{
	if (isfinite(x))
		fprintf(f, "%.6g", x);
	else
		fprintf(f, "null");
}

static void
usage(FILE *f)
{
	fprintf(f,
		"usage: tune [--quick] [--nodes N (200)] [--trials T (200)]\n"
		"            [--unit REQ (20): requests a resource unit; full "
		"= 27 units]\n"
		"            [--trace-share F (0.2)] [--heterogeneity P (0)]\n"
		"            [--proxy-nodes M (20)] [--seed S (1)]\n"
		"            [--json-file PATH] [--commit TEXT]\n"
		"--quick: 30 nodes, 10 requests a unit, 100 trials, 10 proxy "
		"nodes\n");
}

int
main(int argc, char **argv)
{
	unsigned int nodes = 200, trials = 200, proxy_nodes = 20;
	double trace_share = 0.2, p = 0, t0 = now_s(), table_s;
	uint64_t seed = 1;
	const char *json_path = NULL, *commit = "unknown";
	bool quick = false;
	struct fleet fleet = {0}, proxy = {0}, light = {0};
	static const double eps_list[] = {1, 10, 100, INFINITY};
	static const double bias_list[] = {0, 1, 3};
	struct cell cells[64];
	unsigned int n_cells = 0, n_c, noisy_end, px_cell;
	char err[256];

	unit_requests = 20;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "--quick")) {
			quick = true;
			nodes = 30;
			trials = 100;
			unit_requests = 10;
			proxy_nodes = 10;
			continue;
		}
		if (!strcmp(a, "--help")) {
			usage(stdout);
			return 0;
		}
		if (!v) {
			usage(stderr);
			return 2;
		}
		i++;
		if (!strcmp(a, "--nodes"))
			nodes = strtoul(v, NULL, 10);
		else if (!strcmp(a, "--trials"))
			trials = strtoul(v, NULL, 10);
		else if (!strcmp(a, "--unit"))
			unit_requests = strtoul(v, NULL, 10);
		else if (!strcmp(a, "--trace-share"))
			trace_share = strtod(v, NULL);
		else if (!strcmp(a, "--heterogeneity"))
			p = strtod(v, NULL);
		else if (!strcmp(a, "--proxy-nodes"))
			proxy_nodes = strtoul(v, NULL, 10);
		else if (!strcmp(a, "--seed"))
			seed = strtoull(v, NULL, 10);
		else if (!strcmp(a, "--json-file"))
			json_path = v;
		else if (!strcmp(a, "--commit"))
			commit = v;
		else {
			usage(stderr);
			return 2;
		}
	}
	if (nodes < 1 || nodes > 100000 || trials < 1 || unit_requests < 1 ||
	    27 * unit_requests > SL_SIM_REQUESTS_MAX || proxy_nodes < 1 ||
	    !(trace_share >= 0 && trace_share <= 1) || !(p >= 0 && p <= 1)) {
		fprintf(stderr, "tune: an option is out of range\n");
		usage(stderr);
		return 2;
	}
	/* n_c: about 1 % of the fleet, at least 1 (paper B's headline) */
	n_c = (unsigned int)lround(nodes / 100.0);
	if (n_c < 1)
		n_c = 1;

	space_build();
	for (int k = 0; k < SL_SIM_TRAFFIC_KINDS; k++) {
		sim_data[k] = sl_sim_data_open(NULL, sl_sim_traffic_trace(k),
					       err, sizeof(err));
		if (!sim_data[k]) {
			fprintf(stderr, "tune: cannot open the data: %s\n",
				err);
			return 1;
		}
	}
	fleet_private(&fleet, nodes, trace_share, p, seed);
	fleet_proxy(&proxy, proxy_nodes);
	fleet_proxy_light(&light, 5);
	if (fleet_table(&fleet, LEVELS) != 0 || fleet_table(&proxy, 1) != 0 ||
	    fleet_table(&light, 1) != 0)
		return 1;
	table_s = now_s() - t0;
	best_config = 0;
	for (size_t c = 1; c < n_configs; c++)
		if (fleet.full[c] < fleet.full[best_config])
			best_config = c;
	best_error = fleet.full[best_config];

	/* the cells */
	for (int tu = TUNER_RS; tu <= TUNER_HB; tu++)
		cells[n_cells++] = (struct cell){
			.tuner = tu, .n_c = nodes, .epsilon = INFINITY};
	for (size_t e = 0; e < sizeof(eps_list) / sizeof(*eps_list); e++)
		for (size_t b = 0; b < sizeof(bias_list) / sizeof(*bias_list);
		     b++)
			for (int tu = TUNER_RS; tu <= TUNER_HB; tu++)
				cells[n_cells++] =
					(struct cell){.tuner = tu,
						      .noisy = true,
						      .n_c = n_c,
						      .epsilon = eps_list[e],
						      .bias = bias_list[b]};
	noisy_end = n_cells;
	px_cell = n_cells;
	cells[n_cells++] = (struct cell){.tuner = TUNER_PROXY,
					 .proxy = &proxy,
					 .n_c = proxy.nodes,
					 .epsilon = INFINITY};
	cells[n_cells++] = (struct cell){.tuner = TUNER_PROXY,
					 .proxy = &light,
					 .n_c = light.nodes,
					 .epsilon = INFINITY};
	for (unsigned int c = 0; c < n_cells; c++) {
		cell_run(&cells[c], &fleet, trials, seed);
		if (cells[c].rc != 0)
			return 1;
	}

	/* the table */
	{
		char name[96];
		const struct cell *rs = &cells[0], *px = &cells[px_cell];
		unsigned int hb_worse = 0, noisy_pairs = 0;
		double rho =
			rank_correlation(fleet.full, proxy.full, n_configs);
		double rho_light =
			rank_correlation(fleet.full, light.full, n_configs);
		int kinds[SL_SIM_TRAFFIC_KINDS] = {0};
		/* aim 2 read literally (regret) and as paper B reads its
		 * proxy results (the picked configuration's error) */
		bool aim2_regret =
			px->regret.median <= 1.1 * rs->regret.median + 1e-12;
		bool aim2_error = 1 - px->attainment.median <=
				  1.1 * (1 - rs->attainment.median);

		for (unsigned int i = 0; i < nodes; i++)
			kinds[fleet.node[i].kind]++;
		config_name(&configs[best_config], name, sizeof(name));
		printf("tune: %u nodes (%d poisson, %d azure-conv, %d "
		       "azure-code), heterogeneity p %g, %u configurations, "
		       "full = %u requests a node, n_c %u, %u trials a cell, "
		       "tables in %.0f s\n",
		       nodes, kinds[SL_SIM_TRAFFIC_POISSON],
		       kinds[SL_SIM_TRAFFIC_CONV], kinds[SL_SIM_TRAFFIC_CODE],
		       p, n_configs, 27 * unit_requests, n_c, trials, table_s);
		printf("best configuration: %s, true SLO attainment %.4f; "
		       "rank correlation with the fleet: proxy %.3f, light "
		       "proxy %.3f\n",
		       name, 1 - best_error, rho, rho_light);
		printf("%-26s %-30s %-30s %6s %6s %6s %5s\n", "cell",
		       "true attainment med [IQR]", "regret med [IQR]", "eps",
		       "evals", "units", "best");
		for (unsigned int c = 0; c < n_cells; c++) {
			const struct cell *x = &cells[c];

			cell_label(x, name, sizeof(name));
			printf("%-26s %.4f [%.4f, %.4f]       %.4f [%.4f, "
			       "%.4f]       %6.3g %6.1f %6.0f %4.0f%%\n",
			       name, x->attainment.median, x->attainment.q25,
			       x->attainment.q75, x->regret.median,
			       x->regret.q25, x->regret.q75, x->epsilon_spent,
			       x->private_evaluations, x->private_units,
			       100 * x->best_share);
		}
		for (unsigned int c = 2; c + 1 < noisy_end; c += 2) {
			noisy_pairs++;
			hb_worse += cells[c + 1].attainment.median <
				    cells[c].attainment.median;
		}
		printf("aim 1, noisy HB worse than noisy RS (median true "
		       "attainment): %u of %u (eps, b) cells\n",
		       hb_worse, noisy_pairs);
		printf("aim 2, proxy RS within 10%% of noiseless RS: median "
		       "regret %.4f vs %.4f (regret within 10%%: %s); median "
		       "true error %.4f vs %.4f (error within 10%%: %s)\n",
		       px->regret.median, rs->regret.median,
		       aim2_regret ? "yes" : "no", 1 - px->attainment.median,
		       1 - rs->attainment.median, aim2_error ? "yes" : "no");

		if (json_path) {
			FILE *f = fopen(json_path, "w");
			time_t now = time(NULL);
			char date[32];

			if (!f) {
				perror(json_path);
				return 1;
			}
			strftime(date, sizeof(date), "%Y-%m-%d %H:%M",
				 gmtime(&now));
			fprintf(f,
				"{\"bench\": \"tune\", \"commit\": \"%s\", "
				"\"date\": \"%s\", \"quick\": %s,\n",
				commit, date, quick ? "true" : "false");
			fprintf(f,
				" \"setting\": {\"nodes\": %u, \"n_c\": %u, "
				"\"trials\": %u, \"unit_requests\": %u, "
				"\"full_requests\": %u, \"fidelity_units\": "
				"[1, 3, 9, 27], \"hb_R\": %d, \"hb_eta\": %d, "
				"\"rs_configs\": %d, \"slo_ms\": %g, "
				"\"heterogeneity\": %g, \"trace_share\": %g, "
				"\"proxy_nodes\": %u, \"seed\": %llu, "
				"\"nodes_by_traffic\": {\"poisson\": %d, "
				"\"azure-conv\": %d, \"azure-code\": %d}, "
				"\"table_s\": %.1f},\n",
				nodes, n_c, trials, unit_requests,
				27 * unit_requests, HB_R, HB_ETA, RS_CONFIGS,
				SLO_MS, p, trace_share, proxy_nodes,
				(unsigned long long)seed,
				kinds[SL_SIM_TRAFFIC_POISSON],
				kinds[SL_SIM_TRAFFIC_CONV],
				kinds[SL_SIM_TRAFFIC_CODE], table_s);
			fprintf(f,
				" \"best\": {\"config\": %zu, "
				"\"attainment\": %.6f}, "
				"\"proxy_rank_correlation\": %.4f, "
				"\"light_proxy_rank_correlation\": %.4f,\n",
				best_config, 1 - best_error, rho, rho_light);
			fprintf(f,
				" \"aims\": {\"hb_worse_than_rs\": %u, "
				"\"noisy_pairs\": %u, "
				"\"proxy_regret\": %.6f, "
				"\"noiseless_rs_regret\": %.6f, "
				"\"proxy_regret_within_10pct\": %s, "
				"\"proxy_error\": %.6f, "
				"\"noiseless_rs_error\": %.6f, "
				"\"proxy_error_within_10pct\": %s},\n",
				hb_worse, noisy_pairs, px->regret.median,
				rs->regret.median,
				aim2_regret ? "true" : "false",
				1 - px->attainment.median,
				1 - rs->attainment.median,
				aim2_error ? "true" : "false");
			fprintf(f, " \"cells\": [\n");
			for (unsigned int c = 0; c < n_cells; c++) {
				const struct cell *x = &cells[c];

				cell_label(x, name, sizeof(name));
				fprintf(f,
					"  {\"cell\": \"%s\", \"tuner\": "
					"\"%s\", \"noisy\": %s, \"n_c\": %u, "
					"\"epsilon\": ",
					name, tuner_name[x->tuner],
					x->noisy ? "true" : "false", x->n_c);
				json_num(f, x->epsilon);
				fprintf(f, ", \"bias\": %g, ", x->bias);
				json_q(f, "attainment", &x->attainment);
				fprintf(f, ", ");
				json_q(f, "regret", &x->regret);
				fprintf(f,
					", \"epsilon_spent\": %.6g, "
					"\"private_evaluations\": %.6g, "
					"\"budget_units\": %.6g, "
					"\"private_units\": %.6g, "
					"\"best_share\": %.4f}%s\n",
					x->epsilon_spent,
					x->private_evaluations, x->budget_units,
					x->private_units, x->best_share,
					c + 1 < n_cells ? "," : "");
			}
			fprintf(f, " ],\n \"configs\": [\n");
			for (size_t c = 0; c < n_configs; c++) {
				config_name(&configs[c], name, sizeof(name));
				fprintf(f,
					"  {\"name\": \"%s\", "
					"\"attainment\": %.6f, "
					"\"proxy_attainment\": %.6f, "
					"\"light_proxy_attainment\": %.6f}%s\n",
					name, 1 - fleet.full[c],
					1 - proxy.full[c], 1 - light.full[c],
					c + 1 < n_configs ? "," : "");
			}
			fprintf(f, " ],\n \"fleet\": [\n");
			for (unsigned int i = 0; i < nodes; i++) {
				const struct sl_sim_node *n = &fleet.node[i];

				fprintf(f,
					"  {\"traffic\": \"%s\", \"rate\": "
					"%.4g, \"trace_start_s\": %g, "
					"\"seed\": %llu, \"best_attainment\": "
					"%.4f}%s\n",
					sl_sim_traffic_name(n->kind), n->rate,
					n->trace_start_s,
					(unsigned long long)n->seed,
					1 - fleet_err(&fleet, LEVELS - 1,
						      best_config)[i],
					i + 1 < nodes ? "," : "");
			}
			fprintf(f, " ]}\n");
			fclose(f);
		}
	}
	for (int k = 0; k < SL_SIM_TRAFFIC_KINDS; k++)
		sl_sim_data_close(sim_data[k]);
	free(fleet.err);
	free(proxy.err);
	free(fleet.node);
	free(proxy.node);
	free(light.err);
	free(light.node);
	return 0;
}
