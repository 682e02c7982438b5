/* SPDX-License-Identifier: MIT */
/*
 * sl_port.c - mempool and port setup (see sl_port.h).
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <rte_bus.h>
#include <rte_dev.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_mbuf_pool_ops.h>
#include <rte_memory.h>
#include <rte_memzone.h>

#include "sl_port.h"

struct rte_mempool *
sl_pool_create(const char *name, unsigned int n_mbufs, int socket)
{
	return rte_pktmbuf_pool_create(name, n_mbufs, SL_POOL_CACHE, 0,
				       RTE_MBUF_DEFAULT_BUF_SIZE, socket);
}

struct rte_mempool *
sl_pool_create_shared(const char *name, unsigned int n_mbufs, int socket)
{
	return rte_pktmbuf_pool_create_by_ops(name, n_mbufs, SL_POOL_CACHE, 0,
					      RTE_MBUF_DEFAULT_BUF_SIZE, socket,
					      "ring_mt_rts");
}

bool
sl_port_driver_is(uint16_t port_id, const char *driver)
{
	struct rte_eth_dev_info info;

	return rte_eth_dev_info_get(port_id, &info) == 0 &&
	       info.driver_name != NULL &&
	       strcmp(info.driver_name, driver) == 0;
}

bool
sl_port_is_xdp(uint16_t port_id)
{
	return sl_port_driver_is(port_id, "net_af_xdp");
}

static void
xdp_zone_free(struct rte_mempool_memhdr *memhdr __rte_unused, void *opaque)
{
	rte_memzone_free(opaque);
}

struct xdp_range {
	uintptr_t lo, hi; /* the umem: [lo, hi) */
	size_t obj_size;  /* header + mbuf + data room + trailer */
	unsigned int out; /* objects not inside it */
};

static void
xdp_obj_check(struct rte_mempool *mp, void *arg, void *obj,
	      unsigned int idx __rte_unused)
{
	struct xdp_range *r = arg;
	uintptr_t start = (uintptr_t)obj - mp->header_size;

	if (start < r->lo || start + r->obj_size > r->hi)
		r->out++;
}

/* How many of @pool's mbufs lie (in part) outside the umem DPDK 22.11's
 * net_af_xdp registers over it (0: it can be an AF_XDP port's pool). */
static unsigned int
xdp_uncovered(struct rte_mempool *pool)
{
	struct rte_mempool_memhdr *first = STAILQ_FIRST(&pool->mem_list);
	long pg = sysconf(_SC_PAGESIZE);
	struct xdp_range r = {0};

	if (first == NULL || pg <= 0)
		return pool->populated_size;
	/* What net_af_xdp (22.11) registers: from the first chunk's page,
	 * populated_size objects of rte_mempool_calc_obj_size bytes plus
	 * the chunk's offset in that page. Later PMDs map the pool's whole
	 * range and refuse one that is not contiguous: a pool inside this
	 * range, object after object, suits both. */
	r.obj_size =
		rte_mempool_calc_obj_size(pool->elt_size, pool->flags, NULL);
	r.lo = (uintptr_t)first->addr & ~((uintptr_t)pg - 1);
	r.hi = (uintptr_t)first->addr +
	       (uintptr_t)pool->populated_size * r.obj_size;
	rte_mempool_obj_iter(pool, xdp_obj_check, &r);
	return r.out;
}

