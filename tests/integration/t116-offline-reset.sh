#!/usr/bin/env bash
# Recovery without a server: `sentinel admin reset-password` sets a
# password on the store directly (beside a running server or with none),
# revokes the user's tokens and is audited as local:<unix user>; local
# runtime changes are audited likewise. SENTINEL_ADMIN_PASSWORD only sets
# the first admin's password: once users exist the server says it ignores
# it, and the quick-start banner no longer suggests otherwise.
. "$(dirname "$0")/lib.sh"

ME="local:$(id -un)"
reset() { "$SENTINEL_BIN" admin reset-password "$@"; }

start_server
unlike "$(cat "$TMP/server.log")" 'admin-password.*ignored' "first start: the admin password is used, no warning"
ADMIN=$(login admin adminpass123)
TOKEN=$ADMIN
mkuser alice alicepass123 member
ALICE=$(login alice alicepass123)
api POST /api/v1/tokens '{"name":"ci"}' "$ALICE"
ALICE_API=$(jbody .token)
like "$ALICE_API" '^snt_' "set-up: alice with a session and an API token"

# ---- the variable is ignored once users exist, and the server says so ----
stop_server
ADMIN_PW=a-new-password-attempt start_server
like "$(cat "$TMP/server.log")" 'admin-password.*ignored.*users exist' \
	"a restart with SENTINEL_ADMIN_PASSWORD set logs that it is ignored"
like "$(cat "$TMP/server.log")" 'reset-password' "... and names the way to reset a password"
is "$(login admin a-new-password-attempt)" null "... and it indeed changed nothing"
ADMIN=$(login admin adminpass123)
TOKEN=$ADMIN

# ---- reset beside a running server ----
SENTINEL_NEW_PASSWORD=recovered-pw1 reset admin --data "$SERVER_DATA" >"$TMP/reset.out" 2>&1
is "$?" 0 "reset-password with SENTINEL_NEW_PASSWORD: exit 0"
like "$(cat "$TMP/reset.out")" 'admin.*revoked' "... and says the tokens are revoked"
is "$(login admin adminpass123)" null "the old password no longer works"
NEW=$(login admin recovered-pw1)
like "$NEW" '^snt_' "the new one does"
api GET /api/v1/me "" "$ADMIN"
is "$STATUS" 401 "the admin's earlier session is revoked"
TOKEN=$NEW
api GET "/api/v1/audit?action=user.reset_password"
is "$(jbody '[.items[] | [.actor, .target, .outcome, (.address // "none")] | join(",")] | join(" ")')" \
	"$ME,admin,success,none" "the reset is audited as $ME, with no address"

printf 'alice-new-pw2\n' | reset alice --data "$SERVER_DATA" --password-stdin >/dev/null 2>&1
is "$?" 0 "--password-stdin: exit 0"
api GET /api/v1/me "" "$ALICE_API"
is "$STATUS" 401 "alice's API token is revoked too (a lost password may be a stolen one)"
like "$(login alice alice-new-pw2)" '^snt_' "alice logs in with the new password"

# ---- refusals ----
out=$(SENTINEL_NEW_PASSWORD=whatever-long reset nobody --data "$SERVER_DATA" 2>&1); rc=$?
is "$rc:$out" "1:sentinel admin reset-password: no user 'nobody'" "an unknown user: exit 1, one line"
out=$(SENTINEL_NEW_PASSWORD=short reset alice --data "$SERVER_DATA" 2>&1); rc=$?
is "$rc" 2 "a password under 8 characters: exit 2"
like "$out" 'at least 8' "... saying why"
if on_pg; then
	# There the store is named by its URL (SENTINEL_DB), not by --data.
	out=$(SENTINEL_NEW_PASSWORD=whatever-long reset alice --db "${SENTINEL_TEST_PG%/*}/t116_nowhere" 2>&1); rc=$?
	is "$rc" 1 "a store URL naming no database: exit 1"
	like "$out" 'database "t116_nowhere" does not exist' "... saying so"
	is "$(dbq "SELECT COUNT(*) FROM pg_database WHERE datname = 't116_nowhere'")" 0 "... and creates none"
