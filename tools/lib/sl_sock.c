/* SPDX-License-Identifier: MIT */
/*
 * sl_sock.c - UDP sockets with batch I/O, fragment views and the stream
 * sender of libsluice.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "sluice.h"

/* Large enough for a few thousand fragments in flight per socket. */
#define SL_SOCK_BUF_BYTES (8 * 1024 * 1024)

uint64_t
sl_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void
sl_poll_ns(struct pollfd *p, nfds_t n, uint64_t wait_ns)
{
	struct timespec ts = {
		.tv_sec = (time_t)(wait_ns / 1000000000ull),
		.tv_nsec = (long)(wait_ns % 1000000000ull),
	};

	ppoll(p, n, &ts, NULL);
}

int
sl_endpoint_parse(const char *text, bool port_optional, struct sockaddr_in *out)
{
	char host[INET_ADDRSTRLEN];
	const char *colon;
	unsigned long port = 0;
	size_t hlen;

	if (text == NULL)
		return -EINVAL;
	colon = strrchr(text, ':');
	if (colon == NULL) {
		if (!port_optional)
			return -EINVAL;
		hlen = strlen(text);
	} else {
		char *end;

		hlen = (size_t)(colon - text);
		if (colon[1] < '0' || colon[1] > '9')
			return -EINVAL;
		errno = 0;
		port = strtoul(colon + 1, &end, 10);
		if (errno != 0 || *end != '\0' || port > 65535)
			return -EINVAL;
	}
	if (hlen == 0 || hlen >= sizeof(host))
		return -EINVAL;
	memcpy(host, text, hlen);
	host[hlen] = '\0';

	memset(out, 0, sizeof(*out));
	out->sin_family = AF_INET;
	out->sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, host, &out->sin_addr) != 1)
		return -EINVAL;
	return 0;
}

char *
sl_endpoint_str(const struct sockaddr_in *addr, char *buf, size_t len)
{
	char ip[INET_ADDRSTRLEN];

	if (inet_ntop(AF_INET, &addr->sin_addr, ip, sizeof(ip)) == NULL)
		snprintf(ip, sizeof(ip), "?");
	snprintf(buf, len, "%s:%u", ip, ntohs(addr->sin_port));
	return buf;
}

