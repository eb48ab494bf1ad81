#!/usr/bin/env python3
"""PyTorch interop fixtures for the dense SAE variants (standard, standard_v2, gated, gated_v2, jumprelu,
jumprelu_staircase, multilayer); see Tests/Fixtures/README.md.

Each variant is re-implemented here from the spec (REFERENCE.md section 6) as small torch modules whose
parameters carry the reference's names and shapes, so that `safetensors.torch.save_model` writes exactly
the reference's `sae.{idx}.safetensors` files (JumpReLU staircase members hold their biases and the whole
shared context under `shared_context.*`; multilayer SAEs hold the whole dictionary under `sae.*`).

Two modes, both run with /work/pyenv/bin/python (torch, safetensors):

  make_sae_variant_fixtures.py
      Writes Tests/SAETests/Fixtures/variants/pytorch/<variant>/: sae.json, sae.0.safetensors,
      sae.1.safetensors (random parameters, seeded) and expected.safetensors: the input x [2, 3, 8], the
      sparsity coefficients, the bandwidth, and per SAE i the reconstruction, the dense magnitudes, the
      loss components [reconstruct, sparsity, aux, total, l0, x_norm, x_l1] and the gradient of SAE i's
      total loss w.r.t. every tensor of its file (`{i}.grad.{name}`; zeros for tensors it does not use).

  make_sae_variant_fixtures.py --check-swift
      Loads the Swift-written checkpoints in Tests/SAETests/Fixtures/variants/swift/<variant>/ into the
      same torch modules (load_model, strict), recomputes every value of their expected.safetensors (written
      by Swift) and writes the comparison to Tests/SAETests/Fixtures/variants/swift/python-check.json.
      Exits with status 1 when a value differs by more than 1e-5·max(1, |value|).
"""
import json
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import load_file, load_model, save_file, save_model

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", "SAETests", "Fixtures", "variants"))
C = 8
KEYS = ["0_act", "1_act"]
SIZES = {
    "standard": [16, 16], "standard_v2": [16, 16], "gated": [16, 16], "gated_v2": [16, 16],
    "jumprelu": [16, 16], "jumprelu_staircase": [8, 16], "multilayer": [8, 16],
}
SPARSITY = [0.5, 0.25]
BANDWIDTH = 0.25
TOLERANCE = 1e-5
LOSS_NAMES = ["reconstruct", "sparsity", "aux", "total", "l0", "x_norm", "x_l1"]


def param(*shape):
    return nn.Parameter(torch.zeros(*shape))


# ---------------------------------------------------------------------------------------------------------
# Variants (forward and losses per the spec; each returns (x_hat, f, sparsity, aux))

class Standard(nn.Module):
    def __init__(self, n, tied):
        super().__init__()
        self.tied = tied
        self.W_dec = param(n, C)
        if not tied:
            self.W_enc = param(C, n)
        self.b_enc = param(n)
        self.b_dec = param(C)

    def run(self, x, lam):
        w_enc = self.W_dec.t() if self.tied else self.W_enc
        f = F.relu((x - self.b_dec) @ w_enc + self.b_enc)
        x_hat = f @ self.W_dec + self.b_dec
        sparsity = lam * (f * self.W_dec.norm(dim=1)).sum(dim=-1).mean()
        return x_hat, f, sparsity, torch.zeros(())


class Gated(nn.Module):
    def __init__(self, n, tied):
        super().__init__()
        self.tied = tied
        self.W_dec = param(n, C)
        if not tied:
            self.W_gate = param(C, n)
            self.r_mag = param(n)
        self.b_gate = param(n)
        self.b_mag = param(n)
        self.b_dec = param(C)

    def run(self, x, lam):
        w_gate = self.W_dec.t() if self.tied else self.W_gate
        x_enc = (x - self.b_dec) @ w_gate
        pi_gate = x_enc + self.b_gate
        gate = (pi_gate > 0).float()
        scaled = x_enc if self.tied else x_enc * torch.exp(self.r_mag)
        f = gate * F.relu(scaled + self.b_mag)
        x_hat = f @ self.W_dec + self.b_dec
        norms = self.W_dec.detach().norm(dim=1)
        sparsity = lam * (F.relu(pi_gate) * norms).sum(dim=-1).mean()
        frozen = F.relu(pi_gate) @ self.W_dec.detach() + self.b_dec.detach()
        aux = (x - frozen).pow(2).sum(dim=-1).mean()
        return x_hat, f, sparsity, aux


def rect(u):
    return ((u > -0.5) & (u < 0.5)).float()


class JumpReLUFn(torch.autograd.Function):
    """f = pre·[pre > θ]; ∂f/∂pre = [pre > θ]; ∂f/∂θ = −(θ/ε)·rect((pre − θ)/ε)."""

    @staticmethod
    def forward(ctx, pre, theta, eps):
        ctx.save_for_backward(pre, theta)
        ctx.eps = eps
        return pre * (pre > theta).float()

    @staticmethod
    def backward(ctx, g):
        pre, theta = ctx.saved_tensors
        eps = ctx.eps
        g_theta = (-(theta / eps) * rect((pre - theta) / eps) * g).reshape(-1, theta.numel()).sum(0)
        return (pre > theta).float() * g, g_theta, None


