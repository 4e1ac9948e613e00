#!/usr/bin/env bash
# The HTTP layer against hostile clients (security review, issue 7):
# request targets that are not UTF-8 or hold control bytes, bodies sent
# without a token, upload quotas and free disk, event topics by role,
# request ids, slow clients that hold connections.
. "$(dirname "$0")/lib.sh"
RAW=(/usr/bin/python3 "$(dirname "$0")/helpers/rawhttp.py")

start_server
TOKEN=$(login admin adminpass123)
ADMIN=$TOKEN
mkuser mona monapass12 member
MEMBER=$(login mona monapass12)
PORT=${URL##*:}

# ---- 1. paths and queries that are not UTF-8 or hold control bytes ----
for t in /api/v1/tokens/%FF /api/v1/tokens/%C3%28 /api/v1/tokens/a%00b; do
	api DELETE "$t" "" "$MEMBER"
	is_error 400 bad_target "member DELETE $t is 400 (the server used to crash)"
done
api PATCH /api/v1/users/%FF '{"role":"member"}' "$ADMIN"
is_error 400 bad_target "admin PATCH /api/v1/users/%FF is 400"
api GET /api/v1/audit%00.css "" "$MEMBER"
is_error 400 bad_target "%00 no longer cuts the routed path (audit%00.css)"
api GET '/api/v1/users?cursor=%FF' "" "$ADMIN"
is_error 400 bad_target "a query that is not UTF-8 is 400"
api GET '/api/v1/users?cursor=a%0Ab' "" "$ADMIN"
is_error 400 bad_target "a query with a newline is 400"
api GET /api/v1/nope%0d%0aX-Fake:1 "" ""
is_error 400 bad_target "CR LF in a path is 400, anonymous too"
out=$("${RAW[@]}" send 127.0.0.1 "$PORT" 'GET /api/v1/health\xff HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
like "$out" '^HTTP/1.1 400' "a raw 0xFF byte in the request line is 400"
api GET /api/v1/health "" ""
is "$STATUS" 200 "the server is still up"
api GET '/api/v1/users/%C3%A9l%C3%A8ve' "" "$ADMIN"
is_error 404 not_found "a well-formed UTF-8 path still routes (404 for an unknown user)"

# ---- 2. bodies are not read before the caller is known ----
rchar() { awk '/^rchar/ {print $2}' "/proc/$SERVER_PID/io"; }
before=$(rchar)
code=$(head -c 200000000 /dev/zero | curl -s -o "$TMP/resp" -w '%{http_code}' -X POST -T - \
	-H 'Content-Type: application/octet-stream' "$URL/api/v1/runtimes/upload?name=x")
after=$(rchar)
is "$code" 401 "an upload without a token is 401"
read_mb=$(( (after - before) / 1000000 ))
ok $(( read_mb < 20 ? 0 : 1 )) "... and the server read ${read_mb} MB of its 200 MB body (< 20)"
call POST '/api/v1/runtimes/upload?name=x' -H "Authorization: Bearer $MEMBER" \
	-H 'Content-Type: application/octet-stream' --data-binary 'abc'
is "$STATUS" 403 "a member's upload to an admin route is 403 before the body"
like "$(header Connection)" '[Cc]lose' "... and the connection is closed"
ls "$SERVER_DATA/tmp" >"$TMP/spool"
is "$(wc -l <"$TMP/spool")" 0 "nothing is left in the spool directory"
stop_server

# ---- 2b. quotas and the free-disk reserve ----
start_server --upload-inflight-user 1M
TOKEN=$(login admin adminpass123)
head -c 2000000 /dev/zero >"$TMP/2m"
call POST '/api/v1/runtimes/upload?name=big' -H "Authorization: Bearer $TOKEN" \
	-H 'Content-Type: application/octet-stream' --data-binary @"$TMP/2m"
is_error 429 upload_quota "an upload over the per-user in-flight quota is 429"
head -c 3000000 /dev/zero | call POST '/api/v1/runtimes/upload?name=big' -T - \
	-H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/octet-stream'
is_error 429 upload_quota "... also when chunked (no declared length)"
stop_server
start_server --upload-inflight-user 4M --upload-inflight-total 1M
TOKEN=$(login admin adminpass123)
call POST '/api/v1/runtimes/upload?name=big' -H "Authorization: Bearer $TOKEN" \
	-H 'Content-Type: application/octet-stream' --data-binary @"$TMP/2m"
is_error 503 busy "an upload over the global in-flight quota is 503"
is "$(header Retry-After)" 30 "... with Retry-After"
stop_server
start_server --min-free-disk 1000000T
TOKEN=$(login admin adminpass123)
call POST '/api/v1/runtimes/upload?name=big' -H "Authorization: Bearer $TOKEN" \
	-H 'Content-Type: application/octet-stream' --data-binary 'abc'
is_error 507 insufficient_storage "an upload that would eat the free-disk reserve is 507"
call POST '/api/v1/scripts/s1/versions' -H "Authorization: Bearer $TOKEN" \
	-H 'Content-Type: text/plain' --data-binary 'echo hi'
is_error 507 insufficient_storage "... a script push too (every raw body counts)"
api GET /api/v1/me
is "$STATUS" 200 "... and the API goes on"
stop_server

# ---- 4. event topics by role, replay included ----
start_server
ADMIN=$(login admin adminpass123)
TOKEN=$ADMIN
mkuser mona monapass12 member
MEMBER=$(login mona monapass12)
curl -s -o /dev/null -X POST -H 'Content-Type: application/json' \
	--data '{"username":"secret-typed-as-name","password":"x"}' "$URL/api/v1/auth/login"
sse() { # sse TOKEN TOPIC: the events replayed from id 0 within 2 s
	local auth=()
	[ -n "$1" ] && auth=(-H "Authorization: Bearer $1")
	curl -s -N --max-time 2 "${auth[@]}" -H 'Last-Event-ID: 0' "$URL/api/v1/events?topic=$2" || true
}
for topic in audit ""; do
	out=$(sse "" "$topic")
	like "$out" 'unauthorized' "anonymous: the stream (topic '$topic') is refused"
	out=$(sse "$MEMBER" "$topic")
	unlike "$out" 'event: audit' "member: no audit event on topic '$topic', replay included"
	out=$(sse "$ADMIN" "$topic")
	like "$out" 'event: audit' "admin: audit events on topic '$topic'"
done

# ---- 7. request ids ----
call GET /api/v1/health -H "X-Request-Id: $(printf 'a%.0s' $(seq 1 64))"
is "$(header X-Request-Id | wc -c)" 65 "a 64-byte request id is kept"
call GET /api/v1/health -H "X-Request-Id: $(printf 'a%.0s' $(seq 1 65))"
is "$(header X-Request-Id | wc -c)" 17 "a 65-byte request id is replaced"
call GET /api/v1/health -H 'X-Request-Id: has space'
is "$(header X-Request-Id)" "$(header X-Request-Id | tr -cd '0-9a-f')" "an id with a space is replaced"
call GET /api/v1/health -H 'X-Request-Id: a/b:c"d'
is "$(header X-Request-Id)" 'a/b:c"d' "printable ASCII ids are kept"
stop_server

# ---- 6. slow clients ----
start_server --max-connections 40 --max-connections-per-ip 10 --header-timeout 2s --reserved-connections 4
PORT=${URL##*:}
"${RAW[@]}" slow 127.0.0.1 "$PORT" 14 6 >"$TMP/slow" &
slow_pid=$!
sleep 1
call GET /api/v1/health --interface 127.0.0.2
is "$STATUS" 200 "while 127.0.0.1 holds its 10 connections, 127.0.0.2 is served"
wait $slow_pid
out=$(cat "$TMP/slow")
like "$out" 'early=4 late=10 open=0' "of 14 slow connections from one address, 4 are cut at once (cap 10) and 10 at the head deadline ($out)"
stop_server
# Slots beyond max-connections - reserved-connections serve authenticated requests only.
start_server --max-connections 12 --max-connections-per-ip 12 --header-timeout 3s --reserved-connections 4
PORT=${URL##*:}
TOKEN=$(login admin adminpass123)
"${RAW[@]}" slow 127.0.0.1 "$PORT" 8 2.5 >"$TMP/slow" &
slow_pid=$!
sleep 0.5
call GET /api/v1/health
is_error 503 busy "in a reserved slot, an anonymous request is 503"
api GET /api/v1/me
is "$STATUS" 200 "... and an authenticated one is served"
wait $slow_pid
# ---- the limits' own settings are checked at start ----
for bad in "--max-connections-per-ip 600" "--reserved-connections 512" "--header-timeout 0s" \
	"--idle-timeout 2d" "--upload-inflight-user 0" "--store-timeout 1h" "--lead-timeout 0s" \
	"--node-url ftp://host" "--node-url http://$(printf 'a%.0s' $(seq 300))"; do
	out=$("$SENTINEL_BIN" server --data "$TMP/bad" $bad 2>&1)
	code=$?
	is "$code" 2 "server $bad: exit 2"
	like "$out" "${bad%% *}" "... the message names ${bad%% *}"
done
done_testing
