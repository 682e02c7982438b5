/* SPDX-License-Identifier: MIT */
/*
 * sl_config.c - pipeline file (YAML) to struct sl_config.
 *
 * Uses libyaml's document API rather than its event stream: every node
 * keeps its start mark, so each error can name the line it is about, and
 * a missing key can be reported at the line of the mapping that lacks it.
 * The walk is schema-driven and bounded by the SL_MAX_* limits, so anchors
 * and aliases (even cyclic ones) cannot make it loop or blow up.
 *
 * A pipeline's DAG is checked after all its stages and edges are read:
 * cycles, stages cut off from the client, then ancestry depths in
 * topological order (a splitter adds one level; every edge into a stage
 * must bring the same depth; a stage cannot aggregate on more ids than
 * its streams carry). Split patterns are compiled with Hyperscan
 * (streaming mode) while the file is read, so a bad one is reported at its
 * line; the databases belong to the config and sl_config_free frees them.
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
#include "sl_guard.h"

#define CFG_MAX_U32(a, b) ((uint32_t)(a) > (uint32_t)(b) ? (uint32_t)(a) : (uint32_t)(b))

/* Longest piece of a user's value quoted back in an error message. */
#define SL_CFG_QUOTE_MAX 48
#define SL_CFG_PATH_MAX 128

struct sl_cfg_ctx {
	const char *file;
	char *err;
	size_t errlen;
	yaml_document_t *doc;
	struct sl_config *cfg;
	const struct sl_confine *files; /* every file the config names */
};

static unsigned long
node_line(const yaml_node_t *node)
{
	return node ? (unsigned long)node->start_mark.line + 1 : 1;
}

static int __attribute__((format(printf, 4, 5)))
cfg_fail(struct sl_cfg_ctx *c, const yaml_node_t *node, const char *path,
	 const char *fmt, ...)
{
	va_list ap;
	int n;

	if (c->err == NULL || c->errlen == 0)
		return -EINVAL;
	n = snprintf(c->err, c->errlen, "%s:%lu: %s: ", c->file,
		     node_line(node), path);
	if (n >= 0 && (size_t)n < c->errlen) {
		va_start(ap, fmt);
		vsnprintf(c->err + n, c->errlen - n, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

/* A user's value, cut short and stripped of control bytes, so that the
 * error stays one line whatever the file holds. */
static const char *
quote(const yaml_node_t *node, char *buf, size_t len)
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

static const char *
node_kind(const yaml_node_t *node)
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
static bool
node_is_null(const yaml_node_t *node)
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
static void __attribute__((format(printf, 2, 3)))
path_fmt(char *buf, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, SL_CFG_PATH_MAX, fmt, ap);
	va_end(ap);
}

static void
path_key(char *buf, const char *parent, const char *key)
{
	if (parent[0] == '\0')
		path_fmt(buf, "%s", key);
	else
		path_fmt(buf, "%s.%s", parent, key);
}

static void
path_index(char *buf, const char *parent, unsigned int i)
{
	path_fmt(buf, "%s[%u]", parent, i);
}

static int
expect_scalar(struct sl_cfg_ctx *c, const yaml_node_t *node, const char *path)
{
	if (node->type != YAML_SCALAR_NODE)
		return cfg_fail(c, node, path, "must be a scalar, got %s",
				node_kind(node));
	return 0;
}

/*
 * Collects the values of a mapping's keys into vals[], in the order of
 * keys[] (NULL-terminated). Rejects non-scalar keys, unknown keys and a key
 * given twice (libyaml accepts both silently).
 */
static int
map_collect(struct sl_cfg_ctx *c, const yaml_node_t *map, const char *path,
	    const char *const *keys, yaml_node_t **vals)
{
	char sub[SL_CFG_PATH_MAX], q[SL_CFG_QUOTE_MAX + 1];
	yaml_node_pair_t *pair;
	unsigned int i;

	if (map->type != YAML_MAPPING_NODE)
		return cfg_fail(c, map, path[0] ? path : "document",
				"must be a mapping, got %s", node_kind(map));
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
					node_kind(k));
		name = (const char *)k->data.scalar.value;
		for (i = 0; keys[i] != NULL; i++)
			if (!strcmp(keys[i], name))
				break;
		if (keys[i] == NULL) {
			char w[SL_CFG_QUOTE_MAX + 1];

			if (!key_word(name, w, sizeof(w))) {
				path_key(sub, path, w);
				return cfg_fail(c, k, sub, "unknown key");
			}
			path_key(sub, path, w);
			return cfg_fail(c, k, sub, "unknown key \"%s\"",
					quote(k, q, sizeof(q)));
		}
		path_key(sub, path, quote(k, q, sizeof(q)));
		if (vals[i] != NULL)
			return cfg_fail(c, k, sub, "duplicate key");
		vals[i] = v;
	}
	return 0;
}

static int
missing(struct sl_cfg_ctx *c, const yaml_node_t *parent, const char *path,
	const char *key)
{
	char sub[SL_CFG_PATH_MAX];

	path_key(sub, path, key);
	return cfg_fail(c, parent, sub, "required field missing");
}

/*
 * A list of min..max items. A blank value counts as an empty list so that
 * "clients:" with nothing under it means no clients.
 */
