/* SPDX-License-Identifier: MIT */
/*
 * privreg.c - the cost model's excess-risk table (issue 12; paper A of
 * ../shared/docs/research/private_fedhpo.md): on paper A's synthetic
 * model, non-private least squares in the public subspace, DP gradient
 * descent in the subspace and DP gradient descent in all d dimensions,
 * over n and epsilon, each measured (mean, standard deviation, range over
 * the seeds) beside its formula:
 *
 *   OLS in B^:  k / (n - k - 1)
 *   DP in B^:   k / (n - k - 1) + 2 k C_k^2 R^2 T / (n^2 rho)
 *   DP in d:    d / (n - d - 1) + 2 d C_d^2 R^2 T / (n^2 rho)
 *
 * with C_p = sqrt(p) + 2, R 3, T 5, eta 1, delta 1e-5, d 50, k 5, gamma 0
 * (the note's fixture; control/sl_cost_synth.c draws it). The same-run
 * baselines are the ratios: DP in B^ over OLS in B^ (the price of
 * privacy) and DP in d over DP in B^ (what the public subspace buys).
 * At n 1000 five steps of descent are not yet at their fixed point in d
 * dimensions (the note says so), so the full-dimension formula is an
 * approximation there.
 *
 *   privreg [--seeds S (32)] [--json-file PATH] [--commit TEXT]
 *
 * Prints the table; writes the JSON object to PATH when given.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sl_cost.h"
#include "sl_opt.h"

#define FIX_D 50
#define FIX_K 5
#define FIX_DELTA 1e-5
#define FIX_T 5
#define FIX_R 3.0

static const size_t ns[] = {1000, 4000, 16000};
static const double epsilons[] = {0.25, 1, 4};
#define N_N (sizeof(ns) / sizeof(*ns))
#define N_EPS (sizeof(epsilons) / sizeof(*epsilons))

/* The arms of the table. */
enum arm { A_OLS_SUB, A_DP_SUB, A_DP_FULL, A_PRIV_SUB, A_MAX };
static const char *const arm_name[A_MAX] = {"ols_sub", "dp_sub", "dp_full",
					    "privacy_term_sub"};

/* One arm's values over the seeds, and its formula. */
struct stat {
	double predicted, mean, sd, min, max;
};

struct cell {
	size_t n;
	double epsilon, rho, noise_std_sub, noise_std_full;
	struct stat arm[A_MAX];
};

/* The privacy term of the formula in @p dims. */
static double
priv_formula(unsigned int p, size_t n, double rho)
{
	double c = sqrt(p) + 2;

	return 2 * p * c * c * FIX_R * FIX_R * FIX_T /
	       ((double)n * (double)n * rho);
}

/* Mean, sample standard deviation and range of @v[0..@s). */
static void
summarise(const double *v, unsigned int s, struct stat *st)
{
	double sum = 0, ss = 0;

	st->min = st->max = v[0];
	for (unsigned int i = 0; i < s; i++) {
		sum += v[i];
		st->min = fmin(st->min, v[i]);
		st->max = fmax(st->max, v[i]);
	}
	st->mean = sum / s;
	for (unsigned int i = 0; i < s; i++)
		ss += (v[i] - st->mean) * (v[i] - st->mean);
	st->sd = s > 1 ? sqrt(ss / (s - 1)) : 0;
}

