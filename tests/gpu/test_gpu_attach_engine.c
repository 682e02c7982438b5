/* SPDX-License-Identifier: MIT */
/*
 * test_gpu_attach_engine - sluice-engine --gpu-attach (tools/engine/
 * gpu_attach.h) against token rings this test produces into, the way
 * sluiced's gpu_tx node does (gpu/sl_gpu_share.h, host backend): the real
 * binary, --transform upper, listening on 127.0.0.1; a UDP socket here
 * stands in for sluiced (the rings' files name it as sluiced's address)
 * and ACKs every END and ABORT as sluiced would.
 *
 * Asserted exactly: every answer fragment's bytes (the transform of the
 * fragments the engine must rebuild: the slot's header, seq 0.., at most
 * SL_WIRE_PAYLOAD_MAX bytes of tokens each, END or the stream's ABORT on
 * the last), a stream for another instance neither answered nor acked,
 * every slot taken acked, a stream over the engine's buffers answered
 * ABORT (TOO_LONG), a ring file made after the start and one made again
 * (another run) attached, and the engine's counters at exit.
 *
 * The binary comes from $SL_ENGINE (set by meson); skipped (77) without.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <CUnit/Basic.h>

#include "gpu_test.h"
#include "sl_gpu_ring.h"
#include "sl_gpu_share.h"
#include "sluice.h"
#include "tt_peer.h"
#include "tt_proc.h"

#define SKIP 77
#define MS 1000000ull
#define WAIT_NS (15000 * MS)
#define LOOPBACK 0x7f000001u

#define STREAMS_MAX 16
#define FRAGS_MAX 8

static const char *g_engine_bin;
static struct sl_gpu_ctx *g_ctx;
static char g_dir[64];
static char g_stats[128];
static char g_err[128];
static struct sl_sock *g_sluiced; /* the test's stand-in for sluiced */
static uint16_t g_port;           /* the engine's */
static pid_t g_pid = -1;
static struct sl_gpu_share *g_ring0, *g_ring1;

/* One stream the engine must answer: its input fragments as the engine
 * must rebuild them, and the answers they must get. */
struct want {
	uint64_t anc0;
	unsigned int n;
	uint8_t ans[FRAGS_MAX][SL_WIRE_HDR_LEN + SL_WIRE_PAYLOAD_MAX];
	uint16_t ans_len[FRAGS_MAX];
	bool got[FRAGS_MAX];
};

static struct sl_gpu_share *
share_make(const char *name, uint32_t worker, uint64_t run_id)
{
	struct sl_gpu_ring_cfg c = {
		.batches = 8,
		.batch_bytes = 4096,
		.streams = 4,
		.stream_tokens = 1024,
		.stream_text = 300000,
	};
	char path[128];
	struct sl_gpu_share_cfg sc = {
		.path = path,
		.mode = 0600,
		.uid = -1,
		.gid = -1,
		.sluiced_ip = LOOPBACK,
		.sluiced_port = ntohs(g_sluiced->local.sin_port),
		.worker = worker,
		.run_id = run_id,
	};
	struct sl_gpu_share *s;

	snprintf(path, sizeof(path), "%s/%s", g_dir, name);
	s = sl_gpu_share_create(g_ctx, &c, &sc);
	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	CU_ASSERT_EQUAL_FATAL(sl_gpu_ring_start(sl_gpu_share_ring(s)), 0);
	return s;
}

/* One ring fragment of @n tokens (@texts[i], id 100 + i) to @slot; the
 * ring full is waited out (its consumer runs). */
static void
ring_tx(struct sl_gpu_share *s, uint32_t slot, uint32_t seq, uint8_t flags,
	uint8_t reason, const char *const *texts, unsigned int n, uint32_t id0)
{
	struct sl_gpu_ring *r = sl_gpu_share_ring(s);
	uint8_t dgram[SL_WIRE_HDR_LEN + SL_WIRE_PAYLOAD_MAX];
	struct sl_frag_hdr h = gpu_test_stream_hdr(0, 77, 5000);
	struct sl_wire_builder b;
	struct sl_gpu_frag_in f = {
		.stream = slot,
		.seq = seq,
		.flags = flags,
		.abort_reason = reason,
		.token_count = (uint16_t)n,
		.payload = dgram + SL_WIRE_HDR_LEN,
	};
	uint64_t deadline = gpu_test_now_ns() + WAIT_NS;
	int rc;

	CU_ASSERT_FATAL(sl_wire_builder_init(&b, dgram, sizeof(dgram), &h) ==
			0);
	for (unsigned int i = 0; i < n; i++)
		CU_ASSERT_FATAL(sl_wire_builder_add(&b, id0 + i, texts[i],
						    strlen(texts[i])) == 0);
	f.payload_len =
		(uint16_t)(sl_wire_builder_finish(&b) - SL_WIRE_HDR_LEN);
	while ((rc = sl_gpu_tx(r, &f)) == -ENOBUFS &&
	       gpu_test_now_ns() < deadline) {
		(void)sl_gpu_tx_flush(r);
		gpu_test_nap_us(50);
	}
	CU_ASSERT_EQUAL_FATAL(rc, 0);
}

