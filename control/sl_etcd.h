/* SPDX-License-Identifier: MIT */
/*
 * sl_etcd.h - a small etcd v3 client over etcd's gRPC-JSON gateway.
 *
 * etcd (Debian's etcd-server 3.4) serves its v3 API as JSON over HTTP at
 * /v3/kv/range, /v3/kv/put, /v3/kv/txn, /v3/kv/deleterange,
 * /v3/lease/grant, /v3/lease/keepalive, /v3/lease/revoke and /v3/watch
 * (a stream of JSON objects, one per line). Keys and values travel
 * base64-encoded, 64-bit numbers as decimal strings. This client speaks
 * that with libcurl and jansson: no protocol of our own.
 *
 * A client knows several endpoints (the members of one etcd cluster) and
 * talks to one at a time; a call that cannot connect or times out tries
 * the next endpoint, once each, before it fails. One client per thread:
 * calls on one client must not overlap.
 *
 * Errors: 0 (or a documented positive value) on success, a negative errno
 * otherwise, with one line for a person in @err: -ECONNREFUSED /
 * -ETIMEDOUT / -EHOSTUNREACH (no endpoint answered), -EPROTO (an answer
 * that is not what the gateway sends: bad JSON, a missing field, bad
 * base64), -EIO (the gateway's own error, its message quoted), -ENOENT
 * (a lease that no longer exists), -ESTALE (a watch from a compacted
 * revision), -ENOMEM, -EINVAL (bad arguments).
 */
#ifndef SL_ETCD_H
#define SL_ETCD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SL_ETCD_ENDPOINTS_MAX 8
/* A key or value larger than this is refused (etcd's own default request
 * limit is 1.5 MiB). */
#define SL_ETCD_VALUE_MAX (1024 * 1024)

struct sl_etcd;

/* One key and its value (value NUL-terminated beyond value_len, so text
 * can be used as a string; key likewise). */
struct sl_etcd_kv {
	char *key;
	size_t key_len;
	char *value;
	size_t value_len;
	int64_t create_revision;
	int64_t mod_revision;
	int64_t version;
	int64_t lease; /* 0: none */
};

/* What a range read returns: the keys in key order and the store's
 * revision when it was read. */
struct sl_etcd_kvs {
	struct sl_etcd_kv *kv;
	size_t n;
	int64_t revision;
};

/* One watch event. A DELETE carries the key and mod_revision only. */
struct sl_etcd_event {
	bool deleted;
	struct sl_etcd_kv kv;
};

/**
 * sl_etcd_open - a client for @endpoints, a comma-separated list of
 * "http://HOST:PORT" (1..SL_ETCD_ENDPOINTS_MAX; anything else is refused
 * with the endpoint named). @timeout_ms bounds each call but a watch
 * (connect and whole request; 0: 2000). Return NULL with @err filled.
 */
struct sl_etcd *sl_etcd_open(const char *endpoints, long timeout_ms, char *err,
			     size_t errlen);
void sl_etcd_close(struct sl_etcd *e);

/* The endpoint the last call used (or will use first). */
const char *sl_etcd_endpoint(const struct sl_etcd *e);

/* The etcd server's wall clock at the last answer (its HTTP Date header,
 * Unix seconds), 0 before any. Used to refuse a node whose clock is off. */
int64_t sl_etcd_server_time(const struct sl_etcd *e);

void sl_etcd_kv_free(struct sl_etcd_kv *kv);
void sl_etcd_kvs_free(struct sl_etcd_kvs *kvs);

/**
 * sl_etcd_get - @key, or every key beginning with @key when @prefix
 * (etcd's range_end = the prefix with its last byte plus one). @out is
 * filled (n = 0 when nothing matches) and must be freed with
 * sl_etcd_kvs_free even on error (it is then empty).
 */
int sl_etcd_get(struct sl_etcd *e, const char *key, bool prefix,
		struct sl_etcd_kvs *out, char *err, size_t errlen);

/**
 * sl_etcd_put - set @key to @val (@len bytes), attached to @lease (0:
 * none). *rev: the revision of the write.
 */
int sl_etcd_put(struct sl_etcd *e, const char *key, const void *val, size_t len,
		int64_t lease, int64_t *rev, char *err, size_t errlen);

/**
 * sl_etcd_put_if - one transaction: set @key to @val only if the key's
 * mod_revision is @expect_mod (0: only if the key does not exist).
 * Return 0 when written (*rev: the new revision), 1 when the compare
 * failed (nothing written; *rev: the key's mod_revision now, 0 if it does
 * not exist), negative on error.
 */
int sl_etcd_put_if(struct sl_etcd *e, const char *key, const void *val,
		   size_t len, int64_t expect_mod, int64_t lease, int64_t *rev,
		   char *err, size_t errlen);

/**
 * sl_etcd_delete - delete @key (or the keys under it when @prefix).
 * *deleted: how many (may be NULL); *rev: the revision after.
 */
int sl_etcd_delete(struct sl_etcd *e, const char *key, bool prefix,
		   int64_t *deleted, int64_t *rev, char *err, size_t errlen);

/* Leases: grant one of @ttl_s seconds (*id); keep it alive (*ttl_left:
 * the seconds it has now; -ENOENT when etcd no longer has it); revoke it
 * (its keys are deleted). */
int sl_etcd_lease_grant(struct sl_etcd *e, int64_t ttl_s, int64_t *id,
			char *err, size_t errlen);
int sl_etcd_lease_keepalive(struct sl_etcd *e, int64_t id, int64_t *ttl_left,
			    char *err, size_t errlen);
int sl_etcd_lease_revoke(struct sl_etcd *e, int64_t id, char *err,
			 size_t errlen);

/*
 * Called with each watch response's events (n >= 1) and that response's
 * header revision; return non-zero to end the watch.
 */
typedef int (*sl_etcd_watch_fn)(void *arg, const struct sl_etcd_event *ev,
				size_t n, int64_t revision);

/**
 * sl_etcd_watch - watch every key under @prefix from revision @start_rev
 * (>= 1) and call @fn for each response with events, in order. Blocks
 * until @fn returns non-zero (returns 0), *@stop turns true (checked at
 * least every 100 ms; returns 0), or the stream fails (negative: the
 * connection lost or refused on every endpoint, -ESTALE when @start_rev
 * was compacted away: read the keys again and watch from there). The
 * watch asks etcd for progress notifications; *@heard_ms (may be NULL)
 * is set to CLOCK_MONOTONIC milliseconds whenever anything arrives, so a
 * caller can tell a quiet watch from a dead one.
 */
int sl_etcd_watch(struct sl_etcd *e, const char *prefix, int64_t start_rev,
		  sl_etcd_watch_fn fn, void *arg, const volatile bool *stop,
		  volatile uint64_t *heard_ms, char *err, size_t errlen);

#endif /* SL_ETCD_H */
