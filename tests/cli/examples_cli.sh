#!/usr/bin/env bash
# The example programs' handling of bad command lines and bad data, checked from the outside:
# each case states the exit status and a piece of the message it must print.
# Usage: examples_cli.sh BIN_DIR   (the directory holding the built examples)
set -uo pipefail
bin="$1"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
failures=0

# expect STATUS TEXT command...: runs the command, checks its exit status and that its output
# (stdout and stderr) contains TEXT.
expect() {
  local want="$1" text="$2"
  shift 2
  local out status
  out="$("$@" 2>&1)"
  status=$?
  if [[ $status -ne $want || "$out" != *"$text"* ]]; then
    echo "FAIL: $* -> status $status (want $want), output:"
    echo "$out" | tail -5
    echo "  (want text: $text)"
    failures=$((failures + 1))
  else
    echo "ok: $*"
  fi
}

# check DESCRIPTION command...: the command (a test) must succeed.
check() {
  local what="$1"
  shift
  if "$@"; then
    echo "ok: $what"
  else
    echo "FAIL: $what"
    failures=$((failures + 1))
  fi
}

# A small Fashion-MNIST-shaped data set: 20 training and 10 test images, all black, in IDX files.
python3 - "$work/data" <<'PY'
import os, struct, sys
d = sys.argv[1]
os.makedirs(d)
for prefix, n in (("train", 20), ("t10k", 10)):
    with open(os.path.join(d, prefix + "-images-idx3-ubyte"), "wb") as f:
        f.write(struct.pack(">IIII", 0x803, n, 28, 28) + bytes(n * 784))
    with open(os.path.join(d, prefix + "-labels-idx1-ubyte"), "wb") as f:
        f.write(struct.pack(">II", 0x801, n) + bytes(i % 10 for i in range(n)))
PY
data=(--data-dir "$work/data")
cnn="$bin/fashion_mnist_cnn"

# Numbers.
expect 2 "invalid value for --lr: 'inf'" "$cnn" "${data[@]}" --lr inf
expect 2 "invalid value for --lr: 'nan'" "$cnn" "${data[@]}" --lr nan
expect 2 "invalid value for --lr: '1e60'" "$cnn" "${data[@]}" --lr 1e60
expect 2 "invalid value for --seed: '-1'" "$cnn" "${data[@]}" --seed -1
expect 2 "invalid value for --allreduce-bucket: '-1'" "$cnn" "${data[@]}" --allreduce-bucket -1
expect 2 "invalid value for --augment" "$cnn" "${data[@]}" --augment shift,none
# The ResNet's defaults are its recipe, and --help says so.
expect 0 "training epochs (default 30)" "$bin/fashion_mnist_resnet" --help
expect 0 "(default shift,hflip)" "$bin/fashion_mnist_resnet" --help
expect 0 "training epochs (default 5)" "$cnn" --help
expect 2 "invalid value for --seed: '18446744073709551616'" "$cnn" "${data[@]}" --seed 18446744073709551616
expect 0 "seed 18446744073709551615" "$cnn" "${data[@]}" --epochs 0 --seed 18446744073709551615
expect 0 "seed 9223372036854775808" "$cnn" "${data[@]}" --epochs 0 --seed 9223372036854775808
expect 2 "invalid value for --batch-size: '0'" "$cnn" "${data[@]}" --batch-size 0
# Numbers are read whole: no spaces, no sign '+', no hexadecimal, nothing after the number.
expect 2 "invalid value for --lr: ' 1'" "$cnn" "${data[@]}" --lr ' 1'
expect 2 "invalid value for --lr: '1e-3 '" "$cnn" "${data[@]}" --lr '1e-3 '
expect 2 "invalid value for --lr: '0x10'" "$cnn" "${data[@]}" --lr 0x10
expect 2 "invalid value for --warmup: '0x10'" "$cnn" "${data[@]}" --schedule cosine --warmup 0x10
expect 2 "invalid value for --label-smoothing: '+0.1'" "$cnn" "${data[@]}" --label-smoothing +0.1
expect 2 "invalid value for --lr: '1e-50' (a finite number > 0)" "$cnn" "${data[@]}" --lr 1e-50
# A warm-up longer than the run is refused; as long as the run, it is the whole run.
expect 2 "--warmup 5.5 is longer than the run (--epochs 5)" "$cnn" "${data[@]}" --schedule cosine \
  --warmup 5.5
