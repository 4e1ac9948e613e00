#!/usr/bin/env bash
# The verified-token cache and token scopes: a change made through this
# server (revoke, logout, disable, password reset, role change) holds at
# once; one made by another process on the shared store (sqlite3 or psql,
# the offline reset) holds within 1 s; expiry is exact; last use is recorded
# off the request path. An ingest token (scope metrics:write) reaches only
# HTTP_INGEST routes.
. "$(dirname "$0")/lib.sh"

start_server
TOKEN=$(login admin adminpass123)

# sql SQL: another process writing to the server's store (on SQLite it
# waits out a lock).
sql() {
	if on_pg; then
		dbq "$1" 2>&1
	else
		sqlite3 -bail -cmd '.timeout 5000' "$SERVER_DATA/sentinel.db" "$1" 2>&1
	fi
}
now_ms() { date +%s%3N; }
# api_token USER_TOKEN: a new API token of that user in NEW, its id in NEW_ID.
api_token() {
	api POST /api/v1/tokens '{"name":"t"}' "$1"
	NEW=$(jbody .token)
	NEW_ID=$(jbody .id)
}
# warm TOKEN: a few requests, so that the token is in the cache.
warm() { for _ in 1 2 3; do api GET /api/v1/auth/token "" "$1"; done; }

mkuser alice alicepass1 member
ALICE=$(login alice alicepass1)

