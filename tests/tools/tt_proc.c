/* SPDX-License-Identifier: MIT */
#include "tt_proc.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "sluice.h"

uint16_t
tt_free_port(void)
{
	struct sockaddr_in a;
	struct sl_sock *s;
	uint16_t port;

	sl_endpoint_parse("127.0.0.1:0", false, &a);
	s = sl_sock_open(&a);
	if (s == NULL)
		return 0;
	port = ntohs(s->local.sin_port);
	sl_sock_close(s);
	return port;
}

static void
redirect(const char *path, int to)
{
	int fd;

	if (path == NULL)
		return;
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd >= 0) {
		dup2(fd, to);
		close(fd);
	}
}

pid_t
tt_spawn(char *const argv[], const char *out, const char *err)
{
	pid_t pid;

	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		redirect(out, STDOUT_FILENO);
		redirect(err, STDERR_FILENO);
		execv(argv[0], argv);
		_exit(127);
	}
	return pid;
}

int
tt_wait(pid_t pid)
{
	int status;

	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

int
tt_run(char *const argv[], const char *out, const char *err)
{
	return tt_wait(tt_spawn(argv, out, err));
}

int
tt_stop(pid_t *pid)
{
	int rc;

	if (*pid < 0)
		return -1;
	kill(*pid, SIGTERM);
	rc = tt_wait(*pid);
	*pid = -1;
	return rc;
}

int
tt_wait_file(const char *path, int tries, pid_t *pid)
{
	struct stat st;
	int status;

	for (int i = 0; i < tries; i++) {
		if (stat(path, &st) == 0)
			return 0;
		if (pid != NULL && *pid > 0 &&
		    waitpid(*pid, &status, WNOHANG) == *pid) {
			*pid = -1;
			return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
		}
		usleep(10000);
	}
	return -1;
}

int
tt_read_file(const char *path, char *buf, size_t cap)
{
	FILE *f = fopen(path, "r");
	size_t n;

	if (f == NULL)
		return -errno;
	n = fread(buf, 1, cap - 1, f);
	buf[n] = '\0';
	fclose(f);
	return 0;
}

char *
tt_slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "r");
	char *buf;
	size_t got = 0;
	long n;

	if (f == NULL)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)n + 1);
	if (buf != NULL) {
		got = fread(buf, 1, (size_t)n, f);
		buf[got] = '\0';
	}
	fclose(f);
	if (len != NULL)
		*len = got;
	return buf;
}

double
tt_json_num(const char *json, const char *key)
{
	char pat[64];
	const char *p;

	snprintf(pat, sizeof(pat), "\"%s\": ", key);
	p = strstr(json, pat);
	return p ? strtod(p + strlen(pat), NULL) : -1;
}