/* Run one cell over @seeds seeds. Returns 0 or a negative SL_COST_E_*. */
static int
run_cell(struct cell *c, unsigned int seeds)
{
	double *v[A_MAX];
	int rc = 0;

	for (int a = 0; a < A_MAX; a++)
		v[a] = malloc(seeds * sizeof(double));
	for (int a = 0; a < A_MAX; a++)
		if (!v[a])
			rc = -SL_COST_E_NOMEM;
	c->rho = sl_cost_zcdp_rho(c->epsilon, FIX_DELTA);
	for (unsigned int s = 0; s < seeds && !rc; s++) {
		struct sl_cost_synth cfg = {
			.d = FIX_D,
			.k = FIX_K,
			.n = c->n,
			.epsilon = c->epsilon,
			.delta = FIX_DELTA,
			.steps = FIX_T,
			.step_size = 1,
			.clip_r = FIX_R,
			.gamma = 0,
			.arms = SL_COST_ARM_OLS_SUB | SL_COST_ARM_DP_SUB |
				SL_COST_ARM_DP_FULL,
			.data_seed = 1000 + s,
			.noise_seed = 2000 + s,
		};
		struct sl_cost_synth_er r;

		rc = sl_cost_synth_er(&cfg, &r);
		v[A_OLS_SUB][s] = r.ols_sub;
		v[A_DP_SUB][s] = r.dp_sub;
		v[A_DP_FULL][s] = r.dp_full;
		v[A_PRIV_SUB][s] = r.dp_sub - r.ols_sub;
		c->noise_std_sub = r.dp_sub_rep.noise_std;
		c->noise_std_full = r.dp_full_rep.noise_std;
	}
	if (!rc)
		for (int a = 0; a < A_MAX; a++)
			summarise(v[a], seeds, &c->arm[a]);
	c->arm[A_OLS_SUB].predicted = FIX_K / (double)(c->n - FIX_K - 1);
	c->arm[A_PRIV_SUB].predicted = priv_formula(FIX_K, c->n, c->rho);
	c->arm[A_DP_SUB].predicted =
		c->arm[A_OLS_SUB].predicted + c->arm[A_PRIV_SUB].predicted;
	c->arm[A_DP_FULL].predicted = FIX_D / (double)(c->n - FIX_D - 1) +
				      priv_formula(FIX_D, c->n, c->rho);
	for (int a = 0; a < A_MAX; a++)
		free(v[a]);
	return rc;
}

/* The CPU's model name from /proc/cpuinfo, or "unknown". */
static void
cpu_model(char *out, size_t n)
{
	char line[256];
	FILE *f = fopen("/proc/cpuinfo", "r");

	snprintf(out, n, "unknown");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, "model name", 10) == 0) {
			char *p = strchr(line, ':');

			if (p) {
				p += 2;
				p[strcspn(p, "\n")] = '\0';
				snprintf(out, n, "%s", p);
			}
			break;
		}
	fclose(f);
}

/* @s as a JSON object. */
static void
json_stat(FILE *f, const char *name, const struct stat *s, const char *sep)
{
	fprintf(f,
		"      \"%s\": {\"predicted\": %.6g, \"mean\": %.6g, \"sd\": "
		"%.6g, \"min\": %.6g, \"max\": %.6g}%s\n",
		name, s->predicted, s->mean, s->sd, s->min, s->max, sep);
}

/* The whole result as one JSON object into @f. */
static void
json_write(FILE *f, const struct cell *cells, unsigned int seeds,
	   const char *commit, double seconds)
{
	char cpu[128], date[32];
	time_t now = time(NULL);

	cpu_model(cpu, sizeof(cpu));
	strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
	fprintf(f,
		"{\n  \"bench\": \"privreg\",\n  \"commit\": \"%s\",\n  "
		"\"date\": \"%s\",\n  \"machine\": {\"cpu\": \"%s\", "
		"\"cores\": %ld},\n  \"seconds\": %.2f,\n",
		commit, date, cpu, sysconf(_SC_NPROCESSORS_ONLN), seconds);
	fprintf(f,
		"  \"setting\": {\"d\": %d, \"k\": %d, \"delta\": %g, "
		"\"steps\": %d, \"step_size\": 1, \"clip_z_sub\": %.6g, "
		"\"clip_z_full\": %.6g, \"clip_r\": %g, \"gamma\": 0, "
		"\"alpha_norm\": 1, \"noise_sigma\": 1, \"seeds\": %u, "
		"\"metric\": \"|w - B alpha|^2\"},\n  \"cells\": [\n",
		FIX_D, FIX_K, FIX_DELTA, FIX_T, sqrt(FIX_K) + 2,
		sqrt(FIX_D) + 2, FIX_R, seeds);
	for (size_t i = 0; i < N_N * N_EPS; i++) {
		const struct cell *c = &cells[i];

		fprintf(f,
			"    {\"n\": %zu, \"epsilon\": %g, \"rho\": %.6g, "
			"\"noise_std_sub\": %.6g, \"noise_std_full\": %.6g,\n",
			c->n, c->epsilon, c->rho, c->noise_std_sub,
			c->noise_std_full);
		for (int a = 0; a < A_MAX; a++)
			json_stat(f, arm_name[a], &c->arm[a], ",");
		fprintf(f,
			"      \"full_over_sub\": {\"predicted\": %.4g, "
			"\"measured\": %.4g},\n      \"dp_over_ols_sub\": "
			"%.4g}%s\n",
			c->arm[A_DP_FULL].predicted /
				c->arm[A_DP_SUB].predicted,
			c->arm[A_DP_FULL].mean / c->arm[A_DP_SUB].mean,
			c->arm[A_DP_SUB].mean / c->arm[A_OLS_SUB].mean,
			i + 1 < N_N * N_EPS ? "," : "");
	}
	fprintf(f, "  ]\n}\n");
}

