/* SPDX-License-Identifier: MIT */
/*
 * sl_gpu_share.h - a token ring's streams, shared with the engine that
 * reads them (engine attach; gpu/README.md, "Engine attach").
 *
 * sluiced (the producer: the dataplane's gpu_tx node) makes two files per
 * ring, PATH and PATH.acks. They hold what an engine process needs and
 * nothing it could use to disturb the ring itself (the batches and the
 * consumer's status stay in sluiced's private memory). PATH is written
 * by sluiced alone (engines open it read-only: the group may read it
 * with mode 0640); PATH.acks is the one thing engines write, and sluiced
 * never maps it, it reads it with pread(2) (sl_gpu_share_acks_read):
 *
 *   header   magic, version, the ring's sizes, where each part starts,
 *            sluiced's address (where the engine sends its answers) and
 *            the run's id (a new sluiced, a new id)
 *   desc     per stream slot, producer-written before the slot's first
 *            fragment is published: the epoch the slot will have, the
 *            instance the stream is for, and the stream's wire header as
 *            that instance would receive it (stage, ancestry, tenant...)
 *   tokens   the ring's tokens region (host backend; the consumer
 *            writes it, the engine reads it)
 *   PATH.acks per slot, engine-written: the epoch it has taken; a slot
 *            is given to a new stream only after its engine took the
 *            last one (sl_gpu_share_acked)
 *
 * The engine side (sl_gpu_attach_*) maps the file, checks every offset
 * and size in it against the file's length, and takes a stream once it
 * is final (COMPLETE or ABORTED): the consumer stores the final state
 * with release after the tokens, and the producer's desc came before the
 * batch that opened the slot, so one acquire load of the state makes
 * both visible. The cuda backend's token buffers are device memory; its
 * file would carry a CUDA IPC handle instead (not built yet:
 * sl_gpu_share_create answers ENOTSUP for it).
 */
#ifndef SL_GPU_SHARE_H
#define SL_GPU_SHARE_H

#include <stddef.h>
#include <stdint.h>

#include "sl_gpu_ring.h"

#define SL_GPU_SHARE_MAGIC "SLGPUSH1"
#define SL_GPU_SHARE_VERSION 2u
#define SL_GPU_DESC_HDR_LEN 88u /* SL_WIRE_HDR_LEN */

/* The file's first page. Offsets are from the start of the file. */
struct sl_gpu_share_hdr {
	char magic[8];
	uint32_t version;
	uint32_t backend; /* enum sl_gpu_backend */
	uint32_t streams;
	uint32_t stream_tokens;
	uint32_t stream_text;
	uint32_t worker; /* the sluiced worker that produces into it */
	uint64_t desc_off;
	uint64_t acks_off; /* 0: the acks are the file PATH.acks */
	uint64_t acks_len; /* ... of this many bytes */
	uint64_t tokens_off;
	uint64_t tokens_len;
	uint64_t file_len;
	uint64_t run_id;     /* changes each time sluiced makes the file */
	uint32_t sluiced_ip; /* host order: where answers go */
	uint16_t sluiced_port;
	uint16_t reserved;
};

/* One slot's descriptor (producer-written). */
struct sl_gpu_desc {
	SL_GPU_ATOMIC(uint32_t)
	epoch;            /* the stream epoch it describes;
					* stored with release, last */
	uint32_t inst_ip; /* host order: the instance */
	uint16_t inst_port;
	uint16_t reserved;
	uint32_t reserved2;
	uint8_t hdr[SL_GPU_DESC_HDR_LEN]; /* wire header (proto/WIRE.md):
					   * seq 0, no tokens, no flags */
	uint8_t pad[24];
};

struct sl_gpu_share;

struct sl_gpu_share_cfg {
	const char *path;      /* the file to make (replaced if it exists),
				* and PATH.acks */
	unsigned int mode;     /* its permission bits, e.g. 0640 (PATH.acks:
				* the same, writable where readable) */
	int uid, gid;          /* its owner (-1: leave) */
	uint32_t sluiced_ip;   /* host order */
	uint16_t sluiced_port; /* host order */
	uint32_t worker;
	uint64_t run_id;
};

/**
 * sl_gpu_share_create - make the file @sc->path and a ring of @cfg whose
 * tokens region lies in it (consumer not started). The file is made whole
 * as DIR/.NAME.tmp and renamed over @sc->path, so an engine never finds
 * it half made and a file of an earlier run is replaced at once.
 * Return: the share, or NULL with errno: ENOTSUP for a backend other than
 * host, EINVAL for @cfg out of bounds, or the file's error.
 */
