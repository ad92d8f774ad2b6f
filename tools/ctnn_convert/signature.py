"""The network type a ctnn file was saved from, from its signature (docs/model-format.md,
"Signature"): the model file's header, or the "ctnn_signature" of a safetensors file's
__metadata__. Each line names a layer as its name() does; the names of the library's layers
say every template argument that changes the signature (sizes, strides, padding, rates and
constants, ReturnSequences, the parts of composites), which is what loading compares. The
initializers are not in it (they do not change the signature, and loading replaces every value),
and neither is the C++ type of a layer defined outside the library: such a line is refused."""

import re
import struct

from . import emit
from .ir import Chain, Concat, Layer, Refused, Residual

MAGIC = b"CTNNMODL"


def read_signature(path):
    if path.endswith(".safetensors"):
        header = emit.read_safetensors_header(path)
        meta = header.get("__metadata__", {})
        sig = meta.get("ctnn_signature") if isinstance(meta, dict) else None
        if not isinstance(sig, str):
            raise ValueError(f"{path}: no ctnn_signature in __metadata__: the file was not saved "
                             "by ctnn, so it does not say its network type")
        return sig
    with open(path, "rb") as f:
        head = f.read(16)
        if len(head) < 8 or head[:8] != MAGIC:
            raise ValueError(f"{path}: not a ctnn model file (bad magic at offset 0; expected "
                             "\"CTNNMODL\")")
        if len(head) < 16:
            raise ValueError(f"{path}: truncated: the header needs 16 bytes")
        version, length = struct.unpack("<II", head[8:16])
        if version not in (1, 2, 3):
            raise ValueError(f"{path}: format version {version} at offset 8; this converter reads "
                             "versions 1 to 3")
        sig = f.read(length)
        if len(sig) != length:
            raise ValueError(f"{path}: truncated: the signature needs {length} bytes")
    try:
        return sig.decode("ascii")
    except UnicodeDecodeError:
        raise ValueError(f"{path}: the signature is not ASCII text") from None


def parse_name(text):
    """'Residual<Chain<A,B>,Identity>' -> ('Residual', [('Chain', [...]), ('Identity', None)])."""
    pos = 0

    def term():
        nonlocal pos
        m = re.compile(r"[A-Za-z0-9_.+\-]+").match(text, pos)
        if not m:
            raise ValueError(f"unexpected '{text[pos:pos + 20]}'")
        word, pos = m.group(0), m.end()
        if pos < len(text) and text[pos] == "(":
            end = text.index(")", pos)
            word += text[pos:end + 1]
            pos = end + 1
        if pos < len(text) and text[pos] == "<":
            pos += 1
            args = [term()]
            while text[pos] == ",":
                pos += 1
                args.append(term())
            if text[pos] != ">":
                raise ValueError(f"expected '>' at '{text[pos:pos + 20]}'")
            pos += 1
            return (word, args)
        return (word, None)

    t = term()
    if pos != len(text):
        raise ValueError(f"unexpected '{text[pos:pos + 20]}'")
    return t


def _int(x):
    if x[1] is not None or not x[0].isdigit():
        raise ValueError(f"'{x[0]}' is not a size")
    return int(x[0])


def _float(x):
    float(x[0])
    return x[0] + ("" if any(c in x[0] for c in ".e") else ".0") + "f"


def _pad(word):
    m = re.fullmatch(r"pad\((\d+),(\d+),(\d+),(\d+)\)", word)
    if not m:
        return None
    t, b, l, r = (int(g) for g in m.groups())
    return (f"ctnn::Pad<{t}>" if t == b == l == r else f"ctnn::Pad<{t}, {l}>" if t == b and l == r
            else f"ctnn::Pad<{t}, {b}, {l}, {r}>")


