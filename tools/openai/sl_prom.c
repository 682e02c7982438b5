/* SPDX-License-Identifier: MIT */
/*
 * sl_prom.c - stats objects as Prometheus text, served over HTTP
 * (sl_prom.h).
 */
#include <errno.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sl_prom.h"

#define PROM_NAME_MAX 256

struct sl_prom_server {
	struct MHD_Daemon *d;
	pthread_mutex_t lock;
	char *text; /* NULL until the first publish */
	size_t len;
};

static int
put(struct sl_text *out, const char *s)
{
	return sl_text_append(out, s, strlen(s));
}

/* @value inside a label's quotes: \, " and newline escaped. */
static int
put_label_value(struct sl_text *out, const char *value)
{
	for (const char *p = value; *p != '\0'; p++) {
		const char *esc = *p == '\\'   ? "\\\\"
				  : *p == '"'  ? "\\\""
				  : *p == '\n' ? "\\n"
					       : NULL;
		int rc =
			esc != NULL ? put(out, esc) : sl_text_append(out, p, 1);

		if (rc != 0)
			return rc;
	}
	return 0;
}

/* A word of a key that abbreviates a unit of time: Prometheus' naming
 * rules (and promtool) want the base unit, seconds, in the name and the
 * value. NULL if @w is no such word; else the word, @scale multiplied by
 * what turns the value into seconds. */
static const char *
unit_word(const char *w, size_t n, double *scale)
{
	static const struct {
		const char *abbr;
		double to_seconds;
	} units[] = {{"ms", 1e-3}, {"us", 1e-6}, {"ns", 1e-9}};

	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (strlen(units[i].abbr) == n &&
		    memcmp(w, units[i].abbr, n) == 0) {
			*scale *= units[i].to_seconds;
			return "seconds";
		}
	return NULL;
}

/* @name + "_" + @key into @buf: the key sanitised to [a-zA-Z0-9_], and
 * its words "ms", "us", "ns" made "seconds" ("busy_ms" ->
 * "busy_seconds", @scale times 1e-3). False if it does not fit. */
static bool
join_name(char *buf, size_t cap, const char *name, const char *key,
	  double *scale)
{
	size_t n = strlen(name);

	if (n + 2 > cap)
		return false;
	memcpy(buf, name, n);
	buf[n++] = '_';
	while (*key != '\0') {
		size_t w = strcspn(key, "_");
		const char *unit = unit_word(key, w, scale);
		const char *src = unit != NULL ? unit : key;
		size_t len = unit != NULL ? strlen(unit) : w;

		if (n + len + 2 > cap)
			return false;
		for (size_t i = 0; i < len; i++) {
			char c = src[i];
			bool ok = (c >= 'a' && c <= 'z') ||
				  (c >= 'A' && c <= 'Z') ||
				  (c >= '0' && c <= '9');

			buf[n++] = ok ? c : '_';
		}
		key += w;
		if (*key == '_')
			buf[n++] = *key++;
	}
	buf[n] = '\0';
	return true;
}

/* One metric: its HELP (the stats key it comes from), TYPE and sample.
 * A name already written (two keys that flatten alike, "rel": {"held"}
 * and "rel_held") is left out: the first one stands. */
static int
sample(struct sl_text *out, const char *name, const char *key,
       const char *label, const char *value, const char *number)
{
	char seen[PROM_NAME_MAX + 32];
	int n = snprintf(seen, sizeof(seen), "# TYPE %s untyped\n", name);

	if (n > 0 && (size_t)n < sizeof(seen) && out->len > 0 &&
	    memmem(out->buf, out->len, seen, (size_t)n) != NULL)
		return 0;
	if (put(out, "# HELP ") || put(out, name) || put(out, " stats key ") ||
	    put(out, key) || put(out, "\n# TYPE ") || put(out, name) ||
	    put(out, " untyped\n") || put(out, name))
		return -ENOMEM;
	if (label != NULL &&
	    (put(out, "{") || put(out, label) || put(out, "=\"") ||
	     put_label_value(out, value) || put(out, "\"}")))
		return -ENOMEM;
	if (put(out, " ") || put(out, number) || put(out, "\n"))
		return -ENOMEM;
	return 0;
}

/* @obj's numbers under metric name @name and dotted stats key @path
 * ("" at the top). */
