#!/usr/bin/env bash
# Installs what is missing (Open MPI too, for the distributed tests), builds the release preset and runs the whole test suite with ctest.
# Usage: tests/run.sh [preset [cmake options...]]
#   preset: release (default), debug, sanitize, x86-64-v3, x86-64-v2
#   cmake options go to the configure step, e.g. -DCMAKE_DISABLE_FIND_PACKAGE_OpenCL=ON
set -euo pipefail
cd "$(dirname "$0")/.."
preset="${1:-release}"
shift || true
bash examples/install_deps.sh --data --mpi
cmake --preset "$preset" "$@" >/dev/null
cmake --build --preset "$preset" -j "$(nproc)"
ctest --preset "$preset" -j "$(nproc)"
