/* SPDX-License-Identifier: MIT */
/*
 * sl_stream.h - streams and requests in the flow table: how a stream
 * starts, ends, is aborted, expires and is repaired; what its request and
 * its client hold (quotas). The worker and every node use these; they
 * call no node: a stream's ABORT goes through fanout by the worker's
 * queue (sl_dp_loop).
 */
#ifndef SL_STREAM_H
#define SL_STREAM_H

#include <stdbool.h>
#include <stdint.h>

#include <rte_mbuf.h>

#include "sl_dp.h"

/*
 * sluiced's id of a request (host order), what instances see as
 * ancestry[0] in place of the client's:
 *
 *	bit 63      the mark (a reader tells it from a client's id at a glance)
 *	bits 55..62 a tag: keyed hash of the rest, with the workers' secret
 *	bits 32..54 the generation of the client stream's flow entry
 *	bits 24..31 the worker that holds the request
 *	bits  0..23 the client stream's flow index (flows.size <= 4,194,304)
 *
 * The worker's index steers every stream of the request to the worker
 * that holds it (sl_steer.h); the tag tells sluiced's ids from a client's
 * that happen to have the top bit set, which are steered as a client's.
 */
#define SL_DP_REQUEST_ID_MARK (1ull << 63)
#define SL_DP_REQUEST_WORKER_SHIFT 24
#define SL_DP_REQUEST_IDX_MASK ((1u << SL_DP_REQUEST_WORKER_SHIFT) - 1)
#define SL_DP_REQUEST_GEN_MASK ((1u << 23) - 1)
#define SL_DP_REQUEST_TAG_SHIFT 55

static inline uint64_t
sl_request_id_tag(uint64_t key, uint64_t untagged)
{
	uint64_t x = (untagged ^ key) * 0x9e3779b97f4a7c15ull;

	x ^= x >> 31;
	x *= 0xbf58476d1ce4e5b9ull;
	return (x >> 56) << SL_DP_REQUEST_TAG_SHIFT;
}

/* The id of flow @idx of generation @gen on worker @worker, secret @key. */
static inline uint64_t
sl_request_id_make(uint64_t key, uint16_t worker, uint32_t idx, uint32_t gen)
{
	uint64_t id = SL_DP_REQUEST_ID_MARK |
		      (uint64_t)(gen & SL_DP_REQUEST_GEN_MASK) << 32 |
		      (uint64_t)(worker & 0xffu) << SL_DP_REQUEST_WORKER_SHIFT |
		      (idx & SL_DP_REQUEST_IDX_MASK);

	return id | sl_request_id_tag(key, id);
}

/* The worker that minted @id if it is sluiced's (mark and tag right,
 * made with @key), else UINT16_MAX. */
static inline uint16_t
sl_request_id_worker(uint64_t key, uint64_t id)
{
	const uint64_t tag = 0xffull << SL_DP_REQUEST_TAG_SHIFT;

	if (!(id & SL_DP_REQUEST_ID_MARK) ||
	    (id & tag) != sl_request_id_tag(key, id & ~tag))
		return UINT16_MAX;
	return (uint16_t)((id >> SL_DP_REQUEST_WORKER_SHIFT) & 0xffu);
}

/* sluiced's id of the request whose client stream is @dp's flow @idx of
 * generation @gen. */
static inline uint64_t
sl_dp_request_id(const struct sl_dp *dp, uint32_t idx, uint32_t gen)
{
	return sl_request_id_make(dp->led->id_key, dp->worker, idx, gen);
}

/*
 * A stream's END passed: it stops counting against its tenant's streams
 * in flight. A client stream counts until it leaves the table instead
 * (its request is in flight until then, however early its END came).
 * Idempotent.
 */
static inline void
sl_dp_tenant_stream_done(struct sl_dp *dp, struct sl_flow *f)
{
	if (f->tenant_counted && f->key.stage != 0) {
		sl_ledger_add(&dp->led->tenant_use[f->tenant].streams, -1);
		f->tenant_counted = 0;
	}
}

