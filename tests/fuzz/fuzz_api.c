/* SPDX-License-Identifier: MIT */
/*
 * fuzz_api.c - libFuzzer harness for the control API with sluiced's real
 * backend: requests through sl_api (control/sl_api.c) to sl_ctl
 * (dataplane/sl_ctl.c), which compiles pipeline files and edits into
 * snapshots and publishes them to a worker context (struct sl_dp) that
 * runs no worker thread, so every publish is adopted at once; the same
 * EAL, mempool and net_ring port as fuzz_dataplane.
 *
 * Input: requests, each an opcode byte and its arguments (missing bytes
 * read as 0), encoded with protobuf-c as a client would and dispatched
 * the way a connection does:
 *
 *   ApplyPipeline     one of the pipeline files of fuzz_pipelines.h (or a
 *                     small one, or one naming a literals_file), or
 *                     bytes of the input as the file; dry run or not;
 *   AddInstance, RemoveInstance, DrainInstance, GetPipeline,
 *   ListInstances     names of pipelines, stages and instances from
 *                     small tables (real ones and wrong ones), addresses
 *                     and ports from the input;
 *   ListGuards, EditGuard  guards and patterns from a table or the input;
 *   GetStats (reset or not), GetVersion;
 *   a raw frame       bytes of the input as a frame payload.
 *
 * The opcode's high bits pick the caller: an in-process admin, or a TCP
 * peer carrying the admin token, the read-only token, a wrong one or
 * none. File access is stubbed through the compiler's read hook
 * (sl_confine.h): "f..." reads a fixed list, anything else fails.
 *
 * Checked on every request: exactly one well-formed Response frame whose
 * id is the request's (0 for a payload that is no Request), holding an
 * Error or a result, never both; a refused caller never changes the
 * generation; a change that succeeded moved it by one. After the
 * requests: the snapshot in use is whole (every instance's uid below
 * SL_MAX_INSTANCE_UIDS, stages with instances or operators), and a
 * client's fragment to the first pipeline still routes: it reaches an
 * instance of a stage the client's edges lead to. Then time runs on
 * until the dataplane holds no mbuf (the pool back to its in-use count
 * when the worker started). Every input starts from the base pipeline
 * file (applied through the API again when an input changed it).
 * ASan/UBSan/LSan catch the rest.
 *
 * Build and run: tests/fuzz/README.md.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_byteorder.h>
#include <rte_ether.h>
#include <rte_mbuf.h>

#include "fuzz_eal.h"
#include "fuzz_pipelines.h"
#include "sl_api.h"
#include "sl_arp.h"
#include "sl_confine.h"
#include "sl_ctl.h"
#include "sl_dp.h"
#include "sl_stream.h"
#include "sl_path.h"
#include "sl_port.h"
#include "sl_wire.h"
#include "sl_worker.h"
#include "sluice.pb-c.h"

/* sl_frame.h's framing (that header cannot join sl_wire.h here: both
 * name a struct sl_frame). */
#define FZ_FRAME_HDR 4
#define FZ_FRAME_MAX (1u << 20)
#define FZ_POOL_MBUFS 2047
#define FZ_TOKEN "s3cret-token"
#define FZ_RO_TOKEN "r3ad-only-token"
#define FZ_CLIENT_PORT 40000

static struct {
	struct rte_mempool *pool;
	struct fuzz_ring_port port;
	struct sl_dp *dp;
	struct sl_workers ws; /* the one worker, for the backend */
	struct sl_ctl ctl;
	struct sl_api *api;
	unsigned int in_use_base;
	uint64_t base_generation; /* ctl.generation with the base file */
	uint64_t next_req;
} g;

static const uint8_t *in;
static size_t in_n, in_off;

static void
fail(const char *what)
{
	fprintf(stderr, "fuzz_api: %s\n", what);
	abort();
}

static uint8_t
next(void)
{
	return in_off < in_n ? in[in_off++] : 0;
}

