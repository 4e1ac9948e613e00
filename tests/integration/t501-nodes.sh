#!/usr/bin/env bash
# The node registry: signed register and heartbeat (tests/helpers/nodesign
# signs as an agent would), claim codes (typo-tolerant), refusals (bad
# signature, stale timestamp, replay, unknown, unclaimed, removed, body
# hash), member visibility, access PATCH, drain, admin-only removal, the
# audit, persistence across a restart, offline after --node-timeout, and
# retention of unclaimed nodes (SENTINEL_TEST_CLOCK_SKEW_MS).
. "$(dirname "$0")/lib.sh"
NODESIGN=${SENTINEL_HELPERS:-$(dirname "$SENTINEL_BIN")/tests/helpers}/nodesign
if [ ! -x "$NODESIGN" ]; then
	echo "1..0 # SKIP tests/helpers/nodesign is not built (make integration builds it)"
	exit 0
fi
start_server --node-timeout 4s --heartbeat 1s
TOKEN=$(login admin adminpass123)
mkuser alice alicepass123 member
mkuser bob bobpass1234 member
ALICE=$(login alice alicepass123)
BOB=$(login bob bobpass1234)
jc() { printf '%s' "$BODY" | jq -c "$1" 2>/dev/null; }
as() { local t=$1 m=$2 p=$3; shift 3; call "$m" "$p" -H "Authorization: Bearer $t" "$@"; }
asj() { as "$1" "$2" "$3" -H 'Content-Type: application/json' --data "$4"; }

SKEW=0
# nsign KEY METHOD TARGET BODY [TS]: signs; the headers go to SIG (an array
# of curl arguments) and the body to $TMP/nbody.
nsign() {
	printf '%s' "$4" >"$TMP/nbody"
	local ts=${5:-$(($(date +%s%3N) + SKEW))} h
	SIG=()
	while IFS= read -r h; do SIG+=(-H "$h"); done < <("$NODESIGN" sign "$1" "$2" "$3" "$TMP/nbody" "$ts")
}
# nsend METHOD TARGET [BODYFILE]: sends with the headers in SIG.
nsend() {
	local f=${3:-$TMP/nbody}
	if [ -s "$f" ]; then
		call "$1" "$2" "${SIG[@]}" -H 'Content-Type: application/json' --data-binary @"$f"
	else
		call "$1" "$2" "${SIG[@]}"
	fi
}
# nreq KEY METHOD TARGET [BODY]: a signed request.
nreq() { nsign "$1" "$2" "$3" "${4:-}"; nsend "$2" "$3"; }
REG='{"name":"n1","version":"1.0","platform":"linux-x86_64","cores":8,"memory_mb":16000,"gpus":0,"max_parallel":4,"datasets":[{"name":"local","manifest_sha256":"'$(printf '%064d' 1)'","bytes":10,"files":1,"path":"/data/local"}]}'
HB='{"cores":8,"memory_mb":16000,"load1":0.5,"gpus":0,"gpus_free":0,"max_parallel":4,"running":["c1"],"runtimes":["host"],"blobs":[],"draining":false}'

# ---- register, claim ----
"$NODESIGN" keygen "$TMP/k1"
ID=$("$NODESIGN" id "$TMP/k1")
CODE=$("$NODESIGN" code "$TMP/k1")
nreq "$TMP/k1" POST /api/v1/node/register "$REG"
is "$STATUS $(jbody .node_id) $(jbody .claim_code) $(jbody .state)" "200 $ID $CODE pending" \
	"register: a new key is a pending node with its id and claim code"
is "$(jbody .heartbeat_s) $(jbody .node_timeout_s)" "1 4" "... told the heartbeat and the timeout"
nreq "$TMP/k1" POST /api/v1/node/register "$REG"
is "$STATUS $(jbody .node_id) $(jbody .state)" "200 $ID pending" "register again: the same node (idempotent)"
nreq "$TMP/k1" POST /api/v1/node/heartbeat "$HB"
is_error 403 node_unclaimed "a pending node's heartbeat: 403 node_unclaimed"

as "$ALICE" GET /api/v1/nodes
is "$STATUS $(jbody '.items | length')" "200 0" "a member does not list pending nodes"
as "$ALICE" GET "/api/v1/nodes?code=$CODE"
is "$(jbody '[.items[].id] | join(",")')" "$ID" "... but sees one by its claim code"
as "$ALICE" GET "/api/v1/nodes/$ID"
is_error 404 not_found "... and not by id alone"
api GET /api/v1/nodes
is "$(jbody '.items[0].id') $(jbody '.items[0].state') $(jbody '.items[0].claim_code')" "$ID pending $CODE" \
	"an admin lists it, with its claim code"

