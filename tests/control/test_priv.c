/* SPDX-License-Identifier: MIT */
/*
 * test_priv.c - sluiced's privileges (dataplane/sl_priv.h):
 *
 *   test_priv
 *
 * Token files: read when private, refused (with the fix in the message)
 * when group or others may read or write them, when owned by another user,
 * too short, multi-line or not regular files; tokens from the environment
 * checked the same way. As root: the run user looked up, a directory it
 * may or may not write told apart by the kernel, and the drop itself in a
 * child process with threads: every thread ends with the user's ids, no
 * capabilities, no way back to root, no_new_privs kept; a kept capability
 * stays in the calling thread only.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CUnit/Basic.h>

#include "sl_priv.h"

static char g_dir[64];

static const char *
file(const char *name, const char *text, mode_t mode)
{
	static char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", g_dir, name);
	unlink(path);
	f = fopen(path, "w");
	CU_ASSERT_FATAL(f != NULL);
	fputs(text, f);
	fclose(f);
	chmod(path, mode);
	return path;
}

static void
expect_secret_refused(const char *path, const char *why)
{
	char out[256] = "untouched", err[512], want[512];

	snprintf(want, sizeof(want), "%s: %s", path, why);
	CU_ASSERT(sl_priv_read_secret(path, out, sizeof(out), err,
				      sizeof(err)) < 0);
	if (strcmp(err, want) != 0)
		printf("\n    got  %s\n    want %s", err, want);
	CU_ASSERT_STRING_EQUAL(err, want);
	CU_ASSERT_STRING_EQUAL(out, "untouched");
}

static void
test_secret_files(void)
{
	char out[256], err[512], why[512];
	const char *p;

	p = file("ok", "0123456789abcdef-token\n", 0600);
	CU_ASSERT_EQUAL(
		sl_priv_read_secret(p, out, sizeof(out), err, sizeof(err)), 0);
	CU_ASSERT_STRING_EQUAL(out, "0123456789abcdef-token");
	p = file("crlf", "0123456789abcdef-token\r\n", 0400);
	CU_ASSERT_EQUAL(
		sl_priv_read_secret(p, out, sizeof(out), err, sizeof(err)), 0);
	CU_ASSERT_STRING_EQUAL(out, "0123456789abcdef-token");

	p = file("group", "0123456789abcdef-token\n", 0640);
	snprintf(why, sizeof(why),
		 "mode 0640 lets group or others read or change the token; "
		 "chmod 600 %s",
		 p);
	expect_secret_refused(p, why);
	p = file("world", "0123456789abcdef-token\n", 0604);
	snprintf(why, sizeof(why),
		 "mode 0604 lets group or others read or change the token; "
		 "chmod 600 %s",
		 p);
	expect_secret_refused(p, why);
	p = file("gw", "0123456789abcdef-token\n", 0620);
	snprintf(why, sizeof(why),
		 "mode 0620 lets group or others read or change the token; "
		 "chmod 600 %s",
		 p);
	expect_secret_refused(p, why);
	expect_secret_refused(file("short", "short\n", 0600),
			      "token 5 bytes: at least 16 (e.g. head -c 24 "
			      "/dev/urandom | base64)");
	expect_secret_refused(file("two", "0123456789abcdef\nsecond\n", 0600),
			      "token holds a line break");
	expect_secret_refused(g_dir, "not a regular file");
	if (geteuid() == 0) {
		p = file("theirs", "0123456789abcdef-token\n", 0600);
		CU_ASSERT_EQUAL(chown(p, 65534, 65534), 0);
		expect_secret_refused(p, "owned by uid 65534; it must belong "
					 "to root or to uid 0");
	}
	/* The environment's token, by the same rules. */
	CU_ASSERT_EQUAL(
		sl_priv_check_secret("0123456789abcdef", 256, err, sizeof(err)),
		0);
	CU_ASSERT_EQUAL(sl_priv_check_secret("tiny", 256, err, sizeof(err)),
			-EINVAL);
	CU_ASSERT_STRING_EQUAL(err, "4 bytes: at least 16 (e.g. head -c 24 "
				    "/dev/urandom | base64)");
}

