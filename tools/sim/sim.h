/* SPDX-License-Identifier: MIT */
/*
 * sim.h - sluice-sim (issue 16): a deterministic discrete-event simulator
 * of one sluice node running the fact-checking pipeline, which evaluates
 * one scheduling configuration on one node's traffic and reports its SLO
 * attainment (the fraction of requests whose end-to-end latency is under
 * the target), the metric tools/tune optimises (as 1 - attainment).
 *
 * What runs is sluice's own code wherever sluiced has it: the pipeline is
 * compiled by control/'s config compiler (sl_config_parse / _load), every
 * new LM stream is routed by dataplane/'s sl_route_pick over real
 * struct sl_stage_state / sl_instance_state, and every LM instance is the
 * emulator's iteration loop (tools/engine/lm_loop.c) with sluice-engine's
 * default constants; what each LM answers (so its output tokens, and
 * where each claim and query line ends) is tools/engine/model.c's, and the
 * workload is sluicegen's (gen_arrivals, gen_question_offset, the Azure
 * trace reader of tools/gen/trace.c). tools/sim/README.md says what is
 * simulated and what is not.
 *
 * Time is integer nanoseconds of model time throughout; the simulator
 * never reads a clock except to report its own wall time. Same knobs,
 * same data: same result, byte for byte (sl_sim_json without wall time).
 *
 * Errors: functions return 0 or a negative errno and write one line
 * "FIELD: what is wrong" to the caller's @err: -EINVAL (a knob out of
 * range, a pipeline without the answer, claims and queries stages),
 * -ENOENT (a file), -ENOMEM.
 */
#ifndef SL_SIM_H
#define SL_SIM_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "sl_snapshot.h"
#include "model.h"

/* Requests one run simulates, at most. */
#define SL_SIM_REQUESTS_MAX (1u << 20)

/* LM instances (distinct endpoints of the three LM stages), at most. */
#define SL_SIM_ENGINES_MAX 64

/* The LM roles of the fact-checking pipeline, in pipeline order. */
enum sl_sim_role {
	SL_SIM_ROLE_ANSWER,
	SL_SIM_ROLE_CLAIMS,
	SL_SIM_ROLE_QUERIES,
	SL_SIM_ROLES
};

/* Defaults: sched.sh's pooled arm (tools/bench/sched.sh with
 * tools/pipelines/factcheck-pool7.yaml), ALTO's 4 s target. */
#define SL_SIM_DEFAULT_POOL 7
#define SL_SIM_DEFAULT_PREFIX_CACHE 1
#define SL_SIM_DEFAULT_CLAIMS_PREFIX 570 /* FC_CLAIMS_PREFIX */
#define SL_SIM_DEFAULT_QUERIES_PREFIX 300
#define SL_SIM_DEFAULT_QUESTION_TOKENS 12 /* sluicegen --question-tokens */
#define SL_SIM_DEFAULT_REQUESTS 1000
#define SL_SIM_DEFAULT_RATE 10.0 /* model requests/s */
#define SL_SIM_DEFAULT_SLO_MS 4000.0
#define SL_SIM_DEFAULT_RETRIEVAL_MS 30.0
#define SL_SIM_DEFAULT_DRAIN_S 40.0 /* sched.sh: 40 s of model time */

struct sl_sim_route;

/*
 * The knobs of one evaluation. sl_sim_knobs_default fills the defaults;
 * a tuner changes what it tunes and calls sl_sim_run.
 */
struct sl_sim_knobs {
	/* --- scheduling: what is tuned --- */
	/* Policy of every LM stage (a pool's: all its stages);
	 * SL_BALANCE_MAX: as the pipeline says (built-in: prompt_aware for
	 * the pool, hash_request pinned). */
	enum sl_balance policy;
	/* The pool's bounded-load factor (> 1); 0: as the pipeline says
	 * (built-in 1.25). */
	double load_bound;
	/* Prompts a pool member is assumed to keep warm, 1..SL_POOL_WARM_MAX;
	 * 0: as the pipeline says (built-in: the prefix cache's slots, at
	 * most SL_POOL_WARM_MAX, as sched.sh sets it). */
	unsigned int warm_prefixes;

	/* --- the LM instances (sluice-engine's options) --- */
	unsigned int prefix_cache_slots; /* --prefix-cache, 0..64 */
	unsigned int claims_prefix_tokens;
	unsigned int queries_prefix_tokens;
	uint64_t engine_seed;          /* sluice-engine --seed */
	enum sl_model_lengths lengths; /* --length-model */

	/* --- layout: the built-in pipeline, or a file --- */
	/* A sluice pipeline file (its first pipeline), compiled as sluiced
	 * compiles it; NULL: the built-in factcheck pipeline below. */
	const char *pipeline_path;
	/* Built-in: pool_instances members shared by the three LM stages
	 * (factcheck-pool7.yaml) unless pinned[] is set: then pinned[r]
	 * instances of role r's own (factcheck-pinned7.yaml: 2/2/3).
	 * 1..SL_MAX_INSTANCES each. */
	unsigned int pool_instances;
	unsigned int pinned[SL_SIM_ROLES];

	/* --- workload (sluicegen's) --- */
	const char *corpus_path; /* NULL: tools/data/corpus.txt */
	/* NULL: Poisson questions at @rate; else an Azure LLM trace
	 * (sluicegen --trace) replayed from trace second @trace_start_s at
	 * @trace_speedup, or, with @trace_speedup 0, at the speed-up that
	 * makes the replayed rows' rate @rate. */
	const char *trace_path;
	double rate; /* model requests/s */
	double trace_speedup;
	double trace_start_s;
	unsigned int requests;        /* 1..SL_SIM_REQUESTS_MAX */
	unsigned int warmup;          /* of them, the first not measured */
	unsigned int question_tokens; /* Poisson questions' tokens */
	uint64_t seed;                /* sluicegen --seed */

