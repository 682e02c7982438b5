/* SPDX-License-Identifier: MIT */
/*
 * sluice-sim - evaluate one scheduling configuration of the fact-checking
 * pipeline on one node's traffic, in simulation (tools/sim/README.md):
 * one JSON line with the SLO attainment and what explains it.
 *
 *   sluice-sim [--policy P] [--instances N | --pinned A/B/C |
 *              --pipeline FILE] [--rate R | --trace FILE ...] [...]
 *
 * Exit: 0 with the JSON on stdout; 2 for a bad argument or a file that
 * cannot be read (one line on stderr naming it); 1 when the run failed.
 */
#include <errno.h>
#include <float.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"
#include "sl_opt.h"

static void
usage(void)
{
	printf("usage: sluice-sim [options]\n"
	       "layout (default: a pool of 7 shared by answer, claims, "
	       "queries):\n"
	       "  --instances N        pool members (1..32)\n"
	       "  --pinned A/B/C       answer/claims/queries own instances "
	       "(ALTO: 2/2/3)\n"
	       "  --pipeline FILE      a sluice pipeline file instead\n"
	       "  --yaml               print the built-in pipeline file, "
	       "run nothing\n"
	       "scheduling:\n"
	       "  --policy P           round_robin, least_loaded, "
	       "hash_request, prompt_aware\n"
	       "  --load-bound X       the pool's bounded-load factor (> 1)\n"
	       "  --warm-prefixes N    prompts a member keeps warm (1..4)\n"
	       "engines (sluice-engine's options):\n"
	       "  --prefix-cache N     prefixes an instance keeps (1)\n"
	       "  --claims-prefix N    few-shot prefix tokens (570)\n"
	       "  --queries-prefix N   (300)\n"
	       "  --engine-seed N      --seed (0)\n"
	       "  --length-model M     table or lowrank\n"
	       "workload (sluicegen's):\n"
	       "  --rate R             model requests/s (10)\n"
	       "  --requests N         (1000)\n"
	       "  --warmup N           first requests not measured (0)\n"
	       "  --seed N             arrivals and questions (1)\n"
	       "  --question-tokens N  (12)\n"
	       "  --trace FILE         an Azure LLM trace instead of Poisson\n"
	       "  --trace-speedup X    (0: the one that gives --rate)\n"
	       "  --trace-start S      trace seconds skipped (0)\n"
	       "  --corpus FILE        (tools/data/corpus.txt)\n"
	       "timing (model time unless said):\n"
	       "  --slo-ms X           the latency target (4000)\n"
	       "  --retrieval-ms X     a query line to its result (30)\n"
	       "  --hop-us X           sluiced and network per hop, wall "
	       "us (0)\n"
	       "  --time-scale X       the engines' --time-scale (1)\n"
	       "  --drain-s X          after the last arrival (40)\n");
}

/* "A/B/C" into @n[3]. */
static int
parse_pinned(const char *s, unsigned int *n)
{
	char tail;

	if (sscanf(s, "%u/%u/%u%c", &n[0], &n[1], &n[2], &tail) != 3)
		return -1;
	return 0;
}

