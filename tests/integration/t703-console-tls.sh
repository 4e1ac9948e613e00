#!/usr/bin/env bash
# Browser sessions under TLS (docs/web.md): both cookies get Secure, the
# server's own origin is https://HOST, and a session and its CSRF token
# both survive a restart. Also the console over
# HTTPS and a cookie that a browser sent twice.
. "$(dirname "$0")/lib.sh"

openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost \
	-addext 'subjectAltName=IP:127.0.0.1,DNS:localhost' \
	-keyout "$TMP/key.pem" -out "$TMP/cert.pem" >/dev/null 2>&1
ok $? "make a self-signed certificate"
mkdir -p "$TMP/web"
printf '<!doctype html><title>tls console</title>\n' >"$TMP/web/index.html"

start_server --tls-cert "$TMP/cert.pem" --tls-key "$TMP/key.pem" --web-dir "$TMP/web"
CURL_OPTS=(-k)
HOSTPORT=${URL#https://}

call GET /overview
is "$STATUS" 200 "the console over HTTPS"
like "$BODY" 'tls console' "... its index.html"
like "$(header Content-Security-Policy)" "frame-ancestors 'none'" "... with the CSP"

call POST /api/v1/auth/login -H 'Content-Type: application/json' \
	-d '{"username":"admin","password":"adminpass123","session":"cookie"}'
is "$STATUS" 200 "a cookie login over HTTPS"
SC=$(grep -i '^Set-Cookie: sentinel_session=' "$TMP/hdrs" | tr -d '\r')
CC=$(grep -i '^Set-Cookie: sentinel_csrf=' "$TMP/hdrs" | tr -d '\r')
like "$SC" '; Secure' "sentinel_session is Secure under TLS"
like "$CC" '; Secure' "sentinel_csrf is Secure under TLS"
SESSION=$(sed -E 's/^[^=]*=([^;]*);.*/\1/' <<<"$SC")
CSRF=$(jbody .csrf_token)
COOKIE="sentinel_session=$SESSION; sentinel_csrf=$CSRF"
mut() { # mut NAME [curl args]: POST /api/v1/tokens with the cookie
	local name=$1
	shift
	call POST /api/v1/tokens -H "Cookie: $COOKIE" -H 'Content-Type: application/json' \
		-d "{\"name\":\"$name\"}" "$@"
}
mut t1 -H "X-CSRF-Token: $CSRF" -H "Origin: https://$HOSTPORT"
is "$STATUS" 201 "a mutation from https://HOST (the server's own origin) passes"
mut t2 -H "X-CSRF-Token: $CSRF" -H "Origin: http://$HOSTPORT"
is_error 403 origin_refused "http://HOST is another origin under TLS"
mut t3 -H "X-CSRF-Token: $CSRF" -H "Origin: null"
is_error 403 origin_refused "Origin: null (a sandboxed frame, a file: page) is refused"
mut t4 -H "X-CSRF-Token: $CSRF"
is "$STATUS" 201 "no Origin header at all (not a browser's mutation): the CSRF token decides"

# A browser may hold a stale cookie of the same name beside the new one
# (another Path): the first sent wins, as browsers send the most specific first.
call GET /api/v1/me -H "Cookie: sentinel_session=$SESSION; sentinel_session=snt_stale"
is "$STATUS" 200 "of two sentinel_session cookies the first is used"

# The CSRF token depends on the session token alone: both survive a restart.
stop_server
start_server --tls-cert "$TMP/cert.pem" --tls-key "$TMP/key.pem" --web-dir "$TMP/web"
call GET /api/v1/me -H "Cookie: $COOKIE"
is "$STATUS" 200 "after a restart the session cookie still authenticates reads"
mut t5 -H "X-CSRF-Token: $CSRF"
is "$STATUS" 201 "... and so does its CSRF token for a mutation"
BAD=${CSRF%?}$([ "${CSRF: -1}" = 0 ] && echo 1 || echo 0)
mut t6 -H "X-CSRF-Token: $BAD"
is_error 403 csrf_failed "... while a changed one is refused"

done_testing
