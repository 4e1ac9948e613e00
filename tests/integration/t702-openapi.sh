#!/usr/bin/env bash
# The API description: docs/openapi.json is embedded in the binary, served at
# GET /api/v1/openapi.json and checked at start against the live route table
# (src/server/openapi.c). Here: the server logs no difference and says how
# many routes matched (the document's operation count); the served bytes are
# the committed file; every documented operation reaches a route (no `no
# route` 404, no 405) and its security says how it is refused without
# credentials; real replies validate against the documented schemas (with
# Ajv from web/node_modules when present); and a document that lacks a route
# or names one that does not exist is reported, so the check can fail.
. "$(dirname "$0")/lib.sh"

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
DOC=$ROOT/docs/openapi.json
METHODS='["get","put","post","delete","patch","head","options","trace"]'
# "METHOD PATH" of every documented operation.
ops() { jq -r --argjson m "$METHODS" '.paths | to_entries[] | .key as $p | .value | keys[] |
	select(. as $k | $m | index($k)) | "\(ascii_upcase) \($p)"' "$1"; }
OPCOUNT=$(ops "$DOC" | wc -l)
diag "docs/openapi.json documents $OPCOUNT operations"

start_server
api GET /api/v1/health "" ""
is "$STATUS" 200 "the server is up"
grep -E 'openapi: (route |documented |the API description (is not|differs))|openapi: cannot' "$TMP/server.log" >"$TMP/drift"
is "$(cat "$TMP/drift")" "" "the server logs no difference between its routes and the API description"
matched=$(sed -n 's/.*openapi: the API description matches the \([0-9]*\) routes.*/\1/p' "$TMP/server.log" | head -n 1)
is "$matched" "$OPCOUNT" "the live route table has as many routes as the document has operations, and all matched"

# ---- the served document ----
call GET /api/v1/openapi.json
is "$STATUS" 200 "GET /api/v1/openapi.json is public"
like "$(header Content-Type)" '^application/json' "it is served as application/json"
cmp -s "$TMP/resp" "$DOC"
ok $? "the served bytes are docs/openapi.json (the build embeds the committed file)"
like "$(jbody .openapi)" '^3\.1\.[0-9]+$' "it is OpenAPI 3.1.x"
is "$(jbody '[.paths | keys[] | select(startswith("/") | not)] | length')" 0 "every path starts with /"
is "$(printf '%s' "$BODY" | jq --argjson m "$METHODS" '[.paths[] | to_entries[] | select(.key as $k | $m | index($k)) | .value |
	select((.summary | type) != "string" or (.operationId | type) != "string" or (.security | type) != "array"
	       or ([.responses | keys[] | select(test("^2"))] | length) == 0 or .responses["4XX"] == null)] | length')" 0 \
	"every operation has a summary, an operationId, security, a 2xx reply and the 4XX error reply"
is "$(printf '%s' "$BODY" | jq -c '.components.schemas.Error.properties.error.required')" '["code","message","request_id"]' \
	"the error envelope is a shared schema"
etag=$(header ETag)
call GET /api/v1/openapi.json -H "If-None-Match: $etag"
is "$STATUS" 304 "If-None-Match with its ETag is 304"

# ---- every documented operation reaches a route ----
# Without credentials: a public route answers (not 401), a node route 401
# unsigned, any other 401 unauthorized; no `no route` 404 and no 405.
jq -r --argjson m "$METHODS" '.paths | to_entries[] | .key as $p | .value | to_entries[] |
	select(.key as $k | $m | index($k)) | "\(.key | ascii_upcase) \($p) \(.value.security |
	if length == 0 then "public" elif .[0].nodeSignature then "node" else "user" end)"' "$DOC" >"$TMP/ops"
