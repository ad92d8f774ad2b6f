#!/usr/bin/env bash
# Configure-time behaviour a user relies on, checked in throw-away build trees:
#  - without doctest and Google Benchmark the project still configures and installs its headers,
#    and says with a STATUS line what it skips;
#  - a peer package that is installed but cannot be loaded (oneDNN's CMake config without
#    OpenCL) does not stop the configure;
#  - without MPI the examples' common code (whose --distributed then only fails) compiles without
#    warnings.
set -euo pipefail
cd "$(dirname "$0")/.."
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

cmake -S . -B "$work/no-test-deps" -DCMAKE_DISABLE_FIND_PACKAGE_doctest=ON \
      -DCMAKE_DISABLE_FIND_PACKAGE_benchmark=ON >"$work/no-test-deps.log"
grep -q "doctest not found (apt-get install doctest-dev): the tests are not built" \
  "$work/no-test-deps.log"
grep -q "Google Benchmark not found: bench/ is not built" "$work/no-test-deps.log"
cmake --install "$work/no-test-deps" --prefix "$work/prefix" >/dev/null
test -f "$work/prefix/include/ctnn/ctnn.hpp"
test -f "$work/prefix/lib/cmake/ctnn/ctnnConfig.cmake" ||
  test -f "$work/prefix/lib64/cmake/ctnn/ctnnConfig.cmake" ||
  compgen -G "$work/prefix/lib/*/cmake/ctnn/ctnnConfig.cmake" >/dev/null
echo "ok: configures and installs the headers without doctest and Google Benchmark"

cmake -S . -B "$work/no-opencl" -DCMAKE_DISABLE_FIND_PACKAGE_OpenCL=ON >"$work/no-opencl.log"
echo "ok: configures with OpenCL hidden from oneDNN's CMake config"

cmake -S . -B "$work/no-mpi" -DCMAKE_DISABLE_FIND_PACKAGE_MPI=ON \
      -DCMAKE_DISABLE_FIND_PACKAGE_OpenCL=ON -DCTNN_WERROR=ON >"$work/no-mpi.log"
grep -q "MPI not found" "$work/no-mpi.log"
cmake --build "$work/no-mpi" --target ctnn_examples_common >"$work/no-mpi-build.log" 2>&1 ||
  { cat "$work/no-mpi-build.log"; exit 1; }
echo "ok: without MPI the examples' common code compiles without warnings"
