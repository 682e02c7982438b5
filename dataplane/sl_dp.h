/* SPDX-License-Identifier: MIT */
/*
 * sl_dp.h - the dataplane's worker context and packet-stage contract.
 *
 * One struct sl_dp per worker lcore holds everything the packet path
 * touches: the config snapshot it reads, the flow table, neighbours,
 * per-stage and per-instance state, and the counters. Nothing in it is
 * shared with another worker, so the hot path takes no locks.
 *
 * A packet stage is a function
 *
 *	uint16_t sl_stage_X(struct sl_dp *dp, struct rte_mbuf **pkts, uint16_t n);
 *
 * that works on a burst in place and returns how many packets go on to
 * the next stage, compacted at the front of @pkts. A packet a stage drops
 * is freed there and counted under its reason. Only the order stage may
 * return more packets than it got (fragments it held become deliverable),
 * which is why the burst array holds SL_PATH_CAP pointers.
 *
 * Per-packet results travel in an mbuf dynfield (struct sl_pkt_meta).
 */
#ifndef SL_DP_H
#define SL_DP_H

#include <stdbool.h>
#include <stdint.h>

#include <rte_ether.h>
#include <rte_mbuf.h>
#include <rte_mbuf_dyn.h>

#include "sl_config.h"
#include "sl_counters.h"
#include "sl_flow.h"
#include "sl_neigh.h"

#define SL_BURST 32
/* A burst plus every fragment its packets can release from reorder buffers. */
#define SL_PATH_CAP (SL_BURST * (SL_CONFIG_REORDER_MAX + 1))
#define SL_CTRL_TX_MAX 64 /* ARP replies and requests waiting to be sent */

/* Written by parse and admit, read by the later stages. */
struct sl_pkt_meta {
	uint32_t flow;     /* flow table index (admit) */
	uint32_t seq;
	uint32_t src_ip;   /* host order */
	uint16_t src_port;
	uint16_t hdr_off;  /* sluice header offset in the frame */
	uint16_t dgram_len; /* sluice header + tokens */
	uint16_t stage;
	uint8_t pipeline;  /* index into cfg->pipelines */
	uint8_t flags;     /* header flags */
	uint8_t depth;
	uint8_t pad_;
};

extern int sl_pkt_meta_offset;

static inline struct sl_pkt_meta *
sl_pkt_meta(struct rte_mbuf *m)
{
	return RTE_MBUF_DYNFIELD(m, sl_pkt_meta_offset, struct sl_pkt_meta *);
}

/**
 * sl_pkt_meta_register - register the dynfield (once per process, before
 * any stage runs). Return 0 or -rte_errno.
 */
int sl_pkt_meta_register(void);

/* Runtime state of one instance: what routing and the stats read. */
struct sl_instance_state {
	uint64_t streams;        /* streams ever routed here */
	uint64_t fragments;      /* fragments sent here */
	uint32_t streams_active; /* routed and not yet ended */
	uint32_t seed;           /* rendezvous-hash identity of the endpoint */
};

struct sl_stage_state {
	uint32_t rr_next; /* round-robin cursor */
	struct sl_instance_state inst[SL_MAX_INSTANCES];
};

struct sl_tenant_state {
	uint64_t tokens_milli; /* token bucket, in 1/1000 fragment */
	uint64_t last_tsc;
	uint32_t streams_active;
};

/* Cycles spent per stage, accumulated when sl_dp.profile is set. */
enum sl_stage_id {
	SL_STAGE_RX,
	SL_STAGE_PARSE,
	SL_STAGE_ADMIT,
	SL_STAGE_ORDER,
	SL_STAGE_ROUTE,
	SL_STAGE_TX,
	SL_STAGE_MAX
};

struct sl_stage_prof {
	uint64_t cycles;
	uint64_t packets; /* packets the stage was given */
};

struct sl_dp_counters {
	uint64_t rx_packets;
	uint64_t tx_packets;
	uint64_t forwarded;   /* fragments handed to the port */
	uint64_t arp_replies;
	uint64_t arp_requests;
	uint64_t non_sluice;  /* ARP frames not for us, consumed silently */
	uint64_t drops[SL_DROP_MAX];
	uint64_t flows_created;
	uint64_t flows_ended;
	uint64_t flows_expired; /* removed before their END passed */
};