: >"$TMP/unrouted"
: >"$TMP/wrongauth"
while read -r method tmpl sec; do
	concrete=$(printf '%s' "$tmpl" | sed -e 's/{sha256}/0000000000000000000000000000000000000000000000000000000000000000/g' \
		-e 's/{v}/1/g' -e 's/{[a-z_]*}/x1/g')
	STATUS=$(curl -s -m 5 -o "$TMP/resp" -w '%{http_code}' -X "$method" "$URL$concrete")
	IFS=$'\t' read -r code msg < <(jq -r '[.error.code // "", .error.message // ""] | @tsv' "$TMP/resp" 2>/dev/null)
	if [ "$STATUS" = 405 ] || { [ "$STATUS" = 404 ] && [[ "$msg" == "no route for "* ]]; }; then
		echo "$method $tmpl -> $STATUS $code" >>"$TMP/unrouted"
	fi
	case "$sec" in
	public) [ "$STATUS" != 401 ] && [ "$STATUS" != 000 ] || echo "$method $tmpl (public) -> $STATUS $code" >>"$TMP/wrongauth" ;;
	node) [ "$STATUS $code" = "401 unsigned" ] || echo "$method $tmpl (node) -> $STATUS $code" >>"$TMP/wrongauth" ;;
	user) [ "$STATUS $code" = "401 unauthorized" ] || echo "$method $tmpl (user) -> $STATUS $code" >>"$TMP/wrongauth" ;;
	esac
done <"$TMP/ops"
is "$(cat "$TMP/unrouted")" "" "every documented operation reaches a route of the server"
is "$(cat "$TMP/wrongauth")" "" "each operation's security matches how the server refuses it without credentials"
call GET /api/v1/no-such-route
is "$STATUS $(jbody .error.code)" "404 not_found" "(the probe does see the http layer's no-route 404)"
like "$(jbody .error.message)" '^no route for ' "(with its message)"

