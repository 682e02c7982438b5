/* SPDX-License-Identifier: MIT */
/*
 * trace.c - sluicegen --trace FILE: the Azure LLM inference traces
 * (tools/data/azure-llm-trace/) read, checked and turned into a
 * schedule and prompts.
 *
 * A trace is CSV: the header TIMESTAMP,ContextTokens,GeneratedTokens,
 * then one row a request, "2023-11-16 18:15:46.6805900,374,44": when it
 * arrived, its prompt's tokens, its answer's tokens. Request k of a run
 * arrives (its row's time less the first replayed row's) / speed-up
 * after the run's start, open loop; its prompt is the length directive
 * "max_tokens: GeneratedTokens" (sluice.h) on a line of its own, then
 * ContextTokens consecutive corpus tokens from an offset drawn from the
 * seed and the row's index, so that a row always asks the same text.
 */
#include "gen.h"

#define GEN_TRACE_FIELDS 3

/* A row's time: seconds since 1970-01-01 UTC and nanoseconds. */
struct gen_trace_time {
	int64_t sec;
	uint32_t ns;
};

/* Days from 1970-01-01 to @y-@m-@d, proleptic Gregorian (the civil
 * calendar's day count of Howard Hinnant's date algorithms). */
static int64_t
gen_days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static int
gen_days_in_month(int y, int m)
{
	static const int days[12] = {31, 28, 31, 30, 31, 30,
				     31, 31, 30, 31, 30, 31};
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	return m == 2 && leap ? 29 : days[m - 1];
}

/* @n digits at @s as a number; false unless all are digits. */
static bool
gen_digits(const char *s, size_t n, int *out)
{
	int v = 0;

	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return true;
}

/*
 * "YYYY-MM-DD HH:MM:SS" ('T' for the space allowed), then optionally
 * '.' and 1 to 9 digits, then optionally "Z" or "+HH:MM" / "-HH:MM"
 * (the zone; none is UTC). Every part in its calendar range.
 */
static bool
gen_trace_time_parse(const char *s, size_t len, struct gen_trace_time *t)
{
	int y, mo, d, h, mi, sec, zh = 0, zm = 0, sign = 0;
	uint32_t ns = 0, scale = 100000000;
	size_t i = 19;

	if (len < 19 || s[4] != '-' || s[7] != '-' ||
	    (s[10] != ' ' && s[10] != 'T') || s[13] != ':' || s[16] != ':' ||
	    !gen_digits(s, 4, &y) || !gen_digits(s + 5, 2, &mo) ||
	    !gen_digits(s + 8, 2, &d) || !gen_digits(s + 11, 2, &h) ||
	    !gen_digits(s + 14, 2, &mi) || !gen_digits(s + 17, 2, &sec))
		return false;
	if (y < 1970 || mo < 1 || mo > 12 || d < 1 ||
	    d > gen_days_in_month(y, mo) || h > 23 || mi > 59 || sec > 59)
		return false;
	if (i < len && s[i] == '.') {
		size_t start = ++i;

		while (i < len && s[i] >= '0' && s[i] <= '9' && i - start < 9) {
			ns += (uint32_t)(s[i] - '0') * scale;
			scale /= 10;
			i++;
		}
		if (i == start)
			return false;
	}
	if (i < len && s[i] == 'Z') {
		i++;
	} else if (i < len && (s[i] == '+' || s[i] == '-')) {
		sign = s[i] == '+' ? 1 : -1;
		if (len - i < 6 || s[i + 3] != ':' ||
		    !gen_digits(s + i + 1, 2, &zh) ||
		    !gen_digits(s + i + 4, 2, &zm) || zh > 23 || zm > 59)
			return false;
		i += 6;
	}
	if (i != len)
		return false;
	t->sec = gen_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 +
		 sec - sign * (zh * 3600 + zm * 60);
	t->ns = ns;
	return true;
}

/* A token count: digits only, in [1, @max]. 0, or -1 (not a number) or
 * -2 (out of range). */
static int
gen_trace_count(const char *s, size_t len, uint32_t max, uint32_t *out)
{
	uint64_t v = 0;

	if (len == 0)
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		if (v <= max)
			v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (v < 1 || v > max)
		return -2;
	*out = (uint32_t)v;
	return 0;
}

