#!/usr/bin/env bash
# The command lines of the scripts in bench/: --help prints the usage and exits 0, and a bad
# option is refused with status 2, in both cases before the script builds, runs or writes
# anything. The programs the scripts call (cmake, git, flock, python3, mpirun, the built
# binaries' runner) are replaced by stubs that record being called.
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

if [[ $failures -ne 0 ]]; then
  echo "$failures case(s) failed"
  exit 1
fi
