#!/usr/bin/env bash
# The metrics CLI's refusals and less common paths: push of one sample
# (--tag, --ts, --json, bad values), push --file refusals (format, a line
# that is not JSON, a CSV without the export's header, a value that is
# not a number, a file that is not there), line protocol with --agent;
# query without samples; export --format refused; agents show --json;
# the summary refuses a range before 1970; the series limit
# (--metrics-max-series) answers 429 and stores nothing; a server whose
# metrics directory cannot be created does not start.
. "$(dirname "$0")/lib.sh"
S=$SENTINEL_BIN

# A data directory whose metrics/ is a file: the server refuses to start.
mkdir -p "$TMP/bad"
: >"$TMP/bad/metrics"
SERVER_DATA=$TMP/bad try_start_server
is "$?" 1 "metrics/ is a file: the server does not start"
like "$(cat "$TMP/server.log" "$TMP/server.out" 2>/dev/null)" "bad/metrics" "... naming the metrics directory"

start_server --metrics-max-series 6
TOKEN=$(login admin adminpass123)
mkuser bob bobpass1234 member
BOB=$(login bob bobpass1234)
sn() { SENTINEL_SERVER=$URL SENTINEL_TOKEN=$BOB "$S" "$@"; }
NOW=$(date +%s%3N)

# ---- push one sample ----
out=$(sn metrics push --agent bot --metric lat --value 12.5 --tag region=eu --ts "$((NOW - 5000))")
is "$? $out" "0 pushed 1 sample" "push one sample with a tag and a unix-ms time"
out=$(sn metrics push --agent bot --metric lat --value 13.5 --tag region=eu --ts 2s --json)
is "$? $(jq -r .accepted <<<"$out")" "0 1" "push --ts 2s --json: the server's answer"
api GET "/api/v1/metrics/export?agent=bot&format=ndjson&from=-1h" "" "$BOB"
is "$(printf '%s\n' "$BODY" | jq -s -c '[.[] | [.value, .tags.region]]')" '[[12.5,"eu"],[13.5,"eu"]]' \
	"... both stored with their tag"
out=$(sn metrics push --agent bot --metric lat 2>&1)
is "$? $out" "2 sentinel metrics push: give --agent, --metric and --value (or --file)" "push without --value: exit 2"
out=$(sn metrics push --agent bot --metric lat --value nan 2>&1)
is "$? $out" "2 sentinel metrics push: --value must be a finite number" "push --value nan: exit 2"
out=$(sn metrics push --agent bot --metric lat --value 1 --tag region 2>&1)
is "$? $out" "2 sentinel metrics push: --tag region: expected K=V" "push --tag without '=': exit 2"
out=$(sn metrics push --file x.ndjson --value 1 2>&1)
is "$? $out" "2 sentinel metrics push: --file goes without --metric and --value" "--file with --value: exit 2"
out=$(sn metrics push --agent bot --metric 'bad metric!' --value 1 2>&1)
is "$?" 1 "push of a metric name the server refuses: exit 1"
like "$out" '\(HTTP 400\)$' "... with the server's 400"

# ---- push --file refusals ----
out=$(sn metrics push --file "$TMP/x" --format xml 2>&1)
is "$? $out" "2 sentinel metrics push: --format must be ndjson, csv or lp" "--format xml: exit 2"
out=$(sn metrics push --file "$TMP/nosuch.ndjson" 2>&1)
is "$? $out" "1 sentinel metrics push: $TMP/nosuch.ndjson: No such file or directory" "a missing file: exit 1"
printf '{"agent":"bot","metric":"m","value":1,"ts":%s}\n\n[1]\n' "$NOW" >"$TMP/a.ndjson"
out=$(sn metrics push --file "$TMP/a.ndjson" 2>&1)
is "$? $out" "1 sentinel metrics push: $TMP/a.ndjson: line 3: not a JSON object (0 samples stored before)" \
	"NDJSON: a line that is no object, named by number"