/* One data row (@line, @len bytes, line @ln of @path) into @row; the
 * time to @t. Return 0, or -1 after writing why to @err. */
static int
gen_trace_row_parse(const char *path, size_t ln, const char *line, size_t len,
		    struct gen_trace_row *row, struct gen_trace_time *t,
		    char *err, size_t errlen)
{
	static const char *const names[GEN_TRACE_FIELDS] = {
		"TIMESTAMP", "ContextTokens", "GeneratedTokens"};
	static const uint32_t max[GEN_TRACE_FIELDS] = {0, GEN_TRACE_CONTEXT_MAX,
						       GEN_TRACE_GENERATED_MAX};
	const char *f[GEN_TRACE_FIELDS + 1];
	size_t flen[GEN_TRACE_FIELDS + 1];
	unsigned int n = 0;
	size_t start = 0;

	for (size_t i = 0; i <= len; i++) {
		if (i < len && line[i] != ',')
			continue;
		if (n <= GEN_TRACE_FIELDS) {
			f[n] = line + start;
			flen[n] = i - start;
		}
		n++;
		start = i + 1;
	}
	if (n != GEN_TRACE_FIELDS) {
		snprintf(err, errlen,
			 "%s:%zu: expected %u fields (" GEN_TRACE_HEADER
			 "), found %u",
			 path, ln, GEN_TRACE_FIELDS, n);
		return -1;
	}
	if (!gen_trace_time_parse(f[0], flen[0], t)) {
		snprintf(err, errlen,
			 "%s:%zu: TIMESTAMP: '%.*s' is not YYYY-MM-DD "
			 "HH:MM:SS[.fraction][Z|+HH:MM]",
			 path, ln, (int)flen[0], f[0]);
		return -1;
	}
	for (unsigned int k = 1; k < GEN_TRACE_FIELDS; k++) {
		uint32_t *dst = k == 1 ? &row->context : &row->generated;
		int rc = gen_trace_count(f[k], flen[k], max[k], dst);

		if (rc == -1)
			snprintf(err, errlen,
				 "%s:%zu: %s: '%.*s' is not a whole number",
				 path, ln, names[k], (int)flen[k], f[k]);
		else if (rc == -2)
			snprintf(err, errlen,
				 "%s:%zu: %s: %.*s is out of range (1 to %u)",
				 path, ln, names[k], (int)flen[k], f[k],
				 max[k]);
		if (rc < 0)
			return -1;
	}
	return 0;
}

void
gen_trace_free(struct gen_trace *t)
{
	if (t == NULL)
		return;
	free(t->rows);
	free(t);
}

/* Append @row to @t; false on ENOMEM. */
static bool
gen_trace_push(struct gen_trace *t, size_t *cap,
	       const struct gen_trace_row *row)
{
	if (t->n == *cap) {
		size_t nc = *cap ? 2 * *cap : 1024;
		struct gen_trace_row *grown =
			realloc(t->rows, nc * sizeof(*grown));

		if (grown == NULL)
			return false;
		t->rows = grown;
		*cap = nc;
	}
	t->rows[t->n++] = *row;
	return true;
}

/*
 * Check data row @row, read at time @tm on line @ln, against the first
 * row's time @t0 and the row before (@prev): times never go back and
 * stay within GEN_TRACE_SPAN_MAX_S of the first. Sets row->off_ns.
 */
static int
gen_trace_place(const char *path, size_t ln, const char *line, size_t len,
		struct gen_trace_row *row, const struct gen_trace_time *tm,
		const struct gen_trace_time *t0, uint64_t prev_ns, char *err,
		size_t errlen)
{
	int64_t dsec = tm->sec - t0->sec;
	int64_t dns = (int64_t)tm->ns - (int64_t)t0->ns;
	const char *comma = memchr(line, ',', len);
	int tlen = (int)(comma - line);

	/* Seconds first: a far date must not overflow the nanoseconds. */
	if (dsec > GEN_TRACE_SPAN_MAX_S ||
	    (dsec == GEN_TRACE_SPAN_MAX_S && dns > 0)) {
		snprintf(err, errlen,
			 "%s:%zu: TIMESTAMP: '%.*s' is more than %d days after "
			 "the first row's",
			 path, ln, tlen, line, GEN_TRACE_SPAN_MAX_S / 86400);
		return -1;
	}
	if (dsec < 0 || (dsec == 0 && dns < 0) ||
	    (uint64_t)(dsec * 1000000000 + dns) < prev_ns) {
		snprintf(err, errlen,
			 "%s:%zu: TIMESTAMP: '%.*s' is before the row above's",
			 path, ln, tlen, line);
		return -1;
	}
	row->off_ns = (uint64_t)(dsec * 1000000000 + dns);
	return 0;
}

