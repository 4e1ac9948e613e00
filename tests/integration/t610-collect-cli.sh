#!/usr/bin/env bash
# The metrics CLI and the collector against a real server: metrics push
# (one sample, NDJSON, CSV as exported, line protocol; a bad line stores
# nothing), query (table and --json, against sums computed here), export
# (CSV and NDJSON round trips), agents ls|show; sentinel collect (CPU time
# of a command that burns a known amount, RSS, exit status and signals
# passed through, an unreachable server never holding the command up, an
# ingest token, GPU figures from a fake nvidia-smi); and the node agent's
# own figures.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_nodes.sh"
start_server
TOKEN=$(login admin adminpass123)
export SENTINEL_SERVER=$URL SENTINEL_TOKEN=$TOKEN
S=$SENTINEL_BIN
ALL=(--from 0 --to 4102444800000)
NOW=$(($(date +%s) * 1000))
T0=$(((NOW / 60000 - 30) * 60000)) # a minute boundary half an hour ago

# ---- push one sample ----
"$S" metrics push --agent a1 --metric lat --value 1.5 --tag model=x --ts "$T0" >"$TMP/out" 2>&1
is "$? $(cat "$TMP/out")" "0 pushed 1 sample" "metrics push: one sample"
api GET "/api/v1/metrics/export?format=ndjson&agent=a1&from=0&to=4102444800000"
is "$(jbody '[.agent,.metric,.ts,.value,.tags.model]|@csv')" "\"a1\",\"lat\",$T0,1.5,\"x\"" \
	"... stored as given"
"$S" metrics push --agent a1 --metric lat --value nan >/dev/null 2>"$TMP/err"
is "$?" 2 "metrics push: a NaN value is a usage error"

# ---- push a file: 600 samples, 2 models ----
for i in $(seq 0 599); do
	printf '{"agent":"a2","metric":"lat","ts":%d,"value":%d,"tags":{"model":"%s"}}\n' \
		$((T0 + i * 1000)) $((i % 17)) "$([ $((i % 3)) = 0 ] && echo a || echo b)"
done >"$TMP/s.ndjson"
"$S" metrics push --file "$TMP/s.ndjson" >"$TMP/out" 2>&1
is "$? $(cat "$TMP/out")" "0 pushed 600 samples" "metrics push --file: NDJSON"

