/* SPDX-License-Identifier: MIT */
/*
 * fuzz_config.c - libFuzzer harness for the pipeline compiler
 * (control/sl_config.c): a pipeline file as the control API's
 * ApplyPipeline or --config hands it over, through sl_config_parse_in.
 *
 * Input: the YAML text, optionally followed by a NUL byte and the
 * contents of the files it names. File access is stubbed through the
 * compiler's one read hook (struct sl_confine.read, sl_confine.h): a
 * `literals_file:` whose name starts with "f" reads the bytes after the
 * NUL, "missing" and every other name fail with ENOENT, "big" with
 * EFBIG, so no input reaches the file system.
 *
 * Checked on every input: the compiler returns a config or an error,
 * never both or neither; an error is one line "fuzz.yaml:LINE: FIELD:
 * message" (LINE from 1, FIELD non-empty and without spaces, a message)
 * that fits the buffer; an accepted config is consistent with itself
 * (counts within their bounds, edges' ends within the pipeline, depths
 * 1..6, stage ids their positions), its clone compares equal in layout,
 * passes sl_config_check_replace against the original, dumps, takes
 * instance and guard edits that leave it valid, and every config and
 * clone is freed (LeakSanitizer catches the rest).
 *
 * Build and run: tests/fuzz/README.md.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sl_confine.h"
#include "sl_config.h"

#define FUZZ_ERR_MAX 1024

static const uint8_t *file_data;
static size_t file_len;

static int
stub_read(const struct sl_confine *c, const char *name, char **data,
	  size_t *len, char *why, size_t whylen)
{
	(void)c;
	if (strcmp(name, "big") == 0) {
		snprintf(why, whylen, "larger than %u bytes",
			 SL_CONFINE_MAX_BYTES);
		return -EFBIG;
	}
	if (name[0] != 'f') {
		snprintf(why, whylen, "%s", strerror(ENOENT));
		return -ENOENT;
	}
	/* As sl_confine_read: NUL-terminated, no NUL inside. */
	if (memchr(file_data, 0, file_len) != NULL) {
		snprintf(why, whylen, "holds a NUL byte");
		return -EINVAL;
	}
	*data = malloc(file_len + 1);
	if (*data == NULL)
		abort();
	memcpy(*data, file_data, file_len);
	(*data)[file_len] = '\0';
	*len = file_len;
	return 0;
}

static const struct sl_confine stub = {.read = stub_read};

static void
bad_error(const char *err, const char *why)
{
	fprintf(stderr, "fuzz_config: error %s: \"%s\"\n", why, err);
	abort();
}

/* "fuzz.yaml:LINE: FIELD: message", one line. */
static void
check_error(const char *err)
{
	const char *p = err, *field;
	size_t len = strlen(err);

	if (len == 0 || len >= FUZZ_ERR_MAX - 1)
		bad_error(err, "empty or cut short");
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)err[i] < 0x20 || err[i] == 0x7f)
			bad_error(err, "not one line of text");
	if (!sl_utf8_valid((const uint8_t *)err, len))
		bad_error(err, "not UTF-8");
	if (strncmp(p, "fuzz.yaml:", 10) != 0)
		bad_error(err, "does not start with the file name");
	p += 10;
	if (*p < '1' || *p > '9')
		bad_error(err, "has no line number");
	while (*p >= '0' && *p <= '9')
		p++;
	if (p[0] != ':' || p[1] != ' ')
		bad_error(err, "has no line number");
	field = p + 2;
	p = strstr(field, ": ");
	if (p == NULL || p == field || p[2] == '\0')
		bad_error(err, "has no field or no message");
	if (memchr(field, ' ', (size_t)(p - field)) != NULL)
		bad_error(err, "has a field with a space");
}

