#!/usr/bin/env bash
# The node routes of the scheduler, driven by signed requests
# (tests/helpers/nodesign) so that each step is exact: work long poll,
# blobs a node may fetch, logs, results (duplicate accepted once, a wrong
# attempt refused 409), the batch results route, aggregation, a private job
# never offered to another user's node, a node gone offline losing its
# chunk (lost_node, not counted) and told so, cancel told by heartbeat,
# artifact upload with its hash checked, and the log stream's end event.
# The real agent end to end is t520.
. "$(dirname "$0")/lib.sh"
NODESIGN=${SENTINEL_HELPERS:-$(dirname "$SENTINEL_BIN")/tests/helpers}/nodesign
if [ ! -x "$NODESIGN" ]; then
	echo "1..0 # SKIP tests/helpers/nodesign is not built (make integration builds it)"
	exit 0
fi
# The node timeout leaves room for slow (sanitizer) runs between heartbeats:
# work() heartbeats first, but some steps send several requests in a row.
start_server --node-timeout 6s --heartbeat 1s
TOKEN=$(login admin adminpass123)
mkuser bob bobpass1234 member
BOB=$(login bob bobpass1234)
nsign() {
	printf '%s' "$4" >"$TMP/nbody"
	local h
	SIG=()
	while IFS= read -r h; do SIG+=(-H "$h"); done < <("$NODESIGN" sign "$1" "$2" "$3" "$TMP/nbody")
}
nreq() { # KEY METHOD TARGET [BODY]
	nsign "$1" "$2" "$3" "${4:-}"
	if [ -n "${4:-}" ]; then
		call "$2" "$3" "${SIG[@]}" -H 'Content-Type: application/json' --data-binary @"$TMP/nbody"
	else
		call "$2" "$3" "${SIG[@]}"
	fi
}
REG='{"name":"NAME","version":"1","platform":"linux","cores":2,"memory_mb":1000,"gpus":0,"max_parallel":2,"datasets":[]}'
hb() { nreq "$1" POST /api/v1/node/heartbeat "{\"cores\":2,\"memory_mb\":1000,\"load1\":0,\"gpus\":0,\"gpus_free\":0,\"max_parallel\":2,\"running\":${2:-[]},\"runtimes\":[\"host\"],\"blobs\":[],\"draining\":false}"; }
# new_node KEYFILE TOKEN: registers, claims (as TOKEN's user), first heartbeat.
new_node() {
	"$NODESIGN" keygen "$1"
	nreq "$1" POST /api/v1/node/register "${REG/NAME/$(basename "$1")}"
	api POST /api/v1/nodes/claim "{\"code\":\"$("$NODESIGN" code "$1")\"}" "$2"
	hb "$1"
}
# work KEY [SLOTS [WAIT_S]]: a heartbeat (the node stays online), then a poll.
work() { hb "$1"; nreq "$1" POST /api/v1/node/work "{\"free_slots\":${2:-2},\"free_gpus\":0,\"wait_s\":${3:-5}}"; }
J=/api/v1/jobs

new_node "$TMP/k1" "$TOKEN"
is "$STATUS" 200 "node 1 (admin's) registered, claimed, online"
N1=$("$NODESIGN" id "$TMP/k1")
new_node "$TMP/k2" "$BOB"
N2=$("$NODESIGN" id "$TMP/k2")

printf 'print(1)\n' >"$TMP/s.py"
call POST /api/v1/scripts/one/versions -H "Authorization: Bearer $TOKEN" --data-binary @"$TMP/s.py"
SSHA=$(sha256sum "$TMP/s.py" | cut -c1-64)
api POST $J '{"name":"agg","script":"one@1","total_iterations":30,"chunk_size":10}'
JOB=$(jbody .id)

# bob's node is never offered admin's private job.
work "$TMP/k2" 2 1
is "$STATUS $(jbody '.chunks | length')" "200 0" "another user's node polls: nothing (private job)"

work "$TMP/k1" 2
is "$STATUS $(jbody '.chunks | length')" "200 2" "the owner's node gets 2 chunks (free_slots)"
C0=$(jbody '.chunks[0].id'); C1=$(jbody '.chunks[1].id')
# lease_s: three node timeouts.
is "$(jbody '.chunks[0] | "\(.job_id) \(.attempt) \(.iterations) \(.script.sha256) \(.lease_s)"')" \
	"$JOB 1 10 $SSHA 18" "a chunk as the node gets it"
nreq "$TMP/k1" GET "/api/v1/node/blobs/$SSHA"
is "$STATUS $BODY" "200 print(1)" "the node fetches its chunk's script"
nreq "$TMP/k2" GET "/api/v1/node/blobs/$SSHA"
is "$STATUS" 404 "... another node may not"
nreq "$TMP/k1" GET "/api/v1/node/blobs/$(printf %064d 7)"
is "$STATUS" 404 "... nor any blob its chunks do not name"