struct rte_mempool *
sl_pool_create_xdp(const char *name, unsigned int n_mbufs, int socket,
		   bool shared)
{
	const unsigned int flags = RTE_MEMPOOL_F_NO_SPREAD;
	struct rte_pktmbuf_pool_private priv = {0};
	char zone[RTE_MEMZONE_NAMESIZE];
	const struct rte_memzone *mz;
	struct rte_mempool_objsz sz;
	struct rte_mempool *mp;
	long pg = sysconf(_SC_PAGESIZE);
	unsigned int elt;
	size_t len = (size_t)n_mbufs * SL_XDP_MBUF_SIZE;
	int rc;

	/* Objects of one 4 KiB frame each, packed from a page boundary,
	 * never cross a page: the size must divide the page. */
	if (pg <= 0 || pg % SL_XDP_MBUF_SIZE != 0) {
		rte_errno = EINVAL;
		return NULL;
	}
	/* No spreading over memory channels (which pads objects to an odd
	 * number of cache lines): exactly SL_XDP_MBUF_SIZE an object. */
	rte_mempool_calc_obj_size(0, flags, &sz);
	elt = SL_XDP_MBUF_SIZE - sz.header_size;
	while (elt > sizeof(struct rte_mbuf) + RTE_PKTMBUF_HEADROOM &&
	       rte_mempool_calc_obj_size(elt, flags, NULL) > SL_XDP_MBUF_SIZE)
		elt -= RTE_CACHE_LINE_SIZE;
	if (rte_mempool_calc_obj_size(elt, flags, NULL) != SL_XDP_MBUF_SIZE ||
	    elt - sizeof(struct rte_mbuf) < RTE_MBUF_DEFAULT_BUF_SIZE) {
		rte_errno = EINVAL;
		return NULL;
	}
	mp = rte_mempool_create_empty(name, n_mbufs, elt, SL_POOL_CACHE,
				      sizeof(priv), socket, flags);
	if (mp == NULL)
		return NULL;
	rc = rte_mempool_set_ops_byname(
		mp, shared ? "ring_mt_rts" : rte_mbuf_best_mempool_ops(), NULL);
	if (rc != 0)
		goto fail;
	priv.mbuf_data_room_size = (uint16_t)(elt - sizeof(struct rte_mbuf));
	rte_pktmbuf_pool_init(mp, &priv);
	snprintf(zone, sizeof(zone), "sl_xdp_%s", name);
	mz = rte_memzone_reserve_aligned(zone, len, socket, 0,
					 (unsigned int)pg);
	if (mz == NULL) {
		rc = -rte_errno;
		goto fail;
	}
	rc = rte_mempool_populate_virt(mp, mz->addr, len, (size_t)pg,
				       xdp_zone_free, (void *)(uintptr_t)mz);
	if (rc < 0) {
		/* Freed with the pool's chunks if one was added. */
		if (rte_memzone_lookup(zone) == mz)
			rte_memzone_free(mz);
		goto fail;
	}
	if (mp->populated_size != n_mbufs || xdp_uncovered(mp) != 0) {
		rc = -EINVAL;
		goto fail;
	}
	rte_mempool_obj_iter(mp, rte_pktmbuf_init, NULL);
	return mp;
fail:
	rte_mempool_free(mp);
	rte_errno = -rc;
	return NULL;
}

/* rte_is_power_of_2 takes 32 bits. */
static bool
pow2(size_t n)
{
	return n != 0 && (n & (n - 1)) == 0;
}

size_t
sl_extmem_len(unsigned int n_mbufs, size_t page_sz)
{
	size_t per_page, pages, len;

	if (n_mbufs == 0 || !pow2(page_sz) || page_sz < SL_EXTMEM_ELT_SIZE)
		return 0;
	per_page = page_sz / SL_EXTMEM_ELT_SIZE;
	pages = n_mbufs / per_page + (n_mbufs % per_page != 0);
	if (__builtin_mul_overflow(pages, page_sz, &len))
		return 0;
	return len;
}

int
sl_extmem_host_alloc(struct sl_extmem_region *mem, size_t len, size_t page_sz)
{
	long sys = sysconf(_SC_PAGESIZE);
	void *va;

	memset(mem, 0, sizeof(*mem));
	if (page_sz == 0)
		page_sz = sys > 0 ? (size_t)sys : 4096;
	if (len == 0 || !pow2(page_sz) || len % page_sz != 0)
		return -EINVAL;
	/* aligned_alloc wants a multiple of the alignment: len is one. */
	va = aligned_alloc(page_sz, len);
	if (va == NULL)
		return -ENOMEM;
	memset(va, 0, len);
	*mem = (struct sl_extmem_region){
		.va = va,
		.iova = RTE_BAD_IOVA,
		.len = len,
		.page_sz = page_sz,
	};
	return 0;
}

void
sl_extmem_host_free(struct sl_extmem_region *mem)
{
	free(mem->va);
	memset(mem, 0, sizeof(*mem));
}

/* What sl_pool_free_extmem undoes, kept in a memzone named after the pool
 * (SL_EXTMEM_ZONE + the pool's name): rte_pktmbuf_pool_create_extbuf's
 * pool has no room of its own for it. */
#define SL_EXTMEM_ZONE "SLX"
struct extmem_record {
	struct rte_mempool *pool;
	struct sl_extmem_region mem;
	struct rte_device *dev; /* the area is DMA-mapped to it; NULL: none */
	rte_iova_t dma_iova;
};

