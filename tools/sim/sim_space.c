/* SPDX-License-Identifier: MIT */
/*
 * sim_space.c - the tuners' search space and fleet on sluice-sim nodes
 * (sim_space.h): one table of knob values for tune.sh and sluicectl tune.
 */
#include <math.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "sim_space.h"
#include "sl_rng.h"
#include "sl_tune.h"

const struct sl_sim_layout sl_sim_layouts[] = {
	{"pool:7", {0, 0, 0}},       {"pinned:2/2/3", {2, 2, 3}},
	{"pinned:3/2/2", {3, 2, 2}}, {"pinned:2/3/2", {2, 3, 2}},
	{"pinned:3/1/3", {3, 1, 3}}, {"pinned:1/3/3", {1, 3, 3}},
};
const unsigned int sl_sim_n_layouts =
	sizeof(sl_sim_layouts) / sizeof(*sl_sim_layouts);

/* The pipeline has two few-shot prefixes (claims, queries; the answer
 * has none), so 2 cache slots hold them all and warm_prefixes 2 assumes
 * both: larger values are the same configuration again. */
static const double load_bounds[] = {1.1, 1.25, 1.5, 2.0};
static const unsigned int warm_prefixes[] = {1, 2};
static const unsigned int cache_slots[] = {0, 1, 2};
#define N_BOUNDS (sizeof(load_bounds) / sizeof(*load_bounds))
#define N_WARM (sizeof(warm_prefixes) / sizeof(*warm_prefixes))
#define N_CACHE (sizeof(cache_slots) / sizeof(*cache_slots))

/* prompt_aware on the pool: the only policy that reads load_bound and
 * warm_prefixes, so the only one they are crossed with. */
static unsigned int
prompt_aware(struct sl_sim_config *out, unsigned int cache)
{
	unsigned int n = 0;

	for (size_t b = 0; b < N_BOUNDS; b++)
		for (size_t w = 0; w < N_WARM; w++)
			out[n++] = (struct sl_sim_config){
				SL_BALANCE_PROMPT_AWARE, 0, load_bounds[b],
				warm_prefixes[w], cache};
	return n;
}

unsigned int
sl_sim_space_bench(struct sl_sim_config *out)
{
	unsigned int n = 0;

	for (size_t c = 0; c < N_CACHE; c++)
		n += prompt_aware(out + n, cache_slots[c]);
	for (size_t c = 0; c < N_CACHE; c++) {
		out[n++] = (struct sl_sim_config){SL_BALANCE_LEAST_LOADED, 0, 0,
						  0, cache_slots[c]};
		out[n++] = (struct sl_sim_config){SL_BALANCE_ROUND_ROBIN, 0, 0,
						  0, cache_slots[c]};
		for (unsigned int l = 1; l < sl_sim_n_layouts; l++)
			out[n++] =
				(struct sl_sim_config){SL_BALANCE_HASH_REQUEST,
						       l, 0, 0, cache_slots[c]};
	}
	return n;
}

unsigned int
sl_sim_space_policy(struct sl_sim_config *out, unsigned int cache)
{
	unsigned int n = prompt_aware(out, cache);

	out[n++] =
		(struct sl_sim_config){SL_BALANCE_LEAST_LOADED, 0, 0, 0, cache};
	out[n++] =
		(struct sl_sim_config){SL_BALANCE_ROUND_ROBIN, 0, 0, 0, cache};
	out[n++] =
		(struct sl_sim_config){SL_BALANCE_HASH_REQUEST, 0, 0, 0, cache};
	return n;
}

void
sl_sim_config_knobs(const struct sl_sim_config *c, struct sl_sim_knobs *k)
{
	k->policy = c->policy;
	memcpy(k->pinned, sl_sim_layouts[c->layout].pinned, sizeof(k->pinned));
	k->load_bound = c->load_bound;
	k->warm_prefixes = c->warm_prefixes;
	k->prefix_cache_slots = c->cache;
}

