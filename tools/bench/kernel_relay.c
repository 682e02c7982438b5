/* SPDX-License-Identifier: MIT */
/*
 * kernel_relay.c - the kernel baseline of the dataplane benchmark: what
 * sluiced's packet path does for a plain forwarding edge, done over kernel
 * UDP sockets by one thread on one core, with a built-in traffic driver,
 * in one process.
 *
 * Per datagram the relay does what sluiced's parse, admit, order and route
 * stages do for a stream edge (dataplane/stage_*.c):
 *
 *   parse  sl_wire_parse, the dataplane's own code: the sluice header and
 *          every token, UTF-8 included; control fragments are consumed
 *   admit  pipeline, stage, depth and source of the one relayed edge
 *          (pipeline 1, stage 0 from 127.0.0.0/8, depth 1); the stream's
 *          entry in a flow table keyed by (source address and port,
 *          tenant, pipeline, stage, depth, ancestry): open addressing,
 *          linear probing, SipHash-1-3 under a random key (sl_flow_hash's
 *          function), created at the stream's first fragment and bounded
 *          (a new stream is refused when the table is full)
 *   order  in sequence and once: duplicates dropped, early fragments held
 *          in a reorder window and sent when the gap before them fills
 *   route  the next stage's instance chosen at the stream's first fragment
 *          by rendezvous hashing on the relay's request id (sl_route.c's
 *          scores and seeds) and pinned; the header rewritten (stage,
 *          from_stage, ancestry[0]: the relay's id for the request, as
 *          sluiced's admit gives its own) and the datagram sent there
 *
 * An ended stream lingers (--linger-ms, 1000 as SL_FLOW_LINGER_MS) to
 * recognise duplicates, then leaves the table; one idle for --idle-ms
 * leaves too (sluiced's housekeeping scan), what it holds dropped.
 * Drops are counted by reason, and invalid ones by sl_wire status.
 *
 * I/O (--io): mmsg is recvmmsg and sendmmsg, batches of 32, blocking;
 * uring is liburing: one multishot recvmsg on a provided buffer ring
 * (mapped and registered by hand: liburing 2.3 has no
 * io_uring_setup_buf_ring), each datagram sent by an IORING_OP_SENDMSG SQE
 * from the buffer it arrived in, the SQEs of a pass submitted with the
 * wait for the next completions (one io_uring_enter).
 *
 * The driver, a thread on the other CPUs, sends --streams concurrent
 * streams of --fragments fragments (2-4 tokens, some multi-byte UTF-8, as
 * bench_dataplane's) from 16 client sockets to the relay on 127.0.0.1 and
 * reads the instances' sockets (the sinks), checking every datagram: byte
 * for byte, in order, once, at the instance rendezvous hashing names.
 * --pace burst (the default) fills the socket of the relay, waiting at a
 * gate, with --burst datagrams and lets it drain them flat out: only the
 * drains are timed, so the relay is the bottleneck of all time measured,
 * and only drains it had its CPU for count (README.md says why);
 * --pace window keeps at most --inflight fragments in flight and times
 * the relay throughout.
 *
 * The relay is pinned to --cpu; the result is fragments forwarded per
 * CPU-second of the relay thread, and cycles per fragment (CPU-ns per
 * fragment x the TSC rate, calibrated). tools/bench/README.md ("Kernel
 * baseline") has the details; --self-test checks every counter.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <poll.h>
#include <stddef.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>
#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#endif

#include <liburing.h>

#include "sl_hash64.h"
#include "sl_wire.h"

#ifndef SO_MEMINFO
#define SO_MEMINFO 55
#endif

#define KR_BATCH 32 /* datagrams a recvmmsg, sendmmsg or send batch */
#define KR_BUF 2048 /* receive buffer of one datagram */
#define KR_DGRAM_MAX (SL_WIRE_HDR_LEN + SL_WIRE_PAYLOAD_MAX)
#define KR_TX_MAX 256       /* datagrams queued before a sendmmsg */
#define KR_WINDOW_MAX 32    /* reorder window, fragments */
#define KR_HOLD_BLOCKS 1024 /* streams holding fragments at once */
#define KR_HOLD_SLOTS 4096  /* mmsg: copies of held fragments */
#define KR_INST_MAX 16
#define KR_CLIENTS 16
#define KR_VARIANTS 8
#define KR_ROUNDS_MAX 64
#define KR_PIPELINE 1
#define KR_TENANT 1
#define KR_NEXT_STAGE 1 /* the stage the relayed edge leads to */
#define KR_NONE UINT32_MAX
#define KR_ID_MARK (1ull << 63) /* as SL_DP_REQUEST_ID_MARK */
#define KR_SOCK_BUF (32 << 20)
#define KR_TIMEOUT_MS 20 /* the relay looks at its stop flag this often */
#define KR_URING_BUFS 4096
#define KR_URING_BGID 1
#define KR_URING_SQ 1024
#define KR_URING_CQ 16384
#define KR_UD_RECV 1ull
#define KR_UD_SEND (2ull << 32)
#define KR_SINK_BATCH 64
/* A drain counts as undisturbed when the relay thread ran for at least
 * this share of it (README.md: why). */
#define KR_UNDISTURBED 0.95

#define kr_unlikely(x) __builtin_expect(!!(x), 0)

/* Why the relay did not forward a datagram (drops[]). */
#define KR_DROPS(_)                                                            \
	_(INVALID, "invalid", "sl_wire_parse refused it (header or tokens)")   \
	_(NOT_ROUTED, "not_routed",                                            \
	  "pipeline, stage, depth or source not of the relayed edge")          \
	_(DUPLICATE, "duplicate", "sequence already delivered or held")        \
	_(AFTER_END, "after_end", "beyond its stream's END")                   \
	_(TOO_FAR, "too_far", "beyond the reorder window")                     \
	_(REORDER_FULL, "reorder_full", "no room to hold it")                  \
	_(TABLE_FULL, "table_full", "flow table full: new stream refused")     \
	_(EXPIRED, "expired", "held by a stream that went idle")               \
	_(TX_ERROR, "tx_error", "the kernel refused to send it")

enum kr_drop {
#define KR_DROP_ENUM(n, name, text) KR_DROP_##n,
	KR_DROPS(KR_DROP_ENUM)
#undef KR_DROP_ENUM
		KR_DROP_MAX
};

static const char *const kr_drop_names[] = {
#define KR_DROP_NAME(n, name, text) name,
	KR_DROPS(KR_DROP_NAME)
#undef KR_DROP_NAME
};

enum kr_io {
	KR_IO_MMSG,
	KR_IO_URING,
};

static const char *const kr_io_names[] = {"mmsg", "uring"};

/* How the driver paces its sends (README.md, "Kernel baseline"). */
enum kr_pace {
	KR_PACE_BURST,  /* fill the gated relay's socket, time its drain */
	KR_PACE_WINDOW, /* send on, at most --inflight in flight */
};

static const char *const kr_pace_names[] = {"burst", "window"};

/* Token payloads: 2-4 tokens, ASCII and multi-byte UTF-8 (bench_dataplane's
 * bench_tokens). */
static const char *const kr_tokens[KR_VARIANTS][4] = {
	{" the", " cat"},
	{"Hi", "!"},
	{" \xc3\xbc"
	 "ber",
	 "s"}, /* " über" */
	{" a", " b", " c"},
	{"\xe6\x9d\xb1", "\xe4\xba\xac"}, /* two CJK characters */
	{"x", "y", "z", "."},
	{" na",
	 "\xc3\xaf"
	 "ve",
	 "!"}, /* "ïve" */
	{"o", "k"},
};

struct kr_opts {
	enum kr_io io;
	enum kr_pace pace;
	unsigned int burst;
	double seconds;
	unsigned int rounds;
	int cpu;
	const char *json_file;
	const char *commit;
	unsigned int streams;
	unsigned int fragments;
	unsigned int instances;
	unsigned int flows;
	unsigned int window;
	unsigned int linger_ms;
	unsigned int idle_ms;
	unsigned int inflight;
	bool self_test;
};

/* ---- the relay's counters ---- */

struct kr_stats {
	uint64_t rx;       /* datagrams received */
	uint64_t fwd;      /* datagrams the kernel took for sending */
	uint64_t control;  /* control fragments consumed */
	uint64_t held;     /* fragments held for a gap */
	uint64_t released; /* held fragments sent once their gap filled */
	uint64_t drops[KR_DROP_MAX];
	uint64_t wire[SL_WIRE_STATUS_MAX]; /* INVALID by sl_wire status */
	uint64_t created;                  /* streams */
	uint64_t removed;
	uint64_t idled;    /* of them: went idle before their END */
	uint64_t rx_calls; /* recvmmsg calls, or completion passes */
	uint64_t tx_calls; /* sendmmsg calls, or io_uring submits */
	uint64_t nobufs;   /* uring: the multishot recv ran out of buffers */
	uint64_t rearms;   /* uring: multishot recvs posted */
	uint64_t rx_errors;
};

/* What other threads read while the relay runs (__atomic, relaxed). */
struct kr_pub {
	uint64_t rx;
	uint64_t fwd;
	uint64_t not_fwd; /* drops and control fragments */
	uint64_t rx_calls;
	/* --pace burst: the drains, summed; u_: those the relay had its CPU
	 * for (its CPU time at least KR_UNDISTURBED of the drain's wall) */
	uint64_t m_cpu;  /* relay thread CPU ns */
	uint64_t m_wall; /* ns */
	uint64_t m_fwd;
	uint64_t m_rx;
	uint64_t m_calls;
	uint64_t drains;
	uint64_t u_cpu, u_wall, u_fwd, u_rx, u_calls, u_drains;
};

/* ---- the flow table ---- */

/* sl_flow_key's layout: raw wire bytes where they come from the header. */
struct kr_key {
	uint32_t pipeline; /* network order */
	uint16_t stage;    /* network order */
	uint8_t depth;
	uint8_t zero;
	uint32_t src_ip;   /* network order, as in sockaddr_in */
	uint16_t src_port; /* network order */
	uint16_t tenant;   /* network order */
	uint64_t ancestry[SL_ANCESTRY_MAX]; /* network order; unused ids 0 */
};

enum kr_flow_state {
	KR_FLOW_FREE = 0,
	KR_FLOW_ACTIVE,
	KR_FLOW_ENDED, /* END or ABORT delivered; lingers for duplicates */
};

struct kr_flow {
	struct kr_key key;
	uint64_t hash;
	uint64_t relay_id_be; /* the request's id towards instances */
	uint32_t next_seq;    /* next sequence to deliver */
	uint32_t end_seq;     /* END or ABORT; UINT32_MAX until seen */
	uint32_t gen;         /* bumped when the entry is reused */
	int32_t hold;         /* reorder block, or -1 */
	uint64_t last;        /* r->now at its last fragment */
	uint16_t inst;        /* the instance the stream is pinned to */
	uint8_t state;        /* enum kr_flow_state */
	uint8_t n_held;
} __attribute__((aligned(64)));

struct kr_table {
	uint64_t *slots; /* tag << 32 | (entry + 1); 0: empty */
	uint32_t mask;
	struct kr_flow *flows;
	uint32_t cap; /* entries */
	uint32_t *free;
	uint32_t n_free;
	uint32_t used;
	uint32_t peak;
	uint64_t sip[2]; /* the hash secret */
};

/* An ended stream waiting out its linger, oldest first. */
struct kr_linger {
	uint32_t idx;
	uint32_t gen;
	uint64_t deadline;
};

/* The fragments a stream holds, by seq % window. */
struct kr_hold {
	uint8_t *data[KR_WINDOW_MAX];
	uint32_t handle[KR_WINDOW_MAX]; /* KR_NONE: empty */
	uint16_t len[KR_WINDOW_MAX];
};

/* ---- I/O state ---- */

struct kr_mmsg {
	struct mmsghdr rx[KR_BATCH];
	struct iovec rx_iov[KR_BATCH];
	struct sockaddr_in rx_addr[KR_BATCH];
	uint8_t *rx_buf;
	struct mmsghdr tx[KR_TX_MAX];
	struct iovec tx_iov[KR_TX_MAX];
	uint32_t tx_handle[KR_TX_MAX];
	unsigned int n_tx;
	uint8_t *slots; /* copies of held fragments */
	uint32_t slot_free[KR_HOLD_SLOTS];
	uint32_t n_slot_free;
};

struct kr_uring {
	struct io_uring ring;
	bool ring_up;
	struct io_uring_buf_ring *br;
	size_t br_bytes;
	bool br_registered;
	uint8_t *bufs;
	unsigned int pending; /* buffers given back, not yet published */
	struct msghdr rx_msg;
	struct msghdr tx_msg[KR_URING_BUFS]; /* by buffer id */
	struct iovec tx_iov[KR_URING_BUFS];
	unsigned int tx_inflight;
	bool armed;
};

struct kr_relay {
	enum kr_io io;
	int fd;
	int cpu; /* -1: not pinned */
	unsigned int window;
	uint64_t linger_ns;
	uint64_t idle_ns;   /* 0: streams never idle out */
	uint32_t sweep_pos; /* next entry the idle sweep looks at */
	uint64_t sweep_last;
	unsigned int n_inst;
	struct sockaddr_in inst_addr[KR_INST_MAX];
	uint32_t seeds[KR_INST_MAX];
	struct kr_table t;
	struct kr_linger *lg;
	uint32_t lg_head;
	uint32_t lg_count;
	struct kr_hold *holds;
	uint32_t hold_free[KR_HOLD_BLOCKS];
	uint32_t n_hold_free;
	uint64_t now; /* ns, per pass: kr_now */
	/* --pace burst: time stands still while the relay waits at its gate,
	 * so lingers and idle timeouts see a relay that is always busy */
	uint64_t vbase;  /* the clock at the start of this drain */
	uint64_t vstart; /* CLOCK_MONOTONIC then */
	struct kr_stats st;
	struct kr_pub pub;
	int stop;  /* __atomic */
	int ready; /* __atomic: 1 running, -1 failed (why) */
	pid_t tid; /* the relay thread's */
	/* --pace burst: the driver opens the gate, the relay closes it */
	bool gated;
	pthread_mutex_t gate_mu;
	pthread_cond_t gate_cv;
	bool gate_open;
	uint64_t gate_target;
	char why[200];
	struct kr_mmsg *mm;
	struct kr_uring *ur;
	const char *uring_setup; /* the ring's setup flags, by name */
};

enum kr_verdict {
	KR_V_DROP, /* the caller's buffer is free again */
	KR_V_SENT, /* queued for sending from the caller's buffer */
	KR_V_KEPT, /* held (uring: in the caller's buffer) */
};

/* ---- hashing ---- */

/* sl_route_seed: an instance's rendezvous identity (host order). */
static uint32_t
kr_seed(uint32_t ip, uint16_t port)
{
	uint64_t v = ((uint64_t)ip << 16) | port;

	return (uint32_t)sl_mix64(v ^ 0x736c7569636521ull);
}

/* sl_route_rendezvous: the instance with the highest score. The key hash
 * of the request id is mix64 here (sl_route_key_hash: CRC32C, mixed). */
static uint16_t
kr_rendezvous(uint64_t id, const uint32_t *seeds, unsigned int n)
{
	uint64_t key = sl_mix64(id ^ 0x51ce51ce51ce51ceull);
	uint64_t best_score = 0;
	uint16_t best = 0;

	for (unsigned int i = 0; i < n; i++) {
		uint64_t score =
			sl_mix64(key ^ ((uint64_t)seeds[i] << 32 | seeds[i]));

		if (i == 0 || score > best_score) {
			best_score = score;
			best = (uint16_t)i;
		}
	}
	return best;
}

/* SipHash-1-3 of the key's bytes in use (the 16-byte head and depth ids)
 * under @k: sl_flow_hash, 64 bits wide (index low, tag high). */
