/* SPDX-License-Identifier: MIT */
/*
 * sluice-engine - engine emulator: one instance of one pipeline stage.
 *
 * --role transform (the default): answers every input fragment with one
 * output fragment whose tokens are the input's, transformed (echo, upper,
 * rot13), sent back to the fragment's source (sluiced, or a client
 * talking to it directly). The output stream keeps the input's identity
 * (pipeline, stage, tenant, ancestry) and numbers its fragments from 0;
 * send_ns is copied so the client measures latency end to end.
 *
 * The other roles (answer, claims, queries, bm25, encoder, rerank) emulate
 * the stages of ALTO's fact-checking pipeline with a timing model: see
 * engine/roles.c for the timing and engine/model.c for what they say.
 * --stage-roles 1:answer,2:claims,3:queries makes the instance a member
 * of a pool that several LM stages share: each input stream is answered
 * with the role of its stage (the header's stage id), every role through
 * the one iteration loop (one GPU: one KV budget, one --max-num-seqs,
 * one --prefix-cache that the stages' few-shot prompts, --prefix-tokens
 * STAGE:N,..., compete for). What a stream is answered with is what the
 * single-role engine of its role answers, byte for byte.
 * --role replay is an LM stage that streams recorded answers: each
 * question is looked up in --data (JSON lines with "question" and
 * "generated") and its answer cut into tokens of --chunk-min..--chunk-max
 * bytes by a draw seeded with --seed.
 * --role openai is no emulation: the instance bridges its stage to an
 * OpenAI-compatible model server (vLLM, SGLang, llama.cpp's server, ...):
 * each input stream's text, put into --prompt, is POSTed to --upstream
 * with "stream": true and every server-sent event's text goes out as a
 * fragment as it arrives (engine/upstream.c); built as sluice-bridge, this
 * is the default role.
 * In every role a tokenless END|CHILDREN fragment (sluiced announcing how
 * many quanta a stream was cut into) is counted and not answered.
 *
 * Every datagram goes through libsluice's sl_rel (proto/WIRE.md, "Loss
 * repair and liveness"): input streams come out in sequence and once,
 * their gaps NACKed to sluiced and their END/ABORT ACKed; a gap never
 * filled comes out as ABORT (LOST) and is answered as such; answers
 * are kept for sluiced's NACKs and their END resent until ACKed. PROBEs
 * are answered, with PAUSE while the admission queue is full (timed
 * roles: --max-queue jobs waiting and every batch slot or worker busy,
 * or the oldest waiting --max-wait-ms; cleared a quarter below, and
 * below half the wait), and sluiced is told at once when that changes. On SIGTERM (or --duration) every answer still owed ends with
 * ABORT (SHUTDOWN), and the engine waits up to ENGINE_LINGER_NS for the
 * ACKs before it exits.
 *
 * It still checks what the layer below promises: per stream it tracks
 * the sequence numbers handed to it and counts misordered and duplicate
 * fragments and streams that END with a gap (answered with ABORT ENGINE,
 * as a real engine that lost part of its prompt would); with sl_rel in
 * front these stay 0. Duplicates are not answered: an engine must not
 * emit the same output twice.
 *
 * --gpu-attach DIR makes the instance a local GPU instance: besides UDP,
 * its input streams come from the token rings sluiced's gpu_tx node
 * fills (the files ring-* in DIR, engine/gpu_attach.h), each final stream
 * rebuilt as the fragments sluiced would have sent and answered as they
 * would be; answers, PROBEs and loss repair stay on UDP.
 *
 * Deterministic: no randomness, one thread, answers in arrival order.
 */
#include <errno.h>
#include <float.h>
#include <getopt.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "engine/engine.h"
#include "engine/gpu_attach.h"
#include "engine/http.h"
#include "sl_config.h"
#include "sl_opt.h"
#include "sl_prom.h"

#ifndef SL_SOURCE_DIR
#define SL_SOURCE_DIR "."
#endif
#define ENGINE_DEFAULT_CORPUS SL_SOURCE_DIR "/tools/data/corpus.txt"
/* sluice-bridge is this program with the openai role by default. */
#ifndef SL_ENGINE_DEFAULT_ROLE
#define SL_ENGINE_DEFAULT_ROLE SL_ENGINE_ROLE_TRANSFORM
#endif

#define ENGINE_POLL_NS (100ull * 1000000ull)
#define ENGINE_STATS_NS 1000000000ull
/* At exit, how long to wait for the ACKs of what was sent: the END
 * resend schedule (620 ms) and its last answer fit. */
#define ENGINE_LINGER_NS 1500000000ull

static volatile sig_atomic_t engine_stop;

static void
engine_on_signal(int sig)
{
	(void)sig;
	engine_stop = 1;
}

/* Names come from the command line: keep the stats file valid JSON. */
static void
put_json_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

/* --stage-roles: "unknown_stage" and "stages": {"S": {the role, its
 * prompt, its answers, and its prefix in the shared cache}, ...}. */
static void
engine_stage_stats_json(const struct engine *e, FILE *f)
{
	const char *sep = "";

	fprintf(f, ", \"unknown_stage\": %llu, \"stages\": {",
		(unsigned long long)e->unknown_stage);
	for (uint16_t s = 1; s < SL_ENGINE_STAGE_TRANSFORMS; s++) {
		const struct engine_stage_stats *ss = &e->st_stage[s];
		uint64_t key = sl_engine_prefix_key(e, s);
		const struct sl_lm_prefix_stats *ps =
			key < SL_LM_PREFIX_KEYS ? &e->lm.st.by_prefix[key]
						: NULL;

		if (e->stage_role[s] == 0)
			continue;
		fprintf(f,
			"%s\"%u\": {\"role\": \"%s\", \"prefix_tokens\": %u, "
			"\"streams\": %llu, \"requests_served\": %llu, "
			"\"tokens_out\": %llu, \"lines_out\": %llu, "
			"\"ttft_ms_mean\": %.3f, \"output_ms_mean\": %.3f, "
			"\"prefix_hits\": %llu, \"prefix_misses\": %llu, "
			"\"prefix_evictions\": %llu}",
			sep, (unsigned int)s,
			sl_engine_role_name(sl_engine_role_of(e, s)),
			sl_engine_prefix_tokens(e, s),
			(unsigned long long)ss->streams,
			(unsigned long long)ss->requests_served,
			(unsigned long long)ss->tokens_out,
			(unsigned long long)ss->lines_out,
			ss->ttft_count ? (double)ss->ttft_ns_sum / 1e6 /
						 (double)ss->ttft_count
				       : 0.0,
			ss->requests_served
				? (double)ss->output_ns_sum / 1e6 /
					  (double)ss->requests_served
				: 0.0,
			(unsigned long long)(ps ? ps->hits : 0),
			(unsigned long long)(ps ? ps->misses : 0),
			(unsigned long long)(ps ? ps->evictions : 0));
		sep = ", ";
	}
	fputc('}', f);
}