expect 0 "test accuracy:" "$cnn" "${data[@]}" --epochs 1 --schedule cosine --warmup 1
# A validation split too small to hold one image (2 per class here) names the fraction exactly.
expect 1 "--validation-split 1e-09 leaves 20 training and 0 validation images" "$cnn" \
  "${data[@]}" --epochs 1 --validation-split 1e-9
expect 1 "--validation-split 0.2 leaves 20 training and 0 validation images" "$cnn" \
  "${data[@]}" --epochs 1 --validation-split 0.2

# --save is checked before training.
expect 2 "--save needs a file name" "$cnn" "${data[@]}" --save ""
expect 2 "cannot save to '$work': it is a directory" "$cnn" "${data[@]}" --save "$work"
expect 2 "cannot save to '$work/missing/model.ctnn'" "$cnn" "${data[@]}" --save "$work/missing/model.ctnn"
touch "$work/file"
expect 2 "is not a directory" "$cnn" "${data[@]}" --save "$work/file/model.ctnn"
expect 0 "saved the model to $work/m.ctnn" "$cnn" "${data[@]}" --epochs 1 --save "$work/m.ctnn"

# Only a regular file is replaced. A FIFO or a device is refused before training and stays what
# it was. The device is a node of our own with /dev/null's numbers, made only where that is
# allowed (as root), so that a regression cannot replace the system's /dev/null.
mkfifo "$work/fifo"
expect 2 "cannot save to '$work/fifo': it is a FIFO, not a regular file" "$cnn" "${data[@]}" \
  --epochs 1 --save "$work/fifo"
for flag in --history --confusion --checkpoint; do
  expect 2 "cannot write '$work/fifo': it is a FIFO, not a regular file" "$cnn" "${data[@]}" \
    --epochs 1 "$flag" "$work/fifo"
done
check "the FIFO is still a FIFO" test -p "$work/fifo"
if mknod "$work/null" c 1 3 2> /dev/null; then
  expect 2 "cannot save to '$work/null': it is a character device, not a regular file" "$cnn" \
    "${data[@]}" --epochs 1 --save "$work/null"
  expect 2 "cannot write '$work/null': it is a character device" "$cnn" "${data[@]}" \
    --epochs 1 --history "$work/null"
  check "the device is still a device" test -c "$work/null"
fi
# Through a symbolic link the file it leads to is replaced, and the link stays; a dangling link
# is refused.
printf 'old' > "$work/target.ctnn"
ln -s target.ctnn "$work/link.ctnn"
expect 0 "saved the model to $work/link.ctnn" "$cnn" "${data[@]}" --epochs 1 \
  --save "$work/link.ctnn"
check "the link is still a link" test -L "$work/link.ctnn"
check "the link's target holds the model" test "$(head -c 8 "$work/target.ctnn")" = CTNNMODL
ln -s missing/m.ctnn "$work/dangling"
expect 2 "it is a symbolic link to 'missing/m.ctnn', which does not exist" "$cnn" "${data[@]}" \
  --epochs 1 --save "$work/dangling"
check "the dangling link stays" test -L "$work/dangling"

# A batch larger than the data set is the whole data set.
expect 0 "test accuracy:" "$cnn" "${data[@]}" --epochs 1 --batch-size 100000000

# Images that are all alike (no spread to standardise by) still train.
expect 0 "test accuracy:" "$bin/fashion_mnist_lstm" "${data[@]}" --epochs 1
expect 0 "test accuracy:" "$bin/fashion_mnist_lstm" "${data[@]}" --epochs 1 --cell gru

# Threads that cannot be started: a clear error, not a hang or an abort. 2000 threads' stacks do
# not fit in 2 GiB of address space. Training starts no more threads than a batch has samples,
# so the data set has 2000 images and the batch as many.
python3 - "$work/many" <<'PY'
import os, struct, sys
d = sys.argv[1]
os.makedirs(d)
for prefix, n in (("train", 2000), ("t10k", 10)):
    with open(os.path.join(d, prefix + "-images-idx3-ubyte"), "wb") as f:
        f.write(struct.pack(">IIII", 0x803, n, 28, 28) + bytes(n * 784))
    with open(os.path.join(d, prefix + "-labels-idx1-ubyte"), "wb") as f:
        f.write(struct.pack(">II", 0x801, n) + bytes(i % 10 for i in range(n)))
