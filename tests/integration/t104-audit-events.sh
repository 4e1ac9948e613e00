#!/usr/bin/env bash
# The audit log (rows for mutations, filters, pagination, insert-only) and
# the event stream (SSE: live audit events, Last-Event-ID replay, topics,
# keep-alive comments).
. "$(dirname "$0")/lib.sh"

# Short keep-alives so that the test sees one.
export SENTINEL_SSE_KEEPALIVE_MS=300
start_server
T0=$(date -u +%Y-%m-%dT%H:%M:%S.000Z)
sleep 1.1   # whole seconds between T0 and the first mutation
ADMIN=$(login admin adminpass123)
TOKEN=$ADMIN

# ---- mutations leave audit rows ----
call POST /api/v1/users -H "Authorization: Bearer $ADMIN" -H 'Content-Type: application/json' \
	-H 'X-Request-Id: create-bob-1' --data '{"username":"bob","password":"bobpass12","role":"member"}'
is "$STATUS" 201 "create bob"
BOB=$(login bob bobpass12)
api POST /api/v1/groups '{"name":"g1"}'
api PUT /api/v1/groups/g1/members/bob
api POST /api/v1/users '{"username":"x","password":"xpass123","role":"member"}' "$BOB"
is "$STATUS" 403 "bob's user creation is refused"
api POST /api/v1/groups '{"name":"g1"}'
is "$STATUS" 409 "a duplicate group is a conflict"
call POST /api/v1/auth/login -H 'Content-Type: application/json' --data '{"username":"bob","password":"wrongpass"}'
is "$STATUS" 401 "a failed login"
api GET /api/v1/users   # reads are not audited
api GET /api/v1/me

api GET "/api/v1/audit?action=user.create&limit=10"
is "$STATUS" 200 "GET /api/v1/audit as admin"
is "$(jbody '.items | length')" 2 "two user.create rows (one success, one refused)"
row=$(jbody '.items[] | select(.request_id == "create-bob-1")')
is "$(jq -r '.actor' <<<"$row")" admin "the row names the actor"
like "$(jq -r '.actor_id' <<<"$row")" '^u_' "... and the actor's id"
is "$(jq -r '.action' <<<"$row")" user.create "... the action"
is "$(jq -r '.target' <<<"$row")" bob "... the target"
is "$(jq -r '.outcome + "/" + (.status|tostring)' <<<"$row")" success/201 "... the outcome and status"
is "$(jq -r '.address' <<<"$row")" 127.0.0.1 "... the client address"
like "$(jq -r '.ts' <<<"$row")" '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z$' "... and the time (RFC 3339 UTC)"
row=$(jbody '.items[] | select(.actor == "bob")')
is "$(jq -r '.outcome + "/" + (.status|tostring)' <<<"$row")" denied/403 "a refused mutation is recorded as denied"
api GET "/api/v1/audit?action=group.create"
is "$(jbody '[.items[] | .outcome + "/" + (.status|tostring)] | join(",")')" "failure/409,success/201" \
	"a failed mutation is recorded as a failure (newest first)"
api GET "/api/v1/audit?action=group.member_add"
is "$(jbody '.items[0].target')" "g1/bob" "membership changes name group and user"
api GET "/api/v1/audit?action=auth.login"
is "$(jbody '[.items[] | .actor + ":" + .outcome] | join(",")')" "bob:denied,bob:success,admin:success" \
	"logins are audited with their outcome"
api GET "/api/v1/audit?limit=1000"
is "$(jbody '[.items[] | select(.action | test("^GET|users$|/me$"))] | length')" 0 "reads are not audited"
total=$(jbody '.items | length')
is "$total" 8 "8 audit rows in all"

# ---- filters ----
api GET "/api/v1/audit?actor=bob"
is "$(jbody '[.items[].actor] | unique | join(",")')" bob "filter by actor (username)"
is "$(jbody '.items | length')" 3 "... bob has 3 rows (login, refused create, failed login)"
api GET "/api/v1/audit?target=g1/bob"
is "$(jbody '[.items[] | .action + " " + .target] | join(",")')" "group.member_add g1/bob" \
	"filter by target (exactly)"
