#!/usr/bin/env bash
# The dataset and script CLI against a real server: push a CSV, ls, show
# (the profile table), v2, diff with --key (table and --json), pull
# byte-identical, a directory pushed and pulled back, scripts, name@version
# errors (exit 2, one line), and a file over 64 MiB: through upload
# sessions when the server takes them, interrupted with SIGINT and resumed
# from the server's offset (fewer PATCHes the second time), then pulled
# back identical.
. "$(dirname "$0")/lib.sh"
start_server
export XDG_CONFIG_HOME=$TMP/xdg HOME=$TMP/home
S=$SENTINEL_BIN
cd "$TMP" || exit 1
SENTINEL_PASSWORD=adminpass123 "$S" login --server "$URL" --username admin >/dev/null
TOKEN=$(jq -r .token "$XDG_CONFIG_HOME/sentinel/credentials")

skip() { T_N=$((T_N + 1)); echo "ok $T_N # SKIP $1"; }
# appends: upload.append rows in the audit log (one per PATCH).
appends() { dbq "SELECT count(*) FROM audit WHERE action = 'upload.append'"; }

# ---- name@version parsing: usage errors, before any request ----
for bad in 'no space@1' '.hidden@1' 'x@0' 'x@-1' 'x@1x' 'x@+1' 'x@' 'x@ 1'; do
	out=$("$S" dataset pull "$bad" -o "$TMP/never" 2>&1); rc=$?
	is "$rc $(printf '%s\n' "$out" | wc -l)" "2 1" "pull '$bad': exit 2, one line"
done
out=$("$S" dataset pull iris -o "$TMP/never" 2>&1); rc=$?
is "$rc" 2 "pull without @version is a usage error"
like "$out" 'NAME@V or NAME@latest' "... naming the forms"
out=$("$S" dataset diff iris 1 x 2>&1); rc=$?
is "$rc" 2 "diff with a version that is not a number: exit 2"
out=$("$S" dataset push "$TMP/nothing.csv" --name iris 2>&1); rc=$?
is "$rc" 2 "push of a missing file: exit 2"
out=$("$S" dataset push /etc/hostname 2>&1); rc=$?
is "$rc" 2 "push without --name: exit 2"

api GET /api/v1/datasets
if [ "$STATUS" != 200 ]; then
	skip "GET /api/v1/datasets answers $STATUS: the dataset routes are missing"
	done_testing
fi

# ---- a CSV, two versions ----
printf 'id,name,score\n1,ann,1.5\n2,bob,2.5\n3,cid,3.5\n' >v1.csv
printf 'id,name,score\n1,ann,1.5\n2,bob,9.5\n4,dee,4.5\n' >v2.csv
out=$("$S" dataset push v1.csv --name iris -m first 2>&1); rc=$?
is "$rc" 0 "push a CSV"
like "$out" '^Pushed dataset iris@1 \(1 file, 44 bytes, sha256 [0-9a-f]{64}\)$' "... says what was stored"
# The progress bar: on a terminal only (script(1) gives the push a pty).
out=$(script -qec "'$S' dataset push v1.csv --name tty" /dev/null 2>&1)
like "$out" 'push \[#+\] 100% .*B/s ETA' "on a terminal, a push shows a progress bar with bytes/s and ETA"
"$S" dataset push v2.csv --name tty >/dev/null 2>err.txt
is "$(cat err.txt)" "" "... and nothing on stderr otherwise"
out=$("$S" dataset push v1.csv --name iris 2>&1)
like "$out" 'iris@1: unchanged' "the same content again: deduplicated, no new version"
out=$("$S" dataset ls)
like "$(head -1 <<<"$out")" '^NAME +OWNER +LATEST_VERSION' "ls: a table header"
like "$out" '^iris +admin +1 ' "... and the dataset"
is "$("$S" dataset ls --json | jq -r '.items[0].name')" iris "ls --json"

