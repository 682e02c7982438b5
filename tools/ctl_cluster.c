/* SPDX-License-Identifier: MIT */
/*
 * ctl_cluster.c - sluicectl --cluster ENDPOINTS: the cluster's state in
 * etcd, read and changed there (control/sl_cluster.h has the layout).
 *
 *   apply FILE [--base REV] [--dry-run]
 *                 compile FILE for every node of its nodes: (the same
 *                 compiler as sluiced: an error names the field), then one
 *                 transaction: written only if the config is still at REV
 *                 (default: the revision read just before), so two
 *                 operators never overwrite each other
 *   get           the config, its first line "# ... revision N"
 *   members [--json]
 *                 the live nodes: address, the revision each runs, the
 *                 last revision each refused and why
 *
 * Exit status as sluicectl's: 0 done, 1 refused (a bad file, a conflict),
 * 2 bad usage, 3 etcd unreachable.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ctl_cluster.h"
#include "sl_cluster.h"
#include "sl_config.h"
#include "sl_confine.h"
#include "sl_etcd.h"

#define EXIT_REFUSED 1
#define EXIT_USAGE 2
#define EXIT_UNREACHABLE 3
#define CLUSTER_FILE_MAX (1024 * 1024)

struct cctl {
	struct sl_etcd *etcd;
	char cfg_key[160];
	char members_prefix[160];
};

static int
etcd_failed(const char *what, int rc, const char *err)
{
	fprintf(stderr, "sluicectl: %s: %s\n", what, err);
	return rc == -EIO || rc == -EPROTO ? EXIT_REFUSED : EXIT_UNREACHABLE;
}

/* @path's text (at most CLUSTER_FILE_MAX), NUL-terminated; NULL after
 * saying why. */
static char *
read_text(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;

	if (f == NULL) {
		fprintf(stderr, "sluicectl: %s: %s\n", path, strerror(errno));
		return NULL;
	}
	buf = malloc(CLUSTER_FILE_MAX + 2);
	*len = buf != NULL ? fread(buf, 1, CLUSTER_FILE_MAX + 1, f) : 0;
	fclose(f);
	if (buf == NULL || *len > CLUSTER_FILE_MAX) {
		fprintf(stderr, "sluicectl: %s: larger than %d bytes\n", path,
			CLUSTER_FILE_MAX);
		free(buf);
		return NULL;
	}
	buf[*len] = '\0';
	return buf;
}

/*
 * The file compiled as each of its nodes would: 0, or 1 after printing
 * the compiler's line. Files it names are read beneath its directory, as
 * a node with --config-dir there would.
 */
static int
check_file(const char *path, const char *text, size_t len)
{
	char err[1024], dir[4096];
	const char *slash = strrchr(path, '/');
	struct sl_confine files = {.dir = dir};
	struct sl_config *cfg;

	snprintf(dir, sizeof(dir), "%.*s", slash ? (int)(slash - path) : 1,
		 slash ? path : ".");
	if (dir[0] == '\0')
		snprintf(dir, sizeof(dir), "/");
	cfg = sl_config_parse_in(text, len, path, &files, err, sizeof(err));
	if (cfg == NULL) {
		fprintf(stderr, "sluicectl: %s\n", err);
		return 1;
	}
	if (cfg->n_nodes == 0) {
		fprintf(stderr,
			"sluicectl: %s: nodes: missing: a cluster's config "
			"names its sluiced nodes\n",
			path);
		sl_config_free(cfg);
		return 1;
	}
	for (uint8_t k = 0; k < cfg->n_nodes; k++) {
		char why[768];

		if (sl_config_localize(cfg, cfg->nodes[k].name, why,
				       sizeof(why)) != 0) {
			fprintf(stderr, "sluicectl: %s: %s\n", path, why);
			sl_config_free(cfg);
			return 1;
		}
	}
	sl_config_free(cfg);
	return 0;
}