struct sl_gpu_share *sl_gpu_share_create(struct sl_gpu_ctx *ctx,
					 const struct sl_gpu_ring_cfg *cfg,
					 const struct sl_gpu_share_cfg *sc);

/** sl_gpu_share_destroy - destroy the ring, unmap and remove the file. */
void sl_gpu_share_destroy(struct sl_gpu_share *s);

/** sl_gpu_share_ring - the share's ring (the producer's). */
struct sl_gpu_ring *sl_gpu_share_ring(struct sl_gpu_share *s);

/**
 * sl_gpu_share_describe - write slot @slot's descriptor for the stream
 * about to open it, as its @epoch-th (the producer counts its opens of
 * the slot; the consumer's epoch after that seq 0 is the same). Call
 * before handing the slot's first fragment to sl_gpu_tx, and for a slot
 * used before only once sl_gpu_share_acked says its last stream was
 * taken. A slot whose last stream is final is set back to EMPTY here, so
 * that an engine never mistakes the consumer's reopen of it (epoch
 * bumped, state not yet OPEN) for a final stream.
 * @hdr: SL_GPU_DESC_HDR_LEN bytes of wire header.
 * Return: 0, or -EINVAL for a slot out of range.
 */
int sl_gpu_share_describe(struct sl_gpu_share *s, uint32_t slot, uint32_t epoch,
			  uint32_t inst_ip, uint16_t inst_port,
			  const uint8_t *hdr);

/**
 * sl_gpu_share_acks_read - read PATH.acks into the share's private copy
 * (a file cut short reads as no ack past its end).
 * Return: 0 or -errno.
 */
int sl_gpu_share_acks_read(struct sl_gpu_share *s);

/**
 * sl_gpu_share_acked - whether the engine took slot @slot's stream of
 * epoch @epoch, as the last sl_gpu_share_acks_read saw. The engines'
 * word is trusted for nothing else: an ack frees that one slot (an
 * early or foreign ack can lose that slot's stream: the engines of one
 * sluiced trust each other, as members of the group the files give
 * write access to).
 */
int sl_gpu_share_acked(const struct sl_gpu_share *s, uint32_t slot,
		       uint32_t epoch);

/* ------------------------------------------------------------------ */
/* Engine side                                                         */
/* ------------------------------------------------------------------ */

struct sl_gpu_attach;

/* One stream as the engine takes it. Pointers are into the caller's
 * buffers (sl_gpu_attach_take). */
struct sl_gpu_taken {
	uint32_t slot;
	uint32_t epoch;
	uint32_t state; /* SL_GPU_STREAM_COMPLETE or _ABORTED */
	uint32_t abort_reason;
	uint32_t tokens;
	uint32_t text_len;
	uint32_t inst_ip;
	uint16_t inst_port;
	uint8_t hdr[SL_GPU_DESC_HDR_LEN];
};

/**
 * sl_gpu_attach_open - map the file at @path (read-only but for its acks)
 * and check it: magic, version, backend host, every part inside the file.
 * Return: the attachment, or NULL with errno and a line in @why.
 */
struct sl_gpu_attach *sl_gpu_attach_open(const char *path, char *why,
					 size_t why_len);

void sl_gpu_attach_close(struct sl_gpu_attach *a);

/** The file's header (checked), for sluiced's address and sizes. */
const struct sl_gpu_share_hdr *sl_gpu_attach_hdr(const struct sl_gpu_attach *a);

/**
 * sl_gpu_attach_take - the next final stream for instance @inst_ip:
 * @inst_port (host order) not yet acked, scanning the slots round robin
 * from where the last call stopped: its description in @out and its
 * tokens copied into @ids / @text_off (@max_tokens entries each) and
 * @text (@max_text bytes). The slot is not acked: call
 * sl_gpu_attach_ack once the stream is handed on.
 * Return: 1 with @out filled, 0 when none is waiting, -EMSGSIZE when
 * the stream outgrows the buffers given (the slot is then to be acked
 * and answered with ABORT), -EPROTO when the slot's description does
 * not match its stream (a corrupt file; acked and skipped is safe).
 */
int sl_gpu_attach_take(struct sl_gpu_attach *a, uint32_t inst_ip,
		       uint16_t inst_port, struct sl_gpu_taken *out,
		       uint32_t *ids, uint32_t *text_off, uint32_t max_tokens,
		       uint8_t *text, uint32_t max_text);

/** sl_gpu_attach_ack - give slot @slot's stream of @epoch back. */
void sl_gpu_attach_ack(struct sl_gpu_attach *a, uint32_t slot, uint32_t epoch);

#endif /* SL_GPU_SHARE_H */
