#!/usr/bin/env bash
# Side-by-side benchmark of ctnn against libtorch (C++), oneDNN and, optionally, PyTorch (Python)
# on the reference networks (CNN, LSTM, CRNN, ResNet) and measurements (M1 batch-1 latency, M2
# batch-256 throughput, M3 training throughput); see docs/benchmarks.md. The int8 peers
# (onednn_bench --int8, pytorch_bench.py --int8) run beside them unless --no-int8.
#
# It builds nothing: build the release preset first,
#   cmake --preset release && cmake --build --preset release
# (the peers need Debian's libtorch-dev and libdnnl-dev; those not built are skipped).
#
# The programs run interleaved in R rounds (ctnn, libtorch, onednn[, pytorch], onednn-int8,
# pytorch-int8, ctnn, ...), each under `flock /tmp/peer-bench.lock` so that no two timing runs on
# the machine overlap. The table gives the median over the rounds of each figure and ctnn's
# speedup over each peer (> 1: ctnn is faster; peer/ctnn for latency, ctnn/peer for images/s),
# and, when bench_networks reports int8 or bf16 figures, the same for ctnn-int8 and ctnn-bf16.
#
# ctnn's rows come from bench_networks' JSON: a benchmark `NET/M1_...` gives `median_us`, a
# `NET/M2_...` or `NET/M3_...` gives `images/s` (M3's threads from `threads`); a name ending in
# `_int8` or `_bf16` (e.g. `cnn/M1_batch1_latency_int8`, `cnn/M2_batch256_bf16`, the same
# counters) is the row of library ctnn-int8 or ctnn-bf16; `_augmented` names are ctnn's own.
set -euo pipefail

usage() {
  cat <<'EOF'
usage: bench/compare.sh [--rounds R] [--quick] [--csv PATH] [--build-dir DIR] [--python]
                        [--no-int8] [--keep DIR]
  --rounds R      rounds of interleaved runs (default 3; 1 with --quick)
  --quick         smoke run: short peer runs, one round (bench_networks' own timing is fixed)
  --csv PATH      also write the medians as network,measure,library,threads,median,unit
  --build-dir DIR the release build (default: build/release of this repository)
  --python        also run PyTorch from Python, bench/peers/pytorch_bench.py (Debian's
                  /usr/bin/python3 with python3-torch)
  --no-int8       leave out the int8 peers: onednn-int8 (onednn_bench --int8) and
                  pytorch-int8 (pytorch_bench.py --int8, when /usr/bin/python3 has torch)
  --keep DIR      keep every program's raw output in DIR (default: a fresh /tmp directory)
The PyTorch-based peers run with OPENBLAS_NUM_THREADS=1 and, on a machine with AVX-512,
OPENBLAS_CORETYPE=SkylakeX ATEN_CPU_CAPABILITY=avx512 (set by the script). CTNN_COMPARE_PYTHON
names the Python that runs pytorch_bench.py (default /usr/bin/python3).
EOF
}

# value OPTION ARGS...: the value after OPTION, or a refusal when there is none.
value() {
  (($# >= 2)) || { echo "compare.sh: $1 needs a value" >&2; exit 2; }
  printf '%s' "$2"
}

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"
build="$repo/build/release"
rounds=""
quick=0
csv=""
python=0
int8=1
raw=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --rounds) rounds="$(value "$@")"; shift 2 ;;
    --quick) quick=1; shift ;;
    --csv) csv="$(value "$@")"; shift 2 ;;
    --build-dir) build="$(value "$@")"; shift 2 ;;
    --python) python=1; shift ;;
    --no-int8) int8=0; shift ;;
    --keep) raw="$(value "$@")"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "compare.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
  esac
done
[[ -n "$rounds" ]] || rounds=$([[ $quick == 1 ]] && echo 1 || echo 3)
[[ "$rounds" =~ ^[1-9][0-9]*$ ]] || { echo "compare.sh: --rounds needs a positive number" >&2; exit 2; }

ctnn_bin="$build/bench/bench_networks"
libtorch_bin="$build/bench/peers/libtorch_bench"
onednn_bin="$build/bench/peers/onednn_bench"
if [[ ! -x "$ctnn_bin" ]]; then
  echo "compare.sh: $ctnn_bin not found; build first:" >&2
  echo "  cmake --preset release && cmake --build --preset release" >&2
  exit 1
fi
peers=()
for p in libtorch onednn; do
  bin_var="${p}_bin"
  if [[ -x "${!bin_var}" ]]; then
    peers+=("$p")
  else
    echo "compare.sh: ${!bin_var} not built (bash examples/install_deps.sh --peers, then rebuild); skipping $p" >&2
  fi
