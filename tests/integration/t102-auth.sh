#!/usr/bin/env bash
# Authentication and authorisation: tokens (missing, bad, revoked, expired),
# roles, users CRUD rules, logout, API tokens, disabled users, the last
# superadmin, groups and membership.
. "$(dirname "$0")/lib.sh"

start_server
ADMIN=$(login admin adminpass123)
TOKEN=$ADMIN
like "$ADMIN" '.{20}' "admin logs in"

# ---- 401s ----
api GET /api/v1/me ""  ""
is_error 401 unauthorized "no token: 401"
like "$(header WWW-Authenticate)" '^Bearer' "401 carries WWW-Authenticate: Bearer"
call GET /api/v1/me -H "Authorization: Basic YWRtaW46YWRtaW5wYXNzMTIz"
is_error 401 unauthorized "Basic auth instead of a bearer token: 401"
call GET /api/v1/me -H "Authorization: Bearer"
is_error 401 unauthorized "an empty bearer token: 401"
api GET /api/v1/me "" "snt_0000000000000000000000000000000000000000000000000000000000000000"
is_error 401 unauthorized "an unknown token: 401"
like "$(header WWW-Authenticate)" 'invalid_token' "an unknown token is called invalid_token"
api GET /api/v1/me "" "${ADMIN}x"
is_error 401 unauthorized "a token with a changed character: 401"
call GET /api/v1/me -H "Authorization: bearer $ADMIN"
is "$STATUS" 200 "the Bearer scheme is case-insensitive"

# ---- roles and user creation ----
mkuser alice alicepass1 admin
is "$STATUS" 201 "superadmin creates an admin"
is "$(jbody '.username + "/" + .role')" alice/admin "the new admin is described"
like "$(jbody .id)" '.' "the new user has an id"
mkuser bob bobpass12 member
is "$STATUS" 201 "superadmin creates a member"
unlike "$BODY" 'pw_hash|argon|password' "the password hash is never returned"
BOB_ID=$(jbody .id)
ALICE=$(login alice alicepass1)
BOB=$(login bob bobpass12)
like "$ALICE$BOB" '.{40}' "alice and bob log in"

mkuser carol carolpass1 member "$BOB"
is_error 403 forbidden "a member gets 403 on user creation"
api GET /api/v1/users "" "$BOB"
is_error 403 forbidden "a member gets 403 listing users"
api GET /api/v1/audit "" "$BOB"
is_error 403 forbidden "a member gets 403 on the audit log"
api GET /api/v1/users/carol "" "$ADMIN"
is_error 404 not_found "the refused creation made no user"

mkuser carol carolpass1 member "$ALICE"
is "$STATUS" 201 "an admin creates a member"
mkuser dave davepass12 admin "$ALICE"
is_error 403 forbidden "an admin cannot create an admin"
mkuser dave davepass12 superadmin "$ALICE"
is_error 403 forbidden "an admin cannot create a superadmin"
api GET /api/v1/users/dave "" "$ADMIN"
is "$STATUS" 404 "... and no user was created"
mkuser erin erinpass12 superadmin "$ADMIN"
is "$STATUS" 201 "a superadmin creates a superadmin"
mkuser carol otherpass1 member "$ALICE"
is_error 409 conflict "a duplicate username is 409"
mkuser frank short member "$ALICE"
is_error 422 weak_password "a short password is 422"
like "$(errmsg)" "password" "... and the message names the password"
mkuser 'bad name' frankpass1 member "$ALICE"
is_error 400 bad_request "an invalid username is 400"
like "$(errmsg)" "'username'" "... naming the field"
mkuser frank frankpass1 root "$ALICE"
is_error 400 bad_request "an unknown role is 400"
like "$(errmsg)" "'role'" "... naming the field"

