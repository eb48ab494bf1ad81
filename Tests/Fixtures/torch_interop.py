#!/usr/bin/env python3
"""PyTorch interoperability proof for the GPT and SAE checkpoint files (writes Tests/Fixtures/interop/*.json).

A minimal PyTorch re-implementation, written from the project's spec (../shared/docs/REFERENCE.md sections
1, 2, 4, 5, 6 and 7), of
  - the GPT (nanoGPT layout, pre-norm blocks, LayerNorm / DynamicTanh / Identity norms, tied head), and
  - TopK and TopK-staircase SAE encode / decode (staircase members slice shared W_enc / W_dec).

Two parts:
 1. Reference fixtures (../shared/fixtures/reference): the GPT fixture fx_gpt_64x4 and the SAE fixtures are
    evaluated with this re-implementation on the classic tiny-shakespeare val split (prepared in memory as in
    spec section 1) and compared with the golden values the reference code produced. This shows that the
    re-implementation computes the reference's numbers, so agreement in part 2 is meaningful.
    Result: interop/reference_check.json (our values, the goldens and the max errors).
 2. Checkpoints written by the Swift code (interop/gpt_tiny, gpt_tiny_dyt, sae_tiny_topk, sae_tiny_staircase,
    sae_tiny_ffblock; produced by the Swift test `writeInteropCheckpoints` in Tests/SAETests/CheckpointTests.swift
    with INTEROP_WRITE=1): loaded with safetensors + load_state_dict(strict=True) and run on a fixed token
    sequence. Result: interop/torch_outputs.json, which the Swift suites `GPTInteropTests` and
    `SAECheckpointTests` compare with their own forward passes (1e-4).

Run from the repository root with a Python that has torch and safetensors:
    /work/pyenv/bin/python Tests/Fixtures/torch_interop.py [--shared ../shared] [--skip-reference]
"""

import argparse
import json
import math
import os
import sys
import tempfile

import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors import safe_open
from safetensors.torch import load_file

torch.set_grad_enabled(False)
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
INTEROP = os.path.join(ROOT, "Tests", "Fixtures", "interop")
TIED, HEAD = "transformer.wte.weight", "lm_head.weight"


# ---------------------------------------------------------------------------------------------------- GPT

class DynamicTanh(nn.Module):
    """gamma * tanh(alpha * x) + beta with a scalar alpha."""

    def __init__(self, c, alpha=2.0):
        super().__init__()
        self.alpha = nn.Parameter(torch.full((1,), float(alpha)))
        self.gamma = nn.Parameter(torch.ones(c))
        self.beta = nn.Parameter(torch.zeros(c))

    def forward(self, x):
        return self.gamma * torch.tanh(self.alpha * x) + self.beta


def make_norm(kind, c):
    if kind == "LayerNorm":
        return nn.LayerNorm(c, eps=1e-5)
    if kind == "DynamicTanh":
        return DynamicTanh(c)
    if kind == "Identity":
        return nn.Identity()
    raise ValueError(f"unknown norm_strategy {kind}")


class Attention(nn.Module):
    def __init__(self, c, n_head):
        super().__init__()
        self.n_head = n_head
        self.c_attn = nn.Linear(c, 3 * c)
        self.c_proj = nn.Linear(c, c)

    def forward(self, x):
        b, t, c = x.shape
        q, k, v = self.c_attn(x).split(c, dim=2)
        hs = c // self.n_head
        q, k, v = (z.view(b, t, self.n_head, hs).transpose(1, 2) for z in (q, k, v))  # [B, H, T, hs]
        att = (q @ k.transpose(-2, -1)) / math.sqrt(hs)
        mask = torch.tril(torch.ones(t, t, dtype=torch.bool))
        att = att.masked_fill(~mask, float("-inf")).softmax(dim=-1)
        y = (att @ v).transpose(1, 2).contiguous().view(b, t, c)
        return self.c_proj(y)


