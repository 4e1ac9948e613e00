#!/usr/bin/python3
"""NAB scoring of a results directory, written from the NAB paper's definition
(Lavin & Ahmad 2015, "Evaluating Real-time Anomaly Detection Algorithms")
and the behaviour of its reference scorer.

    nab_score.py NAB_DIR RESULTS_DIR [--self-test]

RESULTS_DIR/<category>/<file>.csv holds timestamp,value,anomaly_score for
every data file of NAB_DIR/data (the format of NAB's results). Per file:

- rows before the probationary period, min(floor(0.15 n), 750), are not
  scored, nor are windows that lie wholly inside it;
- a row at index i inside a labelled window [l, r] (indices), width
  w = r - l + 1, is worth A_TP * sig(-(r - i + 1) / w) / sig(-1) where
  sig(y) = 2 / (1 + exp(5 y)) - 1 (so the window's first row is worth A_TP);
  only the best (earliest) detection of a window counts; a window without
  one costs A_FN;
- a detection outside every window costs A_FP * sig(y) with
  y = (i - r_prev) / (w_prev - 1) after the previous window (r_prev, w_prev),
  clipped to -1 beyond y = 3, and A_FP * -1 when no window precedes it.

A detection is a row whose anomaly_score >= threshold; one threshold serves
the whole corpus and is chosen to maximise the total, as NAB's optimiser
does (here exhaustively over every distinct score). The normalised score is
100 (S - S_null) / (S_perfect - S_null), S_null from a detector that never
fires and S_perfect from one that fires on each window's first scored row.
"""
import csv
import datetime
import json
import math
import os
import sys

import numpy as np

PROFILE = {"tp": 1.0, "fp": 0.11, "fn": 1.0}  # the standard profile (A_TN 1.0 scores nothing)


def sig(y):
    if y > 3.0:
        return -1.0
    return 2.0 / (1.0 + math.exp(5.0 * y)) - 1.0


def parse_ts(s):
    s = s.strip()
    for fmt in ("%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M:%S"):
        try:
            return datetime.datetime.strptime(s, fmt)
        except ValueError:
            pass
    raise ValueError("bad timestamp %r" % s)


def read_csv(path):
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    return rows[0], rows[1:]


class File:
    """One data file's per-row weights: win[i] is the window id of row i
    (-1 outside), w[i] the row's weighted score if it were a detection."""

    def __init__(self, name, timestamps, windows):
        n = len(timestamps)
        self.name = name
        self.n = n
        self.prob = int(min(math.floor(0.15 * n), 0.15 * 5000))
        index = {t: i for i, t in enumerate(timestamps)}
        spans = []
        for lo, hi in windows:
            a, b = index[parse_ts(lo)], index[parse_ts(hi)]
            spans.append((a, b))
        spans.sort()
        win = np.full(n, -1, dtype=np.int64)
        w = np.zeros(n)
        max_tp = sig(-1.0)
        prev = None
        k = 0
        for i in range(n):
            if k < len(spans) and spans[k][0] <= i <= spans[k][1]:
                a, b = spans[k]
                width = b - a + 1
                win[i] = k
                w[i] = PROFILE["tp"] * sig(-(b - i + 1) / width) / max_tp
                if i == b:
                    prev = (b, width)
                    k += 1
            else:
                if prev is None:
                    u = -1.0
                else:
                    u = sig(abs(i - prev[0]) / float(prev[1] - 1))
                w[i] = PROFILE["fp"] * u
        self.win = win
        self.w = w
        scored = np.arange(n) >= self.prob
        # Windows with at least one scored row take part (a window wholly in
        # the probationary period is NAB's "probationary" and is dropped).
        self.live = sorted({int(x) for x in win[scored] if x >= 0})
        self.scored = scored

    def first_rows(self):
        """The first scored row of each live window (the perfect detector)."""
        out = []
        for k in self.live:
            idx = np.nonzero((self.win == k) & self.scored)[0]
            out.append(int(idx[0]))
        return out


def load_corpus(nab):
    with open(os.path.join(nab, "labels", "combined_windows.json")) as f:
        labels = json.load(f)
    files = []
    for rel in sorted(labels):
        _, rows = read_csv(os.path.join(nab, "data", rel))
        ts = [parse_ts(r[0]) for r in rows]
        files.append(File(rel, ts, labels[rel]))
    return files


