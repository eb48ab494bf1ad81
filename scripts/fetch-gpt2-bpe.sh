#!/usr/bin/env bash
# Prints a directory holding GPT-2's vocab.json and merges.txt (the standard byte-level BPE pair), for the
# tokenizer test that compares our BPE with tiktoken's "gpt2" ids (GPT2_BPE_DIR). The files are too large to
# commit; they come from PyPI, in the source distribution of openai-whisper 20230124 (whisper/assets/gpt2/),
# fetched with pip once and kept under ${XDG_CACHE_HOME:-~/.cache}/gpt-circuits/gpt2-bpe. Their SHA-256 sums
# are checked. Usage: GPT2_BPE_DIR=$(scripts/fetch-gpt2-bpe.sh)
set -euo pipefail
dir="${1:-${XDG_CACHE_HOME:-$HOME/.cache}/gpt-circuits/gpt2-bpe}"
vocab_sha=3ba3c3109ff33976c4bd966589c11ee14fcaa1f4c9e5e154c2ed7f99d80709e7
merges_sha=fe36cab26d4f4421ed725e10a2e9ddb7f799449c603a96e7f29b5a3c82a95862

valid() {
  [ -f "$dir/vocab.json" ] && [ -f "$dir/merges.txt" ] &&
    echo "$vocab_sha  $dir/vocab.json" | sha256sum -c --quiet - >/dev/null 2>&1 &&
    echo "$merges_sha  $dir/merges.txt" | sha256sum -c --quiet - >/dev/null 2>&1
}

if ! valid; then
  python=$(command -v python3 || command -v python) || { echo "fetch-gpt2-bpe: python3 with pip is needed" >&2; exit 1; }
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  # The sdist's setup.py imports pkg_resources, which setuptools ≥ 81 no longer ships: pin its build
  # environment to an older setuptools (pip only prepares its metadata; nothing is built or installed).
  echo "setuptools<70" > "$work/constraints.txt"
  PIP_CONSTRAINT="$work/constraints.txt" "$python" -m pip download --quiet --no-deps --no-binary :all: \
    --dest "$work" openai-whisper==20230124 >&2
  mkdir -p "$dir"
  tar -xzf "$work"/openai-whisper-20230124.tar.gz -C "$work" \
    openai-whisper-20230124/whisper/assets/gpt2/vocab.json openai-whisper-20230124/whisper/assets/gpt2/merges.txt
  cp "$work"/openai-whisper-20230124/whisper/assets/gpt2/{vocab.json,merges.txt} "$dir"/
  valid || { echo "fetch-gpt2-bpe: the files in $dir do not have the expected SHA-256 sums" >&2; exit 1; }
fi
echo "$dir"
