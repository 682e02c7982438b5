/* SPDX-License-Identifier: MIT */
/*
 * sluicectl - the command line client of sluiced's control API
 * (proto/sluice.proto, control/README.md).
 *
 *   sluicectl [--socket PATH | --tcp HOST:PORT [--token-file PATH]]
 *             COMMAND [ARGS]
 *
 * One request per command over the unix socket (default
 * /run/sluice/sluiced.sock) or TCP with a token, read from a file only its
 * owner can read (--token-file) or the environment variable SLUICE_TOKEN;
 * never from the command line, where every local user sees it (ps). Over
 * TCP a request larger than sluiced reads before authentication (4 KiB) is
 * preceded by a small GetVersion that authenticates the connection. Exit
 * status: 0 done; 1 sluiced refused the request; 2 bad usage; 3 sluiced
 * could not be reached or spoke nonsense. A failure is one line on stderr:
 *
 *   sluicectl: apply: demo.yaml:12: pipelines[0].stages[1].aggregation: ...
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "ctl_cluster.h"
#include "sl_cluster.h"
#include "sl_frame.h"
#include "sl_opt.h"
#include "sl_stats_def.h"
#include "sl_tune_sim.h"
#include "sluice.pb-c.h"

#ifndef SL_VERSION
#define SL_VERSION "unknown"
#endif

#define DEFAULT_SOCKET "/run/sluice/sluiced.sock"
#define EXIT_REFUSED 1
#define EXIT_USAGE 2
#define EXIT_UNREACHABLE 3
#define IO_TIMEOUT_S 10
#define TOKEN_MAX 256
/* What sluiced reads on TCP before a valid token (SL_API_PREAUTH_FRAME_MAX). */
#define PREAUTH_FRAME_MAX 4096

struct ctl {
	const char *socket_path;
	const char *tcp;
	const char *token;
	const char *cmd;
	int fd;
	bool authenticated; /* a request on this TCP connection succeeded */
	uint64_t next_id;
};

