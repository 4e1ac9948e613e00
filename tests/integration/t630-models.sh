#!/usr/bin/env bash
# The model registry: a model trained by `sentinel train` pushed as
# multipart and as a tar (versions 1, 2; an identical push deduplicated),
# shown, downloaded (tar and pull) byte for byte, scored over HTTP with
# exactly the scores and flags `sentinel engine` gives for the same
# vectors, bad vectors refused; a malformed model refused 422 with the
# loader's message and nothing kept; another member cannot see a private
# model (list, show, score, blobs), can once it is public or shared, and
# cannot push; `sentinel engine --server --model M@v` serves a registered
# model; a training job on a local node registers a new version.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/../ml/engine_lib.sh"
. "$(dirname "$0")/lib_nodes.sh"
S=$SENTINEL_BIN
D=$TMP/mdata
/usr/bin/python3 "$(dirname "$0")/../ml/make_data.py" "$D" >/dev/null
COLS=f0,f1,f2,f3,f4,f5,f6,f7
"$S" train --data "$D/train.csv" --columns $COLS --hidden 6,2,6 --epochs 8 --batch 64 \
	--out "$TMP/m1" --quiet >/dev/null 2>"$TMP/train.err"
ok $? "a model trained by sentinel train"
"$S" train --data "$D/train.csv" --columns $COLS --hidden 6,2,6 --epochs 8 --batch 64 --seed 2 \
	--out "$TMP/m2" --quiet >/dev/null 2>>"$TMP/train.err"
ok $? "and a second one (another seed)"

start_server
TOKEN=$(login admin adminpass123)
mkuser bob bobpass1234 member
mkuser carol carolpass1234 member
BOB=$(login bob bobpass1234)
CAROL=$(login carol carolpass1234)
M=/api/v1/models

mpush() { # NAME DIR [TOKEN]: multipart push
	call POST "$M/$1/versions" -H "Authorization: Bearer ${3:-$BOB}" \
		-F "model.onnx=@$2/model.onnx" -F "config.json=@$2/config.json"
}
mpush det "$TMP/m1"
is "$STATUS $(jbody .version) $(jbody .dim) $(jbody .deduplicated)" "201 1 8 false" \
	"multipart push: version 1 of 8 features"
is "$(jbody '.features | join(",")')" "$COLS" "the features are the model's"
is "$(jbody .threshold)" "$(jq .threshold "$TMP/m1/config.json")" "the threshold is config.json's"
mpush det "$TMP/m1"
is "$STATUS $(jbody .version) $(jbody .deduplicated)" "200 1 true" "the same files again: deduplicated"
tar -C "$TMP" -cf "$TMP/m2.tar" m2
call POST "$M/det/versions" -H "Authorization: Bearer $BOB" -H 'Content-Type: application/x-tar' \
	--data-binary "@$TMP/m2.tar"
is "$STATUS $(jbody .version)" "201 2" "a tar of a model directory: version 2"

# Malformed models: refused 422 with the loader's message, nothing kept.
mkdir -p "$TMP/bad"
cp "$TMP/m1/model.onnx" "$TMP/bad/"
jq '.input_dim = 5' "$TMP/m1/config.json" >"$TMP/bad/config.json"
mpush det "$TMP/bad"
is_error 422 bad_model "a config that disagrees with the model is refused"
like "$(errmsg)" "dim|dimension|features|input" "... with the loader's message"
head -c 300 "$TMP/m1/model.onnx" >"$TMP/bad/model.onnx"
cp "$TMP/m1/config.json" "$TMP/bad/"
mpush fresh "$TMP/bad"
is_error 422 bad_model "a truncated model.onnx is refused"
api GET "$M/det/versions" "" "$BOB"
is "$STATUS $(jbody '.items | length')" "200 2" "nothing was kept: still 2 versions"
api GET "$M/fresh" "" "$BOB"
is "$STATUS" 404 "and no model 'fresh' was created"
is "$(dbq "SELECT COUNT(*) FROM model_versions")" 2 "two version rows in the store"
call POST "$M/det/versions" -H "Authorization: Bearer $BOB" -F "model.onnx=@$TMP/m1/model.onnx"
is_error 400 bad_request "config.json missing"
call POST "$M/det/versions" -H "Authorization: Bearer $BOB" -H 'Content-Type: text/plain' --data x
is "$STATUS" 415 "neither tar nor multipart: 415"

# Show, list, download.
api GET "$M/det" "" "$BOB"
is "$STATUS $(jbody .latest_version) $(jbody .versions) $(jbody .owner)" "200 2 2 bob" "show"
api GET "$M/det/versions/1" "" "$BOB"
is "$(jbody '.files[0].path') $(jbody '.files[0].sha256')" \
	"model.onnx $(sha256sum "$TMP/m1/model.onnx" | cut -d' ' -f1)" "a version lists its files"
