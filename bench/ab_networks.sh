#!/usr/bin/env bash
# ctnn against an earlier ctnn on the reference networks: builds bench_networks at commit REF
# (a git worktree under /tmp, release preset) unless --old-bin names one, then runs the old and
# the current build/release/bench/bench_networks alternately (old, new, old, new, ...) for R
# rounds and prints, per benchmark, the median time of each and new/old (below 1: faster now).
# Runs in the one-at-a-time lock of compare.sh, so nothing else benchmarks meanwhile.
# Usage: bench/ab_networks.sh REF [--rounds R] [--filter REGEX] [--old-bin PATH]
set -euo pipefail
usage() {
  cat <<'EOF'
usage: bench/ab_networks.sh REF [--rounds R] [--filter REGEX] [--old-bin PATH]
  REF             the earlier commit, built in a git worktree under /tmp
  --rounds R      alternate runs of the old and the new bench_networks (default 3)
  --filter REGEX  the benchmarks to run (default /M[123]_)
  --old-bin PATH  an already built bench_networks of REF instead of building one
  --help          this text
EOF
}
# value OPTION ARGS...: the value after OPTION, or a refusal when there is none.
value() {
  (($# >= 2)) || { echo "ab_networks.sh: $1 needs a value" >&2; exit 2; }
  printf '%s' "$2"
}
ref= rounds=3 filter='/M[123]_' old_bin=
while (($#)); do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --rounds) rounds="$(value "$@")"; shift 2 ;;
    --filter) filter="$(value "$@")"; shift 2 ;;
    --old-bin) old_bin="$(value "$@")"; shift 2 ;;
    -*) echo "ab_networks.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
    *)
      [[ -z "$ref" ]] || { echo "ab_networks.sh: one REF only ($ref, $1)" >&2; exit 2; }
      ref="$1"
      shift
      ;;
  esac
done
[[ -n "$ref" ]] || { echo "ab_networks.sh: needs a commit REF to compare with" >&2; usage >&2; exit 2; }
cd "$(dirname "$0")/.."
repo=$PWD
[[ "$rounds" =~ ^[1-9][0-9]*$ ]] || { echo "ab_networks.sh: --rounds needs a positive number" >&2; exit 2; }
new_bin="$repo/build/release/bench/bench_networks"
[[ -x "$new_bin" ]] || { echo "ab_networks.sh: $new_bin not built (cmake --build --preset release)" >&2; exit 1; }
if [[ -z "$old_bin" ]]; then
  wt="/tmp/ctnn-ab-$(git rev-parse --short "$ref")"
  [[ -d "$wt" ]] || git worktree add --detach "$wt" "$ref" >/dev/null
  (cd "$wt" && cmake --preset release >/dev/null && cmake --build build/release --target bench_networks -j "$(nproc)" >/dev/null)
  old_bin="$wt/build/release/bench/bench_networks"
fi
out=$(mktemp -d /tmp/ctnn-ab.XXXXXX)
echo "# old: $ref ($old_bin); new: $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- include bench || echo ' (modified)'); rounds: $rounds; $out" >&2
for ((r = 1; r <= rounds; r++)); do
  for side in old new; do
    bin=$old_bin
    [[ $side == new ]] && bin=$new_bin
    echo "round $r/$rounds: $side (load $(cut -d' ' -f1 /proc/loadavg))" >&2
    flock /tmp/peer-bench.lock "$bin" --benchmark_filter="$filter" --benchmark_format=json \
      > "$out/$side.$r.json" 2> "$out/$side.$r.err"
  done
done
/usr/bin/python3 - "$out" "$rounds" <<'EOF'
import json, statistics, sys
out, rounds = sys.argv[1], int(sys.argv[2])
times = {}
for side in ("old", "new"):
    for r in range(1, rounds + 1):
        for b in json.load(open(f"{out}/{side}.{r}.json"))["benchmarks"]:
            if b.get("run_type") == "aggregate":
                continue
            times.setdefault(b["name"], {}).setdefault(side, []).append((b["real_time"], b["time_unit"]))
print("| benchmark | old (median) | new (median) | new / old |")
print("|---|---|---|---|")
for name, t in times.items():
    if "old" not in t or "new" not in t:
        continue
    o = statistics.median(x for x, _ in t["old"])
    n = statistics.median(x for x, _ in t["new"])
    print(f"| {name} | {o:.4g} {t['old'][0][1]} | {n:.4g} {t['new'][0][1]} | {n / o:.3f} |")
EOF
