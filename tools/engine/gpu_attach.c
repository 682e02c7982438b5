/* SPDX-License-Identifier: MIT */
/*
 * gpu_attach.c - the engine's input from sluiced's token rings
 * (gpu_attach.h): attach the ring files of a directory, take the final
 * streams for this instance, rebuild them as fragments for
 * engine_input(), ack them.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine.h"
#include "gpu_attach.h"
#include "sl_gpu_share.h"

/* One ring file, attached or last refused. */
struct gpu_ring_file {
	char name[NAME_MAX + 1];
	dev_t dev;
	ino_t ino;
	uint64_t run_id;
	struct sl_gpu_attach *a; /* NULL: refused (counted once a file) */
	bool seen;               /* found by the scan running now */
};

struct sl_engine_gpu {
	char *dir;
	uint32_t ip; /* host order */
	uint16_t port;
	bool dir_failed; /* the last scan could not read dir (counted) */
	uint64_t next_scan;
	unsigned int next_ring; /* where the next poll starts */
	unsigned int n;
	struct gpu_ring_file ring[SL_ENGINE_GPU_RINGS_MAX];
	uint32_t *ids;
	uint32_t *text_off;
	uint8_t *text;
	uint8_t buf[SL_WIRE_HDR_LEN + SL_WIRE_PAYLOAD_MAX];
};

struct sl_engine_gpu *
sl_engine_gpu_open(const char *dir, uint32_t ip, uint16_t port)
{
	struct sl_engine_gpu *g = calloc(1, sizeof(*g));

	if (g == NULL)
		return NULL;
	g->dir = strdup(dir);
	g->ids = calloc(SL_ENGINE_GPU_TOKENS_MAX, sizeof(*g->ids));
	g->text_off = calloc(SL_ENGINE_GPU_TOKENS_MAX, sizeof(*g->text_off));
	g->text = malloc(SL_ENGINE_GPU_TEXT_MAX);
	if (g->dir == NULL || g->ids == NULL || g->text_off == NULL ||
	    g->text == NULL) {
		sl_engine_gpu_close(g);
		errno = ENOMEM;
		return NULL;
	}
	g->ip = ip;
	g->port = port;
	return g;
}

void
sl_engine_gpu_close(struct sl_engine_gpu *g)
{
	if (g == NULL)
		return;
	for (unsigned int i = 0; i < g->n; i++)
		sl_gpu_attach_close(g->ring[i].a);
	free(g->dir);
	free(g->ids);
	free(g->text_off);
	free(g->text);
	free(g);
}

unsigned int
sl_engine_gpu_rings(const struct sl_engine_gpu *g)
{
	unsigned int n = 0;

	for (unsigned int i = 0; i < g->n; i++)
		n += g->ring[i].a != NULL;
	return n;
}

uint64_t
sl_engine_gpu_wait_ns(const struct sl_engine_gpu *g, uint64_t now)
{
	if (sl_engine_gpu_rings(g) > 0)
		return SL_ENGINE_GPU_POLL_NS;
	return g->next_scan > now ? g->next_scan - now : 0;
}

/* The run id in @path's header as it is now; 0 when unreadable. */
static uint64_t
ring_run_id(const char *path)
{
	struct sl_gpu_share_hdr h;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	ssize_t n;

	if (fd < 0)
		return 0;
	n = pread(fd, &h, sizeof(h), 0);
	close(fd);
	return n == (ssize_t)sizeof(h) ? h.run_id : 0;
}

/* (Re)attach @f, the file @path with @sb: a refusal is counted and said
 * once per file (a file being made is tried again at the next scan). */
static void
ring_attach(struct engine *e, struct gpu_ring_file *f, const char *path,
	    const struct stat *sb)
{
	bool again = f->a == NULL && f->dev == sb->st_dev &&
		     f->ino == sb->st_ino && f->name[0] != '\0';
	char why[PATH_MAX + 128];

	sl_gpu_attach_close(f->a);
	f->dev = sb->st_dev;
	f->ino = sb->st_ino;
	f->a = sl_gpu_attach_open(path, why, sizeof(why));
	/* Answers go there: no address, no answers (and a send to port 0
	 * would fail the engine's whole burst). */
	if (f->a != NULL && (sl_gpu_attach_hdr(f->a)->sluiced_ip == 0 ||
			     sl_gpu_attach_hdr(f->a)->sluiced_port == 0)) {
		sl_gpu_attach_close(f->a);
		f->a = NULL;
		snprintf(why, sizeof(why), "%s: no sluiced address in it",
			 path);
	}
	if (f->a == NULL) {
		f->run_id = 0;
		if (!again) {
			e->st.gpu_attach_errors++;
			if (!e->quiet)
				fprintf(stderr,
					"sluice-engine: --gpu-attach: %s\n",
					why);
		}
		return;
	}
	f->run_id = sl_gpu_attach_hdr(f->a)->run_id;
	if (!e->quiet)
		fprintf(stderr,
			"sluice-engine: --gpu-attach: %s (worker %u, run "
			"%llu, %u streams)\n",
			path, sl_gpu_attach_hdr(f->a)->worker,
			(unsigned long long)f->run_id,
			sl_gpu_attach_hdr(f->a)->streams);
}

