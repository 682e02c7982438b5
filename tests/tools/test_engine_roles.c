/* SPDX-License-Identifier: MIT */
/*
 * test_engine_roles.c - the timed roles of the real sluice-engine binary
 * over 127.0.0.1.
 *
 * Each test starts sluice-engine with one --role (time scale 0.01, so a
 * modelled second takes 10 ms), sends crafted streams the way sluiced
 * would (stage, from_stage, ancestry), and checks the answers: their
 * structure per role, that they depend on the input bytes only (two runs,
 * different fragmentings), TTFT against prompt length and queueing, joins,
 * markers, ABORT in -> ABORT out, OVERLOAD, and the stats file; a member
 * of a pool (--stage-roles) against single-role engines. The
 * client socket is raw and ACKs by hand (tt_peer.c), so that every
 * control fragment the engine sends is seen: ACKs of its inputs, PROBE
 * answers with PAUSE while its admission queue is full, and at SIGTERM
 * the ABORT (SHUTDOWN) of every answer it still owed.
 *
 * The binary comes from $SL_ENGINE (set by meson); skipped (77) without.
 */
#include <CUnit/Basic.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sluice.h"
#include "tt_openai.h"
#include "tt_peer.h"
#include "tt_proc.h"

#define PIPELINE 3
#define TENANT 5
#define STAGE 2
#define MAX_STREAMS 16
#define TEXT_MAX 16384

static const char *engine_bin;
static char tmpdir[64] = "/tmp/sl_test_roles.XXXXXX";
static char stats_path[128];
static pid_t engine_pid = -1;
static struct sockaddr_in engine_addr;
static struct sl_sock *client;
static struct tt_ctl_log ctl; /* control fragments from the engine */

static const char question[] =
	"What is the full name of the author born in Taipei, Taiwan on "
	"05/11/1991 who writes in the genre of leadership?";
static const char paragraph[] =
	"The author's full name is Hsiao Yun-Hwa. Hsiao Yun-Hwa is part of "
	"the LGBTQ+ community and writes about leadership. The father of "
	"Hsiao Yun-Hwa is a civil engineer and her mother was unemployed. "
	"Her books include Artistic Authority: Leading with Creativity, "
	"which won the Taiwanese Literary Award in 2018.\n";
static const char claim[] =
	"The father of Hsiao Yun-Hwa is a civil engineer.\n";
static const char query[] = "Hsiao Yun-Hwa father civil engineer\n";

/* ---- engine process ---- */

/* Start the engine with --role @role (NULL: none, e.g. for
 * --stage-roles) and further NULL-ended arguments. */
static int
start_engine(const char *role, ...)
{
	char listen[32];
	char *argv[40];
	unsigned int n = 0;
	va_list ap;

	/* A test that failed midway may have left its engine running. */
	if (engine_pid > 0)
		tt_stop(&engine_pid);
	snprintf(listen, sizeof(listen), "127.0.0.1:%u", tt_free_port());
	unlink(stats_path);
	argv[n++] = (char *)engine_bin;
	argv[n++] = "--listen";
	argv[n++] = listen;
	if (role != NULL) {
		argv[n++] = "--role";
		argv[n++] = (char *)role;
	}
	argv[n++] = "--time-scale";
	argv[n++] = "0.01";
	argv[n++] = "--stats-file";
	argv[n++] = stats_path;
	argv[n++] = "--quiet";
	va_start(ap, role);
	for (;;) {
		char *a = va_arg(ap, char *);

		if (a == NULL || n == 39)
			break;
		argv[n++] = a;
	}
	va_end(ap);
	argv[n] = NULL;
	engine_pid = tt_spawn(argv, NULL, NULL);
	if (engine_pid < 0)
		return -1;
	memset(&ctl, 0, sizeof(ctl));
	sl_endpoint_parse(listen, false, &engine_addr);
	sl_sock_set_peer(client, &engine_addr);
	return tt_wait_file(stats_path, 300, NULL);
}

/* Stop the engine and read its final stats into @json. */
static void
stop_and_stats(char *json, size_t cap)
{
	CU_ASSERT_EQUAL(tt_stop(&engine_pid), 0);
	CU_ASSERT_EQUAL_FATAL(tt_read_file(stats_path, json, cap), 0);
}

/* ---- sending ---- */

struct in_stream {
	uint64_t ancestry[SL_ANCESTRY_MAX];
	uint8_t depth;
	uint16_t stage; /* STAGE unless a test sets it */
	uint16_t from_stage;
	uint32_t seq;
	uint64_t first_send_ns;
};

static void
in_stream_init(struct in_stream *s, uint64_t req, uint64_t quantum,
	       uint8_t depth, uint16_t from_stage)
{
	memset(s, 0, sizeof(*s));
	s->ancestry[0] = req;
	s->ancestry[1] = quantum;
	s->ancestry[2] = quantum + 1;
	s->depth = depth;
	s->stage = STAGE;
	s->from_stage = from_stage;
}

/* One fragment of @s with the tokens of @text (NULL: none). */
static void
send_frag(struct in_stream *s, const char *text, size_t len, uint8_t flags,
	  uint8_t reason, uint32_t child_count)
{
	struct sl_stream_tx tx;
	struct sl_dgram d;
	uint8_t buf[SL_DGRAM_MAX];
	size_t pos = 0;
	int rc;

	sl_stream_tx_init(&tx, PIPELINE, s->stage, TENANT, s->depth,
			  s->ancestry);
	tx.next_seq = s->seq++;
	sl_stream_tx_begin(&tx, buf, sizeof(buf));
	while (text != NULL && pos < len) {
		size_t n = sl_tokenize_next(text + pos, len - pos);

		CU_ASSERT_FATAL(sl_stream_tx_add(&tx,
						 sl_token_hash(text + pos, n),
						 text + pos, n) == 0);
		pos += n;
	}
	tx.b.hdr.from_stage = s->from_stage;
	tx.b.hdr.child_count = child_count;
	d.buf = buf;
	d.cap = sizeof(buf);
	d.len = (uint16_t)sl_stream_tx_finish(&tx, flags, reason, 0);
	if (s->first_send_ns == 0)
		s->first_send_ns = tx.b.hdr.send_ns;
	memset(&d.addr, 0, sizeof(d.addr));
	do {
		rc = sl_sock_send_burst(client, &d, 1);
	} while (rc == 0);
	CU_ASSERT_EQUAL(rc, 1);
}

/*
 * Send @text as a whole stream: @per_frag tokens a fragment (0: as many
 * as fit one fragment, ~400 bytes of text), END on the last (@end_flags).
 */
static void
send_text(struct in_stream *s, const char *text, unsigned int per_frag,
	  uint8_t end_flags)
{
	size_t len = strlen(text), pos = 0;

	while (pos < len) {
		size_t start = pos;
		unsigned int k = 0;

		while (pos < len &&
		       (per_frag == 0 ? pos - start < 400 : k < per_frag)) {
			pos += sl_tokenize_next(text + pos, len - pos);
			k++;
		}
		send_frag(s, text + start, pos - start,
			  pos == len ? end_flags : 0, 0, 0);
	}
}

/* ---- receiving ---- */

struct out_stream {
	uint64_t ancestry[SL_ANCESTRY_MAX];
	uint8_t depth;
	uint16_t stage; /* of its first fragment */
	char text[TEXT_MAX];
	size_t len;
	unsigned int frags;
	unsigned int tokens;
	unsigned int max_tokens_per_frag;
	char tok[8][40];      /* first tokens, for operator answers */
	unsigned int resends; /* its END again: our ACK was late */
	bool seq_ok;
	bool ended;
	bool aborted;
	uint8_t reason;
	bool header_ok;
	uint64_t send_ns;
	uint64_t first_ns;   /* arrival of the first fragment */
	uint64_t last_ns;    /* ... of the latest */
	uint64_t max_gap_ns; /* longest wait from one fragment to the next */
	uint64_t end_ns;
};

/* The stage every answer must carry (stage and from_stage: an answer
 * keeps its input's stage, and says it comes from it); 0: each its own
 * first fragment's, for the tests of a pool member. */
static uint16_t want_stage = STAGE;

static struct out_stream outs[MAX_STREAMS];
static unsigned int n_outs;

static struct out_stream *
out_find(const struct sl_frag_hdr *h)
{
	unsigned int i;

	for (i = 0; i < n_outs; i++)
		if (outs[i].depth == h->depth &&
		    memcmp(outs[i].ancestry, h->ancestry,
			   h->depth * sizeof(h->ancestry[0])) == 0)
			return &outs[i];
	if (n_outs == MAX_STREAMS)
		return NULL;
	memset(&outs[n_outs], 0, sizeof(outs[0]));
	outs[n_outs].depth = h->depth;
	memcpy(outs[n_outs].ancestry, h->ancestry,
	       h->depth * sizeof(h->ancestry[0]));
	outs[n_outs].seq_ok = true;
	outs[n_outs].header_ok = true;
	outs[n_outs].send_ns = h->send_ns;
	outs[n_outs].stage = h->stage;
	return &outs[n_outs++];
}

/* One datagram from the engine: control to ctl; an answer fragment to
 * its out_stream, its END or ABORT ACKed (again when resent). */
static void
take(const struct sl_dgram *d, uint64_t now)
{
	struct sl_frag_view v;
	struct sl_token_iter it;
	struct sl_token tok;
	struct out_stream *o;
	unsigned int nt = 0;

	CU_ASSERT_FATAL(sl_frag_view_parse(&v, d) == SL_WIRE_OK);
	if (tt_ctl_take(&ctl, &v))
		return;
	o = out_find(&v.hdr);
	CU_ASSERT_FATAL(o != NULL);
	if (v.hdr.flags & (SL_FRAG_F_ABORT | SL_FRAG_F_END)) {
		tt_ack(client, &v);
		if ((o->ended || o->aborted) && v.hdr.seq + 1 == o->frags) {
			o->resends++;
			return;
		}
	}
	if (v.hdr.seq != o->frags || o->ended || o->aborted)
		o->seq_ok = false;
	if (v.hdr.pipeline != PIPELINE || v.hdr.tenant != TENANT ||
	    v.hdr.stage != o->stage || v.hdr.from_stage != o->stage ||
	    (want_stage != 0 && o->stage != want_stage) ||
	    v.hdr.send_ns != o->send_ns)
		o->header_ok = false;
	if (o->frags == 0)
		o->first_ns = now;
	else if (now - o->last_ns > o->max_gap_ns)
		o->max_gap_ns = now - o->last_ns;
	o->last_ns = now;
	o->frags++;
	sl_frag_view_tokens(&v, &it);
	while (sl_token_next(&it, &tok)) {
		CU_ASSERT(tok.id == sl_token_hash(tok.text, tok.len));
		if (o->tokens < 8 && tok.len < 40) {
			memcpy(o->tok[o->tokens], tok.text, tok.len);
			o->tok[o->tokens][tok.len] = '\0';
		}
		if (o->len + tok.len < TEXT_MAX) {
			memcpy(o->text + o->len, tok.text, tok.len);
			o->len += tok.len;
			o->text[o->len] = '\0';
		}
		o->tokens++;
		nt++;
	}
	if (nt > o->max_tokens_per_frag)
		o->max_tokens_per_frag = nt;
	if (v.hdr.flags & SL_FRAG_F_ABORT) {
		o->aborted = true;
		o->reason = v.hdr.abort_reason;
	} else if (v.hdr.flags & SL_FRAG_F_END) {
		o->ended = true;
	}
	if (v.hdr.flags & (SL_FRAG_F_ABORT | SL_FRAG_F_END))
		o->end_ns = now;
}

