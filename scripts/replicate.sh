#!/usr/bin/env bash
# The SCALAR replication at the paper's budgets on the classic tinyshakespeare corpus (the REPLICATION profile
# of scripts/common.sh), placement by placement:
#
#   scripts/replicate.sh [trans_block] [ff_block] [ff_layer]     (default: all three, in that order)
#
# For each placement: train its runs as one group with milestone checkpoints (750, 1,500, 3,000, 7,500 and
# 20,000 steps, each up to the run's length) → attributions → edge-ablation sweeps and plots of every
# milestone and of the final checkpoints → the report in results/scalar/ (scalar-report, over every placement
# with results so far). Every stage resumes or skips finished work, so the script can be rerun after an
# interruption. Placements started in separate invocations can run at the same time, e.g. one per core:
#   taskset -c 0 scripts/replicate.sh trans_block &  taskset -c 1 scripts/replicate.sh ff_block &
# Environment as scripts/common.sh (CLASSIC_CORPUS, SCRATCH_PATH, MILESTONES).
# Unfinished runs move between machines through git: `scripts/carry.sh save` copies them into
# results/scalar/carry/ to commit; this script restores whatever of it is missing locally before it starts.
set -euo pipefail
export REPLICATION=1
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

placements=("$@")
[[ ${#placements[@]} -gt 0 ]] || placements=(trans_block ff_block ff_layer)
for p in "${placements[@]}"; do
  case "$p" in
    trans_block) stage=trans_block ;;
    ff_block) stage=FF_block ;;
    ff_layer) stage=FF_layer ;;
    *) echo "replicate: unknown placement '$p' (trans_block, ff_block or ff_layer)" >&2; exit 2 ;;
  esac
done
start=$(date +%s)
# Runs carried from another machine (scripts/carry.sh save, committed) continue where they stopped.
"$SCALAR_ROOT/scripts/carry.sh" restore
ensure_gpt
for p in "${placements[@]}"; do
  case "$p" in trans_block) stage=trans_block ;; ff_block) stage=FF_block ;; ff_layer) stage=FF_layer ;; esac
  log "== $p"
  "$SCALAR_ROOT/ablation/ablation_$stage.sh"   # trains, attributes and sweeps what is missing, then plots
  report_all
done
log "done in $(( $(date +%s) - start )) s; report: $REPORT_DIR/summary.md"
