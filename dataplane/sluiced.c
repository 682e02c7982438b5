/* SPDX-License-Identifier: MIT */
/*
 * sluiced - the sluice dataplane daemon.
 *
 * Loads a pipeline file (and, with --state-dir, the runtime changes saved
 * since), starts EAL with embedded defaults (no hugepages, one vdev port),
 * serves the control API and metrics on the main lcore, gives up root,
 * and runs the packet path on one worker lcore until SIGINT/SIGTERM.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <linux/capability.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_malloc.h>

#include "sl_api.h"
#include "sl_cluster.h"
#include "sl_gpu_cuda.h"
#include "sl_gpu_ring.h"
#include "sl_gtx.h"
#include "sl_config.h"
#include "sl_confine.h"
#include "sl_ctl.h"
#include "sl_dp.h"
#include "sl_loop.h"
#include "sl_opt.h"
#include "sl_path.h"
#include "sl_port.h"
#include "sl_priv.h"
#include "sl_sched.h"
#include "sl_state.h"
#include "sl_stats.h"
#include "sl_worker.h"

#define SL_EAL_ARGS_MAX 64
#define SL_VERSION "0.1.0"
#define SL_DEFAULT_STATE_DIR "/var/lib/sluice"
#define SL_CONFIG_MAX_BYTES (1u << 20) /* the --config file */
#define SL_AF_PACKET_FRAMES 4096       /* --iface: frames in each kernel ring */
/* Connection limits and idle timeouts per listener (defaults). */
#define SL_GPU_DEFAULT_DIR "/dev/shm/sluice-gpu"
#define SL_DEF_CONNS_UNIX 64
#define SL_DEF_CONNS_TCP 64
#define SL_DEF_CONNS_METRICS 16
#define SL_DEF_METRICS_IDLE_MS 2000
#define SL_CLUSTER_TURN_MS 10 /* --cluster: the loop's longest wait */

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
	const char *xdp_iface; /* --xdp-iface: net_af_xdp on it */
	const char *vdev;
	const char *gpu;     /* --gpu: off, host, cuda or auto */
	const char *gpu_dir; /* --gpu-dir: where the rings' files go */
	bool rx_extmem;      /* --rx-extmem: receive pool in external memory */
	const char *stats_file;
	const char *lcores; /* NULL: main + one lcore per worker */
	unsigned int workers;
	unsigned int stats_interval_ms;
	unsigned int duration_s;
	bool poll;
	bool profile;
	const char *control;      /* unix socket path, "none" for no API */
	unsigned int control_tcp; /* 127.0.0.1 port, 0 = off */
	const char *token_file;
	const char *ro_token_file;
	char token[SL_API_TOKEN_MAX];    /* from the file or SLUICE_TOKEN */
	char ro_token[SL_API_TOKEN_MAX]; /* from ro_token_file */
	unsigned int metrics; /* 127.0.0.1 port of GET /metrics, 0 = off */
	const char *loop_backend;
	const char *user;
	const char *admin_group;
	const char *control_group;
	unsigned int control_mode; /* 0: 0600, or 0660 with a group */
	const char *audit_log;
	const char *config_dir;
	const char *state_dir; /* "none": off */
	unsigned int conns_unix, conns_tcp, conns_metrics;
	unsigned int idle_ms, metrics_idle_ms;
	unsigned int mbufs; /* the mbuf pool: hold quotas derive from it */
	int n_eal_extra;
	char **eal_extra;
	/* --impair: the fault injector on the port (tests, chaos runs). */
	bool impaired;
	struct sl_impair impair;
	/* --cluster: a node of the cluster whose state is in etcd. */
	const char *cluster;        /* etcd endpoints; NULL: not a cluster */
	const char *node;           /* --node: this node's name */
	const char *cluster_prefix; /* NULL: SL_CLUSTER_PREFIX_DEFAULT */
	unsigned int cluster_ttl_s; /* 0: SL_CLUSTER_TTL_DEFAULT */
};

static void
usage(FILE *out)
{
	fprintf(out,
		"usage: sluiced --config FILE (--iface IF | --xdp-iface IF | "
		"--vdev SPEC) "
		"[options] [-- EAL args]\n"
		"  -c, --config FILE        pipeline file (YAML)\n"
		"  -i, --iface IF           drive IF with net_af_packet (the "
		"embedded default)\n"
		"      --xdp-iface IF       drive IF with net_af_xdp (AF_XDP "
		"sockets, queues\n"
		"                           0..workers-1 of IF)\n"
		"      --vdev SPEC          use this vdev instead (e.g. "
		"net_ring0)\n"
		"  -s, --stats-file PATH    write JSON stats here each "
		"interval and at exit\n"
		"      --stats-interval-ms MS  (default 1000)\n"
		"  -d, --duration SEC       stop after SEC seconds (default: "
		"until a signal)\n"
		"      --workers N          worker lcores running the path "
		"(default 1, at most %u);\n"
		"                           a stream's fragments all reach "
		"one worker\n"
		"      --lcores LIST        EAL lcores, as EAL's --lcores "
		"(default: main on\n"
		"                           the first CPU, workers spread over "
		"the CPUs)\n"
		"      --poll               never sleep when idle (production "
		"mode)\n"
		"      --profile            count cycles per packet stage in "
		"the stats\n"
		"      --mbufs N            mbufs in the pool (default %u, "
		"%u..%u); the\n"
		"                           hold quotas are shares of it\n"
		"      --gpu MODE           local GPU instances' token rings: "
		"off (default),\n"
		"                           host, cuda or auto (cuda, else "
		"host, saying why)\n"
		"      --gpu-dir DIR        the rings' files engines attach to "
		"(default\n"
		"                           " SL_GPU_DEFAULT_DIR ")\n"
		"      --rx-extmem          receive into mbufs whose buffers "
		"lie "
		"outside EAL\n"
		"                           (registered external memory: the "
		"path GPU memory\n"
		"                           takes; page-aligned host memory "
		"here)\n"
		"      --impair SPEC        inject faults on the port, e.g.\n"
		"                           "
		"drop=5,dup=1,reorder=3,dir=both,hop=A.B.C.D,seed=N\n"
		"                           (percentages; for tests and "
		"tools/bench/chaos.sh)\n"
		"control plane:\n"
		"      --control PATH       control API unix socket "
		"(default " SL_API_DEFAULT_SOCKET ", none: off)\n"
		"      --control-mode MODE  its mode: 0600 (default), 0660 or "
		"0666; peers\n"
		"                           other than root and --admin-group "
		"are read-only\n"
		"      --control-group G    the socket's group (mode 0660 "
		"unless given)\n"
		"      --admin-group G      unix peers in group G may change "
		"things too\n"
		"      --control-tcp PORT   also on 127.0.0.1:PORT (needs a "
		"token)\n"
		"      --token-file PATH    the admin token for TCP (mode "
		"0600; or SLUICE_TOKEN)\n"
		"      --ro-token-file PATH a read-only token for TCP\n"
		"      --metrics PORT       Prometheus GET /metrics on "
		"127.0.0.1:PORT\n"
		"      --max-conns-unix N   connections at once per listener "
		"(default %d,\n"
		"      --max-conns-tcp N    %d, %d)\n"
		"      --max-conns-metrics N\n"
		"      --idle-timeout-ms MS API connections without a whole "
		"request (default %d)\n"
		"      --metrics-idle-timeout-ms MS  scrapes (default %d)\n"
		"      --audit-log FILE     append an audit line per change "
		"here too\n"
		"      --loop-backend B     auto (default), uring or epoll\n"
		"cluster (state in etcd; instead of --config):\n"
		"      --cluster URLS       etcd endpoints, http://H:P[,...]: "
		"the config is\n"
		"                           PREFIXconfig there, followed at "
		"every revision\n"
		"      --node NAME          this node: one of the config's "
		"nodes:\n"
		"      --cluster-prefix P   the cluster's keys "
		"(default " SL_CLUSTER_PREFIX_DEFAULT ")\n"
		"      --cluster-ttl SEC    membership lease (default 5): a "
		"node gone this\n"
		"                           long leaves the members\n"
		"files and privileges:\n"
		"      --config-dir DIR     files a config names are read "
		"beneath DIR only\n"
		"                           (default: the directory of "
		"--config)\n"
		"      --state-dir DIR      keep runtime changes here and "
		"restore them at\n"
		"                           start "
		"(default " SL_DEFAULT_STATE_DIR ", none: off)\n"
		"      --user NAME          run as NAME after start-up "
		"(default " SL_PRIV_DEFAULT_USER ")\n"
		"  -h, --help\n"
		"EAL defaults: --lcores (above) --no-huge -m MiB --no-pci "
		"--no-shconf --no-telemetry\n"
		"              (MiB from the mbuf pool and flows.size, at "
		"least 512)\n"
		"              --file-prefix sluiced-<pid>\n",
		SL_WORKERS_MAX, SL_POOL_MBUFS, SL_POOL_MBUFS_MIN,
		SL_POOL_MBUFS_MAX, SL_DEF_CONNS_UNIX, SL_DEF_CONNS_TCP,
		SL_DEF_CONNS_METRICS, SL_API_IDLE_TIMEOUT_MS,
		SL_DEF_METRICS_IDLE_MS);
}

