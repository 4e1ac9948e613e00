#!/usr/bin/env bash
# Two server replicas on one PostgreSQL database and one data directory:
# one leads, the other follows; a node knows both. kill -9 of the leader
# mid-job: the follower takes over, the node fails over to it, and the job
# completes with every chunk counted once. PostgreSQL restarted mid-job:
# the leader keeps the lead and the job completes. The old leader's writes
# are fenced once another replica has led.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_nodes.sh"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
skip_without_pg
# This test restarts its database server: a cluster of its own.
unset SENTINEL_TEST_PG
PGDIR=$TMP/pg
PGURL=$("$ROOT/scripts/pg.sh" start "$PGDIR") || { echo "Bail out! cannot start PostgreSQL"; exit 1; }
trap '"$ROOT/scripts/pg.sh" stop "$PGDIR"' EXIT
export SENTINEL_DB=$("$ROOT/scripts/pg.sh" createdb "$PGURL" replicas)

start_server --node-timeout 2s --heartbeat 300ms
A_URL=$URL A_PID=$SERVER_PID
TOKEN=$(login admin adminpass123)

# B: same database, same data directory, a port of its own, where it
# relays to A while A leads (t133); it must not lead meanwhile.
for _ in $(seq 1 50); do
	B_PORT=$(( 20000 + RANDOM % 12000 )) # below the ephemeral ports (32768 and up)
	(exec 3<>"/dev/tcp/127.0.0.1/$B_PORT") 2>/dev/null || break
done
B_URL=http://127.0.0.1:$B_PORT
SENTINEL_ADMIN_PASSWORD=adminpass123 "$S" server --listen "127.0.0.1:$B_PORT" --data "$SERVER_DATA" \
	--ready-file "$TMP/b.ready" --node-timeout 2s --heartbeat 300ms >"$TMP/b.out" 2>"$TMP/b.log" &
B_PID=$!
sleep 1.5
ok "$([ ! -s "$TMP/b.ready" ] && kill -0 $B_PID; echo $?)" "a second replica follows while the first leads"
like "$(cat "$TMP/b.log")" "following it" "... and says so"

# The node knows both, tried in order.
"$S" node --server "$A_URL" --server "$B_URL" --state "$TMP/n1" --name n1 --gpus 0 \
	--max-parallel 2 >>"$TMP/n1.out" 2>>"$TMP/n1.err" &
AGENT[1]=$!
wait_for 15 has_claim 1
api POST /api/v1/nodes/claim "{\"code\":\"$(claim_line 1)\"}"
NODE=$(jbody .id)
wait_for 15 is_online "$NODE"
ok $? "a node is claimed and online on the leader"

api POST /api/v1/jobs '{"name":"pi","program":"montecarlo-pi","total_iterations":300000,"chunk_size":2000}'
J=$(jbody .id)
some_done() { api GET "/api/v1/jobs/$J"; [ "$(jbody '.chunks.completed // 0')" -ge 10 ]; }
wait_for 60 some_done
ok $? "the job runs on the leader's node"
# What an SSE client of the leader has seen (the job's events among them).
curl -s -N --max-time 1 -H "Authorization: Bearer $TOKEN" -H "Last-Event-ID: 0" \
	"$A_URL/api/v1/events" >"$TMP/a.sse" 2>/dev/null
A_LAST=$(sed -n 's/^id: //p' "$TMP/a.sse" | tail -1)
A_DATA=$(sed -n 's/^data: //p' "$TMP/a.sse" | tail -1)
like "$A_LAST" '^[0-9]+$' "the leader's event stream has events"
kill -9 "$A_PID"; wait "$A_PID" 2>/dev/null
SERVER_PID=
t0=$(date +%s%N)
wait_for 20 test -s "$TMP/b.ready"
ok $? "kill -9 of the leader: the follower takes over"
diag "takeover in $(( ($(date +%s%N) - t0) / 1000000 )) ms"
URL=$B_URL
TOKEN=$(login admin adminpass123)
is "$(cat "$TMP/b.ready")" "$B_URL" "... and serves on its own address"
curl -s -N --max-time 1 -H "Authorization: Bearer $TOKEN" -H "Last-Event-ID: $((A_LAST - 1))" \
	"$URL/api/v1/events" >"$TMP/b.sse" 2>/dev/null
is "$(sed -n 's/^id: //p' "$TMP/b.sse" | head -1) $(sed -n 's/^data: //p' "$TMP/b.sse" | head -1)" \
	"$A_LAST $A_DATA" "Last-Event-ID on the new leader replays the old leader's events, same ids"
