/* SPDX-License-Identifier: MIT */
/*
 * sl_gpu_share.c - the files a token ring's engines map (sl_gpu_share.h):
 * sluiced's side makes them and describes each stream; the engine's side
 * checks them, takes final streams and acks them.
 *
 * Two files, so that what an engine may write is only what sluiced reads
 * with care: PATH (header, descriptors, token buffers) is written by
 * sluiced alone, and engines open it read-only; PATH.acks holds the acks,
 * written by engines, which sluiced never maps: it reads them with
 * pread(2) into a private copy (a shortened or garbled file only keeps
 * slots busy or frees them).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sl_gpu_ops.h"
#include "sl_gpu_share.h"
#include "sl_wire.h"

_Static_assert(SL_GPU_DESC_HDR_LEN == SL_WIRE_HDR_LEN, "desc holds a header");
_Static_assert(sizeof(struct sl_gpu_desc) == 128, "two lines per desc");
_Static_assert(sizeof(struct sl_gpu_share_hdr) <= 4096, "one page");

#define SHARE_PAGE 4096ull

static uint64_t
page_up(uint64_t n)
{
	return (n + SHARE_PAGE - 1) & ~(SHARE_PAGE - 1);
}

struct sl_gpu_share {
	struct sl_gpu_ring *ring;
	uint32_t n_slots; /* a private copy, not the file's word */
	uint8_t *base;
	size_t len;
	struct sl_gpu_share_hdr *hdr;
	struct sl_gpu_desc *desc;
	struct sl_gpu_stream *streams; /* the tokens region's, in the file */
	int acks_fd;                   /* PATH.acks, read with pread */
	uint32_t *acks;                /* the last read, private */
	char *path;
	char *acks_path;
	dev_t dev; /* of the files made: removed only if still them */
	ino_t ino, acks_ino;
};

/* Where each part lies for @cfg; 0 when it does not fit a size_t. */
static uint64_t
share_layout(const struct sl_gpu_ring_cfg *cfg, struct sl_gpu_share_hdr *h)
{
	size_t tokens = sl_gpu_ring_tokens_len(cfg);

	if (tokens == 0)
		return 0;
	h->desc_off = SHARE_PAGE;
	/* The acks live in their own file (PATH.acks) of acks_len bytes. */
	h->acks_off = 0;
	h->acks_len = page_up((uint64_t)cfg->streams * sizeof(uint32_t));
	h->tokens_off =
		page_up(h->desc_off +
			(uint64_t)cfg->streams * sizeof(struct sl_gpu_desc));
	h->tokens_len = tokens;
	h->file_len = page_up(h->tokens_off + tokens);
	return h->file_len;
}

/* "DIR/.NAME.tmp" for "DIR/NAME": where a file is made (not `ring-*`,
 * so no engine attaches it before it is whole). */
static char *
tmp_path(const char *path)
{
	const char *slash = strrchr(path, '/');
	size_t dir = slash != NULL ? (size_t)(slash - path) + 1 : 0;
	size_t len = strlen(path) + 6;
	char *tmp = malloc(len);

	if (tmp != NULL)
		snprintf(tmp, len, "%.*s.%s.tmp", (int)dir, path, path + dir);
	return tmp;
}

/*
 * A new file of @len bytes at @tmp, mode @mode, owned by @uid/@gid
 * (unless -1), every block allocated (a full tmpfs fails here, not with
 * SIGBUS at a first touch later). Return its descriptor or -1 (errno).
 */
static int
file_make(const char *tmp, unsigned int mode, int uid, int gid, uint64_t len)
{
	int fd, rc;

	(void)unlink(tmp);
	fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
		  mode & 0777);
	if (fd < 0)
		return -1;
	if (fchmod(fd, mode & 0777) != 0 ||
	    ((uid >= 0 || gid >= 0) &&
	     fchown(fd, (uid_t)uid, (gid_t)gid) != 0) ||
	    ftruncate(fd, (off_t)len) != 0)
		goto fail;
	rc = posix_fallocate(fd, 0, (off_t)len);
	if (rc != 0) {
		errno = rc;
		goto fail;
	}
	return fd;