ONNX_SHA=$(jbody '.files[0].sha256')
curl -s -H "Authorization: Bearer $BOB" -o "$TMP/dl.tar" "$URL$M/det/versions/1/content"
mkdir -p "$TMP/dl" && tar -C "$TMP/dl" -xf "$TMP/dl.tar"
cmp -s "$TMP/dl/model.onnx" "$TMP/m1/model.onnx" && cmp -s "$TMP/dl/config.json" "$TMP/m1/config.json"
ok $? "the content tar holds both files byte for byte"
SENTINEL_SERVER=$URL SENTINEL_TOKEN=$BOB "$S" model pull det@2 -o "$TMP/pulled" >/dev/null 2>"$TMP/pull.err"
ok $? "sentinel model pull"
cmp -s "$TMP/pulled/model.onnx" "$TMP/m2/model.onnx" && cmp -s "$TMP/pulled/config.json" "$TMP/m2/config.json"
ok $? "... writes version 2's files"

# Scores: the engine's, exactly.
awk -F, 'NR > 1' "$D/test.csv" >"$TMP/rows"
{ echo $COLS; cat "$TMP/rows"; } >"$TMP/rows.csv"
start_engine "$TMP/m1" --threads 1
"$S" produce --port "$EPORT" --file "$TMP/rows.csv" --window 1 --output "$TMP/ref" >/dev/null 2>&1
ok $? "the engine's scores for $(wc -l <"$TMP/rows") vectors"
stop_engine
jq -Rs '{vectors: [split("\n")[] | select(length > 0) | split(",") | map(tonumber)]}' "$TMP/rows" >"$TMP/vec.json"
call POST "$M/det/score?version=1" -H "Authorization: Bearer $BOB" -H 'Content-Type: application/json' \
	--data-binary "@$TMP/vec.json"
is "$STATUS $(jbody .version) $(jbody '.scores | length')" "200 1 240" "HTTP scoring of version 1"
# jq prints 17 digits, enough to read the float back; %.9g is the engine's form.
jbody '[.scores, .flags] | transpose[] | "\(.[0]) \(if .[1] then 1 else 0 end)"' |
	awk '{ printf "%.9g,%s\n", $1, $2 }' >"$TMP/got"
cmp -s "$TMP/ref" "$TMP/got"
ok $? "... scores and flags identical to the engine's"
[ "$(grep -c ',1$' "$TMP/got")" -gt 0 ] && [ "$(grep -c ',0$' "$TMP/got")" -gt 0 ]
ok $? "... with both normal and flagged rows"
SENTINEL_SERVER=$URL SENTINEL_TOKEN=$BOB "$S" model score det@1 --file "$TMP/rows.csv" >"$TMP/cli" 2>"$TMP/cli.err"
cmp -s "$TMP/ref" "$TMP/cli"
ok $? "sentinel model score prints the same lines"
api POST "$M/det/score" '{"vectors":[[1,2,3]]}' "$BOB"
is_error 400 bad_request "a vector of the wrong dimension"
api POST "$M/det/score" '{"vectors":[[1,2,3,4,5,6,7,"x"]]}' "$BOB"
is_error 400 bad_request "a value that is not a number"
api POST "$M/det/score" '{"vectors":[[1,2,3,4,5,6,7,1e39]]}' "$BOB"
is_error 400 bad_request "a value beyond a float"
jq -nc '{vectors: [range(10001) | [1,2,3,4,5,6,7,8]]}' >"$TMP/big.json"
call POST "$M/det/score" -H "Authorization: Bearer $BOB" -H 'Content-Type: application/json' \
	--data-binary "@$TMP/big.json"
is_error 400 bad_request "more than 10,000 vectors"
api POST "$M/det/score" '{"vectors":[]}' "$BOB"
is_error 400 bad_request "no vectors"

