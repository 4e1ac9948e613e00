#!/usr/bin/env bash
# The seed system's four bugs, each held by a check against real agents:
# 1. the job result was never aggregated; 2. progress was never counted;
# 3. two reapers with different thresholds reclaimed a long chunk on a live
# node; 4. "online" had two definitions (the API and the scheduler
# disagreed about a node).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_nodes.sh"
# Leases are 3 node timeouts (6 s): a 9 s chunk outlives its first lease
# and must be kept alive by heartbeats alone.
start_server --node-timeout 2s --heartbeat 500ms
TOKEN=$(login admin adminpass123)
start_claimed 1
ok $? "a node is claimed and online"

# 1 and 2: result and progress.
api POST /api/v1/jobs '{"name":"pi","program":"montecarlo-pi","total_iterations":30000,"chunk_size":1000}'
PJ=$(jbody .id)
wait_for 60 job_done "$PJ"
api GET "/api/v1/jobs/$PJ"
is "$(jbody '"\(.state) \(.result.stats.pi.n)"')" "completed 30000" \
	"bug 1: the job result is aggregated from every chunk (n = iterations)"
is "$(jbody '"\(.completed_iterations)/\(.total_iterations) \(.chunks.completed)/\(.chunks.total)"')" \
	"30000/30000 30/30" "bug 2: progress is counted (iterations and chunks)"

# 3: a chunk longer than its lease on a live node is never reclaimed.
api POST /api/v1/jobs '{"name":"long","program":"sleep","args":["9"]}'
LJ=$(jbody .id)
wait_for 60 job_done "$LJ"
api GET "/api/v1/jobs/$LJ/chunks"
is "$(jbody '.items[0] | "\(.state) \(.attempts | length) \(.attempts[0].state)"')" "completed 1 completed" \
	"bug 3: a 9 s chunk on a live node (6 s leases) completes in its first attempt"

# 4: one definition of offline. The node holding a chunk stops (SIGSTOP):
# the chunk returns to pending only once the API shows the node offline,
# and within about a reaper tick of it.
api POST /api/v1/jobs '{"name":"held","program":"sleep","args":["30"]}'
HJ=$(jbody .id)
held() { api GET "/api/v1/jobs/$HJ/chunks"; [ "$(jbody '.items[0].state')" = running ]; }
wait_for 20 held
kill -STOP "${AGENT[1]}"
first_off= first_back=
for i in $(seq 1 120); do
	api GET "/api/v1/nodes/${NODE_OF[1]}"; st=$(jbody .state)
	api GET "/api/v1/jobs/$HJ/chunks"; cs=$(jbody '.items[0].state')
	[ -z "$first_off" ] && [ "$st" = offline ] && first_off=$i
	[ -z "$first_back" ] && [ "$cs" = pending ] && first_back=$i
	[ -n "$first_off" ] && [ -n "$first_back" ] && break
	sleep 0.1
done
kill -CONT "${AGENT[1]}"
diag "node offline at step $first_off, chunk pending at step $first_back (0.1 s steps)"
ok "$([ -n "$first_off" ] && [ -n "$first_back" ] && [ "$first_back" -ge "$first_off" ] &&
	[ $((first_back - first_off)) -le 15 ]; echo $?)" \
	"bug 4: the chunk is reclaimed only when the API shows its node offline, and promptly"
api GET "/api/v1/jobs/$HJ/chunks"
is "$(jbody '.items[0].attempts[0].reason')" lost_node "... the attempt is recorded as lost_node"
api POST "/api/v1/jobs/$HJ/cancel"
finish
