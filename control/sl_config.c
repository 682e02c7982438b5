/* SPDX-License-Identifier: MIT */
/*
 * sl_config.c - pipeline file (YAML) to struct sl_config.
 *
 * Uses libyaml's document API rather than its event stream: every node
 * keeps its start mark, so each error can name the line it is about, and
 * a missing key can be reported at the line of the mapping that lacks it.
 * The walk is schema-driven and bounded by the SL_MAX_* limits, so anchors
 * and aliases (even cyclic ones) cannot make it loop or blow up.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "sl_config.h"

/* Longest piece of a user's value quoted back in an error message. */
#define SL_CFG_QUOTE_MAX 48
#define SL_CFG_PATH_MAX 128

struct sl_cfg_ctx {
	const char *file;
	char *err;
	size_t errlen;
	yaml_document_t *doc;
	struct sl_config *cfg;
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
	buf[i] = '\0';
	if (s[i] != '\0' && i >= 3)
		memcpy(buf + i - 3, "...", 3);
	return buf;
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
		path_key(sub, path, quote(k, q, sizeof(q)));
		if (keys[i] == NULL)
			return cfg_fail(c, k, sub, "unknown key");
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
	static const char *const keys[] = {"size", "idle_timeout_ms",
					   "reorder_window", NULL};
	yaml_node_t *v[3];

	if (node == NULL || node_is_null(node))
		return 0;
	if (map_collect(c, node, "flows", keys, v) ||
	    opt_u32(c, v[0], "flows", "size", 64, 4194304,
		    &c->cfg->flow_table_size) ||
	    opt_u32(c, v[1], "flows", "idle_timeout_ms", 10, 3600000,
		    &c->cfg->flow_idle_ms) ||
	    opt_u32(c, v[2], "flows", "reorder_window", 1,
		    SL_CONFIG_REORDER_MAX, &c->cfg->reorder_window))
		return -EINVAL;
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

static int
parse_clients(struct sl_cfg_ctx *c, const yaml_node_t *node)
{
	char path[SL_CFG_PATH_MAX], q[SL_CFG_QUOTE_MAX + 1];
	unsigned int n, i;

	if (node == NULL)
		return 0;
	if (expect_list(c, node, "clients", 0, SL_MAX_CLIENT_NETS, &n))
		return -EINVAL;
	for (i = 0; i < n; i++) {
		yaml_node_t *item = list_item(c, node, i);

		path_index(path, "clients", i);
		if (expect_scalar(c, item, path))
			return -EINVAL;
		if (parse_prefix((const char *)item->data.scalar.value,
				 &c->cfg->client_nets[i]))
			return cfg_fail(c, item, path,
					"must be an IPv4 prefix A.B.C.D/0..32 "
					"with no host bits set, got \"%s\"",
					quote(item, q, sizeof(q)));
	}
	c->cfg->n_client_nets = (uint16_t)n;
	return 0;
}

static int
parse_tenant(struct sl_cfg_ctx *c, const yaml_node_t *node, const char *path,
	     struct sl_tenant_cfg *t)
{
	static const char *const keys[] = {"id", "max_streams",
					   "fragments_per_s", "burst", NULL};
	yaml_node_t *v[4];
	uint32_t id;

	if (map_collect(c, node, path, keys, v))
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

static int
parse_stage(struct sl_cfg_ctx *c, const yaml_node_t *node, const char *path,
	    struct sl_stage_cfg *st)
{
	static const char *const keys[] = {"name", "aggregation", "balance",
					   "instances", NULL};
	char sub[SL_CFG_PATH_MAX], q[SL_CFG_QUOTE_MAX + 1];
	yaml_node_t *v[4];
	uint32_t agg = 0;

