/* SPDX-License-Identifier: MIT */
/*
 * sl_metrics.h - Prometheus metrics: the text exposition format 0.0.4,
 * rendered from a plain snapshot, and a minimal HTTP/1.0 responder for it
 * on the control loop.
 *
 * The snapshot holds numbers and names only (no protobuf), so anything
 * that can fill it can be scraped; sl_api fills it from the backend's
 * get_stats. Every family gets # HELP and # TYPE lines, also when it has no
 * samples; counters end in _total; label values and help texts are
 * escaped. Names are listed in control/README.md.
 *
 * The responder answers GET /metrics with 200 and
 * "text/plain; version=0.0.4; charset=utf-8", any other path or method
 * with 404, a request line it cannot read with 400 and a request over
 * SL_METRICS_REQUEST_MAX with 431, and closes after each answer
 * (HTTP/1.0). It reads nothing but the request line and headers, which
 * must arrive within the loop's idle timeout.
 */
#ifndef SL_METRICS_H
#define SL_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sl_loop.h"
#include "sl_stats_def.h"

#define SL_METRICS_REQUEST_MAX 8192
#define SL_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

struct sl_metrics_drop {
	const char *reason; /* label value, e.g. "BAD_MAGIC" */
	uint64_t count;
};

struct sl_metrics_stage {
	const char *pipeline;
	const char *stage;
	uint64_t fragments;
	uint64_t tokens;
	uint64_t bytes;
	uint64_t streams_started;
	uint64_t streams_ended;
	uint64_t streams_aborted;
};

struct sl_metrics_instance {
	const char *pipeline;
	const char *stage;
	const char *instance;
	uint64_t fragments;
	uint64_t bytes;
	uint64_t streams_routed; /* counter */
	uint64_t streams_active; /* gauge */
	uint64_t draining;       /* gauge: 0 or 1 */
};

/* One operator stage: the fields of SL_STATS_OPERATOR. */
struct sl_metrics_operator {
	const char *pipeline;
	const char *stage;
	const char *kind; /* label: "count", "sum", "topk", "concat" */
	SL_STATS_OPERATOR(SL_STATS_FIELD)
};

/* A counter outside the dataplane's (the API server's, for one). */
struct sl_metrics_counter {
	const char *name; /* family name without _total */
	const char *help;
	const char *label;       /* NULL, or one label's name ... */
	const char *label_value; /* ... and value */
	uint64_t value;
	bool gauge; /* a level: rendered as NAME, type gauge */
};

/* A latency histogram as the dataplane keeps it: count[i] samples in
 * (upper_ns[i - 1], upper_ns[i]]; the last bucket may be unbounded
 * (upper_ns 0). Rendered cumulatively in seconds, +Inf always last. */
struct sl_metrics_histogram {
	size_t n_buckets;
	const uint64_t *upper_ns;
	const uint64_t *count;
	uint64_t samples;
	uint64_t sum_ns;
};

struct sl_metrics_snapshot {
	uint64_t generation;
	uint64_t rx_packets;
	uint64_t tx_packets;
	uint64_t forwarded;
	size_t n_drops;
	const struct sl_metrics_drop *drops;
	size_t n_stages;
	const struct sl_metrics_stage *stages;
	size_t n_instances;
	const struct sl_metrics_instance *instances;
	size_t n_operators;
	const struct sl_metrics_operator *operators;
	struct {
		uint64_t active, capacity, created, ended, expired;
	} flows;
	struct {
		uint64_t in_use, capacity;
	} mbufs;
	struct sl_metrics_histogram latency;
	/* The control loop's counters (SL_LOOP_STATS), as
	 * sluice_control_loop_<name>_total; NULL leaves them out. */
	const struct sl_loop_stats *loop;
	/* More counters, rendered as NAME_total (gauges as NAME);
	 * consecutive entries with the same name form one family (one
	 * HELP/TYPE). */
	size_t n_counters;
	const struct sl_metrics_counter *counters;
};

/* A growable text buffer. */
struct sl_metrics_buf {
	char *data;
	size_t len;
	size_t cap;
	bool failed; /* an allocation failed: data is incomplete */
};

/*
 * sl_metrics_render - append the exposition of @snap to @out.
 * Returns 0, or -ENOMEM (then out->failed is set).
 */
int sl_metrics_render(const struct sl_metrics_snapshot *snap,
		      struct sl_metrics_buf *out);

void sl_metrics_buf_free(struct sl_metrics_buf *buf);

/*
 * How the responder gets a snapshot: fill() per scrape, then release()
 * (may be NULL) once it is rendered, whatever fill returned, with the
 * token fill set (NULL if it set none). fill returns 0, or a negative
 * errno (answered with 503).
 */
struct sl_metrics_source {
	int (*fill)(void *ctx, struct sl_metrics_snapshot *snap, void **token);
	void (*release)(void *ctx, void *token);
	void *ctx;
};

struct sl_metrics_http;

/*
 * sl_metrics_http_listen - answer scrapes on @fd, a bound, listening
 * stream socket the loop takes over (also on failure).
 * @src: copied.
 * @lp: this listener's connection limit and idle timeout (NULL: the
 *   loop's), so scrapers cannot take the connections the API needs.
 * Returns the responder, or NULL with errno. Free it with
 * sl_metrics_http_destroy after sl_loop_destroy.
 */
struct sl_metrics_http *
sl_metrics_http_listen(struct sl_loop *loop, int fd,
		       const struct sl_metrics_source *src,
		       const struct sl_listen_params *lp);

/* sl_metrics_http_listener - its listener, for sl_listener_stats. */
struct sl_listener *
sl_metrics_http_listener(const struct sl_metrics_http *http);

void sl_metrics_http_destroy(struct sl_metrics_http *http);

/* Requests answered, by outcome. */
struct sl_metrics_http_stats {
	uint64_t ok;
	uint64_t not_found;
	uint64_t bad_request;
	uint64_t too_large;
	uint64_t unavailable;
};

struct sl_metrics_http_stats
sl_metrics_http_stats(const struct sl_metrics_http *http);

#endif /* SL_METRICS_H */
