/* SPDX-License-Identifier: MIT */
/*
 * sl_opt.c - numbers from the command line (sl_opt.h).
 */
#include <errno.h>
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
	fprintf(stderr, "%s: --%s: must be a number %g..%g, got \"%s\"\n", prog,
		name, min, max, arg);
	return false;
}
