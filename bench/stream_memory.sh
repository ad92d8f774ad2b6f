#!/usr/bin/env bash
# Peak resident memory and speed of image_folder_train on image folders of different sizes, with
# every image decoded into memory first (load_image_folder) and with --stream (ImageFileStream):
# one epoch each, the folder's own split. Prints a table: folder, files, mode, peak RSS (MiB, the
# process's ru_maxrss), training images/s of the epoch, wall seconds.
# Usage: bench/stream_memory.sh FOLDER... [-- EXTRA image_folder_train FLAGS]
# Folders of many files: python3 tools/make_image_folder.py OUT --split train --per-class 6000
# --copies 2 (120,000 files).
set -euo pipefail
usage() {
  cat <<'EOF'
usage: bench/stream_memory.sh FOLDER... [-- EXTRA image_folder_train FLAGS]
  FOLDER   an image folder (root/<class>/<images>); write one whose name starts with - as ./-name
  --help   this text
Trains image_folder_train (release build) for one epoch on each folder, in memory and with
--stream, and prints the peak resident memory, images/s and wall time of each run.
EOF
}
folders=() extra=()
while (($#)); do
  case "$1" in
    --) shift; extra=("$@"); break ;;
    -h|--help) usage; exit 0 ;;
    -*) echo "stream_memory.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
    *) folders+=("$1"); shift ;;
  esac
done
((${#folders[@]})) || { echo "stream_memory.sh: needs at least one FOLDER" >&2; usage >&2; exit 2; }
for i in "${!folders[@]}"; do  # relative to the caller's directory, as given
  [[ -d ${folders[i]} ]] || { echo "stream_memory.sh: not a directory: ${folders[i]}" >&2; exit 2; }
  folders[i]="$(cd "${folders[i]}" && pwd)"
done
cd "$(dirname "$0")/.."
bin=build/release/examples/image_folder_train
[[ -x $bin ]] || { echo "stream_memory.sh: $bin not built (cmake --build --preset release)" >&2; exit 1; }
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
