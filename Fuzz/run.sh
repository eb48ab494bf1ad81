#!/usr/bin/env bash
# libFuzzer harnesses for the file readers and tokenizers (Fuzz/README.md). Outside the SwiftPM build: the
# library modules are compiled here with swiftc -sanitize=fuzzer,address (coverage + AddressSanitizer), each
# harness linked against them.
#
#   Fuzz/run.sh [--seconds N | --runs N] [--jobs N] [HARNESS…]   build, then fuzz each harness (default: all)
#   Fuzz/run.sh --build-only                                     build only
#   Fuzz/run.sh --list                                           the harness names
#
# Environment: FUZZ_BUILD (build and work directory, default .build-fuzz), FUZZ_OPT (-Onone by default, which
# compiles fastest; -O for long campaigns), FUZZ_RSS_MB (libFuzzer's -rss_limit_mb, default 2048).
# Each harness starts from the committed seeds Fuzz/Corpus/<name>/ plus the corpus it grew before (kept in
# $FUZZ_BUILD/corpus/<name>/, never committed). Crashes, hangs (-timeout 10 s per input), leaks and sanitizer
# reports land in $FUZZ_BUILD/artifacts/<name>/ and make the script exit 1. One summary line per harness:
#   fuzz <name>: <executions> executions in <seconds> s, <corpus size> corpus inputs, <findings>
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"

BUILD="$(mkdir -p "${FUZZ_BUILD:-.build-fuzz}" && cd "${FUZZ_BUILD:-.build-fuzz}" && pwd)"
OPT="${FUZZ_OPT:--Onone}"
RSS_MB="${FUZZ_RSS_MB:-2048}"
MODULES=(Tensor Autograd GPT SAE Training Experiments)
ALL=(SafeTensors NPY ModelJSON SAEJSON TrainingConfig AttributionFile AblationResult BPETokenizer ASCIITokenizer)

seconds=""; runs=""; jobs=1; build_only=0; chosen=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --seconds) seconds="$2"; shift 2 ;;
    --runs) runs="$2"; shift 2 ;;
    --jobs) jobs="$2"; shift 2 ;;
    --build-only) build_only=1; shift ;;
    --list) printf '%s\n' "${ALL[@]}"; exit 0 ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    -*) echo "unknown option $1" >&2; exit 2 ;;
    *) chosen+=("$1"); shift ;;
  esac
done
[[ ${#chosen[@]} -gt 0 ]] || chosen=("${ALL[@]}")
for h in "${chosen[@]}"; do
  [[ -f "Fuzz/Harnesses/$h.swift" ]] || { echo "no harness $h (Fuzz/run.sh --list)" >&2; exit 2; }
done

mkdir -p "$BUILD/modules" "$BUILD/bin"
# Swift's crash backtracer reads arbitrary memory, which AddressSanitizer reports as a second, spurious finding.
export SWIFT_BACKTRACE=enable=no
FLAGS=(-sanitize=fuzzer,address -parse-as-library -swift-version 5 "$OPT" -gline-tables-only -I Sources/COpenBLAS -I Sources/CMemoryHints -I "$BUILD/modules")
stamp="$BUILD/modules/.flags"
flags_now="$(swiftc --version 2>&1 | head -1) ${FLAGS[*]}"
[[ -f "$stamp" && "$(cat "$stamp")" == "$flags_now" ]] || rm -f "$BUILD"/modules/*.o

# The modules, in dependency order; one is rebuilt when a source of it or of a module below it changed.
rebuilt=0
for m in "${MODULES[@]}"; do
  obj="$BUILD/modules/$m.o"
  sources=()
  while IFS= read -r f; do sources+=("$f"); done < <(find "Sources/$m" -name '*.swift' | sort)
  if [[ $rebuilt == 1 || ! -f "$obj" ]] || [[ -n "$(find "Sources/$m" -name '*.swift' -newer "$obj" | head -1)" ]]; then
    echo "fuzz: compiling $m ($OPT)" >&2
    swiftc "${FLAGS[@]}" -module-name "$m" -wmo -c -o "$obj" -emit-module -emit-module-path "$BUILD/modules/$m.swiftmodule" \
      "${sources[@]}" 2> >(grep -v "warning: Cannot export\|^$" >&2 || true)
    rebuilt=1
  fi
done
echo "$flags_now" > "$stamp"

objects=()
for m in "${MODULES[@]}"; do objects+=("$BUILD/modules/$m.o"); done
for h in "${chosen[@]}"; do
  bin="$BUILD/bin/$h"
  if [[ $rebuilt == 1 || ! -x "$bin" || "Fuzz/Harnesses/$h.swift" -nt "$bin" || Fuzz/Harnesses/Common.swift -nt "$bin" ]]; then
    echo "fuzz: linking $h" >&2
    swiftc "${FLAGS[@]}" -module-name "Fuzz$h" "Fuzz/Harnesses/$h.swift" Fuzz/Harnesses/Common.swift "${objects[@]}" \
      -lopenblas -o "$bin" 2> >(grep -v "warning: Cannot export\|^$" >&2 || true)
  fi
done
[[ $build_only == 0 ]] || exit 0

limit=(-max_total_time=60)
[[ -n "$seconds" ]] && limit=(-max_total_time="$seconds")
[[ -n "$runs" ]] && limit=(-runs="$runs")
status=0
for h in "${chosen[@]}"; do
  corpus="$BUILD/corpus/$h" artifacts="$BUILD/artifacts/$h"
  mkdir -p "$corpus" "$artifacts"
  log="$BUILD/$h.log"
  touch "$BUILD/.started-$h"  # findings of this run are the artifacts newer than this
  start=$(date +%s.%N)
  set +e
  parallel=()
  [[ $jobs -gt 1 ]] && parallel=(-jobs="$jobs" -workers="$jobs")
  # Run from the work directory: with -jobs, each job logs to fuzz-N.log in the working directory.
  (cd "$BUILD" && exec "bin/$h" "${limit[@]}" -timeout=10 -rss_limit_mb="$RSS_MB" -malloc_limit_mb="$RSS_MB" \
    -max_len=65536 "${parallel[@]}" -print_final_stats=1 -artifact_prefix="artifacts/$h/" \
    "corpus/$h" "$root/Fuzz/Corpus/$h") > "$log" 2>&1
  rc=$?
  set -e
  if [[ $jobs -gt 1 ]]; then cat "$BUILD"/fuzz-*.log >> "$log" 2>/dev/null || true; rm -f "$BUILD"/fuzz-*.log; fi
  elapsed=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.0f", e - s }')
  execs=$(awk '/stat::number_of_executed_units:/ { n += $2 } END { print n + 0 }' "$log")
  found=$(find "$artifacts" -type f -newer "$BUILD/.started-$h" | wc -l)
  if [[ $rc -ne 0 || $found -gt 0 ]]; then
    status=1
    echo "fuzz $h: FAILED (exit $rc) after $execs executions in $elapsed s; findings in $artifacts, log $log" >&2
    grep -m 5 -E "ERROR|property violated|Fatal error|SUMMARY" "$log" >&2 || tail -n 20 "$log" >&2
  else
    echo "fuzz $h: $execs executions in $elapsed s, $(find "$corpus" -type f | wc -l) corpus inputs, 0 crashes, hangs or sanitizer reports"
  fi
done
exit $status
