/* SPDX-License-Identifier: MIT */
/*
 * dpdk.c - sluicegen's DPDK mode (--dpdk-iface IF | --dpdk-vdev SPEC): a
 * pktgen-style open-loop generator on a DPDK port of its own that
 * measures the latency one hop through sluiced adds, percentiles up to
 * p99.99, corrected for coordinated omission.
 *
 * The generator plays both ends of a one-stage pipeline. As the client
 * (--bind IP[:PORT]) it sends request streams to sluiced (--server);
 * the pipeline's one stage lists the generator's instance address
 * (--instance), so sluiced forwards every fragment back to this process
 * (hop 1: client -> sluiced -> instance). The instance echoes each
 * fragment at once, and sluiced returns the echo to the client (hop 2:
 * instance -> sluiced -> client). Both addresses live on the
 * generator's port: it answers ARP for them, resolves sluiced's MAC by
 * ARP (or --dst-mac), answers sluiced's PROBEs as an instance does, and
 * runs each hop's loss repair of proto/WIRE.md: NACKs for gaps (no
 * reorder window: an early fragment is dropped and asked for again),
 * ACKs for every END or ABORT, END resends until ACKed, resends for
 * sluiced's NACKs (rebuilt, byte for byte: a fragment is a function of
 * its request id and seq), ABORT (LOST) for a NACK of a stream it no
 * longer has. A request is forgotten once all four of its streams are
 * settled; a resend that arrives later is counted as late and its END
 * ACKed again.
 *
 * Open loop: fragment i of the schedule is due at start + i / rate (or
 * after Poisson gaps), whatever has come back; its send_ns carries that
 * scheduled time on CLOCK_MONOTONIC, not the moment it left, so a
 * fragment the generator or a full ring held back counts its wait too:
 * the correction for coordinated omission. Receive times are one TSC
 * read per receive burst, on the same clock. Per fragment:
 *   hop         instance receive - scheduled send (one hop, CO-corrected)
 *   return hop  client receive - echo send (the echo leaves in the burst
 *               that received the fragment; its send_ns is that time)
 *   round trip  client receive - scheduled send (two hops)
 *   send lag    actual send - scheduled send (the generator's own delay)
 * The baseline is the round trip of an ARP request through sluiced's
 * ARP responder before the run (--calibrate N, closed loop, idle): the
 * same two veth crossings, rings and poll loops with no fragment path;
 * "added" is a hop percentile less the same percentile of the baseline.
 *
 * Traffic: N lanes (--streams), each sending request after request of K
 * fragments (--fragments-per-request) of T tokens (--tokens-per-
 * fragment), END on the last; fragment i of the schedule is lane
 * i mod N's. Its payload is a tag token "<request id hex>:<seq hex>"
 * then T-1 pseudo-random words drawn from (id, seq), so the instance and
 * the client check every byte (and the seq) without keeping copies.
 *
 * --find-capacity runs trials of --capacity-trial seconds: from
 * --capacity-start doubling while a trial is clean (halving, down to a
 * sixteenth of it, while not), then bisecting until the bounds are
 * within --capacity-step. A trial is clean when every
 * fragment came back whole, first time: none lost, corrupted or
 * aborted, no NACK either way, no END resent, and the generator kept
 * its schedule (its last send left at most 1% of the trial late).
 *
 * One lcore (EAL -l), single-threaded, busy polling.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <limits.h>

#include <rte_arp.h>
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_ether.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>

#include "gen.h"
#include "sl_port.h"

#define GD_BURST 32u
#define GD_TXQ 4096              /* frames waiting for the port */
#define GD_POOL_MBUFS 16383      /* 2 KiB each: the rx ring and GD_TXQ */
#define GD_AF_PACKET_FRAMES 4096 /* kernel ring, as sluiced's */
#define GD_EAL_MB "256"
#define GD_TAG_LEN 25 /* 16 hex digits, ':', 8 hex digits */
#define GD_WORD_MAX 8
#define GD_TOKENS_MAX 64 /* fits a fragment: 31 + 63 x 14 bytes */
#define GD_MS 1000000ull
#define GD_TIMER_NS (1 * GD_MS)         /* repair timers looked at this often */
#define GD_ARP_RETRY_NS (100 * GD_MS)   /* ARP requests until answered */
#define GD_ARP_WAIT_NS (5000 * GD_MS)   /* sluiced must answer by then */
#define GD_PROBE_WAIT_NS (3000 * GD_MS) /* a PROBE expected by then */
#define GD_READY_MIN_NS (300 * GD_MS)   /* TSC measured over at least this */
#define GD_PING_TIMEOUT_NS (10 * GD_MS)
#define GD_TRIAL_PAUSE_NS (1200 * GD_MS) /* sluiced's linger runs out */
/* After a trial that was not clean: sluiced's streams of the requests
 * given up idle out (flows.idle_timeout_ms, 5 s by default) before the
 * next trial, which would otherwise pay for their resends. */
#define GD_TRIAL_RECOVER_NS (6000 * GD_MS)
#define GD_TRIALS_MAX 24
#define GD_KEPT_LAG 0.01 /* last send's lag / the run's length */

/* ------------------------------------------------------------------ */
/* Histogram                                                           */
/* ------------------------------------------------------------------ */

/*
 * HdrHistogram-like, log-linear: values below 2^GD_SUB_BITS ns have a
 * bucket each; above, each power of two [2^e, 2^(e+1)) is cut into
 * 2^GD_SUB_BITS equal buckets, and a percentile is its bucket's middle,
 * so within 1/256 (0.4%) of the recorded value. Up to 2^40 ns (18 min);
 * above, the last bucket (min and max stay exact).
 */
#define GD_SUB_BITS 7
#define GD_SUB (1u << GD_SUB_BITS)
#define GD_TOP 40
#define GD_HIST_BUCKETS ((GD_TOP - GD_SUB_BITS + 1) * GD_SUB)

struct gd_hist {
	uint64_t count;
	uint64_t sum;
	uint64_t min;
	uint64_t max;
	uint64_t bucket[GD_HIST_BUCKETS];
};

static void
gd_hist_init(struct gd_hist *h)
{
	memset(h, 0, sizeof(*h));
	h->min = UINT64_MAX;
}

static unsigned int
gd_hist_index(uint64_t v)
{
	unsigned int e;

	if (v < GD_SUB)
		return (unsigned int)v;
	e = 63u - (unsigned int)__builtin_clzll(v);
	if (e >= GD_TOP)
		return GD_HIST_BUCKETS - 1;
	return (e - GD_SUB_BITS + 1) * GD_SUB +
	       (unsigned int)((v >> (e - GD_SUB_BITS)) & (GD_SUB - 1));
}

/* The middle of bucket @i. */
static uint64_t
gd_hist_value(unsigned int i)
{
	unsigned int g = i / GD_SUB, sub = i % GD_SUB, e;
	uint64_t width;

	if (g == 0)
		return sub;
	e = g + GD_SUB_BITS - 1;
	width = 1ull << (e - GD_SUB_BITS);
	return (1ull << e) + sub * width + width / 2;
}

static void
gd_hist_record(struct gd_hist *h, uint64_t v)
{
	h->count++;
	h->sum += v;
	if (v < h->min)
		h->min = v;
	if (v > h->max)
		h->max = v;
	h->bucket[gd_hist_index(v)]++;
}

/* The value of rank ceil(p/100 x count), clamped to [min, max]; p >= 100
 * is max itself; 0 when empty. */
static uint64_t
gd_hist_pct(const struct gd_hist *h, double p)
{
	uint64_t rank, seen = 0, v;

	if (h->count == 0)
		return 0;
	if (p >= 100.0)
		return h->max;
	rank = (uint64_t)ceil(p / 100.0 * (double)h->count);
	if (rank == 0)
		rank = 1;
	for (unsigned int i = 0; i < GD_HIST_BUCKETS; i++) {
		seen += h->bucket[i];
		if (seen >= rank) {
			v = gd_hist_value(i);
			if (v < h->min)
				v = h->min;
			if (v > h->max)
				v = h->max;
			return v;
		}
	}
	return h->max;
}

static double
gd_hist_mean(const struct gd_hist *h)
{
	return h->count ? (double)h->sum / (double)h->count : 0.0;
}

/* ------------------------------------------------------------------ */
/* State                                                               */
/* ------------------------------------------------------------------ */

/* A stream we receive: delivered in order, no reorder window. */
struct gd_rx {
	uint32_t next;     /* next seq expected */
	uint32_t hi;       /* one past the highest seq seen */
	uint64_t nack_due; /* TSC; 0: no gap open */
	uint64_t nack_ivl;
	uint8_t nack_tries;
	bool ended;     /* END or ABORT delivered, or given up */
	bool known;     /* stage and from_stage below are set */
	uint16_t stage; /* identity as received, for NACKs */
	uint16_t from_stage;
};

/* A stream we send: its END (or ABORT) until ACKed. */
struct gd_tx {
	uint64_t end_due; /* TSC; 0: END not sent, or settled */
	uint64_t end_ivl;
	uint8_t tries;
	bool end_sent;
	bool settled; /* ACKed, or given up */
	bool abort;   /* ended by a tokenless ABORT (abort_reason) */
	uint8_t abort_reason;
	uint32_t abort_seq;
};

/* One request: the client's stream, the instance's input and output,
 * the client's result. */
struct gd_req {
	uint64_t id;  /* the client's request id; 0: slot free */
	uint64_t sid; /* sluiced's id for it at the instance; 0: not seen */
	uint64_t last_tsc;  /* last activity: drain-ms without gives up */
	uint32_t sent;      /* client fragments sent */
	uint32_t out_sent;  /* echoes sent */
	uint16_t out_stage; /* the echo's stage (the input's) */
	bool aborted;
	bool bad; /* a fragment failed a check */
	struct gd_tx ctx, otx;
	struct gd_rx irx, crx;
};

