/* SPDX-License-Identifier: MIT */
/*
 * fuzz_frame.c - libFuzzer harness for the control API's input path: the
 * incremental frame decoder (control/sl_frame.c), Request unpacking and
 * dispatch (control/sl_api.c) against the recording test backend
 * (tests/control/api_backend.c), exactly as a connection feeds them.
 *
 * Input: one mode byte, then the bytes a client would send. Mode bit 0
 * picks the transport (1: unix socket, no token; 0: TCP, token
 * "s3cret-token" required); bits 1..7 + 1 give the chunk size the stream
 * is cut into (1..128 bytes), so splits at every offset get exercised.
 *
 * Checked on every input: each frame is 1..SL_FRAME_MAX bytes; the
 * decoder's memory stays within the frame limit and what it was fed; every
 * reply is a well-formed frame holding a Response that decodes; a reply
 * that tells the transport to keep the connection is not an
 * authentication failure; decoder errors and CLOSE end the connection as
 * the server does. ASan/UBSan/LSan catch the rest.
 *
 * Build and run: tests/fuzz/README.md.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_backend.h"
#include "sl_api.h"
#include "sl_frame.h"

static struct sl_api *api;
static struct api_backend backend;

static void
check_reply(const uint8_t *reply, size_t len, enum sl_api_after after)
{
	Sluice__V1__Response *r;
	uint32_t n;

	if (reply == NULL || len < SL_FRAME_HDR)
		abort();
	n = (uint32_t)reply[0] << 24 | (uint32_t)reply[1] << 16 |
	    (uint32_t)reply[2] << 8 | reply[3];
	if (n != len - SL_FRAME_HDR || n > SL_FRAME_MAX)
		abort();
	r = sluice__v1__response__unpack(NULL, n, reply + SL_FRAME_HDR);
	if (r == NULL)
		abort();
	/* An error reply carries no result; a result carries no error. */
	if ((r->error != NULL) ==
	    (r->result_case != SLUICE__V1__RESPONSE__RESULT__NOT_SET))
		abort();
	if (after == SL_API_KEEP && r->error != NULL &&
	    r->error->code == SLUICE__V1__ERROR__CODE__CODE_UNAUTHENTICATED)
		abort();
	sluice__v1__response__free_unpacked(r, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sl_frame_decoder dec;
	bool trusted;
	size_t chunk, off = 1;

	if (api == NULL) {
		api_backend_init(&backend);
		struct sl_api_params params = {.token = "s3cret-token",
					       .version = "fuzz"};

		api = sl_api_create(NULL, &params, &api_backend_ops, &backend);
		if (api == NULL)
			abort();
	}
	if (size < 1)
		return 0;
	trusted = data[0] & 1;
	chunk = (size_t)(data[0] >> 1) + 1;
	sl_frame_decoder_init(&dec, SL_FRAME_MAX);
	while (off < size) {
		size_t n = size - off < chunk ? size - off : chunk;
		const uint8_t *p = data + off;
		bool closed = false;

		off += n;
		while (n > 0) {
			struct sl_frame f;
			enum sl_api_after after;
			uint8_t *reply;
			size_t used, reply_len;
			int rc = sl_frame_decode(&dec, p, n, &used, &f);

			if (used > n ||
			    sl_frame_capacity(&dec) > SL_FRAME_MAX ||
			    sl_frame_capacity(&dec) > 2 * size + 4096)
				abort();
			p += used;
			n -= used;
			if (rc == 0)
				break;
			if (rc < 0) {
				sl_api_frame_error(api, rc, dec.want, &reply,
						   &reply_len);
				check_reply(reply, reply_len, SL_API_CLOSE);
				free(reply);
				closed = true;
				break;
			}
			if (f.len == 0 || f.len > SL_FRAME_MAX)
				abort();
			after = sl_api_dispatch(api, f.data, f.len, trusted,
						&reply, &reply_len);
			check_reply(reply, reply_len, after);
			free(reply);
			if (after == SL_API_CLOSE) {
				closed = true;
				break;
			}
		}
		if (closed)
			break;
	}
	sl_frame_decoder_fini(&dec);
	return 0;
}