# ---- real replies against the documented schemas ----
TOKEN=$(login admin adminpass123)
# v TEMPLATE METHOD PATH [curl args]: makes the request with the admin token
# and lists the reply for validation.
: >"$TMP/replies"
NREP=0
v() {
	local tmpl=$1 method=$2 path=$3
	shift 3
	call "$method" "$path" -H "Authorization: Bearer $TOKEN" "$@"
	NREP=$((NREP + 1))
	cp "$TMP/resp" "$TMP/reply.$NREP"
	echo "$method $tmpl $STATUS $TMP/reply.$NREP" >>"$TMP/replies"
}
J=(-H 'Content-Type: application/json' --data-binary)
v /api/v1/users POST /api/v1/users "${J[@]}" '{"username":"olive","password":"olivepass123"}'
v /api/v1/users/{id} GET /api/v1/users/olive
v /api/v1/users/{id} PATCH /api/v1/users/olive "${J[@]}" '{"disabled":false}'
v /api/v1/groups POST /api/v1/groups "${J[@]}" '{"name":"crew","description":"the crew"}'
v /api/v1/groups/{id}/members/{user} PUT /api/v1/groups/crew/members/olive
v /api/v1/groups/{id} GET /api/v1/groups/crew
v /api/v1/tokens POST /api/v1/tokens "${J[@]}" '{"name":"ci","expires_in_days":2}'
v /api/v1/auth/token GET /api/v1/auth/token
printf 'a,b,c\n1,2.5,x\n2,3.5,y\n3,,z\n' >"$TMP/d1.csv"
printf 'a,b,c\n1,2.5,x\n2,4.5,y\n4,1,w\n' >"$TMP/d2.csv"
v /api/v1/datasets/{name}/versions POST '/api/v1/datasets/tbl/versions?message=one' -H 'Content-Type: text/csv' --data-binary @"$TMP/d1.csv"
v /api/v1/datasets/{name}/versions POST '/api/v1/datasets/tbl/versions' -H 'Content-Type: text/csv' --data-binary @"$TMP/d2.csv"
v /api/v1/datasets/{name}/versions POST '/api/v1/datasets/tbl/versions' -H 'Content-Type: text/csv' --data-binary @"$TMP/d2.csv"
v /api/v1/datasets/{name}/versions POST '/api/v1/datasets/set/versions' -F "file=@$TMP/d1.csv" -F "file=@$TMP/d2.csv"
v /api/v1/datasets/{name} GET /api/v1/datasets/tbl
v /api/v1/datasets/{name} PATCH /api/v1/datasets/tbl "${J[@]}" '{"shares":[{"group":"crew","access":"read"}]}'
v /api/v1/datasets/{name}/versions GET /api/v1/datasets/tbl/versions
v /api/v1/datasets/{name}/versions/{v} GET /api/v1/datasets/tbl/versions/1
v /api/v1/datasets/{name}/versions/{v}/preview GET '/api/v1/datasets/tbl/versions/1/preview?limit=2'
v /api/v1/datasets/{name}/diff GET '/api/v1/datasets/tbl/diff?from=1&to=2&key=a'
v /api/v1/datasets/{name}/diff GET '/api/v1/datasets/tbl/diff?from=1&to=1'
v /api/v1/datasets/{name}/diff GET '/api/v1/datasets/set/diff?from=1&to=1'
v /api/v1/datasets/{name}/versions/{v}/content GET /api/v1/datasets/set/versions/1/content
v /api/v1/scripts/{name}/versions POST '/api/v1/scripts/job.sh/versions?message=m' --data-binary $'#!/bin/sh\necho 1\n'
v /api/v1/scripts/{name}/versions POST '/api/v1/scripts/job.sh/versions' --data-binary $'#!/bin/sh\necho 2\n'
v /api/v1/scripts/{name} GET /api/v1/scripts/job.sh
v /api/v1/scripts/{name}/versions/{v} GET /api/v1/scripts/job.sh/versions/2
v /api/v1/scripts/{name}/diff GET '/api/v1/scripts/job.sh/diff?from=1&to=2'
v /api/v1/uploads POST /api/v1/uploads "${J[@]}" '{"size":5}'
up=$(jbody .id)
v /api/v1/uploads/{id} PATCH "/api/v1/uploads/$up" -H 'Content-Range: bytes 0-4/5' --data-binary hello
v /api/v1/uploads/{id}/commit POST "/api/v1/uploads/$up/commit"
v /api/v1/uploads/{id} GET "/api/v1/uploads/$up"
v /api/v1/runtimes/{name} GET /api/v1/runtimes/host
v /api/v1/configs POST /api/v1/configs "${J[@]}" '{"k":1}'
v /api/v1/jobs POST /api/v1/jobs "${J[@]}" '{"name":"pi","program":"montecarlo-pi","total_iterations":2000,"chunk_size":1000}'
job=$(jbody .id)
v /api/v1/jobs/{id} GET "/api/v1/jobs/$job"
v /api/v1/jobs/{id}/chunks GET "/api/v1/jobs/$job/chunks"
v /api/v1/jobs/{id}/artifacts GET "/api/v1/jobs/$job/artifacts"
v /api/v1/jobs/{id}/cancel POST "/api/v1/jobs/$job/cancel"
v /api/v1/metrics POST /api/v1/metrics "${J[@]}" '{"samples":[{"agent":"bot","metric":"lat","value":3,"tags":{"k":"v"}},{"agent":"bot","metric":"lat","value":5}]}'
v /api/v1/agents/{agent}/calls POST /api/v1/agents/bot/calls "${J[@]}" '{"model":"m","latency_ms":100,"tokens_in":10,"tokens_out":20,"status":"ok"}'
v /api/v1/metrics/query GET '/api/v1/metrics/query?metric=lat&step=1m&agg=max'
v /api/v1/metrics/query GET '/api/v1/metrics/query?metric=lat&step=1m&by=k'
v /api/v1/agents/{agent} GET /api/v1/agents/bot
v /api/v1/agents/{agent} PATCH /api/v1/agents/bot "${J[@]}" '{"public":true}'
v /api/v1/agents/{agent}/summary GET /api/v1/agents/bot/summary
v /api/v1/prices/{model} PUT /api/v1/prices/m "${J[@]}" '{"input_per_mtok":1,"output_per_mtok":2}'
v /api/v1/prices/{model}/versions GET /api/v1/prices/m/versions
v /api/v1/alerts POST /api/v1/alerts "${J[@]}" '{"name":"slow","metric":"lat","window":"1m","op":">","threshold":1}'
rule=$(jbody .id)
v /api/v1/alerts/{id} GET "/api/v1/alerts/$rule"
v /api/v1/alerts/{id} PUT "/api/v1/alerts/$rule" "${J[@]}" '{"name":"slow","metric":"lat","agent":"bot","window":"5m","op":">=","threshold":2,"for":"1m"}'
v /api/v1/alerts/{id}/events GET "/api/v1/alerts/$rule/events"
v /api/v1/settings/webhooks PUT /api/v1/settings/webhooks "${J[@]}" '{"urls":["http://127.0.0.1:9/hook"]}'
v /api/v1/alerts/{id} DELETE "/api/v1/alerts/$rule"
# A model trained here (sentinel train), pushed as a tar, scored and watched.
awk 'BEGIN { srand(7); print "x,y"; for (i = 0; i < 200; i++) printf "%.4f,%.4f\n", rand(), rand() }' >"$TMP/train.csv"
"$SENTINEL_BIN" train --data "$TMP/train.csv" --hidden 4,2,4 --epochs 3 --out "$TMP/model" --quiet >/dev/null 2>&1
tar -C "$TMP/model" -cf "$TMP/model.tar" model.onnx config.json
v /api/v1/models/{name}/versions POST /api/v1/models/mdl/versions -H 'Content-Type: application/x-tar' --data-binary @"$TMP/model.tar"
v /api/v1/models/{name}/versions POST /api/v1/models/mdl/versions -H 'Content-Type: application/x-tar' --data-binary @"$TMP/model.tar"
v /api/v1/models/{name} GET /api/v1/models/mdl
v /api/v1/models/{name} PATCH /api/v1/models/mdl "${J[@]}" '{"public":true}'
v /api/v1/models/{name}/versions GET /api/v1/models/mdl/versions
v /api/v1/models/{name}/versions/{v} GET /api/v1/models/mdl/versions/latest
v /api/v1/models/{name}/score POST /api/v1/models/mdl/score "${J[@]}" '{"vectors":[[0.1,0.2],[5,9]]}'
v /api/v1/detectors POST /api/v1/detectors "${J[@]}" '{"model":"mdl","agent":"bot","features":["lat","lat:max"],"step":"1m"}'
det=$(jbody .id)
v /api/v1/detectors/{id} GET "/api/v1/detectors/$det"
v /api/v1/detectors/{id}/replay POST "/api/v1/detectors/$det/replay?from=-10m&to=now"
v /api/v1/detectors/{id}/anomalies GET "/api/v1/detectors/$det/anomalies?from=-1h"
v /api/v1/detectors/{id} DELETE "/api/v1/detectors/$det"
v /api/v1/models/{name}/versions/{v} DELETE /api/v1/models/mdl/versions/1
# The node protocol, signed by a key of our own (tests/helpers/nodesign).
NODESIGN=${SENTINEL_HELPERS:-$(dirname "$SENTINEL_BIN")/tests/helpers}/nodesign
if [ -x "$NODESIGN" ]; then
	"$NODESIGN" keygen "$TMP/node.key" >/dev/null
	# nv TEMPLATE METHOD PATH BODY: a signed request, its reply listed.
	nv() {
		printf '%s' "$4" >"$TMP/nbody"
		local sig=() h
		while IFS= read -r h; do sig+=(-H "$h"); done < <("$NODESIGN" sign "$TMP/node.key" "$2" "$3" "$TMP/nbody")
		call "$2" "$3" "${sig[@]}" -H 'Content-Type: application/json' --data-binary @"$TMP/nbody"
		NREP=$((NREP + 1))
		cp "$TMP/resp" "$TMP/reply.$NREP"
		echo "$2 $1 $STATUS $TMP/reply.$NREP" >>"$TMP/replies"
	}
	nv /api/v1/node/register POST /api/v1/node/register '{"name":"probe","version":"x","platform":"linux","cores":2,"memory_mb":512,"max_parallel":1}'
	v /api/v1/nodes/claim POST /api/v1/nodes/claim "${J[@]}" "{\"code\":\"$("$NODESIGN" code "$TMP/node.key")\"}"
	nv /api/v1/node/register POST /api/v1/node/register '{"name":"probe","max_parallel":1}'
	nv /api/v1/node/heartbeat POST /api/v1/node/heartbeat '{"cores":2,"load1":0.5,"running":[],"runtimes":["host"],"blobs":[]}'
	nv /api/v1/node/work POST /api/v1/node/work '{"free_slots":1,"free_gpus":0,"wait_s":0}'
	nv /api/v1/node/metrics POST /api/v1/node/metrics '{"samples":[{"metric":"node.load1","value":0.5}]}'
	nv /api/v1/node/results POST /api/v1/node/results '{"results":[{"chunk":"jb_none-0","attempt":1,"status":"completed","result":null}]}'
	v /api/v1/nodes/{id} GET "/api/v1/nodes/$("$NODESIGN" id "$TMP/node.key")"
	v /api/v1/nodes/{id} DELETE "/api/v1/nodes/$("$NODESIGN" id "$TMP/node.key")"
	is "$(grep -E ' /api/v1/node(s/claim|s/\{id\}|/[a-z]+) ' "$TMP/replies" | awk '{print $3}' | sort | uniq -c | awk '{print $2 "x" $1}' | xargs)" \
		"200x9" "the signed node requests (register, heartbeat, work, metrics, results) and the claim succeed"