# query: sums per minute and model, against the same sums computed here.
REF=$(jq -rs 'group_by([.tags.model, (.ts / 60000 | floor)])[] |
	"\(.[0].tags.model) \((.[0].ts / 60000 | floor) * 60000) \(map(.value) | add)"' "$TMP/s.ndjson" | sort)
"$S" metrics query --metric lat --agent a2 --from "$T0" --to $((T0 + 600000)) --step 1m --agg sum \
	--by model --json >"$TMP/q.json"
GOT=$(jq -r '.series[] | .tags.model as $m | .points[] | "\($m) \(.[0]) \(.[1])"' "$TMP/q.json" | sort)
is "$GOT" "$REF" "metrics query --by model --agg sum --json: the sums computed here"
"$S" metrics query --metric lat --agent a2 --from "$T0" --to $((T0 + 60000)) --step 1m --agg count \
	>"$TMP/q.txt" 2>&1
like "$(head -n 1 "$TMP/q.txt")" '^AGENT +METRIC +TAGS +TIME +VALUE' "metrics query: a table"
like "$(cat "$TMP/q.txt")" "a2 +lat +model=a +$(date -u -d @$((T0 / 1000)) +%Y-%m-%dT%H:%M:%S)[.0-9]*Z +20" \
	"... one row per point (20 of model a in the first minute)"

# ---- export and push back: the same samples ----
"$S" metrics export --format csv --agent a2 "${ALL[@]}" -o "$TMP/e.csv"
is "$? $(head -n 1 "$TMP/e.csv" | tr -d '\r')" "0 agent,metric,ts,value,tags" "metrics export -o FILE: CSV"
is "$(($(wc -l <"$TMP/e.csv") - 1))" 600 "... every sample"
"$S" metrics export --format ndjson --agent a2 "${ALL[@]}" >"$TMP/e.ndjson"
is "$(wc -l <"$TMP/e.ndjson")" 600 "metrics export to standard output: NDJSON"
sed 's/"a2"/"a3"/' "$TMP/e.ndjson" >"$TMP/a3.ndjson"
sed '1!s/^a2,/a4,/' "$TMP/e.csv" >"$TMP/a4.csv"
"$S" metrics push --file "$TMP/a3.ndjson" >/dev/null && "$S" metrics push --file "$TMP/a4.csv" >/dev/null
is "$?" 0 "the exports pushed back under other agents (NDJSON, CSV)"
norm() { jq -c '[.metric, .ts, .value, .tags]' | sort; }
"$S" metrics export --format ndjson --agent a3 "${ALL[@]}" | norm >"$TMP/r3"
"$S" metrics export --format ndjson --agent a4 "${ALL[@]}" | norm >"$TMP/r4"
norm <"$TMP/e.ndjson" >"$TMP/r2"
ok "$(cmp -s "$TMP/r2" "$TMP/r3" && cmp -s "$TMP/r2" "$TMP/r4"; echo $?)" \
	"... give back exactly the same samples"

# ---- a bad line: nothing of that request stored ----
{ head -n 2 "$TMP/s.ndjson" | sed 's/"a2"/"bad"/'; echo '{"agent":"bad","metric":"lat","value":"x"}'; } >"$TMP/bad.ndjson"
"$S" metrics push --file "$TMP/bad.ndjson" >/dev/null 2>"$TMP/err"
is "$?" 1 "metrics push --file: a bad sample fails"
like "$(tr '\n' ' ' <"$TMP/err")" 'samples\[2\]\.value.*lines 1-3 ' "... naming the sample and the file's lines"
api GET "/api/v1/metrics/export?format=ndjson&agent=bad&from=0&to=4102444800000"
is "$BODY" "" "... and nothing of the request is stored"

# ---- line protocol ----
printf 'gpu,agent=lp1,host=h1 util=40,mem=2i %d\ngpu,agent=lp1,host=h1 util=60,mem=4i %d\n' \
	$((T0 / 1000)) $((T0 / 1000 + 1)) >"$TMP/x.lp"
"$S" metrics push --file "$TMP/x.lp" --precision s >"$TMP/out" 2>&1
is "$? $(cat "$TMP/out")" "0 pushed 2 lines of line protocol" "metrics push --file x.lp --precision s"
"$S" metrics query --metric gpu.util --agent lp1 --from "$T0" --to $((T0 + 60000)) --agg avg --json >"$TMP/q.json"
is "$(jq -c '[.series[0].tags.host, .series[0].points]' "$TMP/q.json")" "[\"h1\",[[$T0,50]]]" \
	"... stored as measurement.field, with the time's precision"

# ---- agents ----
"$S" agents ls >"$TMP/ls.txt"
like "$(head -n 1 "$TMP/ls.txt")" '^NAME +STATUS +LAST_SEEN +OWNER' "agents ls: a table"
like "$(grep '^a2 ' "$TMP/ls.txt")" '^a2 +(online|offline) +[0-9T:.Z-]+ +admin$' "... with a2, its owner admin"
api POST /api/v1/agents/a5/calls "{\"model\":\"m1\",\"latency_ms\":120,\"tokens_in\":10,\"tokens_out\":5,\"cost_usd\":0.25,\"status\":\"ok\"}"
"$S" agents show a5 >"$TMP/show.txt"
is "$?" 0 "agents show"
like "$(cat "$TMP/show.txt")" 'llm\.latency_ms +120' "... the metrics' last values"
like "$(grep -E '^ +calls' "$TMP/show.txt")" 'calls +1$' "... the summary: calls"
like "$(cat "$TMP/show.txt")" 'm1 +1 ' "... by model"
"$S" agents show nosuch >/dev/null 2>"$TMP/err"
is "$?" 1 "agents show of an unknown agent fails"

# ---- collect ----
# A command that burns 0.8 s of CPU (process time: whatever the load) in
# a child, then exits 7: the pushed CPU percentages times their intervals
# add up to about that.
BURN='import time
t = time.process_time()
while time.process_time() - t < 0.8: pass'
"$S" collect --agent job1 --interval 200ms --tag run=t1 -- sh -c "python3 -c '$BURN'; exit 7" \
	2>"$TMP/collect.err"
is "$?" 7 "collect: the command's exit status passed through"
"$S" metrics export --format ndjson --agent job1 "${ALL[@]}" >"$TMP/job1.ndjson"
CPU_S=$(jq -rs '[.[] | select(.metric == "proc.cpu_percent")] | sort_by(.ts) |
	. as $a | [range(1; length) | $a[.].value * ($a[.].ts - $a[. - 1].ts) / 100000] |
	add + $a[0].value * 0.2 / 100' "$TMP/job1.ndjson")
ok "$(awk -v c="$CPU_S" 'BEGIN { exit !(c > 0.6 && c < 1.1) }'; echo $?)" \
	"... CPU % over the intervals adds up to the 0.8 s burnt (got $CPU_S s)"
is "$(jq -rs '[.[] | select(.metric == "proc.rss_bytes" and .value > 1000000)] | length > 0' "$TMP/job1.ndjson")" \
	true "... RSS pushed"
is "$(jq -rs '[.[].tags.run] | unique | join(",")' "$TMP/job1.ndjson")" t1 "... every sample tagged"

"$S" collect --agent job2 -- sleep 30 &
PID=$!
sleep 0.5
kill -TERM $PID
wait_for 5 bash -c "! kill -0 $PID 2>/dev/null"
wait $PID
is "$?" 143 "collect: SIGTERM passed to the command, its death by it passed back (128+15)"

START=$(date +%s%N)
"$S" collect --server http://127.0.0.1:9 --agent job3 --interval 200ms -- sh -c 'sleep 0.5; exit 3' \
	2>"$TMP/err"
RC=$?
MS=$((($(date +%s%N) - START) / 1000000))
is "$RC" 3 "collect: an unreachable server never changes the command's status"
ok "$([ "$MS" -lt 8000 ]; echo $?)" "... nor holds it up for long (${MS} ms)"
like "$(cat "$TMP/err")" 'cannot push' "... and says the pushes failed"

api POST /api/v1/tokens '{"name":"ingest","scope":"metrics:write"}'
ING=$(jbody .token)
SENTINEL_TOKEN=$ING "$S" collect --agent job4 --interval 200ms -- sleep 0.5 2>"$TMP/err"
is "$?" 0 "collect with an ingest token (scope metrics:write)"
api GET "/api/v1/metrics/export?format=ndjson&agent=job4&metric=proc.threads&from=0&to=4102444800000"
ok "$([ -n "$BODY" ]; echo $?)" "... its figures are stored"

# GPU figures from a fake nvidia-smi listing every process of the machine
# as a compute app of 300 MiB on GPU 0 (42 % busy): only the tree's count.
mkdir -p "$TMP/bin"
cat >"$TMP/bin/nvidia-smi" <<'EOF'
#!/bin/sh
case "$1" in
--query-gpu=*) echo "0, GPU-fake0, 42, 1000, 80000"; echo "1, GPU-fake1, 7, 0, 80000" ;;
--query-compute-apps=*) for p in /proc/[0-9]*; do echo "${p#/proc/}, GPU-fake0, 300"; done ;;
esac
EOF
chmod +x "$TMP/bin/nvidia-smi"
PATH=$TMP/bin:$PATH "$S" collect --agent job5 --interval 200ms --gpu-interval 1s -- sleep 1.5
"$S" metrics export --format ndjson --agent job5 "${ALL[@]}" >"$TMP/job5.ndjson"
is "$(jq -rs '[.[] | select(.metric == "gpu.utilization_percent") | "\(.tags.gpu)=\(.value)"] | unique | join(",")' "$TMP/job5.ndjson")" \
	"0=42" "collect: the GPU's utilisation where the tree runs (GPU 0 only)"
is "$(jq -rs '[.[] | select(.metric == "proc.gpu_mem_bytes") | .value] | unique | join(",")' "$TMP/job5.ndjson")" \
	"$((300 * 1048576))" "... and the tree's own GPU memory (one process of 300 MiB)"

# ---- the node agent's own figures ----
start_claimed 1
has_node_mem() {
	api GET "/api/v1/metrics/export?format=ndjson&agent=n1&metric=node.mem_total_bytes&from=0&to=4102444800000"
	[ -n "$BODY" ]
}
wait_for 15 has_node_mem
ok $? "the node agent pushes its own figures (agent = its name)"
is "$(jbody '.value | tostring')" "$(awk '/^MemTotal:/ {printf "%.0f", $2 * 1024}' /proc/meminfo)" \
	"... memory total as /proc/meminfo says"
api GET "/api/v1/metrics/export?format=ndjson&agent=n1&metric=node.load1&from=0&to=4102444800000"
ok "$([ -n "$BODY" ]; echo $?)" "... load1"
finish