PY
expect 1 "cannot start 2000 threads" bash -c 'ulimit -v 2000000 && exec "$@"' _ "$cnn" \
  --data-dir "$work/many" --epochs 1 --batch-size 2000 --threads 2000
# More threads than a batch has samples: only as many as it has are started, not 2000 workspaces.
expect 0 "test accuracy:" bash -c 'ulimit -v 2000000 && exec "$@"' _ "$cnn" "${data[@]}" \
  --epochs 1 --batch-size 4 --threads 2000

# classify reads only regular files: a FIFO (whose opening would wait for a writer) or a device
# given as the model or an image is an error, at once.
[[ -p "$work/fifo" ]] || mkfifo "$work/fifo"
classify=("$bin/classify" --model "$work/m.ctnn")
expect 1 "$work/fifo: cannot open: it is a FIFO (named pipe), not a regular file" \
  timeout 20 "$bin/classify" --model "$work/fifo" "$work/fifo"
expect 1 "$work/fifo: cannot open: it is a FIFO (named pipe), not a regular file" \
  timeout 20 "${classify[@]}" "$work/fifo"
expect 1 "/dev/zero: cannot open: it is a character device, not a regular file" \
  timeout 20 "${classify[@]}" /dev/zero
expect 1 "/dev/urandom: cannot open: it is a character device, not a regular file" \
  timeout 20 "${classify[@]}" /dev/urandom

# Checkpoints. A data set of random pixels (64 training, 16 test images), so that training,
# augmentation and the shuffle all matter.
python3 - "$work/rand" <<'PY'
import os, random, struct, sys
d = sys.argv[1]
os.makedirs(d)
rng = random.Random(5)
for prefix, n in (("train", 64), ("t10k", 16)):
    with open(os.path.join(d, prefix + "-images-idx3-ubyte"), "wb") as f:
        f.write(struct.pack(">IIII", 0x803, n, 28, 28) + bytes(rng.randrange(256) for _ in range(n * 784)))
    with open(os.path.join(d, prefix + "-labels-idx1-ubyte"), "wb") as f:
        f.write(struct.pack(">II", 0x801, n) + bytes(rng.randrange(10) for _ in range(n)))
PY
rand=(--data-dir "$work/rand" --batch-size 16 --threads 2 --augment shift,hflip,erase --weight-decay 0.01)
expect 2 "--checkpoint needs a file name" "$cnn" "${rand[@]}" --checkpoint ""
expect 2 "cannot write '$work'" "$cnn" "${rand[@]}" --checkpoint "$work"
expect 2 "cannot resume from '$work/missing'" "$cnn" "${rand[@]}" --resume "$work/missing"
# 3 epochs straight, and 1 epoch + a resume up to 3 (written with --epochs 1, so the constant
# schedule): the same model file, byte for byte.
expect 0 "saved the model" "$cnn" "${rand[@]}" --epochs 3 --save "$work/straight.ctnn"
expect 0 "epoch 1/1" "$cnn" "${rand[@]}" --epochs 1 --checkpoint "$work/ck" --history "$work/h.csv"
expect 0 "resumed from $work/ck after epoch 1" "$cnn" "${rand[@]}" --epochs 3 --resume "$work/ck" \
  --checkpoint "$work/ck" --history "$work/h.csv" --save "$work/resumed.ctnn"
if cmp -s "$work/straight.ctnn" "$work/resumed.ctnn"; then
  echo "ok: the resumed model equals the straight one"
else
  echo "FAIL: the resumed model differs from the straight one"
  failures=$((failures + 1))
fi
# The history goes on: a header and epochs 1, 2, 3.
if [[ "$(cut -d, -f1 "$work/h.csv" | tr '\n' ' ')" == "epoch 1 2 3 " ]]; then
  echo "ok: the history holds epochs 1 to 3"
else
  echo "FAIL: the history is"; cat "$work/h.csv"
  failures=$((failures + 1))
