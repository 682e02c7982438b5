/* SPDX-License-Identifier: MIT */
/*
 * dp_test.h - shared fixtures of the dataplane CUnit suites.
 *
 * EAL without hugepages (a file prefix unique to the program and process),
 * one packet mempool, sluice frames built with sl_wire_builder into mbufs,
 * a ring port whose tx ring the tests read back byte by byte, and the
 * check that closes every test: the mempool holds exactly as many mbufs
 * in use as when the test began.
 */
#ifndef DP_TEST_H
#define DP_TEST_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <CUnit/CUnit.h>
#include <rte_ether.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_ring.h>

#include "sl_config.h"
#include "sl_wire.h"

#define DP_TEST_POOL_MBUFS 4095
#define DP_TEST_FRAME_MAX 1600
#define DP_TEST_TOKENS_MAX 8

/* IPv4 a.b.c.d in host order. */
#define DP_IP(a, b, c, d)                                                      \
	(((uint32_t)(a) << 24) | ((uint32_t)(b) << 16) |                       \
	 ((uint32_t)(c) << 8) | (uint32_t)(d))

/*
 * Everything one test frame carries. Zero-initialised fields give a valid
 * fragment once the addresses, pipeline and ancestry are set; depth 0 is
 * taken as 1. Tokens: n_tokens texts; ids are token_id0 + i unless
 * token_ids is given.
 */
struct dp_frag {
	struct rte_ether_addr src_mac;
	struct rte_ether_addr dst_mac;
	uint32_t src_ip; /* host order */
	uint32_t dst_ip;
	uint16_t src_port;
	uint16_t dst_port;
	uint8_t ip_options; /* 4-byte words of IPv4 options (NOPs), 0..10 */
	uint16_t trailer;   /* bytes of padding after the IPv4 packet */

	uint32_t pipeline;
	uint16_t stage;
	uint16_t tenant;
	uint32_t seq;
	uint8_t flags;
	uint8_t abort_reason;
	uint8_t depth;
	uint64_t send_ns;
	uint64_t ancestry[SL_ANCESTRY_MAX];
	unsigned int n_tokens;
	uint32_t token_id0;
	const char *tokens[DP_TEST_TOKENS_MAX];
	/* Optional, for more than DP_TEST_TOKENS_MAX tokens or texts with
	 * explicit lengths and ids: when token_texts is set it replaces
	 * tokens[]; token_lens (else strlen) and token_ids (else token_id0
	 * + i) apply to whichever is used. */
	const char *const *token_texts;
	const uint16_t *token_lens;
	const uint32_t *token_ids;
	uint32_t child_count; /* with SL_FRAG_F_CHILDREN (or a NACK) */
};

/**
 * dp_test_eal_init - start EAL (--no-huge -m 256 --no-pci, file prefix
 * "<prog>-<pid>", one lcore), register sl_pkt_meta and create the pool.
 * Exits 77 with a reason when EAL cannot start for an environmental
 * reason, 1 on any other failure.
 */
void dp_test_eal_init(const char *prog);

/** dp_test_eal_fini - free the pool and clean EAL up. */
void dp_test_eal_fini(void);

/** The shared packet mempool. */
struct rte_mempool *dp_test_pool(void);

/**
 * dp_test_begin - remember the pool's in-use count; dp_test_end asserts
 * that it is back to that value (no mbuf leaked, none freed twice).
 */
void dp_test_begin(void);
void dp_test_end(void);

/**
 * dp_test_build - write the frame of @f into @buf (@cap bytes).
 * @dgram_off: receives the offset of the sluice header (may be NULL).
 * Return: the frame length (CU-asserted to fit).
 */
size_t dp_test_build(const struct dp_frag *f, uint8_t *buf, size_t cap,
		     size_t *dgram_off);

/** dp_test_mbuf - an mbuf holding @len bytes of @frame, or NULL. */
struct rte_mbuf *dp_test_mbuf(const uint8_t *frame, size_t len);

/** dp_test_frame - dp_test_build + dp_test_mbuf. */
struct rte_mbuf *dp_test_frame(const struct dp_frag *f);

/** The IPv4 header checksum of a header of @len bytes sums to 0xffff. */
bool dp_test_ipv4_cksum_ok(const uint8_t *ip, size_t len);

/* A port made with rte_eth_from_rings: tests enqueue on rx, read tx. */
struct dp_test_port {
	uint16_t port_id;
	struct rte_ring *rx;
	struct rte_ring *tx;
	struct rte_ether_addr mac;
};

/**
 * dp_test_port_create - create and start a ring port named @name (its
 * MAC set to 02:00:00:00:00:01 where the PMD allows it; @p->mac holds
 * the MAC the port reports). Return 0 or a negative errno.
 */
int dp_test_port_create(struct dp_test_port *p, const char *name);

/** dp_test_port_drain - dequeue up to @max frames sent on @p. */
unsigned int dp_test_port_drain(struct dp_test_port *p, struct rte_mbuf **out,
				unsigned int max);

