#!/usr/bin/env bash
# Mutation check of the test suite (not run in CI): plants one small, plausible bug at a time in the sources,
# builds, runs the test suites that should notice it, and reports whether they did. Every mutation must be
# caught; the script exits 1 otherwise.
#
#   scripts/mutation-check.sh            # every mutation (about 10 minutes on 2 cores, debug builds)
#   scripts/mutation-check.sh --list     # the mutations, without running anything
#   scripts/mutation-check.sh ID…        # only these
#
# It edits the working tree of this checkout in place, one file at a time, and always restores it (on
# success, failure, Ctrl-C or termination): each file is copied aside before it is changed and copied back
# by an EXIT trap. It refuses to start when a file it would change has uncommitted changes. Builds use the
# checkout's default .build (debug); after the last mutation the clean tree is built again. Test filters
# name suites that need nothing beside the repository (no ../shared, no GPT-2 files), so a mutation counts
# as caught only if a clone without ../shared would catch it. Logs: $MUTATION_LOGS (default: a new
# temporary directory).
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

ids=() files=() filters=() descriptions=() froms=() tos=()
# mutation ID FILE TEST-FILTER DESCRIPTION FROM TO — FROM must occur exactly once in FILE.
mutation() { ids+=("$1"); files+=("$2"); filters+=("$3"); descriptions+=("$4"); froms+=("$5"); tos+=("$6"); }

# Ordered from the top of the module chain down, so that each build recompiles as little as possible.
# Tools
mutation tools-ablate-sidecar-layer Sources/Tools/Ablate/main.swift 'ExperimentsTests\.ToolTests' \
  "ablate: the result sidecar names the next upstream layer" \
  '"upstream_layer_idx": point.layer,' '"upstream_layer_idx": point.layer + 1,'
mutation tools-attribute-steps Sources/Tools/Attribute/main.swift 'ExperimentsTests\.ToolTests' \
  "attribute: integrates over one more step than --steps (the file still says --steps)" \
  'IntegratedGradientsAttributor(model: model, layers: layerList, steps: steps)' \
  'IntegratedGradientsAttributor(model: model, layers: layerList, steps: steps + 1)'
# Experiments
mutation experiments-trapezoid-half Sources/Experiments/Summary/AblationCurve.swift 'ExperimentsTests\.ScalarSummaryTests' \
  "AUC: the trapezoid rule without its / 2" \
  '* (y[i] + y[i - 1]) / 2 }' '* (y[i] + y[i - 1]) }'
mutation experiments-improvement-sign Sources/Experiments/Summary/AblationCurve.swift 'ExperimentsTests\.ScalarSummaryTests' \
  "relative improvement: ratio − 1 instead of 1 − ratio" \
  'value = 1 - ratio' 'value = ratio - 1'
mutation experiments-mean-error Sources/Experiments/Summary/AblationCurve.swift 'ExperimentsTests\.ScalarSummaryTests' \
  "mean over layers: the error divided by √n instead of n" \
  '.squareRoot() / n)' '.squareRoot() / n.squareRoot())'
mutation experiments-bootstrap-upper Sources/Experiments/Summary/BootstrapInterval.swift 'ExperimentsTests\.ScalarSummaryTests' \
  "bootstrap interval: the upper percentile one order statistic low" \
  'Int((1 - alpha) * Double(resamples)))' 'Int((1 - alpha) * Double(resamples)) - 1)'
mutation experiments-ig-steps Sources/Experiments/Internal/SourcePoints.swift 'ExperimentsTests\.IntegratedGradientsTests' \
  "integrated gradients: the step length without its 1/steps" \
  'scales.append(sq.squareRoot() / Float(steps))' 'scales.append(sq.squareRoot())'
