/* SPDX-License-Identifier: MIT */
/*
 * sl_node.h - the nodes of the packet path (SL_NODES in sl_dp.h), one
 * file each; only the worker calls them, through the table.
 */
#ifndef SL_NODE_H
#define SL_NODE_H

#include <stdint.h>

#include <rte_mbuf.h>

#include "sl_dp.h"

/* The packet stages, in path order (one file each). */
uint16_t sl_stage_parse(struct sl_dp *dp, struct rte_mbuf **pkts, uint16_t n);
uint16_t sl_stage_admit(struct sl_dp *dp, struct rte_mbuf **pkts, uint16_t n);
uint16_t sl_stage_order(struct sl_dp *dp, struct rte_mbuf **pkts, uint16_t n);
uint16_t sl_stage_fanout(struct sl_dp *dp, struct rte_mbuf **pkts, uint16_t n);
uint16_t sl_stage_route(struct sl_dp *dp, struct rte_mbuf **pkts, uint16_t n);
uint16_t sl_stage_gpu_tx(struct sl_dp *dp, struct rte_mbuf **pkts, uint16_t n);
uint16_t sl_stage_tx(struct sl_dp *dp, struct rte_mbuf **pkts, uint16_t n);

/**
 * sl_fanout_release - give back a stream's edge state (pins, buffers,
 * splitters, guard states), when it leaves the table or a new layout
 * takes its edges away. What it still holds is dropped silently: its
 * consumers were told (ABORT) when it ended or expired.
 */
void sl_fanout_release(struct sl_dp *dp, struct sl_flow *f);

#endif /* SL_NODE_H */
