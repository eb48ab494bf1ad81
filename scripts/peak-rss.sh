#!/usr/bin/env bash
# Peak resident memory of every tool at the presets' sizes, beside the peak of its live tensors:
# one row per tool: peak RSS, peak of live tensors, peak of live tensors and the buffer pool together, and
# (peak RSS − the baseline) / live tensors, the baseline being the RSS of `train-gpt --help` (runtime, code
# and libraries: what any process of the package holds before it allocates a tensor).
#
#   scripts/peak-rss.sh [--markdown]
#
# Each tool runs once under /usr/bin/time -v with GPTCIRCUITS_TENSOR_MEMORY=1 (which prints the peak of live
# tensor memory at exit) on the shakespeare_64x4 GPT (batch 128 × 128 tokens) and the presets' SAEs; training
# runs take 2 steps with one evaluation, so the figures are those of a full-length run's steady state.
# Environment: BIN (release tools, default .build/release), CORPUS (text to tokenise, default
# ../shared/data/tinyshakespeare/input.txt; any text of ≥ 100 kB does), WORK (scratch directory, default a
# temporary one, removed at exit).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-.build/release}
CORPUS=${CORPUS:-../shared/data/tinyshakespeare/input.txt}
MARKDOWN=0
[[ "${1:-}" == "--markdown" ]] && MARKDOWN=1
[[ -x /usr/bin/time ]] || { echo "peak-rss: /usr/bin/time missing (apt-get install time)" >&2; exit 1; }
for tool in prepare-data train-gpt train-sae evaluate generate attribute ablate plot scalar-report; do
  [[ -x "$BIN/$tool" ]] || { echo "peak-rss: $BIN/$tool missing (swift build -c release)" >&2; exit 1; }
done
[[ -f "$CORPUS" ]] || { echo "peak-rss: no corpus at $CORPUS (set CORPUS)" >&2; exit 1; }
if [[ -z "${WORK:-}" ]]; then WORK=$(mktemp -d); trap 'rm -rf "$WORK"' EXIT; fi
export GPTCIRCUITS_TENSOR_MEMORY=1
TRAIN=(--max-steps 2 --eval-interval 2 --eval-steps 1 --warmup-steps 1)
rows=()

# measure LABEL COMMAND…: runs the command, keeps its row.
measure() {
  local label="$1"; shift
  local err="$WORK/$label.err"
  /usr/bin/time -v "$@" > "$WORK/$label.out" 2> "$err" || { echo "peak-rss: $label failed:" >&2; tail -n 5 "$err" >&2; exit 1; }
  local rss live pool
  rss=$(awk -F: '/Maximum resident set size/ { printf "%.1f", $2 / 1024 }' "$err")
  live=$(sed -n 's/.*peak \([0-9.]*\) MiB in live tensors,.*/\1/p' "$err" | tail -n 1)
  pool=$(sed -n 's/.*, \([0-9.]*\) MiB in live tensors and the pool together.*/\1/p' "$err" | tail -n 1)
  rows+=("$label|$rss|${live:--}|${pool:--}")
}

D="$WORK/data" C="$WORK/ck"
measure "baseline (train-gpt --help)" "$BIN/train-gpt" --help
measure prepare-data "$BIN/prepare-data" text --input "$CORPUS" --tokenizer ascii --out "$D"
measure train-gpt "$BIN/train-gpt" --config shakespeare_64x4 --data-dir "$D" --checkpoints-dir "$C" "${TRAIN[@]}"
G="$C/shakespeare_64x4"
measure "train-sae topk" "$BIN/train-sae" --config topk.shakespeare_64x4 --load-from "$G" --data-dir "$D" --checkpoints-dir "$C" "${TRAIN[@]}"
measure "train-sae staircase" "$BIN/train-sae" --config topk-staircase-share.shakespeare_64x4 --load-from "$G" --data-dir "$D" --checkpoints-dir "$C" "${TRAIN[@]}"
measure "train-sae jsae" "$BIN/train-sae" --config jsae.shakespeare_64x4 --sparsity 1e-3 --load-from "$G" --data-dir "$D" --checkpoints-dir "$C" "${TRAIN[@]}"
measure "train-sae group (topk + staircase)" "$BIN/train-sae" --config topk.shakespeare_64x4 --name g-topk \
  --config topk-staircase-share.shakespeare_64x4 --name g-staircase --load-from "$G" --data-dir "$D" --checkpoints-dir "$C" "${TRAIN[@]}"
S="$C/topk.shakespeare_64x4"
measure "evaluate (GPT)" "$BIN/evaluate" --checkpoint "$G" --data-dir "$D" --batches 2
measure "evaluate (SAEs)" "$BIN/evaluate" --checkpoint "$S" --data-dir "$D" --batches 2
measure generate "$BIN/generate" --checkpoint "$G" --prompt ROMEO: --tokens 200
measure attribute "$BIN/attribute" --checkpoint "$S" --data-dir "$D" --output "$WORK/attr.safetensors" --method ig --steps 4 --batches 2 --batch-size 24
measure ablate "$BIN/ablate" --checkpoint "$S" --attributions "$WORK/attr.safetensors" --data-dir "$D" --out "$WORK/abl" --layers 0 --edges 1,100,1000,10000,100000 --prompts 50
measure plot "$BIN/plot" --series TopK="$WORK/abl" --baseline TopK --out "$WORK/plots"

if [[ $MARKDOWN == 1 ]]; then
  echo "| tool | peak RSS MiB | live tensors MiB | tensors + pool MiB | (RSS − baseline) / live tensors |"
  echo "|---|---|---|---|---|"
fi
baseline=$(IFS='|' read -r _ rss _ <<< "${rows[0]}"; echo "$rss")
for row in "${rows[@]}"; do
  IFS='|' read -r label rss live pool <<< "$row"
  ratio="-"
  [[ "$live" != "-" ]] && ratio=$(awk -v r="$rss" -v b="$baseline" -v l="$live" 'BEGIN { if (l >= 1) printf "%.2f", (r - b) / l; else print "-" }')
  if [[ $MARKDOWN == 1 ]]; then
    echo "| $label | $rss | $live | $pool | $ratio |"
  else
    printf '%-36s %10s %10s %10s %8s\n' "$label" "$rss" "$live" "$pool" "$ratio"
  fi
done
