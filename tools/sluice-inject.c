/* SPDX-License-Identifier: MIT */
/*
 * sluice-inject - send malformed frames to test the dataplane's validation.
 *
 * Writes raw Ethernet frames on a raw AF_PACKET socket (root needed): one
 * kind per drop reason, each frame wrong in exactly one way and otherwise
 * valid (IPv4 header checksum right, UDP checksum 0), so that exactly one
 * drop counter of sluiced must move. Prints the counters to expect.
 *
 * Before sending, every frame is checked against proto/sl_wire.c: a kind
 * meant for a wire reason must parse to exactly that reason, a kind meant
 * for a dataplane reason must parse as valid. The tool thus cannot drift
 * from the parser; --dry-run runs only that check (no socket, no root).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sl_opt.h"
#include "sluice.h"

#define INJ_FRAME_MAX 256
#define INJ_SRC_PORT 40000
#define INJ_FOREIGN_SRC "192.0.2.7" /* TEST-NET-1: never a client */

enum inj_kind {
	INJ_FRAME_SHORT,
	INJ_NOT_IPV4,
	INJ_IP_BAD_HDR,
	INJ_IP_BAD_LEN,
	INJ_IP_FRAGMENT,
	INJ_NOT_UDP,
	INJ_UDP_BAD_LEN,
	INJ_SHORT,
	INJ_BAD_MAGIC,
	INJ_BAD_VERSION,
	INJ_BAD_FLAGS,
	INJ_BAD_DEPTH,
	INJ_BAD_RESERVED,
	INJ_LEN_MISMATCH,
	INJ_TOKEN_OVERRUN,
	INJ_TOKEN_COUNT,
	INJ_BAD_UTF8,
	INJ_UNKNOWN_PIPELINE,
	INJ_UNKNOWN_STAGE,
	INJ_SRC_NOT_ALLOWED,
	INJ_NOT_FOR_US,
	INJ_KIND_MAX
};

/* Drop reason name, and the parser's verdict (OK: dataplane reason). */
static const struct {
	const char *name;
	enum sl_wire_status wire;
} inj_kinds[INJ_KIND_MAX] = {
	[INJ_FRAME_SHORT] = {"FRAME_SHORT", SL_WIRE_FRAME_SHORT},
	[INJ_NOT_IPV4] = {"NOT_IPV4", SL_WIRE_NOT_IPV4},
	[INJ_IP_BAD_HDR] = {"IP_BAD_HDR", SL_WIRE_IP_BAD_HDR},
	[INJ_IP_BAD_LEN] = {"IP_BAD_LEN", SL_WIRE_IP_BAD_LEN},
	[INJ_IP_FRAGMENT] = {"IP_FRAGMENT", SL_WIRE_IP_FRAGMENT},
	[INJ_NOT_UDP] = {"NOT_UDP", SL_WIRE_NOT_UDP},
	[INJ_UDP_BAD_LEN] = {"UDP_BAD_LEN", SL_WIRE_UDP_BAD_LEN},
	[INJ_SHORT] = {"SHORT", SL_WIRE_SHORT},
	[INJ_BAD_MAGIC] = {"BAD_MAGIC", SL_WIRE_BAD_MAGIC},
	[INJ_BAD_VERSION] = {"BAD_VERSION", SL_WIRE_BAD_VERSION},
	[INJ_BAD_FLAGS] = {"BAD_FLAGS", SL_WIRE_BAD_FLAGS},
	[INJ_BAD_DEPTH] = {"BAD_DEPTH", SL_WIRE_BAD_DEPTH},
	[INJ_BAD_RESERVED] = {"BAD_RESERVED", SL_WIRE_BAD_RESERVED},
	[INJ_LEN_MISMATCH] = {"LEN_MISMATCH", SL_WIRE_LEN_MISMATCH},
	[INJ_TOKEN_OVERRUN] = {"TOKEN_OVERRUN", SL_WIRE_TOKEN_OVERRUN},
	[INJ_TOKEN_COUNT] = {"TOKEN_COUNT", SL_WIRE_TOKEN_COUNT},
	[INJ_BAD_UTF8] = {"BAD_UTF8", SL_WIRE_BAD_UTF8},
	[INJ_UNKNOWN_PIPELINE] = {"UNKNOWN_PIPELINE", SL_WIRE_OK},
	[INJ_UNKNOWN_STAGE] = {"UNKNOWN_STAGE", SL_WIRE_OK},
	[INJ_SRC_NOT_ALLOWED] = {"SRC_NOT_ALLOWED", SL_WIRE_OK},
	[INJ_NOT_FOR_US] = {"NOT_FOR_US", SL_WIRE_OK},
};

