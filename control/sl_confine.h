/* SPDX-License-Identifier: MIT */
/*
 * sl_confine.h - the one way a pipeline file makes sluiced read another
 * file (today `literals_file:` of a guard).
 *
 * A pipeline may arrive over the control API from a caller that must not
 * read what sluiced can (an ApplyPipeline naming /etc/shadow would have its
 * lines printed back by `guard list`), so every file a config names is
 * confined to one directory, the config directory (sluiced --config-dir,
 * by default the directory of the --config file):
 *
 *   - a relative name resolves beneath the directory; an absolute one must
 *     lie inside it (it is then read as the relative rest);
 *   - no `..` component, no symbolic link anywhere on the way (the
 *     directory's own path may hold links: the operator chose it);
 *   - only a regular file (no FIFO that would block the control loop, no
 *     /dev/zero that never ends), at most max_bytes, without NUL bytes.
 *
 * The file is opened with openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
 * RESOLVE_NO_MAGICLINKS) through syscall(2) where the kernel has it (5.6+),
 * else one component at a time with O_NOFOLLOW, and always O_NONBLOCK so
 * that opening a FIFO cannot wait.
 *
 * The compiler reads files only through struct sl_confine's read hook, so
 * a fuzzer or a test can stub file access away.
 */
#ifndef SL_CONFINE_H
#define SL_CONFINE_H

#include <stddef.h>

#define SL_CONFINE_MAX_BYTES (1u << 20) /* default file size limit */

/* Flags for struct sl_confine.flags. */
#define SL_CONFINE_NO_OPENAT2 0x1 /* tests: the O_NOFOLLOW walk */

struct sl_confine;

/*
 * How a config reads a file: fill *@data (malloc'd, NUL-terminated, freed
 * by the caller) and *@len, return 0; or return a negative errno with
 * @why set to one line saying why (no file name: the caller names it).
 */
typedef int (*sl_confine_read_fn)(const struct sl_confine *c, const char *name,
				  char **data, size_t *len, char *why,
				  size_t whylen);

struct sl_confine {
	const char *dir;         /* the config directory; NULL: "." */
	size_t max_bytes;        /* 0: SL_CONFINE_MAX_BYTES */
	unsigned int flags;      /* SL_CONFINE_* */
	sl_confine_read_fn read; /* NULL: sl_confine_read */
	void *ctx;               /* for a replacement read */
};

/*
 * sl_confine_read - read @name as described at the top.
 * Returns 0, or
 *   -EINVAL  empty name, a `..` component, a NUL byte in the file;
 *   -EXDEV   an absolute name outside the directory, or an escape the
 *            kernel caught;
 *   -ELOOP   a symbolic link on the way;
 *   -EPERM   not a regular file;
 *   -EFBIG   larger than max_bytes;
 *   or the errno of open/read (-ENOENT, -EACCES, ...).
 * @why holds one line for the error.
 */
int sl_confine_read(const struct sl_confine *c, const char *name, char **data,
		    size_t *len, char *why, size_t whylen);

/*
 * sl_confine_file - read through @c's hook (sl_confine_read when it has
 * none). @c may be NULL: confined to the working directory.
 */
int sl_confine_file(const struct sl_confine *c, const char *name, char **data,
		    size_t *len, char *why, size_t whylen);

#endif /* SL_CONFINE_H */