static void
quiet_log(const char *line, void *ctx)
{
	(void)line;
	(void)ctx;
}

/* ------------------------------------------------------------- files */

static int
stub_read(const struct sl_confine *c, const char *name, char **data,
	  size_t *len, char *why, size_t whylen)
{
	static const char list[] = "Hsiao Yun-Hwa\n\nTofu Island\nvx-100\n";

	(void)c;
	if (name[0] != 'f') {
		snprintf(why, whylen, "%s", strerror(ENOENT));
		return -ENOENT;
	}
	*data = strdup(list);
	if (*data == NULL)
		abort();
	*len = strlen(list);
	return 0;
}

static const struct sl_confine stub = {.read = stub_read};

/* ---------------------------------------------------------- requests */

static const char yaml_small[] =
	"sluiced: {address: 10.0.0.1, port: 7700}\n"
	"flows: {size: 256, idle_timeout_ms: 50, reorder_window: 4}\n"
	"liveness: {probe_ms: 0}\n"
	"clients: [10.0.1.0/24]\n"
	"pipelines:\n"
	"  - name: x\n"
	"    id: 9\n"
	"    stages:\n"
	"      - {name: only, instances: [10.0.6.1:7801]}\n";

static const char yaml_file[] =
	"sluiced: {address: 10.0.0.1, port: 7700}\n"
	"flows: {size: 256, idle_timeout_ms: 50, reorder_window: 4}\n"
	"liveness: {probe_ms: 0}\n"
	"clients: [10.0.1.0/24]\n"
	"guards:\n"
	"  - {name: forget, literals_file: fnames.txt}\n"
	"pipelines:\n"
	"  - name: fact\n"
	"    id: 1\n"
	"    guard: required\n"
	"    stages:\n"
	"      - {name: answer, instances: [10.0.2.1:7801]}\n"
	"    edges:\n"
	"      - {from: client, to: answer}\n"
	"      - {from: answer, to: client, guard: forget}\n";

/* Another sluiced address or flow table: refused (fixed at start). */
static const char yaml_moved[] =
	"sluiced: {address: 10.0.0.2, port: 7700}\n"
	"pipelines:\n"
	"  - name: x\n"
	"    id: 9\n"
	"    stages:\n"
	"      - {name: only, instances: [10.0.6.1:7801]}\n";

static const char *const yamls[] = {
	fuzz_yaml_a, fuzz_yaml_b, fuzz_yaml_c,
	yaml_small,  yaml_file,   yaml_moved,
};
static const char *const pipelines[] = {"fact", "sums", "chain", "late",
					"x",    "nope", ""};
static const char *const stages[] = {
	"answer", "claims", "queries", "best", "results", "gen", "total",
	"n",      "first",  "second",  "only", "nope",    ""};
static const char *const instances[] = {
	"answer/0", "answer/1", "claims/0", "queries/1", "queries/2", "gen/0",
	"second/1", "only/0",   "fz-1",     "fz-2",      "bad name!", ""};
static const char *const guards[] = {"forget", "pii", "nope", ""};
static const char *const patterns[] = {
	"Hsiao Yun-Hwa",
	"Ji-Yeon Park",
	"\\bvx-[0-9]{3}\\b",
	"[0-9]{3}-[0-9]{4}",
	"a+",
	"(",
	"Tofu Island",
	"x",
	"",
	"caf\xC3\xA9",
	"\xFF\xFE",
	"\\d{2,5}",
};

#define PICK(t) ((t)[next() % (sizeof(t) / sizeof((t)[0]))])

/* A string of the input: a length byte, then that many bytes (NUL-free:
 * protobuf strings here are C strings). */
static char *
input_string(char *buf, size_t cap)
{
	size_t len = next(), i;

	if (len >= cap)
		len = cap - 1;
	for (i = 0; i < len; i++) {
		buf[i] = (char)next();
		if (buf[i] == '\0')
			buf[i] = ' ';
	}
	buf[len] = '\0';
	return buf;
}

