/* SPDX-License-Identifier: MIT */
/*
 * fuzz_eal.h - EAL for the fuzzers that run the dataplane
 * (fuzz_dataplane.c, fuzz_api.c): no hugepages, no PCI, one lcore (the
 * first this process may run on), a file prefix of its own per process
 * (libFuzzer's -jobs and -fork run several), and the mbuf dynfield.
 * Once per process, from LLVMFuzzerInitialize. Also the net_ring port
 * they run on and the frames the far ends send.
 */
#ifndef FUZZ_EAL_H
#define FUZZ_EAL_H

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <string.h>

#include <rte_common.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_ring.h>

#include "sl_dp.h"
#include "sl_port.h"
#include "sl_wire.h"

/*
 * EAL's --lcores for the one lcore a fuzzer needs: lcore 0 on every CPU
 * this process may run on ("0@(0,1)"), not pinned to the first. Several
 * jobs (SL_FUZZ_JOBS) each init EAL: pinned, they all shared CPU 0 while
 * the others stayed idle.
 */
static inline void
fuzz_lcores(char *buf, size_t len)
{
	cpu_set_t set;
	size_t at;

	at = (size_t)snprintf(buf, len, "0@(");
	if (sched_getaffinity(0, sizeof(set), &set) != 0) {
		snprintf(buf, len, "0@0");
		return;
	}
	for (int c = 0; c < CPU_SETSIZE && at + 8 < len; c++)
		if (CPU_ISSET(c, &set))
			at += (size_t)snprintf(buf + at, len - at, "%s%d",
					       buf[at - 1] == '(' ? "" : ",",
					       c);
	snprintf(buf + at, len - at, ")");
}

static inline void
fuzz_eal_init(char *argv0, const char *name)
{
	char prefix[64], lcore[256];
	char *eal_argv[] = {
		argv0,
		"--no-huge",
		"-m",
		"256",
		"--no-pci",
		"--no-telemetry",
		"--log-level=error",
		"--file-prefix",
		prefix,
		"--lcores",
		lcore,
	};

	snprintf(prefix, sizeof(prefix), "%s-%ld", name, (long)getpid());
	fuzz_lcores(lcore, sizeof(lcore));
	if (rte_eal_init((int)RTE_DIM(eal_argv), eal_argv) < 0) {
		fprintf(stderr, "%s: EAL: %s\n", name, rte_strerror(rte_errno));
		exit(1);
	}
	if (sl_pkt_meta_register() != 0) {
		fprintf(stderr, "%s: sl_pkt_meta_register failed\n", name);
		exit(1);
	}
}

/* A net_ring port: frames sluiced sends wait on @tx. */
struct fuzz_ring_port {
	uint16_t port_id;
	struct rte_ring *rx, *tx;
	struct rte_ether_addr mac;
};

static inline int
fuzz_ring_port_open(struct fuzz_ring_port *p, const char *name,
		    struct rte_mempool *pool)
{
	char rname[RTE_RING_NAMESIZE];
	const char *what;
	int rc;

	snprintf(rname, sizeof(rname), "%s_rx", name);
	p->rx = rte_ring_create(rname, 4096, (int)rte_socket_id(),
				RING_F_SP_ENQ | RING_F_SC_DEQ);
	snprintf(rname, sizeof(rname), "%s_tx", name);
	p->tx = rte_ring_create(rname, 4096, (int)rte_socket_id(),
				RING_F_SP_ENQ | RING_F_SC_DEQ);
	if (p->rx == NULL || p->tx == NULL)
		return -ENOMEM;
	rc = rte_eth_from_rings(name, &p->rx, 1, &p->tx, 1, rte_socket_id());
	if (rc < 0)
		return rc;
	p->port_id = (uint16_t)rc;
	rc = sl_port_start(p->port_id, pool, &what);
	if (rc != 0)
		return rc;
	return rte_eth_macaddr_get(p->port_id, &p->mac);
}

static inline void
fuzz_ring_port_close(struct fuzz_ring_port *p)
{
	rte_eth_dev_stop(p->port_id);
	rte_eth_dev_close(p->port_id);
}

/* The MAC of IPv4 a.b.c.d on the fuzzers' network: 02:00:a:b:c:d. */
static inline struct rte_ether_addr
fuzz_mac_of(uint32_t ip)
{
	struct rte_ether_addr m = {{0x02, 0x00, (uint8_t)(ip >> 24),
				    (uint8_t)(ip >> 16), (uint8_t)(ip >> 8),
				    (uint8_t)ip}};

	return m;
}

static inline uint16_t
fuzz_ipv4_sum(const uint8_t *ip, size_t len)
{
	uint32_t sum = 0;

	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(ip[i] << 8 | ip[i + 1]);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

/* Ethernet/IPv4/UDP from @src_ip:@src_port to sluiced (10.0.0.1:7700,
 * the fuzzers' pipeline files) around @dgram; the frame length, or 0 if
 * it does not fit @cap. */
static inline size_t
fuzz_frame_wrap(uint8_t *buf, size_t cap, const struct rte_ether_addr *dst,
		uint32_t src_ip, uint16_t src_port, const uint8_t *dgram,
		size_t dlen)
{
	const size_t off = SL_WIRE_FRAME_HDR_OFF;
	struct rte_ether_addr src = fuzz_mac_of(src_ip);
	uint8_t *ip = buf + SL_ETHER_HDR_LEN, *udp = ip + SL_IPV4_HDR_LEN;
	uint16_t sum;

	if (off + dlen > cap)
		return 0;
	memcpy(buf, dst, 6);
	memcpy(buf + 6, &src, 6);
	buf[12] = 0x08;
	buf[13] = 0x00;
	memset(ip, 0, SL_IPV4_HDR_LEN);
	ip[0] = 0x45;
	ip[2] = (uint8_t)((SL_IPV4_HDR_LEN + SL_UDP_HDR_LEN + dlen) >> 8);
	ip[3] = (uint8_t)(SL_IPV4_HDR_LEN + SL_UDP_HDR_LEN + dlen);
	ip[6] = 0x40; /* DF */
	ip[8] = 64;
	ip[9] = 17; /* UDP */
	ip[12] = (uint8_t)(src_ip >> 24);
	ip[13] = (uint8_t)(src_ip >> 16);
	ip[14] = (uint8_t)(src_ip >> 8);
	ip[15] = (uint8_t)src_ip;
	ip[16] = 10, ip[17] = 0, ip[18] = 0, ip[19] = 1;
	sum = (uint16_t)~fuzz_ipv4_sum(ip, SL_IPV4_HDR_LEN);
	ip[10] = (uint8_t)(sum >> 8);
	ip[11] = (uint8_t)sum;
	udp[0] = (uint8_t)(src_port >> 8);
	udp[1] = (uint8_t)src_port;
	udp[2] = 7700 >> 8;
	udp[3] = 7700 & 0xff;
	udp[4] = (uint8_t)((SL_UDP_HDR_LEN + dlen) >> 8);
	udp[5] = (uint8_t)(SL_UDP_HDR_LEN + dlen);
	udp[6] = udp[7] = 0;
	memcpy(buf + off, dgram, dlen);
	return off + dlen;
}

#endif /* FUZZ_EAL_H */
