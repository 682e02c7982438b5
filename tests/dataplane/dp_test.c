/* SPDX-License-Identifier: MIT */
/*
 * dp_test.c - shared fixtures of the dataplane CUnit suites (dp_test.h).
 */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <CUnit/Basic.h>
#include <rte_arp.h>
#include <rte_byteorder.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>

#include "dp_test.h"
#include "sl_dp.h"
#include "sl_frag.h"
#include "sl_path.h"
#include "sl_port.h"
#include "sl_rtx.h"
#include "sl_stream.h"

static struct rte_mempool *test_pool;
static unsigned int test_in_use_at_begin;

static bool
eal_error_is_environmental(int err)
{
	switch (err) {
	case EACCES:
	case EPERM:
	case ENOMEM:
	case ENOTSUP:
	case ENODEV:
	case ENOSPC:
		return true;
	default:
		return false;
	}
}

/* The first CPU this process may run on: EAL gets exactly one lcore. */
static int
first_allowed_cpu(void)
{
	cpu_set_t set;

	if (sched_getaffinity(0, sizeof(set), &set) != 0)
		return 0;
	for (int c = 0; c < CPU_SETSIZE; c++)
		if (CPU_ISSET(c, &set))
			return c;
	return 0;
}

void
dp_test_eal_init(const char *prog)
{
	char prefix[64], lcore[16];
	char *argv[] = {
		(char *)prog,
		"--no-huge",
		"-m",
		"256",
		"--no-pci",
		"--no-telemetry",
		"--log-level=warning",
		"--file-prefix",
		prefix,
		"-l",
		lcore,
	};
	int argc = (int)RTE_DIM(argv);
	const char *base = strrchr(prog, '/');
	int rc;

	snprintf(prefix, sizeof(prefix), "%s-%ld", base ? base + 1 : prog,
		 (long)getpid());
	snprintf(lcore, sizeof(lcore), "%d", first_allowed_cpu());
	rc = rte_eal_init(argc, argv);
	if (rc < 0) {
		int err = rte_errno;

		fprintf(stderr, "%s: EAL init failed: %s (errno %d)\n", prog,
			rte_strerror(err), err);
		if (eal_error_is_environmental(err)) {
			fprintf(stderr,
				"%s: SKIP: this machine cannot run EAL "
				"with --no-huge -m 256\n",
				prog);
			exit(77);
		}
		exit(1);
	}
	rc = sl_pkt_meta_register();
	if (rc != 0) {
		fprintf(stderr, "%s: sl_pkt_meta_register: %s\n", prog,
			rte_strerror(-rc));
		exit(1);
	}
	test_pool = sl_pool_create("dp_test_pool", DP_TEST_POOL_MBUFS,
				   (int)rte_socket_id());
	if (test_pool == NULL) {
		fprintf(stderr, "%s: cannot create mempool: %s\n", prog,
			rte_strerror(rte_errno));
		exit(1);
	}
}

void
dp_test_eal_fini(void)
{
	uint16_t port;

	RTE_ETH_FOREACH_DEV(port)
	{
		rte_eth_dev_stop(port);
		rte_eth_dev_close(port);
	}
	rte_mempool_free(test_pool);
	test_pool = NULL;
	sl_eal_cleanup(); /* also removes /var/run/dpdk/<prefix> */
}

struct rte_mempool *
dp_test_pool(void)
{
	return test_pool;
}

void
dp_test_begin(void)
{
	test_in_use_at_begin = rte_mempool_in_use_count(test_pool);
}

void
dp_test_end(void)
{
	unsigned int now = rte_mempool_in_use_count(test_pool);

	if (now != test_in_use_at_begin)
		fprintf(stderr, "\n  mbufs in use: %u at the start, %u now\n",
			test_in_use_at_begin, now);
	CU_ASSERT_EQUAL(now, test_in_use_at_begin);
}

bool
dp_test_ipv4_cksum_ok(const uint8_t *ip, size_t len)
{
	return sl_wire_ipv4_sum(ip, len) == 0xffff;
}

