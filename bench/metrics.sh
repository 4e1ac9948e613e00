#!/usr/bin/env bash
# Metrics benchmark (issue 11): Sentinel against VictoriaMetrics (Debian's
# victoria-metrics), both on loopback with their own temporary storage, fed
# the same generated data: 50 agents x 10 metrics, tags model and host.
#   (a) one sample per request, wrk -t2 -c64: requests/s, p50 and p99
#       (Sentinel: JSON to POST /api/v1/metrics with a metrics:write token,
#       on its main port and on its --ingest-listen event loop;
#       VictoriaMetrics: the same sample as an Influx line to /write)
#   (b) batches of 1,000 and 10,000 samples, Influx line protocol to both
#       (POST /api/v1/metrics/write, both Sentinel listeners, and /write):
#       samples/s
#   (c) a range query over 4M samples (50 series, one a second) with
#       1-minute buckets, uncached (VictoriaMetrics: query_range of
#       avg_over_time(q_lat[1m]) with nocache=1; Sentinel:
#       /api/v1/metrics/query?metric=q_lat&step=60s&agg=avg): median of 50
#   (d) bytes on disk per sample of that data set: VictoriaMetrics after
#       /internal/force_flush, du of its storage; Sentinel stopped gracefully
#       (it flushes), du of DATA/metrics
# Then checks that both stored every sample (counts by query), and prints
# one table with the ratios and the goals: (a), (b) >= 1.5x VictoriaMetrics,
# (a) p99 < 10 ms, (c) <= VictoriaMetrics, (d) <= 1.5 B/sample; beside (a)
# the disk's synced-write latency and the bound it sets on 64 connections
# that each wait for a sync (Sentinel acknowledges only durable samples).
#
#   bash bench/metrics.sh             a full run (about 5 minutes)
#   BENCH_QUICK=1 bash bench/metrics.sh   a smoke run (under a minute)
# Settings: SENTINEL_BIN (default ./sentinel), BENCH_DURATION (seconds per
# wrk run; 10, quick 3), BENCH_SERIES_SAMPLES (samples per series of the
# query set; 80000, quick 4000).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SENTINEL_BIN=${SENTINEL_BIN:-$ROOT/sentinel}
QUICK=${BENCH_QUICK:-0}
if [ "$QUICK" = 1 ]; then
	DURATION=${BENCH_DURATION:-3}
	PER_SERIES=${BENCH_SERIES_SAMPLES:-4000}
	QUERIES=10
else
	DURATION=${BENCH_DURATION:-10}
	PER_SERIES=${BENCH_SERIES_SAMPLES:-80000}
	QUERIES=50
fi
ADMIN_PW=bench-admin-password
VM_BIN=/usr/bin/victoria-metrics

bash "$ROOT/scripts/deps.sh" --bench
for tool in wrk curl jq python3; do
	command -v "$tool" >/dev/null ||
		{ echo "bench/metrics.sh: $tool not found (run: bash scripts/deps.sh --bench)" >&2; exit 1; }
done
[ -x "$VM_BIN" ] || { echo "bench/metrics.sh: no $VM_BIN (run: bash scripts/deps.sh --bench)" >&2; exit 1; }
[ -x "$SENTINEL_BIN" ] || { echo "bench/metrics.sh: no $SENTINEL_BIN: run make first" >&2; exit 1; }

DIR=$(mktemp -d "${TMPDIR:-/tmp}/sentinel-bench-metrics.XXXXXX")
SENTINEL_PID= VM_PID=
cleanup() {
	[ -n "$SENTINEL_PID" ] && kill "$SENTINEL_PID" 2>/dev/null && wait "$SENTINEL_PID" 2>/dev/null
	[ -n "$VM_PID" ] && kill "$VM_PID" 2>/dev/null && wait "$VM_PID" 2>/dev/null
	rm -rf "$DIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
say() { echo "# $*" >&2; }

free_port() {
	local p
	for _ in $(seq 1 200); do
		p=$((20000 + RANDOM % 40000))
		[ -z "$(ss -Htln "sport = :$p" 2>/dev/null)" ] && { echo "$p"; return; }
	done
	echo "bench/metrics.sh: no free port" >&2
	exit 1
}
wait_http() { # wait_http URL: up to 20 s for a 2xx
	for _ in $(seq 1 400); do
		case "$(curl -s -o /dev/null -w '%{http_code}' "$1" 2>/dev/null)" in 2*) return 0 ;; esac
		sleep 0.05
	done
	echo "bench/metrics.sh: $1 did not answer" >&2
	return 1
}