/* The stats object, as --stats-file holds it, to @f. */
static void
engine_stats_json(const struct engine *e, FILE *f)
{
	fputs("{\"name\": ", f);
	put_json_string(f, e->name);
	fprintf(f,
		", \"streams\": %llu, "
		"\"streams_completed\": %llu, \"fragments_in\": %llu, "
		"\"fragments_out\": %llu, \"tokens_in\": %llu, "
		"\"misordered\": %llu, \"duplicates\": %llu, "
		"\"incomplete\": %llu, \"aborted_in\": %llu, "
		"\"invalid\": %llu, \"untracked\": %llu, "
		"\"streams_open\": %u",
		(unsigned long long)e->st.streams,
		(unsigned long long)e->st.streams_completed,
		(unsigned long long)e->st.fragments_in,
		(unsigned long long)e->st.fragments_out,
		(unsigned long long)e->st.tokens_in,
		(unsigned long long)e->st.misordered,
		(unsigned long long)e->st.duplicates,
		(unsigned long long)e->st.incomplete,
		(unsigned long long)e->st.aborted_in,
		(unsigned long long)e->st.invalid,
		(unsigned long long)e->st.untracked, e->n_streams);
	fprintf(f,
		", \"role\": \"%s\", \"requests_served\": %llu, "
		"\"tokens_out\": %llu, \"queue_max\": %llu, "
		"\"markers\": %llu, \"children_announced\": %llu, "
		"\"overload_aborts\": %llu, \"expired\": %llu, "
		"\"too_long\": %llu, \"join_duplicates\": %llu, "
		"\"tx_dropped\": %llu, \"busy_ms\": %.3f",
		e->pooled ? "pool" : sl_engine_role_name(e->role),
		(unsigned long long)e->st.requests_served,
		(unsigned long long)e->st.tokens_out,
		(unsigned long long)e->st.queue_max,
		(unsigned long long)e->st.markers,
		(unsigned long long)e->st.children_announced,
		(unsigned long long)e->st.overload_aborts,
		(unsigned long long)e->st.expired,
		(unsigned long long)e->st.too_long,
		(unsigned long long)e->st.join_duplicates,
		(unsigned long long)e->st.tx_dropped,
		(double)e->st.busy_ns / 1e6);
	if (e->role == SL_ENGINE_ROLE_ENCODER ||
	    e->role == SL_ENGINE_ROLE_RERANK)
		fprintf(f, ", \"batches\": %llu",
			(unsigned long long)e->st.batches);
	if (sl_engine_role_is_lm(e->role))
		fprintf(f,
			", \"lm_iterations\": %llu, "
			"\"lm_prefill_iterations\": %llu, "
			"\"lm_prompt_tokens\": %llu, \"lm_prefix_hits\": %llu, "
			"\"lm_prefix_misses\": %llu, "
			"\"lm_prefix_evictions\": %llu, "
			"\"lm_preemptions\": %llu",
			(unsigned long long)e->lm.st.iterations,
			(unsigned long long)e->lm.st.prefill_iterations,
			(unsigned long long)e->lm.st.prompt_tokens,
			(unsigned long long)e->lm.st.prefix_hits,
			(unsigned long long)e->lm.st.prefix_misses,
			(unsigned long long)e->lm.st.prefix_evictions,
			(unsigned long long)e->lm.st.preemptions);
	if (e->pooled)
		engine_stage_stats_json(e, f);
	if (e->role == SL_ENGINE_ROLE_OPENAI && e->up != NULL) {
		const struct sl_upstream_counters *c =
			sl_upstream_counters(e->up);

		fprintf(f,
			", \"upstream\": {\"requests\": %llu, \"retries\": "
			"%llu, \"events\": %llu, \"done\": %llu, \"errors\": "
			"%llu, \"timeouts\": %llu, \"malformed\": %llu, "
			"\"closed\": %llu, \"active\": %u}",
			(unsigned long long)c->requests,
			(unsigned long long)c->retries,
			(unsigned long long)c->events,
			(unsigned long long)c->done,
			(unsigned long long)c->errors,
			(unsigned long long)c->timeouts,
			(unsigned long long)c->malformed,
			(unsigned long long)c->closed,
			sl_upstream_active(e->up));
	}
	if (e->gpu != NULL)
		fprintf(f,
			", \"gpu_rings\": %u, \"gpu_streams_taken\": %llu, "
			"\"gpu_fragments_in\": %llu, \"gpu_tokens_in\": %llu, "
			"\"gpu_aborted_in\": %llu, \"gpu_attach_errors\": %llu",
			sl_engine_gpu_rings(e->gpu),
			(unsigned long long)e->st.gpu_streams_taken,
			(unsigned long long)e->st.gpu_fragments_in,
			(unsigned long long)e->st.gpu_tokens_in,
			(unsigned long long)e->st.gpu_aborted_in,
			(unsigned long long)e->st.gpu_attach_errors);
	if (e->role == SL_ENGINE_ROLE_REPLAY)
		fprintf(f,
			", \"replay_records\": %zu, \"replay_unknown\": %llu",
			e->replay ? e->replay->n : 0,
			(unsigned long long)e->st.replay_unknown);
	fprintf(f,
		", \"paused\": %s, \"pause_changes\": %llu, "
		"\"shutdown_aborts\": %llu, \"shutdown_dropped\": %llu, "
		"\"rel\": ",
		e->rel && sl_rel_paused(e->rel) ? "true" : "false",
		(unsigned long long)e->st.pause_changes,
		(unsigned long long)e->st.shutdown_aborts,
		(unsigned long long)e->st.shutdown_dropped);
	if (e->rel != NULL) {
		struct sl_rel_usage u;

		sl_rel_counters_json(f, sl_rel_counters(e->rel), NULL);
		sl_rel_usage(e->rel, &u);
		fprintf(f,
			", \"rel_pending\": %u, \"rel_copies\": %u, "
			"\"rel_held\": %u",
			u.tx_pending, u.tx_copies, u.rx_held);
	} else {
		fputs("{}", f);
	}
	if (sl_engine_role_is_lm(e->role))
		fprintf(f,
			", \"ttft_ms_mean\": %.3f, \"tpot_ms_mean\": %.3f, "
			"\"output_ms_mean\": %.3f, \"lines_out\": %llu, "
			"\"length_directives\": %llu, "
			"\"bad_directives\": %llu",
			e->st.ttft_count ? (double)e->st.ttft_ns_sum / 1e6 /
						   (double)e->st.ttft_count
					 : 0.0,
			e->st.tpot_count ? (double)e->st.tpot_ns_sum / 1e6 /
						   (double)e->st.tpot_count
					 : 0.0,
			e->st.requests_served
				? (double)e->st.output_ns_sum / 1e6 /
					  (double)e->st.requests_served
				: 0.0,
			(unsigned long long)e->st.lines_out,
			(unsigned long long)e->st.length_directives,
			(unsigned long long)e->st.bad_directives);
	fputs("}\n", f);
}

/* The stats: to --stats-file, and as Prometheus text to --metrics (the
 * same numbers, sluice_engine_* or sluice_bridge_*, labelled with the
 * instance's name). 0 or -errno. */
