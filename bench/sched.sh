#!/usr/bin/env bash
# The scheduler end to end: one server, K local node agents, one `noop` job
# of CHUNKS chunks (chunk_size 1), timed from the submit to `completed`.
#
#   bash bench/sched.sh [CHUNKS]     (default 100000; NODES=K, default 4;
#                                    TIMEOUT=s, default 600; RUNS=n bwrap runs;
#                                    LAT_JOBS=n single-chunk jobs, default 200)
#
# Prints chunks, seconds, chunks/s, the CPU the server and the agents spent
# per chunk, and latency p50/p99 read from the server's /metrics histograms
# (docs/jobs.md): sentinel_sched_assign_latency_seconds (assignable -> in a
# node's hands: the issue's assignment latency) and, for the burst,
# sentinel_sched_queue_wait_seconds (pending -> assigned, mostly the wait
# for a free slot). Then the latency phase: the nodes long-poll idle and
# LAT_JOBS single-chunk noop jobs are submitted one at a time: the
# assignment latency of those (submit -> in the node's hands, as the server
# measures it) is the figure the goal is about; the client's submit ->
# completed round trip is shown beside it. All beside the published anchors
# of the issue and the goal, with ratios. Then one row for a sandboxed chunk: a serial job of script
# chunks `exec /bin/true` against a serial `noop` job on a one-slot node
# (the difference is what the sandbox adds per chunk), beside bubblewrap's
# start-to-exit of /bin/true. A missed goal, a missing metric or a refused
# script job is reported in the table, never an abort: the bench reports.
set -euo pipefail
cd "$(dirname "$0")/.."
CHUNKS=${1:-${CHUNKS:-100000}}
BIN=${SENTINEL_BIN:-./sentinel}
[ -x "$BIN" ] || { echo "bench/sched.sh: $BIN not built (run make)" >&2; exit 1; }
command -v curl >/dev/null || { echo "bench/sched.sh: curl missing" >&2; exit 1; }
export CHUNKS NODES=${NODES:-4} TIMEOUT=${TIMEOUT:-600} RUNS=${RUNS:-200} LAT_JOBS=${LAT_JOBS:-200}
exec /usr/bin/python3 - "$(realpath "$BIN")" <<'EOF'
import json, os, re, shutil, signal, subprocess, sys, tempfile, time, urllib.request, urllib.error

BIN = sys.argv[1]
CHUNKS, K = int(os.environ["CHUNKS"]), int(os.environ["NODES"])
TIMEOUT, RUNS = float(os.environ["TIMEOUT"]), int(os.environ["RUNS"])
LAT_JOBS = int(os.environ["LAT_JOBS"])
TMP = tempfile.mkdtemp(prefix="sentinel-bench-sched.")
procs = []
GOAL_RATE, GOAL_P50_MS = 20000.0, 1.0
ANCHORS = [("Slurm (documented sustained)", 500.0, "jobs/s"),
           ("Graphile Worker (24 cores)", 15600.0, "jobs/s"),
           ("River (8-core M2)", 46000.0, "jobs/s")]

def cleanup():
    # Agents first (a graceful TERM drains them), then the server.
    for p in reversed(procs):
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in reversed(procs):
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    shutil.rmtree(TMP, ignore_errors=True)

def die(msg):
    print("bench/sched.sh: " + msg, file=sys.stderr)
    for f in sorted(os.listdir(TMP)):
        if f.endswith(".log"):
            print("--- %s (tail)" % f, file=sys.stderr)
            with open(os.path.join(TMP, f), errors="replace") as fh:
                print("".join(fh.readlines()[-10:]), file=sys.stderr)
    cleanup()
    sys.exit(1)

