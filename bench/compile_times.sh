#!/usr/bin/env bash
# Compile time and binary size of each example in the release preset: for every example, touch
# its source and rebuild that target alone with one job, N times (default 2), and print wall
# time, CPU time (user + sys), the compiler's peak memory, the binary's size and its text size
# as a Markdown table (docs/benchmarks.md). Needs a configured release build (cmake --preset
# release); the rest of the build is brought up to date first so that only the example compiles.
# Usage: bench/compile_times.sh [builds per example]
set -euo pipefail
usage() {
  cat <<'EOF'
usage: bench/compile_times.sh [N]
  N        builds of each example (default 2), a positive number
  --help   this text
Touches each example's source and rebuilds that target alone with one job, N times, in the
configured release build (cmake --preset release), after bringing the rest of the build up to
date; prints wall and CPU time, the compiler's peak memory and the binary's sizes (Markdown).
EOF
}
runs=2 positional=0
while (($#)); do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    -*) echo "compile_times.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
    *)
      ((positional == 0)) || { echo "compile_times.sh: too many arguments" >&2; exit 2; }
      runs="$1" positional=1
      shift
      ;;
  esac
done
[[ "$runs" =~ ^[1-9][0-9]*$ ]] || { echo "compile_times.sh: N needs a positive number, not '$runs'" >&2; exit 2; }
cd "$(dirname "$0")/.."
build=build/release
examples=(fashion_mnist_cnn fashion_mnist_lstm fashion_mnist_crnn fashion_mnist_resnet custom_layer classify
  image_folder_train)
cmake --build "$build" -j "$(nproc)" >/dev/null
log=$(mktemp)
trap 'rm -f "$log"' EXIT
echo "| example | wall (s) | CPU, user + sys (s) | peak memory of the compiler | binary (bytes) | \`size\` text (bytes) |"
echo "|---|---|---|---|---|---|"
for e in "${examples[@]}"; do
  walls=() cpus=() mem=0
  for ((i = 0; i < runs; ++i)); do
    touch "examples/$e.cpp"
    /usr/bin/time -f "%e %U %S %M" -o "$log" cmake --build "$build" --target "$e" -j 1 >/dev/null
    read -r wall user sys kb <"$log"
    walls+=("$wall")
    cpus+=("$(awk -v u="$user" -v s="$sys" 'BEGIN { print u + s }')")
    ((kb > mem)) && mem=$kb
  done
  bin="$build/examples/$e"
  text=$(size "$bin" | awk 'NR == 2 {print $1}')
  echo "| \`$e\` | $(IFS=/; echo "${walls[*]}" | sed 's|/| / |g') | $(IFS=/; echo "${cpus[*]}" | sed 's|/| / |g') | $((mem / 1024)) MiB | $(stat -c %s "$bin") | $text |"
done