# A typed code: lower case, O for 0, l for 1.
TYPED=$(printf '%s' "$CODE" | tr 'A-Z01' 'a-zol')
asj "$ALICE" POST /api/v1/nodes/claim '{"code":"ZZZZZU"}'
is_error 400 bad_request "a malformed code: 400"
asj "$ALICE" POST /api/v1/nodes/claim "{\"code\":\"$TYPED\"}"
is "$STATUS $(jbody .id) $(jbody .owner) $(jbody .state)" "200 $ID alice offline" \
	"alice claims it with the code as typed ($TYPED); offline until its first heartbeat"
ALICE_ID=$(jbody .owner_id)
asj "$ALICE" POST /api/v1/nodes/claim "{\"code\":\"$CODE\"}"
is "$STATUS $(jbody .id)" "200 $ID" "claiming one's own node again answers it"
asj "$BOB" POST /api/v1/nodes/claim "{\"code\":\"$CODE\"}"
is_error 404 not_found "bob cannot claim a claimed node"

# ---- heartbeat ----
nreq "$TMP/k1" POST /api/v1/node/heartbeat "$HB"
is "$STATUS $(jc '[.cancel, .lost] | map(type)') $(jbody .heartbeat_s)" '200 ["array","array"] 1' \
	"heartbeat: 200 with cancel, lost (the scheduler's) and the interval"
as "$ALICE" GET "/api/v1/nodes/$ID"
is "$(jbody .state) $(jbody .running) $(jbody .free_slots) $(jbody .max_parallel) $(jbody .cores)" \
	"online 1 3 4 8" "the node is online; running and free slots from the heartbeat"
is "$(jbody .platform) $(jbody .version) $(jbody '.datasets[0].name') $(jbody '.runtimes[0]')" \
	"linux-x86_64 1.0 local host" "... platform, version, datasets and runtimes"
nreq "$TMP/k1" POST "/api/v1/node/heartbeat?x=1" "$HB"
is "$STATUS" 200 "a target with a query: the signature covers it"

# ---- refusals ----
nsign "$TMP/k1" POST /api/v1/node/heartbeat "$HB"
nsend POST "/api/v1/node/heartbeat?x=1"
is_error 401 bad_signature "a query the node did not sign: 401 bad_signature"
nsign "$TMP/k1" POST /api/v1/node/heartbeat "$HB"
last=${SIG[9]: -1}
[ "$last" = 0 ] && flip=1 || flip=0
SIG[9]="${SIG[9]%?}$flip"
nsend POST /api/v1/node/heartbeat
is_error 401 bad_signature "a flipped signature digit: 401 bad_signature"
nsign "$TMP/k1" POST /api/v1/node/heartbeat "$HB" $(($(date +%s%3N) - 120000))
nsend POST /api/v1/node/heartbeat
is_error 401 stale_timestamp "a timestamp 2 minutes old: 401 stale_timestamp"
nsign "$TMP/k1" POST /api/v1/node/heartbeat "$HB" $(($(date +%s%3N) + 120000))
nsend POST /api/v1/node/heartbeat
is_error 401 stale_timestamp "... and 2 minutes ahead"
nsign "$TMP/k1" POST /api/v1/node/heartbeat "$HB"
nsend POST /api/v1/node/heartbeat
is "$STATUS" 200 "a signed request once"
nsend POST /api/v1/node/heartbeat
is_error 401 replayed "the same request again: 401 replayed"
nsign "$TMP/k1" POST /api/v1/node/heartbeat "$HB"
printf '%s' "${HB/\"load1\":0.5/\"load1\":9.5}" >"$TMP/other"
nsend POST /api/v1/node/heartbeat "$TMP/other"
is_error 400 bad_body_hash "a body other than the signed one: 400 bad_body_hash"
"$NODESIGN" keygen "$TMP/k2"
nreq "$TMP/k2" POST /api/v1/node/heartbeat "$HB"
is_error 401 unknown_node "an unknown key's heartbeat: 401 unknown_node"
call POST /api/v1/node/heartbeat -H 'Content-Type: application/json' --data "$HB"
is_error 401 unsigned "no signature at all: 401"
nreq "$TMP/k1" POST /api/v1/node/heartbeat '{"blobs":["nothex"]}'
is_error 400 bad_request "a malformed blob hash in a heartbeat: 400"

