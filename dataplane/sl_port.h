/* SPDX-License-Identifier: MIT */
/*
 * sl_port.h - EAL arguments, mempools and the dataplane port.
 */
#ifndef SL_PORT_H
#define SL_PORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <rte_mbuf.h>
#include <rte_memory.h>
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

/*
 * Receive into memory outside EAL (issue 14): a pool whose mbufs (struct
 * rte_mbuf and its shared info, in EAL memory) carry pinned external data
 * buffers in an area someone else allocated: GPU memory for GPUDirect
 * receive, CUDA-registered pinned host memory, or (CI, and any port
 * without a GPU) aligned host memory. The area is laid out in pages: each
 * page holds page_sz / SL_EXTMEM_ELT_SIZE buffers of
 * SL_EXTMEM_DATA_ROOM bytes (headroom included, the same data room as
 * sl_pool_create), SL_EXTMEM_ELT_SIZE apart from the page's start, so no
 * buffer crosses a page and a device may DMA into pages whose IOVAs are
 * not contiguous. 4 KiB pages hold one buffer each (47% of the area
 * unused); 64 KiB GPU pages 30, 2 MiB pages 963.
 */
#define SL_EXTMEM_DATA_ROOM RTE_MBUF_DEFAULT_BUF_SIZE
#define SL_EXTMEM_ELT_SIZE                                                     \
	RTE_ALIGN_CEIL(SL_EXTMEM_DATA_ROOM, RTE_CACHE_LINE_SIZE)
/* sl_pool_create_extmem's @port_id for an area mapped to no device. */
#define SL_EXTMEM_NO_PORT RTE_MAX_ETHPORTS

/*
 * An area for mbuf data buffers, as its provider hands it over. The
 * provider keeps it allocated until the pool made on it is freed
 * (sl_pool_free_extmem), and frees it itself.
 */
struct sl_extmem_region {
	void *va;        /* start, aligned to page_sz */
	rte_iova_t iova; /* bus address of va, the area contiguous in IOVA
			  * space; RTE_BAD_IOVA: not known (then va itself
			  * where EAL runs IOVA as VA) */
	size_t len;      /* bytes, a multiple of page_sz */
	size_t page_sz;  /* the memory's page size: a power of two, at least
			  * SL_EXTMEM_ELT_SIZE (4 KiB host pages, 64 KiB GPU
			  * pages, 2 MiB or 1 GiB hugepages) */
};

/**
 * sl_extmem_len - the bytes of an area of @page_sz pages that holds
 * @n_mbufs data buffers (above): ceil(@n_mbufs / buffers per page) pages.
 * Return 0 when no area can: @n_mbufs 0, @page_sz not a power of two or
 * smaller than SL_EXTMEM_ELT_SIZE, or a size past SIZE_MAX.
 */
size_t sl_extmem_len(unsigned int n_mbufs, size_t page_sz);

/**
 * sl_extmem_host_alloc - the host-memory provider: @len bytes aligned to
 * @page_sz (0: the system's page size), zeroed (every page touched, so
 * resident before any device is told of it), into @mem with iova
 * RTE_BAD_IOVA. Return 0, -EINVAL (@len 0 or not a multiple of @page_sz,
 * @page_sz not a power of two) or -ENOMEM. sl_extmem_host_free - free
 * it (after sl_pool_free_extmem) and zero @mem; a zeroed @mem is left
 * alone.
 */
int sl_extmem_host_alloc(struct sl_extmem_region *mem, size_t len,
			 size_t page_sz);
void sl_extmem_host_free(struct sl_extmem_region *mem);

/**
 * sl_pool_create_extmem - a pool of @n_mbufs mbufs named @name on
 * @socket whose data buffers lie in @mem, for @port_id's receive queues
 * (rte_eth_rx_queue_setup, sl_port_start). In order:
 *
 *  1. rte_extmem_register of the whole area with its page size, each
 *     page's IOVA given (@mem->iova + offset, or the VA where EAL runs
 *     IOVA as VA; none when neither is known);
 *  2. rte_dev_dma_map of the area to @port_id's device, so the device may
 *     DMA into it (VFIO's IOMMU, mlx5's memory registration); a device
 *     with nothing to map is left as it is: a vdev whose driver has no
 *     dma_map (net_ring, net_null, net_af_packet copy; the vdev bus
 *     answers 0) or a bus or driver that answers ENOTSUP (a PCI device
 *     on UIO). Skipped for SL_EXTMEM_NO_PORT;
 *  3. rte_pktmbuf_pool_create_extbuf with one segment per page used;
 *     every mbuf carries RTE_MBUF_F_EXTERNAL, buf_addr in the area and
 *     buf_iova its IOVA (RTE_BAD_IOVA when not known).
 *
 * A step that fails undoes those before it. The pool's mempool driver is
 * rte_mbuf_best_mempool_ops() (rte_pktmbuf_pool_create_extbuf takes no
 * other); per-lcore caches of SL_POOL_CACHE (less for a small pool).
 * The CPU must not read a payload that lies in GPU memory: such a pool
 * is for a port that splits headers into a host pool
 * (RTE_ETH_RX_OFFLOAD_BUFFER_SPLIT) or whose payloads only the GPU reads.
 * Mbufs of the pool can be cloned (rte_pktmbuf_clone: the clone shares
 * the pinned buffer, which returns to the pool when both are freed).
 *
 * Return the pool, or NULL with rte_errno set: EINVAL (@name or @mem
 * NULL, @n_mbufs 0, @mem->va NULL or not aligned to @mem->page_sz,
 * @mem->len 0 or not a multiple of it, @mem->page_sz not a power of two
 * or smaller than SL_EXTMEM_ELT_SIZE, or no IOVA known for a device that
 * is not a vdev), ENAMETOOLONG (@name of RTE_MEMPOOL_NAMESIZE bytes or
 * more), ENOSPC (@mem->len below sl_extmem_len(@n_mbufs, page_sz)),
 * ENODEV (@port_id names no port), EEXIST (@name in use, or the area
 * overlaps memory EAL knows: an area registered already, by another pool
 * for one, or EAL's own), or what rte_extmem_register (ENOSPC: no
 * memseg list left), rte_dev_dma_map or the pool's creation set
 * (ENOMEM...).
 */
struct rte_mempool *sl_pool_create_extmem(const char *name,
					  unsigned int n_mbufs, int socket,
					  uint16_t port_id,
					  const struct sl_extmem_region *mem);

/**
 * sl_pool_free_extmem - the reverse of sl_pool_create_extmem: free the
 * pool, rte_dev_dma_unmap the area from the device it was mapped to,
 * rte_extmem_unregister it. Call it once the port no longer holds mbufs
 * of the pool (stopped, and for PMDs that keep mbufs in their rings
 * until then, closed), while the device is still attached (before
 * rte_dev_remove); then the provider frees the area. rte_mempool_free
 * on such a pool would leave the area registered and mapped.
 *
 * Return 0, -EBUSY (mbufs of @pool are still out: nothing done),
 * -ENOENT (@pool was not made by sl_pool_create_extmem), or the first
 * error of the unmap or the unregistration (each is tried: the pool is
 * freed either way).
 */
int sl_pool_free_extmem(struct rte_mempool *pool);

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