/* ------------------------------------------------------------ replies */

/* The Response in @reply, checked; NULL if the frame is not one. */
static Sluice__V1__Response *
reply_open(const uint8_t *reply, size_t len)
{
	Sluice__V1__Response *r;
	uint32_t n;

	if (reply == NULL || len < FZ_FRAME_HDR)
		fail("no reply frame");
	n = (uint32_t)reply[0] << 24 | (uint32_t)reply[1] << 16 |
	    (uint32_t)reply[2] << 8 | reply[3];
	if (n != len - FZ_FRAME_HDR || n > FZ_FRAME_MAX)
		fail("reply frame length");
	r = sluice__v1__response__unpack(NULL, n, reply + FZ_FRAME_HDR);
	if (r == NULL)
		fail("reply does not decode as a Response");
	if ((r->error != NULL) ==
	    (r->result_case != SLUICE__V1__RESPONSE__RESULT__NOT_SET))
		fail("reply has both or neither of error and result");
	if (r->error != NULL &&
	    (r->error->message == NULL || r->error->message[0] == '\0'))
		fail("error without a message");
	return r;
}

enum caller {
	CALLER_ADMIN,  /* in-process */
	CALLER_TOKEN,  /* TCP, admin token */
	CALLER_RO,     /* TCP, read-only token */
	CALLER_NOBODY, /* TCP, wrong or no token */
};

static bool
is_change(const Sluice__V1__Request *q)
{
	switch (q->body_case) {
	case SLUICE__V1__REQUEST__BODY_APPLY_PIPELINE:
		return !q->apply_pipeline->dry_run;
	case SLUICE__V1__REQUEST__BODY_ADD_INSTANCE:
	case SLUICE__V1__REQUEST__BODY_REMOVE_INSTANCE:
	case SLUICE__V1__REQUEST__BODY_DRAIN_INSTANCE:
	case SLUICE__V1__REQUEST__BODY_EDIT_GUARD:
		return true;
	default:
		return false;
	}
}

/* Send @q as @who; check the one reply. */
static void
call(Sluice__V1__Request *q, enum caller who)
{
	uint8_t *buf, *reply = NULL;
	size_t len, reply_len = 0;
	Sluice__V1__Response *r;
	uint64_t gen0 = g.ctl.generation;
	uint64_t throttled0 = sl_api_stats(g.api).auth_throttled;
	enum sl_api_after after;
	bool throttled;

	q->id = ++g.next_req;
	switch (who) {
	case CALLER_TOKEN:
		q->token = FZ_TOKEN;
		break;
	case CALLER_RO:
		q->token = FZ_RO_TOKEN;
		break;
	case CALLER_NOBODY:
		q->token = (next() & 1) ? "not-the-token" : "";
		break;
	default:
		break;
	}
	len = sluice__v1__request__get_packed_size(q);
	buf = malloc(len ? len : 1);
	if (buf == NULL)
		fail("out of memory");
	sluice__v1__request__pack(q, buf);
	after = sl_api_dispatch(g.api, buf, len, who == CALLER_ADMIN, &reply,
				&reply_len);
	free(buf);
	r = reply_open(reply, reply_len);
	if (r->id != q->id)
		fail("reply id is not the request's");
	/* After failed authentications (wall-clock rate limit) a TCP
	 * request is refused whatever its token: UNAUTHENTICATED, nothing
	 * done. */
	throttled = sl_api_stats(g.api).auth_throttled != throttled0;
	if (throttled &&
	    (who == CALLER_ADMIN || r->error == NULL ||
	     r->error->code != SLUICE__V1__ERROR__CODE__CODE_UNAUTHENTICATED ||
	     after != SL_API_CLOSE || g.ctl.generation != gen0))
		fail("a throttled request was not refused");
	if (throttled)
		who = CALLER_NOBODY;
	if (who == CALLER_NOBODY &&
	    (r->error == NULL ||
	     r->error->code != SLUICE__V1__ERROR__CODE__CODE_UNAUTHENTICATED ||
	     after != SL_API_CLOSE))
		fail("a request without a valid token was not refused");
	if ((who == CALLER_NOBODY || (who == CALLER_RO && is_change(q))) &&
	    g.ctl.generation != gen0)
		fail("a refused caller changed the configuration");
	if (who == CALLER_RO && is_change(q) &&
	    (r->error == NULL ||
	     r->error->code != SLUICE__V1__ERROR__CODE__CODE_PERMISSION_DENIED))
		fail("a read-only caller's change was not denied");
	if (r->error == NULL && is_change(q) && g.ctl.generation != gen0 + 1)
		fail("a change that succeeded did not move the generation "
		     "by one");
	if (r->error != NULL && g.ctl.generation != gen0)
		fail("a refused request changed the generation");
	sluice__v1__response__free_unpacked(r, NULL);
	free(reply);
}

