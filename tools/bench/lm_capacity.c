/* SPDX-License-Identifier: MIT */
/*
 * lm_capacity.c - what one emulated LM instance sustains, per prompt of
 * the fact-checking pipeline, on sluice-engine's own model: the
 * iteration loop (tools/engine/lm_loop.c) with sluice-engine's default
 * constants, the prompts and answers the roles would write
 * (tools/engine/model.c on the corpus). Compared with ALTO's Fig. 5, the
 * single-GPU saturation per prompt (QA about 11.7, claim extraction about
 * 8, query generation about 26 requests/s).
 *
 *   lm_capacity [--requests N (2000)] [--seeds S (3)]
 *               [--claims-prefix T (570)] [--queries-prefix T (300)]
 *
 * A saturated server: N requests of one prompt wait at time 0, and the
 * loop serves them all; capacity = N / the time the last one ends (model
 * seconds). The prompts: QA a 12-token question (sluicegen's) and the
 * answer the model writes for it; claim extraction the few-shot prefix
 * and a whole answer; query generation its prefix and one claim. Each
 * seed draws other texts. Prints one JSON object.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lm_loop.h"
#include "model.h"
#include "sl_opt.h"
#include "sluice.h"

#define CORPUS SL_SOURCE_DIR "/tools/data/corpus.txt"
#define QUESTION_TOKENS 12 /* sluicegen's default question */

#define MS_NS(ms) ((uint64_t)((ms)*1e6 + 0.5))

/* sluice-engine's defaults (tools/engine/README.md has the sources). */
static const struct sl_lm_params lm_defaults = {
	.decode_base_ns = MS_NS(SL_LM_DEFAULT_DECODE_MS),
	.decode_per_seq_ns = MS_NS(SL_LM_DEFAULT_DECODE_PER_SEQ_MS),
	.prefill_base_ns = MS_NS(SL_LM_DEFAULT_PREFILL_MS),
	.prefill_per_token_ns = MS_NS(SL_LM_DEFAULT_PREFILL_PER_TOKEN_MS),
	.max_num_seqs = SL_LM_DEFAULT_MAX_NUM_SEQS,
	.max_batched_tokens = SL_LM_DEFAULT_BATCHED_TOKENS,
	.kv_tokens = SL_LM_DEFAULT_KV_TOKENS,
};

enum prompt { P_QA, P_CLAIMS, P_QUERIES, P_MAX };

static const char *const prompt_name[P_MAX] = {"qa", "claims", "queries"};
/* ALTO Fig. 5, requests/s on one GPU. */
static const double alto_fig5[P_MAX] = {11.7, 8.0, 26.0};

static uint32_t
tokens_of(const char *s, size_t len)
{
	uint32_t n = 0;

	for (size_t pos = 0; pos < len; n++)
		pos += sl_tokenize_next(s + pos, len - pos);
	return n;
}

/* Prompt and answer tokens of request @i of @p under @seed. */
static int
request_sizes(const struct sl_corpus *c, enum prompt p, uint64_t seed,
	      unsigned int i, uint32_t prefix, uint32_t *in, uint32_t *out)
{
	struct sl_text answer = {0}, claims = {0}, queries = {0};
	char q[32];
	int n = snprintf(q, sizeof(q), "question %u", i);
	uint64_t key = sl_model_key(q, (size_t)n, seed);
	int rc = -ENOMEM;

	if (sl_model_answer(c, key, &answer))
		goto out;
	if (p == P_QA) {
		*in = QUESTION_TOKENS;
		*out = tokens_of(answer.buf, answer.len);
		rc = 0;
		goto out;
	}
	if (sl_model_claims(answer.buf, answer.len, c,
			    sl_model_key(answer.buf, answer.len, seed),
			    &claims))
		goto out;
	if (p == P_CLAIMS) {
		*in = prefix + tokens_of(answer.buf, answer.len);
		*out = tokens_of(claims.buf, claims.len);
		rc = 0;
		goto out;
	}
	/* Query generation: the first claim line. */
	{
		size_t l = strcspn(claims.buf, "\n") + 1;

		if (l > claims.len)
			l = claims.len;
		if (sl_model_queries(claims.buf, l, c,
				     sl_model_key(claims.buf, l, seed),
				     &queries))
			goto out;
		*in = prefix + tokens_of(claims.buf, l);
		*out = tokens_of(queries.buf, queries.len);
	}
	rc = 0;
out:
	sl_text_free(&answer);
	sl_text_free(&claims);
	sl_text_free(&queries);
	return rc;
}