api GET "/api/v1/audit?target_prefix=g1"
is "$(jbody '[.items[].target] | unique | join(",")')" "g1,g1/bob" "filter by target prefix"
api GET "/api/v1/audit?target_prefix=g1/&action=group.member_add"
is "$(jbody '.items | length')" 1 "... with other filters"
api GET "/api/v1/audit?target=$(head -c 600 /dev/zero | tr '\0' x)"
is_error 400 bad_request "a target over 512 bytes is refused"
api GET /api/v1/users/bob
bob_id=$(jbody .id)
api GET "/api/v1/audit?actor=$bob_id"
is "$(jbody '[.items[].action] | join(",")')" "user.create" "filter by actor id (authenticated rows carry it)"
api GET "/api/v1/audit?action=user.create&actor=admin"
is "$(jbody '.items | length')" 1 "filters combine"
api GET "/api/v1/audit?outcome=denied"
is "$(jbody '[.items[].outcome] | unique | join(",")')" denied "filter by outcome"
api GET "/api/v1/audit?since=$T0"
is "$(jbody '.items | length')" "$total" "since before the first mutation: every row"
api GET "/api/v1/audit?until=$T0"
is "$(jbody '.items | length')" 0 "until before the first mutation: no row"
sleep 1.1
T1=$(date -u +%Y-%m-%dT%H:%M:%S.000Z)
sleep 1.1
api POST /api/v1/groups '{"name":"late"}'
api GET "/api/v1/audit?since=$T1"
is "$(jbody '[.items[].target] | join(",")')" late "since: only rows at or after the time"
api GET "/api/v1/audit?since=$T0&until=$T1"
is "$(jbody '.items | length')" "$total" "since/until: the rows in the range"
api GET "/api/v1/audit?since=yesterday"
is_error 400 bad_request "a malformed since is 400"
like "$(errmsg)" "'since'" "... naming the parameter"
api GET "/api/v1/audit?until=2024-13-01T00:00:00Z"
is_error 400 bad_request "a malformed until is 400"

# ---- pagination ----
seen=() cursor= pages=0
while :; do
	api GET "/api/v1/audit?limit=3${cursor:+&cursor=$cursor}"
	[ "$STATUS" = 200 ] || break
	pages=$((pages + 1))
	while read -r id; do [ -n "$id" ] && seen+=("$id"); done < <(jbody '.items[].id')
	cursor=$(jbody '.next_cursor // empty')
	[ -n "$cursor" ] && [ $pages -lt 20 ] || break
done
n_all=$((total + 1))
is "${#seen[@]}" "$n_all" "paging with limit=3 visits every row"
is "$(printf '%s\n' "${seen[@]}" | sort -u | wc -l)" "$n_all" "... each once"
is "$pages" $(((n_all + 2) / 3)) "... in ceil(n/3) pages"
is "$(printf '%s\n' "${seen[@]}" | sort -r | tr '\n' ' ')" "$(printf '%s\n' "${seen[@]}" | tr '\n' ' ')" "... newest first"
api GET "/api/v1/audit?limit=0"
is_error 400 bad_request "limit=0 is 400"
api GET "/api/v1/audit?limit=1001"
is_error 400 bad_request "limit=1001 is 400"

# ---- insert-only ----
out=$(dbq "UPDATE audit SET outcome = 'success' WHERE outcome = 'denied'" 2>&1)
ok "$([ $? -ne 0 ]; echo $?)" "UPDATE on the audit table fails"
like "$out" 'insert-only' "... saying the audit is insert-only"
out=$(dbq "DELETE FROM audit" 2>&1)
ok "$([ $? -ne 0 ]; echo $?)" "DELETE on the audit table fails"
is "$(dbq "SELECT COUNT(*) FROM audit WHERE outcome = 'denied'")" 2 "the audit rows are unchanged"
is "$(dbq "SELECT COUNT(*) FROM audit")" "$n_all" "... and all there"

# ---- SSE ----
api GET /api/v1/events ""  ""
is_error 401 unauthorized "the event stream needs a token"

# sse NAME [curl args...]: streams /api/v1/events into $TMP/NAME.sse in the
# background until sse_stop; waits for the server's ": connected".
sse() {
	local name=$1
	shift
	curl -s -N --max-time 20 -H "Authorization: Bearer $ADMIN" "$@" "$URL/api/v1/events${SSE_QUERY:-}" \
		-D "$TMP/$name.hdrs" >"$TMP/$name.sse" 2>/dev/null &
	SSE_PID=$!
	for _ in $(seq 1 100); do grep -q '^: connected' "$TMP/$name.sse" 2>/dev/null && return 0; sleep 0.05; done
	return 1
}
sse_wait() { # sse_wait NAME REGEX: waits up to 5 s for REGEX in the stream
	for _ in $(seq 1 100); do grep -Eq -- "$2" "$TMP/$1.sse" && return 0; sleep 0.05; done
	return 1
}
sse_stop() { kill "$SSE_PID" 2>/dev/null; wait "$SSE_PID" 2>/dev/null; }

