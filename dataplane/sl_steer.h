/* SPDX-License-Identifier: MIT */
/*
 * sl_steer.h - many workers: which worker a frame belongs to, and the
 * hand-off between them.
 *
 * Every stream of a request meets on one worker, so a request's state
 * (its streams, splitters, operator groups, key pins, copies kept for
 * resends) is never shared. The owner of a frame is read from its sluice
 * header alone, before parse:
 *
 *   - ancestry[0] is sluiced's own request id (mark and keyed tag right,
 *     sl_request_id_worker): the worker that minted it. Engine outputs,
 *     their NACKs and ACKs, and split children all carry it.
 *   - any other id (a client's request, its ABORT, its ACKs and NACKs
 *     for the answer, which carry the producing stage and the client's
 *     id): a keyed hash of the sender's address and the id.
 *   - ARP and PROBE answers: every worker (a copy each). Each worker keeps
 *     its own neighbour table and its own view of the instances' liveness;
 *     only worker 0 answers ARP requests and sends PROBEs.
 *   - anything that is no sluice frame: the worker that received it (its
 *     parse drops and counts it).
 *
 * A worker receives from its own queue of the port (RSS on a real NIC, a
 * kernel fanout group with af_packet, or no queue at all on a one-queue
 * vdev), keeps what is its own and hands the rest to the owner's inbox
 * (an rte_ring, many producers, one consumer). A full inbox drops the
 * frame, counted STEER_FULL: its sender repairs it like any loss.
 *
 * Cost: one read of the header's cache line and a multiply-xorshift hash
 * per frame; nothing at all with one worker (dp->steer is NULL).
 */
#ifndef SL_STEER_H
#define SL_STEER_H

#include <stdint.h>

#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_ring.h>

#define SL_WORKERS_MAX 16
#define SL_STEER_INBOX 8192 /* frames waiting for one worker (power of two) */
#define SL_STEER_ALL UINT16_MAX

struct sl_dp;

struct sl_steer {
	uint16_t n;      /* workers */
	uint64_t key;    /* secret of the client-request hash */
	uint64_t id_key; /* the ledger's: tags of sluiced's request ids */
	struct rte_mempool *pool; /* for the copies of ARP and PROBE frames */
	struct rte_ring *inbox[SL_WORKERS_MAX];
};

/**
 * sl_steer_create - steering for @n workers (2..SL_WORKERS_MAX): a fresh
 * secret and one inbox each. Return NULL with rte_errno set on failure.
 * sl_steer_free - free it and whatever waits in the inboxes.
 */
struct sl_steer *sl_steer_create(uint16_t n, struct rte_mempool *pool);
void sl_steer_free(struct sl_steer *s);

/**
 * sl_steer_owner - the worker frame @m belongs to (< s->n), SL_STEER_ALL
 * for every worker, or @self when it is no sluice frame.
 */
uint16_t sl_steer_owner(const struct sl_steer *s, const struct rte_mbuf *m,
			uint16_t self);

/**
 * sl_steer_burst - worker @dp received @n frames in @pkts: keep its own,
 * hand the others to their owners' inboxes, and put what waited in its
 * own inbox in front of them (it came first), up to @cap frames in all.
 * Return how many frames @pkts holds now.
 */
uint16_t sl_steer_burst(struct sl_dp *dp, struct rte_mbuf **pkts, uint16_t n,
			uint16_t cap);

#endif /* SL_STEER_H */