/*
 * The memory EAL reserves (-m, MiB; --no-huge memory is reserved, then
 * touched only as it is used): the mbuf pool, then per flow table entry
 * everything sized by flows.size (the entry, its hash slot and key, the
 * edge block, and the shares of reorder buffers, held chunks, splitters,
 * guard and Hyperscan stream states). Measured: 1.6 KiB per entry (the
 * smallest -m that starts tools/pipelines/factcheck.yaml, 262144 entries,
 * against the same file at 65536); a layout change builds the new
 * generation's state beside the old one, hence twice that, rounded up.
 */
#define SL_MEM_BASE_MB 128
#define SL_MEM_PER_FLOW 3584
#define SL_MEM_MIN_MB 512
#define SL_MEM_PER_WORKER_MB 96

static unsigned int
eal_memory_mb(const struct sl_config *cfg, unsigned int mbufs,
	      unsigned int workers, bool xdp)
{
	/* An AF_XDP port's pool: one page an mbuf (sl_port.h). */
	uint64_t b = (uint64_t)mbufs *
		     (xdp ? SL_XDP_MBUF_SIZE
			  : RTE_MBUF_DEFAULT_BUF_SIZE +
				      sizeof(struct rte_mbuf) + 64);

	b += (uint64_t)cfg->flow_table_size * SL_MEM_PER_FLOW;
	/* Each further worker: its share of the flows is counted above,
	 * its own tables and queues are not. */
	b += (uint64_t)(workers - 1) * SL_MEM_PER_WORKER_MB << 20;
	b = SL_MEM_BASE_MB + (b >> 20) + 1;
	return (unsigned int)RTE_MAX(b, (uint64_t)SL_MEM_MIN_MB);
}

/* The operator gave EAL its memory after `--`: theirs wins. */
static bool
eal_has_memory(const struct sluiced_opts *o)
{
	for (int i = 0; i < o->n_eal_extra; i++) {
		const char *a = o->eal_extra[i];

		if (strncmp(a, "-m", 2) == 0 ||
		    strncmp(a, "--socket-mem", 12) == 0)
			return true;
	}
	return false;
}

/* The admin token: --token-file, else SLUICE_TOKEN (scrubbed from the
 * environment either way); the read-only one from --ro-token-file. */
static int
load_tokens(struct sluiced_opts *o)
{
	char *env = getenv("SLUICE_TOKEN");
	char err[512];
	int rc = 0;

	if (o->token_file != NULL) {
		if (sl_priv_read_secret(o->token_file, o->token,
					sizeof(o->token), err,
					sizeof(err)) != 0) {
			fprintf(stderr, "sluiced: --token-file %s\n", err);
			rc = -1;
		}
	} else if (env != NULL && env[0] != '\0') {
		if (sl_priv_check_secret(env, sizeof(o->token), err,
					 sizeof(err)) != 0) {
			fprintf(stderr, "sluiced: SLUICE_TOKEN: %s\n", err);
			rc = -1;
		} else {
			snprintf(o->token, sizeof(o->token), "%s", env);
		}
	}
	/* The environment of a process is readable in /proc by its user:
	 * nothing of the token stays there. */
	if (env != NULL) {
		explicit_bzero(env, strlen(env));
		unsetenv("SLUICE_TOKEN");
	}
	if (rc == 0 && o->ro_token_file != NULL &&
	    sl_priv_read_secret(o->ro_token_file, o->ro_token,
				sizeof(o->ro_token), err, sizeof(err)) != 0) {
		fprintf(stderr, "sluiced: --ro-token-file %s\n", err);
		rc = -1;
	}
	if (rc == 0 && o->ro_token[0] != '\0' &&
	    strcmp(o->ro_token, o->token) == 0) {
		fprintf(stderr, "sluiced: --ro-token-file: the read-only token "
				"must differ from the admin token\n");
		rc = -1;
	}
	if (rc == 0 && o->control_tcp != 0 && o->token[0] == '\0') {
		fprintf(stderr, "sluiced: --control-tcp needs a token: "
				"--token-file PATH or SLUICE_TOKEN\n");
		rc = -1;
	}
	if (rc == 0 && o->control_tcp == 0 &&
	    (o->token_file != NULL || o->ro_token_file != NULL)) {
		fprintf(stderr, "sluiced: --token-file and --ro-token-file "
				"need --control-tcp\n");
		rc = -1;
	}
	return rc;
}

