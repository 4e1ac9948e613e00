/* Signed node requests (base/sig.c): sign/verify round trip; any changed
 * byte of method, target, timestamp, nonce, body hash or signature is
 * refused; malformed headers; body hashes; claim codes (stable, their
 * definition) and the normalisation of typed codes. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>
#include "base/sig.h"
#include "base/util.h"

struct keys {
	uint8_t pub[SN_SIG_PUB], sec[SN_SIG_SEC];
};

static int verify(const char *method, const char *target, const sn_sig_headers *h)
{
	uint8_t pub[SN_SIG_PUB];
	int64_t ts = 0;
	return sn_sig_verify(method, target, h->key, h->ts, h->nonce, h->body, h->sig, pub, &ts);
}

/* Another hex digit in place of c. */
static char other_hex(char c)
{
	return c == '0' ? '1' : '0';
}

static void test_round_trip(void **s)
{
	struct keys k;
	sn_sig_headers h;
	uint8_t pub[SN_SIG_PUB];
	int64_t ts = 0;
	(void)s;
	assert_int_equal(sn_sig_keygen(k.pub, k.sec), 0);
	assert_int_equal(sn_sig_sign(k.sec, "POST", "/api/v1/node/heartbeat?a=1&b=%20", 1700000000123,
				     "{}", 2, &h), 0);
	assert_int_equal(strlen(h.key), 64);
	assert_int_equal(strlen(h.nonce), 32);
	assert_int_equal(strlen(h.sig), 128);
	assert_string_equal(h.ts, "1700000000123");
	char want[65];
	sn_sha256_hex("{}", 2, want);
	assert_string_equal(h.body, want);
	assert_int_equal(sn_sig_verify("POST", "/api/v1/node/heartbeat?a=1&b=%20", h.key, h.ts, h.nonce,
				       h.body, h.sig, pub, &ts), 0);
	assert_memory_equal(pub, k.pub, SN_SIG_PUB);
	assert_int_equal(ts, 1700000000123);
	/* Two signatures of one request differ by their nonces. */
	sn_sig_headers h2;
	assert_int_equal(sn_sig_sign(k.sec, "POST", "/x", 1, NULL, 0, &h2), 0);
	sn_sha256_hex("", 0, want);
	assert_string_equal(h2.body, want);
	sn_sig_headers h3;
	assert_int_equal(sn_sig_sign(k.sec, "POST", "/x", 1, NULL, 0, &h3), 0);
	assert_string_not_equal(h2.nonce, h3.nonce);
	assert_int_equal(verify("POST", "/x", &h2), 0);
	/* Upper-case hex decodes to the same key. */
	for (char *p = h2.key; *p; p++)
		if (*p >= 'a' && *p <= 'f')
			*p = (char)(*p - 32);
	assert_int_equal(verify("POST", "/x", &h2), 0);
}

static void test_tampering(void **s)
{
	struct keys k, other;
	sn_sig_headers h, t;
	const char *method = "POST", *target = "/api/v1/node/chunks/c_1/log?x=y";
	(void)s;
	assert_int_equal(sn_sig_keygen(k.pub, k.sec), 0);
	assert_int_equal(sn_sig_keygen(other.pub, other.sec), 0);
	assert_int_equal(sn_sig_sign(k.sec, method, target, 1234567890123, "body", 4, &h), 0);
	assert_int_equal(verify(method, target, &h), 0);

	char buf[128];
	for (size_t i = 0; i < strlen(method); i++) {
		snprintf(buf, sizeof buf, "%s", method);
		buf[i] = (char)(buf[i] + 1);
		assert_int_equal(verify(buf, target, &h), -EBADMSG);
	}
	for (size_t i = 0; i < strlen(target); i++) {
		snprintf(buf, sizeof buf, "%s", target);
		buf[i] = (char)(buf[i] ^ 1);
		assert_int_equal(verify(method, buf, &h), -EBADMSG);
	}
	assert_int_equal(verify(method, "/api/v1/node/chunks/c_1/log", &h), -EBADMSG);
	assert_int_equal(verify("post", target, &h), -EBADMSG);
	char *fields[] = { t.ts, t.nonce, t.body, t.sig };
	for (size_t f = 0; f < 4; f++) {
		size_t n = strlen(((char *[]){ h.ts, h.nonce, h.body, h.sig })[f]);
		for (size_t i = 0; i < n; i++) {
			t = h;
			fields[f][i] = f == 0 ? (fields[f][i] == '9' ? '8' : (char)(fields[f][i] + 1))
					      : other_hex(fields[f][i]);
			assert_int_equal(verify(method, target, &t), -EBADMSG);
		}
	}
	/* The same request under another key. */
	t = h;
	sn_hex(other.pub, SN_SIG_PUB, t.key);
	assert_int_equal(verify(method, target, &t), -EBADMSG);
	/* A leading zero is another timestamp text: refused, not read as equal. */
	t = h;
	assert_true(strlen(h.ts) + 2 <= sizeof t.ts);
	t.ts[0] = '0';
	memcpy(t.ts + 1, h.ts, strlen(h.ts) + 1);
	assert_int_equal(verify(method, target, &t), -EBADMSG);
}