# ---- reading and changing users ----
api GET /api/v1/users/bob "" "$BOB"
is "$STATUS" 200 "a member reads itself"
api GET /api/v1/users/carol "" "$BOB"
is_error 403 forbidden "a member cannot read another user"
api GET "/api/v1/users/$BOB_ID" "" "$ALICE"
is "$(jbody .username)" bob "users are found by id too"
api PATCH /api/v1/users/bob '{"role":"admin"}' "$ALICE"
is_error 403 forbidden "an admin cannot promote a member to admin"
api PATCH /api/v1/users/erin '{"password":"newpassword1"}' "$ALICE"
is_error 403 forbidden "an admin cannot change a superadmin"
api DELETE /api/v1/users/erin "" "$ALICE"
is_error 403 forbidden "an admin cannot delete a superadmin"
api PATCH /api/v1/users/bob '{"role":"admin"}' "$BOB"
is_error 403 forbidden "a member cannot promote itself"
api GET /api/v1/me "" "$BOB"
is "$(jbody .role)" member "... and is still a member"
api PATCH /api/v1/users/nobody '{"disabled":true}' "$ALICE"
is_error 404 not_found "changing an unknown user is 404"

# ---- logout ----
S2=$(login carol carolpass1)
S3=$(login carol carolpass1)
api POST /api/v1/auth/logout "" "$S2"
is "$STATUS" 200 "logout"
api GET /api/v1/me "" "$S2"
is_error 401 unauthorized "the logged-out token gets 401"
api POST /api/v1/auth/logout "" "$S2"
is_error 401 unauthorized "logging out twice is 401"
api GET /api/v1/me "" "$S3"
is "$STATUS" 200 "another session of the same user still works"

# ---- API tokens ----
api POST /api/v1/tokens '{"name":"ci","expires_in_days":30}' "$BOB"
is "$STATUS" 201 "a member creates an API token"
API1=$(jbody .token)
API1_ID=$(jbody .id)
is "$(jbody .kind)" api "the token is of kind api"
like "$(jbody .expires_at)" '^20[0-9]{2}-' "it expires as asked"
api POST /api/v1/tokens '{"name":"forever"}' "$BOB"
API2=$(jbody .token)
API2_ID=$(jbody .id)
is "$(jbody .expires_at)" null "without expires_in_days it does not expire"
api GET /api/v1/me "" "$API1"
is "$(jbody .username)" bob "the API token authenticates as bob"
api GET /api/v1/tokens "" "$BOB"
is "$STATUS" 200 "list tokens"
is "$(jbody '[.items[].name] | sort | join(",")')" "ci,forever" "the list has bob's API tokens (not sessions)"
is "$(jbody '[.items[] | has("token")] | any')" false "the list never shows the secret"
unlike "$BODY" "${API1#snt_}" "... nor any part of it"
api GET /api/v1/tokens "" "$ALICE"
is "$(jbody '.items | length')" 0 "another user's list does not show bob's tokens"
api DELETE "/api/v1/tokens/$API1_ID" "" "$S3"
is_error 404 not_found "a member cannot revoke another user's token"
api GET /api/v1/me "" "$API1"
is "$STATUS" 200 "... and it still works"
api DELETE "/api/v1/tokens/$API1_ID" "" "$BOB"
is "$STATUS" 200 "bob revokes his token"
api GET /api/v1/me "" "$API1"
is_error 401 unauthorized "a revoked API token gets 401"
api DELETE "/api/v1/tokens/$API1_ID" "" "$BOB"
is_error 404 not_found "revoking it again is 404"
api GET /api/v1/tokens "" "$BOB"
like "$(jbody ".items[] | select(.id == \"$API1_ID\") | .revoked_at")" '^20' "the list shows when it was revoked"
api DELETE "/api/v1/tokens/$API2_ID" "" "$ALICE"
is "$STATUS" 200 "an admin revokes another user's token"
api GET /api/v1/me "" "$API2"
is "$STATUS" 401 "... which then gets 401"
# An admin may not manage superadmins (users.c), so it may not end their
# sessions either: a superadmin's token id is visible to admins as the
# target of its auth.login audit row.
ERIN_S=$(login erin erinpass12)
api GET "/api/v1/audit?action=auth.login&actor=erin&outcome=success&limit=1" "" "$ALICE"
ERIN_TID=$(jbody '.items[0].target')
like "$ERIN_TID" '^tok_' "an admin sees a superadmin's session token id in the audit log"
api DELETE "/api/v1/tokens/$ERIN_TID" "" "$ALICE"
like "$STATUS" '^(403|404)$' "an admin cannot revoke a superadmin's session token"
api GET /api/v1/me "" "$ERIN_S"
is "$STATUS" 200 "... and the superadmin stays logged in"
mkuser alan alanpass12 admin "$ADMIN"
api POST /api/v1/tokens '{"name":"alan-script"}' "$(login alan alanpass12)"
ALAN_API=$(jbody .token)
ALAN_TID=$(jbody .id)
api DELETE "/api/v1/tokens/$ALAN_TID" "" "$ALICE"
like "$STATUS" '^(403|404)$' "an admin cannot revoke another admin's token"
api GET /api/v1/me "" "$ALAN_API"
is "$STATUS" 200 "... which still works"
api DELETE "/api/v1/tokens/$ALAN_TID" "" "$ERIN_S"
is "$STATUS" 200 "a superadmin revokes an admin's token"
api GET /api/v1/me "" "$ALAN_API"
is "$STATUS" 401 "... which then gets 401"
api POST /api/v1/tokens '{"name":""}' "$BOB"
is_error 400 bad_request "an empty token name is 400"
api POST /api/v1/tokens '{"name":"x","expires_in_days":99999}' "$BOB"
is_error 400 bad_request "an out-of-range expiry is 400"
like "$(errmsg)" "'expires_in_days'" "... naming the field"

