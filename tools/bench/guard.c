/* SPDX-License-Identifier: MIT */
/*
 * guard.c - what the guard filter costs per byte and per fragment, and
 * what it leaks, against the common baseline, in one run on one input.
 *
 * Input: the 600 TOFU answers of the fine-tuned Llama-2-7B (forget and
 * retain sets; tools/data/tofu), each a stream cut into token-sized
 * fragments (1-8 bytes) with one extra cut inside every occurrence of a
 * forget-set author's name, so names arrive split.
 *
 * Rule sets: the 15 forget-set authors, and 10,000 name-like literals (the
 * 15 plus 9,985 generated deterministically from first names and
 * surnames), all REDACT.
 *
 * sluice: sl_guard_feed() per fragment, sl_guard_finish() at END.
 * baseline: each fragment is normalised, the previous fragment's tail
 * (longest rule - 1 normalised bytes) is prepended, the same automaton
 * (sl_guard_scan_literals) scans the lot, matches inside the fragment are
 * masked and the fragment is released at once.
 *
 * A leak is a rule match present in a stream's concatenated released
 * output, or one released before it was detected (its start was in text
 * already sent). Timed rounds alternate sluice and baseline; the table
 * shows medians and the JSON every round.
 */
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#define HAVE_TSC 1
#endif

#include "sl_guard.h"

#define MAX_TEXTS 600
#define MAX_ROUNDS 32
#define N_BIG 10000

static uint64_t
now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

static inline uint64_t
cycles(void)
{
#ifdef HAVE_TSC
	return __rdtsc();
#else
	return now_ns();
#endif
}

static double
tsc_hz(void)
{
#ifdef HAVE_TSC
	uint64_t n0 = now_ns(), c0 = cycles(), n1, c1;

	do
		n1 = now_ns();
	while (n1 - n0 < 200000000ull);
	c1 = cycles();
	return (double)(c1 - c0) * 1e9 / (double)(n1 - n0);
#else
	return 1e9;
#endif
}

static uint64_t rng_state = 0x5EED;

static uint32_t
rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state >> 11);
}

/* ---- input ---------------------------------------------------------- */

/* Each timed round runs the corpus this many times (about 0.1-0.3 s). */
static unsigned passes = 20;
static char *names[16];
static unsigned n_names;
static char *texts[MAX_TEXTS];
static size_t text_len[MAX_TEXTS];
static unsigned n_texts;

struct frag {
	uint32_t off, len;
};

static struct frag *frags; /* all streams' fragments, in order */
static uint32_t frag_first[MAX_TEXTS + 1];
static size_t total_bytes, total_frags, names_in_text, names_split;

static char *
json_generated(const char *line)
{
	const char *p = strstr(line, "\"generated\": \"");
	char *out, *o;

	if (p == NULL)
		return NULL;
	p += strlen("\"generated\": \"");
	out = o = malloc(strlen(p) + 1);
	while (*p && *p != '"') {
		unsigned c, c2;

		if (*p != '\\') {
			*o++ = *p++;
			continue;
		}
		switch (*++p) {
		case 'n':
			*o++ = '\n';
			p++;
			break;
		case 't':
			*o++ = '\t';
			p++;
			break;
		case 'u':
			sscanf(p + 1, "%4x", &c);
			p += 5;
			if (c >= 0xD800 && c < 0xDC00 && p[0] == '\\' &&
			    sscanf(p + 2, "%4x", &c2) == 1) {
				c = 0x10000 + ((c - 0xD800) << 10) +
				    (c2 - 0xDC00);
				p += 6;
			}
			if (c < 0x80) {
				*o++ = (char)c;
			} else if (c < 0x800) {
				*o++ = (char)(0xC0 | c >> 6);
				*o++ = (char)(0x80 | (c & 0x3F));
			} else if (c < 0x10000) {
				*o++ = (char)(0xE0 | c >> 12);
				*o++ = (char)(0x80 | ((c >> 6) & 0x3F));
				*o++ = (char)(0x80 | (c & 0x3F));
			} else {
				*o++ = (char)(0xF0 | c >> 18);
				*o++ = (char)(0x80 | ((c >> 12) & 0x3F));
				*o++ = (char)(0x80 | ((c >> 6) & 0x3F));
				*o++ = (char)(0x80 | (c & 0x3F));
			}
			break;
		default:
			*o++ = *p++;
			break;
		}
	}
	*o = '\0';
	return out;
}