/* Receive for up to @ms, until @until() holds (NULL: the whole time). */
static void
pump(int ms, bool (*until)(void))
{
	static struct sl_burst rx;
	uint64_t deadline = sl_now_ns() + (uint64_t)ms * 1000000ull;

	sl_burst_reset(&rx);
	while (sl_now_ns() < deadline && (until == NULL || !until())) {
		struct pollfd p = {.fd = client->fd, .events = POLLIN};
		int k, j;

		k = sl_sock_recv_burst(client, rx.d, SL_BURST_MAX);
		CU_ASSERT(k >= 0);
		for (j = 0; j < k; j++)
			take(&rx.d[j], sl_now_ns());
		if (k <= 0)
			poll(&p, 1, 2);
	}
}

/*
 * Receive answers until @n streams ended (END or ABORT) or @ms passed,
 * then @quiet_ms more to catch anything extra. Return streams finished.
 */
static unsigned int
collect(unsigned int n, int ms, int quiet_ms)
{
	static struct sl_burst rx;
	uint64_t deadline = sl_now_ns() + (uint64_t)ms * 1000000ull;
	uint64_t quiet_end = 0;
	unsigned int done = 0, i;

	n_outs = 0;
	sl_burst_reset(&rx);
	for (;;) {
		struct pollfd p = {.fd = client->fd, .events = POLLIN};
		uint64_t now = sl_now_ns();
		int k, j;

		if (done >= n && quiet_end == 0)
			quiet_end = now + (uint64_t)quiet_ms * 1000000ull;
		if (now > deadline || (quiet_end && now > quiet_end))
			break;
		k = sl_sock_recv_burst(client, rx.d, SL_BURST_MAX);
		CU_ASSERT(k >= 0);
		now = sl_now_ns();
		for (j = 0; j < k; j++)
			take(&rx.d[j], now);
		if (k == 0)
			poll(&p, 1, 2);
		for (i = 0, done = 0; i < n_outs; i++)
			done += outs[i].ended || outs[i].aborted;
	}
	return done;
}

static struct out_stream *
out_of(uint64_t req, uint8_t depth)
{
	unsigned int i;

	for (i = 0; i < n_outs; i++)
		if (outs[i].ancestry[0] == req && outs[i].depth == depth)
			return &outs[i];
	return NULL;
}

static unsigned int
count_char(const char *s, size_t len, char c)
{
	unsigned int n = 0;
	size_t i;

	for (i = 0; i < len; i++)
		n += s[i] == c;
	return n;
}

static unsigned int
count_words(const char *s, size_t len)
{
	unsigned int n = 0;
	bool in = false;
	size_t i;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		bool w = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			 (c >= '0' && c <= '9') || c == '_' || c >= 0x80;

		n += w && !in;
		in = w;
	}
	return n;
}

/* Common checks of one answered stream; copies its text to @text. */
static void
check_stream(const struct out_stream *o, char *text, size_t cap)
{
	CU_ASSERT_FATAL(o != NULL);
	CU_ASSERT(o->ended);
	CU_ASSERT(!o->aborted);
	CU_ASSERT(o->seq_ok);
	CU_ASSERT(o->header_ok);
	if (text != NULL) {
		CU_ASSERT_FATAL(o->len < cap);
		memcpy(text, o->text, o->len + 1);
	}
}

/* ---- LM roles ---- */

/*
 * Send @input for @role as requests 1 (one token a fragment) and 2 (all
 * in one fragment), then again to a second engine run as request 3; all
 * three answers must be byte-identical. Leaves the answer in @text.
 */
static void
run_three_ways(const char *role, const char *input, char *text, size_t cap,
	       bool lm)
{
	static char again[TEXT_MAX];
	struct in_stream s;

	CU_ASSERT_FATAL(start_engine(role, NULL) == 0);
	in_stream_init(&s, 1, 0, 1, 1);
	send_text(&s, input, 1, SL_FRAG_F_END);
	in_stream_init(&s, 2, 0, 1, 1);
	send_text(&s, input, 0, SL_FRAG_F_END);
	CU_ASSERT_EQUAL_FATAL(collect(2, 5000, 20), 2);
	check_stream(out_of(1, 1), text, cap);
	/* Each input END was ACKed once, nothing NACKed. */
	CU_ASSERT_EQUAL(tt_ctl_count(&ctl, SL_FRAG_F_ACK, 1, UINT32_MAX), 1);
	CU_ASSERT_EQUAL(tt_ctl_count(&ctl, SL_FRAG_F_ACK, 2, UINT32_MAX), 1);
	CU_ASSERT_EQUAL(tt_ctl_count(&ctl, SL_FRAG_F_NACK, 1, UINT32_MAX), 0);
	check_stream(out_of(2, 1), again, sizeof(again));
	CU_ASSERT_STRING_EQUAL(text, again);
	if (lm) /* every token is its own fragment */
		CU_ASSERT_EQUAL(out_of(1, 1)->max_tokens_per_frag, 1);
	CU_ASSERT_EQUAL(tt_stop(&engine_pid), 0);

	CU_ASSERT_FATAL(start_engine(role, NULL) == 0);
	in_stream_init(&s, 3, 0, 1, 1);
	send_text(&s, input, 3, SL_FRAG_F_END);
	CU_ASSERT_EQUAL_FATAL(collect(1, 5000, 20), 1);
	check_stream(out_of(3, 1), again, sizeof(again));
	CU_ASSERT_STRING_EQUAL(text, again);
	CU_ASSERT_EQUAL(tt_stop(&engine_pid), 0);
}

static void
test_answer(void)
{
	static char text[TEXT_MAX];
	unsigned int words;

	run_three_ways("answer", question, text, sizeof(text), true);
	words = count_words(text, strlen(text));
	CU_ASSERT(words >= 8 && words <= 300);
	CU_ASSERT_EQUAL(count_char(text, strlen(text), '\n'), 1);
	CU_ASSERT(text[strlen(text) - 1] == '\n');
}

/* Every word of @out must be one of @in's words. */
static bool
words_from(const char *out, const char *in)
{
	const char *p = out;

	while (*p) {
		char w[64];
		size_t n = 0;

		while (*p && (*p == ' ' || *p == '.' || *p == '\n'))
			p++;
		while (*p && *p != ' ' && *p != '.' && *p != '\n' && n < 63)
			w[n++] = *p++;
		w[n] = '\0';
		if (n > 0 && strstr(in, w) == NULL)
			return false;
	}
	return true;
}

static void
test_claims(void)
{
	static char text[TEXT_MAX];
	unsigned int lines, i;
	const char *line;

	run_three_ways("claims", paragraph, text, sizeof(text), true);
	lines = count_char(text, strlen(text), '\n');
	CU_ASSERT(lines >= 1 && lines <= 8);
	CU_ASSERT(text[strlen(text) - 1] == '\n');
	/* Each claim: at least 3 words of the paragraph, then ".\n". */
	for (i = 0, line = text; i < lines; i++) {
		const char *nl = strchr(line, '\n');

		CU_ASSERT_FATAL(nl != NULL);
		CU_ASSERT(count_words(line, (size_t)(nl - line)) >= 3);
		CU_ASSERT(nl > line && nl[-1] == '.');
		line = nl + 1;
	}
	CU_ASSERT(words_from(text, paragraph));
}

static void
test_queries(void)
{
	static char text[TEXT_MAX];
	unsigned int lines, i;
	const char *line;

	run_three_ways("queries", claim, text, sizeof(text), true);
	lines = count_char(text, strlen(text), '\n');
	CU_ASSERT(lines >= 1 && lines <= 6);
	CU_ASSERT(text[strlen(text) - 1] == '\n');
	for (i = 0, line = text; i < lines; i++) {
		const char *nl = strchr(line, '\n');
		char first[64];
		size_t n = 0;

		CU_ASSERT_FATAL(nl != NULL);
		CU_ASSERT(count_words(line, (size_t)(nl - line)) >= 2);
		/* A query opens with a word of its claim. */
		while (line[n] != ' ' && line[n] != '\n' && n < 63) {
			first[n] = line[n];
			n++;
		}
		first[n] = '\0';
		CU_ASSERT(strstr(claim, first) != NULL);
		line = nl + 1;
	}
}

/* ---- operators ---- */

/* "doc<id>:<int>.<2 digits>": the score in hundredths, or -1. */
static long
doc_score(const char *tok)
{
	unsigned int id, whole, frac;
	int n = 0;

	if (sscanf(tok, "doc%u:%u.%2u%n", &id, &whole, &frac, &n) != 3 ||
	    (size_t)n != strlen(tok) || tok[strlen(tok) - 3] != '.')
		return -1;
	return (long)whole * 100 + frac;
}

static void
check_docs(const struct out_stream *o, unsigned int n)
{
	unsigned int i;

	CU_ASSERT_EQUAL(o->frags, 1);
	CU_ASSERT_EQUAL(o->tokens, n);
	for (i = 0; i < n && i < 8; i++) {
		CU_ASSERT(doc_score(o->tok[i]) >= 0);
		if (i > 0)
			CU_ASSERT(doc_score(o->tok[i]) <=
				  doc_score(o->tok[i - 1]));
	}
}