# ---- scopes ----
api POST /api/v1/tokens '{"name":"agent","scope":"metrics:write"}' "$ALICE"
is "$STATUS:$(jbody .scope)" "201:metrics:write" "an ingest token is created with its scope"
ING=$(jbody .token)
ING_ID=$(jbody .id)
api POST /api/v1/tokens '{"name":"script"}' "$ALICE"
is "$STATUS:$(jbody .scope)" "201:all" "scope defaults to all"
api POST /api/v1/tokens '{"name":"x","scope":"metrics:read"}' "$ALICE"
is_error 400 bad_request "an unknown scope is refused"
like "$(errmsg)" "'scope'" "... naming the field"
api POST /api/v1/tokens '{"name":"x","scope":7}' "$ALICE"
is_error 400 bad_request "a scope that is not a string is refused"
api GET /api/v1/tokens "" "$ALICE"
is "$(jbody "[.items[] | select(.id == \"$ING_ID\") | .scope] | join(\",\")")" "metrics:write" \
	"the token list shows the scope"
for path in /api/v1/me /api/v1/datasets /api/v1/auth/token /api/v1/tokens /api/v1/jobs; do
	api GET "$path" "" "$ING"
	is_error 403 insufficient_scope "an ingest token cannot GET $path"
done
api POST /api/v1/tokens '{"name":"escalate"}' "$ING"
is_error 403 insufficient_scope "an ingest token cannot make itself a full token"
api POST /api/v1/auth/logout "" "$ING"
is_error 403 insufficient_scope "... nor call any other route"
api POST /api/v1/metrics '{"agent":"t120-agent","metric":"m","value":1}' "$ING"
if [ "$STATUS" = 404 ]; then
	T_N=$((T_N + 1))
	echo "ok $T_N # skip POST /api/v1/metrics is not routed in this build"
else
	unlike "$STATUS" '^(401|403)$' "an ingest token passes auth on an HTTP_INGEST route (POST /api/v1/metrics: $STATUS)"
fi
api GET /api/v1/me "" "$ALICE"
is "$STATUS" 200 "a login session has scope all"
api GET /api/v1/auth/token "" "$ALICE"
is "$STATUS:$(jbody .scope):$(jbody .user.username):$(jbody .user.role)" "200:all:alice:member" \
	"GET /auth/token describes the token in use"
out=$("$SENTINEL_BIN" token create ci-agent --scope metrics:write --server "$URL" --token "$ALICE" --json 2>&1)
is "$(printf '%s' "$out" | jq -r .scope 2>/dev/null)" "metrics:write" "sentinel token create --scope metrics:write"
out=$("$SENTINEL_BIN" token create bad --scope everything --server "$URL" --token "$ALICE" 2>&1)
is "$?" 1 "sentinel token create --scope with an unknown scope fails"
like "$out" "scope" "... saying why"
# A database of the previous release gets the column with every token at 'all'.
is "$(sql "SELECT COUNT(*) FROM tokens WHERE scope NOT IN ('all', 'metrics:write')")" 0 \
	"every stored token has a known scope"

# ---- changes through this server: at once ----
api_token "$ALICE"
A1=$NEW
A1_ID=$NEW_ID
warm "$A1"
is "$STATUS" 200 "a fresh API token works"
api DELETE "/api/v1/tokens/$A1_ID" "" "$ALICE"
is "$STATUS" 200 "the token is revoked"
api GET /api/v1/auth/token "" "$A1"
is_error 401 unauthorized "a revoked token is refused at once"

S=$(login alice alicepass1)
warm "$S"
api POST /api/v1/auth/logout "" "$S"
is "$STATUS" 200 "logout"
api GET /api/v1/auth/token "" "$S"
is_error 401 unauthorized "a logged-out session is refused at once"

mkuser bob bobpass123 member
BOB=$(login bob bobpass123)
api_token "$BOB"
B1=$NEW
warm "$B1"
api PATCH /api/v1/users/bob '{"disabled":true}'
is "$STATUS" 200 "bob is disabled"
api GET /api/v1/auth/token "" "$B1"
is_error 401 unauthorized "a disabled user's API token is refused at once"
api PATCH /api/v1/users/bob '{"disabled":false}'
api GET /api/v1/auth/token "" "$B1"
is "$STATUS" 200 "... and works again once bob is enabled"
api PATCH /api/v1/users/bob '{"password":"bobpass456"}'
is "$STATUS" 200 "an admin resets bob's password"
api GET /api/v1/auth/token "" "$B1"
is_error 401 unauthorized "... which ends bob's API token at once"

mkuser eve evepass123 admin
EVE=$(login eve evepass123)
api GET /api/v1/users "" "$EVE"
api GET /api/v1/users "" "$EVE"
is "$STATUS" 200 "an admin lists users"
api PATCH /api/v1/users/eve '{"role":"member"}'
is "$STATUS" 200 "eve is demoted"
api GET /api/v1/users "" "$EVE"
is_error 403 forbidden "the demotion holds at once"

CAROL_PW=carolpass1
mkuser carol "$CAROL_PW" member
C1=$(login carol "$CAROL_PW")
C2=$(login carol "$CAROL_PW")
warm "$C2"
api POST /api/v1/me/password "{\"current_password\":\"$CAROL_PW\",\"new_password\":\"carolpass2\"}" "$C1"
is "$STATUS" 200 "carol changes her password"
api GET /api/v1/auth/token "" "$C2"
is_error 401 unauthorized "her other session is refused at once"
api GET /api/v1/auth/token "" "$C1"
is "$STATUS" 200 "... the one in use stays"

mkuser dan danpass123 member
DAN=$(login dan danpass123)
api_token "$DAN"
D1=$NEW
warm "$D1"
api DELETE /api/v1/users/dan
is "$STATUS" 200 "dan is removed"
api GET /api/v1/auth/token "" "$D1"
is_error 401 unauthorized "a removed user's token is refused at once"

# ---- changes by another process sharing the store: within 1 s ----
mkuser frank frankpass1 member
FRANK=$(login frank frankpass1)
api_token "$FRANK"
F1=$NEW
F1_ID=$NEW_ID
api_token "$FRANK"
F2=$NEW
warm "$F1"
warm "$F2"
out=$(sql "UPDATE tokens SET revoked_at = $(now_ms) WHERE id = '$F1_ID'")
is "$out" "" "another process revokes a cached token"
sleep 1.1
api GET /api/v1/auth/token "" "$F1"
is_error 401 unauthorized "the next request after 1 s is refused"
out=$(sql "UPDATE users SET disabled = 1 WHERE username = 'frank'")
sleep 1.1
api GET /api/v1/auth/token "" "$F2"
is_error 401 unauthorized "a user disabled by another process: refused after 1 s"
is "$(errmsg)" "the account is disabled" "... saying so"
sql "UPDATE users SET disabled = 0 WHERE username = 'frank'" >/dev/null
sleep 1.1
api GET /api/v1/auth/token "" "$F2"
is "$STATUS" 200 "... and let in again once enabled there"
SENTINEL_NEW_PASSWORD=frankpass9 "$SENTINEL_BIN" admin reset-password frank --data "$SERVER_DATA" \
	>"$TMP/reset.out" 2>&1
is "$?" 0 "the offline reset-password runs beside the server"
sleep 1.1
api GET /api/v1/auth/token "" "$F2"
is_error 401 unauthorized "... and frank's tokens are refused after 1 s"

# ---- expiry: exact, also for a cached token ----
api_token "$ALICE"
G1=$NEW
G1_ID=$NEW_ID
warm "$G1"
exp=$(( $(now_ms) + 2500 ))
sql "UPDATE tokens SET expires_at = $exp WHERE id = '$G1_ID'" >/dev/null
sleep 1.1
api GET /api/v1/auth/token "" "$G1"
is "$STATUS" 200 "a token whose expiry another process moved works until then"
while [ "$(now_ms)" -lt $((exp - 300)) ]; do sleep 0.05; done
api GET /api/v1/auth/token "" "$G1"   # verified or cached shortly before the expiry
while [ "$(now_ms)" -le "$exp" ]; do sleep 0.02; done
api GET /api/v1/auth/token "" "$G1"
is_error 401 unauthorized "a cached token is refused right after its expiry"

# ---- last use: recorded off the request path ----
api_token "$ALICE"
H1=$NEW
H1_ID=$NEW_ID
t0=$(now_ms)
warm "$H1"
used=
for _ in $(seq 1 300); do
	used=$(sql "SELECT last_used_at FROM tokens WHERE id = '$H1_ID'")
	[ -n "$used" ] && break
	sleep 0.1
done
ok "$([ -n "$used" ] && [ "$used" -ge "$t0" ] && [ "$used" -le "$(now_ms)" ]; echo $?)" \
	"last_used_at is written within the flush period ($used)"
api GET /api/v1/tokens "" "$ALICE"
isnt "$(jbody "[.items[] | select(.id == \"$H1_ID\") | .last_used_at][0]")" null \
	"... and shown in the token list"

done_testing