static void test_malformed(void **s)
{
	struct keys k;
	sn_sig_headers h, t;
	uint8_t pub[SN_SIG_PUB];
	int64_t ts = 0;
	(void)s;
	assert_int_equal(sn_sig_keygen(k.pub, k.sec), 0);
	assert_int_equal(sn_sig_sign(k.sec, "GET", "/b", 5, NULL, 0, &h), 0);
	assert_int_equal(sn_sig_verify("GET", "/b", NULL, h.ts, h.nonce, h.body, h.sig, pub, &ts),
			 -EBADMSG);
	assert_int_equal(sn_sig_verify("GET", "/b", h.key, NULL, h.nonce, h.body, h.sig, pub, &ts),
			 -EBADMSG);
	assert_int_equal(sn_sig_verify("GET", "/b", h.key, h.ts, NULL, h.body, h.sig, pub, &ts),
			 -EBADMSG);
	assert_int_equal(sn_sig_verify("GET", "/b", h.key, h.ts, h.nonce, NULL, h.sig, pub, &ts),
			 -EBADMSG);
	assert_int_equal(sn_sig_verify("GET", "/b", h.key, h.ts, h.nonce, h.body, NULL, pub, &ts),
			 -EBADMSG);
	assert_int_equal(sn_sig_verify(NULL, "/b", h.key, h.ts, h.nonce, h.body, h.sig, pub, &ts),
			 -EBADMSG);
	assert_int_equal(sn_sig_verify("GET", NULL, h.key, h.ts, h.nonce, h.body, h.sig, pub, &ts),
			 -EBADMSG);
	static const char *const bad_ts[] = { "", "-5", "+5", "5 ", "0x5", "1234567890123456789" };
	for (size_t i = 0; i < sizeof bad_ts / sizeof bad_ts[0]; i++)
		assert_int_equal(sn_sig_verify("GET", "/b", h.key, bad_ts[i], h.nonce, h.body, h.sig, pub,
					       &ts), -EBADMSG);
	t = h;
	t.nonce[31] = '\0'; /* short */
	assert_int_equal(verify("GET", "/b", &t), -EBADMSG);
	t = h;
	t.body[0] = 'g'; /* not hex */
	assert_int_equal(verify("GET", "/b", &t), -EBADMSG);
	/* Methods and targets a signature cannot cover. */
	assert_int_equal(sn_sig_sign(k.sec, "GET", "/a b", 1, NULL, 0, &t), -EINVAL);
	assert_int_equal(sn_sig_sign(k.sec, "GET", "", 1, NULL, 0, &t), -EINVAL);
	assert_int_equal(sn_sig_sign(k.sec, "GET", "/a\nb", 1, NULL, 0, &t), -EINVAL);
	assert_int_equal(sn_sig_sign(k.sec, "VERYLONGMETHODNAME", "/a", 1, NULL, 0, &t), -EINVAL);
	char *long_target = malloc(SN_SIG_TARGET_MAX + 2);
	assert_non_null(long_target);
	memset(long_target, 'a', SN_SIG_TARGET_MAX + 1);
	long_target[0] = '/';
	long_target[SN_SIG_TARGET_MAX] = '\0';
	assert_int_equal(sn_sig_sign(k.sec, "GET", long_target, 1, NULL, 0, &t), 0);
	assert_int_equal(verify("GET", long_target, &t), 0);
	long_target[SN_SIG_TARGET_MAX] = 'a';
	long_target[SN_SIG_TARGET_MAX + 1] = '\0';
	assert_int_equal(sn_sig_sign(k.sec, "GET", long_target, 1, NULL, 0, &t), -EINVAL);
	assert_int_equal(verify("GET", long_target, &h), -EBADMSG);
	free(long_target);
}

static void test_body_hash(void **s)
{
	char h[65];
	(void)s;
	sn_sha256_hex("abc", 3, h);
	assert_true(sn_sig_body_ok(h, "abc", 3));
	assert_false(sn_sig_body_ok(h, "abd", 3));
	assert_false(sn_sig_body_ok(h, "ab", 2));
	assert_false(sn_sig_body_ok(NULL, "abc", 3));
	for (char *p = h; *p; p++)
		if (*p >= 'a' && *p <= 'f')
			*p = (char)(*p - 32);
	assert_true(sn_sig_body_ok(h, "abc", 3));
	h[63] = '\0';
	assert_false(sn_sig_body_ok(h, "abc", 3));
	sn_sha256_hex("", 0, h);
	assert_true(sn_sig_body_ok(h, NULL, 0));
	assert_true(sn_sig_body_ok(h, "", 0));
}

