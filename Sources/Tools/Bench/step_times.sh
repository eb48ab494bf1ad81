#!/usr/bin/env bash
# Per-step times of the training tools themselves, measured as the issues define them:
# (wall time of a 40-step run − wall time of a 10-step run) / 30, so start-up, the step-0 evaluation,
# the final save and the post-training evaluation cancel out.
#
#   Sources/Tools/Bench/step_times.sh [--json]
#
# Environment: BIN (release binaries, default .build-native/release: the tools as the replication scripts and
# scripts/build-tools.sh build them, for this machine's CPU; BIN=.build/release times the baseline build), DATA (a prepared corpus, default
# data/shakespeare), GPT (a GPT checkpoint directory for the SAE rows; default: one trained here for
# 10 steps, which is as good as any for timing), ROWS (space-separated subset of: gpt sae staircase group
# twin jsae jsae0; group = the TopK and staircase presets trained together in one process, twin = the
# TopK presets with k 10 and k 5 together; sae-later = the TopK preset's steps after its first epoch, when
# train-sae reuses the GPT activations it kept (--activation-cache), group-later the same for the group row:
# one run of E + 60 steps, E the batches in one epoch of DATA's train shards, timed by the tool's own per-step
# "dt" log field (median of steps E + 21 … E + 60, beside the median of steps 21 … 60 of the same run: a
# difference of long runs drowns in the machine's drift).
# Uses whatever OPENBLAS_CORETYPE the environment sets. Run it on a quiet machine.
set -euo pipefail
cd "$(dirname "$0")/../../.."
BIN=${BIN:-.build-native/release}
DATA=${DATA:-data/shakespeare}
ROWS=${ROWS:-"gpt sae staircase group twin jsae jsae0"}
JSON=0
[[ "${1:-}" == "--json" ]] && JSON=1
for tool in train-gpt train-sae; do
  [[ -x "$BIN/$tool" ]] || { echo "step_times: $BIN/$tool missing (scripts/build-tools.sh builds .build-native; swift build -c release builds .build)" >&2; exit 1; }
done
[[ -d "$DATA" ]] || { echo "step_times: no corpus at $DATA (prepare-data shakespeare, or set DATA)" >&2; exit 1; }
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
COMMON=(--data-dir "$DATA" --checkpoints-dir "$WORK" --eval-interval 1000 --eval-steps 1 --warmup-steps 5 --json)

if [[ -z "${GPT:-}" ]]; then
  "$BIN/train-gpt" --config shakespeare_64x4 --name gpt-timing "${COMMON[@]}" --log-interval 1000 --max-steps 10 > /dev/null 2>&1
  GPT="$WORK/gpt-timing"
fi

# seconds <command…>: wall seconds of one run (stdout and stderr discarded; a failure stops the script).
seconds() {
  local t0 t1
  t0=$(date +%s.%N)
  "$@" > "$WORK/out" 2> "$WORK/err" || { echo "step_times: failed: $* — $(tail -1 "$WORK/err")" >&2; exit 1; }
  t1=$(date +%s.%N)
  echo "$t1 - $t0" | bc -l
}

