#!/usr/bin/env bash
# The alert CLI's remaining paths: create's plain confirmation (the id the
# server gave, checked against GET /api/v1/alerts), a --tag that is not
# K=V (exit 2, nothing created), rm --json (the server's reply) and rm of a
# rule that does not exist.
. "$(dirname "$0")/lib.sh"
start_server
TOKEN=$(login admin adminpass123)
cli() { SENTINEL_SERVER=$URL SENTINEL_TOKEN=$TOKEN "$SENTINEL_BIN" "$@"; }

OUT=$(cli alert create plain-rule --metric latency_ms --agent bot --agg avg --window 1m \
	--op '>' --threshold 2 --tag model=m1)
is "$?" 0 "alert create without --json"
api GET /api/v1/alerts
ID=$(jbody '.items[] | select(.name == "plain-rule") | .id')
is "$OUT" "Created alert rule $ID (plain-rule)" "... says the id the server lists and the name"
is "$(jbody '.items[] | select(.name == "plain-rule") | "\(.tags.model) \(.threshold)"')" "m1 2" \
	"... the rule stored with its tag and threshold"

cli alert create bad-tag --metric m --window 1m --op '>' --threshold 1 --tag novalue \
	>/dev/null 2>"$TMP/err"
is "$?" 2 "alert create --tag without '=': exit 2"
is "$(cat "$TMP/err")" "sentinel alert create: --tag wants K=V, not 'novalue'" "... naming the tag"
api GET /api/v1/alerts
is "$(jbody '[.items[] | select(.name == "bad-tag")] | length')" 0 "... and nothing created"

OUT=$(cli alert rm "$ID" --json)
is "$?" 0 "alert rm --json"
is "$(printf '%s' "$OUT" | jq -c . 2>/dev/null)" "{\"id\":\"$ID\",\"deleted\":true}" \
	"... prints the server's reply"
api GET /api/v1/alerts
is "$(jbody '[.items[] | select(.name == "plain-rule")] | length')" 0 "... the rule is gone"
cli alert rm "$ID" >/dev/null 2>"$TMP/err"
is "$?" 1 "alert rm of a rule that is gone: exit 1"
ok "$([ -s "$TMP/err" ]; echo $?)" "... with the server's message"

done_testing
