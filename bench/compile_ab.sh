#!/usr/bin/env bash
# Compile time of the examples in two release builds, side by side: for each example, its object
# is compiled from build A, then from build B, R rounds alternately (the compile commands come
# from each build's compile_commands.json, the objects go to a temporary directory), and the
# table gives the median CPU time (user + sys) of each and the ratio B/A. Run it on a quiet
# machine; each compile runs alone.
#
# Usage: bench/compile_ab.sh BUILD_A BUILD_B [--rounds R] [--only NAME[,NAME...]]
#   BUILD_A, BUILD_B  configured release builds (cmake --preset release), e.g. a build of an
#                     older commit in a git worktree and this repository's build/release
#   --rounds R        compiles of each example per build (default 3)
#   --only NAMES      only these examples (fashion_mnist_cnn,classify,...)
set -euo pipefail
usage() {
  cat <<'EOF'
usage: bench/compile_ab.sh BUILD_A BUILD_B [--rounds R] [--only NAME[,NAME...]]
  BUILD_A, BUILD_B  configured release builds (cmake --preset release)
  --rounds R        compiles of each example per build, alternately (default 3)
  --only NAMES      only these examples (fashion_mnist_cnn,classify,...)
  --help            this text
Prints the median CPU time (user + sys) of compiling each example's object in each build and
the ratio B / A (Markdown). Run it on a quiet machine.
EOF
}
# value OPTION ARGS...: the value after OPTION, or a refusal when there is none.
value() {
  (($# >= 2)) || { echo "compile_ab.sh: $1 needs a value" >&2; exit 2; }
  printf '%s' "$2"
}
rounds=3 only="" builds=()
while (($#)); do
  case "$1" in
    -h | --help) usage; exit 0 ;;
    --rounds) rounds="$(value "$@")" || exit 2; shift 2 ;;
    --only) only="$(value "$@")" || exit 2; shift 2 ;;
    -*) echo "compile_ab.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
    *) builds+=("$1"); shift ;;
  esac
done
((${#builds[@]} == 2)) || { echo "compile_ab.sh: give two build directories" >&2; usage >&2; exit 2; }
[[ "$rounds" =~ ^[1-9][0-9]*$ ]] || { echo "compile_ab.sh: --rounds needs a positive number" >&2; exit 2; }
for b in "${builds[@]}"; do
  [[ -f "$b/compile_commands.json" ]] || { echo "compile_ab.sh: no $b/compile_commands.json (configure it first)" >&2; exit 2; }
done
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# One script per (build, example): "cd DIR && COMMAND" with the object written into $work.
python3 - "$work" "$only" "${builds[@]}" <<'PY'
import json, os, re, shlex, sys
work, only, builds = sys.argv[1], sys.argv[2], sys.argv[3:]
wanted = set(filter(None, only.split(",")))
for tag, build in zip("AB", builds):
    for e in json.load(open(os.path.join(build, "compile_commands.json"))):
        f = e["file"]
        if "/examples/" not in f or not f.endswith(".cpp") or f.endswith("/common.cpp"):
            continue
        name = os.path.basename(f)[:-4]
        if wanted and name not in wanted:
            continue
        cmd = e.get("command") or " ".join(shlex.quote(a) for a in e["arguments"])
        cmd = re.sub(r"(^|\s)\S*ccache\s", r"\1", cmd)
        cmd = re.sub(r" -o \S+", " -o " + shlex.quote(os.path.join(work, tag + "_" + name + ".o")), cmd)
        with open(os.path.join(work, tag + "_" + name + ".sh"), "w") as out:
            out.write("cd " + shlex.quote(e["directory"]) + " && " + cmd + "\n")
PY

# cpu SCRIPT: the CPU seconds (user + sys) of one compile.
cpu() {
  if ! /usr/bin/time -f '%U %S' -o "$work/time.txt" bash "$1" >/dev/null 2>"$work/err.txt"; then
    cat "$work/err.txt" >&2
    echo "compile_ab.sh: $1 failed" >&2
    exit 1
  fi
  awk '{printf "%.2f\n", $1 + $2}' "$work/time.txt"
}
median() { sort -n | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

echo "| example | A: CPU (s), median of $rounds | B: CPU (s) | B / A |"
echo "|---|---|---|---|"
for a in "$work"/A_*.sh; do
  name=$(basename "$a" .sh)
  name=${name#A_}
  b="$work/B_$name.sh"
  [[ -f "$b" ]] || continue
  : >"$work/a.txt"
  : >"$work/b.txt"
  for ((r = 0; r < rounds; r++)); do
    cpu "$a" >>"$work/a.txt"
    cpu "$b" >>"$work/b.txt"
  done
  ma=$(median <"$work/a.txt")
  mb=$(median <"$work/b.txt")
  echo "| \`$name\` | $ma | $mb | $(awk -v a="$ma" -v b="$mb" 'BEGIN {printf "%.2f", b / a}') |"
done
