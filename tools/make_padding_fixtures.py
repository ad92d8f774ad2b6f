#!/usr/bin/python3
"""Write golden PyTorch outputs and gradients for ctnn's explicitly padded layers.

Run from the repository root with Debian's torch (package python3-torch):

    /usr/bin/python3 tools/make_padding_fixtures.py [--out tests/data/padding]
    /usr/bin/python3 tools/make_padding_fixtures.py --check [--out tests/data/padding]

The first form (re)writes the files below; the second writes nothing, recomputes every
case and checks that the files on disk hold the same tensors (1e-6 relative), exiting
non-zero otherwise.

Layer cases, <out>/<case>.txt (format of tests/fixtures.hpp: one tensor per line,
"name dim0 dim1 ... : v0 v1 ...", '%.9g' floats, '#' lines are comments): a single
nn.Conv2d, nn.MaxPool2d or nn.AvgPool2d (see CASES) in float32, with
  * weight [F, C, K, K] and bias [F] (convolutions; uniform in [-0.5, 0.5]);
  * x, the input, in ctnn's channels-last layout [B, H, W, C] (uniform in [-1, 1]);
  * output [B, OH, OW, F] (channels-last), r of the same shape (uniform in [-1, 1]);
  * grad.x, grad.weight, grad.bias: the gradients of loss = (output * r).sum().
The asymmetric case pads with nn.functional.pad (left, right, top, bottom) = (1, 0, 0, 1)
and convolves without padding, as ONNX's pads (0, 1, 1, 0) state it.

Training step, the torchvision stem and a BasicBlock with stride 2 (ResNetStep in
tests/test_padding.cpp):
  * <out>/resnet_step_before.safetensors: the state_dict (random BatchNorm weights,
    running statistics and biases) under ctnn's names;
  * <out>/resnet_step_after.safetensors: the same after one torch.optim.SGD step
    (lr 0.05) on loss = (output * r).sum() in training mode (batch statistics,
    running statistics updated with momentum 0.1);
  * <out>/resnet_step.txt: x [B, 20, 20, 3], r, train_output (the training-mode output
    before the step) and eval_output (the eval-mode output after it), channels-last.
"""

import argparse
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_safetensors_fixtures import (  # noqa: E402
    Residual,
    format_tensor,
    parse_fixture,
    read_safetensors,
    write_safetensors,
)

REL_TOL = 1e-6
LEARNING_RATE = 0.05


class AsymmetricConv(nn.Conv2d):
    """nn.Conv2d after nn.functional.pad with (left, right, top, bottom) = `pads`."""

    def __init__(self, *args, pads, **kwargs):
        super().__init__(*args, **kwargs)
        self.pads = pads

    def forward(self, x):
        return super().forward(F.pad(x, self.pads))


# name -> (seed, module factory, input shape [B, H, W, C])
CASES = {
    "conv_k3_s2_p1_even": (2001, lambda: nn.Conv2d(3, 5, 3, stride=2, padding=1), (2, 8, 8, 3)),
    "conv_k3_s2_p1_odd": (2002, lambda: nn.Conv2d(3, 5, 3, stride=2, padding=1), (2, 7, 7, 3)),
    "conv_k3_p1x2": (2003, lambda: nn.Conv2d(3, 4, 3, padding=(1, 2)), (2, 6, 5, 3)),
    "conv_k3_s2_asym": (
        2004,
        lambda: AsymmetricConv(3, 4, 3, stride=2, pads=(1, 0, 0, 1)),
        (2, 6, 7, 3),
    ),
    "conv_k1_s2_p0": (2005, lambda: nn.Conv2d(3, 6, 1, stride=2, padding=0), (2, 7, 7, 3)),
    "conv_k7_s2_p3": (2006, lambda: nn.Conv2d(3, 8, 7, stride=2, padding=3), (2, 12, 11, 3)),
    "maxpool_k3_s2_p1": (2007, lambda: nn.MaxPool2d(3, 2, padding=1), (2, 8, 7, 11)),
    "avgpool_k3_s1_p1": (2008, lambda: nn.AvgPool2d(3, 1, padding=1), (2, 6, 5, 11)),
}


