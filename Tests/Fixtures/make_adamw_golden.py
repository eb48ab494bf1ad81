#!/usr/bin/env python3
"""Writes Tests/AutogradTests/Fixtures/adamw_golden.json: a PyTorch AdamW + clip_grad_norm_ trajectory.

Setup: four small float32 parameters in two groups (weight decay 0.1 and 0.0), torch.optim.AdamW with
lr 1e-2, betas (0.9, 0.95), eps 1e-8, run for 5 steps. Before each step the parameters' gradients are set
to fixed tensors (stored in the JSON) and clipped with torch.nn.utils.clip_grad_norm_(max_norm=1.0). The
gradients are scaled so that the pre-clip global norm alternates above and below 1 (clipping on and off).

The JSON holds the initial values, every step's gradients, the pre-clip norms, the values after each step
and the final values. Float32 values are written as the shortest decimal that round-trips exactly.

Run with a Python that has torch: /work/pyenv/bin/python Tests/Fixtures/make_adamw_golden.py
The Swift tests only read the committed JSON.
"""

import json
import os
import tempfile

import torch

LR = 1e-2
BETAS = (0.9, 0.95)
EPS = 1e-8
MAX_NORM = 1.0
STEPS = 5
# Target pre-clip global gradient norms per step: clipping is active when > MAX_NORM.
TARGET_NORMS = [3.0, 0.5, 1.5, 0.2, 2.0]
PARAMS = [  # name, shape, group
    ("w1", [3, 4], 0),
    ("w2", [5], 0),
    ("b1", [4], 1),
    ("b2", [2, 3], 1),
]
WEIGHT_DECAY = [0.1, 0.0]


def floats(t):
    return [float(x) for x in t.detach().reshape(-1).tolist()]


def main():
    torch.manual_seed(20240601)
    params = [torch.nn.Parameter(0.5 * torch.randn(shape, dtype=torch.float32)) for _, shape, _ in PARAMS]
    initial = [floats(p) for p in params]

    groups = [
        {"params": [p for p, (_, _, g) in zip(params, PARAMS) if g == gi], "weight_decay": wd}
        for gi, wd in enumerate(WEIGHT_DECAY)
    ]
    opt = torch.optim.AdamW(groups, lr=LR, betas=BETAS, eps=EPS, foreach=False)

    grads_per_step, norms, after_step = [], [], []
    for step in range(STEPS):
        raw = [torch.randn(shape, dtype=torch.float32) for _, shape, _ in PARAMS]
        total = torch.sqrt(sum((g.double() ** 2).sum() for g in raw)).item()
        grads = [(g * (TARGET_NORMS[step] / total)).to(torch.float32) for g in raw]
        grads_per_step.append([floats(g) for g in grads])
        for p, g in zip(params, grads):
            p.grad = g.clone()
        norm = torch.nn.utils.clip_grad_norm_(params, max_norm=MAX_NORM)
        norms.append(float(norm))
        opt.step()
        after_step.append([floats(p) for p in params])

    out = {
        "description": "torch.optim.AdamW + clip_grad_norm_ golden trajectory (see make_adamw_golden.py)",
        "torch_version": torch.__version__,
        "lr": LR,
        "betas": list(BETAS),
        "eps": EPS,
        "max_norm": MAX_NORM,
        "steps": STEPS,
        "groups": [{"weight_decay": wd, "params": [n for n, _, g in PARAMS if g == gi]} for gi, wd in enumerate(WEIGHT_DECAY)],
        "params": [
            {
                "name": name,
                "shape": shape,
                "group": group,
                "initial": initial[i],
                "grads": [grads_per_step[s][i] for s in range(STEPS)],
                "after_step": [after_step[s][i] for s in range(STEPS)],
                "final": after_step[-1][i],
            }
            for i, (name, shape, group) in enumerate(PARAMS)
        ],
        "pre_clip_norms": norms,
    }

    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "AutogradTests", "Fixtures", "adamw_golden.json")
    path = os.path.normpath(path)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)
    print(f"wrote {path}: pre-clip norms {[round(n, 6) for n in norms]}")


if __name__ == "__main__":
    main()