out=$("$S" dataset show iris)
like "$out" 'dataset iris@1' "show: the latest version"
like "$out" 'message +first' "... its message"
like "$out" 'COLUMN +TYPE +NULLS +DISTINCT +MIN +MAX +MEAN' "... the profile's table header"
like "$out" 'score +float +0 +3 +1\.5 +3\.5 +2\.5' "... a row per column"
is "$("$S" dataset show iris@1 --json | jq -r '.profiles["v1.csv"].rows')" 3 "show --json: the server's version"

out=$("$S" dataset push v2.csv --name iris -m second 2>&1)
like "$out" 'Pushed dataset iris@2' "push v2"
out=$("$S" dataset diff iris 1 2 --key id 2>&1); rc=$?
is "$rc" 0 "diff --key id"
like "$out" 'added 1, removed 1, changed 1, unchanged 1' "... the counts"
like "$out" 'schema: unchanged' "... the schema"
like "$out" '(^|\n)2 +2 +\{"id":"2"\} +score +"?2\.5"? +"?9\.5"?' "... the changed row, column, from and to"
like "$out" 'added rows:' "... sample rows"
js=$("$S" dataset diff iris 1 2 --key id --json)
is "$(jq -r '.kind, .diff.counts.changed, .diff.key[0]' <<<"$js" | tr '\n' ' ')" "table 1 id " "diff --json: the server's JSON"
out=$("$S" dataset diff iris 1 2 --limit 5000 2>&1); rc=$?
is "$rc" 2 "diff --limit past 1000: exit 2"

"$S" dataset pull iris@1 -o got1.csv >/dev/null
ok "$(cmp -s v1.csv got1.csv; echo $?)" "pull iris@1: byte-identical"
"$S" dataset pull iris@latest -o got2.csv >/dev/null
ok "$(cmp -s v2.csv got2.csv; echo $?)" "pull iris@latest: version 2"
mkdir pulled
"$S" dataset pull iris@1 -o pulled >/dev/null
ok "$(cmp -s v1.csv pulled/v1.csv; echo $?)" "pull into a directory: under the version's file name"
out=$("$S" dataset pull iris@9 -o got9.csv 2>&1); rc=$?
is "$rc" 1 "pull of a version that does not exist: exit 1"
ok "$([ ! -e got9.csv ] && ! ls got9.csv.part* >/dev/null 2>&1; echo $?)" "... leaves no file"

# ---- a directory as a file set ----
mkdir -p set/sub/deeper
printf 'a,b\n1,2\n' >set/t.csv
head -c 100000 /dev/urandom >set/sub/blob.bin
printf 'hello\n' >set/sub/deeper/x.txt
: >set/empty
out=$("$S" dataset push set --name fs -m 'a set' 2>&1); rc=$?
is "$rc" 0 "push a directory"
like "$out" 'Pushed dataset fs@1 \(4 files' "... as a set of 4 files"
"$S" dataset pull fs@1 -o back >/dev/null 2>&1
ok "$(diff -r set back >/dev/null; echo $?)" "pull it back: the same tree (diff -r)"
printf 'a,b\n1,3\n' >set/t.csv
"$S" dataset push set --name fs >/dev/null 2>&1
out=$("$S" dataset diff fs 1 2)
like "$out" 'changed +t\.csv' "diff of two sets: the changed file"
like "$out" 'unchanged: 3 files' "... and the rest"
ln -s /etc/passwd set/link
out=$("$S" dataset push set --name fs 2>&1); rc=$?
is "$rc" 2 "a directory with a symbolic link is refused before sending"
rm set/link

# ---- scripts ----
printf '#!/bin/sh\necho one\necho two\n' >s1.sh
printf '#!/bin/sh\necho one\necho three\n' >s2.sh
out=$("$S" script push s1.sh --name hello -m first 2>&1)
like "$out" 'Pushed script hello@1' "script push"
"$S" script push s2.sh --name hello >/dev/null 2>&1
like "$("$S" script ls)" '^hello +admin +2 ' "script ls"
out=$("$S" script show hello@1)
like "$out" 'language +shell' "script show: the language"
"$S" script pull hello@2 -o got.sh >/dev/null
ok "$(cmp -s s2.sh got.sh; echo $?)" "script pull: byte-identical"
out=$("$S" script diff hello 1 2)
like "$out" '\+1 -1 lines' "script diff: the counts"
like "$out" '(^|\n)-echo two' "... and the unified diff"
like "$out" '(^|\n)\+echo three' "... both ways"

