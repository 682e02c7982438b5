/* SPDX-License-Identifier: MIT */
/*
 * sl_snapshot.h - a compiled pipeline configuration, the contract between
 * the control plane and the dataplane.
 *
 * The compiler (sl_config.h: YAML in, validated) fills one struct
 * sl_config; from then on it is a snapshot: immutable once published (RCU),
 * read by the dataplane, copied and edited by the control plane before the
 * next is published. Everything is fixed-size so a snapshot is a single
 * allocation that can be freed whole. This header is the snapshot's
 * layout and what may be done with one (sl_snapshot.c); the dataplane
 * needs nothing else from control/ but the guard engine.
 */
#ifndef SL_SNAPSHOT_H
#define SL_SNAPSHOT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "sl_wire.h"

#define SL_NAME_MAX 32
/* A stage's prompt template (`prompt:`), bytes. */
#define SL_PROMPT_MAX 16384
#define SL_MAX_PIPELINES 8
#define SL_MAX_STAGES 16    /* per pipeline */
#define SL_MAX_INSTANCES 32 /* per stage */
#define SL_MAX_CLIENT_NETS 16
#define SL_MAX_TENANTS 64
#define SL_MAX_EDGES 32    /* per pipeline */
#define SL_MAX_OUT_EDGES 4 /* edges leaving one stage (or the client) */
#define SL_PATTERN_MAX 128
#define SL_STAGE_CLIENT 0 /* an edge's end that is the client */
#define SL_MAX_GUARDS 8
#define SL_GUARD_TEXT_MAX 512
#define SL_GUARD_RULES_MAX 100000

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

/*
 * How a stage with aggregation level 0 spreads new streams (its policy);
 * a stage with an aggregation level always routes by its key.
 */
enum sl_balance {
	SL_BALANCE_ROUND_ROBIN = 0,
	SL_BALANCE_LEAST_LOADED, /* fewest answers owed: streams routed whose
				  * answer has not ended ("least_loaded",
				  * "least_outstanding"; in a pool, of all the
				  * pool's stages) */
	SL_BALANCE_HASH_REQUEST, /* ALTO's: hash(request id) % instances */
	SL_BALANCE_PROMPT_AWARE, /* least predicted completion time: work
				  * outstanding + this stage's cost - the
				  * prefix-cache saving where its prompt is
				  * warm, under a bounded-load cap */
	SL_BALANCE_MAX
};

/* "round_robin", "least_loaded", "hash_request", "prompt_aware"; "?". */
const char *sl_balance_name(enum sl_balance b);

/* The policy named @s ("least_outstanding" is least_loaded's other
 * name), or SL_BALANCE_MAX. */
enum sl_balance sl_balance_parse(const char *s);

/* What runs a stage. Operators run inline in sluiced and have no
 * instances; their groups are keyed by the first `aggregation` ids. */
enum sl_stage_kind {
	SL_STAGE_ENGINE = 0, /* instances reached over the network */
	SL_STAGE_OP_COUNT,   /* tokens in the group */
	SL_STAGE_OP_SUM,     /* sum of the tokens' numeric texts */
	SL_STAGE_OP_TOPK,    /* k tokens with the highest numeric texts */
	SL_STAGE_OP_CONCAT, /* every token, ordered by ancestry then producer */
};

enum sl_edge_mode {
	SL_EDGE_STREAM = 0, /* forward each fragment as it arrives */
	SL_EDGE_BUFFER,     /* forward when the upstream stream ends */
};

enum sl_split {
	SL_SPLIT_NONE = 0,
	SL_SPLIT_LINE,     /* cut after each "\n" */
	SL_SPLIT_SENTENCE, /* cut after [.!?] followed by white space */
	SL_SPLIT_REGEX,    /* cut after each match of `pattern` */
};

