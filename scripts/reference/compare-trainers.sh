#!/usr/bin/env bash
# The replication's trainer comparison (issue 12, item 3): the transformer-block TopK and Staircase presets
# trained by the PyTorch reference's own trainer on the replication's GPT and corpus, analysed through this
# project's pipeline exactly like the replication's own runs (attribute → ablate → plot → scalar-report), at
# the milestone steps both trainers reached.
#
#   REFERENCE_DIR=/path/to/gpt-circuits VENV=/path/to/venv scripts/reference/compare-trainers.sh [train] [analyse]
#
#   train     trains both presets with scripts/reference/train_reference_saes.py (fp32, one thread each, the
#             presets' 7,500-step schedule, stopped after the last of STEPS) into checkpoints/reference-trainer/,
#             unless their milestone copies exist; TopK on core 0 and Staircase on core 1, at the same time
#   analyse   (default) attributions (IG, steps 4, 24 × 24), sweeps (35 edge counts, 50 prompts, seed 125),
#             plots and the report of every milestone in STEPS that both runs have → results/scalar/reference-
#             trainer/ (summary.md, summary.json, plots/)
#
# Environment: STEPS (default 750,1500), SCRATCH_PATH as scripts/common.sh; the GPT is the replication's
# (checkpoints/replication/shakespeare_64x4, restored from results/scalar/carry/ when missing).
set -euo pipefail
export REPLICATION=1
source "$(dirname "${BASH_SOURCE[0]}")/../common.sh"

STEPS="${STEPS:-750,1500}"
CHECKPOINTS_DIR=checkpoints/reference-trainer
ATTRIBUTIONS_DIR=attributions/data/reference-trainer
RESULTS_DIR=ablation/results/reference-trainer
PLOTS_DIR=ablation/plots/reference-trainer
REPORT_DIR=results/scalar/reference-trainer
export MILESTONES="$STEPS"
GPT_DIR=checkpoints/replication/$GPT_RUN

actions=("$@")
[[ ${#actions[@]} -gt 0 ]] || actions=(analyse)
for a in "${actions[@]}"; do
  case "$a" in train|analyse) ;; *) echo "compare-trainers: unknown action '$a' (train or analyse)" >&2; exit 2 ;; esac
done

"$SCALAR_ROOT/scripts/carry.sh" restore
ensure_data
[[ -f "$GPT_DIR/model.safetensors" ]] || { echo "compare-trainers: no GPT at $GPT_DIR (run scripts/replicate.sh first)" >&2; exit 1; }
mkdir -p "$CHECKPOINTS_DIR"
ln -sfn "../replication/$GPT_RUN" "$CHECKPOINTS_DIR/$GPT_RUN"
last_step=$(tr ',' '\n' <<< "$STEPS" | sort -n | tail -n 1)

train_reference() {
  local run="$1" preset="$2" core="$3"
  if [[ -d "$CHECKPOINTS_DIR/$run/milestones/step-$(printf %06d "$last_step")" ]]; then
    log "$run: reference-trained to step $last_step, skipping"; return
  fi
  : "${REFERENCE_DIR:?set REFERENCE_DIR to a gpt-circuits checkout (branch neurips)}"
  : "${VENV:?set VENV to a virtual environment with torch, numpy, safetensors, einops and jaxtyping}"
  OMP_NUM_THREADS=1 timed "reference-train $run" taskset -c "$core" "$VENV/bin/python" \
    "$SCALAR_ROOT/scripts/reference/train_reference_saes.py" --reference "$REFERENCE_DIR" --config "$preset" \
    --gpt "$GPT_DIR" --data-dir "$DATA_DIR" --out "$CHECKPOINTS_DIR/$run" --milestones "$STEPS" --stop-after "$last_step"
}

for a in "${actions[@]}"; do
  if [[ "$a" == train ]]; then
    train_reference trans_block_topk topk.shakespeare_64x4 0 &
    topk_pid=$!
    train_reference trans_block_staircase topk-staircase-share.shakespeare_64x4 1
    wait "$topk_pid"
    continue
  fi
  analysed=0
  for step in ${STEPS//,/ }; do
    if [[ ! -d "$CHECKPOINTS_DIR/trans_block_topk/milestones/step-$(printf %06d "$step")" ||
          ! -d "$CHECKPOINTS_DIR/trans_block_staircase/milestones/step-$(printf %06d "$step")" ]]; then
      log "step $step: not reached by both reference runs, skipping"; continue
    fi
    attribute_run trans_block_topk "$step"
    attribute_run trans_block_staircase "$step"
    for layer in "${LAYERS[@]}"; do
      ablate_layer trans_block_topk trans_block_topk "$layer" "$step"
      ablate_layer trans_block_staircase trans_block_staircase "$layer" "$step"
    done
    plot_all "$step"
    analysed=1
  done
  [[ "$analysed" == 1 ]] || { log "no milestone reached by both runs yet"; exit 1; }
  corpus_md5="tinyshakespeare input.txt, md5 $(md5sum < "$CLASSIC_CORPUS" | cut -d' ' -f1)"
  timed "scalar-report (reference trainer)" "$BIN/scalar-report" \
    --placement "transformer_block=TopK:trans_block_topk,Staircase:trans_block_staircase" \
    --checkpoints "$CHECKPOINTS_DIR" --attributions "$ATTRIBUTIONS_DIR" --results "$RESULTS_DIR" --plots "$PLOTS_DIR" \
    --data-dir "$DATA_DIR" --gpt "$GPT_RUN" --out "$REPORT_DIR" --eval-batches 20 --eval-batch-size 128 \
    --commit "$(git -C "$SCALAR_ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)" --corpus "$corpus_md5"
  log "report: $REPORT_DIR/summary.md"
done
