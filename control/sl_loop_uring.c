/* SPDX-License-Identifier: MIT */
/*
 * sl_loop_uring.c - io_uring backend of sl_loop (compiled inside sl_loop.c).
 *
 * One ring per loop, SINGLE_ISSUER|DEFER_TASKRUN where the kernel has them
 * (6.1), else COOP_TASKRUN (5.19), else no flags. Each listener has one
 * multishot accept; each connection one multishot recv that picks buffers
 * from a single provided buffer ring, and at most one send in flight from
 * its output queue. liburing 2.3 has no io_uring_setup_buf_ring (2.4), so
 * the ring is mmap'd and registered here by hand.
 *
 * Requests carry a tagged pointer (enum sl_loop_src) as user_data; 0 marks
 * a cancel request, whose completion is ignored. A connection is "busy"
 * while its recv is armed or a send is in flight: the loop frees it only
 * after both completions (normally -ECANCELED) have been seen.
 *
 * A multishot request ends whenever a CQE lacks IORING_CQE_F_MORE: recv
 * then re-arms (after -ENOBUFS too: the buffers of this batch are back in
 * the ring by the time the new request is submitted); accept re-arms, or
 * waits SL_LOOP_ACCEPT_BACKOFF_MS after an error such as EMFILE.
 */
#include <liburing.h>
#include <sys/mman.h>

#define SL_URING_SQ_ENTRIES 256
#define SL_URING_CQ_ENTRIES 4096
#define SL_URING_BGID 0

/* be_flags */
#define SL_URING_ARMED 0x1   /* listener accept / conn recv */
#define SL_URING_SENDING 0x2 /* conn send in flight */

struct sl_uring {
	struct io_uring ring;
	struct io_uring_buf_ring *br;
	size_t br_bytes;
	uint8_t *bufs;
	size_t bufs_bytes;
	uint32_t buf_size;
	uint32_t nbufs;
	bool ring_up;
	bool br_registered;
};

static struct io_uring_sqe *
uring_sqe(struct sl_uring *u)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&u->ring);

	if (sqe == NULL) {
		io_uring_submit(&u->ring);
		sqe = io_uring_get_sqe(&u->ring);
	}
	return sqe;
}

