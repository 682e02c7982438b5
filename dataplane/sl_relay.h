/* SPDX-License-Identifier: MIT */
/*
 * sl_relay.h - cluster mode: one node's sluiced is the next hop between
 * another node's sluiced and this node's instances.
 *
 * A request's streams are all handled by the node its client sent it to
 * (its home: ordering, fanout, splitters, operators, guards, routing).
 * When home routes a stream to an instance of another node it sends the
 * frame as to a local instance (IP and UDP to the instance, from home's
 * address) but to that node's MAC (the instance's neighbour entry is of
 * kind SL_NEIGH_VIA, bound to its node's MAC here). That node forwards
 * the frame to the instance as a router would (MACs rewritten, TTL less
 * one), and the instance's answers, PROBE answers, NACKs and ACKs, sent
 * to home's address through their own node (their next hop), go back
 * the same way. Loss repair, liveness and order stay end to end between
 * home and the instance: the relay holds no state and repairs nothing.
 *
 * Only frames between a configured node (its address and port) and a
 * local instance's address are relayed; anything else not addressed to
 * this sluiced is NOT_FOR_US as before.
 */
#ifndef SL_RELAY_H
#define SL_RELAY_H

#include <stdbool.h>

#include <rte_mbuf.h>

#include "sl_dp.h"

/**
 * sl_relay_frame - a frame not addressed to this sluiced (@fr parsed from
 * @m): relayed (sent, or dropped with a RELAY_* reason) when it goes
 * between another node and a local instance; return true when @m was
 * consumed, false to let the caller drop it as NOT_FOR_US.
 */
bool sl_relay_frame(struct sl_dp *dp, struct rte_mbuf *m,
		    const struct sl_frame *fr);

/**
 * sl_relay_refresh - housekeeping in cluster mode: the other nodes are
 * asked for (ARP) and kept like instances, and every other node's
 * instance is bound to its node's MAC (unbound while that is unknown).
 */
void sl_relay_refresh(struct sl_dp *dp);

#endif /* SL_RELAY_H */
