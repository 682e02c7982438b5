/* SPDX-License-Identifier: MIT */
/*
 * sl_frame.c - incremental decoder of length-prefixed frames (sl_frame.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sl_frame.h"

/* Smallest partial-frame buffer, and the largest one kept between frames:
 * a connection that sent one big frame does not hold its buffer forever. */
#define SL_FRAME_BUF_MIN 4096u
#define SL_FRAME_BUF_KEEP 65536u

void
sl_frame_decoder_init(struct sl_frame_decoder *d, uint32_t max)
{
	memset(d, 0, sizeof(*d));
	d->max = (max == 0 || max > SL_FRAME_MAX) ? SL_FRAME_MAX : max;
}

void
sl_frame_decoder_set_max(struct sl_frame_decoder *d, uint32_t max)
{
	d->max = (max == 0 || max > SL_FRAME_MAX) ? SL_FRAME_MAX : max;
}

void
sl_frame_decoder_fini(struct sl_frame_decoder *d)
{
	free(d->buf);
	d->buf = NULL;
	d->cap = 0;
	d->have = 0;
	d->hdr_len = 0;
}

static void
sl_frame_fail(struct sl_frame_decoder *d, int error)
{
	d->error = error;
	free(d->buf);
	d->buf = NULL;
	d->cap = 0;
	d->have = 0;
}

/* Room for at least @need payload bytes, growing geometrically but never
 * past the frame's own length. */
static int
sl_frame_reserve(struct sl_frame_decoder *d, size_t need)
{
	size_t cap;
	uint8_t *buf;

	if (need <= d->cap)
		return 0;
	cap = d->cap ? d->cap : SL_FRAME_BUF_MIN;
	while (cap < need)
		cap *= 2;
	if (cap > d->want)
		cap = d->want;
	buf = realloc(d->buf, cap);
	if (buf == NULL)
		return -ENOMEM;
	d->buf = buf;
	d->cap = cap;
	return 0;
}

/* Between frames: drop a big buffer, keep a small one for the next. */
static void
sl_frame_reset(struct sl_frame_decoder *d)
{
	d->hdr_len = 0;
	d->have = 0;
	d->want = 0;
	if (d->cap > SL_FRAME_BUF_KEEP) {
		free(d->buf);
		d->buf = NULL;
		d->cap = 0;
	}
}

int
sl_frame_decode(struct sl_frame_decoder *d, const uint8_t *in, size_t len,
		size_t *used, struct sl_frame *out)
{
	size_t off = 0;
	size_t take;
	int rc;

	*used = 0;
	if (d->error)
		return d->error;

	/* A frame delivered from the buffer last time is released now. */
	if (d->hdr_len == SL_FRAME_HDR && d->have == d->want)
		sl_frame_reset(d);

	while (d->hdr_len < SL_FRAME_HDR) {
		if (off == len) {
			*used = off;
			return 0;
		}
		d->hdr[d->hdr_len++] = in[off++];
	}
	if (d->have == 0) {
		d->want = (uint32_t)d->hdr[0] << 24 |
			  (uint32_t)d->hdr[1] << 16 | (uint32_t)d->hdr[2] << 8 |
			  d->hdr[3];
		if (d->want == 0 || d->want > d->max) {
			*used = off;
			sl_frame_fail(d, d->want == 0 ? -EBADMSG : -EMSGSIZE);
			return d->error;
		}
		/* The common case: the whole payload is in this chunk. */
		if (len - off >= d->want) {
			out->data = in + off;
			out->len = d->want;
			*used = off + d->want;
			d->hdr_len = 0;
			d->want = 0;
			return 1;
		}
	}

	take = len - off;
	if (take > d->want - d->have)
		take = d->want - d->have;
	if (take > 0) {
		rc = sl_frame_reserve(d, d->have + take);
		if (rc < 0) {
			*used = off;
			sl_frame_fail(d, rc);
			return rc;
		}
		memcpy(d->buf + d->have, in + off, take);
		d->have += take;
		off += take;
	}
	*used = off;
	if (d->have < d->want)
		return 0;
	out->data = d->buf;
	out->len = d->want;
	return 1;
}

size_t
sl_frame_buffered(const struct sl_frame_decoder *d)
{
	if (d->error || (d->hdr_len == SL_FRAME_HDR && d->have == d->want))
		return 0;
	return d->hdr_len + d->have;
}

size_t
sl_frame_capacity(const struct sl_frame_decoder *d)
{
	return d->cap;
}

void
sl_frame_put_header(uint8_t hdr[SL_FRAME_HDR], uint32_t len)
{
	hdr[0] = (uint8_t)(len >> 24);
	hdr[1] = (uint8_t)(len >> 16);
	hdr[2] = (uint8_t)(len >> 8);
	hdr[3] = (uint8_t)len;
}
