/* SPDX-License-Identifier: MIT */
/*
 * test_confine.c - files a config names (control/sl_confine.h), through
 * openat2 and through the O_NOFOLLOW walk alike, and through the compiler
 * (`literals_file:`), where a refusal names the field:
 *
 *   test_confine
 *
 * Read: relative and absolute names inside the config directory, CRLF
 * and blank lines. Refused, each with its reason: absolute names outside
 * (/etc/shadow), `..`, a link to a file or through a linked directory (to
 * /etc or /dev/zero), a FIFO (without blocking), a directory, a character
 * device, files over the limit, NUL bytes. A stubbed reader replaces file
 * access altogether.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include <CUnit/Basic.h>

#include "sl_config.h"
#include "sl_confine.h"

static char g_dir[64];
static char g_outside[64];

/* Suite set-up: no assertions yet, just a count of what failed. */
static int g_setup_failed;

static void
put(const char *dir, const char *name, const char *text)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	if (f == NULL) {
		g_setup_failed++;
		return;
	}
	fputs(text, f);
	fclose(f);
}

static uint64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* @name read through @flags: 0 and the text, or the refusal. */
static int
rd(unsigned int flags, const char *name, char **text, char *why)
{
	struct sl_confine c = {.dir = g_dir, .max_bytes = 4096, .flags = flags};
	size_t len;
	int rc;

	*text = NULL;
	why[0] = '\0';
	rc = sl_confine_read(&c, name, text, &len, why, 256);
	if (rc == 0)
		CU_ASSERT_EQUAL(len, strlen(*text));
	return rc;
}

static void
expect_refused(const char *name, int want_rc, const char *want_why)
{
	static const unsigned int modes[] = {0, SL_CONFINE_NO_OPENAT2};

	for (int m = 0; m < 2; m++) {
		char why[256], *text;
		uint64_t t0 = mono_ms();
		int rc = rd(modes[m], name, &text, why);

		if (rc != want_rc || strcmp(why, want_why) != 0)
			printf("\n    %s (%s): rc %d why \"%s\", want %d "
			       "\"%s\"",
			       name, m ? "walk" : "openat2", rc, why, want_rc,
			       want_why);
		CU_ASSERT_EQUAL(rc, want_rc);
		CU_ASSERT_STRING_EQUAL(why, want_why);
		CU_ASSERT_PTR_NULL(text);
		CU_ASSERT(mono_ms() - t0 < 1000); /* nothing blocks */
		free(text);
	}
}

static void
test_reads_inside(void)
{
	static const unsigned int modes[] = {0, SL_CONFINE_NO_OPENAT2};
	char abs[128], why[256], *text;

	snprintf(abs, sizeof(abs), "%s/lists/authors.txt", g_dir);
	for (int m = 0; m < 2; m++) {
		CU_ASSERT_EQUAL(rd(modes[m], "lists/authors.txt", &text, why),
				0);
		CU_ASSERT_STRING_EQUAL(text,
				       "Hsiao Yun-Hwa\r\n\nBasil Mahfouz\n");
		free(text);
		CU_ASSERT_EQUAL(
			rd(modes[m], "./lists//authors.txt", &text, why), 0);
		free(text);
		CU_ASSERT_EQUAL(rd(modes[m], abs, &text, why), 0);
		CU_ASSERT_STRING_EQUAL(text,
				       "Hsiao Yun-Hwa\r\n\nBasil Mahfouz\n");
		free(text);
		CU_ASSERT_EQUAL(rd(modes[m], "top.txt", &text, why), 0);
		free(text);
	}
}

