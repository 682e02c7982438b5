/* SPDX-License-Identifier: MIT */
/*
 * gpu_ring - token fragments through a GPU token ring (gpu/README.md)
 * into per-stream token buffers, against a plain copy per burst measured
 * in the same run (tools/bench/gpu.sh runs it).
 *
 *   gpu_ring [--backend host|cuda] [--rounds R] [--frags N] [--burst B]
 *            [--tokens T] [--samples L] [--short] [--commit C]
 *            [--json-file F]
 *
 * Per round:
 *   ring      N fragments of T tokens (4 text bytes each) to 256 streams
 *             in bursts of B (sl_gpu_tx per fragment, sl_gpu_tx_flush per
 *             burst, retried while the ring is full), drained; fragments
 *             per second, and every fragment checked delivered (lost 0).
 *   baseline  the same records built into a staging buffer per burst and
 *             copied as a whole into device memory (cuMemcpyHtoDAsync +
 *             stream sync on cuda; memcpy on host): the plain copy per
 *             burst, without any scatter.
 *   latency   L single bursts, each published alone and waited for:
 *             READY -> DONE round trip (publish to the producer seeing
 *             DONE), p50 and p99; the baseline's copy+sync time per burst
 *             likewise.
 * The summary is the median over rounds with min..max; the ratio is ring
 * over baseline fragments per second.
 */
#include <errno.h>
#include <getopt.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sl_gpu.h"
#include "sl_gpu_cuda.h"
#include "sl_gpu_ops.h"
#include "sl_gpu_ring.h"

#define STREAMS 256u
#define PER_STREAM 32u /* fragments per stream before END and reuse */
#define TEXT_LEN 4u
#define ROUNDS_MAX 32

struct opts {
	const char *backend, *commit, *json;
	unsigned int rounds, burst, tokens, samples;
	unsigned long frags;
};

struct round {
	double ring_fps, base_fps;
	double lat_p50, lat_p99, base_p50, base_p99; /* microseconds */
	unsigned long refusals;
};

