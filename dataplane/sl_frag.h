/* SPDX-License-Identifier: MIT */
/*
 * sl_frag.h - fragments the dataplane makes itself (an ABORT, a child
 * count): one builder for them.
 */
#ifndef SL_FRAG_H
#define SL_FRAG_H

#include <stdbool.h>
#include <stdint.h>

#include <rte_mbuf.h>

#include "sl_dp.h"
#include "sl_wire.h"

/**
 * sl_dp_tokenless - a new fragment without tokens (an ABORT, a child
 * count): header @h, whose ancestry is taken from @ancestry (wire order,
 * h->depth ids), in an mbuf whose meta says it came in on flow @flow of
 * pipeline index @pipeline. NULL (counted NO_MBUF) when the pool is dry.
 */
struct rte_mbuf *sl_dp_tokenless(struct sl_dp *dp, struct sl_frag_hdr *h,
				 const uint64_t *ancestry, uint32_t flow,
				 uint8_t pipeline);

#endif /* SL_FRAG_H */
