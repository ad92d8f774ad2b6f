#!/usr/bin/python3
"""Tests of tools/torch_to_ctnn.py: the models of models.py are converted from PyTorch and from
their ONNX export (torch.onnx.export, opset 13); the converted headers are compiled into one
program that loads each safetensors file and runs each sample, and ctnn's outputs must equal
PyTorch's (float64) within 1e-4; the ONNX path's sample outputs (its own float64 evaluator) must
equal PyTorch's; --check is run once; the headers written from the signatures of
tests/data/files/ must load their files; every refusal gives exit status 2, its message, and
writes nothing.

    /usr/bin/python3 tests/converter/test_converter.py [--padding] [--keep DIR]

--padding converts the models that need ctnn::Pad (a ResNet with stride-2 blocks, padded
pooling) instead of the others. Exit status 77 (skipped) without torch or onnx."""

import argparse
import contextlib
import io
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tools"))
sys.path.insert(0, HERE)

try:
    import numpy as np
    import onnx  # noqa: F401
    import torch
except ImportError as e:
    print(f"skipped: {e} (Debian's python3-torch and python3-onnx run these tests)")
    sys.exit(77)

import models  # noqa: E402
from ctnn_convert import check  # noqa: E402
from ctnn_convert.main import main as convert  # noqa: E402

MODELS = "models.py"
# name, --input-shape, needs ctnn::Pad
CONVERTED = [("cnn", "2,10,10", False), ("lstm", "7,5", False), ("crnn", "1,10,10", False),
             ("stacked_bi", "6,4", False), ("gru_rnn", "6,4", False), ("concat", "3,8,8", False),
             ("resnet_same", "1,8,8", False), ("resnet", "1,8,8", True),
             ("pad_pool", "1,9,9", True)]
TORCH_REFUSED = [
    ("ceil_pool", "1,6,6", "1 (MaxPool2d): ceil_mode=True"),
    ("dilated", "1,8,8", "0 (Conv2d): dilation=(2, 2)"),
    ("grouped", "2,6,6", "0 (Conv2d): groups=2"),
    ("reflect", "1,6,6", "0 (Conv2d): padding_mode='reflect'"),
    ("rect_kernel", "1,6,6", "0 (Conv2d): kernel 3x1"),
    ("avg_exclude_pad", "1,6,6", "0 (AvgPool2d): count_include_pad=False"),
    ("leaky", "1,6,6", "1 (LeakyReLU): no ctnn layer for this module"),
    ("proj_lstm", "6,5", "rnn (LSTM): proj_size=2"),
    ("time_major", "6,5", "rnn (LSTM): batch_first=False"),
    ("cell_state", "6,5", "reads the LSTM's cell state c_n"),
    ("bi_last_step", "6,5", "out[:, -1] of a bidirectional layer"),
    ("scaled", "4", "(mul): no ctnn layer for this function"),
    ("linear_on_image", "1,6,6", "fc (Linear): reads a value of form an image"),
    ("width_rows", "1,6,6", "permute(0, 3, 1, 2)"),
    ("no_running_stats", "4", "track_running_stats=False"),
    ("relu_rnn", "6,5", "nonlinearity='relu'"),
    ("twice", "4", "the same value is used twice"),
]


