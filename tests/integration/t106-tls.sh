#!/usr/bin/env bash
# HTTPS with --tls-cert/--tls-key (a self-signed certificate made here).
. "$(dirname "$0")/lib.sh"

openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost \
	-addext 'subjectAltName=IP:127.0.0.1,DNS:localhost' \
	-keyout "$TMP/key.pem" -out "$TMP/cert.pem" >/dev/null 2>&1
ok $? "make a self-signed certificate"

start_server --tls-cert "$TMP/cert.pem" --tls-key "$TMP/key.pem"
like "$URL" '^https://127\.0\.0\.1:[0-9]+$' "with --tls-cert/--tls-key the server's URL is https"
CURL_OPTS=(-k)
api GET /api/v1/health "" ""
is "$STATUS:$(jbody .status)" 200:ok "GET /api/v1/health over HTTPS (curl -k)"
STATUS=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$TMP/cert.pem" "$URL/api/v1/health")
is "$STATUS" 200 "the certificate verifies against itself as CA (it is the one served)"
subj=$(openssl s_client -connect "${URL#https://}" </dev/null 2>/dev/null | openssl x509 -noout -subject 2>/dev/null)
like "$subj" 'CN ?= ?localhost' "the served certificate is ours"
TOKEN=$(login admin adminpass123)
like "$TOKEN" '^snt_' "login over HTTPS"
api GET /api/v1/me
is "$STATUS:$(jbody .username)" 200:admin "an authenticated GET over HTTPS"
api POST /api/v1/users '{"bad json'
is_error 400 bad_json "errors are JSON over HTTPS too"
STATUS=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$URL/api/v1/health")
is "$STATUS" 000 "without -k the self-signed certificate is not trusted"
STATUS=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://${URL#https://}/api/v1/health")
isnt "$STATUS" 200 "plain HTTP on the HTTPS port gets no API answer"
api GET /api/v1/health "" ""
is "$STATUS" 200 "the server is still fine after a plain-HTTP attempt"
stop_server
is "$STOP_RC" 0 "the HTTPS server stops with exit 0"
CURL_OPTS=()

# ---- misconfiguration is refused, never silently served over HTTP ----
try_start_server --tls-cert "$TMP/cert.pem"
ok "$([ $? -ne 0 ]; echo $?)" "--tls-cert without --tls-key does not start"
isnt "$STOP_RC" 0 "... exit status non-zero"
like "$(tail -n 2 "$TMP/server.log")" 'tls-key' "... the message names --tls-key"
try_start_server --tls-cert "$TMP/missing.pem" --tls-key "$TMP/key.pem"
ok "$([ $? -ne 0 ]; echo $?)" "a missing certificate file does not start"
like "$(tail -n 2 "$TMP/server.log")" '[Cc]ertificate|cert' "... the message says what is wrong"
printf 'not a pem\n' >"$TMP/junk.pem"
try_start_server --tls-cert "$TMP/junk.pem" --tls-key "$TMP/junk.pem"
ok "$([ $? -ne 0 ]; echo $?)" "a garbage certificate does not start (never served as plain HTTP)"
# The message must point at the certificate/key, not at the listen address.
like "$(tail -n 1 "$TMP/server.log")" '[Cc]ertificate|TLS|tls|key' "... the message says the certificate or key is bad"
unlike "$(tail -n 1 "$TMP/server.log")" 'No such file' "... and does not invent a missing file"

done_testing