static int
parse_opts(int argc, char **argv, struct sluiced_opts *o)
{
	const char *impair = NULL, *token = NULL, *mode = NULL;
	bool help = false;
	const struct sl_opt_spec spec[] = {
		SL_OPT_S("config", &o->config, .letter = 'c'),
		SL_OPT_S("iface", &o->iface, .letter = 'i'),
		SL_OPT_S("vdev", &o->vdev),
		SL_OPT_S("xdp-iface", &o->xdp_iface),
		SL_OPT_S("stats-file", &o->stats_file, .letter = 's'),
		SL_OPT_N("stats-interval-ms", &o->stats_interval_ms, 1,
			 3600000),
		SL_OPT_N("duration", &o->duration_s, 0, UINT32_MAX,
			 .letter = 'd'),
		SL_OPT_S("lcores", &o->lcores),
		SL_OPT_N("workers", &o->workers, 1, SL_WORKERS_MAX),
		SL_OPT_F("poll", &o->poll),
		SL_OPT_F("profile", &o->profile),
		SL_OPT_S("control", &o->control),
		SL_OPT_N("control-tcp", &o->control_tcp, 1, 65535),
		SL_OPT_S("token", &token),
		SL_OPT_S("token-file", &o->token_file),
		SL_OPT_S("ro-token-file", &o->ro_token_file),
		SL_OPT_N("metrics", &o->metrics, 1, 65535),
		SL_OPT_S("loop-backend", &o->loop_backend),
		SL_OPT_S("user", &o->user),
		SL_OPT_S("admin-group", &o->admin_group),
		SL_OPT_S("control-group", &o->control_group),
		SL_OPT_S("control-mode", &mode),
		SL_OPT_S("audit-log", &o->audit_log),
		SL_OPT_S("config-dir", &o->config_dir),
		SL_OPT_S("state-dir", &o->state_dir),
		SL_OPT_N("max-conns-unix", &o->conns_unix, 1, 65536),
		SL_OPT_N("max-conns-tcp", &o->conns_tcp, 1, 65536),
		SL_OPT_N("max-conns-metrics", &o->conns_metrics, 1, 65536),
		SL_OPT_N("idle-timeout-ms", &o->idle_ms, 100, 3600000),
		SL_OPT_N("metrics-idle-timeout-ms", &o->metrics_idle_ms, 100,
			 3600000),
		SL_OPT_S("impair", &impair),
		SL_OPT_S("gpu", &o->gpu),
		SL_OPT_S("gpu-dir", &o->gpu_dir),
		SL_OPT_F("rx-extmem", &o->rx_extmem),
		SL_OPT_N("mbufs", &o->mbufs, SL_POOL_MBUFS_MIN,
			 SL_POOL_MBUFS_MAX),
		SL_OPT_S("cluster", &o->cluster),
		SL_OPT_S("node", &o->node),
		SL_OPT_S("cluster-prefix", &o->cluster_prefix),
		SL_OPT_N("cluster-ttl", &o->cluster_ttl_s, 2, 3600),
		SL_OPT_F("help", &help, .letter = 'h'),
	};
	int first;

	o->stats_interval_ms = 1000;
	o->workers = 1;
	o->control = SL_API_DEFAULT_SOCKET;
	o->loop_backend = "auto";
	o->user = SL_PRIV_DEFAULT_USER;
	o->state_dir = SL_DEFAULT_STATE_DIR;
	o->conns_unix = SL_DEF_CONNS_UNIX;
	o->mbufs = SL_POOL_MBUFS;
	o->conns_tcp = SL_DEF_CONNS_TCP;
	o->conns_metrics = SL_DEF_CONNS_METRICS;
	o->idle_ms = SL_API_IDLE_TIMEOUT_MS;
	o->metrics_idle_ms = SL_DEF_METRICS_IDLE_MS;
	o->gpu = "off";
	o->gpu_dir = SL_GPU_DEFAULT_DIR;
	first = sl_opt_parse("sluiced", argc, argv, spec,
			     sizeof(spec) / sizeof(spec[0]), NULL);
	if (first < 0) /* it said why */
		return -1;
	if (help) {
		usage(stdout);
		exit(0);
	}
	if (token != NULL) {
		/* Refused before anything reads it: argv is in ps and
		 * /proc/PID/cmdline for every local user. */
		fprintf(stderr,
			"sluiced: --token: a token on the command line is "
			"visible to every local user (ps, /proc/PID/cmdline); "
			"put it in a file only root can read and pass "
			"--token-file PATH, or set SLUICE_TOKEN\n");
		return -1;
	}
	if (impair != NULL) {
		char err[160];

		if (sl_impair_parse(&o->impair, impair, err, sizeof(err)) !=
		    0) {
			fprintf(stderr, "sluiced: --impair: %s\n", err);
			return -1;
		}
		o->impaired = true;
	}
	if (mode != NULL) {
		if (strcmp(mode, "0600") && strcmp(mode, "600") &&
		    strcmp(mode, "0660") && strcmp(mode, "660") &&
		    strcmp(mode, "0666") && strcmp(mode, "666")) {
			fprintf(stderr,
				"sluiced: --control-mode: 0600 (root only), "
				"0660 (the socket's group) or 0666 (every "
				"local user), not %s\n",
				mode);
			return -1;
		}
		o->control_mode = (unsigned int)strtoul(mode, NULL, 8);
	}
	if (o->cluster != NULL && o->config != NULL) {
		fprintf(stderr, "sluiced: --config or --cluster, not both: a "
				"cluster's node reads its config from etcd\n");
		return -1;
	}
	if (o->cluster != NULL && o->node == NULL) {
		fprintf(stderr, "sluiced: --cluster needs --node NAME (one of "
				"the cluster config's nodes:)\n");
		return -1;
	}
	if (o->cluster == NULL &&
	    (o->node != NULL || o->cluster_prefix != NULL ||
	     o->cluster_ttl_s != 0)) {
		fprintf(stderr, "sluiced: --node, --cluster-prefix and "
				"--cluster-ttl go with --cluster\n");
		return -1;
	}
	if (o->config == NULL && o->cluster == NULL) {
		fprintf(stderr,
			"sluiced: --config (or --cluster) is required\n");
		return -1;
	}
	if (strcmp(o->loop_backend, "auto") != 0 &&
	    strcmp(o->loop_backend, "uring") != 0 &&
	    strcmp(o->loop_backend, "epoll") != 0) {
		fprintf(stderr,
			"sluiced: --loop-backend: auto, uring or epoll, "
			"not %s\n",
			o->loop_backend);
		return -1;
	}
	if (strcmp(o->gpu, "off") != 0 && strcmp(o->gpu, "host") != 0 &&
	    strcmp(o->gpu, "cuda") != 0 && strcmp(o->gpu, "auto") != 0) {
		fprintf(stderr,
			"sluiced: --gpu: off, host, cuda or auto, not %s\n",
			o->gpu);
		return -1;
	}
	if (o->gpu_dir[0] != '/') {
		fprintf(stderr,
			"sluiced: --gpu-dir: an absolute path, not %s\n",
			o->gpu_dir);
		return -1;
	}
	if (o->rx_extmem && o->xdp_iface != NULL) {
		fprintf(stderr,
			"sluiced: --rx-extmem: an AF_XDP port's umem is "
			"its own pool (--xdp-iface)\n");
		return -1;
	}
	if ((o->iface != NULL) + (o->xdp_iface != NULL) + (o->vdev != NULL) !=
	    1) {
		fprintf(stderr, "sluiced: give exactly one of --iface, "
				"--xdp-iface, --vdev\n");
		return -1;
	}
	if (load_tokens(o) != 0)
		return -1;
	o->n_eal_extra = argc - first;
	o->eal_extra = argv + first;
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

/* A group name or number; false after saying why. */
static bool
group_id(const char *opt, const char *name, gid_t *gid)
{
	struct group *gr = getgrnam(name);
	char *end;
	unsigned long v;

	if (gr != NULL) {
		*gid = gr->gr_gid;
		return true;
	}
	v = strtoul(name, &end, 10);
	if (*name != '\0' && *end == '\0' && v < UINT32_MAX) {
		*gid = (gid_t)v;
		return true;
	}
	fprintf(stderr, "sluiced: --%s: no group named %s\n", opt, name);
	return false;
}

/* Room for every connection the listeners may hold, plus the daemon's
 * own descriptors: raised (up to the hard limit) while still root. */
static void
raise_fd_limit(unsigned int conns)
{
	struct rlimit rl;
	rlim_t need = (rlim_t)conns + 256;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= need)
		return;
	rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= need
			      ? need
			      : rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur < need)
		fprintf(stderr,
			"sluiced: warning: %u control connections need %llu "
			"descriptors, the limit is %llu\n",
			conns, (unsigned long long)need,
			(unsigned long long)rl.rlim_cur);
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
		.idle_timeout_ms = o->idle_ms,
		.max_conns = o->conns_unix + o->conns_tcp + o->conns_metrics,
		.log = log_line,
	};
	struct sl_api_params ap = {
		.unix_path =
			strcmp(o->control, "none") == 0 ? NULL : o->control,
		.unix_mode = o->control_mode,
		.tcp = o->control_tcp != 0,
		.tcp_port = (uint16_t)o->control_tcp,
		.token = o->token[0] ? o->token : NULL,
		.ro_token = o->ro_token[0] ? o->ro_token : NULL,
		.unix_limits = {o->conns_unix, o->idle_ms},
		.tcp_limits = {o->conns_tcp, o->idle_ms},
		.metrics_limits = {o->conns_metrics, o->metrics_idle_ms},
		.audit_log = o->audit_log,
		.version = SL_VERSION,
		.log = log_line,
	};

	*loop = NULL;
	*api = NULL;
	raise_fd_limit(lp.max_conns);
	if (o->admin_group != NULL) {
		if (!group_id("admin-group", o->admin_group, &ap.admin_gid))
			rte_exit(EXIT_FAILURE, "bad --admin-group\n");
		ap.admin_gid_set = true;
	}
	/* The socket's group: its own option, else the admin group; with
	 * one, mode 0660 unless a mode was given. */
	if (o->control_group != NULL || o->admin_group != NULL) {
		const char *g =
			o->control_group ? o->control_group : o->admin_group;

		if (!group_id("control-group", g, &ap.unix_gid))
			rte_exit(EXIT_FAILURE, "bad --control-group\n");
		ap.unix_chgrp = true;
		if (ap.unix_mode == 0)
			ap.unix_mode = 0660;
	}
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
	/* The default socket's directory is ours to make. It stays root's
	 * (0755): after the drop nobody else may place a socket there. */
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