struct gd_counters {
	uint64_t requests;
	uint64_t completed;
	uint64_t requests_lost; /* not settled within drain-ms (or evicted) */
	uint64_t evicted;       /* slot needed again first */
	uint64_t aborted;
	uint64_t aborted_by[SL_ABORT_MAX + 1];
	uint64_t fragments;          /* sent by the client, first time */
	uint64_t skipped;            /* due, but their request had ended */
	uint64_t fragments_instance; /* delivered at the instance */
	uint64_t fragments_received; /* delivered at the client */
	uint64_t corrupted_instance;
	uint64_t corrupted;
	uint64_t duplicates; /* data fragments already delivered */
	uint64_t gaps;       /* data fragments past a gap, dropped, NACKed */
	uint64_t late;       /* for requests already settled: resends */
	uint64_t unknown;    /* fragments of no request of ours */
	uint64_t instance_aborts; /* ABORTs sluiced sent the instance */
	uint64_t nacks_sent;
	uint64_t nacks_received;
	uint64_t resent;
	uint64_t end_resends;
	uint64_t end_gave_up;
	uint64_t nack_gave_up;
	uint64_t acks_sent;
	uint64_t acks_received;
	uint64_t lost_aborts_sent;
	uint64_t tx_dropped; /* the port would not take them */
};

struct gd_run {
	double rate;
	uint64_t total;      /* fragments in the schedule */
	uint64_t next;       /* next one to send */
	double next_tsc;     /* when it is due */
	double period_tsc;   /* constant arrivals: TSC between two */
	uint64_t start_tsc;  /* the first is due */
	uint64_t warm_index; /* the first fragment after the warm-up */
	uint64_t warm_ns;    /* when it is due: samples of fragments due
			      * before don't count (UINT64_MAX: none yet) */
	uint64_t first_send_tsc, last_send_tsc, end_tsc;
	uint64_t last_due_tsc; /* when the last one sent was due */
	uint64_t reqno0;       /* its first request */
	bool interrupted;
	struct gd_counters c;
	struct gd_hist hop, ret, rtt, lag;
};

struct gd_map {
	uint64_t *key; /* sluiced's id; 0: empty */
	uint64_t *val; /* request number */
	uint64_t mask;
};

struct gd {
	const struct gen_opts *o;
	uint16_t port;
	struct rte_mempool *pool;
	uint8_t mac[6];
	uint8_t server_mac[6];
	bool have_server_mac;
	struct sl_frame_ends from_client, from_inst;
	uint32_t client_ip, inst_ip, server_ip;
	uint16_t client_port, inst_port, server_port;
	/* Clocks: TSC, converted to CLOCK_MONOTONIC ns. */
	uint64_t tsc0, mono0, raw0;
	double ns_per_tsc;
	uint64_t timer_tsc;
	uint64_t next_timer;
	/* Requests: slot = number & mask. */
	uint64_t id_hi; /* high 32 bits of every request id */
	uint32_t lanes, k, tokens;
	struct gd_req *req;
	uint64_t mask;
	uint64_t *sched_ns; /* [slot * k + seq] */
	uint64_t *echo_ns;
	struct gd_map map; /* sluiced's id -> request number */
	uint64_t head;     /* next request number */
	uint64_t tail;     /* below it every request is settled */
	uint64_t n_open;
	struct gd_run *run; /* where counts go */
	struct gd_run idle; /* outside any run */
	struct rte_mbuf *txq[GD_TXQ];
	unsigned int n_tx;
	uint16_t ip_id;
	uint64_t rng;
	/* ARP and liveness */
	bool arp_client, arp_inst; /* sluiced answered each address */
	uint64_t probes;
	uint64_t arp_replies, arp_requests;
	uint64_t bad_frames, foreign;
	bool ping_out;
	uint64_t ping_tsc;
	uint64_t pings_lost;
	struct gd_hist base;
	uint8_t scratch[SL_WIRE_HDR_LEN + SL_WIRE_PAYLOAD_MAX];
};

/* ------------------------------------------------------------------ */
/* Clocks                                                              */
/* ------------------------------------------------------------------ */

static uint64_t
gd_clock(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t
gd_ns(const struct gd *d, uint64_t tsc)
{
	if (tsc < d->tsc0)
		return d->mono0 -
		       (uint64_t)((double)(d->tsc0 - tsc) * d->ns_per_tsc);
	return d->mono0 + (uint64_t)((double)(tsc - d->tsc0) * d->ns_per_tsc);
}

static uint64_t
gd_tsc_of(const struct gd *d, uint64_t ns)
{
	return (uint64_t)((double)ns / d->ns_per_tsc);
}

/* The TSC's rate from CLOCK_MONOTONIC_RAW since gd_clock_start(). */
static void
gd_clock_start(struct gd *d)
{
	d->tsc0 = rte_rdtsc();
	d->mono0 = gd_clock(CLOCK_MONOTONIC);
	d->raw0 = gd_clock(CLOCK_MONOTONIC_RAW);
	d->ns_per_tsc = 1e9 / (double)rte_get_tsc_hz();
}

static void
gd_clock_measure(struct gd *d)
{
	uint64_t tsc = rte_rdtsc(), raw = gd_clock(CLOCK_MONOTONIC_RAW);

	if (tsc > d->tsc0 && raw > d->raw0)
		d->ns_per_tsc =
			(double)(raw - d->raw0) / (double)(tsc - d->tsc0);
	d->timer_tsc = gd_tsc_of(d, GD_TIMER_NS);
}

/* ------------------------------------------------------------------ */
/* Requests                                                            */
/* ------------------------------------------------------------------ */

static uint64_t
gd_id(const struct gd *d, uint64_t reqno)
{
	return d->id_hi | (reqno & 0xffffffffull);
}

static struct gd_req *
gd_slot(const struct gd *d, uint64_t reqno)
{
	return &d->req[reqno & d->mask];
}

/* The open request of client id @id, or NULL. */
static struct gd_req *
gd_find(const struct gd *d, uint64_t id)
{
	struct gd_req *r;

	if ((id & ~0xffffffffull) != d->id_hi)
		return NULL;
	r = gd_slot(d, id & 0xffffffffull);
	return r->id == id ? r : NULL;
}

/* A request of ours that is over: what still comes for it is a late
 * copy (a resend that crossed our ACK). */
static bool
gd_past(const struct gd *d, uint64_t id)
{
	return (id & ~0xffffffffull) == d->id_hi &&
	       (id & 0xffffffffull) < d->head;
}

static uint64_t
gd_map_home(const struct gd_map *m, uint64_t key)
{
	uint64_t s = key;

	return splitmix64(&s) & m->mask;
}

static bool
gd_map_find(const struct gd_map *m, uint64_t key, uint64_t *val)
{
	uint64_t i = gd_map_home(m, key);

	while (m->key[i] != 0) {
		if (m->key[i] == key) {
			*val = m->val[i];
			return true;
		}
		i = (i + 1) & m->mask;
	}
	return false;
}

/* Room: twice the request slots, and a key is in at most once. */
static void
gd_map_insert(struct gd_map *m, uint64_t key, uint64_t val)
{
	uint64_t i = gd_map_home(m, key);

	while (m->key[i] != 0)
		i = (i + 1) & m->mask;
	m->key[i] = key;
	m->val[i] = val;
}

static void
gd_map_remove(struct gd_map *m, uint64_t key)
{
	uint64_t hole = gd_map_home(m, key), i;

	while (m->key[hole] != key) {
		if (m->key[hole] == 0)
			return;
		hole = (hole + 1) & m->mask;
	}
	i = hole;
	for (;;) {
		uint64_t home;

		i = (i + 1) & m->mask;
		if (m->key[i] == 0)
			break;
		home = gd_map_home(m, m->key[i]);
		if (((i - home) & m->mask) >= ((i - hole) & m->mask)) {
			m->key[hole] = m->key[i];
			m->val[hole] = m->val[i];
			hole = i;
		}
	}
	m->key[hole] = 0;
}

static void
gd_free(struct gd *d, struct gd_req *r)
{
	struct gd_counters *c = &d->run->c;

	if (!r->aborted && r->crx.ended && r->crx.next == d->k && !r->bad)
		c->completed++;
	if (r->sid != 0)
		gd_map_remove(&d->map, r->sid);
	r->id = 0;
	d->n_open--;
}

/* Settled: nothing more to send, receive or wait for. */
static void
gd_settle(struct gd *d, struct gd_req *r)
{
	if (r->aborted || (r->sent == d->k && r->ctx.settled && r->crx.ended &&
			   r->irx.ended && r->otx.settled))
		gd_free(d, r);
}

static void
gd_give_up(struct gd *d, struct gd_req *r)
{
	d->run->c.requests_lost++;
	r->bad = true;
	gd_free(d, r);
}

static void
gd_open(struct gd *d, uint64_t reqno, uint64_t now)
{
	struct gd_req *r = gd_slot(d, reqno);

	if (r->id != 0) {
		d->run->c.evicted++;
		gd_give_up(d, r);
	}
	memset(r, 0, sizeof(*r));
	r->id = gd_id(d, reqno);
	r->last_tsc = now;
	d->n_open++;
	d->run->c.requests++;
	if (reqno >= d->head)
		d->head = reqno + 1;
}

/* ------------------------------------------------------------------ */
/* Fragments                                                           */
/* ------------------------------------------------------------------ */

static const char gd_hex[] = "0123456789abcdef";

/* The tokens of fragment @seq of request @id: a tag, then words. */
static int
gd_payload(struct sl_wire_builder *b, uint64_t id, uint32_t seq,
	   uint32_t tokens)
{
	char tag[GD_TAG_LEN], word[GD_WORD_MAX];
	uint64_t s = id ^ ((uint64_t)seq * 0x9e3779b97f4a7c15ull);
	int rc;

	for (int i = 0; i < 16; i++)
		tag[i] = gd_hex[(id >> (60 - 4 * i)) & 15];
	tag[16] = ':';
	for (int i = 0; i < 8; i++)
		tag[17 + i] = gd_hex[(seq >> (28 - 4 * i)) & 15];
	rc = sl_wire_builder_add(b, seq, tag, GD_TAG_LEN);
	for (uint32_t j = 1; j < tokens && rc == 0; j++) {
		uint64_t h = splitmix64(&s);
		unsigned int len = 1 + (unsigned int)(h % GD_WORD_MAX);

		for (unsigned int k = 0; k < len; k++)
			word[k] = (char)('a' + ((h >> (8 + 6 * k)) & 63) % 26);
		rc = sl_wire_builder_add(b, (uint32_t)(h >> 32), word, len);
	}
	return rc;
}

/* The request id and seq a fragment's tag names; false if it has none. */
static bool
gd_tag(const struct sl_frag_hdr *h, const uint8_t *payload, uint64_t *id,
       uint32_t *seq)
{
	struct sl_token_iter it;
	struct sl_token t;
	uint64_t v = 0;

	if (h->token_count == 0)
		return false;
	sl_token_iter_init(&it, payload, h->payload_len);
	if (!sl_token_next(&it, &t) || t.len != GD_TAG_LEN || t.text[16] != ':')
		return false;
	for (int i = 0; i < GD_TAG_LEN; i++) {
		const char *p;

		if (i == 16) {
			*id = v;
			v = 0;
			continue;
		}
		p = memchr(gd_hex, t.text[i], 16);
		if (p == NULL)
			return false;
		v = (v << 4) | (uint64_t)(p - gd_hex);
	}
	*seq = (uint32_t)v;
	return true;
}

/* Does fragment @h/@payload carry exactly fragment @seq of @id? */
static bool
gd_payload_ok(struct gd *d, const struct sl_frag_hdr *h, const uint8_t *payload,
	      uint64_t id)
{
	struct sl_frag_hdr x = {.version = SL_WIRE_VERSION, .depth = 1};
	struct sl_wire_builder b;
	size_t len;

	if (h->token_count != d->tokens ||
	    sl_wire_builder_init(&b, d->scratch, sizeof(d->scratch), &x) < 0 ||
	    gd_payload(&b, id, h->seq, d->tokens) < 0)
		return false;
	len = sl_wire_builder_finish(&b) - SL_WIRE_HDR_LEN;
	return len == h->payload_len &&
	       memcmp(d->scratch + SL_WIRE_HDR_LEN, payload, len) == 0;
}

static void
gd_tx_flush(struct gd *d)
{
	unsigned int sent = 0;

	while (sent < d->n_tx) {
		uint16_t n = rte_eth_tx_burst(
			d->port, 0, d->txq + sent,
			(uint16_t)RTE_MIN(d->n_tx - sent, GD_BURST));

		if (n == 0)
			break;
		sent += n;
	}
	if (sent > 0 && sent < d->n_tx)
		memmove(d->txq, d->txq + sent,
			(d->n_tx - sent) * sizeof(d->txq[0]));
	d->n_tx -= sent;
}

static void
gd_tx_push(struct gd *d, struct rte_mbuf *m)
{
	if (d->n_tx == GD_TXQ)
		gd_tx_flush(d);
	if (d->n_tx == GD_TXQ) {
		/* The port takes nothing: the repair will ask again. */
		d->run->c.tx_dropped++;
		rte_pktmbuf_free(m);
		return;
	}
	d->txq[d->n_tx++] = m;
}

/* A frame to fill: where its datagram starts and how much room it has;
 * NULL when the pool is empty (counted as dropped). */
static struct rte_mbuf *
gd_frame_alloc(struct gd *d, uint8_t **dgram, size_t *room)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(d->pool);

	if (m == NULL) {
		d->run->c.tx_dropped++;
		return NULL;
	}
	*dgram = rte_pktmbuf_mtod(m, uint8_t *) + SL_WIRE_FRAME_HDR_OFF;
	*room = rte_pktmbuf_tailroom(m) - SL_WIRE_FRAME_HDR_OFF;
	return m;
}