nreq "$TMP/k1" POST "/api/v1/node/chunks/$C0/log" '{"attempt":1,"lines":[{"stream":1,"text":"hello"},{"stream":2,"text":"oops"}]}'
is "$STATUS" 204 "log lines of a held chunk"
nreq "$TMP/k1" POST "/api/v1/node/chunks/$C0/log" '{"attempt":2,"lines":[{"stream":1,"text":"x"}]}'
is_error 409 lease_lost "log lines of another attempt: 409 lease_lost"

R0='{"attempt":1,"status":"completed","result":{"stats":{"x":{"n":2,"mean":1,"m2":2,"min":0,"max":2}}},"sandbox":{"exit":0},"artifacts":[]}'
nreq "$TMP/k1" POST "/api/v1/node/chunks/$C0/result" "$R0"
is "$STATUS $(jbody .accepted) $(jbody .duplicate)" "200 true false" "a result"
nreq "$TMP/k1" POST "/api/v1/node/chunks/$C0/result" "$R0"
is "$STATUS $(jbody .accepted) $(jbody .duplicate)" "200 true true" "the same result again: a duplicate"
nreq "$TMP/k1" POST "/api/v1/node/chunks/$C1/result" "${R0/\"attempt\":1/\"attempt\":2}"
is_error 409 lease_lost "a result for an attempt it does not hold: 409"
nreq "$TMP/k2" POST "/api/v1/node/chunks/$C1/result" "$R0"
is_error 409 lease_lost "... or from another node: 409"

# An artifact: the content must hash to the path.
printf 'artifact bytes' >"$TMP/art"
ASHA=$(sha256sum "$TMP/art" | cut -c1-64)
put() { # KEY SHA FILE
	local h; SIG=()
	while IFS= read -r h; do SIG+=(-H "$h"); done < <("$NODESIGN" sign "$1" PUT "/api/v1/node/blobs/$2" "$3")
	call PUT "/api/v1/node/blobs/$2" "${SIG[@]}" -H 'Content-Type: application/octet-stream' --data-binary @"$3"
}
put "$TMP/k1" "$(printf %064d 5)" "$TMP/art"
is "$STATUS" 400 "an upload whose signed hash is not its path: refused"
put "$TMP/k1" "$ASHA" "$TMP/art"
is "$STATUS $(jbody .sha256) $(jbody .bytes)" "201 $ASHA 14" "an artifact upload"
put "$TMP/k2" "$ASHA" "$TMP/art"
is "$STATUS" 403 "a node that holds no chunk may not upload"

R1='{"chunk":"'$C1'","attempt":1,"status":"completed","result":{"samples":{"x":[4,5,6]},"output":"o1 \"q\" \\ {a,\"b\"} NULL é"},"artifacts":[{"path":"out/a.txt","sha256":"'$ASHA'","bytes":14}]}'
nreq "$TMP/k1" POST /api/v1/node/results '{"results":['"$R1"',{"chunk":"jb_nope-0","attempt":1,"status":"completed"}]}'
is "$STATUS $(jbody '.results[0].accepted') $(jbody '.results[1].error.code')" "200 true lease_lost" \
	"the batch route: one accepted, an unknown chunk refused"
api GET "$J/$JOB"
is "$(jbody '"\(.completed_iterations) \(.chunks.completed) \(.result.stats.x.n) \(.result.stats.x.mean) \(.result.stats.x.min) \(.result.stats.x.max) \(.result.outputs[0])"')" \
	"20 2 5 3.4 0 6 o1 \"q\" \\ {a,\"b\"} NULL é" \
	"aggregated: iterations once per chunk, stats merged (samples summarised), the output kept as sent"
api GET "$J/$JOB/artifacts"
is "$(jbody '.items[0] | "\(.chunk) \(.path) \(.sha256)"')" "1 out/a.txt $ASHA" "the artifact is listed"
curl -s -o "$TMP/dl" -H "Authorization: Bearer $TOKEN" "$URL/api/v1/blobs/$ASHA"
ok "$(cmp -s "$TMP/dl" "$TMP/art"; echo $?)" "... and downloads byte-identical"

# The last chunk: node 1 takes it, then goes silent past --node-timeout.
work "$TMP/k1" 1
C2=$(jbody '.chunks[0].id')
is "$(jbody '.chunks[0].index')" 2 "the last chunk goes to node 1"
gone() { api GET "$J/$JOB/chunks"; [ "$(jbody '.items[2].state')" = pending ]; }
for _ in $(seq 1 200); do gone && break; sleep 0.1; done
is "$(jbody '.items[2] | "\(.state) \(.failures) \(.attempts[0].state) \(.attempts[0].reason)"')" \
	"pending 0 lost lost_node" "node offline: the chunk is pending again, the attempt lost_node, not counted"
