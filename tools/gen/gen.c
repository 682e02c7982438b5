/* SPDX-License-Identifier: MIT */
/*
 * gen.c - what both sluicegen modes share: the socket and sl_rel set-up,
 * receiving through loss repair, and the report pieces.
 */
#include "gen.h"

volatile sig_atomic_t gen_stop;

int
gen_setup(struct gen *g)
{
	uint32_t cap = 4, i;
	uint32_t prefix;

	g->corpus = sl_corpus_load(g->o.corpus_path);
	if (g->corpus == NULL) {
		fprintf(stderr, "sluicegen: cannot load corpus %s: %s\n",
			g->o.corpus_path, strerror(errno));
		return -1;
	}
	g->sock = sl_sock_open(&g->o.bind);
	if (g->sock == NULL) {
		fprintf(stderr, "sluicegen: cannot bind: %s\n",
			strerror(errno));
		return -1;
	}
	sl_sock_set_peer(g->sock, &g->o.server);
	{
		struct sl_rel_config rc;

		sl_rel_config_default(&rc);
		rc.rx_streams_max = GEN_REL_STREAMS;
		/* Transform mode: every open request, and as many more
		 * ended ones lingering. */
		if (g->o.mode == GEN_MODE_TRANSFORM &&
		    2 * g->o.streams + 1024 > rc.rx_streams_max)
			rc.rx_streams_max = 2 * g->o.streams + 1024;
		rc.tx_streams_max = rc.rx_streams_max;
		/* A request sluiced never ACKed ends as ABORT (LOST). */
		rc.report_gave_up = true;
		g->rel = sl_rel_new(g->sock, &rc);
		if (g->rel == NULL) {
			fprintf(stderr,
				"sluicegen: cannot allocate stream "
				"state: %s\n",
				strerror(errno));
			return -1;
		}
	}
	if (g->o.mode == GEN_MODE_PIPELINE)
		goto ids;

	while (cap < 4 * g->o.streams)
		cap <<= 1;
	g->map.mask = cap - 1;
	g->map.keys = calloc(cap, sizeof(g->map.keys[0]));
	g->map.slot = malloc(cap * sizeof(g->map.slot[0]));
	g->req = calloc(g->o.streams, sizeof(g->req[0]));
	g->free_slots = malloc(g->o.streams * sizeof(g->free_slots[0]));
	g->sendq = malloc(g->o.streams * sizeof(g->sendq[0]));
	if (!g->map.keys || !g->map.slot || !g->req || !g->free_slots ||
	    !g->sendq) {
		fprintf(stderr, "sluicegen: out of memory\n");
		return -1;
	}
	memset(g->map.slot, 0xff, cap * sizeof(g->map.slot[0]));
	for (i = 0; i < g->o.streams; i++) {
		g->req[i].got = calloc(g->o.frags, 1);
		if (g->req[i].got == NULL) {
			fprintf(stderr, "sluicegen: out of memory\n");
			return -1;
		}
		g->free_slots[i] = g->o.streams - 1 - i;
	}
	g->n_free = g->o.streams;

ids:
	/* Request ids must differ across concurrent sluicegen processes:
	 * 32 random bits from the kernel, then a counter. */
	if (g->o.have_id_prefix)
		prefix = (uint32_t)g->o.id_prefix;
	else if (getrandom(&prefix, sizeof(prefix), 0) != sizeof(prefix))
		prefix = (uint32_t)sl_now_ns() ^ (uint32_t)getpid();
	g->id_prefix = (uint64_t)prefix << 32;
	g->rng = g->o.seed;
	sl_hist_init(&g->frag_lat);
	sl_hist_init(&g->req_lat);
	if (g->o.questions_path != NULL) {
		g->questions =
			gen_questions_load(g->o.questions_path, g->o.tokens);
		if (g->questions == NULL)
			return -1;
	}
	if (g->o.trace_path != NULL) {
		char err[512];

		g->trace = gen_trace_load(g->o.trace_path, err, sizeof(err));
		if (g->trace == NULL) {
			fprintf(stderr, "sluicegen: %s\n", err);
			return -1;
		}
	}
	return 0;
}

void
gen_teardown(struct gen *g)
{
	uint32_t i;

	if (g->req != NULL)
		for (i = 0; i < g->o.streams; i++)
			free(g->req[i].got);
	free(g->req);
	free(g->free_slots);
	free(g->sendq);
	free(g->map.keys);
	free(g->map.slot);
	sl_rel_free(g->rel);
	sl_sock_close(g->sock);
	sl_corpus_free(g->corpus);
	gen_questions_free(g->questions);
	gen_trace_free(g->trace);
}

