/* SPDX-License-Identifier: MIT */
/*
 * sl_config.h - the compiled, immutable pipeline configuration.
 *
 * A pipeline file (YAML) is parsed and validated once, then compiled into
 * one struct sl_config that the dataplane only reads. The control plane
 * will later build a new one and publish it with RCU; until then sluiced
 * loads it at start. Everything is fixed-size so a snapshot is a single
 * allocation that can be freed whole.
 */
#ifndef SL_CONFIG_H
#define SL_CONFIG_H

#include <stdint.h>
#include <stdio.h>

#include "sl_wire.h"

#define SL_NAME_MAX 32
#define SL_MAX_PIPELINES 8
#define SL_MAX_STAGES 16     /* per pipeline */
#define SL_MAX_INSTANCES 32  /* per stage */
#define SL_MAX_CLIENT_NETS 16
#define SL_MAX_TENANTS 64

/* An IPv4 UDP endpoint; both fields in host byte order. */
struct sl_endpoint {
	uint32_t ip;
	uint16_t port;
};

/* An IPv4 prefix, host byte order; mask has the top prefix_len bits set. */
struct sl_ipv4_net {
	uint32_t addr;
	uint32_t mask;
	uint8_t prefix_len;
};

/* How a stage with aggregation level 0 spreads new streams. */
enum sl_balance {
	SL_BALANCE_ROUND_ROBIN = 0,
	SL_BALANCE_LEAST_LOADED, /* fewest streams in flight */
};

struct sl_instance_cfg {
	char name[SL_NAME_MAX]; /* "<stage>/<index>" unless given */
	struct sl_endpoint ep;
};

struct sl_stage_cfg {
	char name[SL_NAME_MAX];
	uint16_t id;          /* 1-based position in the pipeline */
	uint8_t aggregation;  /* ids of ancestry that pin an instance, 0..SL_ANCESTRY_MAX */
	enum sl_balance balance;
	uint16_t n_instances;
	struct sl_instance_cfg instances[SL_MAX_INSTANCES];
};

struct sl_pipeline_cfg {
	char name[SL_NAME_MAX];
	uint32_t id; /* the wire's pipeline field */
	uint16_t n_stages;
	/* stages[i] has id i + 1; a client's stream (stage 0) enters
	 * stages[0], the output of stages[n_stages - 1] returns to the client. */
	struct sl_stage_cfg stages[SL_MAX_STAGES];
};

struct sl_tenant_cfg {
	uint16_t id;
	uint32_t max_streams;     /* streams in flight; 0 = unlimited */
	uint32_t fragments_per_s; /* token-bucket rate; 0 = unlimited */
	uint32_t burst;           /* bucket depth in fragments */
};

struct sl_config {
	struct sl_endpoint listen; /* sluiced's own address and UDP port */
	uint32_t flow_table_size;  /* streams tracked at once */
	uint32_t flow_idle_ms;     /* a stream with no fragment for this long expires */
	uint32_t reorder_window;   /* out-of-order fragments held per stream */
	uint16_t n_client_nets;
	struct sl_ipv4_net client_nets[SL_MAX_CLIENT_NETS];
	/* When n_tenants > 0 only these tenants are admitted. */
	uint16_t n_tenants;
	struct sl_tenant_cfg tenants[SL_MAX_TENANTS];
	uint16_t n_pipelines;
	struct sl_pipeline_cfg pipelines[SL_MAX_PIPELINES];
};

/* Defaults applied when the file leaves a field out. */
#define SL_CONFIG_DEFAULT_FLOWS 65536
#define SL_CONFIG_DEFAULT_IDLE_MS 5000
#define SL_CONFIG_DEFAULT_REORDER 16
#define SL_CONFIG_REORDER_MAX 64

/**
 * sl_config_load - parse, validate and compile a pipeline file.
 * @path: the YAML file.
 * @err: on failure, receives one line "FILE:LINE: FIELD: what is wrong"
 *       (for example "demo.yaml:12: pipelines[0].stages[1].aggregation:
 *       must be 0..6, got 9").
 * @errlen: size of @err.
 *
 * Return: a new config (free with sl_config_free), or NULL with @err set.
 */
struct sl_config *sl_config_load(const char *path, char *err, size_t errlen);

/**
 * sl_config_parse - as sl_config_load, from a string; @name is used as
 * the file name in error messages.
 */
struct sl_config *sl_config_parse(const char *yaml, size_t len,
				  const char *name, char *err, size_t errlen);

void sl_config_free(struct sl_config *cfg);

/**
 * sl_config_find_pipeline - the pipeline with wire id @id, or NULL.
 */
const struct sl_pipeline_cfg *
sl_config_find_pipeline(const struct sl_config *cfg, uint32_t id);

/**
 * sl_config_dump - write a readable summary (one line per stage and
 * instance) to @out.
 */
void sl_config_dump(const struct sl_config *cfg, FILE *out);

/**
 * sl_ipv4_parse - parse dotted-quad @s into host order @ip. Return 0 or
 * -EINVAL. sl_ipv4_format writes @ip into @buf (at least 16 bytes).
 */
int sl_ipv4_parse(const char *s, uint32_t *ip);
const char *sl_ipv4_format(uint32_t ip, char *buf, size_t len);

#endif /* SL_CONFIG_H */