# ---- the servers ----
IPORT=$(free_port)
IURL="http://127.0.0.1:$IPORT"
start_sentinel() {
	rm -f "$DIR/ready"
	SENTINEL_ADMIN_PASSWORD=$ADMIN_PW "$SENTINEL_BIN" server --listen 127.0.0.1:0 --data "$DIR/data" \
		--ingest-listen "127.0.0.1:$IPORT" --ready-file "$DIR/ready" --log-level warn \
		>>"$DIR/sentinel.out" 2>>"$DIR/sentinel.log" &
	SENTINEL_PID=$!
	for _ in $(seq 1 400); do [ -s "$DIR/ready" ] && break; sleep 0.05; done
	SURL=$(cat "$DIR/ready" 2>/dev/null || true)
	[ -n "$SURL" ] || { echo "bench/metrics.sh: sentinel did not start:" >&2; cat "$DIR/sentinel.log" >&2; exit 1; }
	wait_http "$SURL/api/v1/health"
	wait_http "$IURL/api/v1/health"
}
stop_sentinel() { # graceful: the metrics store flushes on SIGTERM
	kill -TERM "$SENTINEL_PID"
	wait "$SENTINEL_PID" || { echo "bench/metrics.sh: sentinel exited with $?" >&2; exit 1; }
	SENTINEL_PID=
}
start_sentinel
ADMIN=$(curl -s -X POST -H 'Content-Type: application/json' \
	--data "{\"username\":\"admin\",\"password\":\"$ADMIN_PW\"}" "$SURL/api/v1/auth/login" | jq -r .token)
[ -n "$ADMIN" ] && [ "$ADMIN" != null ] || { echo "bench/metrics.sh: login failed" >&2; exit 1; }
INGEST=$(curl -s -X POST -H "Authorization: Bearer $ADMIN" -H 'Content-Type: application/json' \
	--data '{"name":"bench","scope":"metrics:write"}' "$SURL/api/v1/tokens" | jq -r .token)
[ -n "$INGEST" ] && [ "$INGEST" != null ] || { echo "bench/metrics.sh: no ingest token" >&2; exit 1; }

VPORT=$(free_port)
VURL="http://127.0.0.1:$VPORT"
# -influxSkipSingleField: an Influx line's only field "value" names the
# metric by its measurement, as Sentinel does; latencyOffset 0: a query
# sees what was just written; retention 1y keeps the data set.
"$VM_BIN" -storageDataPath="$DIR/vm" -httpListenAddr="127.0.0.1:$VPORT" -retentionPeriod=1y \
	-influxSkipSingleField -search.latencyOffset=0s -search.disableCache -loggerLevel=ERROR \
	>"$DIR/vm.log" 2>&1 &
VM_PID=$!
wait_http "$VURL/health"
say "$("$SENTINEL_BIN" --version); VictoriaMetrics $(dpkg-query -W -f '${Version}' victoria-metrics 2>/dev/null); $(nproc) CPUs"

# ---- (c) and (d): the query data set ----
END_MS=$((($(date +%s) - 120) * 1000))
FROM_MS=$((END_MS - PER_SERIES * 1000))
say "loading $((PER_SERIES * 50)) samples (50 series) into both"
read -r LOADED LOAD_S LOAD_V < <(python3 "$ROOT/bench/metrics_load.py" "$SURL" "$INGEST" "$VURL" "$PER_SERIES" "$END_MS")
say "loaded $LOADED samples: sentinel ${LOAD_S}s, victoria-metrics ${LOAD_V}s"
curl -s "$VURL/internal/force_flush" >/dev/null

