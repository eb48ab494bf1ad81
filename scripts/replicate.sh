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
# The report always covers every placement whose training has finished: before it is written, a finished
# placement whose attributions or sweeps are missing here (e.g. after a machine change, since only the
# checkpoints are carried) is analysed again. Each placement's analysis holds a lock
# (checkpoints/replication/.PLACEMENT.lock), so concurrent invocations never work on the same files.
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
# The training runs of a placement.
placement_runs() {
  case "$1" in
    trans_block) echo trans_block_topk trans_block_staircase ;;
    ff_block) echo ff_block_topk ff_block_staircase ;;
    ff_layer) echo "$(jsae_run 0)" "$(jsae_run "${JSAE_RUNS[1]}")" ;;
  esac
}
placement_stage() { case "$1" in trans_block) echo trans_block ;; ff_block) echo FF_block ;; ff_layer) echo FF_layer ;; esac; }
# analyse PLACEMENT: its ablation script (trains, attributes and sweeps what is missing, then plots) under the
# placement's lock; waits while another invocation holds it.
analyse() {
  mkdir -p "$CHECKPOINTS_DIR"
  local lock="$CHECKPOINTS_DIR/.$1.lock"
  flock -n "$lock" true || log "$1: another replicate.sh is analysing it; waiting for its lock ($lock)"
  flock "$lock" "$SCALAR_ROOT/ablation/ablation_$(placement_stage "$1").sh"
}
# True when every training run of PLACEMENT has finished here.
placement_trained() {
  local run
  for run in $(placement_runs "$1"); do run_complete "$CHECKPOINTS_DIR/$run" || return 1; done
}

start=$(date +%s)
# Runs carried from another machine (scripts/carry.sh save, committed) continue where they stopped.
"$SCALAR_ROOT/scripts/carry.sh" restore
ensure_gpt
for p in "${placements[@]}"; do
  log "== $p"
  analyse "$p"
  # Finished placements not asked for, whose analysis is missing here, are redone so the report keeps them.
  for other in trans_block ff_block ff_layer; do
    [[ " ${placements[*]} " == *" $other "* ]] && continue
    if placement_trained "$other"; then log "== $other (finished; completing its analysis for the report)"; analyse "$other"; fi
  done
  report_all
done
log "done in $(( $(date +%s) - start )) s; report: $REPORT_DIR/summary.md"