else
	out=$(SENTINEL_NEW_PASSWORD=whatever-long reset alice --data "$TMP/nowhere" 2>&1); rc=$?
	is "$rc" 1 "a data directory without a database: exit 1"
	like "$out" 'no database' "... saying so"
	ok "$([ ! -e "$TMP/nowhere/sentinel.db" ]; echo $?)" "... and creates none"
fi
out=$(setsid -w "$SENTINEL_BIN" admin reset-password alice --data "$SERVER_DATA" </dev/null 2>&1); rc=$?
is "$rc" 2 "no password source (no variable, no --password-stdin, no terminal): exit 2"
reset alice extra --data "$SERVER_DATA" >/dev/null 2>&1
is "$?" 2 "two user names: exit 2"
"$SENTINEL_BIN" admin frobnicate >/dev/null 2>&1
is "$?" 2 "an unknown admin subcommand: exit 2"
like "$("$SENTINEL_BIN" --help 2>&1)" 'admin +offline' "sentinel --help lists admin"
like "$(login alice alice-new-pw2)" '^snt_' "after the refusals alice's password is unchanged"

# ---- with no server at all ----
stop_server
SENTINEL_NEW_PASSWORD=offline-pw-3 reset admin --data "$SERVER_DATA" >/dev/null 2>&1
is "$?" 0 "reset-password with the server stopped: exit 0"
start_server
like "$(login admin offline-pw-3)" '^snt_' "the server accepts the password set offline"

# ---- local runtime changes are audited ----
mkdir -p "$TMP/venv/bin"
echo "home = /usr/bin" >"$TMP/venv/pyvenv.cfg"
ln -s /bin/true "$TMP/venv/bin/python3"
"$SENTINEL_BIN" runtime register --venv "$TMP/venv" --name v1 --data "$SERVER_DATA" >/dev/null 2>&1
is "$?" 0 "runtime register on the data directory: exit 0"
"$SENTINEL_BIN" runtime rm v1 --data "$SERVER_DATA" >/dev/null 2>&1
"$SENTINEL_BIN" runtime rm v1 --data "$SERVER_DATA" >/dev/null 2>&1
TOKEN=$(login admin offline-pw-3)
api GET "/api/v1/audit?actor=$ME"
is "$(jbody '[.items[] | select(.action | startswith("runtime.")) | [.action, .target, .outcome] | join(",")] | reverse | join(" ")')" \
	"runtime.register,v1,success runtime.delete,v1,success runtime.delete,v1,failure" \
	"runtime register and rm (also a failed rm) are audited as $ME"
# Under PostgreSQL that directory's store is an empty database (--db).
fresh=(--data "$TMP/fresh")
on_pg && fresh+=(--db "$(SERVER_DATA=$TMP/fresh; pg_db_for_data; echo "$SENTINEL_DB")")
"$SENTINEL_BIN" runtime register --venv "$TMP/venv" --name v2 "${fresh[@]}" >/dev/null 2>&1
is "$(SERVER_DATA=$TMP/fresh SENTINEL_DB=${fresh[3]:-} dbq "SELECT actor || ',' || action FROM audit")" \
	"$ME,runtime.register" "on a data directory no server used yet, the store is made to hold the record"

# ---- the quick-start banner ----
stop_server
"$SENTINEL_BIN" up --listen 127.0.0.1:0 --data "$SERVER_DATA" --ready-file "$TMP/up.ready" \
	>"$TMP/up.out" 2>"$TMP/up.err" &
up=$!
for _ in $(seq 1 200); do [ -s "$TMP/up.ready" ] && break; sleep 0.05; done
kill -TERM "$up"; wait "$up"
unlike "$(cat "$TMP/up.out")" 'SENTINEL_ADMIN_PASSWORD' "sentinel up no longer suggests SENTINEL_ADMIN_PASSWORD sets the password"
like "$(cat "$TMP/up.out")" "reset-password admin --data $SERVER_DATA" "... it names the offline reset instead"

done_testing