# ---- rm ----
out=$("$S" dataset rm iris@1 2>&1); rc=$?
is "$rc" 2 "rm of NAME@V: exit 2"
is "$("$S" dataset rm iris)" "Removed dataset iris" "rm"
out=$("$S" dataset show iris 2>&1); rc=$?
is "$rc" 1 "show after rm: exit 1"

# ---- over 64 MiB: upload sessions, interrupted and resumed ----
head -c $((72 << 20)) /dev/urandom >big.bin
BSHA=$(sha256sum big.bin | cut -c1-64)
STATE=$XDG_CONFIG_HOME/sentinel/uploads/$BSHA.json
api GET /api/v1/status
if [ "$(jbody '.features // [] | index("dataset_upload") != null')" != true ]; then
	out=$("$S" dataset push big.bin --name big 2>&1); rc=$?
	is "$rc" 0 "a 72 MiB file in one streamed request (the server takes no upload reference)"
	"$S" dataset pull big@1 -o bigback.bin >/dev/null
	ok "$(cmp -s big.bin bigback.bin; echo $?)" "... pulled back identical"
	skip "upload sessions: POST /api/v1/datasets/{name}/versions?upload=ID (and \"dataset_upload\" in GET /api/v1/status features) is missing"
	done_testing
fi
# 16 MiB/s: the push takes about 5 s, so it is stopped well before its end
# once the state file and a first PATCH show it is under way.
"$S" dataset push big.bin --name big --limit-rate 16M >push1.out 2>&1 &
PUSH=$!
for _ in $(seq 1 200); do
	[ -s "$STATE" ] && [ "$(appends)" -ge 1 ] && break
	sleep 0.05
done
kill -INT "$PUSH"
wait "$PUSH"
rc=$?
is "$rc" 130 "a push stopped by SIGINT exits 130"
like "$(cat push1.out)" 'interrupted at [0-9]+ of 75497472 bytes: run the same push again' "... saying how to resume"
ok "$([ -s "$STATE" ]; echo $?)" "... and keeps the session in the state file"
first=$(appends)
out=$("$S" dataset push big.bin --name big 2>&1); rc=$?
is "$rc" 0 "the same push again succeeds"
like "$out" 'Resuming upload [^ ]+ at [1-9][0-9]* of 75497472' "... resuming at the server's offset"
total=$(appends)
# 72 MiB in 8 MiB pieces: 9 PATCHes for the whole file.
ok "$([ $((total - first)) -lt 9 ]; echo $?)" "... sending fewer pieces than the whole ($((total - first)) of 9)"
ok "$([ ! -e "$STATE" ]; echo $?)" "... and forgets the session once the version exists"
is "$(stat -c %a "$(dirname "$STATE")")" 700 "the state directory is private (0700)"
"$S" dataset pull big@1 -o bigback.bin >/dev/null
ok "$(cmp -s big.bin bigback.bin; echo $?)" "the big file pulls back identical"

# A server restart in the middle of an upload: the push waits, asks the
# server where the session stands and carries on.
head -c $((72 << 20)) /dev/urandom >big2.bin
before=$(appends)
"$S" dataset push big2.bin --name big2 --limit-rate 16M >push2.out 2>&1 &
PUSH=$!
for _ in $(seq 1 200); do
	[ "$(appends)" -gt "$before" ] && break
	sleep 0.05
done
PORT=${URL##*:}
stop_server KILL
SERVER_LISTEN=127.0.0.1:$PORT start_server
wait "$PUSH"
is "$?" 0 "a server killed and restarted during an upload: the push completes"
"$S" dataset pull big2@1 -o big2back.bin >/dev/null
ok "$(cmp -s big2.bin big2back.bin; echo $?)" "... and the file pulls back identical"

done_testing
