/* SPDX-License-Identifier: MIT */
/*
 * sl_port.c - mempool and port setup (see sl_port.h).
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_mbuf_pool_ops.h>
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