struct sl_edge_cfg {
	uint16_t id;   /* index in the pipeline's edges[] */
	uint16_t from; /* stage id, or SL_STAGE_CLIENT: the client's request */
	uint16_t to;   /* stage id, or SL_STAGE_CLIENT: back to the client */
	enum sl_edge_mode mode;
	enum sl_split split;
	/* Split edges: route a child stream as soon as its quantum starts
	 * and send it token by token (else when the quantum is complete). */
	bool stream_children;
	char pattern
		[SL_PATTERN_MAX]; /* the split's pattern (built-in ones too) */
	void *split_db; /* compiled pattern (hs_database_t), owned by the config */
	uint8_t depth_in;  /* ancestry depth of streams entering the edge */
	uint8_t depth_out; /* depth_in, + 1 for a split */
	uint8_t guard;     /* 1 + index into cfg->guards; 0: none */
};

/*
 * A compiled guard rule set, shared by the snapshots that name it and by
 * the streams being filtered with it (a stream keeps the set it started
 * with when a newer snapshot changes the rules). The last holder frees it
 * (sl_guard_ref_put), whichever thread that is.
 */
struct sl_guard_ref {
	void *set;     /* struct sl_guard_set (control/sl_guard.h) */
	unsigned refs; /* holders; atomic */
	unsigned n_rules;
	char **patterns; /* the rules as written, to compile an edit again */
	bool *regex;
	char mask[SL_GUARD_TEXT_MAX];
};

/**
 * sl_guard_ref_get, sl_guard_ref_put - take or drop a hold on @ref; the
 * last put frees the set and its rules. NULL is a no-op.
 */
void sl_guard_ref_get(struct sl_guard_ref *ref);
void sl_guard_ref_put(struct sl_guard_ref *ref);

/*
 * A guard: a filter (literals and bounded regexes, one action) applied to
 * the streams of the edges naming it, and/or an instruction prefix put
 * before every stream those edges carry to an engine.
 */
struct sl_guard_cfg {
	char name[SL_NAME_MAX];
	int action; /* enum sl_guard_action of its rules */
	uint32_t n_rules;
	struct sl_guard_ref *ref; /* NULL: no filter rules (prefix only) */
	char prefix[SL_GUARD_TEXT_MAX];  /* "" for none */
	char refusal[SL_GUARD_TEXT_MAX]; /* what a blocked client receives */
};

#define SL_MAX_INSTANCE_UIDS 1024 /* runtime instance slots in sluiced */

#define SL_MAX_POOLS 8 /* per pipeline */
#define SL_POOL_NONE 0xff
#define SL_POOL_WARM_MAX 4 /* prompts an instance is assumed to keep warm */

/*
 * A pool of engine instances that several stages of a pipeline share
 * (`pools:`, a stage says `pool: NAME`). Each such stage lists the pool's
 * instances in the pool's order (instance i of the stage is member i of
 * the pool, named "<pool>/<i>" unless given), so routing state per stage
 * stays as it is and a policy sees a member's load summed over the
 * pool's stages.
 */
struct sl_pool_cfg {
	char name[SL_NAME_MAX];
	enum sl_balance policy; /* its stages' unless one says its own */
	double load_bound;      /* prompt_aware: no member above this x the mean
			    * predicted work (> 1; 1.25 unless given) */
	uint8_t warm_prefixes;  /* prompts a member keeps warm (its engine's
				* prefix cache), 1..SL_POOL_WARM_MAX */
	uint16_t n_instances;
	uint8_t n_stages;
	uint8_t stages[SL_MAX_STAGES]; /* indexes into pipeline.stages */
};

struct sl_instance_cfg {
	char name[SL_NAME_MAX]; /* "<stage>/<index>" unless given */
	struct sl_endpoint ep;
	/* Runtime identity: the same instance (pipeline, stage, endpoint)
	 * keeps its uid across snapshots, so counters and streams in flight
	 * survive reconfiguration (sl_config_assign_uids). */
	uint16_t uid;
	bool draining; /* takes no new streams; those in flight finish */
	/* A local GPU engine (`gpu: true`): its input streams go into
	 * sluiced's token rings (the gpu_tx node), not onto the network;
	 * its answers, PROBEs and PAUSE come over the network as usual. */
	bool gpu;
	/* Cluster mode: the node whose sluiced serves it (`node:`; 1 +
	 * an index into sl_config.nodes, 0: none given), and whether that
	 * is another node than this sluiced's (sl_config_localize): reached
	 * through that node's sluiced (dataplane/sl_relay.h). */
	uint8_t node;
	bool remote;
	/* Its node left the cluster (lease expired): dead to routing and
	 * liveness until a snapshot says otherwise. */
	bool down;
};