static int
load(const char *dir)
{
	static const char *const files[] = {"llama2-7b-full.forget.jsonl",
					    "llama2-7b-full.retain.jsonl"};
	char path[1024], line[16384];
	FILE *f;

	snprintf(path, sizeof(path), "%s/forget-authors.txt", dir);
	if ((f = fopen(path, "r")) == NULL)
		return -errno;
	while (n_names < 16 && fgets(line, sizeof(line), f) != NULL) {
		line[strcspn(line, "\r\n")] = '\0';
		if (line[0])
			names[n_names++] = strdup(line);
	}
	fclose(f);
	for (unsigned k = 0; k < 2; k++) {
		snprintf(path, sizeof(path), "%s/%s", dir, files[k]);
		if ((f = fopen(path, "r")) == NULL)
			return -errno;
		while (n_texts < MAX_TEXTS &&
		       fgets(line, sizeof(line), f) != NULL) {
			char *t = json_generated(line);

			if (t != NULL) {
				text_len[n_texts] = strlen(t);
				texts[n_texts++] = t;
			}
		}
		fclose(f);
	}
	return n_names == 15 && n_texts == MAX_TEXTS ? 0 : -EINVAL;
}

static int
u32cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* Token-sized cuts (1-8 bytes) plus one cut inside every name. */
static void
chunk(void)
{
	size_t cap = 0;
	uint32_t *cuts = malloc(65536 * sizeof(*cuts));

	for (unsigned t = 0; t < n_texts; t++)
		cap += text_len[t] + 1;
	frags = malloc(cap * sizeof(*frags));
	for (unsigned t = 0; t < n_texts; t++) {
		const char *s = texts[t];
		size_t len = text_len[t], at = 0;
		unsigned n = 0;

		while ((at += 1 + rng() % 8) < len)
			cuts[n++] = (uint32_t)at;
		for (unsigned k = 0; k < n_names; k++) {
			size_t nl = strlen(names[k]);
			const char *p = s;

			while ((p = strstr(p, names[k])) != NULL) {
				cuts[n++] = (uint32_t)(p - s) + 1 +
					    rng() % (uint32_t)(nl - 1);
				names_in_text++;
				p += nl;
			}
		}
		qsort(cuts, n, sizeof(*cuts), u32cmp);
		frag_first[t] = (uint32_t)total_frags;
		at = 0;
		for (unsigned i = 0; i <= n; i++) {
			size_t end = i < n ? cuts[i] : len;

			if (end <= at)
				continue;
			frags[total_frags++] = (struct frag){
				(uint32_t)at, (uint32_t)(end - at)};
			at = end;
		}
		total_bytes += len;
	}
	frag_first[n_texts] = (uint32_t)total_frags;
	free(cuts);
}

/* 9,985 name-like literals, distinct after normalisation and from the
 * 15: first name + surname, some with a middle initial or a hyphen. */
