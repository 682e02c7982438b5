/* SPDX-License-Identifier: MIT */
/*
 * test_gpu_share - the file a token ring's engine maps (gpu/sl_gpu_share.h)
 * on the host backend: sluiced's side makes it, describes slots and
 * produces through the ring; the engine's side attaches (the same process
 * mapping the file again, or a forked child), takes final streams and
 * acks them.
 *
 * Every test asserts exact outcomes: ids, text offsets, text and header
 * bytes of each stream taken, its state and abort reason, which slot and
 * epoch, what attach refuses and with which errno, the file's mode and
 * owner, and exact totals across processes.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <CUnit/Basic.h>

#include "gpu_test.h"
#include "sl_gpu_ring.h"
#include "sl_gpu_share.h"
#include "sl_wire.h"

#define MS 1000000ull
#define LONG_WAIT (10000 * MS)
#define INST_A_IP 0x7f000001u /* 127.0.0.1 */
#define INST_A_PORT 7801
#define INST_B_IP 0x7f000001u
#define INST_B_PORT 7802
#define SLUICED_IP 0x0a000001u /* 10.0.0.1 */
#define SLUICED_PORT 7700

static struct sl_gpu_ctx *g_ctx;
static char g_dir[64];

static struct sl_gpu_ring_cfg
small_cfg(void)
{
	struct sl_gpu_ring_cfg c = {
		.batches = 8,
		.batch_bytes = 1024,
		.streams = 4,
		.stream_tokens = 64,
		.stream_text = 512,
	};

	return c;
}

static void
path_of(char *out, size_t cap, const char *name)
{
	snprintf(out, cap, "%s/%s", g_dir, name);
}

static struct sl_gpu_share_cfg
share_cfg(const char *path)
{
	struct sl_gpu_share_cfg sc = {
		.path = path,
		.mode = 0600,
		.uid = -1,
		.gid = -1,
		.sluiced_ip = SLUICED_IP,
		.sluiced_port = SLUICED_PORT,
		.worker = 3,
		.run_id = 0x1234567890abcdefull,
	};

	return sc;
}

/* The wire header of stream @id as its instance would receive it. */
static void
desc_hdr(uint8_t *out, uint64_t id)
{
	struct sl_frag_hdr h = gpu_test_stream_hdr(id, 9, 1000);

	sl_wire_encode_hdr(out, &h);
}

/* Describe @slot for epoch @epoch of stream @id for an instance. */
static void
describe(struct sl_gpu_share *s, uint32_t slot, uint32_t epoch, uint64_t id,
	 uint32_t ip, uint16_t port)
{
	uint8_t hdr[SL_WIRE_HDR_LEN];

	desc_hdr(hdr, id);
	CU_ASSERT_EQUAL_FATAL(
		sl_gpu_share_describe(s, slot, epoch, ip, port, hdr), 0);
}

static struct sl_gpu_share *
share_new(const char *name, struct sl_gpu_share_cfg *sc_out)
{
	static char path[128];
	struct sl_gpu_ring_cfg c = small_cfg();
	struct sl_gpu_share_cfg sc;
	struct sl_gpu_share *s;

	path_of(path, sizeof(path), name);
	sc = share_cfg(path);
	s = sl_gpu_share_create(g_ctx, &c, &sc);
	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	if (sc_out != NULL)
		*sc_out = sc;
	return s;
}

/* @got (a stream taken) holds exactly @t[0..n) in @state. */
static void
check_taken(const struct sl_gpu_taken *got, const uint32_t *ids,
	    const uint32_t *offs, const uint8_t *text, uint32_t slot,
	    uint32_t epoch, uint64_t id, const struct tok *t, unsigned int n,
	    uint32_t state, uint32_t reason)
{
	uint8_t want_hdr[SL_WIRE_HDR_LEN];
	uint32_t off = 0;

	desc_hdr(want_hdr, id);
	CU_ASSERT_EQUAL(got->slot, slot);
	CU_ASSERT_EQUAL(got->epoch, epoch);
	CU_ASSERT_EQUAL(got->state, state);
	CU_ASSERT_EQUAL(got->abort_reason, reason);
	CU_ASSERT(memcmp(got->hdr, want_hdr, SL_WIRE_HDR_LEN) == 0);
	CU_ASSERT_EQUAL_FATAL(got->tokens, n);
	for (unsigned int i = 0; i < n; i++) {
		size_t len = strlen(t[i].text);

		CU_ASSERT_EQUAL(ids[i], t[i].id);
		CU_ASSERT_EQUAL(offs[i], off);
		CU_ASSERT(memcmp(text + off, t[i].text, len) == 0);
		off += (uint32_t)len;
	}
	CU_ASSERT_EQUAL(got->text_len, off);
}