/** dp_test_port_flush - free every frame waiting on both rings. */
void dp_test_port_flush(struct dp_test_port *p);

/** dp_test_free_all - free @n mbufs. */
void dp_test_free_all(struct rte_mbuf **pkts, unsigned int n);

/**
 * dp_test_config - compile an inline YAML pipeline file; NULL (with the
 * error printed) on failure.
 */
struct sl_config *dp_test_config(const char *yaml);

struct sl_dp;

/**
 * dp_test_take_start_arps - sl_dp_init asks at once for the MAC of every
 * instance it does not know (ARP requests queued on dp->ctrl, not yet
 * sent). CU-assert that the queue holds exactly one ARP request per
 * distinct instance address of dp->cfg (SL_CTRL_TX_MAX at most; the rest
 * are left to the retry) and nothing else, free them and empty the queue;
 * dp->cnt.arp_requests keeps counting them. Return how many there were.
 */
unsigned int dp_test_take_start_arps(struct sl_dp *dp);

/**
 * dp_test_instances_reachable - how many instances of dp->cfg are marked
 * reachable (their MAC known at the last refresh); @total receives how
 * many instances there are (may be NULL).
 */
unsigned int dp_test_instances_reachable(const struct sl_dp *dp,
					 unsigned int *total);

/**
 * dp_test_arp - write into @b the 42-byte Ethernet frame of an ARP packet
 * (Ethernet/IPv4, opcode @op) from @sha/@sip to @dst about @tha/@tip;
 * @dst NULL is broadcast, @tha NULL is all zeros. IPs are in host order.
 */
void dp_test_arp(uint8_t b[42], const struct rte_ether_addr *dst,
		 const struct rte_ether_addr *sha, uint16_t op, uint32_t sip,
		 const struct rte_ether_addr *tha, uint32_t tip);

/**
 * dp_test_expect_drops - CU-assert that every drop counter of @dp is zero
 * but those named by the (reason, count) pairs in @ap, ended by a negative
 * reason (@reason is the first); print each counter that differs.
 */
void dp_test_expect_drops(const struct sl_dp *dp, int reason, va_list ap);

/*
 * What the far ends of sluiced's hops do (proto/WIRE.md, loss repair),
 * so that a suite sees data only: dp_test_receivers takes the @n frames
 * sluiced sent in @out, keeps the data fragments there (in order; the
 * return value is how many), puts the control fragments (ACK, NACK,
 * PROBE) aside (counted in dp_test_ctl[flag], then freed), and, unless
 * dp_test_no_acks, answers every END or ABORT it sent with the ACK its
 * receiver would send, run through sl_dp_process at once.
 */
extern bool dp_test_no_acks;
extern unsigned int dp_test_ctl_nacks, dp_test_ctl_acks, dp_test_ctl_probes;
extern struct sl_frag_hdr dp_test_last_nack; /* the last NACK set aside */
unsigned int dp_test_receivers(struct sl_dp *dp, struct rte_mbuf **out,
			       unsigned int n);

/**
 * dp_test_req_to_sluiced - the id sluiced gave request @req of the client
 * at @ip:@port (tenant @tenant) of pipeline @pipeline_id: what instances
 * see in ancestry[0] (host order); @req itself when no such request is in
 * the table. dp_test_req_from_sluiced - the client's own id behind
 * sluiced's id @id; @id itself when it names no request.
 */
uint64_t dp_test_req_to_sluiced(struct sl_dp *dp, uint32_t pipeline_id,
				uint32_t ip, uint16_t port, uint16_t tenant,
				uint64_t req);
uint64_t dp_test_req_from_sluiced(struct sl_dp *dp, uint64_t id);

/**
 * dp_test_run - run every registered suite (verbose) and return the
 * process exit status: 0 only if CUnit recorded no failure.
 */
int dp_test_run(void);

/* A suite's tests: DP_SUITE starts a CUnit suite, DP_CASE adds a test to
 * it, DP_END ends the list. */
struct dp_test_case {
	const char *suite;
	const char *name;
	void (*fn)(void);
};
#define DP_SUITE(name)                                                         \
	{                                                                      \
		(name), NULL, NULL                                             \
	}
#define DP_CASE(name, fn)                                                      \
	{                                                                      \
		NULL, (name), (fn)                                             \
	}
#define DP_END                                                                 \
	{                                                                      \
		NULL, NULL, NULL                                               \
	}

/**
 * dp_test_main - a test program's main: EAL (dp_test_eal_init), @setup
 * (a port; NULL for none), the suites and tests of @cases, the run, then
 * @teardown and EAL's end. Return the exit status (dp_test_run's, 1 when
 * the suites could not be set up).
 */
int dp_test_main(const char *prog, const struct dp_test_case *cases,
		 int (*setup)(void), void (*teardown)(void));

#endif /* DP_TEST_H */
