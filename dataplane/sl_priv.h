/* SPDX-License-Identifier: MIT */
/*
 * sl_priv.h - sluiced's privileges: secrets read from files, and root
 * given up once start-up is done.
 *
 * sluiced needs root only to start: EAL, opening the port (a raw
 * AF_PACKET socket, an AF_XDP socket and its XDP program), binding the
 * control socket and creating its files. After that it switches to an
 * unprivileged user (sluiced --user): supplementary groups, gid, uid, in
 * that order, all threads at once (glibc applies set*id to every thread),
 * then checks that root cannot be taken back. Capabilities go with root;
 * only those the caller asks to keep stay, in the calling thread, through
 * libcap. PR_SET_NO_NEW_PRIVS is set at the very start of main, so every
 * thread has it and no execve can gain privileges.
 *
 * Whatever the daemon writes after the drop (the stats file, the state
 * directory) must be writable by that user; sl_priv_user_can asks the
 * kernel in a child that has taken the user's ids, so the answer counts
 * ACLs, read-only mounts and everything else.
 */
#ifndef SL_PRIV_H
#define SL_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define SL_PRIV_DEFAULT_USER "nobody"
#define SL_PRIV_GROUPS_MAX 64
#define SL_PRIV_SECRET_MIN 16 /* bytes of a token */

struct sl_priv_user {
	bool drop; /* running as root and asked to leave it */
	uid_t uid;
	gid_t gid;
	char name[64];
	int n_groups;
	gid_t groups[SL_PRIV_GROUPS_MAX];
};

/*
 * sl_priv_resolve_user - look up the user sluiced will run as. When the
 * process is not root, u->drop is false and nothing is looked up; when the
 * user is root itself, u->drop is false too (the caller says so).
 * Returns 0, or -ENOENT (no such user) / -errno with @err set.
 */
int sl_priv_resolve_user(const char *name, struct sl_priv_user *u, char *err,
			 size_t errlen);

/*
 * sl_priv_user_can - whether @u, once dropped to, may access(@path,
 * @mode) (R_OK, W_OK, X_OK). A forked child takes @u's ids and asks the
 * kernel. Returns 0 (yes), -EACCES or another -errno (no), or the errno
 * of fork. Without u->drop it asks for the process as it is.
 */
int sl_priv_user_can(const struct sl_priv_user *u, const char *path, int mode);

/*
 * sl_priv_drop - become @u (setgroups, setgid, setuid; all threads),
 * keeping the @n_keep capabilities in @keep (CAP_* values) in the calling
 * thread's permitted and effective sets, none anywhere else. Verifies that
 * real, effective and saved ids all changed and that setuid(0) now fails.
 * @msg receives one line for the log: what it did, or why it failed.
 * Returns 0 or a negative errno (the caller must exit then).
 */
int sl_priv_drop(const struct sl_priv_user *u, const int *keep, int n_keep,
		 char *msg, size_t msglen);

/*
 * sl_priv_read_secret - a token from @path: a regular file owned by root
 * or the process's euid, readable and writable by its owner only (no group
 * or other bits), SL_PRIV_SECRET_MIN..@outlen-1 bytes after one trailing
 * newline (LF or CRLF) is cut, without NUL, CR or LF inside. @err: one
 * line saying what is wrong and how to fix it.
 * Returns 0 or a negative errno.
 */
int sl_priv_read_secret(const char *path, char *out, size_t outlen, char *err,
			size_t errlen);

/*
 * sl_priv_check_secret - the same length and byte rules for a token that
 * came from elsewhere (the environment). 0, or -EINVAL with @err set.
 */
int sl_priv_check_secret(const char *token, size_t max, char *err,
			 size_t errlen);

#endif /* SL_PRIV_H */