static void
test_user_lookup(void)
{
	struct sl_priv_user u;
	char err[256];

	if (geteuid() != 0) {
		CU_ASSERT_EQUAL(
			sl_priv_resolve_user("nobody", &u, err, sizeof(err)),
			0);
		CU_ASSERT_FALSE(u.drop);
		return;
	}
	CU_ASSERT_EQUAL(sl_priv_resolve_user("nobody", &u, err, sizeof(err)),
			0);
	CU_ASSERT_TRUE(u.drop);
	CU_ASSERT_EQUAL(u.uid, 65534);
	CU_ASSERT(u.n_groups >= 1);
	CU_ASSERT_EQUAL(sl_priv_resolve_user("root", &u, err, sizeof(err)), 0);
	CU_ASSERT_FALSE(u.drop);
	CU_ASSERT_EQUAL(
		sl_priv_resolve_user("no-such-user-x", &u, err, sizeof(err)),
		-ENOENT);
	CU_ASSERT_STRING_EQUAL(err, "--user no-such-user-x: no such user "
				    "(create one, e.g. useradd --system "
				    "--no-create-home sluice)");
}

static void
test_user_can(void)
{
	struct sl_priv_user u;
	char err[256], mine[128], open_dir[128];

	if (geteuid() != 0) {
		printf("\n    (not root: nothing to drop) ");
		return;
	}
	CU_ASSERT_EQUAL_FATAL(
		sl_priv_resolve_user("nobody", &u, err, sizeof(err)), 0);
	snprintf(mine, sizeof(mine), "%s/root-only", g_dir);
	snprintf(open_dir, sizeof(open_dir), "%s/nobodys", g_dir);
	mkdir(mine, 0755);
	mkdir(open_dir, 0755);
	CU_ASSERT_EQUAL(chown(open_dir, 65534, 65534), 0);
	chmod(g_dir, 0755);
	CU_ASSERT_EQUAL(sl_priv_user_can(&u, mine, W_OK | X_OK), -EACCES);
	CU_ASSERT_EQUAL(sl_priv_user_can(&u, open_dir, W_OK | X_OK), 0);
	CU_ASSERT_EQUAL(sl_priv_user_can(&u, mine, R_OK | X_OK), 0);
	/* Root itself may write anywhere: the answer is the user's. */
	CU_ASSERT_EQUAL(access(mine, W_OK), 0);
}

/* A thread that waits, so the drop must reach it. */
static void *
idle_thread(void *arg)
{
	volatile int *stop = arg;

	while (!*stop)
		usleep(1000);
	return NULL;
}

/* The "Field:\t..." line of /proc/self/task/TID/status, the value only. */
static void
status_field(const char *status_path, const char *field, char *out, size_t len)
{
	char line[256];
	FILE *f = fopen(status_path, "r");
	size_t n = strlen(field);

	out[0] = '\0';
	if (f == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, field, n) == 0 && line[n] == ':') {
			const char *v = line + n + 1;

			while (*v == '\t' || *v == ' ')
				v++;
			snprintf(out, len, "%s", v);
			out[strcspn(out, "\n")] = '\0';
			break;
		}
	fclose(f);
}

/* In a child: threads, the drop, then every thread's status checked.
 * Exit 0 when all is as it must be, else a code naming the fault. */