# Medians of QUERIES timed requests (curl's own time, from the request to
# the last byte); the answers must hold 50 series.
median() { sort -n | awk '{ v[NR] = $1 } END { m = int((NR + 1) / 2); printf "%.2f", v[m] * 1000 }'; }
QS="metric=q_lat&from=$FROM_MS&to=$((END_MS + 1000))&step=60s&agg=avg"
VQ="query=avg_over_time(q_lat%5B1m%5D)&start=$((FROM_MS / 1000))&end=$((END_MS / 1000 + 1))&step=60s&nocache=1"
curl -s -H "Authorization: Bearer $ADMIN" "$SURL/api/v1/metrics/query?$QS" >"$DIR/sq.json"
curl -s "$VURL/api/v1/query_range?$VQ" >"$DIR/vq.json"
S_SERIES=$(jq '.series | length' "$DIR/sq.json")
V_SERIES=$(jq '.data.result | length' "$DIR/vq.json")
S_POINTS=$(jq '[.series[].points | length] | add' "$DIR/sq.json")
V_POINTS=$(jq '[.data.result[].values | length] | add' "$DIR/vq.json")
say "query answers: sentinel $S_SERIES series, $S_POINTS points; victoria-metrics $V_SERIES series, $V_POINTS points"
for _ in $(seq 1 "$QUERIES"); do
	curl -s -o /dev/null -w '%{time_total}\n' -H "Authorization: Bearer $ADMIN" "$SURL/api/v1/metrics/query?$QS"
done | median >"$DIR/c_s"
for _ in $(seq 1 "$QUERIES"); do
	curl -s -o /dev/null -w '%{time_total}\n' "$VURL/api/v1/query_range?$VQ"
done | median >"$DIR/c_v"

# Stored counts of a metric set: Sentinel by count buckets of an hour over
# the whole range, VictoriaMetrics by count_over_time over two days.
count_sentinel() { # METRIC...
	local n=0 m c
	for m in "$@"; do
		c=$(curl -s -H "Authorization: Bearer $ADMIN" \
			"$SURL/api/v1/metrics/query?metric=$m&from=$((FROM_MS - 3600000))&to=$(($(date +%s) * 1000 + 60000))&step=1h&agg=count" |
			jq '[.series[].points[][1]] | add // 0')
		n=$((n + ${c%.*}))
	done
	echo "$n"
}
count_vm() { # REGEX
	curl -sG --data-urlencode "query=sum(count_over_time({__name__=~\"$1\"}[2d]))" \
		--data-urlencode "time=$(($(date +%s) + 60))" --data-urlencode nocache=1 \
		"$VURL/api/v1/query" | jq -r '.data.result[0].value[1] // "0"'
}
Q_S=$(count_sentinel q_lat)
Q_V=$(count_vm q_lat)

# (d): VictoriaMetrics flushed; Sentinel stopped gracefully, then started
# again on the same data for the ingest runs.
curl -s "$VURL/internal/force_flush" >/dev/null
sleep 1
D_V=$(du -sb "$DIR/vm" | cut -f1)
stop_sentinel
D_S=$(du -sb "$DIR/data/metrics" | cut -f1)
start_sentinel

