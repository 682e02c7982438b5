/* SPDX-License-Identifier: MIT */
/*
 * sl_cluster.c - one sluiced's membership of a cluster kept in etcd
 * (sl_cluster.h). Two threads: the watcher follows P (config revisions,
 * members coming and going), the keeper holds the lease and writes this
 * node's member record. The control loop only takes what they found and
 * reports what it did, under one mutex.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "sl_cluster.h"
#include "sl_etcd.h"

#define CLUSTER_MEMBERS_MAX 64
#define CLUSTER_RETRY_MS 200

struct sl_cluster {
	/* Set at open, read-only after. */
	char endpoints[1024];
	char prefix[128];
	char node[32];
	char version[64];
	uint32_t ttl_s;
	uint32_t max_skew_ms;
	char cfg_key[160];
	char members_prefix[160];
	char member_key[192];
	char address[32];
	uint64_t started_unix_ms;
	struct sl_etcd *etcd; /* open's, then the keeper's */

	pthread_t watcher, keeper;
	bool threads;
	volatile bool stop;
	uint64_t heard_ms; /* last answer from etcd (atomic) */

	pthread_mutex_t mu;  /* everything below */
	pthread_cond_t wake; /* the keeper: a record to write, or stop */
	bool has_pending;
	struct sl_cluster_doc pending;
	int64_t watch_from;
	int64_t lease;
	bool record_dirty;
	int64_t rejected_rev;
	char rejected_why[256];
	struct sl_cluster_status st;
	bool was_connected;
	uint32_t n_members;
	char members[CLUSTER_MEMBERS_MAX][32];
};

static uint64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static uint64_t
unix_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void
heard(struct sl_cluster *c)
{
	__atomic_store_n(&c->heard_ms, mono_ms(), __ATOMIC_RELAXED);
}

/* Sleep @ms in steps, returning early (true) once the cluster stops. */
static bool
nap(struct sl_cluster *c, uint32_t ms)
{
	while (ms > 0 && !c->stop) {
		uint32_t step = ms < 50 ? ms : 50;

		usleep(step * 1000u);
		ms -= step;
	}
	return c->stop;
}

void
sl_cluster_doc_free(struct sl_cluster_doc *doc)
{
	if (doc == NULL)
		return;
	free(doc->yaml);
	doc->yaml = NULL;
	doc->len = 0;
}

/* ---------------------------------------------------------------- members */

/* The member name of key @key under P members/, or NULL. */
static const char *
member_name(const struct sl_cluster *c, const char *key)
{
	size_t n = strlen(c->members_prefix);

	if (strncmp(key, c->members_prefix, n) != 0 || key[n] == '\0' ||
	    strlen(key + n) >= sizeof(c->members[0]))
		return NULL;
	return key + n;
}

/* Under c->mu. */
static void
member_set(struct sl_cluster *c, const char *name, bool present)
{
	uint32_t i;

	for (i = 0; i < c->n_members; i++)
		if (strcmp(c->members[i], name) == 0)
			break;
	if (present && i == c->n_members && i < CLUSTER_MEMBERS_MAX) {
		snprintf(c->members[i], sizeof(c->members[i]), "%s", name);
		c->n_members++;
		c->st.members_gen++;
		fprintf(stderr, "sluiced: cluster: member %s joined\n", name);
	} else if (!present && i < c->n_members) {
		c->members[i][0] = '\0';
		memmove(c->members[i], c->members[i + 1],
			(c->n_members - i - 1) * sizeof(c->members[0]));
		c->n_members--;
		c->st.members_gen++;
		fprintf(stderr, "sluiced: cluster: member %s left\n", name);
	}
}

/*
 * A live member's record must speak our protocol and must not be this
 * node's name: either refuses the join, with one line in @err.
 */