static void
test_refused(void)
{
	char want[256], name[200];

	snprintf(want, sizeof(want), "outside the config directory %s", g_dir);
	expect_refused("/etc/shadow", -EXDEV, want);
	expect_refused("/dev/zero", -EXDEV, want);
	/* A prefix of the directory's name is not the directory. */
	snprintf(name, sizeof(name), "%sx/top.txt", g_dir);
	expect_refused(name, -EXDEV, want);
	snprintf(want, sizeof(want),
		 "must not contain \"..\" (files are read from beneath the "
		 "config directory %s)",
		 g_dir);
	expect_refused("../x", -EINVAL, want);
	expect_refused("lists/../top.txt", -EINVAL, want);
	expect_refused("lists/..", -EINVAL, want);
	snprintf(name, sizeof(name), "%s/../%s/secret.txt", g_dir,
		 g_outside + 5);
	expect_refused(name, -EINVAL, want);
	expect_refused("", -EINVAL, "empty path");
	/* Links: to a file outside, to /dev/zero, through a directory. */
	expect_refused("shadow-link", -ELOOP,
		       "is or goes through a symbolic link (not followed)");
	expect_refused("zero", -ELOOP,
		       "is or goes through a symbolic link (not followed)");
	expect_refused("inside-link", -ELOOP,
		       "is or goes through a symbolic link (not followed)");
	expect_refused("etc/passwd", -ELOOP,
		       "is or goes through a symbolic link (not followed)");
	expect_refused("outdir/secret.txt", -ELOOP,
		       "is or goes through a symbolic link (not followed)");
	/* Not regular files; a FIFO must not block (no writer ever comes). */
	expect_refused("fifo", -EPERM, "not a regular file");
	expect_refused("lists", -EPERM, "not a regular file");
	if (geteuid() == 0)
		expect_refused("null", -EPERM, "not a regular file");
	expect_refused("big.txt", -EFBIG, "larger than 4096 bytes (4097)");
	expect_refused("nul.txt", -EINVAL, "contains a NUL byte");
	expect_refused("missing.txt", -ENOENT, "No such file or directory");
}

/* The compiler names the field and the value; nothing is read. */
static const char *yaml_head =
	"sluiced: {address: 10.77.0.1}\n"
	"guards:\n"
	"  - name: authors\n"
	"    literals_file: %s\n"
	"pipelines:\n"
	"  - name: p\n"
	"    id: 1\n"
	"    stages:\n"
	"      - {name: a, instances: [10.77.0.11:7801]}\n"
	"    edges:\n"
	"      - {from: client, to: a}\n"
	"      - {from: a, to: client, guard: authors}\n";

static struct sl_config *
compile(const char *file, const struct sl_confine *c, char *err)
{
	char yaml[1024];

	snprintf(yaml, sizeof(yaml), yaml_head, file);
	return sl_config_parse_in(yaml, strlen(yaml), "t.yaml", c, err, 512);
}

static unsigned int stub_calls;

static int
stub_read(const struct sl_confine *c, const char *name, char **data,
	  size_t *len, char *why, size_t whylen)
{
	(void)c;
	(void)why;
	(void)whylen;
	stub_calls++;
	if (strcmp(name, "stubbed") != 0)
		return -ENOENT;
	*data = strdup("from the stub\n");
	*len = strlen(*data);
	return 0;
}

static void
test_config_field(void)
{
	struct sl_confine c = {.dir = g_dir};
	struct sl_confine stub = {.read = stub_read};
	struct sl_config *cfg;
	char err[512], want[512];

	cfg = compile("lists/authors.txt", &c, err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
	CU_ASSERT_EQUAL(cfg->guards[0].n_rules, 2);
	CU_ASSERT_STRING_EQUAL(cfg->guards[0].ref->patterns[0],
			       "Hsiao Yun-Hwa");
	CU_ASSERT_STRING_EQUAL(cfg->guards[0].ref->patterns[1],
			       "Basil Mahfouz");
	sl_config_free(cfg);

	CU_ASSERT_PTR_NULL(compile("/etc/shadow", &c, err));
	snprintf(want, sizeof(want),
		 "t.yaml:4: guards[0].literals_file: \"/etc/shadow\": outside "
		 "the config directory %s",
		 g_dir);
	CU_ASSERT_STRING_EQUAL(err, want);
	CU_ASSERT_PTR_NULL(compile("zero", &c, err));
	CU_ASSERT_STRING_EQUAL(
		err, "t.yaml:4: guards[0].literals_file: \"zero\": is "
		     "or goes through a symbolic link (not followed)");
	CU_ASSERT_PTR_NULL(compile("fifo", &c, err));
	CU_ASSERT_STRING_EQUAL(err, "t.yaml:4: guards[0].literals_file: "
				    "\"fifo\": not a regular file");
	CU_ASSERT_PTR_NULL(compile("long.txt", &c, err));
	CU_ASSERT_STRING_EQUAL(err, "t.yaml:4: guards[0].literals_file: "
				    "\"long.txt\": line 2: at most 511 bytes, "
				    "got 600");
	/* The default is the working directory: not /etc. */
	CU_ASSERT_PTR_NULL(compile("/etc/passwd", NULL, err));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "outside the config directory"));
	/* File access replaced: the fuzzer's way. */
	cfg = compile("stubbed", &stub, err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
	CU_ASSERT_STRING_EQUAL(cfg->guards[0].ref->patterns[0],
			       "from the stub");
	sl_config_free(cfg);
	CU_ASSERT_EQUAL(stub_calls, 1);
}

