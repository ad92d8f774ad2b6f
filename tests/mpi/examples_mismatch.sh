#!/usr/bin/env bash
# Processes of one distributed run started with different options or data: every process must
# end with a message naming the setting and both values, a non-zero status, no crash and no
# hang. Each case starts two processes of fashion_mnist_cnn with mpirun's MPMD syntax
# (`mpirun -np 1 prog args : -np 1 prog other-args`).
# Usage: examples_mismatch.sh MPIEXEC BIN_DIR   (as root, with OMPI_ALLOW_RUN_AS_ROOT=1 and
# OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 in the environment)
set -uo pipefail
mpiexec="$1"
cnn="$2/fashion_mnist_cnn"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
failures=0

# Two small Fashion-MNIST-shaped data sets in IDX files: 20 and 21 training images, 10 test.
python3 - "$work" <<'PY'
import os, struct, sys
for name, train in (("d20", 20), ("d21", 21)):
    d = os.path.join(sys.argv[1], name)
    os.makedirs(d)
    for prefix, n in (("train", train), ("t10k", 10)):
        with open(os.path.join(d, prefix + "-images-idx3-ubyte"), "wb") as f:
            f.write(struct.pack(">IIII", 0x803, n, 28, 28) + bytes(n * 784))
        with open(os.path.join(d, prefix + "-labels-idx1-ubyte"), "wb") as f:
            f.write(struct.pack(">II", 0x801, n) + bytes(i % 10 for i in range(n)))
PY
common=(--distributed --epochs 1 --batch-size 4 --threads 1)

# run WANT TEXT "ARGS OF PROCESS 0" "ARGS OF PROCESS 1": WANT is 0 (success) or "fail" (a
# non-zero status that is neither a signal nor the time limit); every process's stderr must
# hold TEXT (once per process on failure).
run() {
  local want="$1" text="$2" a="$3" b="$4" status count
  # Each process writes its stderr to a file of its own: what mpiexec forwards from a process
  # may be dropped when it ends the job on another process's non-zero status.
  rm -f "$work/err0" "$work/err1"
  # shellcheck disable=SC2086
  timeout 120 "$mpiexec" --oversubscribe \
    -np 1 bash -c 'f="$1"; shift; exec "$@" 2>"$f"' _ "$work/err0" "$cnn" "${common[@]}" $a : \
    -np 1 bash -c 'f="$1"; shift; exec "$@" 2>"$f"' _ "$work/err1" "$cnn" "${common[@]}" $b \
    >"$work/out" 2>"$work/err"
  status=$?
  cat "$work/err0" "$work/err1" >>"$work/err" 2>/dev/null
  count=$(cat "$work/err0" "$work/err1" 2>/dev/null | grep -cF -- "$text")
  local ok=1
  if [[ $want == 0 ]]; then
    [[ $status -eq 0 && $count -eq 2 ]] || ok=0
  else
    [[ $status -ne 0 && $status -lt 124 && $count -eq 2 ]] || ok=0
  fi
  if [[ $ok -eq 1 ]]; then
    echo "ok: [$a] : [$b] -> status $status"
  else
    echo "FAIL: [$a] : [$b] -> status $status (want $want), $count lines with: $text"
    tail -8 "$work/err"
    failures=$((failures + 1))
  fi
}

d20="--data-dir $work/d20"
d21="--data-dir $work/d21"
run fail "disagree on batch_size: 4 on process 0, 8 on process 1" "$d20" "$d20 --batch-size 8"
run fail "disagree on training samples: 20 on process 0, 21 on process 1" "$d20" "$d21"
run fail "disagree on epochs: 1 on process 0, 2 on process 1" "$d20" "$d20 --epochs 2"
run fail "disagree on allreduce_bucket: 262144 on process 0, 0 on process 1" \
  "$d20" "$d20 --allreduce-bucket 0"
run fail "disagree on seed: 1 on process 0, 2 on process 1" "$d20" "$d20 --seed 2"
run fail "disagree on learning_rate: 0.001 on process 0, 0.002 on process 1" "$d20" "$d20 --lr 0.002"
run fail "disagree on threads: 1 on process 0, 2 on process 1" "$d20" "$d20 --threads 2"
# The same options: training runs and both processes end with the same parameters.
run 0 "parameter checksum" "$d20" "$d20"
if [[ $failures -eq 0 ]]; then
  sums=$(grep -o "parameter checksum [0-9a-f]*" "$work/err" | sort -u | wc -l)
  if [[ $sums -ne 1 ]]; then
    echo "FAIL: the two processes ended with different parameters"
    failures=$((failures + 1))
  fi
fi

if [[ $failures -gt 0 ]]; then
  echo "$failures case(s) failed"
  exit 1
fi
echo "all cases passed"
