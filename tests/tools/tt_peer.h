/* SPDX-License-Identifier: MIT */
/*
 * tt_peer - the receiver's half of proto/WIRE.md's loss repair, by hand,
 * for tests that talk to the real sluice-engine over a raw socket (so
 * that they still see every datagram it sends): control fragments that
 * arrive are logged for exact assertions, and every END or ABORT is
 * ACKed back as a receiver must, or the engine would resend it.
 */
#ifndef SL_TT_PEER_H
#define SL_TT_PEER_H

#include <stdbool.h>
#include <stdint.h>

#include "sluice.h"

#define TT_CTL_MAX 256

struct tt_ctl {
	uint8_t flags;
	uint8_t depth;
	uint16_t stage;
	uint32_t pipeline;
	uint32_t seq;
	uint32_t count; /* NACK: fragments asked for */
	uint64_t send_ns;
	uint64_t anc0;
};

struct tt_ctl_log {
	unsigned int n;
	struct tt_ctl e[TT_CTL_MAX];
};

/* @v is a control fragment: log it (when there is room) and return
 * true; a data fragment: false. */
bool tt_ctl_take(struct tt_ctl_log *log, const struct sl_frag_view *v);

/* ACK the END or ABORT fragment @v from socket @s to its source. */
void tt_ack(struct sl_sock *s, const struct sl_frag_view *v);

/* Entries of @log with exactly @flags, ancestry[0] @anc0 and (unless
 * UINT32_MAX) seq @seq. */
unsigned int tt_ctl_count(const struct tt_ctl_log *log, uint8_t flags,
			  uint64_t anc0, uint32_t seq);

/* The first such entry, or NULL. */
const struct tt_ctl *tt_ctl_find(const struct tt_ctl_log *log, uint8_t flags,
				 uint64_t anc0, uint32_t seq);

#endif