static int
setup(void)
{
	char path[256], big[4098], longl[700];
	FILE *f;

	snprintf(g_dir, sizeof(g_dir), "/tmp/sl_confine.XXXXXX");
	snprintf(g_outside, sizeof(g_outside), "/tmp/sl_outside.XXXXXX");
	if (mkdtemp(g_dir) == NULL || mkdtemp(g_outside) == NULL)
		return -1;
	snprintf(path, sizeof(path), "%s/lists", g_dir);
	mkdir(path, 0755);
	put(g_dir, "lists/authors.txt", "Hsiao Yun-Hwa\r\n\nBasil Mahfouz\n");
	put(g_dir, "top.txt", "x\n");
	put(g_outside, "secret.txt", "secret\n");
	memset(big, 'b', 4097);
	big[4097] = '\0';
	put(g_dir, "big.txt", big);
	memset(longl, 'l', 600);
	longl[600] = '\0';
	snprintf(path, sizeof(path), "%s/long.txt", g_dir);
	f = fopen(path, "w");
	if (f == NULL)
		return -1;
	fprintf(f, "short\n%s\n", longl);
	fclose(f);
	snprintf(path, sizeof(path), "%s/nul.txt", g_dir);
	f = fopen(path, "w");
	if (f == NULL)
		return -1;
	fwrite("a\0b\n", 1, 4, f);
	fclose(f);
	snprintf(path, sizeof(path), "%s/shadow-link", g_dir);
	if (symlink("/etc/shadow", path) != 0)
		return -1;
	snprintf(path, sizeof(path), "%s/zero", g_dir);
	if (symlink("/dev/zero", path) != 0)
		return -1;
	snprintf(path, sizeof(path), "%s/inside-link", g_dir);
	if (symlink("top.txt", path) != 0)
		return -1;
	snprintf(path, sizeof(path), "%s/etc", g_dir);
	if (symlink("/etc", path) != 0)
		return -1;
	snprintf(path, sizeof(path), "%s/outdir", g_dir);
	if (symlink(g_outside, path) != 0)
		return -1;
	snprintf(path, sizeof(path), "%s/fifo", g_dir);
	if (mkfifo(path, 0600) != 0)
		return -1;
	snprintf(path, sizeof(path), "%s/null", g_dir);
	if (geteuid() == 0 && mknod(path, S_IFCHR | 0666, makedev(1, 3)) != 0)
		return -1;
	return g_setup_failed ? -1 : 0;
}

static int
teardown(void)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "rm -rf %s %s", g_dir, g_outside);
	return system(cmd) == 0 ? 0 : -1;
}

int
main(void)
{
	static const struct {
		const char *name;
		void (*fn)(void);
	} tests[] = {
		{"reads inside the config directory", test_reads_inside},
		{"refusals", test_refused},
		{"literals_file in a config", test_config_field},
	};
	CU_pSuite suite;
	unsigned int failed;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	suite = CU_add_suite("confine", setup, teardown);
	for (size_t i = 0; suite && i < sizeof(tests) / sizeof(tests[0]); i++)
		CU_add_test(suite, tests[i].name, tests[i].fn);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
	CU_cleanup_registry();
	return failed ? 1 : 0;
}