fi
expect 0 "nothing to train: the checkpoint has trained 3 epochs, --epochs asks for 3" "$cnn" \
  "${rand[@]}" --epochs 3 --resume "$work/ck"
expect 1 "resume with the same" "$cnn" "${rand[@]}" --epochs 4 --resume "$work/ck" --seed 2
# The options the checkpoint records: the learning rate and the weight decay.
expect 1 "the checkpoint was written with --lr 0.001;" "$cnn" "${rand[@]}" --epochs 4 \
  --resume "$work/ck" --lr 0.5
expect 1 "the checkpoint was written with --weight-decay 0.01;" "$cnn" --data-dir "$work/rand" \
  --batch-size 16 --threads 2 --augment shift,hflip,erase --weight-decay 0.02 --epochs 4 \
  --resume "$work/ck"
# edit_checkpoint IN OUT STATEMENT: IN with its training state (the JSON object j) changed by a
# Python statement, written to OUT with a correct CRC-32.
edit_checkpoint() {
  python3 - "$@" <<'PY'
import json, struct, sys, zlib
src, dst, edit = sys.argv[1:4]
b = open(src, "rb").read()
m = struct.unpack_from("<Q", b, 12)[0]
n = struct.unpack_from("<Q", b, 20 + m)[0]
j = json.loads(b[28 + m:28 + m + n])
exec(edit)
t = json.dumps(j).encode()
out = b[:20 + m] + struct.pack("<Q", len(t)) + t + b[28 + m + n:-4]
open(dst, "wb").write(out + struct.pack("<I", zlib.crc32(out)))
PY
}
edit_checkpoint "$work/ck" "$work/ck_old" 'del j["values"]["options.lr"]'
expect 1 "the checkpoint was written with --lr 0.001;" "$cnn" "${rand[@]}" --epochs 4 \
  --resume "$work/ck_old" --lr 0.5
# Fields out of their ranges, named (this epochs_done used to make training go on forever).
edit_checkpoint "$work/ck" "$work/ck_bad" 'j["optimizer"]["epochs_done"] = 2**64 - 1'
expect 1 "optimizer.epochs_done is 18446744073709551615, more than 100000" timeout 120 "$cnn" \
  "${rand[@]}" --epochs 4 --resume "$work/ck_bad"
edit_checkpoint "$work/ck" "$work/ck_bad" 'j["optimizer"]["settings"]["beta1"] = 1'
expect 1 "the setting beta1 is 1, expected a finite float in [0, 1)" "$cnn" "${rand[@]}" \
  --epochs 4 --resume "$work/ck_bad"
edit_checkpoint "$work/ck" "$work/ck_bad" 'j["values"]["plateau.bad_epochs"] = "nan"'
expect 1 "values.plateau.bad_epochs is nan" "$cnn" "${rand[@]}" --epochs 4 --resume "$work/ck_bad"
edit_checkpoint "$work/ck" "$work/ck_bad" 'j["values"]["plateau.bad_epochs"] = 1e300'
expect 1 "values.plateau.bad_epochs is 1e+300" "$cnn" "${rand[@]}" --epochs 4 --resume "$work/ck_bad"
edit_checkpoint "$work/ck" "$work/ck_bad" 'j["values"]["plateau.scale"] = -5'
expect 1 "values.plateau.scale is -5" "$cnn" "${rand[@]}" --epochs 4 --resume "$work/ck_bad"
edit_checkpoint "$work/ck" "$work/ck_bad" 'j["history"] = j["history"] * 2'
expect 1 "history holds 6 epochs, optimizer.epochs_done 3" "$cnn" "${rand[@]}" --epochs 4 \
  --resume "$work/ck_bad"
expect 1 "the state is AdamW's, this optimizer is Adam" "$cnn" --data-dir "$work/rand" \
  --batch-size 16 --epochs 4 --resume "$work/ck"
expect 1 "a model file, not a checkpoint" "$cnn" "${rand[@]}" --epochs 4 --resume "$work/straight.ctnn"
expect 1 "written for another network type" "$bin/fashion_mnist_lstm" --data-dir "$work/rand" \
  --batch-size 16 --weight-decay 0.01 --epochs 4 --resume "$work/ck"
