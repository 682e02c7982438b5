/* SPDX-License-Identifier: MIT */
/*
 * sl_port.h - EAL arguments, mempools and the dataplane port.
 */
#ifndef SL_PORT_H
#define SL_PORT_H

#include <stdbool.h>
#include <stdint.h>

#include <rte_mempool.h>

#define SL_PORT_RXD 1024
#define SL_PORT_TXD 1024
/* Half of it may be held in reorder buffers and buffer edges, a quarter
 * kept for resends (sl_dp.c, sl_rtx.c): the rest receives. sluiced
 * --mbufs sets another size in [MIN, MAX] (2^n - 1 suits the ring). */
#define SL_POOL_MBUFS 32767
#define SL_POOL_MBUFS_MIN 8191
#define SL_POOL_MBUFS_MAX 1048575
#define SL_POOL_CACHE 256

/**
 * sl_pool_create - the packet mempool (default mbuf size: one
 * 1500-byte frame per mbuf). Return NULL with rte_errno set on failure.
 */
struct rte_mempool *sl_pool_create(const char *name, unsigned int n_mbufs,
				   int socket);

/**
 * sl_pool_create_shared - the same for many workers that may share CPUs:
 * its ring syncs producers' and consumers' tails relaxed (RTS), so a
 * worker preempted in the middle of a get or put does not hold the others
 * spinning for its time slice.
 */
struct rte_mempool *sl_pool_create_shared(const char *name,
					  unsigned int n_mbufs, int socket);

/*
 * An AF_XDP port's pool (net_af_xdp): each mbuf one page-aligned 4 KiB
 * object (header, struct rte_mbuf, a 3,904-byte data room), the pool one
 * contiguous range of n x 4 KiB. The PMD makes the pool its umem: DPDK
 * 22.11 registers populated_size x object size bytes from the pool's
 * first chunk and posts the mbufs themselves to the fill ring. A pool of
 * rte_pktmbuf_pool_create's 2,368-byte objects, one to a 4 KiB page
 * (objects never cross pages under --no-huge), spans 32,767 pages of
 * which the umem covers 58%: every mbuf beyond it posted to the fill ring
 * is an invalid address to the kernel, the slot lost for good (and a
 * transmit from one an invalid descriptor, dropped); with all 2,048 fill
 * slots gone the port never receives again. The same memory either way:
 * one page an mbuf.
 */
#define SL_XDP_MBUF_SIZE 4096

/**
 * sl_port_driver_is - whether @port_id's driver is @driver ("net_null").
 * sl_port_is_xdp - whether @port_id is a net_af_xdp port.
 */
bool sl_port_driver_is(uint16_t port_id, const char *driver);
bool sl_port_is_xdp(uint16_t port_id);

/**
 * sl_pool_create_xdp - the packet mempool for an AF_XDP port (above);
 * @shared as sl_pool_create_shared. Refuses (NULL, rte_errno EINVAL) a
 * layout the PMD's umem would not cover whole. NULL with rte_errno set
 * on failure.
 */
struct rte_mempool *sl_pool_create_xdp(const char *name, unsigned int n_mbufs,
				       int socket, bool shared);

/**
 * sl_port_xdp_reclaim - take back what an AF_XDP port's transmit queues
 * sent (the PMD frees sent mbufs only on its next transmit and has no
 * tx_done_cleanup): empty bursts on each of @n_txq queues until nothing
 * more comes back, at most @max_ms. Workers stopped.
 */
void sl_port_xdp_reclaim(uint16_t port_id, uint16_t n_txq,
			 struct rte_mempool *pool, unsigned int max_ms);

/**
 * sl_port_start - configure @port_id with one rx and one tx queue fed by
 * @pool and start it. Return 0 or a negative errno; @what names the step
 * that failed.
 */
int sl_port_start(uint16_t port_id, struct rte_mempool *pool,
		  const char **what);

/**
 * sl_port_start_queues - the same for @n workers: @n transmit queues
 * (the port must offer them: -ENOTSUP otherwise, @what "tx queues") and
 * as many receive queues as the port has, up to @n (*@n_rx: how many;
 * a worker without one takes what the others steer to it).
 */
int sl_port_start_queues(uint16_t port_id, struct rte_mempool *pool, uint16_t n,
			 uint16_t *n_rx, const char **what);

/**
 * sl_port_stop - stop and close @port_id, after a line on stdout with
 * its counters (received, missed by the kernel or the device, receive
 * buffer allocation failures, sent, transmit errors).
 */
void sl_port_stop(uint16_t port_id);

/**
 * sl_eal_cleanup - rte_eal_cleanup, then remove EAL's runtime directory
 * (/var/run/dpdk/<file-prefix>), which EAL leaves behind and which would
 * pile up with per-process prefixes. Call last.
 */
void sl_eal_cleanup(void);

#endif /* SL_PORT_H */