# ---- (a) and (b): wrk ----
to_ms() {
	awk -v v="$1" 'BEGIN {
		n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
		if (u == "us") n /= 1000; else if (u == "s") n *= 1000; else if (u == "m") n *= 60000
		printf "%.2f", n }'
}
# run NAME CONNS SCRIPT URL ARGS...: a 2 s warm-up, then DURATION seconds;
# sets RPS_, P50_, P99_, REQ_ (requests of both runs, answered 2xx), ERR_.
run() {
	local name=$1 conns=$2 script=$3 url=$4 f=$DIR/wrk-$1.txt w=$DIR/wrk-$1-warm.txt
	shift 4
	wrk -t2 -c"$conns" -d2s -s "$script" "$url" -- "$@" >"$w" 2>&1 || { cat "$w" >&2; exit 1; }
	wrk -t2 -c"$conns" -d"${DURATION}s" --latency -s "$script" "$url" -- "$@" >"$f" 2>&1 ||
		{ cat "$f" >&2; exit 1; }
	local errs req
	errs=$(cat "$w" "$f" | awk '/Non-2xx or 3xx responses:/ {n += $NF} /Socket errors:/ {
		for (i = 1; i <= NF; i++) if ($i ~ /^[0-9]+,?$/) n += $i } END {print n + 0}')
	req=$(cat "$w" "$f" | awk '/requests in/ {n += $1} END {print n + 0}')
	printf -v "RPS_$name" '%s' "$(awk '/^Requests\/sec:/ {print $2}' "$f")"
	printf -v "P50_$name" '%s' "$(to_ms "$(awk '$1 == "50%" {print $2}' "$f")")"
	printf -v "P99_$name" '%s' "$(to_ms "$(awk '$1 == "99%" {print $2}' "$f")")"
	printf -v "REQ_$name" '%s' "$((req - errs))"
	printf -v "ERR_$name" '%s' "$errs"
}
# What durability costs here: a synced 4 KiB write (dd oflag=dsync over a
# preallocated file in the data directory's file system), median of 5
# runs of 50. With 64 closed-loop connections and each request waiting
# for one sync, 64 / latency bounds (a)'s requests/s (VictoriaMetrics
# acknowledges before its data is synced).
sync_ms() {
	local f=$DIR/dsync.probe t0 t1
	fallocate -l 1M "$f" 2>/dev/null || dd if=/dev/zero of="$f" bs=1M count=1 2>/dev/null
	for _ in 1 2 3 4 5; do
		t0=$(date +%s%N)
		dd if=/dev/zero of="$f" bs=4k count=50 oflag=dsync conv=notrunc 2>/dev/null
		t1=$(date +%s%N)
		echo $(((t1 - t0) / 50))
	done | sort -n | awk '{ v[NR] = $1 } END { printf "%.2f", v[3] / 1e6 }'
	rm -f "$f"
}
SYNC_MS=$(sync_ms)
SYNC_BOUND=$(awk -v l="$SYNC_MS" 'BEGIN { printf "%.0f", (l > 0) ? 64000 / l : 0 }')
say "synced 4 KiB write: $SYNC_MS ms; 64 connections, one sync each: <= $SYNC_BOUND requests/s"
say "(a) one sample per request: wrk -t2 -c64 -d${DURATION}s"
run a_s 64 "$ROOT/bench/metrics_single.lua" "$SURL" sentinel "$INGEST"
run a_i 64 "$ROOT/bench/metrics_single.lua" "$IURL" sentinel "$INGEST"
run a_v 64 "$ROOT/bench/metrics_single.lua" "$VURL" vm
for size in 1000 10000; do
	say "(b) batches of $size samples: wrk -t2 -c8 -d${DURATION}s"
	run "b${size}_s" 8 "$ROOT/bench/metrics_batch.lua" "$SURL" "$size" sentinel "$INGEST"
	run "b${size}_i" 8 "$ROOT/bench/metrics_batch.lua" "$IURL" "$size" sentinel "$INGEST"
	run "b${size}_v" 8 "$ROOT/bench/metrics_batch.lua" "$VURL" "$size" vm
done
curl -s "$VURL/internal/force_flush" >/dev/null
sleep 1

