#!/usr/bin/env bash
# Two server replicas on one PostgreSQL database, both serving: A leads,
# B follows and relays every request to A (docs/postgres.md). A node
# attached to B only runs a job submitted on A; a token revoked on A is
# refused on B at once; B's event stream is A's, with the same ids and
# Last-Event-ID replay; uploads and downloads pass through B unchanged; a
# request without a token is refused by the leader before its body is
# sent on; the client's address reaches the leader only through a replica.
# kill -9 of A mid-job: B leads on the same address, its node keeps
# working, and the job completes with every chunk counted once.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_nodes.sh"
need_pg

start_server --node-timeout 2s --heartbeat 300ms
A_URL=$URL A_PID=$SERVER_PID
TOKEN=$(login admin adminpass123)

B_PORT=$(free_port) B_IPORT=$(free_port)
B_URL=http://127.0.0.1:$B_PORT B_IURL=http://127.0.0.1:$B_IPORT
SENTINEL_ADMIN_PASSWORD=adminpass123 "$S" server --listen "127.0.0.1:$B_PORT" --data "$SERVER_DATA" \
	--ingest-listen "127.0.0.1:$B_IPORT" --ready-file "$TMP/b.ready" --node-timeout 2s \
	--heartbeat 300ms >"$TMP/b.out" 2>"$TMP/b.log" &
B_PID=$!
up_b() { [ "$(curl -s -o /dev/null -w '%{http_code}' "$B_URL/api/v1/health")" = 200 ]; }
wait_for 20 up_b
ok $? "a second replica serves on its own address while the first leads"
ok "$([ ! -s "$TMP/b.ready" ] && kill -0 $B_PID; echo $?)" "... without leading (no ready file)"
like "$(cat "$TMP/b.log")" "following it" "... and says it follows"

# Everything through B is A's answer.
URL=$B_URL
B_TOKEN=$(login admin adminpass123)
like "$B_TOKEN" '^snt_' "a login through the follower"
api GET /api/v1/me "" "$B_TOKEN"
is "$STATUS $(jbody .username)" "200 admin" "... and its token works there"
URL=$A_URL
api GET /api/v1/me "" "$B_TOKEN"
is "$STATUS" 200 "... and on the leader (one store of sessions)"

# A browser on the follower: its origin is the follower's address.
URL=$B_URL
call POST /api/v1/auth/login -H 'Content-Type: application/json' \
	-d '{"username":"admin","password":"adminpass123","session":"cookie"}'
CSRF=$(jbody .csrf_token)
SESSION=$(grep -i '^Set-Cookie: sentinel_session=' "$TMP/hdrs" | tr -d '\r' | sed -E 's/^[^=]*=([^;]*);.*/\1/')
COOKIE="sentinel_session=$SESSION; sentinel_csrf=$CSRF"
call POST /api/v1/tokens -H "Cookie: $COOKIE" -H "X-CSRF-Token: $CSRF" -H "Origin: $B_URL" \
	-H 'Content-Type: application/json' -d '{"name":"from-b"}'
is "$STATUS" 201 "a cookie session's mutation from the follower's own origin"
call POST /api/v1/tokens -H "Cookie: $COOKIE" -H "X-CSRF-Token: $CSRF" -H "Origin: $A_URL" \
	-H 'Content-Type: application/json' -d '{"name":"from-a"}'
is_error 403 origin_refused "... and not from the leader's origin (another site to this page)"
call POST /api/v1/tokens -H "Cookie: $COOKIE" -H "X-CSRF-Token: $CSRF" -H "Origin: http://evil.example" \
	-H "X-Forwarded-Host: evil.example" -H 'Content-Type: application/json' -d '{"name":"evil"}'
is_error 403 origin_refused "... nor from a foreign one that sends its own X-Forwarded-Host"

# The leader's replica listener takes relayed requests only.
R_URL=$(dbq "SELECT url FROM replica_leader WHERE id = 1")
like "$R_URL" '^http://127\.0\.0\.1:[0-9]+$' "the leader advertises its replica listener"
URL=$R_URL
api GET /api/v1/health "" ""
is_error 403 not_a_replica "a request to it without the replica secret is refused"
call GET /api/v1/health -H "X-Sentinel-Replica: $(printf '0%.0s' $(seq 1 64))"
is_error 403 not_a_replica "... and one with a wrong secret"

# The client's address: from a replica's relay, never from a client.
audit_addr() { api GET "/api/v1/audit?action=auth.login&limit=1" "" "$TOKEN"; jbody '.items[0].address'; }
URL=$A_URL
curl -s -o /dev/null --interface 127.0.0.2 -X POST -H 'Content-Type: application/json' \
	--data '{"username":"admin","password":"adminpass123"}' "$B_URL/api/v1/auth/login"