/* The --config file's text (bounded), NUL-terminated; exits on failure
 * with the line sl_config_load would print. */
static char *
read_config(const char *path, size_t *len)
{
	char *buf = malloc(SL_CONFIG_MAX_BYTES + 2);
	FILE *f = fopen(path, "rb");
	size_t n;

	if (f == NULL) {
		fprintf(stderr, "sluiced: %s: cannot open: %s\n", path,
			strerror(errno));
		exit(1);
	}
	if (buf == NULL) {
		fprintf(stderr, "sluiced: %s: out of memory\n", path);
		exit(1);
	}
	n = fread(buf, 1, SL_CONFIG_MAX_BYTES + 1, f);
	if (ferror(f)) {
		fprintf(stderr, "sluiced: %s: read error\n", path);
		exit(1);
	}
	fclose(f);
	if (n > SL_CONFIG_MAX_BYTES) {
		fprintf(stderr, "sluiced: %s: larger than %u bytes\n", path,
			SL_CONFIG_MAX_BYTES);
		exit(1);
	}
	buf[n] = '\0';
	*len = n;
	return buf;
}

/* --config-dir, else the directory of --config: where the files a config
 * names must be. */
static void
config_dir(const struct sluiced_opts *o, char *dir, size_t len)
{
	char copy[PATH_MAX], real[PATH_MAX];
	const char *want = copy;
	struct stat st;

	/* A cluster's node has no config file: its working directory
	 * unless --config-dir says. */
	snprintf(copy, sizeof(copy), "%s",
		 o->config_dir != NULL ? o->config_dir
		 : o->config != NULL   ? o->config
				       : "./.");
	if (o->config_dir == NULL)
		want = dirname(copy);
	errno = 0;
	if (realpath(want, real) == NULL || stat(real, &st) != 0 ||
	    !S_ISDIR(st.st_mode)) {
		fprintf(stderr, "sluiced: --config-dir %s: %s\n", want,
			errno ? strerror(errno) : "not a directory");
		exit(1);
	}
	snprintf(dir, len, "%s", real);
}

/* The state directory: made (0700, the run user's) when missing, and it
 * must be writable by that user. */
static void
state_dir_prepare(const char *dir, const struct sl_priv_user *u)
{
	struct stat st;
	int rc;

	if (stat(dir, &st) != 0) {
		if (errno != ENOENT || mkdir(dir, 0700) != 0) {
			fprintf(stderr, "sluiced: --state-dir %s: %s\n", dir,
				strerror(errno));
			exit(1);
		}
		if (u->drop && chown(dir, u->uid, u->gid) != 0) {
			fprintf(stderr, "sluiced: --state-dir %s: chown: %s\n",
				dir, strerror(errno));
			exit(1);
		}
	} else if (!S_ISDIR(st.st_mode)) {
		fprintf(stderr, "sluiced: --state-dir %s: not a directory\n",
			dir);
		exit(1);
	}
	rc = sl_priv_user_can(u, dir, W_OK | X_OK);
	if (rc != 0) {
		fprintf(stderr,
			"sluiced: --state-dir %s: user %s cannot write there "
			"(%s); chown it to %s, or --state-dir none\n",
			dir, u->name, strerror(-rc), u->name);
		exit(1);
	}
}

/* The stats file is replaced by rename(2) in its directory, after the
 * drop: that directory must be writable by the run user. */
static void
stats_dir_check(const char *path, const struct sl_priv_user *u)
{
	char copy[PATH_MAX];
	const char *dir;
	int rc;

	snprintf(copy, sizeof(copy), "%s", path);
	dir = dirname(copy);
	rc = sl_priv_user_can(u, dir, W_OK | X_OK);
	if (rc != 0) {
		fprintf(stderr,
			"sluiced: --stats-file %s: user %s cannot write in %s "
			"(%s); make it writable by %s or choose another "
			"--user\n",
			path, u->name, dir, strerror(-rc), u->name);
		exit(1);
	}
}

/* Give up root: the port, the sockets and every file are open. An
 * af_xdp port detaches its XDP program when it closes, which needs
 * CAP_NET_ADMIN: that one stays, in the main thread only. (libxdp first
 * tries to drop its own count of the program under its lock in /run/xdp
 * or bpffs, root's only, and says "please detach program yourself": the
 * PMD's close then detaches it, bpf_xdp_detach, as the kept capability
 * allows; integration-privileges-af_xdp and -xdp_load check it is gone.) */
static void
drop_root(const struct sl_priv_user *u, uint16_t port_id)
{
	int keep[1], n_keep = 0;
	char msg[512];

	if (sl_port_is_xdp(port_id))
		keep[n_keep++] = CAP_NET_ADMIN;
	if (sl_priv_drop(u, keep, n_keep, msg, sizeof(msg)) != 0)
		rte_exit(EXIT_FAILURE, "cannot drop root: %s\n", msg);
	fprintf(stderr, "sluiced: %s\n", msg);
}

/*
 * The pipeline file compiled (before EAL: a bad file costs nothing),
 * the state directory opened and what it kept applied. Return 0, or 1
 * after a message.
 */
static int
load_config(const struct sluiced_opts *o, const struct sl_priv_user *user,
	    char *dir, size_t dirlen, const struct sl_confine *files,
	    struct sl_state *state, struct sl_state_restored *restored,
	    struct sl_config **cfg_out, bool *persist)
{
	char err[1024];
	struct sl_config *cfg;
	char *config_text;
	size_t config_len;
	int rc;