def layer_case(seed, factory, x_shape):
    """Return an ordered list of (name, float32 numpy array)."""
    torch.manual_seed(seed)
    module = factory()
    for p in module.parameters():
        with torch.no_grad():
            p.uniform_(-0.5, 0.5)
    x = (torch.rand(x_shape) * 2 - 1).requires_grad_(True)
    out = module(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)
    r = torch.rand(out.shape) * 2 - 1
    (out * r).sum().backward()
    tensors = [(n, p.detach()) for n, p in module.named_parameters()]
    tensors += [("x", x.detach()), ("output", out.detach()), ("r", r), ("grad.x", x.grad)]
    tensors += [("grad." + n, p.grad) for n, p in module.named_parameters()]
    return [(n, t.contiguous().numpy().astype(np.float32)) for n, t in tensors]


def resnet_step_model():
    """ctnn's ResNetStep: Conv 7x7/2 pad 3, BatchNorm, ReLU, MaxPool 3/2 pad 1, a BasicBlock
    with stride 2 (3x3 convolutions with padding 1, a 1x1/2 projection), ReLU."""
    return nn.Sequential(
        nn.Conv2d(3, 8, 7, stride=2, padding=3), nn.BatchNorm2d(8), nn.ReLU(),
        nn.MaxPool2d(3, 2, padding=1),
        Residual(nn.Sequential(nn.Conv2d(8, 12, 3, stride=2, padding=1), nn.BatchNorm2d(12),
                               nn.ReLU(), nn.Conv2d(12, 12, 3, padding=1), nn.BatchNorm2d(12)),
                 nn.Sequential(nn.Conv2d(8, 12, 1, stride=2), nn.BatchNorm2d(12))),
        nn.ReLU())


def resnet_step():
    """Return (before state, after state, [(name, array)])."""
    torch.manual_seed(2101)
    model = resnet_step_model()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.5, 0.5)
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 1.5)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x = torch.rand(4, 20, 20, 3) * 2 - 1

    def run(inp):
        return model(inp.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)

    model.train()
    out = run(x)
    r = torch.rand(out.shape) * 2 - 1
    opt = torch.optim.SGD(model.parameters(), lr=LEARNING_RATE)
    opt.zero_grad()
    (out * r).sum().backward()
    opt.step()
    after = {k: v.clone() for k, v in model.state_dict().items()}
    model.eval()
    with torch.no_grad():
        eval_out = run(x)
    tensors = [("x", x), ("r", r), ("train_output", out.detach()), ("eval_output", eval_out)]
    return before, after, [(n, t.contiguous().numpy().astype(np.float32)) for n, t in tensors]


def write_txt(path, header, tensors):
    with open(path, "w") as f:
        f.write("# %s\n" % header)
        for name, a in tensors:
            f.write(format_tensor(name, a))


def same(a, b):
    return a.shape == b.shape and np.allclose(a, b, rtol=REL_TOL, atol=1e-7)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="tests/data/padding")
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(1)
    bad = 0
    cases = {n: layer_case(*c) for n, c in CASES.items()}
    before, after, step = resnet_step()
    cases["resnet_step"] = step
    if args.check:
        for name, tensors in cases.items():
            disk = parse_fixture(os.path.join(args.out, name + ".txt"))
            for n, a in tensors:
                if n not in disk or not same(disk[n], a):
                    print("%s: %s differs" % (name, n))
                    bad += 1
        for stem, state in (("before", before), ("after", after)):
            disk, _ = read_safetensors(os.path.join(args.out, "resnet_step_%s.safetensors" % stem))
            for k, v in state.items():
                if k not in disk or not same(disk[k].numpy(), v.numpy()):
                    print("resnet_step_%s: %s differs" % (stem, k))
                    bad += 1
        return 1 if bad else 0
    os.makedirs(args.out, exist_ok=True)
    for name, tensors in cases.items():
        write_txt(os.path.join(args.out, name + ".txt"),
                  "torch %s; %s; written by tools/make_padding_fixtures.py"
                  % (torch.__version__, name), tensors)
    for stem, state in (("before", before), ("after", after)):
        write_safetensors(os.path.join(args.out, "resnet_step_%s.safetensors" % stem), state,
                          {"format": "pt"})
    return 0


if __name__ == "__main__":
    sys.exit(main())