/* What every accepted config promises its readers (sl_config.h). */
static void
check_config(const struct sl_config *cfg)
{
	if (cfg->n_pipelines < 1 || cfg->n_pipelines > SL_MAX_PIPELINES ||
	    cfg->n_tenants > SL_MAX_TENANTS || cfg->n_guards > SL_MAX_GUARDS ||
	    cfg->n_client_nets > SL_MAX_CLIENT_NETS ||
	    cfg->reorder_window < 1 ||
	    cfg->reorder_window > SL_CONFIG_REORDER_MAX ||
	    cfg->flow_table_size < 64 || cfg->buffer_max < 1)
		abort();
	for (uint16_t g = 0; g < cfg->n_guards; g++) {
		const struct sl_guard_cfg *gc = &cfg->guards[g];

		if ((gc->ref == NULL) != (gc->n_rules == 0) ||
		    memchr(gc->name, 0, sizeof(gc->name)) == NULL ||
		    memchr(gc->prefix, 0, sizeof(gc->prefix)) == NULL ||
		    memchr(gc->refusal, 0, sizeof(gc->refusal)) == NULL)
			abort();
		if (gc->ref != NULL && gc->ref->n_rules != gc->n_rules)
			abort();
	}
	for (uint16_t p = 0; p < cfg->n_pipelines; p++) {
		const struct sl_pipeline_cfg *pl = &cfg->pipelines[p];
		unsigned int to_client = 0;

		if (pl->n_stages < 1 || pl->n_stages > SL_MAX_STAGES ||
		    pl->n_edges < 2 || pl->n_edges > SL_MAX_EDGES ||
		    pl->n_client_edges < 1 ||
		    pl->n_client_edges > SL_MAX_OUT_EDGES || pl->id == 0)
			abort();
		for (uint16_t s = 0; s < pl->n_stages; s++) {
			const struct sl_stage_cfg *st = &pl->stages[s];

			if (st->id != s + 1 ||
			    st->n_instances > SL_MAX_INSTANCES ||
			    st->n_out_edges > SL_MAX_OUT_EDGES ||
			    st->n_out_edges < 1 || st->n_in_edges < 1 ||
			    st->depth_in < 1 ||
			    st->depth_in > SL_ANCESTRY_MAX ||
			    st->aggregation > SL_ANCESTRY_MAX ||
			    (st->kind == SL_STAGE_ENGINE) !=
				    (st->n_instances > 0))
				abort();
			for (uint8_t k = 0; k < st->n_out_edges; k++)
				if (st->out_edges[k] >= pl->n_edges ||
				    pl->edges[st->out_edges[k]].from != st->id)
					abort();
			for (uint16_t i = 0; i < st->n_instances; i++)
				if (st->instances[i].uid >=
					    SL_MAX_INSTANCE_UIDS ||
				    st->instances[i].ep.port == 0)
					abort();
		}
		for (uint16_t e = 0; e < pl->n_edges; e++) {
			const struct sl_edge_cfg *ec = &pl->edges[e];

			if (ec->id != e || ec->from > pl->n_stages ||
			    ec->to > pl->n_stages || ec->from == ec->to ||
			    ec->depth_in < 1 ||
			    ec->depth_out > SL_ANCESTRY_MAX ||
			    ec->depth_out != ec->depth_in + (ec->split !=
							     SL_SPLIT_NONE) ||
			    (ec->split != SL_SPLIT_NONE) !=
				    (ec->split_db != NULL) ||
			    ec->guard > cfg->n_guards ||
			    memchr(ec->pattern, 0, sizeof(ec->pattern)) == NULL)
				abort();
			if (ec->to != SL_STAGE_CLIENT &&
			    pl->stages[ec->to - 1].depth_in != ec->depth_out)
				abort();
			if (ec->from == SL_STAGE_CLIENT && ec->depth_in != 1)
				abort();
			to_client += ec->to == SL_STAGE_CLIENT;
		}
		if (to_client == 0 || (pl->single_output && to_client != 1))
			abort();
		for (uint8_t k = 0; k < pl->n_client_edges; k++)
			if (pl->client_edges[k] >= pl->n_edges ||
			    pl->edges[pl->client_edges[k]].from !=
				    SL_STAGE_CLIENT)
				abort();
	}
}

/* Edits a running sluiced may make; each must leave a valid config. */
static void
edit(struct sl_config *cfg)
{
	const struct sl_pipeline_cfg *pl = &cfg->pipelines[0];
	struct sl_endpoint ep = {.ip = 0x0a630001, .port = 7999};
	char err[FUZZ_ERR_MAX];

	for (uint16_t s = 0; s < pl->n_stages; s++) {
		const struct sl_stage_cfg *st = &pl->stages[s];
		char stage[SL_NAME_MAX];

		if (st->kind != SL_STAGE_ENGINE)
			continue;
		snprintf(stage, sizeof(stage), "%s", st->name);
		if (sl_config_instance_edit(cfg, 'a', pl->name, stage,
					    "fuzz-added", &ep, err,
					    sizeof(err)) == 0) {
			if (sl_config_instance_edit(cfg, 'd', pl->name, stage,
						    "fuzz-added", NULL, err,
						    sizeof(err)) != 0 &&
			    sl_config_instance_edit(cfg, 'r', pl->name, stage,
						    "fuzz-added", NULL, err,
						    sizeof(err)) != 0)
				abort();
		}
		break;
	}
	for (uint16_t g = 0; g < cfg->n_guards; g++) {
		char name[SL_NAME_MAX];

		snprintf(name, sizeof(name), "%s", cfg->guards[g].name);
		if (sl_config_guard_edit(cfg, name, false, false, "fuzz rule",
					 err, sizeof(err)) == 0 &&
		    sl_config_guard_edit(cfg, name, true, false, "fuzz rule",
					 err, sizeof(err)) != 0)
			abort();
	}
	check_config(cfg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nul = memchr(data, 0, size);
	size_t yaml_len = nul ? (size_t)(nul - data) : size;
	char err[FUZZ_ERR_MAX];
	struct sl_config *cfg, *clone;
	FILE *null;

	file_data = nul ? nul + 1 : (const uint8_t *)"";
	file_len = nul ? size - yaml_len - 1 : 0;
	memset(err, 0, sizeof(err));
	cfg = sl_config_parse_in((const char *)data, yaml_len, "fuzz.yaml",
				 &stub, err, sizeof(err));
	if (cfg == NULL) {
		check_error(err);
		return 0;
	}
	if (err[0] != '\0')
		abort();
	check_config(cfg);
	null = fopen("/dev/null", "w");
	if (null == NULL)
		abort();
	sl_config_dump(cfg, null);
	fclose(null);
	clone = sl_config_clone(cfg);
	if (clone == NULL)
		abort();
	check_config(clone);
	if (!sl_config_same_layout(cfg, clone) ||
	    sl_config_check_replace(cfg, clone, err, sizeof(err)) != 0)
		abort();
	sl_config_assign_uids(clone, cfg);
	edit(clone);
	sl_config_free(clone);
	sl_config_free(cfg);
	return 0;
}
