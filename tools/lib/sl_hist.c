/* SPDX-License-Identifier: MIT */
/*
 * sl_hist.c - log-linear latency histogram.
 *
 * Bucket index of v: below 32, v itself. Otherwise, with e the position
 * of v's top bit (e >= 5), group e - 4 and sub-bucket the 5 bits under
 * the top bit. Group 1 (e = 5) thus holds 32..63 one by one, continuing
 * the exact range, and every bucket of group g >= 1 spans 2^(g - 1)
 * values starting at (32 + sub) << (g - 1).
 */
#include <string.h>

#include "sluice.h"

static inline unsigned int
sl_hist_index(uint64_t v)
{
	unsigned int e, idx;

	if (v < SL_HIST_SUB)
		return (unsigned int)v;
	e = 63u - (unsigned int)__builtin_clzll(v);
	idx = (e - SL_HIST_SUB_BITS + 1) * SL_HIST_SUB +
	      (unsigned int)((v >> (e - SL_HIST_SUB_BITS)) & (SL_HIST_SUB - 1));
	return idx < SL_HIST_BUCKETS ? idx : SL_HIST_BUCKETS - 1;
}

/* First value of bucket @idx and its width. */
static inline void
sl_hist_bucket_range(unsigned int idx, uint64_t *low, uint64_t *width)
{
	unsigned int g = idx / SL_HIST_SUB, sub = idx % SL_HIST_SUB;

	if (g == 0) {
		*low = idx;
		*width = 1;
		return;
	}
	*low = (uint64_t)(SL_HIST_SUB + sub) << (g - 1);
	*width = 1ull << (g - 1);
}

void
sl_hist_init(struct sl_hist *h)
{
	memset(h, 0, sizeof(*h));
	h->min = UINT64_MAX;
}

void
sl_hist_record(struct sl_hist *h, uint64_t value)
{
	h->bucket[sl_hist_index(value)]++;
	h->count++;
	h->sum += value;
	if (value < h->min)
		h->min = value;
	if (value > h->max)
		h->max = value;
}

void
sl_hist_merge(struct sl_hist *dst, const struct sl_hist *src)
{
	unsigned int i;

	if (src->count == 0)
		return;
	for (i = 0; i < SL_HIST_BUCKETS; i++)
		dst->bucket[i] += src->bucket[i];
	dst->count += src->count;
	dst->sum += src->sum;
	if (src->min < dst->min)
		dst->min = src->min;
	if (src->max > dst->max)
		dst->max = src->max;
}

uint64_t
sl_hist_percentile(const struct sl_hist *h, double p)
{
	uint64_t rank, seen = 0, low, width, v;
	unsigned int i;

	if (h->count == 0)
		return 0;
	if (p >= 100.0)
		return h->max;
	if (p <= 0.0)
		return h->min;
	rank = (uint64_t)(p / 100.0 * (double)h->count);
	if ((double)rank < p / 100.0 * (double)h->count)
		rank++;
	if (rank == 0)
		rank = 1;
	for (i = 0; i < SL_HIST_BUCKETS; i++) {
		seen += h->bucket[i];
		if (seen >= rank)
			break;
	}
	if (i == SL_HIST_BUCKETS)
		return h->max;
	sl_hist_bucket_range(i, &low, &width);
	v = low + width / 2;
	if (v < h->min)
		v = h->min;
	if (v > h->max)
		v = h->max;
	return v;
}

double
sl_hist_mean(const struct sl_hist *h)
{
	return h->count ? (double)h->sum / (double)h->count : 0.0;
}
