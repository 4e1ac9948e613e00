#!/usr/bin/env bash
# Who sees and pushes which agent: the owner (the first pusher), admins,
# group shares (read, write), public; another member sees nothing of a
# private agent (list, show, query, export, prometheus, summary) and cannot
# push to it (403 naming it, nothing stored). PATCH and DELETE by the owner
# or an admin. An ingest token (scope metrics:write) pushes but reads
# nothing. A node's own figures arrive under its name, owned by its owner.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_nodes.sh"
start_server
TOKEN=$(login admin adminpass123)
mkuser alice alicepass123 member
mkuser bob bobpass1234 member
mkuser carol carolpass123 member
ALICE=$(login alice alicepass123)
BOB=$(login bob bobpass1234)
CAROL=$(login carol carolpass123)
as() { local t=$1 m=$2 p=$3; shift 3; call "$m" "$p" -H "Authorization: Bearer $t" "$@"; }
push() { as "$1" POST /api/v1/metrics -H 'Content-Type: application/json' --data-binary "$2"; }
count() { # count TOKEN AGENT: samples of AGENT that TOKEN's user can export
	as "$1" GET "/api/v1/metrics/export?format=ndjson&agent=$2&from=-1h&to=now"
	printf '%s\n' "$BODY" | grep -vc '^$'
}

push "$ALICE" '{"samples":[{"agent":"a1","metric":"m","value":1,"tags":{"k":"v"}},{"agent":"a1","metric":"m","value":2}]}'
is "$STATUS" 200 "alice registers a1 by pushing to it"
as "$BOB" GET /api/v1/agents
is "$(jbody '.items | length')" 0 "bob's list does not show it"
for p in /api/v1/agents/a1 /api/v1/agents/a1/summary; do
	as "$BOB" GET "$p"
	is_error 404 not_found "bob: GET $p is 404"
done
as "$BOB" GET "/api/v1/metrics/query?metric=m&from=-1h&to=now"
is "$STATUS $(jbody '.series | length')" "200 0" "bob's query skips it (no error, no series)"
is "$(count "$BOB" a1)" 0 "bob's export of it is empty"
as "$BOB" GET "/api/v1/metrics/prometheus"
is "$(printf '%s' "$BODY" | grep -c a1)" 0 "... and so is his prometheus text"
push "$BOB" '{"samples":[{"agent":"b1","metric":"m","value":1},{"agent":"a1","metric":"m","value":99}]}'
is_error 403 forbidden "bob cannot push to alice's agent"
like "$(errmsg)" 'a1' "... the refusal names the agent"
is "$(count "$ALICE" a1) $(count "$TOKEN" b1)" "2 0" "... and nothing of his request was stored"
as "$BOB" PATCH /api/v1/agents/a1 -H 'Content-Type: application/json' --data '{"public":true}'
is_error 404 not_found "bob cannot change it"
is "$(count "$TOKEN" a1)" 2 "an admin reads it"

api POST /api/v1/groups '{"name":"team"}'
api PUT /api/v1/groups/team/members/bob
as "$ALICE" PATCH /api/v1/agents/a1 -H 'Content-Type: application/json' \
	--data '{"shares":[{"group":"team","access":"read"}]}'
is "$STATUS $(printf '%s' "$BODY" | jq -c .shares)" '200 [{"group":"team","access":"read"}]' \
	"alice shares a1 with team (read)"
sleep 1.1 # group memberships are cached for up to a second
is "$(count "$BOB" a1)" 2 "bob (in team) reads it"
as "$BOB" GET /api/v1/agents
is "$(jbody '[.items[].name] | join(",")')" "a1" "... and lists it"
push "$BOB" '{"agent":"a1","metric":"m","value":3}'
is_error 403 forbidden "read access: a push is 403"
as "$BOB" PATCH /api/v1/agents/a1 -H 'Content-Type: application/json' --data '{"public":true}'
is_error 403 forbidden "... and PATCH is the owner's"
as "$ALICE" PATCH /api/v1/agents/a1 -H 'Content-Type: application/json' \
	--data '{"shares":[{"group":"team","access":"write"}]}'
