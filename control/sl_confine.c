/* SPDX-License-Identifier: MIT */
/*
 * sl_confine.c - files a config names, confined to the config directory
 * (sl_confine.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <linux/openat2.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sl_confine.h"

#define SL_CONFINE_OPEN_FLAGS                                                  \
	(O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK | O_NOFOLLOW)

static int
openat2_beneath(int dir_fd, const char *rel)
{
#ifdef SYS_openat2
	struct open_how how = {
		.flags = SL_CONFINE_OPEN_FLAGS,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
			   RESOLVE_NO_MAGICLINKS,
	};
	long fd = syscall(SYS_openat2, dir_fd, rel, &how, sizeof(how));

	return fd < 0 ? -errno : (int)fd;
#else
	(void)dir_fd;
	(void)rel;
	return -ENOSYS;
#endif
}

/* The walk for kernels without openat2: each directory with O_NOFOLLOW
 * (a link there fails with ENOTDIR or ELOOP), the file too. `..` was
 * refused before, so nothing climbs out. */
static int
walk_beneath(int dir_fd, const char *rel)
{
	char part[NAME_MAX + 1];
	int cur = dup(dir_fd);

	if (cur < 0)
		return -errno;
	for (;;) {
		const char *slash;
		size_t n;
		int next;

		while (*rel == '/')
			rel++;
		slash = strchr(rel, '/');
		n = slash ? (size_t)(slash - rel) : strlen(rel);
		if (n > NAME_MAX) {
			close(cur);
			return -ENAMETOOLONG;
		}
		memcpy(part, rel, n);
		part[n] = '\0';
		rel += n;
		while (*rel == '/')
			rel++;
		if (*rel == '\0') {
			next = openat(cur, part, SL_CONFINE_OPEN_FLAGS);
			next = next < 0 ? -errno : next;
			close(cur);
			return next;
		}
		if (strcmp(part, ".") == 0)
			continue;
		next = openat(cur, part,
			      O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (next < 0) {
			int rc = -errno;
			struct stat st;

			/* A link to a directory: say so, not ENOTDIR. */
			if (rc == -ENOTDIR &&
			    fstatat(cur, part, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
			    S_ISLNK(st.st_mode))
				rc = -ELOOP;
			close(cur);
			return rc;
		}
		close(cur);
		cur = next;
	}
}

/* True when a path component of @name is "..". */
static bool
has_dotdot(const char *name)
{
	const char *p = name;

	while (*p != '\0') {
		size_t n = strcspn(p, "/");

		if (n == 2 && p[0] == '.' && p[1] == '.')
			return true;
		p += n;
		while (*p == '/')
			p++;
	}
	return false;
}

static int __attribute__((format(printf, 4, 5)))
refuse(int rc, char *why, size_t whylen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, whylen, fmt, ap);
	va_end(ap);
	return rc;
}

int
sl_confine_read(const struct sl_confine *c, const char *name, char **data,
		size_t *len, char *why, size_t whylen)
{
	const char *dir = c != NULL && c->dir != NULL ? c->dir : ".";
	size_t max =
		c != NULL && c->max_bytes ? c->max_bytes : SL_CONFINE_MAX_BYTES;
	char canon[PATH_MAX];
	const char *rel = name;
	struct stat st;
	size_t have = 0;
	char *buf;
	int dir_fd, fd, rc;

	*data = NULL;
	*len = 0;
	if (name[0] == '\0')
		return refuse(-EINVAL, why, whylen, "empty path");
	if (has_dotdot(name))
		return refuse(-EINVAL, why, whylen,
			      "must not contain \"..\" (files are read from "
			      "beneath the config directory %s)",
			      dir);
	if (realpath(dir, canon) == NULL)
		return refuse(-errno, why, whylen, "config directory %s: %s",
			      dir, strerror(errno));
	if (name[0] == '/') {
		size_t n = strlen(canon);

		/* "/" as the config directory holds every absolute name. */
		if (n == 1)
			n = 0;
		if (strncmp(name, canon, n) != 0 || name[n] != '/')
			return refuse(-EXDEV, why, whylen,
				      "outside the config directory %s", canon);
		rel = name + n;
		while (*rel == '/')
			rel++;
		if (*rel == '\0')
			return refuse(-EPERM, why, whylen,
				      "not a regular file");
	}
	dir_fd = open(canon, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dir_fd < 0)
		return refuse(-errno, why, whylen, "config directory %s: %s",
			      canon, strerror(errno));
	fd = -ENOSYS;
	if (c == NULL || !(c->flags & SL_CONFINE_NO_OPENAT2))
		fd = openat2_beneath(dir_fd, rel);
	if (fd == -ENOSYS || fd == -EPERM) /* EPERM: seccomp'd */
		fd = walk_beneath(dir_fd, rel);
	close(dir_fd);
	if (fd == -ELOOP)
		return refuse(fd, why, whylen,
			      "is or goes through a symbolic link (not "
			      "followed)");
	if (fd == -EXDEV)
		return refuse(fd, why, whylen,
			      "escapes the config directory %s", canon);
	if (fd < 0)
		return refuse(fd, why, whylen, "%s", strerror(-fd));
	if (fstat(fd, &st) != 0) {
		rc = -errno;
		close(fd);
		return refuse(rc, why, whylen, "%s", strerror(-rc));
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return refuse(-EPERM, why, whylen, "not a regular file");
	}
	if ((size_t)st.st_size > max) {
		close(fd);
		return refuse(-EFBIG, why, whylen,
			      "larger than %zu bytes (%lld)", max,
			      (long long)st.st_size);
	}
	buf = malloc(max + 2);
	if (buf == NULL) {
		close(fd);
		return refuse(-ENOMEM, why, whylen, "out of memory");
	}
	/* The file may grow while it is read: at most max + 1 bytes. */
	while (have <= max) {
		ssize_t n = read(fd, buf + have, max + 1 - have);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -errno;
			close(fd);
			free(buf);
			return refuse(rc, why, whylen, "%s", strerror(-rc));
		}
		if (n == 0)
			break;
		have += (size_t)n;
	}
	close(fd);
	if (have > max) {
		free(buf);
		return refuse(-EFBIG, why, whylen, "larger than %zu bytes",
			      max);
	}
	if (memchr(buf, '\0', have) != NULL) {
		free(buf);
		return refuse(-EINVAL, why, whylen, "contains a NUL byte");
	}
	buf[have] = '\0';
	*data = buf;
	*len = have;
	return 0;
}

int
sl_confine_file(const struct sl_confine *c, const char *name, char **data,
		size_t *len, char *why, size_t whylen)
{
	if (c != NULL && c->read != NULL)
		return c->read(c, name, data, len, why, whylen);
	return sl_confine_read(c, name, data, len, why, whylen);
}
