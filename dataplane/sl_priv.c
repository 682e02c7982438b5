/* SPDX-License-Identifier: MIT */
/*
 * sl_priv.c - secrets from files and dropping root (sl_priv.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sl_priv.h"

int
sl_priv_resolve_user(const char *name, struct sl_priv_user *u, char *err,
		     size_t errlen)
{
	struct passwd *pw;
	int n = SL_PRIV_GROUPS_MAX;

	memset(u, 0, sizeof(*u));
	snprintf(u->name, sizeof(u->name), "%s", name);
	u->uid = geteuid();
	u->gid = getegid();
	if (geteuid() != 0)
		return 0;
	errno = 0;
	pw = getpwnam(name);
	if (pw == NULL) {
		snprintf(err, errlen,
			 "--user %s: no such user%s%s (create one, e.g. "
			 "useradd --system --no-create-home sluice)",
			 name, errno ? ": " : "", errno ? strerror(errno) : "");
		return errno ? -errno : -ENOENT;
	}
	u->uid = pw->pw_uid;
	u->gid = pw->pw_gid;
	if (getgrouplist(pw->pw_name, pw->pw_gid, u->groups, &n) < 0) {
		snprintf(err, errlen, "--user %s: in more than %d groups", name,
			 SL_PRIV_GROUPS_MAX);
		return -E2BIG;
	}
	u->n_groups = n;
	u->drop = pw->pw_uid != 0;
	return 0;
}

/* Take @u's ids in this process (the child's or sluiced's own). */
static int
become(const struct sl_priv_user *u)
{
	if (setgroups((size_t)u->n_groups, u->groups) != 0 ||
	    setgid(u->gid) != 0 || setuid(u->uid) != 0)
		return -errno;
	return 0;
}

int
sl_priv_user_can(const struct sl_priv_user *u, const char *path, int mode)
{
	int status;
	pid_t pid;

	if (!u->drop)
		return access(path, mode) == 0 ? 0 : -errno;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		int rc = become(u);

		if (rc == 0 && access(path, mode) != 0)
			rc = -errno;
		_exit(rc == 0 ? 0 : (-rc & 0xff));
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	if (!WIFEXITED(status))
		return -ECHILD;
	return -WEXITSTATUS(status);
}

int
sl_priv_drop(const struct sl_priv_user *u, const int *keep, int n_keep,
	     char *msg, size_t msglen)
{
	uid_t ruid, euid, suid;
	gid_t rgid, egid, sgid;
	char *text = NULL;
	cap_t caps;
	int rc;

	if (!u->drop) {
		snprintf(msg, msglen, "not dropping: %s",
			 geteuid() != 0 ? "not started as root"
					: "--user is root");
		return 0;
	}
	/* Keep the permitted set across setuid only in this thread, only
	 * when something is kept; every other thread loses all. */
	if (n_keep > 0 && prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0) {
		rc = -errno;
		snprintf(msg, msglen, "PR_SET_KEEPCAPS: %s", strerror(-rc));
		return rc;
	}
	rc = become(u);
	if (rc != 0) {
		snprintf(msg, msglen, "cannot become %s (uid %u gid %u): %s",
			 u->name, (unsigned int)u->uid, (unsigned int)u->gid,
			 strerror(-rc));
		return rc;
	}
	if (getresuid(&ruid, &euid, &suid) != 0 ||
	    getresgid(&rgid, &egid, &sgid) != 0 || ruid != u->uid ||
	    euid != u->uid || suid != u->uid || rgid != u->gid ||
	    egid != u->gid || sgid != u->gid) {
		snprintf(msg, msglen, "ids did not all change to %u/%u",
			 (unsigned int)u->uid, (unsigned int)u->gid);
		return -EPERM;
	}
	if (setuid(0) == 0) {
		snprintf(msg, msglen, "could take root back after the drop");
		return -EPERM;
	}
	caps = cap_init(); /* all clear */
	if (caps == NULL) {
		rc = -errno;
		snprintf(msg, msglen, "cap_init: %s", strerror(-rc));
		return rc;
	}
	for (int i = 0; i < n_keep; i++) {
		cap_value_t v = (cap_value_t)keep[i];

		if (cap_set_flag(caps, CAP_PERMITTED, 1, &v, CAP_SET) != 0 ||
		    cap_set_flag(caps, CAP_EFFECTIVE, 1, &v, CAP_SET) != 0) {
			rc = -errno;
			cap_free(caps);
			snprintf(msg, msglen, "cap_set_flag: %s",
				 strerror(-rc));
			return rc;
		}
	}
	if (cap_set_proc(caps) != 0) {
		rc = -errno;
		cap_free(caps);
		snprintf(msg, msglen, "cap_set_proc: %s", strerror(-rc));
		return rc;
	}
	cap_free(caps);
	if (n_keep > 0)
		prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);
	caps = cap_get_proc();
	if (caps != NULL)
		text = cap_to_text(caps, NULL);
	snprintf(msg, msglen,
		 "dropped root: uid %u (%s) gid %u, %d groups, capabilities "
		 "%s, no_new_privs %d",
		 (unsigned int)u->uid, u->name, (unsigned int)u->gid,
		 u->n_groups,
		 text != NULL && strcmp(text, "=") != 0 ? text : "none",
		 prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0));
	cap_free(text);
	cap_free(caps);
	return 0;
}