size_t
dp_test_build(const struct dp_frag *f, uint8_t *buf, size_t cap,
	      size_t *dgram_off)
{
	size_t ihl = SL_IPV4_HDR_LEN + 4u * f->ip_options;
	size_t off = SL_ETHER_HDR_LEN + ihl + SL_UDP_HDR_LEN;
	struct sl_frag_hdr h;
	struct sl_wire_builder b;
	struct sl_frame_ends e;
	size_t dlen;

	CU_ASSERT_FATAL(f->ip_options <= 10);
	CU_ASSERT_FATAL(cap > off + f->trailer + SL_WIRE_HDR_LEN);
	memset(&h, 0, sizeof(h));
	h.version = SL_WIRE_VERSION;
	h.flags = f->flags;
	h.abort_reason = f->abort_reason;
	h.depth = f->depth ? f->depth : 1;
	h.stage = f->stage;
	h.tenant = f->tenant;
	h.pipeline = f->pipeline;
	h.seq = f->seq;
	h.send_ns = f->send_ns;
	h.child_count = f->child_count;
	memcpy(h.ancestry, f->ancestry, sizeof(h.ancestry));
	CU_ASSERT_FATAL(sl_wire_builder_init(&b, buf + off,
					     cap - off - f->trailer, &h) == 0);
	CU_ASSERT_FATAL(f->token_texts != NULL ||
			f->n_tokens <= DP_TEST_TOKENS_MAX);
	for (unsigned int i = 0; i < f->n_tokens; i++) {
		const char *text =
			f->token_texts ? f->token_texts[i] : f->tokens[i];
		size_t len = f->token_lens ? f->token_lens[i] : strlen(text);
		uint32_t id = f->token_ids ? f->token_ids[i] : f->token_id0 + i;

		CU_ASSERT_FATAL(sl_wire_builder_add(&b, id, text, len) == 0);
	}
	dlen = sl_wire_builder_finish(&b);

	e = (struct sl_frame_ends){
		.src_ip = f->src_ip,
		.dst_ip = f->dst_ip,
		.src_port = f->src_port,
		.dst_port = f->dst_port,
	};
	memcpy(e.dst_mac, &f->dst_mac, 6);
	memcpy(e.src_mac, &f->src_mac, 6);
	CU_ASSERT_FATAL(sl_wire_frame_write(buf, &e, (uint16_t)dlen,
					    f->ip_options, 0x1234) == off);
	memset(buf + off + dlen, 0xee, f->trailer);
	if (dgram_off != NULL)
		*dgram_off = off;
	return off + dlen + f->trailer;
}

struct rte_mbuf *
dp_test_mbuf(const uint8_t *frame, size_t len)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(test_pool);
	char *p;

	if (m == NULL)
		return NULL;
	p = rte_pktmbuf_append(m, (uint16_t)len);
	if (p == NULL) {
		rte_pktmbuf_free(m);
		return NULL;
	}
	memcpy(p, frame, len);
	return m;
}

struct rte_mbuf *
dp_test_frame(const struct dp_frag *f)
{
	uint8_t buf[DP_TEST_FRAME_MAX];
	size_t len = dp_test_build(f, buf, sizeof(buf), NULL);
	struct rte_mbuf *m = dp_test_mbuf(buf, len);

	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	return m;
}

int
dp_test_port_create(struct dp_test_port *p, const char *name)
{
	char rname[RTE_RING_NAMESIZE];
	struct rte_ether_addr want = {{0x02, 0, 0, 0, 0, 0x01}};
	const char *what;
	int rc;

	memset(p, 0, sizeof(*p));
	snprintf(rname, sizeof(rname), "%s_rx", name);
	p->rx = rte_ring_create(rname, 1024, (int)rte_socket_id(),
				RING_F_SP_ENQ | RING_F_SC_DEQ);
	snprintf(rname, sizeof(rname), "%s_tx", name);
	p->tx = rte_ring_create(rname, 1024, (int)rte_socket_id(),
				RING_F_SP_ENQ | RING_F_SC_DEQ);
	if (p->rx == NULL || p->tx == NULL)
		return -rte_errno;
	rc = rte_eth_from_rings(name, &p->rx, 1, &p->tx, 1, rte_socket_id());
	if (rc < 0)
		return -rte_errno;
	p->port_id = (uint16_t)rc;
	rc = sl_port_start(p->port_id, test_pool, &what);
	if (rc != 0) {
		fprintf(stderr, "ring port %s: %s: %s\n", name, what,
			rte_strerror(-rc));
		return rc;
	}
	/* Where the PMD refuses, the tests use whatever MAC it reports. */
	(void)rte_eth_dev_default_mac_addr_set(p->port_id, &want);
	rc = rte_eth_macaddr_get(p->port_id, &p->mac);
	return rc;
}

