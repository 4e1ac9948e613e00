#!/usr/bin/env bash
# Upgrade in place: a database made by the release before per-domain schema
# versions (tests/fixtures/prev-release.db: users admin, alice, bob; group
# ml; alice's API token "ci"; 9 audit rows) opens with this server: the
# passwords, the API token and every audit row survive, auth's versions are
# recorded in schema_migrations, and a second start changes nothing. A
# domain version newer than this binary is refused and left alone.
. "$(dirname "$0")/lib.sh"
# Every check is about that SQLite file (its upgrade in place); a PostgreSQL
# database starts at this release's schema (an old file moves there with
# sentinel migrate, t130).
on_pg && { echo "1..0 # SKIP upgrades an old release's SQLite file in place"; exit 0; }

FIXTURE=$(cd "$(dirname "$0")/.." && pwd)/fixtures/prev-release.db
# alice's API token, made by the old release (printed once, kept here).
ALICE_API=snt_fc178dff99cde0c62af12e1f7de8726283cdb1bbfb550b98fdb926f8bfc89424
# The fixture's audit rows are from 2026: a long retention keeps them.
KEEP=(--audit-retention 36500d)

mkdir -p "$SERVER_DATA"
cp "$FIXTURE" "$SERVER_DATA/sentinel.db"
is "$(sqlite_db "SELECT group_concat(version) FROM schema_version")" "1,2" \
	"set-up: the fixture has the store-wide versions 1 and 2"
is "$(sqlite_db "SELECT COUNT(*) FROM sqlite_master WHERE name = 'schema_migrations'")" 0 \
	"... and no per-domain table"
old_audit=$(sqlite_db "SELECT group_concat(id || '|' || action || '|' || actor, ' ') FROM (SELECT * FROM audit ORDER BY id)")
last_id=$(sqlite_db "SELECT MAX(id) FROM audit")
old_applied=$(sqlite_db "SELECT group_concat(applied_at) FROM (SELECT applied_at FROM schema_version ORDER BY version)")

start_server "${KEEP[@]}"
ADMIN=$(login admin adminpass123)
like "$ADMIN" '^snt_' "admin logs in with the old password"
ALICE=$(login alice alicepass123)
like "$ALICE" '^snt_' "alice logs in with hers"
like "$(login bob bobpass12345)" '^snt_' "bob logs in with his"
is "$(login alice wrong-password)" null "a wrong password is still wrong"
api GET /api/v1/me "" "$ALICE_API"
is "$STATUS:$(jbody .username)" 200:alice "alice's API token from the old release still works"
is "$(jbody '.groups | join(",")')" ml "... and she is still in group ml"
TOKEN=$ADMIN
api GET /api/v1/groups/ml
is "$(jbody '[.member_list[].username] | join(",")')" alice,bob "group ml keeps its members"

is "$(sqlite_db "SELECT group_concat(id || '|' || action || '|' || actor, ' ') FROM (SELECT * FROM audit WHERE id <= '$last_id' ORDER BY id)")" \
	"$old_audit" "every audit row of the old release is still there, unchanged"
api GET "/api/v1/audit?actor=alice&action=token.create"
is "$STATUS:$(jbody '.items | length')" 200:1 "... and readable through the API"

is "$(sqlite_db "SELECT group_concat(domain || ':' || version, ' ') FROM (SELECT * FROM schema_migrations WHERE domain IN ('auth', 'blob') ORDER BY domain, version)")" \
	"auth:1 auth:2 auth:3 blob:1" "each domain's versions are recorded (auth's taken over, blob's new)"
is "$(sqlite_db "SELECT group_concat(applied_at) FROM (SELECT applied_at FROM schema_migrations WHERE domain = 'auth' AND version <= 2 ORDER BY version)")" \
	"$old_applied" "... with the times they were applied by the old release"
is "$(sqlite_db "SELECT group_concat(version) FROM schema_version")" "1,2,3" \
	"the store format 3 (per-domain versions) is recorded"
api GET /api/v1/status
is "$(printf '%s' "$BODY" | jq -c '.schema_version | [.auth, .blob]')" '[3,1]' "status reports auth at version 3 and blob at 1"

# ---- a second start is a no-op ----
snapshot() {
	sqlite_db "SELECT * FROM schema_version ORDER BY version; SELECT * FROM schema_migrations ORDER BY domain, version;
		SELECT COUNT(*) FROM users; SELECT COUNT(*) FROM user_groups; SELECT COUNT(*) FROM group_members"
}
stop_server
is "$STOP_RC" 0 "the server stops cleanly"
before=$(snapshot)
start_server "${KEEP[@]}"
stop_server
is "$(snapshot)" "$before" "a second start changes no schema record and no data"
start_server "${KEEP[@]}"
api GET /api/v1/me "" "$ALICE_API"
is "$STATUS" 200 "... and the old token still works"
stop_server

# ---- a newer domain version is refused, the database left alone ----
sqlite_db "INSERT INTO schema_migrations (domain, version, applied_at) VALUES ('auth', 7, 0)" >/dev/null
before=$(snapshot)
try_start_server "${KEEP[@]}"
isnt "$?" 0 "the server refuses a database whose auth schema is newer"
like "$(tail -n 3 "$TMP/server.log")" 'newer.*auth|auth.*newer' "... naming the domain"
is "$(snapshot)" "$before" "... and leaves it alone"

done_testing
