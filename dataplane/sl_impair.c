/* SPDX-License-Identifier: MIT */
/*
 * sl_impair.c - fault injector (see sl_impair.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_byteorder.h>
#include <rte_ether.h>

#include "sl_snapshot.h"
#include "sl_impair.h"

/* xorshift64*: cheap, and a seed makes a run repeat. */
static inline uint64_t
impair_rand(struct sl_impair *im)
{
	im->rng ^= im->rng >> 12;
	im->rng ^= im->rng << 25;
	im->rng ^= im->rng >> 27;
	return im->rng * 0x2545f4914f6cdd1dull;
}

static inline bool
impair_chance(struct sl_impair *im, uint32_t ppm)
{
	return ppm != 0 && impair_rand(im) % 1000000u < ppm;
}

static int
impair_pct(const char *v, uint32_t *ppm)
{
	char *end;
	double pct = strtod(v, &end);

	if (end == v || *end != '\0' || !(pct >= 0.0 && pct <= 50.0))
		return -EINVAL;
	*ppm = (uint32_t)(pct * 10000.0 + 0.5);
	return 0;
}

int
sl_impair_parse(struct sl_impair *im, const char *spec, char *err,
		size_t errlen)
{
	char buf[512], *save = NULL, *tok;

	memset(im, 0, sizeof(*im));
	im->dir = SL_IMPAIR_BOTH;
	im->rng = 1;
	if (strlen(spec) >= sizeof(buf)) {
		snprintf(err, errlen, "impair: longer than %zu bytes",
			 sizeof(buf) - 1);
		return -EINVAL;
	}
	strcpy(buf, spec);
	for (tok = strtok_r(buf, ",", &save); tok != NULL;
	     tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '=');
		const char *v;

		if (eq == NULL)
			goto bad;
		*eq = '\0';
		v = eq + 1;
		if (!strcmp(tok, "drop") || !strcmp(tok, "dup") ||
		    !strcmp(tok, "reorder")) {
			uint32_t *ppm = !strcmp(tok, "drop") ? &im->drop_ppm
					: !strcmp(tok, "dup")
						? &im->dup_ppm
						: &im->reorder_ppm;

			if (impair_pct(v, ppm) != 0) {
				snprintf(err, errlen,
					 "impair.%s: must be a percentage "
					 "0..50, got \"%s\"",
					 tok, v);
				return -EINVAL;
			}
		} else if (!strcmp(tok, "dir")) {
			if (!strcmp(v, "rx"))
				im->dir = SL_IMPAIR_RX;
			else if (!strcmp(v, "tx"))
				im->dir = SL_IMPAIR_TX;
			else if (!strcmp(v, "both"))
				im->dir = SL_IMPAIR_BOTH;
			else {
				snprintf(err, errlen,
					 "impair.dir: must be rx, tx or both, "
					 "got \"%s\"",
					 v);
				return -EINVAL;
			}
		} else if (!strcmp(tok, "hop")) {
			if (im->n_hops == SL_IMPAIR_HOPS ||
			    sl_ipv4_parse(v, &im->hops[im->n_hops]) != 0) {
				snprintf(err, errlen,
					 "impair.hop: must be an IPv4 address "
					 "(at most %d), got \"%s\"",
					 SL_IMPAIR_HOPS, v);
				return -EINVAL;
			}
			im->n_hops++;
		} else if (!strcmp(tok, "seed")) {
			char *end;

			im->rng = strtoull(v, &end, 10);
			if (end == v || *end != '\0') {
				snprintf(err, errlen,
					 "impair.seed: must be a number, got "
					 "\"%s\"",
					 v);
				return -EINVAL;
			}
			if (im->rng == 0)
				im->rng = 1; /* xorshift's fixed point */
		} else {
			goto bad;
		}
	}
	return 0;
bad:
	snprintf(err, errlen,
		 "impair: unknown item \"%s\" (drop=, dup=, reorder=, dir=, "
		 "hop=, seed=)",
		 tok);
	return -EINVAL;
}

