#!/usr/bin/env bash
# Node-local datasets in GET /api/v1/datasets?kind=local (tests/helpers/
# nodesign signs as an agent would): one item per (name, manifest) with a
# location per node; listed to who may use a node holding it (admins: all),
# never from a pending node; filters and pagination; the default list
# keeps only uploaded datasets.
. "$(dirname "$0")/lib.sh"
NODESIGN=${SENTINEL_HELPERS:-$(dirname "$SENTINEL_BIN")/tests/helpers}/nodesign
if [ ! -x "$NODESIGN" ]; then
	echo "1..0 # SKIP tests/helpers/nodesign is not built (make integration builds it)"
	exit 0
fi
start_server
TOKEN=$(login admin adminpass123)
for u in alice bob carol; do mkuser $u ${u}pass1234 member; done
ALICE=$(login alice alicepass1234)
BOB=$(login bob bobpass1234)
CAROL=$(login carol carolpass1234)
as() { local t=$1 m=$2 p=$3; shift 3; call "$m" "$p" -H "Authorization: Bearer $t" "$@"; }
asj() { as "$1" "$2" "$3" -H 'Content-Type: application/json' --data "$4"; }
# reg KEY BODY: a signed register.
reg() {
	local h sig=()
	printf '%s' "$2" >"$TMP/nbody"
	while IFS= read -r h; do sig+=(-H "$h"); done \
		< <("$NODESIGN" sign "$1" POST /api/v1/node/register "$TMP/nbody" "$(date +%s%3N)")
	call POST /api/v1/node/register "${sig[@]}" -H 'Content-Type: application/json' \
		--data-binary @"$TMP/nbody"
}
A=$(printf '%064d' 1); B=$(printf '%064d' 2); C=$(printf '%064d' 3)
ds() { printf '{"name":"%s","manifest_sha256":"%s","bytes":%s,"files":%s,"path":"%s"}' "$@"; }
for k in k1 k2 k3; do "$NODESIGN" keygen "$TMP/$k"; done
reg "$TMP/k1" '{"name":"n1","datasets":['"$(ds imagenet $A 100 3 /data/in),$(ds 'z:odd name' $B 7 1 /data/z)"']}'
is "$STATUS" 200 "node 1 registers with two datasets"
reg "$TMP/k2" '{"name":"n2","datasets":['"$(ds imagenet $A 100 3 /mnt/in)"']}'
reg "$TMP/k3" '{"name":"n3","datasets":['"$(ds secret $C 1 1 /x)"']}'
ID1=$("$NODESIGN" id "$TMP/k1"); ID2=$("$NODESIGN" id "$TMP/k2")
asj "$ALICE" POST /api/v1/nodes/claim "{\"code\":\"$("$NODESIGN" code "$TMP/k1")\"}"
is "$STATUS" 200 "alice claims node 1"
api POST /api/v1/nodes/claim "{\"code\":\"$("$NODESIGN" code "$TMP/k2")\"}"
is "$STATUS" 200 "admin claims node 2 (node 3 stays pending)"
L=/api/v1/datasets?kind=local
names() { jbody '[.items[] | "\(.name)=\(.location | map(.node_name) | sort | join("+"))"] | join(",")'; }

as "$ALICE" GET "$L"
is "$STATUS $(names)" "200 imagenet=n1,z:odd name=n1" "alice (node 1's owner) lists its datasets"
is "$(jbody '.items[0] | "\(.kind) \(.manifest_sha256) \(.bytes) \(.files)"')" "local $A 100 3" \
	"... kind local, the manifest hash, bytes and files"
is "$(jbody '.items[0].location[0] | "\(.node_id) \(.node_state) \(.path)"')" "$ID1 offline /data/in" \
	"... its location: node id, state and path"
api GET "$L"
is "$STATUS $(names)" "200 imagenet=n1+n2,z:odd name=n1" \
	"admin lists all: the same content on two nodes is one item with two locations"
is "$(jbody '[.items[0].location[].node_id] == ([.items[0].location[].node_id] | sort)') $(jbody '[.items[].location[].node_id] | sort | join(" ")')" \
	"true $(printf '%s\n' "$ID1" "$ID2" "$ID1" | sort | tr '\n' ' ' | sed 's/ $//')" "... by node id"
as "$BOB" GET "$L"
is "$STATUS $(jbody '.items | length')" "200 0" "bob, who may use no node, lists none"

# Alice lets the group team (bob) use her node.
api POST /api/v1/groups '{"name":"team"}'
api PUT /api/v1/groups/team/members/bob
asj "$ALICE" PATCH "/api/v1/nodes/$ID1" '{"access":{"groups":["team"]}}'
is "$STATUS" 200 "alice permits the group team"
as "$BOB" GET "$L"
is "$(names)" "imagenet=n1,z:odd name=n1" "bob (in team) now lists node 1's datasets, not node 2's"
as "$CAROL" GET "$L"
is "$(jbody '.items | length')" "0" "carol (not in team) still lists none"

# Filters, pagination, the default list.
api GET "$L&q=odd"
is "$(names)" "z:odd name=n1" "q filters by name"
api GET "$L&limit=1"
is "$(names) $(jbody .next_cursor)" "imagenet=n1+n2 imagenet:$A" "a page of one, with a cursor"
api GET "$L&limit=1&cursor=$(jq -rn --arg c "$(jbody .next_cursor)" '$c|@uri')"
is "$(names) $(jbody .next_cursor)" "z:odd name=n1 null" "the next page, the last"
printf 'a,b\n1,2\n' >"$TMP/d.csv"
call POST /api/v1/datasets/up/versions -H "Authorization: Bearer $TOKEN" -H 'Content-Type: text/csv' \
	--data-binary @"$TMP/d.csv"
api GET /api/v1/datasets
is "$STATUS $(jbody '[.items[] | "\(.name):\(.kind)"] | join(",")')" "200 up:dataset" \
	"the default list holds the uploaded datasets only"
api GET "/api/v1/datasets?kind=dataset"
is "$(jbody '[.items[].name] | join(",")')" "up" "... as kind=dataset does"
api GET "/api/v1/datasets?kind=nodes"
is_error 400 bad_request "another kind: 400"
api GET "/api/v1/scripts?kind=local"
is_error 400 bad_request "scripts have no local kind"
done_testing
