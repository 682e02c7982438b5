/* SPDX-License-Identifier: MIT */
/*
 * test_extbuf.c - mbuf pools whose data buffers live in external memory
 * (sl_pool_create_extmem, sl_port.[ch]): the receive path a GPU backend
 * hands device memory or pinned host memory to, run here on aligned host
 * memory.
 *
 * The layout: every mbuf's buffer inside the area, page by page, none
 * crossing a page, none twice, none in the mbuf's own object, with the
 * IOVA the area was registered with. The registration: visible through
 * rte_mem_virt2memseg_list while the pool lives, gone after
 * sl_pool_free_extmem. Receiving: a net_ring port started by
 * sl_port_start on the pool (its tx ring is its rx ring: a frame sent is
 * received) carries frames byte for byte in the area's buffers; net_ring
 * only moves mbufs, so the frames are built in mbufs of the pool, as a
 * NIC would have written them. net_null (copy=1) does take its receive
 * mbufs from the pool and writes into them: its zeros land over a
 * pattern in the area, and it receives exactly as many frames as the pool
 * holds. Refusals, each with its errno and nothing left registered (an
 * area that overlaps one registered, or EAL's own memory, too); a
 * failure late in the creation undoing the steps before it; no freeing
 * while an mbuf is out; clones sharing a pinned buffer.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <CUnit/Basic.h>
#include <rte_dev.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_memory.h>

#include "dp_test.h"
#include "sl_port.h"

#define PAGE_4K 4096u
#define PAGE_64K 65536u
#define NULL_FRAME 200u
#define FILL 0xa5

/* The IOVA the area's byte @off was registered with and its mbufs carry:
 * the VA itself where EAL runs IOVA as VA (the host provider knows no
 * other), none otherwise. */
static rte_iova_t
expected_iova(const struct sl_extmem_region *mem, size_t off)
{
	if (rte_eal_iova_mode() != RTE_IOVA_VA)
		return RTE_BAD_IOVA;
	return (rte_iova_t)(uintptr_t)mem->va + off;
}

/* Whether EAL knows @mem as registered external memory, and how. */
static void
expect_registered(const struct sl_extmem_region *mem, bool yes)
{
	const char *last = (const char *)mem->va + mem->len - 1;
	struct rte_memseg_list *msl = rte_mem_virt2memseg_list(mem->va);
	const struct rte_memseg *ms;

	if (!yes) {
		CU_ASSERT_PTR_NULL(msl);
		CU_ASSERT_PTR_NULL(rte_mem_virt2memseg_list(last));
		return;
	}
	CU_ASSERT_PTR_NOT_NULL_FATAL(msl);
	CU_ASSERT_EQUAL(msl->external, 1);
	CU_ASSERT_PTR_EQUAL(msl->base_va, mem->va);
	CU_ASSERT_EQUAL(msl->len, mem->len);
	CU_ASSERT_EQUAL(msl->page_sz, mem->page_sz);
	CU_ASSERT_PTR_EQUAL(rte_mem_virt2memseg_list(last), msl);
	/* The last page's segment carries its own IOVA. */
	ms = rte_mem_virt2memseg(last, msl);
	CU_ASSERT_PTR_NOT_NULL_FATAL(ms);
	CU_ASSERT_PTR_EQUAL(ms->addr,
			    (const char *)mem->va + mem->len - mem->page_sz);
	CU_ASSERT_EQUAL(ms->len, mem->page_sz);
	CU_ASSERT_EQUAL(ms->iova, expected_iova(mem, mem->len - mem->page_sz));
}

/*
 * CU-assert that @m's data buffer is one of @mem's: pinned external,
 * SL_EXTMEM_DATA_ROOM bytes at a slot of a page (SL_EXTMEM_ELT_SIZE
 * apart from the page's start, not crossing it), not inside the mbuf's
 * own object, with its IOVA. Return its slot number (page * slots per
 * page + slot), or -1 when it is not one.
 */