def api(method, path, body=None, token=None, raw=False, ctype="application/json"):
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    req = urllib.request.Request(URL + path, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", ctype)
    if token or TOKEN:
        req.add_header("Authorization", "Bearer " + (token or TOKEN))
    for attempt in range(5):
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                out = r.read()
                return r.status, (out.decode() if raw else (json.loads(out) if out else {}))
        except urllib.error.HTTPError as e:
            out = e.read()
            try:
                return e.code, json.loads(out)
            except ValueError:
                return e.code, {"error": {"code": "http", "message": out.decode(errors="replace")}}
        except (urllib.error.URLError, ConnectionError) as e:
            # A refused or reset connection is retried; a dead server is not.
            if procs and procs[0].poll() is not None:
                die("the server exited (status %s) during %s %s" % (procs[0].returncode, method, path))
            if attempt == 4:
                die("%s %s: %s" % (method, path, e))
            time.sleep(0.2 * (attempt + 1))

def errtext(st, j):
    e = j.get("error", {}) if isinstance(j, dict) else {}
    return "HTTP %d %s: %s" % (st, e.get("code", "?"), e.get("message", ""))

# ---- the server ----
URL, TOKEN = "", None
ready = os.path.join(TMP, "ready")
env = dict(os.environ, SENTINEL_ADMIN_PASSWORD="benchpass12345")
procs.append(subprocess.Popen([BIN, "server", "--listen", "127.0.0.1:0", "--data",
                               os.path.join(TMP, "data"), "--ready-file", ready,
                               "--node-timeout", "30s", "--log-level", "warn",
                               # K agents with 64 slots each hold many connections.
                               "--max-connections", "8192", "--max-connections-per-ip", "4096"],
                              stdout=subprocess.DEVNULL,
                              stderr=open(os.path.join(TMP, "server.log"), "w"), env=env))
for _ in range(400):
    if os.path.exists(ready) and os.path.getsize(ready):
        break
    if procs[0].poll() is not None:
        die("the server did not start")
    time.sleep(0.05)
URL = open(ready).read().strip()
st, j = api("POST", "/api/v1/auth/login", {"username": "admin", "password": "benchpass12345"})
if st != 200:
    die("login: " + errtext(st, j))
TOKEN = j["token"]
CODE_RE = re.compile(r"node claim ([0-9A-Z]{6})\b")

def start_node(name, slots):
    """Starts an agent, claims it with the code it prints; returns its id."""
    log = os.path.join(TMP, name + ".log")
    procs.append(subprocess.Popen([BIN, "node", "--server", URL, "--state",
                                   os.path.join(TMP, name), "--name", name,
                                   "--max-parallel", str(slots)],
                                  stdout=open(log, "w"), stderr=subprocess.STDOUT))
    deadline = time.time() + 20
    while time.time() < deadline:
        with open(log, errors="replace") as fh:
            for line in fh:
                if "claim" in line.lower():
                    for code in CODE_RE.findall(line):
                        st, j = api("POST", "/api/v1/nodes/claim", {"code": code})
                        if st == 200:
                            return j["id"]
        if procs[-1].poll() is not None:
            die("node %s exited" % name)
        time.sleep(0.1)
    die("node %s printed no claim code that the server took" % name)

def wait_online(ids):
    deadline = time.time() + 30
    while time.time() < deadline:
        st, j = api("GET", "/api/v1/nodes?limit=1000")
        online = {n["id"] for n in j.get("items", []) if n.get("state") == "online"} if st == 200 else set()
        if set(ids) <= online:
            return
        time.sleep(0.1)
    die("nodes %s did not come online" % ", ".join(ids))

def metrics():
    st, text = api("GET", "/metrics", raw=True)
    return text if st == 200 else ""

HIST = "sentinel_sched_assign_latency_seconds"
QWAIT = "sentinel_sched_queue_wait_seconds"

def buckets(text, hist=HIST):
    """{le: cumulative count} of the histogram (summed over label sets)."""
    out = {}
    for m in re.finditer(r'^%s_bucket\{([^}]*)\}\s+([0-9.eE+-]+)' % hist, text, re.M):
        le = re.search(r'le="([^"]+)"', m.group(1))
        if le:
            k = float("inf") if le.group(1) == "+Inf" else float(le.group(1))
            out[k] = out.get(k, 0.0) + float(m.group(2))
    return out

def quantile(b0, b1, q):
    """q-quantile (ms) of the observations between two snapshots, linear
    inside a bucket as Prometheus's histogram_quantile does."""
    les = sorted(b1)
    cum = [b1[le] - b0.get(le, 0.0) for le in les]
    if not les or cum[-1] <= 0:
        return None
    rank, prev_le, prev_c = q * cum[-1], 0.0, 0.0
    for le, c in zip(les, cum):
        if c >= rank:
            if le == float("inf"):     # past the last bound: a floor only
                return (prev_le * 1000, ">")
            return (prev_le + (le - prev_le) * (rank - prev_c) / max(c - prev_c, 1e-12)) * 1000
        prev_le, prev_c = le, c
    return None

TICK = os.sysconf("SC_CLK_TCK")

def cpu_s(p):
    """User + system CPU seconds of process p so far (its threads included)."""
    try:
        with open("/proc/%d/stat" % p.pid) as fh:
            f = fh.read().rsplit(")", 1)[1].split()
        return (int(f[11]) + int(f[12])) / TICK
    except (OSError, IndexError, ValueError):
        return 0.0

def run_job(body, timeout, poll=0.05):
    """Submits body, polls until the job ends; (seconds, job, error)."""
    t0 = time.perf_counter()
    st, j = api("POST", "/api/v1/jobs", body)
    if st not in (200, 201):
        return None, None, errtext(st, j)
    jid, job = j["id"], j
    while time.perf_counter() - t0 < timeout:
        st, job = api("GET", "/api/v1/jobs/" + jid)
        if st != 200:
            return None, None, errtext(st, job)
        if job.get("state") in ("completed", "failed", "cancelled"):
            break
        time.sleep(poll)
    dt = time.perf_counter() - t0
    if job.get("state") != "completed":
        api("POST", "/api/v1/jobs/%s/cancel" % jid)
        done = job.get("chunks", {}).get("completed", 0)
        return dt, job, "%s after %.0f s (%d of %d chunks completed: %s)" % (
            job.get("state"), dt, done, job.get("chunks", {}).get("total", 0), job.get("reason"))
    return dt, job, None

# ---- the throughput run ----
ids = [start_node("bench%d" % i, 64) for i in range(K)]
wait_online(ids)
t0 = metrics()
m0, q0 = buckets(t0), buckets(t0, QWAIT)
c0 = [cpu_s(p) for p in procs]
secs, job, err = run_job({"name": "bench-noop", "program": "noop", "total_iterations": CHUNKS,
                          "chunk_size": 1, "access": "private"}, TIMEOUT)
if secs is None:
    die("the noop job: " + err)
c1 = [cpu_s(p) for p in procs]
t1 = metrics()
m1, q1 = buckets(t1), buckets(t1, QWAIT)
done = job.get("chunks", {}).get("completed", 0)
rate = done / secs if secs > 0 else 0.0
p50, p99 = quantile(m0, m1, 0.50), quantile(m0, m1, 0.99)
w50, w99 = quantile(q0, q1, 0.50), quantile(q0, q1, 0.99)
srv_us = (c1[0] - c0[0]) * 1e6 / done if done else 0.0
agt_us = sum(c1[1:]) - sum(c0[1:])
agt_us = agt_us * 1e6 / done if done else 0.0

# ---- the latency phase: idle long-polling nodes, one single-chunk job at a time ----
time.sleep(0.3)                    # the agents are back in their long polls
t2 = metrics()
l0 = buckets(t2)
rtts = []
for i in range(LAT_JOBS):
    dt, _, e = run_job({"name": "bench-lat", "program": "noop", "access": "private"}, 30, poll=0.002)
    if e:
        die("a single-chunk job: " + e)
    rtts.append(dt * 1000)
    time.sleep(0.01)               # its node polls again before the next submit
l1 = buckets(metrics())
lat50, lat99 = quantile(l0, l1, 0.50), quantile(l0, l1, 0.99)
rtts.sort()
rtt50 = rtts[len(rtts) // 2] if rtts else None
rtt99 = rtts[min(len(rtts) - 1, int(len(rtts) * 0.99))] if rtts else None

def ms(v):
    if isinstance(v, tuple):
        return "> %.0f" % v[0]
    return "n/a" if v is None else "%.3f" % v

cores = os.cpu_count()
print("# scheduler: %d-chunk noop job (chunk_size 1), %d local nodes x 64 slots, %d cores, %s" % (
    CHUNKS, K, cores, time.strftime("%Y-%m-%d %H:%M")))
if err:
    print("# the job did not complete: %s" % err)
print()
print("| chunks | seconds | chunks/s | server CPU µs/chunk | agents CPU µs/chunk |"
      " assign p50 ms | assign p99 ms | queue wait p50 ms | queue wait p99 ms |")
print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
print("| %d | %.2f | %.0f | %.0f | %.0f | %s | %s | %s | %s |" % (
    done, secs, rate, srv_us, agt_us, ms(p50), ms(p99), ms(w50), ms(w99)))
print()
print("## latency: %d single-chunk jobs submitted one at a time, nodes long-polling idle" % LAT_JOBS)
print("| measure | p50 ms | p99 ms |")
print("| --- | ---: | ---: |")
print("| assignment: submit -> in the node's hands (server histogram) | %s | %s |" % (ms(lat50), ms(lat99)))
print("| client round trip: submit -> job seen completed (2 ms polls) | %s | %s |" % (ms(rtt50), ms(rtt99)))
if p50 is None:
    print("\n(no %s histogram on /metrics: latency not measured)" % HIST)
else:
    print("\n(assignment latency: from the moment a chunk can be assigned (pending, and an eligible"
          " node with a free slot polling) to the node's work reply; queue wait: pending ->"
          " assigned, which in a burst is the wait for a free slot)")
print()
print("| reference | rate | Sentinel / reference |")
print("| --- | ---: | ---: |")
for name, r, unit in ANCHORS:
    print("| %s | %.0f %s | %.2fx |" % (name, r, unit, rate / r))
print("| goal: chunks/s end to end | %.0f chunks/s | %.2fx (%s) |" % (
    GOAL_RATE, rate / GOAL_RATE, "met" if rate >= GOAL_RATE else "missed"))
if lat50 is not None:
    v = lat50[0] if isinstance(lat50, tuple) else lat50
    print("| goal: assignment p50 (latency phase) | < %.1f ms | %s%.2fx (%s) |" % (
        GOAL_P50_MS, ">" if isinstance(lat50, tuple) else "", v / GOAL_P50_MS,
        "met" if v < GOAL_P50_MS and not isinstance(lat50, tuple) else "missed"))

# ---- a sandboxed /bin/true chunk against bubblewrap ----
N = min(200, CHUNKS)
for i in ids:                      # the serial node alone takes work now
    api("POST", "/api/v1/nodes/%s/drain" % i, {"drain": True})
serial = start_node("serial", 1)
wait_online([serial])
row = None
st, j = api("POST", "/api/v1/scripts/bench-true/versions?language=shell",
            b"#!/bin/sh\nexec /bin/true\n", ctype="text/plain; charset=utf-8")
if st not in (200, 201):
    row = "script push refused: " + errtext(st, j)
else:
    ver = j.get("number", 1)
    s_noop, _, e1 = run_job({"name": "serial-noop", "program": "noop", "total_iterations": N,
                             "chunk_size": 1, "access": "private"}, TIMEOUT)
    s_true, _, e2 = run_job({"name": "serial-true", "script": "bench-true@%d" % ver,
                             "runtime": "host", "total_iterations": N, "chunk_size": 1,
                             "access": "private"}, TIMEOUT)
    if e1 or e2:
        row = "serial jobs: " + (e1 or e2)

def bwrap_ms():
    if not shutil.which("bwrap"):
        return None
    cmd = ["bwrap", "--unshare-all", "--die-with-parent"]
    for d in ("/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin"):
        if os.path.exists(d):
            cmd += ["--ro-bind", d, d]
    cmd += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "/bin/true"]
    devnull = os.open(os.devnull, os.O_RDWR)
    ts = []
    for i in range(RUNS + 1):
        t0 = time.perf_counter_ns()
        pid = os.posix_spawn(shutil.which("bwrap"), cmd, os.environ,
                             file_actions=[(os.POSIX_SPAWN_DUP2, devnull, 0),
                                           (os.POSIX_SPAWN_DUP2, devnull, 1),
                                           (os.POSIX_SPAWN_DUP2, devnull, 2)])
        _, stt = os.waitpid(pid, 0)
        if not (os.WIFEXITED(stt) and os.WEXITSTATUS(stt) == 0):
            return None
        if i:                      # the first run warms caches
            ts.append((time.perf_counter_ns() - t0) / 1e6)
    ts.sort()
    return ts[len(ts) // 2]

bw = bwrap_ms()
print()
print("## a sandboxed chunk (/bin/true), %d serial chunks on a one-slot node" % N)
print("| measure | ms per chunk |")
print("| --- | ---: |")
if row:
    print("| sandboxed /bin/true chunk | n/a (%s) |" % row)
else:
    per_noop, per_true = s_noop * 1000 / N, s_true * 1000 / N
    print("| noop chunk, end to end (scheduling, lease, result) | %.2f |" % per_noop)
    print("| script chunk `exec /bin/true`, end to end | %.2f |" % per_true)
    print("| what the sandbox adds (difference) | %.2f |" % (per_true - per_noop))
if bw is None:
    print("| bubblewrap start-to-exit /bin/true (median) | n/a (bwrap missing or failing: scripts/deps.sh --bench) |")
else:
    print("| bubblewrap start-to-exit /bin/true (median of %d) | %.2f |" % (RUNS, bw))
    if not row:
        extra = per_true - per_noop
        print("| goal: sandbox <= bubblewrap + 1 ms | %s (%.2f vs %.2f) |" % (
            "met" if extra <= bw + 1.0 else "missed", extra, bw + 1.0))
cleanup()
EOF
