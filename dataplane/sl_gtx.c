/* SPDX-License-Identifier: MIT */
/*
 * sl_gtx.c - a worker's token ring into GPU memory (sl_gtx.h).
 *
 * A slot's life, all on its worker:
 *
 *   FREE --take--> OPEN --END/ABORT queued--> ENDED --engine ack--> FREE
 *                   |                            ^
 *                   | a record refused, or       | its upstream END passed
 *                   | the stream left unended    | (or had passed)
 *                   v                            |
 *                 BROKEN --ABORT record queued--> CLOSING
 *
 * BROKEN and CLOSING drop the stream's fragments (GPU_STREAM_LOST); the
 * ABORT record carries the slot's next sequence, so the consumer takes it
 * as the stream's last fragment whatever was delivered before it (seq 0:
 * it opens and ends the slot at once, and the engine still sees it and
 * answers ABORT).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <rte_byteorder.h>
#include <rte_mbuf.h>

#include "sl_gpu_share.h"
#include "sl_gtx.h"

enum sl_gtx_slot_state {
	GTX_FREE = 0,
	GTX_OPEN,
	GTX_BROKEN,  /* an ABORT record is due */
	GTX_CLOSING, /* ABORT record queued; upstream not ended yet */
	GTX_ENDED,   /* last record queued; waiting for the engine's ack */
};

enum { GTX_LIST_NONE = 0, GTX_LIST_DUE, GTX_LIST_ENDED };

static void gtx_aborts(struct sl_gtx *g, uint64_t *aborts, uint64_t *opened);

/* The ring and its file (when made), then the slot tables. */
static void
gtx_free(struct sl_gtx *g)
{
	sl_gpu_share_destroy(g->share);
	free(g->slots);
	free(g->free_slots);
	free(g->due);
	free(g->ended);
	free(g);
}

struct sl_gtx *
sl_gtx_create(struct sl_gpu_ctx *ctx, const char *path, uint32_t streams,
	      int uid, int gid, uint32_t sluiced_ip, uint16_t sluiced_port,
	      uint32_t worker, uint64_t run_id)
{
	const struct sl_gpu_ring_cfg rc = {
		.batches = SL_GTX_BATCHES,
		.batch_bytes = SL_GTX_BATCH_BYTES,
		.streams = streams,
		.stream_tokens = SL_GTX_STREAM_TOKENS,
		.stream_text = SL_GTX_STREAM_TEXT,
	};
	const struct sl_gpu_share_cfg sc = {
		.path = path,
		.mode = 0640,
		.uid = uid,
		.gid = gid,
		.sluiced_ip = sluiced_ip,
		.sluiced_port = sluiced_port,
		.worker = worker,
		.run_id = run_id,
	};
	struct sl_gtx *g;
	int err;

	g = calloc(1, sizeof(*g));
	if (g == NULL)
		return NULL;
	g->n_slots = rc.streams;
	g->source_max = streams / 4 != 0 ? streams / 4 : 1;
	g->slots = calloc(g->n_slots, sizeof(*g->slots));
	g->free_slots = calloc(g->n_slots, sizeof(uint32_t));
	g->due = calloc(g->n_slots, sizeof(uint32_t));
	g->ended = calloc(g->n_slots, sizeof(uint32_t));
	if (g->slots == NULL || g->free_slots == NULL || g->due == NULL ||
	    g->ended == NULL) {
		errno = ENOMEM;
		goto fail;
	}
	/* Taken lowest first. */
	for (uint32_t i = 0; i < g->n_slots; i++)
		g->free_slots[i] = g->n_slots - 1 - i;
	g->n_free = g->n_slots;
	g->share = sl_gpu_share_create(ctx, &rc, &sc);
	if (g->share == NULL)
		goto fail;
	g->ring = sl_gpu_share_ring(g->share);
	err = sl_gpu_ring_start(g->ring);
	if (err != 0) {
		errno = -err;
		goto fail;
	}
	return g;
fail:
	err = errno;
	gtx_free(g);
	errno = err;
	return NULL;
}

void
sl_gtx_destroy(struct sl_gtx *g)
{
	uint64_t aborts = 0, opened = 0;

	if (g == NULL)
		return;
	/* Streams ended at the last moment (the table freed) end in the
	 * ring too, and what was queued reaches the token buffers before
	 * they go (bounded: a second). */
	gtx_aborts(g, &aborts, &opened);
	(void)sl_gpu_ring_drain(g->ring, 1000000000ull);
	gtx_free(g);
}

static void
gtx_list(struct sl_gtx *g, uint32_t slot, uint8_t list)
{
	struct sl_gtx_slot *s = &g->slots[slot];

	/* A slot is on one list at a time, so each has room for all. */
	if (s->listed == list)
		return;
	s->listed = list;
	if (list == GTX_LIST_DUE)
		g->due[g->n_due++] = slot;
	else
		g->ended[g->n_ended++] = slot;
}