/* Where an instance sits: indexes into pipelines, stages, instances. */
struct sl_instance_at {
	uint8_t pipeline;
	uint8_t stage;
	uint8_t index;
};

struct sl_stage_cfg {
	char name[SL_NAME_MAX];
	uint16_t id; /* 1-based position in the pipeline */
	enum sl_stage_kind kind;
	uint8_t aggregation; /* ids of ancestry that pin an instance, 0..depth_in */
	enum sl_balance balance;
	/* Aggregating engine stages: > 1 turns on bounded-load consistent
	 * hashing (no instance takes more than load_bound x the mean of new
	 * keys); 0 = plain rendezvous hashing. */
	double load_bound;
	uint32_t topk;            /* SL_STAGE_OP_TOPK: k, 1..64 */
	uint32_t max_groups;      /* operators: groups in flight at once */
	uint32_t max_group_bytes; /* operators: state one group may hold */
	uint8_t depth_in; /* ancestry depth of the streams it receives */
	/* Engines: a stream whose instance died before answering anything
	 * may be sent again to another instance (else it is aborted). */
	bool idempotent;
	/* Engines: the pool its instances come from (index into
	 * pipeline.pools), SL_POOL_NONE for its own list. */
	uint8_t pool;
	/* The scheduler's view of a stream here (prompt_aware), in
	 * microseconds of an instance's time: its predicted cost, and what
	 * a member that has this stage's prompt warm saves of it. From the
	 * file (`cost_ms`, `warm_saving_ms`); 1000 and 0 unless given. */
	uint32_t cost_us;
	uint32_t warm_saving_us;
	/* Engines: the prompt template a bridge renders for each input
	 * stream (`prompt:`, "{input}" = the stream's text); NULL: none.
	 * Not read by the dataplane; the config owns it. */
	char *prompt;
	uint8_t n_in_edges;
	uint8_t n_out_edges;
	uint16_t out_edges[SL_MAX_OUT_EDGES]; /* indexes into edges[] */
	uint16_t n_instances;
	struct sl_instance_cfg instances[SL_MAX_INSTANCES];
};

struct sl_pipeline_cfg {
	char name[SL_NAME_MAX];
	uint32_t id; /* the wire's pipeline field */
	uint16_t n_stages;
	struct sl_stage_cfg stages[SL_MAX_STAGES]; /* stages[i] has id i + 1 */
	/*
	 * The DAG. Without `edges:` in the file the pipeline is a chain:
	 * client -> stages[0] -> ... -> stages[n - 1] -> client, all stream
	 * edges. Acyclic; every stage reachable from the client and reaching
	 * it; all edges into a stage agree on depth.
	 */
	uint16_t n_edges;
	struct sl_edge_cfg edges[SL_MAX_EDGES];
	uint8_t n_client_edges;
	uint16_t client_edges[SL_MAX_OUT_EDGES]; /* edges from the client */
	/* Exactly one edge returns to the client and its streams have depth
	 * 1: a request is done when that one stream ends. */
	bool single_output;
	/* Ancestry depths a stream arriving as stage s's output may have
	 * (s = 0: a client's request, depth 1); anything else is dropped as
	 * DEPTH_MISMATCH. Exact in a declared DAG; in a chain from what the
	 * next stage aggregates on up to SL_ANCESTRY_MAX. */
	uint8_t depth_min[SL_MAX_STAGES + 1];
	uint8_t depth_max[SL_MAX_STAGES + 1];
	/* `guard: required`: every edge to the client carries a guard with
	 * block or redact rules (checked at compile and on guard edits). */
	bool guard_required;
	uint8_t n_pools;
	struct sl_pool_cfg pools[SL_MAX_POOLS];
};

