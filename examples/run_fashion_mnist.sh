#!/usr/bin/env bash
# Installs what is missing, builds the release preset and trains the Fashion-MNIST CNN example.
# Extra arguments go to the example (try --help).
set -euo pipefail
cd "$(dirname "$0")/.."
bash examples/install_deps.sh --data
cmake --preset release >/dev/null
cmake --build --preset release --target fashion_mnist_cnn -j "$(nproc)"
exec build/release/examples/fashion_mnist_cnn "$@"
