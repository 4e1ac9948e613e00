#!/usr/bin/env bash
# Anomaly detection quality on the Numenta Anomaly Benchmark: `sentinel
# detect` streams each of NAB's 58 series (probation min(0.15 n, 750), as
# NAB's), then bench/nab_score.py computes the NAB score on the standard
# profile with the threshold optimised over the corpus, beside the published
# scores. One process at a time (the detector is single-threaded).
#   NAB_DIR      the NAB checkout (default ../shared/data/nab; data/ and labels/)
#   SENTINEL_BIN the binary (default: ./sentinel, built by make)
#   DETECT_ARGS  extra options for `sentinel detect` (e.g. "--window 12")
#   NAB_KEEP     a directory to keep the results in (default: a temporary one)
set -euo pipefail
cd "$(dirname "$0")/.."
NAB=${NAB_DIR:-../shared/data/nab}
PY=/usr/bin/python3 # Debian's, with numpy
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
[ -d "$NAB/data" ] && [ -r "$NAB/labels/combined_windows.json" ] ||
	{ echo "nab.sh: no NAB corpus in $NAB (set NAB_DIR)" >&2; exit 2; }
if [ -z "${SENTINEL_BIN:-}" ]; then
	make -s all >/dev/null
	SENTINEL_BIN=./sentinel
fi
OUT=${NAB_KEEP:-$(mktemp -d)}
[ -n "${NAB_KEEP:-}" ] || trap 'rm -rf "$OUT"' EXIT

"$PY" bench/nab_score.py "$NAB" "$OUT" --self-test

samples=0
t0=$(date +%s.%N)
c0=$(awk '{print $14 + $15 + $16 + $17}' /proc/$$/stat) # this shell's and its waited children's ticks
for f in $(cd "$NAB/data" && find . -name '*.csv' | sort); do
	f=${f#./}
	n=$(($(wc -l <"$NAB/data/$f") - 1))
	p=$(( n * 15 / 100 < 750 ? n * 15 / 100 : 750 ))
	mkdir -p "$OUT/$(dirname "$f")"
	# shellcheck disable=SC2086
	"$SENTINEL_BIN" detect --probation "$p" ${DETECT_ARGS:-} <"$NAB/data/$f" >"$OUT/$f"
	samples=$((samples + n))
done
c1=$(awk '{print $14 + $15 + $16 + $17}' /proc/$$/stat)
t1=$(date +%s.%N)
hz=$(getconf CLK_TCK)
cpu=$(awk -v a="$c0" -v b="$c1" -v hz="$hz" 'BEGIN { printf "%.2f", (b - a) / hz }')
wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
us=$(awk -v c="$cpu" -v n="$samples" 'BEGIN { printf "%.1f", c * 1e6 / n }')

score=$("$PY" bench/nab_score.py "$NAB" "$OUT" ${NAB_SCORE_ARGS:-})
echo "$score" | grep -v '^score '
ours=$(echo "$score" | sed -n 's/^score //p')
echo
echo "NAB score, standard profile (A_TP 1, A_FP -0.11, A_FN -1), threshold optimised over the corpus"
printf '%-28s %6s\n' detector score
{
	printf '%s|%s|\n' 74.9 "ARTime" 70.1 "Numenta HTM" 69.9 "CAD OSE" 58.0 "KNN CAD" \
		51.7 "random-cut forest" 39.7 "windowed Gaussian"
	printf '%s|%s|  <- %s samples, %s s CPU, %s us/sample, %s s wall\n' "$ours" "Sentinel detect" \
		"$samples" "$cpu" "$us" "$wall"
} | sort -t'|' -k1,1gr | awk -F'|' '{ printf "%-28s %6s%s\n", $2, $1, $3 }'