#define SL_MAX_TENANT_SOURCES 8

struct sl_tenant_cfg {
	uint16_t id;
	uint32_t max_streams;     /* streams in flight; 0 = unlimited */
	uint32_t fragments_per_s; /* token-bucket rate; 0 = unlimited */
	uint32_t burst;           /* bucket depth in fragments */
	/* Client addresses that may open requests as this tenant; none:
	 * any client address (the tenant is then only a label). */
	uint16_t n_sources;
	struct sl_ipv4_net sources[SL_MAX_TENANT_SOURCES];
};

/* A sluiced of a cluster (`nodes:`): its name and its own address. */
struct sl_node_cfg {
	char name[SL_NAME_MAX];
	struct sl_endpoint listen;
};

#define SL_MAX_NODES 16

struct sl_config {
	uint64_t generation;       /* snapshot number, set when published */
	uint16_t next_uid;         /* next instance uid to hand out */
	struct sl_endpoint listen; /* sluiced's own address and UDP port */
	uint32_t flow_table_size;  /* streams tracked at once */
	uint32_t
		flow_idle_ms; /* a stream with no fragment for this long expires */
	uint32_t reorder_window; /* out-of-order fragments held per stream */
	uint32_t buffer_max;     /* fragments a buffer edge holds per stream */
	uint32_t client_streams; /* clients' streams in the table at once */
	uint32_t source_streams; /* ... from one client address */
	uint32_t tenant_streams; /* ... of one tenant */
	uint32_t probe_ms;       /* liveness: PROBE each instance this often */
	uint32_t dead_ms;        /* ... dead when not heard for this long */
	uint16_t n_client_nets;
	struct sl_ipv4_net client_nets[SL_MAX_CLIENT_NETS];
	/* When n_tenants > 0 only these tenants are admitted. */
	uint16_t n_tenants;
	struct sl_tenant_cfg tenants[SL_MAX_TENANTS];
	uint16_t n_guards;
	struct sl_guard_cfg guards[SL_MAX_GUARDS];
	uint16_t n_pipelines;
	struct sl_pipeline_cfg pipelines[SL_MAX_PIPELINES];
	/* Cluster mode (`nodes:`): every node's sluiced, and which one this
	 * is (1 + index; 0: not localized, every instance is local). */
	uint8_t n_nodes;
	uint8_t local_node;
	struct sl_node_cfg nodes[SL_MAX_NODES];
	/* Derived by sl_config_assign_uids (and kept by instance edits):
	 * every instance of every stage, in pipeline, stage, instance order,
	 * so that a walk over all of them is one loop. */
	uint16_t n_instances_all;
	struct sl_instance_at instances_all[SL_MAX_INSTANCE_UIDS];
};

/* The instance @at names in @cfg. */
static inline struct sl_instance_cfg *
sl_config_instance_at(const struct sl_config *cfg,
		      const struct sl_instance_at *at)
{
	return (struct sl_instance_cfg *)&cfg->pipelines[at->pipeline]
		.stages[at->stage]
		.instances[at->index];
}

/* Out-of-order fragments a stream may hold, at most (reorder_window). */
#define SL_CONFIG_REORDER_MAX 64

void sl_config_free(struct sl_config *cfg);

/**
 * sl_config_clone - a deep copy of @cfg (split patterns compiled again, so
 * each snapshot owns its databases). Return NULL with errno set.
 */
struct sl_config *sl_config_clone(const struct sl_config *cfg);

/**
 * sl_config_assign_uids - give every instance of @cfg its runtime uid: an
 * instance that @prev (may be NULL) also has, same pipeline name, stage
 * name and endpoint, keeps its uid (not its draining state: a file says
 * which instances take streams); new ones get fresh uids after prev's,
 * never one an instance of @cfg holds. Fills cfg->instances_all.
 * Return 0, or -ENOSPC when @cfg has more than SL_MAX_INSTANCE_UIDS
 * instances in all.
 */
int sl_config_assign_uids(struct sl_config *cfg, const struct sl_config *prev);

