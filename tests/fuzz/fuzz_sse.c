/* SPDX-License-Identifier: MIT */
/*
 * fuzz_sse.c - what a model server sends a bridge (tools/engine/
 * upstream.c): its response body, server-sent events of the OpenAI
 * format, cut into writes of any sizes as libcurl hands them over.
 *
 * Input: byte 0 chooses the API (bit 0: chat, else completions), byte 1
 * the first write's size; the rest is the body, fed in writes whose
 * sizes change as the bytes go. Checked: the reader never reads or writes
 * out of bounds, holds no more than UPSTREAM_LINE_MAX of a line, hands
 * over only text that is valid UTF-8 and never more of it than the body
 * had, and, once it refused the stream, takes nothing more.
 *
 * upstream.c is compiled in: its reader is static.
 */
#include "../../tools/engine/upstream.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t text_bytes;
static bool bad_text;

static void
on_text(void *ctx, const char *s, size_t len)
{
	(void)ctx;
	text_bytes += len;
	if (!sl_utf8_valid((const uint8_t *)s, len))
		bad_text = true;
}

static void
on_end(void *ctx, enum sl_upstream_end how, long status)
{
	(void)ctx;
	(void)how;
	(void)status;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static CURL *easy; /* a fresh handle: its response code is 0 */
	struct sl_upstream u = {.ops = {on_text, on_end}};
	struct up_xfer x = {.u = &u};
	size_t pos = 2, step;
	bool refused = false;

	if (size < 2)
		return 0;
	if (easy == NULL)
		easy = curl_easy_init();
	if (easy == NULL)
		abort();
	u.cfg.chat = data[0] & 1;
	u.cfg.idle_ns = 1000000000ull;
	x.easy = easy;
	text_bytes = 0;
	bad_text = false;
	step = 1 + data[1] % 64;
	while (pos < size) {
		size_t n = step < size - pos ? step : size - pos;
		size_t took = up_write((char *)data + pos, 1, n, &x);

		if (took != n) {
			/* Refused: a failure kind said, nothing taken. */
			if (took != 0 || !x.failed)
				abort();
			refused = true;
			break;
		}
		if (x.line_len > UPSTREAM_LINE_MAX)
			abort();
		pos += n;
		step = 1 + (step * 7 + data[pos % size]) % 97;
	}
	if (bad_text || text_bytes > size || (x.failed && !refused))
		abort();
	free(x.line);
	x.easy = NULL; /* kept for the next input */
	return 0;
}
