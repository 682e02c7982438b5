/* SPDX-License-Identifier: MIT */
/*
 * Child processes and their files for the tools suites that drive the
 * real binaries (sluice-engine, sluicegen) over 127.0.0.1.
 */
#ifndef SL_TT_PROC_H
#define SL_TT_PROC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* A port free right now on 127.0.0.1 (the kernel picks it); 0 on error. */
uint16_t tt_free_port(void);

/* Fork and exec @argv with stdout to @out and stderr to @err (files,
 * truncated; NULL inherits). Return the child's pid, or -1. */
pid_t tt_spawn(char *const argv[], const char *out, const char *err);

/* Wait for @pid: its exit status, 128 when signalled, -1 on error. */
int tt_wait(pid_t pid);

/* tt_spawn then tt_wait. */
int tt_run(char *const argv[], const char *out, const char *err);

/* SIGTERM *@pid and wait for it (tt_wait's result); *@pid becomes -1.
 * -1 when there is no child. */
int tt_stop(pid_t *pid);

/* Poll every 10 ms, @tries times, until @path exists: 0. When @pid is
 * given and that child exits first: its status, and *@pid becomes -1.
 * -1 on timeout. */
int tt_wait_file(const char *path, int tries, pid_t *pid);

/* Read @path into @buf (at most @cap - 1 bytes, NUL-ended): 0 or -errno. */
int tt_read_file(const char *path, char *buf, size_t cap);

/* All of @path in a malloc'd NUL-ended buffer (its length to @len when
 * given), or NULL. */
char *tt_slurp(const char *path, size_t *len);

/* The number after "@key": in @json, or -1 when the key is absent. */
double tt_json_num(const char *json, const char *key);

#endif