# ---- disabled users ----
api POST /api/v1/tokens '{"name":"script"}' "$BOB"
BOB_API=$(jbody .token)
api PATCH /api/v1/users/bob '{"disabled":true}' "$ALICE"
is "$STATUS" 200 "an admin disables a member"
is "$(jbody .disabled)" true "the user is disabled"
api GET /api/v1/me "" "$BOB"
is_error 401 unauthorized "the disabled user's session ends"
api GET /api/v1/me "" "$BOB_API"
is_error 401 unauthorized "the disabled user's API token is refused"
call POST /api/v1/auth/login -H 'Content-Type: application/json' --data '{"username":"bob","password":"bobpass12"}'
is_error 401 invalid_credentials "a disabled user cannot log in (401, as for a wrong password)"
is "$(jbody .token)" null "... and gets no token"
api PATCH /api/v1/users/bob '{"disabled":false}' "$ALICE"
is "$STATUS" 200 "re-enable bob"
api GET /api/v1/me "" "$BOB"
is "$STATUS" 401 "the ended session stays ended after re-enabling"
BOB=$(login bob bobpass12)
api GET /api/v1/me "" "$BOB"
is "$STATUS" 200 "the re-enabled user logs in again"

# a new password ends the sessions
api PATCH /api/v1/users/bob '{"password":"bobpass34"}' "$ALICE"
is "$STATUS" 200 "an admin resets a member's password"
api GET /api/v1/me "" "$BOB"
is "$STATUS" 401 "the password change ends bob's sessions"
is "$(login bob bobpass12)" null "the old password no longer works"
BOB=$(login bob bobpass34)
like "$BOB" '.{20}' "the new password works"

# ---- the last superadmin ----
api PATCH /api/v1/users/erin '{"disabled":true}' "$ADMIN"
is "$STATUS" 200 "a superadmin disables another superadmin"
api PATCH /api/v1/users/admin '{"disabled":true}' "$ADMIN"
is_error 409 conflict "the last enabled superadmin cannot be disabled"
api PATCH /api/v1/users/admin '{"role":"admin"}' "$ADMIN"
is_error 409 conflict "the last enabled superadmin cannot be demoted"
api DELETE /api/v1/users/admin "" "$ADMIN"
is_error 409 conflict "the last enabled superadmin cannot be deleted"
api GET /api/v1/me "" "$ADMIN"
is "$(jbody '.role + "/" + (.disabled|tostring)')" "superadmin/false" "admin is untouched"
api PATCH /api/v1/users/erin '{"disabled":false}' "$ADMIN"
is "$STATUS" 200 "re-enable erin"
api PATCH /api/v1/users/admin '{"role":"admin"}' "$ADMIN"
is "$STATUS" 200 "with another superadmin enabled, admin may be demoted"
ERIN=$(login erin erinpass12)
api PATCH /api/v1/users/admin '{"role":"superadmin"}' "$ERIN"
is "$STATUS" 200 "erin makes admin a superadmin again"

# deleting users
mkuser gone gonepass12 member "$ALICE"
GONE=$(login gone gonepass12)
api DELETE /api/v1/users/gone "" "$ALICE"
is "$STATUS" 200 "an admin deletes a member"
api GET /api/v1/me "" "$GONE"
is "$STATUS" 401 "a deleted user's token gets 401"
api DELETE /api/v1/users/alice "" "$ALICE"
is_error 403 forbidden "an admin cannot delete itself (admins are managed by superadmins)"
api DELETE /api/v1/users/erin "" "$ERIN"
is_error 409 conflict "a superadmin cannot delete itself"

