"""The command line of tools/torch_to_ctnn.py."""

import argparse
import importlib.util
import json
import os
import re
import stat
import sys

import numpy as np

from . import emit
from .ir import Refused, build

SAMPLES = 4
EXIT_ERROR, EXIT_REFUSED = 1, 2


class Failure(Exception):
    """A file that cannot be read or a command line that cannot be followed (exit status 1)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        """A command line that cannot be parsed: exit status 1 (2 means refused)."""
        self.print_usage(sys.stderr)
        self.exit(EXIT_ERROR, f"{self.prog}: error: {message}\n")


def parse_args(argv):
    p = _Parser(
        prog="torch_to_ctnn.py",
        description="Converts a PyTorch module (file.py:function) or an ONNX model (model.onnx) "
        "into a ctnn network type (DIR/NAME.hpp), its weights (DIR/NAME.safetensors) and a "
        "sample of inputs and outputs (DIR/NAME.sample.npz). Given a ctnn model file (.ctnn) or "
        "a safetensors file saved by ctnn, writes the header declaring its network type.")
    p.add_argument("source", metavar="SOURCE",
                   help="file.py:function, model.onnx, model.ctnn or weights.safetensors")
    p.add_argument("--out", required=True, metavar="DIR", help="the output directory")
    p.add_argument("--name", default="Net", help="the type's name (default Net)")
    p.add_argument("--namespace", metavar="NS", help="the namespace (default: the global one)")
    p.add_argument("--input-shape", metavar="C,H,W | T,F | N",
                   help="one sample's shape in PyTorch's order (required for a PyTorch source)")
    p.add_argument("--state-dict", metavar="FILE",
                   help="weights written by torch.save(model.state_dict(), FILE)")
    p.add_argument("--check", action="store_true",
                   help="compile a program against the header and compare its outputs with the "
                   "sample's (max difference 1e-4, relative above 1)")
    p.add_argument("--classes", metavar="FILE_OR_LIST",
                   help="class names: a file of one name a line, or a comma-separated list")
    p.add_argument("--scale", type=float, help="input preprocessing: pixel byte * SCALE "
                   "(default 1/255 when another preprocessing flag is given)")
    p.add_argument("--mean", metavar="M[,M,M]", help="input preprocessing: mean per channel")
    p.add_argument("--std", metavar="S[,S,S]", help="input preprocessing: std per channel")
    p.add_argument("--invert", action="store_true", help="input preprocessing: 255*scale - v")
    p.add_argument("--seed", type=int, default=0, help="the seed of the sample's inputs")
    return p.parse_args(argv)


def check_name(args):
    ident = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
    if not ident.match(args.name):
        raise Failure(f"--name '{args.name}' is not a C++ identifier")
    if args.namespace and not all(ident.match(x) for x in args.namespace.split("::")):
        raise Failure(f"--namespace '{args.namespace}' is not a C++ namespace name")


def input_dims(text):
    try:
        dims = tuple(int(x) for x in text.split(","))
    except ValueError:
        dims = ()
    if len(dims) not in (1, 2, 3) or min(dims) <= 0:
        raise Failure(f"--input-shape '{text}': expected C,H,W (an image), T,F (a sequence) or "
                      "N (a vector) of positive sizes")
    return dims


def floats(flag, text, channels):
    try:
        v = [float(x) for x in text.split(",")]
    except ValueError:
        raise Failure(f"{flag} '{text}': expected numbers separated by commas") from None
    if len(v) == 1:
        v = v * channels
    if len(v) != channels:
        raise Failure(f"{flag} '{text}': {len(v)} values for {channels} channels")
    return v


def metadata(args, dims, source):
    meta = {"format": "pt", "source": source}
    if args.classes:
        if os.path.isfile(args.classes):
            with open(args.classes, encoding="utf-8") as f:
                names = [line.strip() for line in f if line.strip()]
        else:
            names = [x.strip() for x in args.classes.split(",")]
        meta["ctnn_class_names"] = json.dumps(names)
    if args.scale is not None or args.mean or args.std or args.invert:
        if dims is None or len(dims) != 3 or dims[0] not in (1, 3):
            raise Failure("--scale, --mean, --std and --invert describe image inputs of 1 or 3 "
                          "channels")
        c = dims[0]
        std = floats("--std", args.std, c) if args.std else [1.0] * c
        if any(s <= 0 for s in std):
            raise Failure(f"--std '{args.std}': values must be positive")
        meta["ctnn_preprocessing"] = json.dumps({
            "channels": c, "height": dims[1], "width": dims[2],
            "scale": args.scale if args.scale is not None else 1.0 / 255.0,
            "mean": floats("--mean", args.mean, c) if args.mean else [0.0] * c,
            "std": std, "invert": bool(args.invert)})
    return meta


def load_torch_source(spec, state_dict):
    import torch
    from torch import nn

    path, _, func = spec.rpartition(":")
    if not os.path.isfile(path):
        raise Failure(f"{path}: no such file")
    mod_name = "_ctnn_source_" + re.sub(r"\W", "_", os.path.basename(path)[:-3])
    sys.path.insert(0, os.path.dirname(os.path.abspath(path)))
    try:
        spec_ = importlib.util.spec_from_file_location(mod_name, path)
        module = importlib.util.module_from_spec(spec_)
        spec_.loader.exec_module(module)
        if not hasattr(module, func):
            raise Failure(f"{path}: no function '{func}'")
        model = getattr(module, func)()
    finally:
        sys.path.pop(0)
    if not isinstance(model, nn.Module):
        raise Failure(f"{spec} returned {type(model).__name__}, not an nn.Module")
    if state_dict:
        try:
            sd = torch.load(state_dict, map_location="cpu")
        except Exception as e:
            raise Failure(f"{state_dict}: cannot be read by torch.load: {e}") from None
        if not isinstance(sd, dict):
            raise Failure(f"{state_dict}: holds a {type(sd).__name__}, not a state_dict")
        try:
            model.load_state_dict(sd, strict=True)
        except Exception as e:
            raise Failure(f"{state_dict}: does not fit the module: {e}") from None
    return model.eval()


def to_ctnn_layout(a, view_kind):
    """PyTorch's [B, C, H, W] as ctnn's channels-last [B, H, W, C]; other shapes as they are."""
    if a.ndim == 4:
        return np.ascontiguousarray(a.transpose(0, 2, 3, 1))
    if view_kind == "pooled":
        return a.reshape(a.shape[0], -1)
    return np.ascontiguousarray(a)


def convert_torch(args):
    from . import torch_front

    if not args.input_shape:
        raise Failure("--input-shape is required for a PyTorch source (C,H,W, T,F or N)")
    dims = input_dims(args.input_shape)
    model = load_torch_source(args.source, args.state_dict)
    front = torch_front.TorchFront(model, dims)
    graph = front.convert()
    chain = build(graph)
    rng = np.random.default_rng(args.seed)
    x = rng.uniform(-1.0, 1.0, size=(SAMPLES,) + dims)
    y = torch_front.run(model, x)
    ctnn_dims = (dims[1], dims[2], dims[0]) if len(dims) == 3 else dims
    return dict(dims=dims, ctnn_dims=ctnn_dims, chain=chain,
                inputs=to_ctnn_layout(x, None).astype(np.float32),
                outputs=to_ctnn_layout(y, front.output_view[0]))


def convert_onnx(args):
    from . import onnx_front

    conv = onnx_front.convert(args.source)
    return conv


def write_outputs(args, conv, source_label):
    meta = metadata(args, conv["dims"], source_label)
    text, tensors = emit.header_text(args.name, args.namespace, conv["ctnn_dims"], conv["chain"],
                                     args.source)
    base = os.path.join(args.out, args.name)
    emit.write_all({base + ".hpp": text.encode(),
                    base + ".safetensors": emit.safetensors_bytes(tensors, meta),
                    base + ".sample.npz": emit.sample_bytes(conv["inputs"], conv["outputs"])})
    print(f"wrote {base}.hpp, {base}.safetensors, {base}.sample.npz")


def check_source_file(src):
    """Refuses a source that is not a regular file (a FIFO, a device, a directory) before anything
    opens it, so that reading cannot block; a missing file is left to the reader's message."""
    path = src
    if not (src.endswith(".onnx") or src.endswith(".ctnn") or src.endswith(".safetensors")):
        path = src.rpartition(":")[0] or src
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return
    if not stat.S_ISREG(mode):
        kind = ("a directory" if stat.S_ISDIR(mode) else "a FIFO" if stat.S_ISFIFO(mode)
                else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
                else "a socket" if stat.S_ISSOCK(mode) else "not a regular file")
        raise Failure(f"{path}: is {kind}, not a regular file")


