#!/usr/bin/env bash
# A leader that hangs (SIGSTOP) rather than dies keeps its database session
# and with it the lead's lock: only its lease tells. With --lead-timeout 2s
# the follower ends that session after 2 s without a beat and takes the
# lead; a request it was relaying to the hung leader is answered, not held;
# a job running on the follower's node completes with every chunk counted
# once; the old leader, resumed, finds the lead gone and exits (75) without
# a write (docs/postgres.md).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_nodes.sh"
B_PID=
at_exit() { [ -n "$B_PID" ] && kill -9 "$B_PID" 2>/dev/null; }
need_pg

start_server --node-timeout 2s --heartbeat 300ms --lead-timeout 2s
A_URL=$URL A_PID=$SERVER_PID
TOKEN=$(login admin adminpass123)
B_PORT=$(free_port)
B_URL=http://127.0.0.1:$B_PORT
SENTINEL_ADMIN_PASSWORD=adminpass123 "$S" server --listen "127.0.0.1:$B_PORT" --data "$SERVER_DATA" \
	--ready-file "$TMP/b.ready" --node-timeout 2s --heartbeat 300ms --lead-timeout 2s \
	>"$TMP/b.out" 2>"$TMP/b.log" &
B_PID=$!
following() { grep -q "following it" "$TMP/b.log"; }
wait_for 20 following
ok $? "a second replica follows the leader"

# The leader beats on its lock session, a quarter of the lease apart.
is "$(dbq "SELECT pid = (SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted
	AND objid = 730914726 AND database = (SELECT oid FROM pg_database
	WHERE datname = current_database())) FROM replica_leader WHERE id = 1")" t \
	"the leader names its lock session in replica_leader"
b1=$(dbq "SELECT beat FROM replica_leader WHERE id = 1")
sleep 1.2
b2=$(dbq "SELECT beat FROM replica_leader WHERE id = 1")
ok "$([ $((b2 - b1)) -ge 250 ] && [ $((b2 - b1)) -le 2000 ]; echo $?)" \
	"... and beats every 0.5 s with a 2 s lease ($((b2 - b1)) ms in 1.2 s)"

# A node attached to the follower only. It sends its own figures every
# 10 s from the thread that beats (src/agent/agent_metrics.c): the leader is
# stopped 8.3 s after one of them, so that the next is sent while the
# follower has not yet taken the lead (the lease is 2 s): sent to the
# stopped leader directly, it held the beats for its 5 s timeout. The job,
# submitted through the follower, is timed to be running then: 300 chunks
# of some 10 ms each (a second or so under a coverage build).
URL=$B_URL
start_claimed 1
pushed() { grep "path=/api/v1/node/metrics status=200" "$TMP/server.log" | tail -1 |
	sed -n 's/^\([^ ]*\) .*/\1/p' | grep .; }
wait_for 20 pushed >/dev/null
ok $? "the node sends its figures (through the follower, to the leader)"
push_ns=$(date -d "$(pushed)" +%s%N)
sleep_to() { # sleep_to MS: until MS ms after that push
	local ms=$(( (push_ns - $(date +%s%N)) / 1000000 + $1 ))
	[ "$ms" -gt 0 ] && sleep "$(printf '%d.%03d' $((ms / 1000)) $((ms % 1000)))"
}
sleep_to 7800
api POST /api/v1/jobs '{"name":"pi","program":"montecarlo-pi","total_iterations":600000000,"chunk_size":2000000}'
J=$(jbody .id)
is "$STATUS" 201 "a job submitted through the follower"
some_done() { api GET "/api/v1/jobs/$J"; [ "$(jbody '.chunks.completed // 0')" -ge 10 ]; }
wait_for 60 some_done
ok $? "... runs on its node"
sleep_to 8300

# Another session of the leader's process holds the store's write lock in a
# transaction that a stopped process never ends (here a psql under the
# leader's session name, as store/pg.c gives it to all of its sessions): the
# new leader's epoch raise takes that lock, so the follower must end every
# session of the leader, not only its lock session.
APP=$(dbq "SELECT application_name FROM pg_stat_activity WHERE pid = (SELECT pid
	FROM replica_leader WHERE id = 1)")
