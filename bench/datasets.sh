#!/usr/bin/env bash
# Dataset benchmarks, one section each (BENCH_SECTIONS picks some: "diff
# upload"; default both).
#
#   bash bench/datasets.sh                 (BUILD: build directory, as for make)
#
# diff: two seeded 1,000,000-row x 10-column CSVs (B: 1% of the rows changed
# in one column, 0.5% added, 0.5% removed, one column added), diffed with a
# key and without one by `sentinel dataset-diff` and by daff (npm), in the
# same run. Prints mode, tool, seconds, peak RSS and the ratio to Sentinel;
# goal: each Sentinel run under 0.5 s and 300 MB. daff runs are capped at
# DAFF_TIMEOUT seconds (default 150). DIFF_ROWS changes the size.
#
# upload: a seeded CSV of UPLOAD_MB (default 1024) MiB pushed as a dataset
# version over loopback (curl -T: streamed, Content-Length known) to a
# server whose data directory is on the same file system, beside the two
# physical limits measured on the same file in the same run: SHA-256 speed
# (openssl dgst -sha256) and durable write speed (dd bs=1M conv=fsync).
# The upload hashes, checks the CSV, profiles every column and fsyncs in
# one pass; goal: at least 80% of the lower of the two limits. Each figure
# is the best of UPLOAD_ROUNDS (3) rounds measured in turn. Beside them, the
# server's CPU seconds for the upload (user + system, all its threads; the
# least of the rounds): the figure the code decides, which a slow disk or
# other work on a shared machine hides in the seconds; and the load average.
# Below them, what bounds it on this box: the same number of random bytes
# pushed as a binary file (received, hashed and stored: no CSV check, no
# profile), and the CPU seconds the client (curl) spends sending.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
BIN=${SENTINEL_BIN:-./sentinel}
SECTIONS=${BENCH_SECTIONS:-diff upload}
[ -x "$BIN" ] || { echo "bench/datasets.sh: $BIN not built (run make)" >&2; exit 1; }
mkdir -p "$BUILD/bench/datasets"
DATA=$(cd "$BUILD/bench/datasets" && pwd)

# run_table: reads "mode tool command..." lines on stdin, runs each (timeout
# in seconds in $RUN_TIMEOUT, best of $RUN_ROUNDS), prints one line per run:
# "mode tool seconds|timeout|failed peak_rss_kib". wait4 gives each run's
# own peak RSS.
run_table() {
	/usr/bin/python3 -c '
import os, shlex, signal, subprocess, sys, threading, time
timeout = float(os.environ.get("RUN_TIMEOUT", "150"))
rounds = int(os.environ.get("RUN_ROUNDS", "1"))
for line in sys.stdin:
    mode, tool, cmd = line.split(None, 2)
    best, rss = None, 0
    for _ in range(rounds):
        t0 = time.monotonic()
        p = subprocess.Popen(shlex.split(cmd), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             start_new_session=True)
        killed = []
        timer = threading.Timer(timeout, lambda: (killed.append(1), os.killpg(p.pid, signal.SIGKILL)))
        timer.start()
        _, status, ru = os.wait4(p.pid, 0)
        dt = time.monotonic() - t0
        timer.cancel()
        p.returncode = 0  # reaped here, not by Popen
        if killed:
            best = "timeout"
            break
        rss = max(rss, ru.ru_maxrss)
        code = os.waitstatus_to_exitcode(status)
        if code not in (0, 1):  # diff tools exit 1 on differences
            best = "failed"
            sys.stderr.write("%s %s: exit %d\n" % (mode, tool, code))
            break
        best = dt if best is None else min(best, dt)
    print(mode, tool, best if isinstance(best, str) else "%.3f" % best, rss, flush=True)
'
}

# ---- diff ----------------------------------------------------------------

