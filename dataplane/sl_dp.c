/* SPDX-License-Identifier: MIT */
/*
 * sl_dp.c - names of the drop reasons and nodes, the per-packet meta.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <sys/random.h>

#include <rte_cycles.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf_dyn.h>
#include <rte_rcu_qsbr.h>

#include "sl_dp.h"

int sl_pkt_meta_offset = -1;

static const char *const drop_names[SL_DROP_MAX] = {
#define SL_DROP_NAME_WIRE(name, text) [SL_DROP_##name] = #name,
	SL_WIRE_ERRORS(SL_DROP_NAME_WIRE)
#undef SL_DROP_NAME_WIRE
#define SL_DROP_NAME_DP(name, text) [SL_DROP_##name] = #name,
		SL_DP_DROPS(SL_DROP_NAME_DP)
#undef SL_DROP_NAME_DP
};

static const char *const drop_texts[SL_DROP_MAX] = {
#define SL_DROP_TEXT_WIRE(name, text) [SL_DROP_##name] = text,
	SL_WIRE_ERRORS(SL_DROP_TEXT_WIRE)
#undef SL_DROP_TEXT_WIRE
#define SL_DROP_TEXT_DP(name, text) [SL_DROP_##name] = text,
		SL_DP_DROPS(SL_DROP_TEXT_DP)
#undef SL_DROP_TEXT_DP
};

static const char *const stage_names[SL_STAGE_MAX] = {
#define SL_STAGE_NAME(name, text, fn, input) [SL_STAGE_##name] = text,
	SL_NODES(SL_STAGE_NAME)
#undef SL_STAGE_NAME
};

const char *
sl_stage_name(enum sl_stage_id id)
{
	return (unsigned int)id < SL_STAGE_MAX ? stage_names[id] : "?";
}

const char *
sl_drop_name(enum sl_drop reason)
{
	return (unsigned int)reason < SL_DROP_MAX ? drop_names[reason] : "?";
}

const char *
sl_drop_text(enum sl_drop reason)
{
	return (unsigned int)reason < SL_DROP_MAX ? drop_texts[reason] : "?";
}

int
sl_pkt_meta_register(void)
{
	static const struct rte_mbuf_dynfield desc = {
		.name = "sluice_pkt_meta",
		.size = sizeof(struct sl_pkt_meta),
		.align = __alignof__(struct sl_pkt_meta),
	};
	int off = rte_mbuf_dynfield_register(&desc);

	if (off < 0)
		return -rte_errno;
	sl_pkt_meta_offset = off;
	return 0;
}
