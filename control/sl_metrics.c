/* SPDX-License-Identifier: MIT */
/*
 * sl_metrics.c - Prometheus text exposition and its HTTP responder
 * (sl_metrics.h).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sl_metrics.h"

/* ------------------------------------------------------------ text buffer */

static int
buf_reserve(struct sl_metrics_buf *b, size_t more)
{
	size_t cap;
	char *data;

	if (b->failed)
		return -ENOMEM;
	if (b->len + more + 1 <= b->cap)
		return 0;
	cap = b->cap ? b->cap : 4096;
	while (cap < b->len + more + 1)
		cap *= 2;
	data = realloc(b->data, cap);
	if (data == NULL) {
		b->failed = true;
		return -ENOMEM;
	}
	b->data = data;
	b->cap = cap;
	return 0;
}

static void
buf_put(struct sl_metrics_buf *b, const char *s, size_t n)
{
	if (buf_reserve(b, n) < 0)
		return;
	memcpy(b->data + b->len, s, n);
	b->len += n;
	b->data[b->len] = '\0';
}

static void __attribute__((format(printf, 2, 3)))
buf_printf(struct sl_metrics_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->failed)
		return;
	va_start(ap, fmt);
	n = vsnprintf(b->data ? b->data + b->len : NULL,
		      b->data ? b->cap - b->len : 0, fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->failed = true;
		return;
	}
	if (b->data != NULL && (size_t)n < b->cap - b->len) {
		b->len += (size_t)n;
		return;
	}
	if (buf_reserve(b, (size_t)n) < 0)
		return;
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

void
sl_metrics_buf_free(struct sl_metrics_buf *buf)
{
	free(buf->data);
	memset(buf, 0, sizeof(*buf));
}

/* ------------------------------------------------------------- exposition */

/* Help text: backslash and newline escaped (format 0.0.4). */
static void
put_help(struct sl_metrics_buf *b, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\')
			buf_put(b, "\\\\", 2);
		else if (*s == '\n')
			buf_put(b, "\\n", 2);
		else
			buf_put(b, s, 1);
	}
}

/* Label value: backslash, double quote and newline escaped. */
static void
put_label_value(struct sl_metrics_buf *b, const char *s)
{
	for (; s != NULL && *s; s++) {
		if (*s == '\\')
			buf_put(b, "\\\\", 2);
		else if (*s == '"')
			buf_put(b, "\\\"", 2);
		else if (*s == '\n')
			buf_put(b, "\\n", 2);
		else
			buf_put(b, s, 1);
	}
}

static void
family(struct sl_metrics_buf *b, const char *name, const char *type,
       const char *help)
{
	buf_printf(b, "# HELP %s ", name);
	put_help(b, help);
	buf_printf(b, "\n# TYPE %s %s\n", name, type);
}

static void
sample(struct sl_metrics_buf *b, const char *name, uint64_t v)
{
	buf_printf(b, "%s %" PRIu64 "\n", name, v);
}

/* name{l0="v0",l1="v1",...} value; labels[] ends at a NULL name. */
static void
sample_labels(struct sl_metrics_buf *b, const char *name,
	      const char *const *labels, const char *const *values, uint64_t v)
{
	buf_printf(b, "%s{", name);
	for (size_t i = 0; labels[i] != NULL; i++) {
		buf_printf(b, "%s%s=\"", i ? "," : "", labels[i]);
		put_label_value(b, values[i]);
		buf_put(b, "\"", 1);
	}
	buf_printf(b, "} %" PRIu64 "\n", v);
}

struct field {
	const char *name;
	const char *type;
	const char *help;
	size_t off;
};

#define U64_AT(base, off) (*(const uint64_t *)((const char *)(base) + (off)))

static const struct field stage_fields[] = {
#define F(n, h)                                                                \
	{                                                                      \
		"sluice_stage_" #n "_total", "counter", h,                     \
			offsetof(struct sl_metrics_stage, n)                   \
	}
	F(fragments, "Fragments the stage received."),
	F(tokens, "Tokens the stage received."),
	F(bytes, "Payload bytes the stage received."),
	F(streams_started, "Streams started at the stage."),
	F(streams_ended, "Streams ended at the stage."),
	F(streams_aborted, "Streams aborted at the stage."),
#undef F
};