	/* --- timing --- */
	double slo_ms;       /* the latency target, model ms (> 0) */
	double retrieval_ms; /* a query line to its reranked result */
	/* sluiced and the network, per hop (wall-clock microseconds, not
	 * scaled by the engines): becomes hop_us / time_scale of model time,
	 * as it does when the engines run at --time-scale. */
	double hop_us;
	double time_scale; /* the engines' --time-scale (> 0) */
	double drain_s;    /* model seconds after the last arrival */

	/* --- observation (tests): every routing decision --- */
	void (*on_route)(void *ctx, const struct sl_sim_route *route);
	void *route_ctx;
};

/* One routing decision, as on_route sees it. */
struct sl_sim_route {
	uint32_t request; /* index in arrival order */
	uint64_t id;      /* the request id ancestry[0] carries */
	uint64_t now;     /* model ns */
	enum sl_sim_role role;
	uint8_t stage;     /* index in the pipeline */
	uint16_t instance; /* the pick: index in the stage */
	uint16_t n_instances;
	double load_bound; /* prompt_aware's bound for this stage */
	/* Each member's load before the pick, as prompt_aware weighs it:
	 * answers owed x the stage's cost_us, summed over a pool's stages. */
	uint64_t work_us[SL_MAX_INSTANCES];
	uint64_t cost_us;                /* this stage's cost */
	uint32_t owed[SL_MAX_INSTANCES]; /* answers owed, all pool stages */
};

/* One LM instance's figures. */
struct sl_sim_engine_stats {
	char name[SL_NAME_MAX]; /* the instance's, of its first LM stage */
	uint32_t ip;
	uint16_t port;
	uint64_t served[SL_SIM_ROLES]; /* answers ended, per role */
	uint64_t prefix_hits;
	uint64_t prefix_misses;
	uint64_t prefix_evictions;
	uint64_t preemptions;
	uint64_t busy_ns;
};

struct sl_sim_result {
	uint64_t requests;  /* measured (after warm-up) */
	uint64_t completed; /* of them, done before the horizon */
	uint64_t under_slo; /* of them, latency < slo */
	uint64_t refused;   /* streams an engine refused (too long) */
	double attainment;  /* under_slo / requests, in [0, 1] */
	double p50_ms;      /* over the completed measured requests */
	double p99_ms;      /* (nearest rank; 0 when none completed) */
	double mean_ms;
	uint64_t prefix_hits; /* every engine */
	uint64_t prefix_misses;
	uint64_t streams[SL_SIM_ROLES]; /* routed */
	uint64_t events;
	uint64_t model_end_ns; /* the last event handled */
	double offered_rate;   /* measured requests / their arrival span */
	double speedup;        /* trace: the speed-up replayed */
	double wall_s;         /* this run's own time (not deterministic) */
	unsigned int n_engines;
	struct sl_sim_engine_stats engine[SL_SIM_ENGINES_MAX];
	char policy[24];            /* what the LM stages ran */
	double load_bound;          /* prompt_aware's bound they ran under */
	unsigned int warm_prefixes; /* the pool's (0: no pool) */
	char layout[32];            /* "pool:7", "pinned:2/2/3", "file" */
};

/* Corpus and trace, loaded once for many runs. */
struct sl_sim_data;

/**
 * sl_sim_knobs_default - sched.sh's pooled arm: 7 pooled members, the
 * pipeline's policy (prompt_aware), prefix cache 1, Poisson questions at
 * 10 model requests/s, 1000 requests, seed 1, target 4 s.
 */
void sl_sim_knobs_default(struct sl_sim_knobs *k);

/**
 * sl_sim_check - whether @k can be run: every field in range, one
 * message "FIELD: must be ..., got ..." in @err otherwise.
 * Return 0 or -EINVAL.
 */
int sl_sim_check(const struct sl_sim_knobs *k, char *err, size_t errlen);

/**
 * sl_sim_data_open - load the corpus (@corpus_path, NULL: the source
 * tree's tools/data/corpus.txt) and, with @trace_path, the trace.
 * Return the data or NULL with "FILE: why" in @err.
 * sl_sim_data_close - free it (NULL accepted).
 */
struct sl_sim_data *sl_sim_data_open(const char *corpus_path,
				     const char *trace_path, char *err,
				     size_t errlen);
void sl_sim_data_close(struct sl_sim_data *d);

/**
 * sl_sim_run - simulate @k on @d (NULL: load what @k names for this run)
 * into @out. @k's corpus_path and trace_path are not read when @d is
 * given. Return 0, or -EINVAL / -ENOENT / -ENOMEM with @err set (nothing
 * meaningful in @out).
 */
int sl_sim_run(const struct sl_sim_knobs *k, struct sl_sim_data *d,
	       struct sl_sim_result *out, char *err, size_t errlen);

/**
 * sl_sim_pipeline_yaml - the built-in pipeline file for @k's layout and
 * scheduling knobs into @buf (@cap bytes). Return its length, or -ENOSPC.
 */
int sl_sim_pipeline_yaml(const struct sl_sim_knobs *k, char *buf, size_t cap);

/**
 * sl_sim_json - @r as one JSON object (a line) on @f; with @wall the
 * run's wall time too (leave it out to compare two runs byte for byte).
 */
void sl_sim_json(FILE *f, const struct sl_sim_knobs *k,
		 const struct sl_sim_result *r, bool wall);

/** sl_sim_role_name - "answer", "claims", "queries". */
const char *sl_sim_role_name(enum sl_sim_role role);

#endif /* SL_SIM_H */
