# Shared settings and helpers of the SCALAR replication scripts (train_*.sh, attributions_*.sh,
# ablation/ablation_*.sh, run_scalar.sh). Sourced by them, not run on its own.
#
# Environment:
#   QUICK=1             the quick profile: the whole chain in minutes on a small machine (a real but small
#                       experiment); its files go to checkpoints/quick/, attributions/data/quick/,
#                       ablation/results/quick/ and ablation/plots/quick/, never mixing with full runs.
#   SCRATCH_PATH=DIR    SwiftPM build directory (default .build); the tools are DIR/release/<tool>, built
#                       with `swift build -c release` when one is missing (REBUILD=1 always rebuilds).
#   DATA_DIR=DIR        tokenised corpus (default data/shakespeare; prepared with `prepare-data shakespeare`).
#   GPT_STEPS=N, SAE_STEPS=N
#                       the full profile's settings with fewer training steps (GPT, and every SAE run), for a
#                       machine that cannot spend days on it; files go to */steps-g{GPT_STEPS}-s{SAE_STEPS}/
#                       (`full` for an unset one), warmup 10% of the steps as in the full recipe, and SAE
#                       evaluations over 20 val batches instead of 100 (with 5–8 SAEs, each evaluation patches
#                       every SAE in turn, which costs more than the training steps between evaluations at
#                       these step counts). Attribution and ablation settings stay the paper's.
#
# Every stage skips work whose outputs exist: finished training runs (a .scalar-complete marker, or a
# checkpoint without resume state, e.g. one copied from the reference), attribution files, and ablation
# layers (results are written to a staging directory and moved into place when the layer is complete; an
# interrupted layer keeps its finished points).
# Interrupted training runs continue with --resume from their latest evaluation. Delete an output to
# recompute it.

SCALAR_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$SCALAR_ROOT"

QUICK="${QUICK:-0}"
SCRATCH_PATH="${SCRATCH_PATH:-.build}"
BIN="$SCRATCH_PATH/release"
DATA_DIR="${DATA_DIR:-data/shakespeare}"

# Upstream layers of the SAE pairs (the toy model has 4 blocks).
LAYERS=(0 1 2 3)
GPT_RUN=shakespeare_64x4

# JSAE sparsity grid of the paper (FF layers) and the λ it plots for layers 0–3.
JSAE_GRID=(0 1.0e-3 1.2e-3 1.5e-3 1.8e-3 2.2e-3 2.7e-3 3.3e-3 3.9e-3 4.7e-3 5.6e-3 6.8e-3 1.0e-2)
JSAE_CHOSEN=(1.8e-3 1.2e-3 3.3e-3 2.2e-3)
# FF-block TopK pairs: the JSAE-block trainer with λ = 0 (a plain TopK pair; 20,000 steps).
JSAE_BLOCK_CONFIG=scripts/config/jsae-block.shk_64x4.json

if [[ "$QUICK" == 1 ]]; then
  PROFILE=quick
  CHECKPOINTS_DIR=checkpoints/quick
  ATTRIBUTIONS_DIR=attributions/data/quick
  RESULTS_DIR=ablation/results/quick
  PLOTS_DIR=ablation/plots/quick
  # GPT: 600 steps of 32 × 128 tokens (the full recipe: 10,000 steps of 128 × 128).
  GPT_ARGS=(--max-steps 600 --batch-size 32 --warmup-steps 60 --learning-rate 3e-3 --min-lr 3e-4
            --eval-interval 200 --eval-steps 6 --log-interval 50)
  # SAEs: 300 steps of 24 × 128 tokens, every SAE alike (20,000 / 7,500 steps of 128 × 128 in the full profile).
  SAE_ARGS=(--max-steps 300 --batch-size 24 --warmup-steps 30 --learning-rate 3e-3 --min-lr 3e-4
            --eval-interval 100 --eval-steps 6 --log-interval 50)
  LONG_SAE_ARGS=()
  ATTRIBUTION_ARGS=(--method ig --steps 4 --batches 2 --batch-size 8)
  ABLATION_ARGS=(--edges default --prompts 8 --seed 125)
  # One JSAE run with the chosen λ of each layer as its per-pair λ, instead of the whole grid.
  JSAE_RUNS=(0 "$(IFS=,; echo "${JSAE_CHOSEN[*]}")")