static inline uint64_t
kr_siphash(const uint64_t k[2], const struct kr_key *key)
{
	uint8_t depth =
		key->depth < SL_ANCESTRY_MAX ? key->depth : SL_ANCESTRY_MAX;

	return sl_siphash13_ids(k, key, key->ancestry, depth);
}

/* ---- clocks ---- */

static uint64_t
kr_ns(clockid_t c)
{
	struct timespec ts;

	clock_gettime(c, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void
kr_sleep_ms(unsigned int ms)
{
	struct timespec ts = {.tv_sec = ms / 1000,
			      .tv_nsec = (long)(ms % 1000) * 1000000};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* TSC ticks per second, calibrated against CLOCK_MONOTONIC_RAW over
 * 200 ms; without a TSC, 1e9 (cycles are then nanoseconds). */
static double
kr_tsc_hz(void)
{
#if defined(__x86_64__) || defined(__i386__)
	uint64_t n0 = kr_ns(CLOCK_MONOTONIC_RAW);
	uint64_t t0 = __rdtsc();

	kr_sleep_ms(200);
	uint64_t t1 = __rdtsc();
	uint64_t n1 = kr_ns(CLOCK_MONOTONIC_RAW);

	return (double)(t1 - t0) * 1e9 / (double)(n1 - n0);
#else
	return 1e9;
#endif
}

/* ---- the flow table ---- */

static int
kr_table_init(struct kr_table *t, uint32_t cap)
{
	uint32_t n = 16;

	while (n < 2 * cap)
		n <<= 1;
	t->mask = n - 1;
	t->cap = cap;
	t->slots = calloc(n, sizeof(*t->slots));
	t->flows = aligned_alloc(64, sizeof(*t->flows) * (size_t)cap);
	t->free = malloc(sizeof(*t->free) * (size_t)cap);
	if (t->slots == NULL || t->flows == NULL || t->free == NULL)
		return -ENOMEM;
	memset(t->flows, 0, sizeof(*t->flows) * (size_t)cap);
	/* Entry 0 on top: the lowest entries are used first, and reused
	 * while still in cache. */
	for (uint32_t i = 0; i < cap; i++)
		t->free[i] = cap - 1 - i;
	t->n_free = cap;
	t->used = t->peak = 0;
	if (getrandom(t->sip, sizeof(t->sip), 0) != sizeof(t->sip))
		return -errno;
	return 0;
}

static void
kr_table_fini(struct kr_table *t)
{
	free(t->slots);
	free(t->flows);
	free(t->free);
}

/* The entry of @key, or KR_NONE with *pos the empty slot it would take. */
static inline uint32_t
kr_lookup(const struct kr_table *t, const struct kr_key *key, uint64_t hash,
	  uint32_t *pos)
{
	uint32_t i = (uint32_t)hash & t->mask;
	uint32_t tag = (uint32_t)(hash >> 32);

	for (;;) {
		uint64_t s = t->slots[i];

		if (s == 0) {
			*pos = i;
			return KR_NONE;
		}
		if ((uint32_t)(s >> 32) == tag) {
			uint32_t idx = (uint32_t)s - 1;

			if (memcmp(&t->flows[idx].key, key, sizeof(*key)) == 0)
				return idx;
		}
		i = (i + 1) & t->mask;
	}
}

/* A new entry for @key at slot @pos (from kr_lookup); KR_NONE when full. */
static uint32_t
kr_table_add(struct kr_table *t, const struct kr_key *key, uint64_t hash,
	     uint32_t pos)
{
	struct kr_flow *f;
	uint32_t idx;

	if (t->n_free == 0)
		return KR_NONE;
	idx = t->free[--t->n_free];
	f = &t->flows[idx];
	f->key = *key;
	f->hash = hash;
	f->gen++;
	t->slots[pos] = (hash >> 32) << 32 | (uint64_t)(idx + 1);
	if (++t->used > t->peak)
		t->peak = t->used;
	return idx;
}

/* Remove entry @idx: backward-shift deletion, no tombstones. */
static void
kr_table_del(struct kr_table *t, uint32_t idx)
{
	uint32_t i = (uint32_t)t->flows[idx].hash & t->mask;
	uint32_t j;

	while ((uint32_t)t->slots[i] != idx + 1)
		i = (i + 1) & t->mask;
	t->slots[i] = 0;
	j = i;
	for (;;) {
		uint32_t k;

		j = (j + 1) & t->mask;
		if (t->slots[j] == 0)
			break;
		k = (uint32_t)t->flows[(uint32_t)t->slots[j] - 1].hash &
		    t->mask;
		/* Stays if its home lies cyclically in (i, j]. */
		if (i <= j ? (i < k && k <= j) : (i < k || k <= j))
			continue;
		t->slots[i] = t->slots[j];
		t->slots[j] = 0;
		i = j;
	}
	t->flows[idx].state = KR_FLOW_FREE;
	t->free[t->n_free++] = idx;
	t->used--;
}

/* ---- the I/O layer's part of the packet logic ---- */

static void kr_mmsg_flush(struct kr_relay *r);

static inline void
kr_uring_recycle(struct kr_relay *r, uint32_t bid)
{
	struct kr_uring *ur = r->ur;

	io_uring_buf_ring_add(ur->br, ur->bufs + (size_t)bid * KR_BUF, KR_BUF,
			      (unsigned short)bid,
			      io_uring_buf_ring_mask(KR_URING_BUFS),
			      (int)ur->pending++);
}

static inline struct io_uring_sqe *
kr_uring_sqe(struct kr_uring *ur)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&ur->ring);

	if (sqe == NULL) {
		io_uring_submit(&ur->ring);
		sqe = io_uring_get_sqe(&ur->ring);
	}
	return sqe;
}

/* Send @len bytes at @d to instance @inst; @handle is what to give back
 * once they are sent (mmsg: a hold slot or KR_NONE; uring: the buffer). */
static inline void
kr_emit(struct kr_relay *r, uint8_t *d, size_t len, uint16_t inst,
	uint32_t handle)
{
	if (r->io == KR_IO_MMSG) {
		struct kr_mmsg *mm = r->mm;
		unsigned int n = mm->n_tx;

		mm->tx_iov[n].iov_base = d;
		mm->tx_iov[n].iov_len = len;
		mm->tx[n].msg_hdr.msg_name = &r->inst_addr[inst];
		mm->tx_handle[n] = handle;
		if (++mm->n_tx == KR_TX_MAX)
			kr_mmsg_flush(r);
		return;
	}
	struct kr_uring *ur = r->ur;
	struct io_uring_sqe *sqe = kr_uring_sqe(ur);
	struct msghdr *m = &ur->tx_msg[handle];
	struct iovec *v = &ur->tx_iov[handle];

	v->iov_base = d;
	v->iov_len = len;
	m->msg_name = &r->inst_addr[inst];
	m->msg_namelen = sizeof(r->inst_addr[inst]);
	m->msg_iov = v;
	m->msg_iovlen = 1;
	io_uring_prep_sendmsg(sqe, r->fd, m, 0);
	sqe->user_data = KR_UD_SEND | handle;
	ur->tx_inflight++;
}

/* Keep a fragment to send later: return its handle (and where its bytes
 * are in *@at), or KR_NONE. mmsg copies it; uring keeps its buffer. */
static inline uint32_t
kr_keep(struct kr_relay *r, uint8_t *d, size_t len, uint32_t handle,
	uint8_t **at)
{
	if (r->io == KR_IO_URING) {
		*at = d;
		return handle;
	}
	struct kr_mmsg *mm = r->mm;
	uint32_t s;

	if (mm->n_slot_free == 0 || len > KR_DGRAM_MAX)
		return KR_NONE;
	s = mm->slot_free[--mm->n_slot_free];
	*at = mm->slots + (size_t)s * KR_DGRAM_MAX;
	memcpy(*at, d, len);
	return s;
}

/* A kept fragment that will not be sent. */
static inline void
kr_unkeep(struct kr_relay *r, uint32_t handle)
{
	if (r->io == KR_IO_URING)
		kr_uring_recycle(r, handle);
	else
		r->mm->slot_free[r->mm->n_slot_free++] = handle;
}

/* ---- the packet logic ---- */

/* The relay's clock: CLOCK_MONOTONIC, or with --pace burst the time it
 * spent draining. */
static inline uint64_t
kr_now(const struct kr_relay *r)
{
	uint64_t t = kr_ns(CLOCK_MONOTONIC);

	return r->gated ? r->vbase + (t - r->vstart) : t;
}

static inline enum kr_verdict
kr_drop(struct kr_relay *r, enum kr_drop why)
{
	r->st.drops[why]++;
	return KR_V_DROP;
}

static void
kr_hold_put(struct kr_relay *r, struct kr_flow *f)
{
	r->hold_free[r->n_hold_free++] = (uint32_t)f->hold;
	f->hold = -1;
}

/* The stream's END or ABORT was delivered: anything still held lies past
 * it (AFTER_END); the stream lingers, or leaves at once without linger. */
/* Drop what @f holds, counted as @why. */
static void
kr_hold_drop(struct kr_relay *r, struct kr_flow *f, enum kr_drop why)
{
	if (f->n_held != 0) {
		struct kr_hold *hb = &r->holds[f->hold];

		for (unsigned int s = 0; s < r->window; s++)
			if (hb->handle[s] != KR_NONE) {
				kr_unkeep(r, hb->handle[s]);
				r->st.drops[why]++;
			}
		f->n_held = 0;
	}
	if (f->hold >= 0)
		kr_hold_put(r, f);
}

static void
kr_stream_end(struct kr_relay *r, uint32_t idx)
{
	struct kr_flow *f = &r->t.flows[idx];

	kr_hold_drop(r, f, KR_DROP_AFTER_END);
	f->state = KR_FLOW_ENDED;
	if (r->linger_ns == 0) {
		kr_table_del(&r->t, idx);
		r->st.removed++;
		return;
	}
	struct kr_linger *l = &r->lg[(r->lg_head + r->lg_count++) % r->t.cap];

	l->idx = idx;
	l->gen = f->gen;
	l->deadline = r->now + r->linger_ns;
}

/*
 * Streams idle for idle_ns leave the table, what they hold dropped: a
 * slice of the entries each millisecond, cap / (idle / 4) of them, so
 * that every entry is looked at four times an idle timeout (sluiced's
 * housekeeping scan).
 */
static void
kr_sweep(struct kr_relay *r)
{
	uint64_t ms = (r->now - r->sweep_last) / 1000000ull;
	uint64_t n;

	if (r->idle_ns == 0 || ms == 0)
		return;
	n = ms * r->t.cap * 4 / (r->idle_ns / 1000000ull);
	if (n == 0)
		return;
	if (n > r->t.cap)
		n = r->t.cap;
	r->sweep_last = r->now;
	while (n-- != 0) {
		uint32_t idx = r->sweep_pos;
		struct kr_flow *f = &r->t.flows[idx];

		r->sweep_pos = idx + 1 == r->t.cap ? 0 : idx + 1;
		if (f->state != KR_FLOW_ACTIVE || f->last + r->idle_ns > r->now)
			continue;
		kr_hold_drop(r, f, KR_DROP_EXPIRED);
		kr_table_del(&r->t, idx);
		r->st.removed++;
		r->st.idled++;
	}
}

/* Streams whose linger is over leave the table, oldest first; idle ones
 * too. */
static void
kr_expire(struct kr_relay *r)
{
	kr_sweep(r);
	while (r->lg_count != 0) {
		const struct kr_linger *l = &r->lg[r->lg_head];
		struct kr_flow *f = &r->t.flows[l->idx];

		if (l->deadline > r->now)
			break;
		if (f->gen == l->gen && f->state == KR_FLOW_ENDED) {
			kr_table_del(&r->t, l->idx);
			r->st.removed++;
		}
		r->lg_head = (r->lg_head + 1) % r->t.cap;
		r->lg_count--;
	}
}

static uint32_t
kr_stream_new(struct kr_relay *r, const struct kr_key *key, uint64_t hash,
	      uint32_t pos)
{
	uint32_t idx = kr_table_add(&r->t, key, hash, pos);
	struct kr_flow *f;
	uint64_t id;

	if (idx == KR_NONE)
		return KR_NONE;
	f = &r->t.flows[idx];
	/* sl_dp_request_id: the entry and its generation. */
	id = KR_ID_MARK | (uint64_t)(f->gen & 0x7fffffffu) << 32 | idx;
	f->relay_id_be = htobe64(id);
	f->inst = kr_rendezvous(id, r->seeds, r->n_inst);
	f->next_seq = 0;
	f->end_seq = UINT32_MAX;
	f->hold = -1;
	f->n_held = 0;
	f->state = KR_FLOW_ACTIVE;
	r->st.created++;
	return idx;
}

/* A fragment that is not the next one of its stream (stage_order.c's
 * order_out_of_line, without the NACKs: loss repair is not relayed). */
static enum kr_verdict
kr_out_of_line(struct kr_relay *r, struct kr_flow *f, uint8_t *d, size_t len,
	       const struct sl_frag_hdr *h, uint32_t handle)
{
	const uint32_t seq = h->seq;
	struct kr_hold *hb;
	unsigned int s;
	uint8_t *at;
	uint32_t kept;

	if (seq < f->next_seq ||
	    (f->end_seq != UINT32_MAX && f->next_seq > f->end_seq))
		return kr_drop(r, seq < f->next_seq ? KR_DROP_DUPLICATE
						    : KR_DROP_AFTER_END);
	if (f->end_seq != UINT32_MAX && seq > f->end_seq)
		return kr_drop(r, KR_DROP_AFTER_END);
	if (seq - f->next_seq >= r->window)
		return kr_drop(r, KR_DROP_TOO_FAR);
	if (f->hold < 0) {
		if (r->n_hold_free == 0)
			return kr_drop(r, KR_DROP_REORDER_FULL);
		f->hold = (int32_t)r->hold_free[--r->n_hold_free];
		hb = &r->holds[f->hold];
		for (unsigned int k = 0; k < r->window; k++)
			hb->handle[k] = KR_NONE;
	}
	hb = &r->holds[f->hold];
	s = seq % r->window;
	if (hb->handle[s] != KR_NONE)
		return kr_drop(r, KR_DROP_DUPLICATE);
	kept = kr_keep(r, d, len, handle, &at);
	if (kept == KR_NONE) {
		if (f->n_held == 0)
			kr_hold_put(r, f);
		return kr_drop(r, KR_DROP_REORDER_FULL);
	}
	hb->handle[s] = kept;
	hb->data[s] = at;
	hb->len[s] = (uint16_t)len;
	f->n_held++;
	r->st.held++;
	if (h->flags & (SL_FRAG_F_END | SL_FRAG_F_ABORT))
		f->end_seq = seq;
	return KR_V_KEPT;
}

/* The gap before held fragments filled: send them in order. */
static void
kr_release(struct kr_relay *r, struct kr_flow *f)
{
	struct kr_hold *hb = &r->holds[f->hold];

	while (f->n_held != 0 && f->next_seq <= f->end_seq) {
		unsigned int s = f->next_seq % r->window;

		if (hb->handle[s] == KR_NONE)
			break;
		kr_emit(r, hb->data[s], hb->len[s], f->inst, hb->handle[s]);
		hb->handle[s] = KR_NONE;
		f->n_held--;
		f->next_seq++;
		r->st.released++;
	}
	if (f->n_held == 0)
		kr_hold_put(r, f);
}

/*
 * One datagram of @len bytes at @d from @src_ip:@src_port (network order)
 * through parse, admit, order and route. @handle names the buffer for the
 * I/O layer. The header is rewritten in place.
 */
static enum kr_verdict
kr_relay_one(struct kr_relay *r, uint8_t *d, size_t len, uint32_t src_ip,
	     uint16_t src_port, uint32_t handle)
{
	enum sl_wire_status ws;
	struct sl_frag_hdr h;
	struct kr_key key;
	struct kr_flow *f;
	uint32_t idx, pos = 0;
	uint64_t hash;
	uint16_t v;

	r->st.rx++;
	/* parse: the header and every token (stage_parse.c) */
	ws = sl_wire_parse(d, len, &h);
	if (kr_unlikely(ws != SL_WIRE_OK)) {
		r->st.wire[ws]++;
		return kr_drop(r, KR_DROP_INVALID);
	}
	if (kr_unlikely(h.flags & SL_FRAG_F_CONTROL)) {
		r->st.control++;
		return KR_V_DROP;
	}
	/* admit: the relayed edge, from an allowed source (stage_admit.c) */
	if (kr_unlikely(h.pipeline != KR_PIPELINE || h.stage != 0 ||
			h.depth != 1 || (ntohl(src_ip) >> 24) != 127))
		return kr_drop(r, KR_DROP_NOT_ROUTED);
	memcpy(&key, d + SL_WIRE_OFF_PIPELINE, 4);
	memcpy(&key.stage, d + SL_WIRE_OFF_STAGE, 2);
	key.depth = h.depth;
	key.zero = 0;
	key.src_ip = src_ip;
	key.src_port = src_port;
	memcpy(&key.tenant, d + SL_WIRE_OFF_TENANT, 2);
	memset(key.ancestry, 0, sizeof(key.ancestry));
	memcpy(key.ancestry, d + SL_WIRE_OFF_ANCESTRY, 8u * h.depth);
	hash = kr_siphash(r->t.sip, &key);
	idx = kr_lookup(&r->t, &key, hash, &pos);
	if (kr_unlikely(idx == KR_NONE)) {
		idx = kr_stream_new(r, &key, hash, pos);
		if (idx == KR_NONE)
			return kr_drop(r, KR_DROP_TABLE_FULL);
	}
	f = &r->t.flows[idx];
	f->last = r->now;
	/* route: the instance sees the stage it serves, who produced the
	 * stream and the relay's id for the request (stage_route.c) */
	v = htobe16(KR_NEXT_STAGE);
	memcpy(d + SL_WIRE_OFF_STAGE, &v, 2);
	v = htobe16(h.stage);
	memcpy(d + SL_WIRE_OFF_FROM_STAGE, &v, 2);
	memcpy(d + SL_WIRE_OFF_ANCESTRY, &f->relay_id_be, 8);
	/* order: in sequence, once (stage_order.c) */
	if (kr_unlikely(h.seq != f->next_seq || f->next_seq > f->end_seq))
		return kr_out_of_line(r, f, d, len, &h, handle);
	if (h.flags & (SL_FRAG_F_END | SL_FRAG_F_ABORT))
		f->end_seq = h.seq;
	f->next_seq++;
	kr_emit(r, d, len, f->inst, handle);
	if (kr_unlikely(f->n_held != 0))
		kr_release(r, f);
	if (kr_unlikely(f->next_seq > f->end_seq))
		kr_stream_end(r, idx);
	return KR_V_SENT;
}

static void
kr_publish(struct kr_relay *r)
{
	uint64_t not_fwd = r->st.control;

	for (unsigned int i = 0; i < KR_DROP_MAX; i++)
		not_fwd += r->st.drops[i];
	__atomic_store_n(&r->pub.rx, r->st.rx, __ATOMIC_RELAXED);
	__atomic_store_n(&r->pub.fwd, r->st.fwd, __ATOMIC_RELAXED);
	__atomic_store_n(&r->pub.not_fwd, not_fwd, __ATOMIC_RELAXED);
	__atomic_store_n(&r->pub.rx_calls, r->st.rx_calls, __ATOMIC_RELAXED);
}

static inline bool
kr_stopping(struct kr_relay *r)
{
	return __atomic_load_n(&r->stop, __ATOMIC_RELAXED) != 0;
}

/* ---- mmsg: recvmmsg and sendmmsg ---- */

static void
kr_mmsg_flush(struct kr_relay *r)
{
	struct kr_mmsg *mm = r->mm;
	unsigned int n = mm->n_tx, done = 0;

	while (done < n) {
		int k = sendmmsg(r->fd, mm->tx + done, n - done, 0);

		r->st.tx_calls++;
		if (k < 0) {
			if (errno == EINTR)
				continue;
			/* The first one failed: count it, go on. */
			r->st.drops[KR_DROP_TX_ERROR]++;
			done++;
			continue;
		}
		r->st.fwd += (uint64_t)k;
		done += (unsigned int)k;
	}
	for (unsigned int i = 0; i < n; i++)
		if (mm->tx_handle[i] != KR_NONE)
			mm->slot_free[mm->n_slot_free++] = mm->tx_handle[i];
	mm->n_tx = 0;
}

static int
kr_mmsg_setup(struct kr_relay *r)
{
	struct kr_mmsg *mm = calloc(1, sizeof(*mm));
	struct timeval tv = {.tv_usec = KR_TIMEOUT_MS * 1000};

	if (mm == NULL)
		return -ENOMEM;
	r->mm = mm;
	mm->rx_buf = malloc((size_t)KR_BATCH * KR_BUF);
	mm->slots = malloc((size_t)KR_HOLD_SLOTS * KR_DGRAM_MAX);
	if (mm->rx_buf == NULL || mm->slots == NULL)
		return -ENOMEM;
	for (unsigned int i = 0; i < KR_BATCH; i++) {
		mm->rx_iov[i].iov_base = mm->rx_buf + (size_t)i * KR_BUF;
		mm->rx_iov[i].iov_len = KR_BUF;
		mm->rx[i].msg_hdr.msg_iov = &mm->rx_iov[i];
		mm->rx[i].msg_hdr.msg_iovlen = 1;
		mm->rx[i].msg_hdr.msg_name = &mm->rx_addr[i];
	}
	for (unsigned int i = 0; i < KR_TX_MAX; i++) {
		mm->tx[i].msg_hdr.msg_iov = &mm->tx_iov[i];
		mm->tx[i].msg_hdr.msg_iovlen = 1;
		mm->tx[i].msg_hdr.msg_namelen = sizeof(struct sockaddr_in);
	}
	for (uint32_t i = 0; i < KR_HOLD_SLOTS; i++)
		mm->slot_free[i] = KR_HOLD_SLOTS - 1 - i;
	mm->n_slot_free = KR_HOLD_SLOTS;
	/* Blocking, so an idle relay sleeps; it wakes to see its stop flag. */
	if (setsockopt(r->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0)
		return -errno;
	return 0;
}

/* One recvmmsg (waiting up to KR_TIMEOUT_MS for the first datagram), the
 * batch through the logic, one sendmmsg. Return the datagrams received. */
static unsigned int
kr_mmsg_pass(struct kr_relay *r)
{
	struct kr_mmsg *mm = r->mm;
	int n;

	for (unsigned int i = 0; i < KR_BATCH; i++)
		mm->rx[i].msg_hdr.msg_namelen = sizeof(mm->rx_addr[i]);
	n = recvmmsg(r->fd, mm->rx, KR_BATCH, MSG_WAITFORONE, NULL);
	r->now = kr_now(r);
	if (n > 0) {
		r->st.rx_calls++;
		for (int i = 0; i < n; i++) {
			const struct msghdr *mh = &mm->rx[i].msg_hdr;

			if (kr_unlikely(mh->msg_flags & MSG_TRUNC)) {
				r->st.rx++;
				r->st.wire[SL_WIRE_TOO_BIG]++;
				kr_drop(r, KR_DROP_INVALID);
				continue;
			}
			kr_relay_one(r, mm->rx_iov[i].iov_base,
				     mm->rx[i].msg_len,
				     mm->rx_addr[i].sin_addr.s_addr,
				     mm->rx_addr[i].sin_port, KR_NONE);
		}
		if (mm->n_tx != 0)
			kr_mmsg_flush(r);
	}
	kr_expire(r);
	kr_publish(r);
	return n > 0 ? (unsigned int)n : 0;
}

static void
kr_mmsg_fini(struct kr_relay *r)
{
	if (r->mm == NULL)
		return;
	free(r->mm->rx_buf);
	free(r->mm->slots);
	free(r->mm);
	r->mm = NULL;
}

/* ---- uring: multishot recvmsg on a buffer ring, sendmsg SQEs ---- */

static int
kr_uring_setup(struct kr_relay *r)
{
	static const struct {
		unsigned int flags;
		const char *name;
	} tries[] = {
		{IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
		 "SINGLE_ISSUER|DEFER_TASKRUN"},
		{IORING_SETUP_COOP_TASKRUN, "COOP_TASKRUN"},
		{0, "none"},
	};
	struct io_uring_buf_reg reg = {0};
	struct kr_uring *ur = calloc(1, sizeof(*ur));
	int rc = -EINVAL;

	if (ur == NULL)
		return -ENOMEM;
	r->ur = ur;
	for (unsigned int i = 0; i < sizeof(tries) / sizeof(tries[0]); i++) {
		struct io_uring_params p = {0};

		p.flags = IORING_SETUP_CQSIZE | tries[i].flags;
		p.cq_entries = KR_URING_CQ;
		rc = io_uring_queue_init_params(KR_URING_SQ, &ur->ring, &p);
		if (rc == 0) {
			r->uring_setup = tries[i].name;
			break;
		}
	}
	if (rc < 0) {
		snprintf(r->why, sizeof(r->why), "io_uring_queue_init: %s",
			 strerror(-rc));
		return rc;
	}
	ur->ring_up = true;
	ur->br_bytes = sizeof(struct io_uring_buf) * KR_URING_BUFS;
	ur->br = mmap(NULL, ur->br_bytes, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ur->bufs = malloc((size_t)KR_URING_BUFS * KR_BUF);
	if (ur->br == MAP_FAILED || ur->bufs == NULL) {
		ur->br = NULL;
		snprintf(r->why, sizeof(r->why), "buffer ring: out of memory");
		return -ENOMEM;
	}
	/* liburing 2.3: no io_uring_setup_buf_ring; map and register. */
	reg.ring_addr = (uintptr_t)ur->br;
	reg.ring_entries = KR_URING_BUFS;
	reg.bgid = KR_URING_BGID;
	rc = io_uring_register_buf_ring(&ur->ring, &reg, 0);
	if (rc < 0) {
		snprintf(r->why, sizeof(r->why),
			 "io_uring_register_buf_ring: %s (kernel < 5.19?)",
			 strerror(-rc));
		return rc;
	}
	ur->br_registered = true;
	io_uring_buf_ring_init(ur->br);
	for (uint32_t i = 0; i < KR_URING_BUFS; i++)
		kr_uring_recycle(r, i);
	io_uring_buf_ring_advance(ur->br, (int)ur->pending);
	ur->pending = 0;
	ur->rx_msg.msg_namelen = sizeof(struct sockaddr_in);
	return 0;
}

static void
kr_uring_arm(struct kr_relay *r)
{
	struct kr_uring *ur = r->ur;
	struct io_uring_sqe *sqe = kr_uring_sqe(ur);

	io_uring_prep_recvmsg_multishot(sqe, r->fd, &ur->rx_msg, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = KR_URING_BGID;
	sqe->user_data = KR_UD_RECV;
	ur->armed = true;
	r->st.rearms++;
}

static void
kr_uring_recv(struct kr_relay *r, const struct io_uring_cqe *cqe)
{
	struct kr_uring *ur = r->ur;
	struct io_uring_recvmsg_out *o;
	const struct sockaddr_in *sin;
	uint32_t bid;
	uint8_t *buf;

	if (!(cqe->flags & IORING_CQE_F_MORE))
		ur->armed = false;
	if (cqe->res < 0) {
		if (cqe->res == -ENOBUFS)
			r->st.nobufs++;
		else
			r->st.rx_errors++;
		return;
	}
	if (!(cqe->flags & IORING_CQE_F_BUFFER))
		return;
	bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
	buf = ur->bufs + (size_t)bid * KR_BUF;
	o = io_uring_recvmsg_validate(buf, cqe->res, &ur->rx_msg);
	if (kr_unlikely(o == NULL || o->namelen < sizeof(*sin))) {
		r->st.rx_errors++;
		kr_uring_recycle(r, bid);
		return;
	}
	if (kr_unlikely(o->flags & MSG_TRUNC)) {
		r->st.rx++;
		r->st.wire[SL_WIRE_TOO_BIG]++;
		kr_drop(r, KR_DROP_INVALID);
		kr_uring_recycle(r, bid);
		return;
	}
	sin = io_uring_recvmsg_name(o);
	if (kr_relay_one(
		    r, io_uring_recvmsg_payload(o, &ur->rx_msg),
		    io_uring_recvmsg_payload_length(o, cqe->res, &ur->rx_msg),
		    sin->sin_addr.s_addr, sin->sin_port, bid) == KR_V_DROP)
		kr_uring_recycle(r, bid);
}

/* One io_uring_enter: the sends queued since the last, and a wait of up to
 * KR_TIMEOUT_MS for a completion; then every completion there is. Return
 * the completions (0: the wait timed out). */
static unsigned int
kr_uring_pass(struct kr_relay *r)
{
	struct kr_uring *ur = r->ur;
	struct __kernel_timespec ts = {.tv_nsec = KR_TIMEOUT_MS * 1000000ll};
	struct io_uring_cqe *cqe;
	unsigned int head, seen = 0;

	io_uring_submit_and_wait_timeout(&ur->ring, &cqe, 1, &ts, NULL);
	r->st.tx_calls++;
	r->now = kr_now(r);
	io_uring_for_each_cqe(&ur->ring, head, cqe)
	{
		seen++;
		if (cqe->user_data == KR_UD_RECV) {
			kr_uring_recv(r, cqe);
			continue;
		}
		ur->tx_inflight--;
		if (cqe->res < 0)
			r->st.drops[KR_DROP_TX_ERROR]++;
		else
			r->st.fwd++;
		kr_uring_recycle(r, (uint32_t)cqe->user_data);
	}
	if (seen != 0) {
		io_uring_cq_advance(&ur->ring, seen);
		r->st.rx_calls++;
	}
	if (ur->pending != 0) {
		io_uring_buf_ring_advance(ur->br, (int)ur->pending);
		ur->pending = 0;
	}
	if (!ur->armed && !kr_stopping(r))
		kr_uring_arm(r);
	kr_expire(r);
	kr_publish(r);
	return seen;
}

static void
kr_uring_fini(struct kr_relay *r)
{
	struct kr_uring *ur = r->ur;

	if (ur == NULL)
		return;
	if (ur->br_registered)
		io_uring_unregister_buf_ring(&ur->ring, KR_URING_BGID);
	if (ur->ring_up)
		io_uring_queue_exit(&ur->ring);
	if (ur->br != NULL)
		munmap(ur->br, ur->br_bytes);
	free(ur->bufs);
	free(ur);
	r->ur = NULL;
}

/* ---- the relay thread ---- */

static void
kr_pin(int cpu, bool except)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	cpu_set_t set;

	if (cpu < 0)
		return;
	CPU_ZERO(&set);
	if (!except) {
		CPU_SET(cpu, &set);
	} else {
		for (long i = 0; i < n; i++)
			if (i != cpu)
				CPU_SET(i, &set);
		if (CPU_COUNT(&set) == 0)
			return;
	}
	pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

/* Burst pacing: wait until the driver opens the gate; return the rx count
 * that ends the drain, or 0 when stopping. */
static uint64_t
kr_gate_wait(struct kr_relay *r)
{
	uint64_t target = 0;

	pthread_mutex_lock(&r->gate_mu);
	while (!r->gate_open && !kr_stopping(r)) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += KR_TIMEOUT_MS * 1000000l;
		if (ts.tv_nsec >= 1000000000l) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000l;
		}
		pthread_cond_timedwait(&r->gate_cv, &r->gate_mu, &ts);
	}
	if (r->gate_open && !kr_stopping(r))
		target = r->gate_target;
	pthread_mutex_unlock(&r->gate_mu);
	return target;
}

static void
kr_gate_set(struct kr_relay *r, bool open, uint64_t target)
{
	pthread_mutex_lock(&r->gate_mu);
	r->gate_open = open;
	r->gate_target = target;
	pthread_cond_broadcast(&r->gate_cv);
	pthread_mutex_unlock(&r->gate_mu);
}

static bool
kr_gate_is_open(struct kr_relay *r)
{
	bool open;

	pthread_mutex_lock(&r->gate_mu);
	open = r->gate_open;
	pthread_mutex_unlock(&r->gate_mu);
	return open;
}

static inline bool
kr_tx_idle(const struct kr_relay *r)
{
	return r->io == KR_IO_MMSG || r->ur->tx_inflight == 0;
}

/*
 * Burst pacing: the driver has filled the relay's socket and opened the
 * gate; drain it flat out, timing the drain with the thread's own CPU
 * clock, until @target datagrams were received and sent. A pass that
 * found nothing (a datagram lost before the relay) ends it too.
 */
static void
kr_drain(struct kr_relay *r, uint64_t target,
	 unsigned int (*pass)(struct kr_relay *))
{
	uint64_t c0 = kr_ns(CLOCK_THREAD_CPUTIME_ID);
	uint64_t w0 = kr_ns(CLOCK_MONOTONIC);
	uint64_t f0 = r->st.fwd, x0 = r->st.rx, k0 = r->st.rx_calls;

	r->vstart = w0;
	while (!kr_stopping(r)) {
		unsigned int seen = pass(r);

		if (r->st.rx >= target && kr_tx_idle(r))
			break;
		if (seen == 0 && kr_tx_idle(r))
			break;
	}
	r->vbase = kr_now(r);
	uint64_t dc = kr_ns(CLOCK_THREAD_CPUTIME_ID) - c0;
	uint64_t dw = kr_ns(CLOCK_MONOTONIC) - w0;

	__atomic_add_fetch(&r->pub.m_cpu, dc, __ATOMIC_RELAXED);
	__atomic_add_fetch(&r->pub.m_wall, dw, __ATOMIC_RELAXED);
	__atomic_add_fetch(&r->pub.m_fwd, r->st.fwd - f0, __ATOMIC_RELAXED);
	__atomic_add_fetch(&r->pub.m_rx, r->st.rx - x0, __ATOMIC_RELAXED);
	__atomic_add_fetch(&r->pub.m_calls, r->st.rx_calls - k0,
			   __ATOMIC_RELAXED);
	__atomic_add_fetch(&r->pub.drains, 1, __ATOMIC_RELAXED);
	if ((double)dc < KR_UNDISTURBED * (double)dw)
		return;
	__atomic_add_fetch(&r->pub.u_cpu, dc, __ATOMIC_RELAXED);
	__atomic_add_fetch(&r->pub.u_wall, dw, __ATOMIC_RELAXED);
	__atomic_add_fetch(&r->pub.u_fwd, r->st.fwd - f0, __ATOMIC_RELAXED);
	__atomic_add_fetch(&r->pub.u_rx, r->st.rx - x0, __ATOMIC_RELAXED);
	__atomic_add_fetch(&r->pub.u_calls, r->st.rx_calls - k0,
			   __ATOMIC_RELAXED);
	__atomic_add_fetch(&r->pub.u_drains, 1, __ATOMIC_RELAXED);
}

static void *
kr_relay_main(void *arg)
{
	struct kr_relay *r = arg;
	unsigned int (*pass)(struct kr_relay *);
	uint64_t target;
	int rc;

	kr_pin(r->cpu, false);
	r->tid = (pid_t)syscall(SYS_gettid);
	r->now = kr_ns(CLOCK_MONOTONIC);
	r->vbase = r->vstart = r->now;
	r->sweep_last = r->now;
	rc = r->io == KR_IO_MMSG ? kr_mmsg_setup(r) : kr_uring_setup(r);
	if (rc != 0) {
		if (r->why[0] == '\0')
			snprintf(r->why, sizeof(r->why), "setup: %s",
				 strerror(-rc));
		__atomic_store_n(&r->ready, -1, __ATOMIC_RELEASE);
		return NULL;
	}
	__atomic_store_n(&r->ready, 1, __ATOMIC_RELEASE);
	pass = r->io == KR_IO_MMSG ? kr_mmsg_pass : kr_uring_pass;
	if (r->io == KR_IO_URING)
		kr_uring_arm(r);
	if (!r->gated) {
		while (!kr_stopping(r))
			pass(r);
	} else {
		while ((target = kr_gate_wait(r)) != 0) {
			kr_drain(r, target, pass);
			kr_gate_set(r, false, 0);
		}
	}
	/* Every send completed before the ring goes. */
	while (!kr_tx_idle(r))
		pass(r);
	kr_publish(r);
	return NULL;
}

/* ---- sockets ---- */

static int
kr_udp_socket(struct sockaddr_in *addr, bool nonblock)
{
	int fd = socket(
		AF_INET,
		SOCK_DGRAM | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0), 0);
	socklen_t len = sizeof(*addr);
	int sz = KR_SOCK_BUF;

	if (fd < 0)
		return -1;
	/* Root may exceed net.core.rmem_max; others get what it allows. */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof(sz)) != 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	memset(addr, 0, sizeof(*addr));
	addr->sin_family = AF_INET;
	addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)addr, sizeof(*addr)) != 0 ||
	    getsockname(fd, (struct sockaddr *)addr, &len) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Datagrams the socket's receive queue dropped (overflow). */