static const struct tok s0a[] = {{11, "Hel"}, {12, "lo"}};
static const struct tok s0b[] = {{13, " wor"}, {14, "ld"}};
static const struct tok s0_all[] = {
	{11, "Hel"}, {12, "lo"}, {13, " wor"}, {14, "ld"}};
static const struct tok s1[] = {{21, "other"}};
static const struct tok s2[] = {{31, "cut"}, {32, " short"}};

static void
test_take_exact(void)
{
	struct sl_gpu_share_cfg sc;
	struct sl_gpu_share *s = share_new("ring-0", &sc);
	struct sl_gpu_ring *r = sl_gpu_share_ring(s);
	const struct sl_gpu_share_hdr *h;
	struct sl_gpu_attach *a;
	struct sl_gpu_taken got;
	uint32_t ids[64], offs[64];
	uint8_t text[512];
	char why[256] = "";

	describe(s, 0, 1, 100, INST_A_IP, INST_A_PORT);
	describe(s, 1, 1, 101, INST_B_IP, INST_B_PORT);
	describe(s, 2, 1, 102, INST_A_IP, INST_A_PORT);
	CU_ASSERT_EQUAL(
		sl_gpu_share_describe(s, 4, 1, INST_A_IP, INST_A_PORT, text),
		-EINVAL);
	CU_ASSERT_EQUAL(sl_gpu_ring_start(r), 0);
	CU_ASSERT_EQUAL(gpu_test_tx(r, 0, 0, 0, 0, s0a, 2), 0);
	CU_ASSERT_EQUAL(gpu_test_tx(r, 1, 0, SL_GPU_FRAG_END, 0, s1, 1), 0);
	CU_ASSERT_EQUAL(gpu_test_tx(r, 2, 0, 0, 0, s2, 1), 0);
	CU_ASSERT_EQUAL(gpu_test_tx(r, 2, 1, SL_GPU_FRAG_ABORT, SL_ABORT_GUARD,
				    s2 + 1, 1),
			0);
	CU_ASSERT_EQUAL(sl_gpu_ring_drain(r, LONG_WAIT), 0);

	a = sl_gpu_attach_open(sc.path, why, sizeof(why));
	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	h = sl_gpu_attach_hdr(a);
	CU_ASSERT_EQUAL(h->streams, 4);
	CU_ASSERT_EQUAL(h->stream_tokens, 64);
	CU_ASSERT_EQUAL(h->stream_text, 512);
	CU_ASSERT_EQUAL(h->worker, 3);
	CU_ASSERT_EQUAL(h->run_id, 0x1234567890abcdefull);
	CU_ASSERT_EQUAL(h->sluiced_ip, SLUICED_IP);
	CU_ASSERT_EQUAL(h->sluiced_port, SLUICED_PORT);
	CU_ASSERT_EQUAL(h->backend, SL_GPU_BACKEND_HOST);

	/* Slot 0 is still open: A's only final stream is slot 2. */
	CU_ASSERT_EQUAL(sl_gpu_attach_take(a, INST_A_IP, INST_A_PORT, &got, ids,
					   offs, 64, text, sizeof(text)),
			1);
	check_taken(&got, ids, offs, text, 2, 1, 102, s2, 2,
		    SL_GPU_STREAM_ABORTED, SL_ABORT_GUARD);
	CU_ASSERT_EQUAL(got.inst_ip, INST_A_IP);
	CU_ASSERT_EQUAL(got.inst_port, INST_A_PORT);
	/* Not acked: taken again (round robin comes back to it). */
	CU_ASSERT_EQUAL(sl_gpu_attach_take(a, INST_A_IP, INST_A_PORT, &got, ids,
					   offs, 64, text, sizeof(text)),
			1);
	CU_ASSERT_EQUAL(got.slot, 2);
	CU_ASSERT_FALSE(gpu_test_acked(s, 2, 1));
	sl_gpu_attach_ack(a, got.slot, got.epoch);
	CU_ASSERT_TRUE(gpu_test_acked(s, 2, 1));
	CU_ASSERT_FALSE(gpu_test_acked(s, 2, 2));
	CU_ASSERT_FALSE(gpu_test_acked(s, 4, 0));
	CU_ASSERT_EQUAL(sl_gpu_attach_take(a, INST_A_IP, INST_A_PORT, &got, ids,
					   offs, 64, text, sizeof(text)),
			0);

	/* Slot 0 ends now; B's stream is not A's. */
	CU_ASSERT_EQUAL(gpu_test_tx(r, 0, 1, SL_GPU_FRAG_END, 0, s0b, 2), 0);
	CU_ASSERT_EQUAL(sl_gpu_ring_drain(r, LONG_WAIT), 0);
	CU_ASSERT_EQUAL(sl_gpu_attach_take(a, INST_A_IP, INST_A_PORT, &got, ids,
					   offs, 64, text, sizeof(text)),
			1);
	check_taken(&got, ids, offs, text, 0, 1, 100, s0_all, 4,
		    SL_GPU_STREAM_COMPLETE, 0);
	sl_gpu_attach_ack(a, got.slot, got.epoch);
	CU_ASSERT_TRUE(gpu_test_acked(s, 0, 1));
	CU_ASSERT_EQUAL(sl_gpu_attach_take(a, INST_A_IP, INST_A_PORT, &got, ids,
					   offs, 64, text, sizeof(text)),
			0);
	/* An instance nobody produces for. */
	CU_ASSERT_EQUAL(sl_gpu_attach_take(a, INST_A_IP, 9999, &got, ids, offs,
					   64, text, sizeof(text)),
			0);
	CU_ASSERT_FALSE(gpu_test_acked(s, 1, 1));
	CU_ASSERT_EQUAL(sl_gpu_attach_take(a, INST_B_IP, INST_B_PORT, &got, ids,
					   offs, 64, text, sizeof(text)),
			1);
	check_taken(&got, ids, offs, text, 1, 1, 101, s1, 1,
		    SL_GPU_STREAM_COMPLETE, 0);
	sl_gpu_attach_ack(a, got.slot, got.epoch);
	CU_ASSERT_TRUE(gpu_test_acked(s, 1, 1));
	CU_ASSERT_EQUAL(sl_gpu_attach_take(a, INST_B_IP, INST_B_PORT, &got, ids,
					   offs, 64, text, sizeof(text)),
			0);
	sl_gpu_attach_close(a);
	sl_gpu_share_destroy(s);
	CU_ASSERT_EQUAL(access(sc.path, F_OK), -1);
}

