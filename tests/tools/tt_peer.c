/* SPDX-License-Identifier: MIT */
#include "tt_peer.h"

#include <string.h>

bool
tt_ctl_take(struct tt_ctl_log *log, const struct sl_frag_view *v)
{
	struct tt_ctl *c;

	if (!(v->hdr.flags & SL_FRAG_F_CONTROL))
		return false;
	if (log->n == TT_CTL_MAX)
		return true;
	c = &log->e[log->n++];
	c->flags = v->hdr.flags;
	c->depth = v->hdr.depth;
	c->stage = v->hdr.stage;
	c->pipeline = v->hdr.pipeline;
	c->seq = v->hdr.seq;
	c->count = v->hdr.child_count;
	c->send_ns = v->hdr.send_ns;
	c->anc0 = v->hdr.ancestry[0];
	return true;
}

void
tt_ack(struct sl_sock *s, const struct sl_frag_view *v)
{
	uint8_t buf[SL_WIRE_HDR_LEN];
	struct sl_dgram d = {.buf = buf, .cap = sizeof(buf)};

	d.len = (uint16_t)sl_wire_encode_control(buf, &v->hdr, SL_FRAG_F_ACK,
						 v->hdr.seq, 0, sl_now_ns());
	d.addr = v->src;
	(void)sl_sock_send_burst(s, &d, 1);
}

static bool
ctl_match(const struct tt_ctl *c, uint8_t flags, uint64_t anc0, uint32_t seq)
{
	return c->flags == flags && c->anc0 == anc0 &&
	       (seq == UINT32_MAX || c->seq == seq);
}

unsigned int
tt_ctl_count(const struct tt_ctl_log *log, uint8_t flags, uint64_t anc0,
	     uint32_t seq)
{
	unsigned int i, n = 0;

	for (i = 0; i < log->n; i++)
		n += ctl_match(&log->e[i], flags, anc0, seq);
	return n;
}

const struct tt_ctl *
tt_ctl_find(const struct tt_ctl_log *log, uint8_t flags, uint64_t anc0,
	    uint32_t seq)
{
	unsigned int i;

	for (i = 0; i < log->n; i++)
		if (ctl_match(&log->e[i], flags, anc0, seq))
			return &log->e[i];
	return NULL;
}