static int
engine_write_stats(const struct engine *e)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *m;
	int rc = 0;

	if (e->stats_file == NULL && e->metrics == NULL)
		return 0;
	m = open_memstream(&buf, &len);
	if (m == NULL)
		return -errno;
	engine_stats_json(e, m);
	if (fclose(m) != 0) {
		free(buf);
		return -ENOMEM;
	}
	if (e->stats_file != NULL)
		rc = sl_file_replace(e->stats_file, buf, len);
	if (e->metrics != NULL) {
		json_t *j = json_loadb(buf, len, 0, NULL);
		struct sl_text t = {0};

		/* Out of memory: /metrics keeps the last text. */
		if (j != NULL &&
		    sl_prom_from_json(j,
				      e->role == SL_ENGINE_ROLE_OPENAI
					      ? "sluice_bridge"
					      : "sluice_engine",
				      "name", e->name, &t) == 0)
			sl_prom_publish(e->metrics, t.buf, t.len);
		json_decref(j);
		sl_text_free(&t);
	}
	free(buf);
	return rc;
}

/*
 * A per-stage list, STAGE:VALUE,... (STAGE 1..16, each at most once):
 * @fn(@ctx, stage, value) for each item. Return 0, or -1 on a bad list or
 * when @fn refuses a value (returns < 0).
 */
static int
engine_stage_items(const char *arg,
		   int (*fn)(void *ctx, unsigned int stage, const char *value),
		   void *ctx)
{
	char buf[256], *save = NULL, *item;
	bool seen[SL_ENGINE_STAGE_TRANSFORMS] = {false};

	if (strlen(arg) >= sizeof(buf) || arg[0] == '\0')
		return -1;
	strcpy(buf, arg);
	for (item = strtok_r(buf, ",", &save); item != NULL;
	     item = strtok_r(NULL, ",", &save)) {
		char *colon = strchr(item, ':'), *end;
		unsigned long stage;

		if (colon == NULL)
			return -1;
		*colon = '\0';
		errno = 0;
		stage = strtoul(item, &end, 10);
		if (errno != 0 || end == item || *end != '\0' || stage == 0 ||
		    stage >= SL_ENGINE_STAGE_TRANSFORMS || seen[stage] ||
		    fn(ctx, (unsigned int)stage, colon + 1) < 0)
			return -1;
		seen[stage] = true;
	}
	return 0;
}

static int
engine_transform_item(void *ctx, unsigned int stage, const char *value)
{
	struct engine *e = ctx;
	enum sl_transform t;

	if (sl_transform_by_name(value, &t) < 0)
		return -1;
	e->stage_transform[stage] = (uint8_t)(t + 1);
	return 0;
}

/*
 * --transform NAME, or STAGE:NAME,... (an instance of a pool answers the
 * streams of several stages, each with its stage's transform; a stage not
 * named gets echo). Return 0, or -1 on a bad list.
 */
static int
engine_transforms(struct engine *e, const char *arg)
{
	if (strchr(arg, ':') == NULL)
		return sl_transform_by_name(arg, &e->transform) < 0 ? -1 : 0;
	return engine_stage_items(arg, engine_transform_item, e);
}

/* --stage-roles: an LM role a stage; the first listed is e->role. */
static int
engine_stage_role_item(void *ctx, unsigned int stage, const char *value)
{
	struct engine *e = ctx;
	enum sl_engine_role r;

	if (sl_engine_role_by_name(value, &r) < 0 ||
	    (r != SL_ENGINE_ROLE_ANSWER && r != SL_ENGINE_ROLE_CLAIMS &&
	     r != SL_ENGINE_ROLE_QUERIES))
		return -1;
	if (!e->pooled)
		e->role = r;
	e->pooled = true;
	e->stage_role[stage] = (uint8_t)(r + 1);
	return 0;
}

/* --prefix-tokens STAGE:N,...: a few-shot prompt's length a stage. */
static int
engine_prefix_item(void *ctx, unsigned int stage, const char *value)
{
	struct sl_engine_model *m = ctx;
	uint64_t n;

	if (!sl_parse_u64(value, 0, 1u << 20, &n))
		return -1;
	m->stage_prefix_tokens[stage] = (uint32_t)n;
	return 0;
}

/* The transform of a stream of @stage. */
static enum sl_transform
engine_transform_of(const struct engine *e, uint16_t stage)
{
	if (stage < SL_ENGINE_STAGE_TRANSFORMS &&
	    e->stage_transform[stage] != 0)
		return (enum sl_transform)(e->stage_transform[stage] - 1);
	return e->transform;
}

/*
 * Handle one valid input fragment of the transform role; append the
 * answer (if any) to @out.
 */
static void
engine_handle(struct engine *e, const struct sl_frag_view *v,
	      struct sl_dgram *out, uint64_t now)
{
	struct sl_frag_hdr oh = v->hdr;
	struct engine_stream *s;
	struct engine_key k;
	bool created;
	int len;

	engine_key_of(&k, &v->hdr);
	s = engine_lookup(e, &k, &created);
	if (created)
		e->st.streams++;
	if (s == NULL) {
		/* No state: answer stateless, numbering as the input did. */
		e->st.untracked++;
	} else {
		s->last_ns = now;
		if (!engine_track_seq(e, s, v->hdr.seq))
			return;
		s->fragments++;
		oh.seq = s->out_seq++;
		if (v->hdr.flags & SL_FRAG_F_ABORT) {
			engine_remove(e, s);
		} else if (v->hdr.flags & SL_FRAG_F_END) {
			if (s->expected <= v->hdr.seq) {
				e->st.incomplete++;
				oh.flags = SL_FRAG_F_ABORT;
				oh.abort_reason = SL_ABORT_ENGINE;
			} else {
				e->st.streams_completed++;
			}
			engine_remove(e, s);
		}
	}

	if (oh.flags & SL_FRAG_F_ABORT && !(v->hdr.flags & SL_FRAG_F_ABORT)) {
		/* Our own abort: the partial answer is withdrawn, no tokens. */
		struct sl_wire_builder b;

		sl_wire_builder_init(&b, out->buf, out->cap, &oh);
		len = (int)sl_wire_builder_finish(&b);
	} else {
		len = sl_transform_frag(engine_transform_of(e, v->hdr.stage), v,
					&oh, out->buf, out->cap);
	}
	if (len < 0)
		return;
	out->len = (uint16_t)len;
	out->addr = v->src;
}

static int
engine_flush(struct engine *e, struct sl_burst *tx)
{
	unsigned int sent = 0;

	while (sent < tx->n) {
		int rc = sl_rel_send_burst(e->rel, tx->d + sent, tx->n - sent,
					   sl_now_ns());

		if (rc < 0) {
			e->st.tx_dropped += tx->n - sent;
			tx->n = 0;
			return rc;
		}
		if (rc == 0) {
			struct pollfd p = {.fd = e->sock->fd,
					   .events = POLLOUT};

			/* Socket buffer full: wait a little, then leave the
			 * rest to loss repair (kept as if sent: the NACK or
			 * the END's resend brings it) rather than stall
			 * every stream. */
			if (poll(&p, 1, 10) <= 0) {
				uint64_t now = sl_now_ns();

				e->st.tx_dropped += tx->n - sent;
				for (; sent < tx->n; sent++)
					sl_rel_track(e->rel, &tx->d[sent], now);
				break;
			}
			continue;
		}
		sent += (unsigned int)rc;
		e->st.fragments_out += (unsigned int)rc;
	}
	tx->n = 0;
	return 0;
}

struct sl_dgram *
engine_tx_slot(struct engine *e)
{
	struct sl_dgram *d;

	if (e->tx->n == SL_BURST_MAX)
		(void)engine_flush(e, e->tx); /* failures are counted */
	d = &e->tx->d[e->tx->n];
	d->len = 0;
	return d;
}