static void *
uring_map(size_t bytes)
{
	void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

static void
uring_recycle(struct sl_uring *u, uint16_t bid)
{
	io_uring_buf_ring_add(u->br, u->bufs + (size_t)bid * u->buf_size,
			      u->buf_size, bid,
			      io_uring_buf_ring_mask(u->nbufs), 0);
	io_uring_buf_ring_advance(u->br, 1);
}

/*
 * Multishot recv (6.0) cannot be seen in the opcode probe: post one on a
 * socketpair in a scratch ring and see whether it stays armed. Kernels
 * before 6.0 reject the IORING_RECV_MULTISHOT flag with -EINVAL; before
 * 5.19 the buffer ring registration already fails. Multishot accept
 * (5.19) comes with it.
 */
static int
uring_probe_multishot(char *why, size_t why_len)
{
	struct __kernel_timespec ts = {.tv_sec = 1};
	struct io_uring_buf_reg reg = {0};
	struct io_uring_buf_ring *br;
	struct io_uring_cqe *cqe;
	struct io_uring_sqe *sqe;
	struct io_uring ring;
	size_t br_bytes = 4096;
	uint8_t byte[8];
	int sv[2] = {-1, -1};
	int rc;

	rc = io_uring_queue_init(4, &ring, 0);
	if (rc < 0) {
		snprintf(why, why_len, "probe ring: %s", strerror(-rc));
		return rc;
	}
	br = uring_map(br_bytes);
	if (br == NULL) {
		rc = -ENOMEM;
		snprintf(why, why_len, "probe: out of memory");
		goto out;
	}
	reg.ring_addr = (uintptr_t)br;
	reg.ring_entries = 1;
	reg.bgid = 0;
	rc = io_uring_register_buf_ring(&ring, &reg, 0);
	if (rc < 0) {
		snprintf(why, why_len,
			 "no provided buffer rings (kernel < 5.19): %s",
			 strerror(-rc));
		rc = -EOPNOTSUPP;
		goto out;
	}
	io_uring_buf_ring_init(br);
	io_uring_buf_ring_add(br, byte, sizeof(byte), 0,
			      io_uring_buf_ring_mask(1), 0);
	io_uring_buf_ring_advance(br, 1);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		rc = -errno;
		snprintf(why, why_len, "probe socketpair: %s", strerror(errno));
		goto out;
	}
	sqe = io_uring_get_sqe(&ring);
	io_uring_prep_recv_multishot(sqe, sv[0], NULL, 0, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = 0;
	if (write(sv[1], "x", 1) != 1) {
		rc = -errno;
		snprintf(why, why_len, "probe write: %s", strerror(errno));
		goto out;
	}
	rc = io_uring_submit_and_wait_timeout(&ring, &cqe, 1, &ts, NULL);
	if (rc < 0) {
		snprintf(why, why_len, "probe wait: %s", strerror(-rc));
		goto out;
	}
	if (cqe->res != 1 || !(cqe->flags & IORING_CQE_F_MORE)) {
		snprintf(why, why_len,
			 "no multishot recv (kernel < 6.0): res %d", cqe->res);
		rc = -EOPNOTSUPP;
		goto out;
	}
	rc = 0;
out:
	/* exiting the ring cancels the recv before the buffer goes away */
	io_uring_queue_exit(&ring);
	if (sv[0] >= 0) {
		close(sv[0]);
		close(sv[1]);
	}
	if (br != NULL)
		munmap(br, br_bytes);
	return rc;
}

static void
uring_fini(struct sl_loop *loop)
{
	struct sl_uring *u = loop->be;

	if (u == NULL)
		return;
	/* no request may pick a buffer while the ring is torn down */
	if (u->br_registered)
		io_uring_unregister_buf_ring(&u->ring, SL_URING_BGID);
	if (u->ring_up)
		io_uring_queue_exit(&u->ring);
	if (u->br != NULL)
		munmap(u->br, u->br_bytes);
	if (u->bufs != NULL)
		munmap(u->bufs, u->bufs_bytes);
	free(u);
	loop->be = NULL;
}

static int
uring_init(struct sl_loop *loop, char *why, size_t why_len)
{
	static const struct {
		unsigned int flags;
		const char *name;
	} modes[] = {
		{IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
		 "SINGLE_ISSUER|DEFER_TASKRUN"},
		{IORING_SETUP_COOP_TASKRUN, "COOP_TASKRUN"},
		{0, "no setup flags"},
	};
	static const int needed_ops[] = {IORING_OP_ACCEPT, IORING_OP_RECV,
					 IORING_OP_SEND,
					 IORING_OP_ASYNC_CANCEL};
	struct io_uring_buf_reg reg = {0};
	struct io_uring_probe *probe;
	struct io_uring_params prm;
	const char *mode = NULL;
	struct sl_uring *u;
	size_t i;
	int rc = -EINVAL;

	u = calloc(1, sizeof(*u));
	if (u == NULL) {
		snprintf(why, why_len, "out of memory");
		return -ENOMEM;
	}
	loop->be = u;
	for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		memset(&prm, 0, sizeof(prm));
		prm.flags = modes[i].flags | IORING_SETUP_CQSIZE;
		prm.cq_entries = SL_URING_CQ_ENTRIES;
		rc = io_uring_queue_init_params(SL_URING_SQ_ENTRIES, &u->ring,
						&prm);
		if (rc == 0) {
			mode = modes[i].name;
			break;
		}
		if (rc != -EINVAL) /* ENOSYS, EPERM: no point trying less */
			break;
	}
	if (rc < 0) {
		snprintf(why, why_len, "io_uring_setup: %s", strerror(-rc));
		goto fail;
	}
	u->ring_up = true;

	probe = io_uring_get_probe_ring(&u->ring);
	if (probe == NULL) {
		rc = -EOPNOTSUPP;
		snprintf(why, why_len, "no opcode probe (kernel < 5.6)");
		goto fail;
	}
	for (i = 0; i < sizeof(needed_ops) / sizeof(needed_ops[0]); i++) {
		if (!io_uring_opcode_supported(probe, needed_ops[i])) {
			io_uring_free_probe(probe);
			rc = -EOPNOTSUPP;
			snprintf(why, why_len, "opcode %d not supported",
				 needed_ops[i]);
			goto fail;
		}
	}
	io_uring_free_probe(probe);

	rc = uring_probe_multishot(why, why_len);
	if (rc < 0)
		goto fail;

	u->buf_size = loop->p.in_buf_size;
	u->nbufs = loop->p.in_buf_count;
	u->br_bytes = u->nbufs * sizeof(struct io_uring_buf);
	u->bufs_bytes = (size_t)u->nbufs * u->buf_size;
	u->br = uring_map(u->br_bytes);
	u->bufs = uring_map(u->bufs_bytes);
	if (u->br == NULL || u->bufs == NULL) {
		rc = -ENOMEM;
		snprintf(why, why_len, "mmap receive buffers: out of memory");
		goto fail;
	}
	reg.ring_addr = (uintptr_t)u->br;
	reg.ring_entries = u->nbufs;
	reg.bgid = SL_URING_BGID;
	rc = io_uring_register_buf_ring(&u->ring, &reg, 0);
	if (rc < 0) {
		snprintf(why, why_len, "io_uring_register_buf_ring: %s",
			 strerror(-rc));
		goto fail;
	}
	u->br_registered = true;
	io_uring_buf_ring_init(u->br);
	for (i = 0; i < u->nbufs; i++)
		io_uring_buf_ring_add(u->br, u->bufs + i * u->buf_size,
				      u->buf_size, (uint16_t)i,
				      io_uring_buf_ring_mask(u->nbufs), (int)i);
	io_uring_buf_ring_advance(u->br, (int)u->nbufs);

	snprintf(why, why_len, "%s, %u x %u B receive buffers", mode, u->nbufs,
		 u->buf_size);
	return 0;
fail:
	uring_fini(loop);
	return rc;
}

