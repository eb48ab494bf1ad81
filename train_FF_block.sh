#!/usr/bin/env bash
# SCALAR, FF blocks: train the GPT (if absent) and SAE pairs across each feedforward block (i_residmid →
# i_residpost): TopK pairs (the JSAE-block trainer with λ = 0, 20,000 steps; scripts/config/
# jsae-block.shk_64x4.json) → checkpoints/ff_block_topk, and Staircase pairs (staircase-mlpblock.shk_64x4,
# 512 → 1024 features sharing one dictionary) → checkpoints/ff_block_staircase. Both train in one process
# on one shared GPT forward per batch.
# QUICK=1: short runs under checkpoints/quick/. See scripts/common.sh for the settings.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/scripts/common.sh"

ensure_gpt
train_sae_group ff_block_topk "$JSAE_BLOCK_CONFIG" ff_block_staircase staircase-mlpblock.shk_64x4
