/* SPDX-License-Identifier: MIT */
/*
 * sluice.h - libsluice: what engines and clients need to talk to sluiced
 * over ordinary UDP sockets.
 *
 * - sockets: a non-blocking UDP socket with batch send/receive
 *   (sendmmsg/recvmmsg) and a parsed view of each received fragment;
 * - a stream sender that numbers fragments and stamps send times;
 * - reliable streams (sl_rel): the client and engine end of the loss
 *   repair and liveness protocol of proto/WIRE.md;
 * - the token transforms the engine emulator applies and the client
 *   verifies (echo, upper, rot13);
 * - a small log-linear latency histogram;
 * - a corpus tokenizer that turns real text into tokens.
 *
 * No DPDK: the tools run as plain processes inside network namespaces.
 * The wire format itself is proto/sl_wire.h, used unchanged.
 */
#ifndef SLUICE_H
#define SLUICE_H

#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "sl_wire.h"

/* ------------------------------------------------------------------ */
/* Time and addresses                                                  */
/* ------------------------------------------------------------------ */

/**
 * sl_now_ns - CLOCK_MONOTONIC in nanoseconds.
 *
 * The clock every send_ns on the wire uses: sender and receiver of a
 * latency sample must share it, which holds for processes on one host
 * (network namespaces share the monotonic clock).
 */
uint64_t sl_now_ns(void);

/**
 * sl_poll_ns - wait at most @wait_ns nanoseconds for an event on one of
 * the @n descriptors of @p (ppoll; EINTR and timeouts are not errors: the
 * caller looks at its sockets again either way).
 */
void sl_poll_ns(struct pollfd *p, nfds_t n, uint64_t wait_ns);

/**
 * sl_endpoint_parse - parse "A.B.C.D:PORT" (or "A.B.C.D" when
 * @port_optional, giving port 0) into @out.
 *
 * Return: 0, or -EINVAL if the text is not a dotted IPv4 address with a
 * port in 0..65535.
 */
int sl_endpoint_parse(const char *text, bool port_optional,
		      struct sockaddr_in *out);

/**
 * sl_endpoint_str - format @addr as "A.B.C.D:PORT" into @buf of @len
 * bytes (SL_ENDPOINT_STRLEN is always enough). Returns @buf.
 */
#define SL_ENDPOINT_STRLEN 24
char *sl_endpoint_str(const struct sockaddr_in *addr, char *buf, size_t len);

/* ------------------------------------------------------------------ */
/* Sockets and batch I/O                                               */
/* ------------------------------------------------------------------ */

/* Room for any datagram that fits an Ethernet MTU, with headroom. */
#define SL_DGRAM_MAX 2048
/* Most datagrams one sl_sock_send_burst / sl_sock_recv_burst moves. */
#define SL_BURST_MAX 64

struct sl_sock {
	int fd;
	struct sockaddr_in local; /* bound address, port resolved */
	struct sockaddr_in peer;  /* default destination; sin_family 0 = none */
};

/*
 * One datagram of a burst. The caller owns buf. On receive, addr is the
 * source; on send, addr is the destination, or the socket's peer when
 * addr.sin_family is 0.
 */
struct sl_dgram {
	uint8_t *buf;
	uint16_t cap;
	uint16_t len;
	struct sockaddr_in addr;
};

/* A burst with its own storage: the common case for a polling loop. */
struct sl_burst {
	unsigned int n;
	struct sl_dgram d[SL_BURST_MAX];
	uint8_t storage[SL_BURST_MAX][SL_DGRAM_MAX];
};

/**
 * sl_sock_open - open a non-blocking UDP socket bound to @local.
 * @local: address and port; port 0 picks an ephemeral port, which is
 *         then found in sock->local.
 *
 * Socket buffers are raised (best effort) so bursts from many streams
 * do not overflow them.
 * Return: the socket, or NULL with errno set (socket(2)/bind(2) errors,
 * ENOMEM).
 */
struct sl_sock *sl_sock_open(const struct sockaddr_in *local);

/**
 * sl_sock_close - close the socket and free it. NULL is accepted.
 */
void sl_sock_close(struct sl_sock *s);

/**
 * sl_sock_set_peer - make @peer the destination of datagrams sent with
 * no address (sl_dgram.addr.sin_family == 0). The socket is not
 * connect(2)ed: it keeps receiving from any source, as an engine behind
 * sluiced must.
 */
void sl_sock_set_peer(struct sl_sock *s, const struct sockaddr_in *peer);

/**
 * sl_burst_reset - point every datagram of @b at its own storage and
 * set b->n to 0. Call once before first use.
 */
void sl_burst_reset(struct sl_burst *b);

/**
 * sl_sock_send_burst - send @n datagrams with one sendmmsg(2).
 *
 * Return: how many were sent, from the first (fewer than @n when the
 * socket buffer is full: the caller keeps the rest, waits for POLLOUT
 * and retries); 0 when none could be sent right now; -EDESTADDRREQ when
 * a datagram has no address and the socket no peer; another -errno on
 * failure.
 */
int sl_sock_send_burst(struct sl_sock *s, struct sl_dgram *d, unsigned int n);

/**
 * sl_sock_recv_burst - receive up to @n datagrams with one recvmmsg(2)
 * without blocking.
 *
 * Fills d[i].len and d[i].addr. A datagram larger than d[i].cap is
 * truncated to cap bytes (it then fails to parse: LEN_MISMATCH).
 * Return: how many were received (0 if none waiting), or -errno.
 */
