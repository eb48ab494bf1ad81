#!/usr/bin/env bash
# Carries the replication's unfinished state across machines through git: its training runs live in the
# ignored checkpoints/replication/, which a new machine does not have.
#
#   scripts/carry.sh save      copy checkpoints/replication/ into results/scalar/carry/ (to commit)
#   scripts/carry.sh restore   copy results/scalar/carry/ back into checkpoints/replication/, run by run,
#                              for every run directory that is missing there (scripts/replicate.sh does this
#                              before it starts)
#   scripts/carry.sh status    what each side holds: run, last resume step, milestones, finished or not
#
# What is carried, per run directory: its checkpoint files, resume state (the next --resume continues from
# the latest evaluation, bit-identically), milestone copies, checkpoint-steps.json, logs and the .scalar-complete
# marker; plus the replication's logs (the stage timings among them), merged line by line with the other
# side's copy so that no machine's record is lost. At the presets' sizes that is a few MB per run (the GPT 3.5 MB).
# Saving replaces the carried copy of every run that exists locally, each through a temporary directory
# renamed into place, so an interrupted save keeps the previous copy whole. Tokenised data is never carried
# (prepare-data rebuilds it from the corpus).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

LOCAL=checkpoints/replication
CARRY=results/scalar/carry

usage() { sed -n '4,8p' "$0" >&2; exit 2; }
[[ $# -eq 1 ]] || usage

# The step of a run's resume state ("-" when it has none).
resume_step() {
  local f
  for f in "$1"/resume/state.json "$1"/resume/*.json; do
    [[ -f "$f" ]] || continue
    grep -o '"step"[[:space:]]*:[[:space:]]*[0-9]*' "$f" | head -n 1 | grep -o '[0-9]*$' && return
  done
  echo "-"
}

# merge_log FROM TO: TO becomes the union of both logs' lines (TO's first, then FROM's lines it lacks), so
# stage timings recorded on different machines all survive a save or restore; written through a temporary
# file renamed into place.
merge_log() {
  local from="$1" to="$2"
  if [[ ! -f "$to" ]]; then cp -p "$from" "$to.tmp" && mv "$to.tmp" "$to"; return; fi
  awk '!seen[$0]++' "$to" "$from" > "$to.tmp" && mv "$to.tmp" "$to"
}

describe() {
  local side="$1" dir run
  [[ -d "$side" ]] || { echo "$side: nothing"; return; }
  for dir in "$side"/*/; do
    [[ -d "$dir" ]] || continue
    run=$(basename "$dir")
    local milestones=0 state=running
    [[ -d "$dir/milestones" ]] && milestones=$(find "$dir/milestones" -mindepth 1 -maxdepth 1 -type d | wc -l)
    [[ -f "$dir/.scalar-complete" ]] && state=finished
    printf '%-40s resume step %-6s milestones %-2s %s\n' "$side/$run" "$(resume_step "$dir")" "$milestones" "$state"
  done
}

case "$1" in
  save)
    [[ -d "$LOCAL" ]] || { echo "carry: no $LOCAL to save" >&2; exit 1; }
    mkdir -p "$CARRY"
    saved=0
    for dir in "$LOCAL"/*/; do
      [[ -d "$dir" ]] || continue
      run=$(basename "$dir")
      tmp="$CARRY/.$run.tmp"
      rm -rf "$tmp"
      mkdir -p "$tmp"
      # Everything but lock files and interrupted writes' temporaries.
      (cd "$dir" && find . -type f ! -name '*.lock' ! -name '.lock' ! -name '*.tmp*' -print0) |
        while IFS= read -r -d '' f; do
          mkdir -p "$tmp/$(dirname "$f")"
          cp -p "$dir/$f" "$tmp/$f"
        done
      rm -rf "$CARRY/.$run.old"
      [[ -d "$CARRY/$run" ]] && mv "$CARRY/$run" "$CARRY/.$run.old"
      mv "$tmp" "$CARRY/$run"
      rm -rf "$CARRY/.$run.old"
      saved=$((saved + 1))
    done
    for f in "$LOCAL"/*.log; do [[ -f "$f" ]] && merge_log "$f" "$CARRY/$(basename "$f")"; done
    echo "carry: saved $saved runs into $CARRY ($(du -sh "$CARRY" | cut -f1)); commit it to keep it"
    describe "$CARRY"
    ;;
  restore)
    [[ -d "$CARRY" ]] || { echo "carry: nothing carried in $CARRY"; exit 0; }
    mkdir -p "$LOCAL"
    restored=0
    for dir in "$CARRY"/*/; do
      [[ -d "$dir" ]] || continue
      run=$(basename "$dir")
      [[ -e "$LOCAL/$run" ]] && continue
      cp -rp "$dir" "$LOCAL/.$run.tmp"
      mv "$LOCAL/.$run.tmp" "$LOCAL/$run"
      echo "carry: restored $run (resume step $(resume_step "$LOCAL/$run"))"
      restored=$((restored + 1))
    done
    for f in "$CARRY"/*.log; do [[ -f "$f" ]] && merge_log "$f" "$LOCAL/$(basename "$f")"; done
    echo "carry: restored $restored runs into $LOCAL"
    ;;
  status)
    describe "$LOCAL"
    describe "$CARRY"
    ;;
  *) usage ;;
esac
