# Shared helpers for the integration tests: TAP output and a real server.
# Source it; then call plan N, ok/is/..., and start_server/stop_server.
set -u
SENTINEL_BIN=${SENTINEL_BIN:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/sentinel}
T_N=0
T_FAIL=0
TMP=$(mktemp -d "${TMPDIR:-/tmp}/sentinel-test.XXXXXX")
SERVER_PID=

plan() { echo "1..$1"; }
ok() { # ok COND-EXIT-STATUS DESCRIPTION
	T_N=$((T_N + 1))
	if [ "$1" -eq 0 ]; then echo "ok $T_N - $2"; else echo "not ok $T_N - $2"; T_FAIL=$((T_FAIL + 1)); fi
}
is() { # is GOT WANT DESCRIPTION
	T_N=$((T_N + 1))
	if [ "$1" = "$2" ]; then echo "ok $T_N - $3"
	else echo "not ok $T_N - $3"; echo "#   got:  '$1'"; echo "#   want: '$2'"; T_FAIL=$((T_FAIL + 1)); fi
}
like() { # like GOT REGEX DESCRIPTION
	T_N=$((T_N + 1))
	if printf '%s' "$1" | grep -Eq -- "$2"; then echo "ok $T_N - $3"
	else echo "not ok $T_N - $3"; echo "#   got:  '$1'"; echo "#   want match: '$2'"; T_FAIL=$((T_FAIL + 1)); fi
}
diag() { echo "# $*"; }

cleanup() {
	[ -n "$SERVER_PID" ] && kill -9 "$SERVER_PID" 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT

# start_server [extra flags...]: starts `sentinel server` on a free port with
# data in $TMP/data; sets URL and SERVER_PID; its log is $TMP/server.log.
start_server() {
	rm -f "$TMP/ready"
	SENTINEL_ADMIN_PASSWORD=${ADMIN_PW:-adminpass123} "$SENTINEL_BIN" server \
		--listen 127.0.0.1:0 --data "$TMP/data" --ready-file "$TMP/ready" "$@" \
		>>"$TMP/server.out" 2>>"$TMP/server.log" &
	SERVER_PID=$!
	for _ in $(seq 1 300); do
		[ -s "$TMP/ready" ] && break
		kill -0 "$SERVER_PID" 2>/dev/null || break
		sleep 0.05
	done
	URL=$(cat "$TMP/ready" 2>/dev/null)
	[ -n "$URL" ] || { echo "Bail out! server did not start"; cat "$TMP/server.log" >&2; exit 1; }
}

# stop_server [SIGNAL]: signals the server (TERM by default), waits, sets STOP_RC.
stop_server() {
	kill -"${1:-TERM}" "$SERVER_PID" 2>/dev/null
	wait "$SERVER_PID" 2>/dev/null
	STOP_RC=$?
	SERVER_PID=
}

# api METHOD PATH [BODY] [TOKEN]: sets STATUS and BODY (response).
api() {
	local method=$1 path=$2 data=${3:-} tok=${4:-${TOKEN:-}}
	local args=(-s -o "$TMP/resp" -w '%{http_code}' -X "$method")
	[ -n "$tok" ] && args+=(-H "Authorization: Bearer $tok")
	[ -n "$data" ] && args+=(-H 'Content-Type: application/json' --data-binary "$data")
	STATUS=$(curl "${args[@]}" "$URL$path")
	BODY=$(cat "$TMP/resp")
}

# login USER PASSWORD: prints the token.
login() {
	curl -s -X POST -H 'Content-Type: application/json' \
		--data "{\"username\":\"$1\",\"password\":\"$2\"}" "$URL/api/v1/auth/login" | jq -r .token
}

done_testing() {
	[ "$T_FAIL" -eq 0 ] || { diag "server log tail:"; tail -n 20 "$TMP/server.log" 2>/dev/null | sed 's/^/#   /'; }
	exit $(( T_FAIL > 0 ))
}
