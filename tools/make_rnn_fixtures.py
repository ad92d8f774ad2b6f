#!/usr/bin/python3
"""Write golden PyTorch outputs and gradients for ctnn's recurrent layers.

Run from the repository root with Debian's torch (package python3-torch):

    /usr/bin/python3 tools/make_rnn_fixtures.py [--out tests/data/rnn]
    /usr/bin/python3 tools/make_rnn_fixtures.py --check [--out tests/data/rnn]

The first form (re)writes one file per case, tests/data/rnn/<case>.txt.  The
second writes nothing: it recomputes every case and checks that the files on
disk parse back and hold the same tensors (1e-6 relative), exiting non-zero
otherwise.

File format: one tensor per line,

    name dim0 dim1 ... : v0 v1 v2 ...

the tensor's name, its shape as integers, a colon, then all its values in
row-major (C) order, each printed with '%.9g' (enough to round-trip a float32
exactly), separated by single spaces.  Lines starting with '#' are comments.

Every case uses batch_first=True, bias=True, zero initial states, parameters
uniform in [-0.5, 0.5], x and r uniform in [-1, 1], and computes in float32.
Tensors written per case:
  * every parameter under its PyTorch state_dict name and shape
    (weight_ih_l0 [G*H, F], weight_hh_l0 [G*H, H], bias_ih_l0 [G*H],
    bias_hh_l0 [G*H], plus *_reverse for bidirectional modules; PyTorch gate
    order: LSTM i,f,g,o; GRU r,z,n);
  * x [B, T, F];
  * output [B, T, D*H], the module's full output sequence;
  * r [B, T, D*H], a fixed random tensor;
  * grad.x and grad.<param> for loss = (output * r).sum().
For the stacked case the two modules' names carry the prefixes "l1." and
"l2.", "output" is the second module's output, and "l1.output" is the first
module's output (the second module's input).
"""

import argparse
import os
import sys

import numpy as np
import torch
import torch.nn as nn

# name -> (seed, [(prefix, module kind, kwargs)], x shape)
CASES = {
    "lstm": (1001, [("", "LSTM", dict(input_size=5, hidden_size=7))], (3, 4, 5)),
    "gru": (1002, [("", "GRU", dict(input_size=5, hidden_size=7))], (3, 4, 5)),
    "rnn_tanh": (
        1003,
        [("", "RNN", dict(input_size=5, hidden_size=7, nonlinearity="tanh"))],
        (3, 4, 5),
    ),
    "lstm_bidirectional": (
        1004,
        [("", "LSTM", dict(input_size=5, hidden_size=6, bidirectional=True))],
        (2, 3, 5),
    ),
    "gru_bidirectional": (
        1005,
        [("", "GRU", dict(input_size=4, hidden_size=5, bidirectional=True))],
        (2, 3, 4),
    ),
    "lstm_stacked": (
        1006,
        [
            ("l1.", "LSTM", dict(input_size=5, hidden_size=8)),
            ("l2.", "LSTM", dict(input_size=8, hidden_size=6)),
        ],
        (2, 5, 5),
    ),
    "lstm_long": (1007, [("", "LSTM", dict(input_size=3, hidden_size=16))], (2, 28, 3)),
}

REL_TOL = 1e-6


def describe(seed, layers, x_shape):
    mods = ", ".join(
        "%s%s(%s, batch_first=True, bias=True)"
        % (
            ("%s=" % prefix.rstrip(".")) if prefix else "",
            kind,
            ", ".join("%s=%r" % kv for kv in kwargs.items()),
        )
        for prefix, kind, kwargs in layers
    )
    return (
        "torch %s; %s; x=[%s]; seed=%d; float32; params uniform[-0.5,0.5], "
        "x and r uniform[-1,1]; zero initial states; loss=(output*r).sum()"
        % (torch.__version__, mods, ",".join(map(str, x_shape)), seed)
    )


