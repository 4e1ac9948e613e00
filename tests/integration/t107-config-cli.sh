#!/usr/bin/env bash
# The binary's command line (help, unknown flags and subcommands) and
# configuration precedence through the real binary:
# flag > SENTINEL_* environment > --config file > default.
. "$(dirname "$0")/lib.sh"

# run_bin ARGS...: runs the binary (5 s at most); sets RC, OUT, ERR.
run_bin() {
	timeout 5 "$SENTINEL_BIN" "$@" >"$TMP/out" 2>"$TMP/err"
	RC=$?
	OUT=$(cat "$TMP/out")
	ERR=$(cat "$TMP/err")
}

# ---- help and usage errors ----
run_bin --help
is "$RC" 0 "sentinel --help exits 0"
like "$OUT" 'server' "... and lists the server subcommand"
like "$OUT" 'up' "... and the up subcommand"
run_bin server --help
is "$RC" 0 "sentinel server --help exits 0"
like "$OUT" '--listen' "... and documents --listen"
like "$OUT" 'SENTINEL_LISTEN' "... with its environment variable"
like "$OUT" '127\.0\.0\.1:8080' "... and its default"
like "$OUT" '--config' "... and --config"
run_bin up --help
is "$RC" 0 "sentinel up --help exits 0"
run_bin server -h
is "$RC" 0 "-h is --help"
run_bin --version
is "$RC:$(cut -d' ' -f1 <<<"$OUT")" "0:sentinel" "sentinel --version"

run_bin server --no-such-flag
is "$RC" 2 "an unknown flag exits 2"
is "$(wc -l <<<"$ERR")" 1 "... with a one-line error"
like "$ERR" "no-such-flag" "... naming the flag"
is "$OUT" "" "... and nothing on stdout"
run_bin frobnicate
is "$RC" 2 "an unknown subcommand exits 2"
is "$(wc -l <<<"$ERR")" 1 "... with a one-line error"
like "$ERR" "frobnicate" "... naming it"
run_bin --frobnicate
is "$RC" 2 "an unknown top-level flag exits 2"
run_bin server stray-argument
is "$RC" 2 "an unexpected argument exits 2"
like "$ERR" "stray-argument" "... naming it"
run_bin server --listen
is "$RC" 2 "a flag without its value exits 2"
like "$ERR" "listen" "... naming the flag"
run_bin server --data "$TMP/d0" --login-max-failures zero
is "$RC:$(wc -l <<<"$ERR")" "2:1" "a malformed number exits 2 with one line"
like "$ERR" 'login-max-failures' "... naming the setting"
run_bin server --data "$TMP/d0" --session-ttl forever
is "$RC" 2 "a malformed duration exits 2"
like "$ERR" 'session-ttl' "... naming the setting"
SENTINEL_SESSION_TTL=soon run_bin server --data "$TMP/d0"
is "$RC" 2 "a malformed value from the environment exits 2 too"
run_bin server --data "$TMP/d0" --log-format xml
is "$RC" 2 "an unknown --log-format exits 2"
run_bin server --config "$TMP/no-such-file.conf" --data "$TMP/d0"
is "$RC" 2 "a missing --config file exits 2"
like "$ERR" 'no-such-file.conf' "... naming the file"
printf 'this line has no separator\n' >"$TMP/bad.conf"
run_bin server --config "$TMP/bad.conf" --data "$TMP/d0"
is "$RC" 2 "a malformed config file exits 2"
like "$ERR" 'bad.conf:1' "... naming the file and line"
printf '# comment\n\nlisten = 127.0.0.1:0\n\nno separator here\n' >"$TMP/bad2.conf"
run_bin server --config "$TMP/bad2.conf" --data "$TMP/d0"
like "$ERR" 'bad2.conf:5:' "... counting blank lines too (line 5)"
run_bin
is "$RC" 2 "no subcommand at all exits 2"
like "$ERR" 'Usage' "... with the usage on stderr"

# ---- first start: a generated admin password, printed once ----
ADMIN_PW= SENTINEL_ADMIN_PASSWORD= "$SENTINEL_BIN" up --listen 127.0.0.1:0 --data "$TMP/updata" \
	--ready-file "$TMP/up.ready" >"$TMP/up.out" 2>"$TMP/up.err" &
