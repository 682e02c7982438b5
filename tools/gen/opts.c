/* SPDX-License-Identifier: MIT */
/*
 * opts.c - sluicegen's command line: usage, the options of its modes
 * (transform, pipeline, DPDK) and the checks between them.
 */
#include "gen.h"

static int
gen_parse_expect(struct gen_opts *o, const char *list)
{
	char buf[256], *save = NULL, *name;

	if (strlen(list) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, list);
	o->n_expect = 0;
	for (name = strtok_r(buf, ",", &save); name != NULL;
	     name = strtok_r(NULL, ",", &save)) {
		if (o->n_expect == GEN_STAGES_MAX ||
		    sl_transform_by_name(name, &o->expect[o->n_expect]) < 0)
			return -EINVAL;
		o->n_expect++;
	}
	return o->n_expect ? 0 : -EINVAL;
}

static void
usage(FILE *f)
{
	fprintf(f,
		"usage: sluicegen --server IP:PORT [--bind IP] "
		"[--pipeline ID]\n"
		"       [--tenant T] [--streams N] [--rate FRAGS_PER_S]\n"
		"       [--fragments-per-request F] [--tokens-per-fragment K]\n"
		"       [--duration SEC | --requests R] [--drain-ms MS]\n"
		"       [--expect T1,T2,...] [--corpus FILE] [--seed S]\n"
		"       [--json] [--check] [--quiet]\n"
		"       sluicegen --mode pipeline --server IP:PORT [--bind "
		"IP]\n"
		"       [--pipeline ID] [--tenant T] [--question-tokens N]\n"
		"       [--tokens-per-fragment K] [--arrival "
		"poisson|constant]\n"
		"       (--request-rate REQ_PER_S [--duration SEC] |\n"
		"        --sweep R1,R2,... [--sweep-duration SEC]"
		" [--sweep-pause-ms MS])\n"
		"       [--requests R] [--drain-ms MS] [--cancel-ms MS]"
		" [--dump FILE]\n"
		"       [--times FILE] [--id-prefix N]\n"
		"       [--corpus FILE | --questions FILE.jsonl] [--seed S]"
		" [--json] [--check]\n"
		"       [--quiet]\n"
		"       sluicegen --trace FILE.csv --server IP:PORT [--bind IP]"
		" [--pipeline ID]\n"
		"       [--tenant T] [--trace-speedup X] [--trace-start SEC]"
		" [--duration SEC]\n"
		"       [--requests R] [--tokens-per-fragment K]"
		" [--drain-ms MS] [--cancel-ms MS]\n"
		"       [--dump FILE] [--times FILE] [--id-prefix N]"
		" [--corpus FILE] [--seed S] [--json]\n"
		"       [--check] [--quiet]\n"
		"       sluicegen (--dpdk-iface IF | --dpdk-vdev SPEC)"
		" --server IP:PORT --bind IP[:PORT]\n"
		"       --instance IP:PORT [--dst-mac MAC] [--lcores LIST]"
		" [--file-prefix NAME]\n"
		"       [--pipeline ID] [--tenant T] [--streams N]"
		" [--fragments-per-request K]\n"
		"       [--tokens-per-fragment T] (--rate FRAGS_PER_S |"
		" --find-capacity\n"
		"       [--capacity-start R] [--capacity-max R]"
		" [--capacity-trial SEC]\n"
		"       [--capacity-step RATIO]) [--arrival constant|poisson]"
		" [--duration SEC]\n"
		"       [--warmup SEC] [--calibrate N] [--drain-ms MS]"
		" [--seed S] [--json]\n"
		"       [--check] [--quiet]\n"
		"transforms: echo, upper, rot13 (one per stage, in order)\n"
		"pipeline mode: defaults --question-tokens 12,"
		" --tokens-per-fragment 16,\n"
		"  --drain-ms 30000 (after the last question), --arrival"
		" poisson;\n"
		"  --cancel-ms MS: a request still open when the drain"
		" ends is cut off,\n"
		"  ABORT (CLIENT) to sluiced, which ends it and answers"
		" ABORT (CLIENT), taken\n"
		"  for MS more (\"cut_off\" counts them; 0, the default:"
		" no cut-off);\n"
		"  \"lost\": neither completed nor aborted at the end;\n"
		"  --dump writes \"<index>\\t<ok|lost|aborted:REASON>\\t"
		"<escaped text>\"\n"
		"  per request (FILE.<i> for rate i of a sweep);\n"
		"  --times writes \"<index>\\t<due_us>\\t<sent_us>\\t"
		"<first_us>\\t<done_us>\\t<flags>\"\n"
		"  per request, microseconds from the run's start (0: never),"
		" FILE.<i> likewise;\n"
		"  --questions asks the file's questions (one JSON object a"
		" line with\n"
		"  \"id\" and \"question\") in file order, request i the"
		" i-th, all of them\n"
		"  unless --duration/--requests stop sooner; its dump lines"
		" are\n"
		"  \"<index>\\t<id>\\t<flags>\\t<escaped text>\"\n"
		"trace mode (--mode pipeline): one request a row of an Azure"
		" LLM inference\n"
		"  trace (" GEN_TRACE_HEADER "), due at\n"
		"  (its time - the first replayed row's) / --trace-speedup"
		" (1), open loop,\n"
		"  from the first row at or after --trace-start trace seconds"
		" (0), until\n"
		"  --duration or --requests; its prompt is the line"
		" \"" SL_MAX_TOKENS_KEY " G\"\n"
		"  (GeneratedTokens) and ContextTokens corpus tokens;"
		" --tokens-per-fragment 64\n"
		"DPDK mode: the generator owns a DPDK port (EAL --no-huge"
		" --no-pci, one lcore)\n"
		"  and plays client (--bind, port 40000 by default) and"
		" instance (--instance,\n"
		"  the one instance of the pipeline's one stage) at once;"
		" latency from each\n"
		"  fragment's scheduled send time (send_ns); defaults"
		" --streams 16,\n"
		"  --fragments-per-request 8, --tokens-per-fragment 4,"
		" --arrival constant,\n"
		"  --warmup 0.5, --calibrate 2000, --lcores 0;"
		" --find-capacity: trials of\n"
		"  --capacity-trial 2 s from --capacity-start 10000,"
		" doubling while clean\n"
		"  (halving to 1/16 of it while not), then halving the"
		" interval until\n"
		"  --capacity-step 1.05 (1.2 s between trials, 6 s after"
		" one that was not clean)\n"
		"default corpus: %s\n",
		GEN_DEFAULT_CORPUS);
}

