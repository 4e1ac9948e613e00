#!/usr/bin/env bash
# Line protocol (escapes, integer and float fields, precision, a malformed
# line refused with its number and nothing stored), OTLP/HTTP JSON (the
# fixtures of tests/fixtures/otlp, moved to the present), LLM calls and
# their summary against a reference, and versioned prices (a call before a
# price change keeps its old cost).
. "$(dirname "$0")/lib.sh"
start_server
TOKEN=$(login admin adminpass123)
mkuser alice alicepass123 member
ALICE=$(login alice alicepass123)
as() { local t=$1 m=$2 p=$3; shift 3; call "$m" "$p" -H "Authorization: Bearer $t" "$@"; }
lp() { as "$ALICE" POST "/api/v1/metrics/write$1" -H 'Content-Type: text/plain' --data-binary "$2"; }
export_nd() { as "$ALICE" GET "/api/v1/metrics/export?format=ndjson&from=-2h&to=now$1"; }
NOW_S=$(date +%s)
S=$((NOW_S - 600))

# ---- line protocol ----
lp "" "weather,agent=lp1,location=us\\ west\\,2 temperature=82.5,humidity=71i,ok=true ${S}000000000
cpu,agent=lp1,host=a value=0.5,busy=3u ${S}123456789"
is "$STATUS" 204 "line protocol is accepted (204)"
as "$ALICE" GET "/api/v1/metrics/export?format=ndjson&agent=lp1&from=$(((S - 1) * 1000))&to=$(((S + 1) * 1000))"
printf '%s\n' "$BODY" | grep -v '^$' | jq -c '[.metric, .ts, .value, .tags]' | sort >"$TMP/lp.txt"
is "$(cat "$TMP/lp.txt")" "$(printf '%s\n' \
	"[\"cpu\",$((S * 1000 + 123)),0.5,{\"host\":\"a\"}]" \
	"[\"cpu.busy\",$((S * 1000 + 123)),3,{\"host\":\"a\"}]" \
	"[\"weather.humidity\",$((S * 1000)),71,{\"location\":\"us west,2\"}]" \
	"[\"weather.ok\",$((S * 1000)),1,{\"location\":\"us west,2\"}]" \
	"[\"weather.temperature\",$((S * 1000)),82.5,{\"location\":\"us west,2\"}]" | sort)" \
	"fields become samples: escapes, i/u suffixes, booleans, ns truncated to ms"
for p in s ms us; do
	case $p in s) t=$S ;; ms) t=${S}001 ;; us) t=${S}002000 ;; esac
	lp "?precision=$p&agent=lp2" "prec value=1 $t"
	[ "$STATUS" = 204 ] || diag "precision $p: $STATUS $BODY"
done
as "$ALICE" GET "/api/v1/metrics/export?format=ndjson&agent=lp2&from=$(((S - 1) * 1000))&to=$(((S + 1) * 1000))"
is "$(printf '%s\n' "$BODY" | grep -v '^$' | jq -r .ts | sort | tr '\n' ' ')" \
	"$((S * 1000)) $((S * 1000 + 1)) $((S * 1000 + 2)) " "precision s, ms, us; the agent from ?agent="
lp "?precision=h" "x value=1"
is_error 400 bad_request "an unknown precision is refused"
lp "" "good,agent=lp3 value=1 ${S}000000000
bad,agent=lp3 value=\"text\" ${S}000000000
good,agent=lp3 value=2 ${S}000000000"
is_error 400 bad_request "a string field refuses the request"
like "$(errmsg)" '^line 2' "... naming line 2"
lp "" "a,agent=lp3 value=1
b,agent=lp3 value= 1
c,agent=lp3 value=3"
like "$STATUS $(errmsg)" '^400 line 2' "a malformed line is refused with its number"
as "$ALICE" GET /api/v1/agents/lp3
is "$STATUS" 404 "... and nothing of either request was stored"
lp "" "noagent value=1"
is_error 400 bad_request "a line without an agent (tag or ?agent=) is refused"