/* A client stream's request no longer counts against its address's,
 * its tenant's and the clients' share (it is done, or left). Idempotent. */
static inline void
sl_dp_request_uncharge(struct sl_dp *dp, struct sl_flow *f)
{
	if (f->marks & SL_FLOW_M_CHARGED) {
		sl_ledger_add(&dp->led->src_use[f->src_slot].streams, -1);
		sl_ledger_add(&dp->led->tenant_use[f->tenant].requests, -1);
		sl_ledger_add(&dp->led->client_streams, -1);
		f->marks &= (uint8_t)~SL_FLOW_M_CHARGED;
	}
}

/* Flow @idx ended (its END passed, and a client stream's request is
 * done): it lingers for duplicates, and a request's quota is free again
 * (a done request lingering is no request in flight). */
static inline void
sl_dp_flow_end(struct sl_dp *dp, uint32_t idx)
{
	struct sl_flow *f = sl_flow_at(dp->flows, idx);

	if (f->key.stage == 0)
		sl_dp_request_uncharge(dp, f);
	sl_flow_end(dp->flows, idx, dp->now);
}

/**
 * sl_dp_request_origin - the flow index of the client stream of the
 * request sluiced calls @id (wire order, as in an ancestry), if it is
 * still in the table; else SL_FLOW_NONE.
 */
uint32_t sl_dp_request_origin(struct sl_dp *dp, uint64_t id_be);

/**
 * sl_dp_refuse - drop @m, counted under @reason, and tell whoever waits
 * for its request: a client whose new request was refused gets ABORT
 * (OVERLOAD) for it; a refused stream of an admitted request aborts the
 * request (sl_dp_request_abort). Nothing is sent for a fragment that
 * was itself an ABORT.
 */
void sl_dp_refuse(struct sl_dp *dp, struct rte_mbuf *m, enum sl_drop reason);

/**
 * sl_dp_end_stream - received stream @idx will not go on (its sender is
 * gone, it cannot be repaired, sluiced is stopping): an ABORT (@reason)
 * at its next seq goes through fanout so that every consumer hears, and
 * the stream ends there.
 */
void sl_dp_end_stream(struct sl_dp *dp, uint32_t idx, uint8_t reason);

/**
 * sl_dp_abort_output - stage @stage of pipeline index @pipeline will
 * never answer the stream named @ancestry (wire order, @depth ids) of
 * tenant @tenant: put an ABORT (@reason) in its place, as if the stage
 * had sent it from @src_ip:@src_port (its instance; 0 for none), so that
 * every consumer hears (buffers, operators, the client) through fanout.
 * Output the instance sends later for it is dropped after that END.
 */
void sl_dp_abort_output(struct sl_dp *dp, uint8_t pipeline, uint16_t stage,
			const uint64_t *ancestry, uint8_t depth,
			uint16_t tenant, uint32_t src_ip, uint16_t src_port,
			uint8_t reason);

/**
 * sl_dp_request_abort - end the request of client stream @origin with
 * ABORT (@reason) to its client, on every edge that returns to the
 * client, now: for when no stream of the request can carry the news
 * (a table full, a refused engine output). Later output of the request
 * is dropped (REQUEST_ABORTED). Idempotent.
 */
void sl_dp_request_abort(struct sl_dp *dp, uint32_t origin, uint8_t reason);

/* The slot of client address @ip in dp->led->src_use. */
static inline uint16_t
sl_dp_src_slot(const struct sl_dp *dp, uint32_t ip)
{
	uint64_t x = ((uint64_t)ip ^ dp->led->src_key) * 0x9e3779b97f4a7c15ull;

	x ^= x >> 29;
	x *= 0xbf58476d1ce4e5b9ull;
	return (uint16_t)((x >> 40) & (SL_SRC_SLOTS - 1));
}