/* A raw frame payload, as a peer may send it. */
static void
call_raw(bool trusted)
{
	uint8_t buf[512], *reply = NULL;
	size_t len = next() | (size_t)(next() & 1) << 8, reply_len = 0;
	uint64_t gen0 = g.ctl.generation;
	Sluice__V1__Response *r;

	for (size_t i = 0; i < len; i++)
		buf[i] = next();
	(void)sl_api_dispatch(g.api, buf, len, trusted, &reply, &reply_len);
	r = reply_open(reply, reply_len);
	if (!trusted && g.ctl.generation != gen0 && r->error != NULL)
		fail("a refused frame changed the generation");
	sluice__v1__response__free_unpacked(r, NULL);
	free(reply);
}

static void
request(uint8_t op)
{
	Sluice__V1__Request q = SLUICE__V1__REQUEST__INIT;
	Sluice__V1__ApplyPipeline ap = SLUICE__V1__APPLY_PIPELINE__INIT;
	Sluice__V1__GetPipeline gp = SLUICE__V1__GET_PIPELINE__INIT;
	Sluice__V1__ListInstances li = SLUICE__V1__LIST_INSTANCES__INIT;
	Sluice__V1__AddInstance ai = SLUICE__V1__ADD_INSTANCE__INIT;
	Sluice__V1__Instance inst = SLUICE__V1__INSTANCE__INIT;
	Sluice__V1__RemoveInstance ri = SLUICE__V1__REMOVE_INSTANCE__INIT;
	Sluice__V1__DrainInstance di = SLUICE__V1__DRAIN_INSTANCE__INIT;
	Sluice__V1__GetStats gs = SLUICE__V1__GET_STATS__INIT;
	Sluice__V1__GetVersion gv = SLUICE__V1__GET_VERSION__INIT;
	Sluice__V1__ListGuards lg = SLUICE__V1__LIST_GUARDS__INIT;
	Sluice__V1__EditGuard eg = SLUICE__V1__EDIT_GUARD__INIT;
	static char raw[4096], s1[96], s2[96], addr[32];
	enum caller who = (enum caller)(op >> 6);
	uint8_t b;

	switch (op % 12) {
	case 0: /* a pipeline file */
		b = next();
		ap.yaml = (char *)yamls[b % (sizeof(yamls) / sizeof(yamls[0]))];
		ap.name = (b & 0x40) ? "fuzz.yaml" : "";
		ap.dry_run = b & 0x80;
		q.body_case = SLUICE__V1__REQUEST__BODY_APPLY_PIPELINE;
		q.apply_pipeline = &ap;
		break;
	case 1: /* bytes of the input as the file */
	{
		size_t len = next() | (size_t)(next() & 7) << 8, i;

		if (len >= sizeof(raw))
			len = sizeof(raw) - 1;
		for (i = 0; i < len && in_off < in_n; i++) {
			raw[i] = (char)next();
			if (raw[i] == '\0')
				raw[i] = '\n';
		}
		raw[i] = '\0';
		ap.yaml = raw;
		ap.dry_run = op & 0x20;
		q.body_case = SLUICE__V1__REQUEST__BODY_APPLY_PIPELINE;
		q.apply_pipeline = &ap;
		break;
	}
	case 2:
		gp.name = (char *)PICK(pipelines);
		q.body_case = SLUICE__V1__REQUEST__BODY_GET_PIPELINE;
		q.get_pipeline = &gp;
		break;
	case 3:
		li.pipeline = (char *)PICK(pipelines);
		li.stage = (char *)PICK(stages);
		q.body_case = SLUICE__V1__REQUEST__BODY_LIST_INSTANCES;
		q.list_instances = &li;
		break;
	case 4:
		ai.pipeline = (char *)PICK(pipelines);
		ai.stage = (char *)PICK(stages);
		b = next();
		inst.name = (b & 0x80) ? input_string(s1, sizeof(s1))
				       : (char *)PICK(instances);
		snprintf(addr, sizeof(addr), "10.0.%u.%u", next() % 8, next());
		inst.address = (b & 0x40) ? input_string(s2, sizeof(s2)) : addr;
		inst.port = (b & 0x20) ? (uint32_t)next() << 16 | next()
				       : 7801u + (b & 3);
		ai.instance = (b & 0x10) ? NULL : &inst;
		q.body_case = SLUICE__V1__REQUEST__BODY_ADD_INSTANCE;
		q.add_instance = &ai;
		break;
	case 5:
		ri.pipeline = (char *)PICK(pipelines);
		ri.stage = (char *)PICK(stages);
		ri.instance = (char *)PICK(instances);
		q.body_case = SLUICE__V1__REQUEST__BODY_REMOVE_INSTANCE;
		q.remove_instance = &ri;
		break;
	case 6:
		di.pipeline = (char *)PICK(pipelines);
		di.stage = (char *)PICK(stages);
		di.instance = (char *)PICK(instances);
		q.body_case = SLUICE__V1__REQUEST__BODY_DRAIN_INSTANCE;
		q.drain_instance = &di;
		break;
	case 7:
		gs.reset = op & 0x20;
		q.body_case = SLUICE__V1__REQUEST__BODY_GET_STATS;
		q.get_stats = &gs;
		break;
	case 8:
		q.body_case = SLUICE__V1__REQUEST__BODY_GET_VERSION;
		q.get_version = &gv;
		break;
	case 9:
		q.body_case = SLUICE__V1__REQUEST__BODY_LIST_GUARDS;
		q.list_guards = &lg;
		break;
	case 10:
		b = next();
		eg.guard = (char *)PICK(guards);
		eg.remove = b & 1;
		eg.regex = b & 2;
		eg.pattern = (b & 4) ? input_string(s1, sizeof(s1))
				     : (char *)PICK(patterns);
		q.body_case = SLUICE__V1__REQUEST__BODY_EDIT_GUARD;
		q.edit_guard = &eg;
		break;
	default:
		call_raw(who == CALLER_ADMIN);
		return;
	}
	call(&q, who);
}

