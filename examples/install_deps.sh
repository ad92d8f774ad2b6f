#!/usr/bin/env bash
# Installs the Debian packages ctnn's build, tests, examples and benchmarks use, skipping those
# already installed. Usage: install_deps.sh [--data] [--mpi] [--fuzz] [--peers]
#   --data adds the Fashion-MNIST data set, and python3-sklearn for the CSV files of the tabular
#          example
#   --mpi adds Open MPI, for distributed training (ctnn::mpi, the examples' --distributed)
#   --fuzz adds clang and its libFuzzer/sanitizer runtimes, for tests/fuzz/run.sh
#   --peers adds what bench/compare.sh measures ctnn against: libtorch (C++), oneDNN, PyTorch
#           (Python), and OpenBLAS's threaded build, without which Debian's torch runs its
#           matrix products on the reference BLAS and is several times slower than it should be
set -euo pipefail

packages=(g++ cmake make python3 libxsimd-dev doctest-dev libstb-dev zlib1g-dev nlohmann-json3-dev
          libzip-dev libbenchmark-dev)
for arg in "$@"; do
  case "$arg" in
    --data) packages+=(dataset-fashion-mnist python3-sklearn) ;;
    --mpi) packages+=(libopenmpi-dev openmpi-bin) ;;
    --fuzz) packages+=(clang libclang-rt-14-dev) ;;
    --peers) packages+=(libtorch-dev libdnnl-dev python3-torch libopenblas0-pthread) ;;
    *) echo "install_deps.sh: unknown option $arg (expected --data, --mpi, --fuzz or --peers)" >&2
       exit 2 ;;
  esac
done

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

sudo=""
[[ $(id -u) -ne 0 ]] && sudo="sudo"
echo "installing: ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