/* Ended slots whose engine acked them are free again. */
static void
gtx_reap(struct sl_gtx *g)
{
	if (g->n_ended == 0 || sl_gpu_share_acks_read(g->share) != 0)
		return;
	for (uint32_t i = 0; i < g->n_ended;) {
		uint32_t slot = g->ended[i];
		struct sl_gtx_slot *s = &g->slots[slot];

		if (!sl_gpu_share_acked(g->share, slot, s->epoch)) {
			i++;
			continue;
		}
		g->ended[i] = g->ended[--g->n_ended];
		s->state = GTX_FREE;
		s->listed = GTX_LIST_NONE;
		g->free_slots[g->n_free++] = slot;
	}
}

uint32_t
sl_gtx_slot_take(struct sl_gtx *g, const uint8_t *hdr, uint16_t stage,
		 uint16_t from_stage, uint32_t ip, uint16_t port,
		 uint32_t source)
{
	uint8_t desc[SL_WIRE_HDR_LEN];
	struct sl_gtx_slot *s;
	uint32_t slot, held = 0;
	uint16_t v;

	if (g == NULL)
		return SL_GTX_SLOT_NONE;
	if (g->n_free == 0)
		gtx_reap(g);
	if (g->n_free == 0)
		return SL_GTX_SLOT_NONE;
	/* The client's share: one pass over the slots, at a new stream
	 * only (a few hundred compares). */
	for (uint32_t k = 0; k < g->n_slots; k++)
		held += g->slots[k].state != GTX_FREE &&
			g->slots[k].source == source;
	if (held >= g->source_max)
		return SL_GTX_SLOT_QUOTA;
	slot = g->free_slots[--g->n_free];
	s = &g->slots[slot];
	s->source = source;
	s->state = GTX_OPEN;
	s->next = 0;
	s->end_seen = 0;
	s->listed = GTX_LIST_NONE;
	/* The header the instance would have received first: its stage,
	 * who produced the stream, seq 0, no flags, no tokens. */
	memcpy(desc, hdr, sizeof(desc));
	desc[SL_WIRE_OFF_FLAGS] = 0;
	desc[SL_WIRE_OFF_ABORT] = 0;
	v = rte_cpu_to_be_16(stage);
	memcpy(desc + SL_WIRE_OFF_STAGE, &v, 2);
	v = rte_cpu_to_be_16(from_stage);
	memcpy(desc + SL_WIRE_OFF_FROM_STAGE, &v, 2);
	memset(desc + SL_WIRE_OFF_TOKEN_COUNT, 0, 2);
	memset(desc + SL_WIRE_OFF_SEQ, 0, 4);
	memset(desc + SL_WIRE_OFF_PAYLOAD_LEN, 0, 2);
	memset(desc + SL_WIRE_OFF_CHILD_COUNT, 0, 4);
	(void)sl_gpu_share_describe(g->share, slot, s->epoch + 1, ip, port,
				    desc);
	return slot;
}

/* The stream on @slot can no longer be delivered whole: it is to end
 * with an ABORT record saying @reason. */
static void
gtx_break(struct sl_gtx *g, uint32_t slot, bool ended, uint8_t reason)
{
	struct sl_gtx_slot *s = &g->slots[slot];

	if (ended)
		s->end_seen = 1;
	switch (s->state) {
	case GTX_OPEN:
		s->state = GTX_BROKEN;
		s->reason = reason;
		gtx_list(g, slot, GTX_LIST_DUE);
		break;
	case GTX_CLOSING:
		if (s->end_seen) {
			s->state = GTX_ENDED;
			gtx_list(g, slot, GTX_LIST_ENDED);
		}
		break;
	default:
		break;
	}
}

void
sl_gtx_abandon(struct sl_gtx *g, uint32_t slot)
{
	if (g == NULL || slot >= g->n_slots)
		return;
	gtx_break(g, slot, true, SL_ABORT_EXPIRED);
}

/* A record accepted for @slot: its sequence and epoch move on. */
static void
gtx_queued(struct sl_gtx *g, struct sl_gtx_slot *s)
{
	if (s->next == 0)
		s->epoch++;
	s->next++;
	g->queued++;
}

/* ABORT records still due, each once the ring has room; how many went
 * in, and how many of those opened their stream, added to *@aborts and
 * *@opened. */
