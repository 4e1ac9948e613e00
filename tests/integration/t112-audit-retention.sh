#!/usr/bin/env bash
# Audit retention: rows older than --audit-retention (default 365d) are
# deleted at start (and daily), by age only; recent rows cannot be deleted
# even straight through the database.
. "$(dirname "$0")/lib.sh"

start_server
TOKEN=$(login admin adminpass123)
api POST /api/v1/groups '{"name":"recent"}'
is "$STATUS" 201 "set-up: a recent audited change"
stop_server

now=$(($(date +%s) * 1000))
day=86400000
# old ROW-ID AGE-IN-DAYS: an audit row written that long ago
old() {
	dbq "INSERT INTO audit (id, ts, actor, action, outcome, status)
		VALUES ('$1', $((now - $2 * day)), 'admin', 'group.create', 'success', 201)" >/dev/null
}
old a_000000000001old400 400
old a_000000000002old366 366
old a_000000000003old300 300
old a_000000000004old2 2
n_before=$(dbq "SELECT COUNT(*) FROM audit" 2>&1)

start_server
left=$(dbq "SELECT id FROM audit WHERE id LIKE '%old%' ORDER BY id" 2>&1 | paste -sd ' ')
is "$left" "a_000000000003old300 a_000000000004old2" "at start, rows older than 365 days are gone"
is "$(dbq "SELECT COUNT(*) FROM audit" 2>&1)" $((n_before - 2)) "... and only those"
like "$(cat "$TMP/server.log")" 'deleted 2 rows older than the retention' "... and the log says so"
stop_server

start_server --audit-retention 30d
left=$(dbq "SELECT id FROM audit WHERE id LIKE '%old%' ORDER BY id" 2>&1 | paste -sd ' ')
is "$left" "a_000000000004old2" "--audit-retention 30d drops the 300-day-old row"
TOKEN=$(login admin adminpass123)
api GET "/api/v1/audit?action=group.create"
is "$(jbody '[.items[] | .target // .id] | join(",")')" "recent,a_000000000004old2" \
	"the rows within the retention stay, visible through the API"

# Deletion is by age only: even straight through the database, rows younger
# than a day cannot go, and the cutoff cannot be moved closer than a day.
out=$(dbq "DELETE FROM audit WHERE id = 'a_000000000004old2'" 2>&1)
ok "$([ $? -ne 0 ]; echo $?)" "a row within the retention cannot be deleted, not even a 2-day-old one"
out=$(dbq "DELETE FROM audit WHERE action = 'group.create'" 2>&1)
ok "$([ $? -ne 0 ]; echo $?)" "a recent row cannot be deleted"
like "$out" 'insert-only' "... the audit is insert-only"
out=$(dbq "UPDATE audit_purge SET cutoff = $now" 2>&1)
ok "$([ $? -ne 0 ]; echo $?)" "the purge cutoff cannot be moved to now"
like "$out" 'last day' "... the audit keeps at least its last day"
out=$(dbq "DELETE FROM audit_purge" 2>&1)
ok "$([ $? -ne 0 ]; echo $?)" "... nor removed"
stop_server

try_start_server --audit-retention 1h
is "$STOP_RC" 2 "--audit-retention under a day is refused"
like "$(tail -n 1 "$TMP/server.log")" 'audit-retention' "... naming the setting"

done_testing
