#!/usr/bin/env bash
# Metrics ingest and query: every aggregation against a reference this
# test computes (jq) from the same samples, tag filters and group-by; the
# export round trip (NDJSON, CSV, gzip); all-or-nothing refusals; query
# parameter checks; the agent list and the Prometheus text.
. "$(dirname "$0")/lib.sh"
start_server
TOKEN=$(login admin adminpass123)
mkuser alice alicepass123 member
ALICE=$(login alice alicepass123)
as() { local t=$1 m=$2 p=$3; shift 3; call "$m" "$p" -H "Authorization: Bearer $t" "$@"; }
push() { as "$ALICE" POST /api/v1/metrics -H 'Content-Type: application/json' --data-binary "$1"; }

NOW=$(($(date +%s) * 1000))
T0=$(( (NOW - 30 * 60000) / 60000 * 60000 ))   # a minute boundary, 30 min ago
T1=$((T0 + 600000))                             # ten one-minute buckets

# 2 agents x 2 models, one host: 4 series of 150 samples (some share a time).
jq -nc --argjson t0 "$T0" '
	def lcg: (. * 1103515245 + 12345) % 2147483648;
	[foreach range(600) as $i (7; lcg; {i: $i, r: .})]
	| map({agent: (if .i % 2 == 0 then "bot1" else "bot2" end), metric: "latency_ms",
	       value: ((.r % 100000) / 100 + 1),
	       ts: ($t0 + ((.i * 997) % 600000) - ((.i * 997) % 600000) % 4),
	       tags: {model: (if (.i / 2 | floor) % 2 == 0 then "m-a" else "m-b" end), host: "h1"}})' \
	>"$TMP/samples.json"
push "$(jq -c '{samples: .}' "$TMP/samples.json")"
is "$STATUS $BODY" '200 {"accepted":600}' "600 samples in one request are accepted"

# check AGG BY [EXTRA]: the query's answer against the reference.
check() {
	local agg=$1 by=$2 extra=${3:-} q
	q="metric=latency_ms&from=$T0&to=$T1&step=60s&agg=$agg${by:+&by=$by}$extra"
	as "$ALICE" GET "/api/v1/metrics/query?$q"
	[ "$STATUS" = 200 ] || { is "$STATUS" 200 "query $q"; diag "$BODY"; return; }
	printf '%s' "$BODY" >"$TMP/ans.json"
	jq -n --slurpfile s "$TMP/samples.json" --slurpfile a "$TMP/ans.json" \
		--arg agg "$agg" --arg by "$by" --arg extra "$extra" -f /dev/stdin <<'JQ' >"$TMP/bad.json"
def tagstr: to_entries | sort_by(.key) | map("\(.key)=\(.value)") | join(",");
def pct($q): sort as $v | ($v | length) as $n
	| [($q * ($n - 1) | floor), ($q * ($n - 1) | ceil), (($q * $n | ceil) - 1)]
	| map(if . < 0 then 0 elif . >= $n then $n - 1 else . end)
	| {lo: ($v[min] * 0.99), hi: ($v[max] * 1.01)};
def exact($x): {lo: ($x - 1e-9 * ($x | fabs) - 1e-9), hi: ($x + 1e-9 * ($x | fabs) + 1e-9)};
def agg($a): if $a == "avg" then exact(add / length) elif $a == "sum" then exact(add)
	elif $a == "min" then exact(min) elif $a == "max" then exact(max)
	elif $a == "count" then exact(length) elif $a == "rate" then exact(add / 60)
	else pct($a[1:] | tonumber / 100) end;
($by | split(",") | map(select(. != ""))) as $keys
| ([$extra | capture("tag\\.model=(?<m>[^&]*)") | .m] | first) as $only
| [$s[0][] | select($only == null or .tags.model == $only)
   | .key = (if $keys == [] then "\(.agent)|\(.tags | tagstr)"
	     else "\(if $keys | index("agent") then .agent else null end)|\(.tags
		| with_entries(select(.key as $k | $keys | index($k))) | tagstr)" end)
   | .b = (.ts - .ts % 60000)]
| group_by(.key) | map({key: .[0].key, pts: (group_by(.b) | map({b: .[0].b, r: (map(.value) | agg($agg))}))}) as $ref
| ($a[0].series | map({key: "\(.agent)|\(.tags | tagstr)", points})) as $got
| [ ($ref | length) as $n | if ($got | length) != $n then "series: got \($got | length), want \($n)" else empty end,
    ($ref[] as $r | ($got | map(select(.key == $r.key)) | first) as $g
     | if $g == null then "missing series \($r.key)"
       elif ($g.points | length) != ($r.pts | length) then "\($r.key): \($g.points | length) points, want \($r.pts | length)"
       else ($r.pts | to_entries[] | . as $e | $g.points[$e.key] as $p
	     | if $p[0] != $e.value.b or $p[1] < $e.value.r.lo or $p[1] > $e.value.r.hi
	       then "\($r.key) @\($e.value.b): got \($p), want \($e.value.r)" else empty end) end) ]
JQ
	is "$(jq -r 'length' "$TMP/bad.json" 2>/dev/null)" 0 "agg=$agg${by:+ by=$by}$extra matches the reference"
	[ "$(jq -r length "$TMP/bad.json" 2>/dev/null)" = 0 ] || diag "$(jq -c '.[:3]' "$TMP/bad.json")"
}
for agg in avg min max sum count rate p50 p90 p95 p99; do check "$agg" ""; done
check sum model
check p95 model
check avg agent,model
check max "" "&tag.model=m-a"
check count host "&tag.model=m-b&tag.host=h1"

