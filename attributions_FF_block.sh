#!/usr/bin/env bash
# SCALAR, FF blocks: integrated-gradients attributions (24 batches × 24 sequences, 4 steps) of the TopK and
# Staircase pairs → attributions/data/ff_block_{topk,staircase}.safetensors. Trains what is missing first.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/scripts/common.sh"

"$SCALAR_ROOT/train_FF_block.sh"
for step in $(analysis_steps ff_block_topk ff_block_staircase); do
  attribute_run ff_block_topk "$step"
  attribute_run ff_block_staircase "$step"
done
