/* SPDX-License-Identifier: MIT */
/*
 * sl_opt.c - numbers and options from the command line (sl_opt.h).
 */
#include <errno.h>
#include <float.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "sl_opt.h"

bool
sl_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	unsigned long long v;
	char *end;
	int base = 10;

	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
	}
	if (!((*s >= '0' && *s <= '9') ||
	      (base == 16 &&
	       ((*s >= 'a' && *s <= 'f') || (*s >= 'A' && *s <= 'F')))))
		return false;
	errno = 0;
	v = strtoull(s, &end, base);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return false;
	*out = v;
	return true;
}

bool
sl_parse_double(const char *s, double min, double max, double *out)
{
	char *end;
	double v;

	if (!((*s >= '0' && *s <= '9') || *s == '.' || *s == '-' || *s == '+'))
		return false;
	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' || !isfinite(v) || v < min ||
	    v > max)
		return false;
	*out = v;
	return true;
}

bool
sl_opt_u64(const char *prog, const char *name, const char *arg, uint64_t min,
	   uint64_t max, uint64_t *out)
{
	if (sl_parse_u64(arg, min, max, out))
		return true;
	fprintf(stderr,
		"%s: --%s: must be %" PRIu64 "..%" PRIu64 ", got \"%s\"\n",
		prog, name, min, max, arg);
	return false;
}

bool
sl_opt_uint(const char *prog, const char *name, const char *arg,
	    unsigned int min, unsigned int max, unsigned int *out)
{
	uint64_t v;

	if (!sl_opt_u64(prog, name, arg, min, max, &v))
		return false;
	*out = (unsigned int)v;
	return true;
}

bool
sl_opt_double(const char *prog, const char *name, const char *arg, double min,
	      double max, double *out)
{
	if (sl_parse_double(arg, min, max, out))
		return true;
	if (max == DBL_MAX)
		fprintf(stderr,
			"%s: --%s: must be a number >= %g, got \"%s\"\n", prog,
			name, min, arg);
	else
		fprintf(stderr,
			"%s: --%s: must be a number %g..%g, got \"%s\"\n", prog,
			name, min, max, arg);
	return false;
}

/* getopt_long's value of spec entry i: above every character. */
#define SL_OPT_VAL0 256

/* One option's argument into its variable; false after a message. */
static bool
sl_opt_take(const char *prog, const struct sl_opt_spec *s, const char *arg)
{
	switch (s->kind) {
	case SL_OPT_FLAG:
		*(bool *)s->dst = true;
		return true;
	case SL_OPT_STR:
		*(const char **)s->dst = arg;
		return true;
	case SL_OPT_UINT:
		return sl_opt_uint(prog, s->name, arg, (unsigned int)s->min,
				   (unsigned int)s->max, s->dst);
	case SL_OPT_U64:
		return sl_opt_u64(prog, s->name, arg, s->min, s->max, s->dst);
	case SL_OPT_DOUBLE:
		return sl_opt_double(prog, s->name, arg, s->dmin, s->dmax,
				     s->dst);
	}
	return false;
}

int
sl_opt_parse(const char *prog, int argc, char **argv,
	     const struct sl_opt_spec *spec, unsigned int n, bool *seen)
{
	struct option *lo = calloc(n + 1, sizeof(*lo));
	char *shorts = calloc(2 * n + 1, 1);
	size_t k = 0;
	int c, rc = 0;

	if (lo == NULL || shorts == NULL) {
		free(lo);
		free(shorts);
		fprintf(stderr, "%s: out of memory\n", prog);
		return -1;
	}
	for (unsigned int i = 0; i < n; i++) {
		lo[i].name = spec[i].name;
		lo[i].has_arg = spec[i].kind == SL_OPT_FLAG ? no_argument
							    : required_argument;
		lo[i].val = SL_OPT_VAL0 + (int)i;
		if (spec[i].letter != 0) {
			shorts[k++] = spec[i].letter;
			if (spec[i].kind != SL_OPT_FLAG)
				shorts[k++] = ':';
		}
		if (seen != NULL)
			seen[i] = false;
	}
	optind = 1;
	while ((c = getopt_long(argc, argv, shorts, lo, NULL)) != -1) {
		const struct sl_opt_spec *s;

		for (unsigned int i = 0; c != '?' && c < SL_OPT_VAL0 && i < n;
		     i++)
			if (spec[i].letter == c)
				c = SL_OPT_VAL0 + (int)i;
		if (c < SL_OPT_VAL0 || c >= SL_OPT_VAL0 + (int)n) {
			rc = -1; /* getopt said which */
			break;
		}
		s = &spec[c - SL_OPT_VAL0];
		if (!sl_opt_take(prog, s, optarg)) {
			rc = -1;
			break;
		}
		if (s->given != NULL)
			*s->given = true;
		if (seen != NULL)
			seen[c - SL_OPT_VAL0] = true;
	}
	free(lo);
	free(shorts);
	return rc < 0 ? -1 : optind;
}