is "$(audit_addr)" 127.0.0.2 "the leader records the address of a client of the follower"
curl -s -o /dev/null -H 'X-Forwarded-For: 10.1.2.3' -H 'X-Sentinel-Replica: guess' -X POST \
	-H 'Content-Type: application/json' --data '{"username":"admin","password":"adminpass123"}' \
	"$A_URL/api/v1/auth/login"
is "$(audit_addr)" 127.0.0.1 "... and ignores a client's own X-Forwarded-For"
curl -s -o /dev/null --interface 127.0.0.2 -H 'X-Forwarded-For: 10.1.2.3' -X POST \
	-H 'Content-Type: application/json' --data '{"username":"admin","password":"adminpass123"}' \
	"$B_URL/api/v1/auth/login"
is "$(audit_addr)" 127.0.0.2 "... also when it came through the follower"

# B's ingest listener address relays too; after a takeover it is B's own.
push() { # URL VALUE: pushes one sample of agent thru-ingest
	curl -s -o /dev/null -w '%{http_code}' -X POST -H "Authorization: Bearer $TOKEN" \
		-H 'Content-Type: application/json' \
		--data "{\"agent\":\"thru-ingest\",\"metric\":\"m\",\"value\":$2,\"ts\":$((1700000000000 + $2))}" \
		"$1/api/v1/metrics"
}
is "$(push "$B_IURL" 1)" 200 "a sample pushed to the follower's --ingest-listen address"
api GET "/api/v1/metrics/query?agent=thru-ingest&metric=m&from=1699999999000&to=1700000001000&step=1s&agg=count"
is "$(jbody '[.series[].points[][1]] | add')" 1 "... is on the leader"
# A 204 and a streamed answer of no declared length come through whole.
URL=$B_URL
call POST "/api/v1/metrics/write?precision=ms" -H "Authorization: Bearer $TOKEN" \
	-H 'Content-Type: text/plain' --data-binary "lp,agent=thru-lp value=7 1700000000000"
is "$STATUS" 204 "line protocol through the follower: 204"
call GET "/api/v1/metrics/export?format=ndjson&agent=thru-lp&from=1699999999000&to=1700000001000" \
	-H "Authorization: Bearer $TOKEN"
is "$STATUS $(printf '%s' "$BODY" | jq -r .value)" "200 7" "... and exported through it (a streamed answer)"
is "$(header Content-Length)" "" "... of no declared length"
URL=$A_URL
# A second replica on an address in use does not start.
SENTINEL_ADMIN_PASSWORD=adminpass123 "$S" server --listen "127.0.0.1:$B_PORT" --data "$SERVER_DATA" \
	>"$TMP/x.out" 2>"$TMP/x.log"
is "$?" 1 "a replica whose address is in use exits (1)"
like "$(cat "$TMP/x.log")" "cannot listen on 127.0.0.1:$B_PORT" "... and says why"

# A token revoked on A is refused on B at once: B keeps no copy of it.
api POST /api/v1/tokens '{"name":"ci"}'
API_TOKEN=$(jbody .token) API_TOKEN_ID=$(jbody .id)
URL=$B_URL
api GET /api/v1/jobs "" "$API_TOKEN"
is "$STATUS" 200 "an API token made on the leader works on the follower"
URL=$A_URL
api DELETE "/api/v1/tokens/$API_TOKEN_ID"
t0=$(date +%s%N)
URL=$B_URL
refused() { api GET /api/v1/jobs "" "$API_TOKEN"; [ "$STATUS" = 401 ]; }
wait_for 1 refused
ok $? "... revoked on the leader, it is refused on the follower within 1 s"
diag "refused after $(( ($(date +%s%N) - t0) / 1000000 )) ms"

# Uploads and downloads pass through unchanged; a refusal from the head
# alone comes back as the leader's answer, not as a relay failure.
head -c 3000000 /dev/urandom | od -An -tx1 -v | tr -s ' ' ',' >"$TMP/up.csv"
call POST "/api/v1/datasets/thru/versions?filename=up.csv" -H "Authorization: Bearer $TOKEN" \
	-H 'Content-Type: application/octet-stream' --data-binary @"$TMP/up.csv"
is "$STATUS" 201 "a dataset pushed through the follower"
is "$(jbody .sha256)" "$(sha256sum "$TMP/up.csv" | cut -d' ' -f1)" "... arrives whole"
curl -s -H "Authorization: Bearer $TOKEN" -o "$TMP/down" "$B_URL/api/v1/datasets/thru/versions/1/content"
cmp -s "$TMP/up.csv" "$TMP/down"
ok $? "... and downloads through it the same"
call POST "/api/v1/datasets/thru2/versions?filename=up.csv" -H 'Content-Type: application/octet-stream' \
	--data-binary @"$TMP/up.csv"
