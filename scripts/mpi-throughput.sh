#!/usr/bin/env bash
# Training throughput of train-gpt (tokens/s) in one process and under MPI:
#   1 process × 1 thread (taskset -c 0), 1 process × 2 threads, mpirun -np 2 × 1 thread (each rank pinned to
#   the core of its rank), and 2 ranks × 1 thread across two network namespaces (scripts/netns-hosts.sh).
# Every job trains the same global batch per step (--batch-size 16 --gradient-accumulation-steps 2: two
# micro-batches per step, one per rank under mpirun) for STEPS steps (default 30) of shakespeare_64x4.
# tokens/s = (STEPS − SHORT) · tokens per step / (time of STEPS − time of SHORT) where SHORT = 5, so start-up and
# the evaluations at step 0 and at the end cancel out. Prints a markdown table; uses the release tools built
# with the trait (swift build -c release --traits MPI --scratch-path .build-mpi-rel), building them if missing.
#
#   scripts/mpi-throughput.sh [data dir]     (default: prepared shards in ../shared/data/tinyshakespeare or
#                                             data/tinyshakespeare, else random tokens of the same size)
set -euo pipefail
cd "$(dirname "$0")/.."

data=${1:-}
if [ -z "$data" ]; then
  for d in ../shared/data/tinyshakespeare data/tinyshakespeare; do [ -f "$d/train_000000.npy" ] && { data=$d; break; }; done
fi
tools=${TOOLS:-.build-mpi-rel/release}
if [ ! -x "$tools/train-gpt" ]; then
  swift build -c release --traits MPI --scratch-path .build-mpi-rel --product train-gpt >&2
fi
steps=${STEPS:-30}
short=5
work=$(mktemp -d /tmp/gc-throughput.XXXXXX)
trap 'rm -rf "$work"' EXIT
if [ -z "$data" ]; then
  # No prepared corpus: random tokens of the same vocabulary and size (speed does not depend on the text).
  data="$work/data"
  mkdir -p "$data"
  python3 -c "
import numpy as np
rng = np.random.default_rng(0)
np.save('$data/train_000000.npy', rng.integers(0, 128, 1_003_776).astype(np.uint16))
np.save('$data/val_000000.npy', rng.integers(0, 128, 111_618).astype(np.uint16))"
  echo "mpi-throughput: no prepared tinyshakespeare shards; using random tokens of its size" >&2
elif [ ! -f "$data/train_000000.npy" ]; then
  echo "mpi-throughput: $data holds no train_000000.npy" >&2; exit 1
fi
# Each rank runs pinned to the core numbered by its rank, so it uses one thread (kernels use the cores of
# the process's affinity).
pin="$work/pin-by-rank"
printf '#!/bin/sh\nexec taskset -c "${OMPI_COMM_WORLD_RANK:-0}" "$@"\n' > "$pin"
chmod +x "$pin"

args() { # steps name
  echo --config shakespeare_64x4 --data-dir "$data" --max-steps "$1" --warmup-steps 2 --eval-interval 100000 \
       --eval-steps 2 --log-interval 1000 --batch-size 16 --gradient-accumulation-steps 2 \
       --checkpoints-dir "$work/checkpoints" --name "$2" --json
}
seconds() { python3 -c 'import json,sys; print(json.loads(sys.stdin.read().strip().splitlines()[-1])["seconds"])'; }

# measure LABEL COMMAND-PREFIX…: prints the table row of LABEL.
runs=0
measure() {
  local label=$1; shift
  local long short_s
  runs=$((runs + 1))
  short_s=$("$@" $(args $short "run$runs-short") 2> "$work/stderr" | seconds) || { cat "$work/stderr" >&2; exit 1; }
  long=$("$@" $(args "$steps" "run$runs-long") 2> "$work/stderr" | seconds) || { cat "$work/stderr" >&2; exit 1; }
  python3 -c "
steps, short, t_long, t_short = $steps, $short, $long, $short_s
tokens = 16 * 2 * 128
print(f'| $label | {(steps - short) * tokens / (t_long - t_short):.0f} | {(t_long - t_short) / (steps - short) * 1000:.0f} |')"
}

model=$(lscpu | sed -n 's/^Model name: *//p' | head -1)
echo "train-gpt shakespeare_64x4, 16 × 2 micro-batches × 128 tokens per step, $((steps - short)) steps timed; $model, $(nproc) cores"
echo "(load average at start: $(cut -d' ' -f1-3 /proc/loadavg))"
echo
echo "| configuration | tokens/s | ms/step |"
echo "|---|---:|---:|"
measure "1 process × 1 thread" taskset -c 0 "$tools/train-gpt"
measure "1 process × 2 threads" "$tools/train-gpt"
measure "mpirun -np 2 × 1 thread" mpirun --allow-run-as-root --oversubscribe --bind-to none -np 2 "$pin" "$tools/train-gpt"
scripts/netns-hosts.sh up
measure "2 namespaces × 1 rank × 1 thread" ip netns exec gc-host1 mpirun $(scripts/netns-hosts.sh mpirun-options) -np 2 "$pin" "$(pwd)/$tools/train-gpt"
scripts/netns-hosts.sh down
