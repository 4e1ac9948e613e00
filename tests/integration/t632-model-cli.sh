#!/usr/bin/env bash
# The model and detector CLI against a real server: model push (new,
# unchanged, --json, refusals), ls, show (text and --json, bad specs),
# pull (files byte for byte, refusals), score (the server's scores, in the
# engine's 9-digit form; --json; missing and bad files), rm (a version,
# the model; another member refused); detector create / ls / show /
# replay / anomalies / rm, with a planted anomaly found exactly where it
# was planted; model pull against a mock server that answers wrongly
# (a missing file, an unexpected file, a blob that does not match its
# sha256, a blob that is gone, an answer that is not JSON).
. "$(dirname "$0")/lib.sh"
S=$SENTINEL_BIN

# Three correlated columns: a model of dimension 3.
awk 'BEGIN { srand(3); print "a,b,c"
	for (i = 0; i < 600; i++) { z = sin(i / 7.0); printf "%.5f,%.5f,%.5f\n", z + rand() * 0.05,
		2 * z + rand() * 0.05, 1 - z + rand() * 0.05 } }' >"$TMP/train.csv"
"$S" train --data "$TMP/train.csv" --hidden 4,2,4 --epochs 6 --batch 64 --out "$TMP/m" \
	--quiet >/dev/null 2>"$TMP/train.err"
ok $? "a model of 3 features trained by sentinel train"
# A wide margin: normal rows score far below it, a planted row far above.
jq '.threshold = 50' "$TMP/m/config.json" >"$TMP/c.json" && mv "$TMP/c.json" "$TMP/m/config.json"

start_server
TOKEN=$(login admin adminpass123)
mkuser bob bobpass1234 member
mkuser carol carolpass1234 member
BOB=$(login bob bobpass1234)
CAROL=$(login carol carolpass1234)
sn() { SENTINEL_SERVER=$URL SENTINEL_TOKEN=$BOB "$S" "$@"; }
sc() { SENTINEL_SERVER=$URL SENTINEL_TOKEN=$CAROL "$S" "$@"; }

