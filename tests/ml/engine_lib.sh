# Helpers of the t4xx tests (source after tests/integration/lib.sh).
#   start_engine DIR [flags...]  starts `sentinel engine` on a free port;
#                                sets EPORT and ENGINE_PID; log $TMP/engine.log
#   stop_engine                  SIGTERM, wait; ENGINE_RC; sanitizer reports in
#                                the log count as a failed check
#   san_clean FILE DESC          one check: no sanitizer report in FILE
ENGINE_PID=
EPORT=
ENGINE_RC=

start_engine() {
	local dir=$1
	shift
	: >"$TMP/engine.out"
	"$SENTINEL_BIN" engine --model "$dir" --listen 127.0.0.1:0 "$@" \
		>"$TMP/engine.out" 2>>"$TMP/engine.log" &
	ENGINE_PID=$!
	for _ in $(seq 1 400); do
		grep -q 'listening on' "$TMP/engine.out" 2>/dev/null && break
		kill -0 "$ENGINE_PID" 2>/dev/null || break
		sleep 0.05
	done
	EPORT=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$TMP/engine.out")
	if [ -z "$EPORT" ]; then
		echo "Bail out! engine did not start"
		tail -n 20 "$TMP/engine.log" >&2
		exit 1
	fi
}

stop_engine() {
	[ -n "$ENGINE_PID" ] || return 0
	kill -TERM "$ENGINE_PID" 2>/dev/null
	wait "$ENGINE_PID" 2>/dev/null
	ENGINE_RC=$?
	ENGINE_PID=
}

san_clean() {
	local n
	n=$(grep -Ec -- "$SANITIZER_RE" "$1" 2>/dev/null)
	is "${n:-0}" 0 "$2"
	[ "${n:-0}" -eq 0 ] || grep -E -A12 -- "$SANITIZER_RE" "$1" | head -n 40 | sed 's/^/#   /'
}

engine_cleanup() {
	[ -n "$ENGINE_PID" ] && kill -9 "$ENGINE_PID" 2>/dev/null
	cleanup
}
trap engine_cleanup EXIT

# max_rel_diff EXPECTED GOT: largest |got-want|/max(|want|,1e-30) over the
# first CSV column of two files of equal length (prints "len-mismatch" else).
max_rel_diff() {
	awk -F, 'NR==FNR { w[FNR] = $1; n = FNR; next }
		{ g = $1 + 0; e = w[FNR] + 0; d = g - e; if (d < 0) d = -d;
		  a = e < 0 ? -e : e; if (a < 1e-30) a = 1e-30; r = d / a; if (r > m) m = r; k = FNR }
		END { if (k != n) print "len-mismatch"; else printf "%.3g\n", m + 0 }' "$1" "$2"
}