# ---- visibility and access ----
as "$BOB" GET /api/v1/nodes
is "$(jbody '.items | length')" "0" "bob does not list alice's node"
as "$BOB" GET "/api/v1/nodes/$ID"
is_error 404 not_found "bob: GET the node is 404"
asj "$BOB" PATCH "/api/v1/nodes/$ID" '{"name":"mine"}'
is_error 404 not_found "bob: PATCH is 404"
asj "$BOB" POST "/api/v1/nodes/$ID/drain" '{}'
is_error 404 not_found "bob: drain is 404"
asj "$ALICE" PATCH "/api/v1/nodes/$ID" '{"access":{"users":["nobody"]}}'
is_error 400 bad_request "an unknown user in access: 400"
asj "$ALICE" PATCH "/api/v1/nodes/$ID" '{"name":"gpu box","access":{"users":["bob","bob"]}}'
is "$STATUS $(jbody .name) $(jc .access)" '200 gpu box {"public":false,"users":["bob"],"groups":[]}' \
	"alice renames it and lets bob use it"
as "$BOB" GET /api/v1/nodes
is "$(jbody '[.items[].id] | join(",")')" "$ID" "bob now lists it"
asj "$BOB" PATCH "/api/v1/nodes/$ID" '{"name":"mine"}'
is_error 403 forbidden "... but may not change it"
asj "$BOB" POST "/api/v1/nodes/$ID/drain" '{}'
is_error 403 forbidden "... nor drain it"
api POST /api/v1/groups '{"name":"team"}'
api PUT /api/v1/groups/team/members/bob
asj "$ALICE" PATCH "/api/v1/nodes/$ID" '{"access":{"users":[],"groups":["team"]}}'
is "$STATUS $(jc .access)" '200 {"public":false,"users":[],"groups":["team"]}' "alice shares it with the group team"
as "$BOB" GET "/api/v1/nodes/$ID"
is "$STATUS" 200 "bob (in team) sees it"
asj "$ALICE" PATCH "/api/v1/nodes/$ID" '{"access":{"groups":[]}}'
as "$BOB" GET "/api/v1/nodes/$ID"
is_error 404 not_found "unshared: bob gets 404 again"
asj "$ALICE" PATCH "/api/v1/nodes/$ID" '{"access":{"public":true}}'
as "$BOB" GET "/api/v1/nodes/$ID"
is "$STATUS $(jbody .access.public)" "200 true" "public: bob sees it"
asj "$ALICE" PATCH "/api/v1/nodes/$ID" '{"access":{"public":false}}'

# ---- drain (a heartbeat first: the states below need it online) ----
nreq "$TMP/k1" POST /api/v1/node/heartbeat "$HB"
asj "$ALICE" POST "/api/v1/nodes/$ID/drain" '{}'
is "$STATUS $(jbody .state) $(jbody .free_slots)" "200 draining 0" "alice drains it"
as "$ALICE" GET "/api/v1/nodes?state=draining"
is "$(jbody '[.items[].id] | join(",")')" "$ID" "?state=draining lists it"
asj "$ALICE" POST "/api/v1/nodes/$ID/drain" '{"drain":false}'
is "$STATUS $(jbody .state)" "200 online" "... and resumes it"
asj "$ALICE" POST "/api/v1/nodes/$ID/drain" '{}'

# ---- audit ----
api GET "/api/v1/audit?action=node.claim"
is "$(jbody '[.items[] | select(.status == 200)][0] | "\(.actor) \(.target)"')" "alice node:$ID" \
	"the claim is audited"