else
  PROFILE=full
  CHECKPOINTS_DIR=checkpoints
  ATTRIBUTIONS_DIR=attributions/data
  RESULTS_DIR=ablation/results
  PLOTS_DIR=ablation/plots
  GPT_ARGS=()                       # the shakespeare_64x4 preset: 10,000 steps
  SAE_ARGS=()                       # the presets: 7,500 steps
  LONG_SAE_ARGS=(--max-steps 20000) # JSAE (FF layer): the paper's 20,000 steps
  ATTRIBUTION_ARGS=(--method ig --steps 4 --batches 24 --batch-size 24)
  ABLATION_ARGS=(--edges default --prompts 50 --seed 125)
  JSAE_RUNS=("${JSAE_GRID[@]}")
  if [[ -n "${GPT_STEPS:-}" || -n "${SAE_STEPS:-}" ]]; then
    PROFILE="steps-g${GPT_STEPS:-full}-s${SAE_STEPS:-full}"
    CHECKPOINTS_DIR=checkpoints/$PROFILE
    ATTRIBUTIONS_DIR=attributions/data/$PROFILE
    RESULTS_DIR=ablation/results/$PROFILE
    PLOTS_DIR=ablation/plots/$PROFILE
    # Warmup stays the full recipe's fraction: 10% of the steps.
    if [[ -n "${GPT_STEPS:-}" ]]; then GPT_ARGS=(--max-steps "$GPT_STEPS" --warmup-steps $(( GPT_STEPS / 10 ))); fi
    if [[ -n "${SAE_STEPS:-}" ]]; then
      SAE_ARGS=(--max-steps "$SAE_STEPS" --warmup-steps $(( SAE_STEPS / 10 )) --eval-steps 20)
      LONG_SAE_ARGS=("${SAE_ARGS[@]}")
    fi
  fi
fi

# λ as it appears in run names, as the reference names them: 0.0ep00, 1.0e-03, 1.2e-03, …; a per-layer list
# "a,b,c,d" becomes "per-layer".
lambda_name() {
  if [[ "$1" == *,* ]]; then echo per-layer; return; fi
  if awk -v x="$1" 'BEGIN { exit !(x + 0 == 0) }'; then echo 0.0ep00; return; fi
  LC_ALL=C printf '%.1e' "$1"
}

jsae_run() { echo "ff_layer_jsae_$(lambda_name "$1")"; }

# The JSAE run whose pair at layer $1 enters the FF-layer comparison.
jsae_run_for_layer() {
  if [[ "$PROFILE" == quick ]]; then jsae_run "${JSAE_RUNS[1]}"; else jsae_run "${JSAE_CHOSEN[$1]}"; fi
}

log() { echo "[scalar:$PROFILE] $*" >&2; }

# Children's user + system CPU seconds so far, into variable $1 (the `times` builtin, run in this shell).
child_cpu_seconds() {
  local f
  f=$(mktemp)
  times > "$f"
  printf -v "$1" '%s' "$(awk 'NR == 2 { n = 0; for (i = 1; i <= 2; i++) { split($i, a, /[ms]/); n += a[1] * 60 + a[2] } printf "%.1f", n }' "$f")"
  rm -f "$f"
}

# Runs a command, printing and recording (in $CHECKPOINTS_DIR/scalar-timings.log: time, stage, wall seconds,
# CPU seconds) its wall-clock and CPU time.
timed() {
  local label="$1"; shift
  local start end cpu0 cpu1
  start=$(date +%s.%N)
  child_cpu_seconds cpu0
  "$@"
  end=$(date +%s.%N)
  child_cpu_seconds cpu1
  local secs cpu
  secs=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }')
  cpu=$(awk -v a="$cpu0" -v b="$cpu1" 'BEGIN { printf "%.1f", b - a }')
  log "$label: done in ${secs} s (CPU ${cpu} s)"
  mkdir -p "$CHECKPOINTS_DIR"
  printf '%s\t%s\t%s\t%s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$label" "$secs" "$cpu" >> "$CHECKPOINTS_DIR/scalar-timings.log"
}

# Builds the release tools when one is missing (or when REBUILD=1).
ensure_tools() {
  local tool missing=0
  for tool in prepare-data train-gpt train-sae attribute ablate plot; do
    [[ -x "$BIN/$tool" ]] || missing=1
  done
  if [[ "$missing" == 1 || "${REBUILD:-0}" == 1 ]]; then
    log "building the release tools into $BIN"
    swift build -c release --scratch-path "$SCRATCH_PATH"
  fi
}

# Tokenises the default corpus into $DATA_DIR unless it is there.
ensure_data() {
  ensure_tools
  if [[ -f "$DATA_DIR/train_000000.npy" && -f "$DATA_DIR/val_000000.npy" ]]; then return; fi
  timed "prepare-data" "$BIN/prepare-data" shakespeare --out "$DATA_DIR"
}

has_resume_state() { [[ -f "$1/resume/state.json" || -f "$1/resume.previous/state.json" ]]; }

# True when the training run in directory $1 needs no more work.
run_complete() {
  local dir="$1"
  [[ -f "$dir/.scalar-complete" ]] && return 0
  if ! has_resume_state "$dir" && [[ -f "$dir/model.safetensors" ]] && compgen -G "$dir/sae.*.safetensors" > /dev/null; then
    return 0  # a finished checkpoint without resume state (e.g. the reference's)
  fi
  return 1
}