static uint64_t
kr_sock_drops(int fd)
{
	uint32_t mi[SK_MEMINFO_VARS] = {0};
	socklen_t len = sizeof(mi);

	if (getsockopt(fd, SOL_SOCKET, SO_MEMINFO, mi, &len) != 0 ||
	    len < sizeof(uint32_t) * (SK_MEMINFO_DROPS + 1))
		return 0;
	return mi[SK_MEMINFO_DROPS];
}

static struct kr_relay *
kr_relay_new(const struct kr_opts *o, int sink_fd[KR_INST_MAX],
	     struct sockaddr_in *relay_addr)
{
	struct kr_relay *r = calloc(1, sizeof(*r));

	if (r == NULL)
		return NULL;
	r->io = o->io;
	r->cpu = o->cpu;
	r->gated = o->pace == KR_PACE_BURST;
	pthread_mutex_init(&r->gate_mu, NULL);
	pthread_cond_init(&r->gate_cv, NULL);
	r->window = o->window;
	r->linger_ns = (uint64_t)o->linger_ms * 1000000ull;
	r->idle_ns = (uint64_t)o->idle_ms * 1000000ull;
	r->n_inst = o->instances;
	r->fd = kr_udp_socket(relay_addr, false);
	if (r->fd < 0) {
		perror("kernel_relay: relay socket");
		return NULL;
	}
	for (unsigned int i = 0; i < r->n_inst; i++) {
		sink_fd[i] = kr_udp_socket(&r->inst_addr[i], true);
		if (sink_fd[i] < 0) {
			perror("kernel_relay: sink socket");
			return NULL;
		}
		r->seeds[i] = kr_seed(ntohl(r->inst_addr[i].sin_addr.s_addr),
				      ntohs(r->inst_addr[i].sin_port));
	}
	if (kr_table_init(&r->t, o->flows) != 0) {
		fprintf(stderr, "kernel_relay: flow table: out of memory\n");
		return NULL;
	}
	r->lg = malloc(sizeof(*r->lg) * (size_t)o->flows);
	r->holds = malloc(sizeof(*r->holds) * KR_HOLD_BLOCKS);
	if (r->lg == NULL || r->holds == NULL) {
		fprintf(stderr, "kernel_relay: out of memory\n");
		return NULL;
	}
	for (uint32_t i = 0; i < KR_HOLD_BLOCKS; i++)
		r->hold_free[i] = KR_HOLD_BLOCKS - 1 - i;
	r->n_hold_free = KR_HOLD_BLOCKS;
	return r;
}