	config_dir(o, dir, dirlen);
	config_text = read_config(o->config, &config_len);
	cfg = sl_config_parse_in(config_text, config_len, o->config, files, err,
				 sizeof(err));
	if (cfg == NULL) {
		fprintf(stderr, "sluiced: %s\n", err);
		free(config_text);
		return 1;
	}
	*persist = strcmp(o->state_dir, "none") != 0;
	if (*persist)
		state_dir_prepare(o->state_dir, user);
	rc = sl_state_init(state, *persist ? o->state_dir : NULL, o->config,
			   config_text, config_len, err, sizeof(err));
	free(config_text);
	if (rc != 0) {
		fprintf(stderr, "sluiced: --state-dir %s\n", err);
		sl_config_free(cfg);
		return 1;
	}
	rc = sl_state_restore(state, files, &cfg, restored, err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr, "sluiced: state: %s\n", err);
		sl_state_fini(state);
		sl_config_free(cfg);
		return 1;
	}
	if (rc == 1)
		fprintf(stderr,
			"sluiced: restored generation %" PRIu64 " from %s: %s "
			"and %" PRIu32 " edits\n",
			restored->generation, state->path, restored->config,
			restored->edits);
	else if (rc == 2)
		fprintf(stderr, "sluiced: state: %s\n", err);
	if (o->stats_file != NULL)
		stats_dir_check(o->stats_file, user);
	if (user->drop && sl_priv_user_can(user, dir, R_OK | X_OK) != 0)
		fprintf(stderr,
			"sluiced: warning: user %s cannot read the config "
			"directory %s: applied files naming files there will "
			"be refused\n",
			user->name, dir);
	*cfg_out = cfg;
	return 0;
}

/* "etcd KEY@REVISION": the name a cluster revision has in messages. */
static void
cluster_doc_name(const struct sl_cluster_doc *doc, char *buf, size_t len)
{
	snprintf(buf, len, "etcd %s@%" PRId64, doc->key, doc->revision);
}

/*
 * --cluster: join (sl_cluster_open: clock, protocol and name checked) and
 * compile the cluster's config for this node. Runtime changes come from
 * etcd, so nothing is kept in --state-dir. Return 0 or 1 after saying why.
 */
static int
load_cluster(const struct sluiced_opts *o, char *dir, size_t dirlen,
	     const struct sl_confine *files, struct sl_cluster **cluster,
	     struct sl_config **cfg_out, int64_t *revision)
{
	struct sl_cluster_params p = {
		.endpoints = o->cluster,
		.prefix = o->cluster_prefix,
		.node = o->node,
		.version = "sluiced " SL_VERSION,
		.ttl_s = o->cluster_ttl_s,
	};
	struct sl_cluster_doc doc;
	char err[1024], name[200];

	config_dir(o, dir, dirlen);
	*cluster = sl_cluster_open(&p, &doc, err, sizeof(err));
	if (*cluster == NULL) {
		fprintf(stderr, "sluiced: --cluster %s: %s\n", o->cluster, err);
		return 1;
	}
	cluster_doc_name(&doc, name, sizeof(name));
	*cfg_out = sl_config_parse_node(doc.yaml, doc.len, name, files, o->node,
					err, sizeof(err));
	*revision = doc.revision;
	sl_cluster_doc_free(&doc);
	if (*cfg_out == NULL) {
		fprintf(stderr, "sluiced: cluster: %s\n", err);
		sl_cluster_close(*cluster);
		*cluster = NULL;
		return 1;
	}
	printf("sluiced: cluster %s: node %s, revision %" PRId64 "\n",
	       o->cluster, o->node, *revision);
	return 0;
}

/*
 * A turn of the control loop for the cluster: the newest revision the
 * watch brought, if any, applied (or refused whole, the last good one
 * running on), and the membership read into the stats.
 */
static void
cluster_turn(struct sl_cluster *cluster, struct sl_ctl *ctl)
{
	/* The membership the snapshot in use was marked for. */
	static uint64_t members_gen = UINT64_MAX;
	struct sl_cluster_doc doc;
	struct sl_cluster_status st;

	if (cluster == NULL)
		return;
	if (sl_cluster_take(cluster, &doc) == 1) {
		char name[200], msg[1024];

		cluster_doc_name(&doc, name, sizeof(name));
		if (sl_ctl_apply_cluster(ctl, doc.yaml, doc.len, name, msg,
					 sizeof(msg)) == 0) {
			sl_cluster_report(cluster, doc.revision, NULL);
			printf("sluiced: cluster: running revision %" PRId64
			       " (generation %" PRIu64 ")\n",
			       doc.revision, ctl->generation);
			fflush(stdout);
		} else {
			sl_cluster_report(cluster, doc.revision, msg);
			fprintf(stderr,
				"sluiced: cluster: revision %" PRId64
				" refused, revision %" PRIu64 " runs on: %s\n",
				doc.revision, ctl->cluster.revision, msg);
		}
		sl_cluster_doc_free(&doc);
	}
	sl_cluster_status(cluster, &st);
	if (st.members_gen != members_gen) {
		char names[SL_MAX_NODES * 4][32], msg[1024];
		uint32_t n = sl_cluster_members(cluster, names, RTE_DIM(names));

		if (sl_ctl_cluster_members(ctl, (const char(*)[32])names, n,
					   msg, sizeof(msg)) == 0)
			members_gen = st.members_gen;
		else
			fprintf(stderr,
				"sluiced: cluster: members changed, not "
				"published yet: %s\n",
				msg);
	}
	ctl->cluster.revision = (uint64_t)st.running;
	ctl->cluster.seen = (uint64_t)st.seen;
	ctl->cluster.connected = st.connected;
	ctl->cluster.members = st.members;
	ctl->cluster.applied = st.applied;
	ctl->cluster.rejected = st.rejected;
	ctl->cluster.disconnects = st.disconnects;
	ctl->cluster.rejoins = st.rejoins;
	snprintf(ctl->cluster_error, sizeof(ctl->cluster_error), "%s",
		 st.last_error);
}

/*
 * Main lcore 0 on the first CPU sluiced may run on, worker lcores 1..N
 * spread over the allowed CPUs from the second on (wrapping: on a 2-CPU
 * host four workers share the CPUs two by two, which the idle back-off
 * makes bearable), as EAL's --lcores "0@A,1@B,...".
 */
static char *
default_lcores(unsigned int workers, char *buf, size_t len)
{
	unsigned int cpus[CPU_SETSIZE], n = 0;
	cpu_set_t set;
	size_t at;

	if (sched_getaffinity(0, sizeof(set), &set) == 0)
		for (unsigned int c = 0; c < CPU_SETSIZE; c++)
			if (CPU_ISSET(c, &set))
				cpus[n++] = c;
	if (n == 0)
		cpus[n++] = 0;
	at = (size_t)snprintf(buf, len, "0@%u", cpus[0]);
	for (unsigned int w = 1; w <= workers && at < len; w++)
		at += (size_t)snprintf(buf + at, len - at, ",%u@%u", w,
				       cpus[w % n]);
	return buf;
}

/* --vdev net_af_xdpN,...: its pool is laid out for the umem (sl_port.h). */
static bool
vdev_is_xdp(const struct sluiced_opts *o)
{
	return o->xdp_iface != NULL ||
	       (o->vdev != NULL && strncmp(o->vdev, "net_af_xdp", 10) == 0);
}

/* EAL with sluiced's defaults, the port's vdev and the caller's extra
 * arguments; exits when EAL cannot start. */