static long
area_slot(const struct rte_mbuf *m, const struct sl_extmem_region *mem)
{
	const char *va = mem->va, *buf = m->buf_addr;
	const char *obj = (const char *)m;
	size_t per_page = mem->page_sz / SL_EXTMEM_ELT_SIZE;
	size_t off, in_page;
	bool ok;

	if (buf < va || buf >= va + mem->len) {
		CU_FAIL("buffer outside the area");
		return -1;
	}
	off = (size_t)(buf - va);
	in_page = off % mem->page_sz;
	ok = (m->ol_flags & RTE_MBUF_F_EXTERNAL) != 0 &&
	     RTE_MBUF_HAS_PINNED_EXTBUF(m) &&
	     m->buf_len == SL_EXTMEM_DATA_ROOM &&
	     in_page % SL_EXTMEM_ELT_SIZE == 0 &&
	     in_page + SL_EXTMEM_ELT_SIZE <= mem->page_sz &&
	     (buf + m->buf_len <= obj || buf >= obj + m->pool->elt_size) &&
	     m->buf_iova == expected_iova(mem, off);
	CU_ASSERT(ok);
	if (!ok)
		return -1;
	return (long)((off / mem->page_sz) * per_page +
		      in_page / SL_EXTMEM_ELT_SIZE);
}

/*
 * Take every mbuf of @pool (@n of them): each has its own buffer, the
 * slots are exactly 0..n-1 (the first n of the area), and one more cannot
 * be had. Give them back.
 */
static void
take_all(struct rte_mempool *pool, unsigned int n,
	 const struct sl_extmem_region *mem)
{
	struct rte_mbuf **m = calloc(n, sizeof(*m));
	bool *seen = calloc(n, sizeof(*seen));
	unsigned int distinct = 0;

	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	CU_ASSERT_PTR_NOT_NULL_FATAL(seen);
	CU_ASSERT_EQUAL_FATAL(rte_pktmbuf_alloc_bulk(pool, m, n), 0);
	CU_ASSERT_PTR_NULL(rte_pktmbuf_alloc(pool));
	CU_ASSERT_EQUAL(rte_mempool_in_use_count(pool), n);
	for (unsigned int i = 0; i < n; i++) {
		long s = area_slot(m[i], mem);

		CU_ASSERT_EQUAL(m[i]->data_off, RTE_PKTMBUF_HEADROOM);
		if (s >= 0 && (unsigned long)s < n && !seen[s]) {
			seen[s] = true;
			distinct++;
		}
	}
	CU_ASSERT_EQUAL(distinct, n);
	rte_pktmbuf_free_bulk(m, n);
	CU_ASSERT_EQUAL(rte_mempool_in_use_count(pool), 0);
	free(seen);
	free(m);
}

static void
test_sizes(void)
{
	struct sl_extmem_region mem;
	long sys = sysconf(_SC_PAGESIZE);

	/* 2,176-byte buffers: one to a 4 KiB page, 30 to 64 KiB. */
	CU_ASSERT_EQUAL(SL_EXTMEM_ELT_SIZE, 2176);
	CU_ASSERT_EQUAL(sl_extmem_len(1, PAGE_4K), PAGE_4K);
	CU_ASSERT_EQUAL(sl_extmem_len(3, PAGE_4K), 3 * PAGE_4K);
	CU_ASSERT_EQUAL(sl_extmem_len(30, PAGE_64K), PAGE_64K);
	CU_ASSERT_EQUAL(sl_extmem_len(31, PAGE_64K), 2 * PAGE_64K);
	CU_ASSERT_EQUAL(sl_extmem_len(963, 2u << 20), 2u << 20);
	CU_ASSERT_EQUAL(sl_extmem_len(964, 2u << 20), 4u << 20);
	/* What no area can hold. */
	CU_ASSERT_EQUAL(sl_extmem_len(0, PAGE_4K), 0);
	CU_ASSERT_EQUAL(sl_extmem_len(1, 2048), 0);
	CU_ASSERT_EQUAL(sl_extmem_len(1, 3 * 4096), 0);
	CU_ASSERT_EQUAL(sl_extmem_len(1, 0), 0);
	CU_ASSERT_EQUAL(sl_extmem_len(UINT32_MAX, PAGE_4K),
			(size_t)UINT32_MAX * PAGE_4K);

	/* The host provider. */
	CU_ASSERT_EQUAL_FATAL(
		sl_extmem_host_alloc(&mem, 3 * PAGE_64K, PAGE_64K), 0);
	CU_ASSERT_PTR_NOT_NULL(mem.va);
	CU_ASSERT_EQUAL((uintptr_t)mem.va % PAGE_64K, 0);
	CU_ASSERT_EQUAL(mem.len, 3 * PAGE_64K);
	CU_ASSERT_EQUAL(mem.page_sz, PAGE_64K);
	CU_ASSERT_EQUAL(mem.iova, RTE_BAD_IOVA);
	sl_extmem_host_free(&mem);
	CU_ASSERT_PTR_NULL(mem.va);
	CU_ASSERT_EQUAL(mem.len, 0);
	sl_extmem_host_free(&mem); /* a zeroed region: nothing */
	CU_ASSERT_EQUAL_FATAL(sl_extmem_host_alloc(&mem, 2 * (size_t)sys, 0),
			      0);
	CU_ASSERT_EQUAL(mem.page_sz, (size_t)sys);
	CU_ASSERT_EQUAL((uintptr_t)mem.va % (uintptr_t)sys, 0);
	sl_extmem_host_free(&mem);
	CU_ASSERT_EQUAL(sl_extmem_host_alloc(&mem, 0, PAGE_4K), -EINVAL);
	CU_ASSERT_EQUAL(sl_extmem_host_alloc(&mem, PAGE_4K + 1, PAGE_4K),
			-EINVAL);
	CU_ASSERT_EQUAL(sl_extmem_host_alloc(&mem, 3 * 3000, 3000), -EINVAL);
	CU_ASSERT_PTR_NULL(mem.va);
}