/* Start the relay thread; return 0 once it runs, 2 if its I/O could not
 * be set up (the reason printed), 1 on other errors. */
static int
kr_relay_start(struct kr_relay *r, pthread_t *th)
{
	int ready;

	if (pthread_create(th, NULL, kr_relay_main, r) != 0) {
		perror("kernel_relay: pthread_create");
		return 1;
	}
	while ((ready = __atomic_load_n(&r->ready, __ATOMIC_ACQUIRE)) == 0)
		kr_sleep_ms(1);
	if (ready < 0) {
		pthread_join(*th, NULL);
		fprintf(stderr, "kernel_relay: --io %s unavailable: %s\n",
			kr_io_names[r->io], r->why);
		return 2;
	}
	return 0;
}

static void
kr_relay_stop(struct kr_relay *r, pthread_t th)
{
	__atomic_store_n(&r->stop, 1, __ATOMIC_RELAXED);
	pthread_join(th, NULL);
	kr_mmsg_fini(r);
	kr_uring_fini(r);
}

static void
kr_relay_free(struct kr_relay *r)
{
	if (r == NULL)
		return;
	kr_table_fini(&r->t);
	free(r->lg);
	free(r->holds);
	close(r->fd);
	free(r);
}

/* ---- frames ---- */

/* A datagram of stream @req (depth 1) at @buf; return its length. */
static size_t
kr_build(uint8_t *buf, size_t cap, uint32_t pipeline, uint16_t stage,
	 uint8_t depth, uint64_t req, uint32_t seq, uint8_t flags,
	 unsigned int variant)
{
	struct sl_wire_builder b;
	struct sl_frag_hdr h = {
		.version = SL_WIRE_VERSION,
		.flags = flags,
		.depth = depth,
		.stage = stage,
		.tenant = KR_TENANT,
		.pipeline = pipeline,
		.seq = seq,
		.send_ns = req,
	};

	h.ancestry[0] = req;
	if (depth > 1)
		h.ancestry[1] = 7;
	if (sl_wire_builder_init(&b, buf, cap, &h) != 0)
		return 0;
	for (unsigned int k = 0; k < 4 && kr_tokens[variant][k]; k++) {
		const char *text = kr_tokens[variant][k];

		if (sl_wire_builder_add(&b, 1000 + k, text, strlen(text)) != 0)
			return 0;
	}
	return sl_wire_builder_finish(&b);
}

/* Patch a copy of a template: flags, seq, send_ns and ancestry[0] (the
 * client's request id; send_ns carries it too, past the relay's rewrite,
 * so a sink knows which stream a datagram belongs to). */
static inline void
kr_patch(uint8_t *d, uint64_t req, uint32_t seq, uint8_t flags)
{
	uint32_t s = htobe32(seq);
	uint64_t q = htobe64(req);

	d[SL_WIRE_OFF_FLAGS] = flags;
	memcpy(d + SL_WIRE_OFF_SEQ, &s, 4);
	memcpy(d + SL_WIRE_OFF_SEND_NS, &q, 8);
	memcpy(d + SL_WIRE_OFF_ANCESTRY, &q, 8);
}

/* What an instance must receive for a datagram sent as @sent: the relay's
 * rewrite of it with request id @relay_id_be. */
static inline void
kr_expect(uint8_t *d, const uint8_t *sent, size_t len, uint64_t relay_id_be)
{
	uint16_t v = htobe16(KR_NEXT_STAGE);

	memcpy(d, sent, len);
	memcpy(d + SL_WIRE_OFF_STAGE, &v, 2);
	v = 0; /* from_stage: the client's stage */
	memcpy(d + SL_WIRE_OFF_FROM_STAGE, &v, 2);
	memcpy(d + SL_WIRE_OFF_ANCESTRY, &relay_id_be, 8);
}

static uint64_t
kr_ld64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return be64toh(v);
}

static uint32_t
kr_ld32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return be32toh(v);
}

/* ---- the driver: clients and instances ---- */

struct kr_tmpl {
	uint8_t d[KR_DGRAM_MAX];
	uint16_t len;
};

struct kr_sink_stream {
	uint64_t req;
	uint64_t relay_id;
	uint32_t next;
	uint32_t sink;
};

struct kr_driver {
	struct kr_relay *r;
	int cpu_not; /* the relay's CPU, left to it */
	int client_fd[KR_CLIENTS];
	struct sockaddr_in relay_addr;
	unsigned int n_sink;
	int sink_fd[KR_INST_MAX];
	struct kr_tmpl tmpl[KR_VARIANTS];
	unsigned int streams, fragments, inflight, burst;
	enum kr_pace pace;
	uint64_t *slot_req;
	uint32_t *slot_seq;
	unsigned int cursor;
	uint64_t next_req;
	struct kr_sink_stream *ss; /* by req & ss_mask */
	uint32_t ss_mask;
	uint8_t *txbuf;
	uint8_t *rxbuf;
	uint64_t sent, rcvd, written_off, stalls;
	uint64_t bad_bytes, bad_order, bad_route;
	uint64_t pub_sent, pub_rcvd; /* __atomic */
	int stop_send, stop;         /* __atomic */
};

/* Check one datagram sink @k received: its bytes, its order in its
 * stream, its instance. */
static void
kr_sink_check(struct kr_driver *dv, unsigned int k, const uint8_t *d,
	      size_t len)
{
	uint8_t want[KR_DGRAM_MAX];
	uint64_t req, id, id_be;
	uint32_t seq;
	unsigned int var;
	struct kr_sink_stream *s;

	if (len < SL_WIRE_HDR_LEN) {
		dv->bad_bytes++;
		return;
	}
	seq = kr_ld32(d + SL_WIRE_OFF_SEQ);
	req = kr_ld64(d + SL_WIRE_OFF_SEND_NS);
	id = kr_ld64(d + SL_WIRE_OFF_ANCESTRY);
	var = (unsigned int)((req + seq) % KR_VARIANTS);
	if (len != dv->tmpl[var].len || !(id & KR_ID_MARK)) {
		dv->bad_bytes++;
		return;
	}
	id_be = htobe64(id);
	kr_expect(want, dv->tmpl[var].d, len, id_be);
	kr_patch(want, req, seq, seq + 1 == dv->fragments ? SL_FRAG_F_END : 0);
	memcpy(want + SL_WIRE_OFF_ANCESTRY, &id_be, 8);
	if (memcmp(want, d, len) != 0) {
		dv->bad_bytes++;
		return;
	}
	if (kr_rendezvous(id, dv->r->seeds, dv->n_sink) != k)
		dv->bad_route++;
	s = &dv->ss[req & dv->ss_mask];
	if (s->req != req) {
		if (seq != 0) {
			dv->bad_order++;
			return;
		}
		s->req = req;
		s->relay_id = id;
		s->next = 0;
		s->sink = k;
	}
	if (seq != s->next)
		dv->bad_order++;
	if (id != s->relay_id || k != s->sink)
		dv->bad_route++;
	s->next = seq + 1;
}

/* Read what the sinks have; return how many datagrams. */
static uint64_t
kr_sinks_drain(struct kr_driver *dv)
{
	struct mmsghdr m[KR_SINK_BATCH];
	struct iovec v[KR_SINK_BATCH];
	uint64_t got = 0;

	for (unsigned int k = 0; k < dv->n_sink; k++) {
		for (;;) {
			int n;

			for (unsigned int i = 0; i < KR_SINK_BATCH; i++) {
				v[i].iov_base = dv->rxbuf + (size_t)i * KR_BUF;
				v[i].iov_len = KR_BUF;
				memset(&m[i].msg_hdr, 0, sizeof(m[i].msg_hdr));
				m[i].msg_hdr.msg_iov = &v[i];
				m[i].msg_hdr.msg_iovlen = 1;
			}
			n = recvmmsg(dv->sink_fd[k], m, KR_SINK_BATCH,
				     MSG_DONTWAIT, NULL);
			if (n <= 0)
				break;
			for (int i = 0; i < n; i++)
				kr_sink_check(dv, k, v[i].iov_base,
					      m[i].msg_len);
			got += (uint64_t)n;
			if (n < KR_SINK_BATCH)
				break;
		}
	}
	return got;
}

