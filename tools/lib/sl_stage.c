/* SPDX-License-Identifier: MIT */
/*
 * sl_stage.c - the stage API of libsluice: one stage instance's loop on
 * top of sl_rel (sluice.h, "Stage API").
 *
 * In: sl_stage_poll() receives what waits (at most SL_STAGE_RX_BURSTS
 * bursts a call), gives each datagram to sl_rel_input() and turns what
 * sl_rel_next() delivers, in order and once per stream, into events on one
 * FIFO: OPEN at a stream's first fragment, TOKENS per fragment with
 * tokens, then END, ABORT or CHILDREN. sl_rel's view lasts only until its
 * next call, so an event with tokens carries a copy of the payload; the
 * tokenless ones (OPEN and the end of a stream) live in the stream
 * itself, so that a failed allocation can never lose the end of a stream
 * (it becomes ABORT (ENGINE) instead, counted).
 *
 * Out: each stream fills one fragment at a time (sl_wire_builder on a
 * fragment-sized buffer). A fragment goes on the ready FIFO when the next
 * token does not fit, when the output ends, when the stream's next input
 * event is taken, or at the next poll; the FIFO
 * is drained in order through sl_rel_send_burst(), which keeps the copies
 * that NACKs and END resends need. A full socket leaves the rest queued
 * for the next poll: nothing is dropped.
 *
 * A stream is freed once its last input event was taken and its output
 * ended, at the next sl_stage_next() or sl_stage_poll(), so that the
 * handle in the event just taken stays readable until then.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "sl_hash.h"
#include "sl_list.h"
#include "sluice.h"

/* Bursts received per poll: bounded work per call. */
#define SL_STAGE_RX_BURSTS 4
/* Events left untaken past this: poll stops receiving (back-pressure). */
#define SL_STAGE_BACKLOG_MAX 4096
#define SL_STAGE_FRAG_CAP (SL_WIRE_HDR_LEN + SL_WIRE_PAYLOAD_MAX)
/* Longest text one token of one fragment can carry. */
#define SL_STAGE_PIECE_MAX (SL_WIRE_PAYLOAD_MAX - SL_WIRE_TOKEN_HDR_LEN)
/* Pieces of the longest text: each at most 3 bytes short of the most. */
#define SL_STAGE_PIECES_MAX (UINT16_MAX / (SL_STAGE_PIECE_MAX - 3) + 1)
/* sl_stage_close() waits this long at most for the ACKs of what it sent:
 * the END/ABORT resends of WIRE.md are done by 620 ms. */
#define SL_STAGE_LINGER_NS (700ull * 1000000ull)

/* One input event until sl_stage_next() hands it out. */
struct sl_stage_ev {
	struct sl_stage_ev *next;
	struct sl_stage_stream *stream;
	const uint8_t *payload; /* the copy after a heap event; else NULL */
	uint64_t send_ns;
	uint32_t child_count;
	uint16_t payload_len;
	uint8_t kind; /* enum sl_stage_event_kind */
	uint8_t abort_reason;
	bool heap; /* malloc'd with its payload; else inside the stream */
};

/* One output datagram: being filled, or ready to send. */
struct sl_stage_frag {
	struct sl_stage_frag *next;
	struct sockaddr_in dst;
	uint16_t len;
	uint8_t buf[];
};

struct sl_stage_stream {
	struct sl_stage_stream *hnext; /* hash chain */
	struct sl_link all;            /* every stream, for close */
	struct sl_link dirty;          /* while a fragment is being filled */
	struct sl_stage_stream *reclaim_next;
	uint64_t hash;
	struct sockaddr_in src;     /* where the input came from: the output
				  * goes there */
	struct sl_frag_hdr id;      /* identity; send_ns: the last input
				  * fragment taken */
	struct sl_stage_frag *fill; /* output fragment being filled */
	struct sl_wire_builder b;
	struct sl_stage_ev open_ev; /* OPEN */
	struct sl_stage_ev last_ev; /* a tokenless END/ABORT/CHILDREN, or
				     * ABORT (ENGINE) when an event could
				     * not be allocated */
	uint32_t out_seq;
	bool counted;    /* against streams_max (not an announcement) */
	bool in_queued;  /* its last input event is queued */
	bool in_ended;   /* ...and was taken */
	bool out_ended;  /* END or ABORT queued, or an announcement */
	bool reclaiming; /* on the reclaim list */
};