fail:
	rc = errno;
	close(fd);
	(void)unlink(tmp);
	errno = rc;
	return -1;
}

/* Engines may write the acks where they may read the rest. */
static unsigned int
acks_mode(unsigned int mode)
{
	return (mode & 0666) | 0600 | ((mode & 0040) ? 0020 : 0) |
	       ((mode & 0004) ? 0002 : 0);
}

struct sl_gpu_share *
sl_gpu_share_create(struct sl_gpu_ctx *ctx, const struct sl_gpu_ring_cfg *cfg,
		    const struct sl_gpu_share_cfg *sc)
{
	struct sl_gpu_share_hdr h = {0};
	struct sl_gpu_region tokens = {0};
	struct sl_gpu_share *s;
	char *tmp = NULL, *acks_tmp = NULL;
	struct stat sb;
	int fd = -1, err;

	if (sl_gpu_ctx_backend(ctx) != SL_GPU_BACKEND_HOST) {
		errno = ENOTSUP;
		return NULL;
	}
	if (share_layout(cfg, &h) == 0 || h.file_len > SIZE_MAX) {
		errno = EINVAL;
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return NULL;
	s->acks_fd = -1;
	s->n_slots = cfg->streams;
	s->path = strdup(sc->path);
	s->acks = calloc(cfg->streams, sizeof(uint32_t));
	if (s->path != NULL && asprintf(&s->acks_path, "%s.acks", sc->path) < 0)
		s->acks_path = NULL;
	tmp = tmp_path(sc->path);
	acks_tmp = s->acks_path != NULL ? tmp_path(s->acks_path) : NULL;
	if (s->path == NULL || s->acks == NULL || s->acks_path == NULL ||
	    tmp == NULL || acks_tmp == NULL) {
		errno = ENOMEM;
		goto fail;
	}
	/* Both made whole under other names, then renamed into place, the
	 * acks first: an engine scanning the directory never finds a ring
	 * half made, and a file of an earlier run is replaced at once (its
	 * engine sees another inode and run id). */
	s->acks_fd = file_make(acks_tmp, acks_mode(sc->mode), sc->uid, sc->gid,
			       h.acks_len);
	if (s->acks_fd < 0)
		goto fail;
	fd = file_make(tmp, sc->mode, sc->uid, sc->gid, h.file_len);
	if (fd < 0)
		goto fail;
	s->len = (size_t)h.file_len;
	s->base = mmap(NULL, s->len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (s->base == MAP_FAILED) {
		s->base = NULL;
		goto fail;
	}
	if (fstat(fd, &sb) != 0)
		goto fail;
	s->dev = sb.st_dev;
	s->ino = sb.st_ino;
	if (fstat(s->acks_fd, &sb) != 0)
		goto fail;
	s->acks_ino = sb.st_ino;
	close(fd);
	fd = -1;
	s->hdr = (struct sl_gpu_share_hdr *)s->base;
	memcpy(h.magic, SL_GPU_SHARE_MAGIC, sizeof(h.magic));
	h.version = SL_GPU_SHARE_VERSION;
	h.backend = SL_GPU_BACKEND_HOST;
	h.streams = cfg->streams;
	h.stream_tokens = cfg->stream_tokens;
	h.stream_text = cfg->stream_text;
	h.worker = sc->worker;
	h.run_id = sc->run_id;
	h.sluiced_ip = sc->sluiced_ip;
	h.sluiced_port = sc->sluiced_port;
	s->desc = (struct sl_gpu_desc *)(s->base + h.desc_off);
	s->streams = (struct sl_gpu_stream *)(s->base + h.tokens_off);
	tokens.where = SL_GPU_MEM_TOKENS;
	tokens.host = s->base + h.tokens_off;
	tokens.dev = (uint64_t)(uintptr_t)tokens.host;
	tokens.len = (size_t)h.tokens_len;
	s->ring = sl_gpu_ring_create_in(ctx, cfg, &tokens);
	if (s->ring == NULL)
		goto fail;
	/* The header last, its magic after the rest: an engine that finds
	 * the magic finds the rest (sl_gpu_attach_open). */
	memcpy((uint8_t *)s->hdr + sizeof(h.magic),
	       (const uint8_t *)&h + sizeof(h.magic),
	       sizeof(h) - sizeof(h.magic));
	atomic_thread_fence(memory_order_release);
	memcpy(s->hdr->magic, h.magic, sizeof(h.magic));
	if (rename(acks_tmp, s->acks_path) != 0 || rename(tmp, sc->path) != 0)
		goto fail;
	free(tmp);
	free(acks_tmp);
	return s;
fail:
	err = errno;
	if (fd >= 0)
		close(fd);
	sl_gpu_ring_destroy(s->ring);
	if (s->base != NULL)
		munmap(s->base, s->len);
	if (s->acks_fd >= 0)
		close(s->acks_fd);
	if (tmp != NULL)
		(void)unlink(tmp);
	if (acks_tmp != NULL)
		(void)unlink(acks_tmp);
	if (s->acks_path != NULL && s->acks_ino != 0)
		(void)unlink(s->acks_path);
	free(tmp);
	free(acks_tmp);
	free(s->acks);
	free(s->acks_path);
	free(s->path);
	free(s);
	errno = err;
	return NULL;
}

/* Remove @path if it is still the file this share made. */
static void
unlink_own(const char *path, dev_t dev, ino_t ino)
{
	struct stat sb;

	if (lstat(path, &sb) == 0 && sb.st_dev == dev && sb.st_ino == ino)
		(void)unlink(path);
}

void
sl_gpu_share_destroy(struct sl_gpu_share *s)
{
	if (s == NULL)
		return;
	sl_gpu_ring_destroy(s->ring);
	munmap(s->base, s->len);
	close(s->acks_fd);
	/* Another sluiced may have made its files here since. */
	unlink_own(s->path, s->dev, s->ino);
	unlink_own(s->acks_path, s->dev, s->acks_ino);
	free(s->acks);
	free(s->acks_path);
	free(s->path);
	free(s);
}

struct sl_gpu_ring *
sl_gpu_share_ring(struct sl_gpu_share *s)
{
	return s->ring;
}

int
sl_gpu_share_describe(struct sl_gpu_share *s, uint32_t slot, uint32_t epoch,
		      uint32_t inst_ip, uint16_t inst_port, const uint8_t *hdr)
{
	struct sl_gpu_stream *st;
	struct sl_gpu_desc *d;
	uint32_t state;

	if (slot >= s->n_slots)
		return -EINVAL;
	d = &s->desc[slot];
	st = &s->streams[slot];
	/* The slot's last stream is final and taken (the caller waited for
	 * its ack), so the consumer writes nothing of it until the seq 0
	 * published after this. Mark it EMPTY first: the consumer's reopen
	 * bumps the epoch before it stores OPEN, and an engine that still
	 * saw the old final state with the new epoch would take a stream
	 * being reset; EMPTY stands between them (sl_gpu_attach_take). */
	state = sl_gpu_load_acquire(&st->state);
	if (state == SL_GPU_STREAM_COMPLETE || state == SL_GPU_STREAM_ABORTED)
		sl_gpu_store_release(&st->state, SL_GPU_STREAM_EMPTY);
	d->inst_ip = inst_ip;
	d->inst_port = inst_port;
	memcpy(d->hdr, hdr, SL_GPU_DESC_HDR_LEN);
	/* Release: the batch that opens the slot is published after this,
	 * and whoever sees the stream's state sees the desc. */
	sl_gpu_store_release(&d->epoch, epoch);
	return 0;
}

int
sl_gpu_share_acks_read(struct sl_gpu_share *s)
{
	size_t want = (size_t)s->n_slots * sizeof(uint32_t);
	ssize_t n = pread(s->acks_fd, s->acks, want, 0);

	if (n < 0)
		return -errno;
	/* A file cut short by someone: what is missing is no ack. */
	if ((size_t)n < want)
		memset((uint8_t *)s->acks + n, 0, want - (size_t)n);
	return 0;
}

int
sl_gpu_share_acked(const struct sl_gpu_share *s, uint32_t slot, uint32_t epoch)
{
	if (slot >= s->n_slots)
		return 0;
	return s->acks[slot] == epoch;
}

/* ------------------------------------------------------------------ */
/* Engine side                                                         */
/* ------------------------------------------------------------------ */

struct sl_gpu_attach {
	uint8_t *base;
	size_t len;
	void *acks_base; /* PATH.acks, mapped writable */
	size_t acks_len;
	struct sl_gpu_share_hdr hdr; /* a checked copy */
	const struct sl_gpu_desc *desc;
	SL_GPU_ATOMIC(uint32_t) * acks;
	struct sl_gpu_stream *streams;
	const uint32_t *ids;
	const uint32_t *text_off;
	const uint8_t *text;
	uint32_t next; /* where the next scan starts */
};

static void
why_set(char *why, size_t len, const char *path, const char *what, int err)
{
	if (why == NULL || len == 0)
		return;
	if (err != 0)
		snprintf(why, len, "%s: %s: %s", path, what, strerror(err));
	else
		snprintf(why, len, "%s: %s", path, what);
}

/* Every part of @h inside @len bytes, the sizes within the ring's
 * bounds, and the layout the one sluiced would make. */
static int
attach_check(const struct sl_gpu_share_hdr *h, uint64_t len)
{
	struct sl_gpu_ring_cfg cfg = {
		.batches = 2,
		.batch_bytes = 64,
		.streams = h->streams,
		.stream_tokens = h->stream_tokens,
		.stream_text = h->stream_text,
	};
	struct sl_gpu_share_hdr want = {0};

	if (share_layout(&cfg, &want) == 0)
		return -1;
	return want.desc_off == h->desc_off && want.acks_off == h->acks_off &&
			       want.acks_len == h->acks_len &&
			       want.tokens_off == h->tokens_off &&
			       want.tokens_len == h->tokens_len &&
			       want.file_len == h->file_len &&
			       h->file_len <= len
		       ? 0
		       : -1;
}

/* PATH.acks of the ring file @path, mapped writable: 0 or -errno. */
static int
attach_acks(struct sl_gpu_attach *a, const char *path, char *why,
	    size_t why_len)
{
	char acks[PATH_MAX];
	struct stat sb;
	int fd, err;

	if ((size_t)snprintf(acks, sizeof(acks), "%s.acks", path) >=
	    sizeof(acks)) {
		why_set(why, why_len, path, "path too long", 0);
		return -ENAMETOOLONG;
	}
	fd = open(acks, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		err = errno;
		why_set(why, why_len, acks, "cannot open", err);
		return -err;
	}
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) ||
	    (uint64_t)sb.st_size < a->hdr.acks_len) {
		close(fd);
		why_set(why, why_len, acks,
			"not the ring's acks (not a regular file this long)",
			0);
		return -EINVAL;
	}
	a->acks_len = (size_t)a->hdr.acks_len;
	a->acks_base = mmap(NULL, a->acks_len, PROT_READ | PROT_WRITE,
			    MAP_SHARED, fd, 0);
	err = errno;
	close(fd);
	if (a->acks_base == MAP_FAILED) {
		a->acks_base = NULL;
		why_set(why, why_len, acks, "cannot map", err);
		return -err;
	}
	return 0;
}

