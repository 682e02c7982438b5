/* SPDX-License-Identifier: MIT */
/*
 * sl_rel.c - reliable streams for libsluice: the client and engine end of
 * proto/WIRE.md, "Loss repair and liveness".
 *
 * Receive side. One entry per stream (source address + identity). The
 * fragment the stream expects next is handed to the application at once,
 * without a copy; earlier ones are duplicates; later ones (within
 * rx_window) are copied into a list sorted by seq until the gap before
 * them fills. A gap starts a NACK schedule (now, then SL_RTX_NACK_MS,
 * doubling, SL_RTX_TRIES repeats), restarted whenever the stream makes
 * progress; at its end the stream is given up and delivered as a
 * tokenless ABORT (LOST) at the first missing seq. An END or ABORT
 * delivered ends the stream: ACK, then the entry lingers SL_RTX_LINGER_MS
 * on a FIFO so that duplicates are dropped (an END's duplicate ACKed
 * again).
 *
 * Send side. One entry per stream (destination + identity) with a ring of
 * the last tx_window copies indexed by seq; every copy is also on one global
 * FIFO, oldest first, which the byte bound evicts from. After the END or
 * ABORT the entry moves to the tail list and is resent on its schedule
 * until an ACK forgets it. A NACK for a seq no longer held is answered
 * with ABORT (LOST) at that seq, which then becomes the stream's end; if
 * the application is still producing the stream, what it sends next is
 * suppressed until its own END or ABORT.
 *
 * Timers are lists with a cached earliest deadline, scanned only when it
 * is due: the streams with an open gap, the streams awaiting an ACK, and
 * the LRU / linger lists whose heads expire first. Nothing allocates per
 * packet except the copies, which the byte bounds limit.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "sl_hash.h"
#include "sl_list.h"
#include "sluice.h"

#define NS_PER_MS 1000000ull
#define SL_REL_PROBERS 8    /* addresses told about a pause change */
#define SL_REL_SYNTH_MAX 16 /* streams given up per sl_rel_tick() */
#define SL_REL_LINGER_NS ((uint64_t)SL_RTX_LINGER_MS * NS_PER_MS)

/* ---- stream identity ---- */

/* Peer address + the header fields that name a stream (WIRE.md). */
struct sl_rel_key {
	uint64_t ancestry[SL_ANCESTRY_MAX]; /* slots >= depth are zero */
	uint32_t pipeline;
	uint32_t ip; /* network order, as in sockaddr_in */
	uint16_t port;
	uint16_t stage;
	uint16_t from_stage;
	uint16_t tenant;
	uint8_t depth;
};

/* What the receive and send entries share: key and hash chain. */
struct sl_rel_entry {
	struct sl_rel_key key;
	struct sl_rel_entry *hnext;
	uint64_t hash;
};

struct sl_rel_table {
	struct sl_rel_entry **bucket;
	uint64_t mask;
};

static void
key_of(struct sl_rel_key *k, const struct sockaddr_in *a,
       const struct sl_frag_hdr *h)
{
	memset(k, 0, sizeof(*k));
	k->ip = a->sin_addr.s_addr;
	k->port = a->sin_port;
	k->pipeline = h->pipeline;
	k->stage = h->stage;
	k->from_stage = h->from_stage;
	k->tenant = h->tenant;
	k->depth = h->depth;
	/* The parser checked depth (1..SL_ANCESTRY_MAX). */
	memcpy(k->ancestry, h->ancestry, h->depth * sizeof(h->ancestry[0]));
}

static bool
key_eq(const struct sl_rel_key *a, const struct sl_rel_key *b)
{
	return a->ip == b->ip && a->port == b->port &&
	       a->pipeline == b->pipeline && a->stage == b->stage &&
	       a->from_stage == b->from_stage && a->tenant == b->tenant &&
	       a->depth == b->depth &&
	       memcmp(a->ancestry, b->ancestry, sizeof(a->ancestry)) == 0;
}

/* Keyed: a peer cannot aim its streams at one chain without the seed. */
static uint64_t
key_hash(uint64_t seed, const struct sl_rel_key *k)
{
	return sl_stream_hash(seed, k->ip, k->port, k->pipeline, k->stage,
			      k->from_stage, k->tenant, k->depth, k->ancestry);
}

/* The identity header of a stream (for control fragments and ABORTs). */
static void
key_hdr(const struct sl_rel_key *k, struct sl_frag_hdr *h)
{
	memset(h, 0, sizeof(*h));
	h->version = SL_WIRE_VERSION;
	h->pipeline = k->pipeline;
	h->stage = k->stage;
	h->from_stage = k->from_stage;
	h->tenant = k->tenant;
	h->depth = k->depth;
	memcpy(h->ancestry, k->ancestry, sizeof(h->ancestry));
}

static void
key_addr(const struct sl_rel_key *k, struct sockaddr_in *a)
{
	memset(a, 0, sizeof(*a));
	a->sin_family = AF_INET;
	a->sin_addr.s_addr = k->ip;
	a->sin_port = k->port;
}

static int
table_init(struct sl_rel_table *t, uint32_t entries)
{
	uint64_t n = 16;

	while (n < 2ull * entries)
		n <<= 1;
	t->bucket = calloc(n, sizeof(t->bucket[0]));
	t->mask = n - 1;
	return t->bucket ? 0 : -ENOMEM;
}

static struct sl_rel_entry *
table_find(const struct sl_rel_table *t, const struct sl_rel_key *k,
	   uint64_t hash)
{
	struct sl_rel_entry *e = t->bucket[hash & t->mask];

	for (; e != NULL; e = e->hnext)
		if (e->hash == hash && key_eq(&e->key, k))
			return e;
	return NULL;
}

static void
table_add(struct sl_rel_table *t, struct sl_rel_entry *e)
{
	struct sl_rel_entry **b = &t->bucket[e->hash & t->mask];

	e->hnext = *b;
	*b = e;
}

static void
table_del(struct sl_rel_table *t, struct sl_rel_entry *e)
{
	struct sl_rel_entry **p = &t->bucket[e->hash & t->mask];

	while (*p != e)
		p = &(*p)->hnext;
	*p = e->hnext;
	e->hnext = NULL;
}

/* ---- state ---- */

/* An early fragment, byte for byte, until its turn. */
struct sl_rel_held {
	struct sl_rel_held *next; /* ascending seq */
	uint32_t seq;
	uint16_t len;
	uint8_t data[];
};

struct sl_rel_rx {
	struct sl_rel_entry e;
	struct sl_link lru; /* rx_open by activity, or rx_linger */
	struct sl_link gap; /* rx_gapped while NACKs are scheduled */
	struct sl_rel_held *held;
	uint64_t last_ns;      /* last arrival; once ended: when it ended */
	uint64_t last_send_ns; /* of the last fragment delivered */
	uint64_t expected;     /* next seq to deliver */
	uint64_t top;          /* highest seq seen + 1 */
	uint64_t nack_due;
	uint64_t nack_interval;
	uint64_t nack_hi;      /* end of the range the last NACK asked for */
	uint32_t end_seq;      /* ended: seq of the END/ABORT */
	uint32_t held_end_seq; /* has_held_end: seq of a held END/ABORT */
	uint8_t nack_tries;
	bool ended;
	bool local_end; /* given up here: nothing to ACK */
	bool in_gap;
	bool has_held_end;
};