# ---- every sample stored? ----
SM=$(printf 's_m%d ' $(seq 0 9))
BM=$(printf 'b_m%d ' $(seq 0 9))
A_S=$(count_sentinel $SM)
A_V=$(count_vm 's_m[0-9]')
B_S=$(count_sentinel $BM)
B_V=$(count_vm 'b_m[0-9]')
B_SENT_S=$(((REQ_b1000_s + REQ_b1000_i) * 1000 + (REQ_b10000_s + REQ_b10000_i) * 10000))
B_SENT_V=$((REQ_b1000_v * 1000 + REQ_b10000_v * 10000))
# Every acknowledged (2xx) sample must be there. Requests whose answer wrk
# did not see (cut off at the end of a run: one per connection, or timed
# out: counted as errors) may be stored too: at most that many more.
A_ACK_S=$((REQ_a_s + REQ_a_i))
A_MAX_S=$((A_ACK_S + ERR_a_s + ERR_a_i + 4 * 64)) A_MAX_V=$((REQ_a_v + ERR_a_v + 2 * 64))
B_MAX_S=$((B_SENT_S + (ERR_b1000_s + ERR_b1000_i + 32) * 1000 + (ERR_b10000_s + ERR_b10000_i + 32) * 10000))
B_MAX_V=$((B_SENT_V + (ERR_b1000_v + 16) * 1000 + (ERR_b10000_v + 16) * 10000))
stored() { # GOT ACKNOWLEDGED MAX
	if [ "$1" -ge "$2" ] && [ "$1" -le "$3" ]; then echo "yes"; else echo "NO"; fi
}

# ---- the table ----
r() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
ge() { awk -v a="$1" -v b="$2" 'BEGIN { print (a >= b) ? "yes" : "NO" }'; }
le() { awk -v a="$1" -v b="$2" 'BEGIN { print (a <= b) ? "yes" : "NO" }'; }
sps() { awk -v r="$1" -v n="$2" 'BEGIN { printf "%.0f", r * n }'; }
S1=$(sps "$RPS_b1000_s" 1000) V1=$(sps "$RPS_b1000_v" 1000)
S2=$(sps "$RPS_b10000_s" 10000) V2=$(sps "$RPS_b10000_v" 10000)
I1=$(sps "$RPS_b1000_i" 1000) I2=$(sps "$RPS_b10000_i" 10000)
BPS_S=$(awk -v b="$D_S" -v n="$Q_S" 'BEGIN { printf "%.2f", n ? b / n : 0 }')
BPS_V=$(awk -v b="$D_V" -v n="$Q_V" 'BEGIN { printf "%.2f", n ? b / n : 0 }')
C_S=$(cat "$DIR/c_s") C_V=$(cat "$DIR/c_v")

echo
printf '%-36s %14s %14s %8s  %-20s %s\n' measure sentinel victoria-metrics ratio goal met
printf '%-36s %14s %14s %8s  %-20s %s\n' "------------------------------------" "------------" "----------------" "------" "--------------------" "---"
row() { printf '%-36s %14s %14s %8s  %-20s %s\n' "$@"; }
row "(a) 1 sample/request: requests/s" "$(printf %.0f "$RPS_a_i")" "$(printf %.0f "$RPS_a_v")" \
	"$(r "$RPS_a_i" "$RPS_a_v")" ">= 1.5x VM" "$(ge "$(r "$RPS_a_i" "$RPS_a_v")" 1.5)"
row "(a) p50 ms" "$P50_a_i" "$P50_a_v" "$(r "$P50_a_i" "$P50_a_v")" "" ""
row "(a) p99 ms" "$P99_a_i" "$P99_a_v" "$(r "$P99_a_i" "$P99_a_v")" "< 10 ms" \
	"$(awk -v a="$P99_a_i" 'BEGIN { print (a < 10) ? "yes" : "NO" }')"
row "(a) main port: requests/s" "$(printf %.0f "$RPS_a_s")" "$(printf %.0f "$RPS_a_v")" \
	"$(r "$RPS_a_s" "$RPS_a_v")" "(for comparison)" ""
