/* SPDX-License-Identifier: MIT */
/*
 * costrows.c - public rows for the scheduler's cost model (issue 12):
 * the fact-checking pipeline's LM templates run on public prompts through
 * the engine's own content model (tools/engine/model.c,
 * sl_model_public_rows), no network: each TOFU question (tools/data/tofu,
 * 600) to the answer role, its answer to the claims role, each claim line
 * to the queries role; then each line of tools/data/corpus.txt (600
 * passages) to the claims role and its claim lines to the queries role.
 * One row per answer: the stage id (by default sluiced's stage numbers in
 * the fact-checking pipeline, answer 1, claims 2, queries 3, the ids the
 * engine's length model reads the prompt with; --stage-ids A,C,Q gives
 * others), the output tokens as the engine counts them, the prompt. A
 * cost model takes each with sl_cost_add_public_prompt(m, stage, prompt,
 * len, tokens), then sl_cost_fit_public (tests/tools/test_lengths.c
 * does); sluiced's through `sluicectl cost add -f ROWS --public` and
 * `sluicectl cost fit`.
 *
 *   costrows [--length-model table|lowrank (table)] [--seed S (0)]
 *            [--stage-ids A,C,Q (1,2,3)] [--no-passages] [--json]
 *            [--corpus FILE] [--tofu DIR] [--out FILE]
 *   costrows --calibrate [--seeds N (8)] [--corpus FILE] [--tofu DIR]
 *
 * Rows go to stdout (or FILE) in sluicectl cost add's format, one a line:
 *   STAGE TAB OUTPUT_TOKENS TAB PROMPT (\n, \t and \\ escaped)
 * or, with --json, as JSON Lines:
 *   {"stage": 2, "role": "claims", "source": "tofu", "units": 3,
 *    "tokens": 41, "prompt": "..."}
 * and a summary per role (rows, units and tokens: mean and standard
 * deviation) to stderr.
 *
 * --calibrate derives the low-rank length model's calibrated constants
 * (scale and offset of each role, model.c's sl_model_lowrank) from the
 * public prompts of the TOFU chain at seeds 0 .. N-1 (the keys, so eps
 * and the texts, differ between seeds: N draws of the noise per prompt
 * stand for its expectation) and prints them, with the moments they give:
 *   scale_r = tau_r sqrt(3) / 2 / std(u_r . B^T phi),
 *   offset_r such that the mean units are Table 1's (bisection: the mean
 *   of rounded, clamped units does not decrease with the offset),
 * role by role (answer, claims, queries), each on the prompts the roles
 * before it, as calibrated, give it.
 */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "sl_opt.h"
#include "sluice.h"

#define CORPUS SL_SOURCE_DIR "/tools/data/corpus.txt"
#define TOFU SL_SOURCE_DIR "/tools/data/tofu"

/* Bisection steps for an offset in [-OFFSET_SPAN, OFFSET_SPAN]: 2^-60 of
 * the span, below the printed precision. */
#define OFFSET_SPAN 8.0
#define OFFSET_STEPS 60

/* Per role: what the summary and the calibration need. */
struct role_stats {
	size_t n;
	double units, units2, tokens, tokens2;
	/* Calibration: B^T phi and eps of each row of the role. */
	double *z, *eps;
	size_t cap;
};

struct run {
	FILE *out; /* NULL: no rows printed */
	bool json;
	bool stage_ids; /* stage_id given, else the rows' own */
	unsigned int stage_id[SL_MODEL_ROLES];
	bool keep;          /* keep B^T phi and eps per row */
	const char *source; /* NULL: all rows; else only this source's */
	struct role_stats role[SL_MODEL_ROLES];
};

/* sluicectl cost add's line: STAGE TAB TOKENS TAB PROMPT, escaped. */
static int
row_print_tsv(FILE *out, unsigned int stage, const struct sl_model_row *r)
{
	if (fprintf(out, "%u\t%u\t", stage, (unsigned int)r->tokens) < 0)
		return -EIO;
	for (size_t i = 0; i < r->prompt_len; i++) {
		char c = r->prompt[i];
		int rc = c == '\n'   ? fputs("\\n", out)
			 : c == '\t' ? fputs("\\t", out)
			 : c == '\\' ? fputs("\\\\", out)
				     : fputc(c, out);

		if (rc == EOF)
			return -EIO;
	}
	return fputc('\n', out) == EOF ? -EIO : 0;
}