unsigned int
dp_test_port_drain(struct dp_test_port *p, struct rte_mbuf **out,
		   unsigned int max)
{
	return rte_ring_dequeue_burst(p->tx, (void **)out, max, NULL);
}

void
dp_test_port_flush(struct dp_test_port *p)
{
	struct rte_mbuf *m[64];
	unsigned int n;

	while ((n = rte_ring_dequeue_burst(p->tx, (void **)m, 64, NULL)) != 0)
		dp_test_free_all(m, n);
	while ((n = rte_ring_dequeue_burst(p->rx, (void **)m, 64, NULL)) != 0)
		dp_test_free_all(m, n);
}

void
dp_test_free_all(struct rte_mbuf **pkts, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++)
		rte_pktmbuf_free(pkts[i]);
}

struct sl_config *
dp_test_config(const char *yaml)
{
	char err[256];
	struct sl_config *cfg = sl_config_parse(yaml, strlen(yaml), "test.yaml",
						err, sizeof(err));

	if (cfg == NULL)
		fprintf(stderr, "config: %s\n", err);
	return cfg;
}

int
dp_test_run(void)
{
	unsigned int failures, tests_failed, asserts;
	CU_ErrorCode err;

	CU_basic_set_mode(CU_BRM_VERBOSE);
	err = CU_basic_run_tests();
	failures = CU_get_number_of_failures();
	tests_failed = CU_get_number_of_tests_failed();
	asserts = CU_get_number_of_asserts();
	printf("\n%u asserts, %u failed; %u tests failed\n", asserts, failures,
	       tests_failed);
	CU_cleanup_registry();
	return err == CUE_SUCCESS && failures == 0 && tests_failed == 0 ? 0 : 1;
}

int
dp_test_main(const char *prog, const struct dp_test_case *cases,
	     int (*setup)(void), void (*teardown)(void))
{
	CU_pSuite s = NULL;
	int rc;

	dp_test_eal_init(prog);
	if (setup != NULL && setup() != 0) {
		fprintf(stderr, "%s: cannot create the ring port\n", prog);
		dp_test_eal_fini();
		return 1;
	}
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	for (const struct dp_test_case *c = cases; c->suite || c->fn; c++) {
		if (c->fn == NULL)
			s = CU_add_suite(c->suite, NULL, NULL);
		else if (s == NULL || CU_add_test(s, c->name, c->fn) == NULL)
			s = NULL;
		if (s == NULL) {
			fprintf(stderr, "%s: cannot register %s\n", prog,
				c->suite ? c->suite : c->name);
			CU_cleanup_registry();
			dp_test_eal_fini();
			return 1;
		}
	}
	rc = dp_test_run();
	if (teardown != NULL)
		teardown();
	dp_test_eal_fini();
	return rc;
}

/* Distinct instance addresses of @cfg, @ips (SL_MAX_INSTANCE_UIDS). */
static unsigned int
instance_ips(const struct sl_config *cfg, uint32_t *ips)
{
	unsigned int n = 0;

	for (uint16_t p = 0; p < cfg->n_pipelines; p++)
		for (uint16_t s = 0; s < cfg->pipelines[p].n_stages; s++) {
			const struct sl_stage_cfg *st =
				&cfg->pipelines[p].stages[s];

			for (uint16_t i = 0; i < st->n_instances; i++) {
				uint32_t ip = st->instances[i].ep.ip;
				unsigned int k = 0;

				while (k < n && ips[k] != ip)
					k++;
				if (k == n && n < SL_MAX_INSTANCE_UIDS)
					ips[n++] = ip;
			}
		}
	return n;
}

