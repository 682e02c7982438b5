/* SPDX-License-Identifier: MIT */
/*
 * test_transform.c - echo/upper/rot13 on ASCII and multi-byte text, name
 * lookup, and whole-fragment answers built by sl_transform_frag.
 */
#include <CUnit/Basic.h>
#include <errno.h>
#include <string.h>

#include "sluice.h"

/* "Zoë’s café — 日本語 naïve" plus ASCII around it. */
static const char mixed[] =
	"Zo\xc3\xab\xe2\x80\x99s caf\xc3\xa9 \xe2\x80\x94 "
	"\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e na\xc3\xafve!";

static void
apply(enum sl_transform t, const char *in, char *out)
{
	sl_transform_text(t, out, in, strlen(in));
	out[strlen(in)] = '\0';
}

static void
test_names(void)
{
	enum sl_transform t = SL_TRANSFORM_MAX;

	CU_ASSERT_EQUAL(sl_transform_by_name("echo", &t), 0);
	CU_ASSERT_EQUAL(t, SL_TRANSFORM_ECHO);
	CU_ASSERT_EQUAL(sl_transform_by_name("upper", &t), 0);
	CU_ASSERT_EQUAL(t, SL_TRANSFORM_UPPER);
	CU_ASSERT_EQUAL(sl_transform_by_name("rot13", &t), 0);
	CU_ASSERT_EQUAL(t, SL_TRANSFORM_ROT13);
	CU_ASSERT_EQUAL(sl_transform_by_name("lower", &t), -EINVAL);
	CU_ASSERT_EQUAL(sl_transform_by_name("", &t), -EINVAL);
	CU_ASSERT_EQUAL(sl_transform_by_name("UPPER", &t), -EINVAL);
	CU_ASSERT_EQUAL(t, SL_TRANSFORM_ROT13); /* untouched on error */
	CU_ASSERT_STRING_EQUAL(sl_transform_name(SL_TRANSFORM_UPPER), "upper");
	CU_ASSERT_STRING_EQUAL(sl_transform_name(SL_TRANSFORM_MAX), "?");
}

static void
test_ascii(void)
{
	char out[128];

	apply(SL_TRANSFORM_ECHO, "Hello, World! 123 az_AZ", out);
	CU_ASSERT_STRING_EQUAL(out, "Hello, World! 123 az_AZ");
	apply(SL_TRANSFORM_UPPER, "Hello, World! 123 az_AZ{}`@[", out);
	CU_ASSERT_STRING_EQUAL(out, "HELLO, WORLD! 123 AZ_AZ{}`@[");
	apply(SL_TRANSFORM_ROT13, "Hello, World! 123 az_AZ mnMN{}`@[", out);
	CU_ASSERT_STRING_EQUAL(out, "Uryyb, Jbeyq! 123 nm_NM zaZA{}`@[");
}

static void
test_multibyte(void)
{
	static const enum sl_transform ts[] = {
		SL_TRANSFORM_ECHO, SL_TRANSFORM_UPPER, SL_TRANSFORM_ROT13};
	char out[sizeof(mixed)], twice[sizeof(mixed)];
	size_t len = strlen(mixed), i, k;

	for (k = 0; k < 3; k++) {
		apply(ts[k], mixed, out);
		CU_ASSERT(sl_utf8_valid((const uint8_t *)out, len));
		for (i = 0; i < len; i++) {
			unsigned char c = (unsigned char)mixed[i];

			/* Bytes outside ASCII are never touched. */
			if (c >= 0x80)
				CU_ASSERT_EQUAL(out[i], mixed[i]);
		}
	}
	apply(SL_TRANSFORM_UPPER, mixed, out);
	CU_ASSERT_STRING_EQUAL(
		out, "ZO\xc3\xab\xe2\x80\x99S CAF\xc3\xa9 \xe2\x80\x94 "
		     "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e NA\xc3\xafVE!");
	apply(SL_TRANSFORM_ROT13, mixed, out);
	CU_ASSERT_STRING_EQUAL(
		out, "Mb\xc3\xab\xe2\x80\x99"
		     "f pns\xc3\xa9 \xe2\x80\x94 "
		     "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e an\xc3\xafir!");
	apply(SL_TRANSFORM_ROT13, out, twice);
	CU_ASSERT_STRING_EQUAL(twice, mixed);

	/* In place works too. */
	memcpy(out, mixed, sizeof(mixed));
	sl_transform_text(SL_TRANSFORM_UPPER, out, out, len);
	CU_ASSERT_EQUAL(memcmp(out, "ZO\xc3\xab", 4), 0);
}