static int
member_check(const struct sl_cluster *c, const struct sl_etcd_kv *kv, char *err,
	     size_t errlen)
{
	const char *name = member_name(c, kv->key);
	json_error_t je;
	json_t *rec, *proto;
	int rc = 0;

	if (name == NULL)
		return 0;
	if (strcmp(name, c->node) == 0) {
		snprintf(err, errlen,
			 "%s: a live member is already named %s (lease %" PRId64
			 "): another sluiced with --node %s? (a node that "
			 "ended leaves within its lease's TTL)",
			 kv->key, name, kv->lease, name);
		return -EEXIST;
	}
	rec = json_loadb(kv->value, kv->value_len, 0, &je);
	proto = json_object_get(rec, "protocol");
	if (!json_is_integer(proto)) {
		snprintf(err, errlen,
			 "%s: member %s's record has no protocol: refusing to "
			 "join a cluster this sluiced cannot read",
			 kv->key, name);
		rc = -EPROTO;
	} else if (json_integer_value(proto) != SL_CLUSTER_PROTOCOL) {
		snprintf(err, errlen,
			 "%s: member %s speaks cluster protocol "
			 "%" JSON_INTEGER_FORMAT
			 ", this sluiced %d: refusing to join (upgrade the "
			 "cluster's nodes together)",
			 kv->key, name, json_integer_value(proto),
			 SL_CLUSTER_PROTOCOL);
		rc = -EPROTO;
	}
	json_decref(rec);
	return rc;
}

/* This node's member record (JSON, malloc'd). Under c->mu. */
static char *
member_record(const struct sl_cluster *c)
{
	json_t *rec = json_pack(
		"{s:s, s:i, s:s, s:s, s:I, s:I, s:s, s:i, s:I}", "node",
		c->node, "protocol", SL_CLUSTER_PROTOCOL, "version", c->version,
		"address", c->address, "running", (json_int_t)c->st.running,
		"rejected", (json_int_t)c->rejected_rev, "reason",
		c->rejected_why, "pid", (int)getpid(), "started_unix_ms",
		(json_int_t)c->started_unix_ms);
	char *s = rec != NULL ? json_dumps(rec, JSON_COMPACT) : NULL;

	json_decref(rec);
	return s;
}

/* ----------------------------------------------------------------- config */

/* A revision of P config: kept as the pending one when newer. Under mu. */
static void
config_seen(struct sl_cluster *c, const struct sl_etcd_kv *kv, bool deleted)
{
	if (deleted) {
		snprintf(c->st.last_error, sizeof(c->st.last_error),
			 "%s deleted at revision %" PRId64
			 ": keeping revision %" PRId64,
			 c->cfg_key, kv->mod_revision, c->st.running);
		fprintf(stderr, "sluiced: cluster: %s\n", c->st.last_error);
		return;
	}
	if (kv->mod_revision <= c->st.seen)
		return;
	char *copy = malloc(kv->value_len + 1);

	if (copy == NULL) {
		fprintf(stderr,
			"sluiced: cluster: revision %" PRId64
			": out of memory, not taken\n",
			kv->mod_revision);
		return;
	}
	memcpy(copy, kv->value, kv->value_len);
	copy[kv->value_len] = '\0';
	sl_cluster_doc_free(&c->pending);
	c->pending.yaml = copy;
	c->pending.len = kv->value_len;
	c->pending.revision = kv->mod_revision;
	snprintf(c->pending.key, sizeof(c->pending.key), "%s", c->cfg_key);
	c->has_pending = true;
	c->st.seen = kv->mod_revision;
}

/* One watch response. */
static int
on_events(void *arg, const struct sl_etcd_event *ev, size_t n, int64_t rev)
{
	struct sl_cluster *c = arg;

	heard(c);
	pthread_mutex_lock(&c->mu);
	for (size_t i = 0; i < n; i++) {
		const struct sl_etcd_kv *kv = &ev[i].kv;
		const char *name;

		if (strcmp(kv->key, c->cfg_key) == 0)
			config_seen(c, kv, ev[i].deleted);
		else if ((name = member_name(c, kv->key)) != NULL)
			member_set(c, name, !ev[i].deleted);
	}
	c->st.store_revision = rev;
	c->watch_from = rev + 1;
	pthread_mutex_unlock(&c->mu);
	return c->stop;
}