# ---- push ----
out=$(sn model push "$TMP/m" --name det 2>&1)
is "$? $out" "0 pushed det@1" "model push: version 1"
out=$(sn model push "$TMP/m" --name det 2>&1)
is "$? $out" "0 unchanged: det@1" "the same files again: unchanged"
out=$(sn model push "$TMP/m" --name det --json)
is "$? $(jq -r '"\(.version) \(.deduplicated) \(.dim)"' <<<"$out")" "0 1 true 3" "push --json: the server's answer"
out=$(sn model push "$TMP/m" 2>&1)
is "$? $out" "2 sentinel model push: --name is required" "push without --name: exit 2"
mkdir -p "$TMP/empty"
out=$(sn model push "$TMP/empty" --name det 2>&1)
is "$?" 2 "push of a directory without the files: exit 2"
like "$out" "must hold model.onnx and config.json" "... saying what it needs"
mkdir -p "$TMP/bad" && cp "$TMP/m/config.json" "$TMP/bad/" && head -c 100 "$TMP/m/model.onnx" >"$TMP/bad/model.onnx"
out=$(sn model push "$TMP/bad" --name det 2>&1)
is "$?" 1 "push of a truncated model: exit 1"
like "$out" '^sentinel model push: bad_model: .*\(HTTP 422\)$' "... with the server's error"
out=$(SENTINEL_SERVER=http://127.0.0.1:1 SENTINEL_TOKEN=x "$S" model push "$TMP/m" --name det 2>&1)
is "$?" 1 "push to a server that is not there: exit 1"
like "$out" "cannot reach the server" "... saying so"
cp -r "$TMP/m" "$TMP/m2"
jq '.threshold = 60' "$TMP/m2/config.json" >"$TMP/c.json" && mv "$TMP/c.json" "$TMP/m2/config.json"
out=$(sn model push "$TMP/m2" --name det 2>&1)
is "$? $out" "0 pushed det@2" "another config: version 2"

# ---- ls, show ----
out=$(sn model ls)
is "$(awk 'NR == 2 { print $1, $2, $3, $4, $5 }' <<<"$out")" "det bob 2 2 false" "model ls: name owner latest versions public"
is "$(sc model ls --json | jq '.items | length')" 0 "carol lists no model"
out=$(sn model show det)
is "$(head -n 1 <<<"$out")" "model det@2" "show: the latest version"
is "$(awk '$1 == "dim" { print $2 } $1 == "threshold" { print $2 } $1 == "features" { print $2 }' <<<"$out" | paste -sd' ')" \
	'3 60 ["a","b","c"]' "... its dim, threshold and features"
is "$(sn model show det@1 --json | jq -r '"\(.version) \(.threshold) \(.uploader)"')" "1 50 bob" "show det@1 --json"
out=$(sn model show @1 2>&1)
is "$? $out" "2 sentinel model show: '@1' is not NAME[@VERSION]" "show @1: exit 2"
out=$(sn model show det@ 2>&1)
is "$?" 2 "show det@: exit 2"
out=$(sn model show det@9 2>&1)
is "$?" 1 "show of a version that does not exist: exit 1"
like "$out" '\(HTTP 404\)$' "... the server's 404"
out=$(sc model show det 2>&1)
is "$?" 1 "carol cannot show bob's private model"

# ---- pull ----
out=$(sn model pull det@1 2>&1)
is "$? $out" "2 sentinel model pull: -o DIR is required" "pull without -o: exit 2"
out=$(sn model pull det@1 -o "$TMP/p1")
is "$? $out" "0 wrote $TMP/p1/model.onnx and config.json (det@1)" "pull det@1 -o DIR: the name once, with its version"
cmp -s "$TMP/p1/model.onnx" "$TMP/m/model.onnx" && cmp -s "$TMP/p1/config.json" "$TMP/m/config.json"
ok $? "... both files byte for byte"
out=$(sn model pull det --output "$TMP/p2")
is "$? $out" "0 wrote $TMP/p2/model.onnx and config.json (det@2)" "pull det --output DIR: the latest version"
cmp -s "$TMP/p2/config.json" "$TMP/m2/config.json"
ok $? "... its config byte for byte"
out=$(sn model pull 'no/such' -o "$TMP/p3" 2>&1)
is "$?" 2 "pull of an invalid name: exit 2"
like "$out" "is not NAME\[@VERSION\]" "... saying so"
out=$(sn model pull nosuch -o "$TMP/p3" 2>&1)
is "$?" 1 "pull of a missing model: exit 1"
like "$out" '\(HTTP 404\)' "... with the server's status"
: >"$TMP/afile"
out=$(sn model pull det -o "$TMP/afile/sub" 2>&1)
is "$?" 1 "pull into a path under a file: exit 1"
like "$out" "afile/sub" "... naming the directory"

# ---- score ----
awk 'BEGIN { srand(9); print "a,b,c"
	for (i = 0; i < 20; i++) { z = sin(i / 3.0); printf "%.5f,%.5f,%.5f\n", z, 2 * z, 1 - z }
	print "40,-40,40" }' >"$TMP/rows.csv"
jq -Rs '{vectors: [split("\n")[1:][] | select(length > 0) | split(",") | map(tonumber)]}' \
	"$TMP/rows.csv" >"$TMP/vec.json"
call POST "/api/v1/models/det/score?version=1" -H "Authorization: Bearer $BOB" \
	-H 'Content-Type: application/json' --data-binary "@$TMP/vec.json"
is "$STATUS $(jbody '.scores | length')" "200 21" "the server scores 21 rows"
jbody '[.scores, .flags] | transpose[] | "\(.[0]) \(if .[1] then 1 else 0 end)"' |
	awk '{ printf "%.9g,%s\n", $1, $2 }' >"$TMP/ref"
is "$(tail -n 1 "$TMP/ref" | cut -d, -f2) $(grep -c ',0$' "$TMP/ref")" "1 20" "... the planted last row alone is flagged"
sn model score det@1 --file "$TMP/rows.csv" >"$TMP/got" 2>"$TMP/score.err"
ok $? "model score det@1 --file"
cmp -s "$TMP/ref" "$TMP/got"
ok $? "... prints the server's score,flag lines"
out=$(sn model score det --file "$TMP/rows.csv" --json)
is "$(jq '.scores | length' <<<"$out") $(jq -r '.flags[20]' <<<"$out")" "21 true" "score det (latest) --json"
cut -d, -f1,2 "$TMP/rows.csv" >"$TMP/two.csv"
out=$(sn model score det --file "$TMP/two.csv" 2>&1)
is "$?" 1 "score of 2 columns for a model of 3: exit 1"
like "$out" '\(HTTP 400\)' "... the server's 400"
out=$(sn model score det --file "$TMP/rows.csv" --columns a,zz 2>&1)
is "$?" 1 "score with a column the CSV lacks: exit 1"
like "$out" "rows.csv: .*zz" "... naming the column"
out=$(sn model score det --file "$TMP/nosuch.csv" 2>&1)
is "$?" 1 "score of a missing file: exit 1"
like "$out" "nosuch.csv: No such file" "... saying so"
out=$(sn model score det 2>&1)
is "$? $out" "2 sentinel model score: --file is required" "score without --file: exit 2"
out=$(sn model score @ --file "$TMP/rows.csv" 2>&1)
is "$?" 2 "score of '@': exit 2"