/* P config's mod_revision now (0: none), or a negative errno. */
static int
config_revision(struct cctl *c, int64_t *rev, char *err, size_t errlen)
{
	struct sl_etcd_kvs kvs = {0};
	int rc = sl_etcd_get(c->etcd, c->cfg_key, false, &kvs, err, errlen);

	*rev = rc == 0 && kvs.n == 1 ? kvs.kv[0].mod_revision : 0;
	sl_etcd_kvs_free(&kvs);
	return rc;
}

static int
cmd_apply(struct cctl *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{"base", required_argument, NULL, 'b'},
		{"dry-run", no_argument, NULL, 'n'},
		{NULL, 0, NULL, 0},
	};
	int64_t base = -1, now, rev;
	bool dry = false;
	char err[1024], *text, *end;
	size_t len;
	int opt, rc;

	optind = 0;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (opt == 'b') {
			errno = 0;
			base = strtoll(optarg, &end, 10);
			if (errno != 0 || *end != '\0' || base < 0) {
				fprintf(stderr,
					"sluicectl: apply: --base: a revision "
					"(0: no config yet), not %s\n",
					optarg);
				return EXIT_USAGE;
			}
		} else if (opt == 'n') {
			dry = true;
		} else {
			fprintf(stderr, "sluicectl: apply: unknown option %s\n",
				argv[optind - 1]);
			return EXIT_USAGE;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, "usage: sluicectl --cluster ENDPOINTS apply "
				"FILE [--base REV] [--dry-run]\n");
		return EXIT_USAGE;
	}
	text = read_text(argv[optind], &len);
	if (text == NULL)
		return EXIT_REFUSED;
	if (check_file(argv[optind], text, len) != 0) {
		free(text);
		return EXIT_REFUSED;
	}
	rc = config_revision(c, &now, err, sizeof(err));
	if (rc != 0) {
		free(text);
		return etcd_failed("apply", rc, err);
	}
	if (base < 0)
		base = now;
	if (dry) {
		printf("dry run: %s compiles for every node; the cluster's "
		       "config is at revision %" PRId64 "\n",
		       argv[optind], now);
		free(text);
		return 0;
	}
	rc = sl_etcd_put_if(c->etcd, c->cfg_key, text, len, base, 0, &rev, err,
			    sizeof(err));
	free(text);
	if (rc < 0)
		return etcd_failed("apply", rc, err);
	if (rc == 1) {
		fprintf(stderr,
			"sluicectl: apply: conflict: based on revision %" PRId64
			", but %s is at revision %" PRId64
			" now (another change came first): read it again "
			"(get) and apply with --base %" PRId64 "\n",
			base, c->cfg_key, rev, rev);
		return EXIT_REFUSED;
	}
	printf("applied: %s revision %" PRId64 "\n", c->cfg_key, rev);
	return 0;
}

static int
cmd_get(struct cctl *c, int argc, char **argv)
{
	struct sl_etcd_kvs kvs = {0};
	char err[1024];
	int rc;

	(void)argv;
	if (argc != 1) {
		fprintf(stderr, "usage: sluicectl --cluster ENDPOINTS get\n");
		return EXIT_USAGE;
	}
	rc = sl_etcd_get(c->etcd, c->cfg_key, false, &kvs, err, sizeof(err));
	if (rc != 0) {
		sl_etcd_kvs_free(&kvs);
		return etcd_failed("get", rc, err);
	}
	if (kvs.n == 0) {
		fprintf(stderr, "sluicectl: get: no config at %s\n",
			c->cfg_key);
		sl_etcd_kvs_free(&kvs);
		return EXIT_REFUSED;
	}
	printf("# sluice cluster config %s, revision %" PRId64 "\n", c->cfg_key,
	       kvs.kv[0].mod_revision);
	fwrite(kvs.kv[0].value, 1, kvs.kv[0].value_len, stdout);
	sl_etcd_kvs_free(&kvs);
	return 0;
}

/* A member record's field, "" / 0 when absent or of another type. */
static const char *
rec_str(const json_t *rec, const char *key)
{
	const char *s = json_string_value(json_object_get(rec, key));

	return s != NULL ? s : "";
}

static json_int_t
rec_int(const json_t *rec, const char *key)
{
	return json_integer_value(json_object_get(rec, key));
}

