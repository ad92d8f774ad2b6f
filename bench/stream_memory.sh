#!/usr/bin/env bash
# Peak resident memory and speed of image_folder_train on image folders of different sizes, with
# every image decoded into memory first (load_image_folder) and with --stream (ImageFileStream):
# one epoch each, the folder's own split. Prints a table: folder, files, mode, peak RSS (MiB, the
# process's ru_maxrss), training images/s of the epoch, wall seconds.
# Usage: bench/stream_memory.sh FOLDER... [-- EXTRA image_folder_train FLAGS]
# Folders of many files: python3 tools/make_image_folder.py OUT --split train --per-class 6000
# --copies 2 (120,000 files).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=build/release/examples/image_folder_train
[[ -x $bin ]] || { echo "stream_memory.sh: $bin not built (cmake --build --preset release)" >&2; exit 1; }
folders=() extra=()
while (($#)); do
  if [[ $1 == -- ]]; then shift; extra=("$@"); break; fi
  folders+=("$1"); shift
done
((${#folders[@]})) || { echo "usage: bench/stream_memory.sh FOLDER... [-- FLAGS]" >&2; exit 2; }
echo "| folder | files | mode | peak RSS (MiB) | images/s | wall (s) |"
echo "|---|---|---|---|---|---|"
for f in "${folders[@]}"; do
  files=$(find "$f" -type f -name '*.png' | wc -l)
  for mode in memory stream; do
    flags=(--root "$f" --epochs 1 "${extra[@]}")
    [[ $mode == stream ]] && flags+=(--stream)
    # ru_maxrss of the finished child, in KiB on Linux.
    out=$(python3 - "$bin" "${flags[@]}" <<'PY'
import resource, subprocess, sys, time
t = time.monotonic()
r = subprocess.run(sys.argv[1:], capture_output=True, text=True)
wall = time.monotonic() - t
if r.returncode != 0:
    sys.exit("image_folder_train failed:\n" + r.stderr)
rate = next((l.split(" images/s")[0].split()[-1] for l in r.stdout.splitlines()
             if l.startswith("epoch ")), "?")
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, rate, wall)
PY
)
    read -r rss rate wall <<<"$out"
    printf "| %s | %s | %s | %.0f | %s | %.1f |\n" "$(basename "$f")" "$files" "$mode" "$rss" "$rate" "$wall"
  done
done
