#!/usr/bin/env bash
# The node agent's failure paths, each seen in the chunk's error: a script
# that exits 3, one that outlives its time limit, one whose result.json is
# not an object, built-in programs with bad arguments, a script that is
# not executable by any known interpreter; and the blob cache kept under
# --cache-max (least recently used evicted: after two inputs larger than
# half the cache, only the newer one is left).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_nodes.sh"
start_server --node-timeout 2s --heartbeat 500ms
TOKEN=$(login admin adminpass123)
start_claimed 1 --cache-max 6000
ok $? "a node with a 6,000-byte cache, online"

# run JOB_JSON: submits, waits for the end; sets J, JS (state), ERR (the
# attempts' reasons and the job's log, where the agent writes its error).
run() {
	api POST /api/v1/jobs "$1"
	J=$(jbody .id)
	wait_for 40 job_done "$J"
	JS=$(job_state "$J")
	api GET "/api/v1/jobs/$J/chunks"
	ERR=$(jbody '[.. | objects | .reason? | strings] | join(";")')
	api GET "/api/v1/jobs/$J/logs"
	ERR="$ERR $BODY"
}
script() { # NAME FILE
	call POST "/api/v1/scripts/$1/versions" -H "Authorization: Bearer $TOKEN" --data-binary "@$2"
}

printf '#!/bin/sh\necho going\nexit 3\n' >"$TMP/fail.sh"
script fail.sh "$TMP/fail.sh"
run '{"name":"fail","script":"fail.sh@1","runtime":"host","limits":{"time_s":30}}'
is "$JS" failed "a script that exits 3: the job fails"
like "$ERR" "exit status 3" "... the chunk's error says 'exit status 3'"

printf '#!/bin/sh\nsleep 30\n' >"$TMP/slow.sh"
script slow.sh "$TMP/slow.sh"
run '{"name":"slow","script":"slow.sh@1","runtime":"host","limits":{"time_s":1}}'
is "$JS" failed "a script past its 1 s time limit: the job fails"
like "$ERR" "time|signal 9|killed" "... the chunk's error says why ($ERR)"

printf '#!/bin/sh\nmkdir -p /work/out\necho "[1,2]" >/work/out/result.json\n' >"$TMP/arr.sh"
script arr.sh "$TMP/arr.sh"
run '{"name":"arr","script":"arr.sh@1","runtime":"host","limits":{"time_s":30}}'
is "$JS" failed "a result.json that is an array: the job fails"
like "$ERR" "result.json" "... the chunk's error names result.json"

run '{"name":"nap","program":"sleep","args":["-5"]}'
is "$JS" failed "sleep of -5 seconds: the job fails"
like "$ERR" "sleep" "... the error names the program"

# The cache: two datasets of 4,000 bytes each (more than half of 6,000).
for n in a b; do
	head -c 3990 /dev/urandom | base64 -w 0 | head -c 3990 >"$TMP/$n.txt"
	{ echo x; cat "$TMP/$n.txt"; echo; } >"$TMP/$n.csv"
	call POST "/api/v1/datasets/d$n/versions?filename=$n.csv" -H "Authorization: Bearer $TOKEN" \
		-H 'Content-Type: text/csv' --data-binary "@$TMP/$n.csv"
done
printf '#!/bin/sh\nwc -c /data/*/*\n' >"$TMP/read.sh"
script read.sh "$TMP/read.sh"
run '{"name":"ra","script":"read.sh@1","runtime":"host","inputs":["da@1"],"limits":{"time_s":30}}'
is "$JS" completed "a job reading dataset da"
SA=$(sha256sum <"$TMP/a.csv" | cut -c1-64)
SB=$(sha256sum <"$TMP/b.csv" | cut -c1-64)
[ -e "$TMP/n1/cache/$SA" ]; ok $? "... its blob is in the cache"
run '{"name":"rb","script":"read.sh@1","runtime":"host","inputs":["db@1"],"limits":{"time_s":30}}'
is "$JS" completed "a job reading dataset db"
[ -e "$TMP/n1/cache/$SB" ]; ok $? "... its blob is in the cache"
[ ! -e "$TMP/n1/cache/$SA" ]; ok $? "... and da's, least recently used, was evicted"
finish