class StepFn(torch.autograd.Function):
    """H(pre − θ); no gradient to pre; ∂H/∂θ = −(1/ε)·rect((pre − θ)/ε) (the JumpReLU paper's definition)."""

    @staticmethod
    def forward(ctx, pre, theta, eps):
        ctx.save_for_backward(pre, theta)
        ctx.eps = eps
        return (pre > theta).float()

    @staticmethod
    def backward(ctx, g):
        pre, theta = ctx.saved_tensors
        eps = ctx.eps
        g_theta = (-(1.0 / eps) * rect((pre - theta) / eps) * g).reshape(-1, theta.numel()).sum(0)
        return None, g_theta, None


def jumprelu_run(x, w_enc, w_dec, b_enc, b_dec, log_threshold, lam, eps):
    pre = F.relu((x - b_dec) @ w_enc + b_enc)
    theta = torch.exp(log_threshold)
    f = JumpReLUFn.apply(pre, theta, eps)
    x_hat = f @ w_dec + b_dec
    sparsity = lam * StepFn.apply(pre, theta, eps).sum(dim=-1).mean()
    return x_hat, f, sparsity, torch.zeros(())


class ThresholdHolder(nn.Module):
    def __init__(self, n):
        super().__init__()
        self.log_threshold = param(n)


class JumpReLU(nn.Module):
    def __init__(self, n):
        super().__init__()
        self.W_enc = param(C, n)
        self.W_dec = param(n, C)
        self.b_enc = param(n)
        self.b_dec = param(C)
        self.jumprelu = ThresholdHolder(n)

    def run(self, x, lam):
        return jumprelu_run(x, self.W_enc, self.W_dec, self.b_enc, self.b_dec, self.jumprelu.log_threshold,
                            lam, BANDWIDTH)


class SharedContext(nn.Module):
    def __init__(self, n_max):
        super().__init__()
        self.W_dec = param(n_max, C)
        self.W_enc = param(C, n_max)
        self.b_dec = param(C)        # declared by the reference's context, used by no member
        self.b_enc = param(n_max)    # likewise
        self.log_threshold = param(n_max)


class JumpReLUStaircaseMember(nn.Module):
    def __init__(self, n, shared):
        super().__init__()
        self.n = n
        self.shared_context = shared
        self.b_enc = param(n)
        self.b_dec = param(C)

    def run(self, x, lam):
        s, n = self.shared_context, self.n
        return jumprelu_run(x, s.W_enc[:, :n], s.W_dec[:n], self.b_enc, self.b_dec, s.log_threshold[:n],
                            lam, BANDWIDTH)


class MultilayerDictionary(nn.Module):
    def __init__(self, n_total):
        super().__init__()
        self.W_dec = param(n_total, C)
        self.W_enc = param(C, n_total)
        self.b_enc = param(n_total)
        self.b_dec = param(C)


class MultilayerMember(nn.Module):
    """The layer-i view: the first n features; no b_dec subtraction before the encoder (as the reference)."""

    def __init__(self, n, dictionary):
        super().__init__()
        self.n = n
        self.sae = dictionary

    def run(self, x, lam):
        d, n = self.sae, self.n
        w_dec = d.W_dec[:n]
        f = F.relu(x @ d.W_enc[:, :n] + d.b_enc[:n])
        x_hat = f @ w_dec + d.b_dec
        sparsity = lam * (f * w_dec.norm(dim=1)).sum(dim=-1).mean()
        return x_hat, f, sparsity, torch.zeros(())


def build(variant, sizes):
    if variant in ("standard", "standard_v2"):
        return [Standard(n, variant == "standard_v2") for n in sizes]
    if variant in ("gated", "gated_v2"):
        return [Gated(n, variant == "gated_v2") for n in sizes]
    if variant == "jumprelu":
        return [JumpReLU(n) for n in sizes]
    if variant == "jumprelu_staircase":
        shared = SharedContext(max(sizes))
        return [JumpReLUStaircaseMember(n, shared) for n in sizes]
    if variant == "multilayer":
        dictionary = MultilayerDictionary(sizes[-1])
        return [MultilayerMember(n, dictionary) for n in sizes]
    raise ValueError(variant)


# ---------------------------------------------------------------------------------------------------------
# Values

def randomize(saes, generator):
    """Random parameters with active and inactive features (not the training init)."""
    seen = set()
    for sae in saes:
        for name, p in sae.named_parameters():
            if id(p) in seen:
                continue
            seen.add(id(p))
            leaf = name.split(".")[-1]
            with torch.no_grad():
                if leaf == "log_threshold":
                    p.copy_(torch.log(0.05 + 0.45 * torch.rand(p.shape, generator=generator)))
                elif leaf.startswith("W_"):
                    p.copy_(0.4 * torch.randn(p.shape, generator=generator))
                elif leaf == "b_dec":
                    p.copy_(0.2 * torch.randn(p.shape, generator=generator))
                else:
                    p.copy_(0.3 * torch.randn(p.shape, generator=generator))