static void
ring_describe(struct sl_gpu_share *s, uint32_t slot, uint32_t epoch,
	      uint64_t anc0, uint16_t port)
{
	uint8_t hdr[SL_WIRE_HDR_LEN];
	struct sl_frag_hdr h = gpu_test_stream_hdr(anc0, 77, 5000);

	sl_wire_encode_hdr(hdr, &h);
	CU_ASSERT_EQUAL_FATAL(
		sl_gpu_share_describe(s, slot, epoch, LOOPBACK, port, hdr), 0);
}

static void
ring_drain(struct sl_gpu_share *s)
{
	CU_ASSERT_EQUAL_FATAL(sl_gpu_ring_drain(sl_gpu_share_ring(s), WAIT_NS),
			      0);
}

/*
 * What the engine must answer to stream @anc0 of tokens @texts[0..n)
 * (ids 100 + i), ending with @flags / @reason: the input cut greedily
 * into fragments of at most SL_WIRE_PAYLOAD_MAX bytes, each answered
 * by the upper transform under the same header.
 */
static void
want_stream(struct want *w, uint64_t anc0, const char *const *texts,
	    unsigned int n, uint8_t flags, uint8_t reason)
{
	unsigned int i = 0;

	memset(w, 0, sizeof(*w));
	w->anc0 = anc0;
	do {
		uint8_t in[SL_WIRE_HDR_LEN + SL_WIRE_PAYLOAD_MAX];
		struct sl_frag_hdr h = gpu_test_stream_hdr(anc0, 77, 5000);
		struct sl_wire_builder b;
		struct sl_dgram d = {.buf = in, .cap = sizeof(in)};
		struct sl_frag_view v;
		int len;

		CU_ASSERT_FATAL(w->n < FRAGS_MAX);
		h.seq = w->n;
		sl_wire_builder_init(&b, in, sizeof(in), &h);
		for (; i < n; i++)
			if (sl_wire_builder_add(&b, 100 + i, texts[i],
						strlen(texts[i])) != 0)
				break;
		if (i == n) {
			b.hdr.flags = flags;
			b.hdr.abort_reason = reason;
		}
		d.len = (uint16_t)sl_wire_builder_finish(&b);
		CU_ASSERT_EQUAL_FATAL(sl_frag_view_parse(&v, &d), SL_WIRE_OK);
		len = sl_transform_frag(SL_TRANSFORM_UPPER, &v, &v.hdr,
					w->ans[w->n], sizeof(w->ans[w->n]));
		CU_ASSERT_FATAL(len > 0);
		w->ans_len[w->n++] = (uint16_t)len;
	} while (i < n);
}

/*
 * Receive the engine's answers until every fragment of @w[0..n) came,
 * ACKing each END and ABORT; each must be exactly as wanted. An END or
 * ABORT again (a resend before our ACK reached the engine) is ignored.
 * Return the data fragments that matched no wanted stream.
 */