like "$APP" "^sentinel $A_PID [0-9a-f]{16}\$" "the leader's sessions are named after its process"
mkfifo "$TMP/hold.in"
psql -X -q -A -t "$SENTINEL_DB" <"$TMP/hold.in" >"$TMP/hold.out" 2>&1 &
HOLD=$!
exec 7>"$TMP/hold.in"
echo "SET application_name = '$APP'; BEGIN; SELECT pg_advisory_xact_lock(7309147261); SELECT 'held';" >&7
held() { grep -q held "$TMP/hold.out"; }
wait_for 10 held
ok $? "... and one of them holds the write lock in an open transaction"
api GET "/api/v1/jobs/$J"
left=$(jbody '.chunks.total - .chunks.completed')
kill -STOP "$A_PID"
t0=$(date +%s%N)
ok "$([ "$left" -gt 0 ]; echo $?)" "the leader stopped with $left chunks of the job left"
# Relayed to the hung leader: the follower ends it when it takes the lead.
curl -s -o /dev/null -w '%{http_code}' -m 30 -H "Authorization: Bearer $TOKEN" \
	"$B_URL/api/v1/me" >"$TMP/held.code" &
HELD=$!
wait_for 20 test -s "$TMP/b.ready"
ok $? "a stopped leader: the follower takes the lead"
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
diag "takeover in $ms ms"
ok "$([ "$ms" -ge 1800 ]; echo $?)" "... only once the 2 s lease ran out ($ms ms)"
like "$(cat "$TMP/b.log")" "has not renewed its lead for [0-9]+ ms" "... and says why"
is "$(dbq "SELECT count(*) FROM pg_stat_activity WHERE application_name = '$APP'")" 0 \
	"every session of the stopped leader was ended, the one holding the write lock too"
exec 7>&-
wait "$HOLD"
wait "$HELD"
code=$(cat "$TMP/held.code")
ok "$([ "$code" = 503 ] || [ "$code" = 200 ]; echo $?)" \
	"a request held by the hung leader is answered when the lead moves (HTTP $code)"
is "$(dbq "SELECT epoch FROM replica_leader WHERE id = 1")" 2 "the new leader raised the epoch"
api GET /api/v1/me
is "$STATUS" 200 "the follower answers itself now"

wait_for 90 job_done "$J"
diag "the job completed $(( ($(date +%s%N) - t0) / 1000000 )) ms after the leader stopped"
counts() {
	api GET "/api/v1/jobs/$J"
	jbody '"\(.state) \(.result.stats.pi.n) \(.completed_iterations) \(.chunks.completed)/\(.chunks.total)"'
}
is "$(counts)" "completed 600000000 600000000 300/300" "the job completes, every chunk counted once"
like "$(cat "$TMP/n1.err")" "talking to the leading replica at $A_URL directly" \
	"the follower's node had been talking to the leader directly"
like "$(cat "$TMP/n1.err")" "leading replica at $A_URL is no longer named" \
	"... and left it when its follower answered a heartbeat as the leader (no wait for its calls' timeouts)"
unlike "$(cat "$TMP/n1.err")" "does not answer" \
	"... its figures, sent meanwhile, did not hold its beats (no call to the stopped leader timed out)"
is "$(dbq "SELECT count(*) FROM attempts WHERE job_id = '$J' AND reason = 'lost_node'")" 0 \
	"the new leader counts the node's silence from its takeover: no chunk lost to lost_node"

# Resumed, the old leader finds its lock session ended and another epoch:
# it exits at once, as after a lost database connection.
kill -CONT "$A_PID"
gone() { ! kill -0 "$A_PID" 2>/dev/null; }
wait_for 15 gone
ok $? "the old leader, resumed, exits"
wait "$A_PID"
is "$?" 75 "... with 75 (lost the lead)"
SERVER_PID=
like "$(cat "$TMP/server.log")" "another replica leads now|led meanwhile" "... and says why"
is "$(counts)" "completed 600000000 600000000 300/300" "... having changed nothing"
ROWS="$(dbq "SELECT count(*) FROM chunks WHERE job_id = '$J' AND state = 'completed'
	AND node_id IS NOT NULL") $(dbq "SELECT count(*) FROM attempts WHERE job_id = '$J'
	AND state IN ('completed', 'running')")"
is "$ROWS" "300 0" \
	"one completed attempt a chunk: its chunk's row"

stop_all_agents
kill -TERM "$B_PID"
wait "$B_PID"
is "$?" 0 "the new leader stops cleanly"
B_PID=
if grep -Eq -- "$SANITIZER_RE" "$TMP/b.log" "$TMP/server.log"; then
	ok 1 "no sanitizer report in the replicas' logs"
	grep -E -A12 -- "$SANITIZER_RE" "$TMP/b.log" "$TMP/server.log" | head -30 | sed 's/^/#   /'
else
	ok 0 "no sanitizer report in the replicas' logs"
fi
finish