else
	diag "tests/helpers/nodesign is not built: the node protocol's replies are not validated"
fi
v /api/v1/users/{id} GET /api/v1/users/nobody
v /api/v1/tokens POST /api/v1/tokens "${J[@]}" '{"nam":"typo"}'
# Every GET without a path parameter, with its required query parameters,
# answers 2xx (event streams excepted: they never end).
jq -r '.paths | to_entries[] | select(.key | contains("{") | not) | select(.value.get) |
	select((.value.get.responses["200"].content // {}) | has("text/event-stream") | not) |
	"\(.key) \([.value.get.parameters // [] | .[] | select(.required and .in == "query") | "\(.name)=x"] | join("&"))"' \
	"$DOC" >"$TMP/gets"
: >"$TMP/get_fail"
while read -r p q; do
	v "$p" GET "$p${q:+?$q}"
	case "$STATUS" in 2*) ;; *) echo "GET $p -> $STATUS $(jbody .error.code)" >>"$TMP/get_fail" ;; esac
done <"$TMP/gets"
is "$(cat "$TMP/get_fail")" "" "every documented GET without path parameters answers 2xx ($(wc -l <"$TMP/gets") routes)"

AJV=$ROOT/web/node_modules/@redocly/ajv
if command -v node >/dev/null && [ -f "$AJV/dist/2020.js" ]; then
	cat >"$TMP/validate.cjs" <<'EOF'
