/* SPDX-License-Identifier: MIT */
/*
 * sl_rng.h - sources of uniform 64-bit words, for the noise of
 * differential privacy (the cost model, control/sl_cost.h; the tuner's
 * evaluations, tools/tune) and for reproducible draws in tests,
 * benchmarks and simulation.
 *
 * next() returns 0 and fills *out, or -EIO when the source failed. A
 * caller may plug in its own source: set next (and ctx for its state).
 */
#ifndef SL_RNG_H
#define SL_RNG_H

#include <stdint.h>

struct sl_rng {
	int (*next)(struct sl_rng *rng, uint64_t *out);
	void *ctx; /* a caller's own source's state */
	union {
		uint64_t xo[4]; /* sl_rng_seeded's xoshiro256** state */
		struct {
			uint64_t buf[32]; /* one getrandom(2) call's words */
			unsigned int pos; /* next unused word; 32 = refill */
		} os;
	} u;
};

/*
 * sl_rng_os - the production source: getrandom(2) (the kernel's ChaCha20
 * CSPRNG), 256 bytes a call, each word wiped once used (noise must stay
 * secret). A forked child must initialise its own.
 */
void sl_rng_os(struct sl_rng *rng);

/*
 * sl_rng_seeded - TESTS, BENCHMARKS AND SIMULATION ONLY: xoshiro256**
 * (Blackman and Vigna) seeded through splitmix64 from @seed; reproducible
 * and predictable, so noise drawn from it protects nothing.
 */
void sl_rng_seeded(struct sl_rng *rng, uint64_t seed);

#endif /* SL_RNG_H */
