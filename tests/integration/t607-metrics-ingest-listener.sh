#!/usr/bin/env bash
# --ingest-listen: the ingest routes (and health) on an event loop of their
# own. The same routes, tokens, refusals and replies as on the main port;
# nothing else is served there; hundreds of open connections cost no
# thread each; and a 2xx there also means durable (kill -9 mid-push).
. "$(dirname "$0")/lib.sh"
start_server --ingest-listen 127.0.0.1:0 --ingest-threads 2 --max-connections 1000 \
	--max-connections-per-ip 500
# The port it got: the start-up log says it.
ingest_url() {
	local port
	port=$(sed -n 's/.*ingest listener on [^ ]* (port \([0-9]*\),.*/\1/p' "$TMP/server.log" | tail -n 1)
	echo "http://127.0.0.1:$port"
}
IURL=$(ingest_url)
like "$IURL" '^http://127\.0\.0\.1:[0-9]+$' "the log names the ingest listener's port"
TOKEN=$(login admin adminpass123)
mkuser alice alicepass123 member
ALICE=$(login alice alicepass123)
mkuser bob bobpass12345 member
BOB=$(login bob bobpass12345)
call POST /api/v1/tokens -H "Authorization: Bearer $ALICE" -H 'Content-Type: application/json' \
	--data '{"name":"agent","scope":"metrics:write"}'
PUSH=$(jbody .token)
T=$(( ($(date +%s) - 300) * 1000 ))
# icall METHOD PATH ARGS...: call against the ingest listener.
icall() { local u=$URL; URL=$IURL; call "$@"; URL=$u; }

icall GET /api/v1/health
is "$STATUS $(jbody .status)" "200 ok" "health answers on the ingest listener"
icall GET /api/v1/datasets -H "Authorization: Bearer $TOKEN"
is_error 404 not_found "other routes are not served there"
icall GET /
is_error 404 not_found "nor the console"
icall POST /api/v1/metrics -H 'Content-Type: application/json' \
	--data '{"agent":"ing","metric":"m","value":1}'
is_error 401 unauthorized "a push without a token is refused"
icall POST "/api/v1/metrics%01x" -H "Authorization: Bearer $PUSH" -H 'Content-Type: application/json' \
	--data '{"agent":"ing","metric":"m","value":1}'
is_error 400 bad_target "a control byte in the path is refused there too"

icall POST /api/v1/metrics -H "Authorization: Bearer $PUSH" -H 'Content-Type: application/json' \
	--data "{\"agent\":\"ing\",\"metric\":\"m\",\"value\":1.5,\"ts\":$T}"
is "$STATUS $(jbody .accepted)" "200 1" "a JSON sample is accepted"
icall POST /api/v1/metrics -H "Authorization: Bearer $PUSH" -H 'Content-Type: application/json' \
	--data "{\"samples\":[{\"agent\":\"ing\",\"metric\":\"m\",\"value\":2,\"ts\":$((T + 1))},{\"agent\":\"ing\",\"metric\":\"m\",\"ts\":$((T + 2))}]}"
is_error 400 bad_request "a bad sample refuses the request"
like "$(errmsg)" 'samples\[1\]' "... naming its index"
icall POST "/api/v1/metrics/write?precision=ms" -H "Authorization: Bearer $PUSH" \
	--data-binary "lp,agent=ing v=3 $((T + 3))"
is "$STATUS" 204 "line protocol is accepted"
icall POST "/api/v1/metrics/write?precision=ms" -H "Authorization: Bearer $PUSH" \
	--data-binary "lp,agent=ing v= $((T + 4))"
is_error 400 bad_request "a bad line is refused"
icall POST /api/v1/agents/ing/calls -H "Authorization: Bearer $PUSH" -H 'Content-Type: application/json' \
	--data "{\"model\":\"gpt-4o\",\"latency_ms\":120,\"tokens_in\":10,\"tokens_out\":5,\"cost_usd\":0.25,\"status\":\"ok\",\"ts\":$((T + 5))}"
is "$STATUS $(jbody .accepted) $(jbody .cost_usd)" "200 1 0.25" "an LLM call is accepted with its cost"
icall POST /v1/metrics -H "Authorization: Bearer $PUSH" -H 'Content-Type: application/json' \
	--data "{\"resourceMetrics\":[{\"resource\":{\"attributes\":[{\"key\":\"service.name\",\"value\":{\"stringValue\":\"ing\"}}]},\"scopeMetrics\":[{\"metrics\":[{\"name\":\"otel.g\",\"gauge\":{\"dataPoints\":[{\"asDouble\":7,\"timeUnixNano\":\"$((T + 6))000000\"}]}}]}]}]}"
is "$STATUS" 200 "OTLP metrics are accepted"
icall POST /api/v1/metrics -H "Authorization: Bearer $ALICE" -H 'Content-Type: application/json' \
	--data "{\"agent\":\"bobs\",\"metric\":\"m\",\"value\":1,\"ts\":$T}"
