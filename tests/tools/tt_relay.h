/* SPDX-License-Identifier: MIT */
/*
 * tt_relay - a lossy UDP forwarder for tests: real sockets on 127.0.0.1
 * between a side A (which sends to the relay's near socket) and a side B
 * (which the far socket sends to, and whose answers it carries back).
 *
 * Every datagram gets a verdict from a rule: pass, drop, duplicate, or
 * hold (reorder: released after 1..3 later datagrams of its direction,
 * or when the direction goes quiet). Rules decide by index, by what the
 * datagram is, or by a seeded PRNG (tt_lossy); everything is counted.
 * Single-threaded: the test pumps it between the sides' own work.
 */
#ifndef SL_TT_RELAY_H
#define SL_TT_RELAY_H

#include <stdbool.h>
#include <stdint.h>

#include "sluice.h"

enum tt_verdict {
	TT_PASS = 0,
	TT_DROP,
	TT_DUP,
	TT_HOLD,
};

/* Directions: A to B (data, mostly), B to A (control, mostly). */
#define TT_A_TO_B 0
#define TT_B_TO_A 1

/* @h is NULL when the datagram is not a valid fragment. @idx counts the
 * datagrams of direction @dir from 0. */
typedef enum tt_verdict (*tt_rule_fn)(void *ctx, int dir, uint64_t idx,
				      const struct sl_frag_hdr *h);

#define TT_HOLD_MAX 8

struct tt_held {
	uint8_t buf[SL_DGRAM_MAX];
	uint16_t len;
	unsigned int countdown;
};

struct tt_relay {
	struct sl_sock *near; /* A sends here; answers reach A from here */
	struct sl_sock *far;  /* sends to B from here */
	struct sockaddr_in a; /* learned from A's first datagram */
	struct sockaddr_in b;
	bool have_a;
	tt_rule_fn rule; /* NULL: pass everything */
	void *ctx;
	uint64_t rng; /* hold countdowns */
	uint64_t idx[2], passed[2], dropped[2], duplicated[2], reordered[2];
	struct tt_held held[2][TT_HOLD_MAX];
	unsigned int n_held[2];
};

/* Open both sockets on 127.0.0.1 (ports picked by the kernel), toward
 * @b. The address A must send to is r->near->local. 0 or -errno. */
int tt_relay_open(struct tt_relay *r, const struct sockaddr_in *b,
		  tt_rule_fn rule, void *ctx, uint64_t seed);
void tt_relay_close(struct tt_relay *r);

/* Forward what is waiting in both directions; a direction with nothing
 * waiting releases what it holds. Return datagrams received. */
unsigned int tt_relay_pump(struct tt_relay *r);

/* Datagrams held now (both directions). */
unsigned int tt_relay_holding(const struct tt_relay *r);

/*
 * tt_lossy - a rule that drops @drop, duplicates @dup and holds @hold of
 * the datagrams (fractions, both directions), drawn from a PRNG seeded
 * by the caller. The same datagram (kind, stream, seq, count; not its
 * send time) is dropped at most @max_drops times, so that every loss is
 * repairable within SL_RTX_TRIES: what the test then checks is that
 * the repair happens, exactly once per stream.
 */
#define TT_LOSSY_SLOTS 65536

struct tt_lossy {
	double drop, dup, hold;
	unsigned int max_drops;
	uint64_t rng;
	uint64_t key[TT_LOSSY_SLOTS];
	uint8_t drops[TT_LOSSY_SLOTS];
	uint64_t spared; /* drops skipped for max_drops */
};

void tt_lossy_init(struct tt_lossy *l, double drop, double dup, double hold,
		   unsigned int max_drops, uint64_t seed);
enum tt_verdict tt_lossy_rule(void *ctx, int dir, uint64_t idx,
			      const struct sl_frag_hdr *h);

/* splitmix64: the PRNG of the tests. */
uint64_t tt_rand(uint64_t *s);

#endif
