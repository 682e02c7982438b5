/* SPDX-License-Identifier: MIT */
/*
 * sl_route.c - instance selection (see sl_route.h).
 */
#include <rte_hash_crc.h>

#include "sl_dp.h"
#include "sl_route.h"

/* splitmix64's finaliser: a cheap, well-mixed 64-bit permutation. */
static inline uint64_t
mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	x ^= x >> 31;
	return x;
}

uint32_t
sl_route_seed(const struct sl_endpoint *ep)
{
	uint64_t v = ((uint64_t)ep->ip << 16) | ep->port;

	return (uint32_t)mix64(v ^ 0x736c7569636521ull);
}

uint64_t
sl_route_key_hash(const uint64_t *ancestry, uint8_t depth, uint8_t level)
{
	uint8_t l = level < depth ? level : depth;

	return mix64(((uint64_t)rte_hash_crc(ancestry, 8u * l, 0x51) << 32) |
		     rte_hash_crc(ancestry, 8u * l, 0x1ce));
}

uint16_t
sl_route_rendezvous(uint64_t key_hash, const uint32_t *seeds, uint16_t n)
{
	uint64_t best_score = 0;
	uint16_t best = 0;

	for (uint16_t i = 0; i < n; i++) {
		uint64_t score = mix64(key_hash ^ ((uint64_t)seeds[i] << 32 |
						  seeds[i]));

		if (i == 0 || score > best_score) {
			best_score = score;
			best = i;
		}
	}
	return best;
}

uint16_t
sl_route_pick(const struct sl_stage_cfg *st, struct sl_stage_state *ss,
	      const uint64_t *ancestry, uint8_t depth)
{
	uint16_t n = st->n_instances;

	if (n == 0)
		return SL_INSTANCE_NONE;
	if (st->aggregation > 0) {
		uint32_t seeds[SL_MAX_INSTANCES];

		for (uint16_t i = 0; i < n; i++)
			seeds[i] = ss->inst[i].seed;
		return sl_route_rendezvous(sl_route_key_hash(ancestry, depth,
							     st->aggregation),
					   seeds, n);
	}
	uint16_t start = (uint16_t)(ss->rr_next++ % n);

	if (st->balance == SL_BALANCE_LEAST_LOADED) {
		uint16_t best = start;

		for (uint16_t k = 1; k < n; k++) {
			uint16_t i = (uint16_t)((start + k) % n);

			if (ss->inst[i].streams_active <
			    ss->inst[best].streams_active)
				best = i;
		}
		return best;
	}
	return start;
}
