/* SPDX-License-Identifier: MIT */
/*
 * sl_text.c - a growable byte string (sluice.h): the text an emulated LM
 * is about to emit, a request body, an answer being gathered; and a file
 * replaced whole (the tools' stats files).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sluice.h"

int
sl_text_append(struct sl_text *t, const char *s, size_t n)
{
	if (n == 0)
		return 0; /* t->buf may still be NULL */
	if (t->len + n > t->cap) {
		size_t cap = t->cap ? t->cap : 256;
		char *grown;

		while (cap < t->len + n)
			cap *= 2;
		grown = realloc(t->buf, cap);
		if (grown == NULL)
			return -ENOMEM;
		t->buf = grown;
		t->cap = cap;
	}
	memcpy(t->buf + t->len, s, n);
	t->len += n;
	return 0;
}

void
sl_text_free(struct sl_text *t)
{
	free(t->buf);
	t->buf = NULL;
	t->len = 0;
	t->cap = 0;
}

int
sl_file_replace(const char *path, const char *buf, size_t len)
{
	char tmp[4096];
	FILE *f;
	int n, err = 0;

	n = snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if (n < 0 || (size_t)n >= sizeof(tmp))
		return -ENAMETOOLONG;
	f = fopen(tmp, "w");
	if (f == NULL)
		return -errno;
	if (fwrite(buf, 1, len, f) != len)
		err = errno ? errno : EIO;
	if (fclose(f) != 0 && err == 0)
		err = errno;
	if (err == 0 && rename(tmp, path) < 0)
		err = errno;
	if (err != 0)
		unlink(tmp);
	return -err;
}
