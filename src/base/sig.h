/* Signed node requests (Ed25519, libsodium). A node signs every request
 * with the key it made on first start; the server checks it from the
 * request head alone, before reading a body byte: the body is bound to the
 * signature by its SHA-256, sent in a header and checked by the handler
 * once the body has arrived.
 *
 * Headers (every value ASCII):
 *   X-Sentinel-Key        the node's public key, 64 lower-case hex
 *   X-Sentinel-Timestamp  Unix time in milliseconds, decimal
 *   X-Sentinel-Nonce      32 lower-case hex (16 random bytes), once per key
 *   X-Sentinel-Body-SHA256 SHA-256 of the body (of "" when none), 64 hex
 *   X-Sentinel-Signature  128 lower-case hex
 * The signed message is
 *   "sentinel-node-v1\n" METHOD "\n" TARGET "\n" TIMESTAMP "\n" NONCE "\n" BODY_SHA256
 * where TARGET is the request target exactly as sent (path and query). */
#ifndef SN_SIG_H
#define SN_SIG_H
#include <stddef.h>
#include <stdint.h>

#define SN_SIG_PUB 32
#define SN_SIG_SEC 64
#define SN_SIG_HDR_KEY "X-Sentinel-Key"
#define SN_SIG_HDR_TS "X-Sentinel-Timestamp"
#define SN_SIG_HDR_NONCE "X-Sentinel-Nonce"
#define SN_SIG_HDR_BODY "X-Sentinel-Body-SHA256"
#define SN_SIG_HDR_SIG "X-Sentinel-Signature"
/* The longest target a signature covers (the HTTP layer's own cap is lower). */
#define SN_SIG_TARGET_MAX 8192

/* A new key pair. 0 or -EIO. */
int sn_sig_keygen(uint8_t pub[SN_SIG_PUB], uint8_t sec[SN_SIG_SEC]);

/* Fills the five header values for one request; body may be NULL when
 * len is 0. 0, or -EINVAL (method or target too long or not printable). */
typedef struct sn_sig_headers {
	char key[2 * SN_SIG_PUB + 1];
	char ts[24];
	char nonce[33];
	char body[65];
	char sig[129];
} sn_sig_headers;
int sn_sig_sign(const uint8_t sec[SN_SIG_SEC], const char *method, const char *target,
		int64_t ts_ms, const void *body, size_t len, sn_sig_headers *out);

/* Checks a signature from the header values (any may be NULL: -EBADMSG).
 * On 0, pub holds the decoded key and *ts_ms the timestamp; the caller
 * still checks the clock window, the nonce and the key's standing, and,
 * once the body is in, that it hashes to body_hex (sn_sig_body_ok).
 * -EBADMSG: malformed header or bad signature. */
int sn_sig_verify(const char *method, const char *target, const char *key_hex,
		  const char *ts, const char *nonce_hex, const char *body_hex,
		  const char *sig_hex, uint8_t pub[SN_SIG_PUB], int64_t *ts_ms);

/* 1 when body[0..len) hashes to body_hex, else 0. */
int sn_sig_body_ok(const char *body_hex, const void *body, size_t len);

/* The 6-character claim code of a key: Crockford base32 (0-9, A-Z
 * without I, L, O, U) of 30 bits of SHA-256("sentinel-claim" || pub).
 * Users type it, so lookups fold case and read I, L as 1 and O as 0. */
void sn_sig_claim_code(const uint8_t pub[SN_SIG_PUB], char code[7]);
/* Normalises a typed code in place (upper case, I/L -> 1, O -> 0);
 * -EINVAL when it is not 6 such characters. */
int sn_sig_claim_normalize(char *code);

/* The key file of a node (its state directory's node.key): the 64-byte
 * secret key as 128 hex digits and a newline, mode 0600. Read, or made when
 * absent (*created = 1). 0, or <0 with a message in err. */
int sn_sig_key_file(const char *path, uint8_t sec[SN_SIG_SEC], int *created, char *err,
		    size_t errlen);

/* Decodes exactly 2n lower- or upper-case hex digits into out. 0 or -EINVAL. */
int sn_unhex(const char *hex, void *out, size_t n);
#endif