/* "1,2.5,10": up to GEN_SWEEP_MAX positive rates. */
int
gen_parse_rates(const char *list, double *rates, unsigned int *n)
{
	char buf[1024], *save = NULL, *item;

	if (strlen(list) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, list);
	*n = 0;
	for (item = strtok_r(buf, ",", &save); item != NULL;
	     item = strtok_r(NULL, ",", &save)) {
		double v;

		if (!sl_parse_double(item, 0, DBL_MAX, &v) || v <= 0 ||
		    *n == GEN_SWEEP_MAX)
			return -EINVAL;
		rates[(*n)++] = v;
	}
	return *n ? 0 : -EINVAL;
}

/* "02:00:00:00:00:01" into @mac; -EINVAL for anything else. */
static int
gen_parse_mac(const char *text, uint8_t *mac)
{
	unsigned int v[6];
	int end = 0;

	if (sscanf(text, "%2x:%2x:%2x:%2x:%2x:%2x%n", &v[0], &v[1], &v[2],
		   &v[3], &v[4], &v[5], &end) != 6 ||
	    text[end] != '\0' || strlen(text) != 17)
		return -EINVAL;
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)v[i];
	return 0;
}

/* What the options given as text say; -1 after a message. */
static int
gen_parse_values(struct gen_opts *o, const char *server, const char *bind,
		 const char *expect, const char *mode, const char *arrival,
		 const char *sweep)
{
	const char *bad = NULL, *arg = NULL;

	if (server != NULL &&
	    (sl_endpoint_parse(server, false, &o->server) < 0 ||
	     o->server.sin_port == 0))
		bad = "server", arg = server;
	else if (sl_endpoint_parse(bind ? bind : "0.0.0.0", true, &o->bind) < 0)
		bad = "bind", arg = bind;
	else if (expect != NULL && gen_parse_expect(o, expect) < 0)
		bad = "expect", arg = expect;
	else if (mode != NULL && strcmp(mode, "transform") != 0 &&
		 strcmp(mode, "pipeline") != 0 && strcmp(mode, "dpdk") != 0)
		bad = "mode", arg = mode;
	else if (arrival != NULL && strcmp(arrival, "poisson") != 0 &&
		 strcmp(arrival, "constant") != 0)
		bad = "arrival", arg = arrival;
	else if (sweep != NULL &&
		 gen_parse_rates(sweep, o->sweep, &o->n_sweep) < 0)
		bad = "sweep", arg = sweep;
	if (bad != NULL) {
		fprintf(stderr, "sluicegen: bad --%s '%s'\n", bad, arg);
		return -1;
	}
	if (expect != NULL)
		o->expect_text = expect;
	if (mode != NULL)
		o->mode = strcmp(mode, "pipeline") == 0 ? GEN_MODE_PIPELINE
			  : strcmp(mode, "dpdk") == 0   ? GEN_MODE_DPDK
							: GEN_MODE_TRANSFORM;
	if (arrival != NULL)
		o->poisson = strcmp(arrival, "poisson") == 0;
	return 0;
}