/* ----------------------------------------------------------- dataplane */

static struct rte_mbuf *burst[SL_PATH_CAP];
static uint16_t n_burst;

static void
feed(const uint8_t *dgram, size_t dlen, uint32_t src_ip, uint16_t src_port)
{
	uint8_t frame[SL_WIRE_FRAME_HDR_OFF + SL_WIRE_HDR_LEN + 64];
	struct rte_mbuf *m;
	size_t len = fuzz_frame_wrap(frame, sizeof(frame), &g.port.mac, src_ip,
				     src_port, dgram, dlen);
	char *p;

	m = rte_pktmbuf_alloc(g.pool);
	if (m == NULL || len == 0)
		fail("no mbuf for a frame");
	p = rte_pktmbuf_append(m, (uint16_t)len);
	memcpy(p, frame, len);
	burst[n_burst++] = m;
	if (n_burst == SL_BURST) {
		sl_dp_process(g.dp, burst, n_burst);
		n_burst = 0;
	}
}

static void
flush(void)
{
	if (n_burst != 0)
		sl_dp_process(g.dp, burst, n_burst);
	n_burst = 0;
}

/* Every instance of the snapshot in use answers a PROBE (alive, not
 * paused) and is a known neighbour, as on a network that works. */
static void
revive(void)
{
	const struct sl_config *cfg = g.dp->cfg;
	uint8_t dgram[SL_WIRE_HDR_LEN];

	for (uint16_t p = 0; p < cfg->n_pipelines; p++)
		for (uint16_t s = 0; s < cfg->pipelines[p].n_stages; s++) {
			const struct sl_stage_cfg *st =
				&cfg->pipelines[p].stages[s];

			for (uint16_t i = 0; i < st->n_instances; i++) {
				const struct sl_endpoint *ep =
					&st->instances[i].ep;
				struct rte_ether_addr mac = fuzz_mac_of(ep->ip);
				struct sl_frag_hdr h = {0};

				sl_neigh_learn(&g.dp->neigh, ep->ip, &mac,
					       sl_dp_neigh_kind(g.dp, ep->ip),
					       g.dp->now);
				h.pipeline = cfg->pipelines[p].id;
				h.stage = st->id;
				h.depth = 1;
				feed(dgram,
				     sl_wire_encode_control(dgram, &h,
							    SL_FRAG_F_PROBE, 0,
							    0, 0),
				     ep->ip, ep->port);
			}
		}
	flush();
}

