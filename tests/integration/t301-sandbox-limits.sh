#!/usr/bin/env bash
# sandbox run: limits (memory, time, pids, CPU, output, /tmp, file size),
# exit codes and signals, exact output bytes, JSON result, cleanup of
# cgroups and mounts (also after the supervisor is SIGKILLed).
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" -eq 0 ] || { echo "1..0 # SKIP needs root (namespaces, cgroups)"; exit 0; }
PY=/usr/bin/python3

# sbx NAME [flags...] -- CMD...: runs the sandbox; stdout in $TMP/NAME.out,
# stderr in $TMP/NAME.err, JSON result in $TMP/NAME.json; sets RC and J.
sbx() {
	local name=$1
	shift
	"$SENTINEL_BIN" sandbox run --result "$TMP/$name.json" "$@" >"$TMP/$name.out" 2>"$TMP/$name.err"
	RC=$?
	J=$(cat "$TMP/$name.json" 2>/dev/null)
}
jf() { printf '%s' "$J" | jq -r "$1"; }
# Run cgroups whose supervisor is gone (other sandboxes may be running at
# the same time: theirs are alive), and sandbox mounts visible on the host.
run_dirs() { find /sys/fs/cgroup -mindepth 1 -type d -name "run-${1:-*}-*" -path '*/sentinel/*' 2>/dev/null; }
leftovers() {
	local n=0 d pid
	for d in $(run_dirs); do
		pid=${d##*/run-}
		pid=${pid%%-*}
		kill -0 "$pid" 2>/dev/null || n=$((n + 1))
	done
	echo "$n $(grep -c sentinel-sandbox /proc/self/mountinfo)"
}
# Markers make our processes ours: other tests may run sandboxes meanwhile.
M=$$

# Memory: 1 GB touched under a 100M limit is killed by the OOM killer.
sbx mem --mem 100M -- $PY -c 'b = b"x" * (1 << 30); print(len(b))'
if [ "$(jf '.degraded | index("memory")')" = null ]; then
	is "$(jf .killed_by)" "memory" "1 GB under --mem 100M: killed_by memory"
	is "$(jf .signal)" "9" "... by SIGKILL"
	is "$RC" "137" "... the sandbox exits 128+9"
	like "$(jf .peak_memory_bytes)" '^[0-9]{7,9}$' "... peak memory is reported ($(jf .peak_memory_bytes))"
	is "$(jf '.degraded | length')" "0" "... nothing degraded"
else
	# No usable memory cgroup on this machine: the fallback must still hold.
	diag "no memory cgroup here ($(jf -c .degraded)): checking the RLIMIT_AS fallback"
	is "$RC $(jf .exit_code)" "1 1" "1 GB under --mem 100M (degraded): the allocation fails"
	like "$(cat "$TMP/mem.err")" "MemoryError" "... with MemoryError"
fi

# Time: sleep 100 under 1s ends in about a second.
sbx time --time 1s -- sleep 100.$M
is "$(jf .killed_by)" "time" "sleep 100 under --time 1s: killed_by time"
W=$(jf .wall_ms)
ok "$([ "$W" -ge 900 ] && [ "$W" -lt 5000 ]; echo $?)" "... after about 1 s (wall_ms $W)"
is "$(pgrep -u 65534 -f "sleep 100.$M" | wc -l)" "0" "... no sleep survives"

# Pids: a fork bomb is contained; the host can still fork.
sbx pids --pids 64 --time 20s -- /bin/sh -c 'b() { b | b & }; b; sleep 3; exit 0' "bomb-$M"
isnt "$(jf .killed_by)" "time" "fork bomb under --pids 64 ends by itself"
ok "$([ -n "$J" ]; echo $?)" "... with a result"
is "$(pgrep -u 65534 -f "bomb-$M" | wc -l)" "0" "... and none of its processes is left"
is "$(/bin/sh -c 'echo alive')" "alive" "... the host still forks"

# A fork bomb whose shell fails by the pids limit is reported as such.
sbx pids2 --pids 16 --time 20s -- /bin/sh -c 'for i in $(seq 40); do sleep 5 & done; wait'
like "$(jf .killed_by) $RC" '^(pids [1-9][0-9]*|none 0)$' "40 sleeps under --pids 16: result '$(jf .killed_by)' exit $RC"
like "$(cat "$TMP/pids2.err")" "fork|Resource temporarily unavailable|Cannot" "... the shell saw fork fail"

# CPU quota: a busy loop gets about its share of a CPU.
sbx cpu --cpus 0.2 --time 1500ms -- /bin/sh -c 'while :; do :; done'
C=$(jf .cpu_ms)
is "$(jf .killed_by)" "time" "busy loop under --cpus 0.2 runs to the time limit"
ok "$([ "$C" -lt 900 ]; echo $?)" "... using about 0.2 CPU (cpu_ms $C of 1500 ms)"

# Exit codes, signals, the JSON fields.
sbx exit7 -- /bin/sh -c 'exit 7'
is "$RC $(jf .exit_code) $(jf .signal) $(jf .killed_by)" "7 7 null none" "exit 7 is reported and mirrored"
sbx segv -- /bin/sh -c 'kill -SEGV $$'
is "$RC $(jf .exit_code) $(jf .signal)" "139 null 11" "a SIGSEGV is reported as signal 11 (exit 139)"
is "$(printf '%s' "$J" | jq -r 'keys | sort | join(",")')" \
	"cpu_ms,degraded,exit_code,killed_by,peak_memory_bytes,signal,truncated,wall_ms" "the result has the documented fields"
"$SENTINEL_BIN" sandbox run --json -- /bin/true 2>"$TMP/json.err"
like "$(tail -n 1 "$TMP/json.err")" '^\{"exit_code":0,.*"killed_by":"none"' "--json writes the result as the last line of stderr"
sbx nocmd -- /nonexistent/cmd
is "$RC" "127" "a missing command exits 127"
like "$(cat "$TMP/nocmd.err")" "cannot run '/nonexistent/cmd': No such file" "... with a clear message"

# Exact bytes: NULs, no final newline, long lines, stdout and stderr apart.
sbx bytes -- $PY -c '
import sys
sys.stdout.buffer.write(b"a\x00b\nline2\r\n" + b"L" * 200000 + b"\nno-newline")
sys.stderr.buffer.write(b"err-line\n")'
$PY -c '
import sys
sys.stdout.buffer.write(b"a\x00b\nline2\r\n" + b"L" * 200000 + b"\nno-newline")' >"$TMP/bytes.want"
ok "$(cmp -s "$TMP/bytes.out" "$TMP/bytes.want"; echo $?)" "stdout bytes are passed through exactly"
is "$(cat "$TMP/bytes.err")" "err-line" "stderr is passed through apart"

# Output limit: truncated at the cap, with a note, killed_by output.
sbx outlim --output-limit 1K -- yes
is "$(wc -c <"$TMP/outlim.out")" "1024" "yes under --output-limit 1K: exactly 1024 bytes"
is "$(jf .killed_by) $(jf .truncated)" "output true" "... killed_by output, truncated"
like "$(cat "$TMP/outlim.err")" "output truncated at 1024 bytes" "... with a note on stderr"

# /tmp size and file size.
sbx tmpsz --tmp-size 1M -- /bin/sh -c 'head -c 2000000 /dev/zero > /tmp/big'
isnt "$RC" "0" "writing 2 MB to a 1M /tmp fails"
like "$(cat "$TMP/tmpsz.err")" "No space left" "... with ENOSPC"
sbx fsz --file-size 100K -- /bin/sh -c 'exec head -c 1000000 /dev/zero > /tmp/big'
is "$(jf .signal)" "25" "a 1 MB file under --file-size 100K dies of SIGXFSZ"

# Usage errors exit 2 with one line.
"$SENTINEL_BIN" sandbox run --mem lots -- /bin/true 2>"$TMP/u1.err"
is "$? $(wc -l <"$TMP/u1.err")" "2 1" "a bad --mem is a usage error (exit 2, one line)"
"$SENTINEL_BIN" sandbox run 2>"$TMP/u2.err"
is "$?" "2" "no command is a usage error"
"$SENTINEL_BIN" sandbox run --ro nocolon -- /bin/true 2>"$TMP/u3.err"
is "$?" "2" "a bind without SRC:DST is a usage error"
"$SENTINEL_BIN" sandbox run --ro /nonexistent:/x -- /bin/true 2>"$TMP/u4.err"
is "$?" "125" "a missing bind source is a sandbox error (125)"
like "$(cat "$TMP/u4.err")" "bind source /nonexistent" "... naming the source"

# Nothing is left behind: 200 runs.
fails=0
for i in $(seq 200); do
	"$SENTINEL_BIN" sandbox run --mem 64M --pids 32 --cpus 1 -- /bin/true || fails=$((fails + 1))
done
is "$fails" "0" "200 runs of /bin/true succeed"
is "$(leftovers)" "0 0" "... and leave no cgroup and no mount behind"

# The supervisor SIGKILLed mid-run: the job dies with it; the next start
# removes its cgroups.
"$SENTINEL_BIN" sandbox run --mem 64M --pids 32 -- sleep 77.$M >/dev/null 2>&1 &
SUP=$!
for _ in $(seq 100); do pgrep -u 65534 -f "sleep 77.$M" >/dev/null && break; sleep 0.05; done
ok "$(pgrep -u 65534 -f "sleep 77.$M" >/dev/null; echo $?)" "a sleep runs in the sandbox"
kill -9 $SUP
wait $SUP 2>/dev/null
for _ in $(seq 100); do pgrep -u 65534 -f "sleep 77.$M" >/dev/null || break; sleep 0.05; done
is "$(pgrep -u 65534 -f "sleep 77.$M" | wc -l)" "0" "after SIGKILL of the supervisor the job is gone"
isnt "$(run_dirs $SUP | wc -l)" "0" "... its cgroups are left for now"
"$SENTINEL_BIN" sandbox run -- /bin/true 2>"$TMP/next.err"
is "$(run_dirs $SUP | wc -l) $(leftovers)" "0 0 0" "the next run removes the leftover cgroups; no mount remains"
like "$(cat "$TMP/next.err")" "removed leftover cgroup .*/sentinel/run-$SUP-" "... and logs what it removed"

grep -El -- "$SANITIZER_RE" "$TMP"/*.err 2>/dev/null | sed 's/^/# sanitizer report in /'
is "$(grep -El -- "$SANITIZER_RE" "$TMP"/*.err 2>/dev/null | wc -l)" "0" "no sanitizer report"
done_testing