sse live
ok $? "GET /api/v1/events opens a stream"
like "$(grep -i '^content-type:' "$TMP/live.hdrs")" 'text/event-stream' "the stream is text/event-stream"
api POST /api/v1/groups '{"name":"sse-group"}'
sse_wait live 'sse-group'
ok $? "an audit event arrives after a mutation"
sse_wait live '^: keep-alive'
ok $? "keep-alive comments arrive while idle"
sse_stop
ev=$(awk '/^event: audit/{getline; print; exit}' "$TMP/live.sse")
like "$ev" '^data: \{.*"action":"group.create"' "the event is an audit event with the action"
is "$(sed 's/^data: //' <<<"$ev" | jq -r '.actor + "/" + .target + "/" + .outcome')" "admin/sse-group/success" \
	"the event carries actor, target and outcome"
unlike "$(cat "$TMP/live.sse")" '"name":"late"|"target":"late"' "events from before the connection are not sent"
ID1=$(grep -B1 '^event: audit' "$TMP/live.sse" | sed -n 's/^id: //p' | head -1)
like "$ID1" '^[0-9]+$' "events have numeric ids"

api POST /api/v1/groups '{"name":"sse-two"}'
api POST /api/v1/groups '{"name":"sse-three"}'
sse replay -H "Last-Event-ID: $((ID1 - 1))"
sse_wait replay 'sse-three'
ok $? "Last-Event-ID replays the missed events"
sse_stop
is "$(sed -n 's/^data: //p' "$TMP/replay.sse" | jq -r .target | tr '\n' ' ')" "sse-group sse-two sse-three " \
	"... in order, starting right after the given id"
is "$(sed -n 's/^id: //p' "$TMP/replay.sse" | head -1)" "$ID1" "... with the same ids"
sse replay2 -H "Last-Event-ID: $((ID1 + 1))"
sse_wait replay2 'sse-three'
ok $? "replay from a later id"
sse_stop
is "$(sed -n 's/^data: //p' "$TMP/replay2.sse" | jq -r .target | tr '\n' ' ')" "sse-three " \
	"... sends only the events after it"

SSE_QUERY='?topic=nothing-matches'
sse topic -H "Last-Event-ID: 0"
sleep 0.8
sse_stop
unlike "$(cat "$TMP/topic.sse")" '^event:' "a topic filter that matches nothing sends no events"
SSE_QUERY='?topic=audit'
sse topic2 -H "Last-Event-ID: $((ID1 - 1))"
sse_wait topic2 'sse-three'
ok $? "topic=audit sends audit events"
sse_stop
SSE_QUERY=

# ---- the event log: Last-Event-ID replays across a restart ----
ID3=$(sed -n 's/^id: //p' "$TMP/replay.sse" | tail -1)
stop_server
start_server
sse restarted -H "Last-Event-ID: $((ID1 - 1))"
sse_wait restarted 'sse-three'
ok $? "after a restart, Last-Event-ID replays what the previous process published"
is "$(awk '/^id: /{id=$2} /^data: /{sub(/^data: /, ""); print id}' "$TMP/restarted.sse" | tr '\n' ' ')" \
	"$ID1 $((ID1 + 1)) $ID3 " "... with the same ids"
sse_stop
api POST /api/v1/groups '{"name":"sse-after"}'
sse after -H "Last-Event-ID: $ID3"
sse_wait after 'sse-after'
ok $? "a new event after the restart is sent after the old ones"
sse_stop
ID4=$(awk '/^id: /{id=$2} /^data: .*sse-after/{print id; exit}' "$TMP/after.sse")
ok "$([ "${ID4:-0}" -gt "$ID3" ]; echo $?)" "... with a larger id ($ID4 > $ID3): no id is handed out twice"
n=$(dbq "SELECT count(*) FROM events")
ok "$([ "${n:-0}" -ge 4 ]; echo $?)" "the events are kept in the store ($n rows)"

# ---- concurrent mutations: each answered, each audited once ----
pids=()
for i in $(seq 1 40); do
	curl -s -o /dev/null -w '%{http_code}\n' --max-time 20 -X POST -H "Authorization: Bearer $ADMIN" \
		-H 'Content-Type: application/json' --data "{\"name\":\"par-$i\"}" "$URL/api/v1/groups" \
		>>"$TMP/par.codes" 2>/dev/null &
	pids+=($!)
done
wait "${pids[@]}"   # not a bare wait: the server is a child too
is "$(sort "$TMP/par.codes" | uniq -c | awk '{print $1 "x" $2}' | tr '\n' ' ')" "40x201 " \
	"40 concurrent group creations all succeed"
api GET "/api/v1/audit?action=group.create&limit=1000"
is "$(jbody '[.items[].target | select(startswith("par-"))] | unique | length')" 40 \
	"... and each has exactly one audit row"
is "$(jbody '[.items[].target | select(startswith("par-"))] | length')" 40 "... no duplicates"

done_testing
