#!/usr/bin/env bash
# Builds the libFuzzer targets (preset "fuzz": clang++, ASan + UBSan) and runs each for a fixed
# time on a copy of its seed corpus, so the repository is not modified. Prints the executions per
# target and fails if any target crashed, leaked, hit a sanitizer report, timed out or ran out of
# memory; the input that did it is kept under build/fuzz/crashes/ and the report is printed.
# Usage: tests/fuzz/run.sh [seconds]   (seconds per target, 60 by default)
# CTNN_FUZZ_SEED=N fixes libFuzzer's random seed, so that a run can be repeated (CI does this);
# without it every run explores from a new seed.
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds="${1:-60}"
if [[ ! "$seconds" =~ ^[0-9]+$ || "$seconds" -eq 0 ]]; then
  echo "usage: tests/fuzz/run.sh [seconds per target, a positive integer]" >&2
  exit 2
fi

bash examples/install_deps.sh --fuzz
cmake --preset fuzz >/dev/null
cmake --build --preset fuzz -j "$(nproc)"

bin_dir=build/fuzz/tests/fuzz
crash_dir="$PWD/build/fuzz/crashes"
work=$(mktemp -d /tmp/ctnn-fuzz-run.XXXXXX)
trap 'rm -rf "$work"' EXIT

# The largest input per target: a little over its largest seed, room to grow without letting the
# fuzzer spend its time on long inputs that exercise nothing new.
declare -A max_len=([fuzz_idx]=4096 [fuzz_model_file]=2048 [fuzz_image]=4096
                    [fuzz_safetensors]=8192)
targets=(fuzz_idx fuzz_model_file fuzz_image fuzz_safetensors)

status=0
summary=()
for t in "${targets[@]}"; do
  if [[ ! -x "$bin_dir/$t" ]]; then
    echo "== $t: not built (see the CMake warning above)"
    summary+=("$(printf '%-18s not built' "$t")")
    continue
  fi
  mkdir -p "$work/$t/corpus" "$work/$t/tmp" "$crash_dir"
  cp -r "tests/fuzz/corpus/$t/." "$work/$t/corpus/"
  echo "== $t: ${seconds}s"
  rc=0
  # Scratch files go to the temporary directory (CTNN_FUZZ_TMPDIR), removed at exit even when a
  # crash leaves one behind. A single input running 25 s is reported as a timeout.
  CTNN_FUZZ_TMPDIR="$work/$t/tmp" \
  ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:symbolize=1" \
  UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1" \
    "$bin_dir/$t" -max_total_time="$seconds" -max_len="${max_len[$t]}" -timeout=25 \
      -rss_limit_mb=2048 -detect_leaks=1 -print_final_stats=1 ${CTNN_FUZZ_SEED:+-seed=$CTNN_FUZZ_SEED} \
      -artifact_prefix="$crash_dir/$t-" "$work/$t/corpus" >"$work/$t/log" 2>&1 || rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *\([0-9]*\).*/\1/p' "$work/$t/log" | tail -n 1)
  report=$(grep -E "ERROR: (AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|libFuzzer)|runtime error:|SUMMARY: " \
             "$work/$t/log" || true)
  if [[ $rc -ne 0 || -n "$report" ]]; then
    status=1
    echo "!! $t failed (exit code $rc); the end of its log:"
    tail -n 60 "$work/$t/log"
    artifacts=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$work/$t/log")
    [[ -n "$artifacts" ]] && echo "!! reproduce with: $bin_dir/$t $artifacts"
    summary+=("$(printf '%-18s %12s executions  FAILED' "$t" "${execs:-?}")")
  else
    summary+=("$(printf '%-18s %12s executions  ok' "$t" "${execs:-?}")")
  fi
done

echo "== fuzzing summary (${seconds}s per target)"
printf '%s\n' "${summary[@]}"
exit $status