/* Frames sluiced sent since the last call: freed; @ip:@port counted in
 * *@to when it is an instance of stage @stage of pipeline @pl. */
static unsigned int
take_sent(const struct sl_pipeline_cfg *pl, const bool *target)
{
	struct rte_mbuf *out[64];
	unsigned int k, hits = 0;

	while ((k = rte_ring_dequeue_burst(g.port.tx, (void **)out,
					   RTE_DIM(out), NULL)) != 0)
		for (unsigned int i = 0; i < k; i++) {
			const uint8_t *f =
				rte_pktmbuf_mtod(out[i], const uint8_t *);
			struct sl_frame fr;
			struct sl_frag_hdr h;

			if (pl != NULL &&
			    sl_wire_parse_frame(f, rte_pktmbuf_data_len(out[i]),
						&fr) == SL_WIRE_OK &&
			    sl_wire_parse(f + fr.hdr_off, fr.dgram_len, &h) ==
				    SL_WIRE_OK &&
			    !(h.flags & SL_FRAG_F_CONTROL))
				for (uint16_t s = 0; s < pl->n_stages; s++)
					for (uint16_t j = 0;
					     target[s] &&
					     j < pl->stages[s].n_instances;
					     j++)
						hits += pl->stages[s].instances[j]
									.ep
									.ip ==
								fr.dst_ip &&
							pl->stages[s].instances[j]
									.ep
									.port ==
								fr.dst_port;
			rte_pktmbuf_free(out[i]);
		}
	return hits;
}