struct sl_stage {
	struct sl_sock *sock;
	struct sl_rel *rel;
	struct sl_stage_config cfg;
	struct sl_stage_counters c;
	uint64_t seed;
	/* streams */
	struct sl_stage_stream **bucket;
	uint64_t mask;
	uint32_t n_counted;
	struct sl_link all, dirty;
	struct sl_stage_stream *reclaim;
	/* events */
	struct sl_stage_ev *ev_head, *ev_tail, *cur;
	uint32_t ev_n;
	/* output */
	struct sl_stage_frag *ready_head, *ready_tail;
	uint64_t out_bytes;
	struct sl_burst *rx;
};

void
sl_stage_config_default(struct sl_stage_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	sl_rel_config_default(&cfg->rel);
	cfg->rel.answer_probes = true; /* an instance: sluiced probes it */
	cfg->streams_max = 4096;
	cfg->out_bytes_max = 16ull << 20;
}

/* ---- streams ---- */

/* Keyed like sl_rel's tables: a peer cannot aim at one chain. */
static uint64_t
stream_hash(const struct sl_stage *st, const struct sockaddr_in *src,
	    const struct sl_frag_hdr *h)
{
	return sl_stream_hash(st->seed, src->sin_addr.s_addr, src->sin_port,
			      h->pipeline, h->stage, h->from_stage, h->tenant,
			      h->depth, h->ancestry);
}

static bool
stream_is(const struct sl_stage_stream *s, const struct sockaddr_in *src,
	  const struct sl_frag_hdr *h)
{
	return s->src.sin_addr.s_addr == src->sin_addr.s_addr &&
	       s->src.sin_port == src->sin_port &&
	       s->id.pipeline == h->pipeline && s->id.stage == h->stage &&
	       s->id.from_stage == h->from_stage && s->id.tenant == h->tenant &&
	       s->id.depth == h->depth &&
	       /* The parser leaves the slots past depth zero. */
	       memcmp(s->id.ancestry, h->ancestry, sizeof(h->ancestry)) == 0;
}

static struct sl_stage_stream *
stream_find(const struct sl_stage *st, const struct sockaddr_in *src,
	    const struct sl_frag_hdr *h, uint64_t hash)
{
	struct sl_stage_stream *s = st->bucket[hash & st->mask];

	for (; s != NULL; s = s->hnext)
		if (s->hash == hash && stream_is(s, src, h))
			return s;
	return NULL;
}

/* The identity of @h: what the output repeats. */
static void
identity_of(struct sl_frag_hdr *id, const struct sl_frag_hdr *h)
{
	memset(id, 0, sizeof(*id));
	id->version = SL_WIRE_VERSION;
	id->depth = h->depth;
	id->stage = h->stage;
	id->from_stage = h->from_stage;
	id->tenant = h->tenant;
	id->pipeline = h->pipeline;
	id->send_ns = h->send_ns;
	memcpy(id->ancestry, h->ancestry, sizeof(id->ancestry));
}

static struct sl_stage_stream *
stream_new(struct sl_stage *st, const struct sockaddr_in *src,
	   const struct sl_frag_hdr *h, uint64_t hash, bool counted)
{
	struct sl_stage_stream *s = calloc(1, sizeof(*s));
	struct sl_stage_stream **b;

	if (s == NULL)
		return NULL;
	s->hash = hash;
	s->src = *src;
	identity_of(&s->id, h);
	s->counted = counted;
	sl_link_init(&s->dirty);
	sl_link_add_tail(&st->all, &s->all);
	b = &st->bucket[hash & st->mask];
	s->hnext = *b;
	*b = s;
	if (counted)
		st->n_counted++;
	st->c.streams_opened++;
	return s;
}

static void
stream_free(struct sl_stage *st, struct sl_stage_stream *s)
{
	struct sl_stage_stream **p = &st->bucket[s->hash & st->mask];

	while (*p != s)
		p = &(*p)->hnext;
	*p = s->hnext;
	sl_link_del(&s->all);
	sl_link_del(&s->dirty);
	if (s->fill != NULL) {
		st->out_bytes -= s->b.len;
		free(s->fill);
	}
	if (s->counted)
		st->n_counted--;
	free(s);
}

/* Both ends done: free @s at the next sl_stage_next() or poll. */
static void
stream_maybe_done(struct sl_stage *st, struct sl_stage_stream *s)
{
	if (s->in_ended && s->out_ended && !s->reclaiming) {
		s->reclaiming = true;
		s->reclaim_next = st->reclaim;
		st->reclaim = s;
	}
}

