#!/usr/bin/env bash
# sentinel train: learns (validation loss falls), flags planted anomalies
# through the engine (precision and recall >= 0.9), is deterministic,
# writes a model onnx.checker accepts, and refuses bad data by name.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/../ml/engine_lib.sh"
D=$TMP/data
/usr/bin/python3 "$(dirname "$0")/../ml/make_data.py" "$D"
ok $? "synthetic data generated"
COLS=f0,f1,f2,f3,f4,f5,f6,f7
train() { "$SENTINEL_BIN" train --data "$D/train.csv" --columns $COLS --hidden 6,2,6 \
	--epochs 60 --batch 32 --lr 3e-3 "$@"; }

train --out "$TMP/m1" >"$TMP/train1.out" 2>"$TMP/train1.err"
ok $? "train exits 0"
san_clean "$TMP/train1.err" "no sanitizer report from train"
first=$(sed -n 's/^epoch *1\/.*val_loss \([0-9.e+-]*\).*/\1/p' "$TMP/train1.out")
best=$(sed -n 's/.*"val_loss": \([0-9.e+-]*\).*/\1/p' "$TMP/m1/config.json")
ok "$(awk -v a="$first" -v b="$best" 'BEGIN { exit !(b > 0 && b < a / 5) }'; echo $?)" \
	"validation loss falls: epoch 1 $first -> best $best"
for k in features mean std threshold quantile input_dim layers train_loss format_version model_sha256; do
	like "$(cat "$TMP/m1/config.json")" "\"$k\":" "config.json has $k"
done
like "$(tr -d ' \n' <"$TMP/m1/config.json")" '"layers":\[8,6,2,6,8\]' "config.json lists the layer sizes"

# same seed, same data: the same bytes; another seed: other bytes
train --out "$TMP/m2" >/dev/null 2>&1
cmp -s "$TMP/m1/model.onnx" "$TMP/m2/model.onnx" && cmp -s "$TMP/m1/config.json" "$TMP/m2/config.json"
ok $? "same seed and data give bit-identical model.onnx and config.json"
train --seed 2 --out "$TMP/m3" >/dev/null 2>&1
cmp -s "$TMP/m1/model.onnx" "$TMP/m3/model.onnx"
isnt $? 0 "another seed gives another model"

