#!/usr/bin/env python3
"""Loads bench/metrics.sh's query data set into Sentinel and VictoriaMetrics:
metric q_lat for 50 agents (tags model and host), one sample a second per
series, N per series ending at END_MS, as Influx line protocol in batches
of 10,000 samples (ms precision), the same bytes to both. Values: a random
walk kept to two decimals (a gauge such as a latency), seeded, so every run
stores the same data.

usage: metrics_load.py SENTINEL_URL TOKEN VM_URL N END_MS
prints: samples sent, and the seconds each server took."""
import http.client
import random
import sys
import time
import urllib.parse

MODELS = ["gpt-4o", "claude-3", "llama-3", "mistral", "gemini"]


def conn(url):
    u = urllib.parse.urlsplit(url)
    return http.client.HTTPConnection(u.hostname, u.port, timeout=120)


def post(c, path, body, headers):
    c.request("POST", path, body, headers)
    r = c.getresponse()
    data = r.read()
    if r.status // 100 != 2:
        sys.exit("metrics_load.py: %s answered %d: %s" % (path, r.status, data[:300]))


def main():
    surl, token, vurl, n, end_ms = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
    rnd = random.Random(11)
    series = ["q_lat,agent=agent-%d,model=%s,host=host-%d" % (a, MODELS[a % 5], a % 10) for a in range(50)]
    vals = [100.0 + 5 * a for a in range(50)]
    sc, vc = conn(surl), conn(vurl)
    sh = {"Authorization": "Bearer " + token, "Content-Type": "text/plain"}
    vh = {"Content-Type": "text/plain"}
    ts_s = ts_v = 0.0
    sent = 0
    step = 10000 // len(series)  # seconds per batch
    start = end_ms - n * 1000
    for t0 in range(0, n, step):
        lines = []
        for t in range(t0, min(n, t0 + step)):
            ts = start + t * 1000
            for a, s in enumerate(series):
                vals[a] = max(1.0, vals[a] + rnd.gauss(0, 1))
                lines.append("%s value=%.2f %d" % (s, vals[a], ts))
        body = ("\n".join(lines) + "\n").encode()
        t = time.monotonic()
        post(sc, "/api/v1/metrics/write?precision=ms", body, sh)
        ts_s += time.monotonic() - t
        t = time.monotonic()
        post(vc, "/write?precision=ms", body, vh)
        ts_v += time.monotonic() - t
        sent += len(lines)
    print(sent, "%.2f" % ts_s, "%.2f" % ts_v)


main()