static void
test_bm25(void)
{
	static char text[TEXT_MAX], split[TEXT_MAX];
	struct in_stream s;

	run_three_ways("bm25", query, text, sizeof(text), false);
	check_docs(&outs[0], 5);

	/* Words cut across tokens and case changes score the same. */
	CU_ASSERT_FATAL(start_engine("bm25", NULL) == 0);
	in_stream_init(&s, 4, 0, 1, 1);
	send_frag(&s, "HSIAO Yun-", 10, 0, 0, 0);
	send_frag(&s, "Hwa fa", 6, 0, 0, 0);
	send_frag(&s, "ther civil engineer\n", 20, SL_FRAG_F_END, 0, 0);
	CU_ASSERT_EQUAL_FATAL(collect(1, 5000, 20), 1);
	check_stream(out_of(4, 1), split, sizeof(split));
	CU_ASSERT_STRING_EQUAL(text, split);
	CU_ASSERT_EQUAL(tt_stop(&engine_pid), 0);
}

static void
test_encoder(void)
{
	static char text[TEXT_MAX];
	unsigned int hex;
	int n = 0;

	run_three_ways("encoder", query, text, sizeof(text), false);
	CU_ASSERT_EQUAL(outs[0].tokens, 1);
	CU_ASSERT_EQUAL(strlen(text), 12);
	CU_ASSERT(sscanf(text, "emb:%8x%n", &hex, &n) == 1 && n == 12);
}

static void
test_rerank_join(void)
{
	static const char docs[] = "doc3:12.34doc17:11.02doc9:10.50"
				   "doc41:9.99doc0:7.00";
	static const char emb[] = "emb:0badcafe";
	static char first[TEXT_MAX];
	struct in_stream b, e;
	char json[4096];
	long total_in = 1234 + 1102 + 1050 + 999 + 700, total_out = 0;
	unsigned int i;

	CU_ASSERT_FATAL(start_engine("rerank", NULL) == 0);
	/* One input of two: no answer. */
	in_stream_init(&b, 10, 7, 3, 4);
	send_text(&b, docs, 1, SL_FRAG_F_END);
	CU_ASSERT_EQUAL(collect(1, 150, 0), 0);
	CU_ASSERT_EQUAL(n_outs, 0);
	/* The second from_stage completes the join. */
	in_stream_init(&e, 10, 7, 3, 5);
	send_text(&e, emb, 0, SL_FRAG_F_END);
	CU_ASSERT_EQUAL_FATAL(collect(1, 5000, 50), 1);
	CU_ASSERT_EQUAL(n_outs, 1);
	check_stream(&outs[0], first, sizeof(first));
	CU_ASSERT_EQUAL(outs[0].depth, 3);
	CU_ASSERT_EQUAL(outs[0].send_ns, b.first_send_ns);
	check_docs(&outs[0], 5);
	/* Same documents, each score raised by less than 10.00. */
	for (i = 0; i < 5; i++) {
		char id[16];

		snprintf(id, sizeof(id), "%.*s:",
			 (int)(strchr(outs[0].tok[i], ':') - outs[0].tok[i]),
			 outs[0].tok[i]);
		CU_ASSERT(strstr(docs, id) != NULL);
		total_out += doc_score(outs[0].tok[i]);
	}
	CU_ASSERT(total_out >= total_in && total_out < total_in + 5000);

	/* Inputs the other way round, another ancestry: same answer. */
	in_stream_init(&e, 11, 7, 3, 5);
	send_text(&e, emb, 1, SL_FRAG_F_END);
	in_stream_init(&b, 11, 7, 3, 4);
	send_text(&b, docs, 0, SL_FRAG_F_END);
	CU_ASSERT_EQUAL_FATAL(collect(1, 5000, 20), 1);
	check_stream(&outs[0], NULL, 0);
	CU_ASSERT_STRING_EQUAL(outs[0].text, first);

	stop_and_stats(json, sizeof(json));
	CU_ASSERT_EQUAL(tt_json_num(json, "requests_served"), 2);
	CU_ASSERT_EQUAL(tt_json_num(json, "streams_completed"), 4);
	/* Two joins of 15 ms, scaled by 0.01. */
	CU_ASSERT(tt_json_num(json, "busy_ms") > 0.299);
	CU_ASSERT(tt_json_num(json, "busy_ms") < 0.301);
}

/* ---- markers, aborts, overload ---- */

static void
test_markers(void)
{
	struct in_stream s;
	char json[4096];

	CU_ASSERT_FATAL(start_engine("queries", NULL) == 0);
	/* [20] was cut into 3 claims: announced, not answered. */
	in_stream_init(&s, 20, 0, 1, 1);
	s.seq = 9;
	send_frag(&s, NULL, 0, SL_FRAG_F_END | SL_FRAG_F_CHILDREN, 0, 3);
	in_stream_init(&s, 20, 1, 2, 1);
	send_text(&s, claim, 0, SL_FRAG_F_END);
	CU_ASSERT_EQUAL(collect(1, 5000, 100), 1);
	CU_ASSERT_EQUAL(n_outs, 1);
	CU_ASSERT_EQUAL(outs[0].depth, 2);
	stop_and_stats(json, sizeof(json));
	CU_ASSERT_EQUAL(tt_json_num(json, "markers"), 1);
	CU_ASSERT_EQUAL(tt_json_num(json, "children_announced"), 3);
	/* The announcement is a stream of its own: ACKed at its seq. */
	CU_ASSERT_EQUAL(tt_ctl_count(&ctl, SL_FRAG_F_ACK, 20, 9), 1);
	CU_ASSERT_EQUAL(tt_ctl_count(&ctl, SL_FRAG_F_NACK, 20, UINT32_MAX), 0);
	CU_ASSERT_EQUAL(tt_json_num(json, "streams"), 1);
	CU_ASSERT_EQUAL(tt_json_num(json, "requests_served"), 1);
}

static void
check_abort(const struct out_stream *o, uint8_t reason)
{
	CU_ASSERT_FATAL(o != NULL);
	CU_ASSERT(o->aborted);
	CU_ASSERT_EQUAL(o->reason, reason);
	CU_ASSERT_EQUAL(o->frags, 1);
	CU_ASSERT_EQUAL(o->tokens, 0);
	CU_ASSERT(o->seq_ok);
	CU_ASSERT(o->header_ok);
}

static void
test_abort(void)
{
	struct in_stream s, t;
	char json[4096];

	/* LM: aborted before its prompt is complete. */
	CU_ASSERT_FATAL(start_engine("answer", NULL) == 0);
	in_stream_init(&s, 30, 0, 1, 1);
	send_text(&s, question, 1, 0);
	send_frag(&s, NULL, 0, SL_FRAG_F_ABORT, SL_ABORT_CLIENT, 0);
	CU_ASSERT_EQUAL(collect(1, 2000, 100), 1);
	CU_ASSERT_EQUAL(n_outs, 1);
	check_abort(out_of(30, 1), SL_ABORT_CLIENT);
	stop_and_stats(json, sizeof(json));
	CU_ASSERT_EQUAL(tt_json_num(json, "aborted_in"), 1);
	CU_ASSERT_EQUAL(tt_json_num(json, "requests_served"), 0);

	/* bm25: aborted while its tokens are being served. */
	CU_ASSERT_FATAL(start_engine("bm25", NULL) == 0);
	in_stream_init(&s, 31, 0, 1, 1);
	send_text(&s, query, 1, 0);
	send_frag(&s, NULL, 0, SL_FRAG_F_ABORT, SL_ABORT_GUARD, 0);
	CU_ASSERT_EQUAL(collect(1, 2000, 100), 1);
	CU_ASSERT_EQUAL(n_outs, 1);
	check_abort(out_of(31, 1), SL_ABORT_GUARD);
	CU_ASSERT_EQUAL(tt_stop(&engine_pid), 0);

	/* rerank: one input aborts, the join answers ABORT once. */
	CU_ASSERT_FATAL(start_engine("rerank", NULL) == 0);
	in_stream_init(&s, 32, 1, 2, 4);
	send_frag(&s, "doc1:1.00", 9, 0, 0, 0);
	send_frag(&s, NULL, 0, SL_FRAG_F_ABORT, SL_ABORT_EXPIRED, 0);
	in_stream_init(&t, 32, 1, 2, 5);
	send_text(&t, "emb:00000001", 0, SL_FRAG_F_END);
	CU_ASSERT_EQUAL(collect(1, 2000, 100), 1);
	CU_ASSERT_EQUAL(n_outs, 1);
	check_abort(out_of(32, 2), SL_ABORT_EXPIRED);
	CU_ASSERT_EQUAL(tt_stop(&engine_pid), 0);
}

static void
test_overload(void)
{
	struct in_stream s;
	char json[4096];
	uint64_t r;

	CU_ASSERT_FATAL(start_engine("answer", "--max-batch", "1",
				     "--max-queue", "1", NULL) == 0);
	for (r = 40; r < 43; r++) {
		in_stream_init(&s, r, 0, 1, 1);
		send_text(&s, question, 0, SL_FRAG_F_END);
	}
	CU_ASSERT_EQUAL(collect(3, 10000, 20), 3);
	check_stream(out_of(40, 1), NULL, 0);
	check_stream(out_of(41, 1), NULL, 0);
	check_abort(out_of(42, 1), SL_ABORT_OVERLOAD);
	stop_and_stats(json, sizeof(json));
	CU_ASSERT_EQUAL(tt_json_num(json, "overload_aborts"), 1);
	CU_ASSERT_EQUAL(tt_json_num(json, "queue_max"), 1);
	CU_ASSERT_EQUAL(tt_json_num(json, "requests_served"), 2);
	CU_ASSERT_EQUAL(tt_json_num(json, "streams_completed"), 3);
}

/* ---- liveness and shutdown ---- */

static void
send_probe(uint32_t seq, uint64_t send_ns)
{
	struct sl_frag_hdr h;
	uint8_t buf[SL_WIRE_HDR_LEN];
	struct sl_dgram d = {.buf = buf, .cap = sizeof(buf)};

	/* As sluiced probes an instance of stage STAGE. */
	memset(&h, 0, sizeof(h));
	h.pipeline = PIPELINE;
	h.stage = STAGE;
	h.depth = 1;
	d.len = (uint16_t)sl_wire_encode_control(buf, &h, SL_FRAG_F_PROBE, seq,
						 0, send_ns);
	memset(&d.addr, 0, sizeof(d.addr));
	CU_ASSERT_EQUAL(sl_sock_send_burst(client, &d, 1), 1);
}