# ---- OTLP/HTTP JSON ----
# The fixtures' times (June 2024) moved to a few minutes ago, digits kept.
A=$(( (NOW_S - 2000) / 1000 ))
shift_ts() { sed -e "s/\"1718000/\"$A/g" -e "s/\"1717999/\"$((A - 1))/g" "$1"; }
shift_ts tests/fixtures/otlp/metrics.json >"$TMP/m.json"
shift_ts tests/fixtures/otlp/traces.json >"$TMP/t.json"
as "$ALICE" POST /v1/metrics -H 'Content-Type: application/json' --data-binary @"$TMP/m.json"
is "$STATUS $BODY" '200 {"partialSuccess":{}}' "OTLP metrics are accepted"
as "$ALICE" GET "/api/v1/metrics/export?format=ndjson&agent=chat-agent&metric=queue.depth&from=-1h&to=now"
is "$(printf '%s\n' "$BODY" | grep -v '^$' | jq -r 'select(.tags.queue == "inbox") | .value')" 17 \
	"... a gauge point (asInt) with its attribute as a tag"
as "$ALICE" GET "/api/v1/metrics/export?format=ndjson&agent=embedder&from=-1h&to=now"
is "$(printf '%s\n' "$BODY" | grep -v '^$' | jq -r 'select(.metric == "process.cpu.utilization") | .value')" 0.25 \
	"... the second resource's service.name is its agent"
as "$ALICE" POST /v1/metrics -H 'Content-Type: application/x-protobuf' --data-binary 'xx'
is_error 415 unsupported_media_type "OTLP protobuf is refused with 415"
as "$ALICE" POST /v1/traces -H 'Content-Type: application/json' --data-binary @"$TMP/t.json"
is "$STATUS $BODY" '200 {"partialSuccess":{}}' "OTLP traces are accepted"
as "$ALICE" GET "/api/v1/agents/chat-agent/summary?from=-1h&to=now"
is "$(jbody '"\(.calls) \(.errors) \(.tokens_in)"')" "3 1 642" \
	"GenAI spans became calls: 3 calls, the status-2 span an error, tokens summed"
as "$ALICE" POST /v1/traces -H 'Content-Type: application/json' --data-binary '{"resourceSpans":[{"scopeSpans":[{"spans":[1]}]}]}'
is_error 400 bad_request "a malformed OTLP body is refused"

# ---- prices and calls ----
T=$(( (NOW_S - 1200) * 1000 ))
api PUT /api/v1/prices/m3 "{\"input_per_mtok\":1,\"output_per_mtok\":2,\"valid_from\":$((T - 3600000))}"
is "$STATUS $(jbody .version)" "201 1" "an admin sets a price (version 1)"
api PUT /api/v1/prices/m3 '{"input_per_mtok":1,"output_per_mtok":2}' "$ALICE"
is_error 403 forbidden "a member cannot"
api PUT /api/v1/prices/m3 '{"input_per_mtok":-1,"output_per_mtok":2}'
is_error 400 bad_request "a negative price is refused"
call1() { as "$ALICE" POST /api/v1/agents/llm1/calls -H 'Content-Type: application/json' --data-binary "$1"; }
call1 "{\"model\":\"m3\",\"latency_ms\":100,\"tokens_in\":1000,\"tokens_out\":500,\"status\":\"ok\",\"ts\":$T}"
is "$STATUS $BODY" '200 {"accepted":1,"cost_usd":0.002}' "a call priced by the table: 1000 x 1 + 500 x 2 per million"
api PUT /api/v1/prices/m3 '{"input_per_mtok":10,"output_per_mtok":20}'
is "$STATUS $(jbody .version)" "201 2" "the price changes now (version 2)"
call1 "{\"model\":\"m3\",\"latency_ms\":100,\"tokens_in\":1000,\"tokens_out\":500,\"status\":\"ok\",\"ts\":$((T + 60000))}"
is "$(jbody .cost_usd)" 0.002 "a call made before the change keeps the old price"
call1 '{"model":"m3","latency_ms":100,"tokens_in":1000,"tokens_out":500,"status":"ok"}'
is "$(jbody .cost_usd)" 0.02 "a call made now gets the new one"
api GET /api/v1/prices/m3/versions
is "$(jbody '[.items[].version] | join(",")')" "2,1" "both versions are listed, newest first"
api GET /api/v1/prices
is "$(jbody '.items[] | select(.model == "m3") | "\(.version) \(.input_per_mtok)"')" "2 10" "the price in force"
api GET /api/v1/prices/none/versions
is_error 404 not_found "a model without a price: 404"
as "$TOKEN" GET "/api/v1/audit?action=price.set"
is "$(jbody '[.items[] | select(.action == "price.set" and .status == 201)] | length')" 2 "price changes are audited"