static int
walk(const json_t *obj, const char *name, const char *path, double scale,
     const char *label, const char *value, struct sl_text *out)
{
	const char *key;
	const json_t *v;

	json_object_foreach((json_t *)obj, key, v)
	{
		char full[PROM_NAME_MAX], dotted[PROM_NAME_MAX], num[64];
		double sc = scale;
		int rc = 0, n;

		n = snprintf(dotted, sizeof(dotted), "%s%s%s", path,
			     path[0] != '\0' ? "." : "", key);
		/* A name too long for anyone to scrape: left out. */
		if (!join_name(full, sizeof(full), name, key, &sc) || n < 0 ||
		    (size_t)n >= sizeof(dotted))
			continue;
		switch (json_typeof(v)) {
		case JSON_OBJECT:
			rc = walk(v, full, dotted, sc, label, value, out);
			break;
		case JSON_INTEGER:
			if (sc != 1.0)
				snprintf(num, sizeof(num), "%.17g",
					 (double)json_integer_value(v) * sc);
			else
				snprintf(num, sizeof(num),
					 "%" JSON_INTEGER_FORMAT,
					 json_integer_value(v));
			rc = sample(out, full, dotted, label, value, num);
			break;
		case JSON_REAL:
			snprintf(num, sizeof(num), "%.17g",
				 json_real_value(v) * sc);
			rc = sample(out, full, dotted, label, value, num);
			break;
		case JSON_TRUE:
		case JSON_FALSE:
			rc = sample(out, full, dotted, label, value,
				    json_is_true(v) ? "1" : "0");
			break;
		default: /* strings, arrays, null: not numbers */
			break;
		}
		if (rc != 0)
			return rc;
	}
	return 0;
}

int
sl_prom_from_json(const json_t *obj, const char *prefix, const char *label,
		  const char *value, struct sl_text *out)
{
	if (!json_is_object(obj))
		return -EINVAL;
	return walk(obj, prefix, "", 1.0, label, label != NULL ? value : NULL,
		    out);
}

static enum MHD_Result
serve(void *cls, struct MHD_Connection *c, const char *url, const char *method,
      const char *version, const char *upload, size_t *upload_size,
      void **con_cls)
{
	struct sl_prom_server *s = cls;
	struct MHD_Response *resp;
	unsigned int status = MHD_HTTP_OK;
	enum MHD_Result rc;

	(void)version;
	(void)upload;
	(void)upload_size;
	(void)con_cls;
	if (strcmp(method, "GET") != 0 || strcmp(url, "/metrics") != 0) {
		static const char nf[] = "GET /metrics\n";

		resp = MHD_create_response_from_buffer(
			sizeof(nf) - 1, (void *)nf, MHD_RESPMEM_PERSISTENT);
		status = MHD_HTTP_NOT_FOUND;
	} else {
		pthread_mutex_lock(&s->lock);
		if (s->text == NULL) {
			status = MHD_HTTP_SERVICE_UNAVAILABLE;
			resp = MHD_create_response_from_buffer(
				0, NULL, MHD_RESPMEM_PERSISTENT);
		} else {
			resp = MHD_create_response_from_buffer(
				s->len, s->text, MHD_RESPMEM_MUST_COPY);
		}
		pthread_mutex_unlock(&s->lock);
	}
	if (resp == NULL)
		return MHD_NO;
	MHD_add_response_header(resp, "Content-Type",
				"text/plain; version=0.0.4");
	rc = MHD_queue_response(c, status, resp);
	MHD_destroy_response(resp);
	return rc;
}

struct sl_prom_server *
sl_prom_serve(const char *addr, const char *who)
{
	struct sl_prom_server *s;
	struct sockaddr_in sin;

	if (sl_endpoint_parse(addr, false, &sin) < 0) {
		fprintf(stderr, "%s: --metrics: IP:PORT, not %s\n", who, addr);
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (s == NULL || pthread_mutex_init(&s->lock, NULL) != 0) {
		free(s);
		fprintf(stderr, "%s: --metrics: out of memory\n", who);
		return NULL;
	}
	s->d = MHD_start_daemon(
		MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, serve, s,
		MHD_OPTION_SOCK_ADDR, &sin, MHD_OPTION_CONNECTION_LIMIT, 16,
		MHD_OPTION_CONNECTION_TIMEOUT, 10, MHD_OPTION_END);
	if (s->d == NULL) {
		fprintf(stderr, "%s: --metrics: cannot listen on %s\n", who,
			addr);
		pthread_mutex_destroy(&s->lock);
		free(s);
		return NULL;
	}
	return s;
}

int
sl_prom_publish(struct sl_prom_server *s, const char *text, size_t len)
{
	char *copy = malloc(len + 1);
	char *old;

	if (copy == NULL)
		return -ENOMEM;
	memcpy(copy, text, len);
	copy[len] = '\0';
	pthread_mutex_lock(&s->lock);
	old = s->text;
	s->text = copy;
	s->len = len;
	pthread_mutex_unlock(&s->lock);
	free(old);
	return 0;
}

void
sl_prom_close(struct sl_prom_server *s)
{
	if (s == NULL)
		return;
	MHD_stop_daemon(s->d);
	pthread_mutex_destroy(&s->lock);
	free(s->text);
	free(s);
}