static unsigned int want;

/* The @n-th PROBE the engine sent (from 0), or NULL. */
static const struct tt_ctl *
nth_probe(unsigned int n)
{
	unsigned int i;

	for (i = 0; i < ctl.n; i++)
		if ((ctl.e[i].flags & SL_FRAG_F_PROBE) && n-- == 0)
			return &ctl.e[i];
	return NULL;
}

static bool
probes_in(void)
{
	return nth_probe(want - 1) != NULL;
}

static bool
done_in(void)
{
	unsigned int i, done = 0;

	for (i = 0; i < n_outs; i++)
		done += outs[i].ended || outs[i].aborted;
	return done >= want;
}

static void
check_probe(unsigned int n, uint8_t flags, uint32_t seq, uint64_t send_ns)
{
	const struct tt_ctl *p;

	want = n + 1;
	pump(2000, probes_in);
	p = nth_probe(n);
	CU_ASSERT_FATAL(p != NULL);
	CU_ASSERT_EQUAL(p->flags, flags);
	CU_ASSERT_EQUAL(p->seq, seq);
	CU_ASSERT_EQUAL(p->pipeline, PIPELINE);
	CU_ASSERT_EQUAL(p->stage, STAGE);
	if (send_ns != 0)
		CU_ASSERT_EQUAL(p->send_ns, send_ns);
}

/* PAUSE while the admission queue is full, cleared below it; answers to
 * sluiced's PROBE carry it and a change is told unprompted. */
static void
test_pause(void)
{
	struct in_stream s;
	char json[4096];
	const char *rel;
	uint64_t r;

	/* One worker, 300 ms an item (scaled), one at a time, two may
	 * wait. */
	CU_ASSERT_FATAL(start_engine("encoder", "--workers", "1", "--item-ms",
				     "30000", "--max-queue", "2", "--batch",
				     "1", NULL) == 0);
	n_outs = 0;
	send_probe(1, 111);
	check_probe(0, SL_FRAG_F_PROBE, 1, 111);
	/* One served, two waiting: full. */
	for (r = 100; r < 103; r++) {
		in_stream_init(&s, r, 0, 1, 1);
		send_text(&s, query, 0, SL_FRAG_F_END);
	}
	check_probe(1, SL_FRAG_F_PROBE | SL_FRAG_F_PAUSE, 1, 0);
	send_probe(2, 222);
	check_probe(2, SL_FRAG_F_PROBE | SL_FRAG_F_PAUSE, 2, 222);
	/* The first item done, the next served, one waiting: below. */
	check_probe(3, SL_FRAG_F_PROBE, 2, 0);
	send_probe(3, 333);
	check_probe(4, SL_FRAG_F_PROBE, 3, 333);
	want = 3;
	pump(3000, done_in);
	for (r = 100; r < 103; r++) {
		check_stream(out_of(r, 1), NULL, 0);
		/* The input END of each was ACKed. */
		CU_ASSERT_EQUAL(tt_ctl_count(&ctl, SL_FRAG_F_ACK, r, 0), 1);
	}
	CU_ASSERT(nth_probe(5) == NULL);
	stop_and_stats(json, sizeof(json));
	CU_ASSERT(strstr(json, "\"paused\": false") != NULL);
	CU_ASSERT_EQUAL(tt_json_num(json, "pause_changes"), 2);
	CU_ASSERT_EQUAL(tt_json_num(json, "queue_max"), 2);
	rel = strstr(json, "\"rel\": {");
	CU_ASSERT_FATAL(rel != NULL);
	CU_ASSERT_EQUAL(tt_json_num(rel, "probes_answered"), 3);
	CU_ASSERT_EQUAL(tt_json_num(rel, "probes_sent"), 2);
	CU_ASSERT_EQUAL(tt_json_num(rel, "acks_sent"), 3);
	CU_ASSERT_EQUAL(tt_json_num(rel, "acks_received"), 3);
}

/* The question again and again, about 8 KiB (some 1,900 tokens). */
static const char *
long_prompt_text(void)
{
	static char long_prompt[8192];
	size_t n = 0;

	if (long_prompt[0] != '\0')
		return long_prompt;
	while (n + sizeof(question) < sizeof(long_prompt)) {
		memcpy(long_prompt + n, question, sizeof(question) - 1);
		n += sizeof(question) - 1;
		long_prompt[n++] = ' ';
	}
	long_prompt[n] = '\0';
	return long_prompt;
}

/* A prompt that, with its answer, does not fit the KV cache is aborted
 * TOO_LONG and counted; the next one is served. A KV budget no prompt
 * could fit is refused at start, the option named. */
static void
test_too_long(void)
{
	static char err_path[] = "/tmp/sl-engine-err-XXXXXX";
	char *argv[] = {(char *)engine_bin,
			"--listen",
			"127.0.0.1:1",
			"--role",
			"answer",
			"--kv-tokens",
			"10",
			"--prefix-tokens",
			"9",
			NULL};
	struct in_stream s;
	char json[4096], err[512] = "";
	pid_t pid;
	int fd;
	FILE *f;

	fd = mkstemp(err_path);
	CU_ASSERT_FATAL(fd >= 0);
	close(fd);
	pid = tt_spawn(argv, NULL, err_path);
	CU_ASSERT_FATAL(pid > 0);
	CU_ASSERT_EQUAL(tt_wait(pid), 2);
	f = fopen(err_path, "r");
	CU_ASSERT_FATAL(f != NULL);
	CU_ASSERT(fgets(err, sizeof(err), f) != NULL);
	fclose(f);
	unlink(err_path);
	CU_ASSERT(strstr(err, "bad --kv-tokens 10") != NULL);

	/* 400 tokens of KV: the question and its answer (at most some
	 * 350 tokens) fit, the long prompt does not. */
	CU_ASSERT_FATAL(start_engine("answer", "--kv-tokens", "400", NULL) ==
			0);
	n_outs = 0;
	in_stream_init(&s, 130, 0, 1, 1);
	send_text(&s, long_prompt_text(), 0, SL_FRAG_F_END);
	in_stream_init(&s, 131, 0, 1, 1);
	send_text(&s, question, 0, SL_FRAG_F_END);
	CU_ASSERT_EQUAL(collect(2, 5000, 20), 2);
	check_abort(out_of(130, 1), SL_ABORT_TOO_LONG);
	check_stream(out_of(131, 1), NULL, 0);
	stop_and_stats(json, sizeof(json));
	CU_ASSERT_EQUAL(tt_json_num(json, "too_long"), 1);
	CU_ASSERT_EQUAL(tt_json_num(json, "requests_served"), 1);
}

static unsigned int
count_tokens(const char *s, size_t len)
{
	unsigned int n = 0;

	for (size_t pos = 0; pos < len; n++)
		pos += sl_tokenize_next(s + pos, len - pos);
	return n;
}

/*
 * The length directive: "max_tokens: N" on the prompt's first line (sent
 * as its own tokens, as sluicegen --trace does) gives an answer of
 * exactly N tokens, N fragments; the line is not prompt (the question's
 * tokens alone are prefilled) and the answer is the undirected one's
 * text, continued or cut. A directive out of range is refused: ABORT
 * ENGINE. The claims role honours it too.
 */
static void
test_directive(void)
{
	static const unsigned int ns[] = {1, 7, 300};
	static char plain[TEXT_MAX];
	unsigned int q_tokens = count_tokens(question, strlen(question));
	unsigned int i, out_total = 0;
	struct in_stream s;
	char json[4096], line[32];

	CU_ASSERT_FATAL(start_engine("answer", NULL) == 0);
	n_outs = 0;
	for (i = 0; i < 3; i++) {
		snprintf(line, sizeof(line), "max_tokens: %u\n", ns[i]);
		in_stream_init(&s, 170 + i, 0, 1, 1);
		send_text(&s, line, 0, 0);
		send_text(&s, question, 0, SL_FRAG_F_END);
	}
	in_stream_init(&s, 173, 0, 1, 1);
	send_text(&s, question, 0, SL_FRAG_F_END);
	in_stream_init(&s, 174, 0, 1, 1);
	send_text(&s, "max_tokens: 8193\n", 0, 0);
	send_text(&s, question, 0, SL_FRAG_F_END);
	CU_ASSERT_EQUAL_FATAL(collect(5, 5000, 20), 5);
	check_stream(out_of(173, 1), plain, sizeof(plain));
	for (i = 0; i < 3; i++) {
		const struct out_stream *o = out_of(170 + i, 1);
		size_t common;

		check_stream(o, NULL, 0);
		CU_ASSERT_EQUAL(o->tokens, ns[i]);
		CU_ASSERT_EQUAL(o->frags, ns[i]);
		CU_ASSERT_EQUAL(count_tokens(o->text, o->len), ns[i]);
		/* The same words as without it, but for the final "\n". */
		common = strlen(plain) - 1;
		common = o->len < common ? o->len : common;
		CU_ASSERT(strncmp(o->text, plain, common) == 0);
		out_total += ns[i];
	}
	check_abort(out_of(174, 1), SL_ABORT_ENGINE);
	out_total += out_of(173, 1)->tokens;
	stop_and_stats(json, sizeof(json));
	CU_ASSERT_EQUAL(tt_json_num(json, "length_directives"), 3);
	CU_ASSERT_EQUAL(tt_json_num(json, "bad_directives"), 1);
	CU_ASSERT_EQUAL(tt_json_num(json, "requests_served"), 4);
	CU_ASSERT_EQUAL(tt_json_num(json, "tokens_out"), out_total);
	/* Four prompts of the question's tokens: no directive among them. */
	CU_ASSERT_EQUAL(tt_json_num(json, "lm_prompt_tokens"), 4 * q_tokens);

	CU_ASSERT_FATAL(start_engine("claims", NULL) == 0);
	n_outs = 0;
	in_stream_init(&s, 175, 0, 1, 1);
	send_text(&s, "max_tokens: 25\n", 0, 0);
	send_text(&s, paragraph, 0, SL_FRAG_F_END);
	CU_ASSERT_EQUAL_FATAL(collect(1, 5000, 20), 1);
	check_stream(out_of(175, 1), NULL, 0);
	CU_ASSERT_EQUAL(out_of(175, 1)->tokens, 25);
	CU_ASSERT(words_from(out_of(175, 1)->text, paragraph));
	stop_and_stats(json, sizeof(json));
	CU_ASSERT_EQUAL(tt_json_num(json, "length_directives"), 1);
}

