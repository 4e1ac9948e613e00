#!/usr/bin/env bash
# Hardening of authentication: the password-change throttle, a reset that
# revokes every token, disabled users' tokens, one answer for every failed
# login, usernames that cannot shadow ids, and refusals that coalesce into
# few audit rows.
. "$(dirname "$0")/lib.sh"

start_server
TOKEN=$(login admin adminpass123)
ADMIN=$TOKEN

# ---- /me/password is throttled like a login ----
mkuser mallory mallorypass1 member
MAL=$(login mallory mallorypass1)
codes=
for _ in 1 2 3 4 5; do
	api POST /api/v1/me/password '{"current_password":"guess-guess","new_password":"newpass123"}' "$MAL"
	codes="$codes$STATUS "
done
is "$codes" "403 403 403 403 403 " "5 wrong current passwords are 403"
api POST /api/v1/me/password '{"current_password":"guess-guess","new_password":"newpass123"}' "$MAL"
is_error 429 too_many_requests "the 6th guess is 429"
like "$(header Retry-After)" '^[0-9]+$' "... with Retry-After"
api POST /api/v1/me/password '{"current_password":"mallorypass1","new_password":"newpass123"}' "$MAL"
is "$STATUS" 429 "... and so is the right one while locked"
api POST /api/v1/me/password '{"current_password":"adminpass123","new_password":"newpass456"}' "$ADMIN"
is "$STATUS" 200 "another user's password change is not affected"
ADMIN=$(login admin newpass456)
TOKEN=$ADMIN

# ---- an admin's reset revokes every token; disabled users' tokens fail ----
mkuser frank frankpass1 member
FRANK=$(login frank frankpass1)
api POST /api/v1/tokens '{"name":"script"}' "$FRANK"
FRANK_API=$(jbody .token)
api GET /api/v1/me "" "$FRANK_API"
is "$STATUS" 200 "frank's API token works"
api PATCH /api/v1/users/frank '{"password":"frankpass2"}'
is "$STATUS" 200 "an admin resets frank's password"
api GET /api/v1/me "" "$FRANK_API"
is_error 401 unauthorized "... which revokes frank's API token"
api GET /api/v1/me "" "$FRANK"
is_error 401 unauthorized "... and his session"
FRANK=$(login frank frankpass2)
api POST /api/v1/tokens '{"name":"script2"}' "$FRANK"
FRANK_API=$(jbody .token)
api PATCH /api/v1/users/frank '{"disabled":true}'
api GET /api/v1/me "" "$FRANK_API"
is_error 401 unauthorized "a disabled user's API token fails"
api POST /api/v1/tokens '{"name":"more"}' "$FRANK_API"
is_error 401 unauthorized "... for writes too"
api PATCH /api/v1/users/frank '{"disabled":false}'
api GET /api/v1/me "" "$FRANK_API"
is "$STATUS" 200 "... and works again once re-enabled (disabling is not a reset)"

# ---- a disabled user's login fails like a wrong password ----
api PATCH /api/v1/users/frank '{"disabled":true}'
api POST /api/v1/auth/login '{"username":"frank","password":"frankpass2"}' ""
is_error 401 invalid_credentials "a disabled user with the right password: 401"
right=$(jbody '.error | del(.request_id)')
api POST /api/v1/auth/login '{"username":"frank","password":"wrong-pass"}' ""
is_error 401 invalid_credentials "... the same user with a wrong password: 401"
is "$(jbody '.error | del(.request_id)')" "$right" "... with the same body"
api POST /api/v1/auth/login '{"username":"nobody-at-all","password":"wrong-pass"}' ""
is "$(jbody '.error | del(.request_id)')" "$right" "... as for an unknown user"

# ---- usernames cannot shadow ids ----
mkuser grace gracepass1 member
GRACE_ID=$(jbody .id)
mkuser "$GRACE_ID" shadowpass1 member
is_error 400 bad_request "a username equal to another user's id is refused"
mkuser u_0123abcdef shadowpass1 member
is_error 400 bad_request "any username shaped like an id (u_ and hex) is refused"
mkuser u_grace gracepass1 member
is "$STATUS" 201 "u_ followed by a non-hex name is a username like any other"
# A user of that shape from before the rule (written straight to the store)
# is reachable by id only and never hides the user whose id it names.
dbq "INSERT INTO users (id, username, pw_hash, role, disabled, created_at, updated_at)
	VALUES ('u_ffff0000ffff0000ffff', '$GRACE_ID', 'x', 'member', 0, 0, 0)" >/dev/null
api GET "/api/v1/users/$GRACE_ID"
is "$(jbody .username)" grace "GET /users/<grace's id> is grace, never the legacy name"
api GET /api/v1/users/u_ffff0000ffff0000ffff
is "$(jbody .username)" "$GRACE_ID" "the legacy user is reached by its id"
api PUT "/api/v1/groups/g1/members/$GRACE_ID"
api POST /api/v1/groups '{"name":"g1"}'
api PUT "/api/v1/groups/g1/members/$GRACE_ID"
is "$(jbody .user)" "$GRACE_ID" "group membership by id adds grace"
api POST /api/v1/groups '{"name":"g_00ff"}'
is_error 400 bad_request "a group name shaped like a group id is refused"

# ---- refusals coalesce into few audit rows ----
seq 1 200 | xargs -P 8 -I{} curl -s -o /dev/null --max-time 30 -X POST \
	-H 'Authorization: Bearer snt_not-a-token' -H 'Content-Type: application/json' \
	--data '{"name":"x{}"}' "$URL/api/v1/groups"
got=$(dbq "SELECT COUNT(*) || ' ' || SUM(count) FROM audit WHERE status = 401 AND actor IS NULL AND action = 'group.create'" 2>&1)
rows=${got% *}
ok "$([ "$rows" -ge 1 ] && [ "$rows" -le 3 ]; echo $?)" "200 bad-token requests make at most 3 audit rows (got $rows)"
is "${got#* }" 200 "... whose counts add up to 200"
api GET "/api/v1/audit?action=group.create&outcome=denied"
is "$(jbody '[.items[] | select(.status == 401) | .count] | add')" 200 "the API shows the count"
seq 1 100 | xargs -P 8 -I{} curl -s -o /dev/null --max-time 30 -X POST \
	-H 'Content-Type: application/json' --data '{"username":"victim","password":"wrong-{}"}' \
	"$URL/api/v1/auth/login"
got=$(dbq "SELECT COUNT(*) || ' ' || SUM(count) FROM audit WHERE action = 'auth.login' AND actor = 'victim'" 2>&1)
rows=${got% *}
ok "$([ "$rows" -ge 1 ] && [ "$rows" -le 6 ]; echo $?)" "100 failed logins make a few rows (401, 429, 503 per minute; got $rows)"
is "${got#* }" 100 "... whose counts add up to 100"
out=$(dbq "UPDATE audit SET count = count + 1 WHERE coalesce_key IS NULL" 2>&1)
ok "$([ $? -ne 0 ]; echo $?)" "only a coalesced row's count may change"
out=$(dbq "UPDATE audit SET actor = 'someone' WHERE coalesce_key IS NOT NULL" 2>&1)
ok "$([ $? -ne 0 ]; echo $?)" "... and nothing else of it"

done_testing
