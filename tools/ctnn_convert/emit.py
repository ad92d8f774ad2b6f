"""Writing a converted network: the C++ header, the safetensors weights and the sample."""

import io
import json
import os
import struct
import tempfile

import numpy as np

from .ir import Chain, Concat, Layer, Residual

INDENT = "    "


def _spec_lines(item, depth, prefix, out, tensors):
    """Appends the lines of one element of a type list: (text, comment) pairs; collects the
    tensors under their safetensors names (prefix is the element's name, e.g. "3.main.")."""
    pad = INDENT * depth
    if isinstance(item, Layer):
        out.append([pad + item.spec, item.source])
        for name, t in item.tensors.items():
            tensors[prefix + name] = t
        return
    if isinstance(item, Chain):
        if len(item.parts) == 0:
            out.append([pad + "ctnn::Identity", ""])
            return
        if len(item.parts) == 1 and not getattr(item, "explicit", False):
            _spec_lines(item.parts[0], depth, prefix, out, tensors)
            return
        out.append([pad + "ctnn::Chain<", getattr(item, "source", "")])
        _list(item.parts, depth + 1, [f"{prefix}{i}." for i in range(len(item.parts))], out,
              tensors)
        return
    if isinstance(item, Residual):
        out.append([pad + "ctnn::Residual<", getattr(item, "source", "")])
        parts = [item.main] + ([item.shortcut] if item.shortcut.parts else [])
        _list(parts, depth + 1, [prefix + "main.", prefix + "shortcut."], out, tensors)
        return
    if isinstance(item, Concat):
        out.append([pad + "ctnn::Concat<", getattr(item, "source", "")])
        _list(item.branches, depth + 1,
              [f"{prefix}branches.{i}." for i in range(len(item.branches))], out, tensors)
        return
    raise TypeError(item)


def _list(items, depth, prefixes, out, tensors):
    for k, (item, prefix) in enumerate(zip(items, prefixes)):
        _spec_lines(item, depth, prefix, out, tensors)
        out[-1][0] += ">" if k == len(items) - 1 else ","
        if k == len(items) - 1:
            # Close the lists that ended on this line: the caller adds its own ">".
            pass


def network_lines(input_dims, chain):
    """The lines of `ctnn::Sequential<ctnn::Input<...>, ...>` and the tensors by name."""
    dims = ", ".join(map(str, input_dims))
    out, tensors = [["ctnn::Sequential<", ""], [INDENT + f"ctnn::Input<{dims}>,", "input"]], {}
    _list(chain.parts, 1, [f"{i}." for i in range(len(chain.parts))], out, tensors)
    return out, tensors


def header_text(name, namespace, input_dims, chain, source, note="", weights=True):
    lines, tensors = network_lines(input_dims, chain)
    lines[-1][0] += ";"
    width = max(len(t) for t, _ in lines) + 2
    body = []
    for text, comment in lines:
        body.append(f"{text:<{width}}// {comment}".rstrip() if comment else text)
    guard_ns = [f"namespace {namespace} {{", ""] if namespace else []
    end_ns = ["", f"}}  // namespace {namespace}"] if namespace else []
    if weights:
        head = [f"// {name}.hpp: the network type of {os.path.basename(source)}, written by",
                "// tools/torch_to_ctnn.py. The comment after each layer names the source's",
                "// module or node. Its weights load with ctnn::load_safetensors(net, \"" + name +
                ".safetensors\")",
                f"// into a {name}(ctnn::uninitialized)."]
    else:
        head = [f"// {name}.hpp: the network type {os.path.basename(source)} was saved from, "
                "read from",
                "// its signature by tools/torch_to_ctnn.py. The comment after each layer is its",
                "// line of the signature: index, input and output shapes."]
    if note:
        head += ["//"] + ["// " + l for l in note.splitlines()]
    text = "\n".join(head + ["#pragma once", "", "#include <ctnn/ctnn.hpp>", ""] + guard_ns +
                     [f"using {name} ="] + [INDENT + l for l in body] + end_ns) + "\n"
    return text, tensors


def safetensors_bytes(tensors, metadata):
    header, blobs, at = {"__metadata__": dict(metadata)}, [], 0
    for name, t in tensors.items():
        a = np.ascontiguousarray(t, dtype="<f4")
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [at, at + a.nbytes]}
        blobs.append(a.tobytes())
        at += a.nbytes
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(blobs)


def read_safetensors_header(path):
    """The header of a safetensors file as a dict, checked as far as reading it needs."""
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        head = f.read(8)
        if len(head) < 8:
            raise ValueError(f"{path}: truncated: {len(head)} bytes, fewer than the 8-byte header "
                             "length")
        (n,) = struct.unpack("<Q", head)
        if n > 100_000_000 or 8 + n > size:
            raise ValueError(f"{path}: header length {n} does not fit the file ({size} bytes)")
        try:
            header = json.loads(f.read(n))
        except ValueError as e:
            raise ValueError(f"{path}: the header is not valid JSON: {e}") from None
    if not isinstance(header, dict):
        raise ValueError(f"{path}: the header is not a JSON object")
    return header


def sample_bytes(inputs, outputs):
    buf = io.BytesIO()
    np.savez(buf, inputs=inputs.astype(np.float32), outputs=outputs.astype(np.float64))
    return buf.getvalue()


def write_all(files):
    """Writes {path: bytes} so that either every file is complete or none is replaced: each goes
    to a temporary file in its directory, and the temporaries are renamed once all are written."""
    temps = []
    try:
        for path, data in files.items():
            d = os.path.dirname(os.path.abspath(path))
            os.makedirs(d, exist_ok=True)  # --out may name a directory still to be made
            fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", dir=d)
            temps.append((tmp, path))
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, 0o666 & ~_umask())
        for tmp, path in temps:
            os.replace(tmp, path)
        temps = []
    finally:
        for tmp, _ in temps:
            try:
                os.unlink(tmp)
            except OSError:
                pass


def _umask():
    m = os.umask(0)
    os.umask(m)
    return m