mutation experiments-kl-swapped Sources/Experiments/KLDivergence.swift 'ExperimentsTests\.EdgeRankingTests' \
  "KL divergence: arguments swapped (KL(q ‖ p))" \
  'SoftmaxKernel.softmaxRow(pr + r * v, p, v)
          SoftmaxKernel.softmaxRow(pq + r * v, q, v)' \
  'SoftmaxKernel.softmaxRow(pq + r * v, p, v)
          SoftmaxKernel.softmaxRow(pr + r * v, q, v)'
mutation experiments-sweep-n-minus-1 Sources/Experiments/PairAblation.swift 'ExperimentsTests\.EdgeAblationTests' \
  "edge sweep: keeps N − 1 edges at N" \
  'while next < n {' 'while next < n - 1 {'
mutation experiments-ranking-ascending Sources/Experiments/EdgeRanking.swift 'ExperimentsTests\.EdgeRankingTests' \
  "edge ranking: attributions in ascending order" \
  'return va != vb ? va > vb : a < b' 'return va != vb ? va < vb : a < b'
mutation experiments-manual-ablation-signed Sources/Experiments/ManualAblationAttributor.swift 'ExperimentsTests\.ManualAblationTests' \
  "manual ablation (position-wise paths): signed instead of absolute changes" \
  'let a = out + r * fDown, b = f1 + pos * fDown, dst = scores + i * fDown
          for j in 0..<fDown { dst[j] += Swift.abs(a[j] - b[j]) }' \
  'let a = out + r * fDown, b = f1 + pos * fDown, dst = scores + i * fDown
          for j in 0..<fDown { dst[j] += a[j] - b[j] }'
mutation experiments-never-unpruned Sources/Experiments/PairAblation.swift 'ExperimentsTests\.EdgeAblationTests' \
  "edge sweep: N = all edges still prunes instead of using the unpruned circuit" \
  'let full = n == totalEdges' 'let full = false'
# Training
mutation training-lr-one-step-late Sources/Training/TrainingLoop.swift 'TrainingTests\.TrainerStepTests' \
  "training loop: the learning rate of the next step" \
  'let lr = loop.schedule.rate(at: step)' 'let lr = loop.schedule.rate(at: step + 1)'
mutation training-accumulation-scale Sources/Training/SAE/SAETrainer.swift 'TrainingTests\.TrainerStepTests' \
  "SAE trainer: micro-batch losses not divided by the accumulation steps" \
  'scale: accumulation == 1 ? 1 : 1 / Float(accumulation)' 'scale: 1'
mutation training-best-strict Sources/Training/SAE/SAETrainer.swift 'TrainingTests\.SAETrainerTests' \
  "SAE trainer: saves only on a strictly lower val loss (the reference saves on ≤)" \
  'return total <= bestTotal' 'return total < bestTotal'
mutation training-sae-no-clip Sources/Training/SAE/SAETrainer.swift 'TrainingTests\.TrainerStepTests' \
  "SAE trainer: the global gradient clip is dropped" \
  'clipGradNorm(parameters, maxNorm: SAETrainingConfig.gradClip)' 'clipGradNorm(parameters, maxNorm: .infinity)'
mutation training-loader-skips-token Sources/Training/Data/TokenDataLoader.swift 'TrainingTests\.DataLoaderTests' \
  "data loader: the cursor advances one token too far" \
  'position.cursor += stride' 'position.cursor += stride + 1'
# SAE
mutation sae-detach-whole-prefix Sources/SAE/SAERegistry.swift 'SAETests\.StaircaseWiringTests' \
  "registry: the detach variant trains 0..<F_m instead of its new slice" \
  'trainableFeatures: detach ? previous..<f : nil' 'trainableFeatures: detach ? 0..<f : nil'
mutation sae-block-one-group Sources/SAE/SAERegistry.swift 'SAETests\.StaircaseWiringTests' \
  "registry: every FF-block pair in one staircase group" \
  'return byLayer.keys.sorted().map { ($0, byLayer[$0]!) }' 'return [(0, Array(config.saeKeys.indices))]'