B_NEXT=$(sed -n 's/^id: //p' "$TMP/b.sse" | sed -n 2p)
ok "$([ -z "$B_NEXT" ] || [ "$B_NEXT" -gt "$A_LAST" ]; echo $?)" "... and its own events come after them"
wait_for 90 job_done "$J"
api GET "/api/v1/jobs/$J"
is "$(jbody '"\(.state) \(.result.stats.pi.n) \(.completed_iterations) \(.chunks.completed)/\(.chunks.total)"')" \
	"completed 300000 300000 150/150" "the job completes on the new leader, every chunk counted once"
api GET "/api/v1/nodes/$NODE"
is "$(jbody .state)" online "the node failed over to the new leader"

# PostgreSQL restarts mid-job: the leader takes its lock back (same epoch).
api POST /api/v1/jobs '{"name":"pi2","program":"montecarlo-pi","total_iterations":200000,"chunk_size":2000}'
J2=$(jbody .id)
some_done() { api GET "/api/v1/jobs/$J2"; [ "$(jbody '.chunks.completed // 0')" -ge 10 ]; }
wait_for 60 some_done
"$ROOT/scripts/pg.sh" restart "$PGDIR"
ok $? "PostgreSQL restarted mid-job"
during=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" "$URL/api/v1/jobs/$J2")
diag "a request right after the restart: $during"
wait_for 90 job_done "$J2"
api GET "/api/v1/jobs/$J2"
is "$(jbody '"\(.state) \(.result.stats.pi.n) \(.chunks.completed)/\(.chunks.total)"')" \
	"completed 200000 100/100" "... the job completes, every chunk counted once"
ok "$(kill -0 $B_PID; echo $?)" "... and the leader kept the lead"
# The job may end before the leader's watcher has taken its lock back
# (it retries with a backoff while the database starts).
retaken() { grep -q "the lead is ours again" "$TMP/b.log"; }
wait_for 15 retaken
ok $? "... after taking its lock back"

# The database away: requests get 503 JSON and nothing acknowledged is
# lost (a sample taken while it is away is there once it is back).
api POST /api/v1/metrics '{"agent":"away","metric":"m","value":1,"ts":1699999999000}'
is "$STATUS" 200 "a sample before the database goes away"
"$ROOT/scripts/pg.sh" halt "$PGDIR"
api GET /api/v1/jobs
is "$STATUS $(jbody '.error.code | type')" "503 string" "the database away: 503 with a JSON error"
diag "while away: $BODY"
api POST /api/v1/metrics '{"agent":"away","metric":"m","value":42,"ts":1700000000000}'
AWAY=$STATUS
diag "a sample pushed while the database is away: $AWAY $BODY"
"$ROOT/scripts/pg.sh" resume "$PGDIR"
back() { api GET /api/v1/jobs; [ "$STATUS" = 200 ]; }
wait_for 30 back
ok $? "... and 200 again once it is back"
if [ "$AWAY" = 200 ]; then
	api GET "/api/v1/metrics/query?agent=away&metric=m&from=1699999998000&to=1700000001000&step=1s&agg=max"
	like "$BODY" '42' "... the sample acknowledged while it was away is kept"
else
	skip "no sample was acknowledged while the database was away ($AWAY)"
fi

# The leader notices a lost lock connection at its next check (250 ms):
# wait until it has taken back every one it lost, so that the epoch below
# is raised while it leads.
stable() { [ "$(grep -c 'lost the connection' "$TMP/b.log")" = "$(grep -c 'the lead is ours again' "$TMP/b.log")" ]; }
wait_for 10 stable && sleep 1 && wait_for 10 stable
ok $? "the leader holds its lock again after the outage"

# Fencing: once another replica has led (the epoch raised behind the
# leader's back, as a new leader would), the old one writes nothing more
# and exits.
psql -X -q "$SENTINEL_DB" -c "UPDATE replica_leader SET epoch = epoch + 1" >/dev/null
api POST /api/v1/users '{"username":"fenced1","password":"fenced-pass-1","role":"member"}'
is "$STATUS" 503 "a write after another replica led is refused (503)" ||
	{ diag "$BODY"; grep -v 'request method' "$TMP/b.log" | tail -n 15 | sed 's/^/#   /'; }
psql -X -q "$PGURL" -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = 'replicas' AND pid <> pg_backend_pid()" >/dev/null
for _ in $(seq 1 100); do kill -0 $B_PID 2>/dev/null || break; sleep 0.1; done
kill -0 $B_PID 2>/dev/null && { diag "the fenced leader still runs after 10 s: killed"; kill -9 $B_PID; }
wait $B_PID; brc=$?
is "$brc" 75 "... and once its lock connection drops it cannot take the lead back: it exits (75)"
is "$(psql -X -A -t "$SENTINEL_DB" -c "SELECT count(*) FROM users WHERE username = 'fenced1'")" 0 \
	"... the refused write left nothing"
stop_all_agents
done_testing
