/* SPDX-License-Identifier: MIT */
/*
 * fake_http.h - a fake HTTP server in a thread on 127.0.0.1, for the
 * tests of clients that speak to an etcd gateway (test_etcd,
 * test_cluster).
 *
 * It answers every connection the same way: it reads the request (its
 * headers, then Content-Length bytes), notes its path and counts it,
 * sends the answer bytes set last as they are (the test writes the
 * status line, the headers, a Date if it wants one), then filler bytes
 * of 'x' if asked, then closes. One connection at a time.
 */
#ifndef FAKE_HTTP_H
#define FAKE_HTTP_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

/* One fake server; FAKE_HTTP_INIT it before fake_http_start. */
struct fake_http {
	int fd; /* the listening socket; -1 when not started */
	int port;
	char url[64]; /* "http://127.0.0.1:PORT" */
	pthread_t thread;
	pthread_mutex_t lock; /* guards what follows */
	char *answer;
	size_t len;
	size_t chunk;   /* send @answer this many bytes at a time; 0: at once */
	size_t filler;  /* then this many bytes of 'x' */
	char path[128]; /* of the last request read whole */
	unsigned int requests; /* read whole since the answer was set */
	volatile bool quit;
};

#define FAKE_HTTP_INIT                                                         \
	{                                                                      \
		.fd = -1, .lock = PTHREAD_MUTEX_INITIALIZER                    \
	}

/*
 * fake_http_start - listen on a free loopback port (f->port, f->url) and
 * serve from a thread until fake_http_stop. Returns 0 or -1.
 */
int fake_http_start(struct fake_http *f);

/* Stop the thread, close the socket, free the answer; a fake never
 * started is left alone. */
void fake_http_stop(struct fake_http *f);

/*
 * fake_http_set - answer every connection from now on with @len bytes
 * of @bytes (copied), @chunk bytes per send with 200 us between sends
 * (0: at once), then @filler bytes of 'x'. Sets the request count to 0
 * and forgets the last path.
 */
void fake_http_set(struct fake_http *f, const void *bytes, size_t len,
		   size_t chunk, size_t filler);

/* Requests read whole since the last fake_http_set; the last one's path
 * into @path (@size bytes, "" when none). */
unsigned int fake_http_requests(struct fake_http *f, char *path, size_t size);

#endif