diff_generate() { # ROWS SEED A B: writes the pair, prints the expected counts
	/usr/bin/python3 - "$@" <<'PY'
import random, sys
n, seed, pa, pb = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
r = random.Random(seed)
cities = ["Paris", "Lyon", "Oslo", "Porto", "Quito", "Accra", "Hanoi", "Lima", "Kyiv", "Doha"]
notes = ["", "ok", "late delivery", '"fragile, handle with care"', "n/a", '"said ""hi"""']
cols = ["id", "qty", "price", "city", "name", "flag", "date", "score", "code", "note"]
def row(i):
    g = r.getrandbits(64)
    return [str(i), str(g % 1000), "%d.%02d" % (g >> 10 & 0xffff, g >> 26 & 63), cities[g >> 32 & 7],
            "user%d" % (g >> 35 & 0xfffff), "true" if g >> 55 & 1 else "false",
            "2024-%02d-%02d" % ((g >> 56 & 7) + 1, (g >> 59 & 15) + 1), str((g >> 12) % 100000 / 7),
            "%08x" % (g & 0xffffffff), notes[(g >> 40) % len(notes)]]
idx = list(range(n))
r.shuffle(idx)
nrem, nchg, nadd = n // 200, n // 100, n // 200
removed, changed = set(idx[:nrem]), set(idx[nrem:nrem + nchg])
add_after = {}
for k in range(nadd):
    add_after.setdefault(r.randrange(n), []).append(n + k)
with open(pa, "w") as fa, open(pb, "w") as fb:
    fa.write(",".join(cols) + "\n")
    fb.write(",".join(cols + ["region"]) + "\n")
    ba, bb = [], []
    for i in range(n):
        v = row(i)
        ba.append(",".join(v))
        if i not in removed:
            if i in changed:
                c = 1 + r.randrange(9)
                v[c] = v[c][:-1] + 'X"' if v[c].startswith('"') else v[c] + "X"
            bb.append(",".join(v + ["r%d" % (i % 5)]))
        for j in add_after.get(i, ()):
            bb.append(",".join(row(j) + ["new"]))
        if len(ba) >= 50000:
            fa.write("\n".join(ba) + "\n"); fb.write("\n".join(bb) + "\n"); ba, bb = [], []
    fa.write("\n".join(ba) + "\n" if ba else ""); fb.write("\n".join(bb) + "\n" if bb else "")
print("key added=%d removed=%d changed=%d" % (nadd, nrem, nchg))
print("rows added=%d removed=%d changed=0" % (nadd + nchg, nrem + nchg))
PY
}

diff_section() {
	local rows=${DIFF_ROWS:-1000000} seed=42
	local a="$DATA/diff-$rows-$seed-a.csv" b="$DATA/diff-$rows-$seed-b.csv" exp="$DATA/diff-$rows-$seed.expected"
	if [ ! -s "$exp" ] || [ ! -s "$a" ] || [ ! -s "$b" ]; then
		echo "generating $rows rows (seed $seed) into $DATA"
		diff_generate "$rows" "$seed" "$a" "$b" >"$exp.tmp"
		mv "$exp.tmp" "$exp"
	fi
	local npm="$BUILD/bench-npm" daff=""
	if [ ! -x "$npm/node_modules/.bin/daff" ] && command -v npm >/dev/null; then
		npm install --silent --prefix "$npm" daff >/dev/null 2>&1 || echo "daff: npm install failed"
	fi
	[ -x "$npm/node_modules/.bin/daff" ] && daff="$npm/node_modules/.bin/daff"
	cat "$a" "$b" >/dev/null # page cache warm for every tool alike

	# Sentinel's counts must be the generator's before any time means anything.
	local mode args
	for mode in key rows; do
		args=()
		[ "$mode" = key ] && args=(--key id)
		"$BIN" dataset-diff "$a" "$b" "${args[@]}" --json >"$DATA/out-$mode.json" || [ $? -eq 1 ]
		/usr/bin/python3 - "$DATA/out-$mode.json" "$mode" "$exp" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
want = dict(kv.split("=") for kv in next(l for l in open(sys.argv[3]) if l.startswith(sys.argv[2] + " ")).split()[1:])
got = {k: str(j["counts"][k]) for k in want}
assert got == want, "sentinel %s: counts %s, expected %s" % (sys.argv[2], got, want)
assert j["schema"]["added"] == ["region"], j["schema"]
PY
	done

	echo
	echo "== diff: $rows rows x 10 columns, $(du -m "$a" | cut -f1) MB + $(du -m "$b" | cut -f1) MB, $(getconf _NPROCESSORS_ONLN) CPUs"
	local res
	res=$( {
		echo "key sentinel $BIN dataset-diff $a $b --key id --json"
		echo "rows sentinel $BIN dataset-diff $a $b --json"
	} | RUN_ROUNDS=3 run_table)
	if [ -n "$daff" ]; then
		res+=$'\n'$( {
			echo "key daff $daff --id id $a $b"
			echo "rows daff $daff $a $b"
		} | RUN_ROUNDS=1 RUN_TIMEOUT=${DAFF_TIMEOUT:-150} run_table)
	fi
	echo "$res" | awk -v cap="${DAFF_TIMEOUT:-150}" '
		{ mode[NR] = $1; tool[NR] = $2; t[NR] = $3; rss[NR] = $4; if ($2 == "sentinel") s[$1] = $3 }
		END {
			printf "%-5s %-9s %10s %10s %9s  %s\n", "mode", "tool", "seconds", "peak MB", "ratio", "goal"
			for (i = 1; i <= NR; i++) {
				sec = t[i] ~ /^[0-9.]+$/ ? sprintf("%.3f", t[i]) : (t[i] == "timeout" ? "> " cap : t[i])
				mb = t[i] == "timeout" ? "-" : sprintf("%.0f", rss[i] / 1024)
				ratio = t[i] ~ /^[0-9.]+$/ && s[mode[i]] > 0 ? sprintf("%.1fx", t[i] / s[mode[i]]) : \
					(t[i] == "timeout" ? sprintf("> %.0fx", cap / s[mode[i]]) : "-")
				goal = tool[i] == "sentinel" ? \
					((t[i] < 0.5 && rss[i] < 300 * 1024) ? "< 0.5 s, < 300 MB: ok" : "< 0.5 s, < 300 MB: MISSED") : ""
				printf "%-5s %-9s %10s %10s %9s  %s\n", mode[i], tool[i], sec, mb, ratio, goal
			}
		}'
}

