/* SPDX-License-Identifier: MIT */
/*
 * sl_rtx.h - sluiced's side of loss repair on every hop (proto/WIRE.md,
 * "Loss repair and liveness").
 *
 * Egress: every fragment sluiced sends is kept (a reference to the very
 * mbuf, so a resend is byte for byte the first send) in its outgoing
 * stream's entry, from the stream's first fragment (up to
 * SL_RTX_STREAM_COPIES), under a global bound (a quarter of the mempool;
 * the oldest copy goes first, whatever stream it belongs to). A receiver
 * holds only a window of early fragments and NACKs the rest once the gap
 * before them is filled: the sender must still have them, however long
 * the burst (a buffer edge flushes hundreds of fragments at once). A NACK from the
 * receiver resends what it asks for, or ABORT (LOST) when the first
 * fragment asked for is gone; an END or ABORT without its ACK is sent
 * again after SL_RTX_RTO_MS, doubling, SL_RTX_TRIES times; the ACK frees
 * the stream's copies. An outgoing stream is named by its receiver's
 * address and the identity the receiver saw (pipeline, stage, from_stage,
 * ancestry), so a NACK finds it by what it carries.
 *
 * Ingress (stage_order.c): a gap in a received stream is NACKed to its
 * sender at once and again on a doubling schedule; a stream's END or
 * ABORT, once delivered in order, is ACKed, and so is every duplicate of
 * it while the stream lingers.
 *
 * Control frames (NACK, ACK, PROBE, sluiced's own ABORTs) are built here
 * and leave with the next burst; none is kept except the ABORTs.
 */
#ifndef SL_RTX_H
#define SL_RTX_H

#include <stdbool.h>
#include <stdint.h>

#include <rte_mbuf.h>

#include "sl_counters.h"
#include "sl_wire.h"

struct sl_dp;
struct sl_route_pin;
struct sl_flow;

#define SL_RTX_NONE UINT32_MAX
/* Copies kept per outgoing stream at most: a buffer edge's whole flush
 * (flows.buffer_max's largest value) stays repairable from its start. */
#define SL_RTX_STREAM_COPIES 65536
/* The longest stream sl_rtx_move() sends again whole. */
#define SL_RTX_MOVE_MAX 256

/* Counters of loss repair (sl_dp_counters.rtx). */

/**
 * sl_rtx_init - the egress table, sized from the config's flow table
 * (a quarter, 1024..65536 streams) and the copy bound from the mempool.
 * Return 0 or a negative errno.
 */
int sl_rtx_init(struct sl_dp *dp);

/**
 * sl_rtx_fini - free every copy and the table.
 */
void sl_rtx_fini(struct sl_dp *dp);

/**
 * sl_rtx_keep - @m, rewritten for its next hop, is about to be sent on
 * the outgoing stream of @pin (NULL: a fragment sluiced made outside any
 * route, looked up by its identity): keep a reference to it. An END or
 * ABORT starts the wait for its ACK. With @retain (an idempotent stage)
 * the copies stay after the ACK, until the stream idles out or is moved
 * (sl_rtx_move), so the stream can be sent again to another instance.
 */
void sl_rtx_keep(struct sl_dp *dp, struct sl_route_pin *pin, struct rte_mbuf *m,
		 bool retain);

/**
 * sl_rtx_forget - drop the copies of @pin's outgoing stream (its receiver
 * is gone).
 */
void sl_rtx_forget(struct sl_dp *dp, struct sl_route_pin *pin);

/**
 * sl_rtx_move - send @pin's outgoing stream again, whole, to instance
 * @uid at @ip:@port, and pin it there: only if every fragment of it is
 * still kept from sequence 0. Return true if moved.
 */
bool sl_rtx_move(struct sl_dp *dp, struct sl_route_pin *pin, uint16_t uid,
		 uint32_t ip, uint16_t port);

/**
 * sl_rtx_input - a NACK or ACK @h from @src_ip:@src_port (host order):
 * resend, abort or forget as WIRE.md says. Unknown streams are counted
 * (UNSOLICITED). Does not consume the mbuf it came in.
 */
void sl_rtx_input(struct sl_dp *dp, const struct sl_frag_hdr *h,
		  uint32_t src_ip, uint16_t src_port);

/**
 * sl_rtx_housekeeping - END/ABORT resends that are due; entries idle
 * past the idle timeout are forgotten (a bounded slice per call).
 */
void sl_rtx_housekeeping(struct sl_dp *dp);

/**
 * sl_rtx_nack - received stream @f has a gap before sequence @seq_seen
 * (a fragment its sender stamped with @from_stage): NACK the missing
 * sequences to the sender if a NACK is due (the first at once, then
 * after SL_RTX_NACK_MS doubling, SL_RTX_TRIES repeats), and schedule the
 * next. Return true if a NACK went out.
 */
bool sl_rtx_nack(struct sl_dp *dp, struct sl_flow *f, uint32_t seq_seen,
		 uint16_t from_stage);

/**
 * sl_rtx_gap_progress - received stream @f's open gap shrank (a resent
 * fragment filled part of it): its NACK repeats start over, the next one
 * SL_RTX_NACK_MS from now.
 */
void sl_rtx_gap_progress(struct sl_dp *dp, struct sl_flow *f);

/**
 * sl_rtx_gap_spent - @f's gap has had every NACK repeat and the last
 * one's wait without progress: the stream cannot be repaired.
 */
bool sl_rtx_gap_spent(const struct sl_dp *dp, const struct sl_flow *f);

/**
 * sl_rtx_ack - the END or ABORT with sequence @seq of received stream @f
 * was delivered (or a duplicate of it came): ACK it to its sender.
 * @from_stage: the stream's from_stage as its sender wrote it.
 */
void sl_rtx_ack(struct sl_dp *dp, const struct sl_flow *f, uint32_t seq,
		uint16_t from_stage);

/**
 * sl_dp_send_control - queue a control fragment (NACK, ACK, PROBE) for
 * the stream named by @stream to @ip:@port. Nothing is kept: a lost one
 * is repaired by the timers of both ends. Return 0, or -ENOBUFS when no
 * mbuf or no room in the control queue (counted).
 */
int sl_dp_send_control(struct sl_dp *dp, uint32_t ip, uint16_t port,
		       const struct sl_frag_hdr *stream, uint8_t flags,
		       uint32_t seq, uint32_t count);

/**
 * sl_dp_send_abort - send a tokenless ABORT (@reason) of the stream named
 * by @stream (its seq included) to @ip:@port outside any route; with
 * @keep it is kept for resends until ACKed like any END (without, a
 * lost one is left to the sender's own resend: a refusal answers every
 * resent request again). Return 0 or -ENOBUFS.
 */
int sl_dp_send_abort(struct sl_dp *dp, uint32_t ip, uint16_t port,
		     const struct sl_frag_hdr *stream, uint8_t reason,
		     bool keep);

/**
 * sl_dp_frame_headers - write Ethernet (to @mac, or zeros when NULL),
 * IPv4 and UDP headers from sluiced to @ip:@port in front of the
 * @dgram_len-byte sluice datagram at offset SL_WIRE_FRAME_HDR_OFF of @m,
 * and set the mbuf's lengths.
 */
void sl_dp_frame_headers(struct sl_dp *dp, struct rte_mbuf *m,
			 const struct rte_ether_addr *mac, uint32_t ip,
			 uint16_t port, uint16_t dgram_len);

#endif /* SL_RTX_H */