static const char *const first[] = {
	"James",   "Maria",   "Wei",     "Aisha",     "Carlos", "Yuki",
	"Olga",    "Ahmed",   "Priya",   "Lucas",     "Fatima", "Hiroshi",
	"Elena",   "Kwame",   "Sofia",   "Dmitri",    "Amara",  "Jin",
	"Isabel",  "Omar",    "Mei",     "Tomasz",    "Leila",  "Diego",
	"Anika",   "Sven",    "Zara",    "Kenji",     "Nadia",  "Rafael",
	"Ines",    "Arjun",   "Chloe",   "Mateo",     "Hana",   "Ivan",
	"Noor",    "Pedro",   "Lin",     "Astrid",    "Kofi",   "Yara",
	"Andrei",  "Mina",    "Tariq",   "Greta",     "Ravi",   "Lucia",
	"Emeka",   "Sakura",  "Bruno",   "Ayesha",    "Felix",  "Rosa",
	"Jamal",   "Ingrid",  "Chen",    "Valentina", "Musa",   "Elif",
	"Marco",   "Keiko",   "Samir",   "Freya",     "Joon",   "Alma",
	"Nikolai", "Dalia",   "Thiago",  "Esra",      "Hugo",   "Rania",
	"Lars",    "Amina",   "Yusuf",   "Clara",     "Rohan",  "Mariam",
	"Stefan",  "Xiu",     "Gabriel", "Layla",     "Anton",  "Noa",
	"Kaveh",   "Beatriz", "Tunde",   "Linnea",    "Hamid",  "Camila",
	"Jorge",   "Asha",    "Pavel",   "Soo-ah",    "Emil",   "Zainab",
	"Luca",    "Ana",     "Farid",   "Helga",
};
static const char *const last[] = {
	"Smith",      "Garcia",    "Wang",      "Khan",      "Silva",
	"Tanaka",     "Ivanova",   "Hassan",    "Sharma",    "Muller",
	"Okafor",     "Kim",       "Rossi",     "Nguyen",    "Kowalski",
	"Haddad",     "Lopez",     "Sato",      "Petrov",    "Mensah",
	"Liu",        "Novak",     "Fernandez", "Yilmaz",    "Johansson",
	"Abebe",      "Moreau",    "Gupta",     "Costa",     "Suzuki",
	"Horvath",    "Rahman",    "Dubois",    "Zhang",     "Santos",
	"Kovacs",     "Ali",       "Jensen",    "Ortiz",     "Mwangi",
	"Fischer",    "Park-Lee",  "Nakagawa",  "Chowdhury", "Bianchi",
	"Popescu",    "Oyelaran",  "Lindqvist", "Herrera",   "Mahmoud",
	"Takahashi",  "Kuznetsov", "Adeyemi",   "Varga",     "Cruz",
	"Bakr",       "Schmidt",   "Yamamoto",  "Reyes",     "Nowak",
	"Osei",       "Lambert",   "Castillo",  "Farouk",    "Hoang",
	"Berg",       "Mendes",    "Iyer",      "Romano",    "Sokolov",
	"Achebe",     "Lee",       "Navarro",   "Aziz",      "Weber",
	"Kato",       "Morales",   "Pham",      "Eriksen",   "Said",
	"Duarte",     "Banerjee",  "Ricci",     "Volkov",    "Nwosu",
	"Chen-Ortiz", "Ibrahim",   "Keller",    "Mori",      "Vargas",
	"Tran",       "Holm",      "Pereira",   "Das",       "Greco",
	"Orlov",      "Eze",       "Wu",        "Salazar",   "Haidari",
	"Vasquez",    "Almeida",   "Kaur",      "Jung",      "Torres",
	"Brennan",
};

static char **
make_names(unsigned n)
{
	char **out = calloc(n, sizeof(*out));
	unsigned have = 0, nf = sizeof(first) / sizeof(*first),
		 nl = sizeof(last) / sizeof(*last);
	size_t seen_cap = n * 2;
	char **seen = calloc(seen_cap, sizeof(*seen));

	for (unsigned i = 0; i < n_names && have < n; i++)
		out[have++] = strdup(names[i]);
	while (have < n) {
		char buf[96];
		const char *f = first[rng() % nf], *l = last[rng() % nl];
		unsigned shape = rng() % 10;

		if (shape == 0)
			snprintf(buf, sizeof(buf), "%s %c. %s", f,
				 'A' + (int)(rng() % 26), l);
		else if (shape == 1)
			snprintf(buf, sizeof(buf), "%s-%s %s", f,
				 first[rng() % nf], l);
		else if (shape == 2)
			snprintf(buf, sizeof(buf), "%s %s %s", f,
				 last[rng() % nl], l);
		else
			snprintf(buf, sizeof(buf), "%s %s", f, l);
		/* Lower-case key: distinct after normalisation (ASCII). */
		char key[96];
		uint64_t h = 1469598103934665603ull;

		for (size_t i = 0; i <= strlen(buf); i++) {
			key[i] = (char)(buf[i] >= 'A' && buf[i] <= 'Z'
						? buf[i] + 32
						: buf[i]);
			h = (h ^ (uint8_t)key[i]) * 1099511628211ull;
		}
		size_t slot = h % seen_cap;
		bool dup = false;

		while (seen[slot] != NULL) {
			if (strcmp(seen[slot], key) == 0) {
				dup = true;
				break;
			}
			slot = (slot + 1) % seen_cap;
		}
		for (unsigned i = 0; !dup && i < n_names; i++)
			dup = strcasecmp(names[i], buf) == 0;
		if (dup)
			continue;
		seen[slot] = strdup(key);
		out[have++] = strdup(buf);
	}
	for (size_t i = 0; i < seen_cap; i++)
		free(seen[i]);
	free(seen);
	return out;
}