static const struct field instance_fields[] = {
#define F(n, t, s, h)                                                          \
	{                                                                      \
		"sluice_instance_" #n s, t, h,                                 \
			offsetof(struct sl_metrics_instance, n)                \
	}
	F(fragments, "counter", "_total", "Fragments sent to the instance."),
	F(bytes, "counter", "_total", "Bytes sent to the instance."),
	F(streams_routed, "counter", "_total",
	  "Streams ever routed to the instance."),
	F(streams_active, "gauge", "", "Streams pinned to the instance now."),
	F(draining, "gauge", "", "1 while the instance takes no new streams."),
#undef F
};

static const struct field operator_fields[] = {
#define F(m, kind, prom, help)                                                 \
	{"sluice_" prom SL_STATS_TOTAL_##kind,                                 \
	 SL_STATS_GAUGE_##kind ? "gauge" : "counter", help,                    \
	 offsetof(struct sl_metrics_operator, m)},
	SL_STATS_OPERATOR(F)
#undef F
};

static void
render_histogram(struct sl_metrics_buf *b, const char *name, const char *help,
		 const struct sl_metrics_histogram *h)
{
	char line[128];
	uint64_t cum = 0;
	uint64_t prev = 0;

	family(b, name, "histogram", help);
	for (size_t i = 0; i < h->n_buckets; i++) {
		uint64_t upper = h->upper_ns ? h->upper_ns[i] : 0;

		cum += h->count ? h->count[i] : 0;
		/* The unbounded bucket is +Inf below; a bound out of order
		 * only adds to the next one. */
		if (upper == 0 || upper <= prev)
			continue;
		prev = upper;
		snprintf(line, sizeof(line), "%.9g", (double)upper / 1e9);
		buf_printf(b, "%s_bucket{le=\"%s\"} %" PRIu64 "\n", name, line,
			   cum);
	}
	buf_printf(b, "%s_bucket{le=\"+Inf\"} %" PRIu64 "\n", name, cum);
	buf_printf(b, "%s_sum %" PRIu64 ".%09" PRIu64 "\n", name,
		   h->sum_ns / 1000000000u, h->sum_ns % 1000000000u);
	buf_printf(b, "%s_count %" PRIu64 "\n", name, cum);
}

