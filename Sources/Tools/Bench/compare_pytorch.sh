#!/usr/bin/env bash
# The Swift tools' training steps against equivalent PyTorch CPU steps, measured in one sitting as rounds:
# in each round every Swift row is timed right beside its PyTorch twin, so that the machine's drift (±20%
# between minutes on shared VMs) falls mostly on both sides of a ratio alike. Prints each round's ms/step and
# ratios, then the median ratio over the rounds with its range, from the tool-level step times (the issues'
# measure) and from the in-run medians beside them (see step_times.sh). Not run in CI.
#
#   Sources/Tools/Bench/compare_pytorch.sh [--json]
#
# Rows of every round (batch 128 × 128 tokens, fp32):
#   gpt        train-gpt shakespeare_64x4 (step_times.sh row gpt) | PyTorch GPT step | bench's train-step row
#   products   bench's row of the step's linear-layer products (OpenBLAS) | the same products in PyTorch
#   sae        train-sae topk (row sae)                          | PyTorch TopK SAE step
#   staircase  train-sae topk-staircase-share (row staircase)    | PyTorch Staircase step
#   group      topk + topk-staircase-share in one process, against the round's staircase row
#   twin       topk + top5 in one process, against the round's sae row
# With LATER=1, one sae-later row (TopK steps after the first epoch; about 2 minutes) follows the rounds,
# against the median PyTorch TopK step.
#
# Environment: ROUNDS (default 3), LATER (0), VENV (PyTorch; default ~/.cache/gpt-circuits-swift/torch-venv,
# created with `python3 -m venv` and `pip install torch` when it cannot import torch), BIN and DATA as in
# step_times.sh. PyTorch runs on 2 threads. Uses whatever OPENBLAS_CORETYPE the environment sets.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
VENV=${VENV:-$HOME/.cache/gpt-circuits-swift/torch-venv}
ROUNDS=${ROUNDS:-3}
LATER=${LATER:-0}
BIN=${BIN:-.build-native/release}
DATA=${DATA:-data/shakespeare}
JSON=0
[[ "${1:-}" == "--json" ]] && JSON=1
[[ "$ROUNDS" =~ ^[1-9][0-9]*$ ]] || { echo "compare_pytorch: ROUNDS must be a positive integer, got '$ROUNDS'" >&2; exit 1; }
cd "$HERE/../../.."
[[ -x "$BIN/bench" && -x "$BIN/train-gpt" ]] || { echo "compare_pytorch: $BIN/bench or $BIN/train-gpt missing (scripts/build-tools.sh builds .build-native; swift build -c release builds .build)" >&2; exit 1; }
[[ -d "$DATA" ]] || { echo "compare_pytorch: no corpus at $DATA (prepare-data shakespeare, or set DATA)" >&2; exit 1; }
if ! "$VENV/bin/python" -c "import torch" 2> /dev/null; then
  echo "compare_pytorch: creating $VENV with torch (one-time download)" >&2
  python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet torch
fi
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# One GPT checkpoint for every SAE row (10 steps: as good as any for timing).
"$BIN/train-gpt" --config shakespeare_64x4 --name gpt-timing --data-dir "$DATA" --checkpoints-dir "$WORK" --max-steps 10 \
  --eval-interval 1000 --eval-steps 1 --log-interval 1000 --warmup-steps 5 --json > /dev/null 2>&1 \
  || { echo "compare_pytorch: could not train the timing GPT" >&2; exit 1; }
export BIN DATA GPT="$WORK/gpt-timing"

swift_row() { ROWS=$1 "$HERE/step_times.sh" --json; }
torch_row() { "$VENV/bin/python" "$HERE/pytorch_step.py" --threads 2 --rows "$1" --json; }
bench_row() { "$BIN/bench" --only gpt --budget 3 --json 2> /dev/null || { echo "compare_pytorch: $BIN/bench --only gpt failed" >&2; return 1; }; }

echo "[" > "$WORK/rounds.json"
for ((r = 1; r <= ROUNDS; r++)); do
  [[ $JSON == 1 ]] || echo "# round $r of $ROUNDS ($(date -u +%H:%M:%S) UTC)" >&2
  # Assignments, so that a failing row stops the script (set -e) with the row's own one-line error.
  sg=$(swift_row gpt); tg=$(torch_row gpt,products); bg=$(bench_row)
  ss=$(swift_row sae); ts=$(torch_row sae)
  sc=$(swift_row staircase); tc=$(torch_row staircase)
  sgr=$(swift_row group); stw=$(swift_row twin)
  {
    [[ $r == 1 ]] || echo ","
    echo "{\"swift_gpt\": $sg, \"torch_gpt\": $tg, \"bench\": $bg, \"swift_sae\": $ss, \"torch_sae\": $ts,"
    echo " \"swift_staircase\": $sc, \"torch_staircase\": $tc, \"swift_group\": $sgr, \"swift_twin\": $stw}"
  } >> "$WORK/rounds.json"
done
echo "]" >> "$WORK/rounds.json"
later="null"
if [[ $LATER == 1 ]]; then
  [[ $JSON == 1 ]] || echo "# later epochs ($(date -u +%H:%M:%S) UTC)" >&2
  later=$(swift_row sae-later)
fi

