#!/usr/bin/env bash
# Log forging: text from outside (a login name, a request path) cannot add a
# line of its own to the server log or to a table the CLI prints; control
# characters come out escaped. Text JSON cannot hold is refused, not dropped.
. "$(dirname "$0")/lib.sh"

start_server

api POST /api/v1/auth/login '{"username":"nobody\nFAKE 2026-01-01T00:00:00.000Z info  admin logged in","password":"wrongpass1"}' ""
is "$STATUS" 401 "a login with a newline in the username is refused"
call GET "/api/v1/%ff%0aFAKE3"
call GET "/api/v1/health%0aFAKE%0d%0aFAKE2"
# The access log line is written after the reply: wait until it is there.
for _ in $(seq 1 200); do
	grep -q 'FAKE2' "$TMP/server.log" && break
	sleep 0.05
done

is "$(grep -c '^FAKE' "$TMP/server.log")" 0 "no line of the server log starts with FAKE"
like "$(grep -c 'nobody\\nFAKE' "$TMP/server.log")" '^[1-9]' "the username's newline is logged as \\n"
like "$(cat "$TMP/server.log")" 'health\\nFAKE\\r\\nFAKE2' "the path's CR and LF are logged escaped"

# The audit table repeats the typed username: still one row.
TOKEN=$(login admin adminpass123)
out=$("$SENTINEL_BIN" audit --server "$URL" --token "$TOKEN" 2>&1)
is "$(printf '%s\n' "$out" | grep -c '^FAKE')" 0 "sentinel audit prints no line starting with FAKE"
like "$out" 'nobody\\nFAKE' "... the username's newline is shown as \\n"

# A password that is not UTF-8 cannot become a JSON body: said, exit 2.
out=$(SENTINEL_PASSWORD=$'pass\xe9word' HOME=$TMP XDG_CONFIG_HOME= "$SENTINEL_BIN" login \
	--server "$URL" --username admin 2>&1)
is "$?" 2 "sentinel login with a Latin-1 password exits 2"
like "$out" 'cannot encode the request' "... and says why"

stop_server
SERVER_LISTEN=127.0.0.1:0 start_server --log-format json
api POST /api/v1/auth/login '{"username":"nobody\nFAKE4","password":"wrongpass1"}' ""
for _ in $(seq 1 200); do
	grep -q 'FAKE4' "$TMP/server.log" && break
	sleep 0.05
done
is "$(grep -c '^FAKE' "$TMP/server.log")" 0 "in JSON format no line starts with FAKE either"
is "$(grep 'FAKE4' "$TMP/server.log" | jq -r .user)" $'nobody\nFAKE4' "the JSON record keeps the username exactly"

done_testing
