#!/usr/bin/env bash
# sentinel migrate: a server on SQLite is filled through the API (users, a
# token, a group, a dataset, a script, jobs, metrics), stopped, and copied
# to a throwaway PostgreSQL; the verification table lists every table ok;
# a server on the copy with the same --data answers the same reads (login
# with the old password, the dataset's bytes, the audit, the metrics).
# Migrating into a database that holds rows is refused and changes
# nothing. Always starts from SQLite, whatever SENTINEL_TEST_PG says.
unset SENTINEL_TEST_PG SENTINEL_DB
. "$(dirname "$0")/lib.sh"
PG_SH=$(cd "$(dirname "$0")/../.." && pwd)/scripts/pg.sh
ls -d /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 ||
	{ echo "1..0 # SKIP PostgreSQL is not installed"; exit 0; }
# Its own directory (pg.sh hands it to the postgres user), not under $TMP.
PGDIR=$(mktemp -d "${TMPDIR:-/tmp}/sentinel-t130-pg.XXXXXX")
trap '"$PG_SH" stop "$PGDIR"; cleanup' EXIT
PG=$("$PG_SH" start "$PGDIR") || { echo "Bail out! cannot start PostgreSQL"; exit 1; }
DST=$("$PG_SH" createdb "$PG" t130)
migrate() { "$SENTINEL_BIN" migrate "$@" >"$TMP/mig.out" 2>"$TMP/mig.err"; }

start_server
TOKEN=$(login admin adminpass123)
mkuser alice alicepass123 member
is "$STATUS" 201 "a member is created"
ALICE=$(login alice alicepass123)
api POST /api/v1/tokens '{"name":"ci","expires_in_days":30}' "$ALICE"
is "$STATUS" 201 "an API token is created"
APITOK=$(jbody .token)
api POST /api/v1/groups '{"name":"ml-team","description":"ML people"}'
is "$STATUS" 201 "a group is created"
printf 'id,name,score\n1,a,1.5\n2,b,2.5\n3,c,NA\n' >"$TMP/v1.csv"
call POST /api/v1/datasets/iris/versions -H "Authorization: Bearer $TOKEN" \
	-H 'Content-Type: text/csv' --data-binary @"$TMP/v1.csv"
is "$STATUS" 201 "a dataset is pushed"
printf 'print("hello")\n' >"$TMP/s.py"
call POST /api/v1/scripts/hello/versions -H "Authorization: Bearer $TOKEN" --data-binary @"$TMP/s.py"
is "$STATUS" 201 "a script is pushed"
api POST /api/v1/jobs '{"name":"pi","program":"noop","total_iterations":25,"chunk_size":10}'
is "$STATUS" 201 "a job is submitted"
JOB=$(jbody .id)
api POST /api/v1/jobs '{"name":"child","program":"noop","depends_on":["'"$JOB"'"]}'
is "$STATUS" 201 "a job depending on it is submitted"
# Samples of a first server's life go to a day table at the restart (its
# heads move there), those after it stay in mx_heads: both are copied.
T0=$(( ($(date +%s) - 1800) / 60 * 60000 ))
samples() { # FIRST COUNT
	jq -nc --argjson t0 "$T0" --argjson a "$1" --argjson n "$2" '{samples: [range($a; $a + $n) |
		{agent: "bot1", metric: "latency_ms", value: (. * 7 % 101 / 4), ts: ($t0 + . * 3000),
		 tags: {host: "h1"}}]}' >"$TMP/samples.json"
	call POST /api/v1/metrics -H "Authorization: Bearer $ALICE" -H 'Content-Type: application/json' \
		--data-binary @"$TMP/samples.json"
}
samples 0 150
is "$STATUS $BODY" '200 {"accepted":150}' "metrics samples are accepted"
stop_server
start_server
samples 150 150
is "$STATUS $BODY" '200 {"accepted":150}' "more samples after a restart"
Q="/api/v1/metrics/query?metric=latency_ms&from=$T0&to=$((T0 + 900000))&step=60s&agg=avg"
api GET "$Q" "" "$ALICE"
METRICS=$BODY
is "$STATUS $(jbody '.series[0].points | length')" "200 15" "the metrics query answers 15 minutes"
api GET /api/v1/users
USERS=$(jbody '[.items[].username] | sort | join(",")')
api GET "/api/v1/audit?limit=200"
AUDIT=$(jbody '[.items[] | [.id, .action, .outcome, .actor] | join("/")] | join(" ")')
like "$AUDIT" "user.create" "the audit holds the user's creation"
stop_server
is "$STOP_RC" 0 "the SQLite server stops"

migrate --data "$SERVER_DATA"
is "$?" 2 "no --to: a usage error (2)"
migrate --data "$SERVER_DATA" --to sqlite:/tmp/x.db
is "$?" 2 "--to other than postgres://: a usage error"
migrate --data "$TMP/nowhere" --to "$DST"
is "$? $(cat "$TMP/mig.err")" "1 sentinel migrate: no database at $TMP/nowhere/sentinel.db (wrong --data or --from?)" \
	"a missing source: one line, exit 1"