/* What the caller may no longer look at: the event taken last, and the
 * streams both of whose ends are done. */
static void
stage_release(struct sl_stage *st)
{
	if (st->cur != NULL && st->cur->heap)
		free(st->cur);
	st->cur = NULL;
	while (st->reclaim != NULL) {
		struct sl_stage_stream *s = st->reclaim;

		st->reclaim = s->reclaim_next;
		stream_free(st, s);
		st->c.streams_freed++;
	}
}

/* ---- output ---- */

static void
ready_push(struct sl_stage *st, struct sl_stage_frag *f)
{
	f->next = NULL;
	if (st->ready_tail != NULL)
		st->ready_tail->next = f;
	else
		st->ready_head = f;
	st->ready_tail = f;
}

static void
ready_pop(struct sl_stage *st)
{
	struct sl_stage_frag *f = st->ready_head;

	st->ready_head = f->next;
	if (st->ready_head == NULL)
		st->ready_tail = NULL;
	st->out_bytes -= f->len;
	free(f);
}

/*
 * Hand the ready fragments to the socket, in order, through sl_rel (which
 * keeps their copies). Return: 0 when none is left, -EAGAIN when the
 * socket is full (the rest waits for the next poll).
 */
static int
ready_flush(struct sl_stage *st, uint64_t now)
{
	struct sl_dgram d[SL_BURST_MAX];

	while (st->ready_head != NULL) {
		struct sl_stage_frag *f = st->ready_head;
		unsigned int n = 0, i;
		int rc;

		for (; f != NULL && n < SL_BURST_MAX; f = f->next, n++) {
			d[n].buf = f->buf;
			d[n].cap = f->len;
			d[n].len = f->len;
			d[n].addr = f->dst;
		}
		rc = sl_rel_send_burst(st->rel, d, n, now);
		if (rc < 0) {
			/* Not a full socket: kept as if sent, so that the
			 * receiver's NACK or the END resend repairs it,
			 * and the next ones are not held up behind it. */
			sl_rel_track(st->rel, &d[0], now);
			st->c.tx_errors++;
			ready_pop(st);
			continue;
		}
		for (i = 0; i < (unsigned int)rc; i++)
			ready_pop(st);
		st->c.frags_out += (unsigned int)rc;
		if ((unsigned int)rc < n) {
			st->c.socket_full++;
			return -EAGAIN;
		}
	}
	return 0;
}

/* Start @s's next output fragment in @f. */
static void
out_begin(struct sl_stage *st, struct sl_stage_stream *s,
	  struct sl_stage_frag *f)
{
	struct sl_frag_hdr h = s->id;

	h.seq = s->out_seq++;
	(void)sl_wire_builder_init(&s->b, f->buf, SL_STAGE_FRAG_CAP, &h);
	f->dst = s->src;
	s->fill = f;
	st->out_bytes += SL_WIRE_HDR_LEN;
	sl_link_add_tail(&st->dirty, &s->dirty);
}

/* Close @s's fragment being filled with @flags and queue it. */
static void
out_close(struct sl_stage *st, struct sl_stage_stream *s, uint8_t flags,
	  uint8_t reason)
{
	struct sl_stage_frag *f = s->fill, *small;

	s->b.hdr.flags = flags;
	s->b.hdr.abort_reason = reason;
	s->b.hdr.send_ns = s->id.send_ns;
	f->len = (uint16_t)sl_wire_builder_finish(&s->b);
	/* Queued memory is what out_bytes_max counts: no slack. */
	small = realloc(f, sizeof(*f) + f->len);
	if (small != NULL)
		f = small;
	ready_push(st, f);
	s->fill = NULL;
	sl_link_del(&s->dirty);
}

static struct sl_stage_frag *
frag_alloc(struct sl_stage *st)
{
	struct sl_stage_frag *f = malloc(sizeof(*f) + SL_STAGE_FRAG_CAP);

	if (f == NULL)
		st->c.nomem++;
	return f;
}

/* The bytes of the next piece of @len bytes at @text: all that fits one
 * fragment, cut before a UTF-8 continuation byte. */
