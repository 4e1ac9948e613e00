# Shared helpers for the integration tests: TAP output and a real server.
# Source it; then call plan N (or nothing: done_testing then prints the plan
# at the end), ok/is/like/..., start_server/stop_server, and done_testing.
#
# Settings a test may change before start_server:
#   SERVER_LISTEN  --listen value (default 127.0.0.1:0; empty: no --listen flag)
#   SERVER_DATA    --data value (default $TMP/data)
#   ADMIN_PW       the first admin's password (default adminpass123)
#   CURL_OPTS      extra curl options for api/call/login (an array, e.g. (-k))
# Under a sanitizer build (make SANITIZE=1), any ASan/LSan/UBSan report in the
# server's log fails the test: done_testing stops the server with SIGTERM
# (leaks are reported at exit) and then scans $TMP/server.log.
set -u
SENTINEL_BIN=${SENTINEL_BIN:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/sentinel}
T_N=0
T_FAIL=0
T_PLANNED=
TMP=$(mktemp -d "${TMPDIR:-/tmp}/sentinel-test.XXXXXX")
SERVER_PID=
SERVER_LISTEN=${SERVER_LISTEN-127.0.0.1:0}
SERVER_DATA=${SERVER_DATA:-$TMP/data}
CURL_OPTS=()
STATUS= BODY= URL=
# What counts as a sanitizer report in the server's log.
SANITIZER_RE='ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:'
# Sanitizer reports go to stderr (the log); keep ASan's exit code distinct.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:exitcode=23}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}

plan() { echo "1..$1"; T_PLANNED=$1; }
ok() { # ok COND-EXIT-STATUS DESCRIPTION
	T_N=$((T_N + 1))
	if [ "$1" -eq 0 ]; then echo "ok $T_N - $2"; else echo "not ok $T_N - $2"; T_FAIL=$((T_FAIL + 1)); fi
}
is() { # is GOT WANT DESCRIPTION
	T_N=$((T_N + 1))
	if [ "$1" = "$2" ]; then echo "ok $T_N - $3"
	else echo "not ok $T_N - $3"; echo "#   got:  '$1'"; echo "#   want: '$2'"; T_FAIL=$((T_FAIL + 1)); fi
}
isnt() { # isnt GOT UNWANTED DESCRIPTION
	T_N=$((T_N + 1))
	if [ "$1" != "$2" ]; then echo "ok $T_N - $3"
	else echo "not ok $T_N - $3"; echo "#   got:  '$1' (unwanted)"; T_FAIL=$((T_FAIL + 1)); fi
}
like() { # like GOT REGEX DESCRIPTION
	T_N=$((T_N + 1))
	if printf '%s' "$1" | grep -Eq -- "$2"; then echo "ok $T_N - $3"
	else echo "not ok $T_N - $3"; echo "#   got:  '$1'"; echo "#   want match: '$2'"; T_FAIL=$((T_FAIL + 1)); fi
}
unlike() { # unlike GOT REGEX DESCRIPTION
	T_N=$((T_N + 1))
	if ! printf '%s' "$1" | grep -Eq -- "$2"; then echo "ok $T_N - $3"
	else echo "not ok $T_N - $3"; echo "#   got:  '$1'"; echo "#   want no match: '$2'"; T_FAIL=$((T_FAIL + 1)); fi
}
diag() { echo "# $*"; }

cleanup() {
	[ -n "$SERVER_PID" ] && kill -9 "$SERVER_PID" 2>/dev/null
	trap '' ALRM
	local wd
	wd=$(cat "$TMP/watchdog.pid" 2>/dev/null)
	if [ -n "$wd" ]; then
		pkill -P "$wd" 2>/dev/null
		kill "$wd" 2>/dev/null
	fi
	rm -rf "$TMP"
}
trap cleanup EXIT

# A watchdog: a test file that hangs fails after SENTINEL_TEST_TIMEOUT
# seconds (default 300) instead of holding the whole run.
T_TIMEOUT=${SENTINEL_TEST_TIMEOUT:-300}
on_timeout() {
	T_N=$((T_N + 1))
	echo "not ok $T_N - the test file timed out after ${T_TIMEOUT}s"
	exit 1
}
trap on_timeout ALRM
# Detached (not a child of this shell, so that `wait` never waits for it).
( ( echo "$BASHPID" >"$TMP/watchdog.pid"; sleep "$T_TIMEOUT"; kill -ALRM $$ ) >/dev/null 2>&1 & )