# More rows than the destination reads at a time, with keys whose byte
# order differs from a language's (the metrics code reads only 'lsn').
sqlite3 "$SERVER_DATA/metrics/blocks.db" "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1
	FROM n WHERE i < 1200) INSERT INTO mx_meta (k, v) SELECT CASE i % 3 WHEN 0 THEN 'B' WHEN 1
	THEN 'a' ELSE 'é' END || i, i FROM n"
migrate --data "$SERVER_DATA" --to "$DST"
rc=$?
is "$rc" 0 "migrate succeeds"
[ "$rc" = 0 ] || { diag "$(cat "$TMP/mig.out" "$TMP/mig.err")"; }
like "$(head -n 3 "$TMP/mig.out" | tail -n 1)" '^table +rows +sha256 +ok$' "the verification table's header"
for t in users tokens user_groups audit ds_items ds_versions jobs chunks mx_series mx_parts mx_heads; do
	like "$(grep "^$t " "$TMP/mig.out")" "^$t +[1-9][0-9]* +[0-9a-f]{64} +ok$" "$t: rows, sha256 and ok"
done
like "$(grep -c '^mx_b_' "$TMP/mig.out")" '^[1-9]' "metrics day tables are copied"
like "$(grep '^mx_meta ' "$TMP/mig.out")" '^mx_meta +1201 .* ok$' "1,201 rows of mx_meta, read back in pages"
unlike "$(cat "$TMP/mig.out")" "MISMATCH" "no table differs"
like "$(cat "$TMP/mig.out")" "Copied and verified [0-9]+ tables" "a summary line"
like "$(cat "$TMP/mig.out")" "stay in $SERVER_DATA/blobs" "the output says where the blobs stay"
# The counts match what the source holds.
for t in users audit chunks; do
	is "$(psql -X -A -t -q "$DST" -c "SELECT count(*) FROM $t")" \
		"$(sqlite3 "$SERVER_DATA/sentinel.db" "SELECT count(*) FROM $t")" "$t: as many rows on PostgreSQL"
done

N=$(psql -X -A -t -q "$DST" -c "SELECT count(*) FROM audit")
migrate --data "$SERVER_DATA" --to "$DST"
is "$?" 2 "a destination with rows is refused (exit 2)"
like "$(cat "$TMP/mig.err")" "already holds data" "... saying why"
is "$(psql -X -A -t -q "$DST" -c "SELECT count(*) FROM audit")" "$N" "... and nothing was added"

# A value the copy would change (a fraction in an INTEGER column) fails
# the whole copy: one line, exit 1, not a row left on the destination.
cp -r "$SERVER_DATA" "$TMP/bad"
sqlite3 "$TMP/bad/sentinel.db" "UPDATE users SET disabled = 0.5 WHERE username = 'alice'"
DST2=$("$PG_SH" createdb "$PG" t130_bad)
migrate --data "$TMP/bad" --to "$DST2"
is "$? $(cat "$TMP/mig.err")" "1 sentinel migrate: users.disabled: a value of class real in a column of type INTEGER: copying it would change it" \
	"a value that would change: refused, exit 1"
is "$(psql -X -A -t -q "$DST2" -c "SELECT (SELECT count(*) FROM users) + (SELECT count(*) FROM audit) + (SELECT count(*) FROM ds_items)")" \
	0 "... and the destination holds no row"

start_server --db "$DST"
is "$(login alice alicepass123 | wc -c)" "$(printf '%s\n' "$ALICE" | wc -c)" \
	"on PostgreSQL: login with the old password"
TOKEN=$(login admin adminpass123)
api GET /api/v1/users
is "$(jbody '[.items[].username] | sort | join(",")')" "$USERS" "the users list"
api GET /api/v1/me "" "$APITOK"
is "$STATUS $(jbody .username)" "200 alice" "the API token still works"
api GET /api/v1/groups
is "$(jbody '[.items[].name] | join(",")')" "ml-team" "the group"
curl -s -o "$TMP/dl" -H "Authorization: Bearer $TOKEN" "$URL/api/v1/datasets/iris/versions/1/content"
ok "$(cmp -s "$TMP/dl" "$TMP/v1.csv"; echo $?)" "the dataset's bytes (blobs from the same --data)"
curl -s -o "$TMP/dl2" -H "Authorization: Bearer $TOKEN" "$URL/api/v1/scripts/hello/versions/1/content"
ok "$(cmp -s "$TMP/dl2" "$TMP/s.py"; echo $?)" "the script's bytes"
api GET "/api/v1/jobs/$JOB"
is "$STATUS $(jbody .name) $(jbody .chunks.total)" "200 pi 3" "the job"
api GET "/api/v1/audit?limit=200"
NEW=$(jbody '[.items[] | [.id, .action, .outcome, .actor] | join("/")] | join(" ")')
case "$NEW" in *"$AUDIT") r=0 ;; *) r=1 ;; esac
ok "$r" "the audit: every row of SQLite, in order, after the new ones"
api GET "$Q" "" "$ALICE"
is "$STATUS $BODY" "200 $METRICS" "the metrics query answers the same values"
done_testing