static int
expect_list(struct sl_cfg_ctx *c, const yaml_node_t *node, const char *path,
	    unsigned int min, unsigned int max, unsigned int *n)
{
	if (node_is_null(node)) {
		*n = 0;
	} else if (node->type != YAML_SEQUENCE_NODE) {
		return cfg_fail(c, node, path, "must be a list, got %s",
				node_kind(node));
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

static yaml_node_t *
list_item(struct sl_cfg_ctx *c, const yaml_node_t *list, unsigned int i)
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

static int
get_u32(struct sl_cfg_ctx *c, const yaml_node_t *node, const char *path,
	uint32_t min, uint32_t max, uint32_t *out)
{
	char q[SL_CFG_QUOTE_MAX + 1];
	uint64_t v;

	if (node->type != YAML_SCALAR_NODE)
		return cfg_fail(
		    c, node, path, "must be a number %lu..%lu, got %s",
		    (unsigned long)min, (unsigned long)max, node_kind(node));
	if (!parse_decimal((const char *)node->data.scalar.value, &v))
		return cfg_fail(c, node, path,
				"must be a decimal number %lu..%lu, got \"%s\"",
				(unsigned long)min, (unsigned long)max,
				quote(node, q, sizeof(q)));
	if (v < min || v > max)
		return cfg_fail(c, node, path, "must be %lu..%lu, got %s",
				(unsigned long)min, (unsigned long)max,
				quote(node, q, sizeof(q)));
	*out = (uint32_t)v;
	return 0;
}

/* Optional number: keeps *out (the default) when the key is absent. */
static int
opt_u32(struct sl_cfg_ctx *c, const yaml_node_t *node, const char *parent,
	const char *key, uint32_t min, uint32_t max, uint32_t *out)
{
	char path[SL_CFG_PATH_MAX];

	if (node == NULL)
		return 0;
	path_key(path, parent, key);
	return get_u32(c, node, path, min, max, out);
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

static int
get_name(struct sl_cfg_ctx *c, const yaml_node_t *node, const char *path,
	 const char *extra, char *out)
{
	char q[SL_CFG_QUOTE_MAX + 1];
	const char *s;

	if (expect_scalar(c, node, path))
		return -EINVAL;
	s = (const char *)node->data.scalar.value;
	if (!name_valid(s, extra))
		return cfg_fail(
		    c, node, path,
		    "must be 1..%d characters of [A-Za-z0-9_.-%s], got \"%s\"",
		    SL_NAME_MAX - 1, extra ? extra : "",
		    quote(node, q, sizeof(q)));
	memcpy(out, s, strlen(s) + 1);
	return 0;
}

/* 0.0.0.0, broadcast and multicast cannot be a UDP peer of sluiced. */
static bool
ipv4_unicast(uint32_t ip)
{
	return ip != 0 && ip != UINT32_MAX && (ip >> 28) != 0xe;
}

int
sl_ipv4_parse(const char *s, uint32_t *ip)
{
	uint32_t v = 0;
	unsigned int part;

	for (part = 0; part < 4; part++) {
		unsigned int octet = 0, digits = 0;

		if (part > 0 && *s++ != '.')
			return -EINVAL;
		while (*s >= '0' && *s <= '9') {
			/* A leading zero reads as octal to inet_aton. */
			if (digits == 1 && octet == 0)
				return -EINVAL;
			octet = octet * 10 + (unsigned int)(*s++ - '0');
			if (++digits > 3 || octet > 255)
				return -EINVAL;
		}
		if (digits == 0)
			return -EINVAL;
		v = v << 8 | octet;
	}
	if (*s != '\0')
		return -EINVAL;
	*ip = v;
	return 0;
}

const char *
sl_ipv4_format(uint32_t ip, char *buf, size_t len)
{
	snprintf(buf, len, "%u.%u.%u.%u", ip >> 24, (ip >> 16) & 0xff,
		 (ip >> 8) & 0xff, ip & 0xff);
	return buf;
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
	if (sl_ipv4_parse(ip, &ep->ip) || !ipv4_unicast(ep->ip))
		return -EINVAL;
	if (!parse_decimal(colon + 1, &port) || port == 0 || port > 65535)
		return -EINVAL;
	ep->port = (uint16_t)port;
	return 0;
}

static int
get_endpoint(struct sl_cfg_ctx *c, const yaml_node_t *node, const char *path,
	     struct sl_endpoint *ep)
{
	char q[SL_CFG_QUOTE_MAX + 1];

	if (expect_scalar(c, node, path))
		return -EINVAL;
	if (parse_endpoint((const char *)node->data.scalar.value, ep))
		return cfg_fail(c, node, path,
				"must be IPv4:PORT (unicast address, port "
				"1..65535), got \"%s\"",
				quote(node, q, sizeof(q)));
	return 0;
}

static int
parse_sluiced(struct sl_cfg_ctx *c, const yaml_node_t *node)
{
	static const char *const keys[] = {"address", "port", NULL};
	char path[SL_CFG_PATH_MAX], q[SL_CFG_QUOTE_MAX + 1];
	yaml_node_t *v[2];
	uint32_t port = SL_WIRE_UDP_PORT;

	if (map_collect(c, node, "sluiced", keys, v))
		return -EINVAL;
	if (v[0] == NULL)
		return missing(c, node, "sluiced", "address");
	path_key(path, "sluiced", "address");
	if (expect_scalar(c, v[0], path))
		return -EINVAL;
	if (sl_ipv4_parse((const char *)v[0]->data.scalar.value,
			  &c->cfg->listen.ip) ||
	    !ipv4_unicast(c->cfg->listen.ip))
		return cfg_fail(c, v[0], path,
				"must be a unicast IPv4 address, got \"%s\"",
				quote(v[0], q, sizeof(q)));
	if (opt_u32(c, v[1], "sluiced", "port", 1, 65535, &port))
		return -EINVAL;
	c->cfg->listen.port = (uint16_t)port;
	return 0;
}

static int
parse_flows(struct sl_cfg_ctx *c, const yaml_node_t *node)
{
	static const char *const keys[] = {
	    "size", "idle_timeout_ms", "reorder_window", "buffer_max",
	    "client_streams", "source_streams", "tenant_streams", NULL};
	struct sl_config *cfg = c->cfg;
	yaml_node_t *v[7];

	if (node == NULL || node_is_null(node))
		goto defaults;
	if (map_collect(c, node, "flows", keys, v) ||
	    opt_u32(c, v[0], "flows", "size", 64, 4194304,
		    &cfg->flow_table_size) ||
	    opt_u32(c, v[1], "flows", "idle_timeout_ms", 10, 3600000,
		    &cfg->flow_idle_ms) ||
	    opt_u32(c, v[2], "flows", "reorder_window", 1,
		    SL_CONFIG_REORDER_MAX, &cfg->reorder_window) ||
	    opt_u32(c, v[3], "flows", "buffer_max", 1, 65536,
		    &cfg->buffer_max) ||
	    opt_u32(c, v[4], "flows", "client_streams", 1,
		    cfg->flow_table_size, &cfg->client_streams))
		return -EINVAL;
	/* Bounded by what the file says of the clients' share. */
	if (opt_u32(c, v[5], "flows", "source_streams", 1,
		    cfg->client_streams ? cfg->client_streams
					: cfg->flow_table_size / 4,
		    &cfg->source_streams) ||
	    opt_u32(c, v[6], "flows", "tenant_streams", 1,
		    cfg->client_streams ? cfg->client_streams
					: cfg->flow_table_size / 4,
		    &cfg->tenant_streams))
		return -EINVAL;
defaults:
	/* The clients' own streams take a quarter of the table at most, one
	 * address a quarter of that, one tenant half: the rest is the engine
	 * outputs' of requests already admitted, which new requests never
	 * starve. */
	if (cfg->client_streams == 0)
		cfg->client_streams = CFG_MAX_U32(cfg->flow_table_size / 4, 1);
	if (cfg->source_streams == 0)
		cfg->source_streams = CFG_MAX_U32(cfg->client_streams / 4, 1);
	/* No one tenant takes more than half of the clients' share. */
	if (cfg->tenant_streams == 0)
		cfg->tenant_streams = CFG_MAX_U32(cfg->client_streams / 2, 1);
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
static int
parse_prefix_list(struct sl_cfg_ctx *c, const yaml_node_t *node,
		  const char *where, struct sl_ipv4_net *nets,
		  unsigned int min, unsigned int max, uint16_t *count)
{
	char path[SL_CFG_PATH_MAX], q[SL_CFG_QUOTE_MAX + 1];
	unsigned int n, i;

	if (expect_list(c, node, where, min, max, &n))
		return -EINVAL;
	for (i = 0; i < n; i++) {
		yaml_node_t *item = list_item(c, node, i);

		path_index(path, where, i);
		if (expect_scalar(c, item, path))
			return -EINVAL;
		if (parse_prefix((const char *)item->data.scalar.value,
				 &nets[i]))
			return cfg_fail(c, item, path,
					"must be an IPv4 prefix A.B.C.D/0..32 "
					"with no host bits set, got \"%s\"",
					quote(item, q, sizeof(q)));
	}
	*count = (uint16_t)n;
	return 0;
}

static int
parse_clients(struct sl_cfg_ctx *c, const yaml_node_t *node)
{
	if (node == NULL)
		return 0;
	return parse_prefix_list(c, node, "clients", c->cfg->client_nets, 0,
				 SL_MAX_CLIENT_NETS, &c->cfg->n_client_nets);
}

static int
parse_tenant(struct sl_cfg_ctx *c, const yaml_node_t *node, const char *path,
	     struct sl_tenant_cfg *t)
{
	static const char *const keys[] = {"id", "max_streams",
					   "fragments_per_s", "burst",
					   "sources", NULL};
	char sub[SL_CFG_PATH_MAX];
	yaml_node_t *v[5];
	uint32_t id;

	if (map_collect(c, node, path, keys, v))
		return -EINVAL;
	path_key(sub, path, "sources");
	if (v[4] != NULL &&
	    parse_prefix_list(c, v[4], sub, t->sources, 1,
			      SL_MAX_TENANT_SOURCES, &t->n_sources))
		return -EINVAL;
	if (v[0] == NULL)
		return missing(c, node, path, "id");
	if (opt_u32(c, v[0], path, "id", 0, UINT16_MAX, &id) ||
	    opt_u32(c, v[1], path, "max_streams", 0, UINT32_MAX,
		    &t->max_streams) ||
	    opt_u32(c, v[2], path, "fragments_per_s", 0, UINT32_MAX,
		    &t->fragments_per_s))
		return -EINVAL;
	t->id = (uint16_t)id;
	/* A tenth of a second of traffic; 64 when the rate is unlimited. */
	if (t->fragments_per_s == 0)
		t->burst = 64;
	else
		t->burst =
		    t->fragments_per_s / 10 ? t->fragments_per_s / 10 : 1;
	return opt_u32(c, v[3], path, "burst", 1, UINT32_MAX, &t->burst);
}

static int
parse_tenants(struct sl_cfg_ctx *c, const yaml_node_t *node)
{
	char path[SL_CFG_PATH_MAX];
	unsigned long first_line[SL_MAX_TENANTS];
	unsigned int n, i, j;

	if (node == NULL)
		return 0;
	/* Present but empty would read as "admit nobody", which the
	 * config cannot express: n_tenants == 0 admits everyone. */
	if (expect_list(c, node, "tenants", 1, SL_MAX_TENANTS, &n))
		return -EINVAL;
	for (i = 0; i < n; i++) {
		yaml_node_t *item = list_item(c, node, i);
		struct sl_tenant_cfg *t = &c->cfg->tenants[i];

		path_index(path, "tenants", i);
		if (parse_tenant(c, item, path, t))
			return -EINVAL;
		first_line[i] = node_line(item);
		for (j = 0; j < i; j++)
			if (c->cfg->tenants[j].id == t->id) {
				char sub[SL_CFG_PATH_MAX];

				path_key(sub, path, "id");
				return cfg_fail(c, item, sub,
						"duplicate tenant id %u (first "
						"at line %lu)",
						t->id, first_line[j]);
			}
	}
	c->cfg->n_tenants = (uint16_t)n;
	return 0;
}

static int
parse_instance(struct sl_cfg_ctx *c, const yaml_node_t *node, const char *path,
	       const struct sl_stage_cfg *st, unsigned int idx,
	       struct sl_instance_cfg *inst)
{
	static const char *const keys[] = {"name", "address", NULL};
	char sub[SL_CFG_PATH_MAX], idxs[12];
	yaml_node_t *v[2];
	size_t ilen, slen;

	ilen = (size_t)snprintf(idxs, sizeof(idxs), "/%u", idx);
	/* Cut a long stage name rather than the index: the index is what
	 * keeps default names unique within the stage. */
	slen = strlen(st->name);
	if (slen > SL_NAME_MAX - 1 - ilen)
		slen = SL_NAME_MAX - 1 - ilen;
	memcpy(inst->name, st->name, slen);
	memcpy(inst->name + slen, idxs, ilen + 1);

	if (node->type == YAML_SCALAR_NODE)
		return get_endpoint(c, node, path, &inst->ep);
	if (node->type != YAML_MAPPING_NODE)
		return cfg_fail(
		    c, node, path,
		    "must be \"IP:PORT\" or a mapping {name, address}, got %s",
		    node_kind(node));
	if (map_collect(c, node, path, keys, v))
		return -EINVAL;
	if (v[0] != NULL) {
		path_key(sub, path, "name");
		if (get_name(c, v[0], sub, "/", inst->name))
			return -EINVAL;
	}
	if (v[1] == NULL)
		return missing(c, node, path, "address");
	path_key(sub, path, "address");
	return get_endpoint(c, v[1], sub, &inst->ep);
}

static int
parse_instances(struct sl_cfg_ctx *c, const yaml_node_t *node,
		const char *parent, struct sl_stage_cfg *st)
{
	char list_path[SL_CFG_PATH_MAX], path[SL_CFG_PATH_MAX];
	char a[16];
	unsigned long first_line[SL_MAX_INSTANCES];
	const struct sl_endpoint *self = &c->cfg->listen;
	unsigned int n, i, j;

	path_key(list_path, parent, "instances");
	if (expect_list(c, node, list_path, 1, SL_MAX_INSTANCES, &n))
		return -EINVAL;
	for (i = 0; i < n; i++) {
		yaml_node_t *item = list_item(c, node, i);
		struct sl_instance_cfg *inst = &st->instances[i];

		path_index(path, list_path, i);
		if (parse_instance(c, item, path, st, i, inst))
			return -EINVAL;
		first_line[i] = node_line(item);
		if (inst->ep.ip == self->ip && inst->ep.port == self->port)
			return cfg_fail(
			    c, item, path,
			    "endpoint %s:%u is sluiced's own address",
			    sl_ipv4_format(inst->ep.ip, a, sizeof(a)),
			    inst->ep.port);
		for (j = 0; j < i; j++) {
			const struct sl_instance_cfg *o = &st->instances[j];

			if (o->ep.ip == inst->ep.ip &&
			    o->ep.port == inst->ep.port)
				return cfg_fail(
				    c, item, path,
				    "duplicate endpoint %s:%u (first at line "
				    "%lu)",
				    sl_ipv4_format(inst->ep.ip, a, sizeof(a)),
				    inst->ep.port, first_line[j]);
			if (!strcmp(o->name, inst->name))
				return cfg_fail(c, item, path,
						"duplicate instance name "
						"\"%s\" (first at line %lu)",
						inst->name, first_line[j]);
		}
	}
	st->n_instances = (uint16_t)n;
	return 0;
}

/*
 * Nodes kept while one pipeline is read, so that the graph checks, which
 * run once every stage and edge is known, can still point at a line.
 */
struct sl_dag_nodes {
	const yaml_node_t *edges_key; /* NULL for the implicit chain */
	const yaml_node_t *stage[SL_MAX_STAGES];
	const yaml_node_t *stage_name[SL_MAX_STAGES];
	const yaml_node_t *aggregation[SL_MAX_STAGES]; /* NULL if absent */
	const yaml_node_t *edge[SL_MAX_EDGES];
	const yaml_node_t *edge_split[SL_MAX_EDGES];
	const yaml_node_t *edge_guard[SL_MAX_EDGES]; /* NULL if absent */
};

static const char *
kind_name(enum sl_stage_kind kind)
{
	switch (kind) {
	case SL_STAGE_OP_COUNT:
		return "count";
	case SL_STAGE_OP_SUM:
		return "sum";
	case SL_STAGE_OP_TOPK:
		return "topk";
	case SL_STAGE_OP_CONCAT:
		return "concat";
	default:
		return "engine";
	}
}

static const char *
split_name(enum sl_split split)
{
	switch (split) {
	case SL_SPLIT_LINE:
		return "line";
	case SL_SPLIT_SENTENCE:
		return "sentence";
	case SL_SPLIT_REGEX:
		return "regex";
	default:
		return "none";
	}
}

/* Which of @words (NULL-terminated) the scalar @node is, or an error
 * quoting it against @expect. */
static int
get_word(struct sl_cfg_ctx *c, const yaml_node_t *node, const char *path,
	 const char *const *words, const char *expect, unsigned int *out)
{
	char q[SL_CFG_QUOTE_MAX + 1];
	const char *s;
	unsigned int i;

	if (expect_scalar(c, node, path))
		return -EINVAL;
	s = (const char *)node->data.scalar.value;
	for (i = 0; words[i] != NULL; i++)
		if (!strcmp(words[i], s)) {
			*out = i;
			return 0;
		}
	return cfg_fail(c, node, path, "must be %s, got \"%s\"", expect,
			quote(node, q, sizeof(q)));
}

static int
get_bool(struct sl_cfg_ctx *c, const yaml_node_t *node, const char *path,
	 bool *out)
{
	static const char *const words[] = {"false", "true", "False", "True",
					    "FALSE", "TRUE", NULL};
	unsigned int i;

	if (get_word(c, node, path, words, "true or false", &i))
		return -EINVAL;
	*out = i % 2 == 1;
	return 0;
}

/*
 * load_bound: 0 (off) or a plain decimal 1.0..16.0. Same spelling rules
 * as the integers (no sign, exponent or leading zero) so that what the
 * file says is what every reader of it sees.
 */
static int
get_load_bound(struct sl_cfg_ctx *c, const yaml_node_t *node, const char *path,
	       double *out)
{
	char q[SL_CFG_QUOTE_MAX + 1];
	const char *s, *p;
	double v;
	bool ok;

	if (node->type != YAML_SCALAR_NODE)
		return cfg_fail(c, node, path,
				"must be 0 (off) or a decimal 1.0..16.0, got "
				"%s",
				node_kind(node));
	s = (const char *)node->data.scalar.value;
	for (p = s; *p >= '0' && *p <= '9'; p++)
		;
	ok = p > s && !(s[0] == '0' && p - s > 1);
	if (ok && *p == '.') {
		const char *frac = ++p;

		while (*p >= '0' && *p <= '9')
			p++;
		ok = p > frac;
	}
	if (!ok || *p != '\0')
		return cfg_fail(c, node, path,
				"must be 0 (off) or a decimal 1.0..16.0, got "
				"\"%s\"",
				quote(node, q, sizeof(q)));
	v = strtod(s, NULL);
	if (v != 0.0 && !(v >= 1.0 && v <= 16.0))
		return cfg_fail(c, node, path,
				"must be 0 (off) or 1.0..16.0, got %s",
				quote(node, q, sizeof(q)));
	*out = v;
	return 0;
}

/* Keys of a stage that only some kinds take. */
static int
only_for(struct sl_cfg_ctx *c, const yaml_node_t *node, const char *parent,
	 const char *key, const char *what, enum sl_stage_kind kind)
{
	char sub[SL_CFG_PATH_MAX];

	if (node == NULL)
		return 0;
	path_key(sub, parent, key);
	if (kind == SL_STAGE_ENGINE)
		return cfg_fail(c, node, sub,
				"only for %s, not an engine stage", what);
	return cfg_fail(c, node, sub, "only for %s, not operator %s", what,
			kind_name(kind));
}

/* Operator keys: v[] as collected by parse_stage. */
static int
parse_operator(struct sl_cfg_ctx *c, const yaml_node_t *node, const char *path,
	       struct sl_stage_cfg *st, yaml_node_t **v)
{
	char sub[SL_CFG_PATH_MAX];

	if (only_for(c, v[2], path, "balance", "engine stages", st->kind) ||
	    only_for(c, v[3], path, "instances", "engine stages", st->kind) ||
	    only_for(c, v[5], path, "load_bound", "engine stages", st->kind) ||
	    only_for(c, v[9], path, "idempotent", "engine stages", st->kind))
		return -EINVAL;
	/* A group is keyed by the first `aggregation` ids: with none, one
	 * operator state would mix every request. */
	path_key(sub, path, "aggregation");
	if (v[1] == NULL)
		return cfg_fail(c, node, sub,
				"required for operator %s (1..%u)",
				kind_name(st->kind), SL_ANCESTRY_MAX);
	if (st->aggregation == 0)
		return cfg_fail(c, v[1], sub,
				"must be 1..%u for operator %s, "
				"got 0",
				SL_ANCESTRY_MAX, kind_name(st->kind));
	if (st->kind == SL_STAGE_OP_TOPK) {
		path_key(sub, path, "k");
		if (v[6] == NULL)
			return cfg_fail(c, node, sub,
					"required for operator topk");
		if (get_u32(c, v[6], sub, 1, 64, &st->topk))
			return -EINVAL;
	} else if (only_for(c, v[6], path, "k", "operator topk", st->kind)) {
		return -EINVAL;
	}
	st->max_groups = SL_CONFIG_DEFAULT_GROUPS;
	st->max_group_bytes = SL_CONFIG_DEFAULT_GROUP_BYTES;
	if (opt_u32(c, v[7], path, "max_groups", 1, 1048576, &st->max_groups) ||
	    opt_u32(c, v[8], path, "max_group_bytes", 256, 16777216,
		    &st->max_group_bytes))
		return -EINVAL;
	return 0;
}

static int
parse_stage(struct sl_cfg_ctx *c, const yaml_node_t *node, const char *path,
	    struct sl_stage_cfg *st, struct sl_dag_nodes *dag, unsigned int idx)
{
	static const char *const keys[] = {
	    "name",	 "aggregation", "balance",
	    "instances", "operator",	"load_bound",
	    "k",	 "max_groups",	"max_group_bytes",
	    "idempotent", NULL};
	static const char *const operators[] = {"count", "sum", "topk",
						"concat", NULL};
	char sub[SL_CFG_PATH_MAX], q[SL_CFG_QUOTE_MAX + 1];
	yaml_node_t *v[10];
	uint32_t agg = 0;
	unsigned int kind;

	if (map_collect(c, node, path, keys, v))
		return -EINVAL;
	if (v[0] == NULL)
		return missing(c, node, path, "name");
	path_key(sub, path, "name");
	if (get_name(c, v[0], sub, NULL, st->name))
		return -EINVAL;
	dag->stage[idx] = node;
	dag->stage_name[idx] = v[0];
	dag->aggregation[idx] = v[1];
	st->kind = SL_STAGE_ENGINE;
	if (v[4] != NULL) {
		path_key(sub, path, "operator");
		/* An engine is a stage with no operator: not a value here. */
		if (get_word(c, v[4], sub, operators,
			     "count, sum, topk or concat", &kind))
			return -EINVAL;
		st->kind = (enum sl_stage_kind)(SL_STAGE_OP_COUNT + kind);
	}
	if (opt_u32(c, v[1], path, "aggregation", 0, SL_ANCESTRY_MAX, &agg))
		return -EINVAL;
	st->aggregation = (uint8_t)agg;
	st->balance = SL_BALANCE_ROUND_ROBIN;
	if (st->kind != SL_STAGE_ENGINE)
		return parse_operator(c, node, path, st, v);

	if (v[2] != NULL) {
		const char *s;

		path_key(sub, path, "balance");
		if (expect_scalar(c, v[2], sub))
			return -EINVAL;
		s = (const char *)v[2]->data.scalar.value;
		if (!strcmp(s, "least_loaded"))
			st->balance = SL_BALANCE_LEAST_LOADED;
		else if (strcmp(s, "round_robin"))
			return cfg_fail(
			    c, v[2], sub,
			    "must be round_robin or least_loaded, got \"%s\"",
			    quote(v[2], q, sizeof(q)));
	}
	if (only_for(c, v[6], path, "k", "operator topk", st->kind) ||
	    only_for(c, v[7], path, "max_groups", "operator stages",
		     st->kind) ||
	    only_for(c, v[8], path, "max_group_bytes", "operator stages",
		     st->kind))
		return -EINVAL;
	if (v[9] != NULL) {
		path_key(sub, path, "idempotent");
		if (get_bool(c, v[9], sub, &st->idempotent))
			return -EINVAL;
	}
	if (v[5] != NULL) {
		path_key(sub, path, "load_bound");
		/* Bounded load spreads keys; with no key there is nothing
		 * to bound. */
		if (st->aggregation == 0)
			return cfg_fail(c, v[5], sub,
					"only with aggregation 1..%u, this "
					"stage has aggregation 0",
					SL_ANCESTRY_MAX);
		if (get_load_bound(c, v[5], sub, &st->load_bound))
			return -EINVAL;
	}
	if (v[3] == NULL)
		return missing(c, node, path, "instances");
	return parse_instances(c, v[3], path, st);
}

static int
parse_stages(struct sl_cfg_ctx *c, const yaml_node_t *node, const char *parent,
	     struct sl_pipeline_cfg *pl, struct sl_dag_nodes *dag)
{
	char list_path[SL_CFG_PATH_MAX], path[SL_CFG_PATH_MAX];
	char sub[SL_CFG_PATH_MAX];
	unsigned long first_line[SL_MAX_STAGES];
	unsigned int n, i, j;

	path_key(list_path, parent, "stages");
	if (expect_list(c, node, list_path, 1, SL_MAX_STAGES, &n))
		return -EINVAL;
	for (i = 0; i < n; i++) {
		yaml_node_t *item = list_item(c, node, i);
		struct sl_stage_cfg *st = &pl->stages[i];

		path_index(path, list_path, i);
		if (parse_stage(c, item, path, st, dag, i))
			return -EINVAL;
		st->id = (uint16_t)(i + 1);
		first_line[i] = node_line(item);
		for (j = 0; j < i; j++)
			if (!strcmp(pl->stages[j].name, st->name)) {
				path_key(sub, path, "name");
				return cfg_fail(c, item, sub,
						"duplicate stage name \"%s\" "
						"(first at line %lu)",
						st->name, first_line[j]);
			}
	}
	pl->n_stages = (uint16_t)n;
	return 0;
}

/* An edge's end: a stage's name or "client". */
static int
edge_end(struct sl_cfg_ctx *c, const yaml_node_t *node, const char *path,
	 const struct sl_pipeline_cfg *pl, uint16_t *id)
{
	char q[SL_CFG_QUOTE_MAX + 1];
	const char *s;
	unsigned int i;

	if (expect_scalar(c, node, path))
		return -EINVAL;
	s = (const char *)node->data.scalar.value;
	if (!strcmp(s, "client")) {
		*id = SL_STAGE_CLIENT;
		return 0;
	}
	for (i = 0; i < pl->n_stages; i++)
		if (!strcmp(pl->stages[i].name, s)) {
			*id = pl->stages[i].id;
			return 0;
		}
	return cfg_fail(c, node, path,
			"no stage named \"%s\" (a stage's name or client)",
			quote(node, q, sizeof(q)));
}

/* Hyperscan's words, on one line whatever they hold. */
static int
compile_split(struct sl_cfg_ctx *c, const yaml_node_t *node, const char *path,
	      struct sl_edge_cfg *e)
{
	char msg[160];
	hs_database_t *db = NULL;
	hs_compile_error_t *ce = NULL;
	size_t i;

	if (hs_compile(e->pattern, HS_FLAG_UTF8 | HS_FLAG_DOTALL,
		       HS_MODE_STREAM, NULL, &db, &ce) == HS_SUCCESS) {
		e->split_db = db;
		return 0;
	}
	snprintf(msg, sizeof(msg), "%s",
		 ce && ce->message ? ce->message : "unknown error");
	for (i = 0; msg[i] != '\0'; i++)
		if ((unsigned char)msg[i] < 0x20 || msg[i] == 0x7f)
			msg[i] = '?';
	hs_free_compile_error(ce);
	return cfg_fail(c, node, path, "does not compile: %s", msg);
}

static int
parse_pattern(struct sl_cfg_ctx *c, const yaml_node_t *node, const char *path,
	      struct sl_edge_cfg *e)
{
	const char *s;
	size_t len;

	if (expect_scalar(c, node, path))
		return -EINVAL;
	s = (const char *)node->data.scalar.value;
	len = node->data.scalar.length;
	/* "\0" in a double-quoted scalar would cut the C string short. */
	if (strlen(s) != len)
		return cfg_fail(c, node, path, "must not contain a NUL byte");
	if (len == 0)
		return cfg_fail(c, node, path, "must not be empty");
	if (len >= SL_PATTERN_MAX)
		return cfg_fail(c, node, path, "at most %u bytes, got %zu",
				SL_PATTERN_MAX - 1, len);
	memcpy(e->pattern, s, len + 1);
	return 0;
}

static int
parse_edge(struct sl_cfg_ctx *c, const yaml_node_t *node, const char *path,
	   struct sl_pipeline_cfg *pl, unsigned int idx,
	   struct sl_dag_nodes *dag)
{
	static const char *const keys[] = {"from",	       "to",
					   "mode",	       "split",
					   "stream_children", "pattern",
					   "guard",	       NULL};
	static const char *const modes[] = {"stream", "buffer", NULL};
	static const char *const splits[] = {"none", "line", "sentence",
					     "regex", NULL};
	char sub[SL_CFG_PATH_MAX];
	struct sl_edge_cfg *e = &pl->edges[idx];
	yaml_node_t *v[7];
	unsigned int word, j, n_out = 0;

	if (map_collect(c, node, path, keys, v))
		return -EINVAL;
	if (v[6] != NULL) {
		char q[SL_CFG_QUOTE_MAX + 1];

		path_key(sub, path, "guard");
		if (expect_scalar(c, v[6], sub))
			return -EINVAL;
		for (j = 0; j < c->cfg->n_guards && !e->guard; j++)
			if (!strcmp(c->cfg->guards[j].name,
				    (const char *)v[6]->data.scalar.value))
				e->guard = (uint8_t)(j + 1);
		if (!e->guard)
			return cfg_fail(c, v[6], sub, "no guard named \"%s\"",
					quote(v[6], q, sizeof(q)));
		dag->edge_guard[idx] = v[6];
	}
	if (v[0] == NULL)
		return missing(c, node, path, "from");
	if (v[1] == NULL)
		return missing(c, node, path, "to");
	e->id = (uint16_t)idx;
	dag->edge[idx] = node;
	dag->edge_split[idx] = v[3] ? v[3] : node;
	path_key(sub, path, "from");
	if (edge_end(c, v[0], sub, pl, &e->from))
		return -EINVAL;
	for (j = 0; j < idx; j++)
		n_out += pl->edges[j].from == e->from;
	if (n_out >= SL_MAX_OUT_EDGES)
		return cfg_fail(
		    c, v[0], sub, "at most %u edges may leave %s%s%s",
		    SL_MAX_OUT_EDGES, e->from ? "\"" : "",
		    sl_stage_name_of(pl, e->from), e->from ? "\"" : "");
	path_key(sub, path, "to");
	if (edge_end(c, v[1], sub, pl, &e->to))
		return -EINVAL;
	if (e->from == SL_STAGE_CLIENT && e->to == SL_STAGE_CLIENT)
		return cfg_fail(c, v[1], sub,
				"an edge from client to client passes no "
				"stage");
	if (e->from == e->to)
		return cfg_fail(c, v[1], sub, "edge from \"%s\" to itself",
				sl_stage_name_of(pl, e->from));
	for (j = 0; j < idx; j++)
		if (pl->edges[j].from == e->from && pl->edges[j].to == e->to)
			return cfg_fail(c, node, path,
					"duplicate edge %s -> %s (first at "
					"line %lu)",
					sl_stage_name_of(pl, e->from),
					sl_stage_name_of(pl, e->to),
					node_line(dag->edge[j]));
	e->mode = SL_EDGE_STREAM;
	if (v[2] != NULL) {
		path_key(sub, path, "mode");
		if (get_word(c, v[2], sub, modes, "stream or buffer", &word))
			return -EINVAL;
		e->mode = (enum sl_edge_mode)word;
	}
	e->split = SL_SPLIT_NONE;
	if (v[3] != NULL) {
		path_key(sub, path, "split");
		if (get_word(c, v[3], sub, splits,
			     "none, line, sentence or regex", &word))
			return -EINVAL;
		e->split = (enum sl_split)word;
	}
	if (v[4] != NULL) {
		path_key(sub, path, "stream_children");
		if (e->split == SL_SPLIT_NONE)
			return cfg_fail(c, v[4], sub,
					"only for split edges (split: line, "
					"sentence or regex)");
		if (get_bool(c, v[4], sub, &e->stream_children))
			return -EINVAL;
	}
	path_key(sub, path, "pattern");
	switch (e->split) {
	case SL_SPLIT_NONE:
		if (v[5] != NULL)
			return cfg_fail(c, v[5], sub,
					"only with split: regex, this edge "
					"does not split");
		return 0;
	case SL_SPLIT_LINE:
	case SL_SPLIT_SENTENCE:
		if (v[5] != NULL)
			return cfg_fail(c, v[5], sub,
					"only with split: regex, split: %s "
					"has its own",
					split_name(e->split));
		/* Regex source, as a file's pattern would be. */
		snprintf(e->pattern, sizeof(e->pattern), "%s",
			 e->split == SL_SPLIT_LINE ? "\\n" : "[.!?]\\s");
		return compile_split(c, v[3], sub, e);
	case SL_SPLIT_REGEX:
	default:
		if (v[5] == NULL)
			return cfg_fail(c, node, sub,
					"required with split: regex");
		if (parse_pattern(c, v[5], sub, e))
			return -EINVAL;
		return compile_split(c, v[5], sub, e);
	}
}

/* The line of @key's key node in @map: where "edges:" is written. */
static const yaml_node_t *
key_node(struct sl_cfg_ctx *c, const yaml_node_t *map, const char *key)
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

static int
parse_edges(struct sl_cfg_ctx *c, const yaml_node_t *node, const char *parent,
	    struct sl_pipeline_cfg *pl, struct sl_dag_nodes *dag)
{
	char list_path[SL_CFG_PATH_MAX], path[SL_CFG_PATH_MAX];
	unsigned int n, i;

	/* In a pipeline with edges "client" is the client, never a stage. */
	for (i = 0; i < pl->n_stages; i++)
		if (!strcmp(pl->stages[i].name, "client")) {
			path_fmt(path, "%s.stages[%u].name", parent, i);
			return cfg_fail(c, dag->stage_name[i], path,
					"\"client\" is the client in edges, "
					"not a stage name");
		}
	path_key(list_path, parent, "edges");
	if (expect_list(c, node, list_path, 1, SL_MAX_EDGES, &n))
		return -EINVAL;
	for (i = 0; i < n; i++) {
		path_index(path, list_path, i);
		if (parse_edge(c, list_item(c, node, i), path, pl, i, dag))
			return -EINVAL;
	}
	pl->n_edges = (uint16_t)n;
	return 0;
}

/* client -> stages[0] -> ... -> stages[n - 1] -> client, as files without
 * `edges:` have always meant. */
static void
chain_edges(struct sl_pipeline_cfg *pl)
{
	unsigned int i;

	for (i = 0; i <= pl->n_stages; i++) {
		struct sl_edge_cfg *e = &pl->edges[i];

		e->id = (uint16_t)i;
		e->from = (uint16_t)i;
		e->to = i == pl->n_stages ? SL_STAGE_CLIENT : (uint16_t)(i + 1);
		e->mode = SL_EDGE_STREAM;
		e->split = SL_SPLIT_NONE;
	}
	pl->n_edges = (uint16_t)(pl->n_stages + 1);
}

/*
 * Names a cycle left over by the topological sort: @left[s] marks stages
 * it could not order, each of which has an in-edge from another such
 * stage. Walking back along first such in-edges for n steps must land on
 * a cycle; the walk then goes round it once.
 */
static int
report_cycle(struct sl_cfg_ctx *c, const struct sl_pipeline_cfg *pl,
	     const struct sl_dag_nodes *dag, const char *parent,
	     const bool *left)
{
	char path[SL_CFG_PATH_MAX], ring[SL_MAX_STAGES * (SL_NAME_MAX + 4)];
	uint16_t back[SL_MAX_STAGES + 1], via[SL_MAX_STAGES + 1];
	unsigned int i, n = 0, start = 0, best, len = 0;
	uint16_t s = 0, e;

	for (i = 1; i <= pl->n_stages; i++)
		if (left[i]) {
			s = (uint16_t)i;
			break;
		}
	for (i = 0; i <= pl->n_stages; i++)
		for (e = 0; e < pl->n_edges; e++)
			if (pl->edges[e].to == s && left[pl->edges[e].from]) {
				s = pl->edges[e].from;
				break;
			}
	/* back[k] is the k-th stage walking backwards, via[k] the edge
	 * from back[k + 1] into back[k]. */
	back[0] = s;
	do {
		for (e = 0; e < pl->n_edges; e++)
			if (pl->edges[e].to == back[n] &&
			    left[pl->edges[e].from])
				break;
		via[n] = e;
		back[n + 1] = pl->edges[e].from;
		n++;
	} while (back[n] != s && n < SL_MAX_STAGES);
	/* Name the cycle from its first stage in file order. */
	best = 0;
	for (i = 1; i < n; i++)
		if (back[i] < back[best])
			best = i;
	for (i = 0; i <= n; i++) {
		start = (best + n - i) % n; /* forwards: reverse of back[] */
		len += (unsigned int)snprintf(
		    ring + len, sizeof(ring) - len, "%s%s", i ? " -> " : "",
		    sl_stage_name_of(pl, back[start]));
	}
	/* The edge closing the cycle: into the named stage. */
	e = via[best];
	path_fmt(path, "%s.edges[%u]", parent, e);
	return cfg_fail(c, dag->edge[e], path, "cycle through stage \"%s\": %s",
			sl_stage_name_of(pl, back[best]), ring);
}

/*
 * The depths the streams arriving as stage s's output may have
 * (depth_min/max[s]; s = 0: the client's requests, always depth 1): what
 * admission checks every fragment against, so that no ancestry index
 * downstream (aggregation keys, a splitter's child id) can pass the ids
 * a fragment really carries. In a declared DAG every depth is exact. In
 * a chain an engine may deepen what it answers itself, up to the
 * ancestry's size, but never below what the stage after it aggregates
 * on; the chain's first stage receives the client's depth 1 streams, so
 * it cannot aggregate on more than one id.
 */
static int
check_depths(struct sl_cfg_ctx *c, struct sl_pipeline_cfg *pl,
	     const struct sl_dag_nodes *dag, const char *parent)
{
	char path[SL_CFG_PATH_MAX];
	unsigned int i, k;

	pl->depth_min[SL_STAGE_CLIENT] = 1;
	pl->depth_max[SL_STAGE_CLIENT] = 1;
	for (i = 1; i <= pl->n_stages; i++) {
		const struct sl_stage_cfg *st = &pl->stages[i - 1];
		uint8_t need = 1;

		if (st->kind != SL_STAGE_ENGINE) {
			pl->depth_min[i] = pl->depth_max[i] = st->aggregation;
			continue;
		}
		if (dag->edges_key != NULL) {
			pl->depth_min[i] = pl->depth_max[i] = st->depth_in;
			continue;
		}
		for (k = 0; k < st->n_out_edges; k++) {
			const struct sl_edge_cfg *ed = &pl->edges[st->out_edges[k]];

			if (ed->to != SL_STAGE_CLIENT &&
			    pl->stages[ed->to - 1].aggregation > need)
				need = pl->stages[ed->to - 1].aggregation;
		}
		pl->depth_min[i] = need;
		pl->depth_max[i] = SL_ANCESTRY_MAX;
	}
	if (dag->edges_key != NULL)
		return 0;
	for (k = 0; k < pl->n_client_edges; k++) {
		const struct sl_edge_cfg *ed = &pl->edges[pl->client_edges[k]];
		unsigned int idx = ed->to - 1u;

		if (ed->to == SL_STAGE_CLIENT ||
		    pl->stages[idx].aggregation <= 1)
			continue;
		path_fmt(path, "%s.stages[%u].aggregation", parent, idx);
		return cfg_fail(c, dag->aggregation[idx], path,
				"must be 0..1 for the first stage of a chain "
				"(clients send depth 1 streams), got %u",
				pl->stages[idx].aggregation);
	}
	return 0;
}

/*
 * The graph checks and the derived fields of a pipeline with `edges:`
 * (explicit) or of the implicit chain. Chains keep today's meaning: an
 * engine may deepen the ancestry of what it answers itself, so the
 * aggregation bound is checked on declared DAGs only.
 */
static int
check_dag(struct sl_cfg_ctx *c, struct sl_pipeline_cfg *pl,
	  const struct sl_dag_nodes *dag, const char *parent)
{
	char path[SL_CFG_PATH_MAX];
	uint16_t order[SL_MAX_STAGES], in_left[SL_MAX_STAGES + 1];
	bool left[SL_MAX_STAGES + 1], reach[SL_MAX_STAGES + 1];
	bool out[SL_MAX_STAGES + 1];
	unsigned int i, n_order = 0, head, to_client = 0;
	const struct sl_edge_cfg *last_out = NULL;
	uint16_t e;

	path_key(path, parent, "edges");
	for (e = 0; e < pl->n_edges; e++) {
		struct sl_edge_cfg *ed = &pl->edges[e];

		if (ed->from == SL_STAGE_CLIENT)
			pl->client_edges[pl->n_client_edges++] = e;
		else
			pl->stages[ed->from - 1]
			    .out_edges[pl->stages[ed->from - 1].n_out_edges++] =
			    e;
		if (ed->to == SL_STAGE_CLIENT) {
			to_client++;
			last_out = ed;
		} else {
			pl->stages[ed->to - 1].n_in_edges++;
		}
	}
	if (pl->n_client_edges == 0)
		return cfg_fail(c, dag->edges_key, path, "no edge from client");
	if (to_client == 0)
		return cfg_fail(c, dag->edges_key, path, "no edge to client");

	/* Kahn's sort; in_left[s] counts in-edges from unordered stages. */
	for (i = 1; i <= pl->n_stages; i++) {
		in_left[i] = 0;
		left[i] = true;
	}
	for (e = 0; e < pl->n_edges; e++)
		if (pl->edges[e].from != SL_STAGE_CLIENT &&
		    pl->edges[e].to != SL_STAGE_CLIENT)
			in_left[pl->edges[e].to]++;
	for (i = 1; i <= pl->n_stages; i++)
		if (in_left[i] == 0)
			order[n_order++] = (uint16_t)i;
	for (head = 0; head < n_order; head++) {
		const struct sl_stage_cfg *st = &pl->stages[order[head] - 1];

		left[order[head]] = false;
		for (i = 0; i < st->n_out_edges; i++) {
			uint16_t to = pl->edges[st->out_edges[i]].to;

			if (to != SL_STAGE_CLIENT && --in_left[to] == 0)
				order[n_order++] = to;
		}
	}
	left[SL_STAGE_CLIENT] = false;
	if (n_order < pl->n_stages)
		return report_cycle(c, pl, dag, parent, left);

	/* From the client, in topological order; back to it, in reverse. */
	for (i = 0; i <= pl->n_stages; i++)
		reach[i] = out[i] = false;
	for (i = 0; i < pl->n_client_edges; i++)
		reach[pl->edges[pl->client_edges[i]].to] = true;
	for (head = 0; head < n_order; head++) {
		const struct sl_stage_cfg *st = &pl->stages[order[head] - 1];

		for (i = 0; i < st->n_out_edges && reach[st->id]; i++)
			reach[pl->edges[st->out_edges[i]].to] = true;
	}
	for (head = n_order; head-- > 0;) {
		const struct sl_stage_cfg *st = &pl->stages[order[head] - 1];

		for (i = 0; i < st->n_out_edges; i++) {
			uint16_t to = pl->edges[st->out_edges[i]].to;

			if (to == SL_STAGE_CLIENT || out[to])
				out[st->id] = true;
		}
	}
	for (i = 1; i <= pl->n_stages; i++)
		if (!reach[i])
			return cfg_fail(c, dag->edges_key, path,
					"stage \"%s\" cannot be reached from "
					"client",
					pl->stages[i - 1].name);
	for (i = 1; i <= pl->n_stages; i++)
		if (!out[i])
			return cfg_fail(c, dag->edges_key, path,
					"stage \"%s\" has no way out to client",
					pl->stages[i - 1].name);

	/* Depths: the client's requests have depth 1. */
	for (i = 0; i < pl->n_client_edges; i++) {
		struct sl_edge_cfg *ed = &pl->edges[pl->client_edges[i]];

		ed->depth_in = 1;
		ed->depth_out = (uint8_t)(1 + (ed->split != SL_SPLIT_NONE));
	}
	for (head = 0; head < n_order; head++) {
		struct sl_stage_cfg *st = &pl->stages[order[head] - 1];
		unsigned int idx = st->id - 1u;
		int first = -1;

		for (e = 0; e < pl->n_edges; e++) {
			const struct sl_edge_cfg *ed = &pl->edges[e];

			if (ed->to != st->id)
				continue;
			if (first < 0) {
				first = e;
				st->depth_in = ed->depth_out;
			} else if (ed->depth_out != st->depth_in) {
				path_fmt(path, "%s.edges[%u]", parent, e);
				return cfg_fail(
				    c, dag->edge[e], path,
				    "edges into \"%s\" disagree on depth: %u "
				    "here, %u from edges[%d] (line %lu)",
				    st->name, ed->depth_out, st->depth_in,
				    first, node_line(dag->edge[first]));
			}
		}
		if (dag->edges_key != NULL && st->aggregation > st->depth_in) {
			path_fmt(path, "%s.stages[%u].aggregation", parent,
				 idx);
			return cfg_fail(
			    c, dag->aggregation[idx], path,
			    "must be %u..%u for a stage receiving depth %u "
			    "streams, got %u",
			    st->kind == SL_STAGE_ENGINE ? 0 : 1, st->depth_in,
			    st->depth_in, st->aggregation);
		}
		/* An operator emits one stream per group: its output is
		 * named by the group key, `aggregation` ids deep. */
		uint8_t out_depth = st->kind == SL_STAGE_ENGINE ?
					    st->depth_in : st->aggregation;

		for (i = 0; i < st->n_out_edges; i++) {
			struct sl_edge_cfg *ed = &pl->edges[st->out_edges[i]];

			ed->depth_in = out_depth;
			ed->depth_out = (uint8_t)(out_depth +
						  (ed->split != SL_SPLIT_NONE));
			if (ed->depth_out > SL_ANCESTRY_MAX) {
				path_fmt(path, "%s.edges[%u].split", parent,
					 ed->id);
				return cfg_fail(
				    c, dag->edge_split[ed->id], path,
				    "splitting depth %u streams needs depth "
				    "%u, at most %u",
				    ed->depth_in, ed->depth_out,
				    SL_ANCESTRY_MAX);
			}
		}
	}
	pl->single_output = to_client == 1 && last_out->depth_out == 1;
	return check_depths(c, pl, dag, parent);
}

/*
 * guard: required. Every edge back to the client must carry a guard that
 * filters: rules, and an action that stops or masks (block, redact). A
 * weaker rule, "every path from the request to the client passes some
 * guarded edge", would accept a pipeline guarded only on the client's
 * request, yet an engine writes banned text by itself (the model knows
 * the name) and an operator joins pieces into it; only the last hop sees
 * everything the client gets.
 */
static int
check_guard_required(struct sl_cfg_ctx *c, const struct sl_pipeline_cfg *pl,
		     const struct sl_dag_nodes *dag, const yaml_node_t *req,
		     const char *parent)
{
	char path[SL_CFG_PATH_MAX];
	uint16_t e;

	for (e = 0; e < pl->n_edges; e++) {
		const struct sl_edge_cfg *ed = &pl->edges[e];
		const struct sl_guard_cfg *g;
		const char *from = sl_stage_name_of(pl, ed->from);

		if (ed->to != SL_STAGE_CLIENT)
			continue;
		if (dag->edges_key == NULL) {
			path_key(path, parent, "guard");
			return cfg_fail(c, req, path,
					"required, but a pipeline without "
					"edges: has no guards: stage \"%s\" "
					"returns to the client unfiltered",
					from);
		}
		path_fmt(path, "%s.edges[%u].guard", parent, e);
		if (ed->guard == 0)
			return cfg_fail(c, dag->edge[e], path,
					"missing: %s -> client returns to the "
					"client unfiltered, and the pipeline "
					"says guard: required (line %lu)",
					from, node_line(req));
		g = &c->cfg->guards[ed->guard - 1];
		if (g->ref == NULL)
			return cfg_fail(c, dag->edge_guard[e], path,
					"guard \"%s\" has no rules (a prefix "
					"only): %s -> client returns to the "
					"client unfiltered, and the pipeline "
					"says guard: required (line %lu)",
					g->name, from, node_line(req));
		if (g->action == SL_GUARD_ACTION_LOG)
			return cfg_fail(c, dag->edge_guard[e], path,
					"guard \"%s\" only logs (action: log): "
					"%s -> client returns to the client "
					"unfiltered, and the pipeline says "
					"guard: required (line %lu)",
					g->name, from, node_line(req));
	}
	return 0;
}

static int
parse_pipeline(struct sl_cfg_ctx *c, const yaml_node_t *node, const char *path,
	       struct sl_pipeline_cfg *pl)
{
	static const char *const keys[] = {"name",  "id",    "stages",
					   "edges", "guard", NULL};
	static const char *const guard_words[] = {"optional", "required",
						  NULL};
	char sub[SL_CFG_PATH_MAX];
	struct sl_dag_nodes dag;
	yaml_node_t *v[5];
	unsigned int word = 0;

	memset(&dag, 0, sizeof(dag));
	if (map_collect(c, node, path, keys, v))
		return -EINVAL;
	if (v[0] == NULL)
		return missing(c, node, path, "name");
	path_key(sub, path, "name");
	if (get_name(c, v[0], sub, NULL, pl->name))
		return -EINVAL;
	if (v[1] == NULL)
		return missing(c, node, path, "id");
	if (opt_u32(c, v[1], path, "id", 1, UINT32_MAX, &pl->id))
		return -EINVAL;
	if (v[4] != NULL) {
		path_key(sub, path, "guard");
		if (get_word(c, v[4], sub, guard_words, "optional or required",
			     &word))
			return -EINVAL;
		pl->guard_required = word == 1;
	}
	if (v[2] == NULL)
		return missing(c, node, path, "stages");
	if (parse_stages(c, v[2], path, pl, &dag))
		return -EINVAL;
	if (v[3] == NULL) {
		chain_edges(pl);
	} else {
		dag.edges_key = key_node(c, node, "edges");
		if (parse_edges(c, v[3], path, pl, &dag))
			return -EINVAL;
	}
	if (check_dag(c, pl, &dag, path))
		return -EINVAL;
	return pl->guard_required
		       ? check_guard_required(c, pl, &dag, v[4], path)
		       : 0;
}

static int
parse_pipelines(struct sl_cfg_ctx *c, const yaml_node_t *node)
{
	char path[SL_CFG_PATH_MAX], sub[SL_CFG_PATH_MAX];
	unsigned long first_line[SL_MAX_PIPELINES];
	unsigned int n, i, j;

	if (expect_list(c, node, "pipelines", 1, SL_MAX_PIPELINES, &n))
		return -EINVAL;
	for (i = 0; i < n; i++) {
		yaml_node_t *item = list_item(c, node, i);
		struct sl_pipeline_cfg *pl = &c->cfg->pipelines[i];

		path_index(path, "pipelines", i);
		if (parse_pipeline(c, item, path, pl))
			return -EINVAL;
		first_line[i] = node_line(item);
		for (j = 0; j < i; j++) {
			const struct sl_pipeline_cfg *o = &c->cfg->pipelines[j];

			if (!strcmp(o->name, pl->name)) {
				path_key(sub, path, "name");
				return cfg_fail(c, item, sub,
						"duplicate pipeline name "
						"\"%s\" (first at line %lu)",
						pl->name, first_line[j]);
			}
			if (o->id == pl->id) {
				path_key(sub, path, "id");
				return cfg_fail(c, item, sub,
						"duplicate pipeline id %lu "
						"(first at line %lu)",
						(unsigned long)pl->id,
						first_line[j]);
			}
		}
	}
	c->cfg->n_pipelines = (uint16_t)n;
	return 0;
}

/* ---------------------------------------------------------------- guards */

struct guard_rules {
	struct sl_guard_rule *rules;
	char **owned; /* strings read from a file */
	unsigned int n, cap, n_owned;
};

static int
rules_add(struct guard_rules *r, enum sl_guard_kind kind, const char *pattern,
	  char *owned)
{
	if (r->n == r->cap) {
		unsigned int cap = r->cap ? r->cap * 2 : 64;
		void *p = realloc(r->rules, cap * sizeof(*r->rules));

		if (p == NULL)
			return -ENOMEM;
		r->rules = p;
		p = realloc(r->owned, cap * sizeof(*r->owned));
		if (p == NULL)
			return -ENOMEM;
		r->owned = p;
		r->cap = cap;
	}
	if (owned != NULL)
		r->owned[r->n_owned++] = owned;
	r->rules[r->n] = (struct sl_guard_rule){
		.id = r->n + 1, .kind = kind, .pattern = pattern};
	r->n++;
	return 0;
}

static void
rules_free(struct guard_rules *r)
{
	for (unsigned int i = 0; i < r->n_owned; i++)
		free(r->owned[i]);
	free(r->owned);
	free(r->rules);
}

/* A ref holding @set and a copy of the rules it was compiled from. */
static struct sl_guard_ref *
guard_ref_new(struct sl_guard_set *set, const struct guard_rules *r,
	      const char *mask)
{
	struct sl_guard_ref *ref = calloc(1, sizeof(*ref));

	if (ref == NULL)
		return NULL;
	ref->patterns = calloc(r->n ? r->n : 1, sizeof(*ref->patterns));
	ref->regex = calloc(r->n ? r->n : 1, sizeof(*ref->regex));
	if (ref->patterns == NULL || ref->regex == NULL)
		goto fail;
	for (unsigned int i = 0; i < r->n; i++) {
		ref->patterns[i] = strdup(r->rules[i].pattern);
		if (ref->patterns[i] == NULL)
			goto fail;
		ref->regex[i] = r->rules[i].kind == SL_GUARD_KIND_REGEX;
		ref->n_rules = i + 1;
	}
	snprintf(ref->mask, sizeof(ref->mask), "%s", mask ? mask : "");
	ref->set = set;
	ref->refs = 1;
	return ref;
fail:
	for (unsigned int i = 0; i < ref->n_rules; i++)
		free(ref->patterns[i]);
	free(ref->patterns);
	free(ref->regex);
	free(ref);
	return NULL;
}

void
sl_guard_ref_get(struct sl_guard_ref *ref)
{
	if (ref != NULL)
		__atomic_add_fetch(&ref->refs, 1, __ATOMIC_RELAXED);
}

void
sl_guard_ref_put(struct sl_guard_ref *ref)
{
	if (ref == NULL || __atomic_sub_fetch(&ref->refs, 1, __ATOMIC_ACQ_REL))
		return;
	sl_guard_scratch_free(ref->scratch);
	sl_guard_free(ref->set);
	for (unsigned int i = 0; i < ref->n_rules; i++)
		free(ref->patterns[i]);
	free(ref->patterns);
	free(ref->regex);
	free(ref);
}

/* A list of scalars (literals or regexes) into @r. */
static int
guard_list(struct sl_cfg_ctx *c, const yaml_node_t *node, const char *path,
	   enum sl_guard_kind kind, struct guard_rules *r)
{
	char sub[SL_CFG_PATH_MAX];
	unsigned int n, i;

	if (expect_list(c, node, path, 1, SL_GUARD_RULES_MAX, &n))
		return -EINVAL;
	for (i = 0; i < n; i++) {
		yaml_node_t *item = list_item(c, node, i);

		path_index(sub, path, i);
		if (expect_scalar(c, item, sub))
			return -EINVAL;
		if (item->data.scalar.length == 0)
			return cfg_fail(c, item, sub, "must not be empty");
		if (rules_add(r, kind, (const char *)item->data.scalar.value,
			      NULL))
			return cfg_fail(c, item, sub, "out of memory");
	}
	return 0;
}

/* One literal a line (blank lines skipped, a CR before the LF ignored),
 * read through the config's file confinement (sl_confine.h): beneath the
 * config directory, no links, a regular file of bounded size. */
static int
guard_file(struct sl_cfg_ctx *c, const yaml_node_t *node, const char *path,
	   struct guard_rules *r)
{
	char why[512], q[SL_CFG_QUOTE_MAX + 8];
	const char *name, *p;
	unsigned int line = 0;
	char *text;
	size_t len;

	if (expect_scalar(c, node, path))
		return -EINVAL;
	name = (const char *)node->data.scalar.value;
	if (sl_confine_file(c->files, name, &text, &len, why, sizeof(why)) !=
	    0)
		return cfg_fail(c, node, path, "\"%s\": %s",
				quote(node, q, sizeof(q)), why);
	for (p = text; *p != '\0';) {
		size_t n = strcspn(p, "\n");
		const char *next = p[n] == '\n' ? p + n + 1 : p + n;
		char *lit;

		line++;
		if (n > 0 && p[n - 1] == '\r')
			n--;
		if (n == 0) {
			p = next;
			continue;
		}
		if (n >= SL_GUARD_TEXT_MAX) {
			free(text);
			return cfg_fail(c, node, path,
					"\"%s\": line %u: at most %u bytes, "
					"got %zu",
					quote(node, q, sizeof(q)), line,
					SL_GUARD_TEXT_MAX - 1, n);
		}
		lit = strndup(p, n);
		if (lit == NULL || rules_add(r, SL_GUARD_KIND_LITERAL, lit, lit)) {
			free(lit);
			free(text);
			return cfg_fail(c, node, path, "out of memory");
		}
		if (r->n > SL_GUARD_RULES_MAX) {
			free(text);
			return cfg_fail(c, node, path, "more than %u rules",
					SL_GUARD_RULES_MAX);
		}
		p = next;
	}
	free(text);
	return 0;
}

static int
guard_text(struct sl_cfg_ctx *c, const yaml_node_t *node, const char *path,
	   char *out)
{
	if (expect_scalar(c, node, path))
		return -EINVAL;
	if (node->data.scalar.length >= SL_GUARD_TEXT_MAX)
		return cfg_fail(c, node, path, "at most %u bytes, got %zu",
				SL_GUARD_TEXT_MAX - 1,
				node->data.scalar.length);
	if (!sl_utf8_valid(node->data.scalar.value, node->data.scalar.length))
		return cfg_fail(c, node, path, "not valid UTF-8");
	memcpy(out, node->data.scalar.value, node->data.scalar.length + 1);
	return 0;
}

static int
parse_guard(struct sl_cfg_ctx *c, const yaml_node_t *node, const char *path,
	    struct sl_guard_cfg *g)
{
	static const char *const keys[] = {"name",   "action", "literals",
					   "literals_file", "regex", "mask",
					   "prefix", "refusal", NULL};
	static const char *const actions[] = {"block", "redact", "log", NULL};
	char sub[SL_CFG_PATH_MAX], mask[SL_GUARD_TEXT_MAX] = "";
	struct guard_rules r = {0};
	struct sl_guard_error gerr;
	struct sl_guard_set *set;
	unsigned int word = 0, n_inline = 0, n_file = 0;
	yaml_node_t *v[8];
	int rc = -EINVAL;

	if (map_collect(c, node, path, keys, v))
		return -EINVAL;
	if (v[0] == NULL)
		return missing(c, node, path, "name");
	path_key(sub, path, "name");
	if (get_name(c, v[0], sub, NULL, g->name))
		return -EINVAL;
	if (v[1] != NULL) {
		path_key(sub, path, "action");
		if (get_word(c, v[1], sub, actions, "block, redact or log",
			     &word))
			return -EINVAL;
	}
	g->action = (int)word;
	snprintf(g->refusal, sizeof(g->refusal), "%s",
		 "I can't help with that.");
	path_key(sub, path, "mask");
	if (v[5] != NULL && (g->action != SL_GUARD_ACTION_REDACT ?
				     cfg_fail(c, v[5], sub,
					      "only with action: redact") :
				     guard_text(c, v[5], sub, mask)))
		return -EINVAL;
	path_key(sub, path, "prefix");
	if (v[6] != NULL && guard_text(c, v[6], sub, g->prefix))
		return -EINVAL;
	path_key(sub, path, "refusal");
	if (v[7] != NULL && guard_text(c, v[7], sub, g->refusal))
		return -EINVAL;
	path_key(sub, path, "literals");
	if (v[2] != NULL && guard_list(c, v[2], sub, SL_GUARD_KIND_LITERAL, &r))
		goto out;
	n_inline = r.n;
	path_key(sub, path, "literals_file");
	if (v[3] != NULL && guard_file(c, v[3], sub, &r))
		goto out;
	n_file = r.n;
	path_key(sub, path, "regex");
	if (v[4] != NULL && guard_list(c, v[4], sub, SL_GUARD_KIND_REGEX, &r))
		goto out;
	if (r.n == 0 && g->prefix[0] == '\0') {
		rc = cfg_fail(c, node, path,
			      "a guard needs rules (literals, literals_file, "
			      "regex) or a prefix");
		goto out;
	}
	g->n_rules = r.n;
	if (r.n == 0) {
		rc = 0;
		goto out;
	}
	for (unsigned int i = 0; i < r.n; i++) {
		r.rules[i].action = (enum sl_guard_action)g->action;
		r.rules[i].mask = mask[0] ? mask : NULL;
	}
	set = sl_guard_compile(r.rules, r.n, NULL, &gerr);
	if (set == NULL) {
		/* The line of the list the rejected rule came from. */
		const yaml_node_t *at = gerr.rule < 0 ? node :
					(unsigned int)gerr.rule < n_inline ? v[2] :
					(unsigned int)gerr.rule < n_file ? v[3] :
									 v[4];

		rc = cfg_fail(c, at, path, "%s", gerr.text);
		goto out;
	}
	g->ref = guard_ref_new(set, &r, mask);
	if (g->ref == NULL) {
		sl_guard_free(set);
		rc = cfg_fail(c, node, path, "out of memory");
		goto out;
	}
	rc = 0;
out:
	rules_free(&r);
	return rc;
}

static int
parse_guards(struct sl_cfg_ctx *c, const yaml_node_t *node)
{
	char path[SL_CFG_PATH_MAX];
	unsigned int n, i, j;

	if (node == NULL)
		return 0;
	if (expect_list(c, node, "guards", 1, SL_MAX_GUARDS, &n))
		return -EINVAL;
	for (i = 0; i < n; i++) {
		yaml_node_t *item = list_item(c, node, i);
		struct sl_guard_cfg *g = &c->cfg->guards[i];

		path_index(path, "guards", i);
		/* Counted first: sl_config_free releases what compiled. */
		c->cfg->n_guards = (uint16_t)(i + 1);
		if (parse_guard(c, item, path, g))
			return -EINVAL;
		for (j = 0; j < i; j++)
			if (!strcmp(c->cfg->guards[j].name, g->name)) {
				char sub[SL_CFG_PATH_MAX];

				path_key(sub, path, "name");
				return cfg_fail(c, item, sub,
						"duplicate guard \"%s\"",
						g->name);
			}
	}
	return 0;
}

/* `liveness: {probe_ms, dead_ms}`: how engines are watched. */
static int
parse_liveness(struct sl_cfg_ctx *c, const yaml_node_t *node)
{
	static const char *const keys[] = {"probe_ms", "dead_ms", NULL};
	struct sl_config *cfg = c->cfg;
	yaml_node_t *v[2];

	if (node == NULL || node_is_null(node))
		return 0;
	if (map_collect(c, node, "liveness", keys, v) ||
	    opt_u32(c, v[0], "liveness", "probe_ms", 0, 60000,
		    &cfg->probe_ms) ||
	    opt_u32(c, v[1], "liveness", "dead_ms", 20, 3600000,
		    &cfg->dead_ms))
		return -EINVAL;
	/* probe_ms 0 turns liveness off (instances are never found dead).
	 * Otherwise one lost probe answer must not kill an instance. */
	if (cfg->probe_ms != 0 && cfg->probe_ms < 10)
		return cfg_fail(c, v[0], "liveness.probe_ms",
				"must be 0 (off) or 10..60000, got %u",
				cfg->probe_ms);
	if (cfg->probe_ms != 0 && cfg->dead_ms < 2 * cfg->probe_ms)
		return cfg_fail(c, v[1] != NULL ? v[1] : node, "liveness.dead_ms",
				"must be at least twice probe_ms (%u), got %u",
				cfg->probe_ms, cfg->dead_ms);
	return 0;
}

static int
parse_root(struct sl_cfg_ctx *c, const yaml_node_t *root)
{
	static const char *const keys[] = {"sluiced", "flows",	   "clients",
					   "tenants", "pipelines", "guards",
					   "liveness", NULL};
	yaml_node_t *v[7];

	if (root == NULL)
		return cfg_fail(c, NULL, "document", "empty document");
	if (map_collect(c, root, "", keys, v))
		return -EINVAL;
	if (v[0] == NULL)
		return missing(c, root, "", "sluiced");
	if (parse_sluiced(c, v[0]) || parse_flows(c, v[1]) ||
	    parse_clients(c, v[2]) || parse_tenants(c, v[3]) ||
	    parse_guards(c, v[5]) || parse_liveness(c, v[6]))
		return -EINVAL;
	if (v[4] == NULL)
		return missing(c, root, "", "pipelines");
	return parse_pipelines(c, v[4]);
}

static int
syntax_error(struct sl_cfg_ctx *c, const yaml_parser_t *parser)
{
	if (c->err == NULL || c->errlen == 0)
		return -EINVAL;
	snprintf(c->err, c->errlen, "%s:%lu: syntax: %s%s%s", c->file,
		 (unsigned long)parser->problem_mark.line + 1,
		 parser->problem ? parser->problem : "cannot parse",
		 parser->context ? ", " : "",
		 parser->context ? parser->context : "");
	return -EINVAL;
}

/* Loads the one document @parser yields and compiles it. */
static struct sl_config *
config_from_parser(yaml_parser_t *parser, const char *name,
		   const struct sl_confine *files, char *err, size_t errlen)
{
	struct sl_cfg_ctx c = {
	    .file = name,
	    .err = err,
	    .errlen = errlen,
	    .files = files,
	};
	yaml_document_t doc, extra;
	struct sl_config *cfg;
	int rc;

	if (!yaml_parser_load(parser, &doc)) {
		syntax_error(&c, parser);
		return NULL;
	}
	/* A second document would be silently ignored: refuse it. */
	if (!yaml_parser_load(parser, &extra)) {
		syntax_error(&c, parser);
		yaml_document_delete(&doc);
		return NULL;
	}
	if (yaml_document_get_root_node(&extra) != NULL) {
		cfg_fail(&c, yaml_document_get_root_node(&extra), "document",
			 "only one YAML document allowed");
		yaml_document_delete(&extra);
		yaml_document_delete(&doc);
		return NULL;
	}
	yaml_document_delete(&extra);

	cfg = calloc(1, sizeof(*cfg));
	if (cfg == NULL) {
		snprintf(err, errlen, "%s: out of memory", name);
		yaml_document_delete(&doc);
		return NULL;
	}
	cfg->listen.port = SL_WIRE_UDP_PORT;
	cfg->flow_table_size = SL_CONFIG_DEFAULT_FLOWS;
	cfg->flow_idle_ms = SL_CONFIG_DEFAULT_IDLE_MS;
	cfg->reorder_window = SL_CONFIG_DEFAULT_REORDER;
	cfg->buffer_max = SL_CONFIG_DEFAULT_BUFFER;
	cfg->probe_ms = SL_CONFIG_DEFAULT_PROBE_MS;
	cfg->dead_ms = SL_CONFIG_DEFAULT_DEAD_MS;
	c.doc = &doc;
	c.cfg = cfg;
	rc = parse_root(&c, yaml_document_get_root_node(&doc));
	yaml_document_delete(&doc);
	if (rc) {
		sl_config_free(cfg); /* split databases compiled so far */
		return NULL;
	}
	/* Every instance a runtime identity of its own; a snapshot that
	 * replaces another carries uids over with sl_config_assign_uids. */
	sl_config_assign_uids(cfg, NULL);
	return cfg;
}

struct sl_config *
sl_config_parse_in(const char *yaml, size_t len, const char *name,
		   const struct sl_confine *files, char *err, size_t errlen)
{
	yaml_parser_t parser;
	struct sl_config *cfg;

	if (!yaml_parser_initialize(&parser)) {
		snprintf(err, errlen, "%s: out of memory", name);
		return NULL;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)yaml, len);
	cfg = config_from_parser(&parser, name, files, err, errlen);
	yaml_parser_delete(&parser);
	return cfg;
}

struct sl_config *
sl_config_parse(const char *yaml, size_t len, const char *name, char *err,
		size_t errlen)
{
	return sl_config_parse_in(yaml, len, name, NULL, err, errlen);
}

struct sl_config *
sl_config_load_in(const char *path, const struct sl_confine *files, char *err,
		  size_t errlen)
{
	yaml_parser_t parser;
	struct sl_config *cfg;
	FILE *f;

	f = fopen(path, "rb");
	if (f == NULL) {
		snprintf(err, errlen, "%s: cannot open: %s", path,
			 strerror(errno));
		return NULL;
	}
	if (!yaml_parser_initialize(&parser)) {
		snprintf(err, errlen, "%s: out of memory", path);
		fclose(f);
		return NULL;
	}
	yaml_parser_set_input_file(&parser, f);
	cfg = config_from_parser(&parser, path, files, err, errlen);
	yaml_parser_delete(&parser);
	if (cfg == NULL && ferror(f))
		snprintf(err, errlen, "%s: read error", path);
	fclose(f);
	return cfg;
}

struct sl_config *
sl_config_load(const char *path, char *err, size_t errlen)
{
	char dir[PATH_MAX];
	struct sl_confine files = {.dir = dir};
	const char *slash = strrchr(path, '/');

	/* The file's own directory: where the operator keeps its lists. */
	if (slash == NULL)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == path)
		snprintf(dir, sizeof(dir), "/");
	else
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
	return sl_config_load_in(path, &files, err, errlen);
}

void
sl_config_free(struct sl_config *cfg)
{
	unsigned int i, j;

	if (cfg == NULL)
		return;
	/* Every pipeline slot, not n_pipelines: a config that failed
	 * half-way has databases in the pipeline being read. */
	for (i = 0; i < SL_MAX_PIPELINES; i++)
		for (j = 0; j < SL_MAX_EDGES; j++)
			hs_free_database(cfg->pipelines[i].edges[j].split_db);
	for (i = 0; i < cfg->n_guards; i++)
		sl_guard_ref_put(cfg->guards[i].ref);
	free(cfg);
}

const char *
sl_stage_name_of(const struct sl_pipeline_cfg *pl, uint16_t id)
{
	if (id == SL_STAGE_CLIENT)
		return "client";
	return id <= pl->n_stages ? pl->stages[id - 1].name : NULL;
}

const struct sl_pipeline_cfg *
sl_config_find_pipeline(const struct sl_config *cfg, uint32_t id)
{
	unsigned int i;

	for (i = 0; i < cfg->n_pipelines; i++)
		if (cfg->pipelines[i].id == id)
			return &cfg->pipelines[i];
	return NULL;
}

static const char *
balance_name(enum sl_balance b)
{
	return b == SL_BALANCE_LEAST_LOADED ? "least_loaded" : "round_robin";
}

/* A pattern as a YAML double-quoted scalar would spell it. */
static void
dump_pattern(FILE *out, const char *s)
{
	fputc('"', out);
	for (; *s != '\0'; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			fprintf(out, "\\%c", ch);
		else if (ch == '\n')
			fputs("\\n", out);
		else if (ch == '\t')
			fputs("\\t", out);
		else if (ch < 0x20 || ch == 0x7f)
			fprintf(out, "\\x%02x", ch);
		else
			fputc(ch, out);
	}
	fputc('"', out);
}

static void
dump_stage(const struct sl_stage_cfg *st, FILE *out)
{
	char ip[16];
	unsigned int k;

	fprintf(out, "  stage %u %s %s depth %u aggregation %u", st->id,
		st->name, kind_name(st->kind), st->depth_in, st->aggregation);
	if (st->kind != SL_STAGE_ENGINE) {
		if (st->kind == SL_STAGE_OP_TOPK)
			fprintf(out, " k %lu", (unsigned long)st->topk);
		fprintf(out, " max_groups %lu max_group_bytes %lu\n",
			(unsigned long)st->max_groups,
			(unsigned long)st->max_group_bytes);
		return;
	}
	fprintf(out, " balance %s", balance_name(st->balance));
	if (st->load_bound != 0.0)
		fprintf(out, " load_bound %g", st->load_bound);
	fprintf(out, " instances %u\n", st->n_instances);
	for (k = 0; k < st->n_instances; k++)
		fprintf(out, "    instance %s %s:%u\n", st->instances[k].name,
			sl_ipv4_format(st->instances[k].ep.ip, ip, sizeof(ip)),
			st->instances[k].ep.port);
}

static void
dump_edge(const struct sl_pipeline_cfg *pl, const struct sl_edge_cfg *e,
	  FILE *out)
{
	fprintf(out, "  edge %u %s -> %s", e->id, sl_stage_name_of(pl, e->from),
		sl_stage_name_of(pl, e->to));
	if (e->mode == SL_EDGE_BUFFER)
		fputs(" buffer", out);
	if (e->split != SL_SPLIT_NONE) {
		fprintf(out, " split %s", split_name(e->split));
		if (e->split == SL_SPLIT_REGEX) {
			fputc(' ', out);
			dump_pattern(out, e->pattern);
		}
		if (e->stream_children)
			fputs(" stream_children", out);
		fprintf(out, " depth %u->%u\n", e->depth_in, e->depth_out);
	} else {
		fprintf(out, " depth %u\n", e->depth_in);
	}
}

void
sl_config_dump(const struct sl_config *cfg, FILE *out)
{
	char ip[16];
	unsigned int i, j;

	fprintf(
	    out, "sluiced %s:%u flows %lu idle %lu ms reorder %lu buffer %lu\n",
	    sl_ipv4_format(cfg->listen.ip, ip, sizeof(ip)), cfg->listen.port,
	    (unsigned long)cfg->flow_table_size,
	    (unsigned long)cfg->flow_idle_ms,
	    (unsigned long)cfg->reorder_window, (unsigned long)cfg->buffer_max);
	for (i = 0; i < cfg->n_client_nets; i++)
		fprintf(
		    out, "client %s/%u\n",
		    sl_ipv4_format(cfg->client_nets[i].addr, ip, sizeof(ip)),
		    cfg->client_nets[i].prefix_len);
	if (cfg->n_tenants == 0)
		fprintf(out, "tenants any\n");
	for (i = 0; i < cfg->n_tenants; i++) {
		const struct sl_tenant_cfg *t = &cfg->tenants[i];

		fprintf(
		    out,
		    "tenant %u max_streams %lu fragments_per_s %lu burst %lu\n",
		    t->id, (unsigned long)t->max_streams,
		    (unsigned long)t->fragments_per_s, (unsigned long)t->burst);
	}
	for (i = 0; i < cfg->n_pipelines; i++) {
		const struct sl_pipeline_cfg *pl = &cfg->pipelines[i];

		fprintf(out,
			"pipeline %s id %lu stages %u edges %u single_output "
			"%s\n",
			pl->name, (unsigned long)pl->id, pl->n_stages,
			pl->n_edges, pl->single_output ? "yes" : "no");
		for (j = 0; j < pl->n_stages; j++)
			dump_stage(&pl->stages[j], out);
		for (j = 0; j < pl->n_edges; j++)
			dump_edge(pl, &pl->edges[j], out);
	}
}

struct sl_config *
sl_config_clone(const struct sl_config *cfg)
{
	struct sl_config *c = malloc(sizeof(*c));

	if (c == NULL)
		return NULL;
	memcpy(c, cfg, sizeof(*c));
	/* Guard sets are shared, not recompiled. */
	for (unsigned int i = 0; i < c->n_guards; i++)
		sl_guard_ref_get(c->guards[i].ref);
	for (unsigned int i = 0; i < SL_MAX_PIPELINES; i++)
		for (unsigned int j = 0; j < SL_MAX_EDGES; j++) {
			struct sl_edge_cfg *e = &c->pipelines[i].edges[j];
			hs_compile_error_t *ce = NULL;
			hs_database_t *db = NULL;

			if (e->split_db == NULL)
				continue;
			e->split_db = NULL;
			if (hs_compile(e->pattern, HS_FLAG_UTF8 | HS_FLAG_DOTALL,
				       HS_MODE_STREAM, NULL, &db,
				       &ce) != HS_SUCCESS) {
				hs_free_compile_error(ce);
				sl_config_free(c);
				errno = EINVAL;
				return NULL;
			}
			e->split_db = db;
		}
	return c;
}

static const struct sl_instance_cfg *
find_same_instance(const struct sl_config *prev, const char *pipeline,
		   const char *stage, const struct sl_endpoint *ep)
{
	if (prev == NULL)
		return NULL;
	for (unsigned int p = 0; p < prev->n_pipelines; p++) {
		const struct sl_pipeline_cfg *pl = &prev->pipelines[p];

		if (strcmp(pl->name, pipeline) != 0)
			continue;
		for (unsigned int s = 0; s < pl->n_stages; s++) {
			const struct sl_stage_cfg *st = &pl->stages[s];

			if (strcmp(st->name, stage) != 0)
				continue;
			for (unsigned int i = 0; i < st->n_instances; i++)
				if (st->instances[i].ep.ip == ep->ip &&
				    st->instances[i].ep.port == ep->port)
					return &st->instances[i];
		}
	}
	return NULL;
}

int
sl_config_assign_uids(struct sl_config *cfg, const struct sl_config *prev)
{
	uint32_t next = prev != NULL ? prev->next_uid : 0;

	for (unsigned int p = 0; p < cfg->n_pipelines; p++) {
		struct sl_pipeline_cfg *pl = &cfg->pipelines[p];

		for (unsigned int s = 0; s < pl->n_stages; s++) {
			struct sl_stage_cfg *st = &pl->stages[s];

			for (unsigned int i = 0; i < st->n_instances; i++) {
				struct sl_instance_cfg *in = &st->instances[i];
				const struct sl_instance_cfg *old =
					find_same_instance(prev, pl->name,
							   st->name, &in->ep);

				/* Draining is not carried over: the file
				 * says which instances take streams. */
				if (old != NULL) {
					in->uid = old->uid;
					continue;
				}
				/* Fresh uids only move forward, so a uid still
				 * named by streams of a removed instance is not
				 * handed to a new one before it wraps. */
				in->uid = (uint16_t)(next++ % SL_MAX_INSTANCE_UIDS);
			}
		}
	}
	cfg->next_uid = (uint16_t)(next % SL_MAX_INSTANCE_UIDS);
	return 0;
}

int
sl_config_instance_edit(struct sl_config *cfg, char op, const char *pipeline,
			const char *stage, const char *name,
			const struct sl_endpoint *ep, char *err, size_t errlen)
{
	struct sl_pipeline_cfg *pl = NULL;
	struct sl_stage_cfg *st = NULL;
	unsigned int i, live = 0;
	int found = -1;

	for (i = 0; i < cfg->n_pipelines && pl == NULL; i++)
		if (strcmp(cfg->pipelines[i].name, pipeline) == 0)
			pl = &cfg->pipelines[i];
	if (pl == NULL) {
		snprintf(err, errlen, "pipeline: no pipeline named \"%s\"",
			 pipeline);
		return -ENOENT;
	}
	for (i = 0; i < pl->n_stages && st == NULL; i++)
		if (strcmp(pl->stages[i].name, stage) == 0)
			st = &pl->stages[i];
	if (st == NULL) {
		snprintf(err, errlen, "stage: no stage named \"%s\" in %s",
			 stage, pipeline);
		return -ENOENT;
	}
	if (st->kind != SL_STAGE_ENGINE) {
		snprintf(err, errlen,
			 "stage: %s is an operator stage and has no instances",
			 stage);
		return -EINVAL;
	}
	for (i = 0; i < st->n_instances; i++) {
		if (name != NULL && strcmp(st->instances[i].name, name) == 0)
			found = (int)i;
		if (!st->instances[i].draining)
			live++;
	}
	if (op == 'a') {
		if (found >= 0) {
			snprintf(err, errlen,
				 "instance: %s already exists in %s", name,
				 stage);
			return -EEXIST;
		}
		for (i = 0; i < st->n_instances; i++)
			if (st->instances[i].ep.ip == ep->ip &&
			    st->instances[i].ep.port == ep->port) {
				snprintf(err, errlen,
					 "address: already used by %s",
					 st->instances[i].name);
				return -EEXIST;
			}
		if (ep->ip == cfg->listen.ip && ep->port == cfg->listen.port) {
			snprintf(err, errlen,
				 "address: is sluiced's own address");
			return -EINVAL;
		}
		if (st->n_instances == SL_MAX_INSTANCES) {
			snprintf(err, errlen,
				 "instance: stage %s has %u instances already",
				 stage, SL_MAX_INSTANCES);
			return -ENOSPC;
		}
		if (strlen(name) == 0 || strlen(name) >= SL_NAME_MAX) {
			snprintf(err, errlen, "name: must be 1..%u characters",
				 SL_NAME_MAX - 1);
			return -EINVAL;
		}
		struct sl_instance_cfg *in = &st->instances[st->n_instances++];

		memset(in, 0, sizeof(*in));
		snprintf(in->name, sizeof(in->name), "%s", name);
		in->ep = *ep;
		in->uid = cfg->next_uid;
		cfg->next_uid = (uint16_t)((cfg->next_uid + 1) %
					   SL_MAX_INSTANCE_UIDS);
		return 0;
	}
	if (found < 0) {
		snprintf(err, errlen, "instance: no instance named \"%s\" in %s",
			 name != NULL ? name : "", stage);
		return -ENOENT;
	}
	if (!st->instances[found].draining && live == 1) {
		snprintf(err, errlen,
			 "instance: %s is the last instance of %s taking new "
			 "streams", name, stage);
		return -EINVAL;
	}
	if (op == 'd') {
		st->instances[found].draining = true;
		return 0;
	}
	memmove(&st->instances[found], &st->instances[found + 1],
		sizeof(st->instances[0]) * (st->n_instances - found - 1));
	st->n_instances--;
	return 0;
}

static bool
same_stage(const struct sl_stage_cfg *a, const struct sl_stage_cfg *b)
{
	return strcmp(a->name, b->name) == 0 && a->kind == b->kind &&
	       a->aggregation == b->aggregation && a->balance == b->balance &&
	       a->load_bound == b->load_bound && a->topk == b->topk &&
	       a->max_groups == b->max_groups &&
	       a->max_group_bytes == b->max_group_bytes;
}

static bool
same_edge(const struct sl_edge_cfg *a, const struct sl_edge_cfg *b)
{
	return a->from == b->from && a->to == b->to && a->mode == b->mode &&
	       a->split == b->split &&
	       a->stream_children == b->stream_children &&
	       a->guard == b->guard && strcmp(a->pattern, b->pattern) == 0;
}

bool
sl_config_net_match(const struct sl_ipv4_net *nets, uint16_t n, uint32_t ip)
{
	for (uint16_t i = 0; i < n; i++)
		if ((ip & nets[i].mask) == nets[i].addr)
			return true;
	return false;
}

bool
sl_config_is_client(const struct sl_config *cfg, uint32_t ip)
{
	return sl_config_net_match(cfg->client_nets, cfg->n_client_nets, ip);
}

bool
sl_config_same_layout(const struct sl_config *a, const struct sl_config *b)
{
	if (a->n_pipelines != b->n_pipelines || a->buffer_max != b->buffer_max ||
	    a->n_guards != b->n_guards)
		return false;
	/* Rules may differ: a stream keeps the compiled set it started
	 * with (it holds a reference), new streams take the new one. */
	for (unsigned int g = 0; g < a->n_guards; g++)
		if (strcmp(a->guards[g].name, b->guards[g].name) != 0 ||
		    a->guards[g].action != b->guards[g].action ||
		    strcmp(a->guards[g].prefix, b->guards[g].prefix) != 0 ||
		    strcmp(a->guards[g].refusal, b->guards[g].refusal) != 0)
			return false;
	for (unsigned int p = 0; p < a->n_pipelines; p++) {
		const struct sl_pipeline_cfg *x = &a->pipelines[p];
		const struct sl_pipeline_cfg *y = &b->pipelines[p];

		if (x->id != y->id || strcmp(x->name, y->name) != 0 ||
		    x->n_stages != y->n_stages || x->n_edges != y->n_edges)
			return false;
		for (unsigned int s = 0; s < x->n_stages; s++)
			if (!same_stage(&x->stages[s], &y->stages[s]))
				return false;
		for (unsigned int e = 0; e < x->n_edges; e++)
			if (!same_edge(&x->edges[e], &y->edges[e]))
				return false;
	}
	return true;
}

int
sl_config_check_replace(const struct sl_config *cur,
			const struct sl_config *next, char *err, size_t errlen)
{
	if (cur->listen.ip != next->listen.ip ||
	    cur->listen.port != next->listen.port) {
		snprintf(err, errlen, "sluiced: the dataplane address is fixed "
				      "while sluiced runs");
		return -EINVAL;
	}
	if (cur->flow_table_size != next->flow_table_size ||
	    cur->reorder_window != next->reorder_window) {
		snprintf(err, errlen, "flows: size and reorder_window are fixed "
				      "while sluiced runs");
		return -EINVAL;
	}
	return 0;
}

void
sl_config_share_patterns(struct sl_config *next, struct sl_config *cur)
{
	for (unsigned int p = 0; p < next->n_pipelines && p < cur->n_pipelines;
	     p++)
		for (unsigned int e = 0; e < next->pipelines[p].n_edges &&
					 e < cur->pipelines[p].n_edges;
		     e++) {
			struct sl_edge_cfg *ne = &next->pipelines[p].edges[e];
			struct sl_edge_cfg *ce = &cur->pipelines[p].edges[e];
			void *db;

			if (ne->split_db == NULL || ce->split_db == NULL ||
			    strcmp(ce->pattern, ne->pattern) != 0)
				continue;
			db = ne->split_db;
			ne->split_db = ce->split_db;
			ce->split_db = db;
		}
}

/*
 * Is guard @gi on an edge to the client of a pipeline that says guard:
 * required? Then it must keep a rule: write why into @err, return true.
 */
static bool
guard_required_on(const struct sl_config *cfg, unsigned int gi, char *err,
		  size_t errlen, const char *guard)
{
	for (unsigned int p = 0; p < cfg->n_pipelines; p++) {
		const struct sl_pipeline_cfg *pl = &cfg->pipelines[p];

		for (unsigned int e = 0; pl->guard_required && e < pl->n_edges;
		     e++)
			if (pl->edges[e].to == SL_STAGE_CLIENT &&
			    pl->edges[e].guard == gi + 1) {
				snprintf(err, errlen,
					 "pattern: the last rule of guard %s, "
					 "which pipeline %s requires on %s -> "
					 "client (guard: required)",
					 guard, pl->name,
					 sl_stage_name_of(pl,
							  pl->edges[e].from));
				return true;
			}
	}
	return false;
}

int
sl_config_guard_edit(struct sl_config *cfg, const char *guard, bool remove,
		     bool regex, const char *pattern, char *err, size_t errlen)
{
	struct sl_guard_cfg *g = NULL;
	struct sl_guard_ref *old, *ref;
	struct guard_rules r = {0};
	struct sl_guard_error gerr;
	struct sl_guard_set *set;
	unsigned int i, found = UINT_MAX;
	int rc;

	for (i = 0; i < cfg->n_guards && g == NULL; i++)
		if (strcmp(cfg->guards[i].name, guard) == 0)
			g = &cfg->guards[i];
	if (g == NULL) {
		snprintf(err, errlen, "guard: no guard named \"%s\"", guard);
		return -ENOENT;
	}
	old = g->ref;
	for (i = 0; old != NULL && i < old->n_rules; i++)
		if (old->regex[i] == regex && strcmp(old->patterns[i], pattern) == 0)
			found = i;
	if (remove && found == UINT_MAX) {
		snprintf(err, errlen, "pattern: guard %s has no %s \"%s\"",
			 guard, regex ? "regex" : "literal", pattern);
		return -ENOENT;
	}
	if (!remove && found != UINT_MAX) {
		snprintf(err, errlen, "pattern: guard %s has that %s already",
			 guard, regex ? "regex" : "literal");
		return -EEXIST;
	}
	for (i = 0; old != NULL && i < old->n_rules; i++)
		if (i != found &&
		    rules_add(&r, old->regex[i] ? SL_GUARD_KIND_REGEX :
						  SL_GUARD_KIND_LITERAL,
			      old->patterns[i], NULL)) {
			rc = -ENOMEM;
			goto out;
		}
	if (!remove && rules_add(&r, regex ? SL_GUARD_KIND_REGEX :
					     SL_GUARD_KIND_LITERAL,
				 pattern, NULL)) {
		rc = -ENOMEM;
		goto out;
	}
	if (r.n == 0 && g->prefix[0] == '\0') {
		snprintf(err, errlen,
			 "pattern: the last rule of guard %s, which has no "
			 "prefix", guard);
		rc = -EINVAL;
		goto out;
	}
	if (r.n == 0 &&
	    guard_required_on(cfg, (unsigned int)(g - cfg->guards), err,
			      errlen, guard)) {
		rc = -EINVAL;
		goto out;
	}
	set = NULL;
	if (r.n != 0) {
		for (i = 0; i < r.n; i++) {
			r.rules[i].action = (enum sl_guard_action)g->action;
			r.rules[i].mask = old != NULL && old->mask[0] ?
						  old->mask : NULL;
		}
		set = sl_guard_compile(r.rules, r.n, NULL, &gerr);
		if (set == NULL) {
			snprintf(err, errlen, "pattern: %s", gerr.text);
			rc = -EINVAL;
			goto out;
		}
	}
	ref = NULL;
	if (set != NULL) {
		ref = guard_ref_new(set, &r, old != NULL ? old->mask : NULL);
		if (ref == NULL) {
			sl_guard_free(set);
			rc = -ENOMEM;
			goto out;
		}
	}
	g->ref = ref;
	g->n_rules = r.n;
	sl_guard_ref_put(old);
	rc = 0;
out:
	if (rc == -ENOMEM)
		snprintf(err, errlen, "pattern: out of memory");
	rules_free(&r);
	return rc;
}
