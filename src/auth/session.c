/* Browser sessions (docs/web.md, "Browser sessions").
 *
 * A login with "session":"cookie" puts its token in the HttpOnly cookie
 * sentinel_session, out of reach of scripts, and a CSRF token in the
 * readable cookie sentinel_csrf. The CSRF token is SHA-256 of a fixed
 * label and the session token: the server keeps no state for it, it
 * survives restarts and holds on every replica. No key is needed: a page
 * of another origin can compute it only from the session token, which it
 * cannot read (HttpOnly), and an attacker with a session of their own gets
 * that session's CSRF token from the login anyway, key or not.
 *
 * Why both: SameSite=Strict already keeps other sites' pages from sending
 * the cookie; the CSRF token (which a page of another origin cannot read)
 * covers browsers and set-ups where SameSite does not hold, and the Origin
 * check refuses a cookie-carrying mutation from a foreign page outright. */
#include <stdio.h>
#include <string.h>
#include <sodium.h>
#include "auth/auth_int.h"
#include "base/mem.h"
#include "base/util.h"

void auth_csrf_token(const char *token, char out[65])
{
	static const char label[] = "sentinel-csrf-v1";
	unsigned char md[crypto_hash_sha256_BYTES];
	crypto_hash_sha256_state st;
	crypto_hash_sha256_init(&st);
	crypto_hash_sha256_update(&st, (const unsigned char *)label, sizeof label);
	crypto_hash_sha256_update(&st, (const unsigned char *)token, strlen(token));
	crypto_hash_sha256_final(&st, md);
	sn_hex(md, sizeof md, out);
}

void auth_session_cookies(http_req *r, const char *token, const char *csrf, int64_t life_ms)
{
	const char *secure = http_req_tls(r) ? "; Secure" : "";
	long long age = token ? life_ms / 1000 : 0;
	char *c = xasprintf(AUTH_SESSION_COOKIE "=%s; Path=/; Max-Age=%lld; HttpOnly; SameSite=Strict%s",
			    token ? token : "", age, secure);
	http_reply_header(r, "Set-Cookie", c);
	free(c);
	c = xasprintf(AUTH_CSRF_COOKIE "=%s; Path=/; Max-Age=%lld; SameSite=Strict%s",
		      token ? csrf : "", age, secure);
	http_reply_header(r, "Set-Cookie", c);
	free(c);
}

int auth_session_check(http_req *r, const char *token)
{
	const char *m = http_req_method(r);
	if (strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0 || strcmp(m, "OPTIONS") == 0)
		return 0;
	char want[65];
	const char *got = http_req_header(r, AUTH_CSRF_HEADER);
	auth_csrf_token(token, want);
	/* Constant time: the comparison must not tell how much of a guess was right. */
	if (!got || strlen(got) != 64 || sodium_memcmp(got, want, 64) != 0) {
		http_reply_error(r, 403, "csrf_failed", "a request with the session cookie must carry"
				 " the header " AUTH_CSRF_HEADER " with the value of the "
				 AUTH_CSRF_COOKIE " cookie");
		return 1;
	}
	if (!http_req_origin_ok(r)) {
		http_reply_error(r, 403, "origin_refused", "this origin may not change anything with"
				 " the session cookie (it is not the server's own nor listed in"
				 " --allowed-origins)");
		return 1;
	}
	return 0;
}
