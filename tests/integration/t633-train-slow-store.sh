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

# train WHAT JOB_STATE RECORD TRAINER_ARGS...: submits a training of model m,
# waits for its job to end in JOB_STATE, then for its record to say RECORD.
train() {
	local what=$1 jst=$2 rec=$3 id t0
	shift 3
	SENTINEL_SERVER=$URL SENTINEL_TOKEN=$BOB "$S" model train --dataset tdata@1 --name m \
		--no-wait "$@" >"$TMP/train.out" 2>&1
	id=$(cat "$TMP/train.out")
	like "$id" '^jb_' "$what is submitted"
	wait_for 50 job_done "$id"
	is "$(job_state "$id")" "$jst" "... and its job ends $jst"
	t0=$(date +%s)
	wait_for 15 recorded "$id" "$rec"
	ok $? "... and it is recorded $rec within 15 s of the job's end, not at the next scan"
	diag "recorded after $(($(date +%s) - t0)) s"
}
train "a training on a missing column" failed failed --columns nosuch
train "a good training" completed registered --columns a,b,c --hidden 2 --epochs 1 --batch 64
api GET /api/v1/models/m "" "$BOB"
is "$(jbody .versions)" 1 "one version: the good one's"
finish