/**
 * sl_config_same_layout - true if @a and @b differ at most in instances
 * (their endpoints, names, draining) and tenants: same pipelines in the
 * same order, same stages, operators and edges. Streams in flight keep
 * every piece of state across such a change.
 */
bool sl_config_same_layout(const struct sl_config *a,
			   const struct sl_config *b);

/**
 * sl_config_check_replace - can @next replace @cur in a running sluiced?
 * The dataplane port's address and the flow table's geometry are fixed at
 * start. Return 0, or -EINVAL with "FIELD: message" in @err.
 */
int sl_config_check_replace(const struct sl_config *cur,
			    const struct sl_config *next, char *err,
			    size_t errlen);

/**
 * sl_config_share_patterns - for every split edge of @next whose pattern
 * the edge at the same place in @cur also has, swap the two compiled
 * databases, so @next uses the very database splitters in flight were
 * opened with and @cur (freed later) takes the duplicate.
 */
void sl_config_share_patterns(struct sl_config *next, struct sl_config *cur);

/**
 * sl_config_instance_edit - change one instance of a snapshot in place:
 * @op 'a' adds @ep as @name to pipeline @pipeline stage @stage, 'r'
 * removes the instance named @name, 'd' drains it. On failure writes
 * "FIELD: message" to @err and returns a negative errno: -ENOENT (no such
 * pipeline, stage or instance), -EEXIST (name or endpoint in use),
 * -ENOSPC (stage full), -EINVAL (an operator stage; the last instance
 * that is not draining). On a stage that takes a pool's instances the
 * edit is the pool's: every stage of the pool, the same member.
 */
int sl_config_instance_edit(struct sl_config *cfg, char op,
			    const char *pipeline, const char *stage,
			    const char *name, const struct sl_endpoint *ep,
			    char *err, size_t errlen);

/* A change of policy (SetPolicy): the policy, and for a pool its
 * prompt_aware settings (0: unchanged). */
struct sl_policy_edit {
	enum sl_balance policy;
	double load_bound;      /* (1.0, 16.0], as in the file */
	uint32_t warm_prefixes; /* 1..SL_POOL_WARM_MAX */
};

/**
 * sl_config_policy_edit - set the policy of stage @stage or of pool @pool
 * (exactly one of the two non-empty) of pipeline @pipeline in place, and
 * a pool's load_bound and warm_prefixes where @e gives them; a pool's
 * policy is also every stage's of the pool. New streams follow it, those
 * in flight keep their instance. Nothing changes on failure, which writes
 * "FIELD: message" to @err: -ENOENT (no such pipeline, stage or pool),
 * -EINVAL (both or neither named, an operator stage, not a policy, a
 * load_bound or warm_prefixes out of range or given for a stage).
 */
int sl_config_policy_edit(struct sl_config *cfg, const char *pipeline,
			  const char *stage, const char *pool,
			  const struct sl_policy_edit *e, char *err,
			  size_t errlen);

/**
 * sl_stage_name_of - "client" for SL_STAGE_CLIENT, else the stage's name.
 */
const char *sl_stage_name_of(const struct sl_pipeline_cfg *pl, uint16_t id);

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
 * sl_config_net_match - true if @ip (host order) is in one of the @n
 * prefixes @nets. sl_config_is_client - in one of cfg's client networks.
 */
bool sl_config_net_match(const struct sl_ipv4_net *nets, uint16_t n,
			 uint32_t ip);
bool sl_config_is_client(const struct sl_config *cfg, uint32_t ip);

/**
 * sl_ipv4_parse - parse dotted-quad @s into host order @ip. Return 0 or
 * -EINVAL. sl_ipv4_format writes @ip into @buf (at least 16 bytes).
 */
int sl_ipv4_parse(const char *s, uint32_t *ip);
const char *sl_ipv4_format(uint32_t ip, char *buf, size_t len);

/** sl_stage_kind_name, sl_split_name - the names the pipeline file uses. */
const char *sl_stage_kind_name(enum sl_stage_kind kind);
const char *sl_split_name(enum sl_split split);

#endif /* SL_SNAPSHOT_H */