static void __attribute__((format(printf, 2, 3)))
fail_line(const struct ctl *c, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "sluicectl: ");
	if (c != NULL && c->cmd != NULL)
		fprintf(stderr, "%s: ", c->cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* ------------------------------------------------------------- transport */

static int
connect_unix(struct ctl *c)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	int fd;

	if (strlen(c->socket_path) >= sizeof(sun.sun_path)) {
		fail_line(c, "socket path too long: %s", c->socket_path);
		return -1;
	}
	memcpy(sun.sun_path, c->socket_path, strlen(c->socket_path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0) {
		fail_line(c, "cannot connect to %s: %s", c->socket_path,
			  strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

static int
connect_tcp(struct ctl *c)
{
	struct addrinfo hints = {.ai_family = AF_INET,
				 .ai_socktype = SOCK_STREAM};
	struct addrinfo *res = NULL;
	char host[256];
	const char *colon = strrchr(c->tcp, ':');
	int fd = -1, rc;

	if (colon == NULL || colon == c->tcp || colon[1] == '\0' ||
	    (size_t)(colon - c->tcp) >= sizeof(host)) {
		fail_line(c, "--tcp: must be HOST:PORT, got \"%s\"", c->tcp);
		return -2;
	}
	memcpy(host, c->tcp, (size_t)(colon - c->tcp));
	host[colon - c->tcp] = '\0';
	rc = getaddrinfo(host, colon + 1, &hints, &res);
	if (rc != 0) {
		fail_line(c, "cannot resolve %s: %s", c->tcp, gai_strerror(rc));
		return -1;
	}
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, res->ai_addr, res->ai_addrlen) != 0) {
		fail_line(c, "cannot connect to %s: %s", c->tcp,
			  strerror(errno));
		if (fd >= 0)
			close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	return fd;
}

static int
ctl_connect(struct ctl *c)
{
	struct timeval tv = {IO_TIMEOUT_S, 0};
	int fd;

	if (c->fd >= 0)
		return 0;
	fd = c->tcp ? connect_tcp(c) : connect_unix(c);
	if (fd < 0)
		return fd == -2 ? EXIT_USAGE : EXIT_UNREACHABLE;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	c->fd = fd;
	return 0;
}

static int
io_all(int fd, void *buf, size_t len, bool writing)
{
	uint8_t *p = buf;

	while (len > 0) {
		ssize_t n = writing ? send(fd, p, len, MSG_NOSIGNAL)
				    : recv(fd, p, len, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0)
			errno = ECONNRESET;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Print a refusal: "FIELD: message" unless the message names the field. */
static void
print_error(const struct ctl *c, const Sluice__V1__Error *e)
{
	char named[sizeof(": : ") + 128];

	/* A compiler line "FILE:LINE: FIELD: ..." names it already. */
	snprintf(named, sizeof(named), ": %s: ", e->field);
	if (e->field[0] != '\0' && strstr(e->message, named) == NULL &&
	    strncmp(e->message, named + 2, strlen(named + 2)) != 0)
		fail_line(c, "%s: %s", e->field, e->message);
	else if (e->message[0] != '\0')
		fail_line(c, "%s", e->message);
	else
		fail_line(c, "refused (code %d)", (int)e->code);
}

/*
 * Send @req, wait for its Response. Returns 0 with *out set (the caller
 * frees it), or the exit status after printing the failure.
 */
static int call(struct ctl *c, Sluice__V1__Request *req,
		Sluice__V1__Response **out);

/* Over TCP, a request too large for an unauthenticated connection goes
 * after a small one that authenticates it. */
static int
authenticate(struct ctl *c)
{
	Sluice__V1__Request req = SLUICE__V1__REQUEST__INIT;
	Sluice__V1__GetVersion gv = SLUICE__V1__GET_VERSION__INIT;
	Sluice__V1__Response *r;
	int rc;

	req.body_case = SLUICE__V1__REQUEST__BODY_GET_VERSION;
	req.get_version = &gv;
	rc = call(c, &req, &r);
	if (rc == 0)
		sluice__v1__response__free_unpacked(r, NULL);
	return rc;
}

static int
call(struct ctl *c, Sluice__V1__Request *req, Sluice__V1__Response **out)
{
	uint8_t hdr[SL_FRAME_HDR];
	Sluice__V1__Response *r;
	uint8_t *buf;
	size_t len;
	uint32_t n;
	int rc;

	*out = NULL;
	rc = ctl_connect(c);
	if (rc != 0)
		return rc;
	if (c->tcp != NULL && !c->authenticated && c->token != NULL) {
		req->token = (char *)c->token;
		if (sluice__v1__request__get_packed_size(req) >
		    PREAUTH_FRAME_MAX - 64) {
			rc = authenticate(c);
			if (rc != 0)
				return rc;
		}
	}
	req->id = ++c->next_id;
	/* Only TCP reads it: a unix socket is never handed the secret. */
	if (c->token != NULL && c->tcp != NULL)
		req->token = (char *)c->token;
	len = sluice__v1__request__get_packed_size(req);
	if (len > SL_FRAME_MAX) {
		fail_line(c, "request of %zu bytes exceeds the 1 MiB frame",
			  len);
		return EXIT_USAGE;
	}
	buf = malloc(SL_FRAME_HDR + len);
	if (buf == NULL) {
		fail_line(c, "out of memory");
		return EXIT_UNREACHABLE;
	}
	sl_frame_put_header(buf, (uint32_t)len);
	sluice__v1__request__pack(req, buf + SL_FRAME_HDR);
	rc = io_all(c->fd, buf, SL_FRAME_HDR + len, true);
	free(buf);
	if (rc != 0 || io_all(c->fd, hdr, sizeof(hdr), false) != 0) {
		fail_line(c, "%s: %s", c->tcp ? c->tcp : c->socket_path,
			  errno == EAGAIN ? "no answer in time"
					  : strerror(errno));
		return EXIT_UNREACHABLE;
	}
	n = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 |
	    (uint32_t)hdr[2] << 8 | hdr[3];
	if (n == 0 || n > SL_FRAME_MAX) {
		fail_line(c, "bad answer: frame of %" PRIu32 " bytes", n);
		return EXIT_UNREACHABLE;
	}
	buf = malloc(n);
	if (buf == NULL || io_all(c->fd, buf, n, false) != 0) {
		fail_line(c, "answer cut short: %s", strerror(errno));
		free(buf);
		return EXIT_UNREACHABLE;
	}
	r = sluice__v1__response__unpack(NULL, n, buf);
	free(buf);
	if (r == NULL) {
		fail_line(c, "bad answer: not a Response");
		return EXIT_UNREACHABLE;
	}
	if (r->error != NULL) {
		print_error(c, r->error);
		sluice__v1__response__free_unpacked(r, NULL);
		return EXIT_REFUSED;
	}
	if (r->id != req->id) {
		fail_line(c, "bad answer: id %" PRIu64 " for request %" PRIu64,
			  r->id, req->id);
		sluice__v1__response__free_unpacked(r, NULL);
		return EXIT_UNREACHABLE;
	}
	c->authenticated = true;
	*out = r;
	return 0;
}

/* The answer must hold @result_case. */
static int
expect(struct ctl *c, Sluice__V1__Response *r, int result_case)
{
	if ((int)r->result_case == result_case)
		return 0;
	fail_line(c, "bad answer: result %d, expected %d", (int)r->result_case,
		  result_case);
	sluice__v1__response__free_unpacked(r, NULL);
	return EXIT_UNREACHABLE;
}

/* ------------------------------------------------------------- arguments */

struct cmd_opts {
	const char *file;
	const char *pipeline;
	const char *stage;
	const char *name;
	const char *address;
	const char *guard;
	const char *pool;
	const char *tenant;
	bool public_;
	const char *literal;
	const char *regex;
	bool dry_run;
	bool json;
	bool reset;
	uint64_t iterations;
	uint64_t interval_ms;
	double load_bound;      /* 0: not given */
	uint64_t warm_prefixes; /* 0: not given */
	const char *positional;
	bool apply;                     /* tune: apply the winner */
	struct sl_tune_sim_params tune; /* tune: the job */
	bool tune_trials_given;         /* --trials (not for Hyperband) */
};

enum {
	OPT_FILE = 'f',
	OPT_HELP = 'h',
	OPT_PIPELINE = 256,
	OPT_STAGE,
	OPT_NAME,
	OPT_ADDRESS,
	OPT_DRY_RUN,
	OPT_JSON,
	OPT_RESET,
	OPT_ITERATIONS,
	OPT_INTERVAL,
	OPT_GUARD,
	OPT_LITERAL,
	OPT_REGEX,
	OPT_POOL,
	OPT_TENANT,
	OPT_PUBLIC,
	OPT_LOAD_BOUND,
	OPT_WARM_PREFIXES,
	OPT_APPLY,
	/* tune's job, parsed by tune_opt() */
	OPT_TUNER,
	OPT_NODES,
	OPT_N_C,
	OPT_TRIALS,
	OPT_EPSILON,
	OPT_BUDGET,
	OPT_BIAS,
	OPT_HETEROGENEITY,
	OPT_SEED,
	OPT_NOISE_SEED,
	OPT_UNIT_REQUESTS,
	OPT_MAX_UNITS,
	OPT_ETA,
	OPT_PREFIX_CACHE,
	OPT_PROXY_NODES,
	OPT_SLO_MS,
};

struct command {
	const char *name; /* "guard add": a word and its subcommand */
	const char *usage;
	const char *help;
	const char *shortopts;
	const struct option *longopts;
	bool positional; /* takes one optional word */
	int (*run)(struct ctl *c, const struct cmd_opts *o);
};

/* --------------------------------------------------------------- printing */

static const char *
kind_name(Sluice__V1__StageKind k)
{
	switch (k) {
	case SLUICE__V1__STAGE_KIND__STAGE_KIND_COUNT:
		return "count";
	case SLUICE__V1__STAGE_KIND__STAGE_KIND_SUM:
		return "sum";
	case SLUICE__V1__STAGE_KIND__STAGE_KIND_TOPK:
		return "topk";
	case SLUICE__V1__STAGE_KIND__STAGE_KIND_CONCAT:
		return "concat";
	default:
		return "engine";
	}
}

static const char *
split_name(Sluice__V1__Split s)
{
	switch (s) {
	case SLUICE__V1__SPLIT__SPLIT_LINE:
		return "line";
	case SLUICE__V1__SPLIT__SPLIT_SENTENCE:
		return "sentence";
	case SLUICE__V1__SPLIT__SPLIT_REGEX:
		return "regex";
	default:
		return "none";
	}
}

static const char *const policy_names[] = {
	[SLUICE__V1__BALANCE__BALANCE_ROUND_ROBIN] = "round_robin",
	[SLUICE__V1__BALANCE__BALANCE_LEAST_LOADED] = "least_loaded",
	[SLUICE__V1__BALANCE__BALANCE_HASH_REQUEST] = "hash_request",
	[SLUICE__V1__BALANCE__BALANCE_PROMPT_AWARE] = "prompt_aware",
};

static const char *
policy_name(Sluice__V1__Balance b)
{
	return (unsigned int)b < sizeof(policy_names) / sizeof(policy_names[0])
		       ? policy_names[b]
		       : "?";
}

/* The policy a word names ("least_outstanding": least_loaded), or -1. */
static int
policy_parse(const char *s)
{
	if (strcmp(s, "least_outstanding") == 0)
		return SLUICE__V1__BALANCE__BALANCE_LEAST_LOADED;
	for (size_t i = 0; i < sizeof(policy_names) / sizeof(policy_names[0]);
	     i++)
		if (strcmp(s, policy_names[i]) == 0)
			return (int)i;
	return -1;
}

static void
print_pipeline(const Sluice__V1__Pipeline *pl)
{
	printf("pipeline %s (id %" PRIu32 "): %zu stages, %zu edges\n",
	       pl->name, pl->id, pl->n_stages, pl->n_edges);
	for (size_t s = 0; s < pl->n_stages; s++) {
		const Sluice__V1__Stage *st = pl->stages[s];

		printf("  stage %" PRIu32 " %s: %s, aggregation %" PRIu32
		       ", depth %" PRIu32,
		       st->id, st->name, kind_name(st->kind), st->aggregation,
		       st->depth);
		if (st->kind == SLUICE__V1__STAGE_KIND__STAGE_KIND_ENGINE)
			printf(", %s", policy_name(st->balance));
		if (st->pool[0] != '\0')
			printf(", pool %s", st->pool);
		if (st->kind == SLUICE__V1__STAGE_KIND__STAGE_KIND_TOPK)
			printf(", k %" PRIu32, st->topk);
		if (st->load_bound > 1)
			printf(", load_bound %.2f", st->load_bound);
		printf("\n");
		for (size_t i = 0; i < st->n_instances; i++)
			printf("    instance %s %s:%" PRIu32 "%s\n",
			       st->instances[i]->name,
			       st->instances[i]->address,
			       st->instances[i]->port,
			       st->instances[i]->gpu ? " (local GPU)" : "");
	}
	for (size_t e = 0; e < pl->n_edges; e++) {
		const Sluice__V1__Edge *ed = pl->edges[e];

		printf("  edge %s -> %s: %s", ed->from, ed->to,
		       ed->mode == SLUICE__V1__EDGE_MODE__EDGE_MODE_BUFFER
			       ? "buffer"
			       : "stream");
		if (ed->split != SLUICE__V1__SPLIT__SPLIT_NONE)
			printf(", split %s%s%s%s", split_name(ed->split),
			       ed->split == SLUICE__V1__SPLIT__SPLIT_REGEX
				       ? " /"
				       : "",
			       ed->split == SLUICE__V1__SPLIT__SPLIT_REGEX
				       ? ed->pattern
				       : "",
			       ed->split == SLUICE__V1__SPLIT__SPLIT_REGEX
				       ? "/"
				       : "");
		if (ed->stream_children)
			printf(", stream_children");
		printf(", depth %" PRIu32 "->%" PRIu32 "\n", ed->depth_in,
		       ed->depth_out);
	}
}

static void
json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			fprintf(f, "\\%c", ch);
		else if (ch == '\n')
			fputs("\\n", f);
		else if (ch < 0x20)
			fprintf(f, "\\u%04x", ch);
		else
			fputc(ch, f);
	}
	fputc('"', f);
}

static void
print_stats_json(const Sluice__V1__Stats *st)
{
	uint64_t total = 0;
	size_t i;

	printf("{\"generation\":%" PRIu64 ",\"rx_packets\":%" PRIu64
	       ",\"tx_packets\":%" PRIu64 ",\"forwarded\":%" PRIu64
	       ",\"drops\":{",
	       st->generation, st->rx_packets, st->tx_packets, st->forwarded);
	for (i = 0; i < st->n_drops; i++) {
		printf("%s", i ? "," : "");
		json_str(stdout, st->drops[i]->reason);
		printf(":%" PRIu64, st->drops[i]->count);
		total += st->drops[i]->count;
	}
	printf("},\"drops_total\":%" PRIu64 ",\"stages\":[", total);
	for (i = 0; i < st->n_stages; i++) {
		const Sluice__V1__StageStats *s = st->stages[i];

		printf("%s{\"pipeline\":", i ? "," : "");
		json_str(stdout, s->pipeline);
		printf(",\"stage\":");
		json_str(stdout, s->stage);
		printf(",\"fragments\":%" PRIu64 ",\"tokens\":%" PRIu64
		       ",\"bytes\":%" PRIu64 ",\"streams_started\":%" PRIu64
		       ",\"streams_ended\":%" PRIu64
		       ",\"streams_aborted\":%" PRIu64 "}",
		       s->fragments, s->tokens, s->bytes, s->streams_started,
		       s->streams_ended, s->streams_aborted);
	}
	printf("],\"instances\":[");
	for (i = 0; i < st->n_instances; i++) {
		const Sluice__V1__InstanceStats *s = st->instances[i];

		printf("%s{\"pipeline\":", i ? "," : "");
		json_str(stdout, s->pipeline);
		printf(",\"stage\":");
		json_str(stdout, s->stage);
		printf(",\"instance\":");
		json_str(stdout, s->instance);
		printf(",\"address\":");
		json_str(stdout, s->address);
		printf(",\"fragments\":%" PRIu64 ",\"bytes\":%" PRIu64
		       ",\"streams\":%" PRIu64 ",\"streams_routed\":%" PRIu64
		       ",\"draining\":%s}",
		       s->fragments, s->bytes, s->streams, s->streams_routed,
		       s->draining ? "true" : "false");
	}
	printf("],\"operators\":[");
	for (i = 0; i < st->n_operators; i++) {
		const Sluice__V1__OperatorStats *s = st->operators[i];

		printf("%s{\"pipeline\":", i ? "," : "");
		json_str(stdout, s->pipeline);
		printf(",\"stage\":");
		json_str(stdout, s->stage);
		printf(",\"kind\":\"%s\"", kind_name(s->kind));
#define OP_JSON(m, kind, prom, help) printf(",\"" #m "\":%" PRIu64, s->m);
		SL_STATS_OPERATOR(OP_JSON)
#undef OP_JSON
		printf("}");
	}
	printf("]");
	printf(",\"counters\":{");
	for (i = 0; i < st->n_counters; i++) {
		const Sluice__V1__Counter *c = st->counters[i];

		printf("%s\"%s", i ? "," : "", c->name);
		if (c->label != NULL && c->label[0] != '\0')
			printf("{%s=%s}", c->label, c->label_value);
		printf("\":%" PRIu64, c->value);
	}
	printf("}");
	if (st->restored != NULL) {
		printf(",\"restored\":{\"path\":");
		json_str(stdout, st->restored->path);
		printf(",\"generation\":%" PRIu64 ",\"config\":",
		       st->restored->generation);
		json_str(stdout, st->restored->config);
		printf(",\"edits\":%" PRIu32 "}", st->restored->edits);
	} else {
		printf(",\"restored\":null");
	}
	if (st->cluster != NULL) {
		printf(",\"cluster\":{\"node\":");
		json_str(stdout, st->cluster->node);
		printf(",\"endpoints\":");
		json_str(stdout, st->cluster->endpoints);
		printf(",\"revision\":%" PRIu64 ",\"connected\":%s"
		       ",\"members\":%" PRIu32 ",\"last_error\":",
		       st->cluster->revision,
		       st->cluster->connected ? "true" : "false",
		       st->cluster->members);
		json_str(stdout, st->cluster->last_error);
		printf("}");
	}
	if (st->flows != NULL)
		printf(",\"flows\":{\"active\":%" PRIu64
		       ",\"capacity\":%" PRIu64 ",\"created\":%" PRIu64
		       ",\"ended\":%" PRIu64 ",\"expired\":%" PRIu64 "}",
		       st->flows->active, st->flows->capacity,
		       st->flows->created, st->flows->ended,
		       st->flows->expired);
	if (st->mbufs != NULL)
		printf(",\"mbufs\":{\"in_use\":%" PRIu64
		       ",\"in_use_start\":%" PRIu64 ",\"capacity\":%" PRIu64
		       "}",
		       st->mbufs->in_use, st->mbufs->in_use_start,
		       st->mbufs->capacity);
	if (st->latency != NULL) {
		const Sluice__V1__LatencyHistogram *h = st->latency;
		size_t n =
			h->n_upper_ns < h->n_count ? h->n_upper_ns : h->n_count;

		printf(",\"latency\":{\"samples\":%" PRIu64
		       ",\"sum_ns\":%" PRIu64 ",\"buckets\":[",
		       h->samples, h->sum_ns);
		for (i = 0; i < n; i++) {
			printf("%s{\"le_ns\":", i ? "," : "");
			if (h->upper_ns[i])
				printf("%" PRIu64, h->upper_ns[i]);
			else
				printf("null");
			printf(",\"count\":%" PRIu64 "}", h->count[i]);
		}
		printf("]}");
	}
	printf("}\n");
}

static const char *
ns_text(uint64_t ns, char *buf, size_t len)
{
	if (ns >= 1000000000u && ns % 1000000000u == 0)
		snprintf(buf, len, "%" PRIu64 "s", ns / 1000000000u);
	else if (ns >= 1000000u && ns % 1000000u == 0)
		snprintf(buf, len, "%" PRIu64 "ms", ns / 1000000u);
	else if (ns >= 1000u && ns % 1000u == 0)
		snprintf(buf, len, "%" PRIu64 "us", ns / 1000u);
	else
		snprintf(buf, len, "%" PRIu64 "ns", ns);
	return buf;
}

static void
print_latency(const Sluice__V1__LatencyHistogram *h)
{
	size_t n = h->n_upper_ns < h->n_count ? h->n_upper_ns : h->n_count;
	uint64_t prev = 0;
	char t[32];

	printf("latency: %" PRIu64 " samples", h->samples);
	if (h->samples > 0)
		printf(", mean %.1f us",
		       (double)h->sum_ns / (double)h->samples / 1000.0);
	printf("\n");
	for (size_t i = 0; i < n; i++) {
		if (h->upper_ns[i] != 0) {
			printf("  <= %-8s %" PRIu64 "\n",
			       ns_text(h->upper_ns[i], t, sizeof(t)),
			       h->count[i]);
			prev = h->upper_ns[i];
		} else {
			printf("  >  %-8s %" PRIu64 "\n",
			       ns_text(prev, t, sizeof(t)), h->count[i]);
		}
	}
}

static void
print_stats(const Sluice__V1__Stats *st)
{
	uint64_t total = 0;
	size_t i;

	printf("generation %" PRIu64 "  rx %" PRIu64 "  tx %" PRIu64
	       "  forwarded %" PRIu64 "\n",
	       st->generation, st->rx_packets, st->tx_packets, st->forwarded);
	if (st->restored != NULL)
		printf("restored: generation %" PRIu64
		       " from %s (%s and %" PRIu32 " edits)\n",
		       st->restored->generation, st->restored->path,
		       st->restored->config, st->restored->edits);
	if (st->cluster != NULL)
		printf("cluster: node %s, revision %" PRIu64 ", %s, %" PRIu32
		       " members%s%s\n",
		       st->cluster->node, st->cluster->revision,
		       st->cluster->connected ? "connected to etcd"
					      : "etcd LOST (serving this "
						"revision)",
		       st->cluster->members,
		       st->cluster->last_error[0] ? "; last: " : "",
		       st->cluster->last_error);
	if (st->flows != NULL)
		printf("flows: %" PRIu64 " active of %" PRIu64 ", %" PRIu64
		       " created, %" PRIu64 " ended, %" PRIu64 " expired\n",
		       st->flows->active, st->flows->capacity,
		       st->flows->created, st->flows->ended,
		       st->flows->expired);
	if (st->mbufs != NULL)
		printf("mbufs: %" PRIu64 " in use of %" PRIu64 " (%" PRIu64
		       " at start)\n",
		       st->mbufs->in_use, st->mbufs->capacity,
		       st->mbufs->in_use_start);
	if (st->latency != NULL)
		print_latency(st->latency);
	for (i = 0; i < st->n_drops; i++)
		total += st->drops[i]->count;
	printf("drops: %" PRIu64 "\n", total);
	for (i = 0; i < st->n_drops; i++)
		if (st->drops[i]->count)
			printf("  %-20s %" PRIu64 "\n", st->drops[i]->reason,
			       st->drops[i]->count);
	if (st->n_stages > 0) {
		printf("%-12s %-12s %10s %10s %12s %8s %8s %8s\n", "PIPELINE",
		       "STAGE", "FRAGMENTS", "TOKENS", "BYTES", "STARTED",
		       "ENDED", "ABORTED");
		for (i = 0; i < st->n_stages; i++) {
			const Sluice__V1__StageStats *s = st->stages[i];

			printf("%-12s %-12s %10" PRIu64 " %10" PRIu64
			       " %12" PRIu64 " %8" PRIu64 " %8" PRIu64
			       " %8" PRIu64 "\n",
			       s->pipeline, s->stage, s->fragments, s->tokens,
			       s->bytes, s->streams_started, s->streams_ended,
			       s->streams_aborted);
		}
	}
	if (st->n_instances > 0) {
		printf("%-12s %-12s %-16s %-21s %10s %12s %7s %7s %s\n",
		       "PIPELINE", "STAGE", "INSTANCE", "ADDRESS", "FRAGMENTS",
		       "BYTES", "STREAMS", "ROUTED", "STATE");
		for (i = 0; i < st->n_instances; i++) {
			const Sluice__V1__InstanceStats *s = st->instances[i];

			printf("%-12s %-12s %-16s %-21s %10" PRIu64
			       " %12" PRIu64 " %7" PRIu64 " %7" PRIu64 " %s\n",
			       s->pipeline, s->stage, s->instance, s->address,
			       s->fragments, s->bytes, s->streams,
			       s->streams_routed,
			       s->draining ? "draining" : "active");
		}
	}
	if (st->n_operators > 0) {
		printf("%-12s %-12s %-6s %7s %8s %9s %8s %5s %8s %8s %8s %5s "
		       "%11s\n",
		       "PIPELINE", "STAGE", "KIND", "ACTIVE", "CREATED",
		       "COMPLETED", "ABORTED", "FULL", "OVERFLOW", "MISMATCH",
		       "EXPIRED", "LATE", "NOT_NUMERIC");
		for (i = 0; i < st->n_operators; i++) {
			const Sluice__V1__OperatorStats *s = st->operators[i];

			printf("%-12s %-12s %-6s %7" PRIu64 " %8" PRIu64
			       " %9" PRIu64 " %8" PRIu64 " %5" PRIu64
			       " %8" PRIu64 " %8" PRIu64 " %8" PRIu64
			       " %5" PRIu64 " %11" PRIu64 "\n",
			       s->pipeline, s->stage, kind_name(s->kind),
			       s->groups_active, s->groups_created,
			       s->groups_completed, s->groups_aborted,
			       s->groups_full, s->group_overflow,
			       s->count_mismatch, s->groups_expired,
			       s->late_inputs, s->not_numeric);
		}
	}
}

/* --------------------------------------------------------------- commands */

static char *
read_file(struct ctl *c, const char *path, size_t *len)
{
	/* Room for the rest of the Request inside one frame. */
	const size_t max = SL_FRAME_MAX - 4096;
	FILE *f = fopen(path, "rb");
	char *buf;
	size_t n;

	if (f == NULL) {
		fail_line(c, "cannot read %s: %s", path, strerror(errno));
		return NULL;
	}
	buf = malloc(max + 2);
	if (buf == NULL) {
		fclose(f);
		fail_line(c, "out of memory");
		return NULL;
	}
	n = fread(buf, 1, max + 1, f);
	if (ferror(f) || n > max) {
		fail_line(c, "%s: %s", path,
			  n > max ? "larger than a request may carry (1 MiB)"
				  : strerror(errno));
		fclose(f);
		free(buf);
		return NULL;
	}
	fclose(f);
	if (memchr(buf, '\0', n) != NULL) {
		fail_line(c, "%s: contains a NUL byte", path);
		free(buf);
		return NULL;
	}
	buf[n] = '\0';
	*len = n;
	return buf;
}

static int
cmd_apply(struct ctl *c, const struct cmd_opts *o)
{
	Sluice__V1__Request req = SLUICE__V1__REQUEST__INIT;
	Sluice__V1__ApplyPipeline ap = SLUICE__V1__APPLY_PIPELINE__INIT;
	Sluice__V1__Response *r;
	const Sluice__V1__ApplyPipelineResult *res;
	size_t len;
	char *yaml;
	int rc;

	if (o->file == NULL) {
		fail_line(c, "-f FILE is required");
		return EXIT_USAGE;
	}
	yaml = read_file(c, o->file, &len);
	if (yaml == NULL)
		return EXIT_USAGE;
	ap.yaml = yaml;
	ap.name = (char *)o->file;
	ap.dry_run = o->dry_run;
	req.body_case = SLUICE__V1__REQUEST__BODY_APPLY_PIPELINE;
	req.apply_pipeline = &ap;
	rc = call(c, &req, &r);
	free(yaml);
	if (rc != 0 ||
	    (rc = expect(c, r, SLUICE__V1__RESPONSE__RESULT_APPLY_PIPELINE)))
		return rc;
	res = r->apply_pipeline;
	if (o->dry_run)
		printf("%s: valid (dry run, generation %" PRIu64
		       " stays in use)\n",
		       o->file, res->generation);
	else
		printf("%s: applied as generation %" PRIu64 "\n", o->file,
		       res->generation);
	for (size_t i = 0; i < res->n_pipelines; i++)
		printf("  pipeline %s (id %" PRIu32
		       "): %zu stages, %zu edges\n",
		       res->pipelines[i]->name, res->pipelines[i]->id,
		       res->pipelines[i]->n_stages, res->pipelines[i]->n_edges);
	sluice__v1__response__free_unpacked(r, NULL);
	return 0;
}

static int
cmd_get(struct ctl *c, const struct cmd_opts *o)
{
	Sluice__V1__Request req = SLUICE__V1__REQUEST__INIT;
	Sluice__V1__GetPipeline gp = SLUICE__V1__GET_PIPELINE__INIT;
	Sluice__V1__Response *r;
	int rc;

	if (o->positional != NULL)
		gp.name = (char *)o->positional;
	req.body_case = SLUICE__V1__REQUEST__BODY_GET_PIPELINE;
	req.get_pipeline = &gp;
	if ((rc = call(c, &req, &r)) != 0 ||
	    (rc = expect(c, r, SLUICE__V1__RESPONSE__RESULT_PIPELINES)))
		return rc;
	for (size_t i = 0; i < r->pipelines->n_pipelines; i++)
		print_pipeline(r->pipelines->pipelines[i]);
	if (r->pipelines->n_pipelines == 0)
		printf("no pipelines\n");
	sluice__v1__response__free_unpacked(r, NULL);
	return 0;
}

static int
cmd_instances(struct ctl *c, const struct cmd_opts *o)
{
	Sluice__V1__Request req = SLUICE__V1__REQUEST__INIT;
	Sluice__V1__ListInstances li = SLUICE__V1__LIST_INSTANCES__INIT;
	Sluice__V1__Response *r;
	int rc;

	if (o->pipeline != NULL)
		li.pipeline = (char *)o->pipeline;
	if (o->stage != NULL)
		li.stage = (char *)o->stage;
	req.body_case = SLUICE__V1__REQUEST__BODY_LIST_INSTANCES;
	req.list_instances = &li;
	if ((rc = call(c, &req, &r)) != 0 ||
	    (rc = expect(c, r, SLUICE__V1__RESPONSE__RESULT_INSTANCES)))
		return rc;
	printf("%-12s %-12s %-16s %-21s %7s %7s %10s %s\n", "PIPELINE", "STAGE",
	       "INSTANCE", "ADDRESS", "STREAMS", "ROUTED", "FRAGMENTS",
	       "STATE");
	for (size_t i = 0; i < r->instances->n_instances; i++) {
		const Sluice__V1__InstanceState *s = r->instances->instances[i];
		char addr[64] = "-";

		if (s->instance != NULL)
			snprintf(addr, sizeof(addr), "%s:%" PRIu32,
				 s->instance->address, s->instance->port);
		printf("%-12s %-12s %-16s %-21s %7" PRIu64 " %7" PRIu64
		       " %10" PRIu64 " %s\n",
		       s->pipeline, s->stage,
		       s->instance ? s->instance->name : "-", addr, s->streams,
		       s->streams_routed, s->fragments,
		       s->draining ? "draining" : "active");
	}
	sluice__v1__response__free_unpacked(r, NULL);
	return 0;
}

static int
need_ref(struct ctl *c, const struct cmd_opts *o, bool name)
{
	if (o->pipeline == NULL) {
		fail_line(c, "--pipeline is required");
		return EXIT_USAGE;
	}
	if (o->stage == NULL) {
		fail_line(c, "--stage is required");
		return EXIT_USAGE;
	}
	if (name && o->name == NULL) {
		fail_line(c, "--name is required");
		return EXIT_USAGE;
	}
	return 0;
}

static void
print_instance_result(const char *verb, const Sluice__V1__Response *r)
{
	const Sluice__V1__InstanceState *s = r->instance->instance;

	if (s == NULL || s->instance == NULL) {
		printf("%s\n", verb);
		return;
	}
	printf("%s %s/%s/%s %s:%" PRIu32, verb, s->pipeline, s->stage,
	       s->instance->name, s->instance->address, s->instance->port);
	if (s->draining)
		printf(" (%" PRIu64 " streams in flight)", s->streams);
	printf("\n");
}

static int
cmd_add(struct ctl *c, const struct cmd_opts *o)
{
	Sluice__V1__Request req = SLUICE__V1__REQUEST__INIT;
	Sluice__V1__AddInstance ai = SLUICE__V1__ADD_INSTANCE__INIT;
	Sluice__V1__Instance in = SLUICE__V1__INSTANCE__INIT;
	Sluice__V1__Response *r;
	char addr[64];
	const char *colon;
	uint64_t port;
	int rc;

	if ((rc = need_ref(c, o, false)) != 0)
		return rc;
	if (o->address == NULL) {
		fail_line(c, "--address IP:PORT is required");
		return EXIT_USAGE;
	}
	colon = strrchr(o->address, ':');
	if (colon == NULL || (size_t)(colon - o->address) >= sizeof(addr) ||
	    !sl_parse_u64(colon + 1, 0, UINT32_MAX, &port)) {
		fail_line(c, "--address: must be IP:PORT, got \"%s\"",
			  o->address);
		return EXIT_USAGE;
	}
	memcpy(addr, o->address, (size_t)(colon - o->address));
	addr[colon - o->address] = '\0';
	in.address = addr;
	in.port = (uint32_t)port;
	if (o->name != NULL)
		in.name = (char *)o->name;
	ai.pipeline = (char *)o->pipeline;
	ai.stage = (char *)o->stage;
	ai.instance = &in;
	req.body_case = SLUICE__V1__REQUEST__BODY_ADD_INSTANCE;
	req.add_instance = &ai;
	if ((rc = call(c, &req, &r)) != 0 ||
	    (rc = expect(c, r, SLUICE__V1__RESPONSE__RESULT_INSTANCE)))
		return rc;
	print_instance_result("added", r);
	sluice__v1__response__free_unpacked(r, NULL);
	return 0;
}

static int
cmd_remove_or_drain(struct ctl *c, const struct cmd_opts *o, bool drain)
{
	Sluice__V1__Request req = SLUICE__V1__REQUEST__INIT;
	Sluice__V1__RemoveInstance ri = SLUICE__V1__REMOVE_INSTANCE__INIT;
	Sluice__V1__DrainInstance di = SLUICE__V1__DRAIN_INSTANCE__INIT;
	Sluice__V1__Response *r;
	int rc;

	if ((rc = need_ref(c, o, true)) != 0)
		return rc;
	if (drain) {
		di.pipeline = (char *)o->pipeline;
		di.stage = (char *)o->stage;
		di.instance = (char *)o->name;
		req.body_case = SLUICE__V1__REQUEST__BODY_DRAIN_INSTANCE;
		req.drain_instance = &di;
	} else {
		ri.pipeline = (char *)o->pipeline;
		ri.stage = (char *)o->stage;
		ri.instance = (char *)o->name;
		req.body_case = SLUICE__V1__REQUEST__BODY_REMOVE_INSTANCE;
		req.remove_instance = &ri;
	}
	if ((rc = call(c, &req, &r)) != 0 ||
	    (rc = expect(c, r, SLUICE__V1__RESPONSE__RESULT_INSTANCE)))
		return rc;
	print_instance_result(drain ? "draining" : "removed", r);
	sluice__v1__response__free_unpacked(r, NULL);
	return 0;
}

static int
cmd_remove(struct ctl *c, const struct cmd_opts *o)
{
	return cmd_remove_or_drain(c, o, false);
}

static int
cmd_drain(struct ctl *c, const struct cmd_opts *o)
{
	return cmd_remove_or_drain(c, o, true);
}

static int
get_stats(struct ctl *c, bool reset, Sluice__V1__Response **r)
{
	Sluice__V1__Request req = SLUICE__V1__REQUEST__INIT;
	Sluice__V1__GetStats gs = SLUICE__V1__GET_STATS__INIT;
	int rc;

	gs.reset = reset;
	req.body_case = SLUICE__V1__REQUEST__BODY_GET_STATS;
	req.get_stats = &gs;
	if ((rc = call(c, &req, r)) != 0)
		return rc;
	return expect(c, *r, SLUICE__V1__RESPONSE__RESULT_STATS);
}

static int
cmd_stats(struct ctl *c, const struct cmd_opts *o)
{
	Sluice__V1__Response *r;
	int rc;

	if ((rc = get_stats(c, o->reset, &r)) != 0)
		return rc;
	if (o->json)
		print_stats_json(r->stats);
	else
		print_stats(r->stats);
	sluice__v1__response__free_unpacked(r, NULL);
	return 0;
}

/* ---- guards ---- */

/* A rule as the table and the edit lines show it: a literal in double
 * quotes with '"' and '\\' escaped, a regex between slashes as written;
 * control characters as \\n, \\t, \\xNN in both. Returns the bytes
 * written. */
static size_t
print_rule(FILE *f, bool regex, const char *pattern)
{
	size_t n = 2;

	fputc(regex ? '/' : '"', f);
	for (const char *p = pattern; *p; p++) {
		unsigned char ch = (unsigned char)*p;

		if (!regex && (ch == '"' || ch == '\\')) {
			fprintf(f, "\\%c", ch);
			n += 2;
		} else if (ch == '\n' || ch == '\t') {
			fputs(ch == '\n' ? "\\n" : "\\t", f);
			n += 2;
		} else if (ch < 0x20 || ch == 0x7f) {
			fprintf(f, "\\x%02x", ch);
			n += 4;
		} else {
			fputc(ch, f);
			n++;
		}
	}
	fputc(regex ? '/' : '"', f);
	return n;
}

static const char *
rule_kind(bool regex)
{
	return regex ? "regex" : "literal";
}

static void
print_guard_row(const Sluice__V1__Guard *g, const Sluice__V1__GuardRule *r)
{
	size_t w;

	printf("%-12s %-7s ", g->name, g->action);
	if (r == NULL) {
		printf("%-28s %-7s %8d %8d %10d\n", "-", "-", 0, 0, 0);
		return;
	}
	/* Pad the rule to its column when it is shorter. */
	w = print_rule(stdout, r->regex, r->pattern);
	printf("%*s %-7s %8" PRIu64 " %8" PRIu64 " %10" PRIu64 "\n",
	       w < 28 ? (int)(28 - w) : 0, "", rule_kind(r->regex), r->matches,
	       r->blocks, r->redactions);
}

static void
print_guards(const Sluice__V1__GuardList *gl)
{
	size_t rules = 0;

	for (size_t g = 0; g < gl->n_guards; g++)
		rules += gl->guards[g]->n_rules;
	if (gl->n_guards == 0) {
		printf("generation %" PRIu64 ": no guards\n", gl->generation);
		return;
	}
	printf("generation %" PRIu64 ": %zu guard%s, %zu rule%s\n",
	       gl->generation, gl->n_guards, gl->n_guards == 1 ? "" : "s",
	       rules, rules == 1 ? "" : "s");
	printf("%-12s %-7s %-28s %-7s %8s %8s %10s\n", "GUARD", "ACTION",
	       "RULE", "KIND", "MATCHES", "BLOCKS", "REDACTIONS");
	for (size_t g = 0; g < gl->n_guards; g++) {
		const Sluice__V1__Guard *gd = gl->guards[g];

		for (size_t i = 0; i < gd->n_rules; i++)
			print_guard_row(gd, gd->rules[i]);
		if (gd->n_rules == 0)
			print_guard_row(gd, NULL);
		if (gd->prefix[0] != '\0') {
			printf("%-12s %-7s ", gd->name, "prefix");
			print_rule(stdout, false, gd->prefix);
			printf("\n");
		}
	}
}

static void
print_guards_json(const Sluice__V1__GuardList *gl)
{
	printf("{\"generation\":%" PRIu64 ",\"guards\":[", gl->generation);
	for (size_t g = 0; g < gl->n_guards; g++) {
		const Sluice__V1__Guard *gd = gl->guards[g];

		printf("%s{\"name\":", g ? "," : "");
		json_str(stdout, gd->name);
		printf(",\"action\":");
		json_str(stdout, gd->action);
		printf(",\"prefix\":");
		json_str(stdout, gd->prefix);
		printf(",\"rules\":[");
		for (size_t i = 0; i < gd->n_rules; i++) {
			const Sluice__V1__GuardRule *r = gd->rules[i];

			printf("%s{\"regex\":%s,\"pattern\":", i ? "," : "",
			       r->regex ? "true" : "false");
			json_str(stdout, r->pattern);
			printf(",\"matches\":%" PRIu64 ",\"blocks\":%" PRIu64
			       ",\"redactions\":%" PRIu64 "}",
			       r->matches, r->blocks, r->redactions);
		}
		printf("]}");
	}
	printf("]}\n");
}

/* Every pool and engine stage of @pl with its policy: what routes new
 * streams (an aggregating stage routes by key whatever its policy). */
static void
print_policies(const Sluice__V1__Pipeline *pl)
{
	for (size_t k = 0; k < pl->n_pools; k++) {
		const Sluice__V1__Pool *po = pl->pools[k];

		printf("%s pool %s: %s, load_bound %.2f, warm_prefixes "
		       "%" PRIu32 ", %zu instances, stages",
		       pl->name, po->name, policy_name(po->policy),
		       po->load_bound, po->warm_prefixes, po->n_instances);
		for (size_t j = 0; j < po->n_stages; j++)
			printf("%s%s", j ? "," : " ", po->stages[j]);
		printf("\n");
	}
	for (size_t s = 0; s < pl->n_stages; s++) {
		const Sluice__V1__Stage *st = pl->stages[s];

		if (st->kind != SLUICE__V1__STAGE_KIND__STAGE_KIND_ENGINE)
			continue;
		printf("%s stage %s: ", pl->name, st->name);
		if (st->aggregation > 0)
			printf("by key (aggregation %" PRIu32 ")",
			       st->aggregation);
		else
			printf("%s", policy_name(st->balance));
		if (st->pool[0] != '\0')
			printf(", pool %s", st->pool);
		if (st->balance == SLUICE__V1__BALANCE__BALANCE_PROMPT_AWARE)
			printf(", cost %.1f ms, warm saving %.1f ms",
			       st->cost_us / 1000.0,
			       st->warm_saving_us / 1000.0);
		printf("\n");
		if (st->observed_answers == 0)
			continue;
		printf("%s stage %s observed: %" PRIu64 " answers, mean "
		       "%.1f ms, p50 < %.1f ms, p99 < %.1f ms, %.1f fragments;"
		       " outstanding",
		       pl->name, st->name, st->observed_answers,
		       st->observed_mean_ms, st->observed_p50_ms,
		       st->observed_p99_ms, st->observed_fragments_mean);
		for (size_t i = 0;
		     i < st->n_instance_outstanding && i < st->n_instances; i++)
			printf(" %s %" PRIu64, st->instances[i]->name,
			       st->instance_outstanding[i]);
		printf("\n");
	}
}

/* Send @req, whose answer is pipelines, and print their policies. */
static int
policy_call(struct ctl *c, Sluice__V1__Request *req)
{
	Sluice__V1__Response *r;
	int rc;

	if ((rc = call(c, req, &r)) != 0 ||
	    (rc = expect(c, r, SLUICE__V1__RESPONSE__RESULT_PIPELINES)))
		return rc;
	for (size_t i = 0; i < r->pipelines->n_pipelines; i++)
		print_policies(r->pipelines->pipelines[i]);
	sluice__v1__response__free_unpacked(r, NULL);
	return 0;
}

static int
cmd_policy_show(struct ctl *c, const struct cmd_opts *o)
{
	Sluice__V1__Request req = SLUICE__V1__REQUEST__INIT;
	Sluice__V1__GetPipeline gp = SLUICE__V1__GET_PIPELINE__INIT;

	gp.name = (char *)(o->positional ? o->positional : "");
	req.body_case = SLUICE__V1__REQUEST__BODY_GET_PIPELINE;
	req.get_pipeline = &gp;
	return policy_call(c, &req);
}

static int
cmd_policy_set(struct ctl *c, const struct cmd_opts *o)
{
	Sluice__V1__Request req = SLUICE__V1__REQUEST__INIT;
	Sluice__V1__SetPolicy sp = SLUICE__V1__SET_POLICY__INIT;
	int policy;

	if (o->pipeline == NULL || o->positional == NULL ||
	    (o->stage == NULL) == (o->pool == NULL)) {
		fail_line(c, "usage: --pipeline P and one of --stage S or "
			     "--pool NAME, then the policy");
		return EXIT_USAGE;
	}
	policy = policy_parse(o->positional);
	if (policy < 0) {
		fail_line(c, "policy: must be round_robin, least_loaded (or "
			     "least_outstanding), hash_request or "
			     "prompt_aware");
		return EXIT_USAGE;
	}
	sp.pipeline = (char *)o->pipeline;
	sp.stage = (char *)(o->stage ? o->stage : "");
	sp.pool = (char *)(o->pool ? o->pool : "");
	sp.policy = (Sluice__V1__Balance)policy;
	sp.load_bound = o->load_bound;
	sp.warm_prefixes = (uint32_t)o->warm_prefixes;
	req.body_case = SLUICE__V1__REQUEST__BODY_SET_POLICY;
	req.set_policy = &sp;
	return policy_call(c, &req);
}

/* ------------------------------------------------------------------- tune */

/* One of tune's job options into @t; false after saying why. */
static bool
tune_opt(const struct ctl *c, int opt, const char *arg,
	 struct sl_tune_sim_params *t)
{
	static const struct {
		int opt;
		const char *name;
		uint64_t min, max;
	} counts[] = {
		{OPT_NODES, "nodes", 1, SL_TUNE_SIM_NODES_MAX},
		{OPT_N_C, "n-c", 1, SL_TUNE_SIM_NODES_MAX},
		{OPT_TRIALS, "trials", 1, SL_TUNE_SIM_TRIALS_MAX},
		{OPT_SEED, "seed", 0, UINT64_MAX},
		{OPT_NOISE_SEED, "noise-seed", 0, UINT64_MAX},
		{OPT_UNIT_REQUESTS, "unit-requests", 1, SL_TUNE_SIM_UNIT_MAX},
		{OPT_MAX_UNITS, "max-units", 1, SL_TUNE_SIM_UNITS_MAX},
		{OPT_ETA, "eta", 2, 16},
		{OPT_PREFIX_CACHE, "prefix-cache", 0, 64},
		{OPT_PROXY_NODES, "proxy-nodes", 1, SL_TUNE_SIM_NODES_MAX},
	};
	uint64_t v;
	double d;
	int tuner;

	for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
		if (counts[i].opt != opt)
			continue;
		if (!sl_parse_u64(arg, counts[i].min, counts[i].max, &v)) {
			fail_line(c,
				  "--%s: must be %" PRIu64 "..%" PRIu64
				  ", got \"%s\"",
				  counts[i].name, counts[i].min, counts[i].max,
				  arg);
			return false;
		}
		switch (opt) {
		case OPT_NODES:
			t->nodes = (unsigned int)v;
			break;
		case OPT_N_C:
			t->n_c = (unsigned int)v;
			break;
		case OPT_TRIALS:
			t->trials = (unsigned int)v;
			break;
		case OPT_SEED:
			t->seed = v;
			break;
		case OPT_NOISE_SEED:
			t->noise_seeded = true;
			t->noise_seed = v;
			break;
		case OPT_UNIT_REQUESTS:
			t->unit_requests = (unsigned int)v;
			break;
		case OPT_MAX_UNITS:
			t->max_units = (unsigned int)v;
			break;
		case OPT_ETA:
			t->eta = (unsigned int)v;
			break;
		case OPT_PREFIX_CACHE:
			t->cache = (unsigned int)v;
			break;
		default:
			t->proxy_nodes = (unsigned int)v;
			break;
		}
		return true;
	}
	switch (opt) {
	case OPT_TUNER:
		tuner = sl_tune_sim_tuner_parse(arg);
		if (tuner < 0) {
			fail_line(c,
				  "--tuner: must be rs, hb or proxy, got "
				  "\"%s\"",
				  arg);
			return false;
		}
		t->tuner = (enum sl_tune_sim_tuner)tuner;
		return true;
	case OPT_EPSILON:
		if (strcmp(arg, "inf") == 0) {
			t->epsilon = INFINITY;
			return true;
		}
		if (!sl_parse_double(arg, 0, 1e9, &d) || !(d > 0)) {
			fail_line(c,
				  "--epsilon: must be a number above 0 (or "
				  "inf: no noise), got \"%s\"",
				  arg);
			return false;
		}
		t->epsilon = d;
		return true;
	case OPT_BUDGET:
		if (!sl_parse_double(arg, 0, 1e9, &d) || !(d > 0)) {
			fail_line(c,
				  "--budget: must be a number above 0, got "
				  "\"%s\"",
				  arg);
			return false;
		}
		t->budget = d;
		return true;
	case OPT_BIAS:
		if (!sl_parse_double(arg, 0, 1000, &d)) {
			fail_line(c, "--bias: must be 0..1000, got \"%s\"",
				  arg);
			return false;
		}
		t->bias = d;
		return true;
	case OPT_HETEROGENEITY:
		if (!sl_parse_double(arg, 0, 1, &d)) {
			fail_line(c,
				  "--heterogeneity: must be in [0, 1], got "
				  "\"%s\"",
				  arg);
			return false;
		}
		t->heterogeneity = d;
		return true;
	default: /* OPT_SLO_MS */
		if (!sl_parse_double(arg, 0, 1e9, &d) || !(d > 0)) {
			fail_line(c,
				  "--slo-ms: must be a number above 0, got "
				  "\"%s\"",
				  arg);
			return false;
		}
		t->slo_ms = d;
		return true;
	}
}

/* What tune prints as it goes: text lines or JSON Lines. */
struct tune_out {
	const struct sl_tune_sim_params *p;
	bool json;
};

static void
json_double(const char *name, double v, bool comma)
{
	if (isfinite(v))
		printf("\"%s\": %.17g%s", name, v, comma ? ", " : "");
	else
		printf("\"%s\": null%s", name, comma ? ", " : "");
}

static void
tune_json_config(const struct sl_tune_sim_config *cfg)
{
	printf("\"policy\": \"%s\", ", cfg->policy);
	json_double("load_bound", cfg->load_bound, true);
	printf("\"warm_prefixes\": %u", cfg->warm_prefixes);
}

static void
tune_progress(void *ctx, const struct sl_tune_sim_progress *pr)
{
	const struct tune_out *to = ctx;
	const struct sl_tune_step *st = pr->step;
	if (to->json) {
		printf("{\"trial\": %" PRIu64 ", \"trials\": %" PRIu64
		       ", \"proxy\": %s, \"bracket\": %u, \"rung\": %u, "
		       "\"units\": %u, \"config\": %zu, ",
		       pr->trial, pr->trials, pr->proxy ? "true" : "false",
		       st->bracket, st->rung, st->resource, st->index);
		tune_json_config(pr->config);
		printf(", ");
		json_double("value", st->value, true);
		json_double("noisy_attainment", 1 - st->value, true);
		json_double("scale", st->scale, true);
		json_double("epsilon_charged", st->charged, true);
		json_double("epsilon_spent", pr->epsilon_spent, true);
		json_double("epsilon_left", pr->epsilon_left, false);
		printf("}\n");
	} else {
		printf("%strial %" PRIu64 "/%" PRIu64,
		       pr->proxy ? "proxy " : "", pr->trial, pr->trials);
		if (to->p->tuner == SL_TUNE_SIM_HB)
			printf(" (bracket %u rung %u)", st->bracket, st->rung);
		printf(": %s at %u units: %s attainment %.4f; epsilon spent "
		       "%.4g, left %.4g\n",
		       pr->config->name, st->resource,
		       pr->proxy ? "proxy" : "noisy", 1 - st->value,
		       pr->epsilon_spent, pr->epsilon_left);
	}
	fflush(stdout);
}

/* The `sluicectl policy set` line that applies @cfg. */
static void
tune_apply_line(const struct cmd_opts *o, const struct sl_tune_sim_config *cfg,
		char *buf, size_t cap)
{
	int n = snprintf(buf, cap,
			 "sluicectl policy set --pipeline %s --pool %s",
			 o->pipeline ? o->pipeline : "PIPELINE",
			 o->pool ? o->pool : "POOL");

	if (n > 0 && (size_t)n < cap && cfg->load_bound > 0)
		n += snprintf(buf + n, cap - (size_t)n, " --load-bound %.2f",
			      cfg->load_bound);
	if (n > 0 && (size_t)n < cap && cfg->warm_prefixes > 0)
		n += snprintf(buf + n, cap - (size_t)n, " --warm-prefixes %u",
			      cfg->warm_prefixes);
	if (n > 0 && (size_t)n < cap)
		snprintf(buf + n, cap - (size_t)n, " %s", cfg->policy);
}

static int
cmd_tune(struct ctl *c, const struct cmd_opts *o)
{
	const struct sl_tune_sim_params *p = &o->tune;
	struct tune_out to = {.p = p, .json = o->json};
	struct sl_tune_sim_result res;
	char err[256], line[256];
	double total = p->budget > 0 ? p->budget : p->epsilon;
	uint64_t trials;
	unsigned int space;
	int rc;

	if (o->positional != NULL) {
		fail_line(c, "unexpected argument \"%s\" (see --help)",
			  o->positional);
		return EXIT_USAGE;
	}
	if (o->tune_trials_given && p->tuner == SL_TUNE_SIM_HB) {
		fail_line(c, "--trials: Hyperband's evaluations follow from "
			     "--max-units and --eta, not --trials");
		return EXIT_USAGE;
	}
	if (sl_tune_sim_plan(p, &trials, &space, err, sizeof(err)) != 0) {
		fail_line(c, "--%s", err);
		return EXIT_USAGE;
	}
	if (o->apply && (o->pipeline == NULL || o->pool == NULL)) {
		fail_line(c, "--apply: needs --pipeline P and --pool NAME");
		return EXIT_USAGE;
	}
	if (!o->json) {
		printf("tune: %s on %u simulated nodes (n_c %u, epsilon %g, "
		       "budget %g, bias %g, heterogeneity %g, seed %" PRIu64
		       "), %u configurations, %" PRIu64
		       " evaluations, full = %u units of %u requests a "
		       "node\n",
		       sl_tune_sim_tuner_name(p->tuner), p->nodes,
		       p->n_c ? p->n_c
			      : (unsigned int)fmax(1, lround(p->nodes / 100.0)),
		       p->epsilon, total, p->bias, p->heterogeneity, p->seed,
		       space, trials, p->max_units, p->unit_requests);
		fflush(stdout);
	}
	rc = sl_tune_sim_run(p, tune_progress, &to, &res, err, sizeof(err));
	if (rc != 0) {
		fail_line(c, "%s", err);
		return rc == -EINVAL ? EXIT_USAGE : EXIT_REFUSED;
	}
	tune_apply_line(o, &res.config, line, sizeof(line));
	if (o->json) {
		printf("{\"winner\": {\"config\": %zu, ", res.tune.index);
		tune_json_config(&res.config);
		printf("}, \"tuner\": \"%s\", ",
		       sl_tune_sim_tuner_name(p->tuner));
		json_double("value", res.value, true);
		json_double("true_attainment", res.true_attainment, true);
		printf("\"evaluations\": %" PRIu64 ", \"private_evaluations\": "
		       "%" PRIu64 ", \"sim_runs\": %" PRIu64 ", ",
		       res.trials, res.tune.private_evaluations, res.sim_runs);
		json_double("epsilon_spent", res.epsilon_spent, true);
		json_double("epsilon_left", res.epsilon_left, true);
		json_double("budget", total, true);
		printf("\"apply\": \"%s\"}\n", line);
	} else {
		printf("winner: %s (config %zu): %s attainment %.4f, true SLO "
		       "attainment %.4f (every node, %u requests each, no "
		       "noise); epsilon spent %g of %g, %g left; %" PRIu64
		       " evaluations, %" PRIu64 " simulations\n",
		       res.config.name, res.tune.index,
		       p->tuner == SL_TUNE_SIM_PROXY ? "proxy" : "released",
		       1 - res.value, res.true_attainment,
		       p->max_units * p->unit_requests, res.epsilon_spent,
		       total, res.epsilon_left, res.trials, res.sim_runs);
		printf("%s: %s\n",
		       o->apply && !o->dry_run ? "applying" : "apply with",
		       line);
	}
	fflush(stdout);
	if (o->apply && !o->dry_run) {
		struct cmd_opts set = {
			.pipeline = o->pipeline,
			.pool = o->pool,
			.positional = res.config.policy,
			.load_bound = res.config.load_bound,
			.warm_prefixes = res.config.warm_prefixes,
		};

		/* sluicectl policy set's own request: SetPolicy, so streams
		 * in flight keep their instance and nothing stops. */
		return cmd_policy_set(c, &set);
	}
	return 0;
}

/* ------------------------------------------------------------ cost model */

static void
print_cost(const Sluice__V1__CostModel *m)
{
	printf("cost model: fitted %s, installed %s, rank %" PRIu32 ", %" PRIu64
	       " public rows (%" PRIu64 " held out)\n",
	       m->fitted ? "yes" : "no", m->installed ? "yes" : "no", m->rank,
	       m->public_rows, m->heldout_rows);
	printf("held-out MSE %.4f (the public mean's %.4f), %" PRIu64
	       " trainings, %" PRIu64 " rejected\n",
	       m->heldout_mse, m->heldout_mse_mean, m->trainings, m->rejected);
	printf("privacy: epsilon %.3g a training at delta %.3g, %.3g a "
	       "tenant in all\n",
	       m->epsilon, m->delta, m->budget_epsilon);
	if (m->rows_taken + m->rows_left_out != 0)
		printf("rows: %" PRIu32 " taken, %" PRIu32 " left out\n",
		       m->rows_taken, m->rows_left_out);
	printf("live traffic: %" PRIu64 " prompts read, %" PRIu64
	       " streams predicted, rows %" PRIu64 " stored, %" PRIu64
	       " left out\n",
	       m->live_prompts, m->live_predicted, m->live_rows_stored,
	       m->live_rows_left_out);
	for (size_t i = 0; i < m->n_budgets; i++) {
		const Sluice__V1__CostBudget *b = m->budgets[i];

		printf("tenant %" PRIu32 ": epsilon left %.3f (rho spent %.4g, "
		       "%" PRIu32 " trainings left), paid %" PRIu64
		       " trainings, %" PRIu32 " rows waiting, %" PRIu64
		       " over its cap, %" PRIu64 " over its budget%s\n",
		       b->tenant, b->epsilon_left, b->rho_spent,
		       b->trainings_left, b->trainings, b->window_rows,
		       b->rows_capped, b->rows_no_budget,
		       b->personal ? ", its own model" : "");
	}
}

/* Send @req (a cost request) and print the model afterwards. */
static int
cost_call(struct ctl *c, Sluice__V1__Request *req)
{
	Sluice__V1__Response *r;
	int rc;

	if ((rc = call(c, req, &r)) != 0 ||
	    (rc = expect(c, r, SLUICE__V1__RESPONSE__RESULT_COST_MODEL)))
		return rc;
	print_cost(r->cost_model);
	sluice__v1__response__free_unpacked(r, NULL);
	return 0;
}

static int
cmd_cost_show(struct ctl *c, const struct cmd_opts *o)
{
	Sluice__V1__Request req = SLUICE__V1__REQUEST__INIT;
	Sluice__V1__GetCostModel g = SLUICE__V1__GET_COST_MODEL__INIT;
	uint32_t tenant;

	if (o->tenant != NULL) {
		char *end;
		unsigned long v = strtoul(o->tenant, &end, 10);

		if (*o->tenant == '\0' || *end != '\0' || v > UINT32_MAX) {
			fail_line(c, "--tenant: not a tenant id: %s",
				  o->tenant);
			return EXIT_USAGE;
		}
		tenant = (uint32_t)v;
		g.n_tenants = 1;
		g.tenants = &tenant;
	}
	req.body_case = SLUICE__V1__REQUEST__BODY_GET_COST_MODEL;
	req.get_cost_model = &g;
	return cost_call(c, &req);
}

/* cost fit, cost train: requests with an empty body. */
static int
cost_plain(struct ctl *c, bool train)
{
	Sluice__V1__Request req = SLUICE__V1__REQUEST__INIT;
	Sluice__V1__CostFit f = SLUICE__V1__COST_FIT__INIT;
	Sluice__V1__CostTrain t = SLUICE__V1__COST_TRAIN__INIT;

	if (train) {
		req.body_case = SLUICE__V1__REQUEST__BODY_COST_TRAIN;
		req.cost_train = &t;
	} else {
		req.body_case = SLUICE__V1__REQUEST__BODY_COST_FIT;
		req.cost_fit = &f;
	}
	return cost_call(c, &req);
}

static int
cmd_cost_fit(struct ctl *c, const struct cmd_opts *o)
{
	(void)o;
	return cost_plain(c, false);
}

static int
cmd_cost_train(struct ctl *c, const struct cmd_opts *o)
{
	(void)o;
	return cost_plain(c, true);
}

/* A rows file's prompt field: \n, \t and \\ unescaped in place. */
static void
unescape(char *s)
{
	char *w = s;

	for (; *s != '\0'; s++) {
		if (*s == '\\' && s[1] != '\0') {
			s++;
			*w++ = *s == 'n' ? '\n' : *s == 't' ? '\t' : *s;
		} else {
			*w++ = *s;
		}
	}
	*w = '\0';
}

/*
 * cost add: rows from a file, one a line: STAGE TAB OUTPUT_TOKENS TAB
 * PROMPT (\n, \t, \\ escaped), sent in requests of at most 4096 rows;
 * public ones (--public) or one tenant's (--tenant T).
 */
static int
cmd_cost_add(struct ctl *c, const struct cmd_opts *o)
{
	enum { BATCH = 4096 };
	static Sluice__V1__CostRow rows[BATCH];
	static Sluice__V1__CostRow *rowp[BATCH];
	Sluice__V1__Request req = SLUICE__V1__REQUEST__INIT;
	Sluice__V1__CostRows cr = SLUICE__V1__COST_ROWS__INIT;
	char *line = NULL, *texts[BATCH] = {0};
	size_t cap = 0, n = 0, lineno = 0;
	unsigned long tenant = 0;
	int rc = 0;
	FILE *f;

	if (o->file == NULL || (o->public_ == (o->tenant != NULL))) {
		fail_line(c, "usage: --file ROWS and one of --public or "
			     "--tenant T");
		return EXIT_USAGE;
	}
	if (o->tenant != NULL) {
		char *end;

		tenant = strtoul(o->tenant, &end, 10);
		if (*o->tenant == '\0' || *end != '\0' || tenant > UINT32_MAX) {
			fail_line(c, "--tenant: not a tenant id: %s",
				  o->tenant);
			return EXIT_USAGE;
		}
	}
	f = fopen(o->file, "r");
	if (f == NULL) {
		fail_line(c, "%s: %s", o->file, strerror(errno));
		return EXIT_USAGE;
	}
	cr.public_ = o->public_;
	cr.rows = rowp;
	req.body_case = SLUICE__V1__REQUEST__BODY_COST_ROWS;
	req.cost_rows = &cr;
	for (;;) {
		ssize_t len = getline(&line, &cap, f);
		char *stage, *tokens, *prompt, *end1, *end2;
		unsigned long sv;
		unsigned long long tv;

		if (len > 0) {
			lineno++;
			if (line[len - 1] == '\n')
				line[--len] = '\0';
			stage = line;
			tokens = strchr(stage, '\t');
			prompt = tokens ? strchr(tokens + 1, '\t') : NULL;
			if (prompt == NULL) {
				fail_line(c,
					  "%s:%zu: want STAGE TAB TOKENS TAB "
					  "PROMPT",
					  o->file, lineno);
				rc = EXIT_USAGE;
				break;
			}
			*tokens++ = '\0';
			*prompt++ = '\0';
			sv = strtoul(stage, &end1, 10);
			tv = strtoull(tokens, &end2, 10);
			if (*stage == '\0' || *end1 != '\0' ||
			    *tokens == '\0' || *end2 != '\0') {
				fail_line(c,
					  "%s:%zu: stage and tokens must "
					  "be numbers",
					  o->file, lineno);
				rc = EXIT_USAGE;
				break;
			}
			unescape(prompt);
			free(texts[n]);
			texts[n] = strdup(prompt);
			if (texts[n] == NULL) {
				fail_line(c, "out of memory");
				rc = EXIT_USAGE;
				break;
			}
			sluice__v1__cost_row__init(&rows[n]);
			rows[n].tenant = (uint32_t)tenant;
			rows[n].stage = (uint32_t)sv;
			rows[n].output_tokens = tv;
			rows[n].prompt = texts[n];
			rowp[n] = &rows[n];
			n++;
		}
		if (n == BATCH || (len < 0 && n != 0)) {
			Sluice__V1__Response *r;

			cr.n_rows = n;
			if ((rc = call(c, &req, &r)) != 0 ||
			    (rc = expect(
				     c, r,
				     SLUICE__V1__RESPONSE__RESULT_COST_MODEL)))
				break;
			printf("%zu rows sent: %" PRIu32 " taken, %" PRIu32
			       " left out\n",
			       n, r->cost_model->rows_taken,
			       r->cost_model->rows_left_out);
			sluice__v1__response__free_unpacked(r, NULL);
			n = 0;
		}
		if (len < 0)
			break;
	}
	for (size_t i = 0; i < BATCH; i++)
		free(texts[i]);
	free(line);
	fclose(f);
	return rc;
}

static int
cmd_guard_list(struct ctl *c, const struct cmd_opts *o)
{
	Sluice__V1__Request req = SLUICE__V1__REQUEST__INIT;
	Sluice__V1__ListGuards lg = SLUICE__V1__LIST_GUARDS__INIT;
	Sluice__V1__Response *r;
	int rc;

	req.body_case = SLUICE__V1__REQUEST__BODY_LIST_GUARDS;
	req.list_guards = &lg;
	if ((rc = call(c, &req, &r)) != 0 ||
	    (rc = expect(c, r, SLUICE__V1__RESPONSE__RESULT_GUARDS)))
		return rc;
	if (o->json)
		print_guards_json(r->guards);
	else
		print_guards(r->guards);
	sluice__v1__response__free_unpacked(r, NULL);
	return 0;
}

static int
cmd_guard_edit(struct ctl *c, const struct cmd_opts *o, bool remove)
{
	Sluice__V1__Request req = SLUICE__V1__REQUEST__INIT;
	Sluice__V1__EditGuard eg = SLUICE__V1__EDIT_GUARD__INIT;
	Sluice__V1__Response *r;
	const Sluice__V1__Guard *g = NULL;
	int rc;

	if (o->guard == NULL) {
		fail_line(c, "--guard NAME is required");
		return EXIT_USAGE;
	}
	if (o->literal != NULL && o->regex != NULL) {
		fail_line(c, "--literal and --regex exclude each other");
		return EXIT_USAGE;
	}
	if (o->literal == NULL && o->regex == NULL) {
		fail_line(c, "--literal TEXT or --regex RE is required");
		return EXIT_USAGE;
	}
	eg.guard = (char *)o->guard;
	eg.remove = remove;
	eg.regex = o->regex != NULL;
	eg.pattern = (char *)(eg.regex ? o->regex : o->literal);
	req.body_case = SLUICE__V1__REQUEST__BODY_EDIT_GUARD;
	req.edit_guard = &eg;
	if ((rc = call(c, &req, &r)) != 0 ||
	    (rc = expect(c, r, SLUICE__V1__RESPONSE__RESULT_GUARDS)))
		return rc;
	for (size_t i = 0; i < r->guards->n_guards; i++)
		if (strcmp(r->guards->guards[i]->name, o->guard) == 0)
			g = r->guards->guards[i];
	printf("%s %s ", remove ? "removed" : "added", rule_kind(eg.regex));
	print_rule(stdout, eg.regex, eg.pattern);
	printf(" %s guard %s (%zu rule%s, generation %" PRIu64 ")\n",
	       remove ? "from" : "to", o->guard, g ? g->n_rules : 0,
	       g && g->n_rules == 1 ? "" : "s", r->guards->generation);
	sluice__v1__response__free_unpacked(r, NULL);
	return 0;
}

static int
cmd_guard_add(struct ctl *c, const struct cmd_opts *o)
{
	return cmd_guard_edit(c, o, false);
}

static int
cmd_guard_remove(struct ctl *c, const struct cmd_opts *o)
{
	return cmd_guard_edit(c, o, true);
}

/* ---- top ---- */

static volatile sig_atomic_t top_quit;

static void
on_sigint(int sig)
{
	(void)sig;
	top_quit = 1;
}

static uint64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static const char *
rate(uint64_t now, uint64_t before, uint64_t dt_ms, char *buf, size_t len)
{
	if (dt_ms == 0 || now < before)
		snprintf(buf, len, "-");
	else
		snprintf(buf, len, "%.0f",
			 (double)(now - before) * 1000.0 / (double)dt_ms);
	return buf;
}

/* The fragments of instance @i in @prev, matched by name. */
static bool
prev_fragments(const Sluice__V1__Stats *prev,
	       const Sluice__V1__InstanceStats *s, uint64_t *out)
{
	for (size_t i = 0; prev && i < prev->n_instances; i++) {
		const Sluice__V1__InstanceStats *p = prev->instances[i];

		if (!strcmp(p->pipeline, s->pipeline) &&
		    !strcmp(p->stage, s->stage) &&
		    !strcmp(p->instance, s->instance)) {
			*out = p->fragments;
			return true;
		}
	}
	return false;
}

static void
top_screen(const Sluice__V1__Stats *st, const Sluice__V1__Stats *prev,
	   uint64_t dt_ms, long interval_ms)
{
	uint64_t drops = 0, prev_drops = 0;
	char r1[32], r2[32], r3[32];
	size_t i;

	for (i = 0; i < st->n_drops; i++)
		drops += st->drops[i]->count;
	for (i = 0; prev && i < prev->n_drops; i++)
		prev_drops += prev->drops[i]->count;
	printf("\033[H\033[2J");
	printf("sluice top: generation %" PRIu64 ", every %.1f s (q to quit)\n",
	       st->generation, (double)interval_ms / 1000.0);
	printf("rx %" PRIu64 " (%s/s)  tx %" PRIu64 " (%s/s)  drops %" PRIu64
	       " (%s/s)",
	       st->rx_packets,
	       rate(st->rx_packets, prev ? prev->rx_packets : 0,
		    prev ? dt_ms : 0, r1, sizeof(r1)),
	       st->tx_packets,
	       rate(st->tx_packets, prev ? prev->tx_packets : 0,
		    prev ? dt_ms : 0, r2, sizeof(r2)),
	       drops,
	       rate(drops, prev_drops, prev ? dt_ms : 0, r3, sizeof(r3)));
	if (st->flows != NULL)
		printf("  flows %" PRIu64 "/%" PRIu64, st->flows->active,
		       st->flows->capacity);
	if (st->mbufs != NULL)
		printf("  mbufs %" PRIu64 "/%" PRIu64, st->mbufs->in_use,
		       st->mbufs->capacity);
	printf("\n\n%-12s %-12s %-16s %10s %8s %7s %s\n", "PIPELINE", "STAGE",
	       "INSTANCE", "FRAGMENTS", "FRAG/S", "STREAMS", "STATE");
	for (i = 0; i < st->n_instances; i++) {
		const Sluice__V1__InstanceStats *s = st->instances[i];
		uint64_t before = 0;
		bool known = prev_fragments(prev, s, &before);

		printf("%-12s %-12s %-16s %10" PRIu64 " %8s %7" PRIu64 " %s\n",
		       s->pipeline, s->stage, s->instance, s->fragments,
		       rate(s->fragments, before, known ? dt_ms : 0, r1,
			    sizeof(r1)),
		       s->streams, s->draining ? "draining" : "active");
	}
	if (drops > 0) {
		printf("\ndrops:\n");
		for (i = 0; i < st->n_drops; i++)
			if (st->drops[i]->count)
				printf("  %-20s %" PRIu64 "\n",
				       st->drops[i]->reason,
				       st->drops[i]->count);
	}
	fflush(stdout);
}

static int
cmd_top(struct ctl *c, const struct cmd_opts *o)
{
	struct sigaction sa = {.sa_handler = on_sigint};
	Sluice__V1__Response *prev = NULL, *r;
	struct termios saved, raw;
	bool tty = isatty(STDIN_FILENO) == 1;
	bool watch_stdin = true;
	uint64_t prev_ms = 0;
	uint64_t done = 0;
	int rc = 0;

	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	if (tty && tcgetattr(STDIN_FILENO, &saved) == 0) {
		raw = saved;
		raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
		raw.c_cc[VMIN] = 0;
		raw.c_cc[VTIME] = 0;
		tcsetattr(STDIN_FILENO, TCSANOW, &raw);
	} else {
		tty = false;
	}
	while (!top_quit) {
		uint64_t now, deadline;

		rc = get_stats(c, false, &r);
		if (rc != 0)
			break;
		now = mono_ms();
		top_screen(r->stats, prev ? prev->stats : NULL, now - prev_ms,
			   o->interval_ms);
		if (prev != NULL)
			sluice__v1__response__free_unpacked(prev, NULL);
		prev = r;
		prev_ms = now;
		if (o->iterations > 0 && ++done >= o->iterations)
			break;
		/* Wait out the interval, watching for q. */
		deadline = now + (uint64_t)o->interval_ms;
		while (!top_quit && mono_ms() < deadline) {
			struct pollfd pfd = {STDIN_FILENO, POLLIN, 0};
			int left = (int)(deadline - mono_ms());
			char ch;

			if (left < 0)
				left = 0;
			if (!watch_stdin) {
				poll(NULL, 0, left);
				continue;
			}
			if (poll(&pfd, 1, left) <= 0)
				continue;
			if (read(STDIN_FILENO, &ch, 1) != 1) {
				watch_stdin = false; /* EOF: stop watching */
				continue;
			}
			if (ch == 'q' || ch == 'Q')
				top_quit = 1;
		}
	}
	if (prev != NULL)
		sluice__v1__response__free_unpacked(prev, NULL);
	if (tty)
		tcsetattr(STDIN_FILENO, TCSANOW, &saved);
	return rc;
}

static int
cmd_version(struct ctl *c, const struct cmd_opts *o)
{
	Sluice__V1__Request req = SLUICE__V1__REQUEST__INIT;
	Sluice__V1__GetVersion gv = SLUICE__V1__GET_VERSION__INIT;
	Sluice__V1__Response *r;
	uint64_t up_s;
	int rc;

	(void)o;
	printf("sluicectl %s\n", SL_VERSION);
	fflush(stdout);
	req.body_case = SLUICE__V1__REQUEST__BODY_GET_VERSION;
	req.get_version = &gv;
	if ((rc = call(c, &req, &r)) != 0 ||
	    (rc = expect(c, r, SLUICE__V1__RESPONSE__RESULT_VERSION)))
		return rc;
	up_s = r->version->uptime_ns / 1000000000u;
	printf("sluiced %s (wire %" PRIu32 ", generation %" PRIu64
	       ", up %" PRIu64 "h%02" PRIu64 "m%02" PRIu64 "s)\n",
	       r->version->version, r->version->wire_version,
	       r->version->generation, up_s / 3600, up_s / 60 % 60, up_s % 60);
	sluice__v1__response__free_unpacked(r, NULL);
	return 0;
}

/* ------------------------------------------------------------------ table */

#define HELP_OPT                                                               \
	{                                                                      \
		"help", no_argument, NULL, OPT_HELP                            \
	}
#define END_OPT                                                                \
	{                                                                      \
		NULL, 0, NULL, 0                                               \
	}

static const struct option apply_opts[] = {
	{"file", required_argument, NULL, OPT_FILE},
	{"dry-run", no_argument, NULL, OPT_DRY_RUN},
	HELP_OPT,
	END_OPT};
static const struct option get_opts[] = {HELP_OPT, END_OPT};
static const struct option instances_opts[] = {
	{"pipeline", required_argument, NULL, OPT_PIPELINE},
	{"stage", required_argument, NULL, OPT_STAGE},
	HELP_OPT,
	END_OPT};
static const struct option add_opts[] = {
	{"pipeline", required_argument, NULL, OPT_PIPELINE},
	{"stage", required_argument, NULL, OPT_STAGE},
	{"name", required_argument, NULL, OPT_NAME},
	{"address", required_argument, NULL, OPT_ADDRESS},
	HELP_OPT,
	END_OPT};
static const struct option ref_opts[] = {
	{"pipeline", required_argument, NULL, OPT_PIPELINE},
	{"stage", required_argument, NULL, OPT_STAGE},
	{"name", required_argument, NULL, OPT_NAME},
	HELP_OPT,
	END_OPT};
static const struct option stats_opts[] = {
	{"json", no_argument, NULL, OPT_JSON},
	{"reset", no_argument, NULL, OPT_RESET},
	HELP_OPT,
	END_OPT};
static const struct option top_opts[] = {
	{"iterations", required_argument, NULL, OPT_ITERATIONS},
	{"interval-ms", required_argument, NULL, OPT_INTERVAL},
	HELP_OPT,
	END_OPT};
static const struct option version_opts[] = {HELP_OPT, END_OPT};
static const struct option guard_list_opts[] = {
	{"json", no_argument, NULL, OPT_JSON}, HELP_OPT, END_OPT};
static const struct option guard_edit_opts[] = {
	{"guard", required_argument, NULL, OPT_GUARD},
	{"literal", required_argument, NULL, OPT_LITERAL},
	{"regex", required_argument, NULL, OPT_REGEX},
	HELP_OPT,
	END_OPT};

static const struct option policy_show_opts[] = {HELP_OPT, END_OPT};
static const struct option policy_set_opts[] = {
	{"pipeline", required_argument, NULL, OPT_PIPELINE},
	{"stage", required_argument, NULL, OPT_STAGE},
	{"pool", required_argument, NULL, OPT_POOL},
	{"load-bound", required_argument, NULL, OPT_LOAD_BOUND},
	{"warm-prefixes", required_argument, NULL, OPT_WARM_PREFIXES},
	HELP_OPT,
	END_OPT};

static const struct option tune_opts[] = {
	{"tuner", required_argument, NULL, OPT_TUNER},
	{"nodes", required_argument, NULL, OPT_NODES},
	{"n-c", required_argument, NULL, OPT_N_C},
	{"trials", required_argument, NULL, OPT_TRIALS},
	{"epsilon", required_argument, NULL, OPT_EPSILON},
	{"budget", required_argument, NULL, OPT_BUDGET},
	{"bias", required_argument, NULL, OPT_BIAS},
	{"heterogeneity", required_argument, NULL, OPT_HETEROGENEITY},
	{"seed", required_argument, NULL, OPT_SEED},
	{"noise-seed", required_argument, NULL, OPT_NOISE_SEED},
	{"unit-requests", required_argument, NULL, OPT_UNIT_REQUESTS},
	{"max-units", required_argument, NULL, OPT_MAX_UNITS},
	{"eta", required_argument, NULL, OPT_ETA},
	{"prefix-cache", required_argument, NULL, OPT_PREFIX_CACHE},
	{"proxy-nodes", required_argument, NULL, OPT_PROXY_NODES},
	{"slo-ms", required_argument, NULL, OPT_SLO_MS},
	{"json", no_argument, NULL, OPT_JSON},
	{"apply", no_argument, NULL, OPT_APPLY},
	{"dry-run", no_argument, NULL, OPT_DRY_RUN},
	{"pipeline", required_argument, NULL, OPT_PIPELINE},
	{"pool", required_argument, NULL, OPT_POOL},
	HELP_OPT,
	END_OPT};

static const struct option cost_show_opts[] = {
	{"tenant", required_argument, NULL, OPT_TENANT}, HELP_OPT, END_OPT};
static const struct option cost_plain_opts[] = {HELP_OPT, END_OPT};
static const struct option cost_add_opts[] = {
	{"file", required_argument, NULL, OPT_FILE},
	{"public", no_argument, NULL, OPT_PUBLIC},
	{"tenant", required_argument, NULL, OPT_TENANT},
	HELP_OPT,
	END_OPT};

static const struct command commands[] = {
	{"apply", "apply -f FILE [--dry-run]",
	 "Compile a pipeline file in sluiced and publish it as the new\n"
	 "configuration (--dry-run: compile and check only). Errors read\n"
	 "FILE:LINE: FIELD: what is wrong.\n",
	 "f:h", apply_opts, false, cmd_apply},
	{"get", "get [NAME]",
	 "Show the pipeline NAME, or every pipeline: stages, instances,\n"
	 "edges.\n",
	 "h", get_opts, true, cmd_get},
	{"instances", "instances [--pipeline P] [--stage S]",
	 "List instances with their streams and state.\n", "h", instances_opts,
	 false, cmd_instances},
	{"add", "add --pipeline P --stage S [--name N] --address IP:PORT",
	 "Add an instance to an engine stage (unnamed: sluiced names it).\n",
	 "h", add_opts, false, cmd_add},
	{"remove", "remove --pipeline P --stage S --name N",
	 "Remove an instance; streams pinned to it finish there, new ones go\n"
	 "elsewhere.\n",
	 "h", ref_opts, false, cmd_remove},
	{"drain", "drain --pipeline P --stage S --name N",
	 "Route no new streams to an instance; pinned streams finish.\n", "h",
	 ref_opts, false, cmd_drain},
	{"stats", "stats [--json] [--reset]",
	 "Counters: drops by reason, stages, instances, operators, flows,\n"
	 "mbufs, latency. --json prints one JSON object; --reset zeroes the\n"
	 "counters after reading them.\n",
	 "h", stats_opts, false, cmd_stats},
	{"top", "top [--iterations N] [--interval-ms MS]",
	 "Live view, refreshed every second (--interval-ms) until q or\n"
	 "Ctrl-C, or N refreshes.\n",
	 "h", top_opts, false, cmd_top},
	{"policy show", "policy show [PIPELINE]",
	 "How each pool and engine stage routes new streams: its policy\n"
	 "(round_robin, least_loaded, hash_request, prompt_aware; an\n"
	 "aggregating stage routes by key), its pool, prompt_aware's costs.\n",
	 "h", policy_show_opts, true, cmd_policy_show},
	{"policy set",
	 "policy set --pipeline P (--stage S | --pool NAME [--load-bound X]\n"
	 "           [--warm-prefixes N]) POLICY",
	 "Set the policy of a stage, or of a pool and every stage of it, and\n"
	 "a pool's prompt_aware settings (load_bound above 1.0 up to 16,\n"
	 "warm_prefixes 1..4); new streams follow them, those in flight keep\n"
	 "their instance.\n",
	 "h", policy_set_opts, true, cmd_policy_set},
	{"tune",
	 "tune [--tuner rs|hb|proxy] [--nodes N] [--n-c K] [--trials T]\n"
	 "           [--epsilon E|inf] [--budget B] [--bias b] "
	 "[--heterogeneity p]\n"
	 "           [--seed S] [--noise-seed S] [--unit-requests U] "
	 "[--max-units R]\n"
	 "           [--eta H] [--prefix-cache C] [--proxy-nodes M] "
	 "[--slo-ms MS]\n"
	 "           [--json] [--apply --pipeline P --pool NAME "
	 "[--dry-run]]",
	 "Tune a pool's policy, load_bound and warm_prefixes (the 11\n"
	 "configurations SetPolicy applies: prompt_aware with load_bound\n"
	 "1.1, 1.25, 1.5, 2 and warm_prefixes 1, 2; least_loaded,\n"
	 "round_robin, hash_request) against N simulated nodes (sluice-sim,\n"
	 "each its own traffic seed and rate; 20), from noisy, private\n"
	 "evaluations (tools/tune/README.md): each a fresh subsample of K\n"
	 "nodes (1% of N, at least 1) drawn with systems bias b (0),\n"
	 "Laplace noise for epsilon E (10; inf: none) clipped to [0, 1].\n"
	 "--tuner rs (default) draws T configurations (8) and evaluates each\n"
	 "at R units (9) of U simulated requests a node (20); hb runs\n"
	 "Hyperband with R and eta H (3); proxy tunes noiselessly on M\n"
	 "public proxy nodes (10) and deploys once (no epsilon). The job's\n"
	 "epsilon is charged to a budget of B (E): a job it cannot pay is\n"
	 "refused before it starts. Prints a line per evaluation (--json:\n"
	 "one JSON object a line) and the winner with its true SLO\n"
	 "attainment (every node, R units, no noise). The noise comes from\n"
	 "getrandom(2) unless --noise-seed. --apply sends the winner to\n"
	 "sluiced as `policy set --pipeline P --pool NAME` does (no traffic\n"
	 "stops); --dry-run or no --apply only prints that command. Exit 1:\n"
	 "the budget cannot pay the job, or sluiced refused the change.\n",
	 "h", tune_opts, false, cmd_tune},
	{"cost show", "cost show [--tenant T]",
	 "The scheduler's cost model: fitted, installed, its held-out error\n"
	 "against the public mean's, trainings, and each tenant's remaining\n"
	 "privacy budget (the config's tenants, or --tenant T).\n",
	 "h", cost_show_opts, false, cmd_cost_show},
	{"cost add", "cost add -f ROWS (--public | --tenant T)",
	 "Rows for the cost model, one a line: STAGE TAB OUTPUT_TOKENS TAB\n"
	 "PROMPT (\\n, \\t, \\\\ escaped): public ones, or one tenant's (each\n"
	 "within its cap a window and its budget).\n",
	 "f:h", cost_add_opts, false, cmd_cost_add},
	{"cost fit", "cost fit",
	 "Fit the public part (whitening, subspace, clip norms) on the\n"
	 "public rows.\n",
	 "h", cost_plain_opts, false, cmd_cost_fit},
	{"cost train", "cost train",
	 "Train on the tenants' rows (noisy, each tenant charged); installed\n"
	 "only if it beats the public mean on held-out public rows.\n",
	 "h", cost_plain_opts, false, cmd_cost_train},
	{"guard list", "guard list [--json]",
	 "The guards in use: one row per rule with its kind and counters\n"
	 "(matches, blocks, redactions), and each guard's prompt prefix.\n"
	 "--json prints the list as one JSON object.\n",
	 "h", guard_list_opts, false, cmd_guard_list},
	{"guard add", "guard add --guard NAME (--literal TEXT | --regex RE)",
	 "Add a rule to a guard; sluiced compiles the guard's rules again and\n"
	 "publishes them (streams already filtered keep the old rules).\n",
	 "h", guard_edit_opts, false, cmd_guard_add},
	{"guard remove",
	 "guard remove --guard NAME (--literal TEXT | --regex RE)",
	 "Remove a guard's rule, matched by kind and pattern; published as\n"
	 "for add.\n",
	 "h", guard_edit_opts, false, cmd_guard_remove},
	{"version", "version", "Versions of sluicectl and sluiced.\n", "h",
	 version_opts, false, cmd_version},
};

#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static void
usage(FILE *f)
{
	fprintf(f,
		"usage: sluicectl [--socket PATH | --tcp HOST:PORT "
		"[--token-file PATH] | --cluster URLS] COMMAND [ARGS]\n\n"
		"  --socket PATH      unix socket (default %s)\n"
		"  --cluster URLS     the cluster's state in etcd instead "
		"(http://H:P,...):\n"
		"                     apply FILE [--base REV] [--dry-run], "
		"get, members [--json]\n"
		"  --cluster-prefix P its keys "
		"(default " SL_CLUSTER_PREFIX_DEFAULT ")\n"
		"  --tcp HOST:PORT    TCP instead, with a token from\n"
		"  --token-file PATH  a file only you can read (mode 0600), "
		"or\n"
		"                     $SLUICE_TOKEN\n\n"
		"commands:\n",
		DEFAULT_SOCKET);
	for (size_t i = 0; i < N_COMMANDS; i++)
		fprintf(f, "  %s\n", commands[i].usage);
	fprintf(f, "\n'sluicectl COMMAND --help' describes one. Exit status: 0 "
		   "done, 1 refused by sluiced,\n2 bad usage, 3 sluiced "
		   "unreachable.\n");
}

static int
run_command(struct ctl *c, const struct command *cmd, int argc, char **argv)
{
	struct cmd_opts o = {.interval_ms = 1000};
	int opt;

	sl_tune_sim_defaults(&o.tune);
	c->cmd = cmd->name;
	optind = 0; /* glibc: start over on the new argv */
	opterr = 0;
	while ((opt = getopt_long(argc, argv, cmd->shortopts, cmd->longopts,
				  NULL)) != -1) {
		switch (opt) {
		case OPT_HELP:
			printf("usage: sluicectl [GLOBAL OPTIONS] %s\n\n%s",
			       cmd->usage, cmd->help);
			return 0;
		case OPT_FILE:
			o.file = optarg;
			break;
		case OPT_PIPELINE:
			o.pipeline = optarg;
			break;
		case OPT_STAGE:
			o.stage = optarg;
			break;
		case OPT_NAME:
			o.name = optarg;
			break;
		case OPT_ADDRESS:
			o.address = optarg;
			break;
		case OPT_GUARD:
			o.guard = optarg;
			break;
		case OPT_POOL:
			o.pool = optarg;
			break;
		case OPT_TENANT:
			o.tenant = optarg;
			break;
		case OPT_PUBLIC:
			o.public_ = true;
			break;
		case OPT_LITERAL:
			o.literal = optarg;
			break;
		case OPT_REGEX:
			o.regex = optarg;
			break;
		case OPT_DRY_RUN:
			o.dry_run = true;
			break;
		case OPT_JSON:
			o.json = true;
			break;
		case OPT_RESET:
			o.reset = true;
			break;
		case OPT_ITERATIONS:
			if (!sl_parse_u64(optarg, 1, 1000000000,
					  &o.iterations)) {
				fail_line(c,
					  "--iterations: must be 1.., got "
					  "\"%s\"",
					  optarg);
				return EXIT_USAGE;
			}
			break;
		case OPT_LOAD_BOUND: {
			char *end;

			/* The server checks the range, as for a file. */
			errno = 0;
			o.load_bound = strtod(optarg, &end);
			if (errno != 0 || end == optarg || *end != '\0' ||
			    !(o.load_bound > 0)) {
				fail_line(c,
					  "--load-bound: must be a number "
					  "above 1.0, got \"%s\"",
					  optarg);
				return EXIT_USAGE;
			}
			break;
		}
		case OPT_WARM_PREFIXES:
			if (!sl_parse_u64(optarg, 1, 4, &o.warm_prefixes)) {
				fail_line(c,
					  "--warm-prefixes: must be 1..4, got "
					  "\"%s\"",
					  optarg);
				return EXIT_USAGE;
			}
			break;
		case OPT_APPLY:
			o.apply = true;
			break;
		case OPT_TUNER:
		case OPT_NODES:
		case OPT_N_C:
		case OPT_TRIALS:
		case OPT_EPSILON:
		case OPT_BUDGET:
		case OPT_BIAS:
		case OPT_HETEROGENEITY:
		case OPT_SEED:
		case OPT_NOISE_SEED:
		case OPT_UNIT_REQUESTS:
		case OPT_MAX_UNITS:
		case OPT_ETA:
		case OPT_PREFIX_CACHE:
		case OPT_PROXY_NODES:
		case OPT_SLO_MS:
			if (!tune_opt(c, opt, optarg, &o.tune))
				return EXIT_USAGE;
			o.tune_trials_given |= opt == OPT_TRIALS;
			break;
		case OPT_INTERVAL:
			if (!sl_parse_u64(optarg, 10, 4000, &o.interval_ms)) {
				fail_line(c,
					  "--interval-ms: must be 10..4000, "
					  "got \"%s\"",
					  optarg);
				return EXIT_USAGE;
			}
			break;
		default:
			if (optopt != 0)
				fail_line(c, "option -%c: %s", optopt,
					  strchr(cmd->shortopts, optopt)
						  ? "needs a value"
						  : "unknown");
			else
				fail_line(c,
					  "option %s: unknown or needs a "
					  "value (see --help)",
					  argv[optind - 1]);
			return EXIT_USAGE;
		}
	}
	if (optind < argc) {
		if (!cmd->positional || optind + 1 < argc) {
			fail_line(c, "unexpected argument \"%s\" (see --help)",
				  argv[cmd->positional ? optind + 1 : optind]);
			return EXIT_USAGE;
		}
		o.positional = argv[optind];
	}
	return cmd->run(c, &o);
}

/* No command matched argv[0] (with its subcommand in argv[1]): a
 * command that has subcommands explains them, anything else is unknown. */
static int
unknown_command(int argc, char **argv)
{
	size_t n = strlen(argv[0]);
	bool group = false;

	for (size_t k = 0; k < N_COMMANDS; k++)
		if (strncmp(commands[k].name, argv[0], n) == 0 &&
		    commands[k].name[n] == ' ')
			group = true;
	if (!group) {
		fail_line(NULL, "unknown command \"%s\" (see --help)", argv[0]);
		return EXIT_USAGE;
	}
	if (argc > 1 &&
	    (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		printf("usage: sluicectl [GLOBAL OPTIONS] %s SUBCOMMAND\n\n",
		       argv[0]);
		for (size_t k = 0; k < N_COMMANDS; k++)
			if (strncmp(commands[k].name, argv[0], n) == 0 &&
			    commands[k].name[n] == ' ')
				printf("  %s\n", commands[k].usage);
		printf("\n'sluicectl %s SUBCOMMAND --help' describes one.\n",
		       argv[0]);
		return 0;
	}
	if (argc > 1)
		fprintf(stderr,
			"sluicectl: %s: unknown subcommand \"%s\" (see "
			"--help)\n",
			argv[0], argv[1]);
	else
		fprintf(stderr,
			"sluicectl: %s: a subcommand is required (see "
			"--help)\n",
			argv[0]);
	return EXIT_USAGE;
}

/* A token from @path: a regular file with no group or other permission
 * bits; one trailing newline cut. 0, or EXIT_USAGE after saying why. */
static int
read_token_file(const char *path, char *out, size_t outlen)
{
	struct stat st;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);

	if (fd < 0) {
		fail_line(NULL, "--token-file %s: %s", path, strerror(errno));
		return EXIT_USAGE;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		fail_line(NULL, "--token-file %s: not a regular file", path);
		return EXIT_USAGE;
	}
	if (st.st_mode & (S_IRWXG | S_IRWXO)) {
		close(fd);
		fail_line(NULL,
			  "--token-file %s: mode %04o lets group or others "
			  "read or change the token; chmod 600 %s",
			  path, (unsigned int)(st.st_mode & 07777), path);
		return EXIT_USAGE;
	}
	n = read(fd, out, outlen);
	close(fd);
	if (n < 0 || (size_t)n >= outlen) {
		fail_line(NULL, "--token-file %s: %s", path,
			  n < 0 ? strerror(errno) : "longer than a token");
		return EXIT_USAGE;
	}
	out[n] = '\0';
	if (n > 0 && out[n - 1] == '\n')
		out[--n] = '\0';
	if (n > 0 && out[n - 1] == '\r')
		out[--n] = '\0';
	if (n == 0 || strlen(out) != (size_t)n ||
	    strpbrk(out, "\r\n") != NULL) {
		fail_line(NULL,
			  "--token-file %s: want one line holding the token",
			  path);
		return EXIT_USAGE;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	struct ctl c = {.socket_path = DEFAULT_SOCKET, .fd = -1};
	static char token[TOKEN_MAX + 2];
	const char *token_file = NULL;
	const char *cluster = NULL, *cluster_prefix = NULL;
	int i = 1, rc;

	signal(SIGPIPE, SIG_IGN);
	c.token = getenv("SLUICE_TOKEN");
	while (i < argc && argv[i][0] == '-') {
		const char *a = argv[i];

		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			usage(stdout);
			return 0;
		}
		if (!strcmp(a, "--version")) {
			printf("sluicectl %s\n", SL_VERSION);
			return 0;
		}
		if (!strcmp(a, "--token") || !strncmp(a, "--token=", 8)) {
			fail_line(NULL,
				  "--token: a token on the command line is "
				  "visible to every local user (ps); use "
				  "--token-file PATH or SLUICE_TOKEN");
			return EXIT_USAGE;
		}
		if (i + 1 >= argc ||
		    (strcmp(a, "--socket") && strcmp(a, "--tcp") &&
		     strcmp(a, "--token-file") && strcmp(a, "--cluster") &&
		     strcmp(a, "--cluster-prefix"))) {
			fail_line(NULL,
				  "%s: unknown option or missing value "
				  "(see --help)",
				  a);
			return EXIT_USAGE;
		}
		if (!strcmp(a, "--socket"))
			c.socket_path = argv[i + 1];
		else if (!strcmp(a, "--tcp"))
			c.tcp = argv[i + 1];
		else if (!strcmp(a, "--cluster"))
			cluster = argv[i + 1];
		else if (!strcmp(a, "--cluster-prefix"))
			cluster_prefix = argv[i + 1];
		else
			token_file = argv[i + 1];
		i += 2;
	}
	if (i >= argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	/* The cluster's state in etcd, not one sluiced. */
	if (cluster != NULL)
		return sl_ctl_cluster_main(cluster, cluster_prefix, argc - i,
					   argv + i);
	if (token_file != NULL) {
		rc = read_token_file(token_file, token, sizeof(token));
		if (rc != 0)
			return rc;
		c.token = token;
	}
	if (c.tcp != NULL && (c.token == NULL || c.token[0] == '\0')) {
		fail_line(NULL, "--tcp needs --token-file PATH (or "
				"SLUICE_TOKEN)");
		return EXIT_USAGE;
	}
	for (size_t k = 0; k < N_COMMANDS; k++) {
		const char *name = commands[k].name;
		const char *sub = strchr(name, ' ');
		int skip = 0;

		if (sub == NULL && strcmp(argv[i], name) != 0)
			continue;
		if (sub != NULL &&
		    (strncmp(argv[i], name, (size_t)(sub - name)) != 0 ||
		     argv[i][sub - name] != '\0' || i + 1 >= argc ||
		     strcmp(argv[i + 1], sub + 1) != 0))
			continue;
		if (sub != NULL)
			skip = 1; /* getopt's argv[0] is the subcommand */
		rc = run_command(&c, &commands[k], argc - i - skip,
				 argv + i + skip);
		if (c.fd >= 0)
			close(c.fd);
		return rc;
	}
	return unknown_command(argc - i, argv + i);
}
