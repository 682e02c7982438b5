/* SPDX-License-Identifier: MIT */
/*
 * dp_dag.h - a worker on a ring port for the DAG suites (split,
 * aggregation, operators, expiry): one config at a time, every neighbour
 * of the config learned, fragments in through sl_dp_process, and every
 * frame sluiced sends captured, checked (valid frame, valid fragment, from
 * sluiced's address, IPv4 checksum) and decoded.
 *
 * Addresses: sluiced 10.0.0.1:7700, the client 10.0.1.5:40000; instances
 * are whatever the config names. The MAC of IPv4 a.b.c.d is 02:00:a:b:c:d.
 */
#ifndef DP_DAG_H
#define DP_DAG_H

#include <stdbool.h>
#include <stdint.h>

#include "dp_test.h"
#include "sl_dp.h"
#include "sl_frag.h"
#include "sl_stream.h"
#include "sl_path.h"

#define DAG_SLUICED_IP DP_IP(10, 0, 0, 1)
#define DAG_SLUICED_PORT 7700
#define DAG_CLIENT_IP DP_IP(10, 0, 1, 5)
#define DAG_CLIENT_PORT 40000
#define DAG_SENT_MAX 8192
#define DAG_ARP_ASKED 64

/* The head of every DAG suite's config; pipelines follow. */
#define DAG_YAML_HEAD                                                          \
	"sluiced:\n"                                                           \
	"  address: 10.0.0.1\n"                                                \
	"  port: 7700\n"                                                       \
	"flows:\n"                                                             \
	"  size: 1024\n"                                                       \
	"  idle_timeout_ms: 1000\n"                                            \
	"  reorder_window: 8\n"                                                \
	"  buffer_max: 128\n"                                                  \
	"liveness: {probe_ms: 0}\n"                                            \
	"clients:\n"                                                           \
	"  - 10.0.1.0/24\n"

/* One frame sluiced sent, decoded. */
struct dag_sent {
	uint32_t dst_ip;
	uint16_t dst_port;
	struct sl_frag_hdr h;
	uint16_t dlen; /* datagram: header + tokens */
	uint8_t dgram[SL_WIRE_HDR_LEN + SL_WIRE_PAYLOAD_MAX];
};

struct dag {
	struct sl_config *cfg;
	struct sl_dp *dp;
	uint64_t t0; /* dp->now right after sl_dp_init */
	unsigned int n_sent;
	struct dag_sent *sent;   /* DAG_SENT_MAX, in the order sent */
	unsigned int bad_frames; /* sent frames that failed a check */
	bool raw_ids;       /* keep sluiced's request ids in what is captured */
	unsigned int n_arp; /* ARP requests sluiced sent (answered at once) */
	bool arp_quiet;     /* leave sluiced's ARP requests unanswered */
	unsigned int n_arp_asked;          /* ARP requests, their targets: */
	uint32_t arp_asked[DAG_ARP_ASKED]; /* the first DAG_ARP_ASKED */
};

extern struct dag dag;

/** dag_port_init - create the ring port (once, after EAL); 0 or -errno. */
int dag_port_init(void);
void dag_port_fini(void);

/**
 * dag_open - compile @yaml and start a worker on it (CU-fatal on
 * failure); every instance and the client are known neighbours.
 */
void dag_open(const char *yaml);

/** dag_close - sl_dp_fini, free the config, drop what is on the port. */
void dag_close(void);

/* CU-assert that every instance of dag.dp's config is marked reachable. */
void dag_expect_reachable(void);

/** The first pipeline's stage @stage (1-based). */
const struct sl_stage_cfg *dag_stage(uint16_t stage);

/**
 * dag_from_client - a fragment of the client's request @req (stage 0,
 * depth 1) with no tokens. dag_from_instance - a fragment produced by
 * instance @inst of stage @stage, on its address, for @ancestry/@depth.
 *
 * Instances see a request under the id sluiced gave it; the harness
 * hides that: what is captured going to an instance shows the client's
 * id again (unless dag.raw_ids), and dag_process gives an instance's
 * fragment whose first id is a client's request id sluiced's id for it.
 */
struct dp_frag dag_from_client(uint64_t req, uint32_t seq, uint8_t flags);
struct dp_frag dag_from_instance(uint16_t stage, uint16_t inst,
				 const uint64_t *ancestry, uint8_t depth,
				 uint32_t seq, uint8_t flags);

/**
 * dag_wire_id - the id sluiced gave the client's request @req (the last
 * one of that id dag_process sent), what instances see and what routing
 * hashes; @req when there was none.
 */
uint64_t dag_wire_id(uint64_t req);

/**
 * dag_process - build @n fragments and run them through sl_dp_process as
 * one burst; what is sent is appended to dag.sent. Return how many frames
 * were sent by this call.
 */
unsigned int dag_process(const struct dp_frag *f, unsigned int n);

/**
 * dag_inject - put client fragments @f on the port's receive ring, for a
 * worker that polls the port itself (sl_dp_worker on a thread).
 */
void dag_inject(const struct dp_frag *f, unsigned int n);

/** dag_housekeeping - set dp->now to t0 + @dt and run housekeeping;
 * return the frames it sent (appended to dag.sent). */
unsigned int dag_housekeeping(uint64_t dt);

/** dag_capture - take what sluiced sent so far into dag.sent (what the
 * other calls do after their work). */
void dag_capture(void);

/** dag_clear - forget what was captured. */
void dag_clear(void);

/** dag_tokens - the tokens of @s into @t (at most @max); return count. */
unsigned int dag_tokens(const struct dag_sent *s, struct sl_token *t,
			unsigned int max);

/** dag_expect_drops - every drop counter zero but the (reason, count)
 * pairs given, -1 ended. */
void dag_expect_drops(int reason, ...);

/** dag_instance_of - index of the instance of stage @st at @ip:@port,
 * or -1. */
int dag_instance_of(const struct sl_stage_cfg *st, uint32_t ip, uint16_t port);

/** xorshift64*: deterministic, so a failure reproduces. */
uint64_t dag_rng(void);
void dag_rng_seed(uint64_t s);

#endif /* DP_DAG_H */