done
pytorch_script="$here/peers/pytorch_bench.py"
py="${CTNN_COMPARE_PYTHON:-/usr/bin/python3}"
if [[ $python == 1 ]]; then
  if ! "$py" -c 'import torch' 2>/dev/null; then
    echo "compare.sh: --python: $py cannot import torch (apt-get install python3-torch)" >&2
    exit 1
  fi
  peers+=("pytorch")
fi
if [[ $int8 == 1 ]]; then
  [[ " ${peers[*]} " == *" onednn "* ]] && peers+=("onednn_int8")
  if "$py" -c 'import torch' 2>/dev/null; then
    peers+=("pytorch_int8")
  else
    echo "compare.sh: $py cannot import torch (apt-get install python3-torch); skipping pytorch-int8" >&2
  fi
fi

# PyTorch: OpenBLAS on one thread so that it does not fight torch's own OpenMP threads for the
# two cores; on a machine with AVX-512, its AVX-512 kernels (the environment may preset
# OPENBLAS_CORETYPE to an older core). Without AVX-512 those two are unset: forced, they stop
# torch with an illegal instruction. Set on purpose, whatever the caller's environment says.
export OPENBLAS_NUM_THREADS=1
if grep -qw avx512f /proc/cpuinfo; then
  export OPENBLAS_CORETYPE=SkylakeX ATEN_CPU_CAPABILITY=avx512
else
  unset OPENBLAS_CORETYPE ATEN_CPU_CAPABILITY
fi
blas="$(readlink -f /usr/lib/x86_64-linux-gnu/libblas.so.3 2>/dev/null || true)"
if [[ " ${peers[*]} " == *" libtorch "* || " ${peers[*]} " == *" pytorch"* ]] &&
  [[ "$blas" != *openblas* ]]; then
  echo "compare.sh: warning: libblas.so.3 is ${blas:-missing}, not OpenBLAS: torch's dense and LSTM" >&2
  echo "  layers will run on the reference BLAS (bash examples/install_deps.sh --peers)" >&2
fi

raw="${raw:-$(mktemp -d /tmp/ctnn-compare.XXXXXX)}"
mkdir -p "$raw"
lock=/tmp/peer-bench.lock
quick_flag=()
[[ $quick == 1 ]] && quick_flag=(--quick)

{
  echo "# date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "# cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(nproc) cores," \
    "avx512f: $(grep -qw avx512f /proc/cpuinfo && echo yes || echo no)"
  echo "# commit: $(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$repo" diff --quiet HEAD -- include bench 2>/dev/null || echo ' (include/ or bench/ modified)')"
  echo "# blas: ${blas:-?}; OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-(unset)} ATEN_CPU_CAPABILITY=${ATEN_CPU_CAPABILITY:-(unset)} OPENBLAS_NUM_THREADS=$OPENBLAS_NUM_THREADS"
  echo "# cpu flags: $(grep -m1 -ow 'avx512_vnni\|avx512_bf16\|avx_vnni\|avx512f\|avx2' /proc/cpuinfo | sort -u | tr '\n' ' ')"
  echo "# peers: ${peers[*]}"
  echo "# rounds: $rounds$([[ $quick == 1 ]] && echo ' (quick smoke run)')"
} | tee "$raw/machine.txt"

run_ctnn() {  # round
  flock "$lock" "$ctnn_bin" --benchmark_filter='/M[123]_' --benchmark_format=console \
    --benchmark_out="$raw/ctnn.$1.json" --benchmark_out_format=json > "$raw/ctnn.$1.log" 2>&1
}
run_libtorch() { flock "$lock" "$libtorch_bin" "${quick_flag[@]}" > "$raw/libtorch.$1.txt" 2> "$raw/libtorch.$1.err"; }
run_onednn() { flock "$lock" "$onednn_bin" "${quick_flag[@]}" > "$raw/onednn.$1.txt" 2> "$raw/onednn.$1.err"; }
run_onednn_int8() {
  flock "$lock" "$onednn_bin" --int8 "${quick_flag[@]}" > "$raw/onednn_int8.$1.txt" 2> "$raw/onednn_int8.$1.err"
}
# OpenMP sizes its pool when torch loads: one process per thread count (1 for M1 and M3, 2 for M2
# and M3), each under the lock.
run_pytorch() {  # round [int8]
  local name="pytorch${2:+_int8}" int8_flag=()
  [[ -n "${2:-}" ]] && int8_flag=(--int8)
  local out="$raw/$name.$1.txt" err="$raw/$name.$1.err"
  : > "$out"; : > "$err"
  for t in 1 2; do
    flock "$lock" "$py" "$pytorch_script" "${quick_flag[@]}" "${int8_flag[@]}" --only-threads "$t" \
      >> "$out" 2>> "$err" || return 1
  done
}
run_pytorch_int8() { run_pytorch "$1" int8; }