struct sl_sock *
sl_sock_open(const struct sockaddr_in *local)
{
	struct sl_sock *s;
	socklen_t alen = sizeof(s->local);
	int size = SL_SOCK_BUF_BYTES;
	int err;

	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return NULL;
	s->fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->fd < 0)
		goto fail;
	/* Best effort: without privileges the kernel caps these at
	 * net.core.[rw]mem_max, which is still better than the default. */
	(void)setsockopt(s->fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
	(void)setsockopt(s->fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
	if (bind(s->fd, (const struct sockaddr *)local, sizeof(*local)) < 0)
		goto fail;
	if (getsockname(s->fd, (struct sockaddr *)&s->local, &alen) < 0)
		goto fail;
	return s;

fail:
	err = errno;
	if (s->fd >= 0)
		close(s->fd);
	free(s);
	errno = err;
	return NULL;
}

void
sl_sock_close(struct sl_sock *s)
{
	if (s == NULL)
		return;
	close(s->fd);
	free(s);
}

void
sl_sock_set_peer(struct sl_sock *s, const struct sockaddr_in *peer)
{
	s->peer = *peer;
}

void
sl_burst_reset(struct sl_burst *b)
{
	unsigned int i;

	b->n = 0;
	for (i = 0; i < SL_BURST_MAX; i++) {
		b->d[i].buf = b->storage[i];
		b->d[i].cap = SL_DGRAM_MAX;
		b->d[i].len = 0;
		memset(&b->d[i].addr, 0, sizeof(b->d[i].addr));
	}
}

int
sl_sock_send_burst(struct sl_sock *s, struct sl_dgram *d, unsigned int n)
{
	struct mmsghdr msg[SL_BURST_MAX];
	struct iovec iov[SL_BURST_MAX];
	unsigned int i;
	int rc;

	if (n > SL_BURST_MAX)
		n = SL_BURST_MAX;
	if (n == 0)
		return 0;
	memset(msg, 0, sizeof(msg[0]) * n);
	for (i = 0; i < n; i++) {
		const struct sockaddr_in *to = &d[i].addr;

		if (to->sin_family == 0)
			to = &s->peer;
		if (to->sin_family == 0)
			return -EDESTADDRREQ;
		iov[i].iov_base = d[i].buf;
		iov[i].iov_len = d[i].len;
		msg[i].msg_hdr.msg_iov = &iov[i];
		msg[i].msg_hdr.msg_iovlen = 1;
		msg[i].msg_hdr.msg_name = (void *)to;
		msg[i].msg_hdr.msg_namelen = sizeof(*to);
	}
	do {
		rc = sendmmsg(s->fd, msg, n, 0);
	} while (rc < 0 && errno == EINTR);
	if (rc < 0)
		return (errno == EAGAIN || errno == EWOULDBLOCK ||
			errno == ENOBUFS)
			       ? 0
			       : -errno;
	return rc;
}

int
sl_sock_recv_burst(struct sl_sock *s, struct sl_dgram *d, unsigned int n)
{
	struct mmsghdr msg[SL_BURST_MAX];
	struct iovec iov[SL_BURST_MAX];
	unsigned int i;
	int rc;

	if (n > SL_BURST_MAX)
		n = SL_BURST_MAX;
	if (n == 0)
		return 0;
	memset(msg, 0, sizeof(msg[0]) * n);
	for (i = 0; i < n; i++) {
		iov[i].iov_base = d[i].buf;
		iov[i].iov_len = d[i].cap;
		msg[i].msg_hdr.msg_iov = &iov[i];
		msg[i].msg_hdr.msg_iovlen = 1;
		msg[i].msg_hdr.msg_name = &d[i].addr;
		msg[i].msg_hdr.msg_namelen = sizeof(d[i].addr);
	}
	do {
		rc = recvmmsg(s->fd, msg, n, MSG_DONTWAIT, NULL);
	} while (rc < 0 && errno == EINTR);
	if (rc < 0)
		return (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : -errno;
	for (i = 0; i < (unsigned int)rc; i++)
		d[i].len = (uint16_t)msg[i].msg_len;
	return rc;
}

enum sl_wire_status
sl_frag_view_parse(struct sl_frag_view *v, const struct sl_dgram *d)
{
	enum sl_wire_status st;

	st = sl_wire_parse(d->buf, d->len, &v->hdr);
	if (st != SL_WIRE_OK)
		return st;
	v->payload = d->buf + SL_WIRE_HDR_LEN;
	v->src = d->addr;
	return SL_WIRE_OK;
}

void
sl_frag_view_tokens(const struct sl_frag_view *v, struct sl_token_iter *it)
{
	sl_token_iter_init(it, v->payload, v->hdr.payload_len);
}

int
sl_stream_tx_init(struct sl_stream_tx *tx, uint32_t pipeline, uint16_t stage,
		  uint16_t tenant, uint8_t depth, const uint64_t *ancestry)
{
	if (depth == 0 || depth > SL_ANCESTRY_MAX)
		return -EINVAL;
	memset(tx, 0, sizeof(*tx));
	tx->pipeline = pipeline;
	tx->stage = stage;
	tx->tenant = tenant;
	tx->depth = depth;
	memcpy(tx->ancestry, ancestry, depth * sizeof(ancestry[0]));
	return 0;
}

int
sl_stream_tx_begin(struct sl_stream_tx *tx, uint8_t *buf, size_t cap)
{
	struct sl_frag_hdr hdr;

	memset(&hdr, 0, sizeof(hdr));
	hdr.version = SL_WIRE_VERSION;
	hdr.depth = tx->depth;
	hdr.stage = tx->stage;
	hdr.tenant = tx->tenant;
	hdr.pipeline = tx->pipeline;
	hdr.seq = tx->next_seq;
	memcpy(hdr.ancestry, tx->ancestry, sizeof(hdr.ancestry));
	return sl_wire_builder_init(&tx->b, buf, cap, &hdr);
}

int
sl_stream_tx_add(struct sl_stream_tx *tx, uint32_t id, const char *text,
		 size_t len)
{
	return sl_wire_builder_add(&tx->b, id, text, len);
}

size_t
sl_stream_tx_finish(struct sl_stream_tx *tx, uint8_t flags,
		    uint8_t abort_reason, uint64_t send_ns)
{
	tx->b.hdr.flags = flags;
	tx->b.hdr.abort_reason = abort_reason;
	tx->b.hdr.send_ns = send_ns ? send_ns : sl_now_ns();
	tx->next_seq++;
	return sl_wire_builder_finish(&tx->b);
}