hb "$TMP/k1" "[\"$C2\"]"
is "$(jbody '.lost | join(",")')" "$C2" "the node comes back reporting it: told it is lost"
nreq "$TMP/k1" POST "/api/v1/node/chunks/$C2/result" '{"attempt":1,"status":"completed","result":{"stats":{}}}'
is_error 409 lease_lost "... and its late result is refused"
work "$TMP/k1" 1
is "$(jbody '.chunks[0].id') $(jbody '.chunks[0].attempt')" "$C2 2" "it runs again as attempt 2"
nreq "$TMP/k1" POST "/api/v1/node/chunks/$C2/result" '{"attempt":2,"status":"completed","result":{"stats":{"x":{"n":1,"mean":1,"m2":0,"min":1,"max":1}}}}'
api GET "$J/$JOB"
is "$(jbody '"\(.state) \(.completed_iterations) \(.result.stats.x.n) \(.result.stats.x.mean)"')" \
	"completed 30 6 3" "the job completes exactly once"
api GET "$J/$JOB/logs"
like "$BODY" '\[0#1\] hello' "the logs: node lines"
like "$BODY" '\[2#1\] sentinel: attempt 1 lost \(lost_node' "... and the lost attempt"
curl -s -N --max-time 10 -H "Authorization: Bearer $TOKEN" "$URL$J/$JOB/logs?follow=1" >"$TMP/sse"
like "$(grep -c '^event: log' "$TMP/sse")" '^[3-9]$' "follow: one 'event: log' per line"
is "$(tail -n 3 "$TMP/sse" | head -n 2 | tr '\n' ' ')" "event: end data: {} " "... then 'event: end' for a finished job"

# Cancel: the node holding a chunk is told to stop it.
api POST $J '{"name":"long","program":"sleep","args":["60"]}'
LONG=$(jbody .id)
work "$TMP/k1" 1
CL=$(jbody '.chunks[0].id')
api POST "$J/$LONG/cancel"
hb "$TMP/k1" "[\"$CL\"]"
is "$(jbody '.cancel | join(",")')" "$CL" "cancel: the heartbeat tells the node to stop the chunk"
api GET "$J/$LONG/chunks"
is "$(jbody '.items[0].state') $(jbody '.items[0].attempts[0].state')" "cancelled cancelled" \
	"the chunk and its attempt are cancelled"
# Node-local data: "NAME@local", "NAME@<manifest sha256>" or a bare NAME that no
# uploaded dataset answers pins the job to a node holding that manifest, which
# gets the input as kind "local" with the hash (a server refused it with 400).
LSHA=$(printf 'local manifest' | sha256sum | cut -c1-64)
LDS='"datasets":[{"name":"ldata","manifest_sha256":"'$LSHA'","bytes":3,"files":1,"path":"/srv/ldata"}]'
"$NODESIGN" keygen "$TMP/k3"
nreq "$TMP/k3" POST /api/v1/node/register '{"name":"k3","max_parallel":2,'"$LDS"'}'
api POST /api/v1/nodes/claim "{\"code\":\"$("$NODESIGN" code "$TMP/k3")\"}"
hb "$TMP/k3"
api POST $J '{"name":"local","program":"noop","inputs":["ldata@local"]}'
is "$STATUS" 201 "a job on a node-local dataset (NAME@local) is accepted"
LJ=$(jbody .id)
work "$TMP/k1" 2 1
is "$(jbody '.chunks | length')" 0 "... a node without that data gets none of it"
work "$TMP/k3" 2 1
is "$(jbody '.chunks[0] | "\(.job_id) \(.inputs[0].kind) \(.inputs[0].name) \(.inputs[0].sha256) \(.inputs[0].version)"')" \
	"$LJ local ldata $LSHA null" "... the node holding it gets the chunk, the input as kind local with its manifest"
