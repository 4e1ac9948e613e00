#!/usr/bin/env bash
# A node running short chunks signs more requests in a minute than the
# server remembers nonces of one key (node_int.h: NODE_NONCES_PER_KEY,
# 4,096). The server forgets the older half instead of refusing the key:
# before, the node was refused (503 busy) for the rest of the minute, its
# heartbeats too, and lost its chunks; a 10,000-chunk job took 252 s
# instead of 7.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_nodes.sh"
start_server
TOKEN=$(login admin adminpass123)
start_claimed 1
api POST /api/v1/jobs '{"name":"pi","program":"montecarlo-pi","total_iterations":12000000,"chunk_size":2000}'
J=$(jbody .id)
is "$STATUS" 201 "a job of 6,000 chunks of some 10 µs each"
t0=$(date +%s%N)
wait_for 120 job_done "$J"
ok $? "... completes"
diag "in $(( ($(date +%s%N) - t0) / 1000000 )) ms"
api GET "/api/v1/jobs/$J"
is "$(jbody '"\(.state) \(.result.stats.pi.n) \(.chunks.completed)/\(.chunks.total)"')" \
	"completed 12000000 6000/6000" "... every chunk counted once"
signed=$(grep -c "user=node:${NODE_OF[1]}" "$TMP/server.log")
ok "$([ "$signed" -gt 4096 ]; echo $?)" "the node signed more than 4,096 requests ($signed)"
unlike "$(cat "$TMP/n1.err")" "refused|is lost|busy" "... and none was refused: no chunk lost"
is "$(dbq "SELECT count(*) FROM attempts WHERE job_id = '$J'")" 0 \
	"no attempt other than the completed ones"

# What the floor refuses: a request of this key signed 30 s ago (inside the
# clock window, but older than the nonces the server kept) is refused and
# is to be signed again; one signed now passes the check.
NODESIGN=${SENTINEL_HELPERS:-$(dirname "$SENTINEL_BIN")/tests/helpers}/nodesign
hb() { # hb TS_MS: a signed heartbeat of node 1 with an empty body
	: >"$TMP/empty"
	local h args=()
	while IFS= read -r h; do args+=(-H "$h"); done < <("$NODESIGN" sign "$TMP/n1/node.key" \
		POST /api/v1/node/heartbeat "$TMP/empty" "$1")
	call POST /api/v1/node/heartbeat "${args[@]}"
}
hb $(( $(date +%s%3N) - 30000 ))
is "$STATUS $(jbody .error.code)" "401 stale_timestamp" \
	"a request of the key signed 30 s ago, behind its newer ones: 401"
like "$(jbody .error.message)" "sign it again" "... to be signed again"
hb "$(date +%s%3N)"
ok "$([ "$STATUS" != 401 ]; echo $?)" "... one signed now passes the signature checks ($STATUS)"
stop_all_agents
finish