def evaluate(saes, x, lams):
    """Per SAE: forward values and the gradients of its total loss w.r.t. its file's tensors."""
    out = {}
    for i, sae in enumerate(saes):
        for p in sae.parameters():
            p.grad = None
        x_hat, f, sparsity, aux = sae.run(x, lams[i])
        reconstruct = (x - x_hat).pow(2).sum(dim=-1).mean()
        total = reconstruct + sparsity + aux
        total.backward()
        l0 = (f != 0).float().sum(dim=-1).mean()
        x_norm = x.norm(p=2, dim=-1).mean()
        x_l1 = x.norm(p=1, dim=-1).mean()
        out[f"{i}.reconstruction"] = x_hat.detach()
        out[f"{i}.magnitudes"] = f.detach()
        out[f"{i}.losses"] = torch.stack([reconstruct, sparsity, aux, total, l0, x_norm, x_l1]).detach()
        for name, p in sae.named_parameters():
            out[f"{i}.grad.{name}"] = p.grad.detach().clone() if p.grad is not None else torch.zeros_like(p)
    return out


def write_reference(variant, seed):
    directory = os.path.join(ROOT, "pytorch", variant)
    os.makedirs(directory, exist_ok=True)
    sizes = SIZES[variant]
    generator = torch.Generator().manual_seed(seed)
    saes = build(variant, sizes)
    randomize(saes, generator)
    x = torch.randn(2, 3, C, generator=generator)
    with open(os.path.join(directory, "sae.json"), "w") as fh:  # the reference's json.dump of its config
        json.dump({"n_features": sizes, "sae_variant": variant, "sae_keys": KEYS}, fh)
    for i, sae in enumerate(saes):
        save_model(sae, os.path.join(directory, f"sae.{i}.safetensors"))
    expected = evaluate(saes, x, SPARSITY)
    expected["x"] = x
    expected["sparsity_coefficient"] = torch.tensor(SPARSITY)
    expected["bandwidth"] = torch.tensor([BANDWIDTH])
    save_file({k: v.contiguous() for k, v in expected.items()}, os.path.join(directory, "expected.safetensors"))
    active = [int((expected[f"{i}.magnitudes"] != 0).sum()) for i in range(len(saes))]
    print(f"{variant}: wrote {directory} (active magnitudes per SAE: {active})")


def check_swift(variant):
    directory = os.path.join(ROOT, "swift", variant)
    with open(os.path.join(directory, "sae.json")) as fh:
        config = json.load(fh)
    assert config["sae_variant"] == variant, config
    expected = load_file(os.path.join(directory, "expected.safetensors"))
    global BANDWIDTH
    saved_bandwidth = BANDWIDTH
    BANDWIDTH = float(expected["bandwidth"][0])
    try:
        saes = build(variant, config["n_features"])
        for i, sae in enumerate(saes):  # in index order: shared tensors come from the last file
            load_model(sae, os.path.join(directory, f"sae.{i}.safetensors"), strict=True)
        got = evaluate(saes, expected["x"], expected["sparsity_coefficient"].tolist())
    finally:
        BANDWIDTH = saved_bandwidth
    worst, failures = 0.0, []
    for name, value in got.items():
        if name not in expected:
            failures.append(f"{name}: missing from Swift's expected.safetensors")
            continue
        ref = expected[name]
        if ref.shape != value.shape:
            failures.append(f"{name}: shape {list(value.shape)} vs Swift {list(ref.shape)}")
            continue
        err = ((value - ref).abs() / ref.abs().clamp(min=1)).max().item() if ref.numel() else 0.0
        worst = max(worst, err)
        if err > TOLERANCE:
            failures.append(f"{name}: scaled error {err:.3e}")
    return {"values": len(got), "max_scaled_error": worst, "failures": failures}


def main():
    if "--check-swift" in sys.argv[1:]:
        report = {variant: check_swift(variant) for variant in SIZES}
        report_path = os.path.join(ROOT, "swift", "python-check.json")
        with open(report_path, "w") as fh:
            json.dump({"torch": torch.__version__, "tolerance": TOLERANCE, "variants": report}, fh, indent=2)
            fh.write("\n")
        ok = all(not r["failures"] for r in report.values())
        for variant, r in report.items():
            print(f"{variant}: {r['values']} tensors, max scaled error {r['max_scaled_error']:.2e}"
                  + ("" if not r["failures"] else f", FAILURES: {r['failures']}"))
        print(("all Swift-written checkpoints reproduce in PyTorch" if ok else "MISMATCH") + f" ({report_path})")
        sys.exit(0 if ok else 1)
    for seed, variant in enumerate(SIZES):
        write_reference(variant, 1000 + seed)


if __name__ == "__main__":
    main()
