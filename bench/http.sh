#!/usr/bin/env bash
# HTTP benchmark: wrk on loopback against sentinel's /api/v1/health (public),
# two authenticated GETs with a Bearer token and, in the same run, Debian's
# nginx serving a small static file of the same size as the health answer.
# Prints requests/s, p99 latency and the ratios to nginx and to /health.
#   /api/v1/auth/token  answered from what the auth hook verified: the cost
#                       of authentication itself (goal: >= 0.8x /health)
#   /api/v1/me          its handler also reads the user and its groups from
#                       the store
#
#   bash bench/http.sh            (make bench runs it after building)
# Settings (environment):
#   SENTINEL_BIN     the binary (default ./sentinel, the release build)
#   BENCH_DURATION   seconds per target (default 10), after a 2 s warm-up
#   BENCH_THREADS    wrk threads (default 2)
#   BENCH_CONNS      wrk connections (default 32)
# Both servers log only warnings (no per-request access log) so that the
# comparison is of request handling, not of logging.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SENTINEL_BIN=${SENTINEL_BIN:-$ROOT/sentinel}
DURATION=${BENCH_DURATION:-10}
THREADS=${BENCH_THREADS:-2}
CONNS=${BENCH_CONNS:-32}
ADMIN_PW=bench-admin-password

bash "$ROOT/scripts/deps.sh" --bench
for tool in wrk nginx curl jq; do
	command -v "$tool" >/dev/null || [ -x "/usr/sbin/$tool" ] ||
		{ echo "bench/http.sh: $tool not found (run: bash scripts/deps.sh --bench)" >&2; exit 1; }
done
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
[ -x "$SENTINEL_BIN" ] || { echo "bench/http.sh: no $SENTINEL_BIN: run make first" >&2; exit 1; }

DIR=$(mktemp -d "${TMPDIR:-/tmp}/sentinel-bench.XXXXXX")
SENTINEL_PID= NGINX_PID=
cleanup() {
	[ -n "$SENTINEL_PID" ] && kill "$SENTINEL_PID" 2>/dev/null && wait "$SENTINEL_PID" 2>/dev/null
	[ -n "$NGINX_PID" ] && kill -QUIT "$NGINX_PID" 2>/dev/null && wait "$NGINX_PID" 2>/dev/null
	rm -rf "$DIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A free TCP port on 127.0.0.1 for nginx (sentinel takes :0 and says where).
free_port() {
	local p
	for _ in $(seq 1 200); do
		p=$((20000 + RANDOM % 40000))
		[ -z "$(ss -Htln "sport = :$p" 2>/dev/null)" ] && { echo "$p"; return; }
	done
	echo "bench/http.sh: no free port" >&2
	exit 1
}

wait_http() { # wait_http URL: up to 10 s for a 200
	for _ in $(seq 1 200); do
		[ "$(curl -s -o /dev/null -w '%{http_code}' "$1" 2>/dev/null)" = 200 ] && return 0
		sleep 0.05
	done
	echo "bench/http.sh: $1 did not answer" >&2
	return 1
}

# ---- sentinel ----
SENTINEL_ADMIN_PASSWORD=$ADMIN_PW "$SENTINEL_BIN" server --listen 127.0.0.1:0 --data "$DIR/data" \
	--ready-file "$DIR/ready" --log-level warn >"$DIR/sentinel.out" 2>"$DIR/sentinel.log" &
SENTINEL_PID=$!
for _ in $(seq 1 200); do [ -s "$DIR/ready" ] && break; sleep 0.05; done
SURL=$(cat "$DIR/ready" 2>/dev/null || true)
[ -n "$SURL" ] || { echo "bench/http.sh: sentinel did not start:" >&2; cat "$DIR/sentinel.log" >&2; exit 1; }
wait_http "$SURL/api/v1/health"
TOKEN=$(curl -s -X POST -H 'Content-Type: application/json' \
	--data "{\"username\":\"admin\",\"password\":\"$ADMIN_PW\"}" "$SURL/api/v1/auth/login" | jq -r .token)
[ -n "$TOKEN" ] && [ "$TOKEN" != null ] || { echo "bench/http.sh: login failed" >&2; exit 1; }
[ "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" "$SURL/api/v1/me")" = 200 ] &&
	[ "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" "$SURL/api/v1/auth/token")" = 200 ] ||
	{ echo "bench/http.sh: the token does not work" >&2; exit 1; }
cat >"$DIR/auth.lua" <<EOF
wrk.headers["Authorization"] = "Bearer $TOKEN"
EOF

# ---- nginx: its own minimal config, master in the foreground (backgrounded here) ----
NPORT=$(free_port)
mkdir -p "$DIR/www" "$DIR/nginx-tmp"
curl -s "$SURL/api/v1/health" >"$DIR/www/health.json"   # the same bytes as sentinel's answer
# Workers drop to an unprivileged user when started as root: let them read.
chmod 755 "$DIR" "$DIR/www"
chmod 644 "$DIR/www/health.json"
cat >"$DIR/nginx.conf" <<EOF
worker_processes 2;
daemon off;
master_process on;
pid $DIR/nginx.pid;
error_log $DIR/nginx-error.log warn;
events { worker_connections 1024; }
http {
	access_log off;
	default_type application/json;
	keepalive_requests 100000;
	client_body_temp_path $DIR/nginx-tmp/body;
	proxy_temp_path $DIR/nginx-tmp/proxy;
	fastcgi_temp_path $DIR/nginx-tmp/fastcgi;
	uwsgi_temp_path $DIR/nginx-tmp/uwsgi;
	scgi_temp_path $DIR/nginx-tmp/scgi;
	server {
		listen 127.0.0.1:$NPORT;
		root $DIR/www;
		location / { }
	}
}
EOF
"$NGINX" -p "$DIR" -c "$DIR/nginx.conf" -e "$DIR/nginx-error.log" >"$DIR/nginx.out" 2>&1 &
NGINX_PID=$!
NURL="http://127.0.0.1:$NPORT"
wait_http "$NURL/health.json" || { cat "$DIR/nginx-error.log" "$DIR/nginx.out" >&2; exit 1; }

# ---- wrk ----
# to_ms VALUE: wrk's latency (e.g. 812.00us, 1.20ms, 1.05s) in milliseconds.
to_ms() {
	awk -v v="$1" 'BEGIN {
		n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
		if (u == "us") n /= 1000; else if (u == "s") n *= 1000; else if (u == "m") n *= 60000
		printf "%.3f", n }'
}
# run NAME URL [wrk args...]: warm-up, then the measured run; sets RPS_<NAME>, P99_<NAME>, ERR_<NAME>.
run() {
	local name=$1 url=$2
	shift 2
	wrk -t"$THREADS" -c"$CONNS" -d2s "$@" "$url" >/dev/null 2>&1 || true
	wrk -t"$THREADS" -c"$CONNS" -d"${DURATION}s" --latency "$@" "$url" >"$DIR/wrk-$name.txt" 2>&1 ||
		{ cat "$DIR/wrk-$name.txt" >&2; exit 1; }
	local rps p99 errs
	rps=$(awk '/^Requests\/sec:/ {print $2}' "$DIR/wrk-$name.txt")
	p99=$(awk '$1 == "99%" {print $2}' "$DIR/wrk-$name.txt")
	errs=$(awk '/Non-2xx or 3xx responses:/ {n += $NF} /Socket errors:/ {
		for (i = 1; i <= NF; i++) if ($i ~ /^[0-9]+,?$/) n += $i } END {print n + 0}' "$DIR/wrk-$name.txt")
	printf -v "RPS_$name" '%s' "${rps:-0}"
	printf -v "P99_$name" '%s' "$(to_ms "${p99:-0}")"
	printf -v "ERR_$name" '%s' "$errs"
}