static void
gd_frame_send(struct gd *d, struct rte_mbuf *m, const struct sl_frame_ends *e,
	      size_t dgram_len)
{
	uint8_t *p = rte_pktmbuf_mtod(m, uint8_t *);
	size_t hlen =
		sl_wire_frame_write(p, e, (uint16_t)dgram_len, 0, d->ip_id++);

	m->data_len = (uint16_t)(hlen + dgram_len);
	m->pkt_len = m->data_len;
	gd_tx_push(d, m);
}

/* A control fragment (NACK, ACK, PROBE) for stream @stream from @e. */
static void
gd_send_ctl(struct gd *d, const struct sl_frame_ends *e,
	    const struct sl_frag_hdr *stream, uint8_t flags, uint32_t seq,
	    uint32_t count, uint64_t send_ns)
{
	uint8_t *dg;
	size_t room;
	struct rte_mbuf *m = gd_frame_alloc(d, &dg, &room);

	if (m == NULL)
		return;
	gd_frame_send(
		d, m, e,
		sl_wire_encode_control(dg, stream, flags, seq, count, send_ns));
}

/* A data fragment: header @h, payload of (@id, h->seq) unless tokenless. */
static void
gd_send_data(struct gd *d, const struct sl_frame_ends *e,
	     const struct sl_frag_hdr *h, uint64_t id, bool tokens)
{
	struct sl_wire_builder b;
	uint8_t *dg;
	size_t room;
	struct rte_mbuf *m = gd_frame_alloc(d, &dg, &room);

	if (m == NULL)
		return;
	if (sl_wire_builder_init(&b, dg, room, h) < 0 ||
	    (tokens && gd_payload(&b, id, h->seq, d->tokens) < 0)) {
		rte_pktmbuf_free(m); /* checked at start: cannot happen */
		d->run->c.tx_dropped++;
		return;
	}
	gd_frame_send(d, m, e, sl_wire_builder_finish(&b));
}

/* The identity of a stream with ancestry [@a0]. */
static void
gd_stream(const struct gd *d, struct sl_frag_hdr *h, uint16_t stage,
	  uint16_t from_stage, uint64_t a0)
{
	memset(h, 0, sizeof(*h));
	h->version = SL_WIRE_VERSION;
	h->pipeline = d->o->pipeline;
	h->tenant = d->o->tenant;
	h->stage = stage;
	h->from_stage = from_stage;
	h->depth = 1;
	h->ancestry[0] = a0;
}

/* Fragment @seq of @r's request stream, as first sent. */
static void
gd_send_client(struct gd *d, struct gd_req *r, uint32_t seq)
{
	struct sl_frag_hdr h;

	gd_stream(d, &h, 0, 0, r->id);
	h.seq = seq;
	h.flags = seq + 1 == d->k ? SL_FRAG_F_END : 0;
	h.send_ns = d->sched_ns[(r - d->req) * d->k + seq];
	gd_send_data(d, &d->from_client, &h, r->id, true);
}

/* Echo @seq of @r (or its ABORT), as first sent. */
static void
gd_send_echo(struct gd *d, struct gd_req *r, uint32_t seq)
{
	struct sl_frag_hdr h;
	bool abort = r->otx.abort && seq == r->otx.abort_seq;

	gd_stream(d, &h, r->out_stage, r->out_stage, r->sid);
	h.seq = seq;
	h.send_ns = d->echo_ns[(r - d->req) * d->k + (seq % d->k)];
	if (abort) {
		h.flags = SL_FRAG_F_ABORT;
		h.abort_reason = r->otx.abort_reason;
	} else if (seq + 1 == d->k) {
		h.flags = SL_FRAG_F_END;
	}
	gd_send_data(d, &d->from_inst, &h, r->id, !abort);
}

static void
gd_end_sent(struct gd *d, struct gd_tx *t, uint64_t now)
{
	t->end_sent = true;
	t->tries = 0;
	t->end_ivl = gd_tsc_of(d, SL_RTX_RTO_MS * GD_MS);
	t->end_due = now + t->end_ivl;
}

/* ------------------------------------------------------------------ */
/* Receiving                                                           */
/* ------------------------------------------------------------------ */

enum gd_verdict { GD_DELIVER, GD_DUP, GD_GAP };

static void
gd_nack(struct gd *d, const struct sl_frame_ends *e, const struct gd_rx *rx,
	uint64_t a0, uint64_t now)
{
	struct sl_frag_hdr s;

	gd_stream(d, &s, rx->stage, rx->from_stage, a0);
	gd_send_ctl(d, e, &s, SL_FRAG_F_NACK, rx->next, rx->hi - rx->next,
		    gd_ns(d, now));
	d->run->c.nacks_sent++;
}

/* Where data fragment @h stands in @rx; a gap is NACKed at once. */
static enum gd_verdict
gd_rx_accept(struct gd *d, struct gd_rx *rx, const struct sl_frag_hdr *h,
	     const struct sl_frame_ends *e, uint64_t a0, uint64_t now)
{
	if (!rx->known) {
		rx->known = true;
		rx->stage = h->stage;
		rx->from_stage = h->from_stage;
	}
	if (rx->ended || h->seq < rx->next) {
		d->run->c.duplicates++;
		return GD_DUP;
	}
	if (h->seq > rx->next) {
		d->run->c.gaps++;
		if (h->seq + 1 > rx->hi)
			rx->hi = h->seq + 1;
		if (rx->nack_due == 0) {
			gd_nack(d, e, rx, a0, now);
			rx->nack_tries = 0;
			rx->nack_ivl = gd_tsc_of(d, SL_RTX_NACK_MS * GD_MS);
			rx->nack_due = now + rx->nack_ivl;
		}
		return GD_GAP;
	}
	rx->next++;
	if (rx->hi < rx->next)
		rx->hi = rx->next;
	if (rx->nack_due != 0) {
		if (rx->next >= rx->hi) {
			rx->nack_due = 0;
		} else { /* progress: the repeats start over */
			rx->nack_tries = 0;
			rx->nack_ivl = gd_tsc_of(d, SL_RTX_NACK_MS * GD_MS);
			rx->nack_due = now + rx->nack_ivl;
		}
	}
	return GD_DELIVER;
}

static void
gd_ack(struct gd *d, const struct sl_frame_ends *e, const struct sl_frag_hdr *h,
       uint64_t now)
{
	gd_send_ctl(d, e, h, SL_FRAG_F_ACK, h->seq, 0, gd_ns(d, now));
	d->run->c.acks_sent++;
}

/* A NACK for a stream we no longer have: its end is ABORT (LOST). */
static void
gd_lost_abort(struct gd *d, const struct sl_frame_ends *e,
	      const struct sl_frag_hdr *nack, uint64_t now)
{
	struct sl_frag_hdr h = *nack;

	h.flags = SL_FRAG_F_ABORT;
	h.abort_reason = SL_ABORT_LOST;
	h.child_count = 0;
	h.send_ns = gd_ns(d, now);
	gd_send_data(d, e, &h, 0, false);
	d->run->c.lost_aborts_sent++;
}

static bool
gd_recordable(const struct gd *d, uint64_t sched_ns)
{
	return sched_ns >= d->run->warm_ns;
}