struct sl_gpu_attach *
sl_gpu_attach_open(const char *path, char *why, size_t why_len)
{
	struct sl_gpu_tokens_layout l;
	struct sl_gpu_ring_cfg cfg = {0};
	struct sl_gpu_attach *a;
	struct stat sb;
	int fd, err;

	/* Read-only: only sluiced writes the ring file. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		err = errno;
		why_set(why, why_len, path, "cannot open", err);
		errno = err;
		return NULL;
	}
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) ||
	    (uint64_t)sb.st_size < SHARE_PAGE) {
		close(fd);
		why_set(why, why_len, path,
			"not a ring file (not a regular file of a page at "
			"least)",
			0);
		errno = EINVAL;
		return NULL;
	}
	/* A file others may write is no sluiced's: not served. */
	if (sb.st_mode & 0022) {
		close(fd);
		why_set(why, why_len, path,
			"writable by group or others: not a file sluiced made",
			0);
		errno = EPERM;
		return NULL;
	}
	a = calloc(1, sizeof(*a));
	if (a == NULL) {
		close(fd);
		return NULL;
	}
	a->len = (size_t)sb.st_size;
	a->base = mmap(NULL, a->len, PROT_READ, MAP_SHARED, fd, 0);
	err = errno;
	close(fd);
	if (a->base == MAP_FAILED) {
		free(a);
		why_set(why, why_len, path, "cannot map", err);
		errno = err;
		return NULL;
	}
	/* The magic is written last (sl_gpu_share_create): the rest of
	 * the header is read after it. */
	memcpy(a->hdr.magic, a->base, sizeof(a->hdr.magic));
	atomic_thread_fence(memory_order_acquire);
	memcpy(&a->hdr, a->base, sizeof(a->hdr));
	if (memcmp(a->hdr.magic, SL_GPU_SHARE_MAGIC, 8) != 0 ||
	    a->hdr.version != SL_GPU_SHARE_VERSION) {
		why_set(why, why_len, path,
			"not a sluice ring file (magic or version)", 0);
		goto bad;
	}
	if (a->hdr.backend != SL_GPU_BACKEND_HOST) {
		why_set(why, why_len, path,
			"backend not host (cuda: IPC not built)", 0);
		goto bad;
	}
	if (attach_check(&a->hdr, (uint64_t)sb.st_size) != 0) {
		why_set(why, why_len, path, "layout does not fit the file", 0);
		goto bad;
	}
	err = attach_acks(a, path, why, why_len);
	if (err != 0) {
		munmap(a->base, a->len);
		free(a);
		errno = -err;
		return NULL;
	}
	cfg.streams = a->hdr.streams;
	cfg.stream_tokens = a->hdr.stream_tokens;
	cfg.stream_text = a->hdr.stream_text;
	sl_gpu_tokens_layout(&cfg, &l);
	a->desc = (const struct sl_gpu_desc *)(a->base + a->hdr.desc_off);
	a->acks = (SL_GPU_ATOMIC(uint32_t) *)a->acks_base;
	a->streams = (struct sl_gpu_stream *)(a->base + a->hdr.tokens_off);
	a->ids = (const uint32_t *)(a->base + a->hdr.tokens_off + l.ids_off);
	a->text_off = (const uint32_t *)(a->base + a->hdr.tokens_off +
					 l.text_off_off);
	a->text = a->base + a->hdr.tokens_off + l.text_off;
	return a;
bad:
	munmap(a->base, a->len);
	free(a);
	errno = EINVAL;
	return NULL;
}