as "$ALICE" GET "/api/v1/metrics/query?metric=latency_ms&agent=bot2&from=$T0&to=$T1&step=10m&agg=count"
is "$(jbody '[.series[] | .agent] | unique | join(",")') $(jbody '[.series[].points[][1]] | add')" \
	"bot2 300" "agent=bot2 selects its series only (10m step: one bucket each)"
as "$ALICE" GET "/api/v1/metrics/query?metric=latency_ms&from=$T0&to=$T1&step=60s&tag.model=nope"
is "$STATUS $(jbody '.series | length')" "200 0" "a tag filter matching nothing: no series"

# ---- parameters ----
for q in "metric=latency_ms&from=yesterday" "metric=latency_ms&step=0s" "metric=latency_ms&agg=median" \
	"metric=bad%20name" "from=-1h" "metric=latency_ms&from=-1d&step=1s" "metric=latency_ms&tag.a%20b=1" \
	"metric=latency_ms&from=$T1&to=$T0" "metric=latency_ms&by=no%20key" "metric=x&tag.k=%ZZ"; do
	as "$ALICE" GET "/api/v1/metrics/query?$q"
	is_error 400 bad_request "query ?$q is refused"
done
as "$ALICE" GET "/api/v1/metrics/query?metric=latency_ms&from=$(date -u -d @$((T0 / 1000)) +%Y-%m-%dT%H:%M:%SZ)&to=-1s&step=1h&agg=count"
is "$STATUS $(jbody '[.series[].points[][1]] | add')" "200 600" "RFC 3339 and relative times are taken"

# ---- export ----
as "$ALICE" GET "/api/v1/metrics/export?format=ndjson&agent=bot1&from=$T0&to=$T1"
is "$STATUS $(header Content-Type)" "200 application/x-ndjson" "NDJSON export"
printf '%s\n' "$BODY" | grep -v '^$' >"$TMP/bot1.ndjson"
is "$(wc -l <"$TMP/bot1.ndjson")" 300 "... one line per sample of bot1"
want=$(jq -cS '.[] | select(.agent == "bot1") | [.agent, .metric, .ts, .value, .tags]' "$TMP/samples.json" | sort)
got=$(jq -cS '[.agent, .metric, .ts, .value, .tags]' "$TMP/bot1.ndjson" | sort)
is "$got" "$want" "... exactly the samples pushed"
jq -c '.agent = "copy1"' "$TMP/bot1.ndjson" | jq -sc '{samples: .}' >"$TMP/copy.json"
as "$ALICE" POST /api/v1/metrics -H 'Content-Type: application/json' --data-binary @"$TMP/copy.json"
is "$STATUS" 200 "the export pushed back under another agent"
as "$ALICE" GET "/api/v1/metrics/export?format=ndjson&agent=copy1&from=$T0&to=$T1"
is "$(printf '%s\n' "$BODY" | grep -v '^$' | sed 's/"agent":"copy1"/"agent":"bot1"/' | sort)" \
	"$(sort "$TMP/bot1.ndjson")" "export, push, export: identical"

