/* SPDX-License-Identifier: MIT */
/*
 * gpu_attach.h - sluice-engine as a local GPU instance (--gpu-attach DIR):
 * input streams taken from the token rings that sluiced's gpu_tx node
 * fills (gpu/sl_gpu_share.h), instead of arriving over UDP.
 *
 * Every file `ring-*` in DIR is attached (one per sluiced worker); the
 * directory is scanned again every second for new files, files gone, and
 * files made again (another inode, or another run id). Each final stream
 * for this instance's own address is rebuilt as the fragments sluiced
 * would have sent (the slot's wire header with seq 0, 1, ..., at most
 * SL_WIRE_PAYLOAD_MAX bytes of tokens each, END on the last, or ABORT
 * with the stream's reason), each handed to engine_input() as if it had
 * come from sluiced (its source: sluiced's address in the file), then the
 * slot is acked. None of it passes sl_rel: the ring is neither lossy nor
 * reordering, so there is nothing to NACK or ACK; the answers leave
 * through the normal send path and its loss repair.
 */
#ifndef SL_ENGINE_GPU_ATTACH_H
#define SL_ENGINE_GPU_ATTACH_H

#include <stdbool.h>
#include <stdint.h>

struct engine;
struct sl_engine_gpu;

/* Most a stream taken from a ring may hold (the engine's buffers); a
 * longer one is answered ABORT (TOO_LONG). */
#define SL_ENGINE_GPU_TOKENS_MAX 65536u
#define SL_ENGINE_GPU_TEXT_MAX (256u * 1024u)
/* Rings attached at once, at most (files beyond are counted errors). */
#define SL_ENGINE_GPU_RINGS_MAX 256u
/* Streams one sl_engine_gpu_poll() takes, all rings together. */
#define SL_ENGINE_GPU_TAKE_MAX 64u
/* How often the directory is scanned. */
#define SL_ENGINE_GPU_SCAN_NS 1000000000ull
/* Longest wait of an idle engine while a ring is attached. */
#define SL_ENGINE_GPU_POLL_NS 200000ull

/**
 * sl_engine_gpu_open - attach the rings in @dir for the instance at
 * @ip:@port (host order: the address the engine is bound to). The first
 * scan happens at the first sl_engine_gpu_poll(); a directory that does
 * not exist yet is scanned again later.
 * Return: the state, or NULL with errno ENOMEM.
 */
struct sl_engine_gpu *sl_engine_gpu_open(const char *dir, uint32_t ip,
					 uint16_t port);

/** sl_engine_gpu_close - detach every ring. NULL is accepted. */
void sl_engine_gpu_close(struct sl_engine_gpu *g);

/**
 * sl_engine_gpu_poll - scan @g's directory when due, then take up to
 * SL_ENGINE_GPU_TAKE_MAX final streams for the instance, hand their
 * fragments to engine_input(@e, ..., @now) and ack them. Counts into
 * @e->st (gpu_*).
 * Return: the streams taken (SL_ENGINE_GPU_TAKE_MAX: more may wait).
 */
unsigned int sl_engine_gpu_poll(struct sl_engine_gpu *g, struct engine *e,
				uint64_t now);

/**
 * sl_engine_gpu_rings - how many rings are attached now.
 * sl_engine_gpu_wait_ns - how long an idle engine may sleep: at most
 * SL_ENGINE_GPU_POLL_NS while a ring is attached, else until the next
 * scan from @now.
 */
unsigned int sl_engine_gpu_rings(const struct sl_engine_gpu *g);
uint64_t sl_engine_gpu_wait_ns(const struct sl_engine_gpu *g, uint64_t now);

#endif /* SL_ENGINE_GPU_ATTACH_H */