for ((r = 1; r <= rounds; r++)); do
  for lib in ctnn "${peers[@]}"; do
    echo "round $r/$rounds: $lib (load $(cut -d' ' -f1 /proc/loadavg))" >&2
    if ! "run_$lib" "$r"; then
      echo "compare.sh: $lib failed in round $r; see $raw/$lib.$r.*" >&2
      exit 1
    fi
  done
done

/usr/bin/python3 - "$raw" "$rounds" "$csv" <<'PY'
import csv, glob, json, os, statistics, sys

raw, rounds, csv_path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
rows = []  # (network, measure, library, threads, value, unit)

for path in sorted(glob.glob(os.path.join(raw, "ctnn.*.json"))):
    for b in json.load(open(path))["benchmarks"]:
        if b.get("run_type") == "aggregate":
            continue
        net, what = b["name"].split("/")[:2]
        if what.endswith("_augmented"):  # ctnn's own measure, no peer runs it
            continue
        lib = "ctnn"
        for precision in ("int8", "bf16"):  # e.g. cnn/M1_batch1_latency_int8: ctnn-int8
            if what.endswith("_" + precision):
                lib = "ctnn-" + precision
        measure = what.split("_")[0]
        if measure == "M1":
            rows.append((net, "M1", lib, 1, b["median_us"], "us"))
        elif measure in ("M2", "M3"):
            rows.append((net, measure, lib, int(b["threads"]), b["images/s"], "images/s"))

for lib in ("libtorch", "onednn", "pytorch", "onednn_int8", "pytorch_int8"):
    for path in sorted(glob.glob(os.path.join(raw, f"{lib}.*.txt"))):
        for line in open(path):
            f = line.strip().split(",")
            if line.startswith("#") or len(f) != 6:
                continue
            rows.append((f[0], f[1], f[2], int(f[3]), float(f[4]), f[5]))

groups = {}
for net, m, lib, th, v, unit in rows:
    groups.setdefault((net, m, th, lib, unit), []).append(float(v))

order_net = {"cnn": 0, "lstm": 1, "crnn": 2, "resnet": 3}
order_lib = {"ctnn": 0, "ctnn-int8": 1, "ctnn-bf16": 2, "libtorch": 3, "onednn": 4, "pytorch": 5,
             "onednn-int8": 6, "pytorch-int8": 7}
keys = sorted(groups, key=lambda k: (order_net.get(k[0], 9), k[1], k[2], order_lib.get(k[3], 9)))
med = {k: statistics.median(v) for k, v in groups.items()}
# A speedup column for ctnn and for each of ctnn-int8, ctnn-bf16 that has figures.
ctnns = ["ctnn"] + [c for c in ("ctnn-int8", "ctnn-bf16") if any(k[3] == c for k in keys)]

def fmt(v):
    return f"{v:,.1f}" if v < 1000 else f"{v:,.0f}"

print()
print("| network | measure | threads | library | median | unit | runs (min-max) | "
      + " | ".join(f"{c} speedup" for c in ctnns) + " |")
print("|---|---|---|---|---|---|---|" + "---|" * len(ctnns))
for k in keys:
    net, m, th, lib, unit = k
    vs = groups[k]
    spread = f"{len(vs)} ({fmt(min(vs))}-{fmt(max(vs))})" if len(vs) > 1 else "1"
    ratios = []
    for name in ctnns:
        c = med.get((net, m, th, name, unit))
        if lib == name or c is None:
            ratios.append("")
        else:
            ratios.append(f"{(med[k] / c if unit == 'us' else c / med[k]):.2f}x")
    print(f"| {net} | {m} | {th} | {lib} | {fmt(med[k])} | {unit} | {spread} | "
          + " | ".join(ratios) + " |")
print()
print("ctnn speedup = peer latency / ctnn latency (M1), ctnn images/s / peer images/s (M2, M3);"
      " > 1: ctnn is faster." + (" The same for " + ", ".join(ctnns[1:]) + " in its column."
                                 if len(ctnns) > 1 else ""))

if csv_path:
    with open(csv_path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["network", "measure", "library", "threads", "median", "unit"])
        for net, m, th, lib, unit in keys:
            w.writerow([net, m, lib, th, f"{med[(net, m, th, lib, unit)]:.2f}", unit])
    print(f"CSV: {csv_path}")
PY
echo "raw outputs: $raw" >&2
