#!/usr/bin/env bash
# Builds the release tools the way the replication scripts run them and prints the directory that holds them:
# for this machine's CPU (.build-native/release) unless NATIVE=0 (baseline x86-64, .build/release). Nothing is
# rebuilt when the tools are newer than every source (REBUILD=1 forces it). See scripts/common.sh.
#
#   BIN=$(scripts/build-tools.sh) && "$BIN/train-gpt" --help
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
ensure_tools >&2
echo "$SCALAR_ROOT/$BIN"