/* ---- the two filters ------------------------------------------------ */

struct out {
	const uint8_t *text; /* the stream's original text */
	uint8_t *buf;        /* one stream's released bytes */
	size_t len, cap;
	bool record;
	uint64_t plain_end; /* original end of the text released as is */
	uint64_t late;      /* matches detected after their start went out */
	uint64_t matches;
};

static void
out_put(struct out *o, const void *b, size_t n)
{
	if (!o->record) {
		o->len += n;
		return;
	}
	if (o->len + n > o->cap) {
		o->cap = (o->len + n) * 2 + 1024;
		o->buf = realloc(o->buf, o->cap);
	}
	memcpy(o->buf + o->len, b, n);
	o->len += n;
}

static void
sl_release(void *ctx, const void *b, size_t n, uint64_t orig, size_t olen)
{
	struct out *o = ctx;

	if (o->record && n == olen && memcmp(b, o->text + orig, n) == 0)
		o->plain_end = orig + olen;
	out_put(o, b, n);
}

static void
sl_match(void *ctx, const struct sl_guard_match *m)
{
	struct out *o = ctx;

	o->matches++;
	if (m->orig_from < o->plain_end)
		o->late++;
}

struct base_cx {
	size_t tail_len;
	uint32_t *origin;
	const uint8_t *frag;
	size_t frag_len;
	struct {
		uint32_t from, to;
	} mask[64];
	unsigned n_mask;
	struct out *o;
};

static unsigned
u8len(uint8_t b)
{
	return b < 0xC0 ? 1 : b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4;
}

static void
base_hit(void *ctx, unsigned rule, uint64_t from, uint64_t to)
{
	struct base_cx *b = ctx;
	uint32_t f, t;

	(void)rule;
	if (to <= b->tail_len)
		return; /* found by the previous fragment's check */
	b->o->matches++;
	if (from < b->tail_len) {
		b->o->late++; /* its start went out with that fragment */
		f = 0;
	} else {
		f = b->origin[from - b->tail_len];
	}
	t = b->origin[to - 1 - b->tail_len];
	t += u8len(b->frag[t]);
	if (t > b->frag_len)
		t = (uint32_t)b->frag_len;
	if (b->n_mask < 64)
		b->mask[b->n_mask++] = (typeof(b->mask[0])){f, t};
}

struct baseline {
	const struct sl_guard_set *set;
	unsigned tail_max;
	uint8_t *buf;
	uint32_t *origin;
	size_t cap;
};

static void
baseline_stream(struct baseline *bl, unsigned t, struct out *o)
{
	const uint8_t *text = (const uint8_t *)texts[t];
	size_t tail_len = 0;
	struct base_cx cx = {.origin = bl->origin, .o = o};

	for (uint32_t i = frag_first[t]; i < frag_first[t + 1]; i++) {
		const uint8_t *p = text + frags[i].off;
		size_t n = frags[i].len, nl, at = 0;

		nl = sl_guard_normalize(p, n, bl->buf + tail_len, bl->origin);
		cx.tail_len = tail_len;
		cx.frag = p;
		cx.frag_len = n;
		cx.n_mask = 0;
		sl_guard_scan_literals(bl->set, bl->buf, tail_len + nl,
				       base_hit, &cx);
		for (unsigned k = 0; k < cx.n_mask; k++) {
			if (cx.mask[k].from < at)
				cx.mask[k].from = (uint32_t)at;
			if (cx.mask[k].to <= at)
				continue;
			out_put(o, p + at, cx.mask[k].from - at);
			out_put(o, SL_GUARD_MASK_DEFAULT,
				sizeof(SL_GUARD_MASK_DEFAULT) - 1);
			at = cx.mask[k].to;
		}
		out_put(o, p + at, n - at);
		nl += tail_len;
		tail_len = nl < bl->tail_max ? nl : bl->tail_max;
		memmove(bl->buf, bl->buf + nl - tail_len, tail_len);
	}
}