/* The snapshot in use is whole. */
static void
check_snapshot(void)
{
	const struct sl_config *cfg = g.dp->cfg;

	if (cfg->n_pipelines < 1 || cfg->n_pipelines > SL_MAX_PIPELINES)
		fail("snapshot: pipelines");
	for (uint16_t p = 0; p < cfg->n_pipelines; p++)
		for (uint16_t s = 0; s < cfg->pipelines[p].n_stages; s++) {
			const struct sl_stage_cfg *st =
				&cfg->pipelines[p].stages[s];
			uint16_t takers = 0;

			if ((st->kind == SL_STAGE_ENGINE) !=
			    (st->n_instances > 0))
				fail("snapshot: an engine without instances");
			for (uint16_t i = 0; i < st->n_instances; i++) {
				if (st->instances[i].uid >=
				    SL_MAX_INSTANCE_UIDS)
					fail("snapshot: an instance uid");
				takers += !st->instances[i].draining;
			}
			if (st->n_instances > 0 && takers == 0)
				fail("snapshot: every instance of a stage "
				     "drains");
		}
}

/*
 * A client's fragment to the first pipeline reaches an instance of a
 * stage the client's edges lead to. Skipped where the snapshot lets no
 * client in (no client networks, no tenant that takes this address
 * without limits) or the client's edges lead to operators only.
 */
static void
check_routes(void)
{
	const struct sl_config *cfg = g.dp->cfg;
	const struct sl_pipeline_cfg *pl = &cfg->pipelines[0];
	bool target[SL_MAX_STAGES] = {false}, any = false;
	uint8_t dgram[SL_WIRE_HDR_LEN];
	struct sl_frag_hdr h = {0};
	struct sl_dp_counters c0;
	unsigned int hits;
	uint32_t ip;

	if (cfg->n_client_nets == 0)
		return;
	ip = cfg->client_nets[0].addr |
	     (cfg->client_nets[0].prefix_len < 32 ? 1u : 0u);
	if (cfg->n_tenants != 0) {
		uint16_t t;

		for (t = 0; t < cfg->n_tenants; t++) {
			const struct sl_tenant_cfg *tc = &cfg->tenants[t];

			if (tc->max_streams == 0 && tc->fragments_per_s == 0 &&
			    (tc->n_sources == 0 ||
			     sl_config_net_match(tc->sources, tc->n_sources,
						 ip)))
				break;
		}
		if (t == cfg->n_tenants)
			return;
		h.tenant = cfg->tenants[t].id;
	}
	for (uint8_t k = 0; k < pl->n_client_edges; k++) {
		uint16_t to = pl->edges[pl->client_edges[k]].to;

		if (to != SL_STAGE_CLIENT &&
		    pl->stages[to - 1].kind == SL_STAGE_ENGINE)
			target[to - 1] = any = true;
	}
	if (!any)
		return;
	{
		struct rte_ether_addr mac = fuzz_mac_of(ip);

		sl_neigh_learn(&g.dp->neigh, ip, &mac,
			       sl_dp_neigh_kind(g.dp, ip), g.dp->now);
	}
	take_sent(NULL, NULL);
	c0 = g.dp->cnt;
	h.version = SL_WIRE_VERSION;
	h.pipeline = pl->id;
	h.depth = 1;
	h.ancestry[0] = ++g.next_req;
	sl_wire_encode_hdr(dgram, &h);
	feed(dgram, SL_WIRE_HDR_LEN, ip, FZ_CLIENT_PORT);
	flush();
	hits = take_sent(pl, target);
	if (hits == 0) {
		fprintf(stderr,
			"fuzz_api: pipeline %s (generation %llu): "
			"a client's fragment reached no instance\n",
			pl->name, (unsigned long long)g.ctl.generation);
		for (int r = 1; r < SL_DROP_MAX; r++)
			if (g.dp->cnt.drops[r] != c0.drops[r])
				fprintf(stderr, "fuzz_api: dropped %s\n",
					sl_drop_name(r));
		fail("the dataplane does not route after the requests");
	}
}

