#!/usr/bin/env bash
# A real server on a free port in a temp dir: health, status, login, /me,
# request ids, the access log and /metrics.
. "$(dirname "$0")/lib.sh"

start_server
like "$URL" '^http://127\.0\.0\.1:[0-9]+$' "the ready file holds the server's URL on a free port"
if on_pg; then
	is "$(dbq "SELECT COUNT(*) FROM pg_tables WHERE tablename IN ('schema_version', 'users')")" 2 \
		"the database's tables are created in PostgreSQL"
	ok "$([ ! -e "$SERVER_DATA/sentinel.db" ]; echo $?)" "... and no SQLite file in the data directory"
else
	ok "$([ -f "$SERVER_DATA/sentinel.db" ]; echo $?)" "the database is created in the data directory"
fi

# ---- health: no auth ----
api GET /api/v1/health "" ""
is "$STATUS" 200 "GET /api/v1/health without a token is 200"
is "$(jbody .status)" ok "health says {\"status\":\"ok\"}"
like "$(header Content-Type)" '^application/json' "health is JSON"
api GET /api/v1/health "" "snt_not_a_real_token"
is "$STATUS" 200 "health ignores a bogus token (public route)"

# ---- status needs auth ----
api GET /api/v1/status "" ""
is_error 401 unauthorized "GET /api/v1/status without a token is 401"

# ---- login ----
call POST /api/v1/auth/login -H 'Content-Type: application/json' \
	--data '{"username":"admin","password":"adminpass123"}'
is "$STATUS" 200 "admin logs in with SENTINEL_ADMIN_PASSWORD"
TOKEN=$(jbody .token)
like "$TOKEN" '^[A-Za-z0-9_]{32,}$' "login returns an opaque token"
like "$(jbody .expires_at)" '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?Z$' \
	"expires_at is RFC 3339 UTC"
exp_s=$(date -d "$(jbody .expires_at)" +%s 2>/dev/null || echo 0)
now_s=$(date +%s)
ok "$([ $((exp_s - now_s)) -gt $((23 * 3600)) ] && [ $((exp_s - now_s)) -le $((24 * 3600 + 5)) ]; echo $?)" \
	"a session lasts the default 24h"
is "$(jbody '.user.username + "/" + .user.role')" "admin/superadmin" "login returns the user: admin is a superadmin"

call POST /api/v1/auth/login -H 'Content-Type: application/json' \
	--data '{"username":"admin","password":"wrong-password"}'
is_error 401 invalid_credentials "a wrong password is 401"
call POST /api/v1/auth/login -H 'Content-Type: application/json' \
	--data '{"username":"nobody","password":"wrong-password"}'
is_error 401 invalid_credentials "an unknown user is 401"
msg_unknown=$(errmsg)
call POST /api/v1/auth/login -H 'Content-Type: application/json' \
	--data '{"username":"admin","password":"wrong-password"}'
is "$(errmsg)" "$msg_unknown" "unknown user and wrong password give the same message"

# ---- /me and status ----
api GET /api/v1/me
is "$STATUS" 200 "GET /api/v1/me with the token"
is "$(jbody '.username + "/" + .role + "/" + (.disabled|tostring)')" "admin/superadmin/false" "/me describes admin"
like "$(jbody .id)" '.' "/me has an id"
is "$(jbody '.groups | type')" array "/me lists groups"
like "$(jbody .created_at)" 'Z$' "/me times are UTC"
api GET /api/v1/me/
is "$STATUS" 200 "a trailing slash names the same resource"

api GET /api/v1/status
is "$STATUS" 200 "GET /api/v1/status with a token"
like "$(jbody .version)" '^[0-9]+\.[0-9]+\.[0-9]+' "status has the version"
is "$("$SENTINEL_BIN" --version | awk '{print $2}')" "$(jbody .version)" "status version matches sentinel --version"
is "$(jbody .store)" "$(on_pg && echo postgres || echo sqlite)" "status names the store backend"
is "$(jbody '.uptime_s | type')" number "status has the uptime"
is "$(printf '%s' "$BODY" | jq -c '.schema_version | [.auth, .blob, .dataset]')" '[3,1,1]' "status has each domain's schema version"
is "$(printf '%s' "$BODY" | jq '[.schema_version[] | select(type != "number" or . < 1)] | length')" 0 "... every one a positive number"
like "$(jbody .started_at)" 'Z$' "status has the start time"

# ---- request ids ----
call GET /api/v1/health -H 'X-Request-Id: test-req-42'
is "$(header X-Request-Id)" test-req-42 "a valid X-Request-Id is echoed"
call GET /api/v1/health -H 'X-Request-Id: bad id<script>'
id=$(header X-Request-Id)
like "$id" '^[A-Za-z0-9_.:-]+$' "an invalid X-Request-Id is replaced by a fresh one"
isnt "$id" 'bad id<script>' "... not echoed"
call GET /api/v1/health
a=$(header X-Request-Id)
call GET /api/v1/health
isnt "$(header X-Request-Id)" "$a" "each request gets its own id"