is_error 401 unauthorized "a push without a token through the follower: the leader's 401"
t0=$(date +%s%N)
code=$(head -c 20000000000 /dev/zero | curl -s -o /dev/null -w '%{http_code}' --max-time 10 -X POST \
	-H 'Content-Type: application/octet-stream' -T - \
	"$B_URL/api/v1/datasets/thru2/versions")
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
ok "$([ "$code" = 401 ] && [ "$ms" -lt 3000 ]; echo $?)" \
	"... answered from the head: the follower reads none of a 20 GB body ($code in $ms ms)"
call POST "/api/v1/datasets/thru3/versions?filename=up.csv" -H "Authorization: Bearer $TOKEN" \
	-H 'Content-Type: application/octet-stream' -H 'Transfer-Encoding: chunked' --data-binary @"$TMP/up.csv"
is "$STATUS $(jbody .sha256)" "201 $(sha256sum "$TMP/up.csv" | cut -d' ' -f1)" \
	"a chunked push through the follower"
call GET "/api/v1/%00x"
is_error 400 bad_target "a control byte in the target is refused by the follower itself"
call PROPFINDSOMETHINGLONG /api/v1/jobs
is_error 501 not_implemented "... and so is a method no route has"

# A node that knows only B (claimed through B too).
URL=$B_URL
start_claimed 1
ok $? "a node attached to the follower only is online on the leader"
N1=${NODE_OF[1]}
URL=$A_URL
api POST /api/v1/jobs '{"name":"pi","program":"montecarlo-pi","total_iterations":100000,"chunk_size":2000}'
J=$(jbody .id)
wait_for 60 job_done "$J"
api GET "/api/v1/jobs/$J"
is "$(jbody '"\(.state) \(.result.stats.pi.n) \(.chunks.completed)/\(.chunks.total)"')" \
	"completed 100000 50/50" "a job submitted on the leader completes on the follower's node"
like "$(cat "$TMP/n1.err")" "talking to the leading replica at $A_URL directly" \
	"... which learnt from its relayed heartbeat where the leader is, and talks to it directly"

# B's event stream is A's: same ids, same events, Last-Event-ID replays.
curl -s -N --max-time 1 -H "Authorization: Bearer $TOKEN" -H "Last-Event-ID: 0" \
	"$A_URL/api/v1/events" >"$TMP/a.sse" 2>/dev/null
curl -s -N --max-time 3 -H "Authorization: Bearer $TOKEN" -H "Last-Event-ID: 0" \
	"$B_URL/api/v1/events" >"$TMP/b.sse" 2>/dev/null
A_IDS=$(sed -n 's/^id: //p' "$TMP/a.sse" | tr '\n' ' ')
like "$A_IDS" '[0-9]+ [0-9]+' "the leader's event stream has events"
# (events may have come since: the first as many as the leader's; a
# slower stream, a sanitizer's or coverage build's, gets more time)
N_A=$(sed -n 's/^\(id\|data\): //p' "$TMP/a.sse" | wc -l)
is "$(sed -n 's/^\(id\|data\): //p' "$TMP/b.sse" | head -n "$N_A" | md5sum)" \
	"$(sed -n 's/^\(id\|data\): //p' "$TMP/a.sse" | md5sum)" \
	"... and the follower's stream is the same, ids and all"
MID=$(echo "$A_IDS" | awk '{print $(int(NF / 2))}')
curl -s -N --max-time 1 -H "Authorization: Bearer $TOKEN" -H "Last-Event-ID: $MID" \
	"$B_URL/api/v1/events" >"$TMP/b2.sse" 2>/dev/null
is "$(sed -n 's/^id: //p' "$TMP/b2.sse" | head -1)" "$((MID + 1))" "... Last-Event-ID on the follower resumes after it"
api GET /metrics "" ""
like "$BODY" 'listener="replica"' "the leader's /metrics counts the relayed requests apart"

# While the leader cannot be reached, or none has said where it is, the
# follower answers 503 no_leader (a client retries); then it finds it again.
URL=$B_URL
dbq "UPDATE replica_leader SET url = 'http://127.0.0.1:1' WHERE id = 1" >/dev/null
unreachable() { api GET /api/v1/jobs; [ "$STATUS" = 503 ]; }
wait_for 5 unreachable
is_error 503 no_leader "a leader that refuses connections: 503 from the follower"
is "$(header Retry-After)" 1 "... with Retry-After"
dbq "UPDATE replica_leader SET url = NULL WHERE id = 1" >/dev/null
api GET /api/v1/jobs
is_error 503 no_leader "... and while no leader has said where it is"
dbq "UPDATE replica_leader SET url = '$R_URL' WHERE id = 1" >/dev/null
back() { api GET /api/v1/jobs; [ "$STATUS" = 200 ]; }
wait_for 5 back
ok $? "... then it relays again"
URL=$A_URL

