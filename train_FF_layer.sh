#!/usr/bin/env bash
# SCALAR, FF layers: train the GPT (if absent) and JSAE pairs across each feedforward layer (i_mlpin →
# i_mlpout) for the paper's sparsity grid λ ∈ {0, 1.0e-3, …, 1.0e-2} (20,000 steps each) → checkpoints/
# ff_layer_jsae_{λ} (0.0ep00, 1.0e-03, …, as the reference names them); λ = 0 is the TopK baseline.
# QUICK=1: λ = 0 and one run with the chosen λ of each layer (1.8e-3, 1.2e-3, 3.3e-3, 2.2e-3) as per-pair
# values (ff_layer_jsae_per-layer), under checkpoints/quick/ (REPLICATION=1: the same two runs at 20,000
# steps). All runs train in one process on one shared GPT forward per batch. See scripts/common.sh.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/scripts/common.sh"

ensure_gpt
runs=()
for lambda in "${JSAE_RUNS[@]}"; do runs+=("$(jsae_run "$lambda")" jsae.shakespeare_64x4); done
train_sae_group "${runs[@]}" -- --per-run-sparsity "${JSAE_RUNS[*]}" ${LONG_SAE_ARGS[@]+"${LONG_SAE_ARGS[@]}"}
