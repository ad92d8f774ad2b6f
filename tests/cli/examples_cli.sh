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

# --save is checked before training.
expect 2 "--save needs a file name" "$cnn" "${data[@]}" --save ""
expect 2 "cannot save to '$work': it is a directory" "$cnn" "${data[@]}" --save "$work"
expect 2 "cannot save to '$work/missing/model.ctnn'" "$cnn" "${data[@]}" --save "$work/missing/model.ctnn"
touch "$work/file"
expect 2 "is not a directory" "$cnn" "${data[@]}" --save "$work/file/model.ctnn"
expect 0 "saved the model to $work/m.ctnn" "$cnn" "${data[@]}" --epochs 1 --save "$work/m.ctnn"

# A batch larger than the data set is the whole data set.
expect 0 "test accuracy:" "$cnn" "${data[@]}" --epochs 1 --batch-size 100000000

# Images that are all alike (no spread to standardise by) still train.
expect 0 "test accuracy:" "$bin/fashion_mnist_lstm" "${data[@]}" --epochs 1
expect 0 "test accuracy:" "$bin/fashion_mnist_lstm" "${data[@]}" --epochs 1 --cell gru

# Threads that cannot be started: a clear error, not a hang or an abort. 2000 threads' stacks do
# not fit in 2 GiB of address space.
expect 1 "cannot start 2000 threads" bash -c 'ulimit -v 2000000 && exec "$@"' _ "$cnn" \
  "${data[@]}" --epochs 1 --threads 2000

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

# A layer defined outside the library trains, and both file formats give it back exactly.
expect 0 "the loaded networks predict exactly what the trained one does" "$bin/custom_layer" \
  --data-dir "$work/rand" --epochs 1 --batch-size 16 --threads 2

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
# A file that does not decode is found when training (or the test) reaches it, and named.
broken="$work/folder/$(ls "$work/folder" | head -n 1)/broken.png"
printf 'not a png' > "$broken"
expect 1 "$broken" "$ift" "${folder[@]}" --stream

if [[ $failures -ne 0 ]]; then
  echo "$failures case(s) failed"
  exit 1
fi