head -c 1000 "$work/ck" > "$work/short"
expect 1 "truncated" "$cnn" "${rand[@]}" --epochs 4 --resume "$work/short"

# A checkpoint written by ctnn 0.2.0: custom_layer on this data set with AdamW, the plateau
# schedule and early stopping, after epoch 8 of --epochs 8. Resumed to 10 epochs it gives the
# epochs of a straight run of 10 (and those 0.2.0 gave resuming it: the lines below); the plateau
# goes on from its count and lowers the rate after epoch 10, and the early stopping from its
# count (4 epochs without a lower loss): with patience 6 it stops after epoch 10.
old="$(cd "$(dirname "$0")/../data/checkpoints" && pwd)/custom_layer_0.2.0.ckpt"
old_run=(--data-dir "$work/rand" --batch-size 16 --threads 2 --augment shift,hflip,erase
  --weight-decay 0.01 --schedule plateau --validation-split 0.25 --lr 0.01 --epochs 10)
epochs_9_10() {
  sed -n '/^epoch 9\/10/,$p' | grep -E "^epoch|learning rate lowered" |
    sed -E 's/  [0-9]+ images\/s.*//'
}
resumed="$("$bin/custom_layer" "${old_run[@]}" --early-stopping 8 --resume "$old" 2>&1)"
straight="$("$bin/custom_layer" "${old_run[@]}" --early-stopping 8 2>&1)"
then="epoch 9/10  loss 2.1984  train accuracy 0.1087  test loss 2.2967  test accuracy 0.1111
epoch 10/10  loss 2.2014  train accuracy 0.1739  test loss 2.2885  test accuracy 0.1111
learning rate lowered to 0.0025"
if [[ "$resumed" == *"resumed from $old after epoch 8"* &&
      "$(epochs_9_10 <<< "$resumed")" == "$(epochs_9_10 <<< "$straight")" &&
      "$(epochs_9_10 <<< "$resumed")" == "$then" ]]; then
  echo "ok: the checkpoint of 0.2.0 resumes as a straight run, the plateau's count kept"
else
  echo "FAIL: resuming the checkpoint of 0.2.0 gave"; epochs_9_10 <<< "$resumed"
  echo "  a straight run"; epochs_9_10 <<< "$straight"
  failures=$((failures + 1))
fi
expect 0 "early stop after epoch 10" "$bin/custom_layer" "${old_run[@]}" --early-stopping 6 \
  --resume "$old"

# A layer defined outside the library trains, and both file formats give it back exactly.
expect 0 "the loaded networks predict exactly what the trained one does" "$bin/custom_layer" \
  --data-dir "$work/rand" --epochs 1 --batch-size 16 --threads 2