# ---- groups ----
api POST /api/v1/groups '{"name":"ml-team","description":"ML people"}' "$BOB"
is_error 403 forbidden "a member cannot create a group"
api POST /api/v1/groups '{"name":"ml-team","description":"ML people"}' "$ALICE"
is "$STATUS" 201 "an admin creates a group"
GID=$(jbody .id)
is "$(jbody '.name + "/" + .description + "/" + (.members|tostring)')" "ml-team/ML people/0" "the new group is described"
api POST /api/v1/groups '{"name":"ml-team"}' "$ALICE"
is_error 409 conflict "a duplicate group is 409"
api POST /api/v1/groups '{"name":"bad name!"}' "$ALICE"
is_error 400 bad_request "an invalid group name is 400"
api POST /api/v1/groups '{"name":"ops"}' "$ALICE"
is "$STATUS" 201 "a second group"
api GET /api/v1/groups "" "$BOB"
is "$(jbody '[.items[].name] | join(",")')" "ml-team,ops" "a member lists groups"
api PUT /api/v1/groups/ml-team/members/bob "" "$BOB"
is_error 403 forbidden "a member cannot add members"
api PUT /api/v1/groups/ml-team/members/bob "" "$ALICE"
is "$STATUS" 200 "an admin adds bob to ml-team (by name)"
api PUT "/api/v1/groups/$GID/members/carol" "" "$ALICE"
is "$STATUS" 200 "an admin adds carol to ml-team (by id)"
api PUT /api/v1/groups/ml-team/members/carol "" "$ALICE"
is "$STATUS" 200 "adding a member twice is harmless"
api PUT /api/v1/groups/ops/members/bob "" "$ALICE"
is "$STATUS" 200 "bob joins ops too"
api PUT /api/v1/groups/ml-team/members/nobody "" "$ALICE"
is_error 404 not_found "adding an unknown user is 404"
api PUT /api/v1/groups/nogroup/members/bob "" "$ALICE"
is_error 404 not_found "adding to an unknown group is 404"
api GET /api/v1/groups/ml-team "" "$BOB"
is "$(jbody '(.members|tostring) + ":" + ([.member_list[].username] | join(","))')" "2:bob,carol" \
	"the group lists its members"
api GET /api/v1/me "" "$BOB"
is "$(jbody '.groups | join(",")')" "ml-team,ops" "/me shows bob's groups"
api DELETE /api/v1/groups/ml-team/members/bob "" "$ALICE"
is "$STATUS" 200 "remove bob from ml-team"
api DELETE /api/v1/groups/ml-team/members/bob "" "$ALICE"
is_error 404 not_found "removing a non-member is 404"
api GET /api/v1/me "" "$BOB"
is "$(jbody '.groups | join(",")')" "ops" "/me no longer shows ml-team"
api DELETE /api/v1/groups/ops "" "$BOB"
is_error 403 forbidden "a member cannot delete a group"
api DELETE /api/v1/groups/ops "" "$ALICE"
is "$STATUS" 200 "an admin deletes a group"
api GET /api/v1/groups/ops "" "$BOB"
is_error 404 not_found "the deleted group is gone"
api GET /api/v1/me "" "$BOB"
is "$(jbody '.groups | length')" 0 "deleting the group removes the membership"
api GET /api/v1/users/carol "" "$ALICE"
is "$(jbody '.groups | join(",")')" "ml-team" "a user's groups show on GET /users/{id}"

# ---- expiry: a short session TTL ----
stop_server
is "$STOP_RC" 0 "the server stops cleanly"
start_server --session-ttl 2s
SHORT=$(login carol carolpass1)
api GET /api/v1/me "" "$SHORT"
is "$STATUS" 200 "a fresh session works"
api POST /api/v1/tokens '{"name":"long"}' "$SHORT"
LONG=$(jbody .token)
sleep 2.3
api GET /api/v1/me "" "$SHORT"
is_error 401 unauthorized "the session expires after --session-ttl"
api GET /api/v1/me "" "$LONG"
is "$STATUS" 200 "an API token does not expire with the session TTL"

done_testing
