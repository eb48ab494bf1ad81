#!/usr/bin/env python3
"""Train an SAE preset with the PyTorch reference's own trainer (gpt-circuits, branch neurips) and keep copies of
the group at milestone steps, for the replication's trainer comparison (issue 12, item 3).

    python scripts/reference/train_reference_saes.py --reference DIR --config topk-staircase-share.shakespeare_64x4 \
        --gpt checkpoints/replication/shakespeare_64x4 --data-dir data/tinyshakespeare \
        --out checkpoints/reference-trainer/trans_block_staircase --milestones 750,1500 [--stop-after 1500]

The reference code is not part of this project: bring it with `git clone` (or the machine's fetch tool) and pass
its directory with --reference; run this script in a virtual environment holding torch, numpy, safetensors,
einops and jaxtyping. Nothing of the reference is copied.

What this script changes around the reference trainer, and nothing else:
- the trainer is the reference's (`ConcurrentTrainer` for plain presets, `StaircaseConcurrentTrainer` for
  staircase ones) with the preset's own settings (batch 128 × 128, lr 1e-3, warmup 750, cosine to 1e-4 over
  max_steps, AdamW, clip 1.0);
- --autocast off (the default) runs it in fp32, as this project trains: the reference wraps every step in
  torch.autocast(bfloat16), which on a CPU without native bf16 matrix units (AMD EPYC Zen 2 here) sends the
  matrix products through a scalar fallback (47% of samples in cpublas_gemm_impl, 29% in bf16_dot_with_fp32_arith;
  no step finished within 4 minutes), and on a GPU rounds the SAE inputs and products to bf16;
- its checkpoint saving is replaced by: the whole group whenever the sum of the members' val losses improves (the
  spec's amended rule; the reference's staircase trainer crashes when it saves a transformer-block group), and a
  copy of the group as it stands after each milestone step in <out>/milestones/step-NNNNNN/ (the reference's file
  layout: model.json, model.safetensors, sae.json, sae.*.safetensors);
- --eval-steps sets the number of val batches per evaluation (the preset's 100 batches of 128 × 128 tokens go
  round the 111,618-token val split 14 times; evaluations only decide the best checkpoint here);
- --stop-after ends the run after that step (the learning-rate schedule stays the one of max_steps);
- torch.manual_seed(--seed) before the model is built (the reference seeds nothing).
"""

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--reference", required=True, help="directory of the reference checkout (gpt-circuits, neurips)")
    p.add_argument("--config", required=True, help="the reference's SAE training preset name")
    p.add_argument("--gpt", required=True, help="GPT checkpoint directory (model.json, model.safetensors)")
    p.add_argument("--data-dir", required=True, help="tokenised corpus (train_*.npy / val_*.npy shards)")
    p.add_argument("--out", required=True, help="output run directory")
    p.add_argument("--milestones", default="750,1500", help="steps after which a copy of the group is kept")
    p.add_argument("--stop-after", type=int, default=None, help="stop after this step (default: max_steps)")
    p.add_argument("--max-steps", type=int, default=None, help="override the preset's max_steps")
    p.add_argument("--eval-steps", type=int, default=8, help="val batches per evaluation")
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    p.add_argument("--seed", type=int, default=0, help="torch seed before the SAEs are initialised")
    p.add_argument("--autocast", choices=["off", "bf16"], default="off",
                   help="off: fp32 throughout, as this project trains (default); bf16: the reference's CPU autocast")
    return p.parse_args()