is "$STATUS" 200 "a member's login token pushes too"
call POST /api/v1/metrics -H "Authorization: Bearer $BOB" -H 'Content-Type: application/json' \
	--data "{\"agent\":\"bobs\",\"metric\":\"m\",\"value\":1,\"ts\":$T}"
is_error 403 forbidden "another user's agent is refused (main port)"
icall POST /api/v1/metrics -H "Authorization: Bearer $BOB" -H 'Content-Type: application/json' \
	--data "{\"agent\":\"bobs\",\"metric\":\"m\",\"value\":1,\"ts\":$T}"
is_error 403 forbidden "... and on the ingest listener"
head -c $((17 << 20)) /dev/zero | tr '\0' 'x' >"$TMP/big"
icall POST "/api/v1/metrics/write" -H "Authorization: Bearer $PUSH" --data-binary @"$TMP/big"
is_error 413 too_large "a body over the limit is refused"

call GET "/api/v1/metrics/export?format=ndjson&agent=ing&from=$T&to=$((T + 10))" \
	-H "Authorization: Bearer $ALICE"
is "$STATUS" 200 "the main port exports what the ingest listener took"
is "$(printf '%s\n' "$BODY" | jq -r '.metric' | sort | tr '\n' ' ')" \
	"llm.calls llm.cost_usd llm.errors llm.latency_ms llm.tokens_in llm.tokens_out lp.v m otel.g " \
	"... every accepted sample and nothing of the refused requests"

call GET /metrics
like "$(grep -F 'sentinel_http_requests_total{method="POST",route="/api/v1/metrics",listener="ingest",status="200"}' <<<"$BODY")" \
	' [0-9]+$' "GET /metrics counts the ingest listener's requests under listener=\"ingest\""
is "$(grep -c '^# TYPE sentinel_http_requests_total counter$' <<<"$BODY")" 1 "... in the one requests_total family"
like "$(grep -F 'sentinel_http_request_duration_seconds_count{method="POST",route="/api/v1/metrics/write",listener="ingest"}' <<<"$BODY")" \
	' [0-9]+$' "... and its latencies"

# Many connections, few threads: 300 idle connections (a thread per
# connection would add 300).
THREADS0=$(awk '/^Threads:/ {print $2}' "/proc/$SERVER_PID/status")
/usr/bin/python3 - "${IURL#http://}" 300 "$TMP/conns.ready" "$TMP/conns.stop" <<'PY' &
import os, socket, sys, time
host, port = sys.argv[1].rsplit(":", 1)
socks = [socket.create_connection((host, int(port))) for _ in range(int(sys.argv[2]))]
open(sys.argv[3], "w").close()
while not os.path.exists(sys.argv[4]):
    time.sleep(0.05)
PY
PY_PID=$!
for _ in $(seq 1 200); do [ -e "$TMP/conns.ready" ] && break; sleep 0.05; done
sleep 0.3
THREADS1=$(awk '/^Threads:/ {print $2}' "/proc/$SERVER_PID/status")
ok $(( THREADS1 - THREADS0 < 10 ? 0 : 1 )) \
	"300 open connections to the ingest listener add no thread each ($THREADS0 -> $THREADS1 threads)"
icall GET /api/v1/health
is "$STATUS" 200 "... and it still answers"
touch "$TMP/conns.stop"
wait "$PY_PID"

# Durable on 2xx: 16 pushers, kill -9, restart.
push_then_kill "$IURL" "$PUSH" "$T"
start_server --ingest-listen 127.0.0.1:0
call GET "/api/v1/metrics/export?format=ndjson&agent=dur&metric=n&from=$T&to=$((T + 3000))" \
	-H "Authorization: Bearer $ALICE"
is "$STATUS" 200 "the restarted server exports"
printf '%s\n' "$BODY" | grep -v '^$' | jq -r '.value' | sort | uniq >"$TMP/got"
MISSING=$(comm -23 "$TMP/want" "$TMP/got" | wc -l)
is "$MISSING" 0 "every sample acknowledged by the ingest listener survived kill -9"
IURL=$(ingest_url)
icall POST /api/v1/metrics -H "Authorization: Bearer $PUSH" -H 'Content-Type: application/json' \
	--data "{\"agent\":\"dur\",\"metric\":\"n\",\"value\":9999,\"ts\":$T}"
is "$STATUS" 200 "the restarted ingest listener takes pushes"
stop_server TERM
is "$STOP_RC" 0 "a graceful stop with the ingest listener"
SERVER_LISTEN=127.0.0.1:0 try_start_server --ingest-listen 127.0.0.1:notaport
is "$?" 1 "a bad --ingest-listen address stops the start"
like "$(tail -n 3 "$TMP/server.log")" 'ingest|listen' "... saying why"
done_testing
