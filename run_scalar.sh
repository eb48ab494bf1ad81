#!/usr/bin/env bash
# The whole SCALAR chain for all three SAE placements (transformer blocks, FF blocks, FF layers):
# prepare the data → train the GPT → train the SAEs → integrated-gradients attributions → edge-ablation
# sweeps → plots and the AUC table. Stages whose outputs exist are skipped and interrupted training runs
# resume, so the script can be rerun after an interruption.
#
#   ./run_scalar.sh            the paper's settings (days of CPU time)
#   QUICK=1 ./run_scalar.sh    a small version of the same experiment in minutes (files under */quick/)
#   REPLICATION=1 ./run_scalar.sh   the paper's budgets on the classic corpus with milestones (results/scalar/)
#
# See scripts/common.sh for the settings of both profiles.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/scripts/common.sh"

start=$(date +%s)
ensure_gpt
for stage in train_trans_block.sh train_FF_block.sh train_FF_layer.sh \
             attributions_trans_block.sh attributions_FF_block.sh attributions_FF_layer.sh \
             ablation/ablation_trans_block.sh ablation/ablation_FF_block.sh ablation/ablation_FF_layer.sh; do
  log "== $stage"
  "$SCALAR_ROOT/$stage"
done
report_all
echo
cat "$PLOTS_DIR/summary.txt"
log "done in $(( $(date +%s) - start )) s"
log "plots: $PLOTS_DIR/{TRANSFORMER_BLOCK,FF_BLOCK,FF_LAYER}_{0..3}.svg"
log "AUC table: $PLOTS_DIR/summary.txt (JSON: $PLOTS_DIR/summary.json); stage timings: $CHECKPOINTS_DIR/scalar-timings.log"
log "report (headlines beside the paper, improvement by stage, metrics): $REPORT_DIR/summary.md"
