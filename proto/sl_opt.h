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
 *
 * sl_opt_parse reads a whole command line against a table of options
 * (long options only): each fills its variable, numbers checked as
 * above; what an option means together with others is the caller's to
 * check afterwards.
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

enum sl_opt_kind {
	SL_OPT_FLAG,   /* no argument: *(bool *)dst = true */
	SL_OPT_STR,    /* *(const char **)dst = the argument */
	SL_OPT_UINT,   /* unsigned int in [min, max] */
	SL_OPT_U64,    /* uint64_t in [min, max] */
	SL_OPT_DOUBLE, /* double in [dmin, dmax] */
};

struct sl_opt_spec {
	const char *name; /* without the leading "--" */
	enum sl_opt_kind kind;
	void *dst;
	uint64_t min, max;
	double dmin, dmax;
	bool *given; /* set when the option is on the line; may be NULL */
	int tag;     /* the caller's (e.g. which mode an option is for) */
	char letter; /* a one-letter form (-c FILE) too; 0: none */
};

/* Typed destinations: a table entry of the wrong type does not compile. */
static inline void *
sl_opt_dst_bool(bool *p)
{
	return p;
}
static inline void *
sl_opt_dst_str(const char **p)
{
	return p;
}
static inline void *
sl_opt_dst_uint(unsigned int *p)
{
	return p;
}
static inline void *
sl_opt_dst_u64(uint64_t *p)
{
	return p;
}
static inline void *
sl_opt_dst_double(double *p)
{
	return p;
}

/* Table entries; after the bounds, more fields may follow (.given = ...,
 * .tag = ...). */
#define SL_OPT_F(n, p, ...)                                                    \
	{                                                                      \
		.name = (n), .kind = SL_OPT_FLAG, .dst = sl_opt_dst_bool(p),   \
		__VA_ARGS__                                                    \
	}
#define SL_OPT_S(n, p, ...)                                                    \
	{                                                                      \
		.name = (n), .kind = SL_OPT_STR, .dst = sl_opt_dst_str(p),     \
		__VA_ARGS__                                                    \
	}
#define SL_OPT_N(n, p, lo, hi, ...)                                            \
	{                                                                      \
		.name = (n), .kind = SL_OPT_UINT, .dst = sl_opt_dst_uint(p),   \
		.min = (lo), .max = (hi), __VA_ARGS__                          \
	}
#define SL_OPT_N64(n, p, lo, hi, ...)                                          \
	{                                                                      \
		.name = (n), .kind = SL_OPT_U64, .dst = sl_opt_dst_u64(p),     \
		.min = (lo), .max = (hi), __VA_ARGS__                          \
	}
#define SL_OPT_D(n, p, lo, hi, ...)                                            \
	{                                                                      \
		.name = (n), .kind = SL_OPT_DOUBLE,                            \
		.dst = sl_opt_dst_double(p), .dmin = (lo), .dmax = (hi),       \
		__VA_ARGS__                                                    \
	}

/**
 * sl_opt_parse - read @argv's options against the @n entries of @spec
 * (getopt_long; the one-letter forms of those that have one); @seen (NULL, or @n flags) tells
 * which entries were on the line.
 * Return: the index of the first operand, or -1 after a message on stderr
 * (an unknown option, a missing argument, a number out of its bounds).
 */
int sl_opt_parse(const char *prog, int argc, char **argv,
		 const struct sl_opt_spec *spec, unsigned int n, bool *seen);

#endif /* SL_OPT_H */