static unsigned int
recv_answers(struct want *w, unsigned int n)
{
	static struct sl_burst rx;
	uint64_t deadline = gpu_test_now_ns() + WAIT_NS;
	struct tt_ctl_log ctl = {0};
	unsigned int stray = 0, missing;

	sl_burst_reset(&rx);
	do {
		struct pollfd p = {.fd = g_sluiced->fd, .events = POLLIN};
		int k = sl_sock_recv_burst(g_sluiced, rx.d, SL_BURST_MAX);

		CU_ASSERT_FATAL(k >= 0);
		for (int j = 0; j < k; j++) {
			struct sl_frag_view v;
			struct want *s = NULL;

			CU_ASSERT_EQUAL_FATAL(sl_frag_view_parse(&v, &rx.d[j]),
					      SL_WIRE_OK);
			CU_ASSERT_EQUAL(ntohs(v.src.sin_port), g_port);
			if (tt_ctl_take(&ctl, &v))
				continue;
			if (v.hdr.flags & (SL_FRAG_F_END | SL_FRAG_F_ABORT))
				tt_ack(g_sluiced, &v);
			for (unsigned int q = 0; q < n && s == NULL; q++)
				if (w[q].anc0 == v.hdr.ancestry[0])
					s = &w[q];
			if (s == NULL || v.hdr.seq >= s->n) {
				stray++;
				continue;
			}
			if (s->got[v.hdr.seq] &&
			    (v.hdr.flags & (SL_FRAG_F_END | SL_FRAG_F_ABORT)))
				continue;
			CU_ASSERT_FALSE(s->got[v.hdr.seq]);
			s->got[v.hdr.seq] = true;
			CU_ASSERT_EQUAL(rx.d[j].len, s->ans_len[v.hdr.seq]);
			CU_ASSERT(rx.d[j].len == s->ans_len[v.hdr.seq] &&
				  memcmp(rx.d[j].buf, s->ans[v.hdr.seq],
					 rx.d[j].len) == 0);
		}
		missing = 0;
		for (unsigned int q = 0; q < n; q++)
			for (unsigned int f = 0; f < w[q].n; f++)
				missing += !w[q].got[f];
		if (missing != 0 && k == 0)
			sl_poll_ns(&p, 1, 10 * MS);
	} while (missing != 0 && gpu_test_now_ns() < deadline);
	CU_ASSERT_EQUAL(missing, 0);
	/* The engine asked for nothing: its input was not over UDP. */
	CU_ASSERT_EQUAL(ctl.n, 0);
	return stray;
}

/* Slot @slot's stream of @epoch acked, waiting for the engine's ack. */
static bool
wait_acked(struct sl_gpu_share *s, uint32_t slot, uint32_t epoch)
{
	uint64_t deadline = gpu_test_now_ns() + WAIT_NS;

	while (!gpu_test_acked(s, slot, epoch) && gpu_test_now_ns() < deadline)
		gpu_test_nap_us(200);
	return gpu_test_acked(s, slot, epoch);
}

/* @name in the ring directory: @len zero bytes. */
static void
junk_file(const char *name, size_t len)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", g_dir, name);
	f = fopen(path, "wb");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	for (size_t i = 0; i < len; i++)
		fputc(0, f);
	fclose(f);
}

/* Texts of stream B: 600 tokens of 5 bytes, "a0000".."a0599". */
static char g_btext[600][8];
static const char *g_b[600];

static void
test_answers(void)
{
	static const char *const a[] = {"Hello", ", ", "w\xc3\xb6rld"};
	static const char *const c[] = {"cut"};
	static const char *const d[] = {"not ours"};
	static struct want w[3];
	char listen[64];
	char *argv[] = {(char *)g_engine_bin,
			"--listen",
			listen,
			"--transform",
			"upper",
			"--gpu-attach",
			g_dir,
			"--stats-file",
			g_stats,
			"--name",
			"gpu-attach-test",
			NULL};

	for (unsigned int i = 0; i < 600; i++) {
		snprintf(g_btext[i], sizeof(g_btext[i]), "a%04u", i);
		g_b[i] = g_btext[i];
	}
	g_ring0 = share_make("ring-0", 0, 1);
	/* A: 3 tokens in 2 ring fragments, END. B: 600 tokens in 6 ring
	 * fragments, END: 5 fragments rebuilt (125 tokens of 11 bytes
	 * fill one). C: ABORT (CLIENT) after a token. D: for another
	 * instance (the engine's port + 1). */
	ring_describe(g_ring0, 0, 1, 1000, g_port);
	ring_describe(g_ring0, 1, 1, 1001, g_port);
	ring_describe(g_ring0, 2, 1, 1002, g_port);
	ring_describe(g_ring0, 3, 1, 1003, (uint16_t)(g_port + 1));
	ring_tx(g_ring0, 0, 0, 0, 0, a, 2, 100);
	ring_tx(g_ring0, 0, 1, SL_GPU_FRAG_END, 0, a + 2, 1, 102);
	for (unsigned int k = 0; k < 6; k++)
		ring_tx(g_ring0, 1, k, k == 5 ? SL_GPU_FRAG_END : 0, 0,
			g_b + 100 * k, 100, 100 + 100 * k);
	ring_tx(g_ring0, 2, 0, SL_GPU_FRAG_ABORT, SL_ABORT_CLIENT, c, 1, 100);
	ring_tx(g_ring0, 3, 0, SL_GPU_FRAG_END, 0, d, 1, 100);
	ring_drain(g_ring0);
	want_stream(&w[0], 1000, a, 3, SL_FRAG_F_END, 0);
	want_stream(&w[1], 1001, g_b, 600, SL_FRAG_F_END, 0);
	want_stream(&w[2], 1002, c, 1, SL_FRAG_F_ABORT, SL_ABORT_CLIENT);
	CU_ASSERT_EQUAL(w[0].n, 1);
	CU_ASSERT_EQUAL(w[1].n, 5);
	CU_ASSERT_EQUAL(w[2].n, 1);

	/* Beside the rings: a file named as one that is not (refused,
	 * counted once however often the directory is scanned) and a file
	 * named otherwise (not looked at). */
	junk_file("ring-junk", 4096);
	junk_file("notes", 100);
	snprintf(listen, sizeof(listen), "127.0.0.1:%u", g_port);
	g_pid = tt_spawn(argv, NULL, g_err);
	CU_ASSERT_FATAL(g_pid > 0);
	CU_ASSERT_EQUAL(recv_answers(w, 3), 0);
	CU_ASSERT_TRUE(wait_acked(g_ring0, 0, 1));
	CU_ASSERT_TRUE(wait_acked(g_ring0, 1, 1));
	CU_ASSERT_TRUE(wait_acked(g_ring0, 2, 1));
	/* Never the engine's to take. */
	CU_ASSERT_FALSE(gpu_test_acked(g_ring0, 3, 1));
}

