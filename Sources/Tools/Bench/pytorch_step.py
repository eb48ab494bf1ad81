"""Times PyTorch CPU training steps equivalent to the ones `step_times.sh` measures in the Swift tools.

    python pytorch_step.py [--threads 2] [--steps 30] [--json]

Rows (batch 128 x 128 tokens, fp32, the shakespeare_64x4 GPT: 4 layers, 4 heads, 64 channels, vocab 128):
  gpt  one GPT training step: forward, mean cross-entropy, backward, global-norm clip 1.0, AdamW
       (betas 0.9/0.95, weight decay 0.1 on matrices), as the reference trains it (spec sections 2-3);
  sae  one TopK-SAE training step: the frozen GPT's forward with 5 TopK SAEs (512 features, k 10) on the
       residual entering each block and leaving the last, per-SAE reconstruction loss, backward into the
       SAEs only, clip, AdamW (spec sections 6-8).
  staircase  the same with the topk-staircase-share SAEs: members of 512, 1024, 1536, 2048 and 2560
       features slicing one shared W_enc [64, 2560] and W_dec [2560, 64], each with its own biases.
  products  the GPT step's linear-layer products alone, as `bench`'s row "its linear layers' products"
       times them through OpenBLAS: per block c_attn, attn c_proj, c_fc and mlp c_proj, then lm_head, each
       forward x·Wᵀ, input gradient dy·W and weight gradient dyᵀ·x, into preallocated outputs. It shows
       how fast PyTorch's own matrix library runs the shapes that take about half of a step.
Each row runs 3 warm-up steps and reports the mean of --steps timed steps in milliseconds.
This is a standalone equivalent of the reference's model code (not the reference itself), written for
timing only: its numbers are not compared with anything but wall time.
"""

import argparse
import json
import math
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

