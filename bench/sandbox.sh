#!/usr/bin/env bash
# Sandbox start-to-exit latency against its peers, interleaved round-robin
# (the machine's load drifts; interleaving keeps the comparison fair).
#
#   bash bench/sandbox.sh [RUNS]        (default 200; needs root and bubblewrap)
#
# For each workload (/bin/true, /usr/bin/python3 -c pass) and each runner
# (plain fork/exec, unshare(1), sentinel sandbox run with all isolation and
# limits on, bubblewrap) one run of every runner per round, RUNS rounds;
# prints median and p99 per runner and the ratio of medians to bubblewrap
# and to unshare. Two extra rows split the CLI's time: `sentinel --version`
# (the binary's start-up alone) and `sentinel (in-process)` (sbx_run called
# by bench/sbx_inproc.c, linked with the library: what the node agent pays). Timing uses posix_spawn + waitpid from one Python process
# so the harness adds the same small cost to every runner.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-${RUNS:-200}}
BIN=${SENTINEL_BIN:-./sentinel}
[ -x "$BIN" ] || { echo "bench/sandbox.sh: $BIN not built (run make)" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || { echo "bench/sandbox.sh: needs root (namespaces, cgroups)" >&2; exit 1; }
command -v bwrap >/dev/null || { echo "bench/sandbox.sh: bubblewrap missing (bash scripts/deps.sh --bench)" >&2; exit 1; }
command -v unshare >/dev/null || { echo "bench/sandbox.sh: unshare(1) missing" >&2; exit 1; }

# The in-process helper: sbx_run() without the binary's start-up (BUILD:
# the build directory to use, as for make).
BUILD=${BUILD:-build}
make -s BUILD="$BUILD" "$BUILD/libsentinel.a" >/dev/null
mkdir -p "$BUILD/bench"
cc -std=gnu17 -O2 -D_GNU_SOURCE -Isrc -o "$BUILD/bench/sbx_inproc" bench/sbx_inproc.c "$BUILD/libsentinel.a" \
	$(pkg-config --cflags --libs $(sed -n 's/^PKGS *:= *//p' Makefile)) -pthread -lm -ldl

# Every /lib* the host has, for bubblewrap's read-only binds.
BW_BINDS=()
for d in /usr /lib /lib64 /lib32 /bin /sbin; do
	[ -e "$d" ] && BW_BINDS+=("$d")
done

export BUILD
exec /usr/bin/python3 - "$RUNS" "$BIN" "${BW_BINDS[@]}" <<'EOF'
import os, subprocess, sys, time

runs = int(sys.argv[1])
sentinel = os.path.abspath(sys.argv[2])
bw_binds = sys.argv[3:]

def runners(cmd):
    bw = ["bwrap", "--unshare-all", "--die-with-parent"]
    for d in bw_binds:
        bw += ["--ro-bind", d, d]
    bw += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]
    return [
        ("fork/exec", cmd),
        ("unshare", ["unshare", "-m", "-p", "-n", "-u", "-i", "--fork"] + cmd),
        ("sentinel", [sentinel, "sandbox", "run", "--mem", "256M", "--pids", "256",
                      "--cpus", "1", "--time", "30s", "--tmp-size", "64M",
                      "--output-limit", "1M", "--"] + cmd),
        ("bubblewrap", bw + cmd),
        ("sentinel --version", [sentinel, "--version"]),
        ("sentinel (in-process)", "python" if "python3" in cmd[0] else "true"),
    ]

helper = subprocess.Popen([os.environ.get("BUILD", "build") + "/bench/sbx_inproc"], stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE, text=True, bufsize=1)

def which(prog):
    if "/" in prog:
        return prog
    for d in os.environ.get("PATH", "/usr/bin:/bin").split(":"):
        p = os.path.join(d, prog)
        if os.access(p, os.X_OK):
            return p
    raise SystemExit("bench/sandbox.sh: %s not found" % prog)

devnull = os.open(os.devnull, os.O_RDWR)

def once(argv):
    if isinstance(argv, str):    # the in-process helper: one request, one answer
        t0 = time.perf_counter_ns()
        helper.stdin.write(argv + "\n"); helper.stdin.flush()
        ans = helper.stdout.readline()
        dt = (time.perf_counter_ns() - t0) / 1e6
        if ans != "ok\n":
            raise SystemExit("bench/sandbox.sh: in-process sandbox run failed")
        return dt
    t0 = time.perf_counter_ns()
    pid = os.posix_spawn(which(argv[0]), argv, os.environ,
                         file_actions=[(os.POSIX_SPAWN_DUP2, devnull, 0),
                                       (os.POSIX_SPAWN_DUP2, devnull, 1),
                                       (os.POSIX_SPAWN_DUP2, devnull, 2)])
    _, st = os.waitpid(pid, 0)
    dt = (time.perf_counter_ns() - t0) / 1e6
    if not (os.WIFEXITED(st) and os.WEXITSTATUS(st) == 0):
        raise SystemExit("bench/sandbox.sh: %s failed (status %d)" % (" ".join(argv), st))
    return dt

def pct(xs, p):
    xs = sorted(xs)
    k = min(len(xs) - 1, max(0, int(round(p / 100.0 * (len(xs) - 1)))))
    return xs[k]

print("# sandbox start-to-exit, %d interleaved rounds, %s" % (runs, time.strftime("%Y-%m-%d %H:%M")))
for label, cmd in [("/bin/true", ["/bin/true"]), ("python3 -c pass", ["/usr/bin/python3", "-c", "pass"])]:
    rs = runners(cmd)
    for _, argv in rs:          # warm caches once, untimed
        once(argv)
    times = {name: [] for name, _ in rs}
    for _ in range(runs):
        for name, argv in rs:
            times[name].append(once(argv))
    med = {n: pct(t, 50) for n, t in times.items()}
    print("\n## %s" % label)
    print("| runner | median ms | p99 ms | vs bubblewrap | vs unshare |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, _ in rs:
        print("| %s | %.2f | %.2f | %.2fx | %.2fx |" % (
            name, med[name], pct(times[name], 99), med[name] / med["bubblewrap"],
            med[name] / med["unshare"]))
EOF