/* Is @m an IPv4 frame of a chosen hop (far end at the source for rx,
 * the destination for tx)? */
static bool
impair_hop(const struct sl_impair *im, const struct rte_mbuf *m, bool rx)
{
	const uint8_t *p = rte_pktmbuf_mtod(m, const uint8_t *);
	uint32_t ip;

	if (rte_pktmbuf_data_len(m) < SL_ETHER_HDR_LEN + SL_IPV4_HDR_LEN ||
	    p[12] != 0x08 || p[13] != 0x00)
		return false;
	if (im->n_hops == 0)
		return true;
	memcpy(&ip, p + SL_ETHER_HDR_LEN + (rx ? 12 : 16), 4);
	ip = rte_be_to_cpu_32(ip);
	for (uint8_t i = 0; i < im->n_hops; i++)
		if (im->hops[i] == ip)
			return true;
	return false;
}

static uint16_t
impair_burst(struct sl_impair *im, struct rte_mempool *pool,
	     struct rte_mbuf **pkts, uint16_t n, uint16_t cap, bool rx)
{
	struct sl_impair_counters *c = rx ? &im->rx : &im->tx;
	struct rte_mbuf **held = rx ? im->held_rx : im->held_tx;
	uint16_t *n_held = rx ? &im->n_held_rx : &im->n_held_tx;
	struct rte_mbuf *later[SL_IMPAIR_HELD];
	uint16_t out = 0, n_later = 0;

	if (!(im->dir & (rx ? SL_IMPAIR_RX : SL_IMPAIR_TX)))
		return n;
	for (uint16_t i = 0; i < n; i++) {
		struct rte_mbuf *m = pkts[i];

		if (!impair_hop(im, m, rx)) {
			pkts[out++] = m;
			continue;
		}
		c->seen++;
		if (impair_chance(im, im->drop_ppm)) {
			c->dropped++;
			rte_pktmbuf_free(m);
			continue;
		}
		if (n_later < SL_IMPAIR_HELD &&
		    impair_chance(im, im->reorder_ppm)) {
			c->reordered++;
			later[n_later++] = m;
			continue;
		}
		pkts[out++] = m;
		if (impair_chance(im, im->dup_ppm)) {
			struct rte_mbuf *d =
				rte_pktmbuf_copy(m, pool, 0, UINT32_MAX);

			if (d != NULL && n_later < SL_IMPAIR_HELD) {
				c->duplicated++;
				later[n_later++] = d; /* the copy comes late */
			} else if (d != NULL) {
				rte_pktmbuf_free(d);
			}
		}
	}
	/* What was held back last time goes after this burst; what is held
	 * back now goes after the next one. */
	for (uint16_t i = 0; i < *n_held; i++) {
		if (out < cap)
			pkts[out++] = held[i];
		else
			rte_pktmbuf_free(held[i]);
	}
	memcpy(held, later, n_later * sizeof(later[0]));
	*n_held = n_later;
	return out;
}

uint16_t
sl_impair_rx(struct sl_impair *im, struct rte_mempool *pool,
	     struct rte_mbuf **pkts, uint16_t n, uint16_t cap)
{
	return impair_burst(im, pool, pkts, n, cap, true);
}

uint16_t
sl_impair_tx(struct sl_impair *im, struct rte_mempool *pool,
	     struct rte_mbuf **pkts, uint16_t n, uint16_t cap)
{
	return impair_burst(im, pool, pkts, n, cap, false);
}

void
sl_impair_flush(struct sl_impair *im)
{
	for (uint16_t i = 0; i < im->n_held_rx; i++)
		rte_pktmbuf_free(im->held_rx[i]);
	for (uint16_t i = 0; i < im->n_held_tx; i++)
		rte_pktmbuf_free(im->held_tx[i]);
	im->n_held_rx = im->n_held_tx = 0;
}