static int
drop_in_child(const int *keep, int n_keep, const char *want_capeff_main)
{
	pid_t pid = fork();
	int status;

	if (pid == 0) {
		struct sl_priv_user u;
		volatile int stop = 0;
		pthread_t th[3];
		char err[256], msg[512], path[300], v[128];
		struct dirent *de;
		DIR *d;
		int threads = 0, rc = 0;

		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
			_exit(20);
		for (int i = 0; i < 3; i++)
			pthread_create(&th[i], NULL, idle_thread,
				       (void *)&stop);
		if (sl_priv_resolve_user("nobody", &u, err, sizeof(err)) != 0)
			_exit(21);
		if (sl_priv_drop(&u, keep, n_keep, msg, sizeof(msg)) != 0) {
			fprintf(stderr, "drop: %s\n", msg);
			_exit(22);
		}
		if (strncmp(msg, "dropped root: uid 65534 (nobody) gid 65534,",
			    strlen("dropped root: uid 65534 (nobody) gid "
				   "65534,")) != 0)
			_exit(23);
		if (setuid(0) == 0 || seteuid(0) == 0 || getuid() != 65534)
			_exit(24);
		d = opendir("/proc/self/task");
		while (d != NULL && (de = readdir(d)) != NULL) {
			bool main_thread;

			if (de->d_name[0] == '.')
				continue;
			threads++;
			main_thread = atoi(de->d_name) == getpid();
			snprintf(path, sizeof(path),
				 "/proc/self/task/%s/status", de->d_name);
			status_field(path, "Uid", v, sizeof(v));
			if (strcmp(v, "65534\t65534\t65534\t65534") != 0)
				rc = 25;
			status_field(path, "Gid", v, sizeof(v));
			if (strcmp(v, "65534\t65534\t65534\t65534") != 0)
				rc = 26;
			status_field(path, "CapEff", v, sizeof(v));
			if (strcmp(v, main_thread ? want_capeff_main
						  : "0000000000000000") != 0)
				rc = 27;
			status_field(path, "CapPrm", v, sizeof(v));
			if (strcmp(v, main_thread ? want_capeff_main
						  : "0000000000000000") != 0)
				rc = 28;
			status_field(path, "NoNewPrivs", v, sizeof(v));
			if (strcmp(v, "1") != 0)
				rc = 29;
		}
		if (d != NULL)
			closedir(d);
		if (threads != 4)
			rc = 30;
		stop = 1;
		for (int i = 0; i < 3; i++)
			pthread_join(th[i], NULL);
		_exit(rc);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

static void
test_drop(void)
{
	static const int net_admin[] = {CAP_NET_ADMIN};
	struct sl_priv_user u;
	char err[256], msg[512];

	if (geteuid() != 0) {
		/* Nothing to drop: said so, nothing changed. */
		CU_ASSERT_EQUAL(
			sl_priv_resolve_user("nobody", &u, err, sizeof(err)),
			0);
		CU_ASSERT_EQUAL(sl_priv_drop(&u, NULL, 0, msg, sizeof(msg)), 0);
		CU_ASSERT_STRING_EQUAL(msg,
				       "not dropping: not started as root");
		return;
	}
	CU_ASSERT_EQUAL(drop_in_child(NULL, 0, "0000000000000000"), 0);
	/* CAP_NET_ADMIN is bit 12; kept by the calling thread alone. */
	CU_ASSERT_EQUAL(drop_in_child(net_admin, 1, "0000000000001000"), 0);
	/* --user root: no drop, and the line says so. */
	CU_ASSERT_EQUAL(sl_priv_resolve_user("root", &u, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(sl_priv_drop(&u, NULL, 0, msg, sizeof(msg)), 0);
	CU_ASSERT_STRING_EQUAL(msg, "not dropping: --user is root");
	CU_ASSERT_EQUAL(geteuid(), 0);
}

static int
setup(void)
{
	snprintf(g_dir, sizeof(g_dir), "/tmp/sl_priv.XXXXXX");
	return mkdtemp(g_dir) == NULL ? -1 : 0;
}

static int
teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", g_dir);
	return system(cmd) == 0 ? 0 : -1;
}

int
main(void)
{
	static const struct {
		const char *name;
		void (*fn)(void);
	} tests[] = {
		{"token files", test_secret_files},
		{"the run user", test_user_lookup},
		{"what the run user may write", test_user_can},
		{"the drop, every thread", test_drop},
	};
	CU_pSuite suite;
	unsigned int failed;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	suite = CU_add_suite("priv", setup, teardown);
	for (size_t i = 0; suite && i < sizeof(tests) / sizeof(tests[0]); i++)
		CU_add_test(suite, tests[i].name, tests[i].fn);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
	CU_cleanup_registry();
	return failed ? 1 : 0;
}