void
sl_sim_config_name(const struct sl_sim_config *c, char *buf, size_t cap)
{
	if (c->policy == SL_BALANCE_PROMPT_AWARE)
		snprintf(buf, cap, "%s %s lb %.2f warm %u cache %u",
			 sl_balance_name(c->policy),
			 sl_sim_layouts[c->layout].name, c->load_bound,
			 c->warm_prefixes, c->cache);
	else
		snprintf(buf, cap, "%s %s cache %u", sl_balance_name(c->policy),
			 sl_sim_layouts[c->layout].name, c->cache);
}

/* --- the fleet ----------------------------------------------------------- */

static const char *const traffic_name[SL_SIM_TRAFFIC_KINDS] = {
	"poisson", "azure-conv", "azure-code"};
#define TRACE_DIR SL_SOURCE_DIR "/tools/data/azure-llm-trace/"
static const char *const trace_file[SL_SIM_TRAFFIC_KINDS] = {
	NULL, TRACE_DIR "AzureLLMInferenceTrace_conv.csv",
	TRACE_DIR "AzureLLMInferenceTrace_code.csv"};
/* Each kind's median rate (model requests/s), the spread of its log, and
 * its range; trace windows start in [0, window_s) trace seconds (both
 * traces span about 3,420 s). */
static const double kind_rate[SL_SIM_TRAFFIC_KINDS] = {20, 2, 3};
static const double kind_sigma[SL_SIM_TRAFFIC_KINDS] = {0.45, 0.5, 0.5};
static const double kind_lo[SL_SIM_TRAFFIC_KINDS] = {4, 0.5, 0.5};
static const double kind_hi[SL_SIM_TRAFFIC_KINDS] = {40, 6, 8};
static const double window_s = 2800;

const char *
sl_sim_traffic_name(enum sl_sim_traffic kind)
{
	return kind < SL_SIM_TRAFFIC_KINDS ? traffic_name[kind] : "?";
}

const char *
sl_sim_traffic_trace(enum sl_sim_traffic kind)
{
	return kind < SL_SIM_TRAFFIC_KINDS ? trace_file[kind] : NULL;
}

static double
uniform(struct sl_rng *rng)
{
	double u;

	if (sl_tune_uniform(rng, &u) != 0)
		abort(); /* a seeded source never fails */
	return u;
}

void
sl_sim_fleet(struct sl_sim_node *out, unsigned int nodes, double trace_share,
	     double heterogeneity, uint64_t seed)
{
	struct sl_rng rng;

	sl_rng_seeded(&rng, seed);
	for (unsigned int i = 0; i < nodes; i++) {
		struct sl_sim_node *n = &out[i];
		double u = uniform(&rng), u1 = uniform(&rng),
		       u2 = uniform(&rng);
		double z = sqrt(-2 * log(u1)) * cos(2 * M_PI * u2);
		double r;

		n->kind = u < trace_share / 2 ? SL_SIM_TRAFFIC_CONV
			  : u < trace_share   ? SL_SIM_TRAFFIC_CODE
					      : SL_SIM_TRAFFIC_POISSON;
		r = kind_rate[n->kind] *
		    exp((1 - heterogeneity) * kind_sigma[n->kind] * z);
		n->rate = fmin(kind_hi[n->kind], fmax(kind_lo[n->kind], r));
		n->trace_start_s = n->kind == SL_SIM_TRAFFIC_POISSON
					   ? 0
					   : floor(uniform(&rng) * window_s);
		n->seed = 1000 + i;
	}
}

void
sl_sim_fleet_proxy(struct sl_sim_node *out, unsigned int nodes)
{
	for (unsigned int i = 0; i < nodes; i++) {
		double t = nodes > 1 ? (double)i / (nodes - 1) : 0.5;

		out[i] = (struct sl_sim_node){
			.kind = SL_SIM_TRAFFIC_POISSON,
			.rate = 6 * pow(30.0 / 6, t),
			.seed = 900000 + i,
		};
	}
}

void
sl_sim_node_knobs(const struct sl_sim_node *n, struct sl_sim_knobs *k)
{
	k->trace_path = sl_sim_traffic_trace(n->kind);
	k->trace_start_s = n->trace_start_s;
	k->rate = n->rate;
	k->seed = n->seed;
}