# kill -9 of the leader mid-job: B leads on its address; a node that knew
# only A's address fails over to B, B's own node keeps working.
URL=$B_URL PRE_SERVER=$A_URL
start_claimed 2
N2=${NODE_OF[2]}
URL=$A_URL PRE_SERVER=
api POST /api/v1/jobs '{"name":"pi2","program":"montecarlo-pi","total_iterations":300000,"chunk_size":2000}'
J2=$(jbody .id)
some_done() { api GET "/api/v1/jobs/$J2"; [ "$(jbody '.chunks.completed // 0')" -ge 10 ]; }
wait_for 60 some_done
ok $? "a second job runs on both nodes"
kill -9 "$A_PID"; wait "$A_PID" 2>/dev/null
SERVER_PID=
t0=$(date +%s%N)
wait_for 20 test -s "$TMP/b.ready"
ok $? "kill -9 of the leader: the follower leads"
diag "takeover in $(( ($(date +%s%N) - t0) / 1000000 )) ms"
is "$(cat "$TMP/b.ready")" "$B_URL" "... on the address it served as a follower"
URL=$B_URL
api GET /api/v1/me
is "$STATUS" 200 "... and a session made on the old leader still works there"
wait_for 90 job_done "$J2"
api GET "/api/v1/jobs/$J2"
is "$(jbody '"\(.state) \(.result.stats.pi.n) \(.completed_iterations) \(.chunks.completed)/\(.chunks.total)"')" \
	"completed 300000 300000 150/150" "the job completes, every chunk counted once"
wait_for 15 is_online "$N1"
ok $? "the follower's own node is online on it"
like "$(cat "$TMP/n1.err")" "leading replica at $A_URL (does not answer|is no longer named)[^\n]*back to the configured servers" \
	"... back on its configured server, once the leader it talked to is gone"
is "$(push "$B_IURL" 2)" 200 "its ingest listener is its own now"
api GET "/api/v1/metrics/query?agent=thru-ingest&metric=m&from=1699999999000&to=1700000001000&step=1s&agg=count"
is "$(jbody '[.series[].points[][1]] | add')" 2 "... and both samples are there"
wait_for 15 is_online "$N2"
ok $? "the old leader's node failed over to it"
isnt "$(dbq "SELECT url FROM replica_leader WHERE id = 1")" "$R_URL" "the new leader advertises its own replica listener"

# Replicas wake each other (LISTEN/NOTIFY): a leader that stops says so,
# and a follower takes the lead at once; the new leader says where it is,
# and the other follower relays to it at once.
start_follower() { # NAME: a follower on a free port; sets its URL and PID
	local port
	port=$(free_port)
	SENTINEL_ADMIN_PASSWORD=adminpass123 "$S" server --listen "127.0.0.1:$port" --data "$SERVER_DATA" \
		--ready-file "$TMP/$1.ready" >"$TMP/$1.out" 2>"$TMP/$1.log" &
	eval "${1}_PID=$! ${1}_URL=http://127.0.0.1:$port"
}
start_follower c
start_follower d
follows() { grep -q "following it" "$TMP/c.log" && grep -q "following it" "$TMP/d.log"; }
wait_for 20 follows
frc=$?
ok $frc "two more replicas follow the new leader"
[ "$frc" = 0 ] || tail -n 5 "$TMP/c.log" "$TMP/d.log" | sed 's/^/#   /' 
stop_all_agents
kill -TERM "$B_PID"; wait "$B_PID"
is "$?" 0 "the new leader stops cleanly"
led() { [ -s "$TMP/c.ready" ] || [ -s "$TMP/d.ready" ]; }
wait_for 10 led
ok $? "... and one of the followers leads"
if [ -s "$TMP/c.ready" ]; then NEW=c OTHER=d; else NEW=d OTHER=c; fi
like "$(cat "$TMP/$NEW.log")" "the leader gave the lead back" "... woken by the old leader's notice"
told() { grep -q "a new leader has said where it is" "$TMP/$OTHER.log"; }
wait_for 10 told
ok $? "the other follower hears where the new leader is"
OTHER_URL=$(eval echo "\$${OTHER}_URL")
URL=$OTHER_URL
api GET /api/v1/me
is "$STATUS" 200 "... and relays to it"
kill -TERM "$c_PID" "$d_PID"; wait "$c_PID" "$d_PID"
if grep -Eq -- "$SANITIZER_RE" "$TMP/b.log" "$TMP/c.log" "$TMP/d.log"; then
	ok 1 "no sanitizer report in the other replicas' logs"
	grep -E -A12 -- "$SANITIZER_RE" "$TMP/b.log" "$TMP/c.log" "$TMP/d.log" | head -30 | sed 's/^/#   /'
else
	ok 0 "no sanitizer report in the other replicas' logs"
fi
done_testing