class MLP(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c_fc = nn.Linear(c, 4 * c)
        self.c_proj = nn.Linear(4 * c, c)

    def forward(self, x):
        return self.c_proj(F.gelu(self.c_fc(x), approximate="tanh"))


class Block(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        c, kind = cfg["n_embd"], cfg["norm_strategy"]
        # DynamicTanh replaces only ln_2; ln_1 stays LayerNorm (spec section 2).
        self.ln_1 = make_norm("LayerNorm" if kind == "DynamicTanh" else kind, c)
        self.attn = Attention(c, cfg["n_head"])
        self.ln_2 = make_norm(kind, c)
        self.mlp = MLP(c)


class GPT(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        c, kind = cfg["n_embd"], cfg["norm_strategy"]
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(cfg["vocab_size"], c),
            wpe=nn.Embedding(cfg["block_size"], c),
            h=nn.ModuleList([Block(cfg) for _ in range(cfg["n_layer"])]),
            ln_f=make_norm("LayerNorm" if kind == "DynamicTanh" else kind, c),
        ))
        self.lm_head = nn.Linear(c, cfg["vocab_size"], bias=False)
        self.lm_head.weight = self.transformer.wte.weight  # tied

    @property
    def n_layer(self):
        return self.cfg["n_layer"]

    def embed(self, idx):
        t = idx.shape[1]
        return self.transformer.wte(idx) + self.transformer.wpe(torch.arange(t))

    def resid_mid(self, i, x):
        blk = self.transformer.h[i]
        return x + blk.attn(blk.ln_1(x))

    def run_block(self, i, x, hook=None):
        """Block i with the section-5 hook points; hook(key, x) returns the value that continues."""
        h = hook or (lambda key, v: v)
        blk = self.transformer.h[i]
        rm = self.resid_mid(i, x)
        ln2_in = h(f"{i}_residmid", rm)  # replaces only ln_2's input; the skip keeps the clean rm
        mlp_in = h(f"{i}_mlpin", blk.ln_2(ln2_in))
        mlp_out = h(f"{i}_mlpout", blk.mlp(mlp_in))
        return h(f"{i}_residpost", rm + mlp_out)

    def head(self, x):
        return self.lm_head(self.transformer.ln_f(x))

    def run_from(self, x, start, hook=None):
        """Residual entering block `start` → logits."""
        h = hook or (lambda key, v: v)
        for i in range(start, self.n_layer):
            x = h(f"{i}_act", x)
            x = self.run_block(i, x, hook)
        return self.head(h(f"{self.n_layer}_act", x))

    def forward(self, idx, hook=None):
        return self.run_from(self.embed(idx), 0, hook)


def load_gpt(directory):
    with open(os.path.join(directory, "model.json")) as f:
        cfg = json.load(f)
    model = GPT(cfg)
    path = os.path.join(directory, "model.safetensors")
    state = load_file(path)
    with safe_open(path, framework="pt") as f:
        metadata = f.metadata() or {}
    # The tied embedding is stored once; accept either name.
    if HEAD in state and TIED not in state:
        state[TIED] = state[HEAD]
    elif TIED in state and HEAD not in state:
        state[HEAD] = state[TIED]
    for name, t in state.items():
        if t.dtype != torch.float32:
            raise ValueError(f"{path}: {name} has dtype {t.dtype}, expected float32")
    model.load_state_dict(state, strict=True)
    model.eval()
    return model, cfg, metadata


# ---------------------------------------------------------------------------------------------------- SAE

class TopKSAE:
    """f = TopK_k(ReLU((x − b_dec)·W_enc[:, :F] + b_enc)) keeping entries ≥ the k-th largest; x̂ = f·W_dec[:F] + b_dec."""

    def __init__(self, w_enc, w_dec, b_enc, b_dec, k):
        f = b_enc.shape[0]
        self.w_enc, self.w_dec = w_enc[:, :f], w_dec[:f]
        self.b_enc, self.b_dec, self.k = b_enc, b_dec, k

    def encode(self, x):
        pre = F.relu((x - self.b_dec) @ self.w_enc + self.b_enc)
        kth = torch.topk(pre, self.k, dim=-1).values[..., -1:]
        return pre * (pre >= kth)

    def decode(self, f):
        return f @ self.w_dec + self.b_dec

    def __call__(self, x):
        return self.decode(self.encode(x))


def strict_tensors(path, expected):
    t = load_file(path)
    if sorted(t) != sorted(expected):
        raise ValueError(f"{path}: tensors {sorted(t)}, expected {sorted(expected)}")
    return t


def load_saes(directory):
    """SAEs of a checkpoint directory by key (TopK variants: independent, staircase, staircase_block, jsae)."""
    with open(os.path.join(directory, "sae.json")) as f:
        cfg = json.load(f)
    keys, sizes, ks, variant = cfg["sae_keys"], cfg["n_features"], cfg["top_k"], cfg["sae_variant"]
    saes = {}
    if variant in ("topk", "jsae", "jsae_block"):
        for i, key in enumerate(keys):
            t = strict_tensors(os.path.join(directory, f"sae.{i}.safetensors"), ["W_enc", "W_dec", "b_enc", "b_dec"])
            saes[key] = TopKSAE(t["W_enc"], t["W_dec"], t["b_enc"], t["b_dec"], ks[i])
    elif variant in ("topk_staircase", "staircase_block"):
        # Groups: all act keys form group 0; FF-block pairs form group = layer.
        for i, key in enumerate(keys):
            layer, point = key.split("_")
            group = 0 if point == "act" else int(layer)
            shared = strict_tensors(os.path.join(directory, f"sae.shared.{group}.safetensors"), ["W_enc", "W_dec"])
            t = strict_tensors(os.path.join(directory, f"sae.{i}.safetensors"), ["b_enc", "b_dec"])
            if t["b_enc"].shape[0] != sizes[i]:
                raise ValueError(f"sae.{i}: b_enc has {t['b_enc'].shape[0]} features, sae.json says {sizes[i]}")
            saes[key] = TopKSAE(shared["W_enc"], shared["W_dec"], t["b_enc"], t["b_dec"], ks[i])
    else:
        raise ValueError(f"variant {variant} is not covered by this script")
    return cfg, saes


# ----------------------------------------------------------------------------------------- metrics (spec 7)

def ce(logits, targets):
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1)).item()