# ---- train: the refusals before any request ----
out=$(sn model train --name x 2>&1)
is "$? $out" "2 sentinel model train: --dataset and --name are required" "train without --dataset: exit 2"
out=$(sn model train --dataset d@1 --name x --epochs many 2>&1)
is "$? $out" "2 sentinel model train: --epochs: 'many' is not a number" "train --epochs many: exit 2"
out=$(sn model train --dataset nosuch@1 --name x --lr 0.01 --val-fraction 0.25 --hidden 4,2,4 \
	--activation tanh --columns a,b --no-wait 2>&1)
is "$?" 1 "train on a missing dataset: exit 1 (the server refuses the job)"
like "$out" '\(HTTP 4[0-9][0-9]\)' "... with the server's error"

# ---- detectors ----
NOW=$(date +%s%3N)
B0=$(( (NOW / 60000 - 8) * 60000 ))
PLANT=$(( B0 + 4 * 60000 ))
samples=
for k in 0 1 2 3 4 5; do
	t=$(( B0 + k * 60000 + 1000 ))
	if [ "$k" = 4 ]; then va=40 vb=-40 vc=40; else va=0.5 vb=1 vc=0.5; fi
	samples+="{\"agent\":\"bot\",\"metric\":\"a\",\"value\":$va,\"ts\":$t},"
	samples+="{\"agent\":\"bot\",\"metric\":\"b\",\"value\":$vb,\"ts\":$t},"
	samples+="{\"agent\":\"bot\",\"metric\":\"c\",\"value\":$vc,\"ts\":$t},"
done
api POST /api/v1/metrics "{\"samples\":[${samples%,}]}" "$BOB"
is "$STATUS $(jbody .accepted)" "200 18" "18 samples of agent bot, 6 one-minute buckets"
out=$(sn detector create --model det@1 --agent bot 2>&1)
is "$? $out" "2 sentinel detector create: --model, --agent and --features are required" \
	"detector create without --features: exit 2"
out=$(sn detector create --model det@1 --agent bot --features a,b 2>&1)
is "$?" 1 "2 features for a model of 3: exit 1"
like "$out" '^sentinel detector create: invalid: .*\(HTTP 422\)$' "... the server's 422"
DET=$(sn detector create --model det@1 --agent bot --features a,b,c:avg --step 1m)
is "$?" 0 "detector create"
like "$DET" '^[A-Za-z0-9_-]+$' "... prints the detector's id"
out=$(sn detector create --model det@1 --agent bot --features a,b,c --json)
is "$(jq -r '"\(.model) \(.version) \(.step_ms) \(.features | length)"' <<<"$out")" "det 1 60000 3" \
	"detector create --json (default step 1m)"
DET2=$(jq -r .id <<<"$out")
out=$(sn detector ls)
is "$(grep -c -e "^$DET " -e "^$DET2 " <<<"$out")" 2 "detector ls: both"
is "$(sn detector ls --limit 1 --json | jq '.items | length')" 1 "detector ls --limit 1"
is "$(sn detector show "$DET" | jq -r '"\(.agent) \(.features | join(","))"')" "bot a,b,c:avg" "detector show"
out=$(sc detector show "$DET" 2>&1)
is "$?" 1 "carol cannot show bob's detector"
out=$(sn detector replay "$DET" --from "$B0" --to "$(( B0 + 6 * 60000 ))")
is "$(jq -r '"\(.buckets) \(.scored) \(.anomalies)"' <<<"$out")" "6 6 1" \
	"replay of 6 buckets: all scored, one anomaly"
out=$(sn detector anomalies "$DET" --from "$B0" --to now --json)
is "$(jq -r '[.items[].ts] | join(",")' <<<"$out")" "$PLANT" "anomalies --json: the planted bucket alone"
out=$(sn detector anomalies "$DET" --from 1h)
is "$(awk 'NR == 1 { print $1, $2, $3 }' <<<"$out") $(wc -l <<<"$out")" "TIME SCORE THRESHOLD 2" \
	"anomalies as a table: the header and one row"
