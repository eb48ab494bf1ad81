#!/usr/bin/env bash
# Peak resident memory of every tool at the presets' sizes, beside what its tensors need:
# one row per tool: peak RSS, the peak RSS of the same command on four sequences (the "tiny" run: enough work
# items for both cores, so the same code, libraries, threads, per-thread buffers and arenas and parameters,
# with almost no activations), the peak of live tensors, the peak of
# live tensors and work arrays together (memory outside tensors that a computation needs, such as the
# integrated-gradient threads' per-target gradient sums; see TensorMemory.workArrayChanged), and
#   ratio = (peak RSS − fixed) / (tensors and work arrays),   fixed = tiny peak RSS − its tensors and work arrays,
# the fixed part being what the process holds whatever the problem size (runtime, code pages, libraries,
# thread stacks and arenas, and the tensors of the tiny run removed). Issue 16 asks for ratio ≤ 2.
#
#   scripts/peak-rss.sh [--markdown]
#
# Each tool runs under /usr/bin/time -v with GPTCIRCUITS_TENSOR_MEMORY=1 (which prints the peaks at exit) on
# the shakespeare_64x4 GPT (batch 128 × 128 tokens) and the presets' SAEs; training runs take 2 steps with one
# evaluation, so the figures are those of a full-length run's steady state.
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

# run LABEL COMMAND…: runs the command under /usr/bin/time; prints "rss|tensors|needed" (MiB).
run() {
  local label="$1"; shift
  local err="$WORK/$label.err"
  /usr/bin/time -v "$@" > "$WORK/$label.out" 2> "$err" || { echo "peak-rss: $label failed:" >&2; tail -n 5 "$err" >&2; exit 1; }
  local rss live needed
  rss=$(awk -F: '/Maximum resident set size/ { printf "%.1f", $2 / 1024 }' "$err")
  live=$(sed -n 's/.*peak \([0-9.]*\) MiB in live tensors,.*/\1/p' "$err" | tail -n 1)
  needed=$(sed -n 's/.*, \([0-9.]*\) MiB in live tensors and work arrays,.*/\1/p' "$err" | tail -n 1)
  echo "$rss|${live:--}|${needed:--}"
}