mutation sae-topk-drops-ties Sources/SAE/Kernels/TopKAutoencoderKernel.swift 'SAETests\.TopKKernelTests' \
  "TopK kernel: drops features tied with the k-th value" \
  'if v >= t {' 'if v > t {'
# GPT (caught by the plain-arithmetic manual-ablation test: the attributor and its reference implementation
# share the clean activations, so comparing them alone would not notice)
mutation gpt-mlpin-before-ln2 Sources/GPT/Block.swift 'ExperimentsTests\.ManualAblationTests' \
  "block hooks: mlpin offered before ln_2 instead of after" \
  'let mlpIn = hook.intercept(.mlpin, layer: layer, ln2(ln2Input))' 'let mlpIn = ln2(hook.intercept(.mlpin, layer: layer, ln2Input))'
# Autograd
mutation autograd-adamw-bias-correction Sources/Autograd/AdamW.swift 'AutogradTests\.AdamWTests' \
  "AdamW: no bias correction of the second moment" \
  'let mh = pm[i] / bc1, vh = pv[i] / bc2' 'let mh = pm[i] / bc1, vh = pv[i]'
mutation autograd-overwrite-gradient Sources/Autograd/Variable.swift 'AutogradTests' \
  "backward: an input used twice keeps only the last gradient" \
  'if pending[key] == nil { pending[key] = ig } else { pending[key]!.addInPlace(ig) }' 'pending[key] = ig'
# Tensor
mutation tensor-cross-entropy-gradient Sources/Tensor/Kernels/CrossEntropyKernel.swift 'TensorTests\.KernelTests' \
  "cross-entropy backward: the gradient of the sum, not of the mean over rows" \
  'let s = upstream / Float(rows)' 'let s = upstream'
mutation tensor-layernorm-unbiased Sources/Tensor/Kernels/LayerNormKernel.swift 'TensorTests\.KernelTests' \
  "layer norm (scalar path): unbiased variance (÷ C − 1)" \
  'rs = 1 / (v / Float(c) + eps).squareRoot()' 'rs = 1 / (v / Float(c - 1) + eps).squareRoot()'