like "$(sed -n 2p <<<"$out")" "^[^ ]+ +[0-9.]+ +50(\.0)?$" "... with the score and the threshold"
out=$(sn detector anomalies "$DET" --from yesterday 2>&1)
is "$?" 1 "anomalies --from yesterday: exit 1"
like "$out" '\(HTTP 400\)' "... the server's 400"
out=$(sn detector rm "$DET2")
is "$? $out" "0 removed" "detector rm"
out=$(sn detector show "$DET2" 2>&1)
is "$?" 1 "... it is gone"

# ---- rm ----
out=$(sc model rm det@2 2>&1)
is "$?" 1 "carol cannot remove bob's version"
out=$(sn model rm det@2)
is "$? $out" "0 removed det@2" "model rm det@2"
is "$(sn model show det --json | jq .version)" 1 "... latest is 1 again"
out=$(sn model rm det --json)
is "$?" 0 "model rm det --json"
out=$(sn model show det 2>&1)
is "$?" 1 "... the model is gone"
out=$("$S" model bogus 2>&1)
is "$?" 2 "model bogus: exit 2"
out=$("$S" detector 2>&1)
is "$?" 2 "detector without a word: exit 2"

# ---- model pull against a server that answers wrongly ----
cat >"$TMP/mock.py" <<'PY'
import hashlib, json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
GOOD = b"good bytes\n"
SHA = hashlib.sha256(GOOD).hexdigest()
BAD = hashlib.sha256(b"other").hexdigest()
GONE = "0" * 64
def ver(files):
    return {"model": "m", "version": 1, "files": [{"path": p, "sha256": s} for p, s in files]}
VERS = {
    "one": ver([("config.json", SHA)]),
    "odd": ver([("model.onnx", SHA), ("../x", SHA)]),
    "tampered": ver([("model.onnx", BAD), ("config.json", SHA)]),
    "gone": ver([("model.onnx", GONE), ("config.json", SHA)]),
}
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def reply(self, code, b, ctype="application/json"):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(b)))
        self.end_headers()
        self.wfile.write(b)
    def do_GET(self):
        p = self.path.split("/")
        if self.path.startswith("/api/v1/models/") and p[4] in VERS:
            return self.reply(200, json.dumps(VERS[p[4]]).encode())
        if self.path.startswith("/api/v1/models/notjson/"):
            return self.reply(200, b"<html>", "text/html")
        if self.path in ("/api/v1/blobs/" + SHA, "/api/v1/blobs/" + BAD):
            return self.reply(200, GOOD, "application/octet-stream")
        self.reply(404, b'{"error":{"code":"not_found","message":"no such blob"}}')
srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
print(srv.server_address[1], flush=True)
srv.serve_forever()
PY
python3 "$TMP/mock.py" >"$TMP/mock.port" 2>"$TMP/mock.log" &
MOCK_PID=$!
for _ in $(seq 1 100); do [ -s "$TMP/mock.port" ] && break; sleep 0.05; done
mp() { "$S" model pull "$1" -o "$TMP/mk-$1" --server "http://127.0.0.1:$(cat "$TMP/mock.port")/" --token x 2>&1; }
out=$(mp one)
is "$?" 1 "mock: a version of one file: exit 1"
like "$out" "lists 1 files, not model.onnx and config.json" "... saying so"
out=$(mp odd)
is "$?" 1 "mock: a version listing '../x': exit 1"
like "$out" "the server lists an unexpected file" "... refused"
is "$(find "$TMP/mk-odd" -name x | wc -l)" 0 "... and nothing written outside"
out=$(mp tampered)
is "$?" 1 "mock: a blob that does not match its sha256: exit 1"
like "$out" "model.onnx: the download does not match its sha256" "... saying so"
is "$(find "$TMP/mk-tampered" -type f | wc -l)" 0 "... and no file is left"
out=$(mp gone)
is "$?" 1 "mock: a blob that is gone: exit 1"
like "$out" "no such blob \(HTTP 404\)" "... with the server's message"
out=$(mp notjson)
is "$?" 1 "mock: a version answer that is not JSON: exit 1"
like "$out" "not JSON" "... saying so"
kill "$MOCK_PID" 2>/dev/null
wait "$MOCK_PID" 2>/dev/null
done_testing