void
sl_gpu_attach_close(struct sl_gpu_attach *a)
{
	if (a == NULL)
		return;
	munmap(a->base, a->len);
	if (a->acks_base != NULL)
		munmap(a->acks_base, a->acks_len);
	free(a);
}

const struct sl_gpu_share_hdr *
sl_gpu_attach_hdr(const struct sl_gpu_attach *a)
{
	return &a->hdr;
}

/* Copy slot @slot's tokens; the stream is final, so they stay put. */
static int
attach_copy(const struct sl_gpu_attach *a, uint32_t slot,
	    struct sl_gpu_taken *out, uint32_t *ids, uint32_t *text_off,
	    uint32_t max_tokens, uint8_t *text, uint32_t max_text)
{
	const struct sl_gpu_stream *st = &a->streams[slot];
	uint64_t tok0 = (uint64_t)slot * a->hdr.stream_tokens;
	uint32_t n = st->tokens, len = st->text_len;

	/* Nothing in the file is trusted: the consumer's counts must fit
	 * the slot, and each offset its text. */
	if (n > a->hdr.stream_tokens || len > a->hdr.stream_text)
		return -EPROTO;
	if (n > max_tokens || len > max_text)
		return -EMSGSIZE;
	for (uint32_t i = 0; i < n; i++) {
		uint32_t off = a->text_off[tok0 + i];

		if (off > len || (i > 0 && off < text_off[i - 1]))
			return -EPROTO;
		ids[i] = a->ids[tok0 + i];
		text_off[i] = off;
	}
	memcpy(text, a->text + (uint64_t)slot * a->hdr.stream_text, len);
	out->tokens = n;
	out->text_len = len;
	return 0;
}

