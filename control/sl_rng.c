/* SPDX-License-Identifier: MIT */
/*
 * sl_rng.c - random sources (sl_rng.h).
 */
#include <errno.h>
#include <string.h>
#include <sys/random.h>

#include "sl_hash64.h"
#include "sl_rng.h"

static int
rng_os_next(struct sl_rng *rng, uint64_t *out)
{
	if (rng->u.os.pos >= 32) {
		size_t got = 0;
		char *b = (char *)rng->u.os.buf;

		while (got < sizeof(rng->u.os.buf)) {
			ssize_t r = getrandom(b + got,
					      sizeof(rng->u.os.buf) - got, 0);

			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0)
				return -EIO;
			got += (size_t)r;
		}
		rng->u.os.pos = 0;
	}
	*out = rng->u.os.buf[rng->u.os.pos];
	/* Noise must stay secret: the buffer keeps no used word. */
	rng->u.os.buf[rng->u.os.pos++] = 0;
	return 0;
}

void
sl_rng_os(struct sl_rng *rng)
{
	memset(rng, 0, sizeof(*rng));
	rng->next = rng_os_next;
	rng->u.os.pos = 32;
}

static int
rng_seeded_next(struct sl_rng *rng, uint64_t *out)
{
	uint64_t *s = rng->u.xo, t = s[1] << 17, r = s[1] * 5;

	*out = ((r << 7) | (r >> 57)) * 9;
	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = (s[3] << 45) | (s[3] >> 19);
	return 0;
}

void
sl_rng_seeded(struct sl_rng *rng, uint64_t seed)
{
	memset(rng, 0, sizeof(*rng));
	rng->next = rng_seeded_next;
	/* splitmix64 (its increment is the golden ratio's 2^64 fraction)
	 * never yields an all-zero xoshiro state. */
	for (int i = 0; i < 4; i++) {
		seed += 0x9e3779b97f4a7c15ull;
		rng->u.xo[i] = sl_mix64(seed);
	}
}