struct bench {
	struct opts o;
	struct sl_gpu_ctx *ctx;
	struct sl_gpu_ring *r;
	struct sl_gpu_region stage, dst; /* the baseline's */
	uint8_t payload[256];
	uint16_t payload_len;
	uint32_t seq[STREAMS];
	uint64_t sent;
	uint64_t *lat;
};

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static double
pct_us(uint64_t *v, unsigned int n, double p)
{
	unsigned int i = (unsigned int)(p * (n - 1) + 0.5);

	return v[i] / 1000.0;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* The fragment number @i of the run, as a record for the ring. */
static void
frag_of(struct bench *b, uint64_t i, struct sl_gpu_frag_in *f)
{
	uint32_t s = (uint32_t)(i % STREAMS);

	memset(f, 0, sizeof(*f));
	f->stream = s;
	f->seq = b->seq[s];
	f->flags = f->seq == PER_STREAM - 1 ? SL_GPU_FRAG_END : 0;
	f->token_count = (uint16_t)b->o.tokens;
	f->payload = b->payload;
	f->payload_len = b->payload_len;
}

static void
frag_sent(struct bench *b, const struct sl_gpu_frag_in *f)
{
	b->seq[f->stream] = (f->seq + 1) % PER_STREAM;
	b->sent++;
}

static int
tx_burst(struct bench *b, unsigned int n, unsigned long *refusals)
{
	for (unsigned int k = 0; k < n; k++) {
		struct sl_gpu_frag_in f;
		int rc;

		frag_of(b, b->sent, &f);
		while ((rc = sl_gpu_tx(b->r, &f)) == -ENOBUFS) {
			(*refusals)++;
			if (sl_gpu_tx_reclaim(b->r) == 0)
				sched_yield();
		}
		if (rc != 0)
			return rc;
		frag_sent(b, &f);
	}
	return sl_gpu_tx_flush(b->r) < 0 ? -EIO : 0;
}

static int
check_lost(struct bench *b)
{
	uint64_t got = sl_gpu_ring_cstat(b->r, SL_GPU_C_FRAGS);
	uint64_t drops = 0;

	for (int s = SL_GPU_C_DROP_BAD_STREAM; s <= SL_GPU_C_DROP_BATCH; s++)
		drops += sl_gpu_ring_cstat(b->r, s);
	if (got != b->sent || drops != 0) {
		fprintf(stderr,
			"gpu_ring: sent %llu, delivered %llu, dropped "
			"%llu\n",
			(unsigned long long)b->sent, (unsigned long long)got,
			(unsigned long long)drops);
		return -1;
	}
	return 0;
}

static int
round_ring(struct bench *b, struct round *out)
{
	unsigned long left = b->o.frags;
	uint64_t t0 = now_ns();

	out->refusals = 0;
	while (left > 0) {
		unsigned int n =
			left < b->o.burst ? (unsigned int)left : b->o.burst;

		if (tx_burst(b, n, &out->refusals) != 0)
			return -1;
		left -= n;
	}
	if (sl_gpu_ring_drain(b->r, 30000000000ull) != 0)
		return -1;
	out->ring_fps = b->o.frags / ((now_ns() - t0) / 1e9);
	if (check_lost(b) != 0)
		return -1;

	/* Latency: one burst in flight at a time. */
	for (unsigned int i = 0; i < b->o.samples; i++) {
		uint32_t idx =
			(uint32_t)(sl_gpu_ring_pstat(b->r, SL_GPU_P_BATCHES) &
				   (b->r->cfg.batches - 1));
		uint64_t t;
		int st;

		for (unsigned int k = 0; k < b->o.burst; k++) {
			struct sl_gpu_frag_in f;

			frag_of(b, b->sent, &f);
			if (sl_gpu_tx(b->r, &f) != 0)
				return -1;
			frag_sent(b, &f);
		}
		t = now_ns();
		if (sl_gpu_tx_flush(b->r) != 1)
			return -1;
		while ((st = sl_gpu_ring_batch_state(b->r, idx)) ==
		       SL_GPU_BATCH_READY)
			;
		b->lat[i] = now_ns() - t;
		if (st != SL_GPU_BATCH_DONE || sl_gpu_tx_reclaim(b->r) != 1)
			return -1;
	}
	if (check_lost(b) != 0)
		return -1;
	qsort(b->lat, b->o.samples, sizeof(*b->lat), cmp_u64);
	out->lat_p50 = pct_us(b->lat, b->o.samples, 0.50);
	out->lat_p99 = pct_us(b->lat, b->o.samples, 0.99);
	return 0;
}

/* The same records, built per burst into staging and copied whole. */
static unsigned int
stage_burst(struct bench *b, uint64_t first, unsigned int n)
{
	uint8_t *p = b->stage.host;
	unsigned int off = 0;

	for (unsigned int k = 0; k < n; k++) {
		struct sl_gpu_frag *rec = (struct sl_gpu_frag *)(p + off);
		struct sl_gpu_frag_in f;

		frag_of(b, first + k, &f);
		memset(rec, 0, sizeof(*rec));
		rec->stream = f.stream;
		rec->seq = f.seq;
		rec->flags = f.flags;
		rec->token_count = f.token_count;
		rec->payload_len = f.payload_len;
		rec->rec_len = SL_GPU_FRAG_REC_LEN(f.payload_len);
		memcpy(rec + 1, f.payload, f.payload_len);
		off += rec->rec_len;
	}
	return off;
}

static int
copy_burst(struct bench *b, unsigned int len)
{
	if (sl_gpu_ctx_backend(b->ctx) == SL_GPU_BACKEND_CUDA)
		return sl_gpu_cuda_copy_in(b->ctx, b->dst.dev, b->stage.host,
					   len);
	memcpy((void *)(uintptr_t)b->dst.dev, b->stage.host, len);
	/* Keep the copy: the destination is what a consumer would read. */
	__asm__ volatile("" : : "r"(b->dst.dev) : "memory");
	return 0;
}

static int
round_baseline(struct bench *b, struct round *out)
{
	unsigned long done = 0;
	uint64_t t0 = now_ns();

	while (done < b->o.frags) {
		unsigned int n = b->o.frags - done < b->o.burst
					 ? (unsigned int)(b->o.frags - done)
					 : b->o.burst;

		if (copy_burst(b, stage_burst(b, done, n)) != 0)
			return -1;
		done += n;
	}
	out->base_fps = b->o.frags / ((now_ns() - t0) / 1e9);
	for (unsigned int i = 0; i < b->o.samples; i++) {
		unsigned int len = stage_burst(b, i, b->o.burst);
		uint64_t t = now_ns();

		if (copy_burst(b, len) != 0)
			return -1;
		b->lat[i] = now_ns() - t;
	}
	qsort(b->lat, b->o.samples, sizeof(*b->lat), cmp_u64);
	out->base_p50 = pct_us(b->lat, b->o.samples, 0.50);
	out->base_p99 = pct_us(b->lat, b->o.samples, 0.99);
	return 0;
}

struct stat3 {
	double med, min, max;
};

static struct stat3
stat_of(const struct round *rs, unsigned int n, size_t field)
{
	double v[ROUNDS_MAX];
	struct stat3 s;

	for (unsigned int i = 0; i < n; i++)
		v[i] = *(const double *)((const char *)&rs[i] + field);
	qsort(v, n, sizeof(v[0]), cmp_double);
	s.min = v[0];
	s.max = v[n - 1];
	s.med = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
	return s;
}

static void
usage(void)
{
	fprintf(stderr, "usage: gpu_ring [--backend host|cuda] [--rounds R] "
			"[--frags N] [--burst B] [--tokens T] [--samples L] "
			"[--short] [--commit C] [--json-file F]\n");
	exit(2);
}

static void
parse(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
		{"backend", required_argument, NULL, 'b'},
		{"rounds", required_argument, NULL, 'r'},
		{"frags", required_argument, NULL, 'n'},
		{"burst", required_argument, NULL, 'B'},
		{"tokens", required_argument, NULL, 't'},
		{"samples", required_argument, NULL, 'l'},
		{"short", no_argument, NULL, 's'},
		{"commit", required_argument, NULL, 'c'},
		{"json-file", required_argument, NULL, 'j'},
		{NULL, 0, NULL, 0},
	};
	int ch;

	*o = (struct opts){.backend = "host",
			   .commit = "unknown",
			   .rounds = 5,
			   .frags = 2000000,
			   .burst = 32,
			   .tokens = 4,
			   .samples = 10000};
	while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (ch) {
		case 'b':
			o->backend = optarg;
			break;
		case 'r':
			o->rounds = (unsigned int)strtoul(optarg, NULL, 10);
			break;
		case 'n':
			o->frags = strtoul(optarg, NULL, 10);
			break;
		case 'B':
			o->burst = (unsigned int)strtoul(optarg, NULL, 10);
			break;
		case 't':
			o->tokens = (unsigned int)strtoul(optarg, NULL, 10);
			break;
		case 'l':
			o->samples = (unsigned int)strtoul(optarg, NULL, 10);
			break;
		case 's':
			o->rounds = 3;
			o->frags = 100000;
			o->samples = 1000;
			break;
		case 'c':
			o->commit = optarg;
			break;
		case 'j':
			o->json = optarg;
			break;
		default:
			usage();
		}
	}
	if (o->rounds < 1 || o->rounds > ROUNDS_MAX || o->frags < 1 ||
	    o->burst < 1 || o->burst > 256 || o->tokens < 1 || o->tokens > 16 ||
	    o->samples < 1)
		usage();
}