/* The next fragment of 32 streams, from one client's socket. */
static void
kr_send_batch(struct kr_driver *dv)
{
	struct mmsghdr m[KR_BATCH];
	struct iovec v[KR_BATCH];
	unsigned int first = dv->cursor;
	int fd = dv->client_fd[(first / KR_BATCH) % KR_CLIENTS];
	unsigned int done = 0;

	for (unsigned int i = 0; i < KR_BATCH; i++) {
		unsigned int s = first + i;
		uint64_t req = dv->slot_req[s];
		uint32_t seq = dv->slot_seq[s];
		unsigned int var = (unsigned int)((req + seq) % KR_VARIANTS);
		uint8_t *d = dv->txbuf + (size_t)i * KR_DGRAM_MAX;

		memcpy(d, dv->tmpl[var].d, dv->tmpl[var].len);
		kr_patch(d, req, seq,
			 seq + 1 == dv->fragments ? SL_FRAG_F_END : 0);
		v[i].iov_base = d;
		v[i].iov_len = dv->tmpl[var].len;
		memset(&m[i].msg_hdr, 0, sizeof(m[i].msg_hdr));
		m[i].msg_hdr.msg_name = &dv->relay_addr;
		m[i].msg_hdr.msg_namelen = sizeof(dv->relay_addr);
		m[i].msg_hdr.msg_iov = &v[i];
		m[i].msg_hdr.msg_iovlen = 1;
		if (++seq == dv->fragments) {
			dv->slot_req[s] = dv->next_req++;
			seq = 0;
		}
		dv->slot_seq[s] = seq;
	}
	dv->cursor = (first + KR_BATCH) % dv->streams;
	while (done < KR_BATCH) {
		int n = sendmmsg(fd, m + done, KR_BATCH - done, 0);

		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN ||
			    errno == ENOBUFS)
				continue;
			perror("kernel_relay: driver sendmmsg");
			exit(1);
		}
		done += (unsigned int)n;
	}
	dv->sent += KR_BATCH;
	__atomic_store_n(&dv->pub_sent, dv->sent, __ATOMIC_RELAXED);
}

static void
kr_driver_poll(struct kr_driver *dv)
{
	struct pollfd pfd[KR_INST_MAX];

	for (unsigned int k = 0; k < dv->n_sink; k++) {
		pfd[k].fd = dv->sink_fd[k];
		pfd[k].events = POLLIN;
	}
	poll(pfd, dv->n_sink, 1);
}

static bool
kr_driver_stopping(struct kr_driver *dv)
{
	return __atomic_load_n(&dv->stop, __ATOMIC_RELAXED) != 0;
}

static bool
kr_driver_sending(struct kr_driver *dv)
{
	return __atomic_load_n(&dv->stop_send, __ATOMIC_RELAXED) == 0;
}

/* Read the sinks; return true if anything came. */
static bool
kr_driver_receive(struct kr_driver *dv, uint64_t *last_progress)
{
	uint64_t got = kr_sinks_drain(dv);

	if (got == 0)
		return false;
	dv->rcvd += got;
	__atomic_store_n(&dv->pub_rcvd, dv->rcvd, __ATOMIC_RELAXED);
	*last_progress = kr_ns(CLOCK_MONOTONIC_COARSE);
	return true;
}

/* Nothing moved for 200 ms: what is in flight was lost (the relay's or a
 * sink's socket overflowed); the end of the run counts it. */
static bool
kr_driver_stalled(struct kr_driver *dv, uint64_t *last_progress,
		  uint64_t inflight)
{
	if (kr_ns(CLOCK_MONOTONIC_COARSE) - *last_progress < 200000000ull)
		return false;
	dv->written_off += inflight;
	dv->stalls++;
	*last_progress = kr_ns(CLOCK_MONOTONIC_COARSE);
	return true;
}

/* Sent, neither received by a sink nor dropped by the relay. */
static uint64_t
kr_driver_inflight(struct kr_driver *dv)
{
	uint64_t out = dv->rcvd + dv->written_off +
		       __atomic_load_n(&dv->r->pub.not_fwd, __ATOMIC_RELAXED);

	return dv->sent > out ? dv->sent - out : 0;
}

/* --pace window: send whenever fewer than --inflight are in flight. */
static void
kr_driver_window(struct kr_driver *dv)
{
	uint64_t last_progress = kr_ns(CLOCK_MONOTONIC_COARSE);

	while (!kr_driver_stopping(dv)) {
		bool got = kr_driver_receive(dv, &last_progress);
		bool sent = false;

		if (kr_driver_sending(dv)) {
			uint64_t inflight = kr_driver_inflight(dv);

			if (inflight + KR_BATCH <= dv->inflight) {
				kr_send_batch(dv);
				sent = true;
			} else {
				kr_driver_stalled(dv, &last_progress, inflight);
			}
		}
		if (!got && !sent)
			kr_driver_poll(dv);
	}
}

/*
 * --pace burst: while the relay waits at its gate and everything it sent
 * has reached the sinks, fill its socket with --burst datagrams, then
 * open the gate and read the sinks while it drains them.
 */
static void
kr_driver_burst(struct kr_driver *dv)
{
	uint64_t last_progress = kr_ns(CLOCK_MONOTONIC_COARSE);

	while (!kr_driver_stopping(dv)) {
		bool got = kr_driver_receive(dv, &last_progress);
		uint64_t inflight;

		if (!kr_driver_sending(dv) || kr_gate_is_open(dv->r)) {
			if (!got)
				kr_driver_poll(dv);
			continue;
		}
		inflight = kr_driver_inflight(dv);
		if (inflight != 0 &&
		    !kr_driver_stalled(dv, &last_progress, inflight)) {
			if (!got)
				kr_driver_poll(dv);
			continue;
		}
		for (unsigned int i = 0; i < dv->burst; i += KR_BATCH)
			kr_send_batch(dv);
		kr_gate_set(dv->r, true,
			    __atomic_load_n(&dv->r->pub.rx, __ATOMIC_RELAXED) +
				    dv->burst);
		last_progress = kr_ns(CLOCK_MONOTONIC_COARSE);
	}
}

static void *
kr_driver_main(void *arg)
{
	struct kr_driver *dv = arg;

	kr_pin(dv->cpu_not, true);
	if (dv->pace == KR_PACE_BURST)
		kr_driver_burst(dv);
	else
		kr_driver_window(dv);
	return NULL;
}

static struct kr_driver *
kr_driver_new(const struct kr_opts *o, struct kr_relay *r,
	      const int sink_fd[KR_INST_MAX],
	      const struct sockaddr_in *relay_addr)
{
	struct kr_driver *dv = calloc(1, sizeof(*dv));
	uint32_t ss = 1024;

	if (dv == NULL)
		return NULL;
	dv->r = r;
	dv->cpu_not = o->cpu;
	dv->relay_addr = *relay_addr;
	dv->n_sink = o->instances;
	memcpy(dv->sink_fd, sink_fd, sizeof(dv->sink_fd));
	dv->streams = o->streams;
	dv->fragments = o->fragments;
	dv->inflight = o->inflight;
	dv->burst = o->burst;
	dv->pace = o->pace;
	for (unsigned int c = 0; c < KR_CLIENTS; c++) {
		struct sockaddr_in a;

		dv->client_fd[c] = kr_udp_socket(&a, false);
		if (dv->client_fd[c] < 0) {
			perror("kernel_relay: client socket");
			return NULL;
		}
	}
	for (unsigned int v = 0; v < KR_VARIANTS; v++) {
		dv->tmpl[v].len =
			(uint16_t)kr_build(dv->tmpl[v].d, sizeof(dv->tmpl[v].d),
					   KR_PIPELINE, 0, 1, 0, 0, 0, v);
		if (dv->tmpl[v].len == 0)
			return NULL;
	}
	while (ss < 8u * o->streams)
		ss <<= 1;
	dv->ss_mask = ss - 1;
	dv->ss = calloc(ss, sizeof(*dv->ss));
	dv->slot_req = calloc(o->streams, sizeof(*dv->slot_req));
	dv->slot_seq = calloc(o->streams, sizeof(*dv->slot_seq));
	dv->txbuf = malloc((size_t)KR_BATCH * KR_DGRAM_MAX);
	dv->rxbuf = malloc((size_t)KR_SINK_BATCH * KR_BUF);
	if (dv->ss == NULL || dv->slot_req == NULL || dv->slot_seq == NULL ||
	    dv->txbuf == NULL || dv->rxbuf == NULL)
		return NULL;
	/* Client request ids from 1; the relay's have the top bit. */
	dv->next_req = 1;
	for (unsigned int s = 0; s < o->streams; s++)
		dv->slot_req[s] = dv->next_req++;
	return dv;
}

static void
kr_driver_free(struct kr_driver *dv)
{
	if (dv == NULL)
		return;
	for (unsigned int c = 0; c < KR_CLIENTS; c++)
		if (dv->client_fd[c] > 0)
			close(dv->client_fd[c]);
	free(dv->ss);
	free(dv->slot_req);
	free(dv->slot_seq);
	free(dv->txbuf);
	free(dv->rxbuf);
	free(dv);
}

/* ---- measurement ---- */

/* ns of CPU a thread of this process or another task has run. */
static uint64_t
kr_schedstat_ns(const char *path)
{
	unsigned long long ns = 0;
	FILE *f = fopen(path, "r");

	if (f == NULL)
		return 0;
	if (fscanf(f, "%llu", &ns) != 1)
		ns = 0;
	fclose(f);
	return ns;
}

/* CPU ns of this process's io_uring workers (iou-wrk-*), which do what
 * the relay punts to them. */
static uint64_t
kr_iowq_ns(void)
{
	DIR *dir = opendir("/proc/self/task");
	struct dirent *e;
	uint64_t ns = 0;

	if (dir == NULL)
		return 0;
	while ((e = readdir(dir)) != NULL) {
		char path[300], comm[64] = "";
		FILE *f;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/comm",
			 e->d_name);
		f = fopen(path, "r");
		if (f == NULL)
			continue;
		if (fgets(comm, sizeof(comm), f) == NULL)
			comm[0] = '\0';
		fclose(f);
		if (strncmp(comm, "iou-wrk", 7) != 0)
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/schedstat",
			 e->d_name);
		ns += kr_schedstat_ns(path);
	}
	closedir(dir);
	return ns;
}

/* /proc/PID/schedstat of ksoftirqd/@cpu, or "" */
static void
kr_ksoftirqd_path(int cpu, char *out, size_t len)
{
	DIR *dir = opendir("/proc");
	struct dirent *e;
	char want[32];

	out[0] = '\0';
	if (dir == NULL || cpu < 0) {
		if (dir != NULL)
			closedir(dir);
		return;
	}
	snprintf(want, sizeof(want), "ksoftirqd/%d\n", cpu);
	while ((e = readdir(dir)) != NULL) {
		char path[300], comm[64] = "";
		FILE *f;

		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/comm", e->d_name);
		f = fopen(path, "r");
		if (f == NULL)
			continue;
		if (fgets(comm, sizeof(comm), f) == NULL)
			comm[0] = '\0';
		fclose(f);
		if (strcmp(comm, want) == 0) {
			snprintf(out, len, "/proc/%s/schedstat", e->d_name);
			break;
		}
	}
	closedir(dir);
}

/* Steal time of @cpu (/proc/stat, USER_HZ ticks), in ns. */
static uint64_t
kr_steal_ns(int cpu)
{
	char line[512], want[16];
	FILE *f = fopen("/proc/stat", "r");
	uint64_t ns = 0;
	long hz = sysconf(_SC_CLK_TCK);

	if (f == NULL || cpu < 0) {
		if (f != NULL)
			fclose(f);
		return 0;
	}
	snprintf(want, sizeof(want), "cpu%d ", cpu);
	while (fgets(line, sizeof(line), f) != NULL) {
		unsigned long long v[8];

		if (strncmp(line, want, strlen(want)) != 0)
			continue;
		if (sscanf(line + strlen(want),
			   "%llu %llu %llu %llu %llu %llu %llu %llu", &v[0],
			   &v[1], &v[2], &v[3], &v[4], &v[5], &v[6],
			   &v[7]) == 8)
			ns = (uint64_t)(v[7] * (1000000000ull / (uint64_t)hz));
		break;
	}
	fclose(f);
	return ns;
}

struct kr_sample {
	uint64_t wall, cpu, iowq, ksoftirqd, steal;
	uint64_t driver;       /* the driver thread's CPU ns */
	uint64_t utime, stime; /* the relay thread's, clock ticks */
	uint64_t fwd, rx, rx_calls, drains;
	/* --pace burst: the fields above are the undisturbed drains'; these
	 * all drains' */
	uint64_t all_wall, all_cpu, all_fwd, all_drains;
};

struct kr_round {
	uint64_t fragments;
	double wall_s, cpu_s, iowq_s, ksoftirqd_s, steal_s;
	double frags_per_cpu_s, frags_per_wall_s, cycles_per_frag;
	double ns_per_frag, busy, batch;
	double user_share;   /* of the relay thread's CPU, in user space */
	double driver_s;     /* the driver thread's CPU in the round */
	uint64_t drains;     /* undisturbed (--pace burst) */
	uint64_t all_drains; /* all (--pace burst) */
	double all_frags_per_cpu_s, all_cycles_per_frag, all_busy;
	bool usable; /* it has something to measure */
};

struct kr_ctx {
	clockid_t relay_clock;
	clockid_t driver_clock;
	char ksoftirqd[300];
	int cpu;
};

/* utime and stime (clock ticks) of thread @tid of this process. */
static void
kr_thread_times(pid_t tid, uint64_t *utime, uint64_t *stime)
{
	char path[64], buf[1024];
	unsigned long long u = 0, s = 0;
	FILE *f;
	char *p;

	*utime = *stime = 0;
	snprintf(path, sizeof(path), "/proc/self/task/%d/stat", (int)tid);
	f = fopen(path, "r");
	if (f == NULL)
		return;
	p = fgets(buf, sizeof(buf), f);
	fclose(f);
	/* Fields after the command: state is the 3rd, utime the 14th. */
	if (p == NULL || (p = strrchr(buf, ')')) == NULL ||
	    sscanf(p + 1,
		   " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &u,
		   &s) != 2)
		return;
	*utime = u;
	*stime = s;
}

/* The relay's clocks and counters now: with --pace window its thread's
 * CPU clock and the wall clock; with --pace burst what its drains
 * measured, summed. */
static void
kr_sample(const struct kr_ctx *c, struct kr_relay *r, struct kr_sample *s)
{
	s->iowq = r->io == KR_IO_URING ? kr_iowq_ns() : 0;
	s->ksoftirqd = c->ksoftirqd[0] ? kr_schedstat_ns(c->ksoftirqd) : 0;
	s->steal = kr_steal_ns(c->cpu);
	kr_thread_times(r->tid, &s->utime, &s->stime);
	s->driver = kr_ns(c->driver_clock);
	if (r->gated) {
		s->wall = __atomic_load_n(&r->pub.u_wall, __ATOMIC_RELAXED);
		s->cpu = __atomic_load_n(&r->pub.u_cpu, __ATOMIC_RELAXED);
		s->fwd = __atomic_load_n(&r->pub.u_fwd, __ATOMIC_RELAXED);
		s->rx = __atomic_load_n(&r->pub.u_rx, __ATOMIC_RELAXED);
		s->rx_calls =
			__atomic_load_n(&r->pub.u_calls, __ATOMIC_RELAXED);
		s->drains = __atomic_load_n(&r->pub.u_drains, __ATOMIC_RELAXED);
		s->all_wall = __atomic_load_n(&r->pub.m_wall, __ATOMIC_RELAXED);
		s->all_cpu = __atomic_load_n(&r->pub.m_cpu, __ATOMIC_RELAXED);
		s->all_fwd = __atomic_load_n(&r->pub.m_fwd, __ATOMIC_RELAXED);
		s->all_drains =
			__atomic_load_n(&r->pub.drains, __ATOMIC_RELAXED);
		return;
	}
	s->wall = kr_ns(CLOCK_MONOTONIC);
	s->cpu = kr_ns(c->relay_clock);
	s->fwd = __atomic_load_n(&r->pub.fwd, __ATOMIC_RELAXED);
	s->rx = __atomic_load_n(&r->pub.rx, __ATOMIC_RELAXED);
	s->rx_calls = __atomic_load_n(&r->pub.rx_calls, __ATOMIC_RELAXED);
	s->drains = s->all_drains = 0;
	s->all_wall = s->wall;
	s->all_cpu = s->cpu;
	s->all_fwd = s->fwd;
}