# The module a file belongs to, for the report.
module_of() { case "$1" in Sources/Tools/*) echo Tools ;; *) echo "$1" | cut -d/ -f2 ;; esac; }

if [ "${1:-}" = "--list" ]; then
  for i in "${!ids[@]}"; do
    printf '%-36s %-11s %s\n' "${ids[$i]}" "$(module_of "${files[$i]}")" "${descriptions[$i]}"
  done
  exit 0
fi

selected=()
if [ $# -eq 0 ]; then
  selected=("${!ids[@]}")
else
  for want in "$@"; do
    found=""
    for i in "${!ids[@]}"; do [ "${ids[$i]}" = "$want" ] && found=$i; done
    [ -n "$found" ] || { echo "mutation-check: no mutation '$want' (see --list)" >&2; exit 2; }
    selected+=("$found")
  done
fi

# Literal replacement of FROM (exactly once) by TO in FILE; exit 3 when FROM does not occur exactly once.
replace() {
  python3 - "$1" "$2" "$3" <<'PY'
import sys
path, old, new = sys.argv[1], sys.argv[2], sys.argv[3]
text = open(path, encoding="utf-8").read()
count = text.count(old)
if count != 1:
    sys.exit(3)
open(path, "w", encoding="utf-8").write(text.replace(old, new))
PY
}

count_of() { python3 -c 'import sys; print(open(sys.argv[1], encoding="utf-8").read().count(sys.argv[2]))' "$1" "$2"; }

# Every selected mutation must apply to the current sources, and its file must be committed as it is.
for i in "${selected[@]}"; do
  f=${files[$i]}
  [ -f "$f" ] || { echo "mutation-check: ${ids[$i]}: $f does not exist" >&2; exit 2; }
  n=$(count_of "$f" "${froms[$i]}")
  [ "$n" = 1 ] || { echo "mutation-check: ${ids[$i]}: the code to change occurs $n times in $f (expected once)" >&2; exit 2; }
  if ! git diff --quiet HEAD -- "$f"; then
    echo "mutation-check: $f has uncommitted changes; commit or stash them first" >&2
    exit 2
  fi
done

sources_before=$( (git status --porcelain -- Sources; git diff -- Sources) | sha256sum)
logs=${MUTATION_LOGS:-$(mktemp -d "${TMPDIR:-/tmp}/mutation-check.XXXXXX")}
mkdir -p "$logs"
backup=$(mktemp -d "${TMPDIR:-/tmp}/mutation-backup.XXXXXX")
current=""  # the file currently changed, relative to the root

restore() {
  if [ -n "$current" ] && [ -f "$backup/file" ]; then
    cp "$backup/file" "$root/$current"
    current=""
  fi
}
on_exit() {
  status=$?
  restore
  rm -rf "$backup"
  exit $status
}
trap on_exit EXIT
trap 'echo "mutation-check: interrupted; the tree is restored" >&2; exit 130' INT TERM HUP

# Tests may not see CI (a truthy CI would turn skipped prerequisites into failures).
unset CI

build() { swift build --build-tests >"$1" 2>&1; }
run_tests() { swift test --skip-build --filter "$2" >"$1" 2>&1; }

echo "mutation-check: logs in $logs"
echo "mutation-check: building the clean tree"
if ! build "$logs/baseline-build.log"; then
  echo "mutation-check: the clean tree does not build (see $logs/baseline-build.log)" >&2
  exit 2
fi
all_filters=$(for i in "${selected[@]}"; do echo "${filters[$i]}"; done | sort -u | paste -sd'|')
echo "mutation-check: running the selected suites on the clean tree"
if ! run_tests "$logs/baseline-tests.log" "$all_filters"; then
  echo "mutation-check: the selected suites fail on the clean tree (see $logs/baseline-tests.log)" >&2
  exit 2
fi

results=()
missed=0 invalid=0
for i in "${selected[@]}"; do
  id=${ids[$i]} f=${files[$i]}
  cp "$f" "$backup/file"
  current=$f
  replace "$f" "${froms[$i]}" "${tos[$i]}" || { echo "mutation-check: $id did not apply" >&2; exit 2; }
  start=$(date +%s)
  if ! build "$logs/$id-build.log"; then
    outcome="INVALID (does not compile)"
    invalid=$((invalid + 1))
  elif run_tests "$logs/$id-tests.log" "${filters[$i]}"; then
    outcome="NOT caught"
    missed=$((missed + 1))
  else
    failed=$(grep -c "recorded an issue" "$logs/$id-tests.log" || true)
    if grep -q "Fatal error\|Program crashed\|unexpected signal" "$logs/$id-tests.log"; then
      outcome="caught (crash, $failed issues)"
    else
      outcome="caught ($failed issues)"
    fi
  fi
  restore
  line=$(printf '%-36s %-11s %-26s %4ss  %s' "$id" "$(module_of "$f")" "$outcome" "$(( $(date +%s) - start ))" "${descriptions[$i]}")
  results+=("$line")
  echo "$line"
done

echo "mutation-check: rebuilding the clean tree"
build "$logs/final-build.log" || echo "mutation-check: the clean tree no longer builds (see $logs/final-build.log)" >&2
[ "$( (git status --porcelain -- Sources; git diff -- Sources) | sha256sum)" = "$sources_before" ] ||
  { echo "mutation-check: Sources differ from before the run:" >&2; git status --short -- Sources >&2; }

echo
echo "mutation                             module      outcome                    time  what was planted"
printf '%s\n' "${results[@]}"
total=${#selected[@]}
echo "$((total - missed - invalid)) of $total mutations caught, $missed not caught, $invalid invalid"
[ "$missed" -eq 0 ] && [ "$invalid" -eq 0 ]