static int
row_print_json(FILE *out, unsigned int stage, const struct sl_model_row *r)
{
	json_t *o = json_pack(
		"{s:I, s:s, s:s, s:i, s:i, s:s%}", "stage", (json_int_t)stage,
		"role", sl_model_lowrank[r->role].name, "source", r->source,
		"units", (int)r->units, "tokens", (int)r->tokens, "prompt",
		r->prompt, r->prompt_len);
	int rc;

	if (o == NULL)
		return -ENOMEM;
	rc = json_dumpf(o, out, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	if (rc != 0 || fputc('\n', out) == EOF)
		return -EIO;
	return 0;
}

/* "A,C,Q": the answer, claims and queries stages' ids. */
static int
parse_stage_ids(const char *s, unsigned int *id)
{
	for (unsigned int r = 0; r < SL_MODEL_ROLES; r++) {
		char num[16];
		size_t n = strcspn(s, ",");
		uint64_t v;

		if (n == 0 || n >= sizeof(num))
			return -EINVAL;
		memcpy(num, s, n);
		num[n] = 0;
		if (!sl_parse_u64(num, 0, UINT32_MAX, &v))
			return -EINVAL;
		id[r] = (unsigned int)v;
		s += n;
		if (r + 1 < SL_MODEL_ROLES && *s++ != ',')
			return -EINVAL;
	}
	return *s == 0 ? 0 : -EINVAL;
}

static int
row_take(void *arg, const struct sl_model_row *r)
{
	struct run *run = arg;
	struct role_stats *st = &run->role[r->role];
	unsigned int stage;

	if (run->source != NULL && strcmp(run->source, r->source) != 0)
		return 0;
	st->n++;
	st->units += r->units;
	st->units2 += (double)r->units * r->units;
	st->tokens += r->tokens;
	st->tokens2 += (double)r->tokens * r->tokens;
	if (run->keep) {
		if (st->n > st->cap) {
			size_t cap = st->cap ? 2 * st->cap : 1024;
			double *z = realloc(st->z, cap * SL_MODEL_LOWRANK_K *
							   sizeof(*z));
			double *ep;

			if (z == NULL)
				return -ENOMEM;
			st->z = z;
			ep = realloc(st->eps, cap * sizeof(*ep));
			if (ep == NULL)
				return -ENOMEM;
			st->eps = ep;
			st->cap = cap;
		}
		memcpy(st->z + (st->n - 1) * SL_MODEL_LOWRANK_K, r->z,
		       sizeof(r->z));
		st->eps[st->n - 1] = r->eps;
	}
	if (run->out == NULL)
		return 0;
	stage = run->stage_ids ? run->stage_id[r->role] : r->stage;
	return run->json ? row_print_json(run->out, stage, r)
			 : row_print_tsv(run->out, stage, r);
}

static void
run_free(struct run *run)
{
	for (unsigned int r = 0; r < SL_MODEL_ROLES; r++) {
		free(run->role[r].z);
		free(run->role[r].eps);
	}
	memset(run, 0, sizeof(*run));
}

static double
sd_of(size_t n, double sum, double sum2)
{
	double m = sum / (double)n, v = sum2 / (double)n - m * m;

	return v > 0 ? sqrt(v) : 0;
}

static void
summary(FILE *f, const char *what, const struct run *run)
{
	for (unsigned int r = 0; r < SL_MODEL_ROLES; r++) {
		const struct role_stats *st = &run->role[r];

		if (st->n == 0)
			continue;
		fprintf(f,
			"%s %-8s rows %5zu  units %7.3f +- %7.3f (Table 1 "
			"%.1f)  tokens %7.2f +- %7.2f\n",
			what, sl_model_lowrank[r].name, st->n,
			st->units / (double)st->n,
			sd_of(st->n, st->units, st->units2),
			sl_model_lowrank[r].mean, st->tokens / (double)st->n,
			sd_of(st->n, st->tokens, st->tokens2));
	}
}

/* Mean units of @st's rows under @p. */
static double
mean_units(enum sl_model_role role, const struct sl_model_lowrank_role *p,
	   const struct role_stats *st)
{
	double sum = 0;

	for (size_t i = 0; i < st->n; i++)
		sum += sl_model_lowrank_round(
			p, sl_model_lowrank_log_units(
				   role, p, st->z + i * SL_MODEL_LOWRANK_K,
				   st->eps[i]));
	return sum / (double)st->n;
}

/* Standard deviation of u_r . z over @st's rows: the exponent with mean
 * 1, no offset, scale 1 and no noise. */
static double
signal_sd(enum sl_model_role role, const struct role_stats *st)
{
	const struct sl_model_lowrank_role unit = {.mean = 1, .scale = 1};
	double s = 0, s2 = 0;

	for (size_t i = 0; i < st->n; i++) {
		double v = sl_model_lowrank_log_units(
			role, &unit, st->z + i * SL_MODEL_LOWRANK_K, 0);

		s += v;
		s2 += v * v;
	}
	return sd_of(st->n, s, s2);
}

/* Rows of @spec at seeds 0 .. @seeds - 1 into @run. */
static int
collect(struct sl_model_rows_spec *spec, unsigned int seeds, struct run *run)
{
	int rc = 0;

	for (unsigned int seed = 0; rc == 0 && seed < seeds; seed++) {
		spec->seed = seed;
		rc = sl_model_public_rows(spec, row_take, run);
	}
	return rc;
}

static int
calibrate(const struct sl_corpus *c, const struct sl_model_questions *q,
	  unsigned int seeds)
{
	struct sl_model_lowrank_role lr[SL_MODEL_ROLES];
	struct sl_model_rows_spec spec = {
		.corpus = c,
		.questions = q->text,
		.question_lens = q->len,
		.n_questions = q->n,
		.lengths = SL_MODEL_LENGTHS_LOWRANK,
		.seed = 0,
		.lowrank = lr,
	};
	struct run run;
	int rc;

	memcpy(lr, sl_model_lowrank, sizeof(lr));
	for (unsigned int r = 0; r < SL_MODEL_ROLES; r++) {
		struct role_stats *st;
		double lo = -OFFSET_SPAN, hi = OFFSET_SPAN, sd;

		memset(&run, 0, sizeof(run));
		run.keep = true;
		rc = collect(&spec, seeds, &run);
		if (rc != 0) {
			run_free(&run);
			return rc;
		}
		st = &run.role[r];
		sd = signal_sd((enum sl_model_role)r, st);
		lr[r].scale = lr[r].tau * sqrt(3.0) / 2 / sd;
		for (int k = 0; k < OFFSET_STEPS; k++) {
			lr[r].offset = (lo + hi) / 2;
			if (mean_units((enum sl_model_role)r, &lr[r], st) <
			    lr[r].mean)
				lo = lr[r].offset;
			else
				hi = lr[r].offset;
		}
		lr[r].offset = hi;
		printf("%s: %zu prompts (%u seeds), std(u . B^T phi) %.6f\n",
		       lr[r].name, st->n, seeds, sd);
		run_free(&run);
	}
	for (unsigned int r = 0; r < SL_MODEL_ROLES; r++)
		printf("[%u] %-8s .scale = %.6f, .offset = %.6f\n", r,
		       lr[r].name, lr[r].scale, lr[r].offset);
	/* What they give, on the TOFU chain and on the passages. */
	memset(&run, 0, sizeof(run));
	run.source = "tofu";
	rc = collect(&spec, seeds, &run);
	if (rc == 0)
		summary(stdout, "tofu  ", &run);
	spec.passages = true;
	memset(&run, 0, sizeof(run));
	run.source = "corpus";
	if (rc == 0)
		rc = collect(&spec, seeds, &run);
	if (rc == 0)
		summary(stdout, "corpus", &run);
	return rc;
}

int
main(int argc, char **argv)
{
	const char *lengths_name = "table", *stage_ids = NULL,
		   *corpus_path = CORPUS, *tofu_dir = TOFU, *out_path = NULL;
	uint64_t seed = 0;
	unsigned int seeds = 8;
	bool no_passages = false, calib = false, help = false, json = false;
	const struct sl_opt_spec spec[] = {
		SL_OPT_S("length-model", &lengths_name),
		SL_OPT_N64("seed", &seed, 0, UINT64_MAX),
		SL_OPT_S("stage-ids", &stage_ids),
		SL_OPT_F("no-passages", &no_passages),
		SL_OPT_F("json", &json),
		SL_OPT_S("corpus", &corpus_path),
		SL_OPT_S("tofu", &tofu_dir),
		SL_OPT_S("out", &out_path),
		SL_OPT_F("calibrate", &calib),
		SL_OPT_N("seeds", &seeds, 1, 1000),
		SL_OPT_F("help", &help, .letter = 'h'),
	};
	struct sl_model_rows_spec rows = {0};
	struct sl_model_questions q;
	struct sl_corpus *c;
	struct run run = {0};
	char err[512];
	int op, rc;

	op = sl_opt_parse("costrows", argc, argv, spec,
			  sizeof(spec) / sizeof(spec[0]), NULL);
	if (op < 0)
		return 2;
	if (help || op != argc) {
		fprintf(help ? stdout : stderr,
			"usage: costrows [--length-model table|lowrank] "
			"[--seed S] [--stage-ids A,C,Q]\n"
			"                [--no-passages] [--json] [--corpus "
			"FILE] "
			"[--tofu DIR] [--out FILE]\n"
			"       costrows --calibrate [--seeds N] "
			"[--corpus FILE] [--tofu DIR]\n");
		return help ? 0 : 2;
	}
	if (sl_model_lengths_parse(lengths_name, &rows.lengths) != 0) {
		fprintf(stderr,
			"costrows: --length-model: must be table or lowrank, "
			"got \"%s\"\n",
			lengths_name);
		return 2;
	}
	run.json = json;
	run.stage_ids = stage_ids != NULL;
	if (stage_ids != NULL &&
	    parse_stage_ids(stage_ids, run.stage_id) != 0) {
		fprintf(stderr,
			"costrows: --stage-ids: must be three ids 0..%u "
			"separated by commas, got \"%s\"\n",
			UINT32_MAX, stage_ids);
		return 2;
	}
	c = sl_corpus_load(corpus_path);
	if (c == NULL) {
		fprintf(stderr, "costrows: cannot load %s: %s\n", corpus_path,
			strerror(errno));
		return 1;
	}
	if (sl_model_tofu_load(&q, tofu_dir, err, sizeof(err)) != 0) {
		fprintf(stderr, "costrows: %s\n", err);
		sl_corpus_free(c);
		return 1;
	}
	if (calib) {
		rc = calibrate(c, &q, seeds);
		goto out;
	}
	run.out = stdout;
	if (out_path != NULL && (run.out = fopen(out_path, "w")) == NULL) {
		fprintf(stderr, "costrows: cannot open %s: %s\n", out_path,
			strerror(errno));
		rc = 1;
		goto out;
	}
	rows.corpus = c;
	rows.questions = q.text;
	rows.question_lens = q.len;
	rows.n_questions = q.n;
	rows.passages = !no_passages;
	rows.seed = seed;
	rc = sl_model_public_rows(&rows, row_take, &run);
	if (run.out != stdout && fclose(run.out) != 0 && rc == 0)
		rc = -EIO;
	if (rc == 0)
		summary(stderr, sl_model_lengths_name(rows.lengths), &run);
out:
	if (rc != 0)
		fprintf(stderr, "costrows: %s\n",
			rc < 0 ? strerror(-rc) : "stopped");
	run_free(&run);
	sl_model_tofu_free(&q);
	sl_corpus_free(c);
	return rc != 0;
}