/* Which modes an option is for (sl_opt_spec.tag, a mask); 0: all. */
enum {
	GEN_IN_TRANSFORM = 1,
	GEN_IN_PIPELINE = 2,
	GEN_IN_DPDK = 4,
};

/* The checks of the DPDK mode's options; -1 after a message. */
static int
gen_check_dpdk(struct gen_opts *o, const char *bind, const char *instance,
	       const char *dst_mac, const char *arrival, bool have_rate,
	       bool have_tokens)
{
	if ((o->dpdk_iface != NULL) == (o->dpdk_vdev != NULL)) {
		fprintf(stderr, "sluicegen: the DPDK mode needs one of "
				"--dpdk-iface and --dpdk-vdev\n");
		return -1;
	}
	if (bind == NULL || o->bind.sin_addr.s_addr == 0) {
		fprintf(stderr,
			"sluicegen: the DPDK mode needs --bind IP[:PORT]"
			" (the client address it owns)\n");
		return -1;
	}
	if (instance == NULL ||
	    sl_endpoint_parse(instance, false, &o->instance) < 0 ||
	    o->instance.sin_port == 0) {
		fprintf(stderr, "sluicegen: the DPDK mode needs --instance "
				"IP:PORT (the stage instance it plays)\n");
		return -1;
	}
	if (o->bind.sin_port == 0)
		o->bind.sin_port = htons(40000);
	if (o->bind.sin_addr.s_addr == o->instance.sin_addr.s_addr &&
	    o->bind.sin_port == o->instance.sin_port) {
		fprintf(stderr, "sluicegen: --bind and --instance must differ "
				"(address or port)\n");
		return -1;
	}
	if (dst_mac != NULL) {
		if (gen_parse_mac(dst_mac, o->dst_mac) < 0) {
			fprintf(stderr, "sluicegen: bad --dst-mac '%s'\n",
				dst_mac);
			return -1;
		}
		o->have_dst_mac = true;
	}
	if (o->find_capacity == (have_rate && o->rate > 0)) {
		fprintf(stderr, "sluicegen: the DPDK mode needs --rate above 0 "
				"or --find-capacity (not both)\n");
		return -1;
	}
	if (o->capacity_start <= 0 || o->capacity_max < o->capacity_start ||
	    o->capacity_trial <= 0 || o->capacity_step <= 1.0) {
		fprintf(stderr,
			"sluicegen: --capacity-start must be above 0 and"
			" at most --capacity-max, --capacity-trial above "
			"0, --capacity-step above 1\n");
		return -1;
	}
	if (o->duration <= 0) {
		fprintf(stderr, "sluicegen: --duration must be above 0\n");
		return -1;
	}
	/* The generator's pace: evenly spaced unless asked otherwise. */
	if (arrival == NULL)
		o->poisson = false;
	if (!have_tokens)
		o->tokens = 4;
	if (o->lcores == NULL)
		o->lcores = "0";
	return 0;
}

/* Whether option @name of the @n entries of @spec was on the line. */
static bool
gen_opt_seen(const struct sl_opt_spec *spec, const bool *seen, unsigned int n,
	     const char *name)
{
	for (unsigned int i = 0; i < n; i++)
		if (strcmp(spec[i].name, name) == 0)
			return seen[i];
	return false;
}

/*
 * The checks of --trace (pipeline mode); -EINVAL after a message. The
 * trace is the schedule and the lengths: what sets them otherwise is
 * refused.
 */