def placement(keys):
    points = {k.split("_")[1] for k in keys}
    return {frozenset({"act"}): "block", frozenset({"residmid", "residpost"}): "ffblock",
            frozenset({"mlpin", "mlpout"}): "fflayer"}[frozenset(points)]


def acts_hook(store):
    """A hook that records every activation it is offered."""
    def record(key, v):
        store[key] = v
        return v
    return record


def sparsified_metrics(gpt, cfg, saes, x, y):
    """One batch: clean CE, L0 per key, CE increases (per SAE or per pair), compound CE increase."""
    keys, variant = cfg["sae_keys"], cfg["sae_variant"]
    acts = {}
    clean_logits = gpt(x, hook=acts_hook(acts))
    clean = ce(clean_logits, y)
    out = {"ce_loss": clean}
    for key in keys:
        f = saes[key].encode(acts[key])
        out[f"l0/{key}"] = (f != 0).float().sum(-1).mean().item()
    kind = placement(keys)
    n = gpt.n_layer
    if kind == "block" or (kind == "fflayer" and variant not in ("jsae", "jsae_block")):
        for i, key in enumerate(keys):
            layer, point = key.split("_")
            layer = int(layer)
            if point == "act":
                logits = gpt.run_from(saes[key](acts[key]), layer) if layer < n else gpt.head(saes[key](acts[key]))
            else:
                logits = gpt(x, hook=lambda k, v, key=key: saes[key](v) if k == key else v)
            out[f"ce_increase/{i}"] = ce(logits, y) - clean
    else:
        for layer in range(n):
            rm = gpt.resid_mid(layer, acts[f"{layer}_act"])
            blk = gpt.transformer.h[layer]
            if kind == "ffblock":
                xm = saes[f"{layer}_residmid"](rm)
                post = saes[f"{layer}_residpost"](xm + blk.mlp(blk.ln_2(xm)))
            else:
                xin = saes[f"{layer}_mlpin"](blk.ln_2(rm))
                post = rm + saes[f"{layer}_mlpout"](blk.mlp(xin))
            out[f"ce_increase/{layer}"] = ce(gpt.run_from(post, layer + 1), y) - clean
    compound = gpt(x, hook=lambda k, v: saes[k](v) if k in saes else v)
    out["compound_ce_loss_increase"] = ce(compound, y) - clean
    return out


# ------------------------------------------------------------------------------------ part 1: reference

