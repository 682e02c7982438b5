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

int
gen_parse_args(struct gen_opts *o, int argc, char **argv)
{
	static const struct option opts[] = {
		{"server", required_argument, NULL, 's'},
		{"bind", required_argument, NULL, 'b'},
		{"pipeline", required_argument, NULL, 'p'},
		{"tenant", required_argument, NULL, 't'},
		{"streams", required_argument, NULL, 'n'},
		{"rate", required_argument, NULL, 'r'},
		{"fragments-per-request", required_argument, NULL, 'F'},
		{"tokens-per-fragment", required_argument, NULL, 'K'},
		{"duration", required_argument, NULL, 'd'},
		{"requests", required_argument, NULL, 'R'},
		{"drain-ms", required_argument, NULL, 'D'},
		{"expect", required_argument, NULL, 'e'},
		{"corpus", required_argument, NULL, 'c'},
		{"seed", required_argument, NULL, 'S'},
		{"json", no_argument, NULL, 'j'},
		{"check", no_argument, NULL, 'C'},
		{"quiet", no_argument, NULL, 'q'},
		{"mode", required_argument, NULL, 'm'},
		{"question-tokens", required_argument, NULL, 'Q'},
		{"request-rate", required_argument, NULL, 'A'},
		{"arrival", required_argument, NULL, 'a'},
		{"sweep", required_argument, NULL, 'w'},
		{"sweep-duration", required_argument, NULL, 'W'},
		{"sweep-pause-ms", required_argument, NULL, 'P'},
		{"dump", required_argument, NULL, 'u'},
		{"times", required_argument, NULL, 'T'},
		{"id-prefix", required_argument, NULL, 'I'},
		{"questions", required_argument, NULL, 'X'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	bool have_server = false, have_duration = false;
	bool have_drain = false, have_tokens = false;
	bool have_sweep_duration = false, have_request_rate = false;
	bool have_question_tokens = false;
	const char *transform_only = NULL, *pipeline_only = NULL;
	uint64_t v;
	int c;

	memset(o, 0, sizeof(*o));
	o->pipeline = 1;
	o->tenant = 1;
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
	sl_endpoint_parse("0.0.0.0", true, &o->bind);

#define BAD_ARG(what)                                                          \
	do {                                                                   \
		fprintf(stderr, "sluicegen: bad --%s '%s'\n", what, optarg);   \
		return -EINVAL;                                                \
	} while (0)

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			if (sl_endpoint_parse(optarg, false, &o->server) < 0 ||
			    o->server.sin_port == 0)
				BAD_ARG("server");
			have_server = true;
			break;
		case 'b':
			if (sl_endpoint_parse(optarg, true, &o->bind) < 0)
				BAD_ARG("bind");
			break;
		case 'p':
			if (!sl_parse_u64(optarg, 0, UINT32_MAX, &v))
				BAD_ARG("pipeline");
			o->pipeline = (uint32_t)v;
			break;
		case 't':
			if (!sl_parse_u64(optarg, 0, UINT16_MAX, &v))
				BAD_ARG("tenant");
			o->tenant = (uint16_t)v;
			break;
		case 'n':
			if (!sl_parse_u64(optarg, 1, 1u << 20, &v))
				BAD_ARG("streams");
			o->streams = (uint32_t)v;
			transform_only = "streams";
			break;
		case 'r':
			if (!sl_parse_double(optarg, 0, DBL_MAX, &o->rate))
				BAD_ARG("rate");
			transform_only = "rate";
			break;
		case 'F':
			if (!sl_parse_u64(optarg, 1, 1u << 20, &v))
				BAD_ARG("fragments-per-request");
			o->frags = (uint32_t)v;
			transform_only = "fragments-per-request";
			break;
		case 'K':
			if (!sl_parse_u64(optarg, 1, 1024, &v))
				BAD_ARG("tokens-per-fragment");
			o->tokens = (uint32_t)v;
			have_tokens = true;
			break;
		case 'd':
			if (!sl_parse_double(optarg, 0, DBL_MAX, &o->duration))
				BAD_ARG("duration");
			have_duration = true;
			break;
		case 'R':
			if (!sl_parse_u64(optarg, 1, UINT32_MAX, &o->requests))
				BAD_ARG("requests");
			break;
		case 'D':
			if (!sl_parse_u64(optarg, 0, 3600000, &o->drain_ms))
				BAD_ARG("drain-ms");
			have_drain = true;
			break;
		case 'e':
			if (gen_parse_expect(o, optarg) < 0)
				BAD_ARG("expect");
			o->expect_text = optarg;
			transform_only = "expect";
			break;
		case 'm':
			if (strcmp(optarg, "transform") == 0)
				o->mode = GEN_MODE_TRANSFORM;
			else if (strcmp(optarg, "pipeline") == 0)
				o->mode = GEN_MODE_PIPELINE;
			else
				BAD_ARG("mode");
			break;
		case 'Q':
			/* A question goes out in one burst of fragments. */
			if (!sl_parse_u64(optarg, 1, SL_BURST_MAX, &v))
				BAD_ARG("question-tokens");
			o->question_tokens = (uint32_t)v;
			have_question_tokens = true;
			pipeline_only = "question-tokens";
			break;
		case 'A':
			if (!sl_parse_double(optarg, 0, DBL_MAX,
					     &o->request_rate) ||
			    o->request_rate <= 0)
				BAD_ARG("request-rate");
			have_request_rate = true;
			pipeline_only = "request-rate";
			break;
		case 'a':
			if (strcmp(optarg, "poisson") == 0)
				o->poisson = true;
			else if (strcmp(optarg, "constant") == 0)
				o->poisson = false;
			else
				BAD_ARG("arrival");
			pipeline_only = "arrival";
			break;
		case 'w':
			if (gen_parse_rates(optarg, o->sweep, &o->n_sweep) < 0)
				BAD_ARG("sweep");
			pipeline_only = "sweep";
			break;
		case 'W':
			if (!sl_parse_double(optarg, 0, DBL_MAX,
					     &o->sweep_duration) ||
			    o->sweep_duration <= 0)
				BAD_ARG("sweep-duration");
			have_sweep_duration = true;
			pipeline_only = "sweep-duration";
			break;
		case 'P':
			if (!sl_parse_u64(optarg, 0, 3600000,
					  &o->sweep_pause_ms))
				BAD_ARG("sweep-pause-ms");
			pipeline_only = "sweep-pause-ms";
			break;
		case 'u':
			o->dump_path = optarg;
			pipeline_only = "dump";
			break;
		case 'T':
			o->times_path = optarg;
			pipeline_only = "times";
			break;
		case 'I':
			if (!sl_parse_u64(optarg, 0, UINT32_MAX, &o->id_prefix))
				BAD_ARG("id-prefix");
			o->have_id_prefix = true;
			pipeline_only = "id-prefix";
			break;
		case 'X':
			o->questions_path = optarg;
			pipeline_only = "questions";
			break;
		case 'c':
			o->corpus_path = optarg;
			break;
		case 'S':
			if (!sl_parse_u64(optarg, 0, UINT64_MAX, &o->seed))
				BAD_ARG("seed");
			break;
		case 'j':
			o->json = true;
			break;
		case 'C':
			o->check = true;
			break;
		case 'q':
			o->quiet = true;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return -EINVAL;
		}
	}
#undef BAD_ARG
	if (!have_server || optind != argc) {
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