as "$ALICE" GET "/api/v1/metrics/export?format=csv&agent=bot1&from=$T0&to=$T1"
is "$(printf '%s' "$BODY" | head -n 1 | tr -d '\r')" "agent,metric,ts,value,tags" "CSV header"
got=$(printf '%s' "$BODY" | tr -d '\r' | tail -n +2 | sort)
want=$(jq -r '"\(.agent),\(.metric),\(.ts),\(.value),\(.tags | to_entries | sort_by(.key) | map("\(.key)=\(.value)") | join(";"))"' \
	"$TMP/bot1.ndjson" | sort)
is "$got" "$want" "CSV rows match the NDJSON export"
curl -s -H "Authorization: Bearer $ALICE" -H 'Accept-Encoding: gzip' -D "$TMP/gzh" -o "$TMP/out.gz" \
	"$URL/api/v1/metrics/export?format=ndjson&agent=bot1&from=$T0&to=$T1"
is "$(grep -i '^content-encoding:' "$TMP/gzh" | tr -d '\r' | awk '{print $2}')" gzip "gzip when accepted"
is "$(gunzip -c "$TMP/out.gz" | sort)" "$(sort "$TMP/bot1.ndjson")" "... and it inflates to the same export"
as "$ALICE" GET "/api/v1/metrics/export?format=xml"
is_error 400 bad_request "an unknown export format is refused"

# ---- all or nothing ----
push '{"samples":[{"agent":"aon","metric":"m","value":1},{"agent":"aon","metric":"m","value":"x"},{"agent":"aon","metric":"m","value":3}]}'
is_error 400 bad_request "a bad sample in the middle refuses the request"
like "$(errmsg)" 'samples\[1\]\.value' "... naming its index and field"
as "$ALICE" GET /api/v1/agents/aon
is "$STATUS" 404 "... and nothing was stored (the agent is unknown)"
push '{"agent":"aon","metric":"m","value":1,"tags":{"agent":"x"}}'
is_error 400 bad_request "the tag key agent is reserved"
push '{"agent":"aon","metric":"m","value":1e999}'
is "$STATUS" 400 "an infinite value is refused"

# ---- agents and prometheus ----
as "$ALICE" GET /api/v1/agents
is "$(jbody '[.items[].name] | join(",")')" "bot1,bot2,copy1" "alice lists her agents"
is "$(jbody '.items[0] | "\(.owner) \(.status) \(.tags.host) \(.metrics.latency_ms.value != null)"')" \
	"alice online h1 true" "... with owner, status, common tags and last values"
as "$ALICE" GET "/api/v1/metrics/prometheus?agent=bot1"
is "$STATUS" 200 "prometheus text"
printf '%s\n' "$BODY" >"$TMP/prom.txt"
bad=$(grep -v '^$' "$TMP/prom.txt" | grep -Ev '^# TYPE [a-zA-Z_:][a-zA-Z0-9_:]* gauge$' |
	grep -Evc '^[a-zA-Z_:][a-zA-Z0-9_:]*\{[a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*"(,[a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*")*\} -?[0-9][0-9.e+-]* [0-9]+$')
is "$bad" 0 "... every line parses as text format 0.0.4"
is "$(grep -c '^sentinel_agent_latency_ms{agent="bot1",host="h1",model="m-' "$TMP/prom.txt")" 2 \
	"... one line per series of bot1"
is "$(grep -c '^# TYPE sentinel_agent_latency_ms gauge' "$TMP/prom.txt")" 1 "... one TYPE line per family"
done_testing