/* Every `ring-*` of the directory: new ones attached, made-again ones
 * attached again, gone ones detached. */
static void
gpu_scan(struct sl_engine_gpu *g, struct engine *e)
{
	char path[PATH_MAX];
	struct dirent *de;
	DIR *d = opendir(g->dir);
	struct stat dsb;
	unsigned int i;

	/* A directory others may write could hold anyone's ring files:
	 * nothing in it is served (sluiced makes it 0750). */
	if (d != NULL && (fstat(dirfd(d), &dsb) != 0 || (dsb.st_mode & 0022))) {
		closedir(d);
		d = NULL;
		errno = EPERM;
	}
	if (d == NULL) {
		if (!g->dir_failed) {
			e->st.gpu_attach_errors++;
			if (!e->quiet)
				fprintf(stderr,
					"sluice-engine: --gpu-attach %s: %s "
					"(scanned again every second)\n",
					g->dir, strerror(errno));
		}
		g->dir_failed = true;
		return;
	}
	g->dir_failed = false;
	for (i = 0; i < g->n; i++)
		g->ring[i].seen = false;
	while ((de = readdir(d)) != NULL) {
		struct gpu_ring_file *f = NULL;
		struct stat sb;

		/* ring-N, not its ring-N.acks (or a .tmp being made). */
		if (strncmp(de->d_name, "ring-", 5) != 0 ||
		    strchr(de->d_name, '.') != NULL ||
		    (size_t)snprintf(path, sizeof(path), "%s/%s", g->dir,
				     de->d_name) >= sizeof(path) ||
		    lstat(path, &sb) != 0 || !S_ISREG(sb.st_mode))
			continue;
		for (i = 0; i < g->n && f == NULL; i++)
			if (strcmp(g->ring[i].name, de->d_name) == 0)
				f = &g->ring[i];
		if (f == NULL) {
			if (g->n == SL_ENGINE_GPU_RINGS_MAX) {
				e->st.gpu_attach_errors++;
				continue;
			}
			f = &g->ring[g->n++];
			memset(f, 0, sizeof(*f));
			ring_attach(e, f, path, &sb);
			snprintf(f->name, sizeof(f->name), "%s", de->d_name);
		} else if (f->a == NULL || f->dev != sb.st_dev ||
			   f->ino != sb.st_ino ||
			   ring_run_id(path) != f->run_id) {
			ring_attach(e, f, path, &sb);
		}
		f->seen = true;
	}
	closedir(d);
	/* Files gone: their rings are gone with their sluiced. */
	for (i = 0; i < g->n;) {
		if (g->ring[i].seen) {
			i++;
			continue;
		}
		sl_gpu_attach_close(g->ring[i].a);
		g->ring[i] = g->ring[--g->n];
	}
}

/* One rebuilt fragment to the engine, as if from sluiced at @src. */
static bool
gpu_input(struct sl_engine_gpu *g, struct engine *e, size_t len,
	  const struct sockaddr_in *src, uint64_t now)
{
	struct sl_dgram d = {.buf = g->buf,
			     .cap = (uint16_t)sizeof(g->buf),
			     .len = (uint16_t)len,
			     .addr = *src};
	struct sl_frag_view v;

	if (sl_frag_view_parse(&v, &d) != SL_WIRE_OK)
		return false;
	e->st.gpu_fragments_in++;
	e->st.gpu_tokens_in += v.hdr.token_count;
	if (v.hdr.flags & SL_FRAG_F_ABORT)
		e->st.gpu_aborted_in++;
	engine_input(e, &v, now);
	return true;
}

/* A tokenless ABORT at @seq under @h: the stream ends here. */
static void
gpu_abort(struct sl_engine_gpu *g, struct engine *e, struct sl_frag_hdr *h,
	  uint32_t seq, uint8_t reason, const struct sockaddr_in *src,
	  uint64_t now)
{
	struct sl_wire_builder b;

	h->seq = seq;
	h->flags = SL_FRAG_F_ABORT;
	h->abort_reason = reason;
	sl_wire_builder_init(&b, g->buf, sizeof(g->buf), h);
	(void)gpu_input(g, e, sl_wire_builder_finish(&b), src, now);
}