/* Read everything under P again (start, and after a compaction). */
static int
read_all(struct sl_cluster *c, struct sl_etcd *e, char *err, size_t errlen)
{
	struct sl_etcd_kvs kvs = {0};
	int rc = sl_etcd_get(e, c->prefix, true, &kvs, err, errlen);

	if (rc == 0) {
		heard(c);
		pthread_mutex_lock(&c->mu);
		c->n_members = 0;
		for (size_t i = 0; i < kvs.n; i++) {
			const char *name = member_name(c, kvs.kv[i].key);

			if (strcmp(kvs.kv[i].key, c->cfg_key) == 0)
				config_seen(c, &kvs.kv[i], false);
			else if (name != NULL &&
				 c->n_members < CLUSTER_MEMBERS_MAX)
				snprintf(c->members[c->n_members++],
					 sizeof(c->members[0]), "%s", name);
		}
		c->st.store_revision = kvs.revision;
		c->watch_from = kvs.revision + 1;
		c->st.members_gen++;
		pthread_mutex_unlock(&c->mu);
	}
	sl_etcd_kvs_free(&kvs);
	return rc;
}

static void *
watcher_main(void *arg)
{
	struct sl_cluster *c = arg;
	char err[512];
	struct sl_etcd *e = sl_etcd_open(c->endpoints, 2000, err, sizeof(err));

	if (e == NULL) {
		fprintf(stderr, "sluiced: cluster: watch: %s\n", err);
		return NULL;
	}
	while (!c->stop) {
		int64_t from;
		int rc;

		pthread_mutex_lock(&c->mu);
		from = c->watch_from;
		pthread_mutex_unlock(&c->mu);
		rc = sl_etcd_watch(e, c->prefix, from, on_events, c, &c->stop,
				   &c->heard_ms, err, sizeof(err));
		if (c->stop)
			break;
		if (rc == -ESTALE) {
			fprintf(stderr,
				"sluiced: cluster: revision %" PRId64
				" compacted: reading %s again\n",
				from, c->prefix);
			rc = read_all(c, e, err, sizeof(err));
		}
		if (rc != 0) {
			pthread_mutex_lock(&c->mu);
			snprintf(c->st.last_error, sizeof(c->st.last_error),
				 "watch: %s", err);
			pthread_mutex_unlock(&c->mu);
			nap(c, CLUSTER_RETRY_MS);
		}
	}
	sl_etcd_close(e);
	return NULL;
}

/* ------------------------------------------------------------------ lease */

/* Grant a lease and write the record as a new key (it must not exist). */
static int
join(struct sl_cluster *c, struct sl_etcd *e, char *err, size_t errlen)
{
	int64_t lease, rev;
	char *rec;
	int rc;

	rc = sl_etcd_lease_grant(e, c->ttl_s, &lease, err, errlen);
	if (rc != 0)
		return rc;
	pthread_mutex_lock(&c->mu);
	rec = member_record(c);
	c->record_dirty = false;
	pthread_mutex_unlock(&c->mu);
	if (rec == NULL) {
		snprintf(err, errlen, "member record: out of memory");
		return -ENOMEM;
	}
	rc = sl_etcd_put_if(e, c->member_key, rec, strlen(rec), 0, lease, &rev,
			    err, errlen);
	free(rec);
	if (rc == 1) {
		snprintf(err, errlen,
			 "%s exists: another sluiced with --node %s joined",
			 c->member_key, c->node);
		rc = -EEXIST;
	}
	if (rc != 0) {
		char ignore[128];

		(void)sl_etcd_lease_revoke(e, lease, ignore, sizeof(ignore));
		return rc;
	}
	heard(c);
	pthread_mutex_lock(&c->mu);
	c->lease = lease;
	member_set(c, c->node, true);
	pthread_mutex_unlock(&c->mu);
	return 0;
}

/* The record again (running or rejected changed), under the same lease. */
static int
rewrite(struct sl_cluster *c, struct sl_etcd *e, char *err, size_t errlen)
{
	int64_t lease, rev;
	char *rec;
	int rc;

	pthread_mutex_lock(&c->mu);
	rec = c->record_dirty ? member_record(c) : NULL;
	lease = c->lease;
	c->record_dirty = false;
	pthread_mutex_unlock(&c->mu);
	if (rec == NULL)
		return 0;
	rc = sl_etcd_put(e, c->member_key, rec, strlen(rec), lease, &rev, err,
			 errlen);
	free(rec);
	if (rc != 0) {
		pthread_mutex_lock(&c->mu);
		c->record_dirty = true;
		pthread_mutex_unlock(&c->mu);
	}
	return rc;
}

