/* SPDX-License-Identifier: MIT */
/*
 * tt_openai - a scripted OpenAI-compatible model server for the tests of
 * the openai role (libmicrohttpd, on 127.0.0.1, in the test's process).
 *
 * POST /v1/completions and /v1/chat/completions with "stream": true
 * answer "echo: " and the prompt (the "prompt", or the first message's
 * "content"), TT_OPENAI_PIECE bytes an event, then "data: [DONE]". A
 * prompt that holds one of these words does something else:
 *   FAULT_500     HTTP 500 with an error object (every time)
 *   FAULT_503ONCE HTTP 503 on the prompt's first request, then as usual
 *   FAULT_GARBAGE an event whose data is not JSON
 *   FAULT_ERROR   an error event after one piece
 *   FAULT_CLOSE   two pieces, then the connection closes (no [DONE])
 *   FAULT_STALL   one piece, then nothing for 3 s, then a close
 */
#ifndef SL_TT_OPENAI_H
#define SL_TT_OPENAI_H

#include <stdint.h>

#define TT_OPENAI_PIECE 5

/* Start the server; its port, or 0. */
uint16_t tt_openai_start(void);
void tt_openai_stop(void);

/* Requests it answered (any way) since it started. */
unsigned int tt_openai_requests(void);

/* The Authorization header of the last request ("" when none). */
const char *tt_openai_last_auth(void);

#endif