/* A copy of a sent fragment. */
struct sl_rel_copy {
	struct sl_link fifo; /* all copies, oldest first */
	struct sl_rel_tx *owner;
	uint32_t seq;
	uint16_t len;
	uint8_t data[];
};

enum sl_rel_tx_state {
	SL_REL_TX_OPEN = 0, /* on tx_open: the application is sending */
	SL_REL_TX_TAIL,     /* on tx_tail: END/ABORT sent, awaiting ACK */
	SL_REL_TX_ZOMBIE,   /* on tx_open: ended by ABORT (LOST) and ACKed
			     * while the application still sends it */
	SL_REL_TX_DONE,     /* on tx_done: ACKed, remembered a while so
			     * that a late NACK is not taken for a loss */
};

struct sl_rel_tx {
	struct sl_rel_entry e;
	struct sl_link lru; /* tx_open by last send, or tx_tail */
	struct sl_rel_copy *ring[SL_REL_TX_WINDOW_MAX]; /* by seq % that */
	uint64_t last_ns;
	uint64_t next_seq; /* highest seq sent + 1 */
	uint64_t tail_due;
	uint64_t tail_interval;
	uint32_t end_seq;     /* TAIL: the seq the resends carry */
	uint32_t app_end_seq; /* the application's END/ABORT */
	uint8_t state;        /* enum sl_rel_tx_state */
	uint8_t tail_tries;
	bool app_ended;
	bool lost; /* ABORT (LOST) sent: its later fragments suppressed */
};

/* One delivery waiting for sl_rel_next(). */
struct sl_rel_dlv {
	struct sl_frag_hdr hdr;
	const uint8_t *payload;
	struct sockaddr_in src;
	struct sl_rel_held *own; /* a held copy to free once taken */
};

struct sl_rel_prober {
	struct sockaddr_in addr;
	struct sl_frag_hdr hdr; /* the last PROBE from there */
	uint64_t last_ns;
	bool used;
};

struct sl_rel {
	struct sl_sock *sock;
	struct sl_rel_config cfg;
	uint64_t seed;
	uint64_t now;
	struct sl_rel_counters c;
	/* receive */
	struct sl_rel_rx *rx;
	struct sl_rel_entry *rx_free;
	uint32_t rx_hw; /* entries ever used: pages touched as needed */
	struct sl_rel_table rx_tab;
	uint32_t rx_n;
	struct sl_link rx_open, rx_linger, rx_gapped;
	uint64_t rx_gap_next;
	uint64_t rx_bytes;
	uint32_t rx_held;
	/* deliveries */
	struct sl_rel_dlv *dlv;
	uint32_t dlv_n, dlv_pos, dlv_cap;
	uint32_t synth_n;
	uint8_t synth[SL_REL_SYNTH_MAX][SL_WIRE_HDR_LEN];
	/* send */
	struct sl_rel_tx *tx;
	struct sl_rel_entry *tx_free;
	uint32_t tx_hw;
	struct sl_rel_table tx_tab;
	uint32_t tx_n, tx_pending, tx_lost, tx_n_done;
	struct sl_link tx_open, tx_tail, tx_done;
	uint64_t tx_tail_next;
	struct sl_link copies;
	uint64_t tx_bytes;
	uint32_t tx_copies;
	/* liveness */
	bool paused;
	struct sl_rel_prober probers[SL_REL_PROBERS];
	/* control fragments and resends, flushed before each call returns */
	struct sl_burst *out;
};

static const char *const sl_rel_counter_names[SL_REL_C_MAX] = {
#define SL_REL_COUNTER_NAME(name, text) [SL_REL_C_##name] = #name,
	SL_REL_COUNTERS(SL_REL_COUNTER_NAME)
#undef SL_REL_COUNTER_NAME
};

