/* SPDX-License-Identifier: MIT */
/*
 * sl_jsonl.c - JSON Lines records through jansson: the question files of
 * sluicegen and the replay files of the engine emulator.
 *
 * Jansson does the JSON (escapes, surrogate pairs, UTF-8 validation,
 * nesting); this file only picks a record's fields, checks their types
 * and lengths, and names the file and line of whatever it refuses.
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "sluice.h"

void
sl_jsonl_clear(struct sl_jsonl_field *f, unsigned int n)
{
	unsigned int i;

	for (i = 0; i < n; i++) {
		free(f[i].val);
		f[i].val = NULL;
		f[i].len = 0;
	}
}

static bool
sl_jsonl_blank(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n')
			return false;
	return true;
}

/* Copy @v into @f; -1 with why when it is not of @f's kind. */
static int
sl_jsonl_take(struct sl_jsonl_field *f, const json_t *v, char *why,
	      size_t why_len)
{
	char num[32];
	const char *s;
	size_t len;

	if (json_is_string(v)) {
		s = json_string_value(v);
		len = json_string_length(v);
	} else if (f->kind == SL_JSONL_ID && json_is_integer(v)) {
		snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT,
			 json_integer_value(v));
		s = num;
		len = strlen(num);
	} else {
		snprintf(why, why_len, "\"%s\" is not a string%s", f->name,
			 f->kind == SL_JSONL_ID ? " or an integer" : "");
		return -1;
	}
	if (f->max_len && len > f->max_len) {
		snprintf(why, why_len, "\"%s\" is longer than %zu bytes",
			 f->name, f->max_len);
		return -1;
	}
	f->val = malloc(len + 1);
	if (f->val == NULL) {
		snprintf(why, why_len, "out of memory");
		return -1;
	}
	memcpy(f->val, s, len);
	f->val[len] = '\0';
	f->len = len;
	return 0;
}

int
sl_jsonl_record(const char *line, size_t len, struct sl_jsonl_field *f,
		unsigned int n, char *why, size_t why_len)
{
	json_error_t jerr;
	json_t *root;
	unsigned int i;
	int rc = 0;

	if (sl_jsonl_blank(line, len))
		return 1;
	root = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL) {
		snprintf(why, why_len, "not JSON: %s (column %d)", jerr.text,
			 jerr.column);
		return -1;
	}
	if (!json_is_object(root)) {
		snprintf(why, why_len, "not a JSON object");
		rc = -1;
	}
	for (i = 0; rc == 0 && i < n; i++) {
		const json_t *v = json_object_get(root, f[i].name);

		if (v != NULL)
			rc = sl_jsonl_take(&f[i], v, why, why_len);
		else if (f[i].required) {
			snprintf(why, why_len, "no \"%s\"", f[i].name);
			rc = -1;
		}
	}
	json_decref(root);
	if (rc)
		sl_jsonl_clear(f, n);
	return rc;
}

long
sl_jsonl_load(const char *path, struct sl_jsonl_field *f, unsigned int n,
	      sl_jsonl_fn fn, void *arg, char *err, size_t err_len)
{
	FILE *fp = fopen(path, "r");
	char *line = NULL, why[256];
	size_t cap = 0, lineno = 0;
	long records = 0;
	ssize_t got;
	int rc = 0;

	if (fp == NULL) {
		snprintf(err, err_len, "%s: %s", path, strerror(errno));
		return -1;
	}
	sl_jsonl_clear(f, n);
	while (rc == 0 && (got = getline(&line, &cap, fp)) >= 0) {
		lineno++;
		rc = sl_jsonl_record(line, (size_t)got, f, n, why, sizeof(why));
		if (rc == 1) {
			rc = 0;
			continue;
		}
		if (rc == 0) {
			rc = fn(arg, f, n, why, sizeof(why));
			sl_jsonl_clear(f, n);
			records++;
		}
		if (rc)
			snprintf(err, err_len, "%s:%zu: %s", path, lineno, why);
	}
	if (rc == 0 && ferror(fp)) {
		snprintf(err, err_len, "%s: %s", path, strerror(errno));
		rc = -1;
	}
	free(line);
	fclose(fp);
	return rc ? -1 : records;
}