def run(argv):
    """convert(argv) in this process: (exit status, stdout + stderr)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        try:
            status = convert(argv)
        except SystemExit as e:
            status = e.code
    return status, out.getvalue()


def export_onnx(model, shape, path):
    x = torch.zeros((2,) + tuple(int(s) for s in shape.split(",")))
    with contextlib.redirect_stderr(io.StringIO()):
        torch.onnx.export(model, x, path, opset_version=13, input_names=["x"],
                          output_names=["y"], dynamic_axes={"x": {0: "batch"}})


class Failures:
    def __init__(self):
        self.list = []

    def check(self, ok, text):
        print(("ok      " if ok else "FAILED  ") + text)
        if not ok:
            self.list.append(text)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--padding", action="store_true")
    p.add_argument("--keep", metavar="DIR")
    args = p.parse_args()
    os.chdir(HERE)
    work = args.keep or tempfile.mkdtemp(prefix="ctnn-converter-")
    os.makedirs(work, exist_ok=True)
    f = Failures()
    try:
        runs = []  # (namespace, directory, weights, load function, sample or None)
        for name, shape, pad in CONVERTED:
            if pad != args.padding:
                continue
            samples = {}
            for path in ("torch", "onnx"):
                d = os.path.join(work, f"{path}_{name}")
                os.makedirs(d, exist_ok=True)
                if path == "torch":
                    src, extra = f"{MODELS}:{name}", ["--input-shape", shape]
                else:
                    src, extra = os.path.join(d, f"{name}.onnx"), []
                    export_onnx(getattr(models, name)(), shape, src)
                status, text = run([src, "--out", d, "--namespace", f"{path}_{name}"] + extra)
                f.check(status == 0, f"{path} {name}: converted" + ("" if status == 0 else
                                                                    f": {text.strip()}"))
                if status == 0:
                    samples[path] = np.load(os.path.join(d, "Net.sample.npz"))
                    runs.append((f"{path}_{name}", d, os.path.join(d, "Net.safetensors"),
                                 "load_safetensors", samples[path]))
            if len(samples) == 2:
                t, o = samples["torch"], samples["onnx"]
                same_in = np.array_equal(t["inputs"], o["inputs"])
                diff = float(np.max(np.abs(t["outputs"] - o["outputs"]))) if same_in else -1
                f.check(same_in and diff < 1e-6, f"{name}: the ONNX evaluator's outputs equal "
                        f"PyTorch's (max difference {diff:.2g})")
        if not args.padding:
            for net in ("cnn", "rnn", "resnet"):
                for ext, load in (("ctnn", "load"), ("safetensors", "load_safetensors")):
                    d = os.path.join(work, f"sig_{net}_{ext}")
                    os.makedirs(d, exist_ok=True)
                    src = os.path.join(ROOT, "tests", "data", "files", f"{net}.{ext}")
                    status, text = run([src, "--out", d, "--namespace", f"sig_{net}_{ext}"])
                    f.check(status == 0, f"signature of {net}.{ext}: header written" +
                            ("" if status == 0 else f": {text.strip()}"))
                    runs.append((f"sig_{net}_{ext}", d, src, load, None))
        shared_program(work, runs, f)
        if not args.padding:
            d = os.path.join(work, "check")
            os.makedirs(d, exist_ok=True)
            status, text = run([f"{MODELS}:lstm", "--out", d, "--input-shape", "7,5", "--check",
                                "--name", "Lstm"])
            f.check(status == 0 and "check: max |ctnn - source|" in text,
                    f"--check: {text.strip().splitlines()[-1] if text.strip() else ''}")
            refusals(work, f)
            metadata(work, f)
            state_dict(work, f)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print(f"{len(f.list)} failed" if f.list else "all passed")
    return 1 if f.list else 0


def shared_program(work, runs, f):
    """One program for all converted headers: each network loads its file and, with a sample,
    runs the sample's inputs; the outputs are compared here."""
    if not runs:
        return
    src = ["#include <cstdio>", "#include <cstdlib>", "#include <fstream>", "#include <memory>",
           "#include <string>", "#include <vector>"]
    for ns, d, *_ in runs:
        src.append(f'#include "{os.path.join(d, "Net.hpp")}"')
    src.append(r"""
template <class Net, bool Safetensors>
int run(const char* weights, const char* in_path, std::size_t n, const char* out_path) {
  auto net = std::make_unique<Net>(ctnn::uninitialized);
  try {
    if constexpr (Safetensors)
      ctnn::load_safetensors(*net, weights);
    else
      ctnn::load(*net, weights);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
  if (n == 0) return 0;
  std::vector<float> in(n * Net::input_shape::size), out(n * Net::output_shape::size);
  std::ifstream(in_path, std::ios::binary)
      .read(reinterpret_cast<char*>(in.data()), std::streamsize(in.size() * sizeof(float)));
  ctnn::Workspace<Net> ws(n, ctnn::inference_only);
  net->predict(in.data(), out.data(), n, ws);
  std::ofstream(out_path, std::ios::binary)
      .write(reinterpret_cast<const char*>(out.data()), std::streamsize(out.size() * 4));
  return 0;
}

int main(int argc, char** argv) {
  if (argc != 6) return 64;
  const std::string which = argv[1];
  const std::size_t n = std::strtoul(argv[4], nullptr, 10);""")
    for ns, d, weights, load, sample in runs:
        st = "true" if load == "load_safetensors" else "false"
        src.append(f'  if (which == "{ns}") return run<{ns}::Net, {st}>(argv[2], argv[3], n, '
                   'argv[5]);')
    src.append("  return 2;\n}\n")
    exe = os.path.join(work, "converted")
    import time
    t0 = time.time()
    try:
        check.compile_program("\n".join(src), exe, [check.repo_include()])
    except RuntimeError as e:
        f.check(False, f"the converted headers compile: {e}")
        return
    f.check(True, f"{len(runs)} converted headers compile in one program "
            f"({time.time() - t0:.0f} s)")
    for ns, d, weights, load, sample in runs:
        x, y = os.path.join(work, ns + ".in"), os.path.join(work, ns + ".out")
        n = 0
        if sample is not None:
            n = sample["inputs"].shape[0]
            np.ascontiguousarray(sample["inputs"], dtype="<f4").tofile(x)
        r = subprocess.run([exe, ns, weights, x, str(n), y], capture_output=True)
        if r.returncode != 0:
            f.check(False, f"{ns}: {r.stderr.decode(errors='replace').strip()}")
            continue
        if sample is None:
            f.check(True, f"{ns}: {os.path.basename(weights)} loads into the header's type")
            continue
        got = np.fromfile(y, dtype="<f4").astype(np.float64)
        want = sample["outputs"].reshape(-1)
        diff = float(np.max(np.abs(got - want))) if got.size == want.size else float("inf")
        tol = check.tolerance(want)
        f.check(diff <= tol, f"{ns}: max |ctnn - PyTorch| = {diff:.2g} (tolerance {tol:.2g})")