# A batch of calls against a reference: two models, ok and error.
jq -nc --argjson t "$T" '[range(40) as $i | {model: (if $i % 3 == 0 then "m-x" else "m-y" end),
	latency_ms: (($i * 37) % 500 + 10), tokens_in: ($i * 10), tokens_out: ($i * 3),
	cost_usd: ($i / 1000), status: (if $i % 7 == 0 then "error" else "ok" end), ts: ($t + $i * 1000)}]' \
	>"$TMP/calls.json"
as "$ALICE" POST /api/v1/agents/llm2/calls -H 'Content-Type: application/json' \
	--data-binary "$(jq -c '{calls: .}' "$TMP/calls.json")"
is "$STATUS $(jbody .accepted)" "200 40" "40 calls in one request"
call1 '{"model":"unpriced","latency_ms":5,"tokens_in":1,"tokens_out":1,"status":"ok"}'
export_nd "&agent=llm1&metric=llm.cost_usd&tag.model=unpriced"
is "$(printf '%s\n' "$BODY" | grep -v '^$' | jq -r '"\(.value) \(.tags.price)"')" "0 unknown" \
	"an unpriced model costs 0, tagged price=unknown"
as "$ALICE" GET "/api/v1/agents/llm2/summary?from=$T&to=$((T + 60000))"
is "$STATUS" 200 "the summary of llm2"
printf '%s' "$BODY" >"$TMP/sum.json"
jq -n --slurpfile c "$TMP/calls.json" --slurpfile s "$TMP/sum.json" -f /dev/stdin <<'JQ' >"$TMP/sumbad.json"
def pct($q): sort as $v | ($v | length) as $n
	| [($q * ($n - 1) | floor), ($q * ($n - 1) | ceil), (($q * $n | ceil) - 1)]
	| map(if . < 0 then 0 elif . >= $n then $n - 1 else . end) | [$v[min] * 0.99, $v[max] * 1.01];
def near($a; $b): ($a - $b | fabs) <= 1e-9 * ([$a, $b, 1] | map(fabs) | max);
def fig($g): {calls: ($g | length), errors: ($g | map(select(.status != "ok")) | length),
	tokens_in: ($g | map(.tokens_in) | add), tokens_out: ($g | map(.tokens_out) | add),
	cost_usd: ($g | map(.cost_usd) | add), lat: ($g | map(.latency_ms))};
def cmp($want; $got; $where): [
	(["calls", "errors", "tokens_in", "tokens_out", "cost_usd"][] as $k
	 | if near($want[$k]; $got[$k]) then empty else "\($where).\($k): got \($got[$k]), want \($want[$k])" end),
	(if near($got.error_rate; $want.errors / $want.calls) then empty else "\($where).error_rate" end),
	([["p50", 0.5], ["p95", 0.95], ["p99", 0.99]][] as [$p, $q] | ($want.lat | pct($q)) as $r
	 | if $got.latency_ms[$p] >= $r[0] and $got.latency_ms[$p] <= $r[1] then empty
	   else "\($where).\($p): got \($got.latency_ms[$p]), want \($r)" end)];
$s[0] as $s | $c[0] as $c
| cmp(fig($c); $s; "total")
  + ([$c | group_by(.model)[] | {m: .[0].model, f: fig(.)}] | map(. as $x | ($s.by_model | map(select(.model == $x.m)) | first) as $g
     | if $g == null then ["missing model \($x.m)"] else cmp($x.f; $g; $x.m) end) | add)
  + (if ($s.by_model | length) == 2 then [] else ["by_model has \($s.by_model | length) models"] end)
JQ
is "$(jq length "$TMP/sumbad.json" 2>/dev/null)" 0 "summary figures match the reference (in all and by model)"
[ "$(jq length "$TMP/sumbad.json" 2>/dev/null)" = 0 ] || diag "$(cat "$TMP/sumbad.json")"
as "$ALICE" GET "/api/v1/agents/nobody/summary"
is_error 404 not_found "the summary of an unknown agent: 404"
done_testing
