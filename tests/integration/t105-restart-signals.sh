#!/usr/bin/env bash
# Durability and signals: kill -9 and restart on the same data dir keeps
# users, groups and tokens; SIGTERM and SIGINT exit 0 with an SSE stream
# open and finish in-flight requests; a newer schema is refused.
. "$(dirname "$0")/lib.sh"

start_server
ADMIN=$(login admin adminpass123)
TOKEN=$ADMIN
mkuser bob bobpass12 member
BOB_ID=$(jbody .id)
BOB=$(login bob bobpass12)
api POST /api/v1/tokens '{"name":"script"}' "$BOB"
BOB_API=$(jbody .token)
api POST /api/v1/groups '{"name":"survivors"}'
api PUT /api/v1/groups/survivors/members/bob
api GET /api/v1/audit?limit=1000
audit_ids=$(jbody '[.items[].id] | sort | join(" ")')
like "$BOB$BOB_API" '.{40}' "set-up: bob, a session, an API token and a group"

# ---- kill -9, restart on the same data dir ----
pid=$SERVER_PID
stop_server KILL
is "$STOP_RC" 137 "kill -9 kills the server"
ok "$(kill -0 "$pid" 2>/dev/null; [ $? -ne 0 ]; echo $?)" "the process is gone"
ADMIN_PW=something-else-entirely start_server
api GET /api/v1/me "" "$BOB"
is "$STATUS:$(jbody .username)" 200:bob "after kill -9 and restart, bob's session token still works"
is "$(jbody .id)" "$BOB_ID" "... bob has the same id"
is "$(jbody '.groups | join(",")')" survivors "... and is still in his group"
api GET /api/v1/me "" "$BOB_API"
is "$STATUS" 200 "bob's API token still works"
api GET /api/v1/me "" "$ADMIN"
is "$STATUS" 200 "admin's session still works"
api GET /api/v1/users
is "$(jbody '[.items[].username] | join(",")')" admin,bob "the users are all there (no second bootstrap)"
is "$(login admin adminpass123 | cut -c1-4)" snt_ "admin's password is unchanged by a new SENTINEL_ADMIN_PASSWORD"
is "$(login admin something-else-entirely)" null "... the new one does not work"
api GET /api/v1/audit?limit=1000
is "$(jbody "[.items[].id | select(. <= \"${audit_ids##* }\")] | sort | join(\" \")")" \
	"$audit_ids" "the audit rows from before the crash are kept"
api POST /api/v1/groups '{"name":"after-crash"}'
is "$STATUS" 201 "the restarted server accepts writes"

# ---- SIGTERM with an SSE stream open ----
sse_open() { # streams events into $TMP/$1.sse; waits for ": connected"
	curl -s -N --max-time 30 -H "Authorization: Bearer $ADMIN" "$URL/api/v1/events" >"$TMP/$1.sse" 2>/dev/null &
	SSE_PID=$!
	for _ in $(seq 1 100); do grep -q '^: connected' "$TMP/$1.sse" 2>/dev/null && return 0; sleep 0.05; done
	return 1
}
sse_open term
ok $? "an SSE stream is open"
api POST /api/v1/groups '{"name":"before-term"}'
t0=$(date +%s%N)
stop_server_within 8 TERM
t1=$(date +%s%N)
is "$STOP_RC" 0 "SIGTERM with an open SSE stream: exit 0"
ok "$([ $(( (t1 - t0) / 1000000 )) -lt 5000 ]; echo $?)" "... promptly (the stream does not hold shutdown for the grace period)"
for _ in $(seq 1 40); do kill -0 "$SSE_PID" 2>/dev/null || break; sleep 0.05; done
ok "$(kill -0 "$SSE_PID" 2>/dev/null; [ $? -ne 0 ]; echo $?)" "the SSE client sees its stream end"
wait "$SSE_PID"
is "$?" 0 "... cleanly (curl exit 0: the chunked stream was terminated)"
like "$(cat "$TMP/term.sse")" 'before-term' "the stream delivered the event before shutdown"
like "$(cat "$TMP/server.log")" 'SIGTERM' "the log says why it stopped"
STATUS=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$URL/api/v1/health")
is "$STATUS" 000 "after exit nothing listens on the port"

# ---- SIGINT with an SSE stream open ----
start_server
sse_open int
ok $? "an SSE stream is open"
stop_server_within 8 INT
is "$STOP_RC" 0 "SIGINT with an open SSE stream: exit 0"
wait "$SSE_PID"
is "$?" 0 "the SSE client's stream ended cleanly"

# ---- an in-flight request finishes during shutdown ----
start_server
# 48 KiB of JSON (padded with spaces) sent at 16 KiB/s: about 3 s in flight.
{ printf '{"name":"slow-upload"}'; head -c 49152 /dev/zero | tr '\0' ' '; } >"$TMP/slow.json"
curl -s -o "$TMP/slow.out" -w '%{http_code}' --limit-rate 16k -X POST \
	-H "Authorization: Bearer $ADMIN" -H 'Content-Type: application/json' -H 'Expect:' \
	--data-binary @"$TMP/slow.json" "$URL/api/v1/groups" >"$TMP/slow.code" 2>/dev/null &
slow=$!
sleep 1
ok "$(kill -0 "$slow" 2>/dev/null; echo $?)" "a slow upload is in flight"
pid=$SERVER_PID
kill -TERM "$pid"
sleep 0.3
STATUS=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$URL/api/v1/health")
is "$STATUS" 000 "while shutting down, new connections are refused"
ok "$(kill -0 "$pid" 2>/dev/null; echo $?)" "... while the server still runs for the in-flight request"
stop_server_within 15 0   # signal 0: just wait for the exit
is "$STOP_RC" 0 "SIGTERM during the upload: exit 0"
wait "$slow"
is "$(cat "$TMP/slow.code")" 201 "the in-flight request was finished (201), not cut off"
start_server
api GET /api/v1/groups/slow-upload
is "$STATUS" 200 "... and its write is in the store"

# A second SIGTERM while shutting down must not kill the process by the
# default action (every thread must keep SIGINT/SIGTERM for the main loop).
curl -s -o "$TMP/slow.out" -w '%{http_code}' --limit-rate 16k -X POST \
	-H "Authorization: Bearer $ADMIN" -H 'Content-Type: application/json' -H 'Expect:' \
	--data-binary @<(sed 's/slow-upload/slow-upload-2/' "$TMP/slow.json") "$URL/api/v1/groups" \
	>"$TMP/slow.code" 2>/dev/null &
slow=$!
sleep 1
kill -TERM "$SERVER_PID"
sleep 0.5
stop_server_within 15 TERM
is "$STOP_RC" 0 "a second SIGTERM during shutdown: still exit 0 (not 143)"
wait "$slow"
is "$(cat "$TMP/slow.code")" 201 "... and the in-flight request is still finished"
start_server

# a request that will not finish in time does not hold the server forever
stop_server
start_server --shutdown-grace 1s
curl -s -o /dev/null --limit-rate 1k -X POST -H "Authorization: Bearer $ADMIN" \
	-H 'Content-Type: application/json' -H 'Expect:' --data-binary @"$TMP/slow.json" \
	"$URL/api/v1/groups" >/dev/null 2>&1 &
slow2=$!
sleep 0.5
t0=$(date +%s%N)
stop_server_within 8 TERM
t1=$(date +%s%N)
is "$STOP_RC" 0 "SIGTERM with a stuck upload and --shutdown-grace 1s: exit 0"
ok "$([ $(( (t1 - t0) / 1000000 )) -lt 4000 ]; echo $?)" "... after about the grace period"
kill "$slow2" 2>/dev/null
wait "$slow2" 2>/dev/null

# ---- a newer schema is refused ----
out=$(dbq "INSERT INTO schema_version (version, applied_at) VALUES (999, 0)" 2>&1)
is "$?" 0 "mark the database as schema version 999"
try_start_server
ok "$([ $? -ne 0 ]; echo $?)" "the server refuses to start on a newer database"
isnt "$STOP_RC" 0 "... with a non-zero exit"
like "$(tail -n 3 "$TMP/server.log")" 'newer' "... saying the database is newer"
like "$(tail -n 3 "$TMP/server.log")" '999' "... naming its version"
is "$(dbq "SELECT MAX(version) FROM schema_version")" 999 "the database is left alone"
is "$(dbq "SELECT COUNT(*) FROM users")" 2 "... users included"

# ---- so is a newer version of one domain (t115 checks it on an upgraded SQLite file) ----
dbq "DELETE FROM schema_version WHERE version = 999; INSERT INTO schema_migrations (domain, version, applied_at) VALUES ('auth', 99, 0)" >/dev/null
try_start_server
ok "$([ $? -ne 0 ]; echo $?)" "the server refuses a database whose auth schema is newer"
like "$(tail -n 3 "$TMP/server.log")" 'newer.*auth|auth.*newer' "... naming the domain"
is "$(dbq "SELECT MAX(version) FROM schema_migrations WHERE domain = 'auth'")" 99 "... and leaves it alone"

done_testing