# group_run <train-sae command…> --name RUN …: the command with RUN split into one --name per --config
# (RUN-a, RUN-b), as a grouped train-sae run needs.
group_run() {
  local args=() name="" i=1
  while [[ $# -gt 0 ]]; do
    if [[ "$1" == --name ]]; then name="$2"; shift 2; else args+=("$1"); shift; fi
  done
  "${args[@]}" --name "$name-a" --name "$name-b"
}

# median_dt RUN LO HI: the median over steps LO … HI of the tool's own per-step "dt" log field in ms (for a
# group, the sum of its runs' dt per step), from the train.log files of the run directories RUN*.
median_dt() {
  python3 - "$WORK" "$1" "$2" "$3" <<'PY'
import glob, re, statistics, sys
work, run, lo, hi = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
dt = {}
for path in glob.glob(f"{work}/{run}*/train.log"):
    for line in open(path):
        m = re.search(r"type train \| step (\d+) .*\| dt ([0-9.]+)", line)
        if m:
            dt.setdefault(int(m.group(1)), []).append(float(m.group(2)))
print(f"{1000 * statistics.median(sum(dt[k]) for k in range(lo, hi + 1) if k in dt):.2f}")
PY
}

# per_step NAME <command…>: runs it with --max-steps 10 and 40 and records the difference / 30 in ms (the
# issues' measure) as NAME; the 40-step run logs every step, and the median of its steps 11 … 40 is recorded
# as "NAME (in-run median)": within one run it drifts less than the difference of two runs does.
declare -A RESULT
per_step() {
  local name=$1; shift
  local a b
  local run=${name%% *}; run=${run//[^a-z-]/}-$RANDOM
  a=$(seconds "$@" --name "$run-10" --max-steps 10 --log-interval 1000)
  b=$(seconds "$@" --name "$run-40" --max-steps 40 --log-interval 1)
  RESULT[$name]=$(echo "($b - $a) / 30 * 1000" | bc -l)
  RESULT["$name (in-run median)"]=$(median_dt "$run-40" 11 40)
  [[ $JSON == 1 ]] || printf '%-58s %8.1f ms/step   (10 steps %.1f s, 40 steps %.1f s; in-run median %.1f ms)\n' \
    "$name" "${RESULT[$name]}" "$a" "$b" "${RESULT["$name (in-run median)"]}"
}

# epoch_batches: batches of 128 × 128 tokens in one pass over DATA's train shards (the loader's windows).
epoch_batches() {
  python3 - "$DATA" <<'PY'
import glob, sys
n, total = 128 * 128, 0
for path in sorted(glob.glob(sys.argv[1] + "/train_*.npy")):
    with open(path, "rb") as f:  # .npy of uint16 tokens: magic, version, header length, header, data
        head = f.read(12)
        f.seek(0, 2)
        size = f.tell()
    header = 10 + int.from_bytes(head[8:10], "little") if head[6] == 1 else 12 + int.from_bytes(head[8:12], "little")
    tokens = (size - header) // 2
    if tokens >= n + 1:
        total += (tokens - n - 1) // n + 1
print(total)
PY
}

# per_step_later NAME <command…>: one run of E + 60 steps logging every step; RESULT is the median "dt" of
# steps E + 21 … E + 60 (later epochs) in ms; the first epoch's steps 21 … 60 are printed beside it.
per_step_later() {
  local name=$1; shift
  local e run first
  e=$(epoch_batches)
  run=${name%% *}; run=${run//[^a-z-]/}-$RANDOM
  seconds "$@" --name "$run" --max-steps $((e + 60)) --log-interval 1 > /dev/null
  first=$(median_dt "$run" 21 60)
  RESULT[$name]=$(median_dt "$run" $((e + 21)) $((e + 60)))
  [[ $JSON == 1 ]] || printf '%-58s %8.1f ms/step   (median step time; steps 21–60 of the first epoch: %.1f ms)\n' "$name" "${RESULT[$name]}" "$first"
}

[[ $JSON == 1 ]] || echo "# OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset}, $(nproc) cores, batch 128 × 128 tokens"
for row in $ROWS; do
  case $row in
    gpt) per_step "train-gpt shakespeare_64x4" "$BIN/train-gpt" --config shakespeare_64x4 "${COMMON[@]}" ;;
    sae) per_step "train-sae topk.shakespeare_64x4" "$BIN/train-sae" --config topk.shakespeare_64x4 --load-from "$GPT" "${COMMON[@]}" ;;
    staircase) per_step "train-sae topk-staircase-share.shakespeare_64x4" "$BIN/train-sae" --config topk-staircase-share.shakespeare_64x4 --load-from "$GPT" "${COMMON[@]}" ;;
    group) per_step "train-sae topk + topk-staircase-share (one process)" group_run "$BIN/train-sae" --config topk.shakespeare_64x4 --config topk-staircase-share.shakespeare_64x4 --load-from "$GPT" "${COMMON[@]}" ;;
    twin) per_step "train-sae topk + top5 (one process)" group_run "$BIN/train-sae" --config topk.shakespeare_64x4 --config top5.shakespeare_64x4 --load-from "$GPT" "${COMMON[@]}" ;;
    jsae) per_step "train-sae jsae.shakespeare_64x4 --sparsity 1e-3" "$BIN/train-sae" --config jsae.shakespeare_64x4 --sparsity 1e-3 --load-from "$GPT" "${COMMON[@]}" ;;
    jsae0) per_step "train-sae jsae.shakespeare_64x4 --sparsity 0" "$BIN/train-sae" --config jsae.shakespeare_64x4 --sparsity 0 --load-from "$GPT" "${COMMON[@]}" ;;
    group-later) per_step_later "train-sae topk + topk-staircase-share (one process, later epochs)" group_run "$BIN/train-sae" --config topk.shakespeare_64x4 --config topk-staircase-share.shakespeare_64x4 --load-from "$GPT" "${COMMON[@]}" ;;
    sae-later) per_step_later "train-sae topk.shakespeare_64x4 (later epochs)" "$BIN/train-sae" --config topk.shakespeare_64x4 --load-from "$GPT" "${COMMON[@]}" ;;
    *) echo "step_times: unknown row '$row' (gpt, sae, staircase, group, twin, jsae, jsae0, sae-later, group-later)" >&2; exit 1 ;;
  esac
done
if [[ $JSON == 1 ]]; then
  sep=""
  printf '{'
  for k in "${!RESULT[@]}"; do printf '%s"%s": %.2f' "$sep" "$k" "${RESULT[$k]}"; sep=", "; done
  printf '}\n'
fi