void
engine_tx_commit(struct engine *e, struct sl_dgram *d)
{
	(void)d;
	e->tx->n++;
}

/* PAUSE while the admission queue is full; tell sluiced on a change. */
static void
engine_update_pause(struct engine *e, uint64_t now)
{
	bool was = sl_rel_paused(e->rel), want = sl_role_pause(e, was, now);

	if (want != was) {
		e->st.pause_changes++;
		sl_rel_set_pause(e->rel, want, now);
	}
}

/*
 * Leaving with streams in flight: every output this instance owes ends
 * with ABORT (SHUTDOWN) now, rather than by sluiced's timeout; then wait
 * (bounded) for the ACKs of everything sent, resending as the protocol
 * says. What arrives meanwhile is not served.
 */
static void
engine_shutdown(struct engine *e, struct sl_burst *rx)
{
	uint64_t now = sl_now_ns(), end = now + ENGINE_LINGER_NS;
	struct sl_frag_view v;
	unsigned int n = 0;

	if (e->role != SL_ENGINE_ROLE_TRANSFORM)
		n += sl_role_shutdown(e);
	(void)engine_flush(e, e->tx);
	/* Transform outputs, and anything else started and not ended. */
	n += sl_rel_abort_open(e->rel, SL_ABORT_SHUTDOWN, sl_now_ns());
	e->st.shutdown_aborts += n;
	for (;;) {
		struct pollfd p = {.fd = e->sock->fd, .events = POLLIN};
		struct sl_rel_usage u;
		uint64_t next;
		int k, i;

		k = sl_sock_recv_burst(e->sock, rx->d, SL_BURST_MAX);
		now = sl_now_ns();
		for (i = 0; i < k; i++) {
			if (sl_rel_input(e->rel, &rx->d[i], now) != SL_WIRE_OK)
				e->st.invalid++;
			while (sl_rel_next(e->rel, &v))
				e->st.shutdown_dropped++;
		}
		next = sl_rel_tick(e->rel, now);
		while (sl_rel_next(e->rel, &v))
			e->st.shutdown_dropped++;
		sl_rel_usage(e->rel, &u);
		if (u.tx_pending == 0 || now >= end)
			break;
		if (k == SL_BURST_MAX)
			continue;
		if (next > end)
			next = end;
		next = next > now ? next - now : 0;
		sl_poll_ns(&p, 1, next);
	}
}

/* One valid fragment, any role. */
void
engine_input(struct engine *e, const struct sl_frag_view *v, uint64_t now)
{
	e->st.fragments_in++;
	e->st.tokens_in += v->hdr.token_count;
	if (v->hdr.flags & SL_FRAG_F_CHILDREN) {
		e->st.markers++;
		e->st.children_announced += v->hdr.child_count;
		/* sluiced's announcement, not part of any stream we answer
		 * (its seq numbers the parent stream, cut into children). */
		if (v->hdr.token_count == 0)
			return;
	}
	if (v->hdr.flags & SL_FRAG_F_ABORT)
		e->st.aborted_in++;
	if (e->role == SL_ENGINE_ROLE_TRANSFORM) {
		struct sl_dgram *d = engine_tx_slot(e);

		engine_handle(e, v, d, now);
		if (d->len > 0)
			engine_tx_commit(e, d);
	} else {
		sl_role_handle(e, v, now);
	}
}

static void
usage(FILE *f)
{
	fprintf(f,
		"usage: sluice-engine --listen IP:PORT [--name NAME]\n"
		"       [--role transform|answer|claims|queries|bm25|encoder|"
		"rerank|replay]\n"
		"       [--transform echo|upper|rot13|STAGE:NAME,...] "
		"[--duration SEC]\n"
		"       [--stats-file PATH] [--metrics IP:PORT] [--quiet]\n"
		"       [--gpu-attach DIR (input also from sluiced's token "
		"rings, DIR/ring-*)]\n"
		"  timed roles:\n"
		"       [--time-scale F (1)] [--seed S (0)] [--corpus FILE]\n"
		"       [--max-queue N (4096)] [--max-wait-ms MS (0: none)]\n"
		"       [--length-model table|lowrank (table): answer, "
		"claims, queries]\n"
		"  answer, claims, queries (LM: an iteration loop like "
		"vLLM's,\n"
		"  constants of a 7B model on an A100, "
		"tools/engine/README.md):\n"
		"       [--decode-ms MS (12)] [--decode-per-seq-ms MS (0.3)]\n"
		"       [--prefill-ms MS (11)] [--prefill-per-token-ms MS "
		"(0.08)]\n"
		"       [--max-num-seqs N (256)] [--max-batched-tokens N "
		"(4096)]\n"
		"       [--kv-tokens N (110000)] [--prefix-tokens N (0)]\n"
		"       [--prefix-cache SLOTS (0: none)] [--chunked-prefill]\n"
		"       [--serial-children]\n"
		"  a member of a pool: several stages, one iteration loop:\n"
		"       --stage-roles STAGE:answer|claims|queries,... "
		"(instead of --role)\n"
		"       [--prefix-tokens STAGE:N,... (each stage's prompt)]\n"
		"  replay (LM timing as above, no corpus):\n"
		"       --data FILE.jsonl [--chunk-min BYTES (1)]"
		" [--chunk-max BYTES (12)]\n"
		"  bm25, encoder, rerank:\n"
		"       [--workers W (1)] [--token-ms MS (bm25: 2)]\n"
		"       [--item-ms MS (encoder: 5 a batch, rerank: 15)]\n"
		"       [--batch N (encoder: 32)] [--item-batch-ms MS"
		" (encoder: 0.3)]\n"
		"       [--join N (rerank: 2)]\n"
		"  answer, claims, queries, replay served over HTTP too:\n"
		"       [--http IP:PORT] (POST /v1/completions, "
		"/v1/chat/completions)\n"
		"  openai (a bridge to an OpenAI-compatible server):\n"
		"       --upstream URL [--api completions|chat (completions)]\n"
		"       [--model NAME] [--prompt TEXT (\"{input}\")"
		" | --config FILE --stage PIPELINE/STAGE]\n"
		"       [--api-key-file FILE (else $OPENAI_API_KEY)]\n"
		"       [--max-tokens N] [--max-num-seqs N (256) streaming at "
		"once]\n"
		"       [--first-token-timeout-ms MS (30000)]"
		" [--idle-timeout-ms MS (30000)]\n"
		"       [--retries N (1), before the first text]\n"
		"default corpus: %s\n",
		ENGINE_DEFAULT_CORPUS);
}

static uint64_t
engine_ms_to_ns(double ms, double scale)
{
	return (uint64_t)llround(ms * scale * 1e6);
}

