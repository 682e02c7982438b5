/* SPDX-License-Identifier: MIT */
/*
 * sl_corpus.c - split real text into GPT-like tokens.
 *
 * A token is leading whitespace plus one word or one punctuation run,
 * so concatenating the tokens gives back the text byte for byte: the
 * client can rebuild and check what crossed the dataplane. Non-ASCII
 * characters count as word characters (we carry no Unicode tables);
 * what matters is that a multi-byte character is never cut.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sluice.h"

enum sl_char_class {
	SL_CHAR_SPACE,
	SL_CHAR_WORD,
	SL_CHAR_PUNCT,
};

static enum sl_char_class
sl_char_class(unsigned char c)
{
	if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' ||
	    c == '\f')
		return SL_CHAR_SPACE;
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '_' || c >= 0x80)
		return SL_CHAR_WORD;
	return SL_CHAR_PUNCT;
}

/* Bytes of the UTF-8 character led by @c (1 for ASCII). */
static size_t
sl_utf8_char_len(unsigned char c)
{
	if (c < 0x80)
		return 1;
	if (c >= 0xf0)
		return 4;
	if (c >= 0xe0)
		return 3;
	return 2;
}

uint32_t
sl_token_hash(const char *text, size_t len)
{
	uint32_t h = 2166136261u;
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= (unsigned char)text[i];
		h *= 16777619u;
	}
	return h & 0x7fffffffu;
}

size_t
sl_tokenize_next(const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0, max = len < SL_TOKEN_TEXT_MAX ? len : SL_TOKEN_TEXT_MAX;
	enum sl_char_class cls;

	while (i < max && sl_char_class(u[i]) == SL_CHAR_SPACE)
		i++;
	if (i == max)
		return i;
	cls = sl_char_class(u[i]);
	while (i < max && sl_char_class(u[i]) == cls) {
		size_t n = sl_utf8_char_len(u[i]);

		/* A character that would cross the cap waits for the next
		 * token, unless the token would otherwise be empty of text. */
		if (i + n > max) {
			if (i > 0)
				break;
			n = len < n ? len : n;
		}
		i += n;
	}
	return i;
}

struct sl_corpus *
sl_corpus_from_text(const char *text, size_t len)
{
	struct sl_corpus *c;
	size_t pos, cap;

	if (len == 0 || len > UINT32_MAX) {
		errno = EINVAL;
		return NULL;
	}
	if (!sl_utf8_valid((const uint8_t *)text, len)) {
		errno = EILSEQ;
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return NULL;
	c->text = malloc(len + 1);
	/* A token holds at least one byte: len bounds the count. Real text
	 * averages ~5 bytes a token; start there and grow. */
	cap = len / 4 + 16;
	c->tokens = malloc(cap * sizeof(c->tokens[0]));
	if (c->text == NULL || c->tokens == NULL)
		goto nomem;
	memcpy(c->text, text, len);
	c->text[len] = '\0';
	c->len = len;

	for (pos = 0; pos < len;) {
		size_t n = sl_tokenize_next(c->text + pos, len - pos);
		struct sl_corpus_token *t;

		if (c->n_tokens == cap) {
			struct sl_corpus_token *grown;

			cap *= 2;
			grown = realloc(c->tokens, cap * sizeof(c->tokens[0]));
			if (grown == NULL)
				goto nomem;
			c->tokens = grown;
		}
		t = &c->tokens[c->n_tokens++];
		t->off = (uint32_t)pos;
		t->len = (uint16_t)n;
		t->id = sl_token_hash(c->text + pos, n);
		pos += n;
	}
	return c;

nomem:
	sl_corpus_free(c);
	errno = ENOMEM;
	return NULL;
}

struct sl_corpus *
sl_corpus_load(const char *path)
{
	struct sl_corpus *c = NULL;
	struct stat st;
	char *text = NULL;
	size_t got = 0;
	int fd, err;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) < 0)
		goto out;
	if (st.st_size <= 0 || (uint64_t)st.st_size > UINT32_MAX) {
		errno = EINVAL;
		goto out;
	}
	text = malloc((size_t)st.st_size);
	if (text == NULL)
		goto out;
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, text + got, (size_t)st.st_size - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO;
			goto out;
		}
		got += (size_t)n;
	}
	c = sl_corpus_from_text(text, got);
out:
	err = errno;
	free(text);
	close(fd);
	errno = err;
	return c;
}

void
sl_corpus_free(struct sl_corpus *c)
{
	if (c == NULL)
		return;
	free(c->text);
	free(c->tokens);
	free(c);
}