# Under SENTINEL_TEST_PG (a PostgreSQL server's URL, as scripts/pg.sh start
# prints), each data directory gets a database of its own on that server,
# made on its first start: SENTINEL_DB points there for the server and for
# every other command the test runs afterwards (admin, gc, migrate...).
pg_db_for_data() {
	[ -n "${SENTINEL_TEST_PG:-}" ] || return 0
	local name
	name=t_$(printf '%s' "$SERVER_DATA" | sha256sum | cut -c1-20)
	if ! grep -qx "$name" "$TMP/pg_dbs" 2>/dev/null; then
		"$(dirname "${BASH_SOURCE[0]}")/../../scripts/pg.sh" createdb "$SENTINEL_TEST_PG" "$name" >/dev/null ||
			{ echo "Bail out! cannot create database $name"; exit 1; }
		echo "$name" >>"$TMP/pg_dbs"
	fi
	export SENTINEL_DB="${SENTINEL_TEST_PG%/*}/$name"
}

# dbq SQL: runs SQL on the server's database, SQLite file or PostgreSQL
# (after the first start_server), printing rows as a|b.
dbq() {
	if [ -n "${SENTINEL_TEST_PG:-}" ]; then
		psql -X -A -t -q -v ON_ERROR_STOP=1 "$SENTINEL_DB" -c "$1"
	else
		sqlite3 "$SERVER_DATA/sentinel.db" "$1"
	fi
}
# free_port: a loopback port nobody listens on, below the kernel's
# ephemeral range (32768 and up here): a port some outgoing connection
# holds cannot be listened on.
free_port() {
	local port
	for _ in $(seq 1 50); do
		port=$(( 20000 + RANDOM % 12000 ))
		(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || break
	done
	echo "$port"
}
# skip_without_pg: ends the test file (skipped) where PostgreSQL is not
# installed.
skip_without_pg() {
	if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
		echo "1..0 # SKIP PostgreSQL is not installed"
		exit 0
	fi
}
# need_pg: skip_without_pg; then, without SENTINEL_TEST_PG (make test), a
# throwaway cluster of the test's own in $TMP/pg, exported as
# SENTINEL_TEST_PG and stopped at exit. at_exit (a test may define it)
# runs first at exit, then the cluster stops, then the usual cleanup.
at_exit() { :; }
need_pg() {
	skip_without_pg
	trap 'at_exit; cleanup' EXIT
	[ -n "${SENTINEL_TEST_PG:-}" ] && return 0
	local root
	root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
	PGDIR=$TMP/pg
	SENTINEL_TEST_PG=$("$root/scripts/pg.sh" start "$PGDIR") ||
		{ echo "Bail out! cannot start PostgreSQL"; exit 1; }
	export SENTINEL_TEST_PG
	trap 'at_exit; "'"$root"'/scripts/pg.sh" stop "$PGDIR"; cleanup' EXIT
}
# on_pg: true when the tests run on PostgreSQL.
on_pg() { [ -n "${SENTINEL_TEST_PG:-}" ]; }

# try_start_server [extra flags...]: starts `sentinel server` on a free port
# with data in $SERVER_DATA; sets URL and SERVER_PID; its log is
# $TMP/server.log (stderr) and $TMP/server.out (stdout). Returns 1, with the
# server reaped and STOP_RC set, when it did not start.
try_start_server() {
	rm -f "$TMP/ready"
	pg_db_for_data
	local listen=()
	[ -n "$SERVER_LISTEN" ] && listen=(--listen "$SERVER_LISTEN")
	SENTINEL_ADMIN_PASSWORD=${ADMIN_PW:-adminpass123} "$SENTINEL_BIN" server \
		"${listen[@]}" --data "$SERVER_DATA" --ready-file "$TMP/ready" "$@" \
		>>"$TMP/server.out" 2>>"$TMP/server.log" &
	SERVER_PID=$!
	for _ in $(seq 1 400); do
		[ -s "$TMP/ready" ] && break
		kill -0 "$SERVER_PID" 2>/dev/null || break
		sleep 0.05
	done
	URL=$(cat "$TMP/ready" 2>/dev/null)
	if [ -z "$URL" ]; then
		kill -9 "$SERVER_PID" 2>/dev/null
		wait "$SERVER_PID" 2>/dev/null
		STOP_RC=$?
		SERVER_PID=
		return 1
	fi
	return 0
}

# start_server [extra flags...]: try_start_server, or bail out.
start_server() {
	try_start_server "$@" && return 0
	echo "Bail out! server did not start"
	tail -n 20 "$TMP/server.log" >&2
	exit 1
}

# stop_server [SIGNAL]: signals the server (TERM by default), waits, sets STOP_RC.
stop_server() {
	kill -"${1:-TERM}" "$SERVER_PID" 2>/dev/null
	wait "$SERVER_PID" 2>/dev/null
	STOP_RC=$?
	SERVER_PID=
	sanitizer_scan
}

# stop_server_within SECONDS [SIGNAL]: like stop_server, but gives up after
# SECONDS (then kills -9 and sets STOP_RC=timeout).
stop_server_within() {
	local pid=$SERVER_PID i
	kill -"${2:-TERM}" "$pid" 2>/dev/null
	for i in $(seq 1 $(($1 * 20))); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	if kill -0 "$pid" 2>/dev/null; then
		kill -9 "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		STOP_RC=timeout
	else
		wait "$pid" 2>/dev/null
		STOP_RC=$?
	fi
	SERVER_PID=
	sanitizer_scan
}

# sanitizer_scan: prints (once) any sanitizer report lines found in the log.
SANITIZER_SEEN=0
sanitizer_scan() {
	local n
	n=$(grep -Ec -- "$SANITIZER_RE" "$TMP/server.log" 2>/dev/null)
	n=${n:-0}
	if [ "$n" -gt "$SANITIZER_SEEN" ]; then
		diag "sanitizer report in the server log:"
		grep -E -A12 -- "$SANITIZER_RE" "$TMP/server.log" | head -n 60 | sed 's/^/#   /'
		SANITIZER_SEEN=$n
	fi
}

# api METHOD PATH [BODY] [TOKEN]: sets STATUS and BODY (response); the
# response headers are in $TMP/hdrs (see header). TOKEN defaults to $TOKEN;
# an explicitly empty TOKEN ("") sends no Authorization header.
api() {
	local method=$1 path=$2 data=${3:-} tok=${4-${TOKEN:-}}
	local args=(-s -o "$TMP/resp" -D "$TMP/hdrs" -w '%{http_code}' -X "$method")
	[ -n "$tok" ] && args+=(-H "Authorization: Bearer $tok")
	[ -n "$data" ] && args+=(-H 'Content-Type: application/json' --data-binary "$data")
	STATUS=$(curl "${CURL_OPTS[@]}" "${args[@]}" "$URL$path")
	BODY=$(cat "$TMP/resp")
}

# call METHOD PATH [curl args...]: a raw request with any curl arguments
# (headers, bodies, no token unless given); sets STATUS, BODY and $TMP/hdrs.
call() {
	local method=$1 path=$2
	shift 2
	STATUS=$(curl "${CURL_OPTS[@]}" -s -o "$TMP/resp" -D "$TMP/hdrs" -w '%{http_code}' \
		-X "$method" "$@" "$URL$path")
	BODY=$(cat "$TMP/resp")
}

# header NAME: the value of response header NAME of the last api/call.
header() {
	grep -i "^$1:" "$TMP/hdrs" 2>/dev/null | tail -n 1 | sed 's/^[^:]*:[[:space:]]*//' | tr -d '\r'
}

# jbody FILTER: jq -r FILTER applied to BODY (empty on invalid JSON).
jbody() { printf '%s' "$BODY" | jq -r "$1" 2>/dev/null; }

# is_error WANT_STATUS WANT_CODE DESCRIPTION: one check that STATUS is
# WANT_STATUS and BODY is exactly the error envelope
# {"error":{"code":WANT_CODE,"message":"<non-empty>", ...}}.
is_error() {
	local got
	got="$STATUS $(printf '%s' "$BODY" | jq -r '
		if type == "object" and (keys == ["error"]) and (.error | type) == "object"
		   and (.error.message | type) == "string" and (.error.message | length) > 0
		then .error.code else "not-an-error-envelope" end' 2>/dev/null || echo not-json)"
	is "$got" "$1 $2" "$3"
	[ "$got" = "$1 $2" ] || diag "body: $BODY"
}

# errmsg: the error message of BODY.
errmsg() { jbody .error.message; }

# login USER PASSWORD: prints the token.
login() {
	curl "${CURL_OPTS[@]}" -s -X POST -H 'Content-Type: application/json' \
		--data "{\"username\":\"$1\",\"password\":\"$2\"}" "$URL/api/v1/auth/login" | jq -r .token
}

# mkuser NAME PASSWORD ROLE [TOKEN]: creates a user (as TOKEN or $TOKEN);
# sets STATUS/BODY.
mkuser() {
	api POST /api/v1/users "{\"username\":\"$1\",\"password\":\"$2\",\"role\":\"$3\"}" "${4:-${TOKEN:-}}"
}

# sqlite_db SQL: runs SQL on the server's database; prints the output,
# returns sqlite3's status.
sqlite_db() { sqlite3 -bail "$SERVER_DATA/sentinel.db" "$1" 2>&1; }

# push_then_kill BASE_URL TOKEN T: 16 concurrent pushers send samples
# value i at ts T + i (agent dur, metric n, i = 1..2000, one per request) to
# BASE_URL; once 200 are acknowledged the server is killed with -9. Leaves
# the acknowledged values, sorted, in $TMP/want, and tests that at least
# 200 were.
push_then_kill() {
	PK_URL=$1 PK_TOKEN=$2 PK_T=$3
	pushone() {
		local code
		code=$(curl -s -o /dev/null -w '%{http_code}' -m 10 -H "Authorization: Bearer $PK_TOKEN" \
			-H 'Content-Type: application/json' \
			--data-binary "{\"agent\":\"dur\",\"metric\":\"n\",\"value\":$1,\"ts\":$((PK_T + $1))}" \
			"$PK_URL/api/v1/metrics")
		echo "$1 $code" >>"$TMP/acks"
	}
	export -f pushone
	export PK_URL PK_TOKEN PK_T TMP
	: >"$TMP/acks"
	seq 1 2000 | xargs -P 16 -I{} bash -c 'pushone {}' &
	local xp=$! acked
	for _ in $(seq 1 300); do
		[ "$(grep -c ' 200$' "$TMP/acks")" -ge 200 ] && break
		sleep 0.05
	done
	stop_server KILL
	wait "$xp"
	acked=$(grep -c ' 200$' "$TMP/acks")
	ok $(( acked >= 200 ? 0 : 1 )) "at least 200 pushes were acknowledged before kill -9 ($acked)"
	grep ' 200$' "$TMP/acks" | awk '{print $1}' | sort >"$TMP/want"
}

done_testing() {
	# A graceful stop makes LeakSanitizer report at exit.
	if [ -n "$SERVER_PID" ]; then
		stop_server_within 20 TERM
	fi
	local n
	n=$(grep -Ec -- "$SANITIZER_RE" "$TMP/server.log" 2>/dev/null)
	n=${n:-0}
	if [ -z "$T_PLANNED" ]; then
		is "$n" 0 "no sanitizer reports in the server log"
		echo "1..$T_N"
	elif [ "$n" -gt 0 ]; then
		diag "FAIL: $n sanitizer report line(s) in the server log"
		T_FAIL=$((T_FAIL + 1))
	fi
	[ "$n" -gt 0 ] && sanitizer_scan
	[ "$T_FAIL" -eq 0 ] || { diag "server log tail:"; tail -n 20 "$TMP/server.log" 2>/dev/null | sed 's/^/#   /'; }
	exit $(( T_FAIL > 0 ))
}
