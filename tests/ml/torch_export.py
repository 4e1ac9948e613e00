"""Trains two small autoencoders with PyTorch, exports them with
torch.onnx.export, and writes for each a model directory the engine
loads (model.onnx, config.json) plus test.csv and torch's expected
scores (expected.txt, one per row).

Usage: /usr/bin/python3 tests/ml/torch_export.py OUTDIR
  OUTDIR/a: 16-8-4-8-16, ReLU, nn.Linear, dynamic batch (Gemm + Relu)
  OUTDIR/b: 12-6-3-6-12, Tanh/LeakyReLU/Sigmoid, x @ W + b after a
            reshape, fixed batch 1 (Reshape, MatMul + Add, activations)
"""
import json
import os
import sys

import numpy as np
import torch
from torch import nn

torch.manual_seed(0)
torch.set_num_threads(1)


class MatMulAE(nn.Module):
    def __init__(self, sizes, acts):
        super().__init__()
        self.w = nn.ParameterList()
        self.b = nn.ParameterList()
        for i, o in zip(sizes[:-1], sizes[1:]):
            self.w.append(nn.Parameter(torch.randn(i, o) / i ** 0.5))
            self.b.append(nn.Parameter(torch.randn(o) * 0.1))
        self.acts = acts
        self.d = sizes[0]

    def forward(self, x):
        x = x.reshape(-1, self.d)
        for k, (w, b) in enumerate(zip(self.w, self.b)):
            x = torch.matmul(x, w) + b
            if k < len(self.acts):
                x = self.acts[k](x)
        return x


def make_data(rng, n, d):
    lat = rng.normal(size=(n, 3))
    mix = rng.normal(size=(3, d))
    x = lat @ mix + 0.1 * rng.normal(size=(n, d)) + rng.uniform(-5, 5, size=d)
    return x.astype(np.float32)


def fit(model, z, epochs=5):
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    t = torch.from_numpy(z)
    for _ in range(epochs):
        for i in range(0, len(t), 64):
            xb = t[i:i + 64]
            loss = ((model(xb) - xb) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()


def export(name, model, d, dynamic, out, rng):
    os.makedirs(out, exist_ok=True)
    x = make_data(rng, 600, d)
    mean = x.mean(axis=0).astype(np.float32)
    std = x.std(axis=0).astype(np.float32)
    z = ((x - mean) / std).astype(np.float32)
    fit(model, z)
    model.eval()
    kw = {}
    if dynamic:
        kw["dynamic_axes"] = {"input": {0: "batch"}, "output": {0: "batch"}}
    torch.onnx.export(model, torch.zeros(1, d), os.path.join(out, "model.onnx"),
                      input_names=["input"], output_names=["output"], opset_version=13, **kw)
    test = make_data(rng, 200, d)
    test[:10] += rng.normal(scale=8, size=(10, d)).astype(np.float32)  # outliers
    with torch.no_grad():
        zt = (torch.from_numpy(test) - torch.from_numpy(mean)) / torch.from_numpy(std)
        rec = torch.cat([model(zt[i:i + 1]) for i in range(len(zt))]) if not dynamic else model(zt)
        scores = ((rec - zt) ** 2).mean(dim=1).numpy()
    feats = ["x%d" % i for i in range(d)]
    conf = {"format_version": 1, "features": feats, "input_dim": d,
            "mean": [float(v) for v in mean], "std": [float(v) for v in std],
            "threshold": float(np.quantile(scores[10:], 0.99)), "quantile": 0.99}
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(conf, f)
    with open(os.path.join(out, "test.csv"), "w") as f:
        f.write(",".join(feats) + "\n")
        for r in test:
            f.write(",".join(repr(float(v)) for v in r) + "\n")
    with open(os.path.join(out, "expected.txt"), "w") as f:
        for s in scores:
            f.write("%.9g\n" % s)
    print("%s: exported %s" % (name, out))


def main():
    out = sys.argv[1]
    rng = np.random.default_rng(4)
    a = nn.Sequential(nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 4), nn.ReLU(),
                      nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 16))
    export("a", a, 16, True, os.path.join(out, "a"), rng)
    b = MatMulAE([12, 6, 3, 6, 12], [nn.Tanh(), nn.LeakyReLU(0.2), nn.Sigmoid()])
    export("b", b, 12, False, os.path.join(out, "b"), rng)


if __name__ == "__main__":
    main()
