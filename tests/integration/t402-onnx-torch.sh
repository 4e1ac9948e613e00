#!/usr/bin/env bash
# Models exported by PyTorch (torch.onnx.export) load in the engine, and
# the engine's scores equal torch's within 1e-5 relative, for two
# architectures, on the dense fast path and on the graph interpreter.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/../ml/engine_lib.sh"

/usr/bin/python3 "$(dirname "$0")/../ml/torch_export.py" "$TMP/torch" >"$TMP/torch.log" 2>&1
rc=$?
ok $rc "torch trains and exports two autoencoders"
[ $rc -eq 0 ] || { sed 's/^/#   /' "$TMP/torch.log" | tail -20; done_testing; }

check_arch() { # ARCH KIND [engine flags]
	local arch=$1 kind=$2
	shift 2
	start_engine "$TMP/torch/$arch" "$@"
	like "$(cat "$TMP/engine.out")" "12|16 features, $kind" "model $arch loads as $kind $*"
	"$SENTINEL_BIN" produce --port "$EPORT" --file "$TMP/torch/$arch/test.csv" \
		--output "$TMP/scores.$arch" --connections 2 >"$TMP/produce.out" 2>&1
	ok $? "producer scores model $arch's test rows"
	like "$(cat "$TMP/produce.out")" "sent 200, replies 200, anomalies [0-9]+, errors 0" "200 replies, no errors"
	local d
	d=$(max_rel_diff "$TMP/torch/$arch/expected.txt" "$TMP/scores.$arch")
	ok "$(awk -v d="$d" 'BEGIN { exit !(d != "len-mismatch" && d + 0 <= 1e-5) }'; echo $?)" \
		"model $arch $*: scores equal torch's within 1e-5 relative (max $d)"
	# is_anomaly is score > threshold (torch's scores, config.json's threshold)
	local th want got
	th=$(sed -n 's/.*"threshold": *\([^,}]*\).*/\1/p' "$TMP/torch/$arch/config.json")
	want=$(awk -v t="$th" '{ print ($1 + 0 > t + 0) ? 1 : 0 }' "$TMP/torch/$arch/expected.txt" | tr -d '\n')
	got=$(cut -d, -f2 "$TMP/scores.$arch" | tr -d '\n')
	is "$got" "$want" "model $arch: is_anomaly = score > threshold, row by row"
	like "$got" "1" "model $arch: some rows are anomalies"
	stop_engine
	is "$ENGINE_RC" 0 "engine exits 0 on SIGTERM"
}

check_arch a dense
check_arch a graph --interpret
check_arch b graph
san_clean "$TMP/engine.log" "no sanitizer reports in the engine log"
done_testing
