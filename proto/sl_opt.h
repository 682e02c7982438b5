/* SPDX-License-Identifier: MIT */
/*
 * sl_opt.h - numbers from the command line, one way for every program
 * (sluiced, sluicectl, sluicegen, sluice-engine, sluice-inject, the
 * benchmarks).
 *
 * A number is decimal, or hexadecimal after "0x"; no sign, no spaces,
 * nothing after it, inside [min, max]. The sl_parse_* functions only
 * answer; the sl_opt_* ones also say what was wrong, in one form:
 *   PROG: --NAME: must be MIN..MAX, got "ARG"
 */
#ifndef SL_OPT_H
#define SL_OPT_H

#include <stdbool.h>
#include <stdint.h>

bool sl_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);

/* A finite decimal number in [min, max] (strtod's syntax, no leading
 * space). */
bool sl_parse_double(const char *s, double min, double max, double *out);

bool sl_opt_u64(const char *prog, const char *name, const char *arg,
		uint64_t min, uint64_t max, uint64_t *out);
bool sl_opt_uint(const char *prog, const char *name, const char *arg,
		 unsigned int min, unsigned int max, unsigned int *out);
bool sl_opt_double(const char *prog, const char *name, const char *arg,
		   double min, double max, double *out);

#endif /* SL_OPT_H */