	if (map_collect(c, node, path, keys, v))
		return -EINVAL;
	if (v[0] == NULL)
		return missing(c, node, path, "name");
	path_key(sub, path, "name");
	if (get_name(c, v[0], sub, NULL, st->name))
		return -EINVAL;
	if (opt_u32(c, v[1], path, "aggregation", 0, SL_ANCESTRY_MAX, &agg))
		return -EINVAL;
	st->aggregation = (uint8_t)agg;
	st->balance = SL_BALANCE_ROUND_ROBIN;
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
	if (v[3] == NULL)
		return missing(c, node, path, "instances");
	return parse_instances(c, v[3], path, st);
}

static int
parse_stages(struct sl_cfg_ctx *c, const yaml_node_t *node, const char *parent,
	     struct sl_pipeline_cfg *pl)
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
		if (parse_stage(c, item, path, st))
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

static int
parse_pipeline(struct sl_cfg_ctx *c, const yaml_node_t *node, const char *path,
	       struct sl_pipeline_cfg *pl)
{
	static const char *const keys[] = {"name", "id", "stages", NULL};
	char sub[SL_CFG_PATH_MAX];
	yaml_node_t *v[3];

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
	if (v[2] == NULL)
		return missing(c, node, path, "stages");
	return parse_stages(c, v[2], path, pl);
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

static int
parse_root(struct sl_cfg_ctx *c, const yaml_node_t *root)
{
	static const char *const keys[] = {"sluiced", "flows",	   "clients",
					   "tenants", "pipelines", NULL};
	yaml_node_t *v[5];

	if (root == NULL)
		return cfg_fail(c, NULL, "document", "empty document");
	if (map_collect(c, root, "", keys, v))
		return -EINVAL;
	if (v[0] == NULL)
		return missing(c, root, "", "sluiced");
	if (parse_sluiced(c, v[0]) || parse_flows(c, v[1]) ||
	    parse_clients(c, v[2]) || parse_tenants(c, v[3]))
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
config_from_parser(yaml_parser_t *parser, const char *name, char *err,
		   size_t errlen)
{
	struct sl_cfg_ctx c = {
	    .file = name,
	    .err = err,
	    .errlen = errlen,
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
	c.doc = &doc;
	c.cfg = cfg;
	rc = parse_root(&c, yaml_document_get_root_node(&doc));
	yaml_document_delete(&doc);
	if (rc) {
		free(cfg);
		return NULL;
	}
	return cfg;
}

struct sl_config *
sl_config_parse(const char *yaml, size_t len, const char *name, char *err,
		size_t errlen)
{
	yaml_parser_t parser;
	struct sl_config *cfg;

	if (!yaml_parser_initialize(&parser)) {
		snprintf(err, errlen, "%s: out of memory", name);
		return NULL;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)yaml, len);
	cfg = config_from_parser(&parser, name, err, errlen);
	yaml_parser_delete(&parser);
	return cfg;
}

struct sl_config *
sl_config_load(const char *path, char *err, size_t errlen)
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
	cfg = config_from_parser(&parser, path, err, errlen);
	yaml_parser_delete(&parser);
	if (cfg == NULL && ferror(f))
		snprintf(err, errlen, "%s: read error", path);
	fclose(f);
	return cfg;
}

void
sl_config_free(struct sl_config *cfg)
{
	free(cfg);
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

void
sl_config_dump(const struct sl_config *cfg, FILE *out)
{
	char ip[16];
	unsigned int i, j, k;

	fprintf(out, "sluiced %s:%u flows %lu idle %lu ms reorder %lu\n",
		sl_ipv4_format(cfg->listen.ip, ip, sizeof(ip)),
		cfg->listen.port, (unsigned long)cfg->flow_table_size,
		(unsigned long)cfg->flow_idle_ms,
		(unsigned long)cfg->reorder_window);
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

		fprintf(out, "pipeline %s id %lu stages %u\n", pl->name,
			(unsigned long)pl->id, pl->n_stages);
		for (j = 0; j < pl->n_stages; j++) {
			const struct sl_stage_cfg *st = &pl->stages[j];

			fprintf(out,
				"  stage %u %s aggregation %u balance %s "
				"instances %u\n",
				st->id, st->name, st->aggregation,
				balance_name(st->balance), st->n_instances);
			for (k = 0; k < st->n_instances; k++)
				fprintf(out, "    instance %s %s:%u\n",
					st->instances[k].name,
					sl_ipv4_format(st->instances[k].ep.ip,
						       ip, sizeof(ip)),
					st->instances[k].ep.port);
		}
	}
}
