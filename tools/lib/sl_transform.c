/* SPDX-License-Identifier: MIT */
/*
 * sl_transform.c - the token transforms of the engine emulator.
 *
 * They stand in for a model: deterministic, cheap, and checkable byte for
 * byte by the client. Only ASCII letters change, so the byte length is
 * kept (an answer fragment is exactly as long as the question) and UTF-8
 * stays valid: every byte of a multi-byte sequence is >= 0x80.
 */
#include <errno.h>
#include <string.h>

#include "sluice.h"

static const char *const sl_transform_names[SL_TRANSFORM_MAX] = {
	[SL_TRANSFORM_ECHO] = "echo",
	[SL_TRANSFORM_UPPER] = "upper",
	[SL_TRANSFORM_ROT13] = "rot13",
};

int
sl_transform_by_name(const char *name, enum sl_transform *out)
{
	unsigned int i;

	for (i = 0; i < SL_TRANSFORM_MAX; i++) {
		if (name != NULL && strcmp(name, sl_transform_names[i]) == 0) {
			*out = (enum sl_transform)i;
			return 0;
		}
	}
	return -EINVAL;
}

const char *
sl_transform_name(enum sl_transform t)
{
	if ((unsigned int)t >= SL_TRANSFORM_MAX)
		return "?";
	return sl_transform_names[t];
}

void
sl_transform_text(enum sl_transform t, char *dst, const char *src, size_t len)
{
	size_t i;

	switch (t) {
	case SL_TRANSFORM_UPPER:
		for (i = 0; i < len; i++) {
			char c = src[i];

			dst[i] = (c >= 'a' && c <= 'z') ? (char)(c - 32) : c;
		}
		break;
	case SL_TRANSFORM_ROT13:
		for (i = 0; i < len; i++) {
			char c = src[i];

			if (c >= 'a' && c <= 'z')
				c = (char)('a' + (c - 'a' + 13) % 26);
			else if (c >= 'A' && c <= 'Z')
				c = (char)('A' + (c - 'A' + 13) % 26);
			dst[i] = c;
		}
		break;
	case SL_TRANSFORM_ECHO:
	default:
		if (dst != src)
			memmove(dst, src, len);
		break;
	}
}

uint32_t
sl_transform_token_id(enum sl_transform t, uint32_t id, const char *text,
		      size_t len)
{
	if (t == SL_TRANSFORM_ECHO)
		return id;
	return sl_token_hash(text, len);
}

int
sl_transform_frag(enum sl_transform t, const struct sl_frag_view *in,
		  const struct sl_frag_hdr *out_hdr, uint8_t *buf, size_t cap)
{
	struct sl_wire_builder b;
	struct sl_token_iter it;
	struct sl_token tok;
	int rc;

	rc = sl_wire_builder_init(&b, buf, cap, out_hdr);
	if (rc < 0)
		return rc;
	sl_frag_view_tokens(in, &it);
	while (sl_token_next(&it, &tok)) {
		/* Append the input text, then transform it where it lies:
		 * no bounce buffer, and length is preserved by design. */
		char *text = (char *)b.buf + b.len + SL_WIRE_TOKEN_HDR_LEN;
		uint8_t *idp = b.buf + b.len;
		uint32_t id;

		rc = sl_wire_builder_add(&b, tok.id, tok.text, tok.len);
		if (rc < 0)
			return rc;
		sl_transform_text(t, text, text, tok.len);
		id = sl_transform_token_id(t, tok.id, text, tok.len);
		idp[0] = (uint8_t)(id >> 24);
		idp[1] = (uint8_t)(id >> 16);
		idp[2] = (uint8_t)(id >> 8);
		idp[3] = (uint8_t)id;
	}
	return (int)sl_wire_builder_finish(&b);
}