/* The whole pool's layout, on 4 KiB and on 64 KiB pages; registered while
 * it lives, not after; clones share the pinned buffer. */
static void
layout(size_t page_sz, unsigned int n, size_t pages)
{
	struct sl_extmem_region mem;
	struct rte_mempool *pool;
	struct rte_mbuf *m, *c;

	CU_ASSERT_EQUAL(sl_extmem_len(n, page_sz), pages * page_sz);
	CU_ASSERT_EQUAL_FATAL(
		sl_extmem_host_alloc(&mem, pages * page_sz, page_sz), 0);
	expect_registered(&mem, false);
	pool = sl_pool_create_extmem("xb_layout", n, (int)rte_socket_id(),
				     SL_EXTMEM_NO_PORT, &mem);
	CU_ASSERT_PTR_NOT_NULL_FATAL(pool);
	CU_ASSERT_EQUAL(pool->size, n);
	CU_ASSERT_EQUAL(rte_pktmbuf_data_room_size(pool), SL_EXTMEM_DATA_ROOM);
	CU_ASSERT_EQUAL(rte_pktmbuf_priv_flags(pool) &
				RTE_PKTMBUF_POOL_F_PINNED_EXT_BUF,
			RTE_PKTMBUF_POOL_F_PINNED_EXT_BUF);
	expect_registered(&mem, true);
	take_all(pool, n, &mem);

	/* A clone (its header from another pool) holds the buffer: the
	 * mbuf returns only when both are freed. */
	m = rte_pktmbuf_alloc(pool);
	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	c = rte_pktmbuf_clone(m, dp_test_pool());
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_PTR_EQUAL(c->buf_addr, m->buf_addr);
	rte_pktmbuf_free(m);
	CU_ASSERT_EQUAL(rte_mempool_in_use_count(pool), 1);
	rte_pktmbuf_free(c);
	CU_ASSERT_EQUAL(rte_mempool_in_use_count(pool), 0);

	/* Not while an mbuf is out: nothing is undone. */
	m = rte_pktmbuf_alloc(pool);
	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	CU_ASSERT_EQUAL(sl_pool_free_extmem(pool), -EBUSY);
	expect_registered(&mem, true);
	CU_ASSERT_PTR_EQUAL(rte_mempool_lookup("xb_layout"), pool);
	rte_pktmbuf_free(m);

	CU_ASSERT_EQUAL(sl_pool_free_extmem(pool), 0);
	CU_ASSERT_PTR_NULL(rte_mempool_lookup("xb_layout"));
	expect_registered(&mem, false);
	sl_extmem_host_free(&mem);
}

