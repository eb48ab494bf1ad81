#!/usr/bin/env bash
# Page load times of a running explorer: the median (and min/max) over RUNS requests (default 20, after 2
# warm-up requests) of every page and JSON route, each request one `curl` started by hyperfine, so a figure
# includes curl's own start (a few ms; the /api/checkpoint row, which only serialises a small summary, shows it).
# Prints a markdown table.
#
#   Sources/Tools/Explorer/e2e/page-times.sh URL [SAE_KEY] [FEATURE]    (e.g. http://127.0.0.1:8080/ 1_act 101)
#
# run.sh calls it on the fixture checkpoint when E2E_PAGE_TIMES names an output file.
set -euo pipefail
[ $# -ge 1 ] || { sed -n 2,7p "$0" >&2; exit 2; }
base=${1%/}
key=${2:-1_act}
feature=${3:-101}
runs=${RUNS:-20}
command -v hyperfine > /dev/null || { echo "page-times: hyperfine is not installed (apt-get install hyperfine)" >&2; exit 1; }
command -v curl > /dev/null || { echo "page-times: curl is not installed" >&2; exit 1; }
curl -sf -o /dev/null "$base/api/checkpoint" || { echo "page-times: no explorer answers at $base" >&2; exit 1; }

work=$(mktemp -d /tmp/page-times.XXXXXX)
trap 'rm -rf "$work"' EXIT
prompt='ROMEO:%0ABut+soft%2C+what+light'
pages=(
  "/"
  "/sae/$key"
  "/feature/$key/$feature"
  "/results"
  "/prompt?text=$prompt&edges=12"
  "/api/checkpoint"
  "/api/saes/$key"
  "/api/features/$key/$feature"
  "/api/results"
)
echo "| request | median ms | min ms | max ms |"
echo "|---|---:|---:|---:|"
for page in "${pages[@]}"; do
  hyperfine -N --runs "$runs" --warmup 2 --style none --export-json "$work/t.json" \
    "curl -sf -o /dev/null $base$page" > /dev/null 2>&1 || { echo "page-times: GET $page failed" >&2; exit 1; }
  python3 -c "
import json, sys
r = json.load(open(sys.argv[1]))['results'][0]
print(f'| GET {sys.argv[2]} | {r[\"median\"] * 1e3:.1f} | {r[\"min\"] * 1e3:.1f} | {r[\"max\"] * 1e3:.1f} |')" "$work/t.json" "$page"
done
printf '{"text": "ROMEO:\\nBut soft, what light", "edges": 12}' > "$work/prompt.json"
hyperfine -N --runs "$runs" --warmup 2 --style none --export-json "$work/t.json" \
  "curl -sf -o /dev/null -H content-type:application/json --data-binary @$work/prompt.json $base/api/prompt" > /dev/null 2>&1 \
  || { echo "page-times: POST /api/prompt failed" >&2; exit 1; }
python3 -c "
import json, sys
r = json.load(open(sys.argv[1]))['results'][0]
print(f'| POST /api/prompt (27 tokens, 12 edges) | {r[\"median\"] * 1e3:.1f} | {r[\"min\"] * 1e3:.1f} | {r[\"max\"] * 1e3:.1f} |')" "$work/t.json"