static void
eal_start(const struct sluiced_opts *o, const struct sl_config *cfg,
	  char *argv0)
{
	char prefix[64], vdev[256], mem[16], lcores[512];
	char *eal_argv[SL_EAL_ARGS_MAX];
	int eal_argc = 0;

	snprintf(prefix, sizeof(prefix), "--file-prefix=sluiced-%d", getpid());
	/* The kernel's ring holds a burst while the worker is off its
	 * core: 4096 frames, not the PMD's 512 (a busy 2-core host lost
	 * bursts of a few hundred answers' fragments at 512; 8 MiB a ring
	 * at 2 KiB a frame). */
	if (o->iface != NULL)
		snprintf(vdev, sizeof(vdev),
			 "--vdev=net_af_packet0,iface=%s,qpairs=%u,"
			 "framecnt=%u",
			 o->iface, o->workers, SL_AF_PACKET_FRAMES);
	else if (o->xdp_iface != NULL)
		/* One AF_XDP socket per worker, on the interface's queues
		 * 0..N-1 (it must have them: a veth has one unless made with
		 * numrxqueues/numtxqueues). */
		snprintf(vdev, sizeof(vdev),
			 "--vdev=net_af_xdp0,iface=%s,start_queue=0,"
			 "queue_count=%u",
			 o->xdp_iface, o->workers);
	else
		snprintf(vdev, sizeof(vdev), "--vdev=%s", o->vdev);
	eal_argv[eal_argc++] = argv0;
	eal_argv[eal_argc++] = "--lcores";
	eal_argv[eal_argc++] =
		o->lcores != NULL
			? (char *)o->lcores
			: default_lcores(o->workers, lcores, sizeof(lcores));
	eal_argv[eal_argc++] = "--no-huge";
	if (!eal_has_memory(o)) {
		snprintf(mem, sizeof(mem), "%u",
			 eal_memory_mb(cfg, o->mbufs, o->workers,
				       vdev_is_xdp(o)));
		eal_argv[eal_argc++] = "-m";
		eal_argv[eal_argc++] = mem;
	}
	eal_argv[eal_argc++] = "--no-pci";
	/* No files in EAL's runtime folder (only root may remove them,
	 * and sluiced is not root when it ends) and no telemetry socket:
	 * one process, no secondaries. */
	eal_argv[eal_argc++] = "--no-shconf";
	eal_argv[eal_argc++] = "--no-telemetry";
	eal_argv[eal_argc++] = "--log-level=lib.eal:warning";
	eal_argv[eal_argc++] = prefix;
	eal_argv[eal_argc++] = vdev;
	for (int i = 0; i < o->n_eal_extra && eal_argc < SL_EAL_ARGS_MAX - 1;
	     i++)
		eal_argv[eal_argc++] = o->eal_extra[i];
	eal_argv[eal_argc] = NULL;

	if (rte_eal_init(eal_argc, eal_argv) < 0)
		rte_exit(EXIT_FAILURE, "cannot init EAL: %s\n",
			 rte_strerror(rte_errno));
}

/*
 * The main lcore's life once the worker runs: the control loop (at most
 * 50 ms a turn, SL_PLAN_MS while routing plans are made), the stats file every --stats-interval-ms, --duration.
 */
static void
serve(const struct sluiced_opts *o, struct sl_workers *ws, struct sl_loop *loop,
      struct sl_ctl *ctl, struct sl_cluster *cluster, struct sl_stats *snap,
      unsigned int in_use_start)
{
	uint64_t elapsed_ms = 0, since_stats = 0, start_ms;

	start_ms = now_ms();
	while (!force_quit) {
		uint64_t t;

		/* The control loop waits at most 50 ms (SL_PLAN_MS while
		 * the scheduler makes routing plans): stats and the
		 * duration are checked at that pace. */
		int wait_ms = sl_sched_wait_ms(ctl->sched, ctl->cfg);

		/* A cluster's revision is taken within SL_CLUSTER_TURN_MS
		 * of its arrival. */
		if (cluster != NULL && wait_ms > SL_CLUSTER_TURN_MS)
			wait_ms = SL_CLUSTER_TURN_MS;
		if (loop != NULL)
			sl_loop_run_once(loop, wait_ms);
		else
			sleep_ms(wait_ms);
		/* What the workers reported for the scheduler, and the
		 * routing plans made from it. */
		cluster_turn(cluster, ctl);
		sl_sched_poll(ctl->sched, ws, ctl->cfg);
		sl_sched_plan(ctl->sched, ws, ctl->cfg, rte_rdtsc());
		t = now_ms() - start_ms;
		since_stats += t - elapsed_ms;
		elapsed_ms = t;
		if (o->stats_file != NULL &&
		    since_stats >= o->stats_interval_ms) {
			if (sl_workers_stats_take(ws, snap) == 0)
				sl_stats_write(snap, ws->dp[0]->pool,
					       in_use_start, false,
					       o->stats_file);
			since_stats = 0;
		}
		if (o->duration_s != 0 && elapsed_ms >= o->duration_s * 1000ull)
			break;
	}
}

/* --gpu-dir's lock (held while the rings exist) and its path. */
static int gpu_lock_fd = -1;
static char gpu_lock_path[PATH_MAX];

/*
 * --gpu-dir: made (0750, then given to the run user) or, if it exists, a
 * directory (not a link) that belongs to the user sluiced runs as and no
 * group or other may write: nobody else can then plant or replace ring
 * files engines would trust. Only a directory sluiced made is chowned.
 * Its .lock is held while the rings live: two sluiced never share one.
 * Exits on failure.
 */
static void
gpu_dir_take(const char *dir, const struct sl_priv_user *user)
{
	uid_t owner = user->drop ? user->uid : geteuid();
	bool made = mkdir(dir, 0750) == 0;
	struct stat sb;
	int fd;

	if (!made && errno != EEXIST)
		rte_exit(EXIT_FAILURE, "--gpu-dir %s: %s\n", dir,
			 strerror(errno));
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &sb) != 0)
		rte_exit(EXIT_FAILURE, "--gpu-dir %s: not a directory: %s\n",
			 dir, strerror(errno));
	if (made && user->drop && fchown(fd, user->uid, user->gid) != 0)
		rte_exit(EXIT_FAILURE, "--gpu-dir %s: chown: %s\n", dir,
			 strerror(errno));
	if (!made && (sb.st_uid != owner || (sb.st_mode & 0022) != 0))
		rte_exit(EXIT_FAILURE,
			 "--gpu-dir %s: must belong to uid %u (the user "
			 "sluiced runs as) and be writable by no group or "
			 "other (it is uid %u, mode %04o)\n",
			 dir, (unsigned int)owner, (unsigned int)sb.st_uid,
			 (unsigned int)(sb.st_mode & 07777));
	close(fd);
	if ((size_t)snprintf(gpu_lock_path, sizeof(gpu_lock_path), "%s/.lock",
			     dir) >= sizeof(gpu_lock_path))
		rte_exit(EXIT_FAILURE, "--gpu-dir %s: too long\n", dir);
	gpu_lock_fd = open(gpu_lock_path,
			   O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (gpu_lock_fd < 0 || flock(gpu_lock_fd, LOCK_EX | LOCK_NB) != 0)
		rte_exit(EXIT_FAILURE,
			 "--gpu-dir %s: %s (another sluiced uses it?)\n", dir,
			 strerror(errno));
	if (user->drop && fchown(gpu_lock_fd, user->uid, user->gid) != 0)
		rte_exit(EXIT_FAILURE, "--gpu-dir %s/.lock: chown: %s\n", dir,
			 strerror(errno));
}

/*
 * --gpu: a backend and one token ring per worker, each two files in
 * --gpu-dir (gpu_dir_take; ring-N mode 0640, ring-N.acks 0660, the run
 * user's and group's) that local GPU engines attach to.
 * auto tries cuda and falls back to host with one line saying why.
 * Exits on failure: a GPU instance that cannot be served is refused at
 * start, not found out stream by stream.
 */
