#!/usr/bin/env bash
# Web console benchmark: a real `sentinel up` (server and local node) serving
# the built console, data seeded through the API, Debian's Chromium driven by
# playwright-core (bench/web/measure.mjs). One run; prints a table of
# measure, value, goal and whether it was met:
#   Overview first load     navigation start → the Overview's data on screen,
#                           median of 5 cold loads (new context, empty cache)
#   initial JS (gzip)       what index.html loads itself plus its modulepreloads
#   job log, 100,000 lines  longest task while /jobs/:id loads and scrolls it
#   chart, 100,000 samples  longest task while /monitoring draws and zooms it
# A page not built yet reads "n/a (page not built)".
#
#   bash bench/web.sh            (make bench runs it after building)
# Settings (environment):
#   SENTINEL_BIN      the binary (default ./sentinel; `make` is run when missing)
#   SENTINEL_WEB_DIR  the built console (default web/dist; `make` when missing)
#   CHROMIUM          the browser (default /usr/bin/chromium)
#   BENCH_LOADS       cold loads of the Overview (default 5)
#   BENCH_LOG_LINES, BENCH_SAMPLES   the seeded sizes (default 100000 each)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SENTINEL_BIN=${SENTINEL_BIN:-$ROOT/sentinel}
WEB_DIR=${SENTINEL_WEB_DIR:-$ROOT/web/dist}
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
ADMIN_PW=bench-admin-password

for tool in node curl; do
	command -v "$tool" >/dev/null || { echo "bench/web.sh: $tool not found" >&2; exit 1; }
done
[ -x "$CHROMIUM" ] || { echo "bench/web.sh: no browser at $CHROMIUM (apt-get install chromium)" >&2; exit 1; }
if [ ! -x "$SENTINEL_BIN" ] || [ ! -f "$WEB_DIR/index.html" ]; then
	echo "bench/web.sh: building (make)" >&2
	make -C "$ROOT" >/dev/null
fi
[ -x "$SENTINEL_BIN" ] || { echo "bench/web.sh: no $SENTINEL_BIN after make" >&2; exit 1; }
[ -f "$WEB_DIR/index.html" ] || { echo "bench/web.sh: no console in $WEB_DIR (make web needs Node.js)" >&2; exit 1; }
[ -d "$ROOT/web/node_modules/playwright-core" ] ||
	{ echo "bench/web.sh: no web/node_modules/playwright-core (make web installs it)" >&2; exit 1; }

DIR=$(mktemp -d "${TMPDIR:-/tmp}/sentinel-bench-web.XXXXXX")
SENTINEL_PID=
cleanup() {
	[ -n "$SENTINEL_PID" ] && kill "$SENTINEL_PID" 2>/dev/null && wait "$SENTINEL_PID" 2>/dev/null
	rm -rf "$DIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$SENTINEL_BIN" up --listen 127.0.0.1:0 --data "$DIR/data" --admin-password "$ADMIN_PW" \
	--web-dir "$WEB_DIR" --ready-file "$DIR/ready" --log-level warn >"$DIR/sentinel.out" 2>"$DIR/sentinel.log" &
SENTINEL_PID=$!
for _ in $(seq 1 200); do [ -s "$DIR/ready" ] && break; sleep 0.05; done
URL=$(cat "$DIR/ready" 2>/dev/null || true)
[ -n "$URL" ] || { echo "bench/web.sh: sentinel did not start:" >&2; cat "$DIR/sentinel.log" >&2; exit 1; }
for _ in $(seq 1 200); do
	[ "$(curl -s -o /dev/null -w '%{http_code}' "$URL/api/v1/health")" = 200 ] && break
	sleep 0.05
done

echo "# $("$SENTINEL_BIN" --version); $("$CHROMIUM" --version 2>/dev/null | head -1); $(nproc) CPUs; console from $WEB_DIR"
CHROMIUM=$CHROMIUM node "$ROOT/bench/web/measure.mjs" "$URL" "$ADMIN_PW" "$WEB_DIR" >"$DIR/rows.tsv"

printf '\n%-52s %-24s %-10s %s\n' measure value goal met
printf '%-52s %-24s %-10s %s\n' "----------------------------------------------------" "------------------------" "----------" "---"
while IFS=$'\t' read -r name value goal met; do
	printf '%-52s %-24s %-10s %s\n' "$name" "$value" "$goal" "$met"
done <"$DIR/rows.tsv"

if grep -Eq 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$DIR/sentinel.log"; then
	echo "bench/web.sh: sanitizer report in the server log" >&2
	exit 1
fi