int sl_sock_recv_burst(struct sl_sock *s, struct sl_dgram *d, unsigned int n);

/*
 * A received fragment, parsed and validated: header in host order,
 * payload pointing into the datagram's buffer, and where it came from.
 */
struct sl_frag_view {
	struct sl_frag_hdr hdr;
	const uint8_t *payload;
	struct sockaddr_in src;
};

/**
 * sl_frag_view_parse - validate datagram @d with sl_wire_parse and fill
 * @v. Return: SL_WIRE_OK, or the reason it was rejected (then @v is
 * undefined and the datagram must be counted and dropped).
 */
enum sl_wire_status sl_frag_view_parse(struct sl_frag_view *v,
				       const struct sl_dgram *d);

/**
 * sl_frag_view_tokens - start iterating over the tokens of @v.
 */
void sl_frag_view_tokens(const struct sl_frag_view *v,
			 struct sl_token_iter *it);

/* ------------------------------------------------------------------ */
/* Stream sender                                                       */
/* ------------------------------------------------------------------ */

/*
 * The identity of one stream and its next sequence number. Fragments
 * are built one at a time: begin, add tokens, finish.
 */
struct sl_stream_tx {
	uint32_t pipeline;
	uint16_t stage;
	uint16_t tenant;
	uint8_t depth;
	uint64_t ancestry[SL_ANCESTRY_MAX];
	uint32_t next_seq;
	struct sl_wire_builder b;
};

/**
 * sl_stream_tx_init - name a stream: @ancestry holds @depth ids
 * (1..SL_ANCESTRY_MAX). The first fragment gets seq 0.
 * Return: 0, or -EINVAL for a bad depth.
 */
int sl_stream_tx_init(struct sl_stream_tx *tx, uint32_t pipeline,
		      uint16_t stage, uint16_t tenant, uint8_t depth,
		      const uint64_t *ancestry);

/**
 * sl_stream_tx_begin - start the stream's next fragment in @buf of @cap
 * bytes. Return: 0, or -ENOSPC if @cap cannot hold a header.
 */
int sl_stream_tx_begin(struct sl_stream_tx *tx, uint8_t *buf, size_t cap);

/**
 * sl_stream_tx_add - append one token to the fragment being built.
 * Return: 0, -ENOSPC if it does not fit (fragment unchanged), -EINVAL
 * for a text over 65535 bytes.
 */
int sl_stream_tx_add(struct sl_stream_tx *tx, uint32_t id, const char *text,
		     size_t len);

/**
 * sl_stream_tx_finish - close the fragment: set @flags (SL_FRAG_F_END,
 * SL_FRAG_F_ABORT) and @abort_reason (0 unless ABORT), stamp @send_ns
 * (0 = sl_now_ns() now, as late as possible), write the header and
 * advance the stream's seq.
 * Return: the datagram length.
 */
size_t sl_stream_tx_finish(struct sl_stream_tx *tx, uint8_t flags,
			   uint8_t abort_reason, uint64_t send_ns);

/* ------------------------------------------------------------------ */
/* Reliable streams: loss repair and liveness (sl_rel.c)               */
/* ------------------------------------------------------------------ */

/*
 * The client and engine end of every hop of proto/WIRE.md, "Loss repair
 * and liveness", on top of one struct sl_sock:
 *
 * - receiving, each stream (named by its source address, pipeline,
 *   stage, from_stage, tenant, depth and ancestry) is delivered in
 *   sequence and once: early fragments are held (at most rx_window past
 *   the next expected one, rx_bytes_max for all streams), duplicates
 *   dropped, gaps NACKed at once and again after SL_RTX_NACK_MS,
 *   doubling, SL_RTX_TRIES times (starting over when the gap shrinks);
 *   then the stream is given up and
 *   delivered as a tokenless ABORT (LOST) at the first missing seq.
 *   An END or ABORT delivered is ACKed (again for each duplicate) and
 *   the stream is remembered SL_RTX_LINGER_MS, so that what follows is
 *   dropped;
 * - sending, the last tx_window fragments of every stream are kept byte
 *   for byte (tx_bytes_max for all streams, oldest first); a NACK is
 *   answered with the copies asked for, or one tokenless ABORT (LOST) at
 *   the first it no longer holds; an END or ABORT without ACK is sent
 *   again after SL_RTX_RTO_MS, doubling, SL_RTX_TRIES times; an ACK
 *   forgets the stream (remembered SL_RTX_LINGER_MS more, without
 *   copies, so that a NACK it overtook is ignored, not taken for a
 *   loss);
 * - liveness: with answer_probes, a PROBE is answered at once (same
 *   pipeline, stage, seq, send_ns; PAUSE while sl_rel_set_pause() says
 *   so) and every prober is told when the pause state changes.
 *
 * Everything is bounded: streams tracked each way, bytes held each way,
 * fragments per stream; what does not fit is refused or evicted and
 * counted (struct sl_rel_counters), never silently. Ended and idle
 * streams are reclaimed.
 *
 * A polling loop feeds every received datagram to sl_rel_input() and
 * takes what it delivers with sl_rel_next(); sends data with
 * sl_rel_send_burst() (copies are kept of what left); and calls
 * sl_rel_tick() when sl_rel_tick() last said (NACK repeats, END resends,
 * give-ups, linger and idle expiry). One thread; no callbacks.
 */