# measure LABEL TINY-ARGS -- COMMAND…: the command as given, and again with TINY-ARGS appended (the tiny run;
# none: no tiny run, for tools without tensors).
measure() {
  local label="$1"; shift
  local tiny=()
  while [[ "$1" != "--" ]]; do tiny+=("$1"); shift; done
  shift
  local full small="-|-|-"
  full=$(run "$label" "$@")
  if [[ ${#tiny[@]} -gt 0 ]]; then small=$(run "$label (tiny)" "$@" "${tiny[@]}"); fi
  rows+=("$label|$full|$small")
}

D="$WORK/data" C="$WORK/ck"
measure prepare-data -- "$BIN/prepare-data" text --input "$CORPUS" --tokenizer ascii --out "$D"
measure train-gpt --batch-size 4 --checkpoints-dir "$WORK/tiny" -- "$BIN/train-gpt" --config shakespeare_64x4 --data-dir "$D" --checkpoints-dir "$C" "${TRAIN[@]}"
G="$C/shakespeare_64x4"
measure "train-sae topk" --batch-size 4 --checkpoints-dir "$WORK/tiny" -- "$BIN/train-sae" --config topk.shakespeare_64x4 --load-from "$G" --data-dir "$D" --checkpoints-dir "$C" "${TRAIN[@]}"
measure "train-sae staircase" --batch-size 4 --checkpoints-dir "$WORK/tiny" -- "$BIN/train-sae" --config topk-staircase-share.shakespeare_64x4 --load-from "$G" --data-dir "$D" --checkpoints-dir "$C" "${TRAIN[@]}"
measure "train-sae jsae" --batch-size 4 --checkpoints-dir "$WORK/tiny" -- "$BIN/train-sae" --config jsae.shakespeare_64x4 --sparsity 1e-3 --load-from "$G" --data-dir "$D" --checkpoints-dir "$C" "${TRAIN[@]}"
measure "train-sae group (topk + staircase)" --batch-size 4 --checkpoints-dir "$WORK/tiny" -- "$BIN/train-sae" --config topk.shakespeare_64x4 --name g-topk \
  --config topk-staircase-share.shakespeare_64x4 --name g-staircase --load-from "$G" --data-dir "$D" --checkpoints-dir "$C" "${TRAIN[@]}"
S="$C/topk.shakespeare_64x4"
measure "evaluate (GPT)" --batch-size 4 -- "$BIN/evaluate" --checkpoint "$G" --data-dir "$D" --batches 2
measure "evaluate (SAEs)" --batch-size 4 -- "$BIN/evaluate" --checkpoint "$S" --data-dir "$D" --batches 2
measure generate --tokens 1 -- "$BIN/generate" --checkpoint "$G" --prompt ROMEO: --tokens 200
measure attribute --batch-size 4 --batches 1 --output "$WORK/attr-tiny.safetensors" -- "$BIN/attribute" --checkpoint "$S" --data-dir "$D" --output "$WORK/attr.safetensors" --method ig --steps 4 --batches 2 --batch-size 24
measure ablate --prompts 4 --out "$WORK/abl-tiny" -- "$BIN/ablate" --checkpoint "$S" --attributions "$WORK/attr.safetensors" --data-dir "$D" --out "$WORK/abl" --layers 0 --edges 1,100,1000,10000,100000 --prompts 50
measure plot -- "$BIN/plot" --series TopK="$WORK/abl" --baseline TopK --out "$WORK/plots"
# scalar-report on the layout the replication scripts write (checkpoints/<run>/, attributions/<run>.safetensors,
# results/<run>/): the TopK run above against the Staircase run, attributed and ablated at layer 0 here.
R="$WORK/layout" ST=topk-staircase-share.shakespeare_64x4
mkdir -p "$R/attributions" "$R/results"
cp "$WORK/attr.safetensors" "$R/attributions/topk.shakespeare_64x4.safetensors"
cp -r "$WORK/abl" "$R/results/topk.shakespeare_64x4"
"$BIN/attribute" --checkpoint "$C/$ST" --data-dir "$D" --output "$R/attributions/$ST.safetensors" --method ig --steps 4 \
  --batches 2 --batch-size 24 --layers 0 > /dev/null 2>&1 || { echo "peak-rss: attributing $ST failed" >&2; exit 1; }
"$BIN/ablate" --checkpoint "$C/$ST" --attributions "$R/attributions/$ST.safetensors" --data-dir "$D" --out "$R/results/$ST" \
  --layers 0 --edges 1,100,1000,10000,100000 --prompts 50 > /dev/null 2>&1 || { echo "peak-rss: ablating $ST failed" >&2; exit 1; }
measure scalar-report --eval-batch-size 4 --out "$WORK/report-tiny" -- "$BIN/scalar-report" \
  --placement transformer_block=TopK:topk.shakespeare_64x4,Staircase:$ST --checkpoints "$C" --attributions "$R/attributions" \
  --results "$R/results" --plots "$WORK/plots" --data-dir "$D" --out "$WORK/report"

if [[ $MARKDOWN == 1 ]]; then
  echo "| tool | peak RSS MiB | tiny run's peak RSS MiB | live tensors MiB | tensors + work arrays MiB | ratio |"
  echo "|---|---|---|---|---|---|"
fi
for row in "${rows[@]}"; do
  IFS='|' read -r label rss live needed trss _ tneeded <<< "$row"
  ratio="-"
  if [[ "$needed" != "-" && "$trss" != "-" ]]; then
    ratio=$(awk -v r="$rss" -v n="$needed" -v tr="$trss" -v tn="$tneeded" 'BEGIN { if (n >= 1) printf "%.2f", (r - (tr - tn)) / n; else print "-" }')
  fi
  if [[ $MARKDOWN == 1 ]]; then
    echo "| $label | $rss | $trss | $live | $needed | $ratio |"
  else
    printf '%-36s %9s %9s %9s %9s %7s\n' "$label" "$rss" "$trss" "$live" "$needed" "$ratio"
  fi
done