/* "mean+-sd (formula)" of @s into @out. */
static const char *
cell_text(char *out, size_t n, const struct stat *s)
{
	snprintf(out, n, "%.3g+-%.2g (%.3g)", s->mean, s->sd, s->predicted);
	return out;
}

int
main(int argc, char **argv)
{
	unsigned int seeds = 32;
	const char *json = NULL, *commit = "unknown";
	bool help = false;
	const struct sl_opt_spec spec[] = {
		SL_OPT_N("seeds", &seeds, 2, 1000),
		SL_OPT_S("json-file", &json),
		SL_OPT_S("commit", &commit),
		SL_OPT_F("help", &help, .letter = 'h'),
	};
	struct cell cells[N_N * N_EPS];
	struct timespec t0, t1;
	double seconds;
	int op = sl_opt_parse("privreg", argc, argv, spec,
			      sizeof(spec) / sizeof(*spec), NULL);

	if (op < 0 || op != argc || help) {
		fprintf(help ? stdout : stderr,
			"usage: privreg [--seeds S (32)] [--json-file PATH] "
			"[--commit TEXT]\n");
		return help ? 0 : 2;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (size_t i = 0; i < N_N; i++)
		for (size_t e = 0; e < N_EPS; e++) {
			struct cell *c = &cells[i * N_EPS + e];
			int rc;

			memset(c, 0, sizeof(*c));
			c->n = ns[i];
			c->epsilon = epsilons[e];
			rc = run_cell(c, seeds);
			if (rc) {
				fprintf(stderr,
					"privreg: n %zu epsilon %g: %s\n", c->n,
					c->epsilon, sl_cost_strerror(rc));
				return 1;
			}
		}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	seconds = (double)(t1.tv_sec - t0.tv_sec) +
		  (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;

	printf("privreg: |w - B alpha|^2, d %d, k %d, delta %g, T %d, eta 1, "
	       "C = sqrt(p) + 2, R %g, gamma 0;\n%u seeds: mean+-sd "
	       "(formula); commit %s, %.1f s\n\n",
	       FIX_D, FIX_K, FIX_DELTA, FIX_T, FIX_R, seeds, commit, seconds);
	printf("%6s %5s  %-28s %-28s %-28s %9s %9s\n", "n", "eps",
	       "non-private in B^", "DP in B^", "DP in d", "DP/OLS B^", "d/B^");
	for (size_t i = 0; i < N_N * N_EPS; i++) {
		const struct cell *c = &cells[i];
		char a[64], b[64], d[64];

		printf("%6zu %5g  %-28s %-28s %-28s %9.1f %9.1f\n", c->n,
		       c->epsilon, cell_text(a, sizeof(a), &c->arm[A_OLS_SUB]),
		       cell_text(b, sizeof(b), &c->arm[A_DP_SUB]),
		       cell_text(d, sizeof(d), &c->arm[A_DP_FULL]),
		       c->arm[A_DP_SUB].mean / c->arm[A_OLS_SUB].mean,
		       c->arm[A_DP_FULL].mean / c->arm[A_DP_SUB].mean);
	}
	if (json) {
		FILE *f = fopen(json, "w");

		if (!f) {
			perror(json);
			return 1;
		}
		json_write(f, cells, seeds, commit, seconds);
		if (fclose(f)) {
			perror(json);
			return 1;
		}
	}
	return 0;
}
