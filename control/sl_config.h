/* SPDX-License-Identifier: MIT */
/*
 * sl_config.h - the pipeline file compiler: a YAML file parsed, validated
 * and compiled into one snapshot (sl_snapshot.h, the layout the dataplane
 * reads), and the edits that compile rules again (guards).
 */
#ifndef SL_CONFIG_H
#define SL_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "sl_snapshot.h"

/* Defaults applied when the file leaves a field out. */
#define SL_CONFIG_DEFAULT_FLOWS 65536
#define SL_CONFIG_DEFAULT_IDLE_MS 5000
#define SL_CONFIG_DEFAULT_REORDER 16
#define SL_CONFIG_DEFAULT_BUFFER 1024
#define SL_CONFIG_DEFAULT_GROUPS 4096
#define SL_CONFIG_DEFAULT_GROUP_BYTES 65536
#define SL_CONFIG_DEFAULT_PROBE_MS 100
#define SL_CONFIG_DEFAULT_DEAD_MS 1000

/**
 * sl_config_load - parse, validate and compile a pipeline file.
 * @path: the YAML file.
 * @err: on failure, receives one line "FILE:LINE: FIELD: what is wrong"
 *       (for example "demo.yaml:12: pipelines[0].stages[1].aggregation:
 *       must be 0..6, got 9").
 * @errlen: size of @err.
 *
 * Return: a new config (free with sl_config_free), or NULL with @err set.
 */
struct sl_config *sl_config_load(const char *path, char *err, size_t errlen);

/**
 * sl_config_parse - as sl_config_load, from a string; @name is used as
 * the file name in error messages. Files the config names
 * (`literals_file:`) are confined to the working directory.
 */
struct sl_config *sl_config_parse(const char *yaml, size_t len,
				  const char *name, char *err, size_t errlen);

struct sl_confine;

/**
 * sl_config_parse_in, sl_config_load_in - as sl_config_parse and
 * sl_config_load, reading every file the config names through @files
 * (control/sl_confine.h: beneath one directory, no links, regular files of
 * bounded size; NULL: the working directory). A file refused is an error
 * of its field, "FILE:LINE: guards[0].literals_file: \"x\": why".
 * sl_config_load confines to the directory the file is in.
 */
struct sl_config *sl_config_parse_in(const char *yaml, size_t len,
				     const char *name,
				     const struct sl_confine *files, char *err,
				     size_t errlen);
struct sl_config *sl_config_load_in(const char *path,
				    const struct sl_confine *files, char *err,
				    size_t errlen);

/**
 * sl_config_guard_edit - add (@remove false) or remove the rule @pattern
 * (a literal, or a regex with @regex) of guard @guard in snapshot @cfg:
 * the guard's rules are compiled again into a new set. On failure writes
 * "FIELD: message" to @err and returns -ENOENT (no such guard or rule),
 * -EEXIST (the rule exists), -EINVAL (it does not compile, or removing
 * it would leave a guard with neither rules nor prefix, or without rules
 * on an edge to the client of a pipeline that says guard: required).
 */
int sl_config_guard_edit(struct sl_config *cfg, const char *guard, bool remove,
			 bool regex, const char *pattern, char *err,
			 size_t errlen);

/**
 * sl_config_localize - make @cfg (a cluster's document, with `nodes:`)
 * the snapshot of node @node: sluiced's own address becomes that node's,
 * and every instance of another node is marked remote (reached through
 * that node's sluiced: dataplane/sl_relay.h). Every instance must name
 * its node. On
 * failure writes "FIELD: message" to @err and returns -ENOENT (no such
 * node) or -EINVAL.
 */
int sl_config_localize(struct sl_config *cfg, const char *node, char *err,
		       size_t errlen);

/**
 * sl_config_parse_node - sl_config_parse_in, then sl_config_localize for
 * @node (NULL: not a cluster's node, as sl_config_parse_in). A refusal of
 * the localizing reads "NAME:0: FIELD: message", as the compiler's do.
 */
struct sl_config *sl_config_parse_node(const char *yaml, size_t len,
				       const char *name,
				       const struct sl_confine *files,
				       const char *node, char *err,
				       size_t errlen);

#endif /* SL_CONFIG_H */