# ---- HEAD ----
STATUS=$(curl -s -o /dev/null -w '%{http_code}' -I "$URL/api/v1/health")
is "$STATUS" 200 "HEAD on a GET route is 200"

# ---- access log ----
sleep 0.2
like "$(grep -c 'test-req-42' "$TMP/server.log")" '^[1-9]' "the access log has a line with the request id"
like "$(grep 'test-req-42' "$TMP/server.log" | head -1)" 'path=/api/v1/health.*status=200' \
	"the access log line names the path and the status"
like "$(grep 'path=/api/v1/me ' "$TMP/server.log" | grep 'status=200' | head -1)" 'user=admin' \
	"the access log names the authenticated user"
unlike "$(cat "$TMP/server.log")" "$TOKEN" "the token never appears in the log"
unlike "$(cat "$TMP/server.log")" "adminpass123" "the password never appears in the log"

# ---- /metrics: a fresh server so the counts are exact ----
stop_server
is "$STOP_RC" 0 "SIGTERM stops the server with exit 0"
start_server
for _ in 1 2 3; do api GET /api/v1/health "" ""; done
api GET /api/v1/me "" ""              # 401
api GET /api/v1/no-such-route "" ""   # 404, unmatched
TOKEN=$(login admin adminpass123)
api GET /api/v1/users/admin
is "$STATUS" 200 "GET /api/v1/users/admin as admin"
call GET /metrics
is "$STATUS" 200 "GET /metrics without auth"
like "$(header Content-Type)" '^text/plain' "metrics are Prometheus text"
M=$BODY
is "$(grep -c '^# TYPE sentinel_http_requests_total counter$' <<<"$M")" 1 "requests_total is a counter"
is "$(grep -F 'sentinel_http_requests_total{method="GET",route="/api/v1/health",status="200"}' <<<"$M" | awk '{print $2}')" 3 \
	"requests_total counts 3 health requests with route and status labels"
is "$(grep -F 'sentinel_http_requests_total{method="GET",route="/api/v1/me",status="401"}' <<<"$M" | awk '{print $2}')" 1 \
	"requests_total counts the 401 by its route"
is "$(grep -F 'sentinel_http_requests_total{method="POST",route="/api/v1/auth/login",status="200"}' <<<"$M" | awk '{print $2}')" 1 \
	"requests_total counts the login"
is "$(grep -F 'route="unmatched",status="404"}' <<<"$M" | grep '^sentinel_http_requests_total' | awk '{print $2}')" 1 \
	"unknown routes are counted under one label"
is "$(grep -F 'sentinel_http_requests_total{method="GET",route="/api/v1/users/{id}",status="200"}' <<<"$M" | awk '{print $2}')" 1 \
	"the route label is the pattern, not the raw path"
unlike "$M" 'route="/api/v1/users/admin"' "no raw path (unbounded label values) in the metrics"
is "$(grep -c '^# TYPE sentinel_http_request_duration_seconds histogram$' <<<"$M")" 1 "the latency is a histogram"
inf=$(grep -F 'sentinel_http_request_duration_seconds_bucket{method="GET",route="/api/v1/health",le="+Inf"}' <<<"$M" | awk '{print $2}')
cnt=$(grep -F 'sentinel_http_request_duration_seconds_count{method="GET",route="/api/v1/health"}' <<<"$M" | awk '{print $2}')
is "$inf/$cnt" "3/3" "the histogram's +Inf bucket and count agree with the requests"
like "$(grep -F 'sentinel_http_request_duration_seconds_sum{method="GET",route="/api/v1/health"}' <<<"$M" | awk '{print $2}')" \
	'^[0-9]+(\.[0-9]+)?$' "the histogram has a sum"
buckets=$(grep -F 'sentinel_http_request_duration_seconds_bucket{method="GET",route="/api/v1/health",' <<<"$M" | awk '{print $2}' | tr '\n' ' ')
sorted=$(tr ' ' '\n' <<<"$buckets" | sed '/^$/d' | sort -n | tr '\n' ' ')
is "$buckets" "$sorted" "histogram buckets are cumulative"
like "$(grep -c 'sentinel_http_request_duration_seconds_bucket{method="GET",route="/api/v1/health",' <<<"$M")" '^([5-9]|[1-9][0-9])$' \
	"the histogram has several buckets"
like "$M" 'sentinel_store_errors_total 0' "store errors are exported"
like "$M" 'sentinel_build_info\{version="[0-9.]+"' "build info is exported"

done_testing