static size_t
piece_len(const char *text, size_t len)
{
	size_t n = len;

	if (n <= SL_STAGE_PIECE_MAX)
		return n;
	n = SL_STAGE_PIECE_MAX;
	while (n > 0 && ((uint8_t)text[n] & 0xc0) == 0x80)
		n--;
	return n;
}

/* An output fragment of the input's identity, tokenless, into the ready
 * FIFO: the refusal of a stream this stage has no room for. */
static void
out_refuse(struct sl_stage *st, const struct sl_frag_view *v, uint8_t reason)
{
	struct sl_stage_frag *f = malloc(sizeof(*f) + SL_WIRE_HDR_LEN);
	struct sl_frag_hdr h;

	st->c.refused_overload++;
	if (f == NULL) {
		st->c.nomem++;
		return;
	}
	identity_of(&h, &v->hdr);
	h.flags = SL_FRAG_F_ABORT;
	h.abort_reason = reason;
	sl_wire_encode_hdr(f->buf, &h);
	f->len = SL_WIRE_HDR_LEN;
	f->dst = v->src;
	st->out_bytes += f->len;
	ready_push(st, f);
}

/* ---- input ---- */

static void
ev_push(struct sl_stage *st, struct sl_stage_ev *e)
{
	e->next = NULL;
	if (st->ev_tail != NULL)
		st->ev_tail->next = e;
	else
		st->ev_head = e;
	st->ev_tail = e;
	st->ev_n++;
}

/* The last event of @s, in the stream itself. */
static void
ev_last(struct sl_stage *st, struct sl_stage_stream *s, uint8_t kind,
	uint8_t reason, uint32_t child_count, uint64_t send_ns)
{
	struct sl_stage_ev *e = &s->last_ev;

	memset(e, 0, sizeof(*e));
	e->stream = s;
	e->kind = kind;
	e->abort_reason = reason;
	e->child_count = child_count;
	e->send_ns = send_ns;
	s->in_queued = true;
	ev_push(st, e);
}

/* One fragment sl_rel delivered (in order, once): its events. */
static void
stage_deliver(struct sl_stage *st, const struct sl_frag_view *v)
{
	const struct sl_frag_hdr *h = &v->hdr;
	uint64_t hash = stream_hash(st, &v->src, h);
	struct sl_stage_stream *s = stream_find(st, &v->src, h, hash);
	bool announce = false;
	struct sl_stage_ev *e;
	uint8_t kind;

	if (s == NULL) {
		/* A split's child count announcement opens and ends a
		 * stream that owes no output (sluice-engine answers none). */
		announce =
			(h->flags & SL_FRAG_F_CHILDREN) && h->token_count == 0;
		if (h->seq != 0 && !announce) {
			/* The rest of a stream refused (or freed). */
			st->c.orphans_dropped++;
			return;
		}
		if (!announce && st->n_counted >= st->cfg.streams_max) {
			out_refuse(st, v, SL_ABORT_OVERLOAD);
			return;
		}
		s = stream_new(st, &v->src, h, hash, !announce);
		if (s == NULL) {
			st->c.nomem++;
			if (!announce)
				out_refuse(st, v, SL_ABORT_OVERLOAD);
			return;
		}
		s->out_ended = announce;
		s->open_ev.stream = s;
		s->open_ev.kind = SL_STAGE_OPEN;
		s->open_ev.send_ns = h->send_ns;
		ev_push(st, &s->open_ev);
	} else if (s->in_queued) {
		/* The same identity again after its end, while the old
		 * output is still open here. */
		st->c.after_end_dropped++;
		return;
	}

	if (announce)
		kind = SL_STAGE_CHILDREN;
	else if (h->flags & SL_FRAG_F_ABORT)
		kind = SL_STAGE_ABORT;
	else if (h->flags & SL_FRAG_F_END)
		kind = SL_STAGE_END;
	else if (h->token_count > 0)
		kind = SL_STAGE_TOKENS;
	else
		return; /* nothing to tell */

	if (h->token_count == 0) {
		ev_last(st, s, kind, h->abort_reason, h->child_count,
			h->send_ns);
		return;
	}
	e = malloc(sizeof(*e) + h->payload_len);
	if (e == NULL) {
		/* The stream cannot be told whole: end it here. */
		st->c.nomem++;
		ev_last(st, s, SL_STAGE_ABORT, SL_ABORT_ENGINE, 0, h->send_ns);
		return;
	}
	memset(e, 0, sizeof(*e));
	e->stream = s;
	e->kind = kind;
	e->abort_reason = h->abort_reason;
	e->child_count = h->child_count;
	e->send_ns = h->send_ns;
	e->heap = true;
	e->payload_len = h->payload_len;
	memcpy(e + 1, v->payload, h->payload_len);
	e->payload = (const uint8_t *)(e + 1);
	st->c.tokens_in += h->token_count;
	if (kind != SL_STAGE_TOKENS)
		s->in_queued = true;
	ev_push(st, e);
}