# ---- upload -------------------------------------------------------------

upload_section() {
	local mb=${UPLOAD_MB:-1024}
	local f="$DATA/upload-$mb.csv" dir="$DATA/upload-server"
	if [ ! -s "$f" ]; then
		echo "generating a $mb MiB CSV into $DATA"
		# Lines of the diff's shape, repeated with a counter: fast to make.
		/usr/bin/python3 - "$f" "$mb" <<'PY'
import random, sys
path, mb = sys.argv[1], int(sys.argv[2])
r = random.Random(7)
cities = ["Paris", "Lyon", "Oslo", "Porto", "Quito", "Accra", "Hanoi", "Lima"]
block = []
for i in range(20000):
    g = r.getrandbits(64)
    block.append("%d,%d.%02d,%s,user%d,%s,2024-%02d-%02d,%08x" % (
        g % 1000, g >> 10 & 0xffff, g >> 26 & 63, cities[g >> 32 & 7], g >> 35 & 0xfffff,
        "true" if g >> 55 & 1 else "false", (g >> 56 & 7) + 1, (g >> 59 & 15) + 1, g & 0xffffffff))
want, n, i = mb << 20, 0, 0
with open(path, "w") as out:
    head = "id,qty,price,city,name,flag,date,code\n"
    out.write(head); n += len(head)
    while n < want:
        chunk = "".join("%d,%s\n" % (i + k, block[(i + k) % len(block)]) for k in range(20000))
        i += 20000
        out.write(chunk); n += len(chunk)
PY
	fi
	local bytes
	bytes=$(stat -c %s "$f")
	cat "$f" >/dev/null # the page cache holds the file for every measurement alike
	# Each figure is the best of UPLOAD_ROUNDS rounds, the three measured in
	# turn within each round, so that a burst of other work on the machine
	# does not land on one of them only.
	local t0 t1 sha_s= dd_s= up_s= cpu_s= bin_s= bin_cpu= curl_cpu= s round tck
	local fb="$DATA/upload-$mb.bin"
	[ "$(stat -c %s "$fb" 2>/dev/null || echo 0)" = "$bytes" ] || head -c "$bytes" /dev/urandom >"$fb"
	cat "$fb" >/dev/null
	tck=$(getconf CLK_TCK)
	best() { if [ -z "$1" ] || [ "$(echo "$2 < $1" | bc)" = 1 ]; then echo "$2"; else echo "$1"; fi; }
	for round in $(seq 1 "${UPLOAD_ROUNDS:-3}"); do
		rm -rf "$dir"
		mkdir -p "$dir"
		t0=$(date +%s.%N)
		openssl dgst -sha256 "$f" >/dev/null
		t1=$(date +%s.%N)
		sha_s=$(best "$sha_s" "$(echo "$t1 - $t0" | bc)")
		t0=$(date +%s.%N)
		dd if="$f" of="$dir/dd.out" bs=1M conv=fsync status=none
		t1=$(date +%s.%N)
		dd_s=$(best "$dd_s" "$(echo "$t1 - $t0" | bc)")
		rm -f "$dir/dd.out"
		SENTINEL_ADMIN_PASSWORD=benchpass123 "$BIN" server --listen 127.0.0.1:0 --data "$dir" \
			--ready-file "$dir/ready" --log-level warn 2>"$dir/server.log" &
		local pid=$!
		for _ in $(seq 1 200); do [ -s "$dir/ready" ] && break; sleep 0.05; done
		local url tok
		url=$(cat "$dir/ready")
		tok=$(curl -s -X POST -H 'Content-Type: application/json' \
			--data '{"username":"admin","password":"benchpass123"}' "$url/api/v1/auth/login" | jq -r .token)
		local c0
		c0=$(awk '{ print $14 + $15 }' "/proc/$pid/stat")
		t0=$(date +%s.%N)
		/usr/bin/time -f '%U %S' -o "$dir/curl.time" curl -s -o "$dir/reply.json" -X POST -T "$f" \
			-H "Authorization: Bearer $tok" -H 'Content-Type: text/csv' \
			"$url/api/v1/datasets/bench/versions?filename=bench.csv"
		t1=$(date +%s.%N)
		curl_cpu=$(best "$curl_cpu" "$(awk '{ printf "%.2f", $1 + $2 }' "$dir/curl.time")")
		s=$(echo "$t1 - $t0" | bc)
		# A refused upload would look fast: only a profiled version counts.
		if [ "$(jq -r '[.. | objects | select(has("rows")) | .rows][0] // "none"' "$dir/reply.json")" = none ]; then
			echo "bench/datasets.sh: the upload failed: $(head -c 300 "$dir/reply.json")" >&2
			kill "$pid"
			exit 1
		fi
		up_s=$(best "$up_s" "$s")
		# the server's CPU time for this upload (it does nothing else meanwhile)
		cpu_s=$(best "$cpu_s" "$(awk -v t="$tck" -v c0="$c0" '{ printf "%.2f", ($14 + $15 - c0) / t }' "/proc/$pid/stat")")
		c0=$(awk '{ print $14 + $15 }' "/proc/$pid/stat")
		t0=$(date +%s.%N)
		curl -s -o "$dir/reply-bin.json" -X POST -T "$fb" -H "Authorization: Bearer $tok" \
			-H 'Content-Type: application/octet-stream' \
			"$url/api/v1/datasets/benchbin/versions?filename=bench.bin"
		t1=$(date +%s.%N)
		[ "$(jq -r .bytes "$dir/reply-bin.json")" = "$bytes" ] ||
			{ echo "bench/datasets.sh: the binary upload failed: $(head -c 300 "$dir/reply-bin.json")" >&2; kill "$pid"; exit 1; }
		bin_s=$(best "$bin_s" "$(echo "$t1 - $t0" | bc)")
		bin_cpu=$(best "$bin_cpu" "$(awk -v t="$tck" -v c0="$c0" '{ printf "%.2f", ($14 + $15 - c0) / t }' "/proc/$pid/stat")")
		kill "$pid"
		wait "$pid" 2>/dev/null || true
		cp "$dir/reply.json" "$DATA/upload-reply.json"
	done
	cp "$DATA/upload-reply.json" "$dir/reply.json"
	local rows
	rows=$(jq -r '[.. | objects | select(has("rows")) | .rows][0] // "?"' "$dir/reply.json")
	echo
	echo "== upload: $((bytes >> 20)) MiB CSV over loopback ($rows rows profiled), $(getconf _NPROCESSORS_ONLN) CPUs, best of ${UPLOAD_ROUNDS:-3} rounds, load average $(cut -d' ' -f1-3 /proc/loadavg)"
	/usr/bin/python3 - "$bytes" "$sha_s" "$dd_s" "$up_s" "$cpu_s" "$bin_s" "$bin_cpu" "$curl_cpu" <<'PY'
import sys
b, sha, dd, up, cpu, bin_s, bin_cpu, curl_cpu = int(sys.argv[1]), *map(float, sys.argv[2:9])
mbs = lambda s: b / s / 1e6
floor = min(mbs(sha), mbs(dd))
print("%-34s %10s %10s" % ("what", "seconds", "MB/s"))
print("%-34s %10.2f %10.0f" % ("openssl dgst -sha256", sha, mbs(sha)))
print("%-34s %10.2f %10.0f" % ("dd bs=1M conv=fsync", dd, mbs(dd)))
print("%-34s %10.2f %10.0f" % ("sentinel upload (hash+CSV+profile)", up, mbs(up)))
print("%-34s %10.2f %10s" % ("  its server's CPU (all threads)", cpu, "%.2f/GiB" % (cpu / (b / 2**30))))
ratio = mbs(up) / floor
print("upload / lower limit: %.2f  (goal >= 0.80: %s)" % (ratio, "ok" if ratio >= 0.8 else "MISSED"))
gib = b / 2**30
print("what bounds it on this box:")
print("%-34s %10.2f %10.0f" % ("  binary upload (hash+store only)", bin_s, mbs(bin_s)))
print("%-34s %10.2f %10s" % ("    its server's CPU", bin_cpu, "%.2f/GiB" % (bin_cpu / gib)))
print("%-34s %10.2f %10s" % ("  the client's CPU (curl, CSV)", curl_cpu, "%.2f/GiB" % (curl_cpu / gib)))
print("  binary upload / lower limit: %.2f; CPU of the CSV upload, server and client: %.2f s on %d cores"
      % (mbs(bin_s) / floor, cpu + curl_cpu, __import__("os").cpu_count()))
PY
	rm -rf "$dir"
}

for s in $SECTIONS; do
	case "$s" in
	diff) diff_section ;;
	upload) upload_section ;;
	*) echo "bench/datasets.sh: unknown section $s" >&2; exit 2 ;;
	esac
done