def score_at(files, scores, thr):
    """Total score and counts (tp windows, fp rows, fn windows) at thr."""
    total = 0.0
    tp = fp = fn = 0
    for f, s in zip(files, scores):
        s = np.asarray(s, dtype=float)
        det = (s >= thr) & f.scored
        fpm = det & (f.win < 0)
        fp += int(fpm.sum())
        total += float(f.w[fpm].sum())
        for kw in f.live:
            m = det & (f.win == kw)
            if m.any():
                tp += 1
                total += float(f.w[m].max())
            else:
                fn += 1
                total -= PROFILE["fn"]
    return total, tp, fp, fn


def global_keys(files):
    # Window ids must be unique across files for the sweep.
    base = 0
    for f in files:
        f.gwin = np.where(f.win >= 0, f.win + base, -1)
        base += (int(f.win.max()) + 1) if (f.win >= 0).any() else 0


def corpus_sweep(files, scores):
    vals, keys, ws = [], [], []
    for f, s in zip(files, scores):
        m = f.scored
        vals.append(np.asarray(s, dtype=float)[m])
        keys.append(f.gwin[m])
        ws.append(f.w[m])
    v = np.concatenate(vals)
    k = np.concatenate(keys)
    w = np.concatenate(ws)
    order = np.argsort(-v, kind="stable")
    v, k, w = v[order], k[order], w[order]
    nwin = sum(len(f.live) for f in files)
    total = -PROFILE["fn"] * nwin
    best_total, best_thr = total, math.inf
    got = {}
    n = len(v)
    i = 0
    while i < n:
        j = i
        vi = v[i]
        while j < n and v[j] == vi:
            kj = int(k[j])
            if kj < 0:
                total += w[j]
            else:
                old = got.get(kj, -PROFILE["fn"])
                if w[j] > old:
                    total += w[j] - old
                    got[kj] = w[j]
            j += 1
        if total > best_total + 1e-12:
            best_total, best_thr = total, vi
        i = j
    return best_total, best_thr


def normalise(files, s):
    nwin = sum(len(f.live) for f in files)
    s_null = -PROFILE["fn"] * nwin
    s_perfect = PROFILE["tp"] * nwin
    return 100.0 * (s - s_null) / (s_perfect - s_null)


def perfect_scores(files):
    out = []
    for f in files:
        s = np.zeros(f.n)
        s[f.first_rows()] = 1.0
        out.append(s)
    return out


def self_test(files):
    null = [np.zeros(f.n) for f in files]
    perf = perfect_scores(files)
    s_null = score_at(files, null, 0.5)[0]
    s_perf = score_at(files, perf, 0.5)[0]
    n0 = normalise(files, s_null)
    n1 = normalise(files, s_perf)
    sw1 = normalise(files, corpus_sweep(files, perf)[0])
    sw0 = normalise(files, corpus_sweep(files, null)[0])
    print("self-test: null %.3f perfect %.3f (sweep: null %.3f perfect %.3f)" % (n0, n1, sw0, sw1))
    ok = abs(n0) < 1e-9 and abs(n1 - 100) < 1e-9 and abs(sw1 - 100) < 1e-9 and abs(sw0) < 1e-9
    # A detection on a window's last row is worth sig(-1/w)/sig(-1) > 0; one
    # past every window's end costs; a late one is worth less than an early one.
    f = next(f for f in files if f.live)
    kw = f.live[0]
    rows = np.nonzero((f.win == kw) & f.scored)[0]
    ok = ok and f.w[rows[0]] > f.w[rows[-1]] > 0
    ok = ok and f.w[rows[-1] + 1] < 0 if rows[-1] + 1 < f.n and f.win[rows[-1] + 1] < 0 else ok
    return ok


def main(argv):
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    nab, res = argv[1], argv[2]
    files = load_corpus(nab)
    global_keys(files)
    if "--self-test" in argv[3:]:
        return 0 if self_test(files) else 1
    scores = []
    for f in files:
        _, rows = read_csv(os.path.join(res, f.name))
        if len(rows) != f.n:
            print("%s: %d rows, the data has %d" % (f.name, len(rows), f.n), file=sys.stderr)
            return 1
        scores.append(np.array([float(r[2]) for r in rows]))
    best, thr = corpus_sweep(files, scores)
    tot, tp, fp, fn = score_at(files, scores, thr)
    assert abs(tot - best) < 1e-6, (tot, best)
    print("threshold %.6g: windows detected %d of %d, false positive rows %d" %
          (thr, tp, tp + fn, fp))
    print("score %.1f" % normalise(files, best))
    if "--per-file" in argv[3:]:
        for f, s in zip(files, scores):
            t, a, b, c = score_at([f], [s], thr)
            print("  %-60s tp %d fn %d fp %d  %.2f" % (f.name, a, c, b, t))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