static void
print_json(FILE *f, const struct bench *b, const char *device,
	   const struct round *rs)
{
	const struct opts *o = &b->o;
	char date[32];
	time_t now = time(NULL);
	struct stat3 rf =
		stat_of(rs, o->rounds, offsetof(struct round, ring_fps));
	struct stat3 bf =
		stat_of(rs, o->rounds, offsetof(struct round, base_fps));
	struct stat3 l50 =
		stat_of(rs, o->rounds, offsetof(struct round, lat_p50));
	struct stat3 l99 =
		stat_of(rs, o->rounds, offsetof(struct round, lat_p99));
	struct stat3 b50 =
		stat_of(rs, o->rounds, offsetof(struct round, base_p50));
	struct stat3 b99 =
		stat_of(rs, o->rounds, offsetof(struct round, base_p99));

	strftime(date, sizeof(date), "%Y-%m-%d", gmtime(&now));
	fprintf(f,
		"{\"bench\":\"gpu\",\"date\":\"%s\",\"commit\":\"%s\","
		"\"backend\":\"%s\",\"device\":\"%s\",",
		date, o->commit, o->backend, device);
	fprintf(f,
		"\"setting\":{\"rounds\":%u,\"frags\":%lu,\"burst\":%u,"
		"\"tokens_per_frag\":%u,\"text_per_token\":%u,"
		"\"streams\":%u,\"frags_per_stream\":%u,"
		"\"latency_samples\":%u,\"batches\":%u,"
		"\"batch_bytes\":%u},",
		o->rounds, o->frags, o->burst, o->tokens, TEXT_LEN, STREAMS,
		PER_STREAM, o->samples, b->r->cfg.batches,
		b->r->cfg.batch_bytes);
	fprintf(f, "\"rounds\":[");
	for (unsigned int i = 0; i < o->rounds; i++)
		fprintf(f,
			"%s{\"ring_fps\":%.0f,\"baseline_fps\":%.0f,"
			"\"ratio\":%.3f,\"ready_done_p50_us\":%.2f,"
			"\"ready_done_p99_us\":%.2f,\"baseline_p50_us\":%.2f,"
			"\"baseline_p99_us\":%.2f,\"ring_full_refusals\":%lu}",
			i ? "," : "", rs[i].ring_fps, rs[i].base_fps,
			rs[i].ring_fps / rs[i].base_fps, rs[i].lat_p50,
			rs[i].lat_p99, rs[i].base_p50, rs[i].base_p99,
			rs[i].refusals);
	fprintf(f,
		"],\"summary\":{\"ring_fps\":{\"median\":%.0f,\"min\":%.0f,"
		"\"max\":%.0f},\"baseline_fps\":{\"median\":%.0f,\"min\":%.0f,"
		"\"max\":%.0f},\"ratio\":%.3f,"
		"\"ready_done_p50_us\":{\"median\":%.2f,\"min\":%.2f,"
		"\"max\":%.2f},\"ready_done_p99_us\":{\"median\":%.2f,"
		"\"min\":%.2f,\"max\":%.2f},\"baseline_p50_us\":%.2f,"
		"\"baseline_p99_us\":%.2f,\"frags_sent\":%llu,"
		"\"frags_lost\":0}}\n",
		rf.med, rf.min, rf.max, bf.med, bf.min, bf.max, rf.med / bf.med,
		l50.med, l50.min, l50.max, l99.med, l99.min, l99.max, b50.med,
		b99.med, (unsigned long long)b->sent);
}