static void
test_token_id(void)
{
	CU_ASSERT_EQUAL(sl_transform_token_id(SL_TRANSFORM_ECHO, 42, "ab", 2),
			42);
	CU_ASSERT_EQUAL(sl_transform_token_id(SL_TRANSFORM_UPPER, 42, "AB", 2),
			sl_token_hash("AB", 2));
	CU_ASSERT_EQUAL(sl_transform_token_id(SL_TRANSFORM_ROT13, 42, "no", 2),
			sl_token_hash("no", 2));
}

static void
test_frag(void)
{
	static const char *const words[] = {"The", " caf\xc3\xa9", " is",
					    " open", "."};
	uint8_t in_buf[SL_DGRAM_MAX], out_buf[SL_DGRAM_MAX];
	struct sl_stream_tx tx;
	struct sl_frag_view in, out;
	struct sl_frag_hdr oh;
	struct sl_dgram d;
	struct sl_token_iter it;
	struct sl_token tok;
	uint64_t anc[2] = {7, 9};
	size_t len, i;
	int olen;

	CU_ASSERT_FATAL(sl_stream_tx_init(&tx, 3, 1, 5, 2, anc) == 0);
	CU_ASSERT_FATAL(sl_stream_tx_begin(&tx, in_buf, sizeof(in_buf)) == 0);
	for (i = 0; i < 5; i++)
		CU_ASSERT(sl_stream_tx_add(
				  &tx,
				  sl_token_hash(words[i], strlen(words[i])),
				  words[i], strlen(words[i])) == 0);
	len = sl_stream_tx_finish(&tx, SL_FRAG_F_END, 0, 1234);
	d.buf = in_buf;
	d.cap = sizeof(in_buf);
	d.len = (uint16_t)len;
	memset(&d.addr, 0, sizeof(d.addr));
	CU_ASSERT_FATAL(sl_frag_view_parse(&in, &d) == SL_WIRE_OK);
	CU_ASSERT_EQUAL(in.hdr.send_ns, 1234);
	CU_ASSERT_EQUAL(in.hdr.token_count, 5);
	CU_ASSERT_EQUAL(tx.next_seq, 1);

	oh = in.hdr;
	oh.seq = 17;
	olen = sl_transform_frag(SL_TRANSFORM_UPPER, &in, &oh, out_buf,
				 sizeof(out_buf));
	CU_ASSERT_EQUAL_FATAL(olen, (int)len);
	d.buf = out_buf;
	d.len = (uint16_t)olen;
	CU_ASSERT_FATAL(sl_frag_view_parse(&out, &d) == SL_WIRE_OK);
	CU_ASSERT_EQUAL(out.hdr.seq, 17);
	CU_ASSERT_EQUAL(out.hdr.flags, SL_FRAG_F_END);
	CU_ASSERT_EQUAL(out.hdr.pipeline, 3);
	CU_ASSERT_EQUAL(out.hdr.stage, 1);
	CU_ASSERT_EQUAL(out.hdr.tenant, 5);
	CU_ASSERT_EQUAL(out.hdr.depth, 2);
	CU_ASSERT_EQUAL(out.hdr.ancestry[1], 9);
	CU_ASSERT_EQUAL(out.hdr.send_ns, 1234);
	sl_frag_view_tokens(&out, &it);
	for (i = 0; sl_token_next(&it, &tok); i++) {
		char want[16];

		CU_ASSERT_FATAL(i < 5);
		sl_transform_text(SL_TRANSFORM_UPPER, want, words[i],
				  strlen(words[i]));
		CU_ASSERT_EQUAL(tok.len, strlen(words[i]));
		CU_ASSERT_EQUAL(memcmp(tok.text, want, tok.len), 0);
		CU_ASSERT_EQUAL(tok.id, sl_token_hash(want, tok.len));
	}
	CU_ASSERT_EQUAL(i, 5);

	/* Too small a buffer is an error, not a truncated fragment. */
	CU_ASSERT_EQUAL(sl_transform_frag(SL_TRANSFORM_ECHO, &in, &oh, out_buf,
					  len - 1),
			-ENOSPC);
}

int
main(void)
{
	CU_pSuite s;
	unsigned int fails;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	s = CU_add_suite("transform", NULL, NULL);
	CU_add_test(s, "names", test_names);
	CU_add_test(s, "ascii", test_ascii);
	CU_add_test(s, "multi-byte untouched", test_multibyte);
	CU_add_test(s, "token ids", test_token_id);
	CU_add_test(s, "fragment answer", test_frag);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	fails = CU_get_number_of_failures();
	CU_cleanup_registry();
	return fails ? 1 : 0;
}
