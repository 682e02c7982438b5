/* SPDX-License-Identifier: MIT */
/*
 * sl_cluster.h - one sluiced's membership of a cluster kept in etcd.
 *
 * The cluster's state lives under one key prefix P (default "/sluice/"):
 *
 *   P config          the cluster's pipeline file (the YAML sluiced
 *                     --config reads, with `nodes:` and every instance's
 *                     `node:`); its mod_revision is "the revision"
 *   P members/NAME    one per live node, attached to that node's lease:
 *                     {"node", "protocol", "version", "address",
 *                      "running", "rejected", "pid", "started_unix_ms"}
 *
 * A change is one transaction on P config that names the revision it was
 * based on (sluicectl --cluster apply), so two operators never overwrite
 * each other. Each node watches P; every new revision of P config is
 * handed to the control loop (sl_cluster_take), which compiles it and
 * publishes it as any apply (the same RCU path), or rejects it whole and
 * keeps the last good one. The node writes the revision it runs into its
 * member key. A node that loses etcd keeps serving what it runs and says
 * so (connected false); when its lease has expired meanwhile it joins
 * again. Two threads talk to etcd (the watch; the lease), never the
 * control loop.
 */
#ifndef SL_CLUSTER_H
#define SL_CLUSTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Bumped when nodes of one cluster could no longer agree (the document's
 * meaning, the member record, the node-to-node wire): a node refuses to
 * join a cluster whose live members speak another. */
#define SL_CLUSTER_PROTOCOL 1

#define SL_CLUSTER_PREFIX_DEFAULT "/sluice/"
#define SL_CLUSTER_TTL_DEFAULT 5 /* lease, seconds */
#define SL_CLUSTER_MAX_SKEW_MS_DEFAULT 2000

struct sl_cluster_params {
	const char *endpoints; /* etcd: "http://H:P,..." */
	const char *prefix;    /* NULL: SL_CLUSTER_PREFIX_DEFAULT */
	const char *node;      /* this node's name (one of `nodes:`) */
	const char *version;   /* this build, for the member record */
	uint32_t ttl_s;        /* 0: SL_CLUSTER_TTL_DEFAULT; 2..3600 */
	uint32_t max_skew_ms;  /* 0: SL_CLUSTER_MAX_SKEW_MS_DEFAULT */
};

/* A revision of P config the watch brought. */
struct sl_cluster_doc {
	char *yaml; /* malloc'd, NUL-terminated; NULL when deleted */
	size_t len;
	int64_t revision; /* its mod_revision (deleted: the delete's) */
	char key[160];    /* P config, for messages */
};

/* What the node reports (stats, metrics, sluicectl). */
struct sl_cluster_status {
	bool connected;         /* etcd answered within the lease's TTL */
	int64_t running;        /* revision of the config this node runs */
	int64_t seen;           /* newest revision of P config seen */
	int64_t store_revision; /* etcd's revision at the last answer */
	uint64_t applied;       /* revisions applied */
	uint64_t rejected;      /* revisions refused (kept the last good) */
	uint64_t disconnects;   /* times etcd was lost */
	uint64_t rejoins;       /* times the lease had expired: joined again */
	uint32_t members;       /* live members (this one included) */
	uint64_t members_gen;   /* bumped whenever one joins or leaves */
	char last_error[640];   /* the last refusal or etcd error, "" none */
};

struct sl_cluster;

/**
 * sl_cluster_open - join the cluster: check this node's clock against
 * etcd's (refused beyond max_skew_ms), that no live member speaks another
 * SL_CLUSTER_PROTOCOL, that no live member has this node's name, and read
 * P config (*doc; refused when there is none). Nothing is written yet.
 * Return NULL with one line in @err.
 */
struct sl_cluster *sl_cluster_open(const struct sl_cluster_params *p,
				   struct sl_cluster_doc *doc, char *err,
				   size_t errlen);

/**
 * sl_cluster_start - become a member: grant the lease, write the member
 * record (@address "IP:PORT", running @running) and start the watch from
 * the revision after @running and the lease's keepalives. Return 0 or a
 * negative errno with @err.
 */
int sl_cluster_start(struct sl_cluster *c, const char *address, int64_t running,
		     char *err, size_t errlen);

/**
 * sl_cluster_take - the newest revision of P config that arrived since the
 * last call, if any (return 1, *doc filled: free doc->yaml), else 0.
 * Older revisions that arrived meanwhile are skipped: a node runs the
 * newest.
 */
int sl_cluster_take(struct sl_cluster *c, struct sl_cluster_doc *doc);

/**
 * sl_cluster_report - what became of revision @revision: applied (@why
 * NULL) or rejected (@why: the reason, the last good one runs on). The
 * member record says so at the next chance.
 */
void sl_cluster_report(struct sl_cluster *c, int64_t revision, const char *why);

void sl_cluster_status(struct sl_cluster *c, struct sl_cluster_status *st);

/* The live members' names (at most @max, each < 32 bytes) into @names;
 * returns how many. A node that lost etcd keeps its last view. */
uint32_t sl_cluster_members(struct sl_cluster *c, char (*names)[32],
			    uint32_t max);

/* Leave: stop the threads, revoke the lease (the member record goes), free.
 * NULL is a no-op. */
void sl_cluster_close(struct sl_cluster *c);

void sl_cluster_doc_free(struct sl_cluster_doc *doc);

#endif /* SL_CLUSTER_H */