/* Data for the instance: a fragment sluiced forwards on stage 1. */
static void
gd_instance_data(struct gd *d, const struct sl_frag_hdr *h,
		 const uint8_t *payload, uint64_t now, uint64_t now_ns)
{
	struct gd_counters *c = &d->run->c;
	uint64_t sid = h->ancestry[0], reqno, id = 0;
	uint32_t tag_seq = 0;
	struct gd_req *r = NULL;
	bool end = h->flags & (SL_FRAG_F_END | SL_FRAG_F_ABORT);

	if (gd_map_find(&d->map, sid, &reqno)) {
		r = gd_slot(d, reqno);
	} else if (sid != 0 && gd_tag(h, payload, &id, &tag_seq) &&
		   (r = gd_find(d, id)) != NULL && r->sid == 0) {
		r->sid = sid;
		r->out_stage = h->stage;
		gd_map_insert(&d->map, sid, id & 0xffffffffull);
	} else {
		r = NULL;
	}
	if (r == NULL) {
		if (id != 0 && gd_past(d, id) && gd_find(d, id) == NULL)
			c->late++;
		else
			c->unknown++;
		if (end) /* stop sluiced's resends all the same */
			gd_ack(d, &d->from_inst, h, now);
		return;
	}
	r->last_tsc = now;
	switch (gd_rx_accept(d, &r->irx, h, &d->from_inst, sid, now)) {
	case GD_DUP:
		if (end && r->irx.ended)
			gd_ack(d, &d->from_inst, h, now);
		return;
	case GD_GAP:
		return;
	case GD_DELIVER:
		break;
	}
	if (h->flags & SL_FRAG_F_ABORT) {
		/* sluiced ended our input: end the output the same way. */
		c->instance_aborts++;
		r->irx.ended = true;
		gd_ack(d, &d->from_inst, h, now);
		r->otx.abort = true;
		r->otx.abort_reason = h->abort_reason;
		r->otx.abort_seq = r->out_sent;
		d->echo_ns[(r - d->req) * d->k + (r->out_sent % d->k)] = now_ns;
		gd_send_echo(d, r, r->out_sent);
		gd_end_sent(d, &r->otx, now);
		return;
	}
	c->fragments_instance++;
	if (h->pipeline != d->o->pipeline || h->tenant != d->o->tenant ||
	    h->depth != 1 || h->seq >= d->k ||
	    !!(h->flags & SL_FRAG_F_END) != (h->seq + 1 == d->k) ||
	    !gd_payload_ok(d, h, payload, r->id) ||
	    h->send_ns != d->sched_ns[(r - d->req) * d->k + h->seq]) {
		c->corrupted_instance++;
		r->bad = true;
	}
	if (h->seq < d->k && gd_recordable(d, h->send_ns))
		gd_hist_record(&d->run->hop,
			       now_ns > h->send_ns ? now_ns - h->send_ns : 0);
	if (h->seq < d->k) {
		d->echo_ns[(r - d->req) * d->k + h->seq] = now_ns;
		gd_send_echo(d, r, h->seq);
		r->out_sent = h->seq + 1;
	}
	if (h->flags & SL_FRAG_F_END) {
		r->irx.ended = true;
		gd_ack(d, &d->from_inst, h, now);
		if (h->seq + 1 == d->k)
			gd_end_sent(d, &r->otx, now);
	}
	gd_settle(d, r);
}

/* Data for the client: the result (the echo), or sluiced's ABORT. */
static void
gd_client_data(struct gd *d, const struct sl_frag_hdr *h,
	       const uint8_t *payload, uint64_t now, uint64_t now_ns)
{
	struct gd_counters *c = &d->run->c;
	struct gd_req *r = gd_find(d, h->ancestry[0]);
	bool end = h->flags & (SL_FRAG_F_END | SL_FRAG_F_ABORT);
	uint64_t sched;

	if (r == NULL || h->depth != 1) {
		if (r == NULL && gd_past(d, h->ancestry[0]))
			c->late++;
		else
			c->unknown++;
		if (end)
			gd_ack(d, &d->from_client, h, now);
		return;
	}
	r->last_tsc = now;
	if ((h->flags & SL_FRAG_F_ABORT) && h->stage == 0 &&
	    h->from_stage == 0) {
		/* On the request's own stream: refused or ended by sluiced. */
		gd_ack(d, &d->from_client, h, now);
		goto aborted;
	}
	switch (gd_rx_accept(d, &r->crx, h, &d->from_client, r->id, now)) {
	case GD_DUP:
		if (end && r->crx.ended)
			gd_ack(d, &d->from_client, h, now);
		return;
	case GD_GAP:
		return;
	case GD_DELIVER:
		break;
	}
	if (h->flags & SL_FRAG_F_ABORT) {
		gd_ack(d, &d->from_client, h, now);
		goto aborted;
	}
	c->fragments_received++;
	if (h->pipeline != d->o->pipeline || h->tenant != d->o->tenant ||
	    h->seq >= d->k ||
	    !!(h->flags & SL_FRAG_F_END) != (h->seq + 1 == d->k) ||
	    !gd_payload_ok(d, h, payload, r->id) ||
	    h->send_ns != d->echo_ns[(r - d->req) * d->k + h->seq]) {
		c->corrupted++;
		r->bad = true;
	} else {
		sched = d->sched_ns[(r - d->req) * d->k + h->seq];
		if (gd_recordable(d, sched)) {
			gd_hist_record(&d->run->ret,
				       now_ns > h->send_ns ? now_ns - h->send_ns
							   : 0);
			gd_hist_record(&d->run->rtt,
				       now_ns > sched ? now_ns - sched : 0);
		}
	}
	if (h->flags & SL_FRAG_F_END) {
		r->crx.ended = true;
		gd_ack(d, &d->from_client, h, now);
	}
	gd_settle(d, r);
	return;

aborted:
	c->aborted++;
	c->aborted_by[h->abort_reason < SL_ABORT_MAX ? h->abort_reason
						     : SL_ABORT_MAX]++;
	r->aborted = true;
	r->crx.ended = true;
	gd_settle(d, r);
}

/* NACK or ACK from sluiced for a stream of ours. */
static void
gd_control(struct gd *d, bool instance, const struct sl_frag_hdr *h,
	   uint64_t now)
{
	struct gd_counters *c = &d->run->c;
	const struct sl_frame_ends *e =
		instance ? &d->from_inst : &d->from_client;
	struct gd_req *r = NULL;
	struct gd_tx *t;
	uint64_t reqno;
	uint32_t sent;

	if (instance) {
		if (gd_map_find(&d->map, h->ancestry[0], &reqno))
			r = gd_slot(d, reqno);
	} else {
		r = gd_find(d, h->ancestry[0]);
	}
	if (h->flags & SL_FRAG_F_ACK) {
		c->acks_received++;
		if (r == NULL)
			return;
		t = instance ? &r->otx : &r->ctx;
		if (t->end_sent) {
			t->settled = true;
			t->end_due = 0;
			gd_settle(d, r);
		}
		return;
	}
	c->nacks_received++;
	if (r == NULL || r->aborted) {
		gd_lost_abort(d, e, h, now);
		return;
	}
	r->last_tsc = now;
	t = instance ? &r->otx : &r->ctx;
	sent = instance ? r->out_sent + (r->otx.abort ? 1 : 0) : r->sent;
	for (uint64_t s = h->seq;
	     s < (uint64_t)h->seq + h->child_count && s < sent; s++) {
		if (instance)
			gd_send_echo(d, r, (uint32_t)s);
		else
			gd_send_client(d, r, (uint32_t)s);
		c->resent++;
	}
	if (t->end_sent && !t->settled)
		gd_end_sent(d, t, now); /* the receiver is alive: start over */
}

/* ARP: answer for our addresses, learn sluiced's, time the pings. */
static void
gd_arp_send(struct gd *d, uint16_t op, const uint8_t *eth_dst,
	    const uint8_t *tha, uint32_t sip, uint32_t tip)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(d->pool);
	struct rte_ether_hdr *eth;
	struct rte_arp_hdr *arp;

	if (m == NULL)
		return;
	eth = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
	memset(eth, 0, RTE_ETHER_MIN_LEN);
	memcpy(&eth->dst_addr, eth_dst, 6);
	memcpy(&eth->src_addr, d->mac, 6);
	eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_ARP);
	arp = (struct rte_arp_hdr *)(eth + 1);
	arp->arp_hardware = rte_cpu_to_be_16(RTE_ARP_HRD_ETHER);
	arp->arp_protocol = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
	arp->arp_hlen = RTE_ETHER_ADDR_LEN;
	arp->arp_plen = 4;
	arp->arp_opcode = rte_cpu_to_be_16(op);
	memcpy(&arp->arp_data.arp_sha, d->mac, 6);
	arp->arp_data.arp_sip = rte_cpu_to_be_32(sip);
	memcpy(&arp->arp_data.arp_tha, tha, 6);
	arp->arp_data.arp_tip = rte_cpu_to_be_32(tip);
	m->data_len = RTE_ETHER_MIN_LEN - RTE_ETHER_CRC_LEN;
	m->pkt_len = m->data_len;
	gd_tx_push(d, m);
}

/* sluiced's MAC, learned (ARP, or any frame from its address) or given:
 * every frame we send from now on goes there. */
static void
gd_server_mac(struct gd *d, const uint8_t *mac)
{
	memcpy(d->server_mac, mac, 6);
	memcpy(d->from_client.dst_mac, mac, 6);
	memcpy(d->from_inst.dst_mac, mac, 6);
	d->have_server_mac = true;
}