static int
gen_check_trace(struct gen_opts *o, const struct sl_opt_spec *spec,
		const bool *seen, unsigned int n, bool have_duration,
		bool have_drain, bool have_tokens)
{
	static const char *const not_with[] = {
		"request-rate",    "sweep",   "sweep-duration",
		"sweep-pause-ms",  "arrival", "questions",
		"question-tokens",
	};

	if (o->trace_path == NULL) {
		fprintf(stderr, "sluicegen: --%s needs --trace\n",
			gen_opt_seen(spec, seen, n, "trace-speedup")
				? "trace-speedup"
				: "trace-start");
		return -EINVAL;
	}
	for (unsigned int i = 0; i < sizeof(not_with) / sizeof(not_with[0]);
	     i++) {
		if (gen_opt_seen(spec, seen, n, not_with[i])) {
			fprintf(stderr,
				"sluicegen: --%s is not for --trace (the trace "
				"gives arrivals and lengths)\n",
				not_with[i]);
			return -EINVAL;
		}
	}
	if (have_duration && o->duration <= 0) {
		fprintf(stderr, "sluicegen: --duration must be above 0\n");
		return -EINVAL;
	}
	/* The file is the schedule's length unless --duration or
	 * --requests cut it short. */
	if (!have_duration)
		o->duration = 1e9;
	if (!have_drain)
		o->drain_ms = 30000;
	if (!have_tokens)
		o->tokens = GEN_TRACE_TOKENS_PER_FRAG;
	return 0;
}