unsigned int
dp_test_take_start_arps(struct sl_dp *dp)
{
	static uint32_t ips[SL_MAX_INSTANCE_UIDS];
	static bool asked[SL_MAX_INSTANCE_UIDS];
	unsigned int n_ips = instance_ips(dp->cfg, ips), n = dp->n_ctrl;
	unsigned int bad = 0;

	memset(asked, 0, sizeof(asked));
	for (unsigned int i = 0; i < n; i++) {
		struct rte_mbuf *m = dp->ctrl[i];
		const struct rte_ether_hdr *eth =
			rte_pktmbuf_mtod(m, const struct rte_ether_hdr *);
		const struct rte_arp_hdr *arp =
			(const struct rte_arp_hdr *)(eth + 1);
		unsigned int k = 0;
		uint32_t tip;

		if (rte_pktmbuf_data_len(m) != sizeof(*eth) + sizeof(*arp) ||
		    eth->ether_type != RTE_BE16(RTE_ETHER_TYPE_ARP) ||
		    arp->arp_opcode != RTE_BE16(RTE_ARP_OP_REQUEST) ||
		    rte_be_to_cpu_32(arp->arp_data.arp_sip) !=
			    dp->cfg->listen.ip) {
			bad++;
		} else {
			tip = rte_be_to_cpu_32(arp->arp_data.arp_tip);
			while (k < n_ips && ips[k] != tip)
				k++;
			if (k == n_ips || asked[k])
				bad++;
			else
				asked[k] = true;
		}
		rte_pktmbuf_free(m);
	}
	dp->n_ctrl = 0;
	if (bad != 0 || n != RTE_MIN(n_ips, dp->queue_cap))
		printf("\n  start: %u ARP requests (%u wrong) for %u "
		       "instance addresses",
		       n, bad, n_ips);
	CU_ASSERT_EQUAL(bad, 0);
	CU_ASSERT_EQUAL(n, RTE_MIN(n_ips, dp->queue_cap));
	return n;
}

unsigned int
dp_test_instances_reachable(const struct sl_dp *dp, unsigned int *total)
{
	const struct sl_config *cfg = dp->cfg;
	unsigned int n = 0, all = 0;

	for (uint16_t p = 0; p < cfg->n_pipelines; p++)
		for (uint16_t s = 0; s < cfg->pipelines[p].n_stages; s++) {
			const struct sl_stage_cfg *st =
				&cfg->pipelines[p].stages[s];

			for (uint16_t i = 0; i < st->n_instances; i++) {
				all++;
				n += dp->inst[st->instances[i].uid].reachable;
			}
		}
	if (total != NULL)
		*total = all;
	return n;
}

uint64_t
dp_test_req_to_sluiced(struct sl_dp *dp, uint32_t pipeline_id, uint32_t ip,
		       uint16_t port, uint16_t tenant, uint64_t req)
{
	struct sl_flow_key k;
	uint32_t idx;

	memset(&k, 0, sizeof(k));
	k.pipeline = rte_cpu_to_be_32(pipeline_id);
	k.depth = 1;
	k.src_ip = ip;
	k.src_port = port;
	k.tenant = rte_cpu_to_be_16(tenant);
	k.ancestry[0] = rte_cpu_to_be_64(req);
	idx = sl_flow_lookup(dp->flows, &k);
	if (idx == SL_FLOW_NONE)
		return req;
	return sl_dp_request_id(dp, idx, sl_flow_at(dp->flows, idx)->gen);
}

uint64_t
dp_test_req_from_sluiced(struct sl_dp *dp, uint64_t id)
{
	uint32_t o = sl_dp_request_origin(dp, rte_cpu_to_be_64(id));

	if (o == SL_FLOW_NONE)
		return id;
	return rte_be_to_cpu_64(sl_flow_at(dp->flows, o)->key.ancestry[0]);
}