def refusals(work, f):
    for name, shape, message in TORCH_REFUSED:
        d = os.path.join(work, f"refused_{name}")
        os.makedirs(d, exist_ok=True)
        status, text = run([f"{MODELS}:{name}", "--out", d, "--input-shape", shape])
        f.check(status == 2 and message in text and not os.listdir(d),
                f"refused {name}: {text.strip()}" + ("" if message in text else
                                                     f" (expected '{message}')"))
    # ONNX: operators and attributes without an exact ctnn equivalent.
    F = torch.nn.functional
    cases = [
        ("onnx_leaky", torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.LeakyReLU()),
         "(LeakyRelu): no ctnn layer for this operator"),
        ("onnx_ceil", torch.nn.Sequential(torch.nn.MaxPool2d(2, ceil_mode=True)),
         "(MaxPool): ceil_mode=1"),
        ("onnx_reflect", _Lambda(lambda x: F.pad(x, (1, 1, 1, 1), mode="reflect")),
         "(Pad): mode 'reflect'"),
        ("onnx_pad_value", _Lambda(lambda x: F.pad(x, (1, 1, 1, 1), value=1.0)),
         "only constant zero pads"),
        ("onnx_pad_maxpool", _Lambda(lambda x: F.max_pool2d(F.pad(x, (1, 1, 1, 1)), 2)),
         "zero pads before a max pooling"),
        ("onnx_dilated", torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3, dilation=2)),
         "(Conv): dilations"),
    ]
    for name, model, message in cases:
        d = os.path.join(work, name)
        os.makedirs(d, exist_ok=True)
        src = os.path.join(work, name + ".onnx")
        export_onnx(model.eval(), "1,8,8", src)
        status, text = run([src, "--out", d])
        f.check(status == 2 and message in text and not os.listdir(d),
                f"refused {name}: {text.strip()}" + ("" if message in text else
                                                     f" (expected '{message}')"))
    d = os.path.join(work, "refused_custom")
    os.makedirs(d, exist_ok=True)
    sig_file = os.path.join(work, "custom.safetensors")
    header = json.dumps({"__metadata__": {"ctnn_signature": "Input Vector<4>\n1 ChannelScale<4> "
                                          "Vector<4> -> Vector<4> 4\n"}}).encode()
    header += b" " * (-len(header) % 8)
    with open(sig_file, "wb") as out:
        out.write(struct.pack("<Q", len(header)) + header)
    status, text = run([sig_file, "--out", d])
    f.check(status == 2 and "ChannelScale<4>" in text and not os.listdir(d),
            f"refused a layer outside the library: {text.strip()}")
    status, text = run([f"{MODELS}:not_a_module", "--out", d, "--input-shape", "4"])
    f.check(status == 1 and "not an nn.Module" in text, f"not a module: {text.strip()}")
    # A FIFO or a directory as the source is refused before it is opened (a FIFO would block),
    # and an --out directory that does not exist is made only when there is something to write.
    fifo = os.path.join(work, "fifo.onnx")
    os.mkfifo(fifo)
    missing = os.path.join(work, "not_made")
    status, text = run([fifo, "--out", missing])
    f.check(status == 1 and "is a FIFO, not a regular file" in text and
            not os.path.exists(missing), f"a FIFO as the source: {text.strip()}")
    source_dir = os.path.join(work, "dir.onnx")
    os.makedirs(source_dir, exist_ok=True)
    status, text = run([source_dir, "--out", missing])
    f.check(status == 1 and "is a directory, not a regular file" in text and
            not os.path.exists(missing), f"a directory as the source: {text.strip()}")
    status, text = run([f"{MODELS}:twice", "--out", missing, "--input-shape", "4"])
    f.check(status == 2 and not os.path.exists(missing),
            f"a refusal makes no --out directory: {text.strip()}")