static const size_t sl_rel_counter_off[SL_REL_C_MAX] = {
#define SL_REL_COUNTER_OFF(name, text)                                         \
	[SL_REL_C_##name] = offsetof(struct sl_rel_counters, name),
	SL_REL_COUNTERS(SL_REL_COUNTER_OFF)
#undef SL_REL_COUNTER_OFF
};

const char *
sl_rel_counter_name(unsigned int i)
{
	return i < SL_REL_C_MAX ? sl_rel_counter_names[i] : NULL;
}

uint64_t
sl_rel_counter_get(const struct sl_rel_counters *c, unsigned int i)
{
	uint64_t v;

	if (i >= SL_REL_C_MAX)
		return 0;
	memcpy(&v, (const char *)c + sl_rel_counter_off[i], sizeof(v));
	return v;
}

int
sl_rel_counters_json(FILE *f, const struct sl_rel_counters *c,
		     const struct sl_rel_counters *base)
{
	unsigned int i;

	fputc('{', f);
	for (i = 0; i < SL_REL_C_MAX; i++) {
		uint64_t v = sl_rel_counter_get(c, i);

		if (base != NULL)
			v -= sl_rel_counter_get(base, i);
		fprintf(f, "%s\"%s\": %llu", i ? ", " : "",
			sl_rel_counter_names[i], (unsigned long long)v);
	}
	fputc('}', f);
	return ferror(f);
}

void
sl_rel_config_default(struct sl_rel_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->rx_streams_max = 16384;
	cfg->tx_streams_max = 16384;
	cfg->rx_bytes_max = 16ull << 20;
	cfg->tx_bytes_max = 32ull << 20;
	cfg->rx_window = SL_RTX_WINDOW;
	cfg->tx_window = SL_REL_TX_WINDOW_MAX;
	cfg->idle_ns = 30ull * 1000000000ull;
}

/* ---- outgoing datagrams of the layer itself ---- */

static void
out_flush(struct sl_rel *r)
{
	unsigned int sent = 0;

	while (sent < r->out->n) {
		int rc = sl_sock_send_burst(r->sock, r->out->d + sent,
					    r->out->n - sent);

		/* The socket is full: the protocol's timers repair what is
		 * not sent now (a NACK repeats, a resend is asked again). */
		if (rc <= 0) {
			r->c.ctl_dropped += r->out->n - sent;
			break;
		}
		sent += (unsigned int)rc;
	}
	r->out->n = 0;
}

static struct sl_dgram *
out_slot(struct sl_rel *r)
{
	if (r->out->n == SL_BURST_MAX)
		out_flush(r);
	return &r->out->d[r->out->n];
}

static void
send_ctl(struct sl_rel *r, const struct sl_rel_key *k, uint8_t flags,
	 uint32_t seq, uint32_t count, uint64_t send_ns)
{
	struct sl_dgram *d = out_slot(r);
	struct sl_frag_hdr h;

	key_hdr(k, &h);
	d->len = (uint16_t)sl_wire_encode_control(d->buf, &h, flags, seq, count,
						  send_ns);
	key_addr(k, &d->addr);
	r->out->n++;
}

static void
send_copy(struct sl_rel *r, const struct sl_rel_key *k,
	  const struct sl_rel_copy *c)
{
	struct sl_dgram *d = out_slot(r);

	memcpy(d->buf, c->data, c->len);
	d->len = c->len;
	key_addr(k, &d->addr);
	r->out->n++;
}

/* A tokenless ABORT of stream @k at @seq into @buf (88 bytes). */
static size_t
build_abort(uint8_t *buf, const struct sl_rel_key *k, uint32_t seq,
	    uint8_t reason, uint64_t send_ns)
{
	struct sl_frag_hdr h;

	key_hdr(k, &h);
	h.flags = SL_FRAG_F_ABORT;
	h.abort_reason = reason;
	h.seq = seq;
	h.send_ns = send_ns;
	sl_wire_encode_hdr(buf, &h);
	return SL_WIRE_HDR_LEN;
}

static void
send_abort(struct sl_rel *r, const struct sl_rel_key *k, uint32_t seq,
	   uint8_t reason)
{
	struct sl_dgram *d = out_slot(r);

	d->len = (uint16_t)build_abort(d->buf, k, seq, reason, r->now);
	key_addr(k, &d->addr);
	r->out->n++;
}

/* ---- deliveries ---- */

/* Free what the last call delivered; count what was never taken. */
static void
dlv_reset(struct sl_rel *r)
{
	uint32_t i;

	for (i = 0; i < r->dlv_n; i++)
		free(r->dlv[i].own);
	if (r->dlv_n > r->dlv_pos)
		r->c.undrained += r->dlv_n - r->dlv_pos;
	r->dlv_n = r->dlv_pos = 0;
	r->synth_n = 0;
}

bool
sl_rel_next(struct sl_rel *r, struct sl_frag_view *v)
{
	struct sl_rel_dlv *x;

	/* The one taken before is no longer looked at. */
	if (r->dlv_pos > 0 && r->dlv[r->dlv_pos - 1].own != NULL) {
		free(r->dlv[r->dlv_pos - 1].own);
		r->dlv[r->dlv_pos - 1].own = NULL;
	}
	if (r->dlv_pos >= r->dlv_n)
		return false;
	x = &r->dlv[r->dlv_pos++];
	v->hdr = x->hdr;
	v->payload = x->payload;
	v->src = x->src;
	return true;
}

/* ---- receive side ---- */

static void
rx_gap_stop(struct sl_rel *r, struct sl_rel_rx *s)
{
	(void)r;
	if (s->in_gap) {
		sl_link_del(&s->gap);
		s->in_gap = false;
	}
}

static void
rx_free_held(struct sl_rel *r, struct sl_rel_rx *s, bool count)
{
	while (s->held != NULL) {
		struct sl_rel_held *h = s->held;

		s->held = h->next;
		r->rx_bytes -= h->len;
		r->rx_held--;
		if (count)
			r->c.after_end_dropped++;
		free(h);
	}
	s->has_held_end = false;
}

static void
rx_remove(struct sl_rel *r, struct sl_rel_rx *s)
{
	rx_free_held(r, s, false);
	rx_gap_stop(r, s);
	sl_link_del(&s->lru);
	table_del(&r->rx_tab, &s->e);
	s->e.hnext = r->rx_free;
	r->rx_free = &s->e;
	r->rx_n--;
}

static bool rx_expire(struct sl_rel *r, struct sl_rel_rx *s);

/* Make room for one stream: a lingering one past its time, or an open
 * one idle too long (ended for the application first: rx_expire). */
static void
rx_reclaim_one(struct sl_rel *r)
{
	if (!sl_link_empty(&r->rx_linger)) {
		struct sl_rel_rx *s =
			sl_link_entry(r->rx_linger.next, struct sl_rel_rx, lru);

		if (r->now - s->last_ns >= SL_REL_LINGER_NS) {
			rx_remove(r, s);
			return;
		}
	}
	if (!sl_link_empty(&r->rx_open)) {
		struct sl_rel_rx *s =
			sl_link_entry(r->rx_open.next, struct sl_rel_rx, lru);

		if (r->now - s->last_ns >= r->cfg.idle_ns && rx_expire(r, s))
			rx_remove(r, s); /* its slot now, not after lingering */
	}
}

static struct sl_rel_rx *
rx_create(struct sl_rel *r, const struct sl_rel_key *k, uint64_t hash)
{
	struct sl_rel_rx *s;

	if (r->rx_free == NULL && r->rx_hw == r->cfg.rx_streams_max)
		rx_reclaim_one(r);
	if (r->rx_free != NULL) {
		s = (struct sl_rel_rx *)(void *)r->rx_free;
		r->rx_free = s->e.hnext;
	} else if (r->rx_hw < r->cfg.rx_streams_max) {
		s = &r->rx[r->rx_hw++];
	} else {
		return NULL;
	}
	memset(s, 0, sizeof(*s));
	s->e.key = *k;
	s->e.hash = hash;
	table_add(&r->rx_tab, &s->e);
	sl_link_init(&s->gap);
	sl_link_add_tail(&r->rx_open, &s->lru);
	r->rx_n++;
	return s;
}

static void
rx_nack(struct sl_rel *r, struct sl_rel_rx *s)
{
	/* The first missing run: up to the first held fragment, or up to
	 * what was seen (fragments not held for lack of room). */
	uint64_t end = s->held ? s->held->seq : s->top;
	uint64_t count = end - s->expected;

	if (count > r->cfg.rx_window)
		count = r->cfg.rx_window;
	send_ctl(r, &s->e.key, SL_FRAG_F_NACK, (uint32_t)s->expected,
		 (uint32_t)count, r->now);
	s->nack_hi = s->expected + count;
	r->c.nacks_sent++;
}

/*
 * After an arrival: NACK a new gap at once and schedule its repeats;
 * stop when no gap is left. Progress (the gap partly filled) restarts
 * the schedule, and NACKs at once only what the last NACK did not ask
 * for: the rest of its answer is on its way.
 */
static void
rx_gap_check(struct sl_rel *r, struct sl_rel_rx *s, bool progress)
{
	if (s->ended)
		return;
	if (s->held == NULL && s->top <= s->expected) {
		rx_gap_stop(r, s);
		return;
	}
	if (s->in_gap && !progress)
		return;
	if (!s->in_gap || s->expected >= s->nack_hi)
		rx_nack(r, s);
	s->nack_tries = 0;
	s->nack_interval = (uint64_t)SL_RTX_NACK_MS * NS_PER_MS;
	s->nack_due = r->now + s->nack_interval;
	if (!s->in_gap) {
		sl_link_add_tail(&r->rx_gapped, &s->gap);
		s->in_gap = true;
	}
	if (s->nack_due < r->rx_gap_next)
		r->rx_gap_next = s->nack_due;
}

/* The stream ended at @seq: ACK it (unless given up here) and linger. */
static void
rx_end(struct sl_rel *r, struct sl_rel_rx *s, uint32_t seq, bool local)
{
	s->ended = true;
	s->end_seq = seq;
	s->local_end = local;
	rx_free_held(r, s, true);
	rx_gap_stop(r, s);
	s->last_ns = r->now;
	sl_link_move_tail(&r->rx_linger, &s->lru);
	if (!local) {
		send_ctl(r, &s->e.key, SL_FRAG_F_ACK, seq, 0, r->now);
		r->c.acks_sent++;
	}
}

static void
rx_deliver(struct sl_rel *r, struct sl_rel_rx *s, const struct sl_frag_hdr *h,
	   const uint8_t *payload, struct sl_rel_held *own)
{
	struct sl_rel_dlv *x = &r->dlv[r->dlv_n++];

	x->hdr = *h;
	x->payload = payload;
	key_addr(&s->e.key, &x->src);
	x->own = own;
	s->expected = (uint64_t)h->seq + 1;
	s->last_send_ns = h->send_ns;
	r->c.delivered++;
}

/*
 * @s has been open and silent for idle_ns: its sender is gone, or gave up
 * resending its END. End it for the application with a tokenless ABORT
 * (EXPIRED) at the next seq, never silently (a client would wait for its
 * answer forever), and let it linger. Return: false when there is no
 * room to deliver in this tick (the caller tries again later).
 */
static bool
rx_expire(struct sl_rel *r, struct sl_rel_rx *s)
{
	struct sl_frag_hdr hdr;
	uint8_t *buf;

	if (r->synth_n >= SL_REL_SYNTH_MAX || r->dlv_n >= r->dlv_cap)
		return false;
	buf = r->synth[r->synth_n++];
	build_abort(buf, &s->e.key, (uint32_t)s->expected, SL_ABORT_EXPIRED,
		    s->last_send_ns);
	(void)sl_wire_parse_hdr(buf, SL_WIRE_HDR_LEN, &hdr);
	rx_deliver(r, s, &hdr, buf + SL_WIRE_HDR_LEN, NULL);
	r->c.rx_idle_reclaimed++;
	rx_end(r, s, hdr.seq, true);
	return true;
}

/* Deliver the held fragments that are now in sequence. Return true if
 * one of them ended the stream. */
static bool
rx_drain_held(struct sl_rel *r, struct sl_rel_rx *s)
{
	while (s->held != NULL && s->held->seq == s->expected) {
		struct sl_rel_held *h = s->held;
		struct sl_frag_hdr hdr;

		s->held = h->next;
		r->rx_bytes -= h->len;
		r->rx_held--;
		/* It parsed when it arrived. */
		(void)sl_wire_parse_hdr(h->data, h->len, &hdr);
		rx_deliver(r, s, &hdr, h->data + SL_WIRE_HDR_LEN, h);
		if (hdr.flags & (SL_FRAG_F_END | SL_FRAG_F_ABORT)) {
			rx_end(r, s, hdr.seq, false);
			return true;
		}
	}
	return false;
}

/* An early fragment: hold it (or count why not) and NACK the gap. */
static void
rx_early(struct sl_rel *r, struct sl_rel_rx *s, const struct sl_frag_hdr *h,
	 const struct sl_dgram *d)
{
	struct sl_rel_held **p, *n;
	uint64_t seq = h->seq;

	if (s->has_held_end && seq > s->held_end_seq) {
		r->c.after_end_dropped++;
		return;
	}
	if (seq + 1 > s->top)
		s->top = seq + 1;
	if (seq - s->expected >= r->cfg.rx_window) {
		r->c.beyond_window++;
		rx_gap_check(r, s, false);
		return;
	}
	for (p = &s->held; *p != NULL && (*p)->seq < seq; p = &(*p)->next)
		;
	if (*p != NULL && (*p)->seq == seq) {
		r->c.duplicates_dropped++;
		return;
	}
	if (h->flags & (SL_FRAG_F_END | SL_FRAG_F_ABORT)) {
		/* Held fragments past an end cannot be delivered. */
		while (*p != NULL) {
			struct sl_rel_held *x = *p;

			*p = x->next;
			r->rx_bytes -= x->len;
			r->rx_held--;
			r->c.after_end_dropped++;
			free(x);
		}
		s->has_held_end = true;
		s->held_end_seq = h->seq;
	}
	n = NULL;
	if (r->rx_bytes + d->len <= r->cfg.rx_bytes_max)
		n = malloc(sizeof(*n) + d->len);
	if (n == NULL) {
		r->c.held_over_bound++;
		rx_gap_check(r, s, false);
		return;
	}
	n->seq = h->seq;
	n->len = d->len;
	memcpy(n->data, d->buf, d->len);
	n->next = *p;
	*p = n;
	r->rx_bytes += d->len;
	r->rx_held++;
	r->c.held++;
	rx_gap_check(r, s, false);
}

static void
rx_data(struct sl_rel *r, const struct sl_frag_hdr *h, const struct sl_dgram *d)
{
	struct sl_rel_key k;
	struct sl_rel_rx *s;
	uint64_t hash;
	bool end = (h->flags & (SL_FRAG_F_END | SL_FRAG_F_ABORT)) != 0;

	key_of(&k, &d->addr, h);
	hash = key_hash(r->seed, &k);
	s = (struct sl_rel_rx *)(void *)table_find(&r->rx_tab, &k, hash);
	if (s == NULL) {
		s = rx_create(r, &k, hash);
		if (s == NULL) {
			r->c.rx_refused++;
			return;
		}
	}
	if (s->ended) {
		if (h->seq <= s->end_seq) {
			r->c.duplicates_dropped++;
			/* Our ACK may have been lost: say it again. */
			if (end && h->seq == s->end_seq && !s->local_end) {
				send_ctl(r, &k, SL_FRAG_F_ACK, s->end_seq, 0,
					 r->now);
				r->c.acks_repeated++;
			}
		} else {
			r->c.after_end_dropped++;
		}
		return;
	}
	s->last_ns = r->now;
	sl_link_move_tail(&r->rx_open, &s->lru);
	/* A split's child count announcement (tokenless END|CHILDREN) is a
	 * stream of its own whatever its seq: nothing of it came before. */
	if (s->expected == 0 && s->top == 0 && s->held == NULL &&
	    (h->flags & SL_FRAG_F_CHILDREN) && h->token_count == 0) {
		rx_deliver(r, s, h, d->buf + SL_WIRE_HDR_LEN, NULL);
		rx_end(r, s, h->seq, false);
		return;
	}
	if (h->seq < s->expected) {
		r->c.duplicates_dropped++;
		return;
	}
	if (h->seq > s->expected) {
		rx_early(r, s, h, d);
		return;
	}
	rx_deliver(r, s, h, d->buf + SL_WIRE_HDR_LEN, NULL);
	if (end) {
		rx_end(r, s, h->seq, false);
		return;
	}
	if (!rx_drain_held(r, s))
		rx_gap_check(r, s, true);
}

/* NACK repeats and give-ups that fell due. */
static void
rx_gap_timers(struct sl_rel *r)
{
	struct sl_link *l, *next;
	uint64_t due = UINT64_MAX;

	for (l = r->rx_gapped.next; l != &r->rx_gapped; l = next) {
		struct sl_rel_rx *s = sl_link_entry(l, struct sl_rel_rx, gap);

		next = l->next;
		if (s->nack_due <= r->now) {
			if (s->nack_tries < SL_RTX_TRIES) {
				rx_nack(r, s);
				s->nack_tries++;
				s->nack_interval *= 2;
				s->nack_due = r->now + s->nack_interval;
			} else if (r->synth_n < SL_REL_SYNTH_MAX &&
				   r->dlv_n < r->dlv_cap) {
				/* The gap will not fill: end the stream here,
				 * explicitly, for the application. */
				uint8_t *buf = r->synth[r->synth_n++];
				struct sl_frag_hdr hdr;

				build_abort(buf, &s->e.key,
					    (uint32_t)s->expected,
					    SL_ABORT_LOST, s->last_send_ns);
				(void)sl_wire_parse_hdr(buf, SL_WIRE_HDR_LEN,
							&hdr);
				rx_deliver(r, s, &hdr, buf + SL_WIRE_HDR_LEN,
					   NULL);
				r->c.nack_gave_up++;
				rx_end(r, s, hdr.seq, true);
				continue;
			}
			/* else: no room to deliver now; the next tick. */
		}
		if (s->nack_due < due)
			due = s->nack_due;
	}
	r->rx_gap_next = due;
}

/* ---- send side ---- */

static void
copy_free(struct sl_rel *r, struct sl_rel_copy *c)
{
	struct sl_rel_tx *t = c->owner;
	unsigned int slot = c->seq % SL_REL_TX_WINDOW_MAX;

	if (t->ring[slot] == c)
		t->ring[slot] = NULL;
	sl_link_del(&c->fifo);
	r->tx_bytes -= c->len;
	r->tx_copies--;
	free(c);
}

static void
tx_free_copies(struct sl_rel *r, struct sl_rel_tx *t)
{
	unsigned int i;

	for (i = 0; i < SL_REL_TX_WINDOW_MAX; i++)
		if (t->ring[i] != NULL)
			copy_free(r, t->ring[i]);
}

static struct sl_rel_copy *
tx_copy_of(const struct sl_rel_tx *t, uint64_t seq)
{
	struct sl_rel_copy *c = t->ring[seq % SL_REL_TX_WINDOW_MAX];

	return c != NULL && c->seq == seq ? c : NULL;
}

static void
tx_forget(struct sl_rel *r, struct sl_rel_tx *t)
{
	tx_free_copies(r, t);
	if (t->state == SL_REL_TX_TAIL)
		r->tx_pending--;
	if (t->state == SL_REL_TX_DONE)
		r->tx_n_done--;
	if (t->lost)
		r->tx_lost--;
	sl_link_del(&t->lru);
	table_del(&r->tx_tab, &t->e);
	t->e.hnext = r->tx_free;
	r->tx_free = &t->e;
	r->tx_n--;
}

/* Keep the copy of fragment @seq of @t: drop what left the window, then
 * the oldest copies of any stream while over the byte bound. */
static void
tx_keep(struct sl_rel *r, struct sl_rel_tx *t, uint32_t seq, const uint8_t *buf,
	uint16_t len)
{
	struct sl_rel_copy *c;
	unsigned int i;

	for (i = 0; i < SL_REL_TX_WINDOW_MAX; i++) {
		c = t->ring[i];
		if (c != NULL && (c->seq == seq ||
				  (uint64_t)c->seq + r->cfg.tx_window <= seq))
			copy_free(r, c);
	}
	while (r->tx_bytes + len > r->cfg.tx_bytes_max &&
	       !sl_link_empty(&r->copies)) {
		c = sl_link_entry(r->copies.next, struct sl_rel_copy, fifo);
		r->c.tx_copies_evicted++;
		r->c.tx_bytes_evicted += c->len;
		copy_free(r, c);
	}
	c = NULL;
	if (r->tx_bytes + len <= r->cfg.tx_bytes_max)
		c = malloc(sizeof(*c) + len);
	if (c == NULL) {
		/* Larger than the whole bound (or no memory): not kept,
		 * as if evicted at once. */
		r->c.tx_copies_evicted++;
		r->c.tx_bytes_evicted += len;
		return;
	}
	c->owner = t;
	c->seq = seq;
	c->len = len;
	memcpy(c->data, buf, len);
	t->ring[seq % SL_REL_TX_WINDOW_MAX] = c;
	sl_link_add_tail(&r->copies, &c->fifo);
	r->tx_bytes += len;
	r->tx_copies++;
}

/* END/ABORT (or ABORT LOST) at @seq went out: await its ACK. */
static void
tx_tail_start(struct sl_rel *r, struct sl_rel_tx *t, uint32_t seq)
{
	if (t->state != SL_REL_TX_TAIL)
		r->tx_pending++;
	t->state = SL_REL_TX_TAIL;
	t->end_seq = seq;
	t->tail_tries = 0;
	t->tail_interval = (uint64_t)SL_RTX_RTO_MS * NS_PER_MS;
	t->tail_due = r->now + t->tail_interval;
	sl_link_move_tail(&r->tx_tail, &t->lru);
	if (t->tail_due < r->tx_tail_next)
		r->tx_tail_next = t->tail_due;
}

static struct sl_rel_tx *
tx_create(struct sl_rel *r, const struct sl_rel_key *k, uint64_t hash)
{
	struct sl_rel_tx *t;

	if (r->tx_free == NULL && r->tx_hw < r->cfg.tx_streams_max) {
		r->tx[r->tx_hw].e.hnext = NULL;
		r->tx_free = &r->tx[r->tx_hw++].e;
	} else if (r->tx_free == NULL && !sl_link_empty(&r->tx_done)) {
		/* A stream already ACKed is the cheapest to forget. */
		tx_forget(r, sl_link_entry(r->tx_done.next, struct sl_rel_tx,
					   lru));
	} else if (r->tx_free == NULL) {
		/* Full: the oldest goes, one awaiting its ACK first (it is
		 * most likely delivered), else the least recently sent. */
		struct sl_link *victim = !sl_link_empty(&r->tx_tail)
						 ? r->tx_tail.next
						 : r->tx_open.next;

		if (victim == &r->tx_open)
			return NULL;
		r->c.tx_streams_evicted++;
		tx_forget(r, sl_link_entry(victim, struct sl_rel_tx, lru));
	}
	t = (struct sl_rel_tx *)(void *)r->tx_free;
	r->tx_free = t->e.hnext;
	memset(t, 0, sizeof(*t));
	t->e.key = *k;
	t->e.hash = hash;
	table_add(&r->tx_tab, &t->e);
	sl_link_add_tail(&r->tx_open, &t->lru);
	r->tx_n++;
	return t;
}

/* Is @d a data fragment with a destination? Its header, key and hash. */
static bool
tx_identify(const struct sl_rel *r, const struct sl_dgram *d,
	    struct sl_frag_hdr *h, struct sl_rel_key *k, uint64_t *hash)
{
	const struct sockaddr_in *to =
		d->addr.sin_family != 0 ? &d->addr : &r->sock->peer;

	if (to->sin_family == 0 ||
	    sl_wire_parse_hdr(d->buf, d->len, h) != SL_WIRE_OK ||
	    (h->flags & SL_FRAG_F_CONTROL))
		return false;
	key_of(k, to, h);
	*hash = key_hash(r->seed, k);
	return true;
}

static struct sl_rel_tx *
tx_find(const struct sl_rel *r, const struct sl_rel_key *k, uint64_t hash)
{
	return (struct sl_rel_tx *)(void *)table_find(&r->tx_tab, k, hash);
}

/* The send entry of @d if its stream was ended by ABORT (LOST). */
static struct sl_rel_tx *
tx_lost_of(const struct sl_rel *r, const struct sl_dgram *d,
	   struct sl_frag_hdr *h)
{
	struct sl_rel_key k;
	struct sl_rel_tx *t;
	uint64_t hash;

	if (r->tx_lost == 0 || !tx_identify(r, d, h, &k, &hash))
		return NULL;
	t = tx_find(r, &k, hash);
	return t != NULL && t->lost ? t : NULL;
}

/* A fragment of @t, ended by ABORT (LOST), is not sent; the
 * application's own end lets the entry go. */
static void
tx_suppress(struct sl_rel *r, struct sl_rel_tx *t, const struct sl_frag_hdr *h)
{
	r->c.suppressed++;
	if (h->flags & (SL_FRAG_F_END | SL_FRAG_F_ABORT)) {
		t->app_ended = true;
		t->app_end_seq = h->seq;
		if (t->state == SL_REL_TX_ZOMBIE)
			tx_forget(r, t);
	}
}

/* Record data fragment @d as sent at r->now. */
static void
tx_record(struct sl_rel *r, const struct sl_dgram *d)
{
	struct sl_frag_hdr h;
	struct sl_rel_key k;
	struct sl_rel_tx *t;
	uint64_t hash;

	if (!tx_identify(r, d, &h, &k, &hash))
		return;
	t = tx_find(r, &k, hash);
	if (t != NULL && t->state == SL_REL_TX_DONE) {
		/* The same identity again, after its ACK: a new stream. */
		tx_forget(r, t);
		t = NULL;
	}
	if (t == NULL) {
		t = tx_create(r, &k, hash);
		if (t == NULL)
			return;
	}
	/* Nothing follows an end on the wire: not kept. */
	if (t->state != SL_REL_TX_OPEN || t->app_ended)
		return;
	if ((uint64_t)h.seq + 1 > t->next_seq)
		t->next_seq = (uint64_t)h.seq + 1;
	tx_keep(r, t, h.seq, d->buf, d->len);
	t->last_ns = r->now;
	sl_link_move_tail(&r->tx_open, &t->lru);
	if (h.flags & (SL_FRAG_F_END | SL_FRAG_F_ABORT)) {
		t->app_ended = true;
		t->app_end_seq = h.seq;
		tx_tail_start(r, t, h.seq);
	}
}

/* Send the fragment that ends @t again: its copy, or ABORT (LOST) when
 * the copy is gone (or the stream was cut there). */
static void
tx_send_tail(struct sl_rel *r, struct sl_rel_tx *t)
{
	struct sl_rel_copy *c = t->lost ? NULL : tx_copy_of(t, t->end_seq);

	if (c != NULL) {
		send_copy(r, &t->e.key, c);
	} else {
		send_abort(r, &t->e.key, t->end_seq, SL_ABORT_LOST);
		r->c.lost_aborts_sent++;
	}
}

static void
tx_nack(struct sl_rel *r, const struct sl_frag_hdr *h,
	const struct sockaddr_in *from)
{
	struct sl_rel_key k;
	struct sl_rel_tx *t;
	uint64_t n, i;

	r->c.nacks_received++;
	key_of(&k, from, h);
	t = tx_find(r, &k, key_hash(r->seed, &k));
	if (h->child_count == 0) {
		r->c.nacks_bogus++;
		return;
	}
	if (t != NULL && t->state == SL_REL_TX_DONE) {
		/* Sent before the resends arrived, overtaken by the ACK. */
		r->c.nacks_stale++;
		return;
	}
	if (t == NULL) {
		/* Forgotten (evicted, given up): whatever it was, it cannot
		 * be sent again. Say so rather than leave a hole. */
		send_abort(r, &k, h->seq, SL_ABORT_LOST);
		r->c.lost_aborts_sent++;
		return;
	}
	if (t->lost) {
		send_abort(r, &k, t->end_seq, SL_ABORT_LOST);
		r->c.lost_aborts_sent++;
		return;
	}
	if (h->seq >= t->next_seq ||
	    (t->state != SL_REL_TX_OPEN && h->seq > t->end_seq)) {
		r->c.nacks_bogus++;
		return;
	}
	if (tx_copy_of(t, h->seq) == NULL) {
		/* Cut the stream where the hole is; later copies are of no
		 * use now. */
		tx_free_copies(r, t);
		t->lost = true;
		r->tx_lost++;
		tx_tail_start(r, t, h->seq);
		send_abort(r, &k, h->seq, SL_ABORT_LOST);
		r->c.lost_aborts_sent++;
		return;
	}
	if (t->state == SL_REL_TX_TAIL) {
		/* The receiver is alive and repairing a gap before the END
		 * it has not ACKed: the END's resends start over. */
		t->tail_tries = 0;
		t->tail_interval = (uint64_t)SL_RTX_RTO_MS * NS_PER_MS;
		t->tail_due = r->now + t->tail_interval;
	}
	n = h->child_count;
	if (n > t->next_seq - h->seq)
		n = t->next_seq - h->seq;
	if (n > r->cfg.tx_window)
		n = r->cfg.tx_window;
	for (i = h->seq; i < h->seq + n; i++) {
		struct sl_rel_copy *c = tx_copy_of(t, i);

		if (c != NULL) {
			send_copy(r, &k, c);
			r->c.resent++;
		}
	}
}

static void
tx_ack(struct sl_rel *r, const struct sl_frag_hdr *h,
       const struct sockaddr_in *from)
{
	struct sl_rel_key k;
	struct sl_rel_tx *t;

	key_of(&k, from, h);
	t = tx_find(r, &k, key_hash(r->seed, &k));
	if (t == NULL || t->state != SL_REL_TX_TAIL ||
	    (h->seq != t->end_seq &&
	     !(t->app_ended && h->seq == t->app_end_seq))) {
		r->c.acks_unknown++;
		return;
	}
	r->c.acks_received++;
	if (t->lost && !t->app_ended) {
		/* The application is still producing it: keep the entry
		 * to suppress the rest, without copies or timers. */
		tx_free_copies(r, t);
		r->tx_pending--;
		t->state = SL_REL_TX_ZOMBIE;
		t->last_ns = r->now;
		sl_link_move_tail(&r->tx_open, &t->lru);
		return;
	}
	tx_free_copies(r, t);
	r->tx_pending--;
	if (t->lost) {
		t->lost = false;
		r->tx_lost--;
	}
	t->state = SL_REL_TX_DONE;
	t->last_ns = r->now;
	sl_link_move_tail(&r->tx_done, &t->lru);
	r->tx_n_done++;
}

/* The receiver never ACKed @t's end: tell the application with an
 * ABORT (LOST) on @t's own identity, as if its receiver had sent it.
 * Return: false when there is no room to deliver it in this tick. */
static bool
tx_report_gave_up(struct sl_rel *r, struct sl_rel_tx *t)
{
	struct sl_rel_dlv *x;
	uint8_t *buf;

	if (r->synth_n >= SL_REL_SYNTH_MAX || r->dlv_n >= r->dlv_cap)
		return false;
	buf = r->synth[r->synth_n++];
	build_abort(buf, &t->e.key, t->end_seq, SL_ABORT_LOST, r->now);
	x = &r->dlv[r->dlv_n++];
	(void)sl_wire_parse_hdr(buf, SL_WIRE_HDR_LEN, &x->hdr);
	x->payload = buf + SL_WIRE_HDR_LEN;
	key_addr(&t->e.key, &x->src);
	x->own = NULL;
	return true;
}

static void
tx_tail_timers(struct sl_rel *r)
{
	struct sl_link *l, *next;
	uint64_t due = UINT64_MAX;

	for (l = r->tx_tail.next; l != &r->tx_tail; l = next) {
		struct sl_rel_tx *t = sl_link_entry(l, struct sl_rel_tx, lru);

		next = l->next;
		if (t->tail_due <= r->now) {
			if (t->tail_tries >= SL_RTX_TRIES) {
				if (r->cfg.report_gave_up &&
				    !tx_report_gave_up(r, t))
					goto next; /* no room: the next tick */
				r->c.gave_up++;
				tx_forget(r, t);
				continue;
			}
			tx_send_tail(r, t);
			r->c.end_resends++;
			t->tail_tries++;
			t->tail_interval *= 2;
			t->tail_due = r->now + t->tail_interval;
		}
	next:
		if (t->tail_due < due)
			due = t->tail_due;
	}
	r->tx_tail_next = due;
}

/* ---- liveness ---- */

static void
probe_answer(struct sl_rel *r, const struct sl_frag_hdr *h,
	     const struct sockaddr_in *from)
{
	struct sl_rel_prober *p = NULL, *oldest = &r->probers[0];
	struct sl_rel_key k;
	unsigned int i;

	if (!r->cfg.answer_probes) {
		r->c.probes_ignored++;
		return;
	}
	for (i = 0; i < SL_REL_PROBERS; i++) {
		struct sl_rel_prober *q = &r->probers[i];

		if (q->used &&
		    q->addr.sin_addr.s_addr == from->sin_addr.s_addr &&
		    q->addr.sin_port == from->sin_port &&
		    q->hdr.pipeline == h->pipeline &&
		    q->hdr.stage == h->stage) {
			p = q;
			break;
		}
		if (!q->used || (oldest->used && q->last_ns < oldest->last_ns))
			oldest = q;
	}
	if (p == NULL)
		p = oldest;
	p->used = true;
	p->addr = *from;
	p->hdr = *h;
	p->last_ns = r->now;
	key_of(&k, from, h);
	send_ctl(r, &k, SL_FRAG_F_PROBE | (r->paused ? SL_FRAG_F_PAUSE : 0),
		 h->seq, 0, h->send_ns);
	r->c.probes_answered++;
}

void
sl_rel_set_pause(struct sl_rel *r, bool pause, uint64_t now)
{
	unsigned int i;

	if (now > r->now)
		r->now = now;
	if (pause == r->paused)
		return;
	r->paused = pause;
	for (i = 0; i < SL_REL_PROBERS; i++) {
		struct sl_rel_prober *p = &r->probers[i];
		struct sl_rel_key k;

		if (!p->used)
			continue;
		key_of(&k, &p->addr, &p->hdr);
		send_ctl(r, &k, SL_FRAG_F_PROBE | (pause ? SL_FRAG_F_PAUSE : 0),
			 p->hdr.seq, 0, r->now);
		r->c.probes_sent++;
	}
	out_flush(r);
}

bool
sl_rel_paused(const struct sl_rel *r)
{
	return r->paused;
}

/* ---- API ---- */

struct sl_rel *
sl_rel_new(struct sl_sock *sock, const struct sl_rel_config *cfg)
{
	struct sl_rel_config def;
	struct sl_rel *r;

	if (cfg == NULL) {
		sl_rel_config_default(&def);
		cfg = &def;
	}
	if (sock == NULL || cfg->rx_streams_max == 0 ||
	    cfg->tx_streams_max == 0 || cfg->rx_bytes_max == 0 ||
	    cfg->tx_bytes_max == 0 || cfg->rx_window == 0 ||
	    cfg->rx_window > SL_REL_RX_WINDOW_MAX || cfg->tx_window == 0 ||
	    cfg->tx_window > SL_REL_TX_WINDOW_MAX || cfg->idle_ns == 0) {
		errno = EINVAL;
		return NULL;
	}
	r = calloc(1, sizeof(*r));
	if (r == NULL)
		return NULL;
	r->sock = sock;
	r->cfg = *cfg;
	if (getrandom(&r->seed, sizeof(r->seed), 0) != sizeof(r->seed))
		r->seed = sl_now_ns() ^ (uint64_t)(uintptr_t)r;
	sl_link_init(&r->rx_open);
	sl_link_init(&r->rx_linger);
	sl_link_init(&r->rx_gapped);
	sl_link_init(&r->tx_open);
	sl_link_init(&r->tx_tail);
	sl_link_init(&r->tx_done);
	sl_link_init(&r->copies);
	r->rx_gap_next = UINT64_MAX;
	r->tx_tail_next = UINT64_MAX;
	r->dlv_cap = cfg->rx_window + 1;
	if (r->dlv_cap < SL_REL_SYNTH_MAX)
		r->dlv_cap = SL_REL_SYNTH_MAX;
	r->rx = calloc(cfg->rx_streams_max, sizeof(r->rx[0]));
	r->tx = calloc(cfg->tx_streams_max, sizeof(r->tx[0]));
	r->dlv = calloc(r->dlv_cap, sizeof(r->dlv[0]));
	r->out = malloc(sizeof(*r->out));
	if (r->rx == NULL || r->tx == NULL || r->dlv == NULL ||
	    r->out == NULL || table_init(&r->rx_tab, cfg->rx_streams_max) ||
	    table_init(&r->tx_tab, cfg->tx_streams_max)) {
		sl_rel_free(r);
		errno = ENOMEM;
		return NULL;
	}
	sl_burst_reset(r->out);
	/* The entry arrays are taken from the front as streams come (and
	 * reused from the free lists): a process that tracks few streams
	 * touches few pages of them. */
	return r;
}

void
sl_rel_free(struct sl_rel *r)
{
	if (r == NULL)
		return;
	if (r->dlv != NULL)
		dlv_reset(r);
	while (r->rx_tab.bucket != NULL && !sl_link_empty(&r->rx_open))
		rx_remove(r, sl_link_entry(r->rx_open.next, struct sl_rel_rx,
					   lru));
	while (r->rx_tab.bucket != NULL && !sl_link_empty(&r->rx_linger))
		rx_remove(r, sl_link_entry(r->rx_linger.next, struct sl_rel_rx,
					   lru));
	while (r->tx_tab.bucket != NULL && !sl_link_empty(&r->tx_open))
		tx_forget(r, sl_link_entry(r->tx_open.next, struct sl_rel_tx,
					   lru));
	while (r->tx_tab.bucket != NULL && !sl_link_empty(&r->tx_tail))
		tx_forget(r, sl_link_entry(r->tx_tail.next, struct sl_rel_tx,
					   lru));
	while (r->tx_tab.bucket != NULL && !sl_link_empty(&r->tx_done))
		tx_forget(r, sl_link_entry(r->tx_done.next, struct sl_rel_tx,
					   lru));
	free(r->rx_tab.bucket);
	free(r->tx_tab.bucket);
	free(r->rx);
	free(r->tx);
	free(r->dlv);
	free(r->out);
	free(r);
}

enum sl_wire_status
sl_rel_input(struct sl_rel *r, const struct sl_dgram *d, uint64_t now)
{
	struct sl_frag_hdr h;
	enum sl_wire_status st;

	dlv_reset(r);
	if (now > r->now)
		r->now = now;
	st = sl_wire_parse(d->buf, d->len, &h);
	if (st != SL_WIRE_OK)
		return st;
	if (h.flags & SL_FRAG_F_NACK)
		tx_nack(r, &h, &d->addr);
	else if (h.flags & SL_FRAG_F_ACK)
		tx_ack(r, &h, &d->addr);
	else if (h.flags & SL_FRAG_F_PROBE)
		probe_answer(r, &h, &d->addr);
	else
		rx_data(r, &h, d);
	if (r->out->n > 0)
		out_flush(r);
	return SL_WIRE_OK;
}

int
sl_rel_send_burst(struct sl_rel *r, struct sl_dgram *d, unsigned int n,
		  uint64_t now)
{
	struct sl_frag_hdr h;
	struct sl_rel_tx *t;
	unsigned int done = 0, run, i;
	int rc;

	if (now > r->now)
		r->now = now;
	if (n > SL_BURST_MAX)
		n = SL_BURST_MAX;
	while (done < n) {
		t = tx_lost_of(r, &d[done], &h);
		if (t != NULL) {
			tx_suppress(r, t, &h);
			done++;
			continue;
		}
		for (run = 1; done + run < n &&
			      tx_lost_of(r, &d[done + run], &h) == NULL;
		     run++)
			;
		rc = sl_sock_send_burst(r->sock, d + done, run);
		if (rc < 0)
			return done > 0 ? (int)done : rc;
		for (i = 0; i < (unsigned int)rc; i++)
			tx_record(r, &d[done + i]);
		done += (unsigned int)rc;
		if ((unsigned int)rc < run)
			break;
	}
	return (int)done;
}

void
sl_rel_track(struct sl_rel *r, const struct sl_dgram *d, uint64_t now)
{
	if (now > r->now)
		r->now = now;
	tx_record(r, d);
}

unsigned int
sl_rel_abort_open(struct sl_rel *r, uint8_t reason, uint64_t now)
{
	struct sl_link *l, *next;
	unsigned int n = 0;

	if (now > r->now)
		r->now = now;
	for (l = r->tx_open.next; l != &r->tx_open; l = next) {
		struct sl_rel_tx *t = sl_link_entry(l, struct sl_rel_tx, lru);
		uint8_t buf[SL_WIRE_HDR_LEN];
		uint32_t seq = (uint32_t)t->next_seq;
		struct sl_dgram *d;

		next = l->next;
		if (t->state != SL_REL_TX_OPEN || t->app_ended)
			continue;
		build_abort(buf, &t->e.key, seq, reason, r->now);
		d = out_slot(r);
		memcpy(d->buf, buf, sizeof(buf));
		d->len = sizeof(buf);
		key_addr(&t->e.key, &d->addr);
		r->out->n++;
		t->next_seq++;
		t->app_ended = true;
		t->app_end_seq = seq;
		tx_keep(r, t, seq, buf, sizeof(buf));
		tx_tail_start(r, t, seq);
		n++;
	}
	out_flush(r);
	return n;
}

uint64_t
sl_rel_tick(struct sl_rel *r, uint64_t now)
{
	uint64_t next = UINT64_MAX, t;

	dlv_reset(r);
	if (now > r->now)
		r->now = now;
	while (!sl_link_empty(&r->rx_linger)) {
		struct sl_rel_rx *s =
			sl_link_entry(r->rx_linger.next, struct sl_rel_rx, lru);

		if (r->now - s->last_ns < SL_REL_LINGER_NS)
			break;
		rx_remove(r, s);
	}
	while (!sl_link_empty(&r->rx_open)) {
		struct sl_rel_rx *s =
			sl_link_entry(r->rx_open.next, struct sl_rel_rx, lru);

		if (r->now - s->last_ns < r->cfg.idle_ns || !rx_expire(r, s))
			break; /* not idle, or no room: the next tick */
	}
	while (!sl_link_empty(&r->tx_done)) {
		struct sl_rel_tx *x =
			sl_link_entry(r->tx_done.next, struct sl_rel_tx, lru);

		if (r->now - x->last_ns < SL_REL_LINGER_NS)
			break;
		tx_forget(r, x);
	}
	while (!sl_link_empty(&r->tx_open)) {
		struct sl_rel_tx *x =
			sl_link_entry(r->tx_open.next, struct sl_rel_tx, lru);

		if (r->now - x->last_ns < r->cfg.idle_ns)
			break;
		if (x->state == SL_REL_TX_OPEN)
			r->c.tx_idle_reclaimed++;
		tx_forget(r, x);
	}
	if (r->rx_gap_next <= r->now)
		rx_gap_timers(r);
	if (r->tx_tail_next <= r->now)
		tx_tail_timers(r);
	if (r->out->n > 0)
		out_flush(r);

	next = r->rx_gap_next < r->tx_tail_next ? r->rx_gap_next
						: r->tx_tail_next;
	if (!sl_link_empty(&r->rx_linger)) {
		t = sl_link_entry(r->rx_linger.next, struct sl_rel_rx, lru)
			    ->last_ns +
		    SL_REL_LINGER_NS;
		if (t < next)
			next = t;
	}
	if (!sl_link_empty(&r->rx_open)) {
		t = sl_link_entry(r->rx_open.next, struct sl_rel_rx, lru)
			    ->last_ns +
		    r->cfg.idle_ns;
		if (t < next)
			next = t;
	}
	if (!sl_link_empty(&r->tx_open)) {
		t = sl_link_entry(r->tx_open.next, struct sl_rel_tx, lru)
			    ->last_ns +
		    r->cfg.idle_ns;
		if (t < next)
			next = t;
	}
	if (!sl_link_empty(&r->tx_done)) {
		t = sl_link_entry(r->tx_done.next, struct sl_rel_tx, lru)
			    ->last_ns +
		    SL_REL_LINGER_NS;
		if (t < next)
			next = t;
	}
	return next;
}

const struct sl_rel_counters *
sl_rel_counters(const struct sl_rel *r)
{
	return &r->c;
}

void
sl_rel_usage(const struct sl_rel *r, struct sl_rel_usage *u)
{
	u->rx_streams = r->rx_n;
	u->rx_held = r->rx_held;
	u->rx_bytes = r->rx_bytes;
	u->tx_streams = r->tx_n - r->tx_n_done;
	u->tx_acked = r->tx_n_done;
	u->tx_pending = r->tx_pending;
	u->tx_copies = r->tx_copies;
	u->tx_bytes = r->tx_bytes;
}