static void *
keeper_main(void *arg)
{
	struct sl_cluster *c = arg;
	struct sl_etcd *e = c->etcd;
	uint64_t next_keepalive = mono_ms() + c->ttl_s * 1000u / 3;
	char err[512];

	while (!c->stop) {
		struct timespec until;
		uint64_t now = mono_ms();
		int rc = 0;

		pthread_mutex_lock(&c->mu);
		if (!c->record_dirty && now < next_keepalive) {
			clock_gettime(CLOCK_MONOTONIC, &until);
			until.tv_nsec += 100 * 1000000L;
			if (until.tv_nsec >= 1000000000L) {
				until.tv_sec++;
				until.tv_nsec -= 1000000000L;
			}
			pthread_cond_timedwait(&c->wake, &c->mu, &until);
		}
		pthread_mutex_unlock(&c->mu);
		if (c->stop)
			break;
		now = mono_ms();
		if (now >= next_keepalive) {
			int64_t ttl_left, lease;

			pthread_mutex_lock(&c->mu);
			lease = c->lease;
			pthread_mutex_unlock(&c->mu);
			rc = lease != 0
				     ? sl_etcd_lease_keepalive(e, lease,
							       &ttl_left, err,
							       sizeof(err))
				     : -ENOENT;
			if (rc == -ENOENT) {
				/* Gone (etcd was away longer than the TTL):
				 * everyone has removed this node; join
				 * again with a new lease. */
				rc = join(c, e, err, sizeof(err));
				if (rc == 0) {
					pthread_mutex_lock(&c->mu);
					c->st.rejoins++;
					pthread_mutex_unlock(&c->mu);
					fprintf(stderr,
						"sluiced: cluster: the lease "
						"had expired: joined again\n");
				} else {
					pthread_mutex_lock(&c->mu);
					c->lease = 0;
					pthread_mutex_unlock(&c->mu);
				}
			}
			if (rc == 0)
				heard(c);
			next_keepalive = now + (rc == 0 ? c->ttl_s * 1000u / 3
							: CLUSTER_RETRY_MS);
		}
		if (rc == 0)
			rc = rewrite(c, e, err, sizeof(err));
		if (rc != 0) {
			pthread_mutex_lock(&c->mu);
			snprintf(c->st.last_error, sizeof(c->st.last_error),
				 "lease: %s", err);
			pthread_mutex_unlock(&c->mu);
			nap(c, CLUSTER_RETRY_MS);
		}
	}
	return NULL;
}

/* ------------------------------------------------------------------ open */

/* The node's clock against etcd's (HTTP Date: whole seconds, truncated). */
static int
check_clock(const struct sl_cluster *c, char *err, size_t errlen)
{
	int64_t server_s = sl_etcd_server_time(c->etcd);
	int64_t skew_ms;

	if (server_s <= 0)
		return 0; /* no Date header: nothing to compare */
	skew_ms = (int64_t)unix_ms() - server_s * 1000;
	if (skew_ms < -(int64_t)c->max_skew_ms ||
	    skew_ms > (int64_t)c->max_skew_ms + 1000) {
		snprintf(err, errlen,
			 "this node's clock is %+.1f s off etcd's at %s (at "
			 "most %.1f s): fix the clock (NTP) before joining",
			 (double)skew_ms / 1000.0, sl_etcd_endpoint(c->etcd),
			 c->max_skew_ms / 1000.0);
		return -ERANGE;
	}
	return 0;
}

static bool
prefix_valid(const char *p)
{
	size_t n = strlen(p);

	if (n < 2 || n >= 100 || p[0] != '/' || p[n - 1] != '/')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!(p[i] == '/' || p[i] == '-' || p[i] == '_' ||
		      p[i] == '.' || (p[i] >= '0' && p[i] <= '9') ||
		      (p[i] >= 'a' && p[i] <= 'z') ||
		      (p[i] >= 'A' && p[i] <= 'Z')))
			return false;
	return true;
}