class _Lambda(torch.nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, x):
        return self.fn(x)


def metadata(work, f):
    d = os.path.join(work, "metadata")
    os.makedirs(d, exist_ok=True)
    names = os.path.join(d, "classes.txt")
    with open(names, "w") as out:
        out.write("cat\ndog\nbird\nfish\nfrog\n")
    status, text = run([f"{MODELS}:concat", "--out", d, "--input-shape", "3,8,8", "--classes",
                        names, "--mean", "0.5,0.25,0.125", "--std", "0.2", "--invert"])
    with open(os.path.join(d, "Net.safetensors"), "rb") as fh:
        (n,) = struct.unpack("<Q", fh.read(8))
        meta = json.loads(fh.read(n))["__metadata__"]
    pre = json.loads(meta.get("ctnn_preprocessing", "{}"))
    f.check(status == 0 and json.loads(meta.get("ctnn_class_names", "[]")) ==
            ["cat", "dog", "bird", "fish", "frog"] and pre == {
                "channels": 3, "height": 8, "width": 8, "scale": 1 / 255,
                "mean": [0.5, 0.25, 0.125], "std": [0.2, 0.2, 0.2], "invert": True} and
            meta.get("source") == "models.py:concat",
            f"metadata: {meta}")
    status, text = run([f"{MODELS}:concat", "--out", d, "--input-shape", "3,8,8", "--mean",
                        "1,2"])
    f.check(status == 1 and "2 values for 3 channels" in text, f"bad --mean: {text.strip()}")


def read_tensor(path, name):
    with open(path, "rb") as fh:
        (n,) = struct.unpack("<Q", fh.read(8))
        entry = json.loads(fh.read(n))[name]
        begin, end = entry["data_offsets"]
        fh.seek(8 + n + begin)
        return np.frombuffer(fh.read(end - begin), "<f4").reshape(entry["shape"])


def state_dict(work, f):
    """--state-dict replaces the module's own weights; one that does not fit is an error."""
    d = os.path.join(work, "state_dict")
    os.makedirs(d, exist_ok=True)
    sd = {k: v * 0.5 for k, v in models.lstm().state_dict().items()}
    torch.save(sd, os.path.join(d, "lstm.pt"))
    status, text = run([f"{MODELS}:lstm", "--out", d, "--input-shape", "7,5", "--state-dict",
                        os.path.join(d, "lstm.pt")])
    got = read_tensor(os.path.join(d, "Net.safetensors"), "0.weight_hh_l0") if status == 0 \
        else None
    f.check(got is not None and np.array_equal(got, sd["rnn.weight_hh_l0"].numpy()),
            "--state-dict: its weights are converted")
    torch.save({"fc.weight": torch.zeros(3, 8)}, os.path.join(d, "bad.pt"))
    status, text = run([f"{MODELS}:lstm", "--out", d, "--input-shape", "7,5", "--state-dict",
                        os.path.join(d, "bad.pt")])
    f.check(status == 1 and "does not fit the module" in text, f"bad --state-dict: "
            f"{text.strip()[:200]}")


if __name__ == "__main__":
    sys.exit(main())
