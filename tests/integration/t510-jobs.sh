#!/usr/bin/env bash
# Jobs through a real server, without nodes: create (chunks in the same
# transaction), validation errors naming the field, list/show/chunks,
# cancel and retry, configs stored once, dependencies, another member's
# job answered 404, the jobs kept across a restart, and the retention of
# configs no job references (SENTINEL_TEST_CLOCK_SKEW_MS).
. "$(dirname "$0")/lib.sh"
start_server
TOKEN=$(login admin adminpass123)
mkuser bob bobpass1234 member
BOB=$(login bob bobpass1234)
J=/api/v1/jobs

api POST $J '{"name":"pi","program":"noop","total_iterations":25,"chunk_size":10}'
is "$STATUS $(jbody .state) $(jbody .chunks.total) $(jbody .chunks.pending) $(jbody .owner)" \
	"201 pending 3 3 admin" "a job of 25 iterations in chunks of 10: 3 chunks, pending"
JOB=$(jbody .id)
is "$(jbody .completed_iterations) $(jbody .total_iterations) $(jbody .max_attempts) $(jbody .limits.network)" \
	"0 25 3 none" "defaults: max_attempts 3, network none"
is "$(dbq "SELECT COUNT(*) FROM chunks WHERE job_id = '$JOB' AND state = 'pending'")" "3" \
	"the chunks are stored with the job"

# Validation: 400 for a mistyped field, 422 for a value naming nothing.
check() { # BODY STATUS CODE FIELD-IN-MESSAGE DESCRIPTION
	api POST $J "$1"
	is_error "$2" "$3" "$5"
	like "$(errmsg)" "$4" "... the message names '$4'"
}
check '{"program":"noop"}' 400 bad_request name "no name"
check '{"name":"x"}' 422 invalid script "neither script nor program"
check '{"name":"x","program":"noop","script":"a@1"}' 422 invalid script "both script and program"
check '{"name":"x","program":"rm -rf"}' 422 invalid program "an unknown program"
check '{"name":"x","program":"noop","chunk_size":0}' 400 bad_request chunk_size "chunk_size 0"
check '{"name":"x","program":"noop","total_iterations":"9"}' 400 bad_request total_iterations "a string count"
check '{"name":"x","program":"noop","total_iterations":100000000,"chunk_size":1}' 422 invalid chunks "too many chunks"
check '{"name":"x","script":"nosuch@1"}' 422 invalid nosuch "a missing script"
check '{"name":"x","program":"noop","inputs":["nodata@1"]}' 422 invalid 'inputs\[0\]' "a missing input"
check '{"name":"x","program":"noop","env":{"SENTINEL_SEED_OFFSET":"1"}}' 422 invalid env "a reserved variable"
check '{"name":"x","program":"noop","limits":{"network":"host"}}' 400 bad_request limits.network "a bad network mode"
check '{"name":"x","program":"noop","access":{"users":["nobody"]}}' 422 invalid access.users "an unknown user in access"
check '{"name":"x","program":"noop","depends_on":["jb_nope"]}' 422 invalid depends_on "an unknown dependency"
check '{"name":"x","program":"noop","config":"'"$(printf %064d 0)"'"}' 422 invalid config "an unknown config"

# Configs: stored once by the hash of their canonical form.
api POST /api/v1/configs '{"lr":0.1,"layers":[1,2]}'
C1=$(jbody .sha256)
api POST /api/v1/configs '{"layers":[1,2],"lr":0.1}'
is "$STATUS $(jbody .sha256)" "200 $C1" "the same config, keys in another order: the same hash"
is "$(dbq "SELECT COUNT(*) FROM configs")" "1" "stored once"
api POST $J '{"name":"cfg","program":"noop","config":"'"$C1"'"}'
is "$STATUS $(jbody .config_sha256)" "201 $C1" "a job names a stored config"
api POST $J '{"name":"cfg2","program":"noop","config":{"lr":0.1,"layers":[1,2]}}'
is "$STATUS $(jbody .config_sha256)" "201 $C1" "... or gives it inline (stored once)"

# A script job.
printf 'print("hi")\n' >"$TMP/s.py"
call POST /api/v1/scripts/hello/versions -H "Authorization: Bearer $TOKEN" --data-binary @"$TMP/s.py"
api POST $J '{"name":"s","script":"hello@1","runtime":"host","args":["a"],"env":{"X":"1"}}'
is "$STATUS $(jbody .script.name) $(jbody .script.version) $(jbody .chunks.total)" "201 hello 1 1" \
	"a script job: one chunk when iterations are not used"
api POST $J '{"name":"s","script":"hello"}' "$BOB"
is_error 422 invalid "another member's private script is not theirs to run"

