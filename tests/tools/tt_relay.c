/* SPDX-License-Identifier: MIT */
#include "tt_relay.h"

#include <errno.h>
#include <string.h>

uint64_t
tt_rand(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

int
tt_relay_open(struct tt_relay *r, const struct sockaddr_in *b, tt_rule_fn rule,
	      void *ctx, uint64_t seed)
{
	struct sockaddr_in lo;

	memset(r, 0, sizeof(*r));
	sl_endpoint_parse("127.0.0.1:0", false, &lo);
	r->near = sl_sock_open(&lo);
	r->far = sl_sock_open(&lo);
	if (r->near == NULL || r->far == NULL) {
		int err = errno;

		tt_relay_close(r);
		return -err;
	}
	r->b = *b;
	r->rule = rule;
	r->ctx = ctx;
	r->rng = seed;
	return 0;
}

void
tt_relay_close(struct tt_relay *r)
{
	sl_sock_close(r->near);
	sl_sock_close(r->far);
	r->near = r->far = NULL;
}

static void
emit(struct tt_relay *r, int dir, const uint8_t *buf, uint16_t len)
{
	struct sl_dgram d = {.buf = (uint8_t *)buf, .cap = len, .len = len};

	if (dir == TT_A_TO_B) {
		d.addr = r->b;
		(void)sl_sock_send_burst(r->far, &d, 1);
	} else if (r->have_a) {
		d.addr = r->a;
		(void)sl_sock_send_burst(r->near, &d, 1);
	}
}

/* One datagram of @dir went out: held ones due now follow it. */
static void
release_due(struct tt_relay *r, int dir, bool all)
{
	unsigned int i = 0;

	while (i < r->n_held[dir]) {
		struct tt_held *h = &r->held[dir][i];

		if (all || --h->countdown == 0) {
			emit(r, dir, h->buf, h->len);
			r->reordered[dir]++;
			r->held[dir][i] = r->held[dir][--r->n_held[dir]];
		} else {
			i++;
		}
	}
}

static void
forward(struct tt_relay *r, int dir, const struct sl_dgram *d)
{
	struct sl_frag_hdr h;
	bool ok = sl_wire_parse(d->buf, d->len, &h) == SL_WIRE_OK;
	enum tt_verdict v = r->rule != NULL ? r->rule(r->ctx, dir, r->idx[dir],
						      ok ? &h : NULL)
					    : TT_PASS;

	r->idx[dir]++;
	switch (v) {
	case TT_DROP:
		r->dropped[dir]++;
		return;
	case TT_HOLD:
		if (r->n_held[dir] < TT_HOLD_MAX) {
			struct tt_held *x = &r->held[dir][r->n_held[dir]++];

			memcpy(x->buf, d->buf, d->len);
			x->len = d->len;
			x->countdown = 1 + (unsigned int)(tt_rand(&r->rng) % 3);
			return;
		}
		break;
	case TT_DUP:
		emit(r, dir, d->buf, d->len);
		r->duplicated[dir]++;
		break;
	default:
		break;
	}
	emit(r, dir, d->buf, d->len);
	r->passed[dir]++;
	release_due(r, dir, false);
}

unsigned int
tt_relay_pump(struct tt_relay *r)
{
	static struct sl_burst rx;
	unsigned int total = 0;
	int dir;

	for (dir = 0; dir < 2; dir++) {
		struct sl_sock *s = dir == TT_A_TO_B ? r->near : r->far;
		int n, i;

		sl_burst_reset(&rx);
		n = sl_sock_recv_burst(s, rx.d, SL_BURST_MAX);
		if (n <= 0) {
			release_due(r, dir, true);
			continue;
		}
		for (i = 0; i < n; i++) {
			if (dir == TT_A_TO_B && !r->have_a) {
				r->a = rx.d[i].addr;
				r->have_a = true;
			}
			forward(r, dir, &rx.d[i]);
		}
		total += (unsigned int)n;
	}
	return total;
}

unsigned int
tt_relay_holding(const struct tt_relay *r)
{
	return r->n_held[0] + r->n_held[1];
}

void
tt_lossy_init(struct tt_lossy *l, double drop, double dup, double hold,
	      unsigned int max_drops, uint64_t seed)
{
	memset(l, 0, sizeof(*l));
	l->drop = drop;
	l->dup = dup;
	l->hold = hold;
	l->max_drops = max_drops;
	l->rng = seed;
}

/* What identifies "the same datagram sent again": not its send time. */
static uint64_t
lossy_key(int dir, const struct sl_frag_hdr *h)
{
	uint64_t k = 0x51ce ^ (uint64_t)dir;
	unsigned int i;

	k = tt_rand(&k) ^ ((uint64_t)h->flags << 40 | (uint64_t)h->seq);
	k = tt_rand(&k) ^ ((uint64_t)h->child_count << 32 | h->stage);
	for (i = 0; i < h->depth; i++)
		k = tt_rand(&k) ^ h->ancestry[i];
	return k | 1; /* 0 marks a free slot */
}

enum tt_verdict
tt_lossy_rule(void *ctx, int dir, uint64_t idx, const struct sl_frag_hdr *h)
{
	struct tt_lossy *l = ctx;
	double u = (double)(tt_rand(&l->rng) >> 11) / 9007199254740992.0;

	(void)idx;
	if (h == NULL)
		return TT_PASS;
	if (u < l->drop) {
		uint64_t k = lossy_key(dir, h);
		uint32_t i = (uint32_t)k & (TT_LOSSY_SLOTS - 1);
		unsigned int probes;

		for (probes = 0; probes < TT_LOSSY_SLOTS; probes++) {
			if (l->key[i] == k || l->key[i] == 0)
				break;
			i = (i + 1) & (TT_LOSSY_SLOTS - 1);
		}
		if (probes == TT_LOSSY_SLOTS || l->drops[i] >= l->max_drops) {
			l->spared++;
			return TT_PASS;
		}
		l->key[i] = k;
		l->drops[i]++;
		return TT_DROP;
	}
	if (u < l->drop + l->dup)
		return TT_DUP;
	if (u < l->drop + l->dup + l->hold)
		return TT_HOLD;
	return TT_PASS;
}