// node validate.cjs DOC LIST AJV: each line of LIST is "METHOD TEMPLATE STATUS
// FILE"; FILE must be JSON valid against the documented reply (4xx/5xx: the
// error envelope). Prints one line per failure; exits 1 if any.
const fs = require('fs');
const path = require('path');
const [docPath, listPath, ajvDir] = process.argv.slice(2);
const Ajv2020 = require(path.join(ajvDir, 'dist/2020.js')).default;
const doc = JSON.parse(fs.readFileSync(docPath, 'utf8'));
const ajv = new Ajv2020({ strict: false, validateFormats: false, allErrors: true });
ajv.addSchema(doc, 'openapi.json', undefined, false);
const esc = (s) => s.replace(/~/g, '~0').replace(/\//g, '~1');
let bad = 0;
for (const line of fs.readFileSync(listPath, 'utf8').split('\n').filter(Boolean)) {
  const [method, tmpl, status, file] = line.split(' ');
  const m = method.toLowerCase();
  const op = doc.paths[tmpl] && doc.paths[tmpl][m];
  let ptr;
  if (/^[45]/.test(status)) ptr = 'openapi.json#/components/schemas/Error';
  else if (op && op.responses[status] && op.responses[status].content &&
           op.responses[status].content['application/json'])
    ptr = `openapi.json#/paths/${esc(tmpl)}/${m}/responses/${status}/content/${esc('application/json')}/schema`;
  if (!op || !ptr) {
    const types = op && op.responses[status] && Object.keys(op.responses[status].content || {});
    if (op && types && types.length && !types.includes('application/json')) continue; // not JSON: documented as such
    console.log(`${method} ${tmpl} ${status}: this reply is not documented`); bad++; continue;
  }
  let body;
  try { body = JSON.parse(fs.readFileSync(file, 'utf8')); } catch (e) { console.log(`${method} ${tmpl} ${status}: not JSON`); bad++; continue; }
  const v = ajv.getSchema(ptr) || ajv.compile({ $ref: ptr });
  if (!v(body)) { bad++; console.log(`${method} ${tmpl} ${status}: ${ajv.errorsText(v.errors, { separator: '; ' }).slice(0, 500)}`); }
}
process.exit(bad ? 1 : 0);
EOF
	node "$TMP/validate.cjs" "$DOC" "$TMP/replies" "$AJV" >"$TMP/invalid" 2>&1
	is "$(cat "$TMP/invalid")" "" "$NREP real replies (objects made, listed, changed, errors) validate against the documented schemas"
	# The validator itself can fail: a user is not a job, nor an error.
	printf 'GET /api/v1/jobs/{id} 200 %s\nGET /api/v1/users/{id} 404 %s\n' "$TMP/reply.1" "$TMP/reply.1" >"$TMP/wrong"
	node "$TMP/validate.cjs" "$DOC" "$TMP/wrong" "$AJV" >"$TMP/invalid2" 2>&1
	is "$(grep -c . "$TMP/invalid2")" 2 "(the validator refuses a user as a job and as an error envelope)"
else
	echo "ok $((T_N += 1)) # SKIP no node or web/node_modules/@redocly/ajv: replies not validated"
	echo "ok $((T_N += 1)) # SKIP (the validator's own check)"
fi

# ---- the check can fail ----
stop_server
jq 'del(.paths["/api/v1/groups"].post) | .paths["/api/v1/nope"] = {"get": {"summary": "x", "responses": {}}}' \
	"$DOC" >"$TMP/drifted.json"
: >"$TMP/server.log"
export SENTINEL_OPENAPI_DOC=$TMP/drifted.json
start_server
unset SENTINEL_OPENAPI_DOC
like "$(grep 'openapi:' "$TMP/server.log")" 'route POST /api/v1/groups is missing from the API description' \
	"a route the document lacks is logged"
like "$(grep 'openapi:' "$TMP/server.log")" 'documented GET /api/v1/nope has no route' \
	"a documented operation with no route is logged"
like "$(grep 'openapi:' "$TMP/server.log")" 'differs from the routes in 2 place' "the count of differences is logged"
unlike "$(cat "$TMP/server.log")" 'the API description matches' "no match is claimed"
call GET /api/v1/openapi.json
cmp -s "$TMP/resp" "$TMP/drifted.json"
ok $? "SENTINEL_OPENAPI_DOC's document is the one served"
stop_server
printf '{"openapi":"3.1.0",' >"$TMP/broken.json"
: >"$TMP/server.log"
export SENTINEL_OPENAPI_DOC=$TMP/broken.json
start_server
unset SENTINEL_OPENAPI_DOC
like "$(grep 'openapi:' "$TMP/server.log")" 'not an OpenAPI document' "a malformed document is logged as such"
api GET /api/v1/health "" ""
is "$STATUS" 200 "and the server still runs"

done_testing