static struct sl_gpu_ctx *
gpu_start(const struct sluiced_opts *o, const struct sl_priv_user *user,
	  struct sl_workers *ws, const struct sl_config *cfg)
{
	struct sl_gpu_ctx *ctx = NULL;
	char why[256] = "", path[PATH_MAX];
	uint64_t run_id;
	bool cuda = strcmp(o->gpu, "cuda") == 0,
	     host = strcmp(o->gpu, "host") == 0;

	if (strcmp(o->gpu, "off") == 0)
		return NULL;
	if (!host) {
		ctx = sl_gpu_cuda_open(why, sizeof(why));
		if (ctx != NULL) {
			/* The engines' side of cuda rings (CUDA IPC handles
			 * of the token buffers) is not built yet. */
			sl_gpu_close(ctx);
			ctx = NULL;
			snprintf(why, sizeof(why),
				 "cuda works here, but engine attach through "
				 "CUDA IPC is not built yet");
		}
		if (cuda)
			rte_exit(EXIT_FAILURE, "--gpu=cuda: %s\n", why);
		printf("sluiced: --gpu=auto: host backend: %s\n", why);
	}
	ctx = sl_gpu_open(SL_GPU_BACKEND_HOST);
	if (ctx == NULL)
		rte_exit(EXIT_FAILURE, "--gpu: host backend: %s\n",
			 strerror(errno));
	gpu_dir_take(o->gpu_dir, user);
	/* Tells an engine that a ring file was made again. */
	run_id = rte_rdtsc() ^ ((uint64_t)getpid() << 32);
	for (uint16_t w = 0; w < ws->n; w++) {
		if ((size_t)snprintf(path, sizeof(path), "%s/ring-%u",
				     o->gpu_dir, w) >= sizeof(path) - 16)
			rte_exit(EXIT_FAILURE, "--gpu-dir %s: too long\n",
				 o->gpu_dir);
		ws->dp[w]->gtx = sl_gtx_create(ctx, path, SL_GTX_STREAMS,
					       user->drop ? (int)user->uid : -1,
					       user->drop ? (int)user->gid : -1,
					       cfg->listen.ip, cfg->listen.port,
					       w, run_id);
		if (ws->dp[w]->gtx == NULL)
			rte_exit(EXIT_FAILURE, "--gpu: ring %s: %s\n", path,
				 strerror(errno));
	}
	printf("sluiced: gpu backend %s, %u token rings in %s (%u streams "
	       "each)\n",
	       sl_gpu_backend_name(sl_gpu_ctx_backend(ctx)), ws->n, o->gpu_dir,
	       SL_GTX_STREAMS);
	return ctx;
}

static void
gpu_stop(struct sl_workers *ws, struct sl_gpu_ctx *ctx)
{
	if (ctx == NULL)
		return;
	for (uint16_t w = 0; w < ws->n; w++) {
		sl_gtx_destroy(ws->dp[w]->gtx);
		ws->dp[w]->gtx = NULL;
	}
	sl_gpu_close(ctx);
	(void)unlink(gpu_lock_path);
	close(gpu_lock_fd);
	gpu_lock_fd = -1;
}

