#!/usr/bin/env bash
# sandbox run for real work: a --workdir the sandbox uid cannot write
# (ID-mapped to its owner), SIGTERM before SIGKILL at the time limit
# (--kill-after), and --network egress (through pasta: a test host in its
# own network namespace is reached, the host's loopback and addresses are
# not).
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" -eq 0 ] || { echo "1..0 # SKIP needs root (namespaces, cgroups)"; exit 0; }

# sbx NAME [flags...] -- CMD...: stdout in $TMP/NAME.out, stderr in
# $TMP/NAME.err, the JSON result in J; RC.
sbx() {
	local name=$1
	shift
	"$SENTINEL_BIN" sandbox run --result "$TMP/$name.json" "$@" >"$TMP/$name.out" 2>"$TMP/$name.err"
	RC=$?
	J=$(cat "$TMP/$name.json" 2>/dev/null)
}
jf() { printf '%s' "$J" | jq -r "$1"; }
owner() { stat -c %u:%g "$1" 2>/dev/null; }

# --- 1. the work directory belongs to someone else --------------------------
W=$(mktemp -d) # root, 0700: uid 65534 may not even look inside
sbx wd1 --workdir "$W" -- sh -c 'echo data > out.txt && mkdir sub && echo x > sub/y && ls -n out.txt'
is "$RC" "0" "root-owned 0700 --workdir: the job writes there (rc $RC: $(head -c 200 "$TMP/wd1.err"))"
is "$(cat "$W/out.txt" 2>/dev/null)" "data" "... the file is on the host"
is "$(owner "$W/out.txt")" "0:0" "... and belongs to the directory's owner (root), not nobody"
is "$(owner "$W/sub/y")" "0:0" "... so does a file in a directory it made"
like "$(cat "$TMP/wd1.out")" '^-rw-r--r-- 1 65534 65534 ' "... inside, the job sees its files as its own"
is "$(stat -c %a "$W")" "700" "... the directory's mode is unchanged"
rm -rf "$W"

W=$(mktemp -d)
chown 1234:1234 "$W"
echo secret >"$W/root-file"
chmod 600 "$W/root-file"
sbx wd2 --workdir "$W" -- sh -c 'echo more > new.txt; cat root-file'
is "$(owner "$W/new.txt")" "1234:1234" "--workdir owned by 1234: the job's files belong to 1234"
like "$(cat "$TMP/wd2.err")" 'Permission denied' "... a root-owned 0600 file inside stays unreadable"
rm -rf "$W"

# A file system without ID-mapped mounts: refused before the job starts,
# with the directory, its owner and mode, and what to do.
R=$TMP/ramfs
mkdir -p "$R"
if mount -t ramfs ramfs "$R" 2>/dev/null; then
	chmod 0700 "$R"
	sbx wd3 --workdir "$R" -- sh -c 'echo ran > ran.txt'
	is "$RC" "125" "--workdir on ramfs (no ID mapping): the sandbox fails (125)"
	like "$(cat "$TMP/wd3.err")" "--workdir $R \(owner 0:0, mode 0700\): .*ID-mapped.*chown the directory to 65534:65534" \
		"... naming the directory, its owner, mode and the fix"
	is "$(ls "$R")" "" "... and the job never ran"
	umount "$R"
else
	echo "ok - # SKIP cannot mount ramfs here"
fi

# A directory that the job's uid owns needs no mapping: files stay 65534's.
W=$TMP/mine
sbx wd4 --workdir "$W" -- sh -c 'echo a > a'
is "$(owner "$W/a")" "65534:65534" "a --workdir made for the job: its files stay the job's (65534)"

# --- 2. time limit: SIGTERM first, SIGKILL after --kill-after --------------
sbx term --time 1s --kill-after 5s -- sh -c \
	'trap "echo checkpoint saved; exit 0" TERM; while :; do sleep 0.1; done'
is "$(jf .killed_by) $(jf .kill_signal)" "time SIGTERM" "a job that traps TERM: killed_by time, kill_signal SIGTERM"
is "$(jf .exit_code)" "0" "... it exited by itself (exit 0)"
like "$(cat "$TMP/term.out")" 'checkpoint saved' "... after its TERM handler ran"
W=$(jf .wall_ms)
ok "$([ "$W" -ge 900 ] && [ "$W" -lt 4000 ]; echo $?)" "... well before --kill-after (wall_ms $W)"

sbx stubborn --time 1s --kill-after 1s -- sh -c 'trap "" TERM; sleep 30; echo survived'
is "$(jf .killed_by) $(jf .kill_signal) $(jf .signal)" "time SIGKILL 9" \
	"a job that ignores TERM: SIGKILLed after --kill-after"