static void
stage_drain_rel(struct sl_stage *st, bool deliver)
{
	struct sl_frag_view v;

	while (sl_rel_next(st->rel, &v))
		if (deliver)
			stage_deliver(st, &v);
}

/* Receive what waits; return how many datagrams, or -errno. */
static int
stage_receive(struct sl_stage *st, bool deliver)
{
	unsigned int round;
	int total = 0;

	if (deliver && st->ev_n >= SL_STAGE_BACKLOG_MAX) {
		st->c.rx_deferred++;
		return 0;
	}
	for (round = 0; round < SL_STAGE_RX_BURSTS; round++) {
		int n = sl_sock_recv_burst(st->sock, st->rx->d, SL_BURST_MAX);
		uint64_t now = sl_now_ns();
		int i;

		if (n < 0) {
			st->c.rx_errors++;
			return total > 0 ? total : n;
		}
		for (i = 0; i < n; i++) {
			if (sl_rel_input(st->rel, &st->rx->d[i], now) !=
			    SL_WIRE_OK)
				st->c.rx_invalid++;
			stage_drain_rel(st, deliver);
		}
		total += n;
		if (n < SL_BURST_MAX)
			break;
	}
	return total;
}

/* Timers, then every fragment being filled to the ready FIFO, then the
 * FIFO to the socket. Return when sl_rel_tick() is due next. */
static uint64_t
stage_tick_and_send(struct sl_stage *st, bool deliver)
{
	uint64_t now = sl_now_ns(), due = sl_rel_tick(st->rel, now);

	stage_drain_rel(st, deliver);
	while (!sl_link_empty(&st->dirty))
		out_close(st,
			  sl_link_entry(st->dirty.next, struct sl_stage_stream,
					dirty),
			  0, 0);
	(void)ready_flush(st, now);
	return due;
}

/* ---- API ---- */

struct sl_stage *
sl_stage_open(const struct sockaddr_in *addr, const struct sl_stage_config *cfg)
{
	struct sl_stage_config def;
	struct sl_stage *st;
	uint64_t n = 16;
	int err;

	if (cfg == NULL) {
		sl_stage_config_default(&def);
		cfg = &def;
	}
	if (addr == NULL || cfg->streams_max == 0 ||
	    cfg->out_bytes_max < SL_WIRE_HDR_LEN + SL_WIRE_TOKEN_HDR_LEN) {
		errno = EINVAL;
		return NULL;
	}
	st = calloc(1, sizeof(*st));
	if (st == NULL)
		return NULL;
	st->cfg = *cfg;
	sl_link_init(&st->all);
	sl_link_init(&st->dirty);
	while (n < 2ull * cfg->streams_max)
		n <<= 1;
	st->mask = n - 1;
	if (getrandom(&st->seed, sizeof(st->seed), 0) != sizeof(st->seed))
		st->seed = sl_now_ns() ^ (uint64_t)(uintptr_t)st;
	st->bucket = calloc(n, sizeof(st->bucket[0]));
	st->rx = malloc(sizeof(*st->rx));
	if (st->bucket == NULL || st->rx == NULL) {
		err = ENOMEM;
		goto fail;
	}
	sl_burst_reset(st->rx);
	st->sock = sl_sock_open(addr);
	if (st->sock == NULL) {
		err = errno;
		goto fail;
	}
	st->rel = sl_rel_new(st->sock, &cfg->rel);
	if (st->rel == NULL) {
		err = errno;
		goto fail;
	}
	return st;
fail:
	sl_sock_close(st->sock);
	free(st->rx);
	free(st->bucket);
	free(st);
	errno = err;
	return NULL;
}

int
sl_stage_fd(const struct sl_stage *st)
{
	return st->sock->fd;
}

const struct sockaddr_in *
sl_stage_addr(const struct sl_stage *st)
{
	return &st->sock->local;
}

