#!/usr/bin/env bash
# Checks that every C++ file git tracks (*.cpp, *.hpp, *.h, *.cc) is formatted as .clang-format
# says, without changing any: runs `clang-format --dry-run -Werror` on each and lists the files
# that differ. Exit status 0 when all are clean, 1 when some are not, 2 on a usage error or a
# missing clang-format.
# Usage: tools/check_format.sh [--clang-format PROGRAM] [FILE...]
#   FILE...  check these files instead of every tracked one
# Fix a listed file with `clang-format -i FILE`.
set -euo pipefail
cd "$(dirname "$0")/.."
clang_format="${CLANG_FORMAT:-clang-format}"
files=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --clang-format)
      [[ $# -ge 2 ]] || { echo "check_format.sh: --clang-format needs a program" >&2; exit 2; }
      clang_format="$2"
      shift 2
      ;;
    -h | --help)
      sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    -*)
      echo "check_format.sh: unknown option $1 (see --help)" >&2
      exit 2
      ;;
    *)
      files+=("$1")
      shift
      ;;
  esac
done
if ! command -v "$clang_format" >/dev/null 2>&1; then
  echo "check_format.sh: $clang_format not found (apt-get install clang-format)" >&2
  exit 2
fi
if [[ ${#files[@]} -eq 0 ]]; then
  mapfile -t files < <(git ls-files -- '*.cpp' '*.hpp' '*.h' '*.cc')
fi
unformatted=()
for f in "${files[@]}"; do
  if ! "$clang_format" --dry-run -Werror --style=file "$f" >/dev/null 2>&1; then
    unformatted+=("$f")
  fi
done
if [[ ${#unformatted[@]} -gt 0 ]]; then
  echo "check_format.sh: ${#unformatted[@]} of ${#files[@]} files differ from .clang-format" \
       "(fix each with clang-format -i):" >&2
  printf '  %s\n' "${unformatted[@]}" >&2
  exit 1
fi
echo "check_format.sh: ${#files[@]} files formatted as .clang-format says"