static void
test_too_long(void)
{
	static char big[208][1301];
	static const char *t[208];
	static struct want w;
	struct sl_frag_hdr h = gpu_test_stream_hdr(1004, 77, 5000);
	uint8_t ans[SL_WIRE_HDR_LEN];
	struct sl_wire_builder b;

	/* 208 tokens of 1300 bytes: 270,400 bytes of text, over the
	 * engine's SL_ENGINE_GPU_TEXT_MAX (256 KiB), within the ring's. */
	for (unsigned int i = 0; i < 208; i++) {
		memset(big[i], 'a' + (int)(i % 26), 1300);
		big[i][1300] = '\0';
		t[i] = big[i];
	}
	ring_describe(g_ring0, 0, 2, 1004, g_port);
	for (unsigned int k = 0; k < 208; k++)
		ring_tx(g_ring0, 0, k, k == 207 ? SL_GPU_FRAG_END : 0, 0, t + k,
			1, 100 + k);
	ring_drain(g_ring0);
	/* The answer: a tokenless ABORT (TOO_LONG) at seq 0. */
	memset(&w, 0, sizeof(w));
	w.anc0 = 1004;
	w.n = 1;
	h.flags = SL_FRAG_F_ABORT;
	h.abort_reason = SL_ABORT_TOO_LONG;
	sl_wire_builder_init(&b, ans, sizeof(ans), &h);
	w.ans_len[0] = (uint16_t)sl_wire_builder_finish(&b);
	memcpy(w.ans[0], ans, w.ans_len[0]);
	CU_ASSERT_EQUAL(recv_answers(&w, 1), 0);
	CU_ASSERT_TRUE(wait_acked(g_ring0, 0, 2));
}

static void
test_new_and_replaced_file(void)
{
	static const char *const e1[] = {"first"};
	static const char *const e2[] = {"again"};
	static struct want w;

	/* A file made while the engine runs: found by its next scan. */
	g_ring1 = share_make("ring-1", 1, 7);
	ring_describe(g_ring1, 0, 1, 1005, g_port);
	ring_tx(g_ring1, 0, 0, SL_GPU_FRAG_END, 0, e1, 1, 100);
	ring_drain(g_ring1);
	want_stream(&w, 1005, e1, 1, SL_FRAG_F_END, 0);
	CU_ASSERT_EQUAL(recv_answers(&w, 1), 0);
	CU_ASSERT_TRUE(wait_acked(g_ring1, 0, 1));

	/* The same name made again (a new sluiced: another run, another
	 * file): its slot 0 starts over at epoch 1 and is taken. */
	sl_gpu_share_destroy(g_ring1);
	g_ring1 = share_make("ring-1", 1, 8);
	ring_describe(g_ring1, 0, 1, 1006, g_port);
	ring_tx(g_ring1, 0, 0, SL_GPU_FRAG_END, 0, e2, 1, 100);
	ring_drain(g_ring1);
	want_stream(&w, 1006, e2, 1, SL_FRAG_F_END, 0);
	CU_ASSERT_EQUAL(recv_answers(&w, 1), 0);
	CU_ASSERT_TRUE(wait_acked(g_ring1, 0, 1));
}