static void
test_reopen(void)
{
	static const struct tok again[] = {{41, "second"}, {42, " time"}};
	struct sl_gpu_share_cfg sc;
	struct sl_gpu_share *s = share_new("ring-1", &sc);
	struct sl_gpu_ring *r = sl_gpu_share_ring(s);
	struct sl_gpu_attach *a;
	struct sl_gpu_taken got;
	struct sl_gpu_stream meta;
	uint32_t ids[64], offs[64];
	uint8_t text[512];

	describe(s, 3, 1, 200, INST_A_IP, INST_A_PORT);
	CU_ASSERT_EQUAL(sl_gpu_ring_start(r), 0);
	CU_ASSERT_EQUAL(gpu_test_tx(r, 3, 0, SL_GPU_FRAG_END, 0, s1, 1), 0);
	CU_ASSERT_EQUAL(sl_gpu_ring_drain(r, LONG_WAIT), 0);
	a = sl_gpu_attach_open(sc.path, NULL, 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	CU_ASSERT_EQUAL(sl_gpu_attach_take(a, INST_A_IP, INST_A_PORT, &got, ids,
					   offs, 64, text, sizeof(text)),
			1);
	check_taken(&got, ids, offs, text, 3, 1, 200, s1, 1,
		    SL_GPU_STREAM_COMPLETE, 0);
	sl_gpu_attach_ack(a, 3, 1);
	CU_ASSERT_TRUE(gpu_test_acked(s, 3, 1));

	/* The slot's next stream: described (EMPTY until its seq 0), then
	 * produced from seq 0 again; the consumer's epoch is 2. */
	describe(s, 3, 2, 201, INST_A_IP, INST_A_PORT);
	CU_ASSERT_EQUAL(
		sl_gpu_ring_stream_read(r, 3, &meta, NULL, NULL, 0, NULL, 0),
		0);
	CU_ASSERT_EQUAL(meta.state, SL_GPU_STREAM_EMPTY);
	CU_ASSERT_EQUAL(meta.epoch, 1);
	CU_ASSERT_EQUAL(sl_gpu_attach_take(a, INST_A_IP, INST_A_PORT, &got, ids,
					   offs, 64, text, sizeof(text)),
			0);
	CU_ASSERT_EQUAL(gpu_test_tx(r, 3, 0, 0, 0, again, 1), 0);
	CU_ASSERT_EQUAL(sl_gpu_ring_drain(r, LONG_WAIT), 0);
	CU_ASSERT_EQUAL(sl_gpu_attach_take(a, INST_A_IP, INST_A_PORT, &got, ids,
					   offs, 64, text, sizeof(text)),
			0);
	CU_ASSERT_EQUAL(gpu_test_tx(r, 3, 1, SL_GPU_FRAG_END, 0, again + 1, 1),
			0);
	CU_ASSERT_EQUAL(sl_gpu_ring_drain(r, LONG_WAIT), 0);
	CU_ASSERT_FALSE(gpu_test_acked(s, 3, 2));
	CU_ASSERT_EQUAL(sl_gpu_attach_take(a, INST_A_IP, INST_A_PORT, &got, ids,
					   offs, 64, text, sizeof(text)),
			1);
	check_taken(&got, ids, offs, text, 3, 2, 201, again, 2,
		    SL_GPU_STREAM_COMPLETE, 0);
	sl_gpu_attach_ack(a, got.slot, got.epoch);
	CU_ASSERT_TRUE(gpu_test_acked(s, 3, 2));
	CU_ASSERT_FALSE(gpu_test_acked(s, 3, 1));
	CU_ASSERT_EQUAL(sl_gpu_attach_take(a, INST_A_IP, INST_A_PORT, &got, ids,
					   offs, 64, text, sizeof(text)),
			0);
	sl_gpu_attach_close(a);
	sl_gpu_share_destroy(s);
}

static void
test_small_buffers(void)
{
	struct sl_gpu_share_cfg sc;
	struct sl_gpu_share *s = share_new("ring-2", &sc);
	struct sl_gpu_ring *r = sl_gpu_share_ring(s);
	struct sl_gpu_attach *a;
	struct sl_gpu_taken got;
	uint32_t ids[64], offs[64];
	uint8_t text[512];

	describe(s, 1, 1, 300, INST_A_IP, INST_A_PORT);
	CU_ASSERT_EQUAL(sl_gpu_ring_start(r), 0);
	CU_ASSERT_EQUAL(gpu_test_tx(r, 1, 0, SL_GPU_FRAG_END, 0, s0_all, 4), 0);
	CU_ASSERT_EQUAL(sl_gpu_ring_drain(r, LONG_WAIT), 0);
	a = sl_gpu_attach_open(sc.path, NULL, 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	/* 4 tokens, 11 text bytes. */
	CU_ASSERT_EQUAL(sl_gpu_attach_take(a, INST_A_IP, INST_A_PORT, &got, ids,
					   offs, 3, text, sizeof(text)),
			-EMSGSIZE);
	CU_ASSERT_EQUAL(got.slot, 1);
	CU_ASSERT_EQUAL(got.epoch, 1);
	CU_ASSERT_EQUAL(got.state, SL_GPU_STREAM_COMPLETE);
	CU_ASSERT_EQUAL(sl_gpu_attach_take(a, INST_A_IP, INST_A_PORT, &got, ids,
					   offs, 64, text, 10),
			-EMSGSIZE);
	CU_ASSERT_EQUAL(sl_gpu_attach_take(a, INST_A_IP, INST_A_PORT, &got, ids,
					   offs, 4, text, 11),
			1);
	check_taken(&got, ids, offs, text, 1, 1, 300, s0_all, 4,
		    SL_GPU_STREAM_COMPLETE, 0);
	sl_gpu_attach_ack(a, 1, 1);
	CU_ASSERT_EQUAL(sl_gpu_attach_take(a, INST_A_IP, INST_A_PORT, &got, ids,
					   offs, 64, text, sizeof(text)),
			0);
	sl_gpu_attach_close(a);
	sl_gpu_share_destroy(s);
}

/* A copy of @src at @dst, with @len bytes of it (0: all), then @patch
 * applied at @off (when @plen != 0). */
static void
copy_file(const char *src, const char *dst, size_t len, size_t off,
	  const void *patch, size_t plen)
{
	size_t cap = 1u << 20, n;
	uint8_t *buf = malloc(cap);
	FILE *f;

	CU_ASSERT_PTR_NOT_NULL_FATAL(buf);
	f = fopen(src, "rb");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	n = fread(buf, 1, cap, f);
	fclose(f);
	CU_ASSERT_FATAL(n > 0 && n < cap);
	if (len != 0 && len < n)
		n = len;
	if (plen != 0)
		memcpy(buf + off, patch, plen);
	f = fopen(dst, "wb");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	CU_ASSERT_EQUAL(fwrite(buf, 1, n, f), n);
	fclose(f);
	free(buf);
}

static void
expect_refused(const char *path, int err, const char *why_has)
{
	char why[512] = "";

	errno = 0;
	CU_ASSERT_PTR_NULL(sl_gpu_attach_open(path, why, sizeof(why)));
	CU_ASSERT_EQUAL(errno, err);
	CU_ASSERT_PTR_NOT_NULL(strstr(why, path));
	CU_ASSERT_PTR_NOT_NULL(strstr(why, why_has));
}

static void
test_attach_refuses(void)
{
	struct sl_gpu_share_cfg sc;
	struct sl_gpu_share *s = share_new("ring-3", &sc);
	struct sl_gpu_share_hdr h;
	char missing[128], bad[128], bad_acks[160], acks[160];
	struct sl_gpu_attach *a;
	uint64_t v;
	FILE *f;

	path_of(missing, sizeof(missing), "ring-none");
	expect_refused(missing, ENOENT, "cannot open");
	/* Shorter than a page. */
	path_of(bad, sizeof(bad), "short");
	copy_file(sc.path, bad, 100, 0, NULL, 0);
	expect_refused(bad, EINVAL, "not a ring file");
	/* A directory. */
	expect_refused(g_dir, EINVAL, "not a ring file");
	/* The magic, then the version. */
	copy_file(sc.path, bad, 0, 0, "SLGPUSH2", 8);
	expect_refused(bad, EINVAL, "magic or version");
	v = SL_GPU_SHARE_VERSION + 1;
	copy_file(sc.path, bad, 0, offsetof(struct sl_gpu_share_hdr, version),
		  &v, 4);
	expect_refused(bad, EINVAL, "magic or version");
	/* Offsets that are not the layout's, or beyond the file. */
	f = fopen(sc.path, "rb");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	CU_ASSERT_EQUAL_FATAL(fread(&h, sizeof(h), 1, f), 1);
	fclose(f);
	v = h.tokens_off + 4096;
	copy_file(sc.path, bad, 0,
		  offsetof(struct sl_gpu_share_hdr, tokens_off), &v, 8);
	expect_refused(bad, EINVAL, "layout does not fit");
	v = h.acks_off - 4096;
	copy_file(sc.path, bad, 0, offsetof(struct sl_gpu_share_hdr, acks_off),
		  &v, 8);
	expect_refused(bad, EINVAL, "layout does not fit");
	v = 1u << 20; /* more streams than the file holds */
	copy_file(sc.path, bad, 0, offsetof(struct sl_gpu_share_hdr, streams),
		  &v, 4);
	expect_refused(bad, EINVAL, "layout does not fit");
	v = 0;
	copy_file(sc.path, bad, 0, offsetof(struct sl_gpu_share_hdr, streams),
		  &v, 4);
	expect_refused(bad, EINVAL, "layout does not fit");
	/* The file cut short of its header's length. */
	copy_file(sc.path, bad, (size_t)h.file_len - 4096, 0, NULL, 0);
	expect_refused(bad, EINVAL, "layout does not fit");
	/* A backend other than host. */
	v = SL_GPU_BACKEND_CUDA;
	copy_file(sc.path, bad, 0, offsetof(struct sl_gpu_share_hdr, backend),
		  &v, 4);
	expect_refused(bad, EINVAL, "backend not host");
	/* The good file, copied whole, needs its acks file too, of the
	 * header's length at least. */
	copy_file(sc.path, bad, 0, 0, NULL, 0);
	expect_refused(bad, ENOENT, ".acks: cannot open");
	snprintf(bad_acks, sizeof(bad_acks), "%s.acks", bad);
	copy_file("/proc/self/cmdline", bad_acks, 0, 0, NULL, 0);
	expect_refused(bad, EINVAL, "not the ring's acks");
	snprintf(acks, sizeof(acks), "%s.acks", sc.path);
	copy_file(acks, bad_acks, 0, 0, NULL, 0);
	a = sl_gpu_attach_open(bad, NULL, 0);
	CU_ASSERT_PTR_NOT_NULL(a);
	sl_gpu_attach_close(a);
	/* A ring file someone besides its owner may write is not served. */
	CU_ASSERT_EQUAL(chmod(bad, 0664), 0);
	expect_refused(bad, EPERM, "writable by group or others");
	unlink(bad);
	unlink(bad_acks);
	sl_gpu_share_destroy(s);
}

static void
test_file_mode_owner(void)
{
	struct sl_gpu_ring_cfg c = small_cfg();
	struct sl_gpu_share_cfg sc;
	struct sl_gpu_share *s;
	char path[128], acks[160];
	struct stat sb;
	int uid = geteuid() == 0 ? 1234 : (int)geteuid();
	int gid = geteuid() == 0 ? 2345 : (int)getegid();

	path_of(path, sizeof(path), "ring-mode");
	sc = share_cfg(path);
	sc.mode = 0640;
	sc.uid = uid;
	sc.gid = gid;
	/* A file left by an earlier run is replaced. */
	copy_file("/proc/self/cmdline", path, 0, 0, NULL, 0);
	s = sl_gpu_share_create(g_ctx, &c, &sc);
	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	CU_ASSERT_EQUAL_FATAL(stat(path, &sb), 0);
	CU_ASSERT_TRUE(S_ISREG(sb.st_mode));
	CU_ASSERT_EQUAL(sb.st_mode & 07777, 0640);
	CU_ASSERT_EQUAL(sb.st_uid, (uid_t)uid);
	CU_ASSERT_EQUAL(sb.st_gid, (gid_t)gid);
	CU_ASSERT_EQUAL(sb.st_size % 4096, 0);
	CU_ASSERT_TRUE((size_t)sb.st_size >= 4096 + sl_gpu_ring_tokens_len(&c));
	/* The acks: writable where the ring file is readable. */
	snprintf(acks, sizeof(acks), "%s.acks", path);
	CU_ASSERT_EQUAL_FATAL(stat(acks, &sb), 0);
	CU_ASSERT_EQUAL(sb.st_mode & 07777, 0660);
	CU_ASSERT_EQUAL(sb.st_uid, (uid_t)uid);
	CU_ASSERT_EQUAL(sb.st_gid, (gid_t)gid);
	CU_ASSERT_EQUAL(sb.st_size, 4096);
	sl_gpu_share_destroy(s);
	CU_ASSERT_EQUAL(access(path, F_OK), -1);
	CU_ASSERT_EQUAL(access(acks, F_OK), -1);

	/* Mode as given whatever the umask; owner left as is. */
	sc.mode = 0666;
	sc.uid = -1;
	sc.gid = -1;
	s = sl_gpu_share_create(g_ctx, &c, &sc);
	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	CU_ASSERT_EQUAL_FATAL(stat(path, &sb), 0);
	CU_ASSERT_EQUAL(sb.st_mode & 07777, 0666);
	CU_ASSERT_EQUAL(sb.st_uid, geteuid());
	CU_ASSERT_EQUAL(sb.st_gid, getegid());
	sl_gpu_share_destroy(s);

	/* Refusals: a ring out of bounds, a file that cannot be made. */
	c.batches = 3;
	errno = 0;
	CU_ASSERT_PTR_NULL(sl_gpu_share_create(g_ctx, &c, &sc));
	CU_ASSERT_EQUAL(errno, EINVAL);
	c = small_cfg();
	snprintf(path, sizeof(path), "%s/no-such-dir/ring-0", g_dir);
	sc.path = path;
	errno = 0;
	CU_ASSERT_PTR_NULL(sl_gpu_share_create(g_ctx, &c, &sc));
	CU_ASSERT_EQUAL(errno, ENOENT);
}

/*
 * Two processes: the parent produces FORK_STREAMS streams through 4 slots
 * (each slot reused once its engine acked it), the child attaches,
 * takes, checks and acks them. Stream i: ancestry i, i % 5 + 1 fragments
 * of two tokens each (ids 1000 i + k, text "s<i>t<k>"), every 7th ends
 * with ABORT (OVERLOAD), the rest END.
 */
#define FORK_STREAMS 300u

static unsigned int
fork_tokens(uint32_t i, struct tok *t, char (*text)[16])
{
	unsigned int n = (i % 5 + 1) * 2;

	for (unsigned int k = 0; k < n; k++) {
		snprintf(text[k], sizeof(text[k]), "s%ut%u", i, k);
		t[k].id = 1000 * i + k;
		t[k].text = text[k];
	}
	return n;
}

struct fork_totals {
	uint32_t streams, aborted, bad;
	uint64_t tokens, text_bytes;
};

/* The child: take every stream, check it exactly, ack it; 0 once it
 * took FORK_STREAMS (totals in @tot). */
static int
fork_engine(const char *path, struct fork_totals *out)
{
	struct fork_totals tot = {0};
	uint32_t ids[64], offs[64], seen_epoch[4] = {0};
	uint64_t deadline = gpu_test_now_ns() + 4 * LONG_WAIT;
	uint8_t text[512];
	struct sl_gpu_attach *a;

	a = sl_gpu_attach_open(path, NULL, 0);
	if (a == NULL)
		return 10;
	while (tot.streams < FORK_STREAMS && gpu_test_now_ns() < deadline) {
		struct sl_gpu_taken got;
		struct tok want[16];
		char wtext[16][16];
		uint8_t want_hdr[SL_WIRE_HDR_LEN];
		unsigned int n;
		uint64_t id;
		uint32_t off = 0;
		int rc = sl_gpu_attach_take(a, INST_A_IP, INST_A_PORT, &got,
					    ids, offs, 64, text, sizeof(text));

		if (rc == 0) {
			gpu_test_nap_us(20);
			continue;
		}
		if (rc != 1) {
			sl_gpu_attach_close(a);
			return 11;
		}
		/* The stream's number is its ancestry[0]. */
		id = be64toh(*(
			const uint64_t *)(const void *)(got.hdr +
							SL_WIRE_OFF_ANCESTRY));
		n = fork_tokens((uint32_t)id, want, wtext);
		desc_hdr(want_hdr, id);
		if (id >= FORK_STREAMS || got.slot != id % 4 ||
		    got.epoch != id / 4 + 1 ||
		    got.epoch != seen_epoch[got.slot] + 1 ||
		    memcmp(got.hdr, want_hdr, sizeof(want_hdr)) != 0 ||
		    got.tokens != n)
			tot.bad++;
		for (unsigned int k = 0; k < n && k < got.tokens; k++) {
			size_t len = strlen(want[k].text);

			if (ids[k] != want[k].id || offs[k] != off ||
			    memcmp(text + off, want[k].text, len) != 0)
				tot.bad++;
			off += (uint32_t)len;
		}
		if (got.text_len != off)
			tot.bad++;
		if (id % 7 == 0)
			tot.bad += got.state != SL_GPU_STREAM_ABORTED ||
				   got.abort_reason != SL_ABORT_OVERLOAD;
		else
			tot.bad += got.state != SL_GPU_STREAM_COMPLETE ||
				   got.abort_reason != 0;
		tot.aborted += got.state == SL_GPU_STREAM_ABORTED;
		tot.streams++;
		tot.tokens += got.tokens;
		tot.text_bytes += got.text_len;
		seen_epoch[got.slot] = got.epoch;
		sl_gpu_attach_ack(a, got.slot, got.epoch);
	}
	sl_gpu_attach_close(a);
	*out = tot;
	return tot.streams == FORK_STREAMS ? 0 : 12;
}

static void
test_fork(void)
{
	struct sl_gpu_share_cfg sc;
	struct sl_gpu_share *s = share_new("ring-fork", &sc);
	struct sl_gpu_ring *r = sl_gpu_share_ring(s);
	int fds[2], status = -1;
	uint64_t want_tokens = 0, want_text = 0;
	uint32_t want_aborted = 0;
	struct fork_totals got = {0};
	pid_t pid;

	CU_ASSERT_EQUAL_FATAL(pipe(fds), 0);
	/* Before the consumer thread starts: the child is one thread. */
	pid = fork();
	CU_ASSERT_FATAL(pid >= 0);
	if (pid == 0) {
		struct fork_totals tot = {0};
		int rc;

		close(fds[0]);
		rc = fork_engine(sc.path, &tot);
		if (write(fds[1], &tot, sizeof(tot)) != sizeof(tot))
			_exit(20);
		_exit(rc);
	}
	close(fds[1]);
	CU_ASSERT_EQUAL(sl_gpu_ring_start(r), 0);
	for (uint32_t i = 0; i < FORK_STREAMS; i++) {
		uint32_t slot = i % 4, epoch = i / 4 + 1;
		uint64_t deadline = gpu_test_now_ns() + LONG_WAIT;
		struct tok t[16];
		char text[16][16];
		unsigned int n = fork_tokens(i, t, text);

		/* A slot goes to its next stream once the engine took the
		 * last one. */
		while (epoch > 1 && !gpu_test_acked(s, slot, epoch - 1) &&
		       gpu_test_now_ns() < deadline) {
			(void)sl_gpu_tx_flush(r);
			gpu_test_nap_us(20);
		}
		CU_ASSERT_FATAL(epoch == 1 ||
				gpu_test_acked(s, slot, epoch - 1));
		describe(s, slot, epoch, i, INST_A_IP, INST_A_PORT);
		for (unsigned int k = 0; k < n; k += 2) {
			bool last = k + 2 == n;
			uint8_t flags = !last        ? 0
					: i % 7 == 0 ? SL_GPU_FRAG_ABORT
						     : SL_GPU_FRAG_END;
			int rc;

			do {
				rc = gpu_test_tx(r, slot, k / 2, flags,
						 flags == SL_GPU_FRAG_ABORT
							 ? SL_ABORT_OVERLOAD
							 : 0,
						 t + k, 2);
				if (rc == -ENOBUFS)
					gpu_test_nap_us(20);
			} while (rc == -ENOBUFS &&
				 gpu_test_now_ns() < deadline);
			CU_ASSERT_EQUAL_FATAL(rc, 0);
		}
		for (unsigned int k = 0; k < n; k++)
			want_text += strlen(t[k].text);
		want_tokens += n;
		want_aborted += i % 7 == 0;
		(void)sl_gpu_tx_flush(r);
	}
	CU_ASSERT_EQUAL(sl_gpu_ring_drain(r, LONG_WAIT), 0);
	CU_ASSERT_EQUAL(read(fds[0], &got, sizeof(got)), sizeof(got));
	close(fds[0]);
	CU_ASSERT_EQUAL(got.streams, FORK_STREAMS);
	CU_ASSERT_EQUAL(got.bad, 0);
	CU_ASSERT_EQUAL(got.aborted, want_aborted);
	CU_ASSERT_EQUAL(got.tokens, want_tokens);
	CU_ASSERT_EQUAL(got.text_bytes, want_text);
	CU_ASSERT_EQUAL(waitpid(pid, &status, 0), pid);
	CU_ASSERT_TRUE(WIFEXITED(status));
	CU_ASSERT_EQUAL(WEXITSTATUS(status), 0);
	/* The last stream of every slot acked, nothing more. */
	for (uint32_t slot = 0; slot < 4; slot++) {
		uint32_t last = (FORK_STREAMS - 1 - slot) / 4 + 1;

		CU_ASSERT_TRUE(gpu_test_acked(s, slot, last));
	}
	CU_ASSERT_EQUAL(sl_gpu_ring_cstat(r, SL_GPU_C_STREAMS_COMPLETE) +
				sl_gpu_ring_cstat(r, SL_GPU_C_STREAMS_ABORTED),
			FORK_STREAMS);
	CU_ASSERT_EQUAL(sl_gpu_ring_cstat(r, SL_GPU_C_STREAMS_ABORTED),
			want_aborted);
	CU_ASSERT_EQUAL(sl_gpu_ring_cstat(r, SL_GPU_C_TOKENS), want_tokens);
	CU_ASSERT_EQUAL(sl_gpu_ring_cstat(r, SL_GPU_C_TEXT_BYTES), want_text);
	sl_gpu_share_destroy(s);
}

int
main(void)
{
	CU_pSuite s;
	unsigned int failures;

	snprintf(g_dir, sizeof(g_dir), "/tmp/sl-gpu-share-XXXXXX");
	if (mkdtemp(g_dir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	g_ctx = sl_gpu_open(SL_GPU_BACKEND_HOST);
	if (g_ctx == NULL) {
		perror("sl_gpu_open");
		return 1;
	}
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	s = CU_add_suite("gpu_share_host", NULL, NULL);
	CU_add_test(s, "take exact", test_take_exact);
	CU_add_test(s, "reopen", test_reopen);
	CU_add_test(s, "small buffers", test_small_buffers);
	CU_add_test(s, "attach refuses", test_attach_refuses);
	CU_add_test(s, "file mode and owner", test_file_mode_owner);
	CU_add_test(s, "fork", test_fork);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	failures = CU_get_number_of_failures();
	CU_cleanup_registry();
	sl_gpu_close(g_ctx);
	if (rmdir(g_dir) != 0)
		fprintf(stderr, "rmdir %s: %s\n", g_dir, strerror(errno));
	return failures == 0 ? 0 : 1;
}