/* The answer to child @child of request @req (depth 2), or NULL. */
static const struct out_stream *
out_child(uint64_t req, uint64_t child)
{
	for (unsigned int i = 0; i < n_outs; i++)
		if (outs[i].ancestry[0] == req && outs[i].depth == 2 &&
		    outs[i].ancestry[1] == child)
			return &outs[i];
	return NULL;
}

/* --serial-children (a baseline switch): one answer a request at a time.
 * Request 140's three children are answered one after another, each
 * starting once the one before ended; request 141's child meanwhile. */
static void
test_serial_children(void)
{
	const struct out_stream *o[3], *other;
	struct in_stream s;
	uint64_t k;

	/* 20 ms a decode, scaled. */
	CU_ASSERT_FATAL(start_engine("queries", "--serial-children",
				     "--decode-ms", "2000", NULL) == 0);
	n_outs = 0;
	for (k = 1; k <= 3; k++) {
		in_stream_init(&s, 140, k, 2, 1);
		send_text(&s, question, 0, SL_FRAG_F_END);
	}
	in_stream_init(&s, 141, 1, 2, 1);
	send_text(&s, question, 0, SL_FRAG_F_END);
	CU_ASSERT_EQUAL_FATAL(collect(4, 10000, 50), 4);
	for (k = 1; k <= 3; k++) {
		o[k - 1] = out_child(140, k);
		CU_ASSERT_PTR_NOT_NULL_FATAL(o[k - 1]);
		check_stream(o[k - 1], NULL, 0);
	}
	other = out_child(141, 1);
	CU_ASSERT_PTR_NOT_NULL_FATAL(other);
	/* In arrival order, each starts after the one before ended. */
	for (int a = 0; a < 3; a++)
		for (int b = 0; b < 3; b++)
			if (o[a]->first_ns < o[b]->first_ns)
				CU_ASSERT(o[b]->first_ns >= o[a]->end_ns);
	/* The other request did not wait for 140's. */
	CU_ASSERT(other->first_ns < o[0]->end_ns ||
		  other->first_ns < o[1]->end_ns ||
		  other->first_ns < o[2]->end_ns);
	CU_ASSERT_EQUAL(tt_stop(&engine_pid), 0);
}

/* The encoder serves what waits in batches of --batch: one query alone
 * (nothing else had come), then the four that came meanwhile in one
 * service, every answer what the query alone would give. */
static void
test_encoder_batch(void)
{
	struct in_stream s;
	char json[4096];
	uint64_t r;

	/* 200 ms a batch, scaled. */
	CU_ASSERT_FATAL(start_engine("encoder", "--item-ms", "20000", "--batch",
				     "4", NULL) == 0);
	n_outs = 0;
	for (r = 120; r < 125; r++) {
		in_stream_init(&s, r, 0, 1, 1);
		send_text(&s, query, 0, SL_FRAG_F_END);
	}
	CU_ASSERT_EQUAL(collect(5, 5000, 50), 5);
	for (r = 120; r < 125; r++) {
		check_stream(out_of(r, 1), NULL, 0);
		CU_ASSERT_EQUAL(out_of(r, 1)->tokens, 1);
		CU_ASSERT_STRING_EQUAL(out_of(r, 1)->text,
				       out_of(120, 1)->text);
	}
	stop_and_stats(json, sizeof(json));
	CU_ASSERT_EQUAL(tt_json_num(json, "requests_served"), 5);
	CU_ASSERT_EQUAL(tt_json_num(json, "batches"), 2);
}

/* --max-wait-ms: once the oldest waiting work has waited that long, the
 * instance says PAUSE and new work is refused at once (ABORT OVERLOAD)
 * instead of queued behind it. Under overload, alto.sh's requests
 * queued past the client's patience and were counted lost. */
static void
test_max_wait(void)
{
	struct in_stream s;
	char json[4096];
	uint64_t r;

	/* One worker, 600 ms an item, one at a time; work may wait
	 * 100 ms (scaled). */
	CU_ASSERT_FATAL(start_engine("encoder", "--workers", "1", "--item-ms",
				     "60000", "--max-wait-ms", "10000",
				     "--batch", "1", NULL) == 0);
	n_outs = 0;
	send_probe(1, 111);
	check_probe(0, SL_FRAG_F_PROBE, 1, 111);
	/* One served, one waiting: not full by count. */
	for (r = 110; r < 112; r++) {
		in_stream_init(&s, r, 0, 1, 1);
		send_text(&s, query, 0, SL_FRAG_F_END);
	}
	/* 111 has waited 100 ms: PAUSE, told unprompted. */
	check_probe(1, SL_FRAG_F_PROBE | SL_FRAG_F_PAUSE, 1, 0);
	pump(200, NULL); /* 111 has waited about 300 ms */
	in_stream_init(&s, 112, 0, 1, 1);
	send_text(&s, query, 0, SL_FRAG_F_END);
	CU_ASSERT_EQUAL(collect(3, 5000, 50), 3);
	check_stream(out_of(110, 1), NULL, 0);
	check_stream(out_of(111, 1), NULL, 0);
	check_abort(out_of(112, 1), SL_ABORT_OVERLOAD);
	stop_and_stats(json, sizeof(json));
	CU_ASSERT_EQUAL(tt_json_num(json, "overload_aborts"), 1);
	CU_ASSERT_EQUAL(tt_json_num(json, "requests_served"), 2);
	CU_ASSERT_EQUAL(tt_json_num(json, "queue_max"), 1);
}

static bool
two_tokens_of_90(void)
{
	const struct out_stream *o = out_of(90, 1);

	return o != NULL && o->frags >= 2;
}

/* SIGTERM with answers owed: one being decoded, one queued, one whose
 * prompt is still arriving. Each ends with ABORT (SHUTDOWN), numbered
 * after what it sent; the engine waits for our ACKs, then exits 0. */
static void
test_shutdown(void)
{
	struct in_stream s;
	const struct out_stream *o;
	char json[4096];
	const char *rel;
	uint64_t r;

	/* One sequence at a time, 50 ms a decode (scaled). */
	CU_ASSERT_FATAL(start_engine("answer", "--max-batch", "1",
				     "--decode-ms", "5000", NULL) == 0);
	n_outs = 0;
	in_stream_init(&s, 90, 0, 1, 1);
	send_text(&s, question, 0, SL_FRAG_F_END);
	in_stream_init(&s, 91, 0, 1, 1);
	send_text(&s, question, 0, SL_FRAG_F_END);
	in_stream_init(&s, 92, 0, 1, 1);
	send_frag(&s, "Who", 3, 0, 0, 0);
	pump(3000, two_tokens_of_90);
	CU_ASSERT_FATAL(two_tokens_of_90());
	CU_ASSERT_EQUAL(kill(engine_pid, SIGTERM), 0);
	want = 3;
	pump(3000, done_in);
	CU_ASSERT_EQUAL(tt_wait(engine_pid), 0);
	engine_pid = -1;
	for (r = 90; r < 93; r++) {
		o = out_of(r, 1);
		CU_ASSERT_FATAL(o != NULL);
		CU_ASSERT(o->aborted);
		CU_ASSERT_EQUAL(o->reason, SL_ABORT_SHUTDOWN);
		CU_ASSERT(o->seq_ok);
		CU_ASSERT(o->header_ok);
	}
	CU_ASSERT(out_of(90, 1)->frags >= 3);
	CU_ASSERT(out_of(90, 1)->tokens == out_of(90, 1)->frags - 1);
	CU_ASSERT_EQUAL(out_of(91, 1)->frags, 1);
	CU_ASSERT_EQUAL(out_of(92, 1)->frags, 1);
	CU_ASSERT_EQUAL(out_of(92, 1)->tokens, 0);
	CU_ASSERT_EQUAL_FATAL(tt_read_file(stats_path, json, sizeof(json)), 0);
	CU_ASSERT_EQUAL(tt_json_num(json, "shutdown_aborts"), 3);
	CU_ASSERT_EQUAL(tt_json_num(json, "rel_pending"), 0);
	rel = strstr(json, "\"rel\": {");
	CU_ASSERT_FATAL(rel != NULL);
	CU_ASSERT_EQUAL(tt_json_num(rel, "acks_received"), 3);
	CU_ASSERT_EQUAL(tt_json_num(rel, "gave_up"), 0);
}

static bool
two_answers_of_95(void)
{
	const struct out_stream *o = out_of(95, 1);

	return o != NULL && o->frags >= 2;
}

/* The transform role: an answer stream started and not ended is cut
 * with ABORT (SHUTDOWN) at its next seq. */
static void
test_shutdown_transform(void)
{
	struct in_stream s;
	const struct out_stream *o;
	char json[4096];

	CU_ASSERT_FATAL(start_engine("transform", NULL) == 0);
	n_outs = 0;
	in_stream_init(&s, 95, 0, 1, 1);
	send_frag(&s, "One", 3, 0, 0, 0);
	send_frag(&s, " two", 4, 0, 0, 0);
	pump(2000, two_answers_of_95);
	CU_ASSERT_EQUAL(kill(engine_pid, SIGTERM), 0);
	want = 1;
	pump(3000, done_in);
	CU_ASSERT_EQUAL(tt_wait(engine_pid), 0);
	engine_pid = -1;
	o = out_of(95, 1);
	CU_ASSERT_FATAL(o != NULL);
	CU_ASSERT(o->aborted);
	CU_ASSERT_EQUAL(o->reason, SL_ABORT_SHUTDOWN);
	CU_ASSERT_EQUAL(o->frags, 3);
	CU_ASSERT(o->seq_ok);
	CU_ASSERT_STRING_EQUAL(o->text, "One two");
	CU_ASSERT_EQUAL_FATAL(tt_read_file(stats_path, json, sizeof(json)), 0);
	CU_ASSERT_EQUAL(tt_json_num(json, "shutdown_aborts"), 1);
	CU_ASSERT_EQUAL(tt_json_num(json, "rel_pending"), 0);
}

/* ---- timing ---- */

/* TTFT as the client sees it: first answer fragment - END sent. */
static double
ttft_ms(const struct out_stream *o, uint64_t end_sent_ns)
{
	return (double)(o->first_ns - end_sent_ns) / 1e6;
}

