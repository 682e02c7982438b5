/* SPDX-License-Identifier: MIT */
/*
 * sl_hash.h - the keyed hash libsluice's stream tables use (sl_rel.c,
 * sl_stage.c), private to tools/lib. A stream is named by its peer's
 * address and the header fields of WIRE.md's "stream identity"; the
 * table's random seed keeps a peer from aiming its streams at one chain.
 */
#ifndef SL_HASH_H
#define SL_HASH_H

#include <stdint.h>

#include "sl_hash64.h" /* sl_mix64 */

/* The stream of peer @ip:@port (both as in sockaddr_in) named by the
 * other fields, with the first @depth ids of @ancestry. */
static inline uint64_t
sl_stream_hash(uint64_t seed, uint32_t ip, uint16_t port, uint32_t pipeline,
	       uint16_t stage, uint16_t from_stage, uint16_t tenant,
	       uint8_t depth, const uint64_t *ancestry)
{
	uint64_t h = sl_mix64(seed ^ ((uint64_t)ip << 16 | port));

	h = sl_mix64(h ^ ((uint64_t)pipeline << 32 | (uint64_t)stage << 16 |
			  from_stage));
	h = sl_mix64(h ^ ((uint64_t)tenant << 8 | depth));
	for (unsigned int i = 0; i < depth; i++)
		h = sl_mix64(h ^ ancestry[i]);
	return h;
}

#endif /* SL_HASH_H */