/* The definition, computed here independently: 30 bits of
 * SHA-256("sentinel-claim" || pub), 5 bits a character, Crockford. */
static void claim_reference(const uint8_t pub[SN_SIG_PUB], char code[7])
{
	static const char alphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
	uint8_t in[14 + SN_SIG_PUB], bytes[32];
	char hex[65];
	memcpy(in, "sentinel-claim", 14);
	memcpy(in + 14, pub, SN_SIG_PUB);
	sn_sha256_hex(in, sizeof in, hex);
	assert_int_equal(sn_unhex(hex, bytes, 32), 0);
	uint64_t bits = (uint64_t)bytes[0] << 24 | (uint64_t)bytes[1] << 16 |
			(uint64_t)bytes[2] << 8 | bytes[3];
	bits >>= 2;
	for (int i = 5; i >= 0; i--) {
		code[i] = alphabet[bits & 31];
		bits >>= 5;
	}
	code[6] = '\0';
}

static void test_claim_code(void **s)
{
	uint8_t pub[SN_SIG_PUB] = { 0 }, sec[SN_SIG_SEC];
	char code[7], again[7], ref[7];
	(void)s;
	/* Stable across releases: nodes print it, users type it. */
	sn_sig_claim_code(pub, code);
	claim_reference(pub, ref);
	assert_string_equal(code, ref);
	for (int i = 0; i < 50; i++) {
		assert_int_equal(sn_sig_keygen(pub, sec), 0);
		sn_sig_claim_code(pub, code);
		sn_sig_claim_code(pub, again);
		claim_reference(pub, ref);
		assert_string_equal(code, again);
		assert_string_equal(code, ref);
		assert_int_equal(strlen(code), 6);
		assert_null(strpbrk(code, "ILOU"));
		char typed[7];
		memcpy(typed, code, 7);
		assert_int_equal(sn_sig_claim_normalize(typed), 0);
		assert_string_equal(typed, code);
	}
}

static void test_claim_normalize(void **s)
{
	(void)s;
	static const struct { const char *in, *out; } ok[] = {
		{ "abcdef", "ABCDEF" }, { "o0OiIl", "000111" }, { "LlLlLl", "111111" },
		{ "zz99aa", "ZZ99AA" }, { "ABCDEF", "ABCDEF" },
	};
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		char c[16];
		snprintf(c, sizeof c, "%s", ok[i].in);
		assert_int_equal(sn_sig_claim_normalize(c), 0);
		assert_string_equal(c, ok[i].out);
	}
	static const char *const bad[] = { "", "ABCDE", "ABCDEFG", "ABCDEU", "ABC-EF", "ABC EF",
					   "ABCDE\xc3", "abcd!f", "uuuuuu" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char c[16];
		snprintf(c, sizeof c, "%s", bad[i]);
		assert_int_equal(sn_sig_claim_normalize(c), -EINVAL);
	}
	assert_int_equal(sn_sig_claim_normalize(NULL), -EINVAL);
}

/* The key file: made 0600 when absent, the same key read back, anything
 * but 128 hex digits refused. */
static void test_key_file(void **s)
{
	(void)s;
	char dir[] = "/tmp/test_sig.XXXXXX", path[64], err[200];
	uint8_t a[SN_SIG_SEC], b[SN_SIG_SEC];
	struct stat st;
	int created = 0;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/node.key", dir);
	assert_int_equal(sn_sig_key_file(path, a, &created, err, sizeof err), 0);
	assert_int_equal(created, 1);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(st.st_size, 2 * SN_SIG_SEC + 1);
	assert_int_equal(sn_sig_key_file(path, b, &created, err, sizeof err), 0);
	assert_int_equal(created, 0);
	assert_memory_equal(a, b, sizeof a);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs("not a key\n", f);
	fclose(f);
	assert_int_equal(sn_sig_key_file(path, b, &created, err, sizeof err), -EINVAL);
	assert_non_null(strstr(err, "not a node key"));
	unlink(path);
	rmdir(dir);
}

static void test_unhex(void **s)
{
	uint8_t b[2];
	(void)s;
	assert_int_equal(sn_unhex("0aFf", b, 2), 0);
	assert_int_equal(b[0], 0x0a);
	assert_int_equal(b[1], 0xff);
	assert_int_equal(sn_unhex("0aF", b, 2), -EINVAL);
	assert_int_equal(sn_unhex("0aFff", b, 2), -EINVAL);
	assert_int_equal(sn_unhex("0g00", b, 2), -EINVAL);
	assert_int_equal(sn_unhex("0`00", b, 2), -EINVAL);
	assert_int_equal(sn_unhex(NULL, b, 2), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),     cmocka_unit_test(test_tampering),
		cmocka_unit_test(test_malformed),      cmocka_unit_test(test_body_hash),
		cmocka_unit_test(test_claim_code),     cmocka_unit_test(test_claim_normalize),
		cmocka_unit_test(test_unhex),          cmocka_unit_test(test_key_file),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