# Its temporary directory is a new one of its own (mkdtemp): a directory, or a link to one,
# named ctnn-custom-layer-<its process id> is neither used nor removed, nor is anything else in
# $TMPDIR. `exec` gives the program the process id of the shell that made the name.
tmp="$work/tmp"
mkdir -p "$tmp/theirs"
touch "$tmp/theirs/file"
for kind in directory link; do
  expect 0 "the loaded networks predict exactly" env TMPDIR="$tmp" KIND="$kind" bash -c '
    if [[ $KIND == directory ]]; then mkdir "$TMPDIR/ctnn-custom-layer-$$" &&
      touch "$TMPDIR/ctnn-custom-layer-$$/file"
    else ln -s theirs "$TMPDIR/ctnn-custom-layer-$$"; fi && exec "$@"' _ "$bin/custom_layer" \
    --data-dir "$work/rand" --epochs 1 --batch-size 16 --threads 2
  planted=("$tmp"/ctnn-custom-layer-*)
  check "custom_layer left the $kind it did not make" test ${#planted[@]} -eq 1 -a \
    "$(ls "$tmp/theirs")" = file -a "$(ls "$planted")" = file
  check "custom_layer removed its own directory" test "$(ls "$tmp" | wc -l)" -eq 2
  rm -r "${planted[@]}"
done

# An image folder read in memory and streamed: the same training, so the same model file.
python3 "$(dirname "$0")/../../tools/make_image_folder.py" "$work/folder" --data-dir "$work/rand" \
  --split train --per-class 3 > /dev/null 2>&1
folder=(--root "$work/folder" --epochs 2 --batch-size 8 --threads 2)
ift="$bin/image_folder_train"
expect 0 "saved the model" "$ift" "${folder[@]}" --save "$work/folder.ctnn"
expect 0 "saved the model" "$ift" "${folder[@]}" --stream --prefetch 5 --decode-threads 3 \
  --save "$work/streamed.ctnn"
if cmp -s "$work/folder.ctnn" "$work/streamed.ctnn"; then
  echo "ok: --stream trains the same model as the folder in memory"
else
  echo "FAIL: --stream trained another model than the folder in memory"
  failures=$((failures + 1))
fi
expect 2 "invalid value for --prefetch: '0'" "$ift" "${folder[@]}" --stream --prefetch 0
expect 1 "--skip-unreadable decodes every image" "$ift" "${folder[@]}" --stream --skip-unreadable
expect 1 "--validation-split needs the training images in memory" "$ift" "${folder[@]}" --stream \
  --validation-split 0.2
expect 2 "--prefetch 5: only with --stream" "$ift" "${folder[@]}" --prefetch 5
expect 2 "--decode-threads 3: only with --stream" "$ift" "${folder[@]}" --decode-threads 3
expect 2 "invalid value for --test-fraction: ' 0.5'" "$ift" "${folder[@]}" --test-fraction ' 0.5'
expect 2 "invalid value for --test-fraction: '0x0.8p0'" "$ift" "${folder[@]}" --test-fraction 0x0.8p0

# classify: a model holding a NaN (written as a diverged network would be: the CRC is right) is
# refused, naming the layer; one whose outputs overflow prints no NaN probabilities.
pngs=("$work/folder"/*/*.png)
img="${pngs[0]}"
cls="$bin/classify"
expect 0 "$img" "$cls" --model "$work/m.ctnn" "$img"
expect 2 "invalid value for --top-k: ' 2'" "$cls" --model "$work/m.ctnn" --top-k ' 2' "$img"
expect 2 "invalid value for --classes: 'a\\b'" "$cls" --model "$work/m.ctnn" --classes 'a\b' "$img"
# patch_model IN OUT VALUE [ALL]: IN with its first parameter (all of them with ALL) set to VALUE
# and the CRC-32 recomputed.
patch_model() {
  python3 - "$@" <<'PY'
import struct, sys, zlib
b = bytearray(open(sys.argv[1], "rb").read())
L = struct.unpack_from("<I", b, 12)[0]  # format 3 (docs/model-format.md): after the signature,
P = struct.unpack_from("<Q", b, 24 + L)[0]  # the counts, the tensor table, then the values
at = 44 + L
for _ in range(struct.unpack_from("<I", b, 40 + L)[0]):
    n = struct.unpack_from("<I", b, at)[0]
    at += 4 + n + 4 + 4 + 8 * struct.unpack_from("<I", b, at + 4 + n + 4)[0]
count = P if len(sys.argv) > 4 else 1  # the network here has no state: the values are P floats
for i in range(count):
    struct.pack_into("<f", b, at + 4 * i, float(sys.argv[3]))
struct.pack_into("<I", b, len(b) - 4, zlib.crc32(bytes(b[:-4])))
open(sys.argv[2], "wb").write(b)
PY
}
patch_model "$work/m.ctnn" "$work/nan.ctnn" nan
expect 1 "$work/nan.ctnn: layer 1 (Conv2D<32,3" "$cls" --model "$work/nan.ctnn" "$img"
expect 1 "parameter 0 (of 320) is nan; parameters must be finite" "$cls" --model "$work/nan.ctnn" \
  "$img"
patch_model "$work/m.ctnn" "$work/huge.ctnn" 3e38 all
expect 1 "$img: the network's outputs are not finite" "$cls" --model "$work/huge.ctnn" "$img"

# The classify line image_folder_train suggests gives back the class names exactly, whatever
# quotes, commas, spaces and backslashes they hold; a name with a newline is refused up front.
names=("it's a coat" "bag, small" 'back\slash' "plain")
for name in "${names[@]}"; do
  mkdir -p "$work/names/$name"
  cp "${pngs[@]:0:3}" "$work/names/$name/"
done
out="$("$ift" --root "$work/names" --epochs 1 --threads 2 --save "$work/it's, a model.ctnn" 2>&1)"
line="$(grep -o "classify --model .* IMAGE\.\.\.$" <<<"$out")"
got="$(eval "\"\$bin/\"${line% IMAGE...} --top-k 4 \"\$img\"" 2>&1 | tail -n +2 | cut -c11-)"
want="$(printf '%s\n' "${names[@]}" | sort)"
if [[ -n "$line" && "$(sort <<<"$got")" == "$want" ]]; then
  echo "ok: the suggested classify line gives back the class names"
else
  echo "FAIL: the suggested classify line: $line"
  echo "$got"
  failures=$((failures + 1))
fi
mkdir -p "$work/newline/"$'two\nlines' "$work/newline/plain"
cp "${pngs[@]:0:3}" "$work/newline/"$'two\nlines'/
cp "${pngs[@]:0:3}" "$work/newline/plain/"
expect 1 "the class directory 'two\\nlines' has a control character in its name" "$ift" \
  --root "$work/newline" --epochs 1 --threads 2

# A file that does not decode is found when training (or the test) reaches it, and named.
broken="$work/folder/$(ls "$work/folder" | head -n 1)/broken.png"
printf 'not a png' > "$broken"
expect 1 "$broken" "$ift" "${folder[@]}" --stream

# The network is chosen when image_folder_train runs, and the model file says what classify
# needs: classify takes only --model. A 2-class colour folder (red and blue images of mixed
# sizes, drawn here as PNG files) trains the 28 x 28 RGB network.
python3 - "$work/colour" <<'PY'
import os, random, struct, sys, zlib
def png(path, w, h, rgb):
    rows = b"".join(b"\0" + bytes(rgb) * w for _ in range(h))
    chunk = lambda t, d: struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))
rng = random.Random(3)
for name, base in (("blue sky", (20, 40, 200)), ("red", (200, 30, 20))):
    os.makedirs(os.path.join(sys.argv[1], name))
    for i in range(10):
        rgb = tuple(min(255, max(0, c + rng.randrange(-20, 21))) for c in base)
        png(os.path.join(sys.argv[1], name, f"{i}.png"), rng.randrange(20, 50), rng.randrange(20, 50), rgb)
PY
colour=(--root "$work/colour" --size 28 --channels 3 --epochs 3 --batch-size 4 --threads 2)
expect 0 "28 x 28 pixels, RGB, outputs 0 to 1 of 100 used" "$ift" "${colour[@]}" \
  --save "$work/colour.ctnn"
# Two classes start at a loss of about ln 2 = 0.69, not ln 100 = 4.6: the outputs of no class
# are off (a learning rate of 1e-9 keeps the epoch's loss at the initial one).
first="$("$ift" "${colour[@]}" --epochs 1 --lr 1e-9 2>&1 | grep -o "^epoch 1/1  loss [0-9.]*")"
check "two classes start at a loss near ln 2 ($first)" \
  awk -v l="${first##* }" 'BEGIN { exit !(l > 0.55 && l < 0.85) }'
out="$("$cls" --model "$work/colour.ctnn" --top-k 5 "$work/colour/red/3.png" 2>&1)"
if [[ "$(sed -n 2p <<<"$out")" == *"  red" && "$(wc -l <<<"$out")" -eq 3 &&
      "$out" != *note* ]]; then
  echo "ok: classify names the class of a colour image from the model file alone"
else
  echo "FAIL: classify on the colour model printed"; echo "$out"
  failures=$((failures + 1))
fi
# A 3-class grey folder at 32 x 32: the top 5 are the 3 classes there are.
mkdir -p "$work/three"
mapfile -t three_names < <(ls "$work/folder" | head -n 3)
for name in "${three_names[@]}"; do cp -r "$work/folder/$name" "$work/three/"; done
rm -f "$work/three"/*/broken.png
expect 0 "32 x 32 pixels, grey, outputs 0 to 2 of 100 used" "$ift" --root "$work/three" \
  --size 32 --channels 1 --epochs 1 --threads 2 --save "$work/three.ctnn"
three_img="$(ls "$work/three"/*/*.png | head -n 1)"
out="$("$cls" --model "$work/three.ctnn" --top-k 5 "$three_img" 2>&1)"
names3="$(ls "$work/three" | sort)"
if [[ "$(tail -n +2 <<<"$out" | cut -c11- | sort)" == "$names3" && "$out" != *note* ]]; then
  echo "ok: classify restricts the 3-class model to its classes"
else
  echo "FAIL: classify on the 3-class model printed"; echo "$out"
  failures=$((failures + 1))
fi
# Flags still override the file: --classes renames, --no-invert is accepted.
expect 0 "  x" "$cls" --model "$work/three.ctnn" --classes x,y,z --no-invert "$three_img"
expect 2 "--classes names 11 classes; the network has 10 outputs" "$cls" --model "$work/m.ctnn" \
  --classes a,b,c,d,e,f,g,h,i,j,k "$three_img"
# A model file of ctnn 0.3.0, before files held metadata: Fashion-MNIST's CNN with zero weights
# and the last biases 0.0, 0.1, ..., 0.9, so class 9 (Ankle boot) is the most probable. Its
# network is a Fashion-MNIST example's: classify uses Fashion-MNIST's names, and says so.
gunzip -c "$(dirname "$0")/data/fashion_cnn_0.3.0.ctnn.gz" > "$work/old.ctnn"
expect 0 "0.1505  Ankle boot" "$cls" --model "$work/old.ctnn" "$three_img"
expect 0 "the classes are Fashion-MNIST's" "$cls" --model "$work/old.ctnn" "$three_img"
expect 0 "28 x 28 grey pixels scaled to [0, 1]" "$cls" --model "$work/old.ctnn" "$three_img"
# image_folder_train's 32 x 32 grey network in a file without metadata (format 3, as 0.3.0
# wrote), zero weights and the biases 0, 0.01, ..., 0.99: its classes are numbered, and all 100
# are there.
gunzip -c "$(dirname "$0")/data/folder_cnn_32_1_format3.ctnn.gz" > "$work/bare.ctnn"
expect 0 "0.0157  99" "$cls" --model "$work/bare.ctnn" "$three_img"
expect 0 "classes are numbered" "$cls" --model "$work/bare.ctnn" "$three_img"
# Refused: more classes than the network has outputs, a single class, a bad --size; a file that
# is no model, a FIFO, a model of a network classify does not have.
mkdir -p "$work/many_classes"
for i in $(seq 101); do
  mkdir "$work/many_classes/c$i" && cp "$three_img" "$work/many_classes/c$i/"
done
expect 1 "has 101 classes; image_folder_train trains from 2 to 100 classes" "$ift" \
  --root "$work/many_classes" --epochs 1
mkdir -p "$work/one/only" && cp "$three_img" "$work/one/only/"
expect 1 "has 1 class; image_folder_train trains from 2 to 100" "$ift" --root "$work/one" \
  --epochs 1
mkdir -p "$work/latin1/"$'caf\xe9' "$work/latin1/plain"
cp "$three_img" "$work/latin1/"$'caf\xe9'/
cp "$three_img" "$work/latin1/plain/"
expect 1 "the class directory 'caf\\xe9' has a name that is not UTF-8" "$ift" \
  --root "$work/latin1" --epochs 1
expect 2 "invalid value for --size: '30'" "$ift" --root "$work/three" --size 30
expect 2 "invalid value for --channels: '2'" "$ift" --root "$work/three" --channels 2
expect 1 "$three_img: neither a ctnn model file (no \"CTNNMODL\" at offset 0) nor a safetensors" \
  "$cls" --model "$three_img" "$three_img"
expect 1 "$work/fifo: cannot open: it is a FIFO (named pipe), not a regular file" \
  timeout 20 "$cls" --model "$work/fifo" "$three_img"
files="$(cd "$(dirname "$0")/../data/files" && pwd)"
expect 1 "$files/cnn.ctnn: " "$cls" --model "$files/cnn.ctnn" "$three_img"
expect 1 "Image<8,8,2>" "$cls" --model "$files/cnn.ctnn" "$three_img"

if [[ $failures -ne 0 ]]; then
  echo "$failures case(s) failed"
  exit 1
fi