int
sl_metrics_render(const struct sl_metrics_snapshot *s, struct sl_metrics_buf *b)
{
	static const char *const l_reason[] = {"reason", NULL};
	static const char *const l_stage[] = {"pipeline", "stage", NULL};
	static const char *const l_inst[] = {"pipeline", "stage", "instance",
					     NULL};
	static const char *const l_op[] = {"pipeline", "stage", "kind", NULL};
	const char *v[4];
	size_t i, f;

	family(b, "sluice_config_generation", "gauge",
	       "Config snapshot in use.");
	sample(b, "sluice_config_generation", s->generation);
	family(b, "sluice_rx_packets_total", "counter",
	       "Packets the dataplane received.");
	sample(b, "sluice_rx_packets_total", s->rx_packets);
	family(b, "sluice_tx_packets_total", "counter",
	       "Packets the dataplane sent.");
	sample(b, "sluice_tx_packets_total", s->tx_packets);
	family(b, "sluice_forwarded_fragments_total", "counter",
	       "Fragments handed to the port.");
	sample(b, "sluice_forwarded_fragments_total", s->forwarded);

	family(b, "sluice_drops_total", "counter",
	       "Packets dropped, by reason (dataplane/sl_counters.h).");
	for (i = 0; i < s->n_drops; i++) {
		v[0] = s->drops[i].reason;
		sample_labels(b, "sluice_drops_total", l_reason, v,
			      s->drops[i].count);
	}

	for (f = 0; f < sizeof(stage_fields) / sizeof(stage_fields[0]); f++) {
		family(b, stage_fields[f].name, stage_fields[f].type,
		       stage_fields[f].help);
		for (i = 0; i < s->n_stages; i++) {
			v[0] = s->stages[i].pipeline;
			v[1] = s->stages[i].stage;
			sample_labels(
				b, stage_fields[f].name, l_stage, v,
				U64_AT(&s->stages[i], stage_fields[f].off));
		}
	}
	for (f = 0; f < sizeof(instance_fields) / sizeof(instance_fields[0]);
	     f++) {
		family(b, instance_fields[f].name, instance_fields[f].type,
		       instance_fields[f].help);
		for (i = 0; i < s->n_instances; i++) {
			v[0] = s->instances[i].pipeline;
			v[1] = s->instances[i].stage;
			v[2] = s->instances[i].instance;
			sample_labels(b, instance_fields[f].name, l_inst, v,
				      U64_AT(&s->instances[i],
					     instance_fields[f].off));
		}
	}
	for (f = 0; f < sizeof(operator_fields) / sizeof(operator_fields[0]);
	     f++) {
		family(b, operator_fields[f].name, operator_fields[f].type,
		       operator_fields[f].help);
		for (i = 0; i < s->n_operators; i++) {
			v[0] = s->operators[i].pipeline;
			v[1] = s->operators[i].stage;
			v[2] = s->operators[i].kind;
			sample_labels(b, operator_fields[f].name, l_op, v,
				      U64_AT(&s->operators[i],
					     operator_fields[f].off));
		}
	}

	family(b, "sluice_flows_active", "gauge", "Streams tracked now.");
	sample(b, "sluice_flows_active", s->flows.active);
	family(b, "sluice_flows_capacity", "gauge", "Flow table size.");
	sample(b, "sluice_flows_capacity", s->flows.capacity);
	family(b, "sluice_flows_created_total", "counter", "Streams tracked.");
	sample(b, "sluice_flows_created_total", s->flows.created);
	family(b, "sluice_flows_ended_total", "counter", "Streams that ended.");
	sample(b, "sluice_flows_ended_total", s->flows.ended);
	family(b, "sluice_flows_expired_total", "counter",
	       "Streams removed before their END.");
	sample(b, "sluice_flows_expired_total", s->flows.expired);
	family(b, "sluice_mbufs_in_use", "gauge", "Packet buffers in use.");
	sample(b, "sluice_mbufs_in_use", s->mbufs.in_use);
	family(b, "sluice_mbufs_capacity", "gauge",
	       "Packet buffers in the pool.");
	sample(b, "sluice_mbufs_capacity", s->mbufs.capacity);

	render_histogram(
		b, "sluice_fragment_residence_seconds",
		"A fragment's time in sluiced, from receive to transmit.",
		&s->latency);

	if (s->loop != NULL) {
#define SL_METRICS_LOOP(n, h)                                                  \
	family(b, "sluice_control_loop_" #n "_total", "counter",               \
	       "Control loop: " h ".");                                        \
	sample(b, "sluice_control_loop_" #n "_total", s->loop->n);
		SL_LOOP_STATS(SL_METRICS_LOOP)
#undef SL_METRICS_LOOP
	}

	for (i = 0; i < s->n_counters; i++) {
		const struct sl_metrics_counter *c = &s->counters[i];
		char name[128];

		snprintf(name, sizeof(name), c->gauge ? "%s" : "%s_total",
			 c->name);
		if (i == 0 || strcmp(c->name, s->counters[i - 1].name) != 0)
			family(b, name, c->gauge ? "gauge" : "counter",
			       c->help);
		if (c->label != NULL) {
			const char *l[] = {c->label, NULL};

			v[0] = c->label_value;
			sample_labels(b, name, l, v, c->value);
		} else {
			sample(b, name, c->value);
		}
	}
	return b->failed ? -ENOMEM : 0;
}

/* -------------------------------------------------------------- responder */

struct sl_metrics_http {
	struct sl_loop *loop;
	struct sl_listener *listener;
	struct sl_metrics_source src;
	struct sl_metrics_http_stats stats;
};

struct sl_metrics_conn {
	struct sl_metrics_http *http;
	size_t len;
	bool answered;
	char req[SL_METRICS_REQUEST_MAX + 1];
};

static void
http_answer(struct sl_conn *conn, int status, const char *reason,
	    const char *type, const char *body, size_t body_len)
{
	char head[256];
	int n;

	n = snprintf(head, sizeof(head),
		     "HTTP/1.0 %d %s\r\nContent-Type: %s\r\n"
		     "Content-Length: %zu\r\nConnection: close\r\n\r\n",
		     status, reason, type, body_len);
	if (sl_conn_send(conn, head, (size_t)n) == 0 && body_len > 0)
		sl_conn_send(conn, body, body_len);
	sl_conn_close(conn);
}

static void
http_plain(struct sl_conn *conn, int status, const char *reason)
{
	char body[64];
	int n = snprintf(body, sizeof(body), "%d %s\n", status, reason);

	http_answer(conn, status, reason, "text/plain; charset=utf-8", body,
		    (size_t)n);
}

static void
http_scrape(struct sl_metrics_http *http, struct sl_conn *conn)
{
	struct sl_metrics_snapshot snap;
	struct sl_metrics_buf out = {0};
	void *token = NULL;
	int rc;

	memset(&snap, 0, sizeof(snap));
	rc = http->src.fill(http->src.ctx, &snap, &token);
	if (rc == 0)
		rc = sl_metrics_render(&snap, &out);
	if (http->src.release != NULL)
		http->src.release(http->src.ctx, token);
	if (rc != 0) {
		http->stats.unavailable++;
		http_plain(conn, 503, "Service Unavailable");
	} else {
		http->stats.ok++;
		http_answer(conn, 200, "OK", SL_METRICS_CONTENT_TYPE, out.data,
			    out.len);
	}
	sl_metrics_buf_free(&out);
}

/* The request line of a complete header block in mc->req. */
static void
http_request(struct sl_metrics_conn *mc, struct sl_conn *conn)
{
	struct sl_metrics_http *http = mc->http;
	char *line = mc->req;
	char *eol = strchr(line, '\n');
	char *method, *target, *version, *save = NULL;

	*eol = '\0';
	if (eol > line && eol[-1] == '\r')
		eol[-1] = '\0';
	method = strtok_r(line, " ", &save);
	target = strtok_r(NULL, " ", &save);
	version = strtok_r(NULL, " ", &save);
	if (method == NULL || target == NULL || version == NULL ||
	    strtok_r(NULL, " ", &save) != NULL ||
	    strncmp(version, "HTTP/", 5) != 0) {
		http->stats.bad_request++;
		http_plain(conn, 400, "Bad Request");
		return;
	}
	if (strcmp(method, "GET") == 0 &&
	    (strcmp(target, "/metrics") == 0 ||
	     strncmp(target, "/metrics?", 9) == 0)) {
		http_scrape(http, conn);
		return;
	}
	http->stats.not_found++;
	http_plain(conn, 404, "Not Found");
}

static void
http_on_data(struct sl_conn *conn, const uint8_t *buf, size_t len, void *ctx)
{
	struct sl_metrics_conn *mc = ctx;
	size_t take;

	if (mc->answered)
		return;
	take = len;
	if (take > SL_METRICS_REQUEST_MAX - mc->len)
		take = SL_METRICS_REQUEST_MAX - mc->len;
	/* A NUL would hide the end of the headers from strstr. */
	for (size_t i = 0; i < take; i++)
		mc->req[mc->len + i] = buf[i] ? (char)buf[i] : ' ';
	mc->len += take;
	mc->req[mc->len] = '\0';
	if (strstr(mc->req, "\r\n\r\n") != NULL ||
	    strstr(mc->req, "\n\n") != NULL) {
		mc->answered = true;
		http_request(mc, conn);
		return;
	}
	if (mc->len == SL_METRICS_REQUEST_MAX) {
		mc->answered = true;
		mc->http->stats.too_large++;
		http_plain(conn, 431, "Request Header Fields Too Large");
	}
}

static void
http_on_close(struct sl_conn *conn, int reason, void *ctx)
{
	(void)conn;
	(void)reason;
	free(ctx);
}

static const struct sl_conn_handler http_handler = {
	.on_data = http_on_data,
	.on_close = http_on_close,
};

static const struct sl_conn_handler *
http_on_accept(struct sl_conn *conn, void *ctx)
{
	struct sl_metrics_conn *mc = malloc(sizeof(*mc));

	if (mc == NULL)
		return NULL;
	mc->http = ctx;
	mc->len = 0;
	mc->answered = false;
	mc->req[0] = '\0';
	sl_conn_set_ctx(conn, mc);
	return &http_handler;
}

struct sl_metrics_http *
sl_metrics_http_listen(struct sl_loop *loop, int fd,
		       const struct sl_metrics_source *src,
		       const struct sl_listen_params *lp)
{
	struct sl_metrics_http *http;
	int rc;

	if (loop == NULL || src == NULL || src->fill == NULL) {
		if (fd >= 0)
			close(fd);
		errno = EINVAL;
		return NULL;
	}
	http = calloc(1, sizeof(*http));
	if (http == NULL) {
		close(fd);
		errno = ENOMEM;
		return NULL;
	}
	http->loop = loop;
	http->src = *src;
	rc = sl_loop_listen_limited(loop, fd, http_on_accept, http, lp,
				    &http->listener);
	if (rc < 0) {
		free(http);
		errno = -rc;
		return NULL;
	}
	return http;
}

void
sl_metrics_http_destroy(struct sl_metrics_http *http)
{
	free(http);
}

struct sl_metrics_http_stats
sl_metrics_http_stats(const struct sl_metrics_http *http)
{
	return http->stats;
}

struct sl_listener *
sl_metrics_http_listener(const struct sl_metrics_http *http)
{
	return http->listener;
}
