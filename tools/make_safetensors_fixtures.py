#!/usr/bin/python3
"""Write PyTorch weights as safetensors files, with golden logits, for ctnn's safetensors tests.

Run from the repository root with Debian's torch (package python3-torch):

    /usr/bin/python3 tools/make_safetensors_fixtures.py [--out tests/data/safetensors]
    /usr/bin/python3 tools/make_safetensors_fixtures.py --reverse FILE [--net NAME] [--logits TXT]

The first form builds each network below in PyTorch (seeded, PyTorch's default
initialisation, then --steps SGD steps on the Fashion-MNIST training set for the
three example networks), and writes per network

  * <out>/<net>.safetensors: the state_dict under ctnn's layer indices (see
    KEY_RENAMES) with metadata {"format": "pt"};
  * <out>/<net>_logits.txt: the inputs and the model's logits in eval mode, one
    tensor per line, "name dim0 dim1 ... : v0 v1 ..." ('%.9g' floats, '#' lines
    are comments), as read by tests/fixtures.hpp.

The example networks (cnn, lstm, crnn; examples/networks.hpp) take the first 64
Fashion-MNIST test images: their files hold `pixels` [64, 28, 28], the raw bytes
0..255, and the input is pixels / 255 in float32. The small networks
(bn_flatten, birnn, res_small, concat_small and the *_flatten networks of
FLATTEN_NETS; defined in tests/test_safetensors.cpp) hold `x` directly, in
ctnn's layout (channels-last for images). Every file holds `logits` [B, classes].
Each safetensors file written is read back and loaded into a new model with
strict=True, which must give the same logits. --nets writes only the networks
named.

The second form is the reverse direction: it reads a safetensors file written by
ctnn's save_safetensors(), loads it (strict) into the PyTorch model, recomputes
the logits of the inputs in --logits and compares them (1e-5 absolute). The
network is --net, or the file name's stem (cnn.safetensors -> cnn).

The safetensors format (https://github.com/huggingface/safetensors) is written
and read here with struct and json, as torch 1.13 has no safetensors package.
"""

import argparse
import gzip
import json
import os
import struct
import sys

import numpy as np
import torch
import torch.nn as nn

IMAGES = 64
TOLERANCE = 1e-5


class Rows(nn.Module):
    """An LSTM over the image rows (28 steps of 28 features), then a Linear: ctnn layers 0, 1."""

    def __init__(self):
        super().__init__()
        self.add_module("0", nn.LSTM(28, 128, batch_first=True))
        self.add_module("1", nn.Linear(128, 10))

    def forward(self, x):  # x [B, 28, 28]
        out, _ = getattr(self, "0")(x)
        return getattr(self, "1")(out[:, -1])


class Crnn(nn.Module):
    """Conv2d, ReLU, MaxPool2d, LSTM over the 13 rows of the 13x13x32 map, Linear: ctnn 0..4.

    ctnn reads an Image<13,13,32> as 13 steps of 13*32 features with channels innermost, so
    the NCHW map is permuted to NHWC before the reshape.
    """

    def __init__(self):
        super().__init__()
        self.add_module("0", nn.Conv2d(1, 32, 3))
        self.add_module("1", nn.ReLU())
        self.add_module("2", nn.MaxPool2d(2))
        self.add_module("3", nn.LSTM(416, 256, batch_first=True))
        self.add_module("4", nn.Linear(256, 10))

    def forward(self, x):  # x [B, 28, 28]
        m = [getattr(self, str(i)) for i in range(5)]
        h = m[2](m[1](m[0](x.unsqueeze(1))))  # [B, 32, 13, 13]
        h = h.permute(0, 2, 3, 1).reshape(x.shape[0], 13, 13 * 32)
        out, _ = m[3](h)
        return m[4](out[:, -1])


