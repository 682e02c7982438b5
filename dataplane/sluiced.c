/* SPDX-License-Identifier: MIT */
/*
 * sluiced - the sluice dataplane daemon.
 *
 * Loads a pipeline file, starts EAL with embedded defaults (no hugepages,
 * one vdev port), and runs the packet path on one worker lcore while the
 * main lcore writes stats and waits for SIGINT/SIGTERM. The control plane
 * (io_uring, protobuf API) will run on the main lcore too.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_malloc.h>

#include "sl_api.h"
#include "sl_config.h"
#include "sl_ctl.h"
#include "sl_dp.h"
#include "sl_loop.h"
#include "sl_port.h"
#include "sl_stats.h"

#define SL_EAL_ARGS_MAX 64
#define SL_VERSION "0.1.0"

static volatile sig_atomic_t force_quit;

static void
on_signal(int sig)
{
	(void)sig;
	force_quit = 1;
}

struct sluiced_opts {
	const char *config;
	const char *iface;
	const char *vdev;
	const char *stats_file;
	const char *lcores;
	unsigned int stats_interval_ms;
	unsigned int duration_s;
	bool poll;
	bool profile;
	const char *control;   /* unix socket path, "none" for no API */
	unsigned int control_tcp; /* 127.0.0.1 port, 0 = off */
	const char *token;
	unsigned int metrics;  /* 127.0.0.1 port of GET /metrics, 0 = off */
	const char *loop_backend;
	int n_eal_extra;
	char **eal_extra;
};

static void
usage(FILE *out)
{
	fprintf(out,
		"usage: sluiced --config FILE (--iface IF | --vdev SPEC) [options] [-- EAL args]\n"
		"  -c, --config FILE        pipeline file (YAML)\n"
		"  -i, --iface IF           drive IF with net_af_packet (the embedded default)\n"
		"      --vdev SPEC          use this vdev instead (e.g. net_ring0)\n"
		"  -s, --stats-file PATH    write JSON stats here each interval and at exit\n"
		"      --stats-interval-ms MS  (default 1000)\n"
		"  -d, --duration SEC       stop after SEC seconds (default: until a signal)\n"
		"      --lcores LIST        EAL lcores (default 0,1: main + one worker)\n"
		"      --poll               never sleep when idle (production mode)\n"
		"      --profile            count cycles per packet stage in the stats\n"
		"      --control PATH       control API unix socket (default "
		SL_API_DEFAULT_SOCKET ", none: off)\n"
		"      --control-tcp PORT   also on 127.0.0.1:PORT (needs --token)\n"
		"      --token TOKEN        shared token for TCP requests\n"
		"      --metrics PORT       Prometheus GET /metrics on 127.0.0.1:PORT\n"
		"      --loop-backend B     auto (default), uring or epoll\n"
		"  -h, --help\n"
		"EAL defaults: -l 0,1 --no-huge -m 512 --no-pci --file-prefix sluiced-<pid>\n");
}