/*
 * Stream @t (tokens in g's buffers, or none when @too_long) as the
 * fragments sluiced would have sent. A token that no fragment can hold
 * or text that is not UTF-8 (a file sluiced did not write) ends the
 * stream there with ABORT (ENGINE), counted as an attach error.
 */
static void
gpu_deliver(struct sl_engine_gpu *g, struct engine *e,
	    const struct sl_gpu_taken *t, bool too_long,
	    const struct sockaddr_in *src, uint64_t now)
{
	uint32_t i = 0, seq = 0;
	struct sl_frag_hdr h;

	/* The slot's header: a data fragment's, seq 0, nothing else. */
	if (sl_wire_parse_hdr(t->hdr, SL_WIRE_HDR_LEN, &h) != SL_WIRE_OK ||
	    h.flags != 0 || h.seq != 0 || h.token_count != 0) {
		e->st.gpu_attach_errors++;
		return;
	}
	e->st.gpu_streams_taken++;
	if (too_long) {
		gpu_abort(g, e, &h, 0, SL_ABORT_TOO_LONG, src, now);
		return;
	}
	for (;;) {
		struct sl_wire_builder b;
		bool last;

		h.seq = seq;
		h.flags = 0;
		h.abort_reason = 0;
		sl_wire_builder_init(&b, g->buf, sizeof(g->buf), &h);
		for (; i < t->tokens; i++) {
			uint32_t end = i + 1 < t->tokens ? g->text_off[i + 1]
							 : t->text_len;

			if (sl_wire_builder_add(&b, g->ids[i],
						(const char *)g->text +
							g->text_off[i],
						end - g->text_off[i]) != 0)
				break;
		}
		last = i == t->tokens;
		if (!last && b.hdr.token_count == 0)
			break; /* a token larger than any fragment */
		if (last && t->state == SL_GPU_STREAM_ABORTED) {
			b.hdr.flags = SL_FRAG_F_ABORT;
			b.hdr.abort_reason = t->abort_reason < SL_ABORT_MAX
						     ? (uint8_t)t->abort_reason
						     : SL_ABORT_ENGINE;
		} else if (last) {
			b.hdr.flags = SL_FRAG_F_END;
		}
		if (!gpu_input(g, e, sl_wire_builder_finish(&b), src, now))
			break;
		if (last)
			return;
		seq++;
	}
	e->st.gpu_attach_errors++;
	gpu_abort(g, e, &h, seq, SL_ABORT_ENGINE, src, now);
}

unsigned int
sl_engine_gpu_poll(struct sl_engine_gpu *g, struct engine *e, uint64_t now)
{
	unsigned int taken = 0;

	if (now >= g->next_scan) {
		gpu_scan(g, e);
		g->next_scan = now + SL_ENGINE_GPU_SCAN_NS;
	}
	for (unsigned int k = 0; k < g->n && taken < SL_ENGINE_GPU_TAKE_MAX;
	     k++) {
		unsigned int r = (g->next_ring + k) % g->n;
		struct sl_gpu_attach *a = g->ring[r].a;
		const struct sl_gpu_share_hdr *fh;
		struct sockaddr_in src = {.sin_family = AF_INET};

		if (a == NULL)
			continue;
		fh = sl_gpu_attach_hdr(a);
		src.sin_addr.s_addr = htonl(fh->sluiced_ip);
		src.sin_port = htons(fh->sluiced_port);
		while (taken < SL_ENGINE_GPU_TAKE_MAX) {
			struct sl_gpu_taken t;
			int rc = sl_gpu_attach_take(
				a, g->ip, g->port, &t, g->ids, g->text_off,
				SL_ENGINE_GPU_TOKENS_MAX, g->text,
				SL_ENGINE_GPU_TEXT_MAX);

			if (rc == 0)
				break;
			if (rc == 1 || rc == -EMSGSIZE)
				gpu_deliver(g, e, &t, rc == -EMSGSIZE, &src,
					    now);
			else /* -EPROTO: a slot that does not add up */
				e->st.gpu_attach_errors++;
			sl_gpu_attach_ack(a, t.slot, t.epoch);
			taken++;
		}
	}
	if (g->n != 0)
		g->next_ring = (g->next_ring + 1) % g->n;
	return taken;
}
