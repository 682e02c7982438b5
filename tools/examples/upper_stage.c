/* SPDX-License-Identifier: MIT */
/*
 * upper_stage.c - a complete sluice stage on libsluice's stage API: every
 * token of every input stream comes back upper-cased (the tokens of
 * sluice-engine --transform upper, byte for byte), then its END or ABORT.
 * SIGTERM or SIGINT: open outputs end with ABORT (SHUTDOWN).
 *
 *   sluice-upper-stage 10.77.0.11:7801
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "sluice.h"

static volatile sig_atomic_t stop;

static void
on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

int
main(int argc, char **argv)
{
	static char text[UINT16_MAX];
	struct sockaddr_in addr;
	struct sl_stage *st;

	if (argc != 2 || sl_endpoint_parse(argv[1], false, &addr) != 0) {
		fprintf(stderr, "usage: sluice-upper-stage IP:PORT\n");
		return 2;
	}
	st = sl_stage_open(&addr, NULL);
	if (st == NULL) {
		fprintf(stderr, "sluice-upper-stage: cannot listen on %s: %s\n",
			argv[1], strerror(errno));
		return 1;
	}
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	while (!stop) {
		struct sl_stage_event ev;
		struct sl_token t;

		sl_stage_poll(st, 100000000); /* 100 ms at most when idle */
		while (sl_stage_next(st, &ev)) {
			while (sl_token_next(&ev.tokens, &t)) {
				uint32_t id;

				sl_transform_text(SL_TRANSFORM_UPPER, text,
						  t.text, t.len);
				id = sl_transform_token_id(SL_TRANSFORM_UPPER,
							   t.id, text, t.len);
				/* Output it cannot queue: say so, not less. */
				if (sl_stage_send(st, ev.stream, id, text,
						  t.len) == -ENOBUFS)
					sl_stage_abort(st, ev.stream,
						       SL_ABORT_OVERLOAD);
			}
			if (ev.kind == SL_STAGE_END)
				sl_stage_end(st, ev.stream);
			else if (ev.kind == SL_STAGE_ABORT)
				sl_stage_abort(st, ev.stream, ev.abort_reason);
		}
	}
	sl_stage_close(st);
	return 0;
}