static int
extmem_zone_name(char *zone, size_t cap, const char *pool_name)
{
	int n = snprintf(zone, cap, SL_EXTMEM_ZONE "%s", pool_name);

	return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

/* rte_dev_dma_map and _unmap: 0 done, 1 nothing to map (a vdev: no DMA
 * of its own), else a negative errno. A device on any other bus that
 * cannot map (ENOTSUP) would DMA to addresses no IOMMU maps: an error. */
static int
extmem_dma(struct rte_device *dev, bool map, void *va, rte_iova_t iova,
	   size_t len)
{
	int rc, err;

	rte_errno = 0;
	rc = map ? rte_dev_dma_map(dev, va, iova, len)
		 : rte_dev_dma_unmap(dev, va, iova, len);
	if (rc == 0)
		return 0;
	if (rc > 0) /* the vdev bus: no driver attached */
		return 1;
	/* The bus says -1 with rte_errno; a driver may return -errno. */
	err = rc < -1 ? -rc : rte_errno;
	if (err == ENOTSUP &&
	    strcmp(rte_bus_name(rte_dev_bus(dev)), "vdev") == 0)
		return 1;
	return err > 0 ? -err : -EIO;
}

struct extmem_span {
	uintptr_t lo, hi; /* [lo, hi) */
};

static int
extmem_overlap(const struct rte_memseg_list *msl, void *arg)
{
	const struct extmem_span *a = arg;
	uintptr_t lo = (uintptr_t)msl->base_va;

	return msl->base_va != NULL && msl->len != 0 && lo < a->hi &&
	       a->lo < lo + msl->len;
}

struct rte_mempool *
sl_pool_create_extmem(const char *name, unsigned int n_mbufs, int socket,
		      uint16_t port_id, const struct sl_extmem_region *mem)
{
	char zone[RTE_MEMZONE_NAMESIZE];
	struct rte_pktmbuf_extmem *segs = NULL;
	const struct rte_memzone *mz = NULL;
	struct extmem_record rec = {0};
	struct extmem_span span;
	rte_iova_t *page_iova = NULL;
	size_t need, n_pages, used_pages;
	bool registered = false, mapped = false;
	unsigned int cache;
	rte_iova_t iova;
	int rc;

	if (name == NULL || mem == NULL || n_mbufs == 0 || mem->va == NULL ||
	    mem->len == 0 || !pow2(mem->page_sz) ||
	    mem->page_sz < SL_EXTMEM_ELT_SIZE ||
	    ((uintptr_t)mem->va & (mem->page_sz - 1)) != 0 ||
	    mem->len % mem->page_sz != 0) {
		rte_errno = EINVAL;
		return NULL;
	}
	if (strlen(name) >= RTE_MEMPOOL_NAMESIZE ||
	    extmem_zone_name(zone, sizeof(zone), name) != 0) {
		rte_errno = ENAMETOOLONG;
		return NULL;
	}
	need = sl_extmem_len(n_mbufs, mem->page_sz);
	if (need == 0 || mem->len < need) {
		rte_errno = ENOSPC;
		return NULL;
	}
	n_pages = mem->len / mem->page_sz;
	used_pages = need / mem->page_sz;
	/* The IOVA each page is registered with and each mbuf carries. */
	iova = mem->iova;
	if (iova == RTE_BAD_IOVA && rte_eal_iova_mode() == RTE_IOVA_VA)
		iova = (rte_iova_t)(uintptr_t)mem->va;
	if (iova != RTE_BAD_IOVA && iova + (mem->len - 1) < iova) {
		rte_errno = EINVAL;
		return NULL;
	}
	if (port_id != SL_EXTMEM_NO_PORT) {
		struct rte_eth_dev_info info;

		rc = rte_eth_dev_info_get(port_id, &info);
		if (rc != 0 || info.device == NULL) {
			rte_errno = ENODEV;
			return NULL;
		}
		rec.dev = info.device;
		/* A device that DMAs needs to know where; a vdev copies. */
		if (iova == RTE_BAD_IOVA &&
		    strcmp(rte_bus_name(rte_dev_bus(rec.dev)), "vdev") != 0) {
			rte_errno = EINVAL;
			return NULL;
		}
	}
	mz = rte_memzone_reserve(zone, sizeof(rec), socket, 0);
	if (mz == NULL) {
		if (rte_errno == 0)
			rte_errno = ENOMEM;
		return NULL;
	}
	if (iova != RTE_BAD_IOVA) {
		page_iova = malloc(n_pages * sizeof(*page_iova));
		if (page_iova == NULL) {
			rc = -ENOMEM;
			goto fail;
		}
		for (size_t i = 0; i < n_pages; i++)
			page_iova[i] = iova + i * mem->page_sz;
	}
	/* Each page a segment: buffers never cross a page. */
	segs = calloc(used_pages, sizeof(*segs));
	if (segs == NULL) {
		rc = -ENOMEM;
		goto fail;
	}
	for (size_t i = 0; i < used_pages; i++)
		segs[i] = (struct rte_pktmbuf_extmem){
			.buf_ptr = RTE_PTR_ADD(mem->va, i * mem->page_sz),
			.buf_iova = iova == RTE_BAD_IOVA
					    ? RTE_BAD_IOVA
					    : iova + i * mem->page_sz,
			.buf_len = mem->page_sz,
			.elt_size = SL_EXTMEM_ELT_SIZE,
		};

	/* rte_extmem_register refuses the same range twice (EEXIST) but
	 * not one that overlaps another: refuse that too. */
	span = (struct extmem_span){(uintptr_t)mem->va,
				    (uintptr_t)mem->va + mem->len};
	if (rte_memseg_list_walk(extmem_overlap, &span) != 0) {
		rc = -EEXIST;
		goto fail;
	}
	if (rte_extmem_register(
		    mem->va, mem->len, page_iova,
		    (unsigned int)RTE_MIN(n_pages, (size_t)UINT_MAX),
		    mem->page_sz) != 0) {
		rc = -rte_errno;
		goto fail;
	}
	registered = true;
	if (rec.dev != NULL) {
		rec.dma_iova = iova;
		rc = extmem_dma(rec.dev, true, mem->va, iova, mem->len);
		if (rc < 0)
			goto fail;
		mapped = rc == 0;
		if (!mapped)
			rec.dev = NULL;
	}
	cache = RTE_MIN((unsigned int)SL_POOL_CACHE, n_mbufs / 2);
	rec.pool = rte_pktmbuf_pool_create_extbuf(
		name, n_mbufs, cache, 0, SL_EXTMEM_DATA_ROOM, socket, segs,
		(unsigned int)used_pages);
	if (rec.pool == NULL) {
		rc = -rte_errno;
		goto fail;
	}
	rec.mem = *mem;
	memcpy(mz->addr, &rec, sizeof(rec));
	free(segs);
	free(page_iova);
	return rec.pool;
fail:
	if (mapped)
		(void)extmem_dma(rec.dev, false, mem->va, iova, mem->len);
	if (registered)
		(void)rte_extmem_unregister(mem->va, mem->len);
	rte_memzone_free(mz);
	free(segs);
	free(page_iova);
	rte_errno = rc < 0 ? -rc : EIO;
	return NULL;
}

int
sl_pool_free_extmem(struct rte_mempool *pool)
{
	char zone[RTE_MEMZONE_NAMESIZE];
	const struct rte_memzone *mz;
	struct extmem_record rec;
	int rc = 0, r;

	if (pool == NULL ||
	    extmem_zone_name(zone, sizeof(zone), pool->name) != 0 ||
	    (mz = rte_memzone_lookup(zone)) == NULL)
		return -ENOENT;
	memcpy(&rec, mz->addr, sizeof(rec));
	if (rec.pool != pool)
		return -ENOENT;
	/* The device might still write into a buffer that is out. */
	if (!rte_mempool_full(pool))
		return -EBUSY;
	rte_mempool_free(pool);
	if (rec.dev != NULL) {
		r = extmem_dma(rec.dev, false, rec.mem.va, rec.dma_iova,
			       rec.mem.len);
		if (r < 0)
			rc = r;
	}
	if (rte_extmem_unregister(rec.mem.va, rec.mem.len) != 0 && rc == 0)
		rc = -rte_errno;
	rte_memzone_free(mz);
	return rc;
}

void
sl_port_xdp_reclaim(uint16_t port_id, uint16_t n_txq, struct rte_mempool *pool,
		    unsigned int max_ms)
{
	const struct timespec ms = {.tv_nsec = 1000000};
	unsigned int in_use = rte_mempool_in_use_count(pool), quiet = 0;
	struct rte_mbuf *none[1];

	/* An empty burst pulls the completion ring (kick_tx) and kicks
	 * the kernel for what the tx ring still holds. The kernel completes
	 * a copy-mode transmit once the skb is freed: go on until 20 ms
	 * pass with nothing more back. */
	for (unsigned int t = 0; t < max_ms && quiet < 20; t++) {
		unsigned int now;

		for (uint16_t q = 0; q < n_txq; q++)
			rte_eth_tx_burst(port_id, q, none, 0);
		now = rte_mempool_in_use_count(pool);
		quiet = now < in_use ? 0 : quiet + 1;
		in_use = now;
		nanosleep(&ms, NULL);
	}
}

int
sl_port_start(uint16_t port_id, struct rte_mempool *pool, const char **what)
{
	uint16_t n_rx;

	return sl_port_start_queues(port_id, pool, 1, &n_rx, what);
}

int
sl_port_start_queues(uint16_t port_id, struct rte_mempool *pool, uint16_t n,
		     uint16_t *n_rx, const char **what)
{
	struct rte_eth_conf conf = {0};
	struct rte_eth_dev_info info;
	uint16_t nb_rxd = SL_PORT_RXD, nb_txd = SL_PORT_TXD;
	int rc;

	*what = "dev_info_get";
	rc = rte_eth_dev_info_get(port_id, &info);
	if (rc != 0)
		return rc;
	*what = "tx queues";
	if (info.max_tx_queues < n)
		return -ENOTSUP;
	*n_rx = RTE_MAX(RTE_MIN(n, info.max_rx_queues), 1);
	/* Several receive queues: the NIC spreads by RSS (a kernel fanout
	 * group for af_packet); the workers steer to the owner anyway. */
	if (*n_rx > 1 && info.flow_type_rss_offloads != 0) {
		conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
		conf.rx_adv_conf.rss_conf.rss_hf =
			info.flow_type_rss_offloads &
			(RTE_ETH_RSS_IP | RTE_ETH_RSS_UDP);
	}
	*what = "dev_configure";
	rc = rte_eth_dev_configure(port_id, *n_rx, n, &conf);
	if (rc != 0)
		return rc;
	*what = "adjust_nb_rx_tx_desc";
	rc = rte_eth_dev_adjust_nb_rx_tx_desc(port_id, &nb_rxd, &nb_txd);
	if (rc != 0)
		return rc;
	*what = "rx_queue_setup";
	for (uint16_t q = 0; q < *n_rx && rc == 0; q++)
		rc = rte_eth_rx_queue_setup(port_id, q, nb_rxd,
					    rte_eth_dev_socket_id(port_id),
					    NULL, pool);
	if (rc != 0)
		return rc;
	*what = "tx_queue_setup";
	for (uint16_t q = 0; q < n && rc == 0; q++)
		rc = rte_eth_tx_queue_setup(port_id, q, nb_txd,
					    rte_eth_dev_socket_id(port_id),
					    NULL);
	if (rc != 0)
		return rc;
	*what = "dev_start";
	rc = rte_eth_dev_start(port_id);
	if (rc != 0)
		return rc;
	/* Frames for the address sluiced owns carry the port's MAC, but a
	 * client may still send to broadcast (ARP); promiscuous mode is
	 * harmless on a vdev and needed on some PMDs. */
	rte_eth_promiscuous_enable(port_id);
	return 0;
}

void
sl_port_stop(uint16_t port_id)
{
	struct rte_eth_stats st;

	if (rte_eth_stats_get(port_id, &st) == 0) {
		printf("sluiced: port %u: rx %" PRIu64 " missed %" PRIu64
		       " rx_nombuf %" PRIu64 " rx errors %" PRIu64
		       " tx %" PRIu64 " tx errors %" PRIu64 "\n",
		       port_id, st.ipackets, st.imissed, st.rx_nombuf,
		       st.ierrors, st.opackets, st.oerrors);
		fflush(stdout);
	}
	rte_eth_dev_stop(port_id);
	rte_eth_dev_close(port_id);
}

void
sl_eal_cleanup(void)
{
	char dir[PATH_MAX];
	struct dirent *de;
	DIR *d;

	snprintf(dir, sizeof(dir), "%s", rte_eal_get_runtime_dir());
	rte_eal_cleanup();
	/* It holds only flat files (config, sockets, fbarrays). */
	d = opendir(dir);
	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 &&
		    strcmp(de->d_name, "..") != 0)
			unlinkat(dirfd(d), de->d_name, 0);
	closedir(d);
	rmdir(dir);
}
