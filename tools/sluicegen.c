/* SPDX-License-Identifier: MIT */
/*
 * sluicegen - pktgen-style client: opens requests, streams corpus tokens
 * to sluiced at a controlled rate and checks every byte that comes back.
 *
 * Each request is one stage-0 stream of F fragments of K consecutive
 * corpus tokens. The answer that returns from the pipeline's last stage
 * must carry, in output fragment i, exactly the tokens of input fragment
 * i passed through the transforms given by --expect, with END on the
 * last: anything else is counted (lost, duplicated, misordered,
 * corrupted, aborted, unknown). Latency is measured per fragment from
 * the send_ns that every stage copies through, and per request.
 *
 * Single-threaded: a token bucket on CLOCK_MONOTONIC paces sends, and
 * the waits between sends are ppoll()s on the socket so that replies are
 * read while pacing.
 *
 * Every hop repairs its own losses (proto/WIRE.md, "Loss repair and
 * liveness"): everything sent and received goes through libsluice's
 * sl_rel, which keeps copies of the requests for sluiced's NACKs and
 * resends their END until ACKed, and delivers each result stream in
 * order and once, NACKing gaps and ACKing its END. A request is "lost"
 * when it is neither completed nor aborted within --drain-ms; aborts
 * are counted by reason, and the repair counters (NACKs, resends, ...)
 * are reported with the rest (--json: "rel").
 *
 * That is --mode transform, the default. --mode pipeline drives
 * a whole pipeline DAG instead: open-loop question arrivals (Poisson or
 * constant), one result stream per request, request latency, achieved
 * load, rate sweeps and a per-request dump of the results. Its questions
 * are corpus text, or with --questions FILE the given ones in file order.
 *
 * --dpdk-iface IF (or --dpdk-vdev SPEC) is the DPDK mode (gen/dpdk.c): a
 * DPDK port of its own, playing client and instance of a one-stage
 * pipeline, open-loop at a fixed fragment rate, per-hop latency up to
 * p99.99 corrected for coordinated omission, or --find-capacity.
 *
 * This file is main and the signals; the rest is in tools/gen/ (gen.h).
 */
#include <signal.h>
#include <string.h>

#include "gen/gen.h"

static void
gen_on_signal(int sig)
{
	(void)sig;
	gen_stop = 1;
}

int
main(int argc, char **argv)
{
	static struct gen g;
	uint64_t start = 0, end = 0;
	struct sigaction sa;
	int rc = 0;

	if (gen_parse_args(&g.o, argc, argv) < 0)
		return 2;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = gen_on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	if (g.o.mode == GEN_MODE_DPDK)
		return gen_dpdk_main(&g.o, argv[0]);

	if (g.o.mode == GEN_MODE_PIPELINE) {
		if (gen_setup(&g) < 0) {
			gen_teardown(&g);
			return 1;
		}
		rc = gen_pipeline_main(&g);
		gen_teardown(&g);
		return rc;
	}
	if (gen_setup(&g) < 0 || gen_run(&g, &start, &end) < 0) {
		gen_teardown(&g);
		return 1;
	}
	gen_report(&g, start, end);
	if (g.o.check &&
	    (g.c.lost || g.c.duplicated || g.c.misordered || g.c.corrupted ||
	     g.c.aborted || g.c.unknown || g.c.completed < g.c.requests)) {
		if (!g.o.quiet)
			fprintf(stderr, "sluicegen: check failed\n");
		rc = 1;
	}
	gen_teardown(&g);
	return rc;
}
