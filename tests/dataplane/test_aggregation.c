/* SPDX-License-Identifier: MIT */
/*
 * test_aggregation.c - where split children go (dataplane/stage_route.c,
 * sl_route.c) through the whole path: client -> a -> (split line) -> b ->
 * (split line) -> c -> client, with c at aggregation 0, 1 or 2 and 1..32
 * instances at random endpoints.
 *
 * Instance 0 of b answers claims [R, i] (random request ids R) with three
 * lines, so c receives the children [R, i, 0..2]. Aggregation 2: every
 * child of a claim and the claim's END|CHILDREN marker meet the instance
 * rendezvous hashing gives [R, i]; aggregation 1: all children of all
 * claims of R meet the instance of [R]; aggregation 0: children go round
 * robin, one instance after the other, and there is no marker. Then
 * consistency: removing one instance from the config moves exactly the
 * claims that were on it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/Basic.h>
#include <rte_byteorder.h>

#include "dp_dag.h"
#include "sl_route.h"

#define CLAIMS 2
#define CHILDREN 3

static struct sl_endpoint eps[SL_MAX_INSTANCES + 1];

/* @n distinct random endpoints in 10.100.0.0/16 .. 10.199.0.0/16. */
static void
random_endpoints(unsigned int n)
{
	for (unsigned int i = 0; i < n; i++) {
		bool dup;

		do {
			eps[i].ip = DP_IP(10, 100 + dag_rng() % 100,
					  dag_rng() % 256, 1 + dag_rng() % 254);
			eps[i].port = (uint16_t)(1024 + dag_rng() % 60000);
			dup = false;
			for (unsigned int j = 0; j < i; j++)
				dup |= eps[j].ip == eps[i].ip;
		} while (dup);
	}
}

/* The config with c's instances eps[0..n) but @skip (-1: none). */
static void
open_config(uint8_t level, unsigned int n, int skip)
{
	static char yaml[8192];
	int len;

	len = snprintf(yaml, sizeof(yaml),
		       DAG_YAML_HEAD
		       "pipelines:\n"
		       "  - name: p\n"
		       "    id: 1\n"
		       "    stages:\n"
		       "      - {name: a, instances: [10.0.2.1:8001]}\n"
		       "      - {name: b, instances: [10.0.3.1:8002]}\n"
		       "      - name: c\n"
		       "        aggregation: %u\n"
		       "        instances:\n",
		       level);
	for (unsigned int i = 0; i < n; i++) {
		char ip[16];

		if ((int)i == skip)
			continue;
		len += snprintf(
			yaml + len, sizeof(yaml) - len, "          - %s:%u\n",
			sl_ipv4_format(eps[i].ip, ip, sizeof(ip)), eps[i].port);
	}
	snprintf(yaml + len, sizeof(yaml) - len,
		 "    edges:\n"
		 "      - {from: client, to: a}\n"
		 "      - {from: a, to: b, split: line}\n"
		 "      - {from: b, to: c, split: line}\n"
		 "      - {from: c, to: client}\n");
	dag_open(yaml);
}

/* The instance of c rendezvous hashing gives the first @level ids. */
static int
want_instance(const uint64_t *ids, uint8_t level)
{
	const struct sl_stage_cfg *c = dag_stage(3);
	uint64_t anc[SL_ANCESTRY_MAX];
	uint32_t seeds[SL_MAX_INSTANCES];

	for (uint8_t i = 0; i < level; i++)
		anc[i] =
			rte_cpu_to_be_64(i == 0 ? dag_wire_id(ids[0]) : ids[i]);
	for (uint16_t i = 0; i < c->n_instances; i++) {
		seeds[i] = sl_route_seed(&c->instances[i].ep);
		CU_ASSERT_EQUAL(seeds[i],
				sl_dp_instance(dag.dp, 0, 2, i)->seed);
	}
	return sl_route_rendezvous(sl_route_key_hash(anc, level, level), seeds,
				   c->n_instances);
}

/*
 * Request @req: the client's request, a's answer (CLAIMS lines), then b's
 * answer to each claim (CHILDREN lines). @inst[i][j] receives the index
 * of the instance of c child [req, i, j] went to; @marker[i] the
 * instance of claim i's marker, -1 if none. Return false on any
 * unexpected frame.
 */
static bool
run_request(uint64_t req, int inst[CLAIMS][CHILDREN], int marker[CLAIMS])
{
	static const char *const lines[] = {"claim one\nclaim two\n"};
	static const char *const qs[] = {"q0\n", "q1\nq2\n"};
	const uint64_t r1[1] = {req};
	struct dp_frag f = dag_from_client(req, 0, SL_FRAG_F_END);
	const struct sl_stage_cfg *c = dag_stage(3);
	bool ok = true;

	ok &= dag_process(&f, 1) == 1;
	f = dag_from_instance(1, 0, r1, 1, 0, SL_FRAG_F_END);
	f.n_tokens = 1;
	f.token_texts = lines;
	ok &= dag_process(&f, 1) == CLAIMS; /* b does not aggregate */
	dag_clear();
	for (unsigned int i = 0; i < CLAIMS; i++) {
		const uint64_t claim[2] = {req, i};

		marker[i] = -1;
		for (unsigned int j = 0; j < CHILDREN; j++)
			inst[i][j] = -1;
		f = dag_from_instance(2, 0, claim, 2, 0, SL_FRAG_F_END);
		f.n_tokens = 2;
		f.token_texts = qs;
		dag_process(&f, 1);
		for (unsigned int k = 0; k < dag.n_sent; k++) {
			const struct dag_sent *s = &dag.sent[k];
			int where = dag_instance_of(c, s->dst_ip, s->dst_port);

			ok &= s->h.ancestry[0] == req &&
			      s->h.ancestry[1] == i && s->h.stage == 3 &&
			      s->h.from_stage == 2 && where >= 0;
			if (s->h.depth == 3 && s->h.ancestry[2] < CHILDREN &&
			    s->h.flags == SL_FRAG_F_END)
				inst[i][s->h.ancestry[2]] = where;
			else if (s->h.depth == 2 && marker[i] < 0 &&
				 s->h.flags ==
					 (SL_FRAG_F_END | SL_FRAG_F_CHILDREN) &&
				 s->h.child_count == CHILDREN)
				marker[i] = where;
			else
				ok = false;
		}
		dag_clear();
	}
	return ok;
}