api GET "/api/v1/audit?action=node.register"
is "$(jbody '.items[0].actor')" "node:$ID" "a registration is audited with the node as actor"
is "$(jbody "[.items[] | select(.actor == \"node:$ID\")] | length")" "1" \
	"... once: a pending node registering again leaves no more rows"
api GET "/api/v1/audit?actor=node:$ID&limit=100"
is "$(jbody '[.items[] | select(.status == 200) | .action] | unique | join(",")')" "node.register" \
	"heartbeats leave no audit rows"

# ---- a claimed node registers again (an agent restart) ----
nreq "$TMP/k1" POST /api/v1/node/register "${REG/\"cores\":8/\"cores\":16}"
is "$STATUS $(jbody .node_id) $(jbody .owner)" "200 $ID $ALICE_ID" \
	"a claimed node registers again: its id and owner id"
as "$ALICE" GET "/api/v1/nodes/$ID"
is "$(jbody .cores) $(jbody .name) $(jbody .owner) $(jbody .draining)" "16 gpu box alice true" \
	"... its facts are replaced; name, owner and drain kept"

# ---- restart: the registry is written through ----
"$NODESIGN" keygen "$TMP/k3"
ID3=$("$NODESIGN" id "$TMP/k3")
nreq "$TMP/k3" POST /api/v1/node/register '{"name":"later"}'
is "$STATUS $(jbody .state)" "200 pending" "a second node registers (left unclaimed)"
stop_server
start_server --node-timeout 4s --heartbeat 1s
as "$ALICE" GET "/api/v1/nodes/$ID"
is "$STATUS $(jbody .name) $(jbody .draining) $(jbody .owner) $(jbody .datasets[0].name) $(jbody .cores)" \
	"200 gpu box true alice local 16" "after a restart: name, owner, drain, datasets and facts kept"
nreq "$TMP/k1" POST /api/v1/node/heartbeat "$HB"
is "$STATUS" 200 "its heartbeat is accepted"
sleep 4.5
as "$ALICE" GET "/api/v1/nodes/$ID"
is "$(jbody .state) $(jbody .free_slots)" "offline 0" "no heartbeat for longer than --node-timeout: offline"
nreq "$TMP/k1" POST /api/v1/node/heartbeat "$HB"
as "$ALICE" GET "/api/v1/nodes/$ID"
is "$(jbody .state)" "draining" "a heartbeat brings it back"

# ---- removal ----
as "$ALICE" DELETE "/api/v1/nodes/$ID"
is_error 403 forbidden "a member cannot remove a node, not even her own"
as "$TOKEN" DELETE "/api/v1/nodes/$ID"
is "$STATUS $(jbody .state)" "200 removed" "an admin removes it"
nreq "$TMP/k1" POST /api/v1/node/heartbeat "$HB"
is_error 403 node_removed "its heartbeat: 403 node_removed"
nreq "$TMP/k1" POST /api/v1/node/register "$REG"
is_error 403 node_removed "... and it cannot register again"
as "$ALICE" GET "/api/v1/nodes/$ID"
is_error 404 not_found "it is gone from the API"
as "$TOKEN" DELETE "/api/v1/nodes/$ID"
is_error 404 not_found "removing it twice: 404"
api GET "/api/v1/audit?action=node.remove"
is "$(jbody '[.items[] | select(.status == 200)][0] | "\(.actor) \(.target)"')" "admin node:$ID" \
	"the removal is audited"

# ---- events: replayed from this server's start (topic node, owner only) ----
events() { # TOKEN: the events of node $ID the caller may see, in order
	curl -s -N --max-time 1 -H "Authorization: Bearer $1" -H 'Last-Event-ID: 0' \
		"$URL/api/v1/events?topic=node" 2>/dev/null | sed -n 's/^data: //p' |
		jq -r "select(.id == \"$ID\") | .event" | tr '\n' ' '
}
EV=$(events "$ALICE"); diag "alice saw: $EV"
like "$EV" 'offline online removed $' \
	"alice (the owner) saw it go offline, come back and be removed"
is "$(events "$BOB")" "" "bob (not the owner) sees none of its events"

# ---- retention: two hours later the unclaimed node is gone ----
stop_server
SENTINEL_TEST_CLOCK_SKEW_MS=7200000 start_server --node-timeout 4s --heartbeat 1s
SKEW=7200000
api GET "/api/v1/nodes/$ID3"
is_error 404 not_found "an unclaimed node past pending_ttl is removed at start"
nreq "$TMP/k1" POST /api/v1/node/heartbeat "$HB"
is_error 403 node_removed "a removed key stays refused after a restart"
nreq "$TMP/k3" POST /api/v1/node/heartbeat "$HB"
is_error 401 unknown_node "the forgotten key is unknown"
nreq "$TMP/k3" POST /api/v1/node/register '{"name":"later"}'
is "$STATUS $(jbody .node_id) $(jbody .state)" "200 $ID3 pending" "... and may register anew"
nsign "$TMP/k3" POST /api/v1/node/register '{}' $(date +%s%3N)
nsend POST /api/v1/node/register
is_error 401 stale_timestamp "the window follows the registry's clock (skewed)"
done_testing