# Access.
api GET $M "" "$CAROL"
is "$STATUS $(jbody '.items | length')" "200 0" "another member does not list a private model"
api GET "$M/det" "" "$CAROL"
is "$STATUS" 404 "... nor sees it"
api POST "$M/det/score" '{"vectors":[[1,2,3,4,5,6,7,8]]}' "$CAROL"
is "$STATUS" 404 "... nor scores with it"
api GET "/api/v1/blobs/$ONNX_SHA" "" "$CAROL"
is "$STATUS" 404 "... nor reads its blobs"
api GET "/api/v1/blobs/$ONNX_SHA" "" "$BOB"
is "$STATUS" 200 "the owner reads its blobs"
mpush det "$TMP/m1" "$CAROL"
is "$STATUS" 404 "she cannot push to it either (404, as for a missing model: no oracle)"
api PATCH "$M/det" '{"public":true}' "$CAROL"
is "$STATUS" 404 "nor make it public"
api PATCH "$M/det" '{"public":true}' "$BOB"
is "$STATUS $(jbody .public)" "200 true" "the owner makes it public"
api GET "$M/det" "" "$CAROL"
is "$STATUS" 200 "then she sees it"
mpush det "$TMP/m1" "$CAROL"
is "$STATUS" 403 "but still may not push"

# The engine pulls a registered model.
: >"$TMP/engine.out"
"$S" engine --server "$URL" --token "$BOB" --model det@1 --listen 127.0.0.1:0 --threads 1 \
	>"$TMP/engine.out" 2>>"$TMP/engine.log" &
ENGINE_PID=$!
for _ in $(seq 1 200); do grep -q 'listening on' "$TMP/engine.out" && break; sleep 0.05; done
EPORT=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$TMP/engine.out")
"$S" produce --port "${EPORT:-1}" --file "$TMP/rows.csv" --window 1 --output "$TMP/ref2" >/dev/null 2>&1
cmp -s "$TMP/ref" "$TMP/ref2"
ok $? "sentinel engine --server URL --model det@1 scores as the local model"
stop_engine
"$S" engine --server "$URL" --token "$CAROL" --model nosuch@1 --listen 127.0.0.1:0 >/dev/null 2>"$TMP/e2.err"
is "$?" 1 "an unknown model: the engine exits 1"
san_clean "$TMP/engine.log" "no sanitizer report from the engines"
san_clean "$TMP/e2.err" "... nor from the refused one"

# Training as a job on a local node.
printf '%s\n' "$(head -n 1 "$D/train.csv" | cut -d, -f3-)" >"$TMP/t.csv"
awk -F, 'NR > 1 && NR <= 1001' "$D/train.csv" | cut -d, -f3- >>"$TMP/t.csv"
call POST "/api/v1/datasets/tdata/versions?filename=t.csv" -H "Authorization: Bearer $BOB" \
	-H 'Content-Type: text/csv' --data-binary "@$TMP/t.csv"
is "$STATUS" 201 "a dataset to train on"
TOKEN=$BOB start_claimed 1
ok $? "a node of bob's, online"
SENTINEL_SERVER=$URL SENTINEL_TOKEN=$BOB timeout 50 "$S" model train --dataset tdata@1 \
	--columns f0,f1,f2,f3 --name trained --hidden 4,2,4 --epochs 5 --batch 64 >"$TMP/mt.out" 2>"$TMP/mt.err"
is "$?" 0 "sentinel model train waits and succeeds"
like "$(cat "$TMP/mt.out")" "registered trained@1" "... registered as trained@1"
api GET "$M/trained/versions/1" "" "$BOB"
is "$STATUS $(jbody .dim) $(jbody '.features | join(",")') $(jbody .uploader)" "200 4 f0,f1,f2,f3 bob" \
	"the version: 4 features, owned by the job's owner"
JOB=$(jbody .job)
api GET "/api/v1/jobs/$JOB/artifacts" "" "$BOB"
is "$(jbody '[.items[].path] | sort | join(",")')" "config.json,model.onnx" "the job's artifacts are the model's files"
api GET "/api/v1/trainings/$JOB" "" "$CAROL"
is "$STATUS" 404 "another member does not see the training"
SENTINEL_SERVER=$URL SENTINEL_TOKEN=$BOB "$S" model train --dataset tdata@1 --columns nosuch \
	--name trained --no-wait >"$TMP/mt2.out" 2>&1
JOB2=$(cat "$TMP/mt2.out")
wait_for 30 bash -c "curl -s -H 'Authorization: Bearer $BOB' $URL/api/v1/trainings/$JOB2 | grep -q failed"
ok $? "a training on a missing column: the training is recorded as failed"
api GET "$M/trained" "" "$BOB"
is "$(jbody .versions)" 1 "... and no version was added"

api DELETE "$M/det/versions/2" "" "$CAROL"
is_error 403 forbidden "she cannot delete bob's (public) version"
api DELETE "$M/det/versions/2" "" "$BOB"
is "$STATUS" 200 "the owner deletes version 2"
api GET "$M/det/versions/2" "" "$BOB"
is "$STATUS" 404 "... it is gone"
api GET "$M/det/versions/latest" "" "$BOB"
is "$(jbody .version)" 1 "latest is 1 again"
finish
