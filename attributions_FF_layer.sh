#!/usr/bin/env bash
# SCALAR, FF layers: integrated-gradients attributions (24 batches × 24 sequences of the val split, 4 steps)
# of every JSAE run's pairs → attributions/data/ff_layer_jsae_{λ}.safetensors. Trains what is missing first.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/scripts/common.sh"

"$SCALAR_ROOT/train_FF_layer.sh"
runs=()
for lambda in "${JSAE_RUNS[@]}"; do runs+=("$(jsae_run "$lambda")"); done
for step in $(analysis_steps "${runs[@]}"); do
  for run in "${runs[@]}"; do attribute_run "$run" "$step"; done
done