W=$(jf .wall_ms)
ok "$([ "$W" -ge 1800 ] && [ "$W" -lt 6000 ]; echo $?)" "... after time + kill-after (wall_ms $W)"
unlike "$(cat "$TMP/stubborn.out")" survived "... and it did not get to finish"

sbx now --time 1s --kill-after 0 -- sh -c 'trap "echo handled" TERM; sleep 30'
is "$(jf .kill_signal)" "SIGKILL" "--kill-after 0: SIGKILL at the limit"
unlike "$(cat "$TMP/now.out")" handled "... without a TERM first"

# --- 3. network --------------------------------------------------------------
if ! command -v pasta >/dev/null; then
	sbx net0 --network egress -- true
	is "$RC" "125" "--network egress without pasta fails (125)"
	like "$(cat "$TMP/net0.err")" 'needs pasta.*passt' "... naming the package"
	done_testing
	exit
fi
NS=sbxt307-$$
HV=s307h$$
HV=${HV:0:15}
NV=s307n$$
NV=${NV:0:15}
PY=/usr/bin/python3
net_cleanup() {
	[ -n "${SRV_PIDS:-}" ] && kill $SRV_PIDS 2>/dev/null
	ip netns del "$NS" 2>/dev/null
	ip link del "$HV" 2>/dev/null
}
trap 'net_cleanup; cleanup' EXIT
# A test host in its own network namespace: 10.207.x.2, the host's end .1.
NET=10.207.$(($$ % 250)).
ip netns add "$NS" && ip link add "$HV" type veth peer name "$NV" &&
	ip link set "$NV" netns "$NS" && ip addr add "${NET}1/24" dev "$HV" && ip link set "$HV" up &&
	ip -n "$NS" addr add "${NET}2/24" dev "$NV" && ip -n "$NS" link set "$NV" up &&
	ip -n "$NS" link set lo up
ok $? "a test host in its own network namespace (${NET}2)"
mkdir -p "$TMP/www"
echo hello-from-test-host >"$TMP/www/index.html"
echo host-secret >"$TMP/www/secret.html"
ip netns exec "$NS" $PY -m http.server 8000 --bind "${NET}2" --directory "$TMP/www" >/dev/null 2>&1 &
SRV_PIDS=$!
$PY -m http.server 8001 --bind "${NET}1" --directory "$TMP/www" >/dev/null 2>&1 &
SRV_PIDS="$SRV_PIDS $!"
$PY -m http.server 8002 --bind 127.0.0.1 --directory "$TMP/www" >/dev/null 2>&1 &
SRV_PIDS="$SRV_PIDS $!"
for _ in $(seq 50); do
	curl -s -m 1 "http://${NET}2:8000/" >/dev/null && curl -s -m 1 "http://${NET}1:8001/" >/dev/null &&
		curl -s -m 1 http://127.0.0.1:8002/ >/dev/null && break
	sleep 0.1
done

# fetch URL: a GET from inside (python: the host runtime has it).
FETCH='import sys, urllib.request
try:
    print(urllib.request.urlopen(sys.argv[1], timeout=3).read().decode().strip())
except Exception as e:
    print("failed:", type(e).__name__)'
sbx eg1 --network egress -- $PY -c "$FETCH" "http://${NET}2:8000/index.html"
is "$(cat "$TMP/eg1.out")" "hello-from-test-host" "--network egress: the test host is reached"
is "$(jf .exit_code)" "0" "... the run succeeds ($(head -c 200 "$TMP/eg1.err"))"
sbx eg2 --network egress -- $PY -c "$FETCH" "http://127.0.0.1:8002/secret.html"
like "$(cat "$TMP/eg2.out")" '^failed' "... the host's 127.0.0.1 is not"
sbx eg3 --network egress -- $PY -c "$FETCH" "http://${NET}1:8001/secret.html"
like "$(cat "$TMP/eg3.out")" '^failed' "... nor the host's own address on the test network (${NET}1)"
sbx eg4 --network egress -- cat /etc/resolv.conf
like "$(cat "$TMP/eg4.out")" '^nameserver ' "... /etc/resolv.conf names a resolver"
sbx eg5 -- $PY -c "$FETCH" "http://${NET}2:8000/index.html"
like "$(cat "$TMP/eg5.out")" '^failed' "default --network none: the test host is unreachable"
is "$(pgrep -x pasta | wc -l) $(pgrep -x passt.avx2 | wc -l)" "0 0" "no pasta outlives its runs"

sbx bad --network everything -- true
is "$RC" "2" "--network everything: usage error"

done_testing
