/* SPDX-License-Identifier: MIT */
/*
 * sl_frame.h - length-prefixed frames of the control API.
 *
 * A frame is a 4-byte big-endian payload length followed by the payload
 * (one serialized protobuf message). The length must be 1..max; max is
 * SL_FRAME_MAX (1 MiB) on the control socket.
 *
 * The decoder is incremental: feed it whatever the socket delivered, in
 * chunks of any size down to one byte, and it reports each complete frame
 * in turn. It holds at most one partial frame, and grows that buffer only
 * as bytes arrive (so a peer that announces 1 MiB and sends 10 bytes costs
 * a few KiB, not 1 MiB). A bad length puts the decoder in an error state it
 * never leaves: the caller replies with an error and closes the
 * connection, because the rest of the byte stream can no longer be framed.
 * This is the code the fuzzer (tests/fuzz/fuzz_frame.c) targets.
 */
#ifndef SL_FRAME_H
#define SL_FRAME_H

#include <stddef.h>
#include <stdint.h>

#define SL_FRAME_HDR 4
#define SL_FRAME_MAX (1u << 20)

struct sl_frame_decoder {
	uint32_t max;  /* largest payload accepted */
	uint32_t want; /* payload length of the frame being read */
	uint8_t hdr[SL_FRAME_HDR];
	uint8_t hdr_len; /* header bytes held, 0..4 */
	int error;       /* 0, or the negative errno it stopped on */
	uint8_t *buf;    /* partial payload; cap bytes */
	size_t have;     /* payload bytes held */
	size_t cap;
};

/* A complete frame: valid until the next call on the decoder or on its
 * input buffer, whichever comes first. */
struct sl_frame {
	const uint8_t *data;
	uint32_t len;
};

/*
 * sl_frame_decoder_init - an empty decoder for payloads of 1..@max bytes
 * (@max 0 or over SL_FRAME_MAX means SL_FRAME_MAX). Allocates nothing.
 */
void sl_frame_decoder_init(struct sl_frame_decoder *d, uint32_t max);

/*
 * sl_frame_decoder_set_max - accept payloads of 1..@max bytes from the
 * next length field on (as in sl_frame_decoder_init). A length already
 * read was checked against the old limit. The control API starts a TCP
 * connection small and raises the limit once it has authenticated.
 */
void sl_frame_decoder_set_max(struct sl_frame_decoder *d, uint32_t max);

/*
 * sl_frame_decoder_fini - free what the decoder holds. It may be
 * initialised again afterwards.
 */
void sl_frame_decoder_fini(struct sl_frame_decoder *d);

/*
 * sl_frame_decode - take bytes until one frame is complete.
 * @in, @len: the next bytes of the stream (@in may be NULL when @len is 0).
 * @used: receives how many bytes of @in were taken; call again with the
 *   rest (@in + *used) until it returns 0.
 * @out: receives the frame when 1 is returned. When the whole frame lies
 *   in @in it points there (no copy); else into the decoder's buffer.
 * Returns
 *   1          a frame is in @out;
 *   0          all of @in was taken and no frame is complete yet;
 *   -EMSGSIZE  the length field is over max (the frame's length is in
 *              sl_frame_decoder.want);
 *   -EBADMSG   the length field is 0;
 *   -ENOMEM    no memory for the partial frame.
 * A call with @len 0 releases the buffer of a frame already returned
 * when it is large (kept small ones are reused). Errors are sticky: every later
 * call returns the same error, takes no bytes, and the decoder holds no
 * payload.
 */
int sl_frame_decode(struct sl_frame_decoder *d, const uint8_t *in, size_t len,
		    size_t *used, struct sl_frame *out);

/*
 * sl_frame_buffered - bytes of an incomplete frame held (header bytes
 * included): 0 between frames. A peer that closes while this is non-zero
 * sent a truncated frame.
 */
size_t sl_frame_buffered(const struct sl_frame_decoder *d);

/*
 * sl_frame_capacity - bytes of memory the decoder holds now.
 */
size_t sl_frame_capacity(const struct sl_frame_decoder *d);

/*
 * sl_frame_put_header - write the 4-byte length prefix for a payload of
 * @len bytes into @hdr.
 */
void sl_frame_put_header(uint8_t hdr[SL_FRAME_HDR], uint32_t len);

#endif /* SL_FRAME_H */
