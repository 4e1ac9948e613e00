#!/usr/bin/env bash
# Accepted means durable: many concurrent pushes, kill -9 while they run,
# restart; every sample whose push was answered 200 is there. Also: a
# graceful restart keeps everything, and the agents' registry survives.
. "$(dirname "$0")/lib.sh"
start_server
TOKEN=$(login admin adminpass123)
mkuser alice alicepass123 member
ALICE=$(login alice alicepass123)
as() { local t=$1 m=$2 p=$3; shift 3; call "$m" "$p" -H "Authorization: Bearer $t" "$@"; }
T=$(( ($(date +%s) - 300) * 1000 ))

as "$ALICE" POST /api/v1/metrics -H 'Content-Type: application/json' \
	--data-binary "{\"agent\":\"dur\",\"metric\":\"n\",\"value\":0,\"ts\":$T}"
is "$STATUS" 200 "the agent is registered by its first sample"

# One sample per request, 16 at a time, then kill -9 (lib.sh).
push_then_kill "$URL" "$ALICE" "$T"

start_server
as "$ALICE" GET "/api/v1/metrics/export?format=ndjson&agent=dur&metric=n&from=$T&to=$((T + 3000))"
is "$STATUS" 200 "the restarted server exports"
printf '%s\n' "$BODY" | grep -v '^$' | jq -r '.value' | sort | uniq >"$TMP/got"
MISSING=$(comm -23 "$TMP/want" "$TMP/got" | wc -l)
is "$MISSING" 0 "every acknowledged sample survived kill -9"
[ "$MISSING" = 0 ] || diag "missing: $(comm -23 "$TMP/want" "$TMP/got" | head -5 | tr '\n' ' ')"
is "$(printf '%s\n' "$BODY" | grep -v '^$' | jq -r '.value' | sort -n | uniq -d | wc -l)" 0 \
	"... and none was stored twice"
as "$ALICE" GET /api/v1/agents/dur
is "$STATUS $(jbody .owner)" "200 alice" "the agent and its owner survived"

as "$ALICE" GET "/api/v1/metrics/export?format=ndjson&agent=dur&from=$T&to=$((T + 3000))"
N=$(printf '%s\n' "$BODY" | grep -vc '^$')
stop_server TERM
is "$STOP_RC" 0 "a graceful stop"
start_server
as "$ALICE" GET "/api/v1/metrics/export?format=ndjson&agent=dur&from=$T&to=$((T + 3000))"
is "$(printf '%s\n' "$BODY" | grep -vc '^$')" "$N" "a graceful restart keeps every sample ($N)"
done_testing
