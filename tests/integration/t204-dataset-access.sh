#!/usr/bin/env bash
# Dataset access: private to the owner and admins; another member gets 404
# on every route that names it (list, get, versions, content, preview,
# diff, push) and on its blobs; group shares (read, write) and public;
# PATCH by the owner only; DELETE by admins only.
. "$(dirname "$0")/lib.sh"
start_server
TOKEN=$(login admin adminpass123)
mkuser alice alicepass123 member
mkuser bob bobpass1234 member
ALICE=$(login alice alicepass123)
BOB=$(login bob bobpass1234)
D=/api/v1/datasets
as() { local t=$1 m=$2 p=$3; shift 3; call "$m" "$p" -H "Authorization: Bearer $t" "$@"; }

printf 'k,v\n1,a\n' >"$TMP/a.csv"
printf 'k,v\n1,b\n' >"$TMP/b.csv"
as "$ALICE" POST "$D/secret/versions" -H 'Content-Type: text/csv' --data-binary @"$TMP/a.csv"
SHA=$(jbody .sha256)
as "$ALICE" POST "$D/secret/versions" -H 'Content-Type: text/csv' --data-binary @"$TMP/b.csv"
is "$STATUS $(jbody .number)" "201 2" "alice pushes two versions of a private dataset"
SHA2=$(jbody .sha256)

as "$BOB" GET "$D"
is "$(jbody '.items | length')" "0" "bob's list does not show it"
as "$BOB" GET "$D?owner=alice"
is "$(jbody '.items | length')" "0" "... nor with ?owner=alice"
for p in "$D/secret" "$D/secret/versions" "$D/secret/versions/1" "$D/secret/versions/1/content" \
	"$D/secret/versions/1/preview" "$D/secret/diff?from=1&to=2" "/api/v1/blobs/$SHA"; do
	as "$BOB" GET "$p"
	is_error 404 not_found "bob: GET $p is 404"
done
as "$BOB" POST "$D/secret/versions" -H 'Content-Type: text/csv' --data-binary @"$TMP/b.csv"
is_error 404 not_found "bob cannot push to it (404, not 403)"
as "$BOB" PATCH "$D/secret" -H 'Content-Type: application/json' --data '{"public":true}'
is_error 404 not_found "bob cannot change it"
as "$TOKEN" GET "$D/secret/versions/1/content"
is "$STATUS" "200" "an admin reads it"
as "$ALICE" GET "$D?owner=alice&q=cre"
is "$(jbody '[.items[].name] | join(",")')" "secret" "alice lists it with filters"
as "$ALICE" GET "$D?q=nomatch"
is "$(jbody '.items | length')" "0" "... ?q= filters by substring"

api POST /api/v1/groups '{"name":"team"}'
api PUT /api/v1/groups/team/members/bob
is "$STATUS" "200" "bob joins the group team"
as "$ALICE" PATCH "$D/secret" -H 'Content-Type: application/json' \
	--data '{"shares":[{"group":"team","access":"read"}]}'
is "$STATUS" "200" "alice shares it with team (read)"
is "$(printf '%s' "$BODY" | jq -c .shares)" '[{"group":"team","access":"read"}]' "... the share is listed"
as "$BOB" GET "$D/secret/versions/1/content"
is "$STATUS" "200" "bob (in team) now reads it"
as "$BOB" GET "/api/v1/blobs/$SHA"
is "$STATUS" "200" "... and its blob"
as "$BOB" POST "$D/secret/versions" -H 'Content-Type: text/csv' --data-binary @"$TMP/b.csv"
is_error 403 forbidden "read access: a push is 403"
as "$BOB" PATCH "$D/secret" -H 'Content-Type: application/json' --data '{"public":true}'
is_error 403 forbidden "... and PATCH is the owner's"
as "$ALICE" PATCH "$D/secret" -H 'Content-Type: application/json' \
	--data '{"shares":[{"group":"team","access":"write"}]}'
printf 'k,v\n1,c\n' >"$TMP/c.csv"
as "$BOB" POST "$D/secret/versions" -H 'Content-Type: text/csv' --data-binary @"$TMP/c.csv"
is "$STATUS $(jbody .number) $(jbody .uploader)" "201 3 bob" "write access: bob pushes version 3"
as "$ALICE" PATCH "$D/secret" -H 'Content-Type: application/json' --data '{"shares":[{"group":"nope","access":"read"}]}'
is_error 400 bad_request "an unknown group: 400"

as "$ALICE" POST "$D/open/versions" -H 'Content-Type: text/csv' --data-binary @"$TMP/a.csv"
as "$ALICE" PATCH "$D/open" -H 'Content-Type: application/json' --data '{"public":true,"archived":true}'
is "$STATUS $(jbody .public) $(jbody .archived)" "200 true true" "alice makes a dataset public and archived"
api GET "$D?archived=1" "" "$ALICE"
is "$(jbody '[.items[].name] | join(",")')" "open" "?archived=1 lists the archived ones"
api GET "$D" "" "$ALICE"
is "$(jbody '[.items[].name] | join(",")')" "secret" "... the default list hides them"

as "$ALICE" DELETE "$D/secret"
is "$STATUS" "403" "a member cannot delete"
as "$TOKEN" DELETE "$D/secret"
is "$STATUS" "200" "an admin deletes"
as "$ALICE" GET "/api/v1/blobs/$SHA2"
is_error 404 not_found "... and its blobs are no longer readable through it"
n=$(dbq "SELECT COUNT(*) FROM audit WHERE action IN ('dataset.push','dataset.update','dataset.delete')")
ok "$([ "$n" -ge 5 ]; echo $?)" "pushes, changes and deletions are audited ($n rows)"
done_testing