def main() -> int:
    args = parse_args()
    ref = Path(args.reference).resolve()
    if not (ref / "training" / "sae" / "concurrent.py").is_file():
        print(f"train_reference_saes: {ref} is not a gpt-circuits checkout (training/sae/concurrent.py missing)",
              file=sys.stderr)
        return 2
    for f in ("model.json", "model.safetensors"):
        if not (Path(args.gpt) / f).is_file():
            print(f"train_reference_saes: GPT checkpoint {args.gpt} has no {f}", file=sys.stderr)
            return 2
    data_dir = Path(args.data_dir).resolve()
    gpt_dir = Path(args.gpt).resolve()
    out = Path(args.out).resolve()
    milestones = sorted({int(s) for s in args.milestones.split(",") if s.strip()})

    import contextlib
    import torch
    torch.set_num_threads(args.threads)
    if args.autocast == "off":
        torch.autocast = lambda *a, **k: contextlib.nullcontext()
    sys.path.insert(0, str(ref))
    os.chdir(ref)
    from config import TrainingConfig
    from config.sae.training import options
    from training.sae.concurrent import ConcurrentTrainer
    from training.sae.staircase_concurrent import StaircaseConcurrentTrainer

    if args.config not in options:
        print(f"train_reference_saes: unknown preset '{args.config}'", file=sys.stderr)
        return 2
    config = options[args.config]
    config.name = out.name
    config.data_dir = str(data_dir)
    config.eval_steps = args.eval_steps
    config.compile = False
    if args.max_steps:
        config.max_steps = args.max_steps
    TrainingConfig.checkpoints_dir = out.parent
    stop_after = args.stop_after or config.max_steps

    torch.manual_seed(args.seed)
    staircase = "staircase" in config.sae_config.sae_variant
    base = StaircaseConcurrentTrainer if staircase else ConcurrentTrainer

    class Trainer(base):
        best_sum = float("inf")

        def save_checkpoint(self, model, is_best):
            pass  # the group is saved in val_step below, by the sum rule

        def train(self):
            os.makedirs(self.config.out_dir, exist_ok=True)
            import dataclasses
            self.log(dataclasses.asdict(self.config), self.LogDestination.DEBUG)
            torch.set_float32_matmul_precision("high")
            start = time.time()
            for step in range(1, stop_after + 1):
                self.train_step(step)
                last = step == self.config.max_steps
                if step % self.config.eval_interval == 0 or last or step in milestones:
                    self.evaluate_and_save(step)
                if step in milestones:
                    dest = Path(self.config.out_dir) / "milestones" / f"step-{step:06d}"
                    tmp = dest.with_name(dest.name + ".tmp")
                    shutil.rmtree(tmp, ignore_errors=True)
                    tmp.mkdir(parents=True)
                    self.unwrapped_model.save(tmp)
                    shutil.rmtree(dest, ignore_errors=True)
                    os.rename(tmp, dest)
                    print(f"milestone {step}: {dest} ({time.time() - start:.0f} s)", flush=True)

        def evaluate_and_save(self, step):
            # The reference's val_step, then the amended saving rule on the summed member losses.
            self.model.eval()
            self.val_dataloader.reset()
            total = None
            with torch.no_grad():
                for _ in range(self.eval_steps):
                    x, y = self.val_dataloader.next_batch(self.device)
                    with torch.autocast(device_type=self.autocast_device_type, dtype=torch.bfloat16):
                        loss, metrics = self.calculate_loss(x, y, is_eval=True)
                    total = loss / self.eval_steps if total is None else total + loss / self.eval_steps
            summed = float(total.sum())
            improved = summed <= self.best_sum
            if improved:
                self.best_sum = summed
                d = Path(self.config.out_dir)
                tmp = d / ".best.tmp"
                shutil.rmtree(tmp, ignore_errors=True)
                tmp.mkdir(parents=True)
                self.unwrapped_model.save(tmp)
                for f in tmp.iterdir():
                    os.replace(f, d / f.name)
                tmp.rmdir()
            line = f"type eval | step {step} | loss {' '.join(f'{v:.4f}' for v in total.tolist())} | checkpoint {improved}"
            with open(Path(self.config.out_dir) / "eval.log", "a") as f:
                f.write(line + "\n")
            print(line, flush=True)

    trainer = Trainer(config, load_from=gpt_dir)
    trainer.train()
    (Path(config.out_dir) / "reference-trainer.json").write_text(json.dumps({
        "preset": args.config, "reference": str(ref), "gpt": str(gpt_dir), "data_dir": str(data_dir),
        "max_steps": config.max_steps, "stopped_after": stop_after, "milestones": milestones,
        "eval_steps": args.eval_steps, "threads": args.threads, "seed": args.seed, "autocast": args.autocast, "torch": torch.__version__,
    }, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