int
main(int argc, char **argv)
{
	struct sluiced_opts o = {0};
	char err[1024], dir[PATH_MAX];
	struct sl_config *cfg;
	struct rte_mempool *pool;
	struct sl_workers ws;
	struct sl_impair *impair = NULL;
	unsigned int lcore, in_use_start, queued = 0;
	uint16_t n_rx;
	struct sl_stats *snap; /* the stats file's */
	const char *what;
	uint16_t port_id;
	char mac[RTE_ETHER_ADDR_FMT_SIZE], ip[16];
	uint64_t dropped = 0;
	struct sl_confine files = {.dir = dir};
	struct sl_state state;
	struct sl_state_restored restored;
	struct sl_priv_user user;
	struct sl_loop *loop;
	struct sl_api *api;
	struct sl_ctl ctl;
	struct sl_sched *sched;
	struct sl_gpu_ctx *gpu;
	struct sl_extmem_region extmem = {0};
	struct sl_cluster *cluster = NULL;
	int64_t cluster_rev = 0;
	bool persist, xdp;
	int rc;

	/* Before any thread exists, so every thread has it: nothing
	 * sluiced runs can gain privileges through execve. */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
		fprintf(stderr, "sluiced: PR_SET_NO_NEW_PRIVS: %s\n",
			strerror(errno));
		return 1;
	}
	if (parse_opts(argc, argv, &o) != 0)
		return 1;
	if (sl_priv_resolve_user(o.user, &user, err, sizeof(err)) != 0) {
		fprintf(stderr, "sluiced: %s\n", err);
		return 1;
	}
	if (o.cluster != NULL) {
		persist = false;
		memset(&restored, 0, sizeof(restored));
		if (load_cluster(&o, dir, sizeof(dir), &files, &cluster, &cfg,
				 &cluster_rev) != 0 ||
		    sl_state_init(&state, NULL, "cluster", "", 0, err,
				  sizeof(err)) != 0)
			return 1;
	} else if (load_config(&o, &user, dir, sizeof(dir), &files, &state,
			       &restored, &cfg, &persist) != 0) {
		return 1;
	}
	if (sl_ctl_gpu_refused(cfg, strcmp(o.gpu, "off") != 0, err,
			       sizeof(err))) {
		fprintf(stderr, "sluiced: %s: %s\n",
			o.config != NULL ? o.config : "cluster config", err);
		return 1;
	}
	eal_start(&o, cfg, argv[0]);
	/* Empty with --no-shconf: gone now, while root may remove it. */
	rmdir(rte_eal_get_runtime_dir());
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);

	if (rte_eth_dev_count_avail() == 0)
		rte_exit(EXIT_FAILURE, "no port: check --iface/--vdev\n");
	port_id = rte_eth_find_next(0);
	if (rte_lcore_count() < o.workers + 1)
		rte_exit(EXIT_FAILURE,
			 "--workers %u needs %u lcores besides the main one; "
			 "--lcores gave %u\n",
			 o.workers, o.workers, rte_lcore_count() - 1);
	lcore = rte_get_next_lcore(-1, 1, 0);
	rc = sl_pkt_meta_register();
	if (rc != 0)
		rte_exit(EXIT_FAILURE, "cannot register mbuf dynfield: %s\n",
			 rte_strerror(-rc));
	xdp = sl_port_is_xdp(port_id);
	/* An AF_XDP port's umem is the pool itself: one laid out for it. */
	if (xdp) {
		pool = sl_pool_create_xdp("sl_mbufs", o.mbufs,
					  rte_lcore_to_socket_id(lcore),
					  o.workers > 1);
	} else if (o.rx_extmem) {
		/* The buffers in memory EAL does not own (host memory here;
		 * GPU or CUDA-pinned memory is the same call with another
		 * provider), registered and mapped for the port. */
		size_t page = (size_t)sysconf(_SC_PAGESIZE);

		rc = sl_extmem_host_alloc(&extmem, sl_extmem_len(o.mbufs, page),
					  page);
		if (rc != 0)
			rte_exit(EXIT_FAILURE, "--rx-extmem: %s\n",
				 strerror(-rc));
		pool = sl_pool_create_extmem("sl_mbufs", o.mbufs,
					     rte_lcore_to_socket_id(lcore),
					     port_id, &extmem);
		if (pool != NULL)
			printf("sluiced: receive pool in external memory: %u "
			       "mbufs, %zu KiB of %zu KiB pages\n",
			       o.mbufs, extmem.len / 1024,
			       extmem.page_sz / 1024);
	} else {
		pool = (o.workers > 1 ? sl_pool_create_shared : sl_pool_create)(
			"sl_mbufs", o.mbufs, rte_lcore_to_socket_id(lcore));
	}
	if (pool == NULL)
		rte_exit(EXIT_FAILURE, "cannot create mempool%s: %s\n",
			 xdp ? " for the AF_XDP umem" : "",
			 rte_strerror(rte_errno));
	rc = sl_port_start_queues(port_id, pool, (uint16_t)o.workers, &n_rx,
				  &what);
	if (rc != 0)
		rte_exit(EXIT_FAILURE, "cannot start port %u: %s: %s\n",
			 port_id, what, rte_strerror(-rc));
	snap = calloc(1, sizeof(*snap));
	if (snap == NULL)
		rte_exit(EXIT_FAILURE, "cannot allocate the stats\n");
	rc = sl_workers_init(&ws, cfg, port_id, n_rx, pool,
			     (uint16_t)o.workers);
	if (rc != 0)
		rte_exit(EXIT_FAILURE, "cannot set up the workers: %s\n",
			 rte_strerror(-rc));
	gpu = gpu_start(&o, &user, &ws, cfg);
	if (o.impaired) {
		impair = calloc(ws.n, sizeof(*impair));
		if (impair == NULL)
			rte_exit(EXIT_FAILURE, "cannot allocate --impair\n");
	}
	for (uint16_t w = 0; w < ws.n; w++) {
		struct sl_dp *dp = ws.dp[w];

		dp->poll = o.poll;
		dp->profile = o.profile;
		if (impair != NULL) {
			/* Each worker its own injector, its own draws. */
			impair[w] = o.impair;
			impair[w].rng += w * 0x9e3779b97f4a7c15ull;
			dp->impair = &impair[w];
		}
		queued += dp->n_ctrl;
	}
	if (o.impaired) {
		printf("sluiced: impairing the port: drop %.2f%% dup %.2f%% "
		       "reorder %.2f%%\n",
		       o.impair.drop_ppm / 1e4, o.impair.dup_ppm / 1e4,
		       o.impair.reorder_ppm / 1e4);
	}

	/* The workers asked for every instance (ARP frames queued): they
	 * are not mbufs the path holds. */
	in_use_start = rte_mempool_in_use_count(pool) - queued;

	sl_ctl_init(&ctl, &ws, pool, in_use_start, &files,
		    persist ? &state : NULL, &restored);
	ctl.gpu = gpu != NULL;
	if (cluster != NULL) {
		ctl.cluster_node = o.node;
		ctl.cluster_endpoints = o.cluster;
	}
	sched = calloc(1, sizeof(*sched));
	if (sched == NULL ||
	    (rc = sl_sched_attach(sched, &ws, rte_get_tsc_hz())) != 0)
		rte_exit(EXIT_FAILURE,
			 "cannot set up the scheduler's events\n");
	ctl.sched = sched;
	if (sl_ctl_cost_model(&ctl, err, sizeof(err)) == NULL)
		fprintf(stderr,
			"sluiced: no cost model (%s): the scheduler predicts "
			"from stage costs only\n",
			err);
	control_start(&o, &ctl, &loop, &api);
	explicit_bzero(o.token, sizeof(o.token));
	explicit_bzero(o.ro_token, sizeof(o.ro_token));
	drop_root(&user, port_id);

	for (uint16_t w = 0; w < ws.n; w++) {
		rc = rte_eal_remote_launch(sl_dp_worker, ws.dp[w], lcore);
		if (rc != 0)
			rte_exit(EXIT_FAILURE, "cannot launch worker %u: %s\n",
				 w, rte_strerror(-rc));
		lcore = rte_get_next_lcore(lcore, 1, 0);
	}

	/* Ready: the port polls and the control API answers. */
	rte_ether_format_addr(mac, sizeof(mac), &ws.dp[0]->mac);
	printf("sluiced: ready port %u mac %s address %s:%u workers %u\n",
	       port_id, mac, sl_ipv4_format(cfg->listen.ip, ip, sizeof(ip)),
	       cfg->listen.port, ws.n);
	fflush(stdout);

	/* A member from here on: the others see this node, and the watch
	 * follows the revisions after the one it runs. */
	if (cluster != NULL) {
		char self[32];

		snprintf(self, sizeof(self), "%s:%u",
			 sl_ipv4_format(cfg->listen.ip, ip, sizeof(ip)),
			 cfg->listen.port);
		rc = sl_cluster_start(cluster, self, cluster_rev, err,
				      sizeof(err));
		if (rc != 0)
			rte_exit(EXIT_FAILURE, "cannot join the cluster: %s\n",
				 err);
		printf("sluiced: cluster: node %s joined\n", o.node);
		fflush(stdout);
		cluster_turn(cluster, &ctl);
	}

	serve(&o, &ws, loop, &ctl, cluster, snap, in_use_start);

	/* Leave first: peers stop counting on this node at once. */
	sl_cluster_close(cluster);

	for (uint16_t w = 0; w < ws.n; w++)
		ws.dp[w]->quit = true;
	rte_eal_mp_wait_lcore();
	/* Streams in flight end with a reason, not silence. Frames one
	 * worker handed another meanwhile wait in the inboxes: freed with
	 * the steering. */
	sl_workers_shutdown(&ws, SL_ABORT_SHUTDOWN);
	/* Let the PMD give back what its transmit rings still hold (AF_XDP
	 * reclaims sent frames only on its next transmit, and has no
	 * tx_done_cleanup: empty bursts until the kernel completed them). */
	for (uint16_t w = 0; w < ws.n; w++)
		rte_eth_tx_done_cleanup(port_id, w, 0);
	if (xdp)
		sl_port_xdp_reclaim(port_id, ws.n, pool, 200);
	sl_loop_destroy(loop);
	sl_api_destroy(api);
	sl_state_fini(&state);
	/* Streams still in the table give their held fragments back. */
	for (uint16_t w = 0; w < ws.n; w++) {
		sl_flow_table_free(ws.dp[w]->flows);
		ws.dp[w]->flows = NULL;
	}
	/* No worker runs: the snapshot is taken here. */
	sl_workers_stats_take(&ws, snap);
	/* The snapshot in use: the one loaded at start unless the control
	 * plane replaced it (and freed that one then). */
	cfg = (struct sl_config *)ws.dp[0]->cfg;
	sl_ctl_fini(&ctl);
	sl_sched_detach(sched, &ws);
	free(sched);
	gpu_stop(&ws, gpu);
	sl_workers_fini(&ws);
	free(impair);
	if (o.stats_file != NULL &&
	    (rc = sl_stats_write(snap, pool, in_use_start, true,
				 o.stats_file)) != 0)
		fprintf(stderr, "sluiced: cannot write %s: %s\n", o.stats_file,
			strerror(-rc));
	for (int r = 1; r < SL_DROP_MAX; r++)
		dropped += snap->dp.drops[r];
	printf("sluiced: stopped rx %" PRIu64 " tx %" PRIu64
	       " forwarded %" PRIu64 " dropped %" PRIu64
	       " mbufs in use %u (at start %u)\n",
	       snap->dp.rx_packets, snap->dp.tx_packets, snap->dp.forwarded,
	       dropped, rte_mempool_in_use_count(pool), in_use_start);
	sl_port_stop(port_id);
	free(snap);
	if (o.rx_extmem) {
		rc = sl_pool_free_extmem(pool);
		if (rc != 0)
			fprintf(stderr,
				"sluiced: --rx-extmem: the pool's area stays "
				"registered: %s\n",
				strerror(-rc));
		else
			sl_extmem_host_free(&extmem);
	} else {
		rte_mempool_free(pool);
	}
	sl_config_free(cfg);
	sl_eal_cleanup();
	return 0;
}