SIZE=$(stat -c %s "$DIR/www/health.json")
echo "# wrk -t$THREADS -c$CONNS -d${DURATION}s --latency on loopback; $(nproc) CPUs; $("$SENTINEL_BIN" --version); $("$NGINX" -v 2>&1 | sed 's/.*: //') (2 workers)"
run nginx "$NURL/health.json"
run health "$SURL/api/v1/health"
run auth "$SURL/api/v1/auth/token" -s "$DIR/auth.lua"
run me "$SURL/api/v1/me" -s "$DIR/auth.lua"

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
printf '\n%-40s %12s %10s %9s %10s %8s\n' target "requests/s" "p99 ms" "vs nginx" "vs health" errors
printf '%-40s %12s %10s %9s %10s %8s\n' "----------------------------------------" "----------" "------" \
	"--------" "---------" "------"
row() { # row LABEL NAME
	local rps p99 err
	rps=RPS_$2 p99=P99_$2 err=ERR_$2
	printf '%-40s %12.0f %10s %9s %10s %8s\n' "$1" "${!rps}" "${!p99}" \
		"$(ratio "${!rps}" "$RPS_nginx")" "$(ratio "${!rps}" "$RPS_health")" "${!err}"
}
row "nginx static file ($SIZE B)" nginx
row "sentinel GET /api/v1/health" health
row "sentinel GET /api/v1/auth/token (Bearer)" auth
row "sentinel GET /api/v1/me (Bearer, store)" me

# The answers must have been real: errors (non-2xx, socket errors) are reported
# above, and a bench with errors fails.
if grep -Eq 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$DIR/sentinel.log"; then
	echo "bench/http.sh: sanitizer report in the server log" >&2
	exit 1
fi
[ "$ERR_nginx$ERR_health$ERR_auth$ERR_me" = 0000 ] || { echo "bench/http.sh: some requests failed" >&2; exit 1; }