static void
sluice_stream(const struct sl_guard_set *set, struct sl_guard_scratch *sc,
	      void *mem, size_t size, unsigned t, struct out *o)
{
	const uint8_t *text = (const uint8_t *)texts[t];
	struct sl_guard_sink sink = {sl_release, sl_match, o};
	struct sl_guard_stream *st = sl_guard_stream_init(set, mem, size);

	o->text = text;
	for (uint32_t i = frag_first[t]; i < frag_first[t + 1]; i++)
		sl_guard_feed(st, sc, text + frags[i].off, frags[i].len, &sink);
	sl_guard_finish(st, sc, &sink);
}

/* Matches of the set in one stream's released output. */
static uint64_t
present(const struct sl_guard_set *set, const struct out *o)
{
	uint8_t *n = malloc(o->len * SL_GUARD_NORM_GROWTH + 1);
	size_t nl = sl_guard_normalize(o->buf, o->len, n, NULL);
	uint64_t m = sl_guard_scan_literals(set, n, nl, NULL, NULL);

	free(n);
	return m;
}

struct result {
	double cycles_per_byte[MAX_ROUNDS], frags_per_s[MAX_ROUNDS];
	double cpb, fps;
	uint64_t leaked, late, in_output, detected;
};

static int
dcmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double
median(const double *v, unsigned n)
{
	double s[MAX_ROUNDS];

	memcpy(s, v, n * sizeof(*s));
	qsort(s, n, sizeof(*s), dcmp);
	return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

struct set_run {
	unsigned n_rules;
	double compile_ms;
	struct sl_guard_set_info info;
	struct result sluice, baseline;
};

static void
run_set(struct set_run *sr, char **rule_names, unsigned n, unsigned rounds,
	double hz)
{
	struct sl_guard_rule *rules = calloc(n, sizeof(*rules));
	struct sl_guard_error err;
	struct sl_guard_set *set;
	struct sl_guard_scratch *sc;
	struct baseline bl = {0};
	struct out o = {0};
	void *mem;
	uint64_t t0;

	memset(sr, 0, sizeof(*sr));
	for (unsigned i = 0; i < n; i++)
		rules[i] = (struct sl_guard_rule){i, SL_GUARD_KIND_LITERAL,
						  SL_GUARD_ACTION_REDACT,
						  rule_names[i], NULL};
	t0 = now_ns();
	set = sl_guard_compile(rules, n, NULL, &err);
	sr->compile_ms = (double)(now_ns() - t0) / 1e6;
	if (set == NULL) {
		fprintf(stderr, "guard: compile: %s\n", err.text);
		exit(1);
	}
	sr->n_rules = n;
	sl_guard_set_info(set, &sr->info);
	sc = sl_guard_scratch_alloc(set);
	mem = aligned_alloc(SL_GUARD_STATE_ALIGN, sr->info.state_size);
	bl.set = set;
	bl.tail_max = sr->info.literal_max - 1;
	bl.cap = 65536;
	/* Fragments are a few bytes; normalised, at most GROWTH times. */
	bl.buf = malloc(bl.cap * SL_GUARD_NORM_GROWTH + bl.tail_max);
	bl.origin = malloc(bl.cap * SL_GUARD_NORM_GROWTH * sizeof(uint32_t));

	/* Leaks, once, recording every stream's output. */
	o.record = true;
	for (unsigned t = 0; t < n_texts; t++) {
		o.len = 0;
		o.plain_end = 0;
		sluice_stream(set, sc, mem, sr->info.state_size, t, &o);
		sr->sluice.in_output += present(set, &o);
	}
	sr->sluice.late = o.late;
	sr->sluice.detected = o.matches;
	o.late = o.matches = 0;
	for (unsigned t = 0; t < n_texts; t++) {
		o.len = 0;
		baseline_stream(&bl, t, &o);
		sr->baseline.in_output += present(set, &o);
	}
	sr->baseline.late = o.late;
	sr->baseline.detected = o.matches;
	sr->sluice.leaked = sr->sluice.late + sr->sluice.in_output;
	sr->baseline.leaked = sr->baseline.late + sr->baseline.in_output;

	/* Timed rounds, alternating. */
	o.record = false;
	for (unsigned r = 0; r < rounds; r++) {
		for (int which = 0; which < 2; which++) {
			struct result *res =
				which ? &sr->baseline : &sr->sluice;
			uint64_t c0 = cycles(), c;

			for (unsigned t = 0; t < n_texts * passes; t++) {
				if (which)
					baseline_stream(&bl, t % n_texts, &o);
				else
					sluice_stream(set, sc, mem,
						      sr->info.state_size,
						      t % n_texts, &o);
			}
			c = cycles() - c0;
			res->cycles_per_byte[r] =
				(double)c / (double)(total_bytes * passes);
			res->frags_per_s[r] =
				(double)(total_frags * passes) * hz / (double)c;
		}
	}
	sr->sluice.cpb = median(sr->sluice.cycles_per_byte, rounds);
	sr->sluice.fps = median(sr->sluice.frags_per_s, rounds);
	sr->baseline.cpb = median(sr->baseline.cycles_per_byte, rounds);
	sr->baseline.fps = median(sr->baseline.frags_per_s, rounds);

	free(o.buf);
	free(bl.buf);
	free(bl.origin);
	free(mem);
	free(rules);
	sl_guard_scratch_free(sc);
	sl_guard_free(set);
}

static void
cpu_model(char *out, size_t n)
{
	char line[256];
	FILE *f = fopen("/proc/cpuinfo", "r");

	snprintf(out, n, "unknown");
	if (f == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, "model name", 10) == 0) {
			char *p = strchr(line, ':');

			if (p != NULL) {
				p += 2;
				p[strcspn(p, "\n")] = '\0';
				snprintf(out, n, "%s", p);
			}
			break;
		}
	fclose(f);
}