/* Time runs on until the dataplane holds nothing. */
static void
quiet(void)
{
	for (int i = 0; i < 60; i++) {
		uint64_t ms = 2ull * g.dp->cfg->flow_idle_ms + 2000;

		g.dp->now += g.dp->tsc_hz / 1000 * ms;
		sl_dp_housekeeping(g.dp);
		take_sent(NULL, NULL);
		if (g.dp->flows->active == 0 &&
		    rte_mempool_in_use_count(g.pool) == g.in_use_base)
			return;
	}
	fprintf(stderr,
		"fuzz_api: after a quiet time: %u flows, %u mbufs in "
		"use (%u when the worker started)\n",
		g.dp->flows->active, rte_mempool_in_use_count(g.pool),
		g.in_use_base);
	fail("the dataplane still holds state after a quiet time");
}

/* -------------------------------------------------------------- driver */

static void
apply_base(void)
{
	Sluice__V1__Request q = SLUICE__V1__REQUEST__INIT;
	Sluice__V1__ApplyPipeline ap = SLUICE__V1__APPLY_PIPELINE__INIT;

	ap.yaml = (char *)fuzz_yaml_a;
	ap.name = "base.yaml";
	q.body_case = SLUICE__V1__REQUEST__BODY_APPLY_PIPELINE;
	q.apply_pipeline = &ap;
	call(&q, CALLER_ADMIN);
	g.base_generation = g.ctl.generation;
}

static void
cleanup(void)
{
	const struct sl_config *cfg;

	if (g.dp == NULL)
		return;
	sl_api_destroy(g.api);
	cfg = g.dp->cfg;
	sl_dp_fini(g.dp);
	sl_config_free((struct sl_config *)cfg);
	free(g.dp);
	g.dp = NULL;
	take_sent(NULL, NULL);
	if (rte_mempool_in_use_count(g.pool) != 0)
		fprintf(stderr, "fuzz_api: %u mbufs in use at exit\n",
			rte_mempool_in_use_count(g.pool));
	fuzz_ring_port_close(&g.port);
	rte_mempool_free(g.pool);
	sl_eal_cleanup();
}

int LLVMFuzzerInitialize(int *argc, char ***argv);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct sl_api_params ap = {.token = FZ_TOKEN,
				   .ro_token = FZ_RO_TOKEN,
				   .version = "fuzz",
				   .log = quiet_log};
	struct sl_config *cfg;
	char err[512];

	(void)argc;
	fuzz_eal_init((*argv)[0], "fuzz_api");
	g.pool = sl_pool_create("fz_pool", FZ_POOL_MBUFS, (int)rte_socket_id());
	if (g.pool == NULL || fuzz_ring_port_open(&g.port, "fz_api", g.pool))
		fail("pool or port");
	cfg = sl_config_parse_in(fuzz_yaml_a, strlen(fuzz_yaml_a), "base.yaml",
				 &stub, err, sizeof(err));
	if (cfg == NULL) {
		fprintf(stderr, "fuzz_api: base config: %s\n", err);
		exit(1);
	}
	g.dp = calloc(1, sizeof(*g.dp));
	if (g.dp == NULL || sl_dp_init(g.dp, cfg, g.port.port_id, g.pool) != 0)
		fail("sl_dp_init");
	if (rte_is_zero_ether_addr(&g.dp->mac))
		g.dp->mac = g.port.mac;
	g.ws.n = 1;
	g.ws.dp[0] = g.dp;
	sl_ctl_init(&g.ctl, &g.ws, g.pool, 0, &stub, NULL, NULL);
	g.api = sl_api_create(NULL, &ap, &sl_ctl_ops, &g.ctl);
	if (g.api == NULL)
		fail("sl_api_create");
	sl_dp_housekeeping(g.dp);
	take_sent(NULL, NULL);
	g.in_use_base = rte_mempool_in_use_count(g.pool);
	g.base_generation = g.ctl.generation;
	atexit(cleanup);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	in = data;
	in_n = size;
	in_off = 0;
	/* Every input from the base file. */
	if (g.ctl.generation != g.base_generation)
		apply_base();
	while (in_off < in_n)
		request(next());
	check_snapshot();
	revive();
	check_routes();
	quiet();
	return 0;
}