static void
test_ttft_prompt(void)
{
	const char *long_prompt = long_prompt_text();
	struct in_stream s;
	double short_ms, long_ms;
	unsigned int tokens;
	uint64_t sent;
	char json[4096];

	/* 20 ms a prompt token, scaled: 0.2 ms; ~1900 tokens ~ 380 ms. */
	CU_ASSERT_FATAL(start_engine("answer", "--prefill-per-token-ms", "20",
				     NULL) == 0);
	in_stream_init(&s, 50, 0, 1, 1);
	send_text(&s, "Who?", 0, 0);
	sent = sl_now_ns();
	send_frag(&s, NULL, 0, SL_FRAG_F_END, 0, 0);
	CU_ASSERT_EQUAL_FATAL(collect(1, 5000, 0), 1);
	short_ms = ttft_ms(out_of(50, 1), sent);
	tokens = out_of(50, 1)->tokens;

	in_stream_init(&s, 51, 0, 1, 1);
	send_text(&s, long_prompt, 0, 0);
	sent = sl_now_ns();
	send_frag(&s, NULL, 0, SL_FRAG_F_END, 0, 0);
	CU_ASSERT_EQUAL_FATAL(collect(1, 5000, 0), 1);
	long_ms = ttft_ms(out_of(51, 1), sent);
	tokens += out_of(51, 1)->tokens;
	CU_ASSERT(short_ms < 50);
	CU_ASSERT(long_ms > short_ms + 150);
	CU_ASSERT(long_ms < 3000);
	stop_and_stats(json, sizeof(json));
	CU_ASSERT(tt_json_num(json, "ttft_ms_mean") > 100);
	CU_ASSERT(tt_json_num(json, "tpot_ms_mean") > 0.1);
	CU_ASSERT(tt_json_num(json, "tpot_ms_mean") < 1.0);
	CU_ASSERT_EQUAL(tt_json_num(json, "requests_served"), 2);
	CU_ASSERT_EQUAL(tt_json_num(json, "tokens_out"), tokens);
	/* Input END to answer END: at least the time to the first token. */
	CU_ASSERT(tt_json_num(json, "output_ms_mean") >=
		  tt_json_num(json, "ttft_ms_mean"));
	CU_ASSERT(tt_json_num(json, "lines_out") >= 2);
	/* One prefill a prompt (one at a time), the rest decodes. */
	CU_ASSERT_EQUAL(tt_json_num(json, "lm_prefill_iterations"), 2);
	CU_ASSERT_EQUAL(tt_json_num(json, "lm_iterations"), tokens);
	CU_ASSERT_EQUAL(tt_json_num(json, "lm_preemptions"), 0);
}

static void
test_ttft_queue(void)
{
	struct in_stream s[4];
	double t[4];
	uint64_t sent;
	char json[4096];
	unsigned int i;

	/* Two sequences at a time, four prompts: two wait for a slot. 200 ms a
	 * token, scaled: 2 ms; an answer has >= 8 words, >= 16 ms. */
	CU_ASSERT_FATAL(start_engine("answer", "--max-batch", "2",
				     "--decode-ms", "200", NULL) == 0);
	for (i = 0; i < 4; i++) {
		in_stream_init(&s[i], 60 + i, 0, 1, 1);
		send_text(&s[i], question, 0, 0);
	}
	sent = sl_now_ns();
	for (i = 0; i < 4; i++)
		send_frag(&s[i], NULL, 0, SL_FRAG_F_END, 0, 0);
	CU_ASSERT_EQUAL_FATAL(collect(4, 10000, 0), 4);
	for (i = 0; i < 4; i++) {
		check_stream(out_of(60 + i, 1), NULL, 0);
		t[i] = ttft_ms(out_of(60 + i, 1), sent);
	}
	CU_ASSERT(t[2] > t[0] + 10 && t[2] > t[1] + 10);
	CU_ASSERT(t[3] > t[0] + 10 && t[3] > t[1] + 10);
	/* A queued prompt starts when a sequence ends, not before. */
	CU_ASSERT(t[2] + 1 >= (double)(out_of(60, 1)->end_ns - sent) / 1e6 ||
		  t[2] + 1 >= (double)(out_of(61, 1)->end_ns - sent) / 1e6);
	stop_and_stats(json, sizeof(json));
	CU_ASSERT_EQUAL(tt_json_num(json, "queue_max"), 2);
	CU_ASSERT_EQUAL(tt_json_num(json, "requests_served"), 4);
}

/* ---- a member of a pool: --stage-roles ---- */

/* What each role is asked in these tests, by the stage that asks it. */
static const struct {
	uint16_t stage;
	const char *role;
	const char *prefix;
	const char *input;
} pool_asks[] = {
	{1, "answer", "0", question},
	{2, "claims", "570", paragraph},
	{3, "queries", "300", claim},
};

#define POOL_ROLES "1:answer,2:claims,3:queries"
#define POOL_PREFIXES "2:570,3:300"

/* The number after "@key" in the stats of stage @stage ("stages"), or
 * -1 when there is none. */
static double
stage_num(const char *json, unsigned int stage, const char *key)
{
	const char *stages = strstr(json, "\"stages\": {");
	char head[16];

	if (stages == NULL)
		return -1;
	snprintf(head, sizeof(head), "\"%u\": {", stage);
	stages = strstr(stages, head);
	return stages != NULL ? tt_json_num(stages, key) : -1;
}

static unsigned int
n_done(void)
{
	unsigned int n = 0;

	for (unsigned int i = 0; i < n_outs; i++)
		n += outs[i].ended || outs[i].aborted;
	return n;
}

/*
 * One process serving three stages with their roles says, stream for
 * stream, what three single-role processes say: the same text, token for
 * token, each answer on its input's stage (from_stage too). A stage it
 * does not serve is refused: ABORT ENGINE.
 */
static void
test_pool_identical(void)
{
	static char single[3][TEXT_MAX], text[TEXT_MAX];
	unsigned int tokens[3], i;
	struct in_stream s[4];
	char json[8192];

	for (i = 0; i < 3; i++) {
		CU_ASSERT_FATAL(start_engine(pool_asks[i].role,
					     "--prefix-tokens",
					     pool_asks[i].prefix, NULL) == 0);
		want_stage = pool_asks[i].stage;
		in_stream_init(&s[0], 200 + i, 0, 1, pool_asks[i].stage - 1);
		s[0].stage = pool_asks[i].stage;
		send_text(&s[0], pool_asks[i].input, 2, SL_FRAG_F_END);
		CU_ASSERT_EQUAL_FATAL(collect(1, 5000, 20), 1);
		check_stream(out_of(200 + i, 1), single[i], TEXT_MAX);
		tokens[i] = out_of(200 + i, 1)->tokens;
		CU_ASSERT_EQUAL(tt_stop(&engine_pid), 0);
	}

	want_stage = 0;
	CU_ASSERT_FATAL(start_engine(NULL, "--stage-roles", POOL_ROLES,
				     "--prefix-tokens", POOL_PREFIXES,
				     "--prefix-cache", "1", NULL) == 0);
	for (i = 0; i < 4; i++) {
		in_stream_init(&s[i], 210 + i, 0, 1, (uint16_t)i);
		s[i].stage = (uint16_t)(i + 1);
	}
	/* In the loop together: every input whole, then the ENDs. */
	for (i = 0; i < 3; i++)
		send_text(&s[i], pool_asks[i].input, 3, 0);
	send_text(&s[3], question, 0, 0);
	for (i = 0; i < 4; i++)
		send_frag(&s[i], NULL, 0, SL_FRAG_F_END, 0, 0);
	CU_ASSERT_EQUAL_FATAL(collect(4, 5000, 20), 4);
	for (i = 0; i < 3; i++) {
		const struct out_stream *o = out_of(210 + i, 1);

		check_stream(o, text, sizeof(text));
		CU_ASSERT_STRING_EQUAL(text, single[i]);
		CU_ASSERT_EQUAL(o->tokens, tokens[i]);
		CU_ASSERT_EQUAL(o->stage, pool_asks[i].stage);
		CU_ASSERT_EQUAL(o->max_tokens_per_frag, 1);
	}
	check_abort(out_of(213, 1), SL_ABORT_ENGINE);
	CU_ASSERT_EQUAL(out_of(213, 1)->stage, 4);
	stop_and_stats(json, sizeof(json));
	want_stage = STAGE;
	CU_ASSERT_PTR_NOT_NULL(strstr(json, "\"role\": \"pool\""));
	CU_ASSERT_EQUAL(tt_json_num(json, "unknown_stage"), 1);
	CU_ASSERT_EQUAL(tt_json_num(json, "requests_served"), 3);
	CU_ASSERT_EQUAL(tt_json_num(json, "tokens_out"),
			tokens[0] + tokens[1] + tokens[2]);
	for (i = 0; i < 3; i++) {
		char role[32];

		snprintf(role, sizeof(role), "\"%u\": {\"role\": \"%s\"",
			 pool_asks[i].stage, pool_asks[i].role);
		CU_ASSERT_PTR_NOT_NULL(strstr(json, role));
		CU_ASSERT_EQUAL(stage_num(json, pool_asks[i].stage, "streams"),
				1);
		CU_ASSERT_EQUAL(
			stage_num(json, pool_asks[i].stage, "requests_served"),
			1);
		CU_ASSERT_EQUAL(
			stage_num(json, pool_asks[i].stage, "tokens_out"),
			tokens[i]);
		CU_ASSERT_EQUAL(
			stage_num(json, pool_asks[i].stage, "prefix_tokens"),
			atoi(pool_asks[i].prefix));
	}
	CU_ASSERT_EQUAL(stage_num(json, 4, "streams"), -1);
}

static bool
pool_answer_going(void)
{
	const struct out_stream *o = out_of(220, 1);

	return o != NULL && o->frags >= 20;
}

static bool
pool_answer_done(void)
{
	const struct out_stream *o = out_of(220, 1);

	return o != NULL && (o->ended || o->aborted);
}

static bool
pool_both_done(void)
{
	return n_done() >= 2;
}

/* An answer of 300 tokens (2 ms each at 200 ms a token, scaled by 0.01);
 * when 20 are out, a claims prompt of a 6000-token few-shot prefix (10
 * ms a prompt token: 0.6 s of prefill) if @claims. The answer's longest
 * wait between two tokens. */