/* Counters, all monotonic (sl_rel_counters()). */
#define SL_REL_COUNTERS(_)                                                     \
	/* receiving */                                                        \
	_(delivered, "data fragments delivered in order")                      \
	_(held, "early fragments held until the gap before them filled")       \
	_(duplicates_dropped, "data fragments already delivered or held")      \
	_(after_end_dropped, "data fragments past their stream's END/ABORT")   \
	_(beyond_window, "early fragments past the reorder window, dropped")   \
	_(held_over_bound, "early fragments dropped: rx_bytes_max reached")    \
	_(rx_refused, "fragments of new streams refused: receive table full")  \
	_(nacks_sent, "NACKs sent (first ones and repeats)")                   \
	_(nack_gave_up, "streams given up after SL_RTX_TRIES NACK repeats")    \
	_(acks_sent, "ACKs of a delivered END or ABORT")                       \
	_(acks_repeated, "ACKs sent again for a duplicate END or ABORT")       \
	_(rx_idle_reclaimed, "open receive streams idle past idle_ns, ended "  \
			     "for the application by ABORT (EXPIRED)")         \
	_(undrained, "deliveries dropped: sl_rel_next() not called")           \
	/* sending */                                                          \
	_(nacks_received, "NACKs received")                                    \
	_(nacks_bogus, "NACKs for sequences never sent, ignored")              \
	_(resent, "fragments sent again for a NACK")                           \
	_(lost_aborts_sent, "tokenless ABORT (LOST) sent: fragment not held")  \
	_(nacks_stale, "NACKs for a stream already ACKed (overtaken)")         \
	_(acks_received, "ACKs that ended a tracked stream")                   \
	_(acks_unknown, "ACKs for no stream awaiting one (late, duplicate)")   \
	_(end_resends, "END/ABORT fragments sent again without an ACK")        \
	_(gave_up, "streams forgotten after SL_RTX_TRIES END resends")         \
	_(tx_streams_evicted, "send streams evicted: send table full")         \
	_(tx_copies_evicted, "copies evicted: tx_bytes_max reached")           \
	_(tx_bytes_evicted, "bytes of the copies evicted for tx_bytes_max")    \
	_(tx_idle_reclaimed, "send streams without END reclaimed when idle")   \
	_(suppressed, "fragments of a stream ended by ABORT (LOST), unsent")   \
	/* liveness */                                                         \
	_(probes_answered, "PROBEs answered")                                  \
	_(probes_ignored, "PROBEs received with answer_probes off")            \
	_(probes_sent, "unprompted PROBEs: the pause state changed")           \
	/* both */                                                             \
	_(ctl_dropped, "control or resent datagrams the socket refused")

struct sl_rel_counters {
#define SL_REL_COUNTER_FIELD(name, text) uint64_t name;
	SL_REL_COUNTERS(SL_REL_COUNTER_FIELD)
#undef SL_REL_COUNTER_FIELD
};

enum sl_rel_counter {
#define SL_REL_COUNTER_ENUM(name, text) SL_REL_C_##name,
	SL_REL_COUNTERS(SL_REL_COUNTER_ENUM)
#undef SL_REL_COUNTER_ENUM
		SL_REL_C_MAX
};

/* What the state holds right now (sl_rel_usage()). */
struct sl_rel_usage {
	uint32_t rx_streams; /* open and lingering */
	uint32_t rx_held;    /* early fragments held */
	uint64_t rx_bytes;   /* their bytes */
	uint32_t tx_streams; /* open, awaiting ACK, or suppressing */
	uint32_t tx_acked;   /* ACKed, remembered SL_RTX_LINGER_MS */
	uint32_t tx_pending; /* END/ABORT sent, awaiting ACK */
	uint32_t tx_copies;  /* fragments kept for resending */
	uint64_t tx_bytes;   /* their bytes */
};

/* Largest reorder window (sl_rel_config.rx_window). */
#define SL_REL_RX_WINDOW_MAX 256
/* Largest send window (sl_rel_config.tx_window), and the default: a
 * stream keeps this many copies, enough for the repair schedule of a
 * receiver that holds fewer (sluiced's reorder_window) while the model
 * keeps producing. */
#define SL_REL_TX_WINDOW_MAX 256

struct sl_rel_config {
	uint32_t rx_streams_max; /* receive streams, lingering ones too */
	uint32_t tx_streams_max; /* send streams */
	uint64_t rx_bytes_max;   /* early fragments held, all streams */
	uint64_t tx_bytes_max;   /* copies kept, all streams */
	uint32_t rx_window;      /* held while seq < expected + rx_window */
	uint32_t tx_window;  /* copies per stream, 1..SL_REL_TX_WINDOW_MAX */
	uint64_t idle_ns;    /* open state without traffic reclaimed */
	bool answer_probes;  /* an engine instance: answer PROBEs */
	bool report_gave_up; /* a client: a send stream whose end was
				  * never ACKed is delivered as an ABORT
				  * (LOST) on its own identity */
};

/**
 * sl_rel_config_default - fill @cfg with the defaults: 16384 streams
 * each way, 16 MiB held and 32 MiB of copies, rx_window SL_RTX_WINDOW,
 * tx_window SL_REL_TX_WINDOW_MAX, idle 30 s, probes not answered.
 */