/*
 * Receive whatever waits: each datagram through sl_rel (control consumed,
 * data in order and once) and what it delivers to @take. A datagram that
 * is not a valid fragment counts in *@corrupted. Return 0 or -errno.
 */
int
gen_rel_rx(struct gen *g, gen_take_fn take, void *ctx, uint64_t *corrupted)
{
	static struct sl_burst rx;
	static bool ready;
	int n, i;

	if (!ready) {
		sl_burst_reset(&rx);
		ready = true;
	}
	do {
		struct sl_frag_view v;
		uint64_t now;

		n = sl_sock_recv_burst(g->sock, rx.d, SL_BURST_MAX);
		if (n < 0) {
			fprintf(stderr, "sluicegen: recv: %s\n", strerror(-n));
			return n;
		}
		now = sl_now_ns();
		for (i = 0; i < n; i++) {
			if (sl_rel_input(g->rel, &rx.d[i], now) != SL_WIRE_OK) {
				/* Not even a fragment: the path mangled it. */
				(*corrupted)++;
				continue;
			}
			while (sl_rel_next(g->rel, &v))
				take(g, ctx, &v, now);
		}
	} while (n == SL_BURST_MAX);
	return 0;
}

/* Run the repair timers; streams given up go to @take as ABORT LOST.
 * Return the next deadline. */
uint64_t
gen_rel_tick(struct gen *g, gen_take_fn take, void *ctx)
{
	struct sl_frag_view v;
	uint64_t now = sl_now_ns(), next = sl_rel_tick(g->rel, now);

	while (sl_rel_next(g->rel, &v))
		take(g, ctx, &v, now);
	return next;
}

/*
 * Keep serving the streams for a while: until @until, or (@until_acked)
 * as soon as sluiced has ACKed every request. Late results still reach
 * @take; our ACKs and resends still go out.
 */
int
gen_rel_serve(struct gen *g, gen_take_fn take, void *ctx, uint64_t *corrupted,
	      uint64_t until, bool until_acked)
{
	for (;;) {
		struct pollfd p = {.fd = g->sock->fd, .events = POLLIN};
		struct sl_rel_usage u;
		uint64_t now, next;

		if (gen_rel_rx(g, take, ctx, corrupted) < 0)
			return -1;
		next = gen_rel_tick(g, take, ctx);
		sl_rel_usage(g->rel, &u);
		now = sl_now_ns();
		if (now >= until || (until_acked && u.tx_pending == 0))
			return 0;
		if (next > until)
			next = until;
		next = next > now ? next - now : 0;
		if (next > GEN_IDLE_WAIT_NS)
			next = GEN_IDLE_WAIT_NS;
		sl_poll_ns(&p, 1, next);
	}
}

double
gen_us(uint64_t ns)
{
	return (double)ns / 1000.0;
}

/* {"OVERLOAD": 3, ...}: the reasons seen, by name. */
void
gen_json_reasons(FILE *f, const uint64_t *by)
{
	unsigned int k;
	bool first = true;

	fputc('{', f);
	for (k = 0; k <= SL_ABORT_MAX; k++) {
		if (by[k] == 0)
			continue;
		fprintf(f, "%s\"%s\": %" PRIu64, first ? "" : ", ",
			k < SL_ABORT_MAX ? sl_abort_reason_name(k) : "UNKNOWN",
			by[k]);
		first = false;
	}
	fputc('}', f);
}

/* The repair counters of one run (@base: at its start; NULL: all). */
void
gen_text_rel(const struct sl_rel_counters *c,
	     const struct sl_rel_counters *base)
{
#define GEN_REL_D(name) (c->name - (base != NULL ? base->name : 0))
	printf("  repair: %" PRIu64 " NACKs sent, %" PRIu64
	       " received, %" PRIu64 " resent, %" PRIu64 " ABORT LOST, %" PRIu64
	       " END resends, %" PRIu64 " gave up;\n"
	       "          %" PRIu64 " ACKs sent, %" PRIu64 " received, %" PRIu64
	       " duplicates dropped, %" PRIu64 " held, %" PRIu64
	       " given up (NACKs unanswered), %" PRIu64 " refused\n",
	       GEN_REL_D(nacks_sent), GEN_REL_D(nacks_received),
	       GEN_REL_D(resent), GEN_REL_D(lost_aborts_sent),
	       GEN_REL_D(end_resends), GEN_REL_D(gave_up), GEN_REL_D(acks_sent),
	       GEN_REL_D(acks_received), GEN_REL_D(duplicates_dropped),
	       GEN_REL_D(held), GEN_REL_D(nack_gave_up), GEN_REL_D(rx_refused));
#undef GEN_REL_D
}
