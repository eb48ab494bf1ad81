#!/usr/bin/env bash
# The Swift tools' training steps against equivalent PyTorch CPU steps, measured in one sitting:
# prints ms/step of each and the ratio PyTorch / Swift (> 1: Swift is faster). Not run in CI.
#
#   Sources/Tools/Bench/compare_pytorch.sh
#
# PyTorch comes from $VENV (default ~/.cache/gpt-circuits-swift/torch-venv), created with
# `python3 -m venv` and `pip install torch` when it cannot import torch. The Swift side is
# step_times.sh (rows gpt and sae; BIN, DATA and GPT as documented there); the PyTorch side is
# pytorch_step.py with 2 threads. Uses whatever OPENBLAS_CORETYPE the environment sets.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
VENV=${VENV:-$HOME/.cache/gpt-circuits-swift/torch-venv}
if ! "$VENV/bin/python" -c "import torch" 2> /dev/null; then
  echo "compare_pytorch: creating $VENV with torch (one-time download)" >&2
  python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet torch
fi

swift_json=$(ROWS="gpt sae staircase group twin sae-later" "$HERE/step_times.sh" --json)
torch_json=$("$VENV/bin/python" "$HERE/pytorch_step.py" --threads 2 --json)

python3 - "$swift_json" "$torch_json" <<'EOF'
import json, sys
swift, torch = json.loads(sys.argv[1]), json.loads(sys.argv[2])
rows = [("GPT shakespeare_64x4 step", swift["train-gpt shakespeare_64x4"], torch["gpt_ms"]),
        ("TopK SAE step (frozen GPT + 5 × 512)", swift["train-sae topk.shakespeare_64x4"], torch["sae_ms"]),
        ("Staircase-share SAE step (512…2560)", swift["train-sae topk-staircase-share.shakespeare_64x4"], torch["staircase_ms"]),
        ("TopK SAE step, epochs after the first", swift["train-sae topk.shakespeare_64x4 (later epochs)"], torch["sae_ms"]),
        ("TopK + Staircase in one process", swift["train-sae topk + topk-staircase-share (one process)"],
         torch["sae_ms"] + torch["staircase_ms"])]
print(f"# PyTorch {torch['torch_version']}, {torch['threads']} threads; batch 128 × 128 tokens, fp32")
print(f"{'':40} {'Swift ms':>9} {'PyTorch ms':>11} {'PyTorch/Swift':>14}")
for name, s, t in rows:
    print(f"{name:40} {s:9.1f} {t:11.1f} {t / s:13.2f}×")
group, topk = swift["train-sae topk + topk-staircase-share (one process)"], swift["train-sae topk.shakespeare_64x4"]
stair = swift["train-sae topk-staircase-share.shakespeare_64x4"]
twin = swift["train-sae topk + top5 (one process)"]
print(f"TopK + top5 in one process / TopK alone: {twin / topk:.2f}×; TopK + Staircase in one process / Staircase alone: "
      f"{group / stair:.2f}× (/ both run separately: {group / (topk + stair):.2f}×)")
EOF
