#!/usr/bin/env bash
# Anomaly engine benchmark: Sentinel vs PyTorch (Debian's python3-torch) on
# the same machine, one thread each, for two ReLU autoencoders:
# inference samples/s at batch 1 and 1024, training samples/s (Adam, batch
# 256); then the engine's throughput over TCP with the producer.
# BENCH_SECONDS (default 2) per measurement; ENGINE_VECTORS (default 3M).
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${BENCH_SECONDS:-2}
NVEC=${ENGINE_VECTORS:-3000000}
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
make -s all build/libsentinel.a >/dev/null
W=$(mktemp -d)
ENGINE_PID=
trap '[ -n "$ENGINE_PID" ] && kill "$ENGINE_PID" 2>/dev/null; rm -rf "$W"' EXIT
PKGS=$(sed -n 's/^PKGS *:= *//p' Makefile)
LAZY=$(sed -n 's/^PKGS_LAZY *:= *//p' Makefile)
# shellcheck disable=SC2046,SC2086
cc -std=gnu17 -O2 -g -D_GNU_SOURCE -Isrc -Ibuild/gen -pthread $(pkg-config --cflags $PKGS $LAZY) \
	-o "$W/ml_bench" bench/ml_bench.c build/libsentinel.a $(pkg-config --libs $PKGS) -pthread -lm -ldl

echo "== BLAS"
echo "sentinel: $(pkg-config --libs openblas) ($(readlink -f "$(pkg-config --variable=libdir openblas)/libopenblas.so.0"))"
/usr/bin/python3 - <<'PY'
import re
import torch
cfg = torch.__config__.show()
info = ", ".join(re.findall(r"(?:BLAS_INFO|LAPACK_INFO|USE_MKLDNN)=[^,]*", cfg))
torch.mm(torch.rand(64, 64), torch.rand(64, 64))
libs = sorted({l.split()[-1] for l in open("/proc/self/maps") if "blas" in l.lower() and "/" in l})
print("torch %s (%s) loaded: %s" % (torch.__version__, info, ", ".join(libs)))
PY
echo "libblas.so.3 -> $(readlink -f /usr/lib/x86_64-linux-gnu/libblas.so.3)"
case "$(readlink -f /usr/lib/x86_64-linux-gnu/libblas.so.3)" in
*openblas*) ;;
*) echo "WARNING: libblas.so.3 is not OpenBLAS: torch is not on the fair peer BLAS (install libopenblas0)";;
esac

declare -A S T
upd() { # ARRAY KEY VALUE: keep the best of the rounds
	local -n arr=$1
	if [ -z "${arr[$2]:-}" ] || awk -v a="$3" -v b="${arr[$2]}" 'BEGIN { exit !(a > b) }'; then arr[$2]=$3; fi
}
# Rounds alternate Sentinel and PyTorch so that load from other processes
# hits both alike; each figure is the best of the rounds.
for round in 1 2; do
	for arch in 32,16,8,16,32 128,64,32,64,128; do
		dir=""
		[ "$arch" = 32,16,8,16,32 ] && dir="$W/model32"
		while read -r k v; do upd S "$arch.$k" "$v"; done < <("$W/ml_bench" "$arch" "$SECS" $dir)
		while read -r k v; do upd T "$arch.$k" "$v"; done < <(/usr/bin/python3 bench/ml_torch.py "$arch" "$SECS")
	done
done
echo
echo "== samples/s, one thread (higher is better)"
printf '%-18s %-14s %14s %14s %9s  %s\n' model measure sentinel pytorch ratio goal
for arch in 32,16,8,16,32 128,64,32,64,128; do
	for k in infer_b1 infer_b1024 train_b256; do
		goal=">=1x"
		[ "$k" = infer_b1 ] && goal=">=20x"
		awk -v a="${arch//,/-}" -v k="$k" -v s="${S[$arch.$k]}" -v t="${T[$arch.$k]}" -v g="$goal" \
			'BEGIN { printf "%-18s %-14s %14.0f %14.0f %8.1fx  %s\n", a, k, s, t, s / t, g }'
	done
done

echo
echo "== engine over loopback TCP (model 32-16-8-16-32, $(getconf _NPROCESSORS_ONLN) CPUs shared by engine and producer)"
./sentinel engine --model "$W/model32" --listen 127.0.0.1:0 --log-level warn >"$W/engine.out" 2>&1 &
ENGINE_PID=$!
for _ in $(seq 1 100); do grep -q 'listening on' "$W/engine.out" && break; sleep 0.05; done
port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$W/engine.out")
./sentinel produce --port "$port" --random "$NVEC" --model "$W/model32" --connections 4 | tee "$W/produce.out"
kill "$ENGINE_PID"
wait "$ENGINE_PID" 2>/dev/null || true
ENGINE_PID=
awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^vectors\/s/) v = $(i - 1) }
	END { printf "engine: %s vectors/s (goal >= 500000)\n", v }' "$W/produce.out"