struct sl_cluster *
sl_cluster_open(const struct sl_cluster_params *p, struct sl_cluster_doc *doc,
		char *err, size_t errlen)
{
	struct sl_cluster *c;
	struct sl_etcd_kvs kvs = {0};
	const char *prefix =
		p->prefix != NULL ? p->prefix : SL_CLUSTER_PREFIX_DEFAULT;
	bool found = false;
	int rc;

	memset(doc, 0, sizeof(*doc));
	if (!prefix_valid(prefix)) {
		snprintf(err, errlen,
			 "--cluster-prefix \"%s\": must be /NAME/ (letters, "
			 "digits, / - _ .; under 100 bytes)",
			 prefix);
		return NULL;
	}
	if (p->node == NULL || p->node[0] == '\0' || strlen(p->node) >= 32) {
		snprintf(err, errlen, "--node: a name of 1..31 bytes");
		return NULL;
	}
	if (p->ttl_s != 0 && (p->ttl_s < 2 || p->ttl_s > 3600)) {
		snprintf(err, errlen, "--cluster-ttl %u: must be 2..3600",
			 p->ttl_s);
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	snprintf(c->endpoints, sizeof(c->endpoints), "%s", p->endpoints);
	snprintf(c->prefix, sizeof(c->prefix), "%s", prefix);
	snprintf(c->node, sizeof(c->node), "%s", p->node);
	snprintf(c->version, sizeof(c->version), "%s",
		 p->version != NULL ? p->version : "");
	c->ttl_s = p->ttl_s != 0 ? p->ttl_s : SL_CLUSTER_TTL_DEFAULT;
	c->max_skew_ms = p->max_skew_ms != 0 ? p->max_skew_ms
					     : SL_CLUSTER_MAX_SKEW_MS_DEFAULT;
	snprintf(c->cfg_key, sizeof(c->cfg_key), "%sconfig", prefix);
	snprintf(c->members_prefix, sizeof(c->members_prefix), "%smembers/",
		 prefix);
	snprintf(c->member_key, sizeof(c->member_key), "%s%s",
		 c->members_prefix, c->node);
	pthread_mutex_init(&c->mu, NULL);
	{
		pthread_condattr_t ca;

		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&c->wake, &ca);
		pthread_condattr_destroy(&ca);
	}
	c->etcd = sl_etcd_open(p->endpoints, 2000, err, errlen);
	if (c->etcd == NULL)
		goto fail;
	rc = sl_etcd_get(c->etcd, c->prefix, true, &kvs, err, errlen);
	if (rc != 0 || check_clock(c, err, errlen) != 0)
		goto fail;
	for (size_t i = 0; i < kvs.n; i++) {
		const struct sl_etcd_kv *kv = &kvs.kv[i];

		if (member_check(c, kv, err, errlen) != 0)
			goto fail;
		if (strcmp(kv->key, c->cfg_key) != 0)
			continue;
		doc->yaml = malloc(kv->value_len + 1);
		if (doc->yaml == NULL) {
			snprintf(err, errlen, "out of memory");
			goto fail;
		}
		memcpy(doc->yaml, kv->value, kv->value_len);
		doc->yaml[kv->value_len] = '\0';
		doc->len = kv->value_len;
		doc->revision = kv->mod_revision;
		snprintf(doc->key, sizeof(doc->key), "%s", kv->key);
		found = true;
	}
	if (!found) {
		snprintf(err, errlen,
			 "no cluster config at %s on %s: apply one first "
			 "(sluicectl --cluster ENDPOINTS apply FILE)",
			 c->cfg_key, sl_etcd_endpoint(c->etcd));
		goto fail;
	}
	/* Members and what follows are the watch's from here. */
	for (size_t i = 0; i < kvs.n; i++) {
		const char *name = member_name(c, kvs.kv[i].key);

		if (name != NULL && c->n_members < CLUSTER_MEMBERS_MAX)
			snprintf(c->members[c->n_members++],
				 sizeof(c->members[0]), "%s", name);
	}
	c->st.seen = doc->revision;
	c->st.store_revision = kvs.revision;
	c->was_connected = true;
	c->watch_from = kvs.revision + 1;
	sl_etcd_kvs_free(&kvs);
	heard(c);
	return c;
fail:
	sl_etcd_kvs_free(&kvs);
	sl_cluster_doc_free(doc);
	sl_cluster_close(c);
	return NULL;
}

