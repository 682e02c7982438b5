/* SPDX-License-Identifier: MIT */
/*
 * sl_config_yaml.c - reading typed values from the pipeline file's YAML
 * nodes, every error with FILE:LINE and the field's path; addresses,
 * endpoints and prefixes.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <hs.h>
#include <yaml.h>

#include "sl_confine.h"
#include "sl_config.h"
#include "sl_config_int.h"
#include "sl_guard.h"

unsigned long
cfg_node_line(const yaml_node_t *node)
{
	return node ? (unsigned long)node->start_mark.line + 1 : 1;
}

int __attribute__((format(printf, 4, 5)))
cfg_fail(struct sl_cfg_ctx *c, const yaml_node_t *node, const char *path,
	 const char *fmt, ...)
{
	va_list ap;
	int n;

	if (c->err == NULL || c->errlen == 0)
		return -EINVAL;
	n = snprintf(c->err, c->errlen, "%s:%lu: %s: ", c->file,
		     cfg_node_line(node), path);
	if (n >= 0 && (size_t)n < c->errlen) {
		va_start(ap, fmt);
		vsnprintf(c->err + n, c->errlen - n, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

/* A user's value, cut short and stripped of control bytes, so that the
 * error stays one line whatever the file holds. */
const char *
cfg_quote(const yaml_node_t *node, char *buf, size_t len)
{
	const char *s = (const char *)node->data.scalar.value;
	size_t i;

	for (i = 0; s[i] != '\0' && i + 1 < len && i < SL_CFG_QUOTE_MAX; i++)
		buf[i] =
			(unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
	/* Cut short at a character, never inside one: the line stays
	 * UTF-8 (the API carries it as a protobuf string). */
	if (s[i] != '\0') {
		bool dots = i >= 3;

		if (dots)
			i -= 3;
		while (i > 0 && ((unsigned char)s[i] & 0xc0) == 0x80)
			i--;
		if (dots) {
			memcpy(buf + i, "...", 3);
			i += 3;
		}
	}
	buf[i] = '\0';
	return buf;
}

/*
 * A key as it goes into a field path: a field is one word (the API takes
 * it from the line up to ": "), so every character other than
 * [A-Za-z0-9_-] is a '?', and long keys are cut short. Return true if
 * anything was changed.
 */
static bool
key_word(const char *s, char *buf, size_t len)
{
	bool changed = false;
	size_t i = 0;

	for (; *s != '\0' && i + 1 < len && i < SL_CFG_QUOTE_MAX; s++) {
		unsigned char b = (unsigned char)*s;

		if ((b & 0xc0) == 0x80)
			continue; /* the rest of a character given its '?' */
		if ((b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') ||
		    (b >= '0' && b <= '9') || b == '_' || b == '-') {
			buf[i++] = (char)b;
		} else {
			buf[i++] = '?';
			changed = true;
		}
	}
	if (*s != '\0' && i >= 3) {
		memcpy(buf + i - 3, "...", 3);
		changed = true;
	}
	if (i == 0) {
		buf[i++] = '?'; /* the empty key */
		changed = true;
	}
	buf[i] = '\0';
	return changed;
}

const char *
cfg_node_kind(const yaml_node_t *node)
{
	switch (node->type) {
	case YAML_SCALAR_NODE:
		return "a scalar";
	case YAML_SEQUENCE_NODE:
		return "a list";
	case YAML_MAPPING_NODE:
		return "a mapping";
	default:
		return "nothing";
	}
}

/* A plain empty, "~" or "null" scalar: the value of "key:" left blank. */
bool
cfg_node_is_null(const yaml_node_t *node)
{
	const char *s;

	if (node->type != YAML_SCALAR_NODE ||
	    node->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	s = (const char *)node->data.scalar.value;
	return !strcmp(s, "") || !strcmp(s, "~") || !strcmp(s, "null") ||
	       !strcmp(s, "Null") || !strcmp(s, "NULL");
}

/* Field paths are cut at SL_CFG_PATH_MAX: far deeper than the schema goes,
 * and a cut path still names where it starts. */
void __attribute__((format(printf, 2, 3)))
cfg_path_fmt(char *buf, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, SL_CFG_PATH_MAX, fmt, ap);
	va_end(ap);
}

void
cfg_path_key(char *buf, const char *parent, const char *key)
{
	if (parent[0] == '\0')
		cfg_path_fmt(buf, "%s", key);
	else
		cfg_path_fmt(buf, "%s.%s", parent, key);
}

void
cfg_path_index(char *buf, const char *parent, unsigned int i)
{
	cfg_path_fmt(buf, "%s[%u]", parent, i);
}

int
cfg_expect_scalar(struct sl_cfg_ctx *c, const yaml_node_t *node,
		  const char *path)
{
	if (node->type != YAML_SCALAR_NODE)
		return cfg_fail(c, node, path, "must be a scalar, got %s",
				cfg_node_kind(node));
	return 0;
}

/*
 * Collects the values of a mapping's keys into vals[], in the order of
 * keys[] (NULL-terminated). Rejects non-scalar keys, unknown keys and a key
 * given twice (libyaml accepts both silently).
 */
int
cfg_map_collect(struct sl_cfg_ctx *c, const yaml_node_t *map, const char *path,
		const char *const *keys, yaml_node_t **vals)
{
	char sub[SL_CFG_PATH_MAX], q[SL_CFG_QUOTE_MAX + 1];
	yaml_node_pair_t *pair;
	unsigned int i;

	if (map->type != YAML_MAPPING_NODE)
		return cfg_fail(c, map, path[0] ? path : "document",
				"must be a mapping, got %s",
				cfg_node_kind(map));
	for (i = 0; keys[i] != NULL; i++)
		vals[i] = NULL;

	for (pair = map->data.mapping.pairs.start;
	     pair < map->data.mapping.pairs.top; pair++) {
		yaml_node_t *k = yaml_document_get_node(c->doc, pair->key);
		yaml_node_t *v = yaml_document_get_node(c->doc, pair->value);
		const char *name;

		if (k->type != YAML_SCALAR_NODE)
			return cfg_fail(c, k, path[0] ? path : "document",
					"keys must be scalars, got %s",
					cfg_node_kind(k));
		name = (const char *)k->data.scalar.value;
		for (i = 0; keys[i] != NULL; i++)
			if (!strcmp(keys[i], name))
				break;
		if (keys[i] == NULL) {
			char w[SL_CFG_QUOTE_MAX + 1];

			if (!key_word(name, w, sizeof(w))) {
				cfg_path_key(sub, path, w);
				return cfg_fail(c, k, sub, "unknown key");
			}
			cfg_path_key(sub, path, w);
			return cfg_fail(c, k, sub, "unknown key \"%s\"",
					cfg_quote(k, q, sizeof(q)));
		}
		cfg_path_key(sub, path, cfg_quote(k, q, sizeof(q)));
		if (vals[i] != NULL)
			return cfg_fail(c, k, sub, "duplicate key");
		vals[i] = v;
	}
	return 0;
}

int
cfg_missing(struct sl_cfg_ctx *c, const yaml_node_t *parent, const char *path,
	    const char *key)
{
	char sub[SL_CFG_PATH_MAX];

	cfg_path_key(sub, path, key);
	return cfg_fail(c, parent, sub, "required field missing");
}

/*
 * A list of min..max items. A blank value counts as an empty list so that
 * "clients:" with nothing under it means no clients.
 */
int
cfg_expect_list(struct sl_cfg_ctx *c, const yaml_node_t *node, const char *path,
		unsigned int min, unsigned int max, unsigned int *n)
{
	if (cfg_node_is_null(node)) {
		*n = 0;
	} else if (node->type != YAML_SEQUENCE_NODE) {
		return cfg_fail(c, node, path, "must be a list, got %s",
				cfg_node_kind(node));
	} else {
		*n = (unsigned int)(node->data.sequence.items.top -
				    node->data.sequence.items.start);
	}
	if (*n < min)
		return cfg_fail(c, node, path, "must have at least %u item%s",
				min, min == 1 ? "" : "s");
	if (*n > max)
		return cfg_fail(c, node, path, "at most %u items, got %u", max,
				*n);
	return 0;
}

yaml_node_t *
cfg_list_item(struct sl_cfg_ctx *c, const yaml_node_t *list, unsigned int i)
{
	return yaml_document_get_node(c->doc,
				      list->data.sequence.items.start[i]);
}

/* Decimal digits only, no sign, no leading zero: YAML 1.1 reads "010" as
 * octal, so refusing it avoids a silent disagreement with other tools. */
static bool
parse_decimal(const char *s, uint64_t *v)
{
	const char *p;
	char *end;
	unsigned long long n;

	if (s[0] == '\0' || (s[0] == '0' && s[1] != '\0'))
		return false;
	for (p = s; *p != '\0'; p++)
		if (*p < '0' || *p > '9')
			return false;
	errno = 0;
	n = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0')
		n = ULLONG_MAX; /* too many digits: out of any range below */
	*v = n;
	return true;
}

int
cfg_get_u32(struct sl_cfg_ctx *c, const yaml_node_t *node, const char *path,
	    uint32_t min, uint32_t max, uint32_t *out)
{
	char q[SL_CFG_QUOTE_MAX + 1];
	uint64_t v;

	if (node->type != YAML_SCALAR_NODE)
		return cfg_fail(c, node, path,
				"must be a number %lu..%lu, got %s",
				(unsigned long)min, (unsigned long)max,
				cfg_node_kind(node));
	if (!parse_decimal((const char *)node->data.scalar.value, &v))
		return cfg_fail(c, node, path,
				"must be a decimal number %lu..%lu, got \"%s\"",
				(unsigned long)min, (unsigned long)max,
				cfg_quote(node, q, sizeof(q)));
	if (v < min || v > max)
		return cfg_fail(c, node, path, "must be %lu..%lu, got %s",
				(unsigned long)min, (unsigned long)max,
				cfg_quote(node, q, sizeof(q)));
	*out = (uint32_t)v;
	return 0;
}

/* Optional number: keeps *out (the default) when the key is absent. */
int
cfg_opt_u32(struct sl_cfg_ctx *c, const yaml_node_t *node, const char *parent,
	    const char *key, uint32_t min, uint32_t max, uint32_t *out)
{
	char path[SL_CFG_PATH_MAX];

	if (node == NULL)
		return 0;
	cfg_path_key(path, parent, key);
	return cfg_get_u32(c, node, path, min, max, out);
}

static bool
name_valid(const char *s, const char *extra)
{
	size_t n = strlen(s), i;

	if (n == 0 || n >= SL_NAME_MAX)
		return false;
	for (i = 0; i < n; i++) {
		char ch = s[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '_' || ch == '.' ||
		      ch == '-' || (extra && strchr(extra, ch))))
			return false;
	}
	return true;
}

int
cfg_get_name(struct sl_cfg_ctx *c, const yaml_node_t *node, const char *path,
	     const char *extra, char *out)
{
	char q[SL_CFG_QUOTE_MAX + 1];
	const char *s;

	if (cfg_expect_scalar(c, node, path))
		return -EINVAL;
	s = (const char *)node->data.scalar.value;
	if (!name_valid(s, extra))
		return cfg_fail(c, node, path,
				"must be 1..%d characters of [A-Za-z0-9_.-%s], "
				"got \"%s\"",
				SL_NAME_MAX - 1, extra ? extra : "",
				cfg_quote(node, q, sizeof(q)));
	memcpy(out, s, strlen(s) + 1);
	return 0;
}

/* 0.0.0.0, broadcast and multicast cannot be a UDP peer of sluiced. */
bool
cfg_ipv4_unicast(uint32_t ip)
{
	return ip != 0 && ip != UINT32_MAX && (ip >> 28) != 0xe;
}

/* "IP:PORT" with a unicast IPv4 and port 1..65535. */
static int
parse_endpoint(const char *s, struct sl_endpoint *ep)
{
	char ip[16];
	const char *colon = strrchr(s, ':');
	uint64_t port;

	if (colon == NULL || (size_t)(colon - s) >= sizeof(ip))
		return -EINVAL;
	memcpy(ip, s, colon - s);
	ip[colon - s] = '\0';
	if (sl_ipv4_parse(ip, &ep->ip) || !cfg_ipv4_unicast(ep->ip))
		return -EINVAL;
	if (!parse_decimal(colon + 1, &port) || port == 0 || port > 65535)
		return -EINVAL;
	ep->port = (uint16_t)port;
	return 0;
}

int
cfg_get_endpoint(struct sl_cfg_ctx *c, const yaml_node_t *node,
		 const char *path, struct sl_endpoint *ep)
{
	char q[SL_CFG_QUOTE_MAX + 1];

	if (cfg_expect_scalar(c, node, path))
		return -EINVAL;
	if (parse_endpoint((const char *)node->data.scalar.value, ep))
		return cfg_fail(c, node, path,
				"must be IPv4:PORT (unicast address, port "
				"1..65535), got \"%s\"",
				cfg_quote(node, q, sizeof(q)));
	return 0;
}

/* "A.B.C.D/LEN" or a bare address (a /32). Host bits must be clear: a
 * prefix such as 10.77.0.1/24 is more likely a typo than an intent. */
static int
parse_prefix(const char *s, struct sl_ipv4_net *net)
{
	char ip[16];
	const char *slash = strchr(s, '/');
	size_t n = slash ? (size_t)(slash - s) : strlen(s);
	uint64_t len = 32;

	if (n >= sizeof(ip))
		return -EINVAL;
	memcpy(ip, s, n);
	ip[n] = '\0';
	if (sl_ipv4_parse(ip, &net->addr))
		return -EINVAL;
	if (slash && (!parse_decimal(slash + 1, &len) || len > 32))
		return -EINVAL;
	net->prefix_len = (uint8_t)len;
	net->mask = len == 0 ? 0 : UINT32_MAX << (32 - len);
	if (net->addr & ~net->mask)
		return -EINVAL;
	return 0;
}

/* A list of IPv4 prefixes at @path: `clients:`, a tenant's `sources:`. */
int
cfg_parse_prefix_list(struct sl_cfg_ctx *c, const yaml_node_t *node,
		      const char *where, struct sl_ipv4_net *nets,
		      unsigned int min, unsigned int max, uint16_t *count)
{
	char path[SL_CFG_PATH_MAX], q[SL_CFG_QUOTE_MAX + 1];
	unsigned int n, i;

	if (cfg_expect_list(c, node, where, min, max, &n))
		return -EINVAL;
	for (i = 0; i < n; i++) {
		yaml_node_t *item = cfg_list_item(c, node, i);

		cfg_path_index(path, where, i);
		if (cfg_expect_scalar(c, item, path))
			return -EINVAL;
		if (parse_prefix((const char *)item->data.scalar.value,
				 &nets[i]))
			return cfg_fail(c, item, path,
					"must be an IPv4 prefix A.B.C.D/0..32 "
					"with no host bits set, got \"%s\"",
					cfg_quote(item, q, sizeof(q)));
	}
	*count = (uint16_t)n;
	return 0;
}

/* Which of @words (NULL-terminated) the scalar @node is, or an error
 * quoting it against @expect. */
int
cfg_get_word(struct sl_cfg_ctx *c, const yaml_node_t *node, const char *path,
	     const char *const *words, const char *expect, unsigned int *out)
{
	char q[SL_CFG_QUOTE_MAX + 1];
	const char *s;
	unsigned int i;

	if (cfg_expect_scalar(c, node, path))
		return -EINVAL;
	s = (const char *)node->data.scalar.value;
	for (i = 0; words[i] != NULL; i++)
		if (!strcmp(words[i], s)) {
			*out = i;
			return 0;
		}
	return cfg_fail(c, node, path, "must be %s, got \"%s\"", expect,
			cfg_quote(node, q, sizeof(q)));
}

int
cfg_get_bool(struct sl_cfg_ctx *c, const yaml_node_t *node, const char *path,
	     bool *out)
{
	static const char *const words[] = {"false", "true", "False", "True",
					    "FALSE", "TRUE", NULL};
	unsigned int i;

	if (cfg_get_word(c, node, path, words, "true or false", &i))
		return -EINVAL;
	*out = i % 2 == 1;
	return 0;
}

/* Keys of a stage that only some kinds take. */
int
cfg_only_for(struct sl_cfg_ctx *c, const yaml_node_t *node, const char *parent,
	     const char *key, const char *what, enum sl_stage_kind kind)
{
	char sub[SL_CFG_PATH_MAX];

	if (node == NULL)
		return 0;
	cfg_path_key(sub, parent, key);
	if (kind == SL_STAGE_ENGINE)
		return cfg_fail(c, node, sub,
				"only for %s, not an engine stage", what);
	return cfg_fail(c, node, sub, "only for %s, not operator %s", what,
			sl_stage_kind_name(kind));
}

/* The line of @key's key node in @map: where "edges:" is written. */
const yaml_node_t *
cfg_key_node(struct sl_cfg_ctx *c, const yaml_node_t *map, const char *key)
{
	yaml_node_pair_t *pair;

	for (pair = map->data.mapping.pairs.start;
	     pair < map->data.mapping.pairs.top; pair++) {
		yaml_node_t *k = yaml_document_get_node(c->doc, pair->key);

		if (!strcmp((const char *)k->data.scalar.value, key))
			return k;
	}
	return map;
}