/* Flags of the timing model, in ms before --time-scale; < 0: unset. */
struct engine_opts {
	double time_scale;
	double decode_ms;
	double decode_per_seq_ms;
	double prefill_ms;
	double prefill_per_token_ms;
	unsigned int max_batched_tokens;
	unsigned int kv_tokens;
	const char *prefix_arg; /* --prefix-tokens N or STAGE:N,... */
	unsigned int prefix_tokens;
	unsigned int prefix_cache;
	bool chunked_prefill;
	bool serial_children;
	double token_ms;
	double item_ms;
	double item_batch_ms;
	unsigned int batch;
	unsigned int max_batch;
	unsigned int max_queue;
	double max_wait_ms;
	unsigned int workers;
	unsigned int join;
	const char *corpus;
	const char *data;
	unsigned int chunk_min;
	unsigned int chunk_max;
	const char *http; /* --http IP:PORT: serve the LM role over HTTP too */
	/* openai */
	const char *upstream;
	const char *api;
	const char *model;
	const char *api_key_file;
	const char *metrics; /* --metrics IP:PORT: GET /metrics */
	const char *config;  /* --config FILE --stage PIPELINE/STAGE: prompt */
	const char *stage;
	double first_token_ms;
	double idle_ms;
	unsigned int retries;
	unsigned int max_tokens;
	const char *gpu_attach; /* --gpu-attach DIR: input from token rings */
};

/*
 * --config FILE --stage PIPELINE/STAGE: the stage's prompt template from
 * the pipeline file sluiced runs (`prompt:`; none: the input alone). The
 * file is compiled as sluiced compiles it, so a file sluiced would refuse
 * is refused here with the same message. 0, or -1 after a message.
 */
static int
engine_config_prompt(struct engine *e, const struct engine_opts *o)
{
	char err[512], pipeline[SL_NAME_MAX];
	const char *slash = o->stage ? strchr(o->stage, '/') : NULL;
	struct sl_config *cfg;
	int rc = -1;

	if (slash == NULL || slash == o->stage ||
	    (size_t)(slash - o->stage) >= sizeof(pipeline)) {
		fprintf(stderr, "sluice-engine: --config needs --stage "
				"PIPELINE/STAGE\n");
		return -1;
	}
	if (e->prompt != NULL) {
		fprintf(stderr, "sluice-engine: --prompt or --config, not "
				"both\n");
		return -1;
	}
	snprintf(pipeline, sizeof(pipeline), "%.*s", (int)(slash - o->stage),
		 o->stage);
	cfg = sl_config_load(o->config, err, sizeof(err));
	if (cfg == NULL) {
		fprintf(stderr, "sluice-engine: %s\n", err);
		return -1;
	}
	for (unsigned int p = 0; p < cfg->n_pipelines; p++) {
		const struct sl_pipeline_cfg *pl = &cfg->pipelines[p];

		for (unsigned int s = 0; s < pl->n_stages; s++) {
			const char *t = pl->stages[s].prompt;

			if (strcmp(pl->name, pipeline) != 0 ||
			    strcmp(pl->stages[s].name, slash + 1) != 0)
				continue;
			rc = 0;
			if (t != NULL && (e->prompt_owned = strdup(t)) == NULL)
				rc = -ENOMEM;
		}
	}
	sl_config_free(cfg);
	if (rc < 0) {
		if (rc == -ENOMEM)
			fprintf(stderr, "sluice-engine: out of memory\n");
		else
			fprintf(stderr, "sluice-engine: %s has no stage %s\n",
				o->config, o->stage);
		return -1;
	}
	e->prompt = e->prompt_owned;
	return 0;
}

/* The upstream's key: --api-key-file's first line, else $OPENAI_API_KEY,
 * else none. Never printed. 0, or -1 after a message. */
static int
engine_api_key(const char *path, char *key, size_t cap)
{
	const char *env = getenv("OPENAI_API_KEY");
	FILE *f;
	size_t n;

	key[0] = '\0';
	if (path == NULL) {
		if (env != NULL && strlen(env) < cap)
			strcpy(key, env);
		return 0;
	}
	f = fopen(path, "r");
	if (f == NULL || fgets(key, (int)cap, f) == NULL) {
		fprintf(stderr, "sluice-engine: --api-key-file %s: %s\n", path,
			f == NULL ? strerror(errno) : "empty");
		if (f != NULL)
			fclose(f);
		return -1;
	}
	fclose(f);
	n = strcspn(key, "\r\n");
	key[n] = '\0';
	return 0;
}

/* The openai role's server (upstream.h). */
static int
engine_setup_upstream(struct engine *e, const struct engine_opts *o)
{
	static char key[512];

	if (engine_api_key(o->api_key_file, key, sizeof(key)) < 0)
		return -1;
	e->up_cfg = (struct sl_upstream_cfg){
		.url = o->upstream,
		.chat = o->api != NULL && strcmp(o->api, "chat") == 0,
		.model = o->model,
		.api_key = key[0] != '\0' ? key : NULL,
		.max_tokens = o->max_tokens,
		.first_token_ns = (uint64_t)(o->first_token_ms * 1e6),
		.idle_ns = (uint64_t)(o->idle_ms * 1e6),
		.retries = o->retries,
	};
	return 0;
}

/* Turn the flags into the model of @e's role (defaults per role). */
static int
engine_setup_model(struct engine *e, const struct engine_opts *o)
{
	bool encoder = e->role == SL_ENGINE_ROLE_ENCODER;
	/* Per role, tools/engine/README.md says how they were sized. */
	double item_ms = o->item_ms >= 0 ? o->item_ms : encoder ? 5 : 15;
	double item_batch_ms = o->item_batch_ms >= 0 ? o->item_batch_ms
			       : encoder             ? 0.3
						     : 0;

	e->time_scale = o->time_scale;
	e->m.lm = (struct sl_lm_params){
		.decode_base_ns = engine_ms_to_ns(o->decode_ms, o->time_scale),
		.decode_per_seq_ns =
			engine_ms_to_ns(o->decode_per_seq_ms, o->time_scale),
		.prefill_base_ns =
			engine_ms_to_ns(o->prefill_ms, o->time_scale),
		.prefill_per_token_ns =
			engine_ms_to_ns(o->prefill_per_token_ms, o->time_scale),
		.max_num_seqs = o->max_batch,
		.max_batched_tokens = o->max_batched_tokens,
		.kv_tokens = o->kv_tokens,
		.prefix_cache_slots = o->prefix_cache,
		.chunked_prefill = o->chunked_prefill,
	};
	/* e->m.prefix_by_stage and its table: engine_parse_args. */
	e->m.prefix_tokens = o->prefix_tokens;
	e->m.serial_children = o->serial_children;
	e->m.token_ns = engine_ms_to_ns(o->token_ms, o->time_scale);
	e->m.item_ns = engine_ms_to_ns(item_ms, o->time_scale);
	e->m.item_batch_ns = engine_ms_to_ns(item_batch_ms, o->time_scale);
	e->m.batch = o->batch ? o->batch : encoder ? 32 : 1;
	e->m.max_batch = o->max_batch;
	e->m.max_queue = o->max_queue;
	e->m.max_wait_ns = engine_ms_to_ns(o->max_wait_ms, o->time_scale);
	e->m.workers = o->workers;
	e->m.join = o->join;
	if (e->role == SL_ENGINE_ROLE_TRANSFORM)
		return 0;
	if (e->role == SL_ENGINE_ROLE_OPENAI && engine_setup_upstream(e, o) < 0)
		return -1;
	if (e->role == SL_ENGINE_ROLE_REPLAY) {
		char err[512];

		e->chunk_min = o->chunk_min;
		e->chunk_max = o->chunk_max;
		e->replay = sl_model_replay_load(o->data, err, sizeof(err));
		if (e->replay == NULL) {
			fprintf(stderr, "sluice-engine: %s\n", err);
			return -1;
		}
	} else if (sl_engine_role_is_lm(e->role)) {
		e->corpus = sl_corpus_load(o->corpus);
		if (e->corpus == NULL) {
			fprintf(stderr,
				"sluice-engine: cannot load corpus %s: %s\n",
				o->corpus, strerror(errno));
			return -1;
		}
	}
	if (sl_role_init(e) < 0) {
		fprintf(stderr, "sluice-engine: cannot allocate timers\n");
		return -1;
	}
	return 0;
}