void sl_rel_config_default(struct sl_rel_config *cfg);

struct sl_rel;

/**
 * sl_rel_new - reliable streams over @sock (which the caller keeps and
 * closes after sl_rel_free()), bounded by @cfg (NULL: the defaults).
 *
 * All tables are allocated here; afterwards only copies of fragments
 * are allocated, each within the byte bounds.
 * Return: the state, or NULL with errno EINVAL (a bound of 0, rx_window
 * over SL_REL_RX_WINDOW_MAX, tx_window over SL_REL_TX_WINDOW_MAX) or
 * ENOMEM.
 */
struct sl_rel *sl_rel_new(struct sl_sock *sock,
			  const struct sl_rel_config *cfg);

/**
 * sl_rel_free - release every stream, copy and table. NULL is accepted.
 */
void sl_rel_free(struct sl_rel *r);

/**
 * sl_rel_input - take one received datagram @d at time @now (ns, the
 * sl_now_ns() clock, never decreasing between calls).
 *
 * A control fragment is consumed: NACK and ACK act on the send side,
 * PROBE is answered (with answer_probes). A data fragment goes to its
 * stream's receive state; what becomes deliverable in order (it, and
 * held fragments after it) is then taken with sl_rel_next(), which must
 * be called until it returns false before the next sl_rel_input() or
 * sl_rel_tick(). NACKs and ACKs this causes are sent before returning.
 *
 * Return: SL_WIRE_OK, or why the datagram is not a valid fragment
 * (sl_wire_parse(); nothing else was done: the caller counts it).
 */
enum sl_wire_status sl_rel_input(struct sl_rel *r, const struct sl_dgram *d,
				 uint64_t now);

/**
 * sl_rel_next - the next fragment delivered by the last sl_rel_input()
 * or sl_rel_tick(), in sequence order per stream.
 * @v: filled like sl_frag_view_parse() does; payload points into @d of
 *     sl_rel_input() or into a held copy, valid until the next call to
 *     sl_rel_next(), sl_rel_input() or sl_rel_tick().
 *
 * A stream given up (its gap never filled) is delivered as a tokenless
 * fragment with ABORT, reason LOST, at its first missing seq.
 * Return: false when nothing more is waiting.
 */
bool sl_rel_next(struct sl_rel *r, struct sl_frag_view *v);

/**
 * sl_rel_send_burst - sl_sock_send_burst() that keeps a copy of every
 * data fragment that left, for NACKs and the END resend.
 *
 * Fragments of a stream that was ended by an ABORT (LOST) are not sent
 * (they would be dropped after its end) but count as sent. Datagrams
 * that are not valid fragments go out unkept.
 * Return: as sl_sock_send_burst(): how many of @d were consumed, from
 * the first.
 */
int sl_rel_send_burst(struct sl_rel *r, struct sl_dgram *d, unsigned int n,
		      uint64_t now);

/**
 * sl_rel_track - keep a copy of data fragment @d as if it had been
 * sent: for a datagram the socket would not take, so that the
 * receiver's NACK (or, for an END, the resend after SL_RTX_RTO_MS)
 * repairs it instead of the stream being cut.
 */
void sl_rel_track(struct sl_rel *r, const struct sl_dgram *d, uint64_t now);

/**
 * sl_rel_tick - run what fell due at @now: NACK repeats and give-ups,
 * END resends and give-ups, linger and idle expiry. Streams given up
 * are then taken with sl_rel_next(): a receive stream as an ABORT
 * (LOST) at its gap; with report_gave_up, a send stream whose end
 * was never ACKed as an ABORT (LOST) carrying the send stream's own
 * identity and its end's seq (its src the receiver's address).
 * Return: when to call it again at the latest (ns; UINT64_MAX: nothing
 * pending).
 */
uint64_t sl_rel_tick(struct sl_rel *r, uint64_t now);

/**
 * sl_rel_set_pause - whether this instance wants no new streams: the
 * PAUSE flag of every PROBE answer; on a change, each address that
 * probed us (the last few) gets an unprompted PROBE saying so.
 */
void sl_rel_set_pause(struct sl_rel *r, bool pause, uint64_t now);

/**
 * sl_rel_paused - the state sl_rel_set_pause() last set.
 */
bool sl_rel_paused(const struct sl_rel *r);

/**
 * sl_rel_abort_open - end every send stream the application has not
 * ended with a tokenless ABORT (@reason) at its next seq, kept and
 * resent like any END until ACKed (a shutdown with streams in flight).
 * Return: how many streams were aborted.
 */
unsigned int sl_rel_abort_open(struct sl_rel *r, uint8_t reason, uint64_t now);

/**
 * sl_rel_counters - the counters; valid as long as @r.
 */
const struct sl_rel_counters *sl_rel_counters(const struct sl_rel *r);

/**
 * sl_rel_usage - what @r holds now, into @u.
 */
void sl_rel_usage(const struct sl_rel *r, struct sl_rel_usage *u);

/**
 * sl_rel_counter_name - name of counter @i ("nacks_sent"); NULL out of
 * range. sl_rel_counter_get - its value in @c.
 */
const char *sl_rel_counter_name(unsigned int i);
uint64_t sl_rel_counter_get(const struct sl_rel_counters *c, unsigned int i);

