/* SPDX-License-Identifier: MIT */
/*
 * opts.c - sluicegen's command line: usage, the options of both modes and
 * the checks between them.
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
		"       [--requests R] [--drain-ms MS] [--dump FILE]"
		" [--times FILE] [--id-prefix N]\n"
		"       [--corpus FILE | --questions FILE.jsonl] [--seed S]"
		" [--json] [--check]\n"
		"       [--quiet]\n"
		"transforms: echo, upper, rot13 (one per stage, in order)\n"
		"pipeline mode: defaults --question-tokens 12,"
		" --tokens-per-fragment 16,\n"
		"  --drain-ms 30000 (after the last question), --arrival"
		" poisson;\n"
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
		 strcmp(mode, "pipeline") != 0)
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
							: GEN_MODE_TRANSFORM;
	if (arrival != NULL)
		o->poisson = strcmp(arrival, "poisson") == 0;
	return 0;
}

/* Which mode an option is for (sl_opt_spec.tag); 0: both. */
enum { GEN_ONLY_TRANSFORM = 1, GEN_ONLY_PIPELINE };

int
gen_parse_args(struct gen_opts *o, int argc, char **argv)
{
	const char *server = NULL, *bind = NULL, *expect = NULL;
	const char *mode = NULL, *arrival = NULL, *sweep = NULL;
	unsigned int tenant = 1;
	bool have_server = false, have_duration = false;
	bool have_drain = false, have_tokens = false;
	bool have_sweep_duration = false, have_request_rate = false;
	bool have_question_tokens = false, help = false;
	const char *transform_only = NULL, *pipeline_only = NULL;
	const struct sl_opt_spec spec[] = {
		SL_OPT_S("server", &server, .given = &have_server),
		SL_OPT_S("bind", &bind),
		SL_OPT_N("pipeline", &o->pipeline, 0, UINT32_MAX),
		SL_OPT_N("tenant", &tenant, 0, UINT16_MAX),
		SL_OPT_N("streams", &o->streams, 1, 1u << 20,
			 .tag = GEN_ONLY_TRANSFORM),
		SL_OPT_D("rate", &o->rate, 0, DBL_MAX,
			 .tag = GEN_ONLY_TRANSFORM),
		SL_OPT_N("fragments-per-request", &o->frags, 1, 1u << 20,
			 .tag = GEN_ONLY_TRANSFORM),
		SL_OPT_N("tokens-per-fragment", &o->tokens, 1, 1024,
			 .given = &have_tokens),
		SL_OPT_D("duration", &o->duration, 0, DBL_MAX,
			 .given = &have_duration),
		SL_OPT_N64("requests", &o->requests, 1, UINT32_MAX),
		SL_OPT_N64("drain-ms", &o->drain_ms, 0, 3600000,
			   .given = &have_drain),
		SL_OPT_S("expect", &expect, .tag = GEN_ONLY_TRANSFORM),
		SL_OPT_S("corpus", &o->corpus_path),
		SL_OPT_N64("seed", &o->seed, 0, UINT64_MAX),
		SL_OPT_F("json", &o->json),
		SL_OPT_F("check", &o->check),
		SL_OPT_F("quiet", &o->quiet),
		SL_OPT_S("mode", &mode),
		/* A question goes out in one burst of fragments. */
		SL_OPT_N("question-tokens", &o->question_tokens, 1,
			 SL_BURST_MAX, .given = &have_question_tokens,
			 .tag = GEN_ONLY_PIPELINE),
		SL_OPT_D("request-rate", &o->request_rate, 0, DBL_MAX,
			 .given = &have_request_rate, .tag = GEN_ONLY_PIPELINE),
		SL_OPT_S("arrival", &arrival, .tag = GEN_ONLY_PIPELINE),
		SL_OPT_S("sweep", &sweep, .tag = GEN_ONLY_PIPELINE),
		SL_OPT_D("sweep-duration", &o->sweep_duration, 0, DBL_MAX,
			 .given = &have_sweep_duration,
			 .tag = GEN_ONLY_PIPELINE),
		SL_OPT_N64("sweep-pause-ms", &o->sweep_pause_ms, 0, 3600000,
			   .tag = GEN_ONLY_PIPELINE),
		SL_OPT_S("dump", &o->dump_path, .tag = GEN_ONLY_PIPELINE),
		SL_OPT_S("times", &o->times_path, .tag = GEN_ONLY_PIPELINE),
		SL_OPT_N64("id-prefix", &o->id_prefix, 0, UINT32_MAX,
			   .given = &o->have_id_prefix,
			   .tag = GEN_ONLY_PIPELINE),
		SL_OPT_S("questions", &o->questions_path,
			 .tag = GEN_ONLY_PIPELINE),
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
	first = sl_opt_parse("sluicegen", argc, argv, spec, N_SPEC, seen);
	if (first < 0) /* it said why */
		return -EINVAL;
	if (help) {
		usage(stdout);
		exit(0);
	}
	for (unsigned int i = 0; i < N_SPEC; i++) {
		if (seen[i] && spec[i].tag == GEN_ONLY_TRANSFORM)
			transform_only = spec[i].name;
		if (seen[i] && spec[i].tag == GEN_ONLY_PIPELINE)
			pipeline_only = spec[i].name;
	}
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