static double
kr_div(double a, double b)
{
	return b > 0 ? a / b : 0;
}

static void
kr_round_of(const struct kr_sample *a, const struct kr_sample *b, double tsc_hz,
	    struct kr_round *rd)
{
	double all_cpu;
	uint64_t all_fwd = b->all_fwd - a->all_fwd;

	rd->fragments = b->fwd - a->fwd;
	rd->drains = b->drains - a->drains;
	rd->all_drains = b->all_drains - a->all_drains;
	rd->user_share =
		kr_div((double)(b->utime - a->utime),
		       (double)(b->utime + b->stime - a->utime - a->stime));
	rd->wall_s = (double)(b->wall - a->wall) / 1e9;
	rd->iowq_s = (double)(b->iowq - a->iowq) / 1e9;
	/* The relay's CPU: its thread and its io_uring workers. */
	rd->cpu_s = (double)(b->cpu - a->cpu) / 1e9 + rd->iowq_s;
	rd->ksoftirqd_s = (double)(b->ksoftirqd - a->ksoftirqd) / 1e9;
	rd->driver_s = (double)(b->driver - a->driver) / 1e9;
	rd->steal_s = (double)(b->steal - a->steal) / 1e9;
	rd->usable = rd->fragments != 0 && rd->cpu_s > 0 && rd->wall_s > 0;
	rd->frags_per_cpu_s = kr_div((double)rd->fragments, rd->cpu_s);
	rd->frags_per_wall_s = kr_div((double)rd->fragments, rd->wall_s);
	rd->ns_per_frag = kr_div(rd->cpu_s * 1e9, (double)rd->fragments);
	rd->cycles_per_frag = rd->ns_per_frag * tsc_hz / 1e9;
	rd->busy = kr_div(rd->cpu_s, rd->wall_s);
	rd->batch = kr_div((double)(b->rx - a->rx),
			   (double)(b->rx_calls - a->rx_calls));
	all_cpu = (double)(b->all_cpu - a->all_cpu) / 1e9 + rd->iowq_s;
	rd->all_frags_per_cpu_s = kr_div((double)all_fwd, all_cpu);
	rd->all_cycles_per_frag = kr_div(all_cpu * tsc_hz, (double)all_fwd);
	rd->all_busy =
		kr_div(all_cpu * 1e9, (double)(b->all_wall - a->all_wall));
}