struct inj_opts {
	const char *iface;
	uint8_t dst_mac[6];
	uint8_t src_mac[6];
	uint32_t src_ip; /* host order */
	uint32_t dst_ip;
	uint16_t dst_port;
	uint32_t pipeline;
	unsigned long count;
	bool json;
	bool dry_run;
};

static void
put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void
put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)(v >> 16));
	put16(p + 2, (uint16_t)v);
}

static uint16_t
ld16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/*
 * Build the frame of kind @k with sequence @n (so repeated frames are
 * distinct streams). Return its length.
 */
static size_t
inj_build(const struct inj_opts *o, enum inj_kind k, uint32_t n, uint8_t *frame)
{
	uint8_t *ip = frame + SL_ETHER_HDR_LEN;
	uint8_t *udp = ip + SL_IPV4_HDR_LEN;
	uint8_t *sl = udp + SL_UDP_HDR_LEN;
	struct sl_wire_builder b;
	struct sl_frag_hdr h;
	uint32_t src_ip = o->src_ip;
	uint16_t dst_port = o->dst_port;
	size_t dgram, frame_len;

	memset(frame, 0, INJ_FRAME_MAX);
	memset(&h, 0, sizeof(h));
	h.version = SL_WIRE_VERSION;
	h.flags = SL_FRAG_F_END;
	h.depth = 1;
	h.stage = 0;
	h.tenant = 1;
	h.pipeline = o->pipeline;
	h.send_ns = sl_now_ns();
	/* A request id no client will use: high bits spell "INJ". */
	h.ancestry[0] = 0x494e4a0000000000ull | ((uint64_t)k << 32) | n;
	switch (k) {
	case INJ_UNKNOWN_PIPELINE:
		h.pipeline = 999999;
		break;
	case INJ_UNKNOWN_STAGE:
		h.stage = 99;
		break;
	case INJ_BAD_DEPTH:
		h.depth = 7; /* encode writes only the first 6 slots */
		break;
	default:
		break;
	}
	sl_wire_builder_init(&b, sl, INJ_FRAME_MAX - SL_WIRE_FRAME_HDR_OFF, &h);
	if (k == INJ_BAD_UTF8) {
		sl_wire_builder_add(&b, 1, "\xc0\x80", 2);
	} else {
		sl_wire_builder_add(&b, sl_token_hash("probe", 5), "probe", 5);
		if (k == INJ_TOKEN_COUNT)
			sl_wire_builder_add(&b, sl_token_hash(" two", 4),
					    " two", 4);
	}
	dgram = sl_wire_builder_finish(&b);

	switch (k) {
	case INJ_BAD_MAGIC:
		put16(sl + SL_WIRE_OFF_MAGIC, 0x4c53);
		break;
	case INJ_BAD_VERSION:
		sl[SL_WIRE_OFF_VERSION] = SL_WIRE_VERSION + 1;
		break;
	case INJ_BAD_FLAGS:
		sl[SL_WIRE_OFF_FLAGS] |= 0x80;
		break;
	case INJ_BAD_DEPTH:
		sl[SL_WIRE_OFF_DEPTH] = 7;
		break;
	case INJ_BAD_RESERVED:
		put32(sl + SL_WIRE_OFF_RESERVED, 1);
		break;
	case INJ_LEN_MISMATCH:
		put16(sl + SL_WIRE_OFF_PAYLOAD_LEN,
		      (uint16_t)(dgram - SL_WIRE_HDR_LEN + 1));
		break;
	case INJ_TOKEN_OVERRUN:
		/* The token claims more text than the payload holds. */
		put16(sl + SL_WIRE_HDR_LEN + 4, 200);
		break;
	case INJ_TOKEN_COUNT:
		put16(sl + SL_WIRE_OFF_TOKEN_COUNT, 1);
		break;
	case INJ_SHORT:
		dgram = 40;
		break;
	case INJ_SRC_NOT_ALLOWED:
		inet_pton(AF_INET, INJ_FOREIGN_SRC, &src_ip);
		src_ip = ntohl(src_ip);
		break;
	case INJ_NOT_FOR_US:
		dst_port = (uint16_t)(dst_port + 1);
		break;
	default:
		break;
	}

	/* A valid frame first, then exactly one thing wrong with it. */
	{
		struct sl_frame_ends e = {
			.src_ip = src_ip,
			.dst_ip = o->dst_ip,
			.src_port = INJ_SRC_PORT,
			.dst_port = dst_port,
		};

		memcpy(e.dst_mac, o->dst_mac, 6);
		memcpy(e.src_mac, o->src_mac, 6);
		frame_len = sl_wire_frame_write(frame, &e, (uint16_t)dgram, 0,
						(uint16_t)n) +
			    dgram;
	}
	switch (k) {
	case INJ_NOT_IPV4:
		put16(frame + 12, 0x88b5);
		break;
	case INJ_IP_BAD_HDR:
		ip[0] = 0x44;
		break;
	case INJ_IP_BAD_LEN:
		put16(ip + 2, (uint16_t)(ld16(ip + 2) + 100));
		break;
	case INJ_IP_FRAGMENT:
		put16(ip + 6, 0x2000); /* MF */
		break;
	case INJ_NOT_UDP:
		ip[9] = 253;
		break;
	case INJ_UDP_BAD_LEN:
		put16(udp + 4, (uint16_t)(ld16(udp + 4) + 8));
		break;
	default:
		break;
	}
	put16(ip + 10, 0);
	put16(ip + 10, (uint16_t)~sl_wire_ipv4_sum(ip, SL_IPV4_HDR_LEN));

	if (k == INJ_FRAME_SHORT)
		frame_len = 30;
	return frame_len;
}

