#!/usr/bin/env bash
# The node agent against a real server: the claim code on stdout and
# stderr, claiming makes it online, SIGTERM exits 0, the key is 0600 and
# reused (same node id) after a restart. With the scheduler's routes: a
# 20-chunk montecarlo-pi job on 3 agents equals a reference computed here
# with Python's 64-bit integer arithmetic; a sandboxed Python script reads
# a dataset input and writes an artifact that downloads byte-identical;
# kill -9 of a node mid-chunk: the chunk runs elsewhere (lost_node);
# results journalled while the server is down are delivered after its
# restart; SIGTERM drains (the running chunk finishes, then exit 0).
. "$(dirname "$0")/lib.sh"
start_server --node-timeout 2s --heartbeat 500ms
TOKEN=$(login admin adminpass123)
. "$(dirname "$0")/lib_nodes.sh"
node_id_of_key() { # the id the contract derives from STATE/node.key
	tail -c 65 "$1" | head -c 64 | xxd -r -p | sha256sum | cut -c1-20 | sed 's/^/nd_/'
}

# ---- registration, claim, SIGTERM, key reuse ----
agent 1
wait_for 15 has_claim 1
ok $? "the agent prints 'Claim this node with: sentinel node claim CODE' on stdout"
CODE=$(claim_line 1)
like "$(grep -c "sentinel node claim $CODE" "$TMP/n1.err")" '^1$' "... and once on stderr"
like "$CODE" '^[0-9A-HJKMNP-TV-Z]{6}$' "the code is 6 Crockford base32 characters"
is "$(stat -c %a "$TMP/n1/node.key")" 600 "node.key is mode 0600"
is "$(wc -c <"$TMP/n1/node.key")" 129 "node.key holds 128 hex digits and a newline"
ID=$(node_id_of_key "$TMP/n1/node.key")
api POST /api/v1/nodes/claim "{\"code\":\"$CODE\"}"
is "$STATUS $(jbody .id)" "200 $ID" "claiming the code gives the node (id from the key)"
wait_for 15 is_online "$ID"
ok $? "the claimed node turns online"
api GET /api/v1/nodes
is "$(jbody "[.items[] | select(.id == \"$ID\") | .state] | join(\",\")")" online \
	"GET /api/v1/nodes lists it online"
wait_for 5 grep -q 'heartbeat every 500 ms' "$TMP/n1.err"
ok $? "the agent beats every 500 ms as the server's --heartbeat 500ms says (heartbeat_ms, not 1 s)"
sum1=$(sha256sum <"$TMP/n1/node.key")
stop_agent 1
is "$ARC" 0 "SIGTERM: the agent exits 0"
for d in journal cache work; do
	[ -d "$TMP/n1/$d" ]; ok $? "the state dir holds $d/"
done
# The first --server refuses connections: the agent fails over to the next.
PRE_SERVER=http://127.0.0.1:1 agent 1 --max-parallel 2
NODE_OF[1]=$ID
wait_for 15 is_online "$ID"
ok $? "restarted with the same state dir (first --server down): online again without a new claim"
is "$(sha256sum <"$TMP/n1/node.key")" "$sum1" "... the key file is reused unchanged"
is "$(grep -c 'sentinel node claim' "$TMP/n1.out")" 1 "... and no second claim code"
api GET /api/v1/nodes
is "$(jbody '[.items[] | .id] | length')" 1 "... one node, the same id"

# ---- jobs ----
if api POST /api/v1/jobs '{}'; [ "$STATUS" = 404 ] && [[ "$(errmsg)" == "no route for"* ]]; then
	skip "POST /api/v1/jobs is not there yet: the job checks wait for the scheduler"
	finish
fi
# Node-local data: a directory's manifest hash is that of the same files
# pushed as a file set; a file's is its SHA-256.
mkdir -p "$TMP/local/sub"
printf 'x,y\n1,2\n' >"$TMP/local/sub/a.csv"
head -c 3000 /dev/urandom >"$TMP/local/b.bin"
chmod 600 "$TMP/local/b.bin"
call POST /api/v1/datasets/localset/versions -H "Authorization: Bearer $TOKEN" \
	-F "file=@$TMP/local/sub/a.csv;filename=sub/a.csv" -F "file=@$TMP/local/b.bin;filename=b.bin"
SETSHA=$(jbody .sha256)
start_claimed 2 --dataset "ldir=$TMP/local" --dataset "one=$TMP/local/b.bin"
ok $? "agent 2 claimed and online"
api GET "/api/v1/nodes/${NODE_OF[2]}"
is "$(jbody '[.datasets[] | "\(.name) \(.files) \(.bytes) \(.manifest_sha256)"] | join(",")')" \
	"ldir 2 3008 $SETSHA,one 1 3000 $(sha256sum <"$TMP/local/b.bin" | cut -c1-64)" \
	"the node reports its --dataset directories and files with their manifest hashes"
start_claimed 3
ok $? "agent 3 claimed and online"


# montecarlo-pi: 20 chunks of 5000 over 3 agents.
api POST /api/v1/jobs '{"name":"pi","program":"montecarlo-pi","total_iterations":100000,"chunk_size":5000,"access":"private"}'
is "$STATUS" 201 "submit a 20-chunk montecarlo-pi job"
PI=$(jbody .id)
wait_for 60 job_done "$PI"
is "$(job_state "$PI")" completed "the job completes"
api GET "/api/v1/jobs/$PI"
got=$(jbody '.result.stats.pi | "\(.n) \(.mean) \(.m2) \(.min) \(.max)"')
is "$(jbody .completed_iterations)" 100000 "completed_iterations: 100000"
api GET "/api/v1/jobs/$PI/chunks?limit=100"
jbody '.items[] | "\(.seed_offset) \(.iterations)"' >"$TMP/chunks"
is "$(wc -l <"$TMP/chunks")" 20 "20 chunks"
is "$(jbody '[.items[].attempts[].node_id] | unique | length')" 3 "the chunks ran on all 3 agents"
# The reference: SplitMix64 seeded with each chunk's seed_offset, two
# doubles per iteration from the top 53 bits, a sample 4*[x*x+y*y<=1].
ref=$(python3 - "$TMP/chunks" <<'PY'
import sys
M = (1 << 64) - 1
n = hits = 0
for line in open(sys.argv[1]):
    s, it = (int(v) for v in line.split())
    s &= M
    for _ in range(it):
        out = []
        for _ in range(2):
            s = (s + 0x9e3779b97f4a7c15) & M
            z = s
            z = ((z ^ (z >> 30)) * 0xbf58476d1ce4e5b9) & M
            z = ((z ^ (z >> 27)) * 0x94d049bb133111eb) & M
            out.append(((z ^ (z >> 31)) >> 11) * 2.0 ** -53)
        hits += out[0] * out[0] + out[1] * out[1] <= 1.0
    n += it
mean = 4.0 * hits / n
m2 = hits * (4 - mean) ** 2 + (n - hits) * mean ** 2
print(n, repr(mean), repr(m2))
PY
)
read -r rn rmean rm2 <<<"$ref"
read -r gn gmean gm2 gmin gmax <<<"$got"
is "$gn" "$rn" "the merged n equals the reference ($rn)"
python3 -c "import sys; a,b,c,d=map(float,sys.argv[1:]); sys.exit(not (abs(a-b) <= 1e-12*abs(b) and abs(c-d) <= 1e-9*abs(d)))" \
	"$gmean" "$rmean" "$gm2" "$rm2"
ok $? "the merged mean and m2 equal the single-process reference ($gmean vs $rmean)"
is "$gmin $gmax" "0 4" "min 0, max 4"

# A sandboxed Python script: reads its dataset input, writes an artifact
# and samples.
printf 'a,b\n1,2\n3,4\n' >"$TMP/in.csv"
call POST /api/v1/datasets/nums/versions -H "Authorization: Bearer $TOKEN" \
	-H 'Content-Type: text/csv' --data-binary @"$TMP/in.csv"
is "$STATUS" 201 "push the dataset 'nums'"
cat >"$TMP/copy.py" <<'PY'
import json, os
files = [os.path.join(d, f) for d, _, fs in os.walk("/data/nums") for f in fs]
data = open(files[0], "rb").read()
os.makedirs("/work/out/sub", exist_ok=True)
open("/work/out/sub/copy.bin", "wb").write(data[::-1] + b"\x00\xff" + os.environ["SENTINEL_CHUNK"].encode())
json.dump({"samples": {"x": [1, 2, 3, 4]}}, open("/work/out/result.json", "w"))
print("read", len(data), "bytes from", files[0])
print("config", json.load(open("/job/config.json"))["greet"], "job", os.environ["SENTINEL_JOB"])
PY
call POST /api/v1/scripts/copy.py/versions -H "Authorization: Bearer $TOKEN" --data-binary @"$TMP/copy.py"
is "$STATUS" 201 "push the script 'copy.py'"
api POST /api/v1/jobs '{"name":"copy","script":"copy.py@1","runtime":"host","inputs":["nums@1"],"config":{"greet":"hello-config"},"limits":{"time_s":60,"memory_mb":512,"network":"none"}}'
is "$STATUS" 201 "submit the script job"
SJ=$(jbody .id)
wait_for 60 job_done "$SJ"
is "$(job_state "$SJ")" completed "the script job completes"
[ "$(job_state "$SJ")" = completed ] || { api GET "/api/v1/jobs/$SJ/chunks"; diag "$BODY"; }
api GET "/api/v1/jobs/$SJ"
is "$(jbody '.result.stats.x | "\(.n) \(.mean) \(.m2) \(.min) \(.max)"')" "4 2.5 5 1 4" \
	"the samples were summarised into stats"
api GET "/api/v1/jobs/$SJ/chunks"
CK=$(jbody '.items[0].id')
python3 -c "import sys; d = open(sys.argv[1], 'rb').read(); sys.stdout.buffer.write(d[::-1] + b'\x00\xff' + sys.argv[2].encode())" \
	"$TMP/in.csv" "$CK" >"$TMP/want.bin"
api GET "/api/v1/jobs/$SJ/artifacts"
ASHA=$(jbody '[.. | objects | select(.path? == "sub/copy.bin") | .sha256] | first')
is "$ASHA" "$(sha256sum <"$TMP/want.bin" | cut -c1-64)" "the artifact sub/copy.bin is listed with its sha256"
curl -s -o "$TMP/got.bin" -H "Authorization: Bearer $TOKEN" "$URL/api/v1/blobs/$ASHA"
cmp -s "$TMP/got.bin" "$TMP/want.bin"
ok $? "the artifact downloads byte-identical"
# A chunk that prints much faster than the node sends its lines: it is
# held back while the node's queue is full, and no line is lost.
printf 'seq 1 200000\n' >"$TMP/loud.sh"
call POST /api/v1/scripts/loud.sh/versions -H "Authorization: Bearer $TOKEN" --data-binary @"$TMP/loud.sh"
is "$STATUS" 201 "push the script 'loud.sh'"
api POST /api/v1/jobs '{"name":"loud","script":"loud.sh@1","runtime":"host","limits":{"time_s":120,"memory_mb":256,"network":"none"}}'
LJ=$(jbody .id)
wait_for 120 job_done "$LJ"
is "$(job_state "$LJ")" completed "the loud job completes"
api GET "/api/v1/jobs/$LJ/logs"
printf '%s\n' "$BODY" | grep -E '[0-9]+$' | sed -E 's/.* ([0-9]+)$/\1/' >"$TMP/loud.got"
seq 1 200000 >"$TMP/loud.want"
cmp -s "$TMP/loud.got" "$TMP/loud.want"
ok $? "all 200,000 lines of a fast printer are in the log, in order ($(wc -l <"$TMP/loud.got") kept)"
unlike "$BODY" 'lines dropped' "... and no 'lines dropped' note"
cmp -s "$TMP/loud.got" "$TMP/loud.want" ||
	diag "$(grep -h 'output\|lines' "$TMP"/n*.err | tail -5; grep "chunks/$LJ-0/log" "$TMP/server.log" | awk '{print $6}' | sort | uniq -c)"

api GET "/api/v1/jobs/$SJ/logs"
like "$BODY" "read 12 bytes from /data/nums/" "the script's output line reached the job log"
like "$BODY" "config hello-config job $SJ" "... the config at /job/config.json and SENTINEL_JOB"

# Node-local inputs pin the job to agent 2 and are bound read-only at /data.
printf 'cat /data/ldir/sub/a.csv\nsha256sum /data/one/b.bin\necho x >/data/one/b.bin || echo read-only\n' >"$TMP/local.sh"
call POST /api/v1/scripts/local.sh/versions -H "Authorization: Bearer $TOKEN" --data-binary @"$TMP/local.sh"
api POST /api/v1/jobs '{"name":"local","script":"local.sh@1","inputs":["ldir@local","one@local"]}'
is "$STATUS $(jbody '[.inputs[].kind] | join(",")')" "201 local,local" \
	"a job on node-local inputs (NAME@local) is accepted, its inputs of kind local"
LJ=$(jbody .id)
wait_for 60 job_done "$LJ"
is "$(job_state "$LJ")" completed "a job on node-local data completes"
api GET "/api/v1/jobs/$LJ/chunks"
is "$(jbody '.items[0].attempts[0].node_id')" "${NODE_OF[2]}" "... on the node holding the data"
api GET "/api/v1/jobs/$LJ/logs"
like "$BODY" "1,2" "the script read the directory's file"
like "$BODY" "$(sha256sum <"$TMP/local/b.bin" | cut -c1-64)  /data/one/b.bin" "... and the single file"
like "$BODY" "read-only" "... which it cannot write"

# kill -9 of the node running a chunk: it runs elsewhere after node_timeout.
running_node() { # running_node JOB: the node id of the running attempt, if any
	api GET "/api/v1/jobs/$1/chunks"
	jbody '[.items[0].attempts[] | select(.state == "running") | .node_id] | first // empty'
}
has_running() { [ -n "$(running_node "$1")" ]; }
agent_of() { for n in "${!NODE_OF[@]}"; do [ "${NODE_OF[$n]}" = "$1" ] && echo "$n"; done; }
api POST /api/v1/jobs '{"name":"nap","program":"sleep","args":["3"]}'
NAP=$(jbody .id)
wait_for 20 has_running "$NAP"
victim=$(agent_of "$(running_node "$NAP")")
like "$victim" '^[123]$' "the sleep chunk runs on agent $victim"
is "$(ls -A "$TMP/n$victim/work" | wc -l)" 0 "a built-in chunk runs without an attempt directory"
stop_agent "$victim" KILL
wait_for 40 job_done "$NAP"
is "$(job_state "$NAP")" completed "after kill -9 of its node the chunk completes elsewhere"
api GET "/api/v1/jobs/$NAP/chunks"
is "$(jbody '[.items[0].attempts[] | .reason] | map(select(. == "lost_node")) | length')" 1 \
	"the lost attempt shows as lost_node"
is "$(jbody '[.items[0].attempts[] | select(.state == "completed")] | length')" 1 \
	"one completed attempt"

# Results journalled while the server is down reach it after its restart.
PORT=${URL##*:}
api POST /api/v1/jobs '{"name":"nap2","program":"sleep","args":["1.5"]}'
NAP2=$(jbody .id)
wait_for 20 has_running "$NAP2"
on=$(agent_of "$(running_node "$NAP2")")
stop_server KILL
has_journal() { [ -s "$TMP/n$on/journal/results.log" ]; }
wait_for 15 has_journal
ok $? "with the server down, agent $on journals the finished result"
sleep 1
start_server --listen "127.0.0.1:$PORT" --node-timeout 2s --heartbeat 500ms
is "$URL" "http://127.0.0.1:$PORT" "the server restarts on the same address"
wait_for 30 job_done "$NAP2"
is "$(job_state "$NAP2")" completed "the journalled result completes the job after the restart"
wait_for 10 eval '! has_journal'
ok $? "... and leaves the journal"
api GET "/api/v1/jobs/$NAP2"
is "$(jbody .chunks.completed)" 1 "... counted once"

# SIGTERM drains: the running chunk finishes and reports, then exit 0.
for n in "${!AGENT[@]}"; do [ "$n" = "$on" ] || api POST "/api/v1/nodes/${NODE_OF[$n]}/drain" '{}'; done
api POST /api/v1/jobs '{"name":"nap3","program":"sleep","args":["1.5"]}'
NAP3=$(jbody .id)
wait_for 20 has_running "$NAP3"
is "$(agent_of "$(running_node "$NAP3")")" "$on" "the chunk runs on the one undrained agent"
stop_agent "$on" TERM
is "$ARC" 0 "SIGTERM with a chunk running: the agent finishes it and exits 0"
is "$(job_state "$NAP3")" completed "... the chunk's result was delivered first"

# A second SIGTERM hands the running chunk back: the agent stops it, sends
# nothing and exits 0; the server sees the attempt lost.
start_claimed 4
ok $? "agent 4 claimed and online"

# Cancel kills a running sandbox within a heartbeat; nothing is reported.
printf 'echo started\nexec sleep 60\n' >"$TMP/nap.sh"
call POST /api/v1/scripts/nap.sh/versions -H "Authorization: Bearer $TOKEN" --data-binary @"$TMP/nap.sh"
api POST /api/v1/jobs '{"name":"cancelme","script":"nap.sh@1"}'
CJ=$(jbody .id)
wait_for 20 has_running "$CJ"
is "$(agent_of "$(running_node "$CJ")")" 4 "the sandboxed sleep runs on agent 4"
api POST "/api/v1/jobs/$CJ/cancel"
# (Its first log batch may meet the cancel first: a 409 stops it as lost.)
stopped_cancelled() { grep -Eq 'stopped \((cancelled|lost)\); no result sent' "$TMP/n4.err"; }
wait_for 10 stopped_cancelled
ok $? "cancelling the job kills its sandbox on the node (no result sent)"
is "$(job_state "$CJ")" cancelled "... the job is cancelled"
api POST /api/v1/jobs '{"name":"long","program":"sleep","args":["60"]}'
LONG=$(jbody .id)
wait_for 20 has_running "$LONG"
is "$(agent_of "$(running_node "$LONG")")" 4 "the long chunk runs on agent 4"
kill -TERM "${AGENT[4]}"
sleep 0.3
t0=$(date +%s)
stop_agent 4 TERM
is "$ARC $(( $(date +%s) - t0 < 5 ))" "0 1" "a second SIGTERM: the agent exits 0 at once"
grep -q 'chunk .* stopped (handed back); no result sent' "$TMP/n4.err"
ok $? "... the chunk was stopped and no result sent"
lost_attempt() {
	api GET "/api/v1/jobs/$LONG/chunks"
	[ "$(jbody '[.items[0].attempts[] | select(.state == "lost")] | length')" = 1 ]
}
wait_for 15 lost_attempt
ok $? "... the server counts the attempt lost once the node times out"
api POST "/api/v1/jobs/$LONG/cancel"

# Removed by an admin: the agent says so and exits 1.
agent 4
wait_for 15 is_online "${NODE_OF[4]}"
ok $? "agent 4 restarted and online"
api DELETE "/api/v1/nodes/${NODE_OF[4]}"
is "$STATUS" 200 "an admin removes node 4"
exited() { ! kill -0 "${AGENT[4]}" 2>/dev/null; }
wait_for 15 exited
stop_agent 4 KILL
is "$ARC" 1 "the removed node's agent exits 1"
like "$(cat "$TMP/n4.err")" 'was removed by an admin' "... saying why"
finish