static void
test_counters(void)
{
	char *json;

	CU_ASSERT_EQUAL_FATAL(tt_stop(&g_pid), 0);
	json = tt_slurp(g_stats, NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(json);
	/* A, B, C, the too long one, and one a ring-1 file. */
	CU_ASSERT_EQUAL(tt_json_num(json, "gpu_streams_taken"), 6);
	CU_ASSERT_EQUAL(tt_json_num(json, "gpu_fragments_in"),
			1 + 5 + 1 + 1 + 1 + 1);
	CU_ASSERT_EQUAL(tt_json_num(json, "gpu_tokens_in"), 3 + 600 + 1 + 2);
	CU_ASSERT_EQUAL(tt_json_num(json, "gpu_aborted_in"), 2);
	CU_ASSERT_EQUAL(tt_json_num(json, "gpu_attach_errors"), 1);
	CU_ASSERT_EQUAL(tt_json_num(json, "gpu_rings"), 2);
	CU_ASSERT_EQUAL(tt_json_num(json, "fragments_in"), 10);
	CU_ASSERT_EQUAL(tt_json_num(json, "fragments_out"), 10);
	CU_ASSERT_EQUAL(tt_json_num(json, "streams"), 6);
	CU_ASSERT_EQUAL(tt_json_num(json, "streams_completed"), 4);
	CU_ASSERT_EQUAL(tt_json_num(json, "aborted_in"), 2);
	CU_ASSERT_EQUAL(tt_json_num(json, "invalid"), 0);
	/* Nothing came through loss repair; every answer's end was ACKed. */
	CU_ASSERT_EQUAL(tt_json_num(json, "delivered"), 0);
	CU_ASSERT_EQUAL(tt_json_num(json, "nacks_sent"), 0);
	CU_ASSERT_EQUAL(tt_json_num(json, "acks_sent"), 0);
	CU_ASSERT_EQUAL(tt_json_num(json, "acks_received"), 6);
	CU_ASSERT_EQUAL(tt_json_num(json, "shutdown_aborts"), 0);
	free(json);
}

int
main(void)
{
	struct sockaddr_in any = {.sin_family = AF_INET};
	unsigned int failures;
	CU_pSuite s;
	char path[128];

	g_engine_bin = getenv("SL_ENGINE");
	if (g_engine_bin == NULL) {
		fprintf(stderr, "SL_ENGINE not set: skipped\n");
		return SKIP;
	}
	snprintf(g_dir, sizeof(g_dir), "/tmp/sl-gpu-attach-XXXXXX");
	if (mkdtemp(g_dir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	/* The stats file outside the ring directory. */
	snprintf(g_stats, sizeof(g_stats), "%s.stats.json", g_dir);
	snprintf(g_err, sizeof(g_err), "%s.engine.err", g_dir);
	any.sin_addr.s_addr = htonl(LOOPBACK);
	g_sluiced = sl_sock_open(&any);
	g_port = tt_free_port();
	g_ctx = sl_gpu_open(SL_GPU_BACKEND_HOST);
	if (g_sluiced == NULL || g_port == 0 || g_ctx == NULL) {
		perror("setup");
		return 1;
	}
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	s = CU_add_suite("gpu_attach_engine", NULL, NULL);
	CU_add_test(s, "answers", test_answers);
	CU_add_test(s, "too long", test_too_long);
	CU_add_test(s, "new and replaced file", test_new_and_replaced_file);
	CU_add_test(s, "counters", test_counters);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	failures = CU_get_number_of_failures();
	CU_cleanup_registry();
	if (g_pid > 0) {
		kill(g_pid, SIGKILL);
		tt_wait(g_pid);
	}
	if (failures != 0) {
		char *err = tt_slurp(g_err, NULL);

		fprintf(stderr, "engine's stderr:\n%s\n", err ? err : "");
		free(err);
	}
	sl_gpu_share_destroy(g_ring0);
	sl_gpu_share_destroy(g_ring1);
	sl_gpu_close(g_ctx);
	sl_sock_close(g_sluiced);
	unlink(g_stats);
	unlink(g_err);
	snprintf(path, sizeof(path), "%s/ring-junk", g_dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/notes", g_dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s", g_dir);
	if (rmdir(path) != 0)
		fprintf(stderr, "rmdir %s: %s\n", path, strerror(errno));
	return failures == 0 ? 0 : 1;
}