int
main(int argc, char **argv)
{
	struct sl_sim_knobs k;
	struct sl_sim_result *r;
	const char *policy = NULL, *pinned = NULL, *lengths = "table";
	bool help = false, yaml = false, have_instances = false;
	char err[512];
	int rc;

	sl_sim_knobs_default(&k);
	const struct sl_opt_spec spec[] = {
		SL_OPT_F("help", &help),
		SL_OPT_F("yaml", &yaml),
		SL_OPT_S("pipeline", &k.pipeline_path),
		SL_OPT_N("instances", &k.pool_instances, 0, 1u << 20,
			 .given = &have_instances),
		SL_OPT_S("pinned", &pinned),
		SL_OPT_S("policy", &policy),
		SL_OPT_D("load-bound", &k.load_bound, 0, DBL_MAX),
		SL_OPT_N("warm-prefixes", &k.warm_prefixes, 0, 1u << 20),
		SL_OPT_N("prefix-cache", &k.prefix_cache_slots, 0, 1u << 20),
		SL_OPT_N("claims-prefix", &k.claims_prefix_tokens, 0, 1u << 30),
		SL_OPT_N("queries-prefix", &k.queries_prefix_tokens, 0,
			 1u << 30),
		SL_OPT_N64("engine-seed", &k.engine_seed, 0, UINT64_MAX),
		SL_OPT_S("length-model", &lengths),
		SL_OPT_D("rate", &k.rate, 0, DBL_MAX),
		SL_OPT_N("requests", &k.requests, 0, 1u << 30),
		SL_OPT_N("warmup", &k.warmup, 0, 1u << 30),
		SL_OPT_N64("seed", &k.seed, 0, UINT64_MAX),
		SL_OPT_N("question-tokens", &k.question_tokens, 0, 1u << 30),
		SL_OPT_S("trace", &k.trace_path),
		SL_OPT_D("trace-speedup", &k.trace_speedup, 0, DBL_MAX),
		SL_OPT_D("trace-start", &k.trace_start_s, 0, DBL_MAX),
		SL_OPT_S("corpus", &k.corpus_path),
		SL_OPT_D("slo-ms", &k.slo_ms, 0, DBL_MAX),
		SL_OPT_D("retrieval-ms", &k.retrieval_ms, 0, DBL_MAX),
		SL_OPT_D("hop-us", &k.hop_us, 0, DBL_MAX),
		SL_OPT_D("time-scale", &k.time_scale, 0, DBL_MAX),
		SL_OPT_D("drain-s", &k.drain_s, 0, DBL_MAX),
	};
	int first = sl_opt_parse("sluice-sim", argc, argv, spec,
				 sizeof(spec) / sizeof(spec[0]), NULL);

	if (first < 0) /* it said why */
		return 2;
	if (help) {
		usage();
		return 0;
	}
	if (first < argc) {
		fprintf(stderr, "sluice-sim: unexpected argument '%s'\n",
			argv[first]);
		return 2;
	}
	if (policy != NULL) {
		k.policy = sl_balance_parse(policy);
		if (k.policy == SL_BALANCE_MAX) {
			fprintf(stderr,
				"sluice-sim: --policy: must be round_robin, "
				"least_loaded, hash_request or prompt_aware, "
				"got '%s'\n",
				policy);
			return 2;
		}
	}
	if (pinned != NULL && parse_pinned(pinned, k.pinned) < 0) {
		fprintf(stderr,
			"sluice-sim: --pinned: must be A/B/C (instances of "
			"answer, claims, queries), got '%s'\n",
			pinned);
		return 2;
	}
	if (have_instances && (pinned != NULL || k.pipeline_path != NULL)) {
		fprintf(stderr, "sluice-sim: --instances: the pool's size; "
				"not with --pinned or --pipeline\n");
		return 2;
	}
	if (sl_model_lengths_parse(lengths, &k.lengths) < 0) {
		fprintf(stderr,
			"sluice-sim: --length-model: must be table or lowrank, "
			"got '%s'\n",
			lengths);
		return 2;
	}
	if (sl_sim_check(&k, err, sizeof(err)) < 0) {
		fprintf(stderr, "sluice-sim: %s\n", err);
		return 2;
	}
	if (yaml) {
		static char buf[16384];

		if (k.pipeline_path != NULL ||
		    sl_sim_pipeline_yaml(&k, buf, sizeof(buf)) < 0) {
			fprintf(stderr, "sluice-sim: --yaml: the built-in "
					"layout only\n");
			return 2;
		}
		fputs(buf, stdout);
		return 0;
	}
	r = malloc(sizeof(*r));
	if (r == NULL) {
		fprintf(stderr, "sluice-sim: out of memory\n");
		return 1;
	}
	rc = sl_sim_run(&k, NULL, r, err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr, "sluice-sim: %s\n", err);
		free(r);
		return rc == -EINVAL || rc == -ENOENT ? 2 : 1;
	}
	sl_sim_json(stdout, &k, r, true);
	free(r);
	return 0;
}