/**
 * sl_rel_counters_json - write @c as one JSON object, every counter by
 * name ({"delivered": 12, ...}); with @base, each value less @base's
 * (the counters of one run of several). Return: @f's error state as
 * ferror().
 */
int sl_rel_counters_json(FILE *f, const struct sl_rel_counters *c,
			 const struct sl_rel_counters *base);

/* ------------------------------------------------------------------ */
/* Transforms                                                          */
/* ------------------------------------------------------------------ */

/*
 * What an emulated stage does to each token's text. All keep the byte
 * length and touch only ASCII letters, so UTF-8 multi-byte sequences
 * (whose bytes are all >= 0x80) pass unchanged and stay valid.
 */
enum sl_transform {
	SL_TRANSFORM_ECHO = 0,
	SL_TRANSFORM_UPPER,
	SL_TRANSFORM_ROT13,
	SL_TRANSFORM_MAX
};

/**
 * sl_transform_by_name - look up "echo", "upper" or "rot13".
 * Return: 0 and *@out set, or -EINVAL for an unknown name.
 */
int sl_transform_by_name(const char *name, enum sl_transform *out);

/**
 * sl_transform_name - the name of @t ("echo"); "?" when out of range.
 */
const char *sl_transform_name(enum sl_transform t);

/**
 * sl_transform_text - write the transform of @len bytes at @src to @dst
 * (also @len bytes; @dst may equal @src).
 */
void sl_transform_text(enum sl_transform t, char *dst, const char *src,
		       size_t len);

/**
 * sl_transform_token_id - the id of a token after @t: echo keeps @id (a
 * real engine's ids need not be text hashes); the others emit a new
 * token whose id is sl_token_hash() of the transformed @text.
 */
uint32_t sl_transform_token_id(enum sl_transform t, uint32_t id,
			       const char *text, size_t len);

/**
 * sl_transform_frag - build the answer to fragment @in: every token
 * transformed by @t, under header @out_hdr (its counts are ignored).
 * @buf/@cap: where to build; the answer has the same length as the input.
 *
 * Return: the datagram length, or -ENOSPC if @cap is too small.
 */
int sl_transform_frag(enum sl_transform t, const struct sl_frag_view *in,
		      const struct sl_frag_hdr *out_hdr, uint8_t *buf,
		      size_t cap);

/* ------------------------------------------------------------------ */
/* Latency histogram                                                   */
/* ------------------------------------------------------------------ */

/*
 * Log-linear: values below 64 ns get exact buckets; above, each power of
 * two [2^e, 2^(e+1)) is cut into 32 equal sub-buckets, so a reported
 * value is within 1/64 (~1.6%) of the true one. Values from 2^36 ns
 * (~68.7 s) up land in the last bucket; min and max stay exact.
 */
#define SL_HIST_SUB_BITS 5
#define SL_HIST_SUB (1u << SL_HIST_SUB_BITS)
#define SL_HIST_GROUPS 32
#define SL_HIST_BUCKETS (SL_HIST_GROUPS * SL_HIST_SUB)

struct sl_hist {
	uint64_t count;
	uint64_t sum;
	uint64_t min;
	uint64_t max;
	uint32_t bucket[SL_HIST_BUCKETS];
};

/**
 * sl_hist_init - empty the histogram.
 */
void sl_hist_init(struct sl_hist *h);

/**
 * sl_hist_record - add one value (ns). O(1): a count-leading-zeros and
 * an increment.
 */
void sl_hist_record(struct sl_hist *h, uint64_t value);

/**
 * sl_hist_merge - add every sample of @src into @dst.
 */
void sl_hist_merge(struct sl_hist *dst, const struct sl_hist *src);

/**
 * sl_hist_percentile - the value at percentile @p (0..100]: the middle
 * of the bucket holding the sample of rank ceil(p/100 * count), clamped
 * to [min, max]. p >= 100 returns max exactly. Returns 0 when empty.
 */
uint64_t sl_hist_percentile(const struct sl_hist *h, double p);

/**
 * sl_hist_mean - arithmetic mean of the recorded values (exact); 0 when
 * empty.
 */
double sl_hist_mean(const struct sl_hist *h);

/* ------------------------------------------------------------------ */
/* Corpus tokenizer                                                    */
/* ------------------------------------------------------------------ */

/* Longest token the tokenizer emits: bounds a fragment's size. */
#define SL_TOKEN_TEXT_MAX 64

struct sl_corpus_token {
	uint32_t id;  /* sl_token_hash of the text */
	uint32_t off; /* offset of the text in sl_corpus.text */
	uint16_t len;
};

struct sl_corpus {
	char *text;
	size_t len;
	struct sl_corpus_token *tokens;
	size_t n_tokens;
};

/**
 * sl_token_hash - stable id of a token: FNV-1a 32 of its bytes, masked
 * to 31 bits so that ids stay positive wherever they are printed.
 */
uint32_t sl_token_hash(const char *text, size_t len);

/**
 * sl_tokenize_next - length of the token starting at @s (@len bytes
 * left, @len > 0): leading ASCII whitespace, then one run of word
 * characters (ASCII letters, digits, '_', and any non-ASCII character)
 * or one run of ASCII punctuation; trailing whitespace alone is a
 * token. Never longer than SL_TOKEN_TEXT_MAX and never ends inside a
 * UTF-8 sequence (the text must be valid UTF-8).
 */