/*
 * The command line into @e and @o: *@listen, *@duration and *@help as
 * given. Return 0, or 2 (the exit status) after a message.
 */
static int
engine_parse_args(int argc, char **argv, struct engine *e,
		  struct engine_opts *o, const char **listen, double *duration,
		  bool *help)
{
	const char *transform = NULL, *role = NULL, *stage_roles = NULL;
	const char *length_model = "table";
	uint32_t prefix_max = 0;
	const struct sl_opt_spec spec[] = {
		SL_OPT_S("listen", listen),
		SL_OPT_S("name", &e->name),
		SL_OPT_S("transform", &transform),
		SL_OPT_D("duration", duration, 0, DBL_MAX),
		SL_OPT_S("stats-file", &e->stats_file),
		SL_OPT_S("metrics", &o->metrics),
		SL_OPT_F("quiet", &e->quiet),
		SL_OPT_F("help", help),
		SL_OPT_S("role", &role),
		SL_OPT_S("stage-roles", &stage_roles),
		SL_OPT_D("time-scale", &o->time_scale, 0, DBL_MAX),
		SL_OPT_N("max-num-seqs", &o->max_batch, 1, 65536),
		SL_OPT_N("max-batch", &o->max_batch, 1, 65536),
		SL_OPT_N("max-queue", &o->max_queue, 0, ENGINE_TABLE_SIZE),
		SL_OPT_D("max-wait-ms", &o->max_wait_ms, 0, DBL_MAX),
		SL_OPT_N("workers", &o->workers, 1, 65536),
		SL_OPT_N("join", &o->join, 1, SL_ENGINE_JOIN_MAX),
		SL_OPT_N64("seed", &e->m.seed, 0, UINT64_MAX),
		SL_OPT_S("length-model", &length_model),
		SL_OPT_S("corpus", &o->corpus),
		SL_OPT_D("prefill-ms", &o->prefill_ms, 0, DBL_MAX),
		SL_OPT_D("prefill-per-token-ms", &o->prefill_per_token_ms, 0,
			 DBL_MAX),
		SL_OPT_D("decode-ms", &o->decode_ms, 0, DBL_MAX),
		SL_OPT_D("decode-per-seq-ms", &o->decode_per_seq_ms, 0,
			 DBL_MAX),
		SL_OPT_N("max-batched-tokens", &o->max_batched_tokens, 1,
			 1u << 24),
		SL_OPT_N("kv-tokens", &o->kv_tokens, 1, 1u << 30),
		SL_OPT_S("prefix-tokens", &o->prefix_arg),
		SL_OPT_N("prefix-cache", &o->prefix_cache, 0, 4096),
		SL_OPT_F("chunked-prefill", &o->chunked_prefill),
		SL_OPT_F("serial-children", &o->serial_children),
		SL_OPT_D("token-ms", &o->token_ms, 0, DBL_MAX),
		SL_OPT_D("item-ms", &o->item_ms, 0, DBL_MAX),
		SL_OPT_D("item-batch-ms", &o->item_batch_ms, 0, DBL_MAX),
		SL_OPT_N("batch", &o->batch, 1, 4096),
		SL_OPT_S("data", &o->data),
		SL_OPT_N("chunk-min", &o->chunk_min, 1,
			 SL_MODEL_REPLAY_CHUNK_MAX),
		SL_OPT_N("chunk-max", &o->chunk_max, 1,
			 SL_MODEL_REPLAY_CHUNK_MAX),
		SL_OPT_S("http", &o->http),
		SL_OPT_S("upstream", &o->upstream),
		SL_OPT_S("api", &o->api),
		SL_OPT_S("model", &o->model),
		SL_OPT_S("prompt", &e->prompt),
		SL_OPT_S("config", &o->config),
		SL_OPT_S("stage", &o->stage),
		SL_OPT_S("api-key-file", &o->api_key_file),
		SL_OPT_D("first-token-timeout-ms", &o->first_token_ms, 1,
			 3.6e6),
		SL_OPT_D("idle-timeout-ms", &o->idle_ms, 1, 3.6e6),
		SL_OPT_N("retries", &o->retries, 0, 10),
		SL_OPT_N("max-tokens", &o->max_tokens, 0, 1u << 20),
		SL_OPT_S("gpu-attach", &o->gpu_attach),
	};
	int first = sl_opt_parse("sluice-engine", argc, argv, spec,
				 sizeof(spec) / sizeof(spec[0]), NULL);

	if (first < 0) /* it said why */
		return 2;
	if (*help)
		return 0;
	if (transform != NULL && engine_transforms(e, transform) < 0) {
		fprintf(stderr,
			"sluice-engine: bad --transform '%s' (echo, upper or "
			"rot13; or STAGE:NAME,... for the stages of a pool, "
			"STAGE 1..%d)\n",
			transform, SL_ENGINE_STAGE_TRANSFORMS - 1);
		return 2;
	}
	if (sl_model_lengths_parse(length_model, &e->m.lengths) < 0) {
		fprintf(stderr,
			"sluice-engine: --length-model: must be table or "
			"lowrank, got '%s'\n",
			length_model);
		return 2;
	}
	if (role != NULL && sl_engine_role_by_name(role, &e->role) < 0) {
		fprintf(stderr,
			"sluice-engine: unknown role '%s' (transform, answer, "
			"claims, queries, bm25, encoder, rerank, replay)\n",
			role);
		return 2;
	}
	if (stage_roles != NULL &&
	    (role != NULL || transform != NULL ||
	     engine_stage_items(stage_roles, engine_stage_role_item, e) < 0)) {
		fprintf(stderr,
			"sluice-engine: bad --stage-roles '%s' (STAGE:ROLE,... "
			"with STAGE 1..%d once each and ROLE answer, claims or "
			"queries; not with --role or --transform)\n",
			stage_roles, SL_ENGINE_STAGE_TRANSFORMS - 1);
		return 2;
	}
	if (o->prefix_arg != NULL && strchr(o->prefix_arg, ':') == NULL &&
	    !sl_opt_uint("sluice-engine", "prefix-tokens", o->prefix_arg, 0,
			 1u << 20, &o->prefix_tokens))
		return 2;
	if (o->prefix_arg != NULL && strchr(o->prefix_arg, ':') != NULL) {
		e->m.prefix_by_stage = true;
		if (!e->pooled ||
		    engine_stage_items(o->prefix_arg, engine_prefix_item,
				       &e->m) < 0) {
			fprintf(stderr,
				"sluice-engine: bad --prefix-tokens '%s' "
				"(N, or STAGE:N,... with --stage-roles: "
				"STAGE 1..%d once each, N 0..%u)\n",
				o->prefix_arg, SL_ENGINE_STAGE_TRANSFORMS - 1,
				1u << 20);
			return 2;
		}
	}
	prefix_max = o->prefix_tokens;
	for (unsigned int s = 0; s < SL_ENGINE_STAGE_TRANSFORMS; s++)
		if (e->m.stage_prefix_tokens[s] > prefix_max)
			prefix_max = e->m.stage_prefix_tokens[s];
	if (*listen == NULL || first != argc) {
		usage(stderr);
		return 2;
	}
	if (o->http != NULL && !sl_engine_role_is_lm(e->role)) {
		fprintf(stderr, "sluice-engine: --http is for the LM roles "
				"(answer, claims, queries, replay)\n");
		return 2;
	}
	if (o->http != NULL && e->pooled) {
		fprintf(stderr, "sluice-engine: --http serves one role, not "
				"--stage-roles\n");
		return 2;
	}
	if ((e->role == SL_ENGINE_ROLE_OPENAI) != (o->upstream != NULL)) {
		fprintf(stderr, "sluice-engine: %s\n",
			o->upstream ? "--upstream is for --role openai"
				    : "--role openai needs --upstream URL");
		return 2;
	}
	if ((o->config != NULL || o->stage != NULL) &&
	    e->role != SL_ENGINE_ROLE_OPENAI) {
		fprintf(stderr, "sluice-engine: --config and --stage are for "
				"--role openai\n");
		return 2;
	}
	if ((o->config != NULL) != (o->stage != NULL)) {
		fprintf(stderr, "sluice-engine: --config and --stage go "
				"together\n");
		return 2;
	}
	if (o->config != NULL && engine_config_prompt(e, o) < 0)
		return 2;
	if (o->api != NULL && strcmp(o->api, "chat") != 0 &&
	    strcmp(o->api, "completions") != 0) {
		fprintf(stderr,
			"sluice-engine: --api: chat or completions, not %s\n",
			o->api);
		return 2;
	}
	if ((e->role == SL_ENGINE_ROLE_REPLAY) != (o->data != NULL)) {
		fprintf(stderr, "sluice-engine: %s\n",
			o->data ? "--data is for --role replay"
				: "--role replay needs --data FILE.jsonl");
		return 2;
	}
	if (o->kv_tokens <= prefix_max + 1) {
		fprintf(stderr,
			"sluice-engine: bad --kv-tokens %u: no prompt fits "
			"(the "
			"--prefix-tokens %u and one token of input and of "
			"answer need more)\n",
			o->kv_tokens, prefix_max);
		return 2;
	}
	if (o->chunk_min > o->chunk_max) {
		fprintf(stderr,
			"sluice-engine: --chunk-min %u is above --chunk-max "
			"%u\n",
			o->chunk_min, o->chunk_max);
		return 2;
	}
	return 0;
}