int
gen_parse_args(struct gen_opts *o, int argc, char **argv)
{
	const char *server = NULL, *bind = NULL, *expect = NULL;
	const char *mode = NULL, *arrival = NULL, *sweep = NULL;
	unsigned int tenant = 1;
	bool have_server = false, have_duration = false;
	bool have_drain = false, have_tokens = false;
	bool have_sweep_duration = false, have_request_rate = false;
	bool have_question_tokens = false, help = false, have_rate = false;
	const char *instance = NULL, *dst_mac = NULL;
	const char *transform_only = NULL, *pipeline_only = NULL;
	const char *dpdk_only = NULL, *not_dpdk = NULL;
	const struct sl_opt_spec spec[] = {
		SL_OPT_S("server", &server, .given = &have_server),
		SL_OPT_S("bind", &bind),
		SL_OPT_N("pipeline", &o->pipeline, 0, UINT32_MAX),
		SL_OPT_N("tenant", &tenant, 0, UINT16_MAX),
		SL_OPT_N("streams", &o->streams, 1, 1u << 20,
			 .tag = GEN_IN_TRANSFORM | GEN_IN_DPDK),
		SL_OPT_D("rate", &o->rate, 0, DBL_MAX, .given = &have_rate,
			 .tag = GEN_IN_TRANSFORM | GEN_IN_DPDK),
		SL_OPT_N("fragments-per-request", &o->frags, 1, 1u << 20,
			 .tag = GEN_IN_TRANSFORM | GEN_IN_DPDK),
		SL_OPT_N("tokens-per-fragment", &o->tokens, 1, 1024,
			 .given = &have_tokens),
		SL_OPT_D("duration", &o->duration, 0, DBL_MAX,
			 .given = &have_duration),
		SL_OPT_N64("requests", &o->requests, 1, UINT32_MAX,
			   .tag = GEN_IN_TRANSFORM | GEN_IN_PIPELINE),
		SL_OPT_N64("drain-ms", &o->drain_ms, 0, 3600000,
			   .given = &have_drain),
		SL_OPT_N64("cancel-ms", &o->cancel_ms, 0, 3600000,
			   .tag = GEN_IN_PIPELINE),
		SL_OPT_S("expect", &expect, .tag = GEN_IN_TRANSFORM),
		SL_OPT_S("corpus", &o->corpus_path,
			 .tag = GEN_IN_TRANSFORM | GEN_IN_PIPELINE),
		SL_OPT_N64("seed", &o->seed, 0, UINT64_MAX),
		SL_OPT_F("json", &o->json),
		SL_OPT_F("check", &o->check),
		SL_OPT_F("quiet", &o->quiet),
		SL_OPT_S("mode", &mode),
		/* A question goes out in one burst of fragments. */
		SL_OPT_N("question-tokens", &o->question_tokens, 1,
			 SL_BURST_MAX, .given = &have_question_tokens,
			 .tag = GEN_IN_PIPELINE),
		SL_OPT_D("request-rate", &o->request_rate, 0, DBL_MAX,
			 .given = &have_request_rate, .tag = GEN_IN_PIPELINE),
		SL_OPT_S("arrival", &arrival,
			 .tag = GEN_IN_PIPELINE | GEN_IN_DPDK),
		SL_OPT_S("sweep", &sweep, .tag = GEN_IN_PIPELINE),
		SL_OPT_D("sweep-duration", &o->sweep_duration, 0, DBL_MAX,
			 .given = &have_sweep_duration, .tag = GEN_IN_PIPELINE),
		SL_OPT_N64("sweep-pause-ms", &o->sweep_pause_ms, 0, 3600000,
			   .tag = GEN_IN_PIPELINE),
		SL_OPT_S("dump", &o->dump_path, .tag = GEN_IN_PIPELINE),
		SL_OPT_S("times", &o->times_path, .tag = GEN_IN_PIPELINE),
		SL_OPT_N64("id-prefix", &o->id_prefix, 0, UINT32_MAX,
			   .given = &o->have_id_prefix, .tag = GEN_IN_PIPELINE),
		SL_OPT_S("questions", &o->questions_path,
			 .tag = GEN_IN_PIPELINE),
		SL_OPT_S("trace", &o->trace_path, .tag = GEN_IN_PIPELINE),
		SL_OPT_D("trace-speedup", &o->trace_speedup, 0.001, 1e6,
			 .tag = GEN_IN_PIPELINE),
		SL_OPT_D("trace-start", &o->trace_start, 0,
			 GEN_TRACE_SPAN_MAX_S, .tag = GEN_IN_PIPELINE),
		SL_OPT_S("dpdk-iface", &o->dpdk_iface, .tag = GEN_IN_DPDK),
		SL_OPT_S("dpdk-vdev", &o->dpdk_vdev, .tag = GEN_IN_DPDK),
		SL_OPT_S("instance", &instance, .tag = GEN_IN_DPDK),
		SL_OPT_S("dst-mac", &dst_mac, .tag = GEN_IN_DPDK),
		SL_OPT_S("lcores", &o->lcores, .tag = GEN_IN_DPDK),
		SL_OPT_S("file-prefix", &o->file_prefix, .tag = GEN_IN_DPDK),
		SL_OPT_D("warmup", &o->warmup, 0, 3600, .tag = GEN_IN_DPDK),
		SL_OPT_N("calibrate", &o->calibrate, 0, 10000000,
			 .tag = GEN_IN_DPDK),
		SL_OPT_F("find-capacity", &o->find_capacity,
			 .tag = GEN_IN_DPDK),
		SL_OPT_D("capacity-start", &o->capacity_start, 0, 1e9,
			 .tag = GEN_IN_DPDK),
		SL_OPT_D("capacity-max", &o->capacity_max, 0, 1e9,
			 .tag = GEN_IN_DPDK),
		SL_OPT_D("capacity-trial", &o->capacity_trial, 0, 3600,
			 .tag = GEN_IN_DPDK),
		SL_OPT_D("capacity-step", &o->capacity_step, 1, 10,
			 .tag = GEN_IN_DPDK),
		SL_OPT_F("help", &help),
	};
	enum { N_SPEC = sizeof(spec) / sizeof(spec[0]) };
	bool seen[N_SPEC];
	int first;

	memset(o, 0, sizeof(*o));
	o->pipeline = 1;
	o->streams = 16;
	o->frags = 8;
	o->tokens = 4;
	o->duration = 10;
	o->drain_ms = 2000;
	o->expect[0] = SL_TRANSFORM_ECHO;
	o->n_expect = 1;
	o->expect_text = "echo";
	o->corpus_path = GEN_DEFAULT_CORPUS;
	o->seed = 1;
	o->question_tokens = 12;
	o->poisson = true;
	o->sweep_pause_ms = 1000;
	o->warmup = 0.5;
	o->calibrate = 2000;
	o->capacity_start = 10000;
	o->capacity_max = 5e6;
	o->capacity_trial = 2;
	o->capacity_step = 1.05;
	o->trace_speedup = 1;
	first = sl_opt_parse("sluicegen", argc, argv, spec, N_SPEC, seen);
	if (first < 0) /* it said why */
		return -EINVAL;
	if (help) {
		usage(stdout);
		exit(0);
	}
	for (unsigned int i = 0; i < N_SPEC; i++) {
		int tag = spec[i].tag;

		if (!seen[i] || tag == 0)
			continue;
		/* What another mode's option is reported as: the mode it
		 * belongs to, the classic two first. */
		if (!(tag & GEN_IN_PIPELINE) && (tag & GEN_IN_TRANSFORM))
			transform_only = spec[i].name;
		if (!(tag & GEN_IN_TRANSFORM) && (tag & GEN_IN_PIPELINE))
			pipeline_only = spec[i].name;
		if (tag == GEN_IN_DPDK)
			dpdk_only = spec[i].name;
		if (!(tag & GEN_IN_DPDK))
			not_dpdk = spec[i].name;
	}
	/* The port options choose the mode (--mode dpdk says it too). */
	if (o->dpdk_iface != NULL || o->dpdk_vdev != NULL) {
		if (mode != NULL && strcmp(mode, "dpdk") != 0) {
			fprintf(stderr,
				"sluicegen: --dpdk-iface and --dpdk-vdev "
				"are the DPDK mode, not --mode %s\n",
				mode);
			return -EINVAL;
		}
		mode = "dpdk";
	}
	/* So does a trace, unless --mode says otherwise (and fails below). */
	if (o->trace_path != NULL && mode == NULL)
		mode = "pipeline";
	o->tenant = (uint16_t)tenant;
	if (gen_parse_values(o, server, bind, expect, mode, arrival, sweep) < 0)
		return -EINVAL;
	if ((have_request_rate && o->request_rate <= 0) ||
	    (have_sweep_duration && o->sweep_duration <= 0)) {
		fprintf(stderr, "sluicegen: --%s must be above 0\n",
			have_request_rate && o->request_rate <= 0
				? "request-rate"
				: "sweep-duration");
		return -EINVAL;
	}
	if (!have_server || first != argc) {
		usage(stderr);
		return -EINVAL;
	}
	if (o->mode == GEN_MODE_DPDK) {
		if (not_dpdk != NULL) {
			fprintf(stderr,
				"sluicegen: --%s is not for the DPDK mode\n",
				not_dpdk);
			return -EINVAL;
		}
		if (gen_check_dpdk(o, bind, instance, dst_mac, arrival,
				   have_rate, have_tokens) < 0)
			return -EINVAL;
		return 0;
	}
	if (dpdk_only != NULL) {
		fprintf(stderr,
			"sluicegen: --%s needs --dpdk-iface or --dpdk-vdev\n",
			dpdk_only);
		return -EINVAL;
	}
	if (o->mode == GEN_MODE_TRANSFORM) {
		if (pipeline_only != NULL) {
			fprintf(stderr,
				"sluicegen: --%s needs --mode pipeline\n",
				pipeline_only);
			return -EINVAL;
		}
		/* --requests alone runs until R requests; with --duration
		 * too, whichever comes first. */
		if (o->requests && !have_duration)
			o->duration = 0;
		return 0;
	}
	if (transform_only != NULL) {
		fprintf(stderr,
			"sluicegen: --%s is for --mode transform (pipeline "
			"mode "
			"paces requests: --request-rate)\n",
			transform_only);
		return -EINVAL;
	}
	if (o->trace_path != NULL ||
	    gen_opt_seen(spec, seen, N_SPEC, "trace-speedup") ||
	    gen_opt_seen(spec, seen, N_SPEC, "trace-start"))
		return gen_check_trace(o, spec, seen, N_SPEC, have_duration,
				       have_drain, have_tokens);
	if (!have_request_rate && o->n_sweep == 0) {
		fprintf(stderr,
			"sluicegen: --mode pipeline needs --request-rate or "
			"--sweep\n");
		return -EINVAL;
	}
	if (have_request_rate && o->n_sweep) {
		fprintf(stderr,
			"sluicegen: --request-rate and --sweep exclude each "
			"other\n");
		return -EINVAL;
	}
	if (o->questions_path != NULL && have_question_tokens) {
		fprintf(stderr,
			"sluicegen: --question-tokens is for corpus questions, "
			"not --questions\n");
		return -EINVAL;
	}
	/* --questions: the file is the schedule's length, unless
	 * --duration or --requests cut it short. */
	if (o->questions_path != NULL && !have_duration) {
		o->duration = 1e9;
		if (!have_sweep_duration)
			o->sweep_duration = 1e9;
	}
	/* Requests take seconds: wait for them. */
	if (!have_drain)
		o->drain_ms = 30000;
	if (!have_tokens)
		o->tokens = 16;
	if (!have_sweep_duration)
		o->sweep_duration = o->duration;
	/* --requests caps the schedule; without --duration it is the limit. */
	if (o->requests && !have_duration) {
		o->duration = 1e9;
		if (!have_sweep_duration)
			o->sweep_duration = 1e9;
	}
	return 0;
}