/* What sl_wire.c says about @frame: the reason, or OK. */
static enum sl_wire_status
inj_parse(const uint8_t *frame, size_t len)
{
	struct sl_frag_hdr h;
	struct sl_frame f;
	enum sl_wire_status st;

	st = sl_wire_parse_frame(frame, len, &f);
	if (st != SL_WIRE_OK)
		return st;
	return sl_wire_parse(frame + f.hdr_off, f.dgram_len, &h);
}

static int
inj_self_check(const struct inj_opts *o)
{
	uint8_t frame[INJ_FRAME_MAX];
	int bad = 0;
	unsigned int k;

	for (k = 0; k < INJ_KIND_MAX; k++) {
		size_t len = inj_build(o, (enum inj_kind)k, 0, frame);
		enum sl_wire_status st = inj_parse(frame, len);

		if (st != inj_kinds[k].wire) {
			fprintf(stderr,
				"sluice-inject: %s frame parses as %s, "
				"not %s\n",
				inj_kinds[k].name, sl_wire_status_name(st),
				sl_wire_status_name(inj_kinds[k].wire));
			bad = 1;
		}
	}
	return bad ? -EPROTO : 0;
}

static int
parse_mac(const char *s, uint8_t mac[6])
{
	unsigned int v[6], i;
	char end;

	if (sscanf(s, "%x:%x:%x:%x:%x:%x%c", &v[0], &v[1], &v[2], &v[3], &v[4],
		   &v[5], &end) != 6)
		return -EINVAL;
	for (i = 0; i < 6; i++) {
		if (v[i] > 0xff)
			return -EINVAL;
		mac[i] = (uint8_t)v[i];
	}
	return 0;
}

static int
parse_ip(const char *s, uint32_t *out)
{
	struct in_addr a;

	if (inet_pton(AF_INET, s, &a) != 1)
		return -EINVAL;
	*out = ntohl(a.s_addr);
	return 0;
}

static void
usage(FILE *f)
{
	fprintf(f,
		"usage: sluice-inject --iface IF --dst-mac MAC --src-ip A\n"
		"       --dst-ip B --dst-port P --pipeline ID [--count N]\n"
		"       [--json] [--dry-run]\n"
		"Sends N frames of each malformed kind on IF (needs root) and\n"
		"prints the drop counters sluiced must show. --dry-run only\n"
		"checks the frames against the wire parser.\n");
}