def val_tokens(corpus):
    """Spec section 1: 90 % train rounded down to a multiple of 256, the rest val; ASCII tokens."""
    with open(corpus, encoding="utf-8") as f:
        text = f.read()
    train_len = (int(len(text) * 0.9) // 256) * 256
    return torch.tensor([ord(c) if ord(c) < 128 else ord("?") for c in text[train_len:]], dtype=torch.long)


def batches(tokens, b, t, count):
    for i in range(count):
        w = tokens[i * b * t: i * b * t + b * t + 1]
        yield w[:-1].view(b, t), w[1:].view(b, t)


def reference_check(shared):
    root = os.path.join(shared, "fixtures", "reference")
    val = val_tokens(os.path.join(shared, "data", "tinyshakespeare", "input.txt"))
    report = {"val_tokens": int(val.numel())}
    # GPT fixture.
    with open(os.path.join(root, "golden", "fx_gpt_64x4.json")) as f:
        golden = json.load(f)
    gpt, _, metadata = load_gpt(os.path.join(root, "checkpoints", "fx_gpt_64x4"))
    loss32 = sum(ce(gpt(x), y) for x, y in batches(val, 32, 128, 10)) / 10
    loss8 = sum(ce(gpt(x), y) for x, y in batches(val, 8, 128, 3)) / 3
    last = gpt(val[:128].view(1, 128))[0, -1]
    values, ids = torch.topk(last, 5)
    top5 = [[int(i), float(v)] for i, v in zip(ids, values)]
    gold5 = golden["first_val_row_last_position_top5_logits"]
    report["fx_gpt_64x4"] = {
        "metadata": metadata,
        "ce_loss_batch32_batches10": loss32, "golden_batch32": golden["ce_loss_batch32_batches10"],
        "ce_loss_batch8_batches3": loss8, "golden_batch8": golden["ce_loss_batch8_batches3"],
        "top5": top5, "golden_top5": gold5,
        "top5_ids_equal": [a[0] for a in top5] == [g[0] for g in gold5],
        "max_abs_error": max(abs(loss32 - golden["ce_loss_batch32_batches10"]),
                             abs(loss8 - golden["ce_loss_batch8_batches3"]),
                             max(abs(a[1] - g[1]) for a, g in zip(top5, gold5))),
    }
    # SAE fixtures (every metric averaged over 10 batches of 32, as the goldens).
    for name in ["fx_trans_block_topk", "fx_trans_block_staircase", "fx_ff_layer_jsae", "fx_ff_block_staircase"]:
        directory = os.path.join(root, "checkpoints", name)
        with open(os.path.join(root, "golden", f"{name}.json")) as f:
            golden = json.load(f)["metrics"]
        gpt, _, _ = load_gpt(directory)
        cfg, saes = load_saes(directory)
        total = {}
        for x, y in batches(val, 32, 128, 10):
            for k, v in sparsified_metrics(gpt, cfg, saes, x, y).items():
                total[k] = total.get(k, 0.0) + v / 10
        errors = {k: abs(total[k] - golden[k]) for k in total}
        l0_rel = max(errors[k] / golden[k] for k in errors if k.startswith("l0/"))
        ce_abs = max(errors[k] for k in errors if not k.startswith("l0/"))
        report[name] = {"ours": total, "max_l0_relative_error": l0_rel, "max_ce_abs_error": ce_abs}
    return report


# ------------------------------------------------------------------------------- part 2: Swift-written files

def fixed_tokens(vocab):
    """Two rows of 25 deterministic ids: inputs are the first 24, targets the last 24."""
    rows = [[(7 + 31 * t + 17 * b + (t * t) % 13) % vocab for t in range(25)] for b in range(2)]
    return rows


def f32(v):
    """A float32 value as the shortest decimal that round-trips it (9 significant digits suffice)."""
    return float(f"{float(v):.9g}")


def logits_summary(logits, y, positions=(0, 11, 23)):
    """The mean CE over every position (it depends on all logits) and the full logit rows at a few positions."""
    return {
        "loss": f32(ce(logits, y)),
        "positions": list(positions),
        # [row][position index][V]
        "logits": [[[f32(v) for v in logits[b, p]] for p in positions] for b in range(logits.shape[0])],
    }


def swift_outputs():
    out = {}
    for name in ["gpt_tiny", "gpt_tiny_dyt"]:
        gpt, cfg, metadata = load_gpt(os.path.join(INTEROP, name))
        rows = fixed_tokens(cfg["vocab_size"])
        x = torch.tensor([r[:-1] for r in rows])
        y = torch.tensor([r[1:] for r in rows])
        entry = {"config": cfg, "metadata": metadata, "inputs": x.tolist(), "targets": y.tolist()}
        entry.update(logits_summary(gpt(x), y))
        out[name] = entry
    for name in ["sae_tiny_topk", "sae_tiny_staircase", "sae_tiny_ffblock"]:
        directory = os.path.join(INTEROP, name)
        gpt, cfg, _ = load_gpt(directory)
        sae_cfg, saes = load_saes(directory)
        rows = fixed_tokens(cfg["vocab_size"])
        x = torch.tensor([r[:-1] for r in rows])
        y = torch.tensor([r[1:] for r in rows])
        acts = {}
        gpt(x, hook=acts_hook(acts))
        keys = {}
        for key in sae_cfg["sae_keys"]:
            sae = saes[key]
            f = sae.encode(acts[key])  # [B, T, F]
            recon = sae.decode(f)
            first = f[0, :3]  # three tokens of row 0, sparse
            patched = gpt(x, hook=lambda k, v, key=key: saes[key](v) if k == key else v)
            keys[key] = {
                "l0": f32((f != 0).float().sum(-1).mean().item()),
                "reconstruction_loss": f32(((recon - acts[key]) ** 2).sum(-1).mean().item()),
                "magnitudes_first_tokens": [
                    {"indices": [int(j) for j in torch.nonzero(r).flatten()],
                     "values": [f32(r[j]) for j in torch.nonzero(r).flatten()]} for r in first],
                "patched": logits_summary(patched, y, positions=(23,)),
            }
        compound = gpt(x, hook=lambda k, v: saes[k](v) if k in saes else v)
        out[name] = {"sae_config": sae_cfg, "inputs": x.tolist(), "targets": y.tolist(),
                     "clean": logits_summary(gpt(x), y, positions=(23,)), "keys": keys,
                     "compound": logits_summary(compound, y, positions=(0, 23))}
    return out


def write_json(obj, path, indent=None):
    """Atomic write (temp file in the same directory, then rename)."""
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(obj, f, indent=indent, separators=None if indent else (",", ":"))
        f.write("\n")
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--shared", default=os.path.join(ROOT, "..", "shared"))
    p.add_argument("--skip-reference", action="store_true")
    args = p.parse_args()
    print(f"torch {torch.__version__}", file=sys.stderr)
    if not args.skip_reference:
        report = reference_check(os.path.abspath(args.shared))
        report["torch"] = torch.__version__
        write_json(report, os.path.join(INTEROP, "reference_check.json"), indent=1)
        g = report["fx_gpt_64x4"]
        print(f"fx_gpt_64x4: loss32 {g['ce_loss_batch32_batches10']:.7f} (golden {g['golden_batch32']:.7f}), "
              f"loss8 {g['ce_loss_batch8_batches3']:.7f}, top-5 ids equal {g['top5_ids_equal']}, "
              f"max abs error {g['max_abs_error']:.2e}", file=sys.stderr)
        for name, r in report.items():
            if isinstance(r, dict) and "max_ce_abs_error" in r:
                print(f"{name}: max L0 relative error {r['max_l0_relative_error']:.2e}, "
                      f"max CE abs error {r['max_ce_abs_error']:.2e}", file=sys.stderr)
    if not os.path.exists(os.path.join(INTEROP, "gpt_tiny", "model.safetensors")):
        sys.exit(f"no Swift-written checkpoints in {INTEROP}: run INTEROP_WRITE=1 swift test --filter writeInteropCheckpoints")
    outputs = swift_outputs()
    outputs["torch"] = torch.__version__
    write_json(outputs, os.path.join(INTEROP, "torch_outputs.json"))
    print(f"wrote {os.path.join(INTEROP, 'torch_outputs.json')}", file=sys.stderr)


if __name__ == "__main__":
    main()
