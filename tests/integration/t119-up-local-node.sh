#!/usr/bin/env bash
# `sentinel up` starts one local node, claimed for the first admin, so a
# fresh install runs jobs at once; --no-local-node starts none; stopping up
# stops its node; a restart keeps the same node (no second record).
. "$(dirname "$0")/lib.sh"

up_start() { # DATA [FLAGS...]: starts `sentinel up`, sets URL, UP and TOKEN
	local data=$1
	shift
	rm -f "$TMP/up.ready"
	"$SENTINEL_BIN" up --listen 127.0.0.1:0 --data "$data" --admin-password adminpass123 \
		--ready-file "$TMP/up.ready" "$@" >"$TMP/up.out" 2>"$TMP/up.err" &
	UP=$!
	for _ in $(seq 1 200); do [ -s "$TMP/up.ready" ] && break; sleep 0.05; done
	URL=$(cat "$TMP/up.ready")
	TOKEN=$(curl -s -H 'Content-Type: application/json' \
		-d '{"username":"admin","password":"adminpass123"}' "$URL/api/v1/auth/login" | jq -r .token)
}
nodes() { curl -s -H "Authorization: Bearer $TOKEN" "$URL/api/v1/nodes"; }
agent_pids() { pgrep -f -- "--state $1/node " || true; }

mkdir -p "$TMP/noweb" "$TMP/web"
echo '<!doctype html><title>Sentinel</title>' >"$TMP/web/index.html"
up_start "$TMP/d1" --web-dir "$TMP/web"
like "$(cat "$TMP/up.out")" "A local node runs jobs" "up says a local node runs jobs"
like "$(cat "$TMP/up.out")" "Open it in a browser for the web console" "... and where the web console is"
for _ in $(seq 1 100); do
	[ "$(nodes | jq -r '.items[0].state')" = online ] && break
	sleep 0.1
done
is "$(nodes | jq -r '[.items[] | "\(.name) \(.state) \(.owner)"] | join(",")')" "local online admin" \
	"the local node is online, claimed for the first admin"
ok "$([ "$(stat -c %a "$TMP/d1/node/node.key")" = 600 ]; echo $?)" "its key is in DATA/node, mode 0600"
ID=$(nodes | jq -r '.items[0].id')

JOB=$(curl -s -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
	-d '{"name":"pi","program":"montecarlo-pi","total_iterations":20000,"chunk_size":5000}' \
	"$URL/api/v1/jobs" | jq -r .id)
for _ in $(seq 1 200); do
	J=$(curl -s -H "Authorization: Bearer $TOKEN" "$URL/api/v1/jobs/$JOB")
	[ "$(printf '%s' "$J" | jq -r .state)" = completed ] && break
	sleep 0.1
done
is "$(printf '%s' "$J" | jq -r '"\(.state) \(.completed_iterations) \(.result.stats.pi.n)"')" \
	"completed 20000 20000" "a job runs at once on the fresh install"

isnt "$(agent_pids "$TMP/d1")" "" "the node agent runs as a child of up"
kill -TERM "$UP"
wait "$UP"
is "$?" 0 "up exits 0 on SIGTERM"
sleep 0.2
is "$(agent_pids "$TMP/d1")" "" "... and its node agent is gone"

up_start "$TMP/d1"
for _ in $(seq 1 100); do
	[ "$(nodes | jq -r '.items[0].state')" = online ] && break
	sleep 0.1
done
is "$(nodes | jq -r '[.items[] | .id] | join(",")')" "$ID" "a restart keeps the same node, no second record"
kill -TERM "$UP"
wait "$UP"

up_start "$TMP/d2" --no-local-node --web-dir "$TMP/noweb"
is "$(nodes | jq -r '.items | length')" 0 "--no-local-node: no node"
like "$(cat "$TMP/up.out")" "No web console is built \\(make web" "up says when no console is built, and how to build it"
is "$(agent_pids "$TMP/d2")" "" "... and no agent process"
unlike "$(cat "$TMP/up.out")" "A local node" "... nor the line about it"
kill -TERM "$UP"
wait "$UP"

done_testing
