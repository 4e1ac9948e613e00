#!/usr/bin/env bash
# Prices' edges: a model name too long, a body that is not JSON or none, valid_from
# that is not a time (each 400, nothing stored), valid_from as an RFC 3339
# time; and the price table loaded back after a restart (every version,
# the one in force still pricing calls); a push below --min-free-disk is
# refused (507) and stores nothing.
. "$(dirname "$0")/lib.sh"
start_server
TOKEN=$(login admin adminpass123)

LONG=$(printf 'm%.0s' $(seq 1 257))
api PUT "/api/v1/prices/$LONG" '{"input_per_mtok":1,"output_per_mtok":1}'
is_error 400 bad_request "a model name of 257 bytes is refused"
like "$(errmsg)" '1 to 256 bytes' "... saying the limit"
call PUT /api/v1/prices/p1 -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
	--data-binary 'not json'
is_error 400 bad_json "a body that is not JSON is refused"
call PUT /api/v1/prices/p1 -H "Authorization: Bearer $TOKEN"
is_error 400 bad_request "no body is refused"
like "$(errmsg)" 'input_per_mtok' "... saying what the body must be"
api PUT /api/v1/prices/p1 '{"input_per_mtok":1,"output_per_mtok":1,"valid_from":"yesterday"}'
is_error 400 bad_request "valid_from that is not a time is refused"
like "$(errmsg)" "valid_from" "... naming the field"
api PUT /api/v1/prices/p1 '{"input_per_mtok":1,"output_per_mtok":1,"valid_from":-5}'
is_error 400 bad_request "a negative valid_from is refused"
api GET /api/v1/prices/p1/versions
is "$(jbody '.items | length')" 0 "... none of them stored"

api PUT /api/v1/prices/p1 '{"input_per_mtok":3,"output_per_mtok":4,"valid_from":"2020-01-01T00:00:00Z"}'
is "$STATUS $(jbody .version)" "201 1" "valid_from as an RFC 3339 time"
api PUT /api/v1/prices/p1 '{"input_per_mtok":5,"output_per_mtok":6,"valid_from":"2021-01-01T00:00:00Z"}'
is "$STATUS $(jbody .version)" "201 2" "a second version"
api PUT /api/v1/prices/p2 '{"input_per_mtok":7,"output_per_mtok":8,"valid_from":1577836800000}'
is "$STATUS $(jbody .version)" "201 1" "another model"
api GET /api/v1/prices/p1/versions
BEFORE=$(jbody -c '.items')
api GET /api/v1/prices
BEFORE_ALL=$(jbody '[.items[] | select(.model | startswith("p"))] | sort_by(.model) | map("\(.model) \(.version) \(.input_per_mtok)") | join(",")')
is "$BEFORE_ALL" "p1 2 5,p2 1 7" "the prices in force"

stop_server TERM
start_server
TOKEN=$(login admin adminpass123)
api GET /api/v1/prices/p1/versions
is "$(jbody -c '.items')" "$BEFORE" "after a restart: p1's versions as before"
is "$(jbody '[.items[].version] | join(",")')" "2,1" "... both of them"
api GET /api/v1/prices
is "$(jbody '[.items[] | select(.model | startswith("p"))] | sort_by(.model) | map("\(.model) \(.version) \(.input_per_mtok)") | join(",")')" \
	"$BEFORE_ALL" "... the prices in force as before"
T=$(( ($(date +%s) - 600) * 1000 ))
api POST /api/v1/agents/pa/calls "{\"model\":\"p1\",\"latency_ms\":10,\"tokens_in\":1000000,\"tokens_out\":1000000,\"status\":\"ok\",\"ts\":$T}"
is "$STATUS $(jbody .cost_usd)" "200 11" "... and a call priced by the loaded table (1M x 5 + 1M x 6 per million)"
api POST /api/v1/agents/pa/calls "{\"model\":\"p1\",\"latency_ms\":10,\"tokens_in\":1000000,\"tokens_out\":0,\"status\":\"ok\",\"ts\":1590000000000}"
is "$STATUS $(jbody .cost_usd)" "200 3" "... a call of 2020 by version 1"

# ---- ingest and summary edges ----
api POST /api/v1/metrics '{"samples":[]}'
is "$STATUS" 200 "an empty batch is accepted"
api GET "/api/v1/metrics/export?format=ndjson&agent=pa&metric=llm.cost_usd&from=0&to=4102444800000"
is "$(printf '%s\n' "$BODY" | grep -c .)" 2 "... and changes nothing (pa's two calls' costs only)"
api GET "/api/v1/agents/pa/summary?from=-1000&to=1000"
is_error 400 bad_request "a summary from before 1970 is refused"
api GET "/api/v1/agents/pa/summary?from=0&to=4102444800000"
is "$STATUS $(jbody .calls)" "200 2" "pa's summary counts its two calls"

# ---- the free-disk reserve holds for samples as for uploads ----
stop_server TERM
start_server --min-free-disk 1000000G
TOKEN=$(login admin adminpass123)
api POST /api/v1/metrics '{"agent":"full","metric":"m","value":1}'
is_error 507 insufficient_storage "a push below --min-free-disk is refused"
like "$(errmsg)" 'min-free-disk' "... naming the setting"
call POST /api/v1/metrics/write -H "Authorization: Bearer $TOKEN" --data-binary 'm,agent=full v=1'
is "$STATUS" 507 "... line protocol too"
stop_server TERM
start_server
TOKEN=$(login admin adminpass123)
api GET /api/v1/agents/full
is "$STATUS" 404 "nothing of the refused pushes was stored (no agent full)"
api POST /api/v1/metrics '{"agent":"full","metric":"m","value":1}'
is "$STATUS" 200 "with the reserve back at its default, the push is taken"

done_testing
