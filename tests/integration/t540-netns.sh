#!/usr/bin/env bash
# Server and nodes on separate hosts: the server in one network namespace,
# two nodes in two others, joined by veth pairs through a bridge namespace
# (routing as between machines: nothing is shared on 127.0.0.1). Each node
# has its own state directory and fetches scripts and inputs over HTTP by
# hash; a script job reading an uploaded dataset and a Monte-Carlo job run
# across them. Needs root and `ip netns` (skipped otherwise).
. "$(dirname "$0")/lib.sh"

if [ "$(id -u)" != 0 ] || ! command -v ip >/dev/null; then
	echo "1..0 # SKIP needs root and ip(8)"
	exit 0
fi
P=sn$$
NS_SRV=$P-srv NS_N1=$P-n1 NS_N2=$P-n2 NS_BR=$P-br
netns_cleanup() {
	for ns in "$NS_SRV" "$NS_N1" "$NS_N2"; do
		for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null; done
	done
	for ns in "$NS_SRV" "$NS_N1" "$NS_N2" "$NS_BR"; do ip netns del "$ns" 2>/dev/null; done
	cleanup
}
trap netns_cleanup EXIT
if ! ip netns add "$NS_BR" 2>/dev/null; then
	echo "1..0 # SKIP cannot create network namespaces here"
	exit 0
fi
ip -n "$NS_BR" link add br0 type bridge
ip -n "$NS_BR" link set br0 up
i=1
for ns in "$NS_SRV" "$NS_N1" "$NS_N2"; do
	ip netns add "$ns"
	ip -n "$ns" link set lo up
	ip link add "$P-v$i" type veth peer name "$P-b$i"
	ip link set "$P-v$i" netns "$ns"
	ip link set "$P-b$i" netns "$NS_BR"
	ip -n "$NS_BR" link set "$P-b$i" master br0 up
	ip -n "$ns" link set "$P-v$i" name eth0
	ip -n "$ns" addr add "10.213.0.$i/24" dev eth0
	ip -n "$ns" link set eth0 up
	i=$((i + 1))
done
SRV_URL=http://10.213.0.1:18540
in_srv() { ip netns exec "$NS_SRV" "$@"; }
in_n1() { ip netns exec "$NS_N1" "$@"; }

ok "$(in_n1 sh -c "! curl -s -m 2 -o /dev/null http://127.0.0.1:18540/"; echo $?)" \
	"nothing listens on the node's own loopback"

SENTINEL_ADMIN_PASSWORD=adminpass123 in_srv "$SENTINEL_BIN" server --listen 10.213.0.1:18540 \
	--data "$TMP/srv" --ready-file "$TMP/ready" --node-timeout 10s --heartbeat 1s \
	>"$TMP/server.out" 2>"$TMP/server.log" &
SERVER_PID=$!
for _ in $(seq 1 200); do [ -s "$TMP/ready" ] && break; sleep 0.05; done
is "$(cat "$TMP/ready" 2>/dev/null)" "$SRV_URL" "the server listens in its own namespace"
TOKEN=$(in_n1 curl -s -H 'Content-Type: application/json' \
	-d '{"username":"admin","password":"adminpass123"}' "$SRV_URL/api/v1/auth/login" | jq -r .token)
# napi METHOD PATH [BODY]: the API from node 1's namespace.
napi() {
	BODY=$(in_n1 curl -s -X "$1" -H "Authorization: Bearer $TOKEN" \
		-H 'Content-Type: application/json' ${3:+--data-binary "$3"} "$SRV_URL$2")
}

for n in 1 2; do
	ip netns exec "$P-n$n" "$SENTINEL_BIN" node --server "$SRV_URL" --state "$TMP/state$n" \
		--name "far$n" --max-parallel 2 >"$TMP/n$n.out" 2>"$TMP/n$n.err" &
done
code() { grep -m1 -o 'sentinel node claim [0-9A-Z]*' "$TMP/n$1.out" 2>/dev/null | awk '{print $4}'; }
for n in 1 2; do
	for _ in $(seq 1 150); do [ -n "$(code "$n")" ] && break; sleep 0.1; done
	napi POST /api/v1/nodes/claim "{\"code\":\"$(code "$n")\"}"