static int
inj_parse_args(struct inj_opts *o, int argc, char **argv)
{
	static const struct option opts[] = {
		{"iface", required_argument, NULL, 'i'},
		{"dst-mac", required_argument, NULL, 'm'},
		{"src-ip", required_argument, NULL, 's'},
		{"dst-ip", required_argument, NULL, 'd'},
		{"dst-port", required_argument, NULL, 'p'},
		{"pipeline", required_argument, NULL, 'P'},
		{"count", required_argument, NULL, 'c'},
		{"json", no_argument, NULL, 'j'},
		{"dry-run", no_argument, NULL, 'n'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	unsigned int have = 0;
	uint64_t v;
	int c;

	memset(o, 0, sizeof(*o));
	o->count = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'i':
			o->iface = optarg;
			have |= 1;
			break;
		case 'm':
			if (parse_mac(optarg, o->dst_mac) < 0)
				goto bad;
			have |= 2;
			break;
		case 's':
			if (parse_ip(optarg, &o->src_ip) < 0)
				goto bad;
			have |= 4;
			break;
		case 'd':
			if (parse_ip(optarg, &o->dst_ip) < 0)
				goto bad;
			have |= 8;
			break;
		case 'p':
			if (!sl_parse_u64(optarg, 1, 65535, &v))
				goto bad;
			o->dst_port = (uint16_t)v;
			have |= 16;
			break;
		case 'P':
			if (!sl_parse_u64(optarg, 0, UINT32_MAX, &v))
				goto bad;
			o->pipeline = (uint32_t)v;
			have |= 32;
			break;
		case 'c':
			if (!sl_parse_u64(optarg, 1, 1000000, &v))
				goto bad;
			o->count = v;
			break;
		case 'j':
			o->json = true;
			break;
		case 'n':
			o->dry_run = true;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return -EINVAL;
		}
	}
	/* A dry run needs no interface or MAC. */
	if (optind != argc || (have & 60) != 60 ||
	    (!o->dry_run && (have & 3) != 3)) {
		usage(stderr);
		return -EINVAL;
	}
	return 0;
bad:
	fprintf(stderr, "sluice-inject: bad value '%s'\n", optarg);
	return -EINVAL;
}

static int
inj_open(struct inj_opts *o, struct sockaddr_ll *to)
{
	struct ifreq ifr;
	int fd;

	fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL));
	if (fd < 0) {
		fprintf(stderr, "sluice-inject: cannot open raw socket: %s%s\n",
			strerror(errno),
			errno == EPERM ? " (run as root)" : "");
		return -1;
	}
	memset(&ifr, 0, sizeof(ifr));
	if (strlen(o->iface) >= sizeof(ifr.ifr_name)) {
		fprintf(stderr, "sluice-inject: interface name too long\n");
		close(fd);
		return -1;
	}
	strcpy(ifr.ifr_name, o->iface);
	if (ioctl(fd, SIOCGIFHWADDR, &ifr) < 0) {
		fprintf(stderr, "sluice-inject: interface %s: %s\n", o->iface,
			strerror(errno));
		close(fd);
		return -1;
	}
	memcpy(o->src_mac, ifr.ifr_hwaddr.sa_data, 6);
	memset(to, 0, sizeof(*to));
	to->sll_family = AF_PACKET;
	to->sll_ifindex = (int)if_nametoindex(o->iface);
	to->sll_halen = 6;
	memcpy(to->sll_addr, o->dst_mac, 6);
	return fd;
}

int
main(int argc, char **argv)
{
	struct inj_opts o;
	struct sockaddr_ll to;
	uint8_t frame[INJ_FRAME_MAX];
	unsigned long sent[INJ_KIND_MAX] = {0}, i;
	unsigned int k;
	int fd = -1, rc = 0;

	if (inj_parse_args(&o, argc, argv) < 0)
		return 2;
	if (inj_self_check(&o) < 0)
		return 1;
	if (!o.dry_run) {
		fd = inj_open(&o, &to);
		if (fd < 0)
			return 1;
		for (k = 0; k < INJ_KIND_MAX; k++) {
			for (i = 0; i < o.count; i++) {
				size_t len = inj_build(&o, (enum inj_kind)k,
						       (uint32_t)i, frame);

				if (sendto(fd, frame, len, 0,
					   (struct sockaddr *)&to,
					   sizeof(to)) != (ssize_t)len) {
					fprintf(stderr,
						"sluice-inject: send %s: %s\n",
						inj_kinds[k].name,
						strerror(errno));
					rc = 1;
					break;
				}
				sent[k]++;
			}
		}
		close(fd);
	} else {
		for (k = 0; k < INJ_KIND_MAX; k++)
			sent[k] = o.count;
	}

	/* What sluiced must count: one drop per frame actually sent. */
	if (o.json) {
		printf("{");
		for (k = 0; k < INJ_KIND_MAX; k++)
			printf("%s\"%s\": %lu", k ? ", " : "",
			       inj_kinds[k].name, sent[k]);
		printf("}\n");
	} else {
		for (k = 0; k < INJ_KIND_MAX; k++)
			printf("%-18s %lu\n", inj_kinds[k].name, sent[k]);
	}
	return rc;
}