class Cnn(nn.Module):
    """The Keras-style CNN as an nn.Sequential; its nn.Flatten (index 8) has no ctnn layer."""

    def __init__(self):
        super().__init__()
        self.seq = nn.Sequential(
            nn.Conv2d(1, 32, 3), nn.ReLU(),
            nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(64, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(1600, 128), nn.ReLU(), nn.Linear(128, 10))

    def forward(self, x):  # x [B, 28, 28]
        return self.seq(x.unsqueeze(1))


class BnFlatten(nn.Module):
    """Conv2d, BatchNorm2d, ReLU, Flatten, BatchNorm1d, Linear: ctnn indices 0..5 as they are."""

    def __init__(self):
        super().__init__()
        self.seq = nn.Sequential(nn.Conv2d(2, 3, 3), nn.BatchNorm2d(3), nn.ReLU(), nn.Flatten(),
                                 nn.BatchNorm1d(108), nn.Linear(108, 5))

    def forward(self, x):  # x [B, 8, 8, 2], channels-last as ctnn stores it
        return self.seq(x.permute(0, 3, 1, 2))


class BiRnn(nn.Module):
    """Bidirectional GRU (every step), tanh RNN (last step), Linear: ctnn indices 0, 1, 2."""

    def __init__(self):
        super().__init__()
        self.add_module("0", nn.GRU(4, 5, batch_first=True, bidirectional=True))
        self.add_module("1", nn.RNN(10, 4, batch_first=True))
        self.add_module("2", nn.Linear(4, 3))

    def forward(self, x):  # x [B, 6, 4]
        h, _ = getattr(self, "0")(x)
        h, _ = getattr(self, "1")(h)
        return getattr(self, "2")(h[:, -1])


class Conv2dSame(nn.Conv2d):
    """nn.Conv2d with ctnn's (TensorFlow's) "same" padding: out = ceil(in / stride), the extra
    row and column of padding at the bottom and right. Same parameters as nn.Conv2d."""

    def forward(self, x):
        k, s = self.kernel_size[0], self.stride[0]
        pads = []
        for size in (x.shape[3], x.shape[2]):  # F.pad takes the last dimension first
            total = max((-(-size // s) - 1) * s + k - size, 0)
            pads += [total // 2, total - total // 2]
        return nn.functional.conv2d(nn.functional.pad(x, pads), self.weight, self.bias, s)


class Residual(nn.Module):
    """ctnn::Residual<Main, Shortcut>: main(x) + shortcut(x); nn.Identity without a shortcut."""

    def __init__(self, main, shortcut=None):
        super().__init__()
        self.main = main
        self.shortcut = shortcut if shortcut is not None else nn.Identity()

    def forward(self, x):
        return self.main(x) + self.shortcut(x)


class Concat(nn.Module):
    """ctnn::Concat<Branches...>: the branches' outputs joined along channels (dim 1)."""

    def __init__(self, *branches):
        super().__init__()
        self.branches = nn.ModuleList(branches)

    def forward(self, x):
        return torch.cat([b(x) for b in self.branches], dim=1)


class GlobalAvgPool2d(nn.Module):
    """ctnn::GlobalAvgPool2D: the mean of each channel, [B, C, H, W] -> [B, C]."""

    def forward(self, x):
        return x.mean(dim=(2, 3))


class ResSmall(nn.Module):
    """A small ResNet with an identity and a projection shortcut (ResSmall in
    tests/test_safetensors.cpp); ctnn's layer indices are nn.Sequential's."""

    def __init__(self):
        super().__init__()
        self.seq = nn.Sequential(
            Conv2dSame(2, 4, 3), nn.BatchNorm2d(4), nn.ReLU(),
            Residual(nn.Sequential(Conv2dSame(4, 4, 3), nn.BatchNorm2d(4), nn.ReLU(),
                                   Conv2dSame(4, 4, 3), nn.BatchNorm2d(4))),
            nn.ReLU(),
            Residual(nn.Sequential(Conv2dSame(4, 6, 3, stride=2), nn.BatchNorm2d(6), nn.ReLU(),
                                   Conv2dSame(6, 6, 3), nn.BatchNorm2d(6)),
                     nn.Sequential(nn.Conv2d(4, 6, 1, stride=2), nn.BatchNorm2d(6))),
            nn.ReLU(), GlobalAvgPool2d(), nn.Linear(6, 3))

    def forward(self, x):  # x [B, 8, 8, 2], channels-last as ctnn stores it
        return self.seq(x.permute(0, 3, 1, 2))


class ConcatSmall(nn.Module):
    """Inception-style branches joined along channels, then Flatten and Linear (ConcatSmall in
    tests/test_safetensors.cpp)."""

    def __init__(self):
        super().__init__()
        self.seq = nn.Sequential(
            Concat(nn.Conv2d(2, 3, 1), nn.Sequential(nn.Conv2d(2, 2, 1), nn.ReLU(),
                                                     Conv2dSame(2, 4, 3)), nn.Identity()),
            nn.ReLU(), nn.Flatten(), nn.Linear(6 * 6 * 9, 4))

    def forward(self, x):  # x [B, 6, 6, 2]
        return self.seq(x.permute(0, 3, 1, 2))


class ImageSeq(nn.Module):
    """The modules as an nn.Sequential `seq` (ctnn's layer indices) on a channels-last image."""

    def __init__(self, *modules):
        super().__init__()
        self.seq = nn.Sequential(*modules)

    def forward(self, x):  # x [B, H, W, C], channels-last as ctnn stores it
        return self.seq(x.permute(0, 3, 1, 2))


# Flatten as the last part of a composite, then Linear, or BatchNorm1d and Linear (the networks
# of the same names in tests/test_safetensors.cpp; input [B, 4, 3, 2]): the Linear and the
# BatchNorm1d read the flattened images in PyTorch's (c, h, w) order.
def chain_flatten(bn=False):
    return ImageSeq(nn.Conv2d(2, 3, 2), nn.Sequential(nn.ReLU(), nn.Flatten()),
                    *([nn.BatchNorm1d(18)] if bn else []), nn.Linear(18, 5))


def residual_flatten(bn=False):
    return ImageSeq(nn.Conv2d(2, 3, 1),
                    Residual(nn.Sequential(Conv2dSame(3, 3, 3), nn.Flatten()), nn.Flatten()),
                    *([nn.BatchNorm1d(36)] if bn else []), nn.Linear(36, 5))


def concat_flatten(bn=False):
    """Branches: a flattened 3x2x3 map, a channel mean (no image order), the flattened input."""
    return ImageSeq(Concat(nn.Sequential(nn.Conv2d(2, 3, 2), nn.Flatten()), GlobalAvgPool2d(),
                           nn.Flatten()),
                    *([nn.BatchNorm1d(44)] if bn else []), nn.Linear(44, 5))


def nested_flatten():
    return ImageSeq(nn.Sequential(nn.Conv2d(2, 3, 2),
                                  nn.Sequential(nn.ReLU(), nn.Sequential(nn.Flatten())),
                                  nn.BatchNorm1d(18)),
                    nn.Linear(18, 5))


# name -> (module class, seed, description, input: "fashion" or the shape of x)
NETS = {
    "cnn": (Cnn, 2001, "examples::FashionCnn", "fashion"),
    "lstm": (Rows, 2002, "examples::FashionLstm", "fashion"),
    "crnn": (Crnn, 2003, "examples::FashionCrnn", "fashion"),
    "bn_flatten": (BnFlatten, 2004, "BnFlatten in tests/test_safetensors.cpp", (8, 8, 8, 2)),
    "birnn": (BiRnn, 2005, "BiRnn in tests/test_safetensors.cpp", (8, 6, 4)),
    "res_small": (ResSmall, 2006, "ResSmall in tests/test_safetensors.cpp", (8, 8, 8, 2)),
    "concat_small": (ConcatSmall, 2007, "ConcatSmall in tests/test_safetensors.cpp", (8, 6, 6, 2)),
    "chain_flatten": (chain_flatten, 2008, "ChainFlatten in tests/test_safetensors.cpp",
                      (8, 4, 3, 2)),
    "chain_flatten_bn": (lambda: chain_flatten(bn=True), 2009,
                         "ChainFlattenBn in tests/test_safetensors.cpp", (8, 4, 3, 2)),
    "residual_flatten": (residual_flatten, 2010, "ResidualFlatten in tests/test_safetensors.cpp",
                         (8, 4, 3, 2)),
    "residual_flatten_bn": (lambda: residual_flatten(bn=True), 2011,
                            "ResidualFlattenBn in tests/test_safetensors.cpp", (8, 4, 3, 2)),
    "concat_flatten": (concat_flatten, 2012, "ConcatFlatten in tests/test_safetensors.cpp",
                       (8, 4, 3, 2)),
    "concat_flatten_bn": (lambda: concat_flatten(bn=True), 2013,
                          "ConcatFlattenBn in tests/test_safetensors.cpp", (8, 4, 3, 2)),
    "nested_flatten": (nested_flatten, 2014, "NestedFlatten in tests/test_safetensors.cpp",
                       (8, 4, 3, 2)),
}
FLATTEN_NETS = ["chain_flatten", "chain_flatten_bn", "residual_flatten", "residual_flatten_bn",
                "concat_flatten", "concat_flatten_bn", "nested_flatten"]

# PyTorch state_dict prefix -> ctnn layer index, where they differ.
KEY_RENAMES = {
    "cnn": {"seq.0.": "0.", "seq.2.": "2.", "seq.5.": "5.", "seq.9.": "8.", "seq.11.": "10."},
    "bn_flatten": {"seq.": ""},
    "res_small": {"seq.": ""},
    "concat_small": {"seq.": ""},
    **{net: {"seq.": ""} for net in FLATTEN_NETS},
}


def to_ctnn_names(net, state):
    out = {}
    for key, t in state.items():
        name = key
        for old, new in KEY_RENAMES.get(net, {}).items():
            if key.startswith(old):
                name = new + key[len(old):]
                break
        out[name] = t
    return out


def to_torch_names(net, tensors):
    back = {new: old for old, new in KEY_RENAMES.get(net, {}).items()}
    out = {}
    for name, t in tensors.items():
        key = name
        for new, old in sorted(back.items(), key=lambda kv: -len(kv[0])):
            if name.startswith(new):
                key = old + name[len(new):]
                break
        out[key] = t
    return out


DTYPES = {np.dtype("<f4"): "F32", np.dtype("<i8"): "I64"}
FROM_DTYPE = {"F32": "<f4", "I64": "<i8"}


def write_safetensors(path, tensors, metadata):
    header = {"__metadata__": metadata}
    blobs, at = [], 0
    for name, t in tensors.items():
        a = t.detach().cpu().numpy()
        a = a.astype(a.dtype.newbyteorder("<"), order="C")
        header[name] = {"dtype": DTYPES[a.dtype], "shape": list(a.shape),
                        "data_offsets": [at, at + a.nbytes]}
        blobs.append(a.tobytes())
        at += a.nbytes
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    metadata = header.pop("__metadata__", {})
    buf = data[8 + n:]
    tensors = {}
    for name, e in header.items():
        begin, end = e["data_offsets"]
        a = np.frombuffer(buf[begin:end], dtype=FROM_DTYPE[e["dtype"]]).reshape(e["shape"])
        tensors[name] = torch.from_numpy(a.copy())
    return tensors, metadata


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic, count = struct.unpack(">II", data[:8])
    dims = struct.unpack(">" + "I" * (magic & 0xFF), data[4:4 + 4 * (magic & 0xFF)])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * len(dims)).reshape(dims).copy()


def train(model, images, labels, steps, seed):
    """steps of SGD (batch 64, lr 0.05, momentum 0.9) on the training images, seeded."""
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    model.train()
    for _ in range(steps):
        idx = torch.randint(0, images.shape[0], (64,), generator=g)
        loss = nn.functional.cross_entropy(model(images[idx]), labels[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return float(loss)


def build(net, args, fashion):
    """The seeded, initialised (and for the example networks trained) model and its input."""
    cls, seed, _, source = NETS[net]
    torch.manual_seed(seed)
    model = cls()
    note = "PyTorch's default initialisation"
    if source == "fashion":
        if args.steps > 0:
            train_x, train_y = fashion["train"]
            loss = train(model, train_x, train_y, args.steps, seed)
            note += ", then %d SGD steps on Fashion-MNIST (batch 64, lr 0.05, momentum 0.9; " \
                    "last batch loss %.3f)" % (args.steps, loss)
        pixels = fashion["test"][:IMAGES]
        return model, note, {"pixels": pixels}, torch.from_numpy(pixels).float() / 255
    x = torch.empty(source).uniform_(-1.0, 1.0)
    # Random gammas and betas, then running statistics from a few training-mode batches.
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if norms:
        for m in norms:
            nn.init.uniform_(m.weight, 0.5, 1.5)
            nn.init.uniform_(m.bias, -0.5, 0.5)
        note = "PyTorch's default initialisation, BatchNorm gamma U[0.5,1.5], beta " \
               "U[-0.5,0.5], running statistics from 3 training-mode batches of 2*x+0.5"
        model.train()
        with torch.no_grad():
            for _ in range(3):
                model(2 * x + 0.5)
    return model, note, {"x": x.numpy()}, x


def format_tensor(name, a):
    head = " ".join([name] + [str(d) for d in a.shape])
    fmt = "%d" if a.dtype == np.uint8 else "%.9g"
    return "%s : %s\n" % (head, " ".join(fmt % v for v in a.reshape(-1)))


def parse_fixture(path):
    tensors = {}
    with open(path) as f:
        for line in f:
            if not line.strip() or line.startswith("#"):
                continue
            head, _, vals = line.rstrip("\n").partition(" : ")
            fields = head.split(" ")
            shape = tuple(int(d) for d in fields[1:])
            tensors[fields[0]] = np.array(vals.split(" "), dtype=np.float32).reshape(shape)
    return tensors


def logits_of(model, x):
    model.eval()
    with torch.no_grad():
        return model(x).numpy()


def load_fashion(args):
    d = args.data
    return {
        "train": (torch.from_numpy(read_idx(os.path.join(d, "train-images-idx3-ubyte.gz"))
                                   .astype(np.float32) / 255),
                  torch.from_numpy(read_idx(os.path.join(d, "train-labels-idx1-ubyte.gz"))
                                   .astype(np.int64))),
        "test": read_idx(os.path.join(d, "t10k-images-idx3-ubyte.gz")),
    }


def write_all(args):
    os.makedirs(args.out, exist_ok=True)
    fashion = load_fashion(args)
    for net in args.nets:
        model, note, inputs, x = build(net, args, fashion)
        logits = logits_of(model, x)
        st_path = os.path.join(args.out, net + ".safetensors")
        write_safetensors(st_path, to_ctnn_names(net, model.state_dict()), {"format": "pt"})
        txt_path = os.path.join(args.out, net + "_logits.txt")
        with open(txt_path, "w") as f:
            f.write("# torch %s; %s; seed %d; %s; float32, eval mode\n"
                    % (torch.__version__, NETS[net][2], NETS[net][1], note))
            if "pixels" in inputs:
                f.write("# pixels: the first %d Fashion-MNIST test images as bytes 0..255; the "
                        "network's input is pixels / 255 (float32)\n" % IMAGES)
            for name, a in inputs.items():
                f.write(format_tensor(name, a))
            f.write(format_tensor("logits", logits))
        check_strict_load(net, st_path, x, logits)
        print("wrote %s (%d bytes) and %s (%d bytes)"
              % (st_path, os.path.getsize(st_path), txt_path, os.path.getsize(txt_path)))


def load_into_model(net, path):
    """A new model of `net` with the tensors of the safetensors file `path` (ctnn's names), loaded
    with strict=True: every key of the model is in the file and the file has no other."""
    tensors, metadata = read_safetensors(path)
    model = NETS[net][0]()
    state = to_torch_names(net, tensors)
    for key, t in model.state_dict().items():  # keep the dtypes of the module's own tensors
        if key in state:
            state[key] = state[key].to(t.dtype)
    model.load_state_dict(state, strict=True)
    return model, metadata


def check_strict_load(net, path, x, logits):
    """The file just written loads (strict) into a new model that gives the same logits: the
    file that ctnn's save_safetensors() must reproduce byte for byte is one PyTorch reads."""
    model, _ = load_into_model(net, path)
    if not np.array_equal(logits_of(model, x), logits):
        sys.exit("%s: the model loaded from %s gives other logits" % (net, path))


def reverse(args):
    net = args.net or os.path.basename(args.reverse).split(".")[0]
    if net not in NETS:
        sys.exit("unknown network %r: pass --net (one of %s)" % (net, ", ".join(NETS)))
    logits_path = args.logits or os.path.join(args.out, net + "_logits.txt")
    model, metadata = load_into_model(net, args.reverse)
    print("%s: metadata format=%r, ctnn_signature %s" % (
        args.reverse, metadata.get("format"),
        "present (%d layers)" % (metadata["ctnn_signature"].count("\n") - 1)
        if "ctnn_signature" in metadata else "absent"))
    fixture = parse_fixture(logits_path)
    if "pixels" in fixture:
        x = torch.from_numpy(fixture["pixels"].astype(np.uint8)).float() / 255
    else:
        x = torch.from_numpy(fixture["x"].astype(np.float32))
    got = logits_of(model, x)
    diff = float(np.abs(got.astype(np.float64) - fixture["logits"]).max())
    ok = diff <= TOLERANCE
    print("%s %s: logits of %d inputs, largest absolute difference %.3g (tolerance %g)"
          % ("ok  " if ok else "FAIL", net, x.shape[0], diff, TOLERANCE))
    return 0 if ok else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="tests/data/safetensors", help="fixture directory")
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist",
                    help="directory of the Fashion-MNIST .gz files")
    ap.add_argument("--steps", type=int, default=300,
                    help="SGD steps for the example networks (0: untrained)")
    ap.add_argument("--nets", nargs="+", default=list(NETS), choices=list(NETS))
    ap.add_argument("--reverse", metavar="FILE",
                    help="check a ctnn-written safetensors file against the logits instead")
    ap.add_argument("--net", choices=list(NETS), help="network of --reverse FILE")
    ap.add_argument("--logits", help="fixture with the inputs and logits for --reverse")
    args = ap.parse_args()
    torch.set_num_threads(1)
    if args.reverse:
        return reverse(args)
    write_all(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
