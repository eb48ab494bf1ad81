#!/usr/bin/env bash
# SCALAR, transformer blocks: integrated-gradients attributions (24 batches × 24 sequences, 4 steps) of the
# TopK and Staircase SAEs → attributions/data/trans_block_{topk,staircase}.safetensors. Trains what is
# missing first.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/scripts/common.sh"

"$SCALAR_ROOT/train_trans_block.sh"
for step in $(analysis_steps trans_block_topk trans_block_staircase); do
  attribute_run trans_block_topk "$step"
  attribute_run trans_block_staircase "$step"
done