/* Socket, stream table and loss repair of @e on @listen_arg; 0, or 1
 * after a message. @addr_name gets the address bound. */
static int
engine_open(struct engine *e, const char *listen_arg, char *addr_name)
{
	struct sockaddr_in listen_addr;
	struct sl_rel_config rc;

	if (sl_endpoint_parse(listen_arg, false, &listen_addr) < 0) {
		fprintf(stderr, "sluice-engine: bad --listen '%s'\n",
			listen_arg);
		return 2;
	}
	e->sock = sl_sock_open(&listen_addr);
	if (e->sock == NULL) {
		fprintf(stderr, "sluice-engine: cannot listen on %s: %s\n",
			listen_arg, strerror(errno));
		return 1;
	}
	sl_endpoint_str(&e->sock->local, addr_name, SL_ENDPOINT_STRLEN);
	if (e->name == NULL)
		e->name = addr_name;
	e->table = calloc(ENGINE_TABLE_SIZE, sizeof(e->table[0]));
	if (e->table == NULL) {
		fprintf(stderr,
			"sluice-engine: cannot allocate stream table\n");
		return 1;
	}
	/* As many streams each way as the stream table holds. */
	sl_rel_config_default(&rc);
	rc.rx_streams_max = ENGINE_TABLE_SIZE;
	rc.tx_streams_max = ENGINE_TABLE_SIZE;
	rc.answer_probes = true;
	e->rel = sl_rel_new(e->sock, &rc);
	if (e->rel == NULL) {
		fprintf(stderr,
			"sluice-engine: cannot allocate stream state: %s\n",
			strerror(errno));
		return 1;
	}
	return 0;
}

/* --gpu-attach @dir: the rings' streams for the address @e is bound to
 * (a wildcard address names no instance). 0, or -1 after a message. */
static int
engine_gpu_open(struct engine *e, const char *dir)
{
	const struct sockaddr_in *a = &e->sock->local;

	if (a->sin_addr.s_addr == htonl(INADDR_ANY)) {
		fprintf(stderr,
			"sluice-engine: --gpu-attach needs --listen with the "
			"instance's own address, not 0.0.0.0 (sluiced names "
			"the instance by it)\n");
		return -1;
	}
	e->gpu = sl_engine_gpu_open(dir, ntohl(a->sin_addr.s_addr),
				    ntohs(a->sin_port));
	if (e->gpu == NULL) {
		fprintf(stderr, "sluice-engine: --gpu-attach %s: %s\n", dir,
			strerror(errno));
		return -1;
	}
	return 0;
}

/* Sleep until input arrives, @next_rel (the next modelled event or
 * repair timer, UINT64_MAX: none) or ENGINE_POLL_NS. */
static void
engine_sleep(const struct engine *e, uint64_t next_rel)
{
	struct pollfd p[2] = {{.fd = e->sock->fd, .events = POLLIN}};
	uint64_t wait = ENGINE_POLL_NS, now;
	nfds_t n = 1;

	if (e->http != NULL) { /* the HTTP clients' sockets too */
		p[n++] = (struct pollfd){.fd = sl_http_fd(e->http),
					 .events = POLLIN};
		if (sl_http_wait_ns(e->http) < wait)
			wait = sl_http_wait_ns(e->http);
	}
	if (next_rel != UINT64_MAX) {
		now = sl_now_ns();
		if (next_rel <= now)
			wait = 0;
		else if (next_rel - now < wait)
			wait = next_rel - now;
	}
	/* The rings have no file descriptor to wait on: poll them. */
	if (e->gpu != NULL) {
		uint64_t gpu_wait = sl_engine_gpu_wait_ns(e->gpu, sl_now_ns());

		if (gpu_wait < wait)
			wait = gpu_wait;
	}
	if (wait == 0)
		return;
	if (e->up != NULL) { /* the model server's sockets too */
		sl_upstream_wait(e->up, e->sock->fd, wait);
		return;
	}
	sl_poll_ns(p, n, wait);
}