static uint64_t
pool_answer_gap(bool claims)
{
	struct in_stream a, c;
	uint64_t gap;

	n_outs = 0;
	want_stage = 0;
	in_stream_init(&a, 220, 0, 1, 0);
	a.stage = 1;
	send_text(&a, "max_tokens: 300\n", 0, 0);
	send_text(&a, question, 0, SL_FRAG_F_END);
	pump(5000, pool_answer_going);
	CU_ASSERT_FATAL(pool_answer_going());
	if (claims) {
		in_stream_init(&c, 221, 0, 1, 1);
		c.stage = 2;
		send_text(&c, paragraph, 0, SL_FRAG_F_END);
		pump(10000, pool_both_done);
		check_stream(out_of(221, 1), NULL, 0);
		/* Its first token came after its prefill (0.6 s). */
		CU_ASSERT(out_of(221, 1)->first_ns >
			  out_of(220, 1)->first_ns + 500000000ull);
	} else {
		pump(10000, pool_answer_done);
	}
	check_stream(out_of(220, 1), NULL, 0);
	CU_ASSERT_EQUAL(out_of(220, 1)->tokens, 300);
	gap = out_of(220, 1)->max_gap_ns;
	want_stage = STAGE;
	return gap;
}

/*
 * One loop for all the member's stages: a claims prefill of 0.6 s stops
 * the answer's decodes meanwhile (vLLM 0.2's prefill iterations), as it
 * would in a single-role engine holding both; an answer engine alone
 * decodes without such a wait.
 */
static void
test_pool_shared_loop(void)
{
	uint64_t pooled, alone;

	CU_ASSERT_FATAL(start_engine(NULL, "--stage-roles", "1:answer,2:claims",
				     "--prefix-tokens", "2:6000", "--decode-ms",
				     "200", "--prefill-per-token-ms", "10",
				     NULL) == 0);
	pooled = pool_answer_gap(true);
	CU_ASSERT_EQUAL(tt_stop(&engine_pid), 0);
	CU_ASSERT_FATAL(start_engine("answer", "--decode-ms", "200",
				     "--prefill-per-token-ms", "10",
				     NULL) == 0);
	alone = pool_answer_gap(false);
	CU_ASSERT_EQUAL(tt_stop(&engine_pid), 0);
	if (pooled < 550000000ull || alone > 300000000ull)
		printf("\n  longest wait between answer tokens: %.1f ms with "
		       "the claims prefill, %.1f ms alone",
		       (double)pooled / 1e6, (double)alone / 1e6);
	CU_ASSERT(pooled >= 550000000ull);
	CU_ASSERT(alone < 300000000ull);
}

/*
 * The stages' few-shot prefixes compete for the member's prefix cache
 * (LRU). Claims (C, stage 2), answer (A, stage 1, no prefix) and queries
 * (Q, stage 3) one after another: C C A C Q C Q Q. With one slot a
 * switch between C and Q evicts the other's prefix; with two both stay.
 */
static void
test_pool_evictions(void)
{
	static const unsigned int order[] = {1, 1, 0, 1, 2, 1, 2, 2};
	/* per slot count: stage 2 {hits, misses, evictions}, stage 3 ... */
	static const int want[2][2][3] = {
		{{2, 2, 2}, {1, 2, 1}},
		{{3, 1, 0}, {2, 1, 0}},
	};
	char json[8192];

	for (unsigned int slots = 1; slots <= 2; slots++) {
		const int(*w)[3] = want[slots - 1];
		char cache[4];

		snprintf(cache, sizeof(cache), "%u", slots);
		CU_ASSERT_FATAL(start_engine(NULL, "--stage-roles", POOL_ROLES,
					     "--prefix-tokens", POOL_PREFIXES,
					     "--prefix-cache", cache,
					     NULL) == 0);
		want_stage = 0;
		for (unsigned int k = 0; k < 8; k++) {
			const unsigned int r = order[k];
			struct in_stream s;

			in_stream_init(&s, 230 + k, 0, 1,
				       pool_asks[r].stage - 1);
			s.stage = pool_asks[r].stage;
			send_text(&s, pool_asks[r].input, 0, SL_FRAG_F_END);
			CU_ASSERT_EQUAL_FATAL(collect(1, 5000, 0), 1);
			check_stream(out_of(230 + k, 1), NULL, 0);
		}
		want_stage = STAGE;
		stop_and_stats(json, sizeof(json));
		CU_ASSERT_EQUAL(tt_json_num(json, "requests_served"), 8);
		CU_ASSERT_EQUAL(tt_json_num(json, "lm_prefix_hits"),
				w[0][0] + w[1][0]);
		CU_ASSERT_EQUAL(tt_json_num(json, "lm_prefix_misses"),
				w[0][1] + w[1][1]);
		CU_ASSERT_EQUAL(tt_json_num(json, "lm_prefix_evictions"),
				w[0][2] + w[1][2]);
		for (unsigned int k = 0; k < 2; k++) {
			unsigned int st = k + 2;

			CU_ASSERT_EQUAL(stage_num(json, st, "prefix_hits"),
					w[k][0]);
			CU_ASSERT_EQUAL(stage_num(json, st, "prefix_misses"),
					w[k][1]);
			CU_ASSERT_EQUAL(stage_num(json, st, "prefix_evictions"),
					w[k][2]);
		}
		/* The answer has no prefix: it takes no slot. */
		CU_ASSERT_EQUAL(stage_num(json, 1, "prefix_misses"), 0);
		CU_ASSERT_EQUAL(stage_num(json, 1, "requests_served"), 1);
		CU_ASSERT_EQUAL(stage_num(json, 2, "requests_served"), 4);
		CU_ASSERT_EQUAL(stage_num(json, 3, "requests_served"), 3);
	}
}

/* Lists it cannot serve: exit 2, nothing started. */
static void
test_pool_refusals(void)
{
	static const char *const bad[][6] = {
		{"--stage-roles", "1:bm25"},
		{"--stage-roles", "0:answer"},
		{"--stage-roles", "17:answer"},
		{"--stage-roles", "1:answer,1:claims"},
		{"--stage-roles", "1:answer", "--role", "answer"},
		{"--stage-roles", "1:answer", "--transform", "upper"},
		{"--stage-roles", "1:answer", "--http", "127.0.0.1:0"},
		{"--stage-roles", "2:claims", "--prefix-tokens", "2:x"},
		{"--stage-roles", "2:claims", "--prefix-tokens", "2:5,2:6"},
		{"--role", "claims", "--prefix-tokens", "2:570"},
		{"--stage-roles", "2:claims", "--prefix-tokens", "2:200000",
		 "--kv-tokens"},
	};
	char listen[32];

	snprintf(listen, sizeof(listen), "127.0.0.1:%u", tt_free_port());
	for (unsigned int i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *argv[12];
		unsigned int n = 0;

		argv[n++] = (char *)engine_bin;
		argv[n++] = "--listen";
		argv[n++] = listen;
		for (unsigned int k = 0; k < 6 && bad[i][k] != NULL; k++)
			argv[n++] = (char *)bad[i][k];
		if (i == sizeof(bad) / sizeof(bad[0]) - 1)
			argv[n++] = "100000"; /* the prefix does not fit */
		argv[n] = NULL;
		if (tt_run(argv, "/dev/null", "/dev/null") != 2)
			printf("\n  not refused: %s %s %s %s", argv[3], argv[4],
			       n > 5 ? argv[5] : "", n > 6 ? argv[6] : "");
		CU_ASSERT_EQUAL(tt_run(argv, "/dev/null", "/dev/null"), 2);
	}
}

/* ---- openai: answers from a model server ---- */

static char upstream_url[64];

/* The server and an engine bridging to it with NULL-ended options. */
static int
start_bridge(const char *a0, const char *a1, const char *a2, const char *a3)
{
	uint16_t port = tt_openai_start();

	if (port == 0)
		return -1;
	snprintf(upstream_url, sizeof(upstream_url), "http://127.0.0.1:%u/",
		 port);
	return start_engine("openai", "--upstream", upstream_url, a0, a1, a2,
			    a3, NULL);
}

/* @req's answer is "echo: " + @prompt, streamed piece by piece. */
static void
check_echo(uint64_t req, const char *prompt)
{
	static char text[TEXT_MAX], want[TEXT_MAX];
	const struct out_stream *o = out_of(req, 1);

	snprintf(want, sizeof(want), "echo: %s", prompt);
	check_stream(o, text, sizeof(text));
	CU_ASSERT_STRING_EQUAL(text, want);
	/* One fragment a server event (TT_OPENAI_PIECE bytes), then END. */
	CU_ASSERT_EQUAL(o->frags,
			(strlen(want) + TT_OPENAI_PIECE - 1) / TT_OPENAI_PIECE +
				1);
}

static void
run_openai(const char *api)
{
	static char prompt[TEXT_MAX];
	struct in_stream s;
	char json[8192];

	CU_ASSERT_FATAL(
		start_bridge("--api", api, "--prompt", "Q: {input} A:") == 0);
	in_stream_init(&s, 80, 0, 1, 1);
	send_text(&s, question, 3, SL_FRAG_F_END);
	CU_ASSERT_EQUAL_FATAL(collect(1, 5000, 50), 1);
	snprintf(prompt, sizeof(prompt), "Q: %s A:", question);
	check_echo(80, prompt);
	stop_and_stats(json, sizeof(json));
	tt_openai_stop();
	CU_ASSERT_EQUAL(tt_json_num(json, "requests_served"), 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(json, "\"upstream\": {\"requests\": 1, "
					    "\"retries\": 0"));
	CU_ASSERT_PTR_NOT_NULL(strstr(json, "\"done\": 1, \"errors\": 0"));
	/* No key was given: none was sent. */
	CU_ASSERT_STRING_EQUAL(tt_openai_last_auth(), "");
}

static void
test_openai_completions(void)
{
	run_openai("completions");
}

static void
test_openai_chat(void)
{
	run_openai("chat");
}

/*
 * Every way a server fails, at once on one bridge, each its own ABORT
 * reason; the clean answer beside them is whole; the 503 is tried again
 * and answered.
 */