static void
gd_arp_input(struct gd *d, const uint8_t *p, size_t len, uint64_t now)
{
	static const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
	const struct rte_arp_hdr *arp =
		(const struct rte_arp_hdr *)(p + sizeof(struct rte_ether_hdr));
	uint32_t sip, tip;
	uint16_t op;
	uint8_t sha[6];

	if (len < sizeof(struct rte_ether_hdr) + sizeof(*arp) ||
	    arp->arp_hardware != rte_cpu_to_be_16(RTE_ARP_HRD_ETHER) ||
	    arp->arp_protocol != rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4) ||
	    arp->arp_hlen != RTE_ETHER_ADDR_LEN || arp->arp_plen != 4)
		return;
	sip = rte_be_to_cpu_32(arp->arp_data.arp_sip);
	tip = rte_be_to_cpu_32(arp->arp_data.arp_tip);
	op = rte_be_to_cpu_16(arp->arp_opcode);
	memcpy(sha, &arp->arp_data.arp_sha, 6);
	if (memcmp(sha, bcast, 6) == 0 || (sha[0] & 1) ||
	    memcmp(sha, "\0\0\0\0\0\0", 6) == 0)
		return;
	if (sip == d->server_ip) {
		if (!d->have_server_mac)
			gd_server_mac(d, sha);
		if (op == RTE_ARP_OP_REPLY && tip == d->client_ip) {
			d->arp_client = true;
			if (d->ping_out) {
				gd_hist_record(&d->base,
					       gd_ns(d, now) -
						       gd_ns(d, d->ping_tsc));
				d->ping_out = false;
			}
		}
		if (op == RTE_ARP_OP_REPLY && tip == d->inst_ip)
			d->arp_inst = true;
	}
	if (op == RTE_ARP_OP_REQUEST &&
	    (tip == d->client_ip || tip == d->inst_ip)) {
		gd_arp_send(d, RTE_ARP_OP_REPLY, sha, sha, tip, sip);
		d->arp_replies++;
	}
}

static void
gd_input(struct gd *d, struct rte_mbuf *m, uint64_t now, uint64_t now_ns)
{
	const uint8_t *p = rte_pktmbuf_mtod(m, const uint8_t *);
	size_t len = rte_pktmbuf_data_len(m);
	struct sl_frame f;
	struct sl_frag_hdr h;
	const uint8_t *dg;
	bool instance;

	if (m->nb_segs != 1) {
		d->bad_frames++;
		return;
	}
	if (len >= 14 && p[12] == 0x08 && p[13] == 0x06) {
		gd_arp_input(d, p, len, now);
		return;
	}
	if (sl_wire_parse_frame(p, len, &f) != SL_WIRE_OK) {
		d->foreign++; /* not UDP over IPv4: the kernel's, or junk */
		return;
	}
	if (f.src_ip != d->server_ip || f.src_port != d->server_port) {
		d->foreign++;
		return;
	}
	if (f.dst_ip == d->inst_ip && f.dst_port == d->inst_port)
		instance = true;
	else if (f.dst_ip == d->client_ip && f.dst_port == d->client_port)
		instance = false;
	else {
		d->foreign++;
		return;
	}
	if (!d->have_server_mac)
		gd_server_mac(d, f.src_mac);
	dg = p + f.hdr_off;
	if (sl_wire_parse(dg, f.dgram_len, &h) != SL_WIRE_OK) {
		d->bad_frames++;
		return;
	}
	if (h.flags & SL_FRAG_F_PROBE) {
		if (instance) {
			/* Same pipeline, stage, seq and send_ns: alive. */
			gd_send_ctl(d, &d->from_inst, &h, SL_FRAG_F_PROBE,
				    h.seq, 0, h.send_ns);
			d->probes++;
		}
		return;
	}
	if (h.flags & (SL_FRAG_F_NACK | SL_FRAG_F_ACK)) {
		gd_control(d, instance, &h, now);
		return;
	}
	if (instance)
		gd_instance_data(d, &h, dg + SL_WIRE_HDR_LEN, now, now_ns);
	else
		gd_client_data(d, &h, dg + SL_WIRE_HDR_LEN, now, now_ns);
}

/* ------------------------------------------------------------------ */
/* Timers and the loop                                                 */
/* ------------------------------------------------------------------ */

static void
gd_tx_timer(struct gd *d, struct gd_req *r, struct gd_tx *t, bool instance,
	    uint64_t now)
{
	if (t->end_due == 0 || t->settled || t->end_due > now)
		return;
	if (t->tries >= SL_RTX_TRIES) {
		d->run->c.end_gave_up++;
		t->settled = true;
		t->end_due = 0;
		r->bad = true;
		return;
	}
	if (instance)
		gd_send_echo(d, r, t->abort ? t->abort_seq : d->k - 1);
	else
		gd_send_client(d, r, d->k - 1);
	d->run->c.end_resends++;
	t->tries++;
	t->end_ivl *= 2;
	t->end_due = now + t->end_ivl;
}

static void
gd_rx_timer(struct gd *d, struct gd_req *r, struct gd_rx *rx, bool instance,
	    uint64_t now)
{
	if (rx->nack_due == 0 || rx->nack_due > now || rx->ended)
		return;
	if (rx->nack_tries >= SL_RTX_TRIES) {
		/* The gap stays: the stream ends there. */
		d->run->c.nack_gave_up++;
		rx->nack_due = 0;
		rx->ended = true;
		r->bad = true;
		if (instance && !r->otx.end_sent) {
			r->otx.abort = true;
			r->otx.abort_reason = SL_ABORT_LOST;
			r->otx.abort_seq = r->out_sent;
			d->echo_ns[(r - d->req) * d->k + (r->out_sent % d->k)] =
				gd_ns(d, now);
			gd_send_echo(d, r, r->out_sent);
			gd_end_sent(d, &r->otx, now);
		}
		return;
	}
	gd_nack(d, instance ? &d->from_inst : &d->from_client, rx,
		instance ? r->sid : r->id, now);
	rx->nack_tries++;
	rx->nack_ivl *= 2;
	rx->nack_due = now + rx->nack_ivl;
}

static void
gd_timers(struct gd *d, uint64_t now)
{
	uint64_t drain = gd_tsc_of(d, d->o->drain_ms * GD_MS);

	while (d->tail < d->head &&
	       gd_slot(d, d->tail)->id != gd_id(d, d->tail))
		d->tail++;
	for (uint64_t q = d->tail; q < d->head; q++) {
		struct gd_req *r = gd_slot(d, q);

		if (r->id != gd_id(d, q))
			continue;
		gd_tx_timer(d, r, &r->ctx, false, now);
		gd_tx_timer(d, r, &r->otx, true, now);
		gd_rx_timer(d, r, &r->irx, true, now);
		gd_rx_timer(d, r, &r->crx, false, now);
		if (r->id == 0)
			continue;
		gd_settle(d, r);
		/* Silent for drain-ms once wholly sent (at a low rate a
		 * request's own fragments are further apart than that). */
		if (r->id != 0 && r->sent == d->k && now - r->last_tsc > drain)
			gd_give_up(d, r);
	}
}

/* Receive a burst, send what it caused, run the timers when due. */
static void
gd_poll(struct gd *d)
{
	struct rte_mbuf *rx[GD_BURST];
	uint16_t n = rte_eth_rx_burst(d->port, 0, rx, GD_BURST);
	uint64_t now = rte_rdtsc();

	if (n > 0) {
		uint64_t now_ns = gd_ns(d, now);

		for (uint16_t i = 0; i < n; i++) {
			if (i + 1 < n)
				rte_prefetch0(
					rte_pktmbuf_mtod(rx[i + 1], void *));
			gd_input(d, rx[i], now, now_ns);
			rte_pktmbuf_free(rx[i]);
		}
	}
	if (d->n_tx > 0)
		gd_tx_flush(d);
	if (now >= d->next_timer) {
		uint64_t cost;

		gd_timers(d, now);
		/* A scan is as long as the requests open: under overload,
		 * at most a twentieth of the time (repair timers are
		 * 20 ms and up). */
		cost = rte_rdtsc() - now;
		d->next_timer = now + RTE_MAX(d->timer_tsc, 20 * cost);
	}
}

/* Serve (ARP, PROBEs, repair) for @ns. */
static void
gd_serve(struct gd *d, uint64_t ns)
{
	uint64_t until = rte_rdtsc() + gd_tsc_of(d, ns);

	while (rte_rdtsc() < until && !gen_stop)
		gd_poll(d);
}

/* A double in (0, 1]. */
static double
gd_unit(uint64_t *rng)
{
	return ((double)(splitmix64(rng) >> 11) + 1.0) * 0x1.0p-53;
}

/* Send every fragment of @run that is due, at most a burst. */
static void
gd_send_due(struct gd *d, struct gd_run *run, uint64_t now)
{
	uint64_t block = (uint64_t)d->lanes * d->k;

	for (unsigned int n = 0; n < GD_BURST && run->next < run->total &&
				 run->next_tsc <= (double)now;
	     n++) {
		uint64_t i = run->next, j = i % block;
		uint64_t reqno =
			run->reqno0 + (i / block) * d->lanes + j % d->lanes;
		uint32_t seq = (uint32_t)(j / d->lanes);
		uint64_t due = (uint64_t)run->next_tsc, due_ns = gd_ns(d, due);
		struct gd_req *r;

		if (i == run->warm_index)
			run->warm_ns = due_ns;
		if (seq == 0)
			gd_open(d, reqno, now);
		r = gd_slot(d, reqno);
		if (r->id == gd_id(d, reqno) && !r->aborted) {
			d->sched_ns[(r - d->req) * d->k + seq] = due_ns;
			gd_send_client(d, r, seq);
			r->sent = seq + 1;
			r->last_tsc = now;
			if (seq + 1 == d->k)
				gd_end_sent(d, &r->ctx, now);
			run->c.fragments++;
			if (run->next >= run->warm_index)
				gd_hist_record(&run->lag,
					       gd_ns(d, now) - due_ns);
			if (run->first_send_tsc == 0)
				run->first_send_tsc = now;
			run->last_send_tsc = now;
			run->last_due_tsc = due;
		} else {
			run->c.skipped++;
		}
		run->next++;
		if (d->o->poisson)
			run->next_tsc += -log(gd_unit(&d->rng)) / run->rate /
					 d->ns_per_tsc * 1e9;
		else
			run->next_tsc = (double)run->start_tsc +
					(double)run->next * run->period_tsc;
	}
}