struct sl_dp {
	const struct sl_config *cfg;
	uint16_t port_id;      /* receives */
	uint16_t tx_port_id;   /* sends; the same port unless a bench splits them */
	uint16_t queue_id;
	struct rte_ether_addr mac;
	struct rte_mempool *pool; /* for ARP frames this worker makes */

	struct sl_flow_table *flows;
	struct sl_neigh_table neigh;

	uint64_t tsc_hz;
	uint64_t now;          /* TSC of the current burst */
	uint64_t idle_tsc;     /* flow idle timeout */
	uint64_t linger_tsc;   /* how long an ended flow stays for dedupe */
	uint32_t expire_cursor;
	uint32_t expire_budget; /* flows scanned for idleness per housekeeping */
	uint64_t next_housekeeping;

	bool profile;
	struct sl_stage_prof prof[SL_STAGE_MAX];

	uint8_t tenant_index[65536]; /* tenant id -> index, SL_TENANT_NONE */
	struct sl_tenant_state tenants[SL_MAX_TENANTS];
	struct sl_stage_state stages[SL_MAX_PIPELINES][SL_MAX_STAGES];

	uint16_t n_ctrl;
	struct rte_mbuf *ctrl[SL_CTRL_TX_MAX];

	struct sl_dp_counters cnt;
	volatile bool quit;
	bool poll;             /* never sleep when idle (production mode) */
};

#define SL_TENANT_NONE 0xff

/**
 * sl_dp_init - set up a worker context.
 * @dp: zeroed by the caller or not; fully initialised here.
 * @cfg: the config snapshot; must outlive @dp.
 * @port_id: the port to receive from and send to (queue 0).
 * @pool: mempool for frames the worker builds (ARP).
 *
 * Creates the flow table. Return 0 or a negative errno.
 */
int sl_dp_init(struct sl_dp *dp, const struct sl_config *cfg,
	       uint16_t port_id, struct rte_mempool *pool);

/**
 * sl_dp_fini - release everything sl_dp_init created. Fragments still
 * held in reorder buffers are freed and counted as EXPIRED.
 */
void sl_dp_fini(struct sl_dp *dp);

/**
 * sl_dp_process - run one received burst through parse, admit, order,
 * route and tx. @pkts must hold SL_PATH_CAP pointers.
 */
void sl_dp_process(struct sl_dp *dp, struct rte_mbuf **pkts, uint16_t n);

/**
 * sl_dp_housekeeping - expire idle flows (a bounded slice of the table),
 * retry unresolved neighbours and flush control frames. Cheap; the worker
 * calls it about once a millisecond.
 */
void sl_dp_housekeeping(struct sl_dp *dp);

/**
 * sl_dp_worker - lcore entry point: poll the port until dp->quit, with the
 * idle back-off of DESIGN §6 unless dp->poll. @arg is the struct sl_dp.
 */
int sl_dp_worker(void *arg);

/* Drop @m, counting it under @reason. */
static inline void
sl_dp_drop(struct sl_dp *dp, struct rte_mbuf *m, enum sl_drop reason)
{
	dp->cnt.drops[reason]++;
	rte_pktmbuf_free(m);
}

/* Queue a frame the worker built itself (ARP); sent with the next burst. */
void sl_dp_ctrl_tx(struct sl_dp *dp, struct rte_mbuf *m);

/* A stream stops counting against its tenant's max_streams (its END
 * passed or it left the table). Idempotent. */
static inline void
sl_dp_tenant_stream_done(struct sl_dp *dp, struct sl_flow *f)
{
	if (f->tenant_counted) {
		dp->tenants[dp->tenant_index[f->tenant]].streams_active--;
		f->tenant_counted = 0;
	}
}

/* Called by the flow table when a flow leaves it (expiry, flush). */
void sl_dp_flow_released(struct sl_dp *dp, struct sl_flow *f, bool ended);

/* The packet stages, in path order (one file each). */
uint16_t sl_stage_parse(struct sl_dp *dp, struct rte_mbuf **pkts, uint16_t n);
uint16_t sl_stage_admit(struct sl_dp *dp, struct rte_mbuf **pkts, uint16_t n);
uint16_t sl_stage_order(struct sl_dp *dp, struct rte_mbuf **pkts, uint16_t n);
uint16_t sl_stage_route(struct sl_dp *dp, struct rte_mbuf **pkts, uint16_t n);
uint16_t sl_stage_tx(struct sl_dp *dp, struct rte_mbuf **pkts, uint16_t n);

#endif /* SL_DP_H */
