"""Synthetic sensor data for the trainer tests: 8 features driven by 2
latent factors plus noise (train.csv: normal rows only, with a time and a
text column to skip), and test.csv with 200 normal rows followed by 40
planted anomalies (labels.txt: 0/1 per test row).

Usage: /usr/bin/python3 tests/ml/make_data.py OUTDIR
"""
import os
import sys

import numpy as np

D = 8


def normal(rng, mix, n):
    lat = rng.normal(size=(n, 2))
    return lat @ mix + 0.05 * rng.normal(size=(n, D)) + np.arange(D) * 10.0


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(42)
    mix = rng.normal(size=(2, D))
    names = ["f%d" % i for i in range(D)]
    x = normal(rng, mix, 3000)
    with open(os.path.join(out, "train.csv"), "w") as f:
        f.write("ts,host," + ",".join(names) + "\n")
        for i, r in enumerate(x):
            f.write('%d,"node-%d",' % (1700000000 + i, i % 3) + ",".join("%.6f" % v for v in r) + "\n")
    t = normal(rng, mix, 240)
    # anomalies: break the latent structure on a few features
    for i in range(200, 240):
        k = rng.choice(D, size=2, replace=False)
        t[i, k] += rng.choice([-1, 1], size=2) * rng.uniform(2.0, 4.0, size=2)
    with open(os.path.join(out, "test.csv"), "w") as f:
        f.write(",".join(names) + "\n")
        for r in t:
            f.write(",".join("%.6f" % v for v in r) + "\n")
    with open(os.path.join(out, "labels.txt"), "w") as f:
        f.write("\n".join(["0"] * 200 + ["1"] * 40) + "\n")


if __name__ == "__main__":
    main()