static void
test_layout(void)
{
	dp_test_begin();
	layout(PAGE_4K, 64, 64);
	/* 30 a page: 61 in 3 pages, the last with one. */
	layout(PAGE_64K, 61, 3);
	/* An area larger than needed: registered whole. */
	layout(PAGE_4K, 5, 5);
	dp_test_end();
}

/* Frame @k: Ethernet to 02:00:00:00:00:01, ethertype 0x88b5 (local
 * experimental), then bytes that depend on @k and their offset. */
static uint16_t
frame_len(unsigned int k)
{
	return (uint16_t)(60 + (k * 97) % 1455);
}

static uint8_t
frame_byte(unsigned int k, unsigned int i)
{
	static const uint8_t hdr[14] = {2, 0, 0, 0, 0, 1,    2,
					0, 0, 0, 0, 2, 0x88, 0xb5};

	return i < sizeof(hdr) ? hdr[i] : (uint8_t)(k * 31 + i * 7 + 1);
}

static void
test_ring(void)
{
	enum { N = 511, FRAMES = 40 };
	struct rte_mbuf *tx[FRAMES], *rx[FRAMES + 1];
	struct sl_extmem_region mem;
	struct rte_mempool *pool;
	struct rte_ring *r;
	unsigned int got = 0, ok = 0;
	const char *what = "";
	int port;

	dp_test_begin();
	CU_ASSERT_EQUAL_FATAL(
		sl_extmem_host_alloc(&mem, sl_extmem_len(N, PAGE_4K), PAGE_4K),
		0);
	/* One ring: what the port sends, it receives. */
	r = rte_ring_create("xb_loop", 1024, (int)rte_socket_id(),
			    RING_F_SP_ENQ | RING_F_SC_DEQ);
	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	port = rte_eth_from_rings("xb_loop", &r, 1, &r, 1, rte_socket_id());
	CU_ASSERT_FATAL(port >= 0);
	pool = sl_pool_create_extmem("xb_ring", N, (int)rte_socket_id(),
				     (uint16_t)port, &mem);
	CU_ASSERT_PTR_NOT_NULL_FATAL(pool);
	expect_registered(&mem, true);
	CU_ASSERT_EQUAL_FATAL(sl_port_start((uint16_t)port, pool, &what), 0);

	for (unsigned int k = 0; k < FRAMES; k++) {
		uint16_t len = frame_len(k);
		uint8_t *p;

		tx[k] = rte_pktmbuf_alloc(pool);
		CU_ASSERT_PTR_NOT_NULL_FATAL(tx[k]);
		p = (uint8_t *)rte_pktmbuf_append(tx[k], len);
		CU_ASSERT_PTR_NOT_NULL_FATAL(p);
		for (unsigned int i = 0; i < len; i++)
			p[i] = frame_byte(k, i);
	}
	CU_ASSERT_EQUAL_FATAL(rte_eth_tx_burst((uint16_t)port, 0, tx, FRAMES),
			      FRAMES);
	for (int tries = 0; tries < 8 && got < FRAMES; tries++)
		got += rte_eth_rx_burst((uint16_t)port, 0, rx + got,
					FRAMES + 1 - got);
	CU_ASSERT_EQUAL(got, FRAMES);
	CU_ASSERT_EQUAL(rte_eth_rx_burst((uint16_t)port, 0, rx + got, 1), 0);
	for (unsigned int k = 0; k < got; k++) {
		const uint8_t *p = rte_pktmbuf_mtod(rx[k], const uint8_t *);
		bool same = rx[k]->pkt_len == frame_len(k) &&
			    rx[k]->data_len == frame_len(k) &&
			    rx[k]->nb_segs == 1;

		for (unsigned int i = 0; same && i < frame_len(k); i++)
			same = p[i] == frame_byte(k, i);
		ok += same && area_slot(rx[k], &mem) >= 0 &&
		      rx[k]->pool == pool;
	}
	CU_ASSERT_EQUAL(ok, FRAMES);
	CU_ASSERT_EQUAL(rte_mempool_in_use_count(pool), FRAMES);
	rte_pktmbuf_free_bulk(rx, got);
	CU_ASSERT_EQUAL(rte_mempool_in_use_count(pool), 0);

	CU_ASSERT_EQUAL(rte_eth_dev_stop((uint16_t)port), 0);
	CU_ASSERT_EQUAL(rte_eth_dev_close((uint16_t)port), 0);
	CU_ASSERT_EQUAL(sl_pool_free_extmem(pool), 0);
	expect_registered(&mem, false);
	rte_ring_free(r);
	sl_extmem_host_free(&mem);
	dp_test_end();
}