static void
gtx_aborts(struct sl_gtx *g, uint64_t *aborts, uint64_t *opened)
{
	for (uint32_t i = 0; i < g->n_due;) {
		uint32_t slot = g->due[i];
		struct sl_gtx_slot *s = &g->slots[slot];
		struct sl_gpu_frag_in f = {
			.stream = slot,
			.seq = s->next,
			.flags = SL_GPU_FRAG_ABORT,
			.abort_reason = s->reason,
		};

		if (sl_gpu_tx(g->ring, &f) != 0)
			break; /* full: the rest wait too */
		*opened += s->next == 0;
		gtx_queued(g, s);
		(*aborts)++;
		g->due[i] = g->due[--g->n_due];
		s->listed = GTX_LIST_NONE;
		if (s->end_seen) {
			s->state = GTX_ENDED;
			gtx_list(g, slot, GTX_LIST_ENDED);
		} else {
			s->state = GTX_CLOSING;
		}
	}
}

void
sl_gtx_deliver(struct sl_dp *dp, uint32_t slot, struct rte_mbuf *m)
{
	struct sl_gtx *g = dp->gtx;
	const struct sl_pkt_meta *pm = sl_pkt_meta(m);
	uint8_t end = pm->flags & (SL_FRAG_F_END | SL_FRAG_F_ABORT);
	struct sl_gtx_slot *s;
	const uint8_t *hdr;
	struct sl_gpu_frag_in f;
	int rc;

	if (slot == SL_GTX_SLOT_MARKER) {
		/* A CHILDREN announcement alone: no stream of the engine's. */
		dp->cnt.gpu_markers++;
		rte_pktmbuf_free(m);
		return;
	}
	if (unlikely(g == NULL || slot >= g->n_slots)) {
		sl_dp_drop(dp, m, SL_DROP_GPU_STREAM_LOST);
		return;
	}
	s = &g->slots[slot];
	if (unlikely(s->state != GTX_OPEN)) {
		if (end)
			gtx_break(g, slot, true, SL_ABORT_OVERLOAD);
		sl_dp_drop(dp, m, SL_DROP_GPU_STREAM_LOST);
		return;
	}
	if (unlikely(!rte_pktmbuf_is_contiguous(m))) {
		gtx_break(g, slot, end != 0, SL_ABORT_LOST);
		sl_dp_drop(dp, m, SL_DROP_MULTI_SEG);
		return;
	}
	hdr = rte_pktmbuf_mtod_offset(m, const uint8_t *, pm->hdr_off);
	f.stream = slot;
	f.seq = s->next;
	f.flags = end;
	f.abort_reason = hdr[SL_WIRE_OFF_ABORT];
	f.token_count = rte_be_to_cpu_16(
		*(const unaligned_uint16_t *)(hdr + SL_WIRE_OFF_TOKEN_COUNT));
	f.payload_len = (uint16_t)(pm->dgram_len - SL_WIRE_HDR_LEN);
	f.payload = hdr + SL_WIRE_HDR_LEN;
	/* Parse checked the tokens against the payload; a fragment sluiced
	 * made itself was built by the wire builder. */
	rc = sl_gpu_tx(g->ring, &f);
	if (unlikely(rc != 0)) {
		gtx_break(g, slot, end != 0,
			  rc == -ENOBUFS ? SL_ABORT_OVERLOAD : SL_ABORT_LOST);
		sl_dp_drop(dp, m,
			   rc == -ENOBUFS ? SL_DROP_GPU_RING_FULL
					  : SL_DROP_GPU_STREAM_LOST);
		return;
	}
	gtx_queued(g, s);
	dp->cnt.gpu_fragments++;
	if (f.seq == 0)
		dp->cnt.gpu_streams++;
	if (end) {
		s->end_seen = 1;
		s->state = GTX_ENDED;
		gtx_list(g, slot, GTX_LIST_ENDED);
	}
	rte_pktmbuf_free(m);
}

void
sl_gtx_flush(struct sl_dp *dp)
{
	struct sl_gtx *g = dp->gtx;

	if (g->n_due != 0)
		gtx_aborts(g, &dp->cnt.gpu_aborts, &dp->cnt.gpu_streams);
	if (g->queued != 0) {
		g->queued = 0;
		(void)sl_gpu_tx_flush(g->ring);
	}
}

void
sl_gtx_housekeeping(struct sl_dp *dp)
{
	struct sl_gtx *g = dp->gtx;

	if (g == NULL)
		return;
	(void)sl_gpu_tx_reclaim(g->ring);
	sl_gtx_flush(dp);
	gtx_reap(g);
}

void
sl_gtx_stats(const struct sl_gtx *g, struct sl_dp_counters *cnt)
{
	uint64_t dropped = 0;

	cnt->gpu_slots_used = g->n_slots - g->n_free;
	for (int c = SL_GPU_C_DROP_BAD_STREAM; c < SL_GPU_C_MAX; c++)
		dropped += sl_gpu_ring_cstat(g->ring, (enum sl_gpu_cstat)c);
	cnt->gpu_ring_dropped = dropped;
	cnt->gpu_ring_batch_errors =
		sl_gpu_ring_cstat(g->ring, SL_GPU_C_BATCH_ERRORS);
}