/* Requests/s (model time) of one saturated instance. */
static double
capacity(const struct sl_corpus *c, enum prompt p, uint64_t seed,
	 unsigned int n, uint32_t prefix, double *mean_in, double *mean_out)
{
	struct sl_lm_event *ev = calloc(lm_defaults.max_num_seqs, sizeof(*ev));
	struct sl_lm lm;
	unsigned int done = 0;
	uint64_t t = 0, sum_in = 0, sum_out = 0;

	if (ev == NULL || sl_lm_init(&lm, &lm_defaults,
				     n > lm_defaults.max_num_seqs
					     ? n
					     : lm_defaults.max_num_seqs) != 0) {
		fprintf(stderr, "lm_capacity: out of memory\n");
		exit(1);
	}
	for (unsigned int i = 0; i < n; i++) {
		uint32_t in, out;

		if (request_sizes(c, p, seed, i, prefix, &in, &out) != 0 ||
		    out == 0 ||
		    sl_lm_submit(&lm, (void *)(uintptr_t)(i + 1), in, out, 1,
				 prefix, 0) != 0) {
			fprintf(stderr, "lm_capacity: request %u refused\n", i);
			exit(1);
		}
		sum_in += in;
		sum_out += out;
	}
	while (sl_lm_next(&lm) != UINT64_MAX) {
		unsigned int k;

		t = sl_lm_next(&lm);
		k = sl_lm_step(&lm, t, ev, lm_defaults.max_num_seqs);
		for (unsigned int e = 0; e < k; e++)
			done += ev[e].last;
	}
	sl_lm_fini(&lm);
	free(ev);
	if (done != n) {
		fprintf(stderr, "lm_capacity: %u of %u ended\n", done, n);
		exit(1);
	}
	*mean_in = (double)sum_in / n;
	*mean_out = (double)sum_out / n;
	return (double)n / ((double)t / 1e9);
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"requests", required_argument, NULL, 'n'},
		{"seeds", required_argument, NULL, 's'},
		{"claims-prefix", required_argument, NULL, 'c'},
		{"queries-prefix", required_argument, NULL, 'q'},
		{NULL, 0, NULL, 0},
	};
	unsigned int n = 2000, seeds = 3, prefix[P_MAX] = {0, 570, 300};
	struct sl_corpus *c;
	int o;

	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		uint64_t v;

		if (o != 'n' && o != 's' && o != 'c' && o != 'q') {
			fprintf(stderr, "usage: lm_capacity [--requests N] "
					"[--seeds S] [--claims-prefix T] "
					"[--queries-prefix T]\n");
			return 2;
		}
		if (!sl_parse_u64(optarg, 1, 1000000, &v)) {
			fprintf(stderr, "lm_capacity: bad value '%s'\n",
				optarg);
			return 2;
		}
		if (o == 'n')
			n = (unsigned int)v;
		else if (o == 's')
			seeds = (unsigned int)v;
		else
			prefix[o == 'c' ? P_CLAIMS : P_QUERIES] =
				(unsigned int)v;
	}
	c = sl_corpus_load(CORPUS);
	if (c == NULL) {
		fprintf(stderr, "lm_capacity: cannot load %s\n", CORPUS);
		return 1;
	}
	printf("{\"requests\": %u, \"seeds\": %u, \"prompts\": {", n, seeds);
	for (int p = 0; p < P_MAX; p++) {
		double sum = 0, sum2 = 0, in = 0, out = 0, mean, sd;

		printf("%s\"%s\": {\"per_seed\": [", p ? ", " : "",
		       prompt_name[p]);
		for (unsigned int s = 1; s <= seeds; s++) {
			double cap = capacity(c, (enum prompt)p, s, n,
					      prefix[p], &in, &out);

			sum += cap;
			sum2 += cap * cap;
			printf("%s%.3f", s > 1 ? ", " : "", cap);
		}
		mean = sum / seeds;
		sd = seeds > 1 ? sqrt((sum2 - sum * sum / seeds) / (seeds - 1))
			       : 0;
		printf("], \"mean\": %.3f, \"sd\": %.3f, \"prefix_tokens\": "
		       "%u, "
		       "\"prompt_tokens_mean\": %.1f, \"answer_tokens_mean\": "
		       "%.1f, \"alto_fig5\": %.1f, \"relative_error\": %.3f}",
		       mean, sd, prefix[p], in, out, alto_fig5[p],
		       (mean - alto_fig5[p]) / alto_fig5[p]);
	}
	printf("}}\n");
	sl_corpus_free(c);
	return 0;
}