/* net_null (copy=1) takes its receive mbufs from the pool and copies its
 * zeroed frame into each. */
static void
test_null(void)
{
	enum { N = 64, BURST = 32 };
	struct rte_mbuf *rx[N + BURST];
	struct sl_extmem_region mem;
	struct rte_eth_stats st;
	struct rte_mempool *pool;
	const char *what = "";
	unsigned int got = 0, ok = 0;
	uint16_t port;
	int rc;

	dp_test_begin();
	rc = rte_eal_hotplug_add("vdev", "net_null_xb", "copy=1,size=200");
	if (rc != 0) {
		fprintf(stderr, "\n  no net_null PMD (%s): not run\n",
			rte_strerror(-rc));
		CU_FAIL("net_null vdev not created");
		return;
	}
	CU_ASSERT_EQUAL_FATAL(
		rte_eth_dev_get_port_by_name("net_null_xb", &port), 0);
	CU_ASSERT_EQUAL_FATAL(
		sl_extmem_host_alloc(&mem, sl_extmem_len(N, PAGE_4K), PAGE_4K),
		0);
	memset(mem.va, FILL, mem.len);
	pool = sl_pool_create_extmem("xb_null", N, (int)rte_socket_id(), port,
				     &mem);
	CU_ASSERT_PTR_NOT_NULL_FATAL(pool);
	CU_ASSERT_EQUAL_FATAL(sl_port_start(port, pool, &what), 0);

	/* Bursts of 32 while the pool has them: exactly N frames. */
	for (int b = 0; b < 3; b++)
		got += rte_eth_rx_burst(port, 0, rx + got, BURST);
	CU_ASSERT_EQUAL(got, N);
	CU_ASSERT_EQUAL(rte_mempool_in_use_count(pool), N);
	for (unsigned int k = 0; k < got; k++) {
		const uint8_t *buf = rx[k]->buf_addr;
		const uint8_t *p = rte_pktmbuf_mtod(rx[k], const uint8_t *);
		bool same = rx[k]->data_len == NULL_FRAME &&
			    rx[k]->pkt_len == NULL_FRAME && rx[k]->port == port;

		/* The PMD's zeros, between untouched headroom and the
		 * untouched rest of the buffer. */
		for (unsigned int i = 0; same && i < rx[k]->data_off; i++)
			same = buf[i] == FILL;
		for (unsigned int i = 0; same && i < NULL_FRAME; i++)
			same = p[i] == 0;
		same = same && p[NULL_FRAME] == FILL &&
		       buf[rx[k]->buf_len - 1] == FILL;
		ok += same && area_slot(rx[k], &mem) >= 0;
	}
	CU_ASSERT_EQUAL(ok, N);
	CU_ASSERT_EQUAL(rte_eth_stats_get(port, &st), 0);
	CU_ASSERT_EQUAL(st.ipackets, N);
	rte_pktmbuf_free_bulk(rx, got);
	CU_ASSERT_EQUAL(rte_mempool_in_use_count(pool), 0);

	CU_ASSERT_EQUAL(rte_eth_dev_stop(port), 0);
	CU_ASSERT_EQUAL(rte_eth_dev_close(port), 0);
	CU_ASSERT_EQUAL(sl_pool_free_extmem(pool), 0);
	expect_registered(&mem, false);
	CU_ASSERT_EQUAL(rte_eal_hotplug_remove("vdev", "net_null_xb"), 0);
	sl_extmem_host_free(&mem);
	dp_test_end();
}

/* sl_pool_create_extmem refuses with @err and leaves nothing behind. */
static void
refused(const char *name, unsigned int n, uint16_t port,
	const struct sl_extmem_region *mem, int err,
	const struct sl_extmem_region *whole)
{
	rte_errno = 0;
	CU_ASSERT_PTR_NULL(sl_pool_create_extmem(name, n, (int)rte_socket_id(),
						 port, mem));
	CU_ASSERT_EQUAL(rte_errno, err);
	if (rte_errno != err)
		fprintf(stderr, "\n  %s: rte_errno %d, not %d\n",
			name ? name : "(null)", rte_errno, err);
	expect_registered(whole, false);
	if (name != NULL)
		CU_ASSERT_PTR_NULL(rte_mempool_lookup(name));
}

