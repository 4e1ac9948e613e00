/* Passwords and tokens: Argon2id via libsodium; tokens are 32 random bytes
 * shown once to the client and stored only as their SHA-256. */
#include <errno.h>
#include <string.h>
#include <sodium.h>
#include "auth/auth.h"
#include "base/mem.h"
#include "base/util.h"

_Static_assert(AUTH_HASH_MAX >= crypto_pwhash_STRBYTES, "hash buffer too small");

int auth_password_hash(const char *password, char out[AUTH_HASH_MAX])
{
	/* The interactive limits: ~64 MiB and tens of ms per hash; the hash
	 * gate (limits.c) bounds how many run at once. */
	if (sn_crypto_init())
		return -EIO;
	if (crypto_pwhash_str_alg(out, password, strlen(password),
				  crypto_pwhash_OPSLIMIT_INTERACTIVE,
				  crypto_pwhash_MEMLIMIT_INTERACTIVE, crypto_pwhash_ALG_ARGON2ID13))
		return -ENOMEM;
	return 0;
}

int auth_password_verify(const char *hash, const char *password)
{
	/* Anything else (plain text, a truncated value) never verifies. */
	if (strncmp(hash, "$argon2id$", 10) != 0)
		return -EINVAL;
	if (sn_crypto_init())
		return -EIO;
	return crypto_pwhash_str_verify(hash, password, strlen(password)) == 0 ? 0 : -EACCES;
}

char *auth_token_new(char hash_out[65])
{
	unsigned char raw[32];
	char hex[65];
	sn_random(raw, sizeof raw);
	sn_hex(raw, sizeof raw, hex);
	char *tok = xasprintf("snt_%s", hex);
	sn_sha256_hex(tok, strlen(tok), hash_out);
	sodium_memzero(raw, sizeof raw);
	return tok;
}

int auth_token_expired(int64_t expires_ms, int64_t now_ms)
{
	return expires_ms >= 0 && now_ms >= expires_ms;
}