/*
 * May one more mbuf be held for a stream charged to @src_slot and
 * @tenant (@client: in a client stream's reorder buffer)? The bounds keep
 * room for receive and for the engine outputs of admitted requests
 * whatever one client, tenant or the clients together do.
 */
static inline bool
sl_dp_hold_ok(const struct sl_dp *dp, uint16_t src_slot, uint16_t tenant,
	      bool client)
{
	const struct sl_ledger *l = dp->led;

	return sl_ledger_get(&l->held_total) < dp->quota.held_max &&
	       sl_ledger_get(&l->src_use[src_slot].held) <
		       dp->quota.held_source &&
	       sl_ledger_get(&l->tenant_use[tenant].held) <
		       dp->quota.held_tenant &&
	       (!client ||
		sl_ledger_get(&l->held_by_clients) < dp->quota.held_client);
}

/* Count @n mbufs more (or, negative, fewer) held for @src_slot/@tenant. */
static inline void
sl_dp_held_charge(struct sl_dp *dp, uint16_t src_slot, uint16_t tenant,
		  bool client, int n)
{
	struct sl_ledger *l = dp->led;

	sl_ledger_add(&l->held_total, n);
	sl_ledger_add(&l->src_use[src_slot].held, n);
	sl_ledger_add(&l->tenant_use[tenant].held, n);
	if (client)
		sl_ledger_add(&l->held_by_clients, n);
}

/**
 * sl_dp_gap_watch - stream @idx has an open gap: repeat its NACK from
 * housekeeping until the gap closes or the repeats run out. A stream
 * that does not fit the watch list is repaired by its sender's END
 * resend instead (which reopens the gap here).
 */
void sl_dp_gap_watch(struct sl_dp *dp, uint32_t idx);

/* Flow @f leaves the table (@ended: after its END; else it expired):
 * what it counted against its tenant, its request and the held quotas is
 * given back. (Its edge state is fanout's: sl_fanout_release.) */
void sl_stream_released(struct sl_dp *dp, struct sl_flow *f, bool ended);

/**
 * sl_dp_stream_init - fill a flow entry just made for a stream of
 * pipeline index @pipeline: tenant accounting and, for a stream that is
 * not the client's, the request's client stream it belongs to.
 */
void sl_dp_stream_init(struct sl_dp *dp, uint32_t idx, uint8_t pipeline,
		       uint16_t tenant);

/**
 * sl_dp_flow_ancestry - the ancestry of flow @idx's stream as sluiced
 * sends it on (wire order): a client stream's first id is sluiced's
 * request id, not the client's.
 */
void sl_dp_flow_ancestry(struct sl_dp *dp, uint32_t idx, uint64_t *out);

/**
 * sl_dp_stream_open - find or make the flow of a stream sluiced itself
 * produces (an operator's result). Return its index or SL_FLOW_NONE.
 */
uint32_t sl_dp_stream_open(struct sl_dp *dp, const struct sl_flow_key *key,
			   uint8_t pipeline, uint16_t tenant);

/**
 * sl_dp_stream_ended - the stream of flow @idx passed its END or ABORT:
 * it lingers, unless it is a request's client stream still waiting for
 * the request's output.
 */
void sl_dp_stream_ended(struct sl_dp *dp, uint32_t idx);

/**
 * sl_stream_expire_idle - housekeeping: streams idle past the timeout, a
 * bounded slice of the table per call, end with ABORT (EXPIRED).
 * sl_stream_gaps - housekeeping: NACK repeats for open gaps; a gap no
 * repeat repaired ends its stream with ABORT (LOST). @start begins a
 * round over the watched gaps; true: the worker's queues filled first,
 * drain them and call again (without @start) to go on with the round.
 */
void sl_stream_expire_idle(struct sl_dp *dp);
bool sl_stream_gaps(struct sl_dp *dp, bool start);

#endif /* SL_STREAM_H */