static void
test_refusals(void)
{
	struct sl_extmem_region mem, r;
	struct rte_mempool *pool;
	uint16_t no_port = 0;

	dp_test_begin();
	CU_ASSERT_EQUAL_FATAL(sl_extmem_host_alloc(&mem, 16 * PAGE_4K, PAGE_4K),
			      0);
	while (rte_eth_dev_is_valid_port(no_port))
		no_port++;

	refused(NULL, 8, SL_EXTMEM_NO_PORT, &mem, EINVAL, &mem);
	refused("xb_ref", 8, SL_EXTMEM_NO_PORT, NULL, EINVAL, &mem);
	refused("xb_ref", 0, SL_EXTMEM_NO_PORT, &mem, EINVAL, &mem);
	r = mem;
	r.len = 0; /* zero size */
	refused("xb_ref", 8, SL_EXTMEM_NO_PORT, &r, EINVAL, &mem);
	r = mem;
	r.va = NULL;
	refused("xb_ref", 8, SL_EXTMEM_NO_PORT, &r, EINVAL, &mem);
	r = mem;
	r.len = 8 * PAGE_4K + 100; /* not a multiple of the page */
	refused("xb_ref", 8, SL_EXTMEM_NO_PORT, &r, EINVAL, &mem);
	r = mem;
	r.va = (char *)mem.va + 64; /* not aligned to the page */
	r.len = 8 * PAGE_4K;
	refused("xb_ref", 8, SL_EXTMEM_NO_PORT, &r, EINVAL, &mem);
	r = mem;
	r.page_sz = 3 * 1024; /* not a power of two */
	r.len = 12 * 3 * 1024;
	refused("xb_ref", 8, SL_EXTMEM_NO_PORT, &r, EINVAL, &mem);
	r = mem;
	r.page_sz = 2048; /* a buffer does not fit a page */
	refused("xb_ref", 8, SL_EXTMEM_NO_PORT, &r, EINVAL, &mem);
	/* Too small for n mbufs: 16 pages hold 16. */
	refused("xb_ref", 17, SL_EXTMEM_NO_PORT, &mem, ENOSPC, &mem);
	refused("xb_a_name_of_29_characters_xy", 8, SL_EXTMEM_NO_PORT, &mem,
		ENAMETOOLONG, &mem);
	refused("xb_ref", 8, no_port, &mem, ENODEV, &mem);
	/* Memory of EAL's own. */
	r.page_sz = PAGE_4K;
	r.len = 2 * PAGE_4K;
	r.iova = RTE_BAD_IOVA;
	r.va = rte_malloc(NULL, r.len, PAGE_4K);
	CU_ASSERT_PTR_NOT_NULL_FATAL(r.va);
	rte_errno = 0;
	CU_ASSERT_PTR_NULL(sl_pool_create_extmem(
		"xb_ref", 1, (int)rte_socket_id(), SL_EXTMEM_NO_PORT, &r));
	CU_ASSERT_EQUAL(rte_errno, EEXIST);
	CU_ASSERT_PTR_NULL(rte_mempool_lookup("xb_ref"));
	rte_free(r.va);

	/* Exactly full: 16 mbufs in 16 pages. */
	pool = sl_pool_create_extmem("xb_ref", 16, (int)rte_socket_id(),
				     SL_EXTMEM_NO_PORT, &mem);
	CU_ASSERT_PTR_NOT_NULL_FATAL(pool);
	take_all(pool, 16, &mem);
	CU_ASSERT_EQUAL(sl_pool_free_extmem(pool), 0);
	expect_registered(&mem, false);
	/* Not a pool of sl_pool_create_extmem. */
	CU_ASSERT_EQUAL(sl_pool_free_extmem(dp_test_pool()), -ENOENT);
	CU_ASSERT_EQUAL(sl_pool_free_extmem(NULL), -ENOENT);
	sl_extmem_host_free(&mem);
	dp_test_end();
}

/* A failure after the registration undoes it; an area, or part of one,
 * already registered is refused and the pool that has it keeps it. */
