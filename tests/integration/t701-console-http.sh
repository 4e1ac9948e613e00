#!/usr/bin/env bash
# What the server does for the web console (docs/web.md): static files from
# --web-dir with the SPA fallback, precompressed copies, cache and security
# headers, nothing outside the directory; the page shown when no console is
# built; browser sessions (cookies, CSRF, origin); CORS for listed origins;
# SSE with ?last_event_id.
. "$(dirname "$0")/lib.sh"

CSP="default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; font-src 'self' data:; worker-src 'self' blob:; connect-src 'self'; object-src 'none'; base-uri 'self'; frame-ancestors 'none'; form-action 'self'"
SECRET=outside-secret-7f3a

# A console as vite builds it, and things that must never be served.
W=$TMP/web
mkdir -p "$W/assets" "$W/.git" "$TMP/outside"
printf '<!doctype html><title>Sentinel console</title><div id="root"></div>\n' >"$W/index.html"
printf 'console.log("identity");\n' >"$W/assets/app-1a2b3c.js"
printf 'GZIP-BYTES' >"$W/assets/app-1a2b3c.js.gz"
printf 'BROTLI-BYTES' >"$W/assets/app-1a2b3c.js.br"
printf 'User-agent: *\n' >"$W/robots.txt"
printf '%s\n' "$SECRET" >"$TMP/outside.txt"
printf '%s\n' "$SECRET" >"$TMP/outside/secret.txt"
printf '%s\n' "$SECRET" >"$W/.git/config"
printf '%s\n' "$SECRET" >"$W/.env"
ln -s "$TMP/outside.txt" "$W/leak.txt"
ln -s "$TMP/outside" "$W/linkdir"
ln -s "$TMP/outside" "$W/assets/up"

start_server --web-dir "$W" --allowed-origins 'http://ok.example:3000, https://other.example' \
	--session-ttl 1h