api POST $J '{"name":"local2","program":"noop","inputs":["ldata@'$LSHA'"]}'
is "$STATUS $(jbody '.inputs[0].kind')" "201 local" "NAME@<manifest sha256> names it too"
api POST $J '{"name":"local3","program":"noop","inputs":["ldata"]}'
is "$STATUS $(jbody '.inputs[0].sha256')" "201 $LSHA" "... and a bare NAME no uploaded dataset answers"
api POST $J '{"name":"local4","program":"noop","inputs":["ldata@'$(printf %064d 1)'"]}'
is_error 422 invalid "another manifest of that name: 422"
nreq "$TMP/k2" POST /api/v1/node/register '{"name":"k2","max_parallel":2,"datasets":[{"name":"bobdata","manifest_sha256":"'$LSHA'"}]}'
api POST $J '{"name":"local5","program":"noop","inputs":["bobdata@local"]}'
is_error 422 invalid "data on a node the (private) job may not use: 422"
api POST $J '{"name":"local6","program":"noop","inputs":["bobdata@local"],"access":"public"}'
is_error 422 invalid "... nor a public one, while the node's owner does not permit it"
# Twelve results in one request are written in one batch (on PostgreSQL:
# as statements over arrays); every output is kept byte for byte.
"$NODESIGN" keygen "$TMP/k4"
nreq "$TMP/k4" POST /api/v1/node/register "${REG/NAME/k4}"
api POST /api/v1/nodes/claim "{\"code\":\"$("$NODESIGN" code "$TMP/k4")\"}"
HB16='{"cores":2,"memory_mb":1000,"load1":0,"gpus":0,"gpus_free":0,"max_parallel":16,"running":[],"runtimes":["host"],"blobs":[],"draining":false}'
nreq "$TMP/k4" POST /api/v1/node/heartbeat "$HB16"
api POST $J '{"name":"many","script":"one@1","total_iterations":12,"chunk_size":1}'
MJ=$(jbody .id)
nreq "$TMP/k4" POST /api/v1/node/work '{"free_slots":16,"free_gpus":0,"wait_s":5}'
MIDS=$(jbody "[.chunks[] | select(.job_id == \"$MJ\") | .id] | join(\" \")")
MRES= want=
for c in $MIDS; do
	i=${c##*-}
	MRES+="${MRES:+,}{\"chunk\":\"$c\",\"attempt\":1,\"status\":\"completed\",\"result\":{\"output\":\"m$i \\\"q\\\" \\\\ {a,\\\"b\\\"} NULL é\"}}"
done
nreq "$TMP/k4" POST /api/v1/node/results "{\"results\":[$MRES]}"
is "$STATUS $(jbody '[.results[] | select(.accepted)] | length')" "200 12" "twelve results in one request, all accepted"
api GET "$J/$MJ"
is "$(jbody '.state + " " + (.result.outputs | length | tostring)')" "completed 12" "... the job completes with twelve outputs"
is "$(jbody '.result.outputs[3]') | $(jbody '.result.outputs[11]')" \
	'm3 "q" \ {a,"b"} NULL é | m11 "q" \ {a,"b"} NULL é' "... each kept as sent"
# A batch the store refuses is written again op by op, which would hide
# a fault of the batched form: none may have failed.
is "$(curl -s -H "Authorization: Bearer $TOKEN" "$URL/metrics" | awk '$1 == "sentinel_sched_write_errors_total" {print $2}')" 0 \
	"... in batches the store took at once (no write errors)"
api GET "$J/$MJ/chunks?limit=100"
is "$(jbody "[.items[] | select(.state == \"completed\" and (.attempts | length) == 1 and .attempts[0].state == \"completed\" and .attempts[0].node_id == \"$("$NODESIGN" id "$TMP/k4")\")] | length")" 12 \
	"... its chunks and their one attempt each are completed, on the node that ran them"
# Routine node traffic (work, logs, results, blobs) writes no audit rows;
# registration does.
api GET "/api/v1/audit?limit=1000"
is "$(jbody '[.items[] | select((.actor // "") | startswith("node:")) | select(.status < 300) | .action] | unique | join(",")')" \
	"node.register" "node work, logs and results leave no audit rows"
# Throughput: completions per minute, counted as nodes report them.
api GET $J/throughput
DONE=$(dbq "SELECT COUNT(*) FROM chunks WHERE state = 'completed'")
is "$STATUS $(jbody .scope) $(jbody '.counts | length') $(jbody .step_s)" "200 all 60 60" \
	"GET /jobs/throughput: an admin sees everyone's, 60 minutes of 60 s"
is "$(jbody .total) $(jbody '.counts | add')" "$DONE $DONE" "... every completed chunk of this run counted ($DONE)"
BOBS=$(dbq "SELECT COUNT(*) FROM chunks c JOIN jobs j ON j.id = c.job_id JOIN users u ON u.id = j.owner_id WHERE c.state = 'completed' AND u.username = 'bob'")
api GET $J/throughput "" "$BOB"
is "$(jbody .scope) $(jbody .total)" "own $BOBS" "a member sees their own jobs' completions ($BOBS)"
call GET $J/throughput
is_error 401 unauthorized "... and nobody without a token"
done_testing