python3 - "$WORK/rounds.json" "$later" "$JSON" "$(lscpu | sed -n 's/^Model name: *//p' | head -1)" <<'EOF'
import json, statistics, sys
rounds, later, as_json, cpu = json.load(open(sys.argv[1])), json.loads(sys.argv[2]), sys.argv[3] == "1", sys.argv[4]
env = rounds[0]["bench"]["environment"]
def one(d, in_run):  # the one value of a step_times.sh --json row of that kind; anything else stops the script
    found = [v for k, v in d.items() if k.endswith("(in-run median)") == in_run]
    if len(found) != 1:
        sys.exit(f"compare_pytorch.sh: a step_times.sh row has {len(found)} {'in-run medians' if in_run else 'tool-level times'}: {sorted(d)}")
    return found[0]
def tool(d):  # a step_times.sh --json object of one row: its tool-level time, and its in-run median
    return one(d, False)
def median_of_run(d):
    return one(d, True)
def bench_ms(b, prefix):
    return next(x["milliseconds"] for x in b["results"] if x["name"].strip().startswith(prefix))
def bench_step(b):
    return bench_ms(b, "gpt ascii_64x4 train step")
def bench_products(b):
    return bench_ms(b, "its linear layers' products")
def ratios(s, t, bench, products):
    return {"gpt": t["gpt"] / s["gpt"], "sae": t["sae"] / s["sae"], "staircase": t["staircase"] / s["staircase"],
            "group_over_staircase": s["group"] / s["staircase"], "twin_over_sae": s["twin"] / s["sae"],
            "tool_over_bench": s["gpt"] / bench, "products": t["products"] / products}
rows = []
for r in rounds:
    s = {k[6:]: tool(v) for k, v in r.items() if k.startswith("swift_")}
    m = {k[6:]: median_of_run(v) for k, v in r.items() if k.startswith("swift_")}
    t = {"gpt": r["torch_gpt"]["gpt_ms"], "sae": r["torch_sae"]["sae_ms"], "staircase": r["torch_staircase"]["staircase_ms"],
         "products": r["torch_gpt"]["products_ms"]}
    b, bp = bench_step(r["bench"]), bench_products(r["bench"])
    rows.append({"swift": s, "swift_in_run_median": m, "torch": t, "bench_train_step": b, "bench_products": bp,
                 "ratios": ratios(s, t, b, bp), "ratios_in_run_median": ratios(m, t, b, bp)})
names = [("gpt", "GPT step, PyTorch / Swift", "≥ 2.0"), ("sae", "TopK SAE step, PyTorch / Swift", "≥ 6"),
         ("staircase", "Staircase step, PyTorch / Swift", "≥ 5"),
         ("group_over_staircase", "TopK + Staircase in one process / Staircase", "≤ 1.6"),
         ("twin_over_sae", "TopK + top5 in one process / TopK", ""),
         ("tool_over_bench", "train-gpt step / bench train-step row", "≤ 1.05"),
         ("products", "GPT step's linear products, PyTorch / OpenBLAS", "")]
def summarise(key):
    return {k: {"median": statistics.median(x[key][k] for x in rows), "min": min(x[key][k] for x in rows),
                "max": max(x[key][k] for x in rows)} for k, _, _ in names}
summary, summary_in_run = summarise("ratios"), summarise("ratios_in_run_median")
later_row = None
if later is not None:
    ms = tool(later)
    later_row = {"swift_ms": ms, "torch_sae_ms": statistics.median(x["torch"]["sae"] for x in rows)}
    later_row["ratio"] = later_row["torch_sae_ms"] / ms
if as_json:
    print(json.dumps({"cpu_model": cpu, "environment": env, "rounds": rows, "summary": summary,
                      "summary_in_run_median": summary_in_run, "later_epochs": later_row}))
    sys.exit()
print(f"# {cpu}; OpenBLAS core {env['openblas_core']} (detected {env['openblas_detected_core']}), "
      f"OPENBLAS_CORETYPE={env['OPENBLAS_CORETYPE']}; PyTorch {rounds[0]['torch_gpt']['torch_version']}, 2 threads; "
      f"batch 128 × 128 tokens, fp32; {len(rows)} rounds; Swift ms as tool-level (in-run median)")
print(f"{'round':>5} {'gpt':>20} {'bench':>6} {'topk':>20} {'staircase':>21} {'group':>14} {'twin':>14} {'products':>14}   Swift | PyTorch")
for i, x in enumerate(rows, 1):
    s, m, t = x["swift"], x["swift_in_run_median"], x["torch"]
    cell = lambda k: f"{s[k]:6.1f} ({m[k]:5.1f})"
    print(f"{i:5d} {cell('gpt')}|{t['gpt']:6.1f} {x['bench_train_step']:6.1f} {cell('sae')}|{t['sae']:6.1f} "
          f"{cell('staircase')}|{t['staircase']:7.1f} {cell('group')} {cell('twin')} {x['bench_products']:6.1f}|{t['products']:6.1f}")
print(f"{'':46} {'median':>8} {'range':>15}  {'in-run median':>13} {'range':>15} {'target':>7}")
for k, label, target in names:
    v, w = summary[k], summary_in_run[k]
    print(f"{label:46} {v['median']:7.2f}× {v['min']:6.2f}–{v['max']:.2f}×  {w['median']:12.2f}× {w['min']:6.2f}–{w['max']:.2f}× {target:>7}")
if later_row:
    print(f"{'TopK SAE step, epochs after the first':46} {later_row['ratio']:7.2f}×  ({later_row['swift_ms']:.1f} ms against "
          f"the median PyTorch step {later_row['torch_sae_ms']:.1f} ms)")
EOF
