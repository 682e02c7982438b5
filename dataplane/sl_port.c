/* SPDX-License-Identifier: MIT */
/*
 * sl_port.c - mempool and port setup (see sl_port.h).
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>

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
