/* SPDX-License-Identifier: MIT */
/*
 * stage_fixture.h - what the packet-stage suites share (test_stage_*.c):
 * one struct sl_dp on a ring port with the config below, frames built and
 * decoded, drops checked.
 *
 * The config (inline YAML): sluiced 10.0.0.1:7700, clients 10.0.1.0/24,
 * pipeline 1 = stage 1 "draft" (10.0.2.1:8001, 10.0.2.2:8001, round robin)
 * then stage 2 "verify" (10.0.3.1:8002, 10.0.3.2:8002, aggregation 1).
 * Neighbours are learned up front unless a test is about ARP; the MAC of
 * IPv4 a.b.c.d is 02:00:a:b:c:d. Time is dp->now, set by the tests.
 * Every test ends with the mempool back at its in-use count.
 */
#ifndef STAGE_FIXTURE_H
#define STAGE_FIXTURE_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/Basic.h>
#include <rte_byteorder.h>
#include <rte_ethdev.h>

#include "dp_test.h"
#include "sl_arp.h"
#include "sl_dp.h"
#include "sl_node.h"
#include "sl_path.h"
#include "sl_route.h"
#include "sl_stream.h"
#include "sl_worker.h"

#define SLUICED_IP DP_IP(10, 0, 0, 1)
#define SLUICED_PORT 7700
#define CLIENT_IP DP_IP(10, 0, 1, 5)
#define CLIENT_PORT 40000
#define CLIENT2_IP DP_IP(10, 0, 1, 6)
#define CLIENT2_PORT 40001
#define S1_PORT 8001
#define S2_PORT 8002
#define S1_IP(i) DP_IP(10, 0, 2, 1 + (i))
#define S2_IP(i) DP_IP(10, 0, 3, 1 + (i))
#define WINDOW 8
/* config_yaml's settings, before its pipelines: (CONFIG_HEAD_YAML
 * "pipelines: ..." is config_yaml with other stages). */
#define CONFIG_HEAD_YAML                                                       \
	"liveness: {probe_ms: 0}\n"                                            \
	"sluiced:\n"                                                           \
	"  address: 10.0.0.1\n"                                                \
	"  port: 7700\n"                                                       \
	"flows:\n"                                                             \
	"  size: 1024\n"                                                       \
	"  idle_timeout_ms: 1000\n"                                            \
	"  reorder_window: 8\n"                                                \
	"clients:\n"                                                           \
	"  - 10.0.1.0/24\n"
#define PIPELINE_YAML                                                          \
	"pipelines:\n"                                                         \
	"  - name: p1\n"                                                       \
	"    id: 1\n"                                                          \
	"    stages:\n"                                                        \
	"      - name: draft\n"                                                \
	"        instances:\n"                                                 \
	"          - 10.0.2.1:8001\n"                                          \
	"          - 10.0.2.2:8001\n"                                          \
	"      - name: verify\n"                                               \
	"        aggregation: 1\n"                                             \
	"        instances:\n"                                                 \
	"          - 10.0.3.1:8002\n"                                          \
	"          - 10.0.3.2:8002\n"

/* A sent frame, decoded. */
struct sent {
	struct sl_frame fr;
	struct sl_frag_hdr h;
	const uint8_t *frame;
	const uint8_t *dgram;
	size_t len;
};

extern const char config_yaml[];
extern const char small_table_yaml[];
extern const char tenants_yaml[];
extern struct dp_test_port port;
extern struct rte_ether_addr our_mac;
extern struct sl_config *cfg;
extern struct sl_dp *dp;
extern uint64_t t0;

struct rte_ether_addr mac_of(uint32_t ip);
void learn(uint32_t ip);
void dp_open(const char *yaml, bool learn_all);
void dp_close(void);
void expect_drops(int reason, ...);
uint64_t rid(uint64_t req);
struct dp_frag frag(uint32_t src_ip, uint16_t src_port, uint16_t stage,
		    uint64_t req, uint64_t sub, uint32_t seq, uint8_t flags);
struct rte_mbuf *client(uint64_t req, uint32_t seq, uint8_t flags);
struct rte_mbuf *from_s1(int inst, uint64_t req, uint64_t sub, uint32_t seq,
			 uint8_t flags);
struct rte_mbuf *from_s2(int inst, uint64_t req, uint64_t sub, uint32_t seq,
			 uint8_t flags);
struct rte_mbuf *with_tenant(struct dp_frag f, uint16_t tenant);
unsigned int drain(struct rte_mbuf **out, unsigned int max);
unsigned int process(struct rte_mbuf **in, uint16_t n, struct rte_mbuf **out,
		     unsigned int max);
unsigned int process1(struct rte_mbuf *m, struct rte_mbuf **out,
		      unsigned int max);
uint16_t to_order(struct rte_mbuf **pkts, uint16_t n);
bool decode(struct rte_mbuf *m, struct sent *s);
int take_client_abort(struct rte_mbuf **out, unsigned int n, uint64_t req,
		      uint8_t reason);
uint32_t seq_of(struct rte_mbuf *m);
void put16(uint8_t *p, uint16_t v);
void put32(uint8_t *p, uint32_t v);
size_t expected_frame(const struct dp_frag *f, uint32_t dst_ip,
		      uint16_t dst_port, uint16_t stage, uint8_t *out);
void assert_frame(struct rte_mbuf *m, const uint8_t *want, size_t len);
uint16_t stage2_instance_of(uint64_t req);
struct rte_mbuf *arp_frame(uint16_t op, uint32_t sip, uint32_t tip,
			   bool broadcast);
void expected_arp_request(uint32_t for_ip, uint8_t *b);
struct sl_flow *client_flow(uint64_t req);
struct sl_route_pin *pin_of(struct sl_flow *f, unsigned int slot);
/* The suite's own ring port (dp_test_main's hooks). */
int stage_port(void);
void stage_port_flush(void);

#endif /* STAGE_FIXTURE_H */