/* One run at @rate for warmup + @seconds, then its drain. */
static void
gd_run(struct gd *d, struct gd_run *run, double rate, double seconds)
{
	uint64_t block = (uint64_t)d->lanes * d->k, now, deadline;
	double frags = rate * (d->o->warmup + seconds);

	/* Zeroed whole (the histograms too): only their minimums start
	 * elsewhere. */
	memset(run, 0, sizeof(*run));
	run->hop.min = run->ret.min = run->rtt.min = run->lag.min = UINT64_MAX;
	run->rate = rate;
	/* Whole blocks: every request of the run is sent whole. */
	run->total = ((uint64_t)ceil(frags) + block - 1) / block * block;
	if (run->total == 0)
		run->total = block;
	run->period_tsc = 1e9 / rate / d->ns_per_tsc;
	run->start_tsc = rte_rdtsc() + gd_tsc_of(d, GD_MS);
	run->next_tsc = (double)run->start_tsc;
	/* By index, not time: exactly rate x warm-up fragments are warm-up
	 * (time would round either way at the boundary). */
	run->warm_index = (uint64_t)ceil(rate * d->o->warmup - 1e-9);
	run->warm_ns = UINT64_MAX;
	run->reqno0 = d->head;
	d->run = run;

	while (run->next < run->total) {
		if (gen_stop) {
			run->interrupted = true;
			break;
		}
		now = rte_rdtsc();
		gd_send_due(d, run, now);
		if (d->n_tx > 0)
			gd_tx_flush(d); /* on time, before the receive work */
		gd_poll(d);
	}
	deadline = rte_rdtsc() +
		   gd_tsc_of(d, d->o->drain_ms * GD_MS + 2 * GD_TIMER_NS);
	while (d->n_open > 0 && rte_rdtsc() < deadline &&
	       !(gen_stop && run->interrupted && d->n_tx == 0))
		gd_poll(d);
	/* What is left never settled: lost. */
	for (uint64_t q = d->tail; q < d->head; q++) {
		struct gd_req *r = gd_slot(d, q);

		if (r->id == gd_id(d, q))
			gd_give_up(d, r);
	}
	d->tail = d->head;
	run->end_tsc = rte_rdtsc();
	d->run = &d->idle;
}

/* ------------------------------------------------------------------ */
/* Set-up                                                              */
/* ------------------------------------------------------------------ */

static int
gd_eal(struct gd *d, const char *argv0)
{
	const struct gen_opts *o = d->o;
	char prefix[128], vdev[512];
	char *argv[16];
	int argc = 0;

	if (o->file_prefix != NULL)
		snprintf(prefix, sizeof(prefix), "--file-prefix=%s",
			 o->file_prefix);
	else
		snprintf(prefix, sizeof(prefix), "--file-prefix=sluicegen-%d",
			 (int)getpid());
	if (o->dpdk_iface != NULL)
		snprintf(vdev, sizeof(vdev),
			 "--vdev=net_af_packet0,iface=%s,qpairs=1,framecnt=%u",
			 o->dpdk_iface, GD_AF_PACKET_FRAMES);
	else
		snprintf(vdev, sizeof(vdev), "--vdev=%s", o->dpdk_vdev);
	argv[argc++] = (char *)argv0;
	argv[argc++] = "-l";
	argv[argc++] = (char *)o->lcores;
	argv[argc++] = "--no-huge";
	argv[argc++] = "-m";
	argv[argc++] = GD_EAL_MB;
	argv[argc++] = "--no-pci";
	/* One process, no secondaries: no runtime files, no telemetry. */
	argv[argc++] = "--no-shconf";
	argv[argc++] = "--no-telemetry";
	argv[argc++] = "--log-level=lib.eal:warning";
	argv[argc++] = prefix;
	argv[argc++] = vdev;
	argv[argc] = NULL;
	optind = 1; /* EAL parses with getopt too */
	if (rte_eal_init(argc, argv) < 0) {
		fprintf(stderr, "sluicegen: cannot init EAL: %s\n",
			rte_strerror(rte_errno));
		return -1;
	}
	return 0;
}

static int
gd_port(struct gd *d)
{
	struct rte_eth_conf conf = {0};
	uint16_t nb_rxd = 1024, nb_txd = 1024, id, n = 0;
	struct rte_ether_addr mac;
	const char *what;
	int rc;

	RTE_ETH_FOREACH_DEV(id)
	{
		if (n++ == 0)
			d->port = id;
	}
	if (n != 1) {
		fprintf(stderr, "sluicegen: want one DPDK port, found %u\n", n);
		return -1;
	}
	/* An AF_XDP port makes the pool its umem: sluiced's layout, which
	 * the PMD's umem covers whole (dataplane/sl_port.h). */
	if (sl_port_is_xdp(d->port))
		d->pool = sl_pool_create_xdp("sluicegen", GD_POOL_MBUFS,
					     (int)rte_socket_id(), false);
	else
		d->pool = rte_pktmbuf_pool_create(
			"sluicegen", GD_POOL_MBUFS, 256, 0,
			RTE_MBUF_DEFAULT_BUF_SIZE, (int)rte_socket_id());
	if (d->pool == NULL) {
		fprintf(stderr, "sluicegen: cannot create mempool: %s\n",
			rte_strerror(rte_errno));
		return -1;
	}
	what = "dev_configure";
	rc = rte_eth_dev_configure(d->port, 1, 1, &conf);
	if (rc == 0) {
		what = "adjust_nb_rx_tx_desc";
		rc = rte_eth_dev_adjust_nb_rx_tx_desc(d->port, &nb_rxd,
						      &nb_txd);
	}
	if (rc == 0) {
		what = "rx_queue_setup";
		rc = rte_eth_rx_queue_setup(
			d->port, 0, nb_rxd,
			(unsigned int)rte_eth_dev_socket_id(d->port), NULL,
			d->pool);
	}
	if (rc == 0) {
		what = "tx_queue_setup";
		rc = rte_eth_tx_queue_setup(
			d->port, 0, nb_txd,
			(unsigned int)rte_eth_dev_socket_id(d->port), NULL);
	}
	if (rc == 0) {
		what = "dev_start";
		rc = rte_eth_dev_start(d->port);
	}
	if (rc == 0) {
		what = "macaddr_get";
		rc = rte_eth_macaddr_get(d->port, &mac);
	}
	if (rc != 0) {
		fprintf(stderr, "sluicegen: port %u: %s: %s\n", d->port, what,
			rte_strerror(-rc));
		return -1;
	}
	/* Frames for both our addresses, and ARP broadcasts. */
	rte_eth_promiscuous_enable(d->port);
	memcpy(d->mac, &mac, 6);
	return 0;
}

static uint64_t
gd_pow2(uint64_t v)
{
	uint64_t p = 1;

	while (p < v)
		p <<= 1;
	return p;
}

static int
gd_tables(struct gd *d)
{
	const struct gen_opts *o = d->o;
	double rate = o->find_capacity ? o->capacity_max : o->rate;
	/* Requests live a few ms; a second's worth (two) leaves room for
	 * repairs, which end within 620 ms. */
	double want = rate / d->k * 2.0 + 4.0 * d->lanes;
	uint64_t slots = gd_pow2(want > 65536 ? (uint64_t)want : 65536);
	uint64_t bytes_per = sizeof(struct gd_req) + 16ull * d->k;

	while (slots > 4096 && slots * bytes_per > (1ull << 30))
		slots >>= 1;
	d->mask = slots - 1;
	d->req = calloc(slots, sizeof(d->req[0]));
	d->sched_ns = calloc(slots * d->k, sizeof(uint64_t));
	d->echo_ns = calloc(slots * d->k, sizeof(uint64_t));
	d->map.mask = 2 * slots - 1;
	d->map.key = calloc(2 * slots, sizeof(uint64_t));
	d->map.val = calloc(2 * slots, sizeof(uint64_t));
	if (!d->req || !d->sched_ns || !d->echo_ns || !d->map.key ||
	    !d->map.val) {
		fprintf(stderr,
			"sluicegen: out of memory for %" PRIu64 " requests\n",
			slots);
		return -1;
	}
	return 0;
}

static void
gd_ends(const struct gd *d, struct sl_frame_ends *e, uint32_t ip, uint16_t port)
{
	memcpy(e->dst_mac, d->server_mac, 6);
	memcpy(e->src_mac, d->mac, 6);
	e->src_ip = ip;
	e->src_port = port;
	e->dst_ip = d->server_ip;
	e->dst_port = d->server_port;
}

/*
 * Until sluiced knows both our addresses and we know its MAC (ARP both
 * ways), and it probed the instance (it routes to it), and the TSC was
 * measured long enough.
 */
static int
gd_ready(struct gd *d)
{
	static const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
	static const uint8_t zero[6] = {0};
	uint64_t start = rte_rdtsc(), next_arp = start, now;
	bool warned = false;

	for (;;) {
		now = rte_rdtsc();
		if (gen_stop)
			return -1;
		if (now >= next_arp && (!d->arp_client || !d->arp_inst)) {
			const uint8_t *to =
				d->have_server_mac ? d->server_mac : bcast;

			if (!d->arp_client)
				gd_arp_send(d, RTE_ARP_OP_REQUEST, to, zero,
					    d->client_ip, d->server_ip);
			if (!d->arp_inst)
				gd_arp_send(d, RTE_ARP_OP_REQUEST, to, zero,
					    d->inst_ip, d->server_ip);
			d->arp_requests++;
			next_arp = now + gd_tsc_of(d, GD_ARP_RETRY_NS);
		}
		gd_poll(d);
		if (d->arp_client && d->arp_inst && d->have_server_mac &&
		    (d->probes > 0 ||
		     now - start > gd_tsc_of(d, GD_PROBE_WAIT_NS)) &&
		    now - start > gd_tsc_of(d, GD_READY_MIN_NS))
			break;
		if ((!d->arp_client || !d->arp_inst) &&
		    now - start > gd_tsc_of(d, GD_ARP_WAIT_NS)) {
			fprintf(stderr,
				"sluicegen: sluiced at %s did not answer ARP "
				"for %s (is it up, are the addresses in its "
				"clients and instances?)\n",
				inet_ntoa(d->o->server.sin_addr),
				d->arp_client ? "the instance address"
					      : "the client address");
			return -1;
		}
		if (!warned && d->probes == 0 &&
		    now - start > gd_tsc_of(d, GD_PROBE_WAIT_NS)) {
			fprintf(stderr,
				"sluicegen: warning: sluiced sent no PROBE to "
				"the instance in %llu ms (liveness off, or the "
				"instance is not in the pipeline)\n",
				GD_PROBE_WAIT_NS / GD_MS);
			warned = true;
		}
	}
	gd_clock_measure(d);
	return 0;
}