def compute(seed, layers, x_shape):
    """Return an ordered list of (name, float32 numpy array)."""
    torch.manual_seed(seed)
    modules = []
    for prefix, kind, kwargs in layers:
        m = getattr(nn, kind)(batch_first=True, bias=True, **kwargs).float()
        for _, p in m.named_parameters():
            nn.init.uniform_(p, -0.5, 0.5)
        modules.append((prefix, m))
    x = torch.empty(x_shape, dtype=torch.float32).uniform_(-1.0, 1.0)
    x.requires_grad_(True)

    h = x
    outputs = []
    for prefix, m in modules:
        h, _ = m(h)
        outputs.append((prefix, h))
    out = h
    r = torch.empty(out.shape, dtype=torch.float32).uniform_(-1.0, 1.0)
    loss = (out * r).sum()
    loss.backward()

    def arr(t):
        a = t.detach().cpu().numpy()
        assert a.dtype == np.float32, a.dtype
        return np.ascontiguousarray(a)

    tensors = []
    for prefix, m in modules:
        names = [n for n, _ in m.named_parameters()]
        assert names == list(m.state_dict().keys()), names
        for n, t in m.state_dict().items():
            tensors.append((prefix + n, arr(t)))
    tensors.append(("x", arr(x)))
    if len(modules) > 1:
        for prefix, o in outputs[:-1]:
            tensors.append((prefix + "output", arr(o)))
    tensors.append(("output", arr(out)))
    tensors.append(("r", arr(r)))
    tensors.append(("grad.x", arr(x.grad)))
    for prefix, m in modules:
        for n, p in m.named_parameters():
            tensors.append(("grad." + prefix + n, arr(p.grad)))
    return tensors


def format_tensor(name, a):
    head = " ".join([name] + [str(d) for d in a.shape])
    vals = " ".join("%.9g" % float(v) for v in a.reshape(-1))
    return "%s : %s\n" % (head, vals)


def parse_file(path):
    """Parse a fixture file into an ordered dict name -> float32 array."""
    tensors = {}
    with open(path) as f:
        for lineno, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line or line.startswith("#"):
                continue
            head, sep, vals = line.partition(" : ")
            if not sep:
                raise ValueError("%s:%d: no ' : ' separator" % (path, lineno))
            fields = head.split(" ")
            name, shape = fields[0], tuple(int(d) for d in fields[1:])
            data = np.array([float(v) for v in vals.split(" ")], dtype=np.float32)
            if data.size != int(np.prod(shape)):
                raise ValueError(
                    "%s:%d: %s has %d values for shape %s"
                    % (path, lineno, name, data.size, shape)
                )
            if name in tensors:
                raise ValueError("%s:%d: duplicate tensor %s" % (path, lineno, name))
            tensors[name] = data.reshape(shape)
    return tensors


def check_case(path, tensors):
    got = parse_file(path)
    errors = []
    want_names = [n for n, _ in tensors]
    if list(got.keys()) != want_names:
        errors.append("names differ: file %s, expected %s" % (list(got.keys()), want_names))
    for name, want in tensors:
        if name not in got:
            continue
        g = got[name]
        if g.shape != want.shape:
            errors.append("%s: shape %s, expected %s" % (name, g.shape, want.shape))
            continue
        diff = np.abs(g.astype(np.float64) - want.astype(np.float64))
        bound = REL_TOL * np.abs(want.astype(np.float64))
        bad = diff > bound
        if bad.any():
            errors.append(
                "%s: %d values off by more than %g relative (max abs diff %g)"
                % (name, int(bad.sum()), REL_TOL, float(diff.max()))
            )
    return errors


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="tests/data/rnn", help="fixture directory")
    ap.add_argument(
        "--check",
        action="store_true",
        help="write nothing; re-read the files and compare to freshly computed tensors",
    )
    args = ap.parse_args()

    torch.set_num_threads(1)
    if not args.check:
        os.makedirs(args.out, exist_ok=True)
    failed = 0
    for case, (seed, layers, x_shape) in CASES.items():
        path = os.path.join(args.out, case + ".txt")
        tensors = compute(seed, layers, x_shape)
        if args.check:
            errors = check_case(path, tensors)
            if errors:
                failed += 1
                print("FAIL %s" % path)
                for e in errors:
                    print("  " + e)
            else:
                print("ok   %s (%d tensors)" % (path, len(tensors)))
        else:
            with open(path, "w") as f:
                f.write("# " + describe(seed, layers, x_shape) + "\n")
                for name, a in tensors:
                    f.write(format_tensor(name, a))
            print("wrote %s (%d tensors, %d bytes)" % (path, len(tensors), os.path.getsize(path)))
    if args.check:
        print("%d passed, %d failed" % (len(CASES) - failed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