static void
test_openai_faults(void)
{
	static const struct {
		uint64_t req;
		const char *prompt;
		uint8_t reason; /* NONE: answered */
	} cases[] = {
		{90, "a clean one", SL_ABORT_NONE},
		{91, "FAULT_500", SL_ABORT_UPSTREAM},
		{92, "FAULT_GARBAGE", SL_ABORT_UPSTREAM_MALFORMED},
		{93, "FAULT_ERROR", SL_ABORT_UPSTREAM},
		{94, "FAULT_CLOSE", SL_ABORT_UPSTREAM_CLOSED},
		{95, "FAULT_STALL", SL_ABORT_UPSTREAM_TIMEOUT},
		{96, "FAULT_503ONCE", SL_ABORT_NONE},
	};
	unsigned int n = sizeof(cases) / sizeof(cases[0]), i;
	struct in_stream s;
	char json[8192];

	CU_ASSERT_FATAL(start_bridge("--idle-timeout-ms", "400",
				     "--max-num-seqs", "16") == 0);
	for (i = 0; i < n; i++) {
		in_stream_init(&s, cases[i].req, 0, 1, 1);
		send_text(&s, cases[i].prompt, 0, SL_FRAG_F_END);
	}
	CU_ASSERT_EQUAL(collect(n, 5000, 50), n);
	for (i = 0; i < n; i++) {
		const struct out_stream *o = out_of(cases[i].req, 1);

		if (cases[i].reason == SL_ABORT_NONE) {
			check_echo(cases[i].req, cases[i].prompt);
			continue;
		}
		CU_ASSERT_FATAL(o != NULL);
		CU_ASSERT(o->aborted);
		CU_ASSERT_EQUAL(o->reason, cases[i].reason);
		CU_ASSERT(o->seq_ok);
		if (!o->aborted || o->reason != cases[i].reason)
			printf("\n  request %llu: aborted %d reason %u",
			       (unsigned long long)cases[i].req, o->aborted,
			       o->reason);
	}
	stop_and_stats(json, sizeof(json));
	tt_openai_stop();
	/* 500 and 503 retried once each (--retries 1): 9 requests seen. */
	CU_ASSERT_EQUAL(tt_openai_requests(), n + 2);
	CU_ASSERT_PTR_NOT_NULL(
		strstr(json, "\"upstream\": {\"requests\": 7, \"retries\": 2"));
	CU_ASSERT_PTR_NOT_NULL(strstr(json,
				      "\"done\": 2, \"errors\": 2, "
				      "\"timeouts\": 1, \"malformed\": 1, "
				      "\"closed\": 1, \"active\": 0"));
	CU_ASSERT_EQUAL(tt_json_num(json, "requests_served"), 2);
}

/* A server nobody listens on: CLOSED after the retry; a key from a file
 * goes out as a bearer token and nowhere else. */
/*
 * The emulator's HTTP mode against the bridge: an answer engine serving
 * both UDP and --http, asked the same question once directly and once
 * through a bridge: the same text, word for word (the answer depends on
 * the input's bytes and the seed only).
 */
static void
test_openai_against_emulator(void)
{
	static char direct[TEXT_MAX], bridged[TEXT_MAX];
	char udp[32], http[32], stats[160];
	struct sockaddr_in emu_addr;
	struct in_stream s;
	pid_t emu;

	snprintf(udp, sizeof(udp), "127.0.0.1:%u", tt_free_port());
	snprintf(http, sizeof(http), "127.0.0.1:%u", tt_free_port());
	snprintf(stats, sizeof(stats), "%s/emu.json", tmpdir);
	unlink(stats);
	{
		char *argv[] = {(char *)engine_bin,
				"--listen",
				udp,
				"--role",
				"answer",
				"--time-scale",
				"0.01",
				"--http",
				http,
				"--stats-file",
				stats,
				"--quiet",
				NULL};

		emu = tt_spawn(argv, NULL, NULL);
	}
	CU_ASSERT_FATAL(emu > 0);
	CU_ASSERT_FATAL(tt_wait_file(stats, 300, &emu) == 0);
	/* Directly, over UDP. */
	sl_endpoint_parse(udp, false, &emu_addr);
	sl_sock_set_peer(client, &emu_addr);
	in_stream_init(&s, 120, 0, 1, 1);
	send_text(&s, question, 2, SL_FRAG_F_END);
	CU_ASSERT_EQUAL_FATAL(collect(1, 5000, 50), 1);
	check_stream(out_of(120, 1), direct, sizeof(direct));
	/* Through a bridge to its HTTP side, completions then chat. */
	snprintf(upstream_url, sizeof(upstream_url), "http://%s", http);
	CU_ASSERT_FATAL(
		start_engine("openai", "--upstream", upstream_url, NULL) == 0);
	in_stream_init(&s, 121, 0, 1, 1);
	send_text(&s, question, 3, SL_FRAG_F_END);
	CU_ASSERT_EQUAL_FATAL(collect(1, 5000, 50), 1);
	check_stream(out_of(121, 1), bridged, sizeof(bridged));
	CU_ASSERT_STRING_EQUAL(bridged, direct);
	CU_ASSERT(strlen(direct) > 20);
	CU_ASSERT_EQUAL(tt_stop(&engine_pid), 0);
	CU_ASSERT_FATAL(start_engine("openai", "--upstream", upstream_url,
				     "--api", "chat", NULL) == 0);
	in_stream_init(&s, 122, 0, 1, 1);
	send_text(&s, question, 0, SL_FRAG_F_END);
	CU_ASSERT_EQUAL_FATAL(collect(1, 5000, 50), 1);
	check_stream(out_of(122, 1), bridged, sizeof(bridged));
	CU_ASSERT_STRING_EQUAL(bridged, direct);
	CU_ASSERT_EQUAL(tt_stop(&engine_pid), 0);
	CU_ASSERT_EQUAL(tt_stop(&emu), 0);
}

static void
test_openai_unreachable_and_key(void)
{
	char key_path[160], json[8192];
	struct in_stream s;
	FILE *f;

	snprintf(key_path, sizeof(key_path), "%s/key", tmpdir);
	f = fopen(key_path, "w");
	CU_ASSERT_FATAL(f != NULL);
	fputs("sk-test-4f9a\n", f);
	fclose(f);
	CU_ASSERT_FATAL(start_bridge("--api-key-file", key_path, NULL, NULL) ==
			0);
	in_stream_init(&s, 97, 0, 1, 1);
	send_text(&s, "hello", 0, SL_FRAG_F_END);
	CU_ASSERT_EQUAL_FATAL(collect(1, 5000, 50), 1);
	check_echo(97, "hello");
	stop_and_stats(json, sizeof(json));
	tt_openai_stop();
	CU_ASSERT_STRING_EQUAL(tt_openai_last_auth(), "Bearer sk-test-4f9a");
	CU_ASSERT_PTR_NULL(strstr(json, "sk-test"));

	snprintf(upstream_url, sizeof(upstream_url), "http://127.0.0.1:%u",
		 tt_free_port());
	CU_ASSERT_FATAL(
		start_engine("openai", "--upstream", upstream_url, NULL) == 0);
	in_stream_init(&s, 98, 0, 1, 1);
	send_text(&s, "hello", 0, SL_FRAG_F_END);
	CU_ASSERT_EQUAL_FATAL(collect(1, 5000, 50), 1);
	CU_ASSERT(out_of(98, 1)->aborted);
	CU_ASSERT_EQUAL(out_of(98, 1)->reason, SL_ABORT_UPSTREAM_CLOSED);
	stop_and_stats(json, sizeof(json));
	CU_ASSERT_PTR_NOT_NULL(strstr(json, "\"retries\": 1"));
	CU_ASSERT_PTR_NOT_NULL(strstr(json, "\"closed\": 1"));
}

int
main(void)
{
	struct sockaddr_in local;
	CU_pSuite s;
	unsigned int fails;

	engine_bin = getenv("SL_ENGINE");
	if (engine_bin == NULL) {
		fprintf(stderr, "SL_ENGINE not set: skipped\n");
		return 77;
	}
	signal(SIGPIPE, SIG_IGN);
	if (mkdtemp(tmpdir) == NULL)
		return 1;
	snprintf(stats_path, sizeof(stats_path), "%s/engine.json", tmpdir);
	sl_endpoint_parse("127.0.0.1:0", false, &local);
	client = sl_sock_open(&local);
	if (client == NULL)
		return 1;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	s = CU_add_suite("engine roles", NULL, NULL);
	CU_add_test(s, "answer: one paragraph, deterministic", test_answer);
	CU_add_test(s, "claims: lines of input words", test_claims);
	CU_add_test(s, "queries: lines from the claim", test_queries);
	CU_add_test(s, "bm25: top 5, tokenization-independent", test_bm25);
	CU_add_test(s, "encoder: one embedding token", test_encoder);
	CU_add_test(s, "rerank: waits for both inputs", test_rerank_join);
	CU_add_test(s, "markers counted, not answered", test_markers);
	CU_add_test(s, "ABORT in, ABORT out", test_abort);
	CU_add_test(s, "OVERLOAD past --max-queue", test_overload);
	CU_add_test(s, "PAUSE follows the admission queue", test_pause);
	CU_add_test(s, "--max-wait-ms: PAUSE, then OVERLOAD", test_max_wait);
	CU_add_test(s, "encoder: batches of --batch", test_encoder_batch);
	CU_add_test(s, "prompt over the KV budget: TOO_LONG", test_too_long);
	CU_add_test(s, "max_tokens: N gives exactly N tokens", test_directive);
	CU_add_test(s, "--serial-children: a request's answers in turn",
		    test_serial_children);
	CU_add_test(s, "SIGTERM: ABORT SHUTDOWN for answers owed",
		    test_shutdown);
	CU_add_test(s, "SIGTERM: transform answers cut",
		    test_shutdown_transform);
	CU_add_test(s, "TTFT grows with the prompt", test_ttft_prompt);
	CU_add_test(s, "TTFT grows with queueing", test_ttft_queue);
	CU_add_test(s, "pool: three roles, each as its single-role engine",
		    test_pool_identical);
	CU_add_test(s, "pool: one loop, a prefill stalls the other's decodes",
		    test_pool_shared_loop);
	CU_add_test(s, "pool: prefix evictions counted per stage",
		    test_pool_evictions);
	CU_add_test(s, "pool: bad --stage-roles, --prefix-tokens refused",
		    test_pool_refusals);
	CU_add_test(s, "openai: completions streamed through",
		    test_openai_completions);
	CU_add_test(s, "openai: chat streamed through", test_openai_chat);
	CU_add_test(s, "openai: each server fault its own ABORT",
		    test_openai_faults);
	CU_add_test(s, "openai: unreachable server; the key",
		    test_openai_unreachable_and_key);
	CU_add_test(s, "openai: the emulator's HTTP mode, same words",
		    test_openai_against_emulator);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	fails = CU_get_number_of_failures();
	CU_cleanup_registry();

	tt_stop(&engine_pid);
	sl_sock_close(client);
	unlink(stats_path);
	rmdir(tmpdir);
	return fails ? 1 : 0;
}