static void
json_result(FILE *f, const char *name, const struct result *r, unsigned rounds,
	    const char *sep)
{
	fprintf(f,
		"    \"%s\": {\"cycles_per_byte\": %.2f, \"fragments_per_s\": "
		"%.0f, \"leaked\": %llu, \"leaked_in_output\": %llu, "
		"\"leaked_before_detection\": %llu, \"detected\": %llu, "
		"\"per_round_cycles_per_byte\": [",
		name, r->cpb, r->fps, (unsigned long long)r->leaked,
		(unsigned long long)r->in_output, (unsigned long long)r->late,
		(unsigned long long)r->detected);
	for (unsigned i = 0; i < rounds; i++)
		fprintf(f, "%s%.2f", i ? ", " : "", r->cycles_per_byte[i]);
	fprintf(f, "]}%s\n", sep);
}

static void
usage(void)
{
	fprintf(stderr,
		"usage: guard [--data DIR] [--rounds N] [--json-file PATH] "
		"[--commit NAME]\n"
		"  --data DIR       TOFU copy (forget-authors.txt, *.jsonl); "
		"default tools/data/tofu\n"
		"  --rounds N       timed rounds per filter and set (5, at "
		"most %d)\n"
		"  --passes N       corpus passes per round (20)\n"
		"  --json-file PATH also write the result as JSON\n",
		MAX_ROUNDS);
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"data", required_argument, NULL, 'd'},
		{"rounds", required_argument, NULL, 'r'},
		{"json-file", required_argument, NULL, 'j'},
		{"commit", required_argument, NULL, 'c'},
		{"passes", required_argument, NULL, 'p'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *dir = "tools/data/tofu", *json = NULL, *commit = "unknown";
	unsigned rounds = 5;
	struct set_run runs[2];
	char cpu[128], date[32];
	double hz;
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			dir = optarg;
			break;
		case 'r':
			rounds = (unsigned)atoi(optarg);
			break;
		case 'j':
			json = optarg;
			break;
		case 'c':
			commit = optarg;
			break;
		case 'p':
			passes = (unsigned)atoi(optarg);
			break;
		default:
			usage();
			return c == 'h' ? 0 : 2;
		}
	}
	if (rounds < 1 || rounds > MAX_ROUNDS || passes < 1) {
		usage();
		return 2;
	}
	if ((c = load(dir)) != 0) {
		fprintf(stderr, "guard: cannot read the TOFU copy in %s: %s\n",
			dir, strerror(-c));
		return 1;
	}
	chunk();
	/* Every name occurrence got a cut inside it. */
	names_split = names_in_text;
	hz = tsc_hz();
	cpu_model(cpu, sizeof(cpu));
	{
		time_t now = time(NULL);

		strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%SZ",
			 gmtime(&now));
	}

	char **big = make_names(N_BIG);

	run_set(&runs[0], names, n_names, rounds, hz);
	run_set(&runs[1], big, N_BIG, rounds, hz);

	printf("guard filter: %u streams, %zu fragments (%.1f B each), %zu "
	       "bytes, %zu names in the text, all split\n",
	       n_texts, total_frags, (double)total_bytes / (double)total_frags,
	       total_bytes, names_in_text);
	printf("%s, %ld cores, TSC %.2f GHz; medians of %u rounds\n\n", cpu,
	       sysconf(_SC_NPROCESSORS_ONLN), hz / 1e9, rounds);
	printf("| rules | filter | cycles/byte | fragments/s | detected | "
	       "leaked (in output + before detection) |\n"
	       "|---|---|---|---|---|---|\n");
	for (int s = 0; s < 2; s++)
		for (int w = 0; w < 2; w++) {
			const struct result *r =
				w ? &runs[s].baseline : &runs[s].sluice;

			printf("| %u | %s | %.1f | %.0f | %llu | %llu (%llu + "
			       "%llu) |\n",
			       runs[s].n_rules, w ? "baseline" : "sluice",
			       r->cpb, r->fps, (unsigned long long)r->detected,
			       (unsigned long long)r->leaked,
			       (unsigned long long)r->in_output,
			       (unsigned long long)r->late);
		}
	printf("\n");
	for (int s = 0; s < 2; s++)
		printf("%u rules: sluice/baseline cycles %.2f; compile %.1f "
		       "ms; "
		       "%u states x %u classes (%zu KiB); state %zu B per "
		       "stream, held_max %u B\n",
		       runs[s].n_rules,
		       runs[s].sluice.cpb / runs[s].baseline.cpb,
		       runs[s].compile_ms, runs[s].info.ac_states,
		       runs[s].info.ac_classes, runs[s].info.ac_bytes / 1024,
		       runs[s].info.state_size, runs[s].info.held_max);

	if (json != NULL) {
		FILE *f = fopen(json, "w");

		if (f == NULL) {
			fprintf(stderr, "guard: %s: %s\n", json,
				strerror(errno));
			return 1;
		}
		fprintf(f,
			"{\n  \"machine\": {\"cpu\": \"%s\", \"cores\": %ld, "
			"\"tsc_hz\": %.0f},\n",
			cpu, sysconf(_SC_NPROCESSORS_ONLN), hz);
		fprintf(f, "  \"commit\": \"%s\",\n  \"date\": \"%s\",\n",
			commit, date);
		fprintf(f, "  \"rounds\": %u,\n  \"passes\": %u,\n", rounds,
			passes);
		fprintf(f,
			"  \"input\": {\"streams\": %u, \"fragments\": %zu, "
			"\"bytes\": %zu, \"names_in_text\": %zu, "
			"\"names_split\": %zu, \"action\": \"redact\"},\n",
			n_texts, total_frags, total_bytes, names_in_text,
			names_split);
		for (int s = 0; s < 2; s++) {
			const struct set_run *r = &runs[s];

			fprintf(f, "  \"rules_%u\": {\n", r->n_rules);
			fprintf(f,
				"    \"compile_ms\": %.2f, \"ac_states\": %u, "
				"\"ac_classes\": %u, \"ac_bytes\": %zu, "
				"\"state_size\": %zu, \"held_max\": %u, "
				"\"holdback_max\": %u,\n",
				r->compile_ms, r->info.ac_states,
				r->info.ac_classes, r->info.ac_bytes,
				r->info.state_size, r->info.held_max,
				r->info.holdback_max);
			fprintf(f, "    \"ratio_cycles\": %.3f,\n",
				r->sluice.cpb / r->baseline.cpb);
			json_result(f, "sluice", &r->sluice, rounds, ",");
			json_result(f, "baseline", &r->baseline, rounds, "");
			fprintf(f, "  }%s\n", s == 0 ? "," : "");
		}
		fprintf(f, "}\n");
		fclose(f);
	}
	for (unsigned i = 0; i < N_BIG; i++)
		free(big[i]);
	free(big);
	/* The bench fails if sluice leaked anything. */
	return runs[0].sluice.leaked + runs[1].sluice.leaked == 0 ? 0 : 1;
}