/* The baseline: closed-loop ARP round trips through sluiced. */
static void
gd_calibrate(struct gd *d, uint32_t n)
{
	static const uint8_t zero[6] = {0};
	uint64_t timeout = gd_tsc_of(d, GD_PING_TIMEOUT_NS);

	gd_hist_init(&d->base);
	for (uint32_t done = 0; done < n && !gen_stop;) {
		gd_arp_send(d, RTE_ARP_OP_REQUEST, d->server_mac, zero,
			    d->client_ip, d->server_ip);
		d->ping_tsc = rte_rdtsc();
		d->ping_out = true;
		gd_tx_flush(d);
		while (d->ping_out && rte_rdtsc() - d->ping_tsc < timeout)
			gd_poll(d);
		if (d->ping_out) {
			d->ping_out = false;
			if (++d->pings_lost > n)
				break;
		} else {
			done++;
		}
	}
}

/* ------------------------------------------------------------------ */
/* Reports                                                             */
/* ------------------------------------------------------------------ */

static bool
gd_clean(const struct gd_run *run)
{
	const struct gd_counters *c = &run->c;

	return !run->interrupted && c->fragments > 0 &&
	       c->fragments_received == c->fragments &&
	       c->fragments_instance == c->fragments && c->corrupted == 0 &&
	       c->corrupted_instance == 0 && c->aborted == 0 &&
	       c->requests_lost == 0 && c->skipped == 0 && c->nacks_sent == 0 &&
	       c->nacks_received == 0 && c->end_resends == 0 &&
	       c->tx_dropped == 0;
}

/* Sends per second over the schedule, up to the last one's departure. */
static double
gd_achieved(const struct gd *d, const struct gd_run *run)
{
	double secs;

	if (run->c.fragments < 2 || run->last_send_tsc <= run->start_tsc)
		return 0;
	secs = (double)(run->last_send_tsc - run->start_tsc) * d->ns_per_tsc /
	       1e9;
	/* Fragment n-1 is due at (n-1)/rate: rate = (n-1)/span. */
	return (double)(run->c.fragments - 1) / secs;
}

/* The generator kept its schedule: the last send left at most 1% of
 * the run (and a ms) after it was due. */
static bool
gd_kept_up(const struct gd *d, const struct gd_run *run)
{
	if (run->c.fragments == 0)
		return false;
	return run->last_send_tsc - run->last_due_tsc <=
	       (uint64_t)((double)(run->last_due_tsc - run->start_tsc) *
			  GD_KEPT_LAG) +
		       gd_tsc_of(d, GD_MS);
}

static void
gd_json_hist(FILE *f, const char *name, const struct gd_hist *h)
{
	fprintf(f,
		"\"%s\": {\"count\": %" PRIu64 ", \"p50_us\": %.3f"
		", \"p90_us\": %.3f, \"p99_us\": %.3f, \"p999_us\": %.3f"
		", \"p9999_us\": %.3f, \"max_us\": %.3f, \"min_us\": %.3f"
		", \"mean_us\": %.3f}",
		name, h->count, gen_us(gd_hist_pct(h, 50)),
		gen_us(gd_hist_pct(h, 90)), gen_us(gd_hist_pct(h, 99)),
		gen_us(gd_hist_pct(h, 99.9)), gen_us(gd_hist_pct(h, 99.99)),
		gen_us(h->count ? h->max : 0), gen_us(h->count ? h->min : 0),
		gd_hist_mean(h) / 1000.0);
}

static void
gd_json_counters(FILE *f, const struct gd_counters *c)
{
	fprintf(f,
		"\"requests\": %" PRIu64 ", \"completed\": %" PRIu64
		", \"requests_lost\": %" PRIu64 ", \"evicted\": %" PRIu64
		", \"aborted\": %" PRIu64 ", \"fragments\": %" PRIu64
		", \"fragments_at_instance\": %" PRIu64
		", \"fragments_received\": %" PRIu64 ", \"lost\": %" PRIu64
		", \"skipped\": %" PRIu64 ", \"corrupted\": %" PRIu64
		", \"corrupted_at_instance\": %" PRIu64
		", \"duplicates\": %" PRIu64 ", \"gaps\": %" PRIu64
		", \"late\": %" PRIu64 ", \"unknown\": %" PRIu64
		", \"instance_aborts\": %" PRIu64,
		c->requests, c->completed, c->requests_lost, c->evicted,
		c->aborted, c->fragments, c->fragments_instance,
		c->fragments_received,
		c->fragments > c->fragments_received
			? c->fragments - c->fragments_received
			: 0,
		c->skipped, c->corrupted, c->corrupted_instance, c->duplicates,
		c->gaps, c->late, c->unknown, c->instance_aborts);
	fprintf(f, ", \"aborted_by_reason\": ");
	gen_json_reasons(f, c->aborted_by);
	fprintf(f,
		", \"repair\": {\"nacks_sent\": %" PRIu64
		", \"nacks_received\": %" PRIu64 ", \"resent\": %" PRIu64
		", \"end_resends\": %" PRIu64 ", \"end_gave_up\": %" PRIu64
		", \"nack_gave_up\": %" PRIu64 ", \"acks_sent\": %" PRIu64
		", \"acks_received\": %" PRIu64
		", \"lost_aborts_sent\": %" PRIu64 ", \"tx_dropped\": %" PRIu64
		"}",
		c->nacks_sent, c->nacks_received, c->resent, c->end_resends,
		c->end_gave_up, c->nack_gave_up, c->acks_sent, c->acks_received,
		c->lost_aborts_sent, c->tx_dropped);
}

static void
gd_port_json(FILE *f, const struct gd *d)
{
	struct rte_eth_stats st;

	memset(&st, 0, sizeof(st));
	rte_eth_stats_get(d->port, &st);
	fprintf(f,
		"\"port\": {\"ipackets\": %" PRIu64 ", \"opackets\": %" PRIu64
		", \"imissed\": %" PRIu64 ", \"ierrors\": %" PRIu64
		", \"oerrors\": %" PRIu64 ", \"rx_nombuf\": %" PRIu64
		", \"arp_requests\": %" PRIu64 ", \"arp_replies\": %" PRIu64
		", \"probes_answered\": %" PRIu64 ", \"bad_frames\": %" PRIu64
		", \"foreign\": %" PRIu64 "}",
		st.ipackets, st.opackets, st.imissed, st.ierrors, st.oerrors,
		st.rx_nombuf, d->arp_requests, d->arp_replies, d->probes,
		d->bad_frames, d->foreign);
}

static double
gd_diff_us(uint64_t a, uint64_t b)
{
	return ((double)a - (double)b) / 1000.0;
}

static const char *
gd_port_name(const struct gen_opts *o)
{
	return o->dpdk_iface != NULL ? o->dpdk_iface : o->dpdk_vdev;
}

static void
gd_json_run(FILE *f, const struct gd *d, const struct gd_run *run)
{
	const struct gd_hist *hop = &run->hop;
	double secs =
		(double)(run->end_tsc - run->start_tsc) * d->ns_per_tsc / 1e9;

	fprintf(f,
		"{\"rate\": %.1f, \"achieved_rate\": %.1f, \"clean\": %s"
		", \"kept_up\": %s, \"interrupted\": %s, \"seconds\": %.3f, ",
		run->rate, gd_achieved(d, run),
		gd_clean(run) && gd_kept_up(d, run) ? "true" : "false",
		gd_kept_up(d, run) ? "true" : "false",
		run->interrupted ? "true" : "false", secs);
	gd_json_counters(f, &run->c);
	fprintf(f,
		", \"p50_us\": %.3f, \"p90_us\": %.3f, \"p99_us\": %.3f"
		", \"p999_us\": %.3f, \"p9999_us\": %.3f, \"max_us\": %.3f, ",
		gen_us(gd_hist_pct(hop, 50)), gen_us(gd_hist_pct(hop, 90)),
		gen_us(gd_hist_pct(hop, 99)), gen_us(gd_hist_pct(hop, 99.9)),
		gen_us(gd_hist_pct(hop, 99.99)),
		gen_us(hop->count ? hop->max : 0));
	if (d->base.count > 0)
		fprintf(f,
			"\"added_p50_us\": %.3f, \"added_p99_us\": %.3f"
			", \"added_p9999_us\": %.3f, ",
			gd_diff_us(gd_hist_pct(hop, 50),
				   gd_hist_pct(&d->base, 50)),
			gd_diff_us(gd_hist_pct(hop, 99),
				   gd_hist_pct(&d->base, 99)),
			gd_diff_us(gd_hist_pct(hop, 99.99),
				   gd_hist_pct(&d->base, 99.99)));
	gd_json_hist(f, "hop", &run->hop);
	fprintf(f, ", ");
	gd_json_hist(f, "return_hop", &run->ret);
	fprintf(f, ", ");
	gd_json_hist(f, "round_trip", &run->rtt);
	fprintf(f, ", ");
	gd_json_hist(f, "send_lag", &run->lag);
	fprintf(f, "}");
}

static void
gd_json_head(FILE *f, const struct gd *d)
{
	const struct gen_opts *o = d->o;
	char server[SL_ENDPOINT_STRLEN], bind[SL_ENDPOINT_STRLEN],
		inst[SL_ENDPOINT_STRLEN];

	fprintf(f,
		"\"mode\": \"dpdk\", \"port_spec\": \"%s\", \"server\": \"%s\""
		", \"client\": \"%s\", \"instance\": \"%s\""
		", \"arrival\": \"%s\", \"streams\": %u"
		", \"fragments_per_request\": %u, \"tokens_per_fragment\": %u"
		", \"warmup_s\": %.3f, \"duration_s\": %.3f, ",
		o->dpdk_iface != NULL ? "af_packet" : o->dpdk_vdev,
		sl_endpoint_str(&o->server, server, sizeof(server)),
		sl_endpoint_str(&o->bind, bind, sizeof(bind)),
		sl_endpoint_str(&o->instance, inst, sizeof(inst)),
		o->poisson ? "poisson" : "constant", d->lanes, d->k, d->tokens,
		o->warmup, o->find_capacity ? o->capacity_trial : o->duration);
	gd_json_hist(f, "baseline", &d->base);
	fprintf(f,
		", \"baseline_what\": \"ARP round trip through sluiced, "
		"idle, closed loop\", \"pings_lost\": %" PRIu64 ", ",
		d->pings_lost);
	gd_port_json(f, d);
}