static int
cmd_members(struct cctl *c, int argc, char **argv)
{
	struct sl_etcd_kvs kvs = {0};
	bool as_json = argc == 2 && strcmp(argv[1], "--json") == 0;
	json_t *out, *list;
	int64_t cfg_rev;
	char err[1024];
	int rc;

	if (argc != 1 && !as_json) {
		fprintf(stderr, "usage: sluicectl --cluster ENDPOINTS members "
				"[--json]\n");
		return EXIT_USAGE;
	}
	rc = config_revision(c, &cfg_rev, err, sizeof(err));
	if (rc == 0)
		rc = sl_etcd_get(c->etcd, c->members_prefix, true, &kvs, err,
				 sizeof(err));
	if (rc != 0) {
		sl_etcd_kvs_free(&kvs);
		return etcd_failed("members", rc, err);
	}
	out = json_object();
	list = json_array();
	json_object_set_new(out, "revision", json_integer(cfg_rev));
	json_object_set_new(out, "members", list);
	if (!as_json)
		printf("config %s revision %" PRId64 "\n%-12s %-21s %-8s "
		       "%-8s %s\n",
		       c->cfg_key, cfg_rev, "NODE", "ADDRESS", "RUNNING",
		       "PROTOCOL", "LAST REFUSED");
	for (size_t i = 0; i < kvs.n; i++) {
		json_error_t je;
		json_t *rec = json_loadb(kvs.kv[i].value, kvs.kv[i].value_len,
					 0, &je);

		if (!json_is_object(rec)) {
			fprintf(stderr,
				"sluicectl: members: %s: not a member "
				"record\n",
				kvs.kv[i].key);
			json_decref(rec);
			continue;
		}
		if (!as_json) {
			char refused[400] = "-";

			if (rec_int(rec, "rejected") != 0)
				snprintf(refused, sizeof(refused),
					 "%" JSON_INTEGER_FORMAT ": %s",
					 rec_int(rec, "rejected"),
					 rec_str(rec, "reason"));
			printf("%-12s %-21s %-8" JSON_INTEGER_FORMAT
			       " %-8" JSON_INTEGER_FORMAT " %s\n",
			       rec_str(rec, "node"), rec_str(rec, "address"),
			       rec_int(rec, "running"),
			       rec_int(rec, "protocol"), refused);
		}
		json_array_append_new(list, rec);
	}
	if (as_json) {
		char *s = json_dumps(out, JSON_COMPACT);

		if (s != NULL)
			printf("%s\n", s);
		free(s);
	}
	json_decref(out);
	sl_etcd_kvs_free(&kvs);
	return 0;
}

int
sl_ctl_cluster_main(const char *endpoints, const char *prefix, int argc,
		    char **argv)
{
	struct cctl c = {0};
	char err[1024];
	int rc;

	if (prefix == NULL)
		prefix = SL_CLUSTER_PREFIX_DEFAULT;
	if (argc < 1) {
		fprintf(stderr, "sluicectl --cluster ENDPOINTS: apply FILE, "
				"get or members\n");
		return EXIT_USAGE;
	}
	snprintf(c.cfg_key, sizeof(c.cfg_key), "%sconfig", prefix);
	snprintf(c.members_prefix, sizeof(c.members_prefix), "%smembers/",
		 prefix);
	c.etcd = sl_etcd_open(endpoints, 3000, err, sizeof(err));
	if (c.etcd == NULL) {
		fprintf(stderr, "sluicectl: --cluster: %s\n", err);
		return EXIT_USAGE;
	}
	if (strcmp(argv[0], "apply") == 0)
		rc = cmd_apply(&c, argc, argv);
	else if (strcmp(argv[0], "get") == 0)
		rc = cmd_get(&c, argc, argv);
	else if (strcmp(argv[0], "members") == 0)
		rc = cmd_members(&c, argc, argv);
	else {
		fprintf(stderr,
			"sluicectl --cluster: %s: not a cluster command "
			"(apply FILE, get, members); the others talk to one "
			"sluiced (--socket)\n",
			argv[0]);
		rc = EXIT_USAGE;
	}
	sl_etcd_close(c.etcd);
	return rc;
}