size_t sl_tokenize_next(const char *s, size_t len);

/**
 * sl_corpus_from_text - tokenize a copy of @len bytes at @text.
 * Return: the corpus, or NULL with errno EILSEQ (not valid UTF-8),
 * EINVAL (empty, or over 4 GiB) or ENOMEM.
 */
struct sl_corpus *sl_corpus_from_text(const char *text, size_t len);

/**
 * sl_corpus_load - read a UTF-8 text file and tokenize it.
 * Return: the corpus, or NULL with errno from open/read or as
 * sl_corpus_from_text.
 */
struct sl_corpus *sl_corpus_load(const char *path);

/**
 * sl_corpus_token_text - where token @i's text lies.
 */
static inline const char *
sl_corpus_token_text(const struct sl_corpus *c, size_t i)
{
	return c->text + c->tokens[i].off;
}

/**
 * sl_corpus_free - free a corpus. NULL is accepted.
 */
void sl_corpus_free(struct sl_corpus *c);

/*
 * The length directive: a request whose text opens with the line
 * "max_tokens: N" (N decimal, 1 to SL_MAX_TOKENS_MAX) asks for an answer
 * of exactly N tokens, as an OpenAI client asks with its max_tokens (and
 * vLLM's benchmarks with ignore_eos). The wire has no field for it: the
 * text says it. sluicegen --trace writes it; sluice-engine's LM roles
 * honour it (tools/engine/README.md, "The length directive").
 */
#define SL_MAX_TOKENS_KEY "max_tokens:"
#define SL_MAX_TOKENS_MAX 8192

/* ------------------------------------------------------------------ */
/* Growable text                                                       */
/* ------------------------------------------------------------------ */

/* A growable byte string (sl_text.c). Zero-initialised: empty. */
struct sl_text {
	char *buf; /* NULL until something was appended */
	size_t len;
	size_t cap;
};

/**
 * sl_text_append - append @n bytes at @s. Return 0 or -ENOMEM.
 * sl_text_free - release the buffer (the struct may be reused).
 */
int sl_text_append(struct sl_text *t, const char *s, size_t n);
void sl_text_free(struct sl_text *t);

/**
 * sl_file_replace - make @path hold the @len bytes of @buf, whole or not
 * at all: written to "@path.tmp", then renamed over @path (a reader
 * never sees half a stats file). Return 0 or -errno.
 */
int sl_file_replace(const char *path, const char *buf, size_t len);

/* ------------------------------------------------------------------ */
/* JSON Lines records                                                  */
/* ------------------------------------------------------------------ */

/*
 * One field a record may carry. The loader fills @val (a malloc'd,
 * NUL-terminated copy; NULL when the record lacks the field) and @len;
 * a callback that keeps @val sets it to NULL, else the loader frees it.
 */
enum sl_jsonl_kind {
	SL_JSONL_STRING, /* a string */
	SL_JSONL_ID,     /* a string or an integer, kept as its text */
};

struct sl_jsonl_field {
	const char *name;
	enum sl_jsonl_kind kind;
	bool required;
	size_t max_len; /* bytes; 0: no limit */
	char *val;
	size_t len;
};

/* Called once a record; return 0, or -1 after writing why to @why. */
typedef int (*sl_jsonl_fn)(void *arg, struct sl_jsonl_field *f, unsigned int n,
			   char *why, size_t why_len);

/**
 * sl_jsonl_load - read a JSON Lines file (jansson): each non-blank line
 * one object; the @n fields @f are taken from it, other members are read
 * over. A member named twice, text that is not UTF-8, "\u0000" in a
 * string, a missing required field or one of the wrong type refuses the
 * record; @fn sees each accepted record in file order.
 *
 * Return: the records read, or -1 with "PATH:LINE: why" (or "PATH:
 * strerror") in @err.
 */
long sl_jsonl_load(const char *path, struct sl_jsonl_field *f, unsigned int n,
		   sl_jsonl_fn fn, void *arg, char *err, size_t err_len);

/**
 * sl_jsonl_record - sl_jsonl_load's reading of one line of @len bytes.
 * Return: 0, 1 for a blank line (nothing filled), or -1 with why in
 * @why. The caller frees the fields' values (sl_jsonl_clear).
 */
int sl_jsonl_record(const char *line, size_t len, struct sl_jsonl_field *f,
		    unsigned int n, char *why, size_t why_len);

/** sl_jsonl_clear - free the fields' values and set them to NULL. */
void sl_jsonl_clear(struct sl_jsonl_field *f, unsigned int n);

/* ------------------------------------------------------------------ */
/* Stage API: one stage instance's loop (sl_stage.c)                   */
/* ------------------------------------------------------------------ */