# train_run TOOL RUN ARGS…: runs `TOOL --name RUN ARGS…` unless finished, continuing with --resume when
# the run has a resume state; marks the run complete when the tool succeeds.
train_run() {
  local tool="$1" run="$2"; shift 2
  local dir="$CHECKPOINTS_DIR/$run"
  if [[ "$tool" == train-gpt ]]; then
    if [[ -f "$dir/.scalar-complete" ]] || { ! has_resume_state "$dir" && [[ -f "$dir/model.safetensors" ]]; }; then
      log "$run: finished, skipping"; return
    fi
  elif run_complete "$dir"; then
    log "$run: finished, skipping"; return
  fi
  local resume=()
  if has_resume_state "$dir"; then resume=(--resume); log "$run: continuing from its resume state"; fi
  timed "$tool $run" "$BIN/$tool" --name "$run" --checkpoints-dir "$CHECKPOINTS_DIR" --data-dir "$DATA_DIR" \
    "$@" ${resume[@]+"${resume[@]}"}
  : > "$dir/.scalar-complete"
}

# The GPT every SAE is trained on.
ensure_gpt() {
  ensure_data
  train_run train-gpt "$GPT_RUN" --config shakespeare_64x4 ${GPT_ARGS[@]+"${GPT_ARGS[@]}"}
}

# train_sae RUN CONFIG ARGS…: trains SAEs of preset (or JSON file) CONFIG on the GPT.
train_sae() {
  local run="$1" config="$2"; shift 2
  train_run train-sae "$run" --config "$config" --load-from "$CHECKPOINTS_DIR/$GPT_RUN" \
    ${SAE_ARGS[@]+"${SAE_ARGS[@]}"} "$@"
}

# attribute_run RUN: integrated-gradients attributions of every pair of RUN → $ATTRIBUTIONS_DIR/RUN.safetensors.
attribute_run() {
  local run="$1" out="$ATTRIBUTIONS_DIR/$1.safetensors"
  if [[ -f "$out" ]]; then log "attributions of $run exist, skipping"; return; fi
  mkdir -p "$ATTRIBUTIONS_DIR"
  timed "attribute $run" "$BIN/attribute" --checkpoint "$CHECKPOINTS_DIR/$run" --output "$out" --data-dir "$DATA_DIR" \
    "${ATTRIBUTION_ARGS[@]}"
}

# ablate_layer RUN SERIES LAYER: the gradient-selected edge-ablation sweep of RUN's pair at LAYER into
# $RESULTS_DIR/SERIES/. Results appear there only once the layer's sweep is complete; an interrupted sweep
# continues from the points already complete in its staging directory (ablate --resume).
ablate_layer() {
  local run="$1" series="$2" layer="$3"
  local dir="$RESULTS_DIR/$series"
  local marker="$dir/.complete-layer-$layer" staging="$dir/.partial-layer-$layer"
  if [[ -f "$marker" ]]; then log "$series layer $layer: results exist, skipping"; return; fi
  mkdir -p "$staging"
  timed "ablate $series layer $layer ($run)" "$BIN/ablate" --checkpoint "$CHECKPOINTS_DIR/$run" \
    --attributions "$ATTRIBUTIONS_DIR/$run.safetensors" --layers "$layer" --selection gradient --out "$staging" \
    --data-dir "$DATA_DIR" "${ABLATION_ARGS[@]}" --resume > "$staging.txt"
  find "$staging" -maxdepth 1 -type f -exec mv -f {} "$dir/" \;
  rmdir "$staging"
  echo "$run" > "$marker"
  mv -f "$staging.txt" "$dir/.summary-layer-$layer.txt"
}

# The result directories of a series that hold at least one complete layer, comma-separated.
series_dirs() {
  local out=() s
  for s in "$@"; do
    if compgen -G "$RESULTS_DIR/$s/.complete-layer-*" > /dev/null; then out+=("$RESULTS_DIR/$s"); fi
  done
  (IFS=,; echo "${out[*]-}")
}

# Plots every placement whose results exist (TopK as the baseline) into $PLOTS_DIR and prints the table.
plot_all() {
  local topk staircase jsae
  topk=$(series_dirs trans_block_topk ff_block_topk "$(jsae_run 0)")
  staircase=$(series_dirs trans_block_staircase ff_block_staircase)
  jsae=$(series_dirs ff_layer_jsae)
  if [[ -z "$topk" ]]; then log "no TopK baseline results yet, nothing to plot"; return; fi
  local args=(--series "TopK=$topk")
  [[ -n "$staircase" ]] && args+=(--series "Staircase=$staircase")
  [[ -n "$jsae" ]] && args+=(--series "JSAE=$jsae")
  timed "plot" "$BIN/plot" "${args[@]}" --baseline TopK --out "$PLOTS_DIR"
  log "plots: $PLOTS_DIR/*.svg; table: $PLOTS_DIR/summary.txt (JSON: $PLOTS_DIR/summary.json)"
}
