/* Signed node requests. See sig.h. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include "base/buf.h"
#include "base/sig.h"
#include "base/util.h"

#define SIG_PREFIX "sentinel-node-v1\n"

int sn_unhex(const char *hex, void *out, size_t n)
{
	unsigned char *o = out;
	if (!hex || strlen(hex) != 2 * n)
		return -EINVAL;
	for (size_t i = 0; i < 2 * n; i++) {
		int c = (unsigned char)hex[i], v;
		if (c >= '0' && c <= '9')
			v = c - '0';
		else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
			v = (c | 0x20) - 'a' + 10;
		else
			return -EINVAL;
		if (i & 1)
			o[i / 2] = (unsigned char)(o[i / 2] << 4 | v);
		else
			o[i / 2] = (unsigned char)v;
	}
	return 0;
}

int sn_sig_keygen(uint8_t pub[SN_SIG_PUB], uint8_t sec[SN_SIG_SEC])
{
	if (sn_crypto_init() || crypto_sign_keypair(pub, sec))
		return -EIO;
	return 0;
}

static int printable(const char *s, size_t max)
{
	size_t n = 0;
	for (; s[n]; n++)
		if ((unsigned char)s[n] <= 0x20 || (unsigned char)s[n] >= 0x7f || n >= max)
			return 0;
	return n > 0;
}

/* The canonical message into b (cap: the target's and the fixed parts'). */
static int message(buf *b, const char *method, const char *target, const char *ts,
		   const char *nonce, const char *body)
{
	if (!printable(method, 16) || !printable(target, SN_SIG_TARGET_MAX))
		return -EINVAL;
	buf_init(b, SN_SIG_TARGET_MAX + 256);
	int rc = buf_printf(b, SIG_PREFIX "%s\n%s\n%s\n%s\n%s", method, target, ts, nonce, body);
	if (rc)
		buf_release(b);
	return rc;
}

int sn_sig_sign(const uint8_t sec[SN_SIG_SEC], const char *method, const char *target,
		int64_t ts_ms, const void *body, size_t len, sn_sig_headers *out)
{
	uint8_t nonce[16], sig[crypto_sign_BYTES];
	buf b;
	if (sn_crypto_init())
		return -EIO;
	sn_hex(sec + 32, SN_SIG_PUB, out->key); /* libsodium: sec = seed || pub */
	snprintf(out->ts, sizeof out->ts, "%" PRId64, ts_ms);
	sn_random(nonce, sizeof nonce);
	sn_hex(nonce, sizeof nonce, out->nonce);
	sn_sha256_hex(len ? body : "", len, out->body);
	int rc = message(&b, method, target, out->ts, out->nonce, out->body);
	if (rc)
		return rc;
	crypto_sign_detached(sig, NULL, (const unsigned char *)b.data, b.len, sec);
	buf_release(&b);
	sn_hex(sig, sizeof sig, out->sig);
	return 0;
}

int sn_sig_verify(const char *method, const char *target, const char *key_hex,
		  const char *ts, const char *nonce_hex, const char *body_hex,
		  const char *sig_hex, uint8_t pub[SN_SIG_PUB], int64_t *ts_ms)
{
	uint8_t nonce[16], body[32], sig[crypto_sign_BYTES];
	int64_t t = 0;
	buf b;
	if (!method || !target || !ts || sn_unhex(key_hex, pub, SN_SIG_PUB) ||
	    sn_unhex(nonce_hex, nonce, sizeof nonce) || sn_unhex(body_hex, body, sizeof body) ||
	    sn_unhex(sig_hex, sig, sizeof sig))
		return -EBADMSG;
	/* Decimal digits only, at most 18: no sign, no overflow. */
	size_t n = strlen(ts);
	if (n == 0 || n > 18)
		return -EBADMSG;
	for (size_t i = 0; i < n; i++) {
		if (ts[i] < '0' || ts[i] > '9')
			return -EBADMSG;
		t = t * 10 + (ts[i] - '0');
	}
	if (sn_crypto_init() || message(&b, method, target, ts, nonce_hex, body_hex))
		return -EBADMSG;
	int bad = crypto_sign_verify_detached(sig, (const unsigned char *)b.data, b.len, pub);
	buf_release(&b);
	if (bad)
		return -EBADMSG;
	*ts_ms = t;
	return 0;
}

int sn_sig_body_ok(const char *body_hex, const void *body, size_t len)
{
	char h[65];
	if (!body_hex)
		return 0;
	sn_sha256_hex(len ? body : "", len, h);
	return strcasecmp(h, body_hex) == 0 && strlen(body_hex) == 64;
}

static const char crockford[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

void sn_sig_claim_code(const uint8_t pub[SN_SIG_PUB], char code[7])
{
	uint8_t in[14 + SN_SIG_PUB], h[32];
	memcpy(in, "sentinel-claim", 14);
	memcpy(in + 14, pub, SN_SIG_PUB);
	sn_crypto_init();
	crypto_hash_sha256(h, in, sizeof in);
	uint32_t v = (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | h[3];
	for (int i = 0; i < 6; i++)
		code[i] = crockford[(v >> (27 - 5 * i)) & 31];
	code[6] = '\0';
}

int sn_sig_claim_normalize(char *code)
{
	if (!code || strlen(code) != 6)
		return -EINVAL;
	for (int i = 0; i < 6; i++) {
		char c = code[i];
		if (c >= 'a' && c <= 'z')
			c = (char)(c - 32);
		if (c == 'I' || c == 'L')
			c = '1';
		else if (c == 'O')
			c = '0';
		if (!strchr(crockford, c) || c == '\0')
			return -EINVAL;
		code[i] = c;
	}
	return 0;
}

int sn_sig_key_file(const char *path, uint8_t sec[SN_SIG_SEC], int *created, char *err,
		    size_t errlen)
{
	char *text = NULL, hex[2 * SN_SIG_SEC + 2];
	size_t len;
	uint8_t pub[SN_SIG_PUB];
	*created = 0;
	int rc = sn_read_file(path, 4096, &text, &len);
	if (rc == -ENOENT) {
		if ((rc = sn_sig_keygen(pub, sec))) {
			snprintf(err, errlen, "cannot make a key pair");
			goto out;
		}
		sn_hex(sec, SN_SIG_SEC, hex);
		hex[2 * SN_SIG_SEC] = '\n';
		hex[2 * SN_SIG_SEC + 1] = '\0';
		if ((rc = sn_write_file_atomic(path, hex, strlen(hex), 0600)))
			snprintf(err, errlen, "%s: %s", path, strerror(-rc));
		else
			*created = 1;
		goto out;
	}
	if (rc) {
		snprintf(err, errlen, "%s: %s", path, strerror(-rc));
		goto out;
	}
	while (len && (text[len - 1] == '\n' || text[len - 1] == '\r'))
		text[--len] = '\0';
	if (len != 2 * SN_SIG_SEC || sn_unhex(text, sec, SN_SIG_SEC)) {
		snprintf(err, errlen, "%s: not a node key (128 hex digits)", path);
		rc = -EINVAL;
	}
out:
	if (text)
		sodium_memzero(text, len);
	free(text);
	sodium_memzero(hex, sizeof hex);
	return rc;
}
