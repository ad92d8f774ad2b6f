#!/usr/bin/env bash
# The command lines of the scripts in bench/: --help prints the usage and exits 0, and a bad
# option is refused with status 2, in both cases before the script builds, runs or writes
# anything. The programs the scripts call (cmake, git, flock, python3, mpirun, the built
# binaries' runner) are replaced by stubs that record being called. Then compare.sh parses the
# fixed outputs of stub programs into its table and CSV.
# Usage: bench_scripts.sh   (from anywhere; finds bench/ next to tests/)
set -uo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
failures=0

mkdir "$work/stubs"
for tool in cmake git flock python3 mpirun mpiexec size nproc; do
  printf '#!/bin/sh\necho "%s $*" >> "%s/called"\nexit 1\n' "$tool" "$work" > "$work/stubs/$tool"
  chmod +x "$work/stubs/$tool"
done

# expect STATUS TEXT script args...: runs bench/script with the stubs first on PATH, from an
# empty directory; checks its exit status, that its output contains TEXT and that it called
# none of the stubs.
expect() {
  local want="$1" text="$2" script="$3"
  shift 3
  rm -f "$work/called"
  local out status
  out="$(cd "$work" && PATH="$work/stubs:$PATH" bash "$repo/bench/$script" "$@" 2>&1)"
  status=$?
  if [[ $status -ne $want || "$out" != *"$text"* || -e "$work/called" ]]; then
    echo "FAIL: bench/$script $* -> status $status (want $want), output:"
    echo "$out" | tail -5
    echo "  (want text: $text)"
    [[ -e "$work/called" ]] && echo "  called: $(tr '\n' ';' < "$work/called")"
    failures=$((failures + 1))
  else
    echo "ok: bench/$script $*"
  fi
}