int
main(int argc, char **argv)
{
	struct bench b = {0};
	struct round rs[ROUNDS_MAX];
	char device[160] = "host CPU";
	struct sl_gpu_ring_cfg cfg;
	uint32_t rec;
	FILE *jf;

	parse(argc, argv, &b.o);
	if (strcmp(b.o.backend, "cuda") == 0) {
		char why[256];

		b.ctx = sl_gpu_cuda_open(why, sizeof(why));
		if (b.ctx == NULL) {
			printf("SKIP: cuda backend: %s\n", why);
			return errno == ENOTSUP || errno == ENODEV ? 77 : 1;
		}
		sl_gpu_cuda_device_name(b.ctx, device, sizeof(device));
		printf("cuda backend: %s\n", why);
	} else if (strcmp(b.o.backend, "host") == 0) {
		b.ctx = sl_gpu_open(SL_GPU_BACKEND_HOST);
	} else {
		usage();
	}
	if (b.ctx == NULL) {
		perror("gpu_ring: sl_gpu_open");
		return 1;
	}
	for (unsigned int i = 0; i < b.o.tokens; i++) {
		uint8_t *p = b.payload + i * (SL_GPU_TOKEN_HDR_LEN + TEXT_LEN);
		uint32_t id = 1000 + i;

		p[0] = (uint8_t)(id >> 24);
		p[1] = (uint8_t)(id >> 16);
		p[2] = (uint8_t)(id >> 8);
		p[3] = (uint8_t)id;
		p[4] = 0;
		p[5] = TEXT_LEN;
		memcpy(p + 6, "tok ", TEXT_LEN);
	}
	b.payload_len =
		(uint16_t)(b.o.tokens * (SL_GPU_TOKEN_HDR_LEN + TEXT_LEN));
	rec = SL_GPU_FRAG_REC_LEN(b.payload_len);
	cfg = (struct sl_gpu_ring_cfg){
		.batches = 256,
		.batch_bytes = (b.o.burst * rec + 63u) & ~63u,
		.streams = STREAMS,
		.stream_tokens = PER_STREAM * b.o.tokens,
		.stream_text = PER_STREAM * b.o.tokens * TEXT_LEN,
	};
	b.r = sl_gpu_ring_create(b.ctx, &cfg);
	b.lat = calloc(b.o.samples, sizeof(*b.lat));
	if (b.r == NULL || b.lat == NULL ||
	    b.ctx->ops->alloc(b.ctx, SL_GPU_MEM_RING, cfg.batch_bytes,
			      &b.stage) != 0 ||
	    b.ctx->ops->alloc(b.ctx, SL_GPU_MEM_TOKENS, cfg.batch_bytes,
			      &b.dst) != 0 ||
	    sl_gpu_ring_start(b.r) != 0) {
		perror("gpu_ring: ring setup");
		return 1;
	}
	printf("gpu_ring: backend %s, device %s; %u rounds of %lu fragments "
	       "(%u tokens, %u B records) in bursts of %u, %u latency "
	       "samples\n",
	       b.o.backend, device, b.o.rounds, b.o.frags, b.o.tokens, rec,
	       b.o.burst, b.o.samples);
	for (unsigned int i = 0; i < b.o.rounds; i++) {
		if (round_ring(&b, &rs[i]) != 0 ||
		    round_baseline(&b, &rs[i]) != 0) {
			fprintf(stderr, "gpu_ring: round %u failed\n", i);
			return 1;
		}
		printf("round %u: ring %.3f Mfrag/s, copy-per-burst %.3f "
		       "Mfrag/s (x%.2f); READY->DONE p50 %.1f us p99 %.1f "
		       "us; copy p50 %.2f us p99 %.2f us; ring full %lu\n",
		       i, rs[i].ring_fps / 1e6, rs[i].base_fps / 1e6,
		       rs[i].ring_fps / rs[i].base_fps, rs[i].lat_p50,
		       rs[i].lat_p99, rs[i].base_p50, rs[i].base_p99,
		       rs[i].refusals);
	}
	print_json(stdout, &b, device, rs);
	if (b.o.json != NULL) {
		jf = fopen(b.o.json, "w");
		if (jf == NULL) {
			perror(b.o.json);
			return 1;
		}
		print_json(jf, &b, device, rs);
		fclose(jf);
	}
	sl_gpu_ring_destroy(b.r);
	b.ctx->ops->free(b.ctx, &b.stage);
	b.ctx->ops->free(b.ctx, &b.dst);
	sl_gpu_close(b.ctx);
	free(b.lat);
	return 0;
}