struct gen_trace *
gen_trace_load(const char *path, char *err, size_t errlen)
{
	struct gen_trace *t = calloc(1, sizeof(*t));
	char line[GEN_TRACE_LINE_MAX + 1];
	struct gen_trace_time t0 = {0};
	size_t cap = 0, ln = 0, len = 0;
	bool eof = false, too_long = false;
	FILE *f;

	if (t == NULL) {
		snprintf(err, errlen, "%s: out of memory", path);
		return NULL;
	}
	f = fopen(path, "r");
	if (f == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		free(t);
		return NULL;
	}
	while (!eof) {
		int c = getc(f);

		if (c != EOF && c != '\n') {
			if (len < sizeof(line))
				line[len++] = (char)c;
			else
				too_long = true;
			continue;
		}
		eof = c == EOF;
		if (eof && len == 0 && !too_long && ln > 0)
			break; /* the last line ended with its newline */
		ln++;
		if (len > 0 && line[len - 1] == '\r')
			len--;
		if (too_long || len > GEN_TRACE_LINE_MAX) {
			snprintf(err, errlen, "%s:%zu: longer than %d bytes",
				 path, ln, GEN_TRACE_LINE_MAX);
			goto fail;
		}
		if (ln == 1) {
			size_t skip =
				len >= 3 && memcmp(line, "\xef\xbb\xbf", 3) == 0
					? 3
					: 0; /* a UTF-8 BOM */

			if (len - skip != strlen(GEN_TRACE_HEADER) ||
			    memcmp(line + skip, GEN_TRACE_HEADER, len - skip) !=
				    0) {
				snprintf(err, errlen,
					 "%s:1: expected the header "
					 "'" GEN_TRACE_HEADER "'",
					 path);
				goto fail;
			}
		} else if (len > 0) {
			struct gen_trace_row row;
			struct gen_trace_time tm;

			if (t->n == GEN_TRACE_ROWS_MAX) {
				snprintf(err, errlen,
					 "%s:%zu: more than %u rows", path, ln,
					 GEN_TRACE_ROWS_MAX);
				goto fail;
			}
			if (gen_trace_row_parse(path, ln, line, len, &row, &tm,
						err, errlen) < 0)
				goto fail;
			if (t->n == 0)
				t0 = tm;
			if (gen_trace_place(path, ln, line, len, &row, &tm, &t0,
					    t->n ? t->rows[t->n - 1].off_ns : 0,
					    err, errlen) < 0)
				goto fail;
			if (!gen_trace_push(t, &cap, &row)) {
				snprintf(err, errlen, "%s: out of memory",
					 path);
				goto fail;
			}
		}
		len = 0;
		too_long = false;
	}
	if (ferror(f)) {
		snprintf(err, errlen, "%s: read error", path);
		goto fail;
	}
	if (t->n == 0) {
		snprintf(err, errlen, "%s: no rows after the header", path);
		goto fail;
	}
	fclose(f);
	return t;
fail:
	fclose(f);
	gen_trace_free(t);
	return NULL;
}

/**
 * gen_trace_at - when row @k of @t is due in a run whose first row is
 * @first: (its time less the first's) / @speedup, in ns, truncated.
 */
uint64_t
gen_trace_at(const struct gen_trace *t, size_t first, size_t k, double speedup)
{
	return (uint64_t)((double)(t->rows[k].off_ns - t->rows[first].off_ns) /
			  speedup);
}

/**
 * gen_trace_plan - the rows a run replays: from the first at or after
 * @start_s trace seconds (*@first), each due before @duration run
 * seconds (gen_trace_at), at most @max of them (0: no limit): *@n.
 * Return 0, or -ERANGE when no row is at or after @start_s.
 */