# List, show, chunks.
api GET "$J?name=pi"
is "$STATUS $(jbody '.items | length') $(jbody '.items[0].id')" "200 1 $JOB" "list by name"
api GET "$J?limit=2"
is "$(jbody '.items | length')" "2" "a page of 2"
NEXT=$(jbody .next_cursor)
api GET "$J?limit=2&cursor=$NEXT"
ok "$([ "$(jbody '.items | length')" -ge 1 ]; echo $?)" "the next page"
api GET "$J/$JOB/chunks"
is "$(jbody '[.items[] | "\(.index):\(.iterations):\(.seed_offset):\(.state)"] | join(",")')" \
	"0:10:0:pending,1:10:10:pending,2:5:20:pending" "chunks: iterations and seed offsets"
api GET "$J/$JOB/logs"
is "$STATUS $(header Content-Type)" "200 text/plain; charset=utf-8" "logs: text"
api GET "$J/$JOB/artifacts"
is "$STATUS $(jbody '.items | length')" "200 0" "no artifacts yet"

# Another member sees none of it.
api GET "$J/$JOB" "" "$BOB"
is_error 404 not_found "another member's job: 404"
for p in chunks logs artifacts; do
	api GET "$J/$JOB/$p" "" "$BOB"
	is "$STATUS" "404" "... and its $p"
done
api POST "$J/$JOB/cancel" "" "$BOB"
is_error 404 not_found "... which they cannot cancel"
api GET "$J" "" "$BOB"
is "$(jbody '.items | length')" "0" "bob's list holds none of admin's jobs"
api GET "$J?owner=admin"
is "$(jbody '[.items[].owner] | unique | join(",")')" "admin" "owner filter"

# Cancel, retry, dependencies.
api POST $J '{"name":"child","program":"noop","depends_on":["'"$JOB"'"]}'
CHILD=$(jbody .id)
is "$STATUS $(jbody .state) $(jbody '.depends_on[0]')" "201 pending $JOB" "a child waits for its parent"
api POST "$J/$JOB/cancel"
is "$STATUS $(jbody .state) $(jbody .chunks.cancelled)" "200 cancelled 3" "cancel"
api GET "$J/$CHILD"
is "$(jbody .state)" "failed" "a cancelled parent fails its child"
like "$(jbody .reason)" "dependency $JOB cancelled" "... with the reason"
api POST "$J/$JOB/cancel"
is_error 409 conflict "cancel twice: 409"
api POST $J '{"name":"late","program":"noop","depends_on":["'"$JOB"'"]}'
is "$STATUS $(jbody .state)" "201 failed" "a job after a cancelled parent fails at once"
api POST "$J/$JOB/retry"
is "$STATUS $(jbody .state) $(jbody .chunks.pending)" "200 pending 3" "retry reopens the chunks"
api POST "$J/$JOB/retry"
is_error 409 conflict "retry of a job with nothing to retry: 409"

# Events and metrics.
api GET /metrics "" ""
like "$BODY" 'sentinel_sched_chunks\{state="pending"\} [1-9]' "metrics: chunks by state"
like "$BODY" 'sentinel_sched_assign_latency_seconds_count' "metrics: assignment latency"

# A restart keeps them: the active job is loaded again.
# Job events (topic job) reach the job's owner and admins only.
job_events() { # TOKEN: the job ids in the events the caller may see, replayed from the start
	curl -s -N --max-time 1 -H "Authorization: Bearer $1" -H 'Last-Event-ID: 0' \
		"$URL/api/v1/events?topic=job" 2>/dev/null | sed -n 's/^data: //p' | jq -r '.id // .job_id // empty'
}
like "$(job_events "$TOKEN" | tr '\n' ' ')" "$JOB" "the owner sees the job's events"
unlike "$(job_events "$BOB" | tr '\n' ' ')" "$JOB" "another member sees none of them"
stop_server
is "$STOP_RC" "0" "clean stop"
start_server
api GET "$J/$JOB"
is "$(jbody .state) $(jbody .chunks.pending)" "pending 3" "after a restart: the job and its chunks"
api POST "$J/$JOB/cancel"
is "$STATUS $(jbody .state)" "200 cancelled" "... and it can still be cancelled"

# Retention: 8 days on (the registry's clock), a config no job references
# is removed at start; one a job names stays.
api POST /api/v1/configs '{"unused":true}'
C2=$(jbody .sha256)
is "$(dbq "SELECT COUNT(*) FROM configs")" "2" "an unreferenced config is stored"
stop_server
SENTINEL_TEST_CLOCK_SKEW_MS=691200000 start_server
is "$(dbq "SELECT sha256 FROM configs")" "$C1" \
	"8 days later: the unreferenced config is gone, the one jobs name is kept"
api POST /api/v1/configs '{"unused":true}'
is "$STATUS $(jbody .sha256) $(dbq "SELECT COUNT(*) FROM configs")" "200 $C2 2" \
	"... and may be stored again"
done_testing
