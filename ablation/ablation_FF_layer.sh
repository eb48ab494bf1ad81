#!/usr/bin/env bash
# SCALAR, FF layers: gradient-selected edge-ablation sweeps (the 35 edge counts, 50 prompts, seed 125) of
# layers 0–3: the TopK baseline (λ = 0) → ablation/results/ff_layer_jsae_0.0ep00/, and for each layer the
# JSAE with the paper's λ for it (1.8e-3, 1.2e-3, 3.3e-3, 2.2e-3) → ablation/results/ff_layer_jsae/; then the
# plots (ablation/plots/FF_LAYER_i.svg) and the AUC table (ablation/plots/summary.txt).
# Computes the attributions (and trains) first when missing.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/common.sh"

"$SCALAR_ROOT/attributions_FF_layer.sh"
runs=()
for lambda in "${JSAE_RUNS[@]}"; do runs+=("$(jsae_run "$lambda")"); done
for step in $(analysis_steps "${runs[@]}"); do
  for layer in "${LAYERS[@]}"; do
    ablate_layer "$(jsae_run 0)" "$(jsae_run 0)" "$layer" "$step"
    ablate_layer "$(jsae_run_for_layer "$layer")" ff_layer_jsae "$layer" "$step"
  done
  plot_all "$step"
done