for path in "$repo"/bench/*.sh; do
  script="$(basename "$path")"
  expect 0 "usage: bench/$script" "$script" --help
  expect 0 "usage: bench/$script" "$script" -h
  expect 2 "unknown option --no-such-option" "$script" --no-such-option
done
# Positional arguments and option values.
expect 2 "needs a positive number" compile_times.sh abc
expect 2 "needs a positive number" compile_times.sh 0
expect 2 "too many arguments" compile_times.sh 2 3
expect 2 "--rounds needs a value" compile_ab.sh a b --rounds
expect 2 "give two build directories" compile_ab.sh a
expect 2 "no ./compile_commands.json" compile_ab.sh . .
expect 2 "--rounds needs a value" ab_networks.sh HEAD --rounds
expect 2 "needs a commit" ab_networks.sh
expect 2 "--out needs a value" scaling.sh --out
expect 2 "--rates needs a value" scaling.sh --rates
expect 2 "--rounds needs a value" compare.sh --rounds
# A folder named like an option is refused; ./--help is a folder.
expect 2 "unknown option --help2" stream_memory.sh --help2
expect 2 "needs at least one FOLDER" stream_memory.sh
expect 2 "not a directory: ./no-such-folder" stream_memory.sh ./no-such-folder

# compare.sh's table and CSV from fixed program outputs: a build directory of stub programs
# (bench_networks writes a Google Benchmark JSON; onednn_bench and the Python stand-in print
# figure lines, the int8 ones with --int8), flock that runs its command, no libtorch_bench.
fake="$work/fake"
mkdir -p "$fake/build/bench/peers" "$fake/stubs"
printf '#!/bin/sh\nshift\nexec "$@"\n' > "$fake/stubs/flock"
cat > "$fake/build/bench/bench_networks" <<'STUB'
#!/bin/sh
for a in "$@"; do case "$a" in --benchmark_out=*) out="${a#--benchmark_out=}" ;; esac; done
cat > "$out" <<'JSON'
{"benchmarks": [
 {"name": "cnn/M1_batch1_latency", "run_type": "iteration", "median_us": 100.0},
 {"name": "cnn/M1_batch1_latency_int8", "run_type": "iteration", "median_us": 40.0},
 {"name": "cnn/M1_batch1_latency_mean", "run_type": "aggregate", "median_us": 1.0},
 {"name": "cnn/M2_batch256", "run_type": "iteration", "threads": 2, "images/s": 10000.0},
 {"name": "cnn/M2_batch256_bf16", "run_type": "iteration", "threads": 2, "images/s": 16000.0},
 {"name": "cnn/M3_train_batch32_augmented/1", "run_type": "iteration", "threads": 1,
  "images/s": 1.0}
]}
JSON
STUB
cat > "$fake/build/bench/peers/onednn_bench" <<'STUB'
#!/bin/sh
echo "# oneDNN stand-in"
case " $* " in
  *" --int8 "*) printf 'cnn,M1,onednn-int8,1,80.00,us\ncnn,M2,onednn-int8,2,5000.00,images/s\n' ;;
  *) echo "cnn,M1,onednn,1,200.00,us" ;;
esac
STUB
cat > "$fake/python" <<'STUB'
#!/bin/sh
[ "$1" = -c ] && exit 0
case " $* " in
  *" --int8 "*"--only-threads 1 "*) echo "cnn,M1,pytorch-int8,1,400.00,us" ;;
  *" --int8 "*"--only-threads 2 "*) echo "cnn,M2,pytorch-int8,2,2000.00,images/s" ;;
esac
STUB
chmod +x "$fake/stubs/flock" "$fake/build/bench/bench_networks" \
  "$fake/build/bench/peers/onednn_bench" "$fake/python"
table="$(cd "$work" && PATH="$fake/stubs:$PATH" CTNN_COMPARE_PYTHON="$fake/python" \
  bash "$repo/bench/compare.sh" --rounds 1 --build-dir "$fake/build" --csv "$fake/out.csv" \
  --keep "$fake/raw" 2> "$fake/stderr")"
status=$?
want_csv="network,measure,library,threads,median,unit
cnn,M1,ctnn,1,100.00,us
cnn,M1,ctnn-int8,1,40.00,us
cnn,M1,onednn,1,200.00,us
cnn,M1,onednn-int8,1,80.00,us
cnn,M1,pytorch-int8,1,400.00,us
cnn,M2,ctnn,2,10000.00,images/s
cnn,M2,ctnn-bf16,2,16000.00,images/s
cnn,M2,onednn-int8,2,5000.00,images/s
cnn,M2,pytorch-int8,2,2000.00,images/s"
want_rows=(
  "| network | measure | threads | library | median | unit | runs (min-max) | ctnn speedup | ctnn-int8 speedup | ctnn-bf16 speedup |"
  "| cnn | M1 | 1 | ctnn | 100.0 | us | 1 |  | 2.50x |  |"
  "| cnn | M1 | 1 | onednn-int8 | 80.0 | us | 1 | 0.80x | 2.00x |  |"
  "| cnn | M2 | 2 | ctnn-bf16 | 16,000 | images/s | 1 | 0.62x |  |  |"
  "| cnn | M2 | 2 | pytorch-int8 | 2,000 | images/s | 1 | 5.00x |  | 8.00x |")
problem=""
[[ $status -eq 0 ]] || problem="status $status"
[[ "$(tr -d '\r' < "$fake/out.csv" 2>/dev/null)" == "$want_csv" ]] || problem="$problem; CSV differs"
for row in "${want_rows[@]}"; do
  [[ "$table" == *"$row"* ]] || problem="$problem; no row: $row"
done
[[ "$table" == *"> 1: ctnn is faster"* ]] || problem="$problem; no legend"
if [[ -n "$problem" ]]; then
  echo "FAIL: bench/compare.sh on fixed outputs: $problem"
  echo "$table" | tail -15
  tail -5 "$fake/stderr"
  cat "$fake/out.csv" 2>/dev/null
  failures=$((failures + 1))
else
  echo "ok: bench/compare.sh on fixed outputs (int8 and bf16 rows, speedup columns, CSV)"
fi

if [[ $failures -ne 0 ]]; then
  echo "$failures case(s) failed"
  exit 1
fi