out=$(/usr/bin/python3 -c 'import onnx, sys
m = onnx.load(sys.argv[1]); onnx.checker.check_model(m, full_check=True)
print("opset", m.opset_import[0].version, "ops", ",".join(n.op_type for n in m.graph.node))' "$TMP/m1/model.onnx" 2>&1)
ok $? "onnx.checker.check_model accepts model.onnx ($out)"
like "$out" "opset (1[3-9])" "opset 13 or later"

# planted anomalies through the engine
start_engine "$TMP/m1"
"$SENTINEL_BIN" produce --port "$EPORT" --file "$D/test.csv" --output "$TMP/scores" >"$TMP/p.out" 2>&1
ok $? "producer sends the test rows"
pr=$(paste -d, "$D/labels.txt" "$TMP/scores" | awk -F, '
	{ tp += ($1 == 1 && $3 == 1); fp += ($1 == 0 && $3 == 1); fn += ($1 == 1 && $3 == 0) }
	END { p = tp + fp ? tp / (tp + fp) : 0; r = tp + fn ? tp / (tp + fn) : 0; printf "%.3f %.3f\n", p, r }')
ok "$(awk -v s="$pr" 'BEGIN { split(s, a, " "); exit !(a[1] >= 0.9 && a[2] >= 0.9) }'; echo $?)" \
	"precision and recall >= 0.9 on planted anomalies (got $pr)"
stop_engine
is "$ENGINE_RC" 0 "engine stops cleanly"

# bad input: clear errors naming column and row
bad() { # DESC REGEX CSV-CONTENT [train flags]
	local desc=$1 re=$2 content=$3
	shift 3
	printf '%b' "$content" >"$TMP/bad.csv"
	"$SENTINEL_BIN" train --data "$TMP/bad.csv" --out "$TMP/bad" --epochs 1 "$@" >/dev/null 2>"$TMP/bad.err"
	local rc=$?
	isnt "$rc" 0 "$desc: exit status"
	like "$(cat "$TMP/bad.err")" "$re" "$desc: message"
}
rows=$(awk 'BEGIN { for (i = 1; i <= 20; i++) printf "%d,%d,%d\\n", i, i * 2 % 7, i % 5 }')
bad "non-numeric value" "row 3 \(line 4\), column 'b': 'x' is not a number" "a,b,c\n1,2,3\n4,5,6\n7,x,9\n$rows"
bad "missing value" "row 2 \(line 3\), column 'c': missing value" "a,b,c\n1,2,3\n4,5,\n$rows"
bad "ragged row" "row 2 \(line 3\): 2 fields, the header has 3" "a,b,c\n1,2,3\n4,5\n$rows"
bad "too few rows" "too few rows: 3 data rows, need at least 10" "a,b\n1,2\n3,1\n2,7\n"
bad "constant column" "column 'k' is constant" "$(printf 'a,k,b\\n'; awk 'BEGIN { for (i = 1; i <= 20; i++) printf "%d,5,%d\\n", i, i % 3 }')"
bad "unknown column" "column 'zz' not found" "a,b\n1,2\n" --columns a,zz
bad "non-finite value" "column 'a': 'inf' is not a finite number" "a,b\n1,2\ninf,3\n$rows"
bad "unterminated quote" "row 1 \(line 2\), column 2: unterminated quoted field" 'a,b\n1,"2\n'
bad "invalid UTF-8 in a skipped column" "row 2 \(line 3\), column 3: invalid UTF-8" "a,b,s\n1,2,x\n3,4,\xff\n$rows" --columns a,b
"$SENTINEL_BIN" train --data "$TMP/nope.csv" --out "$TMP/x" >/dev/null 2>"$TMP/bad.err"
like "$(cat "$TMP/bad.err")" "nope.csv: No such file" "missing data file is named"
"$SENTINEL_BIN" train --data "$D/train.csv" --out "$TMP/x" --hidden 4,0 >/dev/null 2>"$TMP/bad.err"
is $? 2 "bad --hidden is a usage error"
"$SENTINEL_BIN" train --data "$D/train.csv" --out "$TMP/x" --hidden 4, >/dev/null 2>"$TMP/bad.err"
is $? 2 "a trailing comma in --hidden is a usage error, not a shorter list"
"$SENTINEL_BIN" train --data "$D/train.csv" --out "$TMP/x" --epochs 1 >/dev/null 2>"$TMP/bad.err"
like "$(cat "$TMP/bad.err")" "column 'host': 'node-0' is not a number" "text column without --columns is named"

# the engine refuses a model directory whose files disagree or are missing
engine_refuses() { # DESC REGEX DIR
	timeout 20 "$SENTINEL_BIN" engine --model "$3" --listen 127.0.0.1:0 >/dev/null 2>"$TMP/eng.err"
	local rc=$?
	ok "$([ $rc -ne 0 ] && [ $rc -ne 124 ]; echo $?)" "$1: engine refuses to start"
	like "$(cat "$TMP/eng.err")" "$2" "$1: message"
}
mkdir -p "$TMP/mix" && cp "$TMP/m1/config.json" "$TMP/mix/" && cp "$TMP/m3/model.onnx" "$TMP/mix/"
engine_refuses "config.json of another model" "config.json and model.onnx disagree.*sha256" "$TMP/mix"
mkdir -p "$TMP/dim" && cp "$TMP/m1/model.onnx" "$TMP/dim/" &&
	sed -e 's/"model_sha256": "[0-9a-f]*",\{0,1\}//' -e 's/"f7"/"f7", "f8"/' \
		-e 's/"input_dim": 8/"input_dim": 9/' -e 's/"layers": \[/"layersX": [/' \
		-e 's/"mean": \[/"mean": [0.0, /' -e 's/"std": \[/"std": [1.0, /' "$TMP/m1/config.json" >"$TMP/dim/config.json"
engine_refuses "9 features for an 8-input model" "disagree: config.json lists 9 features, model.onnx takes 8" "$TMP/dim"
mkdir -p "$TMP/nomodel" && cp "$TMP/m1/config.json" "$TMP/nomodel/"
engine_refuses "missing model.onnx" "model.onnx: No such file" "$TMP/nomodel"
mkdir -p "$TMP/noconf" && cp "$TMP/m1/model.onnx" "$TMP/noconf/"
engine_refuses "missing config.json" "config.json: No such file" "$TMP/noconf"
san_clean "$TMP/engine.log" "no sanitizer reports in the engine log"
done_testing
