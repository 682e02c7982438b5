/* SPDX-License-Identifier: MIT */
/*
 * sl_steer.c - many workers: the owner of a frame and the hand-off (see
 * sl_steer.h).
 */
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <netinet/in.h>

#include <rte_byteorder.h>
#include <rte_cycles.h>
#include <rte_errno.h>
#include <rte_ether.h>
#include <rte_malloc.h>

#include "sl_dp.h"
#include "sl_steer.h"
#include "sl_stream.h"
#include "sl_wire.h"

struct sl_steer *
sl_steer_create(uint16_t n, struct rte_mempool *pool)
{
	static unsigned int seq;
	struct sl_steer *s;
	char name[RTE_RING_NAMESIZE];

	if (n < 2 || n > SL_WORKERS_MAX) {
		rte_errno = EINVAL;
		return NULL;
	}
	s = rte_zmalloc("sl_steer", sizeof(*s), RTE_CACHE_LINE_SIZE);
	if (s == NULL) {
		rte_errno = ENOMEM;
		return NULL;
	}
	s->n = n;
	s->pool = pool;
	if (getrandom(&s->key, sizeof(s->key), 0) != sizeof(s->key))
		s->key = rte_rdtsc() * 0x9e3779b97f4a7c15ull;
	for (uint16_t w = 0; w < n; w++) {
		snprintf(name, sizeof(name), "sl_inbox_%u_%u", seq, w);
		/* Producers with relaxed tail sync: a worker preempted
		 * half-way through its enqueue (workers may share a CPU)
		 * does not hold the others spinning for its time slice. */
		s->inbox[w] =
			rte_ring_create(name, SL_STEER_INBOX, rte_socket_id(),
					RING_F_MP_RTS_ENQ | RING_F_SC_DEQ);
		if (s->inbox[w] == NULL) {
			int err = rte_errno;

			sl_steer_free(s);
			rte_errno = err;
			return NULL;
		}
	}
	seq++;
	return s;
}

void
sl_steer_free(struct sl_steer *s)
{
	struct rte_mbuf *m;

	if (s == NULL)
		return;
	for (uint16_t w = 0; w < s->n; w++) {
		if (s->inbox[w] == NULL)
			continue;
		while (rte_ring_dequeue(s->inbox[w], (void **)&m) == 0)
			rte_pktmbuf_free(m);
		rte_ring_free(s->inbox[w]);
	}
	rte_free(s);
}

/* A client's request: its address and its own id, hashed with the secret
 * (a client cannot aim all its requests at one worker by choosing ids). */
static inline uint16_t
steer_hash(const struct sl_steer *s, uint32_t ip, uint64_t id)
{
	uint64_t x = (id ^ s->key) + ((uint64_t)ip << 17 | ip);

	x ^= x >> 31;
	x *= 0x9e3779b97f4a7c15ull;
	x ^= x >> 29;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 32;
	return (uint16_t)(((x & 0xffffffffu) * s->n) >> 32);
}

uint16_t
sl_steer_owner(const struct sl_steer *s, const struct rte_mbuf *m,
	       uint16_t self)
{
	const uint8_t *b = rte_pktmbuf_mtod(m, const uint8_t *);
	uint32_t len = rte_pktmbuf_data_len(m);
	uint16_t ethertype;
	uint32_t ihl, hdr, ip;
	uint64_t id;

	if (len < SL_ETHER_HDR_LEN)
		return self;
	ethertype = (uint16_t)(b[12] << 8 | b[13]);
	if (ethertype == RTE_ETHER_TYPE_ARP)
		return SL_STEER_ALL;
	if (ethertype != RTE_ETHER_TYPE_IPV4 || len < SL_ETHER_HDR_LEN + 20)
		return self;
	ihl = (uint32_t)(b[SL_ETHER_HDR_LEN] & 0x0f) * 4;
	hdr = SL_ETHER_HDR_LEN + ihl + SL_UDP_HDR_LEN;
	if (ihl < 20 || b[SL_ETHER_HDR_LEN + 9] != IPPROTO_UDP ||
	    len < hdr + SL_WIRE_HDR_LEN)
		return self;
	if (b[hdr + SL_WIRE_OFF_FLAGS] & SL_FRAG_F_PROBE)
		return SL_STEER_ALL;
	memcpy(&id, b + hdr + SL_WIRE_OFF_ANCESTRY, sizeof(id));
	id = rte_be_to_cpu_64(id);
	/* sluiced's own id (its tag right) names its worker; any other is
	 * a client's, hashed. The decision reads nothing but the id and the
	 * sender, so a request and the ACKs for its answer (which carry the
	 * producing stage and the client's id) go alike. */
	{
		uint16_t w = sl_request_id_worker(s->id_key, id);

		if (w < s->n)
			return w;
	}
	memcpy(&ip, b + SL_ETHER_HDR_LEN + 12, sizeof(ip));
	return steer_hash(s, ip, id);
}

/* Hand @m to worker @w; a full inbox drops it (counted). */
static inline void
steer_hand(struct sl_dp *dp, uint16_t w, struct rte_mbuf *m)
{
	if (unlikely(rte_ring_enqueue(dp->steer->inbox[w], m) != 0)) {
		sl_dp_drop(dp, m, SL_DROP_STEER_FULL);
		return;
	}
	dp->cnt.steered++;
}

/* A copy of @m for every other worker (ARP, PROBE answers: rare). */
static void
steer_copies(struct sl_dp *dp, struct rte_mbuf *m)
{
	const struct sl_steer *s = dp->steer;

	for (uint16_t w = 0; w < s->n; w++) {
		struct rte_mbuf *c;

		if (w == dp->worker)
			continue;
		c = rte_pktmbuf_copy(m, s->pool, 0, UINT32_MAX);
		if (c == NULL) {
			dp->cnt.drops[SL_DROP_NO_MBUF]++;
			continue;
		}
		steer_hand(dp, w, c);
	}
}

uint16_t
sl_steer_burst(struct sl_dp *dp, struct rte_mbuf **pkts, uint16_t n,
	       uint16_t cap)
{
	const struct sl_steer *s = dp->steer;
	uint16_t keep = 0;

	for (uint16_t i = 0; i < n; i++) {
		struct rte_mbuf *m = pkts[i];
		uint16_t w = sl_steer_owner(s, m, dp->worker);

		if (w == SL_STEER_ALL) {
			steer_copies(dp, m);
			w = dp->worker;
		}
		if (w == dp->worker)
			pkts[keep++] = m;
		else
			steer_hand(dp, w, m);
	}
	/* What others handed over goes first: it was in the inbox before
	 * this burst was received (an ARP copy before the data of the
	 * client it announces, which may reach this worker's own queue). */
	if (keep < cap) {
		struct rte_mbuf *in[SL_BURST];
		unsigned int got = rte_ring_sc_dequeue_burst(
			s->inbox[dp->worker], (void **)in,
			RTE_MIN((unsigned int)(cap - keep),
				(unsigned int)SL_BURST),
			NULL);

		if (got != 0) {
			memmove(&pkts[got], pkts, keep * sizeof(pkts[0]));
			memcpy(pkts, in, got * sizeof(pkts[0]));
			keep += (uint16_t)got;
		}
	}
	return keep;
}
