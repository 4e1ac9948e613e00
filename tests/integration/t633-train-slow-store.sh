#!/usr/bin/env bash
# Training jobs on a slow store: the scheduler announces a job's end before
# its writer has committed it, here 700 ms later
# (SENTINEL_TEST_SCHED_WRITE_DELAY_MS). The registration must not miss the
# end and wait for the minute's scan: a failed training is recorded failed,
# and a good one registered, within seconds. Both are under that scan's 60 s.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_nodes.sh"
S=$SENTINEL_BIN

SENTINEL_TEST_SCHED_WRITE_DELAY_MS=700 start_server
TOKEN=$(login admin adminpass123)
like "$(cat "$TMP/server.log")" "SENTINEL_TEST_SCHED_WRITE_DELAY_MS delays every write by 700 ms" \
	"the server runs with a slow scheduler writer"
mkuser bob bobpass1234 member
BOB=$(login bob bobpass1234)
{
	echo a,b,c
	for i in $(seq 1 200); do echo "$((i % 7)),$((i % 5)).5,$((i % 3))"; done
} >"$TMP/t.csv"
call POST "/api/v1/datasets/tdata/versions?filename=t.csv" -H "Authorization: Bearer $BOB" \
	-H 'Content-Type: text/csv' --data-binary "@$TMP/t.csv"
is "$STATUS" 201 "a dataset to train on"
TOKEN=$BOB start_claimed 1
ok $? "a node of bob's, online"

# recorded JOB STATE: the training's record has that state.
recorded() {
	[ "$(curl -s -H "Authorization: Bearer $BOB" "$URL/api/v1/trainings/$1" | jq -r .state)" = "$2" ]
}

SENTINEL_SERVER=$URL SENTINEL_TOKEN=$BOB "$S" model train --dataset tdata@1 --columns nosuch \
	--name m --no-wait >"$TMP/bad.out" 2>&1
BAD=$(cat "$TMP/bad.out")
like "$BAD" '^jb_' "a training on a missing column is submitted"
wait_for 40 job_done "$BAD"
is "$(job_state "$BAD")" failed "... and fails"
T0=$(date +%s)
wait_for 15 recorded "$BAD" failed
ok $? "... and is recorded failed within 15 s of the job's end, not at the next scan"
diag "recorded after $(($(date +%s) - T0)) s"

SENTINEL_SERVER=$URL SENTINEL_TOKEN=$BOB "$S" model train --dataset tdata@1 --columns a,b,c \
	--name m --hidden 2 --epochs 1 --batch 64 --no-wait >"$TMP/good.out" 2>&1
GOOD=$(cat "$TMP/good.out")
like "$GOOD" '^jb_' "a good training is submitted"
wait_for 50 job_done "$GOOD"
is "$(job_state "$GOOD")" completed "... and completes"
T0=$(date +%s)
wait_for 15 recorded "$GOOD" registered
ok $? "... and is registered within 15 s of the job's end"
diag "registered after $(($(date +%s) - T0)) s"
api GET /api/v1/models/m "" "$BOB"
is "$(jbody .versions)" 1 "one version: the good one's"
finish