done
online() { napi GET /api/v1/nodes; [ "$(printf '%s' "$BODY" | jq '[.items[] | select(.state == "online")] | length')" = 2 ]; }
for _ in $(seq 1 100); do online && break; sleep 0.1; done
ok "$(online; echo $?)" "two nodes in other namespaces registered, claimed and online"

printf 'k,v\n1,10\n2,20\n3,30\n' >"$TMP/in.csv"
BODY=$(in_n1 curl -s -H "Authorization: Bearer $TOKEN" -H 'Content-Type: text/csv' \
	--data-binary @"$TMP/in.csv" "$SRV_URL/api/v1/datasets/kv/versions")
is "$(printf '%s' "$BODY" | jq -r .number)" 1 "a dataset uploaded to the server"
cat >"$TMP/sum.py" <<'PY'
import json, os
path = [os.path.join(d, f) for d, _, fs in os.walk("/data/kv") for f in fs][0]
vals = [int(l.split(",")[1]) for l in open(path).read().splitlines()[1:]]
json.dump({"samples": {"v": vals}}, open("/work/out/result.json", "w"))
open("/work/out/echo.csv", "w").write(open(path).read())
PY
BODY=$(in_n1 curl -s -H "Authorization: Bearer $TOKEN" --data-binary @"$TMP/sum.py" \
	"$SRV_URL/api/v1/scripts/sum.py/versions")
napi POST /api/v1/jobs '{"name":"sum","script":"sum.py@1","inputs":["kv@1"],"total_iterations":4,"chunk_size":1,"limits":{"time_s":60,"memory_mb":512}}'
SJ=$(printf '%s' "$BODY" | jq -r .id)
napi POST /api/v1/jobs '{"name":"pi","program":"montecarlo-pi","total_iterations":40000,"chunk_size":2000}'
PJ=$(printf '%s' "$BODY" | jq -r .id)
done_both() {
	local a b
	napi GET "/api/v1/jobs/$SJ"; a=$(printf '%s' "$BODY" | jq -r .state)
	napi GET "/api/v1/jobs/$PJ"; b=$(printf '%s' "$BODY" | jq -r .state)
	[ "$a" != pending ] && [ "$a" != running ] && [ "$b" != pending ] && [ "$b" != running ]
}
for _ in $(seq 1 600); do done_both && break; sleep 0.1; done
napi GET "/api/v1/jobs/$SJ"
is "$(printf '%s' "$BODY" | jq -r '"\(.state) \(.result.stats.v.n) \(.result.stats.v.mean)"')" \
	"completed 12 20" "the script job read its input on the far nodes: 4 chunks x 3 values, mean 20"
napi GET "/api/v1/jobs/$PJ"
is "$(printf '%s' "$BODY" | jq -r '"\(.state) \(.completed_iterations) \(.result.stats.pi.n)"')" \
	"completed 40000 40000" "the Monte-Carlo job completed, every iteration counted once"
# Which node runs what depends on timing (under load one node can take
# every short chunk while the other still runs a Python one): the two
# jobs' chunks together ran on both nodes.
napi GET "/api/v1/jobs/$PJ/chunks?limit=100"
nodes_pi=$(printf '%s' "$BODY" | jq -c '[.items[].attempts[-1].node_id]')
napi GET "/api/v1/jobs/$SJ/chunks?limit=100"
is "$(printf '%s' "$BODY" | jq -r --argjson pi "$nodes_pi" '[.items[].attempts[-1].node_id] + $pi | unique | length')" 2 \
	"... the chunks of both jobs ran on both nodes"
napi GET "/api/v1/jobs/$SJ/artifacts"
ASHA=$(printf '%s' "$BODY" | jq -r '.items[0].sha256')
in_n1 curl -s -H "Authorization: Bearer $TOKEN" -o "$TMP/echo.csv" "$SRV_URL/api/v1/blobs/$ASHA"
ok "$(cmp -s "$TMP/echo.csv" "$TMP/in.csv"; echo $?)" "an artifact made on a far node downloads byte-identical"
ok "$([ -d "$TMP/state1/cache" ] || [ -d "$TMP/state2/cache" ]; echo $?)" \
	"the nodes keep their own caches (fetched by hash, no shared storage)"

for n in 1 2; do
	for pid in $(ip netns pids "$P-n$n"); do kill -TERM "$pid" 2>/dev/null; done
done
done_testing