/*
 * What an engine needs to serve its stage, with no stream table and no
 * packet of its own: sluiced sends the instance input streams; for each
 * one the application reads events and writes one output stream, which
 * goes back to where the input came from.
 *
 * - input: sl_stage_poll() receives (everything through sl_rel, so every
 *   input stream comes in order and once, its gaps repaired, or ends in
 *   an ABORT); sl_stage_next() then hands out events, in order per stream,
 *   each once: OPEN at a stream's first fragment; TOKENS for each
 *   fragment with tokens that does not end the stream (the first one's
 *   right after its OPEN); last END or ABORT (with the tokens of the
 *   fragment that ends it), or CHILDREN;
 * - output: sl_stage_send() appends one token to the stream's output;
 *   tokens are packed into fragments of up to SL_WIRE_PAYLOAD_MAX bytes,
 *   and a fragment is closed when the next token does not fit, when the
 *   stream's next input event is taken (so a stage that answers token for
 *   token answers fragment for fragment, as sluice-engine does) or at the
 *   next sl_stage_poll(), which sends it: nothing waits longer than the
 *   next poll. sl_stage_end() and
 *   sl_stage_abort() end it. The output repeats the input's identity
 *   (pipeline, stage, from_stage, tenant, depth, ancestry), numbers its
 *   own fragments from 0 and carries the send_ns of the last input
 *   fragment taken, so that latency is measured end to end. sl_rel keeps
 *   the copies: sluiced's NACKs are answered and the END is resent until
 *   ACKed;
 * - liveness: PROBEs are answered (rel.answer_probes), with PAUSE while
 *   sl_stage_set_pause() says so;
 * - bounds: streams_max input streams open at once (a new one past it is
 *   answered at once with ABORT (OVERLOAD) and none of its events are
 *   given); out_bytes_max bytes of output queued (sl_stage_send() then
 *   -ENOBUFS); a full socket keeps output queued for the next poll, never
 *   dropped. Every refusal and error is a counter.
 *
 * One thread; no callbacks. The handle of a stream (struct
 * sl_stage_stream, in every event) stays valid until both its input
 * ended (its END, ABORT or CHILDREN event was taken) and the application
 * ended its output; it is freed at the next sl_stage_next() or
 * sl_stage_poll() after that. Using it later is the caller's bug.
 *
 * A CHILDREN event is sluiced's announcement that the stream named by its
 * identity was cut into child_count child streams (one ancestry level
 * deeper; each comes as a stream of its own): a tokenless END|CHILDREN
 * fragment that opens a stream. It owes no output (sluice-engine answers
 * none): sl_stage_end() and sl_stage_abort() on it do nothing and return
 * 0, sl_stage_send() is -EPIPE. An END|CHILDREN that ends a stream with
 * fragments before it is an END event, with child_count set.
 */

struct sl_stage_config {
	struct sl_rel_config rel; /* loss repair, bounds of sl_rel */
	unsigned int streams_max; /* input streams open at once */
	size_t out_bytes_max;     /* output queued, headers included */
};

/* Counters, all monotonic (sl_stage_counters()). */
#define SL_STAGE_COUNTERS(_)                                                   \
	/* input */                                                            \
	_(streams_opened, "input streams opened (OPEN events queued)")         \
	_(streams_freed, "streams freed: input and output ended")              \
	_(events, "events taken with sl_stage_next()")                         \
	_(tokens_in, "tokens of the events queued")                            \
	_(children_events, "CHILDREN events taken (split announcements)")      \
	_(refused_overload, "new streams refused (streams_max): OVERLOAD")     \
	_(orphans_dropped, "fragments of no open stream past seq 0, dropped")  \
	_(after_end_dropped, "fragments of a stream whose input ended here")   \
	_(rx_invalid, "datagrams that are not valid fragments")                \
	_(rx_errors, "receive errors of the socket")                           \
	_(rx_deferred, "polls that did not receive: events left untaken")      \
	/* output */                                                           \
	_(tokens_out, "tokens taken by sl_stage_send()")                       \
	_(tokens_split, "texts over one fragment, sent as several tokens")     \
	_(frags_out, "output fragments the socket took")                       \
	_(ends_out, "outputs ended with END")                                  \
	_(aborts_out, "outputs ended with ABORT, shutdown aborts included")    \
	_(shutdown_aborts, "outputs aborted (SHUTDOWN) by sl_stage_close()")   \
	_(socket_full, "times output stayed queued: the socket was full")      \
	_(tx_errors, "fragments the socket refused with an error (repaired)")  \
	/* errors returned to the application */                               \
	_(send_enobufs, "sl_stage_send(): out_bytes_max reached (-ENOBUFS)")   \
	_(send_einval, "sl_stage_send(): text over 65535 bytes (-EINVAL)")     \
	_(send_eilseq, "sl_stage_send(): text not UTF-8 (-EILSEQ)")            \
	_(abort_einval, "sl_stage_abort(): reason out of range (-EINVAL)")     \
	_(output_ended, "send, end or abort on an ended output (-EPIPE)")      \
	_(nomem, "allocations that failed (stream, event or fragment)")

struct sl_stage_counters {
#define SL_STAGE_COUNTER_FIELD(name, text) uint64_t name;
	SL_STAGE_COUNTERS(SL_STAGE_COUNTER_FIELD)
#undef SL_STAGE_COUNTER_FIELD
	struct sl_rel_counters rel; /* the stage's sl_rel */
};

enum sl_stage_event_kind {
	SL_STAGE_OPEN = 0, /* a new input stream */
	SL_STAGE_TOKENS,   /* tokens of one fragment */
	SL_STAGE_END,      /* the input ended (with its last tokens) */
	SL_STAGE_ABORT,    /* the input was aborted: abort_reason */
	SL_STAGE_CHILDREN, /* a split announcement: child_count */
};

struct sl_stage_stream;

