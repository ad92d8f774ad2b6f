#!/usr/bin/env bash
# The measurements behind docs/distributed.md's scaling figures, on this machine:
#   1. one training step on one thread for batches of 1 to 256 (bench_networks step_1thread):
#      the compute time of a process as a function of its share of the batch;
#   2. one epoch of each Fashion-MNIST example on one process of one thread (the baseline), and
#      of two threads (both cores busy, as with two test hosts on this machine, no network);
#   3. on two test hosts (tools/netns_hosts.sh) at each link rate: the all-reduce time for
#      4 B to 4 MiB (bench_allreduce), and one epoch of each example on one process of one thread
#      per host, with the gradient buckets started during backward and with one sum after it;
# then tools/scaling_model.py: the measured figures, the model checked against them, and the
# model's step times at 8, 64 and 256 machines. Needs root (network namespaces), Open MPI and a
# release build with MPI. Takes about 10 minutes.
# Usage: bench/scaling.sh [--out DIR] [--rates "1gbit 10gbit"] [--nets "cnn lstm crnn"]
set -euo pipefail
usage() {
  cat <<'EOF'
usage: bench/scaling.sh [--out DIR] [--rates "1gbit 10gbit"] [--nets "cnn lstm crnn"]
  --out DIR      where the measurements go (default /tmp/ctnn-scaling)
  --rates LIST   link rates of the two test hosts, as tc writes them (default "1gbit 10gbit")
  --nets LIST    examples to train (default "cnn lstm crnn")
  --help         this text
Needs root (network namespaces), Open MPI and a release build with MPI; about 10 minutes.
EOF
}
# value OPTION ARGS...: the value after OPTION, or a refusal when there is none.
value() {
  (($# >= 2)) || { echo "scaling.sh: $1 needs a value" >&2; exit 2; }
  printf '%s' "$2"
}
out=/tmp/ctnn-scaling rates="1gbit 10gbit" nets="cnn lstm crnn"
while (($#)); do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --out) out="$(value "$@")"; shift 2 ;;
    --rates) rates="$(value "$@")"; shift 2 ;;
    --nets) nets="$(value "$@")"; shift 2 ;;
    -*) echo "scaling.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
    *) echo "scaling.sh: unexpected argument $1" >&2; usage >&2; exit 2 ;;
  esac
done
cd "$(dirname "$0")/.."
bin=build/release
for b in bench/bench_networks bench/bench_allreduce examples/fashion_mnist_cnn; do
  [[ -x $bin/$b ]] || { echo "scaling.sh: $bin/$b not built (release preset, with MPI)" >&2; exit 1; }
done
mkdir -p "$out"
lock=/tmp/peer-bench.lock  # the benchmark lock of compare.sh and ab_networks.sh
example() { echo "$bin/examples/fashion_mnist_$1"; }
# "seconds wait" of the epoch line: "... 2501 images/s  28.3 s (1.44 s waiting ...)".
epoch_figures() {
  sed -n 's/^epoch 1\/1 .* images\/s  \([0-9.]*\) s\( (\([0-9.]*\) s waiting.*\)\{0,1\}$/\1 \3/p' "$1"
}

echo "1. step times on one thread" >&2
flock "$lock" "$bin/bench/bench_networks" --benchmark_filter=step_1thread \
  --benchmark_repetitions=3 --benchmark_report_aggregates_only=true \
  --benchmark_format=json > "$out/steps.json"

echo "net,hosts,link,bucket,epoch_seconds,wait_seconds" > "$out/epochs.csv"
echo "2. one process, one and two threads" >&2
for net in $nets; do
  for t in 1 2; do
    flock "$lock" "$(example "$net")" --threads $t --epochs 1 > "$out/$net.single.$t.log"
    read -r s _ <<<"$(epoch_figures "$out/$net.single.$t.log")"
    echo "$net,1,threads$t,,$s,0" >> "$out/epochs.csv"
  done
done

echo "3. two hosts" >&2
tools/netns_hosts.sh up 2 > /dev/null
trap 'tools/netns_hosts.sh down > /dev/null 2>&1 || true' EXIT
for rate in $rates; do
  tools/netns_hosts.sh rate "$rate" > /dev/null
  flock "$lock" tools/netns_hosts.sh run 2 -- "$PWD/$bin/bench/bench_allreduce" \
    --benchmark_repetitions=3 --benchmark_report_aggregates_only=true \
    --benchmark_format=json | sed -n '/^{/,$p' > "$out/allreduce.$rate.json"
  for net in $nets; do
    for bucket in 262144 0; do
      log="$out/$net.2hosts.$rate.$bucket.log"
      flock "$lock" tools/netns_hosts.sh run 2 -- "$PWD/$(example "$net")" --distributed \
        --threads 1 --epochs 1 --allreduce-bucket "$bucket" > "$log"
      read -r s w <<<"$(epoch_figures "$log")"
      echo "$net,2,$rate,$bucket,$s,$w" >> "$out/epochs.csv"
    done
  done
done

python3 tools/scaling_model.py --steps "$out/steps.json" --epochs "$out/epochs.csv" \
  $(for rate in $rates; do echo "--allreduce $rate=$out/allreduce.$rate.json"; done)