int
sl_gpu_attach_take(struct sl_gpu_attach *a, uint32_t inst_ip,
		   uint16_t inst_port, struct sl_gpu_taken *out, uint32_t *ids,
		   uint32_t *text_off, uint32_t max_tokens, uint8_t *text,
		   uint32_t max_text)
{
	uint32_t n = a->hdr.streams;

	for (uint32_t k = 0; k < n; k++) {
		uint32_t slot = (a->next + k) % n;
		struct sl_gpu_stream *st = &a->streams[slot];
		const struct sl_gpu_desc *d = &a->desc[slot];
		uint32_t state, epoch, epoch0;
		int rc;

		/*
		 * Which epoch the final state belongs to: the epoch before
		 * the state and again after it. A reopen stores EMPTY
		 * (sl_gpu_share_describe) before the consumer bumps the
		 * epoch, so an epoch seen new before the state means the
		 * state is not the old final one; the same epoch on both
		 * sides of a final state is that state's. The slot then
		 * stays as it is until this engine acks it.
		 */
		epoch0 = __atomic_load_n(&st->epoch, __ATOMIC_ACQUIRE);
		state = sl_gpu_load_acquire(&st->state);
		if (state != SL_GPU_STREAM_COMPLETE &&
		    state != SL_GPU_STREAM_ABORTED)
			continue;
		epoch = __atomic_load_n(&st->epoch, __ATOMIC_ACQUIRE);
		if (epoch != epoch0 ||
		    sl_gpu_load_acquire(&a->acks[slot]) == epoch)
			continue;
		if (d->inst_ip != inst_ip || d->inst_port != inst_port)
			continue;
		a->next = (slot + 1) % n;
		memset(out, 0, sizeof(*out));
		out->slot = slot;
		out->epoch = epoch;
		out->state = state;
		out->abort_reason = st->abort_reason;
		out->inst_ip = d->inst_ip;
		out->inst_port = d->inst_port;
		memcpy(out->hdr, d->hdr, sizeof(out->hdr));
		if (sl_gpu_load_acquire((SL_GPU_ATOMIC(uint32_t) *)&d->epoch) !=
		    epoch)
			return -EPROTO;
		rc = attach_copy(a, slot, out, ids, text_off, max_tokens, text,
				 max_text);
		return rc < 0 ? rc : 1;
	}
	return 0;
}

void
sl_gpu_attach_ack(struct sl_gpu_attach *a, uint32_t slot, uint32_t epoch)
{
	if (slot < a->hdr.streams)
		sl_gpu_store_release(&a->acks[slot], epoch);
}
