#!/usr/bin/env bash
# SCALAR, transformer blocks: train the GPT (if absent) and SAEs on the residual stream between blocks
# (i_act → i+1_act): TopK (topk.shakespeare_64x4, 512 features, k 10) → checkpoints/trans_block_topk, and
# Staircase with shared weights (topk-staircase-share.shakespeare_64x4, 512 … 2560 features) →
# checkpoints/trans_block_staircase. Both train in one process on one shared GPT forward per batch.
# QUICK=1: short runs under checkpoints/quick/. See scripts/common.sh for the settings.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/scripts/common.sh"

ensure_gpt
train_sae_group trans_block_topk topk.shakespeare_64x4 trans_block_staircase topk-staircase-share.shakespeare_64x4