push "$BOB" '{"agent":"a1","metric":"m","value":3}'
is "$STATUS" 200 "write access: bob pushes to a1"
is "$(count "$CAROL" a1)" 0 "carol (not in team) still sees nothing"
as "$ALICE" PATCH /api/v1/agents/a1 -H 'Content-Type: application/json' --data '{"public":true}'
is "$STATUS $(jbody .public)" "200 true" "alice makes a1 public"
is "$(count "$CAROL" a1)" 3 "carol reads a public agent"
push "$CAROL" '{"agent":"a1","metric":"m","value":4}'
is_error 403 forbidden "... but cannot push to it"
as "$ALICE" PATCH /api/v1/agents/a1 -H 'Content-Type: application/json' --data '{"shares":[{"group":"nope","access":"read"}]}'
is_error 400 bad_request "a share with an unknown group is refused"
as "$TOKEN" GET "/api/v1/audit?action=agent.update"
is "$(jbody '[.items[] | select(.action == "agent.update" and .status == 200)] | length')" 3 "agent changes are audited"

# ---- ingest tokens ----
as "$ALICE" POST /api/v1/tokens -H 'Content-Type: application/json' --data '{"name":"ing","scope":"metrics:write"}'
ING=$(jbody .token)
is "$STATUS" 201 "alice creates an ingest token"
push "$ING" '{"agent":"a1","metric":"m","value":5}'
is "$STATUS" 200 "the ingest token pushes (as alice)"
as "$ING" POST /api/v1/metrics/write -H 'Content-Type: text/plain' --data-binary 'x,agent=a1 value=1'
is "$STATUS" 204 "... line protocol too"
for p in /api/v1/agents /api/v1/agents/a1 "/api/v1/metrics/query?metric=m" \
	"/api/v1/metrics/export?agent=a1" /api/v1/metrics/prometheus /api/v1/prices; do
	as "$ING" GET "$p"
	is "$STATUS" 403 "the ingest token cannot GET $p"
done
audit_rows() { as "$TOKEN" GET "/api/v1/audit?limit=1000"; jbody '.items | length'; }
BEFORE=$(audit_rows)
for i in 1 2 3; do push "$ING" '{"agent":"a1","metric":"m","value":7}'; done
as "$ALICE" POST /api/v1/agents/a1/calls -H 'Content-Type: application/json' \
	--data '{"model":"x","latency_ms":1,"tokens_in":1,"tokens_out":1,"status":"ok"}'
is "$(audit_rows)" "$BEFORE" "ingest writes no audit rows"

# ---- delete ----
as "$BOB" DELETE /api/v1/agents/a1
is_error 403 forbidden "bob (write share) cannot delete a1"
as "$ALICE" DELETE /api/v1/agents/a1
is "$STATUS" 200 "alice deletes a1"
as "$ALICE" GET /api/v1/agents/a1
is "$STATUS" 404 "... it is no longer listed"
push "$BOB" '{"agent":"a1","metric":"m","value":6}'
is "$STATUS" 200 "... and its name may be taken again (bob)"
as "$BOB" GET /api/v1/agents/a1
is "$(jbody .owner)" bob "... bob owns it now"

# ---- a node's own figures ----
if start_claimed 1; then
	wait_for 30 bash -c "curl -s -H 'Authorization: Bearer $TOKEN' '$URL/api/v1/agents/n1' | jq -e '.metrics | length > 0' >/dev/null"
	as "$TOKEN" GET /api/v1/agents/n1
	is "$STATUS $(jbody .owner)" "200 admin" "the node's figures arrive as agent n1, owned by its owner"
	ok $(( $(jbody '.metrics | length') > 0 ? 0 : 1 )) "... with values"
	as "$BOB" GET /api/v1/agents/n1
	is "$STATUS" 404 "... which another member does not see"
else
	skip "no node agent came online"
	skip "no node agent"
	skip "no node agent"
fi
finish