static void
gd_text_hist(const char *name, const struct gd_hist *h)
{
	printf("  %-22s %9.1f %9.1f %9.1f %9.1f %9.1f %9.1f %10" PRIu64 "\n",
	       name, gen_us(gd_hist_pct(h, 50)), gen_us(gd_hist_pct(h, 99)),
	       gen_us(gd_hist_pct(h, 99.9)), gen_us(gd_hist_pct(h, 99.99)),
	       gen_us(h->count ? h->max : 0), gd_hist_mean(h) / 1000.0,
	       h->count);
}

static void
gd_text_run(const struct gd *d, const struct gd_run *run)
{
	const struct gd_counters *c = &run->c;

	printf("sluicegen dpdk (%s): %.0f frag/s %s, %u streams x %u "
	       "fragments x %u tokens, %.1f s + %.1f s warm-up%s\n",
	       gd_port_name(d->o), run->rate,
	       d->o->poisson ? "poisson" : "constant", d->lanes, d->k,
	       d->tokens, d->o->duration, d->o->warmup,
	       run->interrupted ? " (interrupted)" : "");
	printf("  fragments sent %" PRIu64 ", at the instance %" PRIu64
	       ", back %" PRIu64 ", lost %" PRIu64 "; achieved %.0f frag/s\n",
	       c->fragments, c->fragments_instance, c->fragments_received,
	       c->fragments > c->fragments_received
		       ? c->fragments - c->fragments_received
		       : 0,
	       gd_achieved(d, run));
	printf("  requests %" PRIu64 ", completed %" PRIu64 ", lost %" PRIu64
	       ", aborted %" PRIu64 ", corrupted %" PRIu64 "/%" PRIu64
	       " (instance/client)\n",
	       c->requests, c->completed, c->requests_lost, c->aborted,
	       c->corrupted_instance, c->corrupted);
	printf("  repair: nacks sent %" PRIu64 ", received %" PRIu64
	       ", resent %" PRIu64 ", END resends %" PRIu64 "\n",
	       c->nacks_sent, c->nacks_received, c->resent, c->end_resends);
	printf("  %-22s %9s %9s %9s %9s %9s %9s %10s\n", "latency (us)", "p50",
	       "p99", "p99.9", "p99.99", "max", "mean", "samples");
	gd_text_hist("hop (client->instance)", &run->hop);
	gd_text_hist("return hop", &run->ret);
	gd_text_hist("round trip", &run->rtt);
	gd_text_hist("send lag", &run->lag);
	if (d->base.count > 0) {
		gd_text_hist("baseline (ARP rtt)", &d->base);
		printf("  added over the baseline: p50 %.1f us, p99 %.1f us, "
		       "p99.99 %.1f us\n",
		       gd_diff_us(gd_hist_pct(&run->hop, 50),
				  gd_hist_pct(&d->base, 50)),
		       gd_diff_us(gd_hist_pct(&run->hop, 99),
				  gd_hist_pct(&d->base, 99)),
		       gd_diff_us(gd_hist_pct(&run->hop, 99.99),
				  gd_hist_pct(&d->base, 99.99)));
	}
}

/* ------------------------------------------------------------------ */
/* Main                                                                */
/* ------------------------------------------------------------------ */

static int
gd_measure(struct gd *d)
{
	struct gd_run *run = calloc(1, sizeof(*run));
	const struct gd_counters *c;
	int rc = 0;

	if (run == NULL) {
		fprintf(stderr, "sluicegen: out of memory\n");
		return 1;
	}
	gd_run(d, run, d->o->rate, d->o->duration);
	c = &run->c;
	if (d->o->json) {
		printf("{");
		gd_json_head(stdout, d);
		printf(", \"run\": ");
		gd_json_run(stdout, d, run);
		printf("}\n");
	} else if (!d->o->quiet) {
		gd_text_run(d, run);
	}
	if (d->o->check &&
	    (c->fragments == 0 || c->fragments_received != c->fragments ||
	     c->fragments_instance != c->fragments || c->corrupted ||
	     c->corrupted_instance || c->aborted || c->requests_lost ||
	     c->completed != c->requests || run->interrupted)) {
		if (!d->o->quiet)
			fprintf(stderr, "sluicegen: check failed\n");
		rc = 1;
	}
	free(run);
	return rc;
}

static int
gd_find_capacity(struct gd *d)
{
	const struct gen_opts *o = d->o;
	struct gd_run *runs = calloc(GD_TRIALS_MAX, sizeof(*runs));
	double lo = 0, hi = 0, rate = o->capacity_start;
	unsigned int n = 0;

	if (runs == NULL) {
		fprintf(stderr, "sluicegen: out of memory\n");
		return 1;
	}
	while (n < GD_TRIALS_MAX && !gen_stop) {
		struct gd_run *run = &runs[n++];
		bool clean;

		gd_run(d, run, rate, o->capacity_trial);
		clean = gd_clean(run) && gd_kept_up(d, run);
		if (!o->quiet)
			fprintf(stderr,
				"sluicegen: trial %u: %.0f frag/s %s (achieved "
				"%.0f, lost %" PRIu64 ", nacks %" PRIu64
				"/%" PRIu64 ", p99 %.1f us, p99.99 %.1f us)\n",
				n, rate, clean ? "clean" : "NOT clean",
				gd_achieved(d, run),
				run->c.fragments - run->c.fragments_received,
				run->c.nacks_sent, run->c.nacks_received,
				gen_us(gd_hist_pct(&run->hop, 99)),
				gen_us(gd_hist_pct(&run->hop, 99.99)));
		if (clean)
			lo = rate;
		else
			hi = rate;
		if (run->interrupted)
			break;
		if (clean && hi == 0) {
			if (rate >= o->capacity_max)
				break;
			rate = RTE_MIN(rate * 2, o->capacity_max);
		} else if (lo == 0) {
			/* Not clean from the start: a few halvings, then
			 * say so (a trial is at least one block long, which
			 * takes ever longer at lower rates). */
			rate /= 2;
			if (rate < o->capacity_start / 16)
				break;
		} else if (hi / lo <= o->capacity_step) {
			break;
		} else {
			rate = (lo + hi) / 2;
		}
		gd_serve(d, clean ? GD_TRIAL_PAUSE_NS : GD_TRIAL_RECOVER_NS);
	}
	if (o->json) {
		printf("{");
		gd_json_head(stdout, d);
		printf(", \"capacity\": %.1f, \"capacity_bound\": %.1f"
		       ", \"capacity_step\": %.3f, \"trials\": [",
		       lo, hi, o->capacity_step);
		for (unsigned int i = 0; i < n; i++) {
			printf(i ? ", " : "");
			gd_json_run(stdout, d, &runs[i]);
		}
		printf("]}\n");
	} else if (!o->quiet) {
		printf("sluicegen dpdk (%s): capacity %.0f frag/s (clean), "
		       "%s%.0f not clean; %u trials of %.1f s\n",
		       gd_port_name(o), lo, hi > 0 ? "" : "none above tried, ",
		       hi, n, o->capacity_trial);
	}
	free(runs);
	return lo > 0 && !gen_stop ? 0 : 1;
}

/* EAL's end, and its runtime folder (flat files) with it: nothing of
 * the run is left under /var/run/dpdk. */
static void
gd_eal_cleanup(void)
{
	char dir[PATH_MAX];
	struct dirent *de;
	DIR *dp;

	snprintf(dir, sizeof(dir), "%s", rte_eal_get_runtime_dir());
	rte_eal_cleanup();
	dp = opendir(dir);
	if (dp == NULL)
		return;
	while ((de = readdir(dp)) != NULL)
		if (strcmp(de->d_name, ".") != 0 &&
		    strcmp(de->d_name, "..") != 0)
			unlinkat(dirfd(dp), de->d_name, 0);
	closedir(dp);
	rmdir(dir);
}

int
gen_dpdk_main(const struct gen_opts *o, const char *argv0)
{
	static struct gd d;
	int rc;

	memset(&d, 0, sizeof(d));
	d.o = o;
	d.lanes = o->streams;
	d.k = o->frags;
	d.tokens = o->tokens;
	d.client_ip = ntohl(o->bind.sin_addr.s_addr);
	d.client_port = ntohs(o->bind.sin_port);
	d.inst_ip = ntohl(o->instance.sin_addr.s_addr);
	d.inst_port = ntohs(o->instance.sin_port);
	d.server_ip = ntohl(o->server.sin_addr.s_addr);
	d.server_port = ntohs(o->server.sin_port);
	d.run = &d.idle;
	d.idle.warm_ns = UINT64_MAX; /* no samples outside a run */
	gd_hist_init(&d.base);
	if (d.tokens > GD_TOKENS_MAX) {
		fprintf(stderr,
			"sluicegen: --tokens-per-fragment: at most %u in the "
			"DPDK mode (one fragment)\n",
			GD_TOKENS_MAX);
		return 2;
	}
	{
		uint32_t hi = 0;

		while (hi == 0)
			if (getrandom(&hi, sizeof(hi), 0) != sizeof(hi))
				hi = (uint32_t)gd_clock(CLOCK_MONOTONIC) | 1u;
		d.id_hi = (uint64_t)hi << 32;
	}
	d.rng = o->seed ^ 0x5deece66dull;
	if (gd_eal(&d, argv0) < 0)
		return 1;
	rc = 1;
	if (gd_port(&d) < 0 || gd_tables(&d) < 0)
		goto out;
	gd_ends(&d, &d.from_client, d.client_ip, d.client_port);
	gd_ends(&d, &d.from_inst, d.inst_ip, d.inst_port);
	if (o->have_dst_mac)
		gd_server_mac(&d, o->dst_mac);
	gd_clock_start(&d);
	d.timer_tsc = gd_tsc_of(&d, GD_TIMER_NS);
	if (gd_ready(&d) < 0)
		goto out;
	if (o->calibrate > 0)
		gd_calibrate(&d, o->calibrate);
	rc = o->find_capacity ? gd_find_capacity(&d) : gd_measure(&d);
out:
	fflush(stdout);
	for (unsigned int i = 0; i < d.n_tx; i++)
		rte_pktmbuf_free(d.txq[i]);
	d.n_tx = 0;
	if (d.pool != NULL) {
		rte_eth_dev_stop(d.port);
		rte_eth_dev_close(d.port);
	}
	free(d.req);
	free(d.sched_ns);
	free(d.echo_ns);
	free(d.map.key);
	free(d.map.val);
	gd_eal_cleanup();
	return rc;
}