int
sl_stage_poll(struct sl_stage *st, uint64_t wait_ns)
{
	uint64_t due, now;
	int n;

	stage_release(st);
	n = stage_receive(st, true);
	due = stage_tick_and_send(st, true);
	if (n == 0 && st->ev_n == 0 && wait_ns > 0) {
		struct pollfd p = {.fd = st->sock->fd, .events = POLLIN};

		if (st->ready_head != NULL)
			p.events |= POLLOUT;
		now = sl_now_ns();
		if (due > now && due - now < wait_ns)
			wait_ns = due - now;
		else if (due <= now)
			wait_ns = 0;
		sl_poll_ns(&p, 1, wait_ns);
		n = stage_receive(st, true);
		(void)stage_tick_and_send(st, true);
	}
	return n < 0 ? n : (int)st->ev_n;
}

bool
sl_stage_next(struct sl_stage *st, struct sl_stage_event *ev)
{
	struct sl_stage_ev *e;
	struct sl_stage_stream *s;

	stage_release(st);
	e = st->ev_head;
	if (e == NULL)
		return false;
	st->ev_head = e->next;
	if (st->ev_head == NULL)
		st->ev_tail = NULL;
	st->ev_n--;
	st->cur = e;
	s = e->stream;
	/* What was answered to the input before this fragment goes as a
	 * fragment of its own: a stage that answers token for token then
	 * answers fragment for fragment, as sluice-engine does. */
	if (s->fill != NULL && s->b.hdr.token_count > 0 &&
	    e->kind != SL_STAGE_OPEN)
		out_close(st, s, 0, 0);
	memset(ev, 0, sizeof(*ev));
	ev->kind = (enum sl_stage_event_kind)e->kind;
	ev->stream = s;
	sl_token_iter_init(&ev->tokens, e->payload, e->payload_len);
	ev->abort_reason = e->abort_reason;
	ev->child_count = e->child_count;
	s->id.send_ns = e->send_ns;
	st->c.events++;
	if (e->kind == SL_STAGE_END || e->kind == SL_STAGE_ABORT ||
	    e->kind == SL_STAGE_CHILDREN) {
		if (e->kind == SL_STAGE_CHILDREN)
			st->c.children_events++;
		s->in_ended = true;
		stream_maybe_done(st, s);
	}
	return true;
}

const struct sl_frag_hdr *
sl_stage_stream_hdr(const struct sl_stage_stream *s)
{
	return &s->id;
}

int
sl_stage_send(struct sl_stage *st, struct sl_stage_stream *s, uint32_t id,
	      const char *text, size_t len)
{
	struct sl_stage_frag *spare[SL_STAGE_PIECES_MAX];
	unsigned int pieces = 0, n_spare = 0, used = 0, i;
	size_t off, room, need = 0;
	bool full = false;

	if (s->out_ended) {
		st->c.output_ended++;
		return -EPIPE;
	}
	if (len > UINT16_MAX) {
		st->c.send_einval++;
		return -EINVAL;
	}
	if (len > 0 && !sl_utf8_valid((const uint8_t *)text, len)) {
		st->c.send_eilseq++;
		return -EILSEQ;
	}
	/* What it takes: the pieces, and the fragments they start. */
	room = s->fill != NULL ? s->b.cap - s->b.len : 0;
	off = 0;
	do {
		size_t p = piece_len(text + off, len - off);

		if (SL_WIRE_TOKEN_HDR_LEN + p > room) {
			n_spare++;
			need += SL_WIRE_HDR_LEN;
			room = SL_WIRE_PAYLOAD_MAX;
		}
		room -= SL_WIRE_TOKEN_HDR_LEN + p;
		need += SL_WIRE_TOKEN_HDR_LEN + p;
		off += p;
		pieces++;
	} while (off < len);
	if (st->out_bytes + need > st->cfg.out_bytes_max) {
		st->c.send_enobufs++;
		return -ENOBUFS;
	}
	for (i = 0; i < n_spare; i++) {
		spare[i] = frag_alloc(st);
		if (spare[i] == NULL) {
			while (i > 0)
				free(spare[--i]);
			return -ENOMEM;
		}
	}
	off = 0;
	for (i = 0; i < pieces; i++) {
		size_t p = piece_len(text + off, len - off);

		if (s->fill != NULL &&
		    sl_wire_builder_add(&s->b, i == 0 ? id : 0, text + off,
					p) == 0) {
			st->out_bytes += SL_WIRE_TOKEN_HDR_LEN + p;
			off += p;
			continue;
		}
		if (s->fill != NULL) {
			out_close(st, s, 0, 0);
			full = true;
		}
		out_begin(st, s, spare[used++]);
		/* A piece always fits an empty fragment. */
		(void)sl_wire_builder_add(&s->b, i == 0 ? id : 0, text + off,
					  p);
		st->out_bytes += SL_WIRE_TOKEN_HDR_LEN + p;
		off += p;
	}
	st->c.tokens_out++;
	if (pieces > 1)
		st->c.tokens_split++;
	/* A full fragment goes now: latency. */
	if (full)
		(void)ready_flush(st, sl_now_ns());
	return 0;
}

