/* SPDX-License-Identifier: MIT */
/*
 * sl_hash64.h - the 64-bit hashes sluice's tables share, in plain C (no
 * DPDK): the dataplane's flow, operator and key-pin tables and routing,
 * libsluice's stream tables, and the kernel relay of tools/bench.
 *
 * sl_mix64: splitmix64's finaliser, a cheap well-mixed permutation (not
 * keyed: where a peer chooses the input, mix a secret in first).
 * sl_siphash13_ids: SipHash-1-3 (Aumasson and Bernstein's keyed PRF, the
 * variant Rust's HashMap uses against hash flooding) of a 16-byte head and
 * @depth 64-bit ids, under the 128-bit key @k.
 */
#ifndef SL_HASH64_H
#define SL_HASH64_H

#include <stdint.h>
#include <string.h>

static inline uint64_t
sl_mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

#define SL_SIP_ROUND(v0, v1, v2, v3)                                           \
	do {                                                                   \
		v0 += v1;                                                      \
		v1 = (v1 << 13) | (v1 >> 51);                                  \
		v1 ^= v0;                                                      \
		v0 = (v0 << 32) | (v0 >> 32);                                  \
		v2 += v3;                                                      \
		v3 = (v3 << 16) | (v3 >> 48);                                  \
		v3 ^= v2;                                                      \
		v0 += v3;                                                      \
		v3 = (v3 << 21) | (v3 >> 43);                                  \
		v3 ^= v0;                                                      \
		v2 += v1;                                                      \
		v1 = (v1 << 17) | (v1 >> 47);                                  \
		v1 ^= v2;                                                      \
		v2 = (v2 << 32) | (v2 >> 32);                                  \
	} while (0)

static inline uint64_t
sl_siphash13_ids(const uint64_t k[2], const void *head16, const uint64_t *ids,
		 uint8_t depth)
{
	uint64_t v0 = k[0] ^ 0x736f6d6570736575ull;
	uint64_t v1 = k[1] ^ 0x646f72616e646f6dull;
	uint64_t v2 = k[0] ^ 0x6c7967656e657261ull;
	uint64_t v3 = k[1] ^ 0x7465646279746573ull;
	uint64_t w[2], b;

	memcpy(w, head16, sizeof(w));
	v3 ^= w[0];
	SL_SIP_ROUND(v0, v1, v2, v3);
	v0 ^= w[0];
	v3 ^= w[1];
	SL_SIP_ROUND(v0, v1, v2, v3);
	v0 ^= w[1];
	for (uint8_t i = 0; i < depth; i++) {
		v3 ^= ids[i];
		SL_SIP_ROUND(v0, v1, v2, v3);
		v0 ^= ids[i];
	}
	b = (uint64_t)(16 + 8u * depth) << 56;
	v3 ^= b;
	SL_SIP_ROUND(v0, v1, v2, v3);
	v0 ^= b;
	v2 ^= 0xff;
	SL_SIP_ROUND(v0, v1, v2, v3);
	SL_SIP_ROUND(v0, v1, v2, v3);
	SL_SIP_ROUND(v0, v1, v2, v3);
	return v0 ^ v1 ^ v2 ^ v3;
}

#endif /* SL_HASH64_H */