/* Serve until a signal, @duration seconds (0: no limit) or an error. */
static void
engine_run(struct engine *e, struct sl_burst *rx, struct sl_burst *tx,
	   double duration)
{
	uint64_t start = sl_now_ns(), next_timer = UINT64_MAX;
	uint64_t next_stats = start + ENGINE_STATS_NS;
	uint64_t next_expire = start + ENGINE_STATS_NS;

	while (!engine_stop) {
		struct sl_frag_view v;
		uint64_t now, next_rel;
		unsigned int taken = 0;
		int n, i;

		n = sl_sock_recv_burst(e->sock, rx->d, SL_BURST_MAX);
		if (n < 0) {
			fprintf(stderr, "sluice-engine: recv: %s\n",
				strerror(-n));
			break;
		}
		now = sl_now_ns();
		for (i = 0; i < n; i++) {
			/* Control fragments stop here; data comes out in
			 * sequence, once per fragment. */
			if (sl_rel_input(e->rel, &rx->d[i], now) !=
			    SL_WIRE_OK) {
				e->st.invalid++;
				continue;
			}
			while (sl_rel_next(e->rel, &v))
				engine_input(e, &v, now);
		}
		/* Streams for us in sluiced's token rings: whole, in order. */
		if (e->gpu != NULL)
			taken = sl_engine_gpu_poll(e->gpu, e, now);
		if (e->http != NULL) /* new requests become jobs */
			sl_http_run(e->http);
		if (e->role != SL_ENGINE_ROLE_TRANSFORM) {
			/* Fire what fell due while we were receiving. */
			now = sl_now_ns();
			next_timer = sl_role_run_timers(e, now);
		}
		/* What the timers said for HTTP requests goes out now (a
		 * resumed connection is served by the next run). */
		if (e->http != NULL)
			sl_http_run(e->http);
		/* NACK repeats, resends; a stream given up comes out as
		 * ABORT (LOST), one silent past idle as ABORT (EXPIRED), and
		 * is answered as such. */
		now = sl_now_ns();
		next_rel = sl_rel_tick(e->rel, now);
		while (sl_rel_next(e->rel, &v))
			engine_input(e, &v, now);
		engine_update_pause(e, now);
		if (tx->n > 0 && engine_flush(e, tx) < 0)
			break;

		if (now >= next_expire) {
			engine_expire(e, now);
			next_expire = now + ENGINE_STATS_NS;
			if (tx->n > 0 && engine_flush(e, tx) < 0)
				break;
		}
		if (now >= next_stats) {
			engine_write_stats(e);
			next_stats = now + ENGINE_STATS_NS;
		}
		if (duration > 0 && (double)(now - start) >= duration * 1e9)
			break;
		/* A full burst means more is probably waiting. */
		if (n == SL_BURST_MAX || taken == SL_ENGINE_GPU_TAKE_MAX)
			continue;
		if (next_timer < next_rel)
			next_rel = next_timer;
		if (e->role != SL_ENGINE_ROLE_TRANSFORM) {
			uint64_t due =
				sl_role_pause_due(e, sl_rel_paused(e->rel));

			if (due < next_rel)
				next_rel = due;
		}
		engine_sleep(e, next_rel);
	}
}

/* The last words: a summary line unless --quiet. */
static void
engine_summary(const struct engine *e)
{
	if (e->quiet)
		return;
	fprintf(stderr,
		"sluice-engine %s: %llu streams (%llu completed), %llu "
		"fragments in, %llu out, %llu misordered, %llu duplicates, "
		"%llu incomplete, %llu invalid\n",
		e->name, (unsigned long long)e->st.streams,
		(unsigned long long)e->st.streams_completed,
		(unsigned long long)e->st.fragments_in,
		(unsigned long long)e->st.fragments_out,
		(unsigned long long)e->st.misordered,
		(unsigned long long)e->st.duplicates,
		(unsigned long long)e->st.incomplete,
		(unsigned long long)e->st.invalid);
}

int
main(int argc, char **argv)
{
	static struct sl_burst rx, tx;
	struct engine e = {.transform = SL_TRANSFORM_ECHO,
			   .role = SL_ENGINE_DEFAULT_ROLE};
	struct engine_opts o = {
		.time_scale = 1,
		/* tools/engine/README.md gives each one's source. */
		.decode_ms = SL_LM_DEFAULT_DECODE_MS,
		.decode_per_seq_ms = SL_LM_DEFAULT_DECODE_PER_SEQ_MS,
		.prefill_ms = SL_LM_DEFAULT_PREFILL_MS,
		.prefill_per_token_ms = SL_LM_DEFAULT_PREFILL_PER_TOKEN_MS,
		.max_batched_tokens = SL_LM_DEFAULT_BATCHED_TOKENS,
		.kv_tokens = SL_LM_DEFAULT_KV_TOKENS,
		.token_ms = 2,
		.item_ms = -1,
		.item_batch_ms = -1,
		.max_batch = SL_LM_DEFAULT_MAX_NUM_SEQS,
		.max_queue = 4096,
		.workers = 1,
		.join = 2,
		.corpus = ENGINE_DEFAULT_CORPUS,
		.chunk_min = 1,
		.chunk_max = 12,
		.first_token_ms = 30000,
		.idle_ms = 30000,
		.retries = 1,
	};
	const char *listen_arg = NULL;
	char addr_name[SL_ENDPOINT_STRLEN];
	double duration = 0;
	struct sigaction sa;
	bool help = false;
	int rc;

	rc = engine_parse_args(argc, argv, &e, &o, &listen_arg, &duration,
			       &help);
	if (rc != 0 || help) {
		if (help)
			usage(stdout);
		return rc;
	}
	if (engine_setup_model(&e, &o) < 0)
		return 1;
	rc = engine_open(&e, listen_arg, addr_name);
	if (rc != 0)
		return rc;
	if (o.gpu_attach != NULL && engine_gpu_open(&e, o.gpu_attach) < 0) {
		sl_rel_free(e.rel);
		free(e.table);
		sl_sock_close(e.sock);
		return 1;
	}
	if (o.http != NULL && (e.http = sl_http_open(&e, o.http)) == NULL)
		return 1;
	if (o.metrics != NULL &&
	    (e.metrics = sl_prom_serve(o.metrics, "sluice-engine")) == NULL)
		return 1;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = engine_on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	sl_burst_reset(&rx);
	sl_burst_reset(&tx);
	e.tx = &tx;
	if (!e.quiet && e.role == SL_ENGINE_ROLE_TRANSFORM)
		fprintf(stderr,
			"sluice-engine %s: listening on %s, transform %s\n",
			e.name, addr_name, sl_transform_name(e.transform));
	else if (!e.quiet)
		fprintf(stderr,
			"sluice-engine %s: listening on %s, role %s, time "
			"scale %g\n",
			e.name, addr_name,
			e.pooled ? "pool" : sl_engine_role_name(e.role),
			e.time_scale);
	rc = engine_write_stats(&e);
	if (rc < 0) {
		fprintf(stderr, "sluice-engine: cannot write %s: %s\n",
			e.stats_file, strerror(-rc));
		return 1;
	}
	engine_run(&e, &rx, &tx, duration);
	engine_shutdown(&e, &rx);
	/* Every HTTP answer has ended now (SHUTDOWN at the latest). */
	if (e.http != NULL)
		sl_http_run(e.http);
	sl_http_close(e.http);
	e.http = NULL;
	rc = engine_write_stats(&e);
	engine_summary(&e);
	sl_role_fini(&e);
	sl_rel_free(e.rel);
	sl_corpus_free(e.corpus);
	sl_model_replay_free(e.replay);
	sl_engine_gpu_close(e.gpu);
	free(e.table);
	sl_sock_close(e.sock);
	sl_prom_close(e.metrics);
	free(e.prompt_owned);
	return rc < 0 ? 1 : 0;
}
