#!/usr/bin/env bash
# End-to-end test of the explorer as a user meets it: index a fixture checkpoint (the reference's
# fx_trans_block_topk from ../shared, on the classic corpus's val split), start `explore` with the reference's
# golden attributions and a small ablation sweep, and drive a real headless chromium through it (browser.py):
# open a feature page, follow an edge link, submit a prompt, check what the pages show, save screenshots.
#
#   Sources/Tools/Explorer/e2e/run.sh [SCREENSHOT_DIR]
#
# With E2E_PAGE_TIMES=FILE it also times every page on the same server (page-times.sh: median of 20 requests).
#
# Needs the Explorer package's executables (swift build in Sources/Tools/Explorer), the root package's
# prepare-data and ablate (swift build at the root), chromium and python3. Without ../shared it skips (exit 0)
# unless CI is truthy, where it fails, like the Swift tests.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
package=$(cd "$here/.." && pwd)
root=$(cd "$package/../../.." && pwd)
shared=$(cd "$root/.." && pwd)/shared
shots=${1:-$package/.build/e2e-screenshots}

is_ci() { case "${CI:-}" in true|1|yes|on|TRUE|True|YES|ON) return 0;; *) return 1;; esac; }
fixture=$shared/fixtures/reference/checkpoints/fx_trans_block_topk
attributions=$shared/fixtures/reference/golden/ig_fx_trans_block_topk.safetensors
corpus=$shared/data/tinyshakespeare/input.txt
for f in "$fixture/sae.json" "$attributions" "$corpus"; do
  if [ ! -e "$f" ]; then
    if is_ci; then echo "e2e: missing shared data $f" >&2; exit 1; fi
    echo "e2e: skipped: $f absent (the shared data beside the repository)" >&2
    exit 0
  fi
done

find_tool() {  # the newest build of an executable among the given build folders (empty when none)
  local name=$1 best="" d
  shift
  for d in "$@"; do
    if [ -x "$d/$name" ] && { [ -z "$best" ] || [ "$d/$name" -nt "$best" ]; }; then best=$d/$name; fi
  done
  echo "$best"
}
explore=$(find_tool explore "$package"/.build*/debug "$package"/.build*/release)
index_features=$(find_tool index-features "$package"/.build*/debug "$package"/.build*/release)
prepare_data=$(find_tool prepare-data "$root"/.build*/debug "$root"/.build*/release)
ablate=$(find_tool ablate "$root"/.build*/debug "$root"/.build*/release)
[ -n "$explore" ] && [ -n "$index_features" ] || { echo "e2e: build the explorer first (cd Sources/Tools/Explorer && swift build)" >&2; exit 1; }
[ -n "$prepare_data" ] && [ -n "$ablate" ] || { echo "e2e: build the root package first (swift build)" >&2; exit 1; }
command -v chromium > /dev/null || { echo "e2e: chromium is not installed (apt-get install chromium)" >&2; exit 1; }

work=$(mktemp -d /tmp/explorer-e2e.XXXXXX)
server=""
cleanup() { [ -n "$server" ] && kill "$server" 2> /dev/null; wait 2> /dev/null; rm -rf "$work"; }
trap cleanup EXIT

"$prepare_data" text --input "$corpus" --tokenizer ascii --out "$work/data" > /dev/null 2>&1 \
  || { echo "e2e: prepare-data failed" >&2; exit 1; }
cp -r "$fixture" "$work/ckpt"
start=$(date +%s.%N)
"$index_features" --checkpoint "$work/ckpt" --data-dir "$work/data" --json > "$work/index.json"
echo "e2e: index-features: $(python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(d['tokens'], 'tokens,', len(d['saes']), 'SAEs in', round(d['seconds'], 1), 's')" "$work/index.json")" >&2
# A small sweep for the results page (2 prompts of 32 tokens, 3 edge counts, 2 layers).
"$ablate" --checkpoint "$work/ckpt" --attributions "$attributions" --data-dir "$work/data" --out "$work/results/topk" \
  --layers 0,1 --edges 1,100,1000 --prompts 2 --sequence-length 32 > /dev/null 2>&1 || { echo "e2e: ablate failed" >&2; exit 1; }

: > "$work/explore.log"
"$explore" --checkpoint "$work/ckpt" --attributions "$attributions" --results "$work/results" --port 0 2> "$work/explore.log" &
server=$!
url=""
for _ in $(seq 1 300); do
  url=$(grep -o 'http://127.0.0.1:[0-9]*/' "$work/explore.log" | head -n 1 || true)
  [ -n "$url" ] && break
  kill -0 "$server" 2> /dev/null || { echo "e2e: explore exited: $(tail -n 1 "$work/explore.log")" >&2; exit 1; }
  sleep 0.2
done
[ -n "$url" ] || { echo "e2e: explore did not start" >&2; exit 1; }
echo "e2e: explore at $url" >&2
python3 "$here/browser.py" "$url" "$shots"
if [ -n "${E2E_PAGE_TIMES:-}" ]; then
  "$here/page-times.sh" "$url" > "$E2E_PAGE_TIMES"
  echo "e2e: page times in $E2E_PAGE_TIMES" >&2
fi