/* End @s's output with @flags: the tokens not sent yet go with it. */
static int
stage_close_output(struct sl_stage *st, struct sl_stage_stream *s,
		   uint8_t flags, uint8_t reason)
{
	if (s->fill == NULL) {
		struct sl_stage_frag *f = frag_alloc(st);

		if (f == NULL)
			return -ENOMEM;
		out_begin(st, s, f);
	}
	out_close(st, s, flags, reason);
	s->out_ended = true;
	stream_maybe_done(st, s);
	return 0;
}

int
sl_stage_end(struct sl_stage *st, struct sl_stage_stream *s)
{
	int rc;

	if (s->out_ended) {
		if (!s->counted)
			return 0; /* an announcement owes nothing */
		st->c.output_ended++;
		return -EPIPE;
	}
	rc = stage_close_output(st, s, SL_FRAG_F_END, 0);
	if (rc == 0)
		st->c.ends_out++;
	return rc;
}

int
sl_stage_abort(struct sl_stage *st, struct sl_stage_stream *s, uint8_t reason)
{
	int rc;

	if (reason >= SL_ABORT_MAX) {
		st->c.abort_einval++;
		return -EINVAL;
	}
	if (s->out_ended) {
		if (!s->counted)
			return 0;
		st->c.output_ended++;
		return -EPIPE;
	}
	rc = stage_close_output(st, s, SL_FRAG_F_ABORT, reason);
	if (rc == 0)
		st->c.aborts_out++;
	return rc;
}

void
sl_stage_set_pause(struct sl_stage *st, bool pause)
{
	sl_rel_set_pause(st->rel, pause, sl_now_ns());
}

void
sl_stage_counters(const struct sl_stage *st, struct sl_stage_counters *c)
{
	*c = st->c;
	c->rel = *sl_rel_counters(st->rel);
}

void
sl_stage_close(struct sl_stage *st)
{
	struct sl_link *l;
	uint64_t end;

	if (st == NULL)
		return;
	stage_release(st);
	for (l = st->all.next; l != &st->all; l = l->next) {
		struct sl_stage_stream *s =
			sl_link_entry(l, struct sl_stage_stream, all);

		if (!s->out_ended &&
		    stage_close_output(st, s, SL_FRAG_F_ABORT,
				       SL_ABORT_SHUTDOWN) == 0) {
			st->c.aborts_out++;
			st->c.shutdown_aborts++;
		}
	}
	/* Until what was sent is ACKed (bounded): resends as WIRE.md says;
	 * what arrives meanwhile is not served. */
	end = sl_now_ns() + SL_STAGE_LINGER_NS;
	for (;;) {
		struct pollfd p = {.fd = st->sock->fd, .events = POLLIN};
		struct sl_rel_usage u;
		uint64_t due, now;

		(void)stage_receive(st, false);
		due = stage_tick_and_send(st, false);
		sl_rel_usage(st->rel, &u);
		now = sl_now_ns();
		if ((u.tx_pending == 0 && st->ready_head == NULL) || now >= end)
			break;
		if (st->ready_head != NULL)
			p.events |= POLLOUT;
		if (due > end)
			due = end;
		sl_poll_ns(&p, 1, due > now ? due - now : 0);
	}
	while (st->ev_head != NULL) {
		struct sl_stage_ev *e = st->ev_head;

		st->ev_head = e->next;
		if (e->heap)
			free(e);
	}
	while (!sl_link_empty(&st->all))
		stream_free(st, sl_link_entry(st->all.next,
					      struct sl_stage_stream, all));
	while (st->ready_head != NULL)
		ready_pop(st);
	sl_rel_free(st->rel);
	sl_sock_close(st->sock);
	free(st->rx);
	free(st->bucket);
	free(st);
}