struct sl_stage_event {
	enum sl_stage_event_kind kind;
	struct sl_stage_stream *stream;
	/* TOKENS, END and ABORT: the fragment's tokens (none otherwise),
	 * readable until the next sl_stage_next() or sl_stage_poll(). */
	struct sl_token_iter tokens;
	uint8_t abort_reason; /* ABORT (or a CHILDREN with ABORT) */
	uint32_t child_count; /* CHILDREN; END of a fragment with CHILDREN */
};

struct sl_stage;

/**
 * sl_stage_config_default - fill @cfg with the defaults: sl_rel's
 * (sl_rel_config_default()) with answer_probes on, 4096 streams, 16 MiB
 * of queued output.
 */
void sl_stage_config_default(struct sl_stage_config *cfg);

/**
 * sl_stage_open - a stage instance listening on @addr (port 0: one the
 * kernel picks, then in sl_stage_addr()), bounded by @cfg (NULL: the
 * defaults).
 *
 * Return: the stage, or NULL with errno EINVAL (streams_max 0,
 * out_bytes_max under one header and one token head, or a bound sl_rel
 * refuses), ENOMEM, or the error of socket(2)/bind(2).
 */
struct sl_stage *sl_stage_open(const struct sockaddr_in *addr,
			       const struct sl_stage_config *cfg);

/**
 * sl_stage_close - stop the stage: every output not ended yet ends with
 * ABORT (SHUTDOWN), then what was sent is given up to 700 ms to be ACKed
 * (resent meanwhile as sl_rel does; returns at once when all is ACKed;
 * input meanwhile is not served). Then every stream, event and socket is
 * freed: no handle may be used after. NULL is accepted.
 */
void sl_stage_close(struct sl_stage *st);

/**
 * sl_stage_fd - the descriptor to wait on (POLLIN) in a loop of one's
 * own; sl_stage_poll(st, 0) then does the work without waiting.
 * sl_stage_addr - the bound address (its port resolved).
 */
int sl_stage_fd(const struct sl_stage *st);
const struct sockaddr_in *sl_stage_addr(const struct sl_stage *st);

/**
 * sl_stage_poll - do the stage's I/O: receive what is waiting (up to 256
 * datagrams a call; nothing while 4096 events are left untaken), run the
 * repair and liveness timers, send every output fragment being filled
 * and what is queued. When that received nothing and no event waits,
 * wait for the socket up to @wait_ns (less when a timer is due sooner),
 * then do it once more.
 *
 * The event taken last, and the handles of streams done with, are
 * released here (as by sl_stage_next()).
 * Return: the events waiting for sl_stage_next(), or -errno when the
 * socket failed to receive (counted in rx_errors; the stage stays usable).
 */
int sl_stage_poll(struct sl_stage *st, uint64_t wait_ns);

/**
 * sl_stage_next - take the next input event into @ev.
 *
 * Events come in the order their fragments were delivered: per stream in
 * sequence, each once. @ev->tokens points into the stage's copy of the
 * fragment, valid until the next sl_stage_next() or sl_stage_poll().
 * Return: false when no event waits.
 */
bool sl_stage_next(struct sl_stage *st, struct sl_stage_event *ev);

/**
 * sl_stage_stream_hdr - the identity of stream @s as its first fragment
 * named it: pipeline, stage, from_stage, tenant, depth, ancestry (flags,
 * counts and seq 0), and send_ns of the input fragment taken last.
 */
const struct sl_frag_hdr *sl_stage_stream_hdr(const struct sl_stage_stream *s);

/**
 * sl_stage_send - append one token (@id, @len bytes of UTF-8 at @text) to
 * @s's output. A text longer than a fragment holds (1378 bytes) goes as
 * several tokens cut between characters, the first with @id, the rest
 * with id 0 (WIRE.md's neutral id for a piece of a token).
 *
 * Return: 0; -EPIPE when the output was ended; -EINVAL for a text over
 * 65535 bytes; -EILSEQ when it is not UTF-8; -ENOBUFS when the output
 * queued would pass out_bytes_max (a poll sends it: try again after);
 * -ENOMEM. Each is counted; nothing was appended then.
 */
int sl_stage_send(struct sl_stage *st, struct sl_stage_stream *s, uint32_t id,
		  const char *text, size_t len);

/**
 * sl_stage_end - end @s's output with END (on the tokens not sent yet,
 * or a tokenless fragment), sent at the next poll.
 * sl_stage_abort - the same with ABORT and @reason (SL_ABORT_*).
 *
 * Return: 0; -EPIPE when the output was already ended; -EINVAL for a
 * reason >= SL_ABORT_MAX; -ENOMEM (counted; try again). 0 and nothing
 * sent for a CHILDREN announcement, which owes no output.
 */
int sl_stage_end(struct sl_stage *st, struct sl_stage_stream *s);
int sl_stage_abort(struct sl_stage *st, struct sl_stage_stream *s,
		   uint8_t reason);

/**
 * sl_stage_set_pause - ask sluiced for no new streams (PAUSE on every
 * PROBE answer) or lift it; the instances that probed are told at once.
 */
void sl_stage_set_pause(struct sl_stage *st, bool pause);

/**
 * sl_stage_counters - copy the stage's counters, and its sl_rel's into
 * @c->rel.
 */
void sl_stage_counters(const struct sl_stage *st, struct sl_stage_counters *c);

#endif /* SLUICE_H */