printf '{"agent":"bot","metric":"m","value":1,"ts":%s}\n{"agent":\n' "$NOW" >"$TMP/b.ndjson"
out=$(sn metrics push --file "$TMP/b.ndjson" 2>&1)
is "$?" 1 "NDJSON: a line that is not JSON: exit 1"
like "$out" "b.ndjson: line 2: " "... named by number"
printf 'when,what\n1,2\n' >"$TMP/c.csv"
out=$(sn metrics push --file "$TMP/c.csv" 2>&1)
is "$?" 1 "CSV without the export's header: exit 1"
like "$out" "line 1: the header must name agent, metric, ts, value and tags" "... saying which columns"
printf 'agent,metric,ts,value,tags\nbot,m,%s,abc,\n' "$NOW" >"$TMP/d.csv"
out=$(sn metrics push --file "$TMP/d.csv" 2>&1)
is "$?" 1 "CSV with a value that is no number: exit 1"
like "$out" "line 2: value: not a finite number" "... named by line"
printf 'metric,ts,value\nm,%s,4\nm,%s,5\n' "$((NOW - 2000))" "$((NOW - 1000))" >"$TMP/e.csv"
out=$(sn metrics push --file "$TMP/e.csv" --agent csvbot)
is "$? $out" "0 pushed 2 samples" "CSV without an agent column, --agent given"
printf 'agent,metric,ts,value,tags\nbot,m,1,"unterminated\n' >"$TMP/f.csv"
out=$(sn metrics push --file "$TMP/f.csv" 2>&1)
is "$?" 1 "CSV with a syntax error: exit 1"
like "$out" "f.csv: line [0-9]+, field [0-9]+: " "... with its line and field"
printf 'cpu,host=a usage=1.5 %s\ncpu,host=a usage=2.5 %s\n' "$((NOW - 3000))" "$((NOW - 2000))" >"$TMP/g.lp"
out=$(sn metrics push --file "$TMP/g.lp" --agent lpbot --precision ms 2>&1)
is "$?" 0 "line protocol with --agent and --precision ms"
api GET "/api/v1/metrics/export?agent=lpbot&format=ndjson&from=-1h" "" "$BOB"
is "$(printf '%s\n' "$BODY" | jq -s -c '[.[].value]')" "[1.5,2.5]" "... both values stored for agent lpbot"
printf 'cpu usage=1 %s\nnot line protocol at all\n' "$NOW" >"$TMP/h.lp"
out=$(sn metrics push --file "$TMP/h.lp" --agent lpbot --precision ms 2>&1)
is "$?" 1 "line protocol the server refuses: exit 1"
like "$out" "the request held lines 1-2 of the file" "... saying which lines"
out=$(SENTINEL_SERVER=http://127.0.0.1:1 SENTINEL_TOKEN=x "$S" metrics push --file "$TMP/g.lp" 2>&1)
is "$?" 1 "line protocol to a server that is not there: exit 1"
like "$out" "cannot reach the server" "... saying so"

# ---- the series limit: 6 ----
api POST /api/v1/metrics "{\"samples\":[$(for i in 1 2 3 4 5 6 7 8; do
	printf '{"agent":"wide","metric":"m%d","value":1},' "$i"; done | sed 's/,$//')]}" "$BOB"
is_error 429 too_many_series "a push past --metrics-max-series: 429"
like "$(errmsg)" "at most 6" "... naming the limit"
api GET "/api/v1/metrics/export?agent=wide&format=ndjson&from=-1h" "" "$BOB"
is "$STATUS ${BODY:-none}" "200 none" "... and agent wide stored nothing (an empty export)"

# ---- query, export, agents ----
out=$(sn metrics query --metric nosuch --agent bot 2>&1)
is "$?" 0 "query of a metric with no samples: exit 0"
like "$out" "no samples in the range" "... saying so"
out=$(sn metrics query --agent bot 2>&1)
is "$? $out" "2 sentinel metrics query: --metric is required" "query without --metric: exit 2"
out=$(sn metrics query --metric lat --tag bad 2>&1)
is "$? $out" "2 sentinel metrics query: --tag bad: expected K=V" "query --tag without '=': exit 2"
out=$(sn metrics query --metric lat --agent bot --tag region=eu --by agent --from 1h --to now)
like "$(tail -n 1 <<<"$out")" "13(\.0+)?$|12\.5$|13\.5$" "query --tag region=eu --by agent: a row with the data"
out=$(sn metrics export --format xml 2>&1)
is "$? $out" "2 sentinel metrics export: --format must be csv or ndjson" "export --format xml: exit 2"
out=$(sn metrics export --agent bot -o "$TMP/nodir/x.csv" 2>&1)
is "$?" 1 "export to a directory that is not there: exit 1"
out=$(sn agents show bot --json)
is "$(jq -r '"\(.agent.name) \(.summary.calls)"' <<<"$out")" "bot 0" "agents show --json: the agent and its summary"
api GET "/api/v1/agents/bot/summary?from=-100000d" "" "$BOB"
is_error 400 bad_request "a summary from before 1970: 400"
api GET "/api/v1/agents/nosuch/summary" "" "$BOB"
is_error 404 not_found "the summary of an unknown agent: 404"
out=$(sn agents show nosuch 2>&1)
is "$?" 1 "agents show of an unknown agent: exit 1"
out=$("$S" metrics bogus 2>&1)
is "$?" 2 "metrics bogus: exit 2"
done_testing
