/* SPDX-License-Identifier: MIT */
/*
 * fake_http.c - a fake HTTP server in a thread (fake_http.h).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fake_http.h"

/* Read the request (headers, then Content-Length bytes); count it and
 * note its path unless the peer went away first. */
static void
fake_read_request(struct fake_http *f, int fd)
{
	char buf[65536], *end, *cl;
	size_t have = 0, want = 0;
	ssize_t n;

	while (have < sizeof(buf) - 1) {
		n = recv(fd, buf + have, sizeof(buf) - 1 - have, 0);
		if (n <= 0)
			return;
		have += (size_t)n;
		buf[have] = '\0';
		end = strstr(buf, "\r\n\r\n");
		if (end == NULL)
			continue;
		cl = strcasestr(buf, "Content-Length:");
		want = (size_t)(end + 4 - buf) +
		       (cl ? strtoul(cl + 15, NULL, 10) : 0);
		if (have >= want)
			break;
	}
	pthread_mutex_lock(&f->lock);
	if (sscanf(buf, "%*s %127s", f->path) != 1)
		f->path[0] = '\0';
	f->requests++;
	pthread_mutex_unlock(&f->lock);
}

static void
fake_send(int fd, const char *data, size_t len, size_t chunk)
{
	size_t off = 0, n;
	ssize_t sent;

	while (off < len) {
		n = chunk && chunk < len - off ? chunk : len - off;
		sent = send(fd, data + off, n, MSG_NOSIGNAL);
		if (sent <= 0)
			return;
		off += (size_t)sent;
		if (chunk)
			usleep(200);
	}
}

/* @left bytes of 'x', a megabyte per send. */
static void
fake_send_filler(int fd, size_t left)
{
	static const size_t block = 1 << 20;
	char *filler;
	size_t len;

	if (left == 0 || (filler = malloc(block)) == NULL)
		return;
	memset(filler, 'x', block);
	while (left > 0) {
		len = left < block ? left : block;
		if (send(fd, filler, len, MSG_NOSIGNAL) <= 0)
			break;
		left -= len;
	}
	free(filler);
}

static void *
fake_serve(void *arg)
{
	struct fake_http *f = arg;
	size_t len, chunk, filler;
	char *answer;
	int fd;

	while (!f->quit) {
		fd = accept(f->fd, NULL, NULL);
		if (fd < 0)
			continue;
		fake_read_request(f, fd);
		pthread_mutex_lock(&f->lock);
		len = f->len;
		chunk = f->chunk;
		filler = f->filler;
		answer = malloc(len + 1);
		if (answer != NULL && len > 0)
			memcpy(answer, f->answer, len);
		pthread_mutex_unlock(&f->lock);
		if (answer != NULL)
			fake_send(fd, answer, len, chunk);
		free(answer);
		fake_send_filler(fd, filler);
		close(fd);
	}
	return NULL;
}

int
fake_http_start(struct fake_http *f)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t salen = sizeof(sa);
	int one = 1;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	f->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (f->fd < 0)
		return -1;
	setsockopt(f->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(f->fd, (struct sockaddr *)&sa, salen) != 0 ||
	    getsockname(f->fd, (struct sockaddr *)&sa, &salen) != 0 ||
	    listen(f->fd, 16) != 0) {
		close(f->fd);
		f->fd = -1;
		return -1;
	}
	f->port = ntohs(sa.sin_port);
	snprintf(f->url, sizeof(f->url), "http://127.0.0.1:%d", f->port);
	f->quit = false;
	if (pthread_create(&f->thread, NULL, fake_serve, f) != 0) {
		close(f->fd);
		f->fd = -1;
		return -1;
	}
	return 0;
}

void
fake_http_stop(struct fake_http *f)
{
	if (f->fd < 0)
		return;
	f->quit = true;
	shutdown(f->fd, SHUT_RDWR);
	pthread_join(f->thread, NULL);
	close(f->fd);
	f->fd = -1;
	pthread_mutex_lock(&f->lock);
	free(f->answer);
	f->answer = NULL;
	f->len = 0;
	pthread_mutex_unlock(&f->lock);
}

void
fake_http_set(struct fake_http *f, const void *bytes, size_t len, size_t chunk,
	      size_t filler)
{
	char *copy = malloc(len + 1);

	if (copy != NULL && len > 0)
		memcpy(copy, bytes, len);
	pthread_mutex_lock(&f->lock);
	free(f->answer);
	f->answer = copy;
	f->len = copy != NULL ? len : 0;
	f->chunk = chunk;
	f->filler = filler;
	f->requests = 0;
	f->path[0] = '\0';
	pthread_mutex_unlock(&f->lock);
}

unsigned int
fake_http_requests(struct fake_http *f, char *path, size_t size)
{
	unsigned int n;

	pthread_mutex_lock(&f->lock);
	n = f->requests;
	if (size > 0)
		snprintf(path, size, "%s", f->path);
	pthread_mutex_unlock(&f->lock);
	return n;
}