int
gen_trace_plan(const struct gen_trace *t, double speedup, double start_s,
	       double duration, uint64_t max, size_t *first, size_t *n)
{
	double start_ns = start_s * 1e9;
	size_t lo = 0, hi = t->n, k;

	/* The first row at or after the start (times never go back). */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if ((double)t->rows[mid].off_ns < start_ns)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == t->n)
		return -ERANGE;
	for (k = lo; k < t->n && (max == 0 || k - lo < max); k++)
		if ((double)gen_trace_at(t, lo, k, speedup) >= duration * 1e9)
			break;
	*first = lo;
	*n = k - lo;
	return 0;
}

/**
 * gen_trace_directive - the length directive of a row asking for
 * @generated tokens, "max_tokens: N\n", into @buf of @cap bytes.
 * Return its length.
 */
size_t
gen_trace_directive(uint32_t generated, char *buf, size_t cap)
{
	int n = snprintf(buf, cap, SL_MAX_TOKENS_KEY " %u\n", generated);

	return n < 0 ? 0 : (size_t)n < cap ? (size_t)n : cap - 1;
}

/* The prompt's tokens one by one: the directive's, then the corpus's. */
struct gen_trace_cursor {
	const struct sl_corpus *c;
	const char *dir;
	size_t dir_len, dir_pos;
	size_t next;   /* corpus token */
	uint32_t left; /* corpus tokens still to come */
};

static bool
gen_trace_cursor_peek(const struct gen_trace_cursor *k, const char **text,
		      size_t *len, uint32_t *id)
{
	if (k->dir_pos < k->dir_len) {
		*text = k->dir + k->dir_pos;
		*len = sl_tokenize_next(*text, k->dir_len - k->dir_pos);
		*id = sl_token_hash(*text, *len);
		return true;
	}
	if (k->left == 0)
		return false;
	*text = sl_corpus_token_text(k->c, k->next);
	*len = k->c->tokens[k->next].len;
	*id = k->c->tokens[k->next].id;
	return true;
}

static void
gen_trace_cursor_step(struct gen_trace_cursor *k, size_t len)
{
	if (k->dir_pos < k->dir_len) {
		k->dir_pos += len;
		return;
	}
	k->next = (k->next + 1) % k->c->n_tokens;
	k->left--;
}

/**
 * gen_trace_prompt - build the prompt of @row into @tx on @stream: the
 * directive's tokens (sl_tokenize_next), then @row->context corpus tokens
 * from @q_off on (wrapping), @per_frag a fragment (fewer when they do not
 * fit one), END on the last. When @tx is full and more is to come,
 * @flush(@ctx, @tx) must send and empty it.
 * Return: the fragments built, or a negative errno (of @flush too).
 */
int
gen_trace_prompt(const struct sl_corpus *c, size_t q_off,
		 const struct gen_trace_row *row, uint32_t per_frag,
		 struct sl_stream_tx *stream, struct sl_burst *tx, uint64_t now,
		 gen_flush_fn flush, void *ctx)
{
	char dir[64];
	struct gen_trace_cursor k = {
		.c = c,
		.dir = dir,
		.dir_len =
			gen_trace_directive(row->generated, dir, sizeof(dir)),
		.next = q_off % c->n_tokens,
		.left = row->context,
	};
	const char *text;
	size_t len;
	uint32_t id;
	int frags = 0, rc;

	while (gen_trace_cursor_peek(&k, &text, &len, &id)) {
		struct sl_dgram *d;
		uint32_t in_frag = 0;

		if (tx->n == SL_BURST_MAX) {
			rc = flush(ctx, tx);
			if (rc < 0)
				return rc;
		}
		d = &tx->d[tx->n];
		rc = sl_stream_tx_begin(stream, d->buf, d->cap);
		if (rc < 0)
			return rc;
		do {
			rc = sl_stream_tx_add(stream, id, text, len);
			if (rc == -ENOSPC && in_frag > 0)
				break;
			if (rc < 0)
				return rc;
			gen_trace_cursor_step(&k, len);
			in_frag++;
		} while (in_frag < per_frag &&
			 gen_trace_cursor_peek(&k, &text, &len, &id));
		d->len = (uint16_t)sl_stream_tx_finish(
			stream,
			gen_trace_cursor_peek(&k, &text, &len, &id)
				? 0
				: SL_FRAG_F_END,
			0, now);
		memset(&d->addr, 0, sizeof(d->addr));
		tx->n++;
		frags++;
	}
	return frags;
}