def to_item(t):
    """A parsed name as the converter's Layer / Chain / Residual / Concat."""
    name, args = t
    a = args or []
    simple = {"Flatten", "ReLU", "Sigmoid", "Tanh", "Softmax", "Identity", "GlobalAvgPool2D"}
    if name in simple and args is None:
        return Layer(f"ctnn::{name}", "")
    if name == "Conv2D" and len(a) == 4:
        f, k, s = (_int(x) for x in a[:3])
        pad = a[3][0]
        p = "" if pad == "valid" else "ctnn::Same" if pad == "same" else _pad(pad)
        if p is None:
            raise ValueError(f"padding '{pad}'")
        extra = [str(s), p] if p else ([str(s)] if s != 1 else [])
        return Layer(f"ctnn::Conv2D<{', '.join([str(f), str(k)] + extra)}>", "")
    if name in ("MaxPool2D", "AvgPool2D") and len(a) in (2, 3):
        p, s = _int(a[0]), _int(a[1])
        pad = _pad(a[2][0]) if len(a) == 3 else ""
        if pad is None:
            raise ValueError(f"padding '{a[2][0]}'")
        extra = [str(s), pad] if pad else ([str(s)] if s != p else [])
        return Layer(f"ctnn::{name}<{', '.join([str(p)] + extra)}>", "")
    if name == "Dense" and len(a) == 1:
        return Layer(f"ctnn::Dense<{_int(a[0])}>", "")
    if name == "Dropout" and len(a) == 1:
        return Layer(f"ctnn::Dropout<{_float(a[0])}>", "")
    if name == "BatchNorm" and len(a) == 2:
        if (a[0][0], a[1][0]) == ("0.1", "1e-05"):
            return Layer("ctnn::BatchNorm", "")
        return Layer(f"ctnn::BatchNorm::with<{_float(a[0])}, {_float(a[1])}>", "")
    if name in ("LSTM", "GRU", "SimpleRNN") and len(a) == 2 and a[1][0] in ("true", "false"):
        seq = ", true" if a[1][0] == "true" else ""
        return Layer(f"ctnn::{name}<{_int(a[0])}{seq}>", "")
    if name == "Bidirectional" and len(a) == 1:
        inner = to_item(a[0])
        if not isinstance(inner, Layer) or not re.match(r"ctnn::(LSTM|GRU|SimpleRNN)<", inner.spec):
            raise ValueError("Bidirectional of a layer that is not recurrent")
        return Layer(f"ctnn::Bidirectional<{inner.spec}>", "")
    if name == "Chain" and a:
        c = Chain([to_item(x) for x in a])
        c.explicit = True
        return c
    if name == "Residual" and len(a) == 2:
        main, short = to_item(a[0]), to_item(a[1])
        return Residual(_as_chain(main), _as_chain(short))
    if name == "Concat" and a:
        return Concat([_as_chain(to_item(x)) for x in a])
    raise ValueError(f"'{name}' with {len(a)} arguments is not a layer of the library")


def _as_chain(item):
    if isinstance(item, Layer) and item.spec == "ctnn::Identity":
        return Chain([])
    if isinstance(item, Chain):
        return item
    c = Chain([item])
    c.explicit = False
    return c


def network(sig, path):
    lines = sig.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if not lines or not lines[0].startswith("Input "):
        raise ValueError(f"{path}: the signature does not start with an Input line")
    m = re.fullmatch(r"Input (Image|Sequence|Vector)<(\d+(?:,\d+)*)>", lines[0])
    if not m:
        raise ValueError(f"{path}: cannot read the input line '{lines[0][:200]}'")
    dims = tuple(int(x) for x in m.group(2).split(","))
    if len(dims) != {"Image": 3, "Sequence": 2, "Vector": 1}[m.group(1)]:
        raise ValueError(f"{path}: cannot read the input line '{lines[0][:200]}'")
    parts = []
    for i, line in enumerate(lines[1:], 1):
        f = line.split(" ")
        if len(f) != 6 or f[0] != str(i) or f[3] != "->":
            raise ValueError(f"{path}: signature line {i + 1} is not '<index> <name> <input> -> "
                             f"<output> <parameters>': '{line[:200]}'")
        try:
            item = to_item(parse_name(f[1]))
        except ValueError as e:
            raise Refused(f"{path}: layer {i}", f[1][:200], f"{e}; the signature does not say "
                          "which C++ type it is") from None
        item.source = f"{i} {f[2]} -> {f[4]}"
        parts.append(item)
    return dims, Chain(parts)


def header_for_file(path, name, namespace):
    sig = read_signature(path)
    dims, chain = network(sig, path)
    text, _ = emit.header_text(name, namespace, dims, chain, path, weights=False)
    return text


LOAD_PROGRAM = r"""// Loads a ctnn file into the network type written for it.
#include <cstdio>
#include <memory>

#include "{header}"

int main(int, char** argv) {{
  auto net = std::make_unique<{qualified}>(ctnn::uninitialized);
  try {{
    ctnn::{load}(*net, argv[1]);
  }} catch (const std::exception& e) {{
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }}
  return 0;
}}
"""


def check_file(path, out_dir, name, namespace):
    """Compiles a program that loads `path` into the header's type; raises when it fails."""
    import os
    import shutil
    import subprocess
    import tempfile

    from .check import compile_program, repo_include
    work = tempfile.mkdtemp(prefix="ctnn-check-")
    try:
        exe = os.path.join(work, "load")
        header = os.path.abspath(os.path.join(out_dir, name + ".hpp"))
        qualified = f"{namespace}::{name}" if namespace else name
        load = "load_safetensors" if path.endswith(".safetensors") else "load"
        compile_program(LOAD_PROGRAM.format(header=header, qualified=qualified, load=load), exe,
                        [repo_include()])
        r = subprocess.run([exe, path], capture_output=True)
        if r.returncode != 0:
            raise RuntimeError("the file does not load into the header's type: " +
                               r.stderr.decode(errors="replace"))
    finally:
        shutil.rmtree(work, ignore_errors=True)