static int
parse_opts(int argc, char **argv, struct sluiced_opts *o)
{
	static const struct option longopts[] = {
		{"config", required_argument, NULL, 'c'},
		{"iface", required_argument, NULL, 'i'},
		{"vdev", required_argument, NULL, 'V'},
		{"stats-file", required_argument, NULL, 's'},
		{"stats-interval-ms", required_argument, NULL, 'I'},
		{"duration", required_argument, NULL, 'd'},
		{"lcores", required_argument, NULL, 'l'},
		{"poll", no_argument, NULL, 'P'},
		{"profile", no_argument, NULL, 'p'},
		{"control", required_argument, NULL, 'C'},
		{"control-tcp", required_argument, NULL, 'T'},
		{"token", required_argument, NULL, 'k'},
		{"metrics", required_argument, NULL, 'M'},
		{"loop-backend", required_argument, NULL, 'B'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	char *end;
	int c;

	o->stats_interval_ms = 1000;
	o->lcores = "0,1";
	o->control = SL_API_DEFAULT_SOCKET;
	o->loop_backend = "auto";
	while ((c = getopt_long(argc, argv, "c:i:s:d:h", longopts, NULL)) !=
	       -1) {
		switch (c) {
		case 'c':
			o->config = optarg;
			break;
		case 'i':
			o->iface = optarg;
			break;
		case 'V':
			o->vdev = optarg;
			break;
		case 's':
			o->stats_file = optarg;
			break;
		case 'I':
			o->stats_interval_ms = strtoul(optarg, &end, 10);
			if (*end != '\0' || o->stats_interval_ms == 0) {
				fprintf(stderr, "sluiced: --stats-interval-ms: "
						"not a positive number: %s\n",
					optarg);
				return -1;
			}
			break;
		case 'd':
			o->duration_s = strtoul(optarg, &end, 10);
			if (*end != '\0') {
				fprintf(stderr, "sluiced: --duration: not a "
						"number: %s\n", optarg);
				return -1;
			}
			break;
		case 'l':
			o->lcores = optarg;
			break;
		case 'P':
			o->poll = true;
			break;
		case 'p':
			o->profile = true;
			break;
		case 'C':
			o->control = optarg;
			break;
		case 'T':
		case 'M': {
			unsigned long v = strtoul(optarg, &end, 10);

			if (*end != '\0' || v == 0 || v > 65535) {
				fprintf(stderr, "sluiced: --%s: not a port: %s\n",
					c == 'T' ? "control-tcp" : "metrics",
					optarg);
				return -1;
			}
			if (c == 'T')
				o->control_tcp = (unsigned int)v;
			else
				o->metrics = (unsigned int)v;
			break;
		}
		case 'k':
			o->token = optarg;
			break;
		case 'B':
			o->loop_backend = optarg;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return -1;
		}
	}
	if (o->config == NULL) {
		fprintf(stderr, "sluiced: --config is required\n");
		return -1;
	}
	if (o->control_tcp != 0 && o->token == NULL) {
		fprintf(stderr, "sluiced: --control-tcp needs --token\n");
		return -1;
	}
	if (strcmp(o->loop_backend, "auto") != 0 &&
	    strcmp(o->loop_backend, "uring") != 0 &&
	    strcmp(o->loop_backend, "epoll") != 0) {
		fprintf(stderr, "sluiced: --loop-backend: auto, uring or epoll, "
				"not %s\n", o->loop_backend);
		return -1;
	}
	if ((o->iface == NULL) == (o->vdev == NULL)) {
		fprintf(stderr, "sluiced: give exactly one of --iface, --vdev\n");
		return -1;
	}
	o->n_eal_extra = argc - optind;
	o->eal_extra = argv + optind;
	return 0;
}

static void
sleep_ms(unsigned int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void
log_line(const char *line, void *ctx)
{
	(void)ctx;
	fprintf(stderr, "sluiced: %s\n", line);
}

/* A listening TCP socket on 127.0.0.1:@port, or -errno. */
static int
listen_local(unsigned int port)
{
	struct sockaddr_in sa = {
		.sin_family = AF_INET,
		.sin_port = htons((uint16_t)port),
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	};
	int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    listen(fd, 64) != 0) {
		int rc = -errno;

		close(fd);
		return rc;
	}
	return fd;
}

/* The control plane on the main lcore: event loop, protobuf API,
 * metrics. Exits on failure: a sluiced that cannot be steered is not
 * started half-way. */
static void
control_start(const struct sluiced_opts *o, struct sl_ctl *ctl,
	      struct sl_loop **loop, struct sl_api **api)
{
	enum sl_loop_backend want = SL_LOOP_BACKEND_AUTO;
	struct sl_loop_params lp = {
		.idle_timeout_ms = SL_API_IDLE_TIMEOUT_MS,
		.log = log_line,
	};
	struct sl_api_params ap = {
		.unix_path = strcmp(o->control, "none") == 0 ? NULL : o->control,
		.tcp = o->control_tcp != 0,
		.tcp_port = (uint16_t)o->control_tcp,
		.token = o->token,
		.version = SL_VERSION,
		.log = log_line,
	};

	*loop = NULL;
	*api = NULL;
	if (ap.unix_path == NULL && !ap.tcp && o->metrics == 0)
		return;
	if (strcmp(o->loop_backend, "uring") == 0)
		want = SL_LOOP_BACKEND_URING;
	else if (strcmp(o->loop_backend, "epoll") == 0)
		want = SL_LOOP_BACKEND_EPOLL;
	*loop = sl_loop_create(want, &lp);
	if (*loop == NULL)
		rte_exit(EXIT_FAILURE, "cannot create the control loop: %s\n",
			 strerror(errno));
	/* The default socket's directory is ours to make. */
	if (ap.unix_path != NULL &&
	    strcmp(ap.unix_path, SL_API_DEFAULT_SOCKET) == 0)
		mkdir("/run/sluice", 0755);
	*api = sl_api_create(*loop, &ap, &sl_ctl_ops, ctl);
	if (*api == NULL)
		rte_exit(EXIT_FAILURE, "cannot serve the control API%s%s: %s\n",
			 ap.unix_path ? " on " : "",
			 ap.unix_path ? ap.unix_path : "", strerror(errno));
	if (o->metrics != 0) {
		int fd = listen_local(o->metrics);

		if (fd < 0 || sl_api_serve_metrics(*api, fd) != 0)
			rte_exit(EXIT_FAILURE,
				 "cannot serve metrics on 127.0.0.1:%u: %s\n",
				 o->metrics, strerror(fd < 0 ? -fd : errno));
	}
}

int
main(int argc, char **argv)
{
	struct sluiced_opts o = {0};
	char err[512], prefix[64], vdev[256];
	char *eal_argv[SL_EAL_ARGS_MAX];
	int eal_argc = 0;
	struct sl_config *cfg;
	struct rte_mempool *pool;
	struct sl_dp *dp;
	unsigned int worker, in_use_start;
	const char *what;
	uint16_t port_id;
	char mac[RTE_ETHER_ADDR_FMT_SIZE], ip[16];
	uint64_t elapsed_ms = 0, since_stats = 0, dropped = 0, start_ms;
	struct sl_loop *loop;
	struct sl_api *api;
	struct sl_ctl ctl;
	int rc;

	if (parse_opts(argc, argv, &o) != 0)
		return 1;
	/* The config is checked before EAL: a bad file costs nothing. */
	cfg = sl_config_load(o.config, err, sizeof(err));
	if (cfg == NULL) {
		fprintf(stderr, "sluiced: %s\n", err);
		return 1;
	}

	snprintf(prefix, sizeof(prefix), "--file-prefix=sluiced-%d", getpid());
	if (o.iface != NULL)
		snprintf(vdev, sizeof(vdev),
			 "--vdev=net_af_packet0,iface=%s,qpairs=1", o.iface);
	else
		snprintf(vdev, sizeof(vdev), "--vdev=%s", o.vdev);
	eal_argv[eal_argc++] = argv[0];
	eal_argv[eal_argc++] = "-l";
	eal_argv[eal_argc++] = (char *)o.lcores;
	eal_argv[eal_argc++] = "--no-huge";
	eal_argv[eal_argc++] = "-m";
	eal_argv[eal_argc++] = "512";
	eal_argv[eal_argc++] = "--no-pci";
	eal_argv[eal_argc++] = "--log-level=lib.eal:warning";
	eal_argv[eal_argc++] = prefix;
	eal_argv[eal_argc++] = vdev;
	for (int i = 0; i < o.n_eal_extra && eal_argc < SL_EAL_ARGS_MAX - 1;
	     i++)
		eal_argv[eal_argc++] = o.eal_extra[i];
	eal_argv[eal_argc] = NULL;

	if (rte_eal_init(eal_argc, eal_argv) < 0)
		rte_exit(EXIT_FAILURE, "cannot init EAL: %s\n",
			 rte_strerror(rte_errno));
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);

	if (rte_eth_dev_count_avail() == 0)
		rte_exit(EXIT_FAILURE, "no port: check --iface/--vdev\n");
	port_id = rte_eth_find_next(0);
	worker = rte_get_next_lcore(-1, 1, 0);
	if (worker >= RTE_MAX_LCORE)
		rte_exit(EXIT_FAILURE,
			 "need a worker lcore besides the main one (-l 0,1)\n");
	rc = sl_pkt_meta_register();
	if (rc != 0)
		rte_exit(EXIT_FAILURE, "cannot register mbuf dynfield: %s\n",
			 rte_strerror(-rc));
	pool = sl_pool_create("sl_mbufs", SL_POOL_MBUFS,
			      rte_lcore_to_socket_id(worker));
	if (pool == NULL)
		rte_exit(EXIT_FAILURE, "cannot create mempool: %s\n",
			 rte_strerror(rte_errno));
	rc = sl_port_start(port_id, pool, &what);
	if (rc != 0)
		rte_exit(EXIT_FAILURE, "cannot start port %u: %s: %s\n",
			 port_id, what, rte_strerror(-rc));
	dp = rte_zmalloc("sl_dp", sizeof(*dp), RTE_CACHE_LINE_SIZE);
	if (dp == NULL)
		rte_exit(EXIT_FAILURE, "cannot allocate worker context\n");
	rc = sl_dp_init(dp, cfg, port_id, pool);
	if (rc != 0)
		rte_exit(EXIT_FAILURE, "cannot create flow table: %s\n",
			 rte_strerror(-rc));
	dp->poll = o.poll;
	dp->profile = o.profile;

	/* sl_dp_init asked for every instance (ARP frames queued): they
	 * are not mbufs the path holds. */
	in_use_start = rte_mempool_in_use_count(pool) - dp->n_ctrl;

	sl_ctl_init(&ctl, dp, pool, in_use_start);
	control_start(&o, &ctl, &loop, &api);

	rc = rte_eal_remote_launch(sl_dp_worker, dp, worker);
	if (rc != 0)
		rte_exit(EXIT_FAILURE, "cannot launch worker: %s\n",
			 rte_strerror(-rc));

	/* Ready: the port polls and the control API answers. */
	rte_ether_format_addr(mac, sizeof(mac), &dp->mac);
	printf("sluiced: ready port %u mac %s address %s:%u\n", port_id, mac,
	       sl_ipv4_format(cfg->listen.ip, ip, sizeof(ip)),
	       cfg->listen.port);
	fflush(stdout);

	start_ms = now_ms();
	while (!force_quit) {
		uint64_t t;

		/* The control loop waits at most 50 ms: stats and the
		 * duration are checked at that pace. */
		if (loop != NULL)
			sl_loop_run_once(loop, 50);
		else
			sleep_ms(50);
		t = now_ms() - start_ms;
		since_stats += t - elapsed_ms;
		elapsed_ms = t;
		if (o.stats_file != NULL && since_stats >= o.stats_interval_ms) {
			sl_stats_write(dp, pool, in_use_start, false,
				       o.stats_file);
			since_stats = 0;
		}
		if (o.duration_s != 0 && elapsed_ms >= o.duration_s * 1000ull)
			break;
	}

	dp->quit = true;
	rte_eal_mp_wait_lcore();
	/* Streams in flight end with a reason, not silence. */
	sl_dp_shutdown(dp, SL_ABORT_SHUTDOWN);
	sl_loop_destroy(loop);
	sl_api_destroy(api);
	/* Streams still in the table give their held fragments back. */
	sl_flow_table_free(dp->flows);
	dp->flows = NULL;
	sl_dp_fini(dp);
	if (o.stats_file != NULL &&
	    (rc = sl_stats_write(dp, pool, in_use_start, true,
				 o.stats_file)) != 0)
		fprintf(stderr, "sluiced: cannot write %s: %s\n", o.stats_file,
			strerror(-rc));
	for (int r = 1; r < SL_DROP_MAX; r++)
		dropped += dp->cnt.drops[r];
	printf("sluiced: stopped rx %" PRIu64 " tx %" PRIu64
	       " forwarded %" PRIu64 " dropped %" PRIu64
	       " mbufs in use %u (at start %u)\n",
	       dp->cnt.rx_packets, dp->cnt.tx_packets, dp->cnt.forwarded,
	       dropped, rte_mempool_in_use_count(pool), in_use_start);
	sl_port_stop(port_id);
	/* The snapshot in use: the one loaded at start unless the control
	 * plane replaced it (and freed that one then). */
	cfg = (struct sl_config *)dp->cfg;
	rte_free(dp);
	rte_mempool_free(pool);
	sl_config_free(cfg);
	sl_eal_cleanup();
	return 0;
}