up=$!
for _ in $(seq 1 100); do [ -s "$TMP/up.ready" ] && break; sleep 0.05; done
sleep 0.2
URL=$(cat "$TMP/up.ready" 2>/dev/null)
like "$(cat "$TMP/up.out")" "running at $URL" "sentinel up prints the URL"
pw=$(sed -n 's/.*admin with password \([^ ]*\).*/\1/p' "$TMP/up.out")
like "$pw" '^.{12,}$' "... and a generated admin password"
TOKEN=$(login admin "$pw")
like "$TOKEN" '^snt_' "... which logs in"
kill -TERM "$up"
wait "$up"
up_rc=$?
is "$up_rc" 0 "sentinel up exits 0 on SIGTERM"
[ "$up_rc" = 0 ] || grep -v ' info ' "$TMP/up.err" | tail -n 40 | sed 's/^/#   /'
ADMIN_PW= SENTINEL_ADMIN_PASSWORD= "$SENTINEL_BIN" up --listen 127.0.0.1:0 --data "$TMP/updata" \
	--ready-file "$TMP/up.ready2" >"$TMP/up.out" 2>"$TMP/up.err" &
up=$!
for _ in $(seq 1 100); do [ -s "$TMP/up.ready2" ] && break; sleep 0.05; done
kill -TERM "$up"
wait "$up"
unlike "$(cat "$TMP/up.out" "$TMP/up.err")" "$pw" "the password is not printed again on the next start"

# ---- precedence: the listen address (the ready file shows the bound host) ----
# Four loopback hosts, one per level; :0 picks a free port.
SERVER_LISTEN=
cat >"$TMP/listen.conf" <<EOF
# a comment
listen = "127.0.0.4:0"
EOF
host_of() { sed -E 's#^https?://([^:]+):.*#\1#' <<<"$URL"; }
try_start_server --config "$TMP/listen.conf"
is "$(host_of)" 127.0.0.4 "listen from the config file beats the default"
stop_server
SENTINEL_LISTEN=127.0.0.3:0 try_start_server --config "$TMP/listen.conf"
is "$(host_of)" 127.0.0.3 "SENTINEL_LISTEN beats the config file"
stop_server
SENTINEL_LISTEN=127.0.0.3:0 try_start_server --config "$TMP/listen.conf" --listen 127.0.0.2:0
is "$(host_of)" 127.0.0.2 "--listen beats SENTINEL_LISTEN and the file"
api GET /api/v1/health "" ""
is "$STATUS" 200 "... and the server answers there"
stop_server
SENTINEL_CONFIG=$TMP/listen.conf try_start_server
is "$(host_of)" 127.0.0.4 "SENTINEL_CONFIG names the config file"
stop_server
SENTINEL_LISTEN=127.0.0.3:0 try_start_server --listen 127.0.0.2:0 --listen 127.0.0.5:0
is "$(host_of)" 127.0.0.5 "the last of repeated flags wins"
stop_server
SERVER_LISTEN=127.0.0.1:0

# ---- precedence: --login-max-failures (observed as when 429 starts) ----
# fails_before_429: counts failed logins (401) before the first 429, at most 8.
fails_before_429() {
	local n=0 st
	for _ in $(seq 1 8); do
		st=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
			--data '{"username":"ghost","password":"wrong-password"}' "$URL/api/v1/auth/login")
		[ "$st" = 429 ] && { echo "$n"; return; }
		[ "$st" = 401 ] || { echo "unexpected-$st"; return; }
		n=$((n + 1))
	done
	echo "none"
}
printf 'login-max-failures = 3\nlogin-lockout = 1m\n' >"$TMP/fail.conf"
start_server
is "$(fails_before_429)" 5 "default: 5 failed logins, then 429"
stop_server
start_server --config "$TMP/fail.conf"
is "$(fails_before_429)" 3 "config file: login-max-failures = 3"
stop_server
SENTINEL_LOGIN_MAX_FAILURES=2 start_server --config "$TMP/fail.conf"
is "$(fails_before_429)" 2 "SENTINEL_LOGIN_MAX_FAILURES=2 beats the file"
stop_server
SENTINEL_LOGIN_MAX_FAILURES=2 start_server --config "$TMP/fail.conf" --login-max-failures 1
is "$(fails_before_429)" 1 "--login-max-failures 1 beats the environment and the file"
stop_server

# ---- logging ----
start_server --log-format json
api GET /api/v1/health "" ""
sleep 0.2
line=$(grep '"/api/v1/health"' "$TMP/server.log" | tail -n 1)
is "$(jq -r '.path + " " + (.status|tostring)' <<<"$line" 2>/dev/null)" "/api/v1/health 200" \
	"--log-format json writes JSON access log lines"
like "$(jq -r .ts <<<"$line" 2>/dev/null)" 'Z$' "... with a UTC timestamp"
stop_server
: >"$TMP/server.log"
start_server --log-level warn
api GET /api/v1/health "" ""
sleep 0.2
unlike "$(cat "$TMP/server.log")" 'path=/api/v1/health' "--log-level warn hides the info-level access log"
stop_server

done_testing
