#!/usr/bin/env python3
"""Writes Tests/Fixtures/ig_fx_trans_block_staircase_summary.safetensors: the PyTorch reference's
integrated-gradient attributions of the reference fixture `fx_trans_block_staircase` (a transformer-block
TopK staircase, n_features 512, 1024, 1536, 2048, 2560, so every pair has unequal sizes), summarised small
enough to commit. Read by Tests/ExperimentsTests/GoldenAttributionTests.swift.

The attributions are computed exactly as the other ig_*.safetensors goldens in
../shared/fixtures/reference/golden (../shared/fixtures/reference/README.md): the reference's
`IntegratedGradientAttributor` (attributions/attributor.py, branch neurips) with steps 2 on one batch of 2
val sequences of 128 tokens (loader reset), fp32 on the CPU, the classic corpus prepared as in spec section 1
(REFERENCE.md: ASCII ids, train = the first floor(0.9·chars) characters rounded down to a multiple of 256,
val = the rest, one uint16 .npy shard per split). The reference code runs unpatched for this model.

The full attributions (four matrices up to 2048 × 2560, 42 MB) are too large to commit; for each key
"i-(i+1)" the file holds, all F32 unless noted:
  {key}.shape          I32 [2]     [F_up, F_down]
  {key}.row_norms      [F_up]      sqrt(Σ_j A_ij²)
  {key}.col_norms      [F_down]    sqrt(Σ_i A_ij²)
  {key}.zeros          I64 [1]     number of exactly-zero entries
  {key}.index          I64 [2048]  flat indices i·F_down + j: the 1024 largest entries, then 1024 distinct
                                   others drawn uniformly (numpy default_rng(seed 2024)) among the nonzero ones
  {key}.value          [2048]      A at those indices
and the metadata of compute_attributions.py.

Usage (a virtual environment outside the repository with torch, numpy, safetensors, jaxtyping, tiktoken,
einops; REF = a checkout of the reference at branch neurips; SHARED = ../shared):

    python Tests/Fixtures/make_ig_staircase_golden.py REF SHARED
"""
import os
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "ig_fx_trans_block_staircase_summary.safetensors")
NAME = "fx_trans_block_staircase"
TOP, RANDOM = 1024, 1024


def prepare_val(corpus_path, directory):
    """Spec section 1's Shakespeare preparation (val split only; the loader reads only this shard)."""
    text = open(corpus_path, encoding="utf-8").read()
    train_len = int(len(text) * 0.9)
    train_len -= train_len % 256
    ids = np.array([ord(c) if ord(c) < 128 else ord("?") for c in text[train_len:]], dtype=np.uint16)
    np.save(os.path.join(directory, "val_000000.npy"), ids)
    return len(ids)


def main():
    ref, shared = sys.argv[1], sys.argv[2]
    sys.path.insert(0, ref)
    import torch
    from safetensors.numpy import save_file

    from attributions.attributor import IntegratedGradientAttributor
    from data.dataloaders import TrainingDataLoader
    from models.factorysparsified import FactorySparsified

    torch.manual_seed(0)
    checkpoint = os.path.join(shared, "fixtures/reference/checkpoints", NAME)
    data = tempfile.mkdtemp(prefix="ig-golden-data-")
    val_tokens = prepare_val(os.path.join(shared, "data/tinyshakespeare/input.txt"), data)
    assert val_tokens == 111_618, val_tokens

    device = torch.device("cpu")
    model = FactorySparsified.load(checkpoint, device=device)
    model.to(device)
    model.eval()
    loader = TrainingDataLoader(dir_path=data, B=2, T=model.config.block_size, process_rank=0, num_processes=1, split="val")
    loader.reset()
    attributor = IntegratedGradientAttributor(model, loader, nbatches=1, verbose=False, steps=2)
    attributions = attributor.layer_by_layer()

    tensors = {}
    rng = np.random.default_rng(2024)
    for key, value in attributions.items():
        a = value.detach().cpu().numpy().astype(np.float32)
        flat = a.reshape(-1)
        top = np.argsort(-flat, kind="stable")[:TOP]
        nonzero = np.setdiff1d(np.flatnonzero(flat), top)
        others = np.sort(rng.choice(nonzero, size=min(RANDOM, len(nonzero)), replace=False))
        index = np.concatenate([top, others]).astype(np.int64)
        tensors[f"{key}.shape"] = np.array(a.shape, dtype=np.int32)
        tensors[f"{key}.row_norms"] = np.sqrt((a.astype(np.float64) ** 2).sum(axis=1)).astype(np.float32)
        tensors[f"{key}.col_norms"] = np.sqrt((a.astype(np.float64) ** 2).sum(axis=0)).astype(np.float32)
        tensors[f"{key}.zeros"] = np.array([int((flat == 0).sum())], dtype=np.int64)
        tensors[f"{key}.index"] = index
        tensors[f"{key}.value"] = flat[index]
        print(f"{key}: shape {a.shape}, max {flat.max():.4g}, Frobenius {np.linalg.norm(flat):.6g}, "
              f"zeros {int((flat == 0).sum())}, nonzero columns {int((np.abs(a).sum(axis=0) > 0).sum())}")
    metadata = {
        "model_name": NAME, "attribution_method": "ig", "batch_size": "2", "num_batches": "1", "steps": "2",
        "epsilon": "N/A", "torch": torch.__version__, "summary": f"top {TOP} + {RANDOM} random nonzero (seed 2024)",
    }
    save_file(tensors, OUT, metadata=metadata)
    print(f"wrote {OUT} ({os.path.getsize(OUT)} bytes)")


if __name__ == "__main__":
    main()
