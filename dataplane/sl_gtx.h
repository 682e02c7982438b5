/* SPDX-License-Identifier: MIT */
/*
 * sl_gtx.h - a worker's token ring into GPU memory: stream slots of the
 * outgoing streams routed to local GPU instances (`gpu: true`), the
 * gpu_tx node's delivery, and the slots' way back (dataplane/README.md,
 * "GPU delivery").
 *
 * One ring per worker (sl_gpu_share: a file its engines map), never
 * shared. An outgoing stream to a GPU instance takes a slot when it is
 * routed (its descriptor written then); its fragments go into the ring
 * in order with the slot's own sequence; its END or ABORT closes it; the
 * slot is free again once the engine acked that stream. A fragment the
 * ring refuses (full: backpressure, counted GPU_RING_FULL) ends the
 * stream with an ABORT record (OVERLOAD) as soon as the ring has room,
 * so the engine answers ABORT and nothing is lost silently; the stream's
 * later fragments are dropped (GPU_STREAM_LOST). A stream that leaves
 * the table without END (expiry, a dead engine, a new layout) is ended
 * the same way (EXPIRED).
 */
#ifndef SL_GTX_H
#define SL_GTX_H

#include <stdint.h>

#include "sl_dp.h"

struct sl_gpu_ctx;
struct sl_gpu_share;
struct sl_gpu_ring;

/* A pin's gpu_slot: not a GPU stream; a tokenless one-shot fragment (a
 * split parent's CHILDREN or ABORT announcement); and what
 * sl_gtx_slot_take answers when the client holds its share of slots. */
#define SL_GTX_SLOT_NONE UINT32_MAX
#define SL_GTX_SLOT_MARKER (UINT32_MAX - 1)
#define SL_GTX_SLOT_QUOTA (UINT32_MAX - 2)

/* The ring's sizes in sluiced (per worker). */
#define SL_GTX_BATCHES 256u
#define SL_GTX_BATCH_BYTES 65536u
#define SL_GTX_STREAMS 512u
#define SL_GTX_STREAM_TOKENS 2048u
#define SL_GTX_STREAM_TEXT 16384u

struct sl_gtx_slot {
	uint32_t epoch;   /* opens of the slot queued (the consumer's epoch) */
	uint32_t next;    /* sequence of the next record for it */
	uint8_t state;    /* enum sl_gtx_slot_state (sl_gtx.c) */
	uint8_t end_seen; /* the stream's END/ABORT passed (or it left) */
	uint8_t listed;   /* on the due or the ended list */
	uint8_t reason;   /* the ABORT record's, when one is due */
	uint32_t source;  /* the request's client address (its share) */
};

struct sl_gtx {
	struct sl_gpu_share *share;
	struct sl_gpu_ring *ring;
	uint32_t n_slots;
	struct sl_gtx_slot *slots;
	uint32_t *free_slots; /* a stack */
	uint32_t n_free;
	uint32_t *due; /* slots whose ABORT record is still to go in */
	uint32_t n_due;
	uint32_t *ended; /* closed slots waiting for their engine's ack */
	uint32_t n_ended;
	uint32_t queued; /* records since the last flush */
	/* Slots one client address may hold (its requests' streams to
	 * GPU instances): a quarter of them unless set otherwise. */
	uint32_t source_max;
};

/**
 * sl_gtx_create - a worker's ring of @streams slots (SL_GTX_STREAMS in
 * sluiced): the share files @path (mode 0640) and @path.acks (0660),
 * owned by @uid/@gid unless -1, in @ctx's backend, its consumer started.
 * @sluiced_ip, @sluiced_port: where the engines answer (host order).
 * Return: the ring, or NULL with errno (sl_gpu_share_create's).
 */
struct sl_gtx *sl_gtx_create(struct sl_gpu_ctx *ctx, const char *path,
			     uint32_t streams, int uid, int gid,
			     uint32_t sluiced_ip, uint16_t sluiced_port,
			     uint32_t worker, uint64_t run_id);

/** sl_gtx_destroy - drain (bounded), stop the consumer, remove the file. */
void sl_gtx_destroy(struct sl_gtx *g);

/**
 * sl_gtx_slot_take - a slot for a new outgoing stream to instance
 * @ip:@port, its descriptor written: @hdr is the stream's first
 * fragment's wire header, @stage the stage it goes to and @from_stage
 * the one that produced it (as route_rewrite would write them), @source
 * the address of the client whose request it serves (0: none known).
 * Return: the slot; SL_GTX_SLOT_QUOTA when @source holds source_max
 * slots already (one client cannot take every slot from the others);
 * SL_GTX_SLOT_NONE when every slot is in use (or @g is NULL: sluiced
 * runs without a GPU backend).
 */
uint32_t sl_gtx_slot_take(struct sl_gtx *g, const uint8_t *hdr, uint16_t stage,
			  uint16_t from_stage, uint32_t ip, uint16_t port,
			  uint32_t source);

/**
 * sl_gtx_abandon - the stream on @slot left without its END passing
 * gpu_tx: an ABORT record ends it in the ring.
 */
void sl_gtx_abandon(struct sl_gtx *g, uint32_t slot);

/**
 * sl_gtx_deliver - the gpu_tx node's work on one fragment for @slot
 * (sl_pkt_meta.pin): queue it in the ring or count its drop. Consumes
 * @m either way.
 */
void sl_gtx_deliver(struct sl_dp *dp, uint32_t slot, struct rte_mbuf *m);

/** sl_gtx_flush - publish what the burst queued; ABORT records due. */
void sl_gtx_flush(struct sl_dp *dp);

/**
 * sl_gtx_stats - the ring's levels and its consumer's counters into
 * @cnt (gpu_slots_used, gpu_ring_dropped, gpu_ring_batch_errors).
 */
void sl_gtx_stats(const struct sl_gtx *g, struct sl_dp_counters *cnt);

/**
 * sl_gtx_housekeeping - ABORT records still due, recycle consumed
 * batches, free the slots their engines acked.
 */
void sl_gtx_housekeeping(struct sl_dp *dp);

#endif /* SL_GTX_H */
