#!/usr/bin/env bash
# Installs the system packages this project needs and the machine lacks, then exits; safe to rerun.
#
#   scripts/setup.sh            what building and running the tools needs: OpenBLAS's CBLAS development files
#                               (libopenblas-dev) and pkg-config, which SwiftPM uses to find them
#   scripts/setup.sh --mpi      also Open MPI (libopenmpi-dev, openmpi-bin) for data-parallel jobs under mpirun
#                               (tools built with `swift build --traits MPI`; `.ci/run` uses it)
#   scripts/setup.sh --explorer also what the feature explorer (Sources/Tools/Explorer) needs: SQLite's
#                               development files (libsqlite3-dev, for GRDB) and chromium (its browser test)
#   The options combine (`scripts/setup.sh --mpi --explorer`).
#
# Debian and Ubuntu (apt-get) are handled: as root directly, otherwise through sudo. Elsewhere, or without
# root and sudo, it says what to install and exits with status 1. `.ci/run` calls it too, so CI and a fresh
# machine install the same things.
set -euo pipefail

mpi=false
explorer=false
for option in "$@"; do
  case "$option" in
    --mpi) mpi=true ;;
    --explorer) explorer=true ;;
    *) echo "setup: unknown option '$option' (expected --mpi, --explorer or nothing)" >&2; exit 2 ;;
  esac
done

missing=()
command -v pkg-config > /dev/null 2>&1 || missing+=(pkgconf)
if ! pkg-config --exists openblas 2> /dev/null; then missing+=(libopenblas-dev); fi
if $mpi; then
  if ! pkg-config --exists ompi 2> /dev/null; then missing+=(libopenmpi-dev); fi
  command -v mpirun > /dev/null 2>&1 || missing+=(openmpi-bin)
fi
if $explorer; then
  pkg-config --exists sqlite3 2> /dev/null || missing+=(libsqlite3-dev)
  command -v chromium > /dev/null 2>&1 || missing+=(chromium)
fi
[[ ${#missing[@]} -eq 0 ]] && exit 0

echo "setup: installing ${missing[*]}" >&2
if ! command -v apt-get > /dev/null 2>&1; then
  echo "setup: no apt-get on this machine; install OpenBLAS with its CBLAS headers and its pkg-config file 'openblas' (e.g. dnf install openblas-devel pkgconf, or pacman -S openblas pkgconf), then rerun" >&2
  exit 1
fi
if [[ "$(id -u)" -eq 0 ]]; then
  as_root=()
elif command -v sudo > /dev/null 2>&1; then
  as_root=(sudo)
else
  echo "setup: ${missing[*]} missing and this user is not root and has no sudo; ask an administrator to run: apt-get install -y ${missing[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
if ! "${as_root[@]}" apt-get update -qq || ! "${as_root[@]}" apt-get install -y -qq "${missing[@]}" > /dev/null; then
  echo "setup: apt-get could not install ${missing[*]}; install them by hand and rerun" >&2
  exit 1
fi
pkg-config --exists openblas || { echo "setup: libopenblas-dev is installed but pkg-config does not find 'openblas'" >&2; exit 1; }
if $mpi; then
  pkg-config --exists ompi || { echo "setup: libopenmpi-dev is installed but pkg-config does not find 'ompi'" >&2; exit 1; }
fi
echo "setup: done" >&2