static int
kr_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double
kr_median(const double *v, unsigned int n)
{
	double s[KR_ROUNDS_MAX];

	memcpy(s, v, sizeof(*v) * n);
	qsort(s, n, sizeof(*s), kr_cmp_double);
	return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

static void
kr_cpu_model(char *out, size_t len)
{
	char line[512];
	FILE *f = fopen("/proc/cpuinfo", "r");

	snprintf(out, len, "unknown");
	if (f == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL) {
		char *colon = strchr(line, ':');

		if (strncmp(line, "model name", 10) != 0 || colon == NULL)
			continue;
		colon++;
		while (*colon == ' ' || *colon == '\t')
			colon++;
		colon[strcspn(colon, "\n")] = '\0';
		/* Nothing JSON would need escaped. */
		for (char *p = colon; *p; p++)
			if (*p == '"' || *p == '\\' || (unsigned char)*p < 32)
				*p = ' ';
		snprintf(out, len, "%s", colon);
		break;
	}
	fclose(f);
}

/* ---- the benchmark ---- */

struct kr_result {
	struct kr_round rounds[KR_ROUNDS_MAX];
	unsigned int n;
	double med_cpu, med_wall, med_cycles, med_ns, best_cycles, spread;
	struct kr_stats st;
	uint64_t sent, rcvd, relay_sock_drops, lost_before_relay;
	uint64_t sink_sock_drops, bad_bytes, bad_order, bad_route, stalls;
	uint64_t lost; /* before the relay: its socket's and others */
	uint32_t flows_peak, flows_cap;
	unsigned int frame_min, frame_max;
	double med_all_cpu, med_all_cycles; /* all drains */
	unsigned int usable;                /* rounds the medians are of */
	bool cpu_shared; /* no undisturbed drain: all drains instead */
	double tsc_hz;
	const char *uring_setup;
	bool ok;
	char fail[512];
};

/* The median, least and greatest of a double field of the usable rounds
 * (0 when none is). */
static double
kr_round_median(const struct kr_result *res, size_t field, double *lo,
		double *hi)
{
	double v[KR_ROUNDS_MAX];
	unsigned int n = 0;

	for (unsigned int i = 0; i < res->n; i++)
		if (res->rounds[i].usable)
			memcpy(&v[n++], (const char *)&res->rounds[i] + field,
			       sizeof(double));
	*lo = *hi = 0;
	if (n == 0)
		return 0;
	for (unsigned int i = 0; i < n; i++) {
		*lo = i == 0 || v[i] < *lo ? v[i] : *lo;
		*hi = i == 0 || v[i] > *hi ? v[i] : *hi;
	}
	return kr_median(v, n);
}

static void kr_fail(struct kr_result *res, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void
kr_fail(struct kr_result *res, const char *fmt, ...)
{
	size_t n = strlen(res->fail);
	va_list ap;

	res->ok = false;
	if (n + 3 >= sizeof(res->fail))
		return;
	if (n != 0) {
		memcpy(res->fail + n, "; ", 3);
		n += 2;
	}
	va_start(ap, fmt);
	vsnprintf(res->fail + n, sizeof(res->fail) - n, fmt, ap);
	va_end(ap);
}

static void
kr_print(const struct kr_opts *o, const struct kr_result *res)
{
	uint64_t total = 0;

	printf("kernel_relay: io %s (%s), relay thread on CPU %d, driver on "
	       "the others\n",
	       kr_io_names[o->io],
	       o->io == KR_IO_MMSG
		       ? "recvmmsg/sendmmsg, batches of 32"
		       : "multishot recvmsg + buffer ring, sendmsg SQEs",
	       o->cpu);
	printf("traffic: %u streams x %u fragments from %u clients to %u "
	       "instances, datagrams %u-%u B\n",
	       o->streams, o->fragments, KR_CLIENTS, o->instances,
	       res->frame_min, res->frame_max);
	if (o->pace == KR_PACE_BURST)
		printf("pace: burst: the relay drains %u datagrams at a time "
		       "from its socket; only the drains are timed, and a "
		       "round's figures are those of its undisturbed drains "
		       "(relay on CPU >= %.0f %% of the drain)\n",
		       o->burst, KR_UNDISTURBED * 100);
	else
		printf("pace: window: at most %u fragments in flight; the "
		       "relay is timed throughout\n",
		       o->inflight);
	printf("TSC %.3f GHz (calibrated rdtsc); cycles/frag = relay CPU-ns "
	       "per fragment x GHz\n\n",
	       res->tsc_hz / 1e9);
	printf("round   fragments  cpu-s  busy  Kfrag/cpu-s  Kfrag/wall-s  "
	       "cycles/frag  batch  user  undisturbed  all: Kfrag/cpu-s  "
	       "cycles/frag\n");
	for (unsigned int i = 0; i < res->n; i++) {
		const struct kr_round *rd = &res->rounds[i];
		char und[32] = "-";

		if (o->pace == KR_PACE_BURST)
			snprintf(und, sizeof(und), "%" PRIu64 "/%" PRIu64,
				 rd->drains, rd->all_drains);
		printf("%5u %11" PRIu64 " %6.2f %5.2f %12.1f %13.1f %12.1f "
		       "%6.1f %4.0f%% %12s %16.1f %12.1f%s\n",
		       i + 1, rd->fragments, rd->cpu_s, rd->busy,
		       rd->frags_per_cpu_s / 1e3, rd->frags_per_wall_s / 1e3,
		       rd->cycles_per_frag, rd->batch, rd->user_share * 100,
		       und, rd->all_frags_per_cpu_s / 1e3,
		       rd->all_cycles_per_frag, rd->usable ? "" : "  (unused)");
	}
	printf("median %31.1f %13.1f %12.1f %36.1f %12.1f\n",
	       res->med_cpu / 1e3, res->med_wall / 1e3, res->med_cycles,
	       res->med_all_cpu / 1e3, res->med_all_cycles);
	printf("medians of %u of %u rounds; best cycles/frag %.1f; spread "
	       "(max-min)/median of frag/cpu-s %.1f %%\n",
	       res->usable, res->n, res->best_cycles, res->spread * 100);
	if (res->cpu_shared)
		printf("WARNING: no drain had the relay's CPU to itself "
		       "(another "
		       "task ran there): these are all drains' figures, and "
		       "with --io uring the relay's CPU time then misses part "
		       "of the send work (README.md)\n");
	printf("drops:");
	for (unsigned int i = 0; i < KR_DROP_MAX; i++) {
		printf(" %s %" PRIu64 ",", kr_drop_names[i], res->st.drops[i]);
		total += res->st.drops[i];
	}
	printf(" total %" PRIu64 "; control %" PRIu64 "; held %" PRIu64
	       ", released %" PRIu64 "\n",
	       total, res->st.control, res->st.held, res->st.released);
	printf("sender side: sent %" PRIu64 ", relay received %" PRIu64
	       ", relay socket overflow %" PRIu64 ", lost before the relay "
	       "%" PRIu64 "\n",
	       res->sent, res->st.rx, res->relay_sock_drops,
	       res->lost_before_relay);
	printf("sinks: received %" PRIu64 " of %" PRIu64
	       " forwarded; errors: bytes %" PRIu64 ", order %" PRIu64
	       ", route %" PRIu64 "; socket drops %" PRIu64 "\n",
	       res->rcvd, res->st.fwd, res->bad_bytes, res->bad_order,
	       res->bad_route, res->sink_sock_drops);
	printf("streams: created %" PRIu64 ", removed %" PRIu64
	       " (idle %" PRIu64 "), table peak %u of %u (linger %u ms, idle "
	       "%u ms)\n",
	       res->st.created, res->st.removed, res->st.idled, res->flows_peak,
	       res->flows_cap, o->linger_ms, o->idle_ms);
	if (res->lost != 0)
		printf("note: %" PRIu64
		       " datagrams were lost before the relay; "
		       "nothing resends them, so their streams' gaps stay "
		       "open: what the relay held or dropped for them is "
		       "counted, not failed\n",
		       res->lost);
	printf("result: %s%s\n",
	       res->ok ? "ok" : "FAILED: ", res->ok ? "" : res->fail);
}

static int
kr_write_json(const struct kr_opts *o, const struct kr_result *res)
{
	FILE *f = fopen(o->json_file, "w");
	char cpu[256], date[32];
	struct utsname un;
	time_t now = time(NULL);
	struct tm tm;
	uint64_t total = 0;

	if (f == NULL) {
		perror(o->json_file);
		return -1;
	}
	kr_cpu_model(cpu, sizeof(cpu));
	if (uname(&un) != 0)
		snprintf(un.release, sizeof(un.release), "unknown");
	gmtime_r(&now, &tm);
	strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%SZ", &tm);
	fprintf(f, "{\"io\": \"%s\", \"commit\": \"%s\", \"date\": \"%s\",\n",
		kr_io_names[o->io], o->commit ? o->commit : "unknown", date);
	fprintf(f,
		" \"machine\": {\"cpu\": \"%s\", \"cores\": %ld, "
		"\"tsc_hz\": %.0f, \"kernel\": \"%s\"},\n",
		cpu, sysconf(_SC_NPROCESSORS_ONLN), res->tsc_hz, un.release);
	if (o->io == KR_IO_MMSG)
		fprintf(f, " \"io_detail\": {\"recv\": \"recvmmsg, blocking, "
			   "batches of 32\", \"send\": \"sendmmsg, one call "
			   "per received batch\"},\n");
	else
		fprintf(f,
			" \"io_detail\": {\"recv\": \"IORING_OP_RECVMSG "
			"multishot, provided buffer ring of %u x %u B "
			"(registered by hand)\", \"send\": \"IORING_OP_SENDMSG,"
			" one SQE per datagram from its receive buffer, "
			"submitted with the wait\", \"setup_flags\": \"%s\", "
			"\"multishot_rearms\": %" PRIu64
			", \"nobufs\": %" PRIu64 "},\n",
			KR_URING_BUFS, KR_BUF,
			res->uring_setup ? res->uring_setup : "",
			res->st.rearms, res->st.nobufs);
	fprintf(f,
		" \"relay_cpu\": %d, \"seconds\": %.3f, \"linger_ms\": %u, "
		"\"idle_ms\": %u, \"reorder_window\": %u, \"pace\": \"%s\", "
		"\"burst\": %u, \"inflight\": %u,\n",
		o->cpu, o->seconds, o->linger_ms, o->idle_ms, o->window,
		kr_pace_names[o->pace], o->burst, o->inflight);
	fprintf(f,
		" \"traffic\": {\"streams\": %u, \"fragments_per_stream\": %u, "
		"\"clients\": %u, \"instances\": %u, "
		"\"datagram_bytes_min\": %u, \"datagram_bytes_max\": %u},\n",
		o->streams, o->fragments, KR_CLIENTS, o->instances,
		res->frame_min, res->frame_max);
	fprintf(f, " \"rounds\": [");
	for (unsigned int i = 0; i < res->n; i++) {
		const struct kr_round *rd = &res->rounds[i];

		fprintf(f,
			"%s\n  {\"fragments\": %" PRIu64
			", \"wall_s\": %.4f, \"cpu_s\": %.4f, "
			"\"iowq_s\": %.4f, \"busy\": %.3f, "
			"\"frags_per_cpu_s\": %.0f, \"frags_per_wall_s\": "
			"%.0f, \"cycles_per_frag\": %.1f, \"ns_per_frag\": "
			"%.1f, \"rx_batch\": %.2f, \"ksoftirqd_s\": %.4f, "
			"\"steal_s\": %.2f, \"user_share\": %.3f, "
			"\"driver_cpu_s\": %.4f, "
			"\"undisturbed_drains\": %" PRIu64
			", \"all_drains\": %" PRIu64
			", \"all_frags_per_cpu_s\": %.0f, "
			"\"all_cycles_per_frag\": %.1f, \"all_busy\": %.3f, "
			"\"used\": %s}",
			i ? "," : "", rd->fragments, rd->wall_s, rd->cpu_s,
			rd->iowq_s, rd->busy, rd->frags_per_cpu_s,
			rd->frags_per_wall_s, rd->cycles_per_frag,
			rd->ns_per_frag, rd->batch, rd->ksoftirqd_s,
			rd->steal_s, rd->user_share, rd->driver_s, rd->drains,
			rd->all_drains, rd->all_frags_per_cpu_s,
			rd->all_cycles_per_frag, rd->all_busy,
			rd->usable ? "true" : "false");
	}
	fprintf(f, "],\n");
	fprintf(f,
		" \"frags_per_cpu_s_median\": %.0f, \"frags_per_wall_s_median\""
		": %.0f, \"spread\": %.4f,\n \"cycles_per_frag_median\": %.1f,"
		" \"cycles_per_frag_best\": %.1f, \"ns_per_frag_median\": "
		"%.1f,\n \"cycles_source\": \"relay thread CPU time "
		"(CLOCK_THREAD_CPUTIME_ID, plus io_uring workers) per "
		"fragment x TSC Hz calibrated with rdtsc against "
		"CLOCK_MONOTONIC_RAW\",\n",
		res->med_cpu, res->med_wall, res->spread, res->med_cycles,
		res->best_cycles, res->med_ns);
	fprintf(f,
		" \"rounds_used\": %u, \"undisturbed_threshold\": %.2f, "
		"\"cpu_shared\": %s, \"frags_per_cpu_s_all_drains_median\": "
		"%.0f, \"cycles_per_frag_all_drains_median\": %.1f,\n",
		res->usable, KR_UNDISTURBED, res->cpu_shared ? "true" : "false",
		res->med_all_cpu, res->med_all_cycles);
	fprintf(f, " \"drops\": {");
	for (unsigned int i = 0; i < KR_DROP_MAX; i++) {
		fprintf(f, "\"%s\": %" PRIu64 ", ", kr_drop_names[i],
			res->st.drops[i]);
		total += res->st.drops[i];
	}
	fprintf(f,
		"\"total\": %" PRIu64 ", \"sender_side\": "
		"{\"relay_socket_overflow\": %" PRIu64
		", \"lost_before_relay\": %" PRIu64 ", \"stalls\": %" PRIu64
		"}},\n",
		total, res->relay_sock_drops, res->lost_before_relay,
		res->stalls);
	fprintf(f, " \"invalid_by_status\": {");
	for (unsigned int i = 1, first = 1; i < SL_WIRE_STATUS_MAX; i++)
		if (res->st.wire[i] != 0) {
			fprintf(f, "%s\"%s\": %" PRIu64, first ? "" : ", ",
				sl_wire_status_name(i), res->st.wire[i]);
			first = 0;
		}
	fprintf(f, "},\n");
	fprintf(f,
		" \"relay\": {\"received\": %" PRIu64
		", \"forwarded\": %" PRIu64 ", \"control\": %" PRIu64
		", \"held\": %" PRIu64 ", \"released\": %" PRIu64
		", \"streams_created\": %" PRIu64
		", \"streams_removed\": %" PRIu64
		", \"streams_idled\": %" PRIu64
		", \"flows_peak\": %u, \"flows_capacity\": %u},\n",
		res->st.rx, res->st.fwd, res->st.control, res->st.held,
		res->st.released, res->st.created, res->st.removed,
		res->st.idled, res->flows_peak, res->flows_cap);
	fprintf(f,
		" \"checks\": {\"sent\": %" PRIu64
		", \"sink_received\": %" PRIu64 ", \"byte_errors\": %" PRIu64
		", \"order_errors\": %" PRIu64 ", \"route_errors\": %" PRIu64
		", \"sink_socket_drops\": %" PRIu64
		", \"ok\": %s, \"failure\": \"%s\"}}\n",
		res->sent, res->rcvd, res->bad_bytes, res->bad_order,
		res->bad_route, res->sink_sock_drops,
		res->ok ? "true" : "false", res->fail);
	return fclose(f) == 0 ? 0 : -1;
}

static int
kr_bench(const struct kr_opts *in)
{
	struct kr_opts eo = *in, *o = &eo;
	struct kr_result *res = calloc(1, sizeof(*res));
	int sink_fd[KR_INST_MAX] = {0};
	struct sockaddr_in relay_addr;
	struct kr_sample s0, s1;
	struct kr_relay *r;
	struct kr_driver *dv;
	pthread_t rth, dth;
	struct kr_ctx c = {.cpu = o->cpu};
	double v[KR_ROUNDS_MAX], hi = 0, lo = 0;
	uint64_t last_rx = 0;
	unsigned int quiet = 0;
	int rc;

	if (res == NULL)
		return 1;
	res->ok = true;
	res->tsc_hz = kr_tsc_hz();
	r = kr_relay_new(o, sink_fd, &relay_addr);
	if (r == NULL)
		return 1;
	if (o->pace == KR_PACE_BURST) {
		/* A burst must fit the relay's socket: about 830 B of
		 * truesize a datagram here; 1 KiB leaves room. */
		int buf = 0;
		socklen_t len = sizeof(buf);
		unsigned int fit = 0;

		if (getsockopt(r->fd, SOL_SOCKET, SO_RCVBUF, &buf, &len) == 0)
			fit = (unsigned int)buf / 1024 / KR_BATCH * KR_BATCH;
		if (fit >= KR_BATCH && fit < o->burst) {
			fprintf(stderr,
				"kernel_relay: --burst %u does not fit the "
				"relay's receive buffer (%d B): %u\n",
				o->burst, buf, fit);
			o->burst = fit;
		}
	}
	dv = kr_driver_new(o, r, sink_fd, &relay_addr);
	if (dv == NULL) {
		fprintf(stderr, "kernel_relay: driver setup failed\n");
		return 1;
	}
	res->frame_min = UINT32_MAX;
	for (unsigned int i = 0; i < KR_VARIANTS; i++) {
		if (dv->tmpl[i].len < res->frame_min)
			res->frame_min = dv->tmpl[i].len;
		if (dv->tmpl[i].len > res->frame_max)
			res->frame_max = dv->tmpl[i].len;
	}
	rc = kr_relay_start(r, &rth);
	if (rc != 0)
		return rc;
	if (pthread_getcpuclockid(rth, &c.relay_clock) != 0) {
		fprintf(stderr, "kernel_relay: no CPU clock for the relay\n");
		return 1;
	}
	kr_ksoftirqd_path(o->cpu, c.ksoftirqd, sizeof(c.ksoftirqd));
	if (pthread_create(&dth, NULL, kr_driver_main, dv) != 0 ||
	    pthread_getcpuclockid(dth, &c.driver_clock) != 0) {
		perror("kernel_relay: driver thread");
		return 1;
	}
	/* Warm up past one linger: the table is then in its steady state. */
	kr_sleep_ms(o->linger_ms + 500);
	for (unsigned int i = 0; i < o->rounds; i++) {
		kr_sample(&c, r, &s0);
		kr_sleep_ms((unsigned int)(o->seconds * 1000));
		kr_sample(&c, r, &s1);
		kr_round_of(&s0, &s1, res->tsc_hz, &res->rounds[i]);
	}
	res->n = o->rounds;
	/* Drain: no new sends, until the relay is quiet and the sinks have
	 * all it forwarded (3 s at most). */
	__atomic_store_n(&dv->stop_send, 1, __ATOMIC_RELAXED);
	for (unsigned int t = 0; t < 300 && quiet < 5; t++) {
		uint64_t rx = __atomic_load_n(&r->pub.rx, __ATOMIC_RELAXED);
		uint64_t fwd = __atomic_load_n(&r->pub.fwd, __ATOMIC_RELAXED);

		kr_sleep_ms(10);
		quiet = rx == last_rx &&
					fwd == __atomic_load_n(&dv->pub_rcvd,
							       __ATOMIC_RELAXED)
				? quiet + 1
				: 0;
		last_rx = rx;
	}
	__atomic_store_n(&dv->stop, 1, __ATOMIC_RELAXED);
	pthread_join(dth, NULL);
	kr_relay_stop(r, rth);
	/* What is left in the sinks' queues (nothing, normally). */
	dv->rcvd += kr_sinks_drain(dv);

	res->st = r->st;
	res->uring_setup = r->uring_setup;
	res->sent = dv->sent;
	res->rcvd = dv->rcvd;
	res->stalls = dv->stalls;
	res->bad_bytes = dv->bad_bytes;
	res->bad_order = dv->bad_order;
	res->bad_route = dv->bad_route;
	res->relay_sock_drops = kr_sock_drops(r->fd);
	res->lost_before_relay =
		res->sent > res->st.rx + res->relay_sock_drops
			? res->sent - res->st.rx - res->relay_sock_drops
			: 0;
	for (unsigned int k = 0; k < o->instances; k++)
		res->sink_sock_drops += kr_sock_drops(sink_fd[k]);
	res->flows_peak = r->t.peak;
	res->flows_cap = r->t.cap;

	/* With --pace burst the rounds' figures are their undisturbed
	 * drains'; a machine so busy that no round had one falls back to
	 * all drains, and says so. */
	for (unsigned int i = 0; i < res->n; i++)
		res->usable += res->rounds[i].usable;
	if (res->usable == 0 && o->pace == KR_PACE_BURST) {
		res->cpu_shared = true;
		for (unsigned int i = 0; i < res->n; i++) {
			struct kr_round *rd = &res->rounds[i];

			rd->frags_per_cpu_s = rd->all_frags_per_cpu_s;
			rd->cycles_per_frag = rd->all_cycles_per_frag;
			rd->ns_per_frag =
				rd->cycles_per_frag * 1e9 / res->tsc_hz;
			rd->busy = rd->all_busy;
			rd->usable = rd->all_frags_per_cpu_s > 0;
			res->usable += rd->usable;
		}
	}
	res->med_cpu = kr_round_median(
		res, offsetof(struct kr_round, frags_per_cpu_s), &lo, &hi);
	res->spread = res->med_cpu > 0 ? (hi - lo) / res->med_cpu : 0;
	res->med_wall = kr_round_median(
		res, offsetof(struct kr_round, frags_per_wall_s), &lo, &hi);
	res->med_cycles = kr_round_median(
		res, offsetof(struct kr_round, cycles_per_frag), &lo, &hi);
	res->best_cycles = lo;
	res->med_ns = kr_round_median(
		res, offsetof(struct kr_round, ns_per_frag), &lo, &hi);
	for (unsigned int i = 0; i < res->n; i++)
		v[i] = res->rounds[i].all_frags_per_cpu_s;
	res->med_all_cpu = kr_median(v, res->n);
	for (unsigned int i = 0; i < res->n; i++)
		v[i] = res->rounds[i].all_cycles_per_frag;
	res->med_all_cycles = kr_median(v, res->n);
	if (res->usable == 0)
		kr_fail(res, "no round measured anything");

	/* Every fragment forwarded arrived, byte-exact, in order, where
	 * rendezvous hashing sends it; the valid traffic lost nothing in
	 * the relay. A full relay socket is the relay saturated: counted,
	 * not failed. */
	if (res->rcvd != res->st.fwd)
		kr_fail(res,
			"sinks received %" PRIu64 " of %" PRIu64 " forwarded",
			res->rcvd, res->st.fwd);
	if (res->bad_bytes || res->bad_order || res->bad_route)
		kr_fail(res,
			"sink errors: bytes %" PRIu64 ", order %" PRIu64
			", route %" PRIu64,
			res->bad_bytes, res->bad_order, res->bad_route);
	/* Datagrams lost before the relay leave gaps nothing repairs (the
	 * driver does not resend): what the relay then holds, drops or
	 * idles out is theirs, not a fault of the relay. */
	res->lost = res->relay_sock_drops + res->lost_before_relay;
	for (unsigned int i = 0; i < KR_DROP_MAX; i++) {
		bool gap = i == KR_DROP_AFTER_END || i == KR_DROP_TOO_FAR ||
			   i == KR_DROP_REORDER_FULL || i == KR_DROP_EXPIRED;

		if (res->st.drops[i] != 0 && !(gap && res->lost != 0))
			kr_fail(res, "relay dropped %" PRIu64 " valid (%s)",
				res->st.drops[i], kr_drop_names[i]);
	}
	if (res->st.held != res->st.released && res->lost == 0)
		kr_fail(res, "held %" PRIu64 ", released %" PRIu64,
			res->st.held, res->st.released);

	kr_print(o, res);
	if (o->io == KR_IO_URING)
		printf("uring: ring flags %s, multishot recv posted %" PRIu64
		       " times, out of buffers %" PRIu64 " times\n",
		       res->uring_setup, res->st.rearms, res->st.nobufs);
	if (o->json_file != NULL && kr_write_json(o, res) != 0)
		return 1;
	rc = res->ok ? 0 : 1;
	for (unsigned int k = 0; k < o->instances; k++)
		close(sink_fd[k]);
	kr_driver_free(dv);
	kr_relay_free(r);
	free(res);
	return rc;
}

/* ---- --self-test ---- */

struct kr_st_frame {
	uint64_t req;
	uint32_t seq;
	uint16_t len;
	uint8_t d[KR_DGRAM_MAX];
};

struct kr_st {
	struct kr_relay *r;
	int cfd;
	struct sockaddr_in relay_addr;
	struct kr_st_frame expect[32]; /* what must be forwarded */
	unsigned int n_expect;
	uint64_t sent;
	unsigned int fails;
};

/* Send one datagram; wait until the relay has taken it. */
static void
kr_st_send(struct kr_st *t, const uint8_t *d, size_t len)
{
	uint64_t deadline = kr_ns(CLOCK_MONOTONIC) + 2000000000ull;

	if (sendto(t->cfd, d, len, 0, (const struct sockaddr *)&t->relay_addr,
		   sizeof(t->relay_addr)) != (ssize_t)len) {
		perror("kernel_relay: self-test sendto");
		t->fails++;
		return;
	}
	t->sent++;
	while (__atomic_load_n(&t->r->pub.rx, __ATOMIC_RELAXED) < t->sent) {
		if (kr_ns(CLOCK_MONOTONIC) > deadline) {
			printf("FAIL: the relay did not take datagram %" PRIu64
			       "\n",
			       t->sent);
			t->fails++;
			return;
		}
		kr_sleep_ms(1);
	}
}

/* A valid fragment of stream @req at @d; return its length. */
static size_t
kr_st_build(uint8_t *d, uint64_t req, uint32_t seq, bool end)
{
	return kr_build(d, KR_DGRAM_MAX, KR_PIPELINE, 0, 1, req, seq,
			end ? SL_FRAG_F_END : 0,
			(unsigned int)((req + seq) % KR_VARIANTS));
}

/* That fragment must reach an instance. */
static void
kr_st_expect(struct kr_st *t, uint64_t req, uint32_t seq, bool end)
{
	struct kr_st_frame *e;

	if (t->n_expect == 32) {
		t->fails++;
		return;
	}
	e = &t->expect[t->n_expect++];
	e->req = req;
	e->seq = seq;
	e->len = (uint16_t)kr_st_build(e->d, req, seq, end);
}

/* Send it; @fwd: it must be forwarded at once. */
static void
kr_st_frag(struct kr_st *t, uint64_t req, uint32_t seq, bool end, bool fwd)
{
	uint8_t d[KR_DGRAM_MAX];
	size_t len = kr_st_build(d, req, seq, end);

	if (fwd)
		kr_st_expect(t, req, seq, end);
	kr_st_send(t, d, len);
}

static void
kr_st_check(struct kr_st *t, const char *what, uint64_t got, uint64_t want)
{
	bool ok = got == want;

	printf("%s %-34s %8" PRIu64 " (want %" PRIu64 ")\n",
	       ok ? "ok  " : "FAIL", what, got, want);
	t->fails += !ok;
}

/* The datagrams the sinks got: each the relay's rewrite of one it had to
 * forward, in order per stream, all of a stream at the instance its
 * request id names. */
static void
kr_st_sinks(struct kr_st *t, const int *sink_fd, unsigned int n_sink)
{
	uint8_t d[KR_BUF], want[KR_DGRAM_MAX];
	uint64_t deadline = kr_ns(CLOCK_MONOTONIC) + 2000000000ull;
	uint64_t ids[32] = {0};
	uint32_t next[32] = {0}, sink_of[32] = {0};
	unsigned int got = 0, bad = 0;

	while (got < t->n_expect && kr_ns(CLOCK_MONOTONIC) < deadline) {
		bool any = false;

		for (unsigned int k = 0; k < n_sink; k++) {
			ssize_t n =
				recv(sink_fd[k], d, sizeof(d), MSG_DONTWAIT);
			struct sl_frag_hdr h;
			uint64_t req, id;
			unsigned int e, s;

			if (n <= 0)
				continue;
			any = true;
			got++;
			if (sl_wire_parse(d, (size_t)n, &h) != SL_WIRE_OK ||
			    h.stage != KR_NEXT_STAGE || h.from_stage != 0) {
				bad++;
				continue;
			}
			req = h.send_ns;
			id = h.ancestry[0];
			for (e = 0; e < t->n_expect; e++)
				if (t->expect[e].req == req &&
				    t->expect[e].seq == h.seq)
					break;
			/* Streams by their first expected frame. */
			for (s = 0; s < t->n_expect; s++)
				if (t->expect[s].req == req)
					break;
			if (e == t->n_expect || s >= 32 ||
			    t->expect[e].len != (size_t)n) {
				bad++;
				continue;
			}
			kr_expect(want, t->expect[e].d, (size_t)n, htobe64(id));
			if (memcmp(want, d, (size_t)n) != 0 ||
			    !(id & KR_ID_MARK) ||
			    kr_rendezvous(id, t->r->seeds, n_sink) != k) {
				bad++;
				continue;
			}
			if (next[s] == 0) {
				ids[s] = id;
				sink_of[s] = k;
			}
			if (h.seq != next[s] || ids[s] != id || sink_of[s] != k)
				bad++;
			next[s] = h.seq + 1;
		}
		if (!any)
			kr_sleep_ms(1);
	}
	kr_st_check(t, "sinks: datagrams received", got, t->n_expect);
	kr_st_check(t, "sinks: wrong bytes, order or route", bad, 0);
	/* Nothing more may come. */
	kr_sleep_ms(50);
	for (unsigned int k = 0; k < n_sink; k++)
		while (recv(sink_fd[k], d, sizeof(d), MSG_DONTWAIT) > 0)
			got++;
	kr_st_check(t, "sinks: datagrams after the last", got - t->n_expect, 0);
}

static int
kr_self_test(const struct kr_opts *in)
{
	struct kr_opts o = *in;
	int sink_fd[KR_INST_MAX] = {0};
	struct sl_wire_builder b;
	struct sl_frag_hdr h;
	struct sockaddr_in ca;
	uint8_t d[KR_DGRAM_MAX], x[KR_DGRAM_MAX];
	struct kr_st t = {0};
	pthread_t th;
	size_t len;
	int rc;

	/* A table of 8 streams, to fill it; sluiced's linger. */
	o.pace = KR_PACE_WINDOW;
	o.flows = 8;
	o.linger_ms = 1000;
	o.idle_ms = 1500;
	o.window = 16;
	o.instances = 4;
	t.r = kr_relay_new(&o, sink_fd, &t.relay_addr);
	if (t.r == NULL)
		return 1;
	t.cfd = kr_udp_socket(&ca, false);
	if (t.cfd < 0) {
		perror("kernel_relay: client socket");
		return 1;
	}
	rc = kr_relay_start(t.r, &th);
	if (rc != 0)
		return rc;
	printf("kernel_relay --self-test, io %s: flow table of %u, reorder "
	       "window %u, linger %u ms, idle %u ms, %u instances\n",
	       kr_io_names[o.io], o.flows, o.window, o.linger_ms, o.idle_ms,
	       o.instances);

	/* A: in order, then a duplicate, its END again, one past the END. */
	for (uint32_t s = 0; s < 4; s++)
		kr_st_frag(&t, 100, s, s == 3, true);
	kr_st_frag(&t, 100, 1, false, false);
	kr_st_frag(&t, 100, 3, true, false);
	kr_st_frag(&t, 100, 4, false, false);
	/* B: 0, 2, 3 (END) held until 1 comes, then all four leave in
	 * order; then 2 again. */
	kr_st_frag(&t, 200, 0, false, true);
	kr_st_frag(&t, 200, 2, false, false);
	kr_st_frag(&t, 200, 3, true, false);
	kr_st_frag(&t, 200, 1, false, true);
	kr_st_expect(&t, 200, 2, false);
	kr_st_expect(&t, 200, 3, true);
	kr_st_frag(&t, 200, 2, false, false);
	/* C: 0, 2 held, 2 again while held, 1; then one past the window. */
	kr_st_frag(&t, 300, 0, false, true);
	kr_st_frag(&t, 300, 2, false, false);
	kr_st_frag(&t, 300, 2, false, false);
	kr_st_frag(&t, 300, 1, false, true);
	kr_st_expect(&t, 300, 2, false);
	kr_st_frag(&t, 300, 40, false, false);

	/* Invalid: magic, version, UTF-8, length, short. */
	len = kr_build(d, sizeof(d), KR_PIPELINE, 0, 1, 500, 0, 0, 0);
	memcpy(x, d, len);
	x[0] ^= 0xff;
	kr_st_send(&t, x, len);
	memcpy(x, d, len);
	x[SL_WIRE_OFF_VERSION] = 2;
	kr_st_send(&t, x, len);
	memset(&h, 0, sizeof(h));
	h.version = SL_WIRE_VERSION;
	h.depth = 1;
	h.pipeline = KR_PIPELINE;
	h.tenant = KR_TENANT;
	h.ancestry[0] = 501;
	sl_wire_builder_init(&b, x, sizeof(x), &h);
	sl_wire_builder_add(&b, 1, "ok", 2);
	sl_wire_builder_add(&b, 2, "\xc0\x80", 2); /* overlong NUL */
	kr_st_send(&t, x, sl_wire_builder_finish(&b));
	kr_st_send(&t, d, len - 1);
	kr_st_send(&t, d, 40);
	/* Not of the relayed edge: pipeline, stage, depth. */
	len = kr_build(x, sizeof(x), 9, 0, 1, 600, 0, 0, 1);
	kr_st_send(&t, x, len);
	len = kr_build(x, sizeof(x), KR_PIPELINE, 3, 1, 601, 0, 0, 1);
	kr_st_send(&t, x, len);
	len = kr_build(x, sizeof(x), KR_PIPELINE, 0, 2, 602, 0, 0, 1);
	kr_st_send(&t, x, len);
	/* A control fragment: the ACK of A's END. */
	memset(&h, 0, sizeof(h));
	h.version = SL_WIRE_VERSION;
	h.depth = 1;
	h.pipeline = KR_PIPELINE;
	h.tenant = KR_TENANT;
	h.ancestry[0] = 100;
	kr_st_send(&t, x,
		   sl_wire_encode_control(x, &h, SL_FRAG_F_ACK, 3, 0, 0));
	/* D..H fill the table (A and B linger, C is open); I finds it full. */
	for (uint64_t q = 401; q <= 405; q++)
		kr_st_frag(&t, q, 0, false, true);
	kr_st_frag(&t, 900, 0, false, false);
	/* After the linger A and B are gone: J gets an entry. */
	kr_sleep_ms(o.linger_ms + 300);
	kr_st_frag(&t, 1000, 0, false, true);
	/* K holds its 2 waiting for 1, then goes idle: every open stream
	 * (C, D..H, J, K) leaves, K's 2 dropped as expired. */
	kr_st_frag(&t, 1100, 0, false, true);
	kr_st_frag(&t, 1100, 2, false, false);
	kr_sleep_ms(o.idle_ms + o.idle_ms / 4 + 500);

	kr_st_sinks(&t, sink_fd, o.instances);
	kr_relay_stop(t.r, th);

	const struct kr_stats *st = &t.r->st;

	kr_st_check(&t, "received", st->rx, t.sent);
	kr_st_check(&t, "received (datagrams sent)", st->rx, 35);
	kr_st_check(&t, "forwarded", st->fwd, 18);
	kr_st_check(&t, "control consumed", st->control, 1);
	kr_st_check(&t, "held", st->held, 4);
	kr_st_check(&t, "released", st->released, 3);
	kr_st_check(&t, "drop invalid", st->drops[KR_DROP_INVALID], 5);
	kr_st_check(&t, "  BAD_MAGIC", st->wire[SL_WIRE_BAD_MAGIC], 1);
	kr_st_check(&t, "  BAD_VERSION", st->wire[SL_WIRE_BAD_VERSION], 1);
	kr_st_check(&t, "  BAD_UTF8", st->wire[SL_WIRE_BAD_UTF8], 1);
	kr_st_check(&t, "  LEN_MISMATCH", st->wire[SL_WIRE_LEN_MISMATCH], 1);
	kr_st_check(&t, "  SHORT", st->wire[SL_WIRE_SHORT], 1);
	kr_st_check(&t, "drop not_routed", st->drops[KR_DROP_NOT_ROUTED], 3);
	kr_st_check(&t, "drop duplicate", st->drops[KR_DROP_DUPLICATE], 4);
	kr_st_check(&t, "drop after_end", st->drops[KR_DROP_AFTER_END], 1);
	kr_st_check(&t, "drop too_far", st->drops[KR_DROP_TOO_FAR], 1);
	kr_st_check(&t, "drop reorder_full", st->drops[KR_DROP_REORDER_FULL],
		    0);
	kr_st_check(&t, "drop table_full", st->drops[KR_DROP_TABLE_FULL], 1);
	kr_st_check(&t, "drop expired", st->drops[KR_DROP_EXPIRED], 1);
	kr_st_check(&t, "drop tx_error", st->drops[KR_DROP_TX_ERROR], 0);
	kr_st_check(&t, "streams created", st->created, 10);
	kr_st_check(&t, "streams removed", st->removed, 10);
	kr_st_check(&t, "  of them idle, never ended", st->idled, 8);
	kr_st_check(&t, "relay socket overflow", kr_sock_drops(t.r->fd), 0);
	printf("self-test (%s): %s\n", kr_io_names[o.io],
	       t.fails ? "FAILED" : "ok");
	close(t.cfd);
	for (unsigned int k = 0; k < o.instances; k++)
		close(sink_fd[k]);
	kr_relay_free(t.r);
	return t.fails ? 1 : 0;
}

/* ---- options ---- */

static void
kr_usage(FILE *f)
{
	fprintf(f,
		"usage: kernel_relay [options]\n"
		"  --io mmsg|uring    the relay's I/O (mmsg)\n"
		"  --pace burst|window  burst: fill the waiting relay's socket "
		"with --burst\n"
		"                     datagrams, time its drain (the default); "
		"window: send on,\n"
		"                     at most --inflight in flight, time the "
		"relay throughout\n"
		"  --burst N          datagrams a burst, a multiple of 32 "
		"(4096)\n"
		"  --seconds S        length of a round (3)\n"
		"  --rounds N         rounds (5, at most 64)\n"
		"  --cpu N            CPU of the relay thread (the last); the "
		"driver runs on the others\n"
		"  --json-file PATH   also write the result as JSON to PATH\n"
		"  --commit LABEL     the commit the JSON names\n"
		"  --streams N        concurrent streams, a multiple of 32 "
		"(1024)\n"
		"  --fragments N      fragments a stream (16)\n"
		"  --instances N      instances of the next stage: sinks (4, "
		"at most 16)\n"
		"  --flows N          flow table entries (262144)\n"
		"  --window N         reorder window (16, at most 32)\n"
		"  --linger-ms N      an ended stream stays this long; 0: "
		"removed at its END (1000)\n"
		"  --idle-ms N        a stream without a fragment for this "
		"long "
		"leaves, what it\n"
		"                     holds dropped; 0: never (5000)\n"
		"  --inflight N       --pace window: fragments between the "
		"driver's sends and\n"
		"                     the sinks (4096)\n"
		"  --self-test        invalid frames, duplicates, reordering, "
		"a full table: check every counter, exit 0 or 1\n");
}

static unsigned int
kr_num(const char *opt, const char *s, unsigned long lo, unsigned long hi)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi) {
		fprintf(stderr, "kernel_relay: --%s: %s is not in %lu..%lu\n",
			opt, s, lo, hi);
		exit(2);
	}
	return (unsigned int)v;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"io", required_argument, NULL, 'i'},
		{"pace", required_argument, NULL, 'p'},
		{"burst", required_argument, NULL, 'b'},
		{"seconds", required_argument, NULL, 's'},
		{"rounds", required_argument, NULL, 'r'},
		{"cpu", required_argument, NULL, 'c'},
		{"json-file", required_argument, NULL, 'j'},
		{"commit", required_argument, NULL, 'C'},
		{"streams", required_argument, NULL, 'S'},
		{"fragments", required_argument, NULL, 'F'},
		{"instances", required_argument, NULL, 'I'},
		{"flows", required_argument, NULL, 'f'},
		{"window", required_argument, NULL, 'w'},
		{"linger-ms", required_argument, NULL, 'l'},
		{"idle-ms", required_argument, NULL, 'd'},
		{"inflight", required_argument, NULL, 'n'},
		{"self-test", no_argument, NULL, 'T'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	struct kr_opts o = {
		.io = KR_IO_MMSG,
		.pace = KR_PACE_BURST,
		.burst = 4096,
		.seconds = 3,
		.rounds = 5,
		.cpu = ncpu > 0 ? (int)ncpu - 1 : 0,
		.streams = 1024,
		.fragments = 16,
		.instances = 4,
		.flows = 262144,
		.window = 16,
		.linger_ms = 1000,
		.idle_ms = 5000,
		.inflight = 4096,
	};
	int c;

	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		char *end;

		switch (c) {
		case 'i':
			if (strcmp(optarg, "mmsg") == 0) {
				o.io = KR_IO_MMSG;
			} else if (strcmp(optarg, "uring") == 0) {
				o.io = KR_IO_URING;
			} else {
				fprintf(stderr, "kernel_relay: --io mmsg or "
						"uring\n");
				return 2;
			}
			break;
		case 'p':
			if (strcmp(optarg, "burst") == 0) {
				o.pace = KR_PACE_BURST;
			} else if (strcmp(optarg, "window") == 0) {
				o.pace = KR_PACE_WINDOW;
			} else {
				fprintf(stderr, "kernel_relay: --pace burst or "
						"window\n");
				return 2;
			}
			break;
		case 'b':
			o.burst = kr_num("burst", optarg, KR_BATCH, 32768);
			if (o.burst % KR_BATCH != 0) {
				fprintf(stderr, "kernel_relay: --burst: a "
						"multiple of 32\n");
				return 2;
			}
			break;
		case 's':
			o.seconds = strtod(optarg, &end);
			if (*end != '\0' || !(o.seconds >= 0.1) ||
			    o.seconds > 3600) {
				fprintf(stderr, "kernel_relay: --seconds: 0.1 "
						"to 3600\n");
				return 2;
			}
			break;
		case 'r':
			o.rounds = kr_num("rounds", optarg, 1, KR_ROUNDS_MAX);
			break;
		case 'c':
			o.cpu = (int)kr_num("cpu", optarg, 0,
					    ncpu > 0 ? (unsigned long)ncpu - 1
						     : 0);
			break;
		case 'j':
			o.json_file = optarg;
			break;
		case 'C':
			o.commit = optarg;
			break;
		case 'S':
			o.streams = kr_num("streams", optarg, KR_BATCH, 65536);
			if (o.streams % KR_BATCH != 0) {
				fprintf(stderr, "kernel_relay: --streams: a "
						"multiple of 32\n");
				return 2;
			}
			break;
		case 'F':
			o.fragments = kr_num("fragments", optarg, 1, 1000000);
			break;
		case 'I':
			o.instances =
				kr_num("instances", optarg, 1, KR_INST_MAX);
			break;
		case 'f':
			o.flows = kr_num("flows", optarg, 8, 1u << 24);
			break;
		case 'w':
			o.window = kr_num("window", optarg, 1, KR_WINDOW_MAX);
			break;
		case 'l':
			o.linger_ms = kr_num("linger-ms", optarg, 0, 60000);
			break;
		case 'd':
			o.idle_ms = kr_num("idle-ms", optarg, 0, 600000);
			break;
		case 'n':
			o.inflight =
				kr_num("inflight", optarg, KR_BATCH, 1u << 20);
			break;
		case 'T':
			o.self_test = true;
			break;
		case 'h':
			kr_usage(stdout);
			return 0;
		default:
			kr_usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		kr_usage(stderr);
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	return o.self_test ? kr_self_test(&o) : kr_bench(&o);
}