int
sl_priv_check_secret(const char *token, size_t max, char *err, size_t errlen)
{
	size_t n = strnlen(token, max);

	if (n >= max) {
		snprintf(err, errlen, "longer than %zu bytes", max - 1);
		return -EINVAL;
	}
	if (n < SL_PRIV_SECRET_MIN) {
		snprintf(err, errlen,
			 "%zu bytes: at least %d (e.g. head -c 24 "
			 "/dev/urandom | base64)",
			 n, SL_PRIV_SECRET_MIN);
		return -EINVAL;
	}
	if (strpbrk(token, "\r\n") != NULL) {
		snprintf(err, errlen, "holds a line break");
		return -EINVAL;
	}
	return 0;
}

int
sl_priv_read_secret(const char *path, char *out, size_t outlen, char *err,
		    size_t errlen)
{
	char buf[1024];
	struct stat st;
	size_t have = 0;
	int fd, rc;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(-rc));
		return rc;
	}
	if (fstat(fd, &st) != 0) {
		rc = -errno;
		close(fd);
		snprintf(err, errlen, "%s: %s", path, strerror(-rc));
		return rc;
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		snprintf(err, errlen, "%s: not a regular file", path);
		return -EINVAL;
	}
	/* Checked on the open file, not the name: nothing can swap it. */
	if (st.st_mode & (S_IRWXG | S_IRWXO)) {
		close(fd);
		snprintf(err, errlen,
			 "%s: mode %04o lets group or others read or change "
			 "the token; chmod 600 %s",
			 path, (unsigned int)(st.st_mode & 07777), path);
		return -EPERM;
	}
	if (st.st_uid != 0 && st.st_uid != geteuid()) {
		close(fd);
		snprintf(err, errlen,
			 "%s: owned by uid %u; it must belong to root or to "
			 "uid %u",
			 path, (unsigned int)st.st_uid,
			 (unsigned int)geteuid());
		return -EPERM;
	}
	for (;;) {
		ssize_t n = read(fd, buf + have, sizeof(buf) - 1 - have);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -errno;
			close(fd);
			snprintf(err, errlen, "%s: %s", path, strerror(-rc));
			return rc;
		}
		if (n == 0 || have + (size_t)n >= sizeof(buf) - 1) {
			have += (size_t)n;
			break;
		}
		have += (size_t)n;
	}
	close(fd);
	buf[have] = '\0';
	if (memchr(buf, '\0', have) != NULL) {
		explicit_bzero(buf, sizeof(buf));
		snprintf(err, errlen, "%s: holds a NUL byte", path);
		return -EINVAL;
	}
	if (have > 0 && buf[have - 1] == '\n')
		buf[--have] = '\0';
	if (have > 0 && buf[have - 1] == '\r')
		buf[--have] = '\0';
	rc = sl_priv_check_secret(buf, outlen, err + 0, errlen);
	if (rc != 0) {
		char why[128];

		snprintf(why, sizeof(why), "%s", err);
		snprintf(err, errlen, "%s: token %s", path, why);
		explicit_bzero(buf, sizeof(buf));
		return rc;
	}
	memcpy(out, buf, have + 1);
	explicit_bzero(buf, sizeof(buf));
	return 0;
}