static int
uring_listen(struct sl_loop *loop, struct sl_listener *l)
{
	struct io_uring_sqe *sqe = uring_sqe(loop->be);

	if (sqe == NULL)
		return -EBUSY;
	io_uring_prep_multishot_accept(sqe, l->fd, NULL, NULL,
				       SOCK_NONBLOCK | SOCK_CLOEXEC);
	io_uring_sqe_set_data64(sqe, (uintptr_t)l | SL_SRC_ACCEPT);
	l->be_flags |= SL_URING_ARMED;
	return 0;
}

static void
uring_cancel_fd(struct sl_uring *u, int fd)
{
	struct io_uring_sqe *sqe = uring_sqe(u);

	if (sqe == NULL)
		return;
	io_uring_prep_cancel_fd(sqe, fd, IORING_ASYNC_CANCEL_ALL);
	io_uring_sqe_set_data64(sqe, 0);
}

static void
uring_listener_shut(struct sl_loop *loop, struct sl_listener *l)
{
	if (l->be_flags & SL_URING_ARMED)
		uring_cancel_fd(loop->be, l->fd);
}

static int
uring_arm_recv(struct sl_loop *loop, struct sl_conn *c)
{
	struct io_uring_sqe *sqe = uring_sqe(loop->be);

	if (sqe == NULL)
		return -EBUSY;
	io_uring_prep_recv_multishot(sqe, c->fd, NULL, 0, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = SL_URING_BGID;
	io_uring_sqe_set_data64(sqe, (uintptr_t)c | SL_SRC_RECV);
	c->be_flags |= SL_URING_ARMED;
	return 0;
}

static int
uring_conn_start(struct sl_loop *loop, struct sl_conn *c)
{
	return uring_arm_recv(loop, c);
}

static void
uring_conn_flush(struct sl_loop *loop, struct sl_conn *c)
{
	struct io_uring_sqe *sqe;
	const uint8_t *p;
	size_t len;

	if (c->state == SL_CONN_CLOSED || (c->be_flags & SL_URING_SENDING))
		return;
	p = outq_peek(&c->out, &len);
	if (len == 0)
		return;
	sqe = uring_sqe(loop->be);
	if (sqe == NULL) {
		conn_terminate(c, SL_CONN_CLOSE_ERROR);
		return;
	}
	io_uring_prep_send(sqe, c->fd, p, len, MSG_NOSIGNAL);
	io_uring_sqe_set_data64(sqe, (uintptr_t)c | SL_SRC_SEND);
	c->be_flags |= SL_URING_SENDING;
}

static void
uring_conn_shut(struct sl_loop *loop, struct sl_conn *c)
{
	/* the peer sees EOF now; the fd itself is closed when freed */
	shutdown(c->fd, SHUT_RDWR);
	if (c->be_flags & (SL_URING_ARMED | SL_URING_SENDING))
		uring_cancel_fd(loop->be, c->fd);
}

static bool
uring_conn_busy(const struct sl_conn *c)
{
	return (c->be_flags & (SL_URING_ARMED | SL_URING_SENDING)) != 0;
}

static void
uring_accept_done(struct sl_loop *loop, struct sl_listener *l,
		  const struct io_uring_cqe *cqe)
{
	bool more = cqe->flags & IORING_CQE_F_MORE;
	int rc;

	if (!more)
		l->be_flags &= ~SL_URING_ARMED;
	if (cqe->res >= 0)
		loop_accepted(loop, l, cqe->res);
	else if (cqe->res == -ECANCELED && loop->destroying)
		return;
	if (more || loop->destroying)
		return;
	if (cqe->res < 0) {
		listener_backoff(loop, l, -cqe->res);
		return;
	}
	rc = uring_listen(loop, l);
	if (rc < 0)
		listener_backoff(loop, l, -rc);
}

static void
uring_recv_done(struct sl_loop *loop, struct sl_uring *u, struct sl_conn *c,
		const struct io_uring_cqe *cqe)
{
	bool more = cqe->flags & IORING_CQE_F_MORE;
	int res = cqe->res;

	if (!more)
		c->be_flags &= ~SL_URING_ARMED;
	if (cqe->flags & IORING_CQE_F_BUFFER) {
		uint16_t bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;

		if (res > 0)
			conn_deliver(c, u->bufs + (size_t)bid * u->buf_size,
				     (size_t)res);
		uring_recycle(u, bid);
	}
	if (c->state == SL_CONN_CLOSED)
		return;
	if (res == 0) {
		conn_terminate(c, SL_CONN_CLOSE_PEER);
		return;
	}
	if (res < 0 && res != -ENOBUFS) {
		conn_terminate(c, SL_CONN_CLOSE_ERROR);
		return;
	}
	if (res == -ENOBUFS)
		loop->stats.recv_nobufs++;
	if (!more && uring_arm_recv(loop, c) < 0)
		conn_terminate(c, SL_CONN_CLOSE_ERROR);
}

static void
uring_send_done(struct sl_loop *loop, struct sl_conn *c,
		const struct io_uring_cqe *cqe)
{
	c->be_flags &= ~SL_URING_SENDING;
	if (c->state == SL_CONN_CLOSED)
		return;
	if (cqe->res < 0) {
		if (cqe->res == -EAGAIN || cqe->res == -EINTR)
			conn_schedule_flush(c);
		else
			conn_terminate(c, SL_CONN_CLOSE_ERROR);
		return;
	}
	conn_sent(c, (size_t)cqe->res);
	if (c->state != SL_CONN_CLOSED && c->out.bytes > 0)
		uring_conn_flush(loop, c);
}

static int
uring_wait(struct sl_loop *loop, int timeout_ms)
{
	struct sl_uring *u = loop->be;
	struct io_uring_cqe *cqe;
	unsigned int head;
	int rc, n = 0;

	if (timeout_ms < 0) {
		rc = io_uring_submit_and_wait(&u->ring, 1);
	} else {
		struct __kernel_timespec ts = {
			.tv_sec = timeout_ms / 1000,
			.tv_nsec = (long long)(timeout_ms % 1000) * 1000000,
		};

		rc = io_uring_submit_and_wait_timeout(&u->ring, &cqe, 1, &ts,
						      NULL);
	}
	loop_update_now(loop);
	if (rc < 0 && rc != -ETIME && rc != -EINTR && rc != -EBUSY &&
	    rc != -EAGAIN)
		return rc;

	io_uring_for_each_cqe(&u->ring, head, cqe)
	{
		uint64_t ud = cqe->user_data;
		void *src = (void *)(uintptr_t)(ud & ~SL_SRC_MASK);

		n++;
		switch (ud & SL_SRC_MASK) {
		case SL_SRC_ACCEPT:
			uring_accept_done(loop, src, cqe);
			break;
		case SL_SRC_RECV:
			uring_recv_done(loop, u, src, cqe);
			break;
		case SL_SRC_SEND:
			uring_send_done(loop, src, cqe);
			break;
		default: /* cancel requests */
			break;
		}
	}
	io_uring_cq_advance(&u->ring, (unsigned int)n);
	return n;
}

static const struct sl_loop_ops sl_loop_uring_ops = {
	.name = "io_uring",
	.init = uring_init,
	.fini = uring_fini,
	.listen = uring_listen,
	.listener_shut = uring_listener_shut,
	.conn_start = uring_conn_start,
	.conn_flush = uring_conn_flush,
	.conn_shut = uring_conn_shut,
	.conn_busy = uring_conn_busy,
	.wait = uring_wait,
};