row "(a) main port: p50 ms" "$P50_a_s" "$P50_a_v" "$(r "$P50_a_s" "$P50_a_v")" "" ""
row "(a) main port: p99 ms" "$P99_a_s" "$P99_a_v" "$(r "$P99_a_s" "$P99_a_v")" "< 10 ms" \
	"$(awk -v a="$P99_a_s" 'BEGIN { print (a < 10) ? "yes" : "NO" }')"
row "(b) batches of 1,000: samples/s" "$S1" "$V1" "$(r "$S1" "$V1")" ">= 1.5x VM" "$(ge "$(r "$S1" "$V1")" 1.5)"
row "(b) batches of 10,000: samples/s" "$S2" "$V2" "$(r "$S2" "$V2")" ">= 1.5x VM" "$(ge "$(r "$S2" "$V2")" 1.5)"
row "(b) 1,000, ingest listener" "$I1" "$V1" "$(r "$I1" "$V1")" ">= 1.5x VM" "$(ge "$(r "$I1" "$V1")" 1.5)"
row "(b) 10,000, ingest listener" "$I2" "$V2" "$(r "$I2" "$V2")" ">= 1.5x VM" "$(ge "$(r "$I2" "$V2")" 1.5)"
row "(c) range query, 1m buckets: ms" "$C_S" "$C_V" "$(r "$C_S" "$C_V")" "<= VM" "$(le "$C_S" "$C_V")"
row "(d) bytes on disk per sample" "$BPS_S" "$BPS_V" "$(r "$BPS_S" "$BPS_V")" "<= 1.5 B" "$(le "$BPS_S" 1.5)"
echo
echo "(a) is measured on --ingest-listen, the listener for agents that push one sample per request" \
	"(an event loop, no thread per connection); the main port, a thread per connection serving" \
	"every route, is shown for comparison"
echo "(a) durable acknowledgement: a synced 4 KiB write takes $SYNC_MS ms on this disk (dd oflag=dsync," \
	"median), so 64 closed-loop connections waiting one sync each reach at most 64 / $SYNC_MS ms =" \
	"$SYNC_BOUND requests/s; VictoriaMetrics acknowledges before syncing"
echo "(c) over $Q_S samples in $S_SERIES series (victoria-metrics: $Q_V in $V_SERIES), median of $QUERIES;" \
	"(d) du: sentinel $D_S B of DATA/metrics, victoria-metrics $D_V B of its storage"
printf '%-36s %14s %14s\n' "stored every sample" "sentinel" "victoria-metrics"
printf '%-36s %14s %14s\n' "  query set ($LOADED sent)" "$(stored "$Q_S" "$LOADED" "$LOADED") $Q_S" \
	"$(stored "$Q_V" "$LOADED" "$LOADED") $Q_V"
printf '%-36s %14s %14s\n' "  (a) (acknowledged: $A_ACK_S / $REQ_a_v)" "$(stored "$A_S" "$A_ACK_S" "$A_MAX_S") $A_S" \
	"$(stored "$A_V" "$REQ_a_v" "$A_MAX_V") $A_V"
printf '%-36s %14s %14s\n' "  (b) (acknowledged: $B_SENT_S / $B_SENT_V)" "$(stored "$B_S" "$B_SENT_S" "$B_MAX_S") $B_S" \
	"$(stored "$B_V" "$B_SENT_V" "$B_MAX_V") $B_V"
echo "errors (non-2xx, socket) sentinel/ingest listener/victoria-metrics: a $ERR_a_s/$ERR_a_i/$ERR_a_v," \
	"b1000 $ERR_b1000_s/$ERR_b1000_i/$ERR_b1000_v, b10000 $ERR_b10000_s/$ERR_b10000_i/$ERR_b10000_v;" \
	"load average $(cut -d' ' -f1-3 /proc/loadavg)"
grep -H -E 'Non-2xx|Socket errors' "$DIR"/wrk-*.txt 2>/dev/null | sed "s|^$DIR/||" || true

if grep -Eq 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$DIR/sentinel.log"; then
	echo "bench/metrics.sh: sanitizer report in the server log" >&2
	exit 1
fi