def main(argv=None):
    args = parse_args(argv)
    try:
        check_name(args)
        if os.path.exists(args.out) and not os.path.isdir(args.out):
            raise Failure(f"--out {args.out}: not a directory")
        src = args.source
        check_source_file(src)
        if src.endswith(".ctnn") or src.endswith(".safetensors"):
            from . import signature
            text = signature.header_for_file(src, args.name, args.namespace)
            emit.write_all({os.path.join(args.out, args.name + ".hpp"): text.encode()})
            print(f"wrote {os.path.join(args.out, args.name + '.hpp')}")
            if args.check:
                signature.check_file(src, args.out, args.name, args.namespace)
                print(f"check: {src} loads into {args.name}")
            return 0
        if src.endswith(".onnx"):
            if args.state_dict or args.input_shape:
                raise Failure("--state-dict and --input-shape are for PyTorch sources; an ONNX "
                              "file holds its weights and shapes")
            conv = convert_onnx(args)
        elif ":" in src and src.rpartition(":")[0].endswith(".py"):
            conv = convert_torch(args)
        else:
            raise Failure(f"{src}: expected file.py:function, model.onnx, model.ctnn or "
                          "file.safetensors")
        write_outputs(args, conv, os.path.basename(src))
        if args.check:
            from .check import run_check
            diff, tol = run_check(args.out, args.name, args.namespace, conv["inputs"],
                                  conv["outputs"])
            ok = diff <= tol
            print(f"check: max |ctnn - source| = {diff:.3g} over {conv['inputs'].shape[0]} "
                  f"samples ({'within' if ok else 'above'} the tolerance {tol:.3g})")
            return 0 if ok else EXIT_ERROR
        return 0
    except Refused as e:
        print(f"torch_to_ctnn: refused: {e}", file=sys.stderr)
        return EXIT_REFUSED
    except (Failure, ValueError, OSError, RuntimeError) as e:
        print(f"torch_to_ctnn: {e}", file=sys.stderr)
        return EXIT_ERROR