B, T, C, H, L, V = 128, 128, 64, 4, 4, 128


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln_1 = nn.LayerNorm(C)
        self.c_attn = nn.Linear(C, 3 * C)
        self.attn_proj = nn.Linear(C, C)
        self.ln_2 = nn.LayerNorm(C)
        self.c_fc = nn.Linear(C, 4 * C)
        self.mlp_proj = nn.Linear(4 * C, C)

    def forward(self, x):
        q, k, v = self.c_attn(self.ln_1(x)).split(C, dim=2)
        q, k, v = (t.view(x.shape[0], T, H, C // H).transpose(1, 2) for t in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.attn_proj(y.transpose(1, 2).contiguous().view(x.shape[0], T, C))
        return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh"))


class GPT(nn.Module):
    def __init__(self):
        super().__init__()
        self.wte = nn.Embedding(V, C)
        self.wpe = nn.Embedding(T, C)
        self.h = nn.ModuleList(Block() for _ in range(L))
        self.ln_f = nn.LayerNorm(C)
        self.lm_head = nn.Linear(C, V, bias=False)
        self.lm_head.weight = self.wte.weight
        for name, p in self.named_parameters():
            if p.dim() == 2:
                std = 0.02 / math.sqrt(2 * L) if name.endswith("proj.weight") else 0.02
                nn.init.normal_(p, 0.0, std)
            elif name.endswith("bias"):
                nn.init.zeros_(p)

    def forward(self, idx, saes=None):
        x = self.wte(idx) + self.wpe(torch.arange(T))
        losses = []
        for i, block in enumerate(self.h):
            if saes is not None:
                losses.append(saes[i](x))
            x = block(x)
        if saes is not None:
            losses.append(saes[L](x))
            return losses
        return self.lm_head(self.ln_f(x))


class TopKSAE(nn.Module):
    def __init__(self, features=512, k=10):
        super().__init__()
        self.k = k
        w_dec = torch.empty(features, C)
        nn.init.kaiming_uniform_(w_dec, a=0)
        self.W_dec = nn.Parameter(w_dec)
        self.W_enc = nn.Parameter(w_dec.t().clone())
        self.b_enc = nn.Parameter(torch.zeros(features))
        self.b_dec = nn.Parameter(torch.zeros(C))

    def forward(self, x):
        x = x.detach()
        pre = F.relu((x - self.b_dec) @ self.W_enc + self.b_enc)
        values, indices = pre.topk(self.k, dim=-1)
        f = torch.zeros_like(pre).scatter(-1, indices, values)
        x_hat = f @ self.W_dec + self.b_dec
        return (x_hat - x).pow(2).sum(-1).mean()


class StaircaseMember(nn.Module):
    """Member of a staircase group: the first `features` columns of the shared encoder / rows of the decoder."""

    def __init__(self, shared, features, k=10):
        super().__init__()
        self.shared, self.features, self.k = [shared], features, k
        self.b_enc = nn.Parameter(torch.zeros(features))
        self.b_dec = nn.Parameter(torch.zeros(C))

    def forward(self, x):
        x = x.detach()
        w_enc, w_dec = self.shared[0].W_enc[:, : self.features], self.shared[0].W_dec[: self.features]
        pre = F.relu((x - self.b_dec) @ w_enc + self.b_enc)
        values, indices = pre.topk(self.k, dim=-1)
        f = torch.zeros_like(pre).scatter(-1, indices, values)
        x_hat = f @ w_dec + self.b_dec
        return (x_hat - x).pow(2).sum(-1).mean()


class StaircaseShared(nn.Module):
    def __init__(self, features):
        super().__init__()
        w_dec = torch.empty(features, C)
        nn.init.kaiming_uniform_(w_dec, a=0)
        self.W_dec = nn.Parameter(w_dec)
        self.W_enc = nn.Parameter(w_dec.t().clone())


def optimizer(params, decay):
    groups = [{"params": [p for p in params if p.dim() >= 2], "weight_decay": decay},
              {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=1e-3, betas=(0.9, 0.95), eps=1e-8)


def time_steps(step, warmup, steps):
    for _ in range(warmup):
        step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return 1000 * (time.perf_counter() - start) / steps


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--rows", default="gpt,sae,staircase")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    idx = torch.randint(0, V, (B, T))
    targets = torch.randint(0, V, (B, T))
    result = {}

    if "gpt" in args.rows.split(","):
        model = GPT()
        opt = optimizer(list(model.parameters()), 0.1)

        def gpt_step():
            opt.zero_grad(set_to_none=True)
            logits = model(idx)
            F.cross_entropy(logits.view(-1, V), targets.view(-1)).backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()

        result["gpt_ms"] = time_steps(gpt_step, 3, args.steps)

    if "sae" in args.rows.split(","):
        model = GPT()
        for p in model.parameters():
            p.requires_grad_(False)
        saes = nn.ModuleList(TopKSAE() for _ in range(L + 1))
        opt = optimizer(list(saes.parameters()), 0.0)

        def sae_step():
            opt.zero_grad(set_to_none=True)
            losses = model(idx, saes)
            torch.stack(losses).sum().backward()
            torch.nn.utils.clip_grad_norm_(saes.parameters(), 1.0)
            opt.step()

        result["sae_ms"] = time_steps(sae_step, 3, args.steps)

    if "staircase" in args.rows.split(","):
        model = GPT()
        for p in model.parameters():
            p.requires_grad_(False)
        widths = [512 * (i + 1) for i in range(L + 1)]
        shared = StaircaseShared(widths[-1])
        members = nn.ModuleList(StaircaseMember(shared, f) for f in widths)
        params = list(shared.parameters()) + list(members.parameters())
        opt = optimizer(params, 0.0)

        def staircase_step():
            opt.zero_grad(set_to_none=True)
            losses = model(idx, members)
            torch.stack(losses).sum().backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()

        result["staircase_ms"] = time_steps(staircase_step, 3, args.steps)

    if "products" in args.rows.split(","):
        n = B * T
        layers = [(C, 3 * C), (C, C), (C, 4 * C), (4 * C, C)] * L + [(C, V)]
        operands = {}
        for shape in layers:
            if shape not in operands:
                fan_in, fan_out = shape
                operands[shape] = (torch.randn(n, fan_in), torch.randn(fan_out, fan_in), torch.randn(n, fan_out))
        widest = max(max(shape) for shape in layers)
        out = torch.empty(n * widest)

        def products_step():
            for fan_in, fan_out in layers:
                x, w, dy = operands[(fan_in, fan_out)]
                torch.mm(x, w.t(), out=out[: n * fan_out].view(n, fan_out))
                torch.mm(dy, w, out=out[: n * fan_in].view(n, fan_in))
                torch.mm(dy.t(), x, out=out[: fan_out * fan_in].view(fan_out, fan_in))

        result["products_ms"] = time_steps(products_step, 3, args.steps)

    result["torch_version"] = torch.__version__
    result["threads"] = args.threads
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key}: {value:.1f}" if isinstance(value, float) else f"{key}: {value}")


if __name__ == "__main__":
    main()