bool dp_test_no_acks;
unsigned int dp_test_ctl_nacks, dp_test_ctl_acks, dp_test_ctl_probes;
struct sl_frag_hdr dp_test_last_nack;

void
dp_test_arp(uint8_t b[42], const struct rte_ether_addr *dst,
	    const struct rte_ether_addr *sha, uint16_t op, uint32_t sip,
	    const struct rte_ether_addr *tha, uint32_t tip)
{
	struct rte_ether_hdr *eth = (struct rte_ether_hdr *)b;
	struct rte_arp_hdr *arp = (struct rte_arp_hdr *)(eth + 1);

	memset(b, 0, 42);
	if (dst != NULL)
		eth->dst_addr = *dst;
	else
		memset(&eth->dst_addr, 0xff, 6);
	eth->src_addr = *sha;
	eth->ether_type = RTE_BE16(RTE_ETHER_TYPE_ARP);
	arp->arp_hardware = RTE_BE16(RTE_ARP_HRD_ETHER);
	arp->arp_protocol = RTE_BE16(RTE_ETHER_TYPE_IPV4);
	arp->arp_hlen = 6;
	arp->arp_plen = 4;
	arp->arp_opcode = rte_cpu_to_be_16(op);
	arp->arp_data.arp_sha = *sha;
	arp->arp_data.arp_sip = rte_cpu_to_be_32(sip);
	if (tha != NULL)
		arp->arp_data.arp_tha = *tha;
	arp->arp_data.arp_tip = rte_cpu_to_be_32(tip);
}

void
dp_test_expect_drops(const struct sl_dp *dp, int reason, va_list ap)
{
	uint64_t want[SL_DROP_MAX] = {0};

	while (reason >= 0) {
		want[reason] = va_arg(ap, unsigned int);
		reason = va_arg(ap, int);
	}
	for (int r = 1; r < SL_DROP_MAX; r++) {
		if (dp->cnt.drops[r] != want[r])
			printf("\n  drops[%s] = %lu, want %lu", sl_drop_name(r),
			       (unsigned long)dp->cnt.drops[r],
			       (unsigned long)want[r]);
		CU_ASSERT_EQUAL(dp->cnt.drops[r], want[r]);
	}
}

unsigned int
dp_test_receivers(struct sl_dp *dp, struct rte_mbuf **out, unsigned int n)
{
	unsigned int kept = 0;

	for (unsigned int i = 0; i < n; i++) {
		const uint8_t *p = rte_pktmbuf_mtod(out[i], const uint8_t *);
		struct sl_frame fr;
		struct sl_frag_hdr h;

		if (sl_wire_parse_frame(p, rte_pktmbuf_data_len(out[i]), &fr) !=
			    SL_WIRE_OK ||
		    sl_wire_parse(p + fr.hdr_off, fr.dgram_len, &h) !=
			    SL_WIRE_OK) {
			out[kept++] = out[i]; /* ARP, or for the test to see */
			continue;
		}
		if (h.flags & SL_FRAG_F_CONTROL) {
			dp_test_ctl_nacks += !!(h.flags & SL_FRAG_F_NACK);
			dp_test_ctl_acks += !!(h.flags & SL_FRAG_F_ACK);
			dp_test_ctl_probes += !!(h.flags & SL_FRAG_F_PROBE);
			if (h.flags & SL_FRAG_F_NACK)
				dp_test_last_nack = h;
			rte_pktmbuf_free(out[i]);
			continue;
		}
		/* The receiver's ACK, handed to sluiced's loss repair as if
		 * it had come in (the wire path of ACKs has tests of its
		 * own; here it must not disturb a suite's counters). */
		if ((h.flags & (SL_FRAG_F_END | SL_FRAG_F_ABORT)) &&
		    !dp_test_no_acks) {
			struct sl_frag_hdr ack = h;

			ack.flags = SL_FRAG_F_ACK;
			ack.abort_reason = 0;
			ack.child_count = 0;
			sl_rtx_input(dp, &ack, fr.dst_ip, fr.dst_port);
			dp->cnt.rtx.acks_rx--;
		}
		out[kept++] = out[i];
	}
	return kept;
}
