#!/usr/bin/env bash
# SCALAR, FF blocks: gradient-selected edge-ablation sweeps (the 35 edge counts, 50 prompts, seed 125) of
# layers 0–3 for the TopK and Staircase pairs → ablation/results/ff_block_{topk,staircase}/; then the plots
# (ablation/plots/FF_BLOCK_i.svg) and the AUC table (ablation/plots/summary.txt).
# Computes the attributions (and trains) first when missing.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/common.sh"

"$SCALAR_ROOT/attributions_FF_block.sh"
for step in $(analysis_steps ff_block_topk ff_block_staircase); do
  for layer in "${LAYERS[@]}"; do
    ablate_layer ff_block_topk ff_block_topk "$layer" "$step"
    ablate_layer ff_block_staircase ff_block_staircase "$layer" "$step"
  done
  plot_all "$step"
done
