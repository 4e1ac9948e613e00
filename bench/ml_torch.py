"""PyTorch's side of bench/ml.sh: the same measurements as ml_bench.c on
the same architectures, one thread. Prints "name value" lines.
Usage: /usr/bin/python3 bench/ml_torch.py SIZES SECONDS"""
import sys
import time

import torch
from torch import nn

torch.set_num_threads(1)
sizes = [int(s) for s in sys.argv[1].split(",")]
secs = float(sys.argv[2])
layers = []
for k, (i, o) in enumerate(zip(sizes[:-1], sizes[1:])):
    layers.append(nn.Linear(i, o))
    if k < len(sizes) - 2:
        layers.append(nn.ReLU())
model = nn.Sequential(*layers)
x = torch.rand(1024, sizes[0]) * 2 - 1


def rate(fn, per_call):
    """Best rate over chunks of about 10 ms for SECS seconds (as ml_bench.c)."""
    fn()
    best, reps, t0 = 0.0, 1, time.perf_counter()
    while time.perf_counter() - t0 < secs:
        c0 = time.perf_counter()
        for _ in range(reps):
            fn()
        dt = time.perf_counter() - c0
        if dt < 0.005:
            reps *= 2
        else:
            best = max(best, reps * per_call / dt)
    return best


with torch.inference_mode():
    x1 = x[:1].clone()
    print("infer_b1 %.0f" % rate(lambda: model(x1), 1))
    print("infer_b1024 %.0f" % rate(lambda: model(x), 1024))

opt = torch.optim.Adam(model.parameters(), lr=1e-3)
xb = x[:256].clone()


def step():
    opt.zero_grad()
    loss = ((model(xb) - xb) ** 2).mean()
    loss.backward()
    opt.step()


print("train_b256 %.0f" % rate(step, 256))