static void
check_level(uint8_t level)
{
	unsigned int bad = 0, checked = 0, spread_bad = 0;

	dp_test_begin();
	for (uint64_t seed = 1; seed <= 3; seed++) {
		dag_rng_seed(seed * 7919 + level);
		random_endpoints(SL_MAX_INSTANCES);
		for (unsigned int n = 1; n <= SL_MAX_INSTANCES; n++) {
			bool used[SL_MAX_INSTANCES] = {false};
			unsigned int n_used = 0, rr = 0;

			open_config(level, n, -1);
			for (unsigned int r = 0; r < 12; r++) {
				uint64_t req = dag_rng();
				int inst[CLAIMS][CHILDREN], marker[CLAIMS];

				if (!run_request(req, inst, marker))
					bad++;
				for (unsigned int i = 0; i < CLAIMS; i++) {
					uint64_t ids[2] = {req, i};
					int claim_want =
						level ? want_instance(ids,
								      level)
						      : -1;

					for (unsigned int j = 0; j < CHILDREN;
					     j++) {
						int want =
							level ? claim_want
							      : (int)(rr++ % n);

						checked++;
						if (inst[i][j] != want)
							bad++;
						if (inst[i][j] >= 0 &&
						    !used[inst[i][j]]) {
							used[inst[i][j]] = true;
							n_used++;
						}
					}
					if (marker[i] != claim_want)
						bad++;
				}
			}
			/* 12 requests, 24 claims, 72 children reach several
			 * instances. */
			if (n_used < RTE_MIN(n, level == 1 ? 3u : 4u))
				spread_bad++;
			for (unsigned int i = 0; i < n; i++)
				if (sl_dp_instance(dag.dp, 0, 2, i)
					    ->streams_active)
					bad++;
			dag_expect_drops(-1);
			dag_close();
		}
	}
	if (bad != 0)
		printf("\n  aggregation %u: %u wrong of %u children", level,
		       bad, checked);
	CU_ASSERT_EQUAL(bad, 0);
	CU_ASSERT_EQUAL(checked, 3 * SL_MAX_INSTANCES * 12 * CLAIMS * CHILDREN);
	CU_ASSERT_EQUAL(spread_bad, 0);
	dp_test_end();
}

static void
test_level2(void)
{
	check_level(2);
}

static void
test_level1(void)
{
	check_level(1);
}

static void
test_level0(void)
{
	check_level(0);
}

/*
 * Consistency through the dataplane: a config with n instances, the same
 * without instance `gone`. Every claim keeps its endpoint unless it was
 * on `gone`; every claim that was on it moves.
 */
static void
test_remove_one_instance(void)
{
	enum { REQS = 60 };
	static uint64_t reqs[REQS];
	static struct sl_endpoint before[REQS][CLAIMS];
	unsigned int owned = 0, moved = 0, wrong = 0, bad = 0;

	dp_test_begin();
	for (unsigned int n = 2; n <= SL_MAX_INSTANCES; n += 5) {
		int gone;

		dag_rng_seed(104729 + n);
		random_endpoints(n);
		gone = (int)(dag_rng() % n);
		for (unsigned int r = 0; r < REQS; r++)
			reqs[r] = dag_rng();
		for (int pass = 0; pass < 2; pass++) {
			open_config(2, n, pass ? gone : -1);
			for (unsigned int r = 0; r < REQS; r++) {
				int inst[CLAIMS][CHILDREN], marker[CLAIMS];

				if (!run_request(reqs[r], inst, marker))
					bad++;
				for (unsigned int i = 0; i < CLAIMS; i++) {
					const struct sl_endpoint *ep;

					if (inst[i][0] < 0) {
						bad++;
						continue;
					}
					ep = &dag_stage(3)
						      ->instances[inst[i][0]]
						      .ep;
					if (pass == 0) {
						before[r][i] = *ep;
						continue;
					}
					if (before[r][i].ip == eps[gone].ip) {
						owned++;
						moved += ep->ip != eps[gone].ip;
					} else if (ep->ip != before[r][i].ip ||
						   ep->port !=
							   before[r][i].port) {
						wrong++;
					}
				}
			}
			dag_close();
		}
	}
	CU_ASSERT_EQUAL(bad, 0);
	CU_ASSERT_EQUAL(wrong, 0);
	CU_ASSERT_EQUAL(moved, owned);
	CU_ASSERT(owned > 0);
	dp_test_end();
}

static const struct dp_test_case cases[] = {
	DP_SUITE("aggregation"),
	DP_CASE("aggregation 2: a claim's children and marker meet, "
		"1..32 instances",
		test_level2),
	DP_CASE("aggregation 1: a request's children meet", test_level1),
	DP_CASE("aggregation 0: round robin, no marker", test_level0),
	DP_CASE("removing an instance moves only its claims",
		test_remove_one_instance),
	DP_END,
};

int
main(int argc, char **argv)
{
	(void)argc;
	return dp_test_main(argv[0], cases, dag_port_init, dag_port_fini);
}
