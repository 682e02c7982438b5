/* SPDX-License-Identifier: MIT */
/*
 * sl_prom.h - the tools' counters in Prometheus' text format: a program's
 * stats object (the JSON it writes to --stats-file) becomes one sample
 * per number, and a small HTTP server (libmicrohttpd, its own thread)
 * answers GET /metrics with the text last published. The main loop
 * publishes a new text with each stats write, so the serving thread never
 * reads a counter the loop is writing.
 */
#ifndef SL_PROM_H
#define SL_PROM_H

#include <jansson.h>
#include <stddef.h>

#include "sluice.h"

/**
 * sl_prom_from_json - append @obj's numbers to @out as Prometheus samples.
 * @prefix: the metric name's start, e.g. "sluice_bridge";
 * @label: NULL, or "name" to label every sample with @value
 *         (escaped as the format asks: backslash, quote, newline).
 *
 * A number at key "a" becomes PREFIX_a, one in a nested object at "u" ->
 * "b" PREFIX_u_b; true and false become 1 and 0; strings, arrays and
 * nulls are skipped. Keys are sanitised to [a-zA-Z0-9_]; a key's word
 * "ms", "us" or "ns" becomes "seconds" and its value is scaled to match
 * ("busy_ms": 1500 -> PREFIX_busy_seconds 1.5), Prometheus' base unit. Each metric gets
 * a "# TYPE NAME untyped" line (the JSON does not say which are
 * counters). Return: 0, -EINVAL if @obj is not an object, -ENOMEM.
 */
int sl_prom_from_json(const json_t *obj, const char *prefix, const char *label,
		      const char *value, struct sl_text *out);

struct sl_prom_server;

/**
 * sl_prom_serve - serve GET /metrics on @addr ("IP:PORT") from a thread of
 * its own (libmicrohttpd), at most 16 connections, 10 s each; anything
 * else is 404. Nothing is served until the first sl_prom_publish (503).
 * Return: the server, or NULL after a message on stderr naming @who.
 */
struct sl_prom_server *sl_prom_serve(const char *addr, const char *who);

/**
 * sl_prom_publish - make @len bytes of @text what /metrics answers (a
 * copy). Return: 0 or -ENOMEM (the old text stays).
 */
int sl_prom_publish(struct sl_prom_server *s, const char *text, size_t len);

/* Stop serving and free. NULL is accepted. */
void sl_prom_close(struct sl_prom_server *s);

#endif /* SL_PROM_H */
