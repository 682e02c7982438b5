/* SPDX-License-Identifier: MIT */
/*
 * sl_port.h - EAL arguments, mempools and the dataplane port.
 */
#ifndef SL_PORT_H
#define SL_PORT_H

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
 * sl_port_stop - stop and close @port_id.
 */
void sl_port_stop(uint16_t port_id);

/**
 * sl_eal_cleanup - rte_eal_cleanup, then remove EAL's runtime directory
 * (/var/run/dpdk/<file-prefix>), which EAL leaves behind and which would
 * pile up with per-process prefixes. Call last.
 */
void sl_eal_cleanup(void);

#endif /* SL_PORT_H */