PORT=${URL##*:}

# ---- static files ----
call GET /
is "$STATUS" 200 "/ is the console's index.html"
like "$BODY" 'Sentinel console' "... with its content"
like "$(header Content-Type)" '^text/html' "... as text/html"
is "$(header Content-Security-Policy)" "$CSP" "... with the CSP of docs/web.md"
is "$(header X-Content-Type-Options)" nosniff "... nosniff"
is "$(header Referrer-Policy)" same-origin "... Referrer-Policy: same-origin"
is "$(header Cache-Control)" no-cache "... and Cache-Control: no-cache (no hashed name)"
is "$(grep -ci '^Cache-Control:' "$TMP/hdrs")" 1 "... once (not also no-store)"

call GET /datasets/iris/versions
is "$STATUS" 200 "an extension-less path without a file gets index.html (SPA fallback)"
like "$BODY" 'Sentinel console' "... the console's page"
is "$(header Content-Security-Policy)" "$CSP" "... with the CSP"

call GET /assets/app-1a2b3c.js
is "$STATUS" 200 "a hashed asset is served"
is "$BODY" 'console.log("identity");' "... without Accept-Encoding: the plain bytes"
like "$(header Content-Type)" '^text/javascript' "... as JavaScript"
is "$(header Cache-Control)" "public, max-age=31536000, immutable" "... cached for a year, immutable"
is "$(header Content-Encoding)" "" "... with no Content-Encoding"
is "$(header Vary)" Accept-Encoding "... Vary: Accept-Encoding"

call GET /assets/app-1a2b3c.js -H 'Accept-Encoding: gzip, deflate, br'
is "$STATUS $(header Content-Encoding) $BODY" "200 br BROTLI-BYTES" "br is preferred when accepted and present"
call GET /assets/app-1a2b3c.js -H 'Accept-Encoding: gzip'
is "$STATUS $(header Content-Encoding) $BODY" "200 gzip GZIP-BYTES" "gzip when only gzip is accepted"
call GET /assets/app-1a2b3c.js -H 'Accept-Encoding: gzip;q=0.5, br;q=0'
is "$(header Content-Encoding) $BODY" "gzip GZIP-BYTES" "br;q=0 refuses br"
call GET /assets/app-1a2b3c.js -H 'Accept-Encoding: br;q=0, gzip;q=0.000'
is "$(header Content-Encoding)|$BODY" '|console.log("identity");' "both at q=0: the plain bytes"
call GET /assets/app-1a2b3c.js -H 'Accept-Encoding: identity, *;q=0'
is "$(header Content-Encoding)" "" "*;q=0 refuses the codings not named"
call GET /robots.txt -H 'Accept-Encoding: br, gzip'
is "$STATUS $(header Content-Encoding)" "200 " "a file without compressed copies is sent as is"
is "$(header Cache-Control)" no-cache "... no-cache outside assets/"

: >"$TMP/resp" # curl writes no file for an empty body
call HEAD /assets/app-1a2b3c.js
is "$STATUS $(header Content-Length) ${#BODY}" "200 25 0" "HEAD: the headers (Content-Length) and no body"
ETAG=$(header ETag)
like "$ETAG" '^"[0-9a-f]+-[0-9a-f]+"$' "an ETag is sent"
: >"$TMP/resp"
call GET /assets/app-1a2b3c.js -H "If-None-Match: $ETAG"
is "$STATUS ${#BODY}" "304 0" "If-None-Match with it: 304, no body"
call GET /assets/app-1a2b3c.js -H 'If-None-Match: "other"'
is "$STATUS" 200 "another ETag: 200"

call GET /assets/missing-123.js
is_error 404 not_found "a missing file with an extension is a 404 JSON (no SPA fallback)"
is "$(header Content-Security-Policy)" "$CSP" "... also with the CSP"
call GET /favicon.ico
is_error 404 not_found "a missing /favicon.ico is 404"

# ---- nothing outside the directory, nothing hidden ----
for p in /leak.txt /linkdir/secret.txt /assets/up/secret.txt /.env /.git/config \
	/assets/../../outside.txt /%2e%2e/outside.txt /assets/%2e%2e/%2e%2e/outside.txt \
	'/assets/..%2F..%2Foutside.txt' '/assets%2F..%2F..%2Foutside.txt' '/.%2e/outside.txt' \
	/..%5Coutside.txt /assets//app-1a2b3c.js /./index.html; do
	call GET "$p" --path-as-is
	ok "$( [ "$STATUS" = 404 ] && ! grep -q "$SECRET" "$TMP/resp"; echo $?)" \
		"GET $p is 404 and shows nothing of outside files (got $STATUS)"
done
out=$(/usr/bin/python3 "$(dirname "$0")/helpers/rawhttp.py" send 127.0.0.1 "$PORT" \
	'GET /../outside.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
unlike "$out" "$SECRET" "a raw /../ request line shows nothing outside"

# ---- the API keeps its JSON ----
for p in /api/nope /api/v1/nope /v1/nope /metrics/x /api; do
	call GET "$p"
	is_error 404 not_found "GET $p stays a JSON 404"
done
call POST / -H 'Content-Type: application/json' -d '{}'
is_error 404 not_found "POST / is a JSON 404 (only GET and HEAD reach the console)"
call GET /api/v1/health
is "$STATUS $(header Cache-Control)" "200 no-store" "API replies stay no-store"
is "$(header Content-Security-Policy)" "" "... and carry no console headers"

# ---- browser sessions ----
call POST /api/v1/auth/login -H 'Content-Type: application/json' \
	-d '{"username":"admin","password":"adminpass123","session":"cookie"}'
is "$STATUS" 200 "a cookie login succeeds"
is "$(jbody 'has("token")')" false "... its body holds no token"
CSRF=$(jbody .csrf_token)
like "$CSRF" '^[0-9a-f]{64}$' "... but the CSRF token (64 hex digits)"
SC=$(grep -i '^Set-Cookie: sentinel_session=' "$TMP/hdrs" | tr -d '\r')
CC=$(grep -i '^Set-Cookie: sentinel_csrf=' "$TMP/hdrs" | tr -d '\r')
SESSION=$(sed -E 's/^[^=]*=([^;]*);.*/\1/' <<<"$SC")
like "$SESSION" '^snt_[0-9a-f]{64}$' "sentinel_session holds the token"
like "$SC" '; HttpOnly' "... HttpOnly"
like "$SC" '; SameSite=Strict' "... SameSite=Strict"
like "$SC" '; Path=/;' "... Path=/"
like "$SC" '; Max-Age=3600;' "... Max-Age = the session's life (--session-ttl 1h)"
unlike "$SC" 'Secure' "... not Secure without TLS"
is "$(sed -E 's/^[^=]*=([^;]*);.*/\1/' <<<"$CC")" "$CSRF" "sentinel_csrf holds the same CSRF token"
unlike "$CC" 'HttpOnly' "... readable by scripts"
like "$CC" 'SameSite=Strict' "... SameSite=Strict"
COOKIE="sentinel_session=$SESSION; sentinel_csrf=$CSRF"

call GET /api/v1/me -H "Cookie: $COOKIE"
is "$STATUS $(jbody .username)" "200 admin" "the session cookie authenticates GET /me"
call GET /api/v1/me -H "Cookie: theme=dark;   other=\"a b\";sentinel_session=\"$SESSION\" ; x=1"
is "$STATUS" 200 "... among other cookies, with spaces and a quoted value"
call GET /api/v1/me -H "Cookie: sentinel_session_old=x; sentinel_sessionx=$SESSION"
is "$STATUS" 401 "a cookie whose name only starts with sentinel_session is not it"
call GET /api/v1/me -H "Cookie: sentinel_session=snt_$(printf '0%.0s' $(seq 1 64))"
is_error 401 unauthorized "a wrong session cookie is 401"
call GET /api/v1/me -H "Cookie: sentinel_session=$(head -c 300 /dev/zero | tr '\0' a)"
is_error 401 unauthorized "an overlong session cookie is 401"
for _ in 1 2 3; do call GET /api/v1/auth/token -H "Cookie: $COOKIE"; done
is "$STATUS $(jbody .user.username)" "200 admin" "GET /auth/token (from the token cache) with the cookie"

call GET /api/v1/tokens -H "Cookie: $COOKIE"
N0=$(jbody '.items | length')
call POST /api/v1/tokens -H "Cookie: $COOKIE" -H 'Content-Type: application/json' -d '{"name":"c1"}'
is_error 403 csrf_failed "a cookie mutation without X-CSRF-Token is 403 csrf_failed"
# The token with its last digit changed (to 0, or to 1 when it is 0: a
# fixed 0 left a sixteenth of the runs with the right token).
WRONG=${CSRF%?}$([ "${CSRF: -1}" = 0 ] && echo 1 || echo 0)
call POST /api/v1/tokens -H "Cookie: $COOKIE" -H "X-CSRF-Token: $WRONG" \
	-H 'Content-Type: application/json' -d '{"name":"c2"}'
is_error 403 csrf_failed "... with a wrong X-CSRF-Token too"
call POST /api/v1/tokens -H "Cookie: $COOKIE" -H "X-CSRF-Token: $CSRF$CSRF" \
	-H 'Content-Type: application/json' -d '{"name":"c3"}'
is_error 403 csrf_failed "... and with a longer one"
call GET /api/v1/tokens -H "Cookie: $COOKIE"
is "$(jbody '.items | length')" "$N0" "the refused mutations changed nothing"
call POST /api/v1/tokens -H "Cookie: $COOKIE" -H "X-CSRF-Token: $CSRF" \
	-H 'Content-Type: application/json' -d '{"name":"c4"}'
is "$STATUS $(jbody .name)" "201 c4" "with the right X-CSRF-Token the mutation succeeds"
call POST /api/v1/tokens -H "Cookie: $COOKIE" -H "X-CSRF-Token: $CSRF" -H "Origin: http://evil.example" \
	-H 'Content-Type: application/json' -d '{"name":"c5"}'
is_error 403 origin_refused "a cookie mutation from a foreign Origin is 403 origin_refused"
call POST /api/v1/tokens -H "Cookie: $COOKIE" -H "X-CSRF-Token: $CSRF" -H "Origin: https://127.0.0.1:$PORT" \
	-H 'Content-Type: application/json' -d '{"name":"c6"}'
is_error 403 origin_refused "... also the server's host under another scheme"
call POST /api/v1/tokens -H "Cookie: $COOKIE" -H "X-CSRF-Token: $CSRF" -H "Origin: http://127.0.0.1:$PORT" \
	-H 'Content-Type: application/json' -d '{"name":"c7"}'
is "$STATUS" 201 "... the server's own origin is fine"
call POST /api/v1/tokens -H "Cookie: $COOKIE" -H "X-CSRF-Token: $CSRF" -H "Origin: http://ok.example:3000" \
	-H 'Content-Type: application/json' -d '{"name":"c8"}'
is "$STATUS" 201 "... and so is a listed one"

# Bearer tokens are unchanged: no CSRF, no origin check, the token in the body.
BEARER=$(login admin adminpass123)
like "$BEARER" '^snt_' "a login without \"session\" returns the token"
api POST /api/v1/tokens '{"name":"b1"}' "$BEARER"
is "$STATUS" 201 "a Bearer mutation needs no X-CSRF-Token"
call GET /api/v1/me -H "Authorization: Bearer $BEARER" -H "Cookie: sentinel_session=snt_bogus"
is "$STATUS" 200 "the Authorization header wins over a cookie"
call GET /api/v1/me -H "Authorization: Bearer snt_bogus" -H "Cookie: $COOKIE"
is "$STATUS" 401 "... also when it is wrong (no fallback to the cookie)"
call POST /api/v1/auth/login -H 'Content-Type: application/json' \
	-d '{"username":"admin","password":"adminpass123","session":"jar"}'
is_error 400 bad_request "an unknown session kind is 400"

# SSE with the cookie; ?last_event_id replays like Last-Event-ID.
sse() { curl -s -N --max-time 2 -H "Cookie: $COOKIE" "$URL/api/v1/events?topic=audit$1" || true; }
out=$(sse '&last_event_id=0')
like "$out" 'event: audit' "SSE with the cookie and ?last_event_id=0 replays earlier events"
like "$out" '"action":"token.create"' "... the audit rows of the mutations above"
out=$(sse '')
unlike "$out" 'event: audit' "without it the stream starts now (no replay)"
like "$out" ': connected' "... but is open"
out=$(sse '&last_event_id=')
unlike "$out" 'event: audit' "an empty ?last_event_id= also starts now"
out=$(sse '&last_event_id=-1')
unlike "$out" 'event: audit' "... and so does a malformed one"
LAST=$(sse '&last_event_id=0' | awk '/^id: /{v=$2} END{print v}')
out=$(sse "&last_event_id=$LAST")
unlike "$out" 'event: audit' "?last_event_id=<the last id> replays nothing"

# Logout: revokes the session and clears both cookies.
call POST /api/v1/auth/logout -H "Cookie: $COOKIE"
is_error 403 csrf_failed "logout with the cookie needs the CSRF token too"
call POST /api/v1/auth/logout -H "Cookie: $COOKIE" -H "X-CSRF-Token: $CSRF"
is "$STATUS $(jbody .revoked)" "200 true" "logout with the cookie and CSRF token"
like "$(grep -i '^Set-Cookie: sentinel_session=;' "$TMP/hdrs")" 'Max-Age=0' "... clears sentinel_session"
like "$(grep -i '^Set-Cookie: sentinel_csrf=;' "$TMP/hdrs")" 'Max-Age=0' "... and sentinel_csrf"
call GET /api/v1/me -H "Cookie: $COOKIE"
is_error 401 unauthorized "the old cookie is refused at once (revoked, out of the cache)"
like "$(grep -i '^Set-Cookie: sentinel_session=;' "$TMP/hdrs")" 'Max-Age=0' "... and the refusal clears the dead cookie"
api POST /api/v1/auth/logout "" "$BEARER"
is "$STATUS $(grep -ci '^Set-Cookie:' "$TMP/hdrs")" "200 0" "a Bearer logout sets no cookies"

# ---- cross-origin ----
pre() { call OPTIONS /api/v1/tokens -H "Origin: $1" -H 'Access-Control-Request-Method: POST' \
	-H 'Access-Control-Request-Headers: content-type, x-csrf-token'; }
pre http://ok.example:3000
is "$STATUS" 204 "a preflight from a listed origin is 204"
is "$(header Access-Control-Allow-Origin)" http://ok.example:3000 "... Access-Control-Allow-Origin: the origin"
is "$(header Access-Control-Allow-Credentials)" true "... with credentials"
like "$(header Access-Control-Allow-Methods)" 'POST' "... the methods"
like "$(header Access-Control-Allow-Headers)" 'X-CSRF-Token' "... the headers (X-CSRF-Token)"
like "$(header Access-Control-Allow-Headers)" 'Authorization, Content-Type, X-CSRF-Token, Last-Event-ID, Content-Range' \
	"... all five"
like "$(header Access-Control-Max-Age)" '^[0-9]+$' "... and a Max-Age"
pre https://OTHER.example
is "$STATUS $(header Access-Control-Allow-Origin)" "204 https://OTHER.example" "origins compare without case"
pre http://evil.example
is_error 403 origin_refused "a preflight from an unlisted origin is 403 JSON"
is "$(header Access-Control-Allow-Origin)" "" "... without Access-Control-Allow-Origin"
pre http://ok.example:3001
is "$STATUS" 403 "... the port is part of the origin"
call GET /api/v1/health -H 'Origin: http://ok.example:3000'
is "$(header Access-Control-Allow-Origin) $(header Access-Control-Allow-Credentials)" \
	"http://ok.example:3000 true" "replies to a listed origin carry ACAO and ACAC"
like "$(grep -i '^Vary:' "$TMP/hdrs")" 'Origin' "... and Vary: Origin"
call GET /api/v1/health -H 'Origin: http://evil.example'
is "$(header Access-Control-Allow-Origin)" "" "replies to another origin carry no ACAO"
call OPTIONS /api/v1/tokens
is "$STATUS" 405 "OPTIONS without a preflight's headers is routed as before (405)"

stop_server
for bad in 'ok.example' 'ftp://x.example' 'http://x.example/path' 'http://'; do
	try_start_server --web-dir "$W" --allowed-origins "$bad"
	is "$?:$STOP_RC" "1:2" "--allowed-origins '$bad' is refused at start (exit 2)"
done
like "$(tail -n 1 "$TMP/server.log")" 'allowed-origins' "... naming the flag"

# ---- no console built ----
mkdir -p "$TMP/empty/assets"
SENTINEL_WEB_DIR=$TMP/empty start_server
call GET /
is "$STATUS" 200 "without index.html / still answers (SENTINEL_WEB_DIR)"
like "$(header Content-Type)" '^text/html' "... an HTML page"
like "$BODY" 'make web' "... that says to run make web"
like "$BODY" 'Node\.js' "... that it needs Node.js"
like "$BODY" '/api/v1' "... and where the API is"
is "$(header Content-Security-Policy)" "$CSP" "... with the CSP"
call GET /jobs
is "$STATUS" 200 "an extension-less path shows the same page"
like "$BODY" 'make web' "... the same text"
call GET /assets/app.js
is_error 404 not_found "an asset is still a 404"
api GET /api/v1/health "" ""
is "$STATUS" 200 "the API works without the console"
stop_server
start_server --web-dir "$TMP/does-not-exist"
call GET /
is "$STATUS $(grep -c 'make web' <<<"$BODY")" "200 1" "a --web-dir that does not exist: the same page"
like "$(cat "$TMP/server.log")" 'does-not-exist is not a directory' "... and the log says so"

done_testing