static void
test_undo(void)
{
	struct sl_extmem_region mem, half;
	struct rte_mempool *taken, *pool;

	dp_test_begin();
	CU_ASSERT_EQUAL_FATAL(sl_extmem_host_alloc(&mem, 8 * PAGE_4K, PAGE_4K),
			      0);
	/* The pool's name is another pool's: rte_pktmbuf_pool_create_extbuf
	 * fails after the area was registered. */
	taken = sl_pool_create("xb_taken", 511, (int)rte_socket_id());
	CU_ASSERT_PTR_NOT_NULL_FATAL(taken);
	rte_errno = 0;
	CU_ASSERT_PTR_NULL(sl_pool_create_extmem(
		"xb_taken", 8, (int)rte_socket_id(), SL_EXTMEM_NO_PORT, &mem));
	CU_ASSERT_EQUAL(rte_errno, EEXIST);
	expect_registered(&mem, false);
	CU_ASSERT_PTR_EQUAL(rte_mempool_lookup("xb_taken"), taken);
	CU_ASSERT_EQUAL(sl_pool_free_extmem(taken), -ENOENT);
	rte_mempool_free(taken);
	/* Nothing of the failed try is left: the name and the area can be
	 * had now. */
	pool = sl_pool_create_extmem("xb_taken", 8, (int)rte_socket_id(),
				     SL_EXTMEM_NO_PORT, &mem);
	CU_ASSERT_PTR_NOT_NULL_FATAL(pool);
	CU_ASSERT_EQUAL(sl_pool_free_extmem(pool), 0);
	expect_registered(&mem, false);

	pool = sl_pool_create_extmem("xb_first", 8, (int)rte_socket_id(),
				     SL_EXTMEM_NO_PORT, &mem);
	CU_ASSERT_PTR_NOT_NULL_FATAL(pool);
	/* The same area again, and its second half. */
	rte_errno = 0;
	CU_ASSERT_PTR_NULL(sl_pool_create_extmem(
		"xb_second", 8, (int)rte_socket_id(), SL_EXTMEM_NO_PORT, &mem));
	CU_ASSERT_EQUAL(rte_errno, EEXIST);
	half = mem;
	half.va = (char *)mem.va + 4 * PAGE_4K;
	half.len = 4 * PAGE_4K;
	rte_errno = 0;
	CU_ASSERT_PTR_NULL(sl_pool_create_extmem("xb_second", 4,
						 (int)rte_socket_id(),
						 SL_EXTMEM_NO_PORT, &half));
	CU_ASSERT_EQUAL(rte_errno, EEXIST);
	CU_ASSERT_PTR_NULL(rte_mempool_lookup("xb_second"));
	/* The first pool's name again, on another area. */
	{
		struct sl_extmem_region other;

		CU_ASSERT_EQUAL_FATAL(
			sl_extmem_host_alloc(&other, PAGE_4K, PAGE_4K), 0);
		rte_errno = 0;
		CU_ASSERT_PTR_NULL(sl_pool_create_extmem(
			"xb_first", 1, (int)rte_socket_id(), SL_EXTMEM_NO_PORT,
			&other));
		CU_ASSERT_EQUAL(rte_errno, EEXIST);
		expect_registered(&other, false);
		sl_extmem_host_free(&other);
	}
	/* The first pool is whole. */
	expect_registered(&mem, true);
	take_all(pool, 8, &mem);
	CU_ASSERT_EQUAL(sl_pool_free_extmem(pool), 0);
	expect_registered(&mem, false);
	sl_extmem_host_free(&mem);
	dp_test_end();
}

static const struct dp_test_case cases[] = {
	DP_SUITE("extbuf"),
	DP_CASE("sizes and the host provider", test_sizes),
	DP_CASE("every buffer in the area, registered while the pool lives",
		test_layout),
	DP_CASE("net_ring port: frames received in the area", test_ring),
	DP_CASE("net_null port: the PMD writes into the area", test_null),
	DP_CASE("refusals", test_refusals),
	DP_CASE("a failure undoes what was done", test_undo),
	DP_END,
};

int
main(int argc, char **argv)
{
	(void)argc;
	return dp_test_main(argv[0], cases, NULL, NULL);
}