int
sl_cluster_start(struct sl_cluster *c, const char *address, int64_t running,
		 char *err, size_t errlen)
{
	int rc;

	snprintf(c->address, sizeof(c->address), "%s", address);
	c->started_unix_ms = unix_ms();
	pthread_mutex_lock(&c->mu);
	c->st.running = running;
	c->was_connected = true;
	pthread_mutex_unlock(&c->mu);
	rc = join(c, c->etcd, err, errlen);
	if (rc != 0)
		return rc;
	if (pthread_create(&c->watcher, NULL, watcher_main, c) != 0) {
		snprintf(err, errlen, "cannot start the watch thread");
		return -EAGAIN;
	}
	if (pthread_create(&c->keeper, NULL, keeper_main, c) != 0) {
		c->stop = true;
		pthread_join(c->watcher, NULL);
		snprintf(err, errlen, "cannot start the lease thread");
		return -EAGAIN;
	}
	c->threads = true;
	return 0;
}

int
sl_cluster_take(struct sl_cluster *c, struct sl_cluster_doc *doc)
{
	int got = 0;

	pthread_mutex_lock(&c->mu);
	if (c->has_pending) {
		*doc = c->pending;
		memset(&c->pending, 0, sizeof(c->pending));
		c->has_pending = false;
		got = 1;
	}
	pthread_mutex_unlock(&c->mu);
	return got;
}

void
sl_cluster_report(struct sl_cluster *c, int64_t revision, const char *why)
{
	pthread_mutex_lock(&c->mu);
	if (why == NULL) {
		c->st.running = revision;
		c->st.applied++;
	} else {
		c->st.rejected++;
		c->rejected_rev = revision;
		snprintf(c->rejected_why, sizeof(c->rejected_why), "%s", why);
		snprintf(c->st.last_error, sizeof(c->st.last_error),
			 "revision %" PRId64 " rejected: %s", revision, why);
	}
	c->record_dirty = true;
	pthread_cond_signal(&c->wake);
	pthread_mutex_unlock(&c->mu);
}

void
sl_cluster_status(struct sl_cluster *c, struct sl_cluster_status *st)
{
	uint64_t since =
		mono_ms() - __atomic_load_n(&c->heard_ms, __ATOMIC_RELAXED);
	bool connected = since <= c->ttl_s * 1000u;

	pthread_mutex_lock(&c->mu);
	if (connected != c->was_connected) {
		if (!connected)
			c->st.disconnects++;
		fprintf(stderr,
			connected ? "sluiced: cluster: etcd is back (revision "
				    "%" PRId64 ")\n"
				  : "sluiced: cluster: lost etcd: serving "
				    "revision %" PRId64 " until it is back\n",
			c->st.running);
		c->was_connected = connected;
	}
	c->st.connected = connected;
	c->st.members = c->n_members;
	*st = c->st;
	pthread_mutex_unlock(&c->mu);
}

uint32_t
sl_cluster_members(struct sl_cluster *c, char (*names)[32], uint32_t max)
{
	uint32_t n;

	pthread_mutex_lock(&c->mu);
	n = c->n_members < max ? c->n_members : max;
	memcpy(names, c->members, n * sizeof(names[0]));
	pthread_mutex_unlock(&c->mu);
	return n;
}

void
sl_cluster_close(struct sl_cluster *c)
{
	if (c == NULL)
		return;
	pthread_mutex_lock(&c->mu);
	c->stop = true;
	pthread_cond_signal(&c->wake);
	pthread_mutex_unlock(&c->mu);
	if (c->threads) {
		pthread_join(c->watcher, NULL);
		pthread_join(c->keeper, NULL);
	}
	if (c->etcd != NULL && c->lease != 0) {
		char err[256];

		/* The member record goes with it: peers see the node leave
		 * at once, not after the TTL. */
		if (sl_etcd_lease_revoke(c->etcd, c->lease, err, sizeof(err)))
			fprintf(stderr,
				"sluiced: cluster: leaving: %s (the record "
				"expires with the lease)\n",
				err);
	}
	sl_etcd_close(c->etcd);
	sl_cluster_doc_free(&c->pending);
	pthread_cond_destroy(&c->wake);
	pthread_mutex_destroy(&c->mu);
	free(c);
}
