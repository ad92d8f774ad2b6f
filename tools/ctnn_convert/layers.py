"""ctnn layer specs from the hyper-parameters both front ends read (PyTorch modules, ONNX nodes)."""

import numpy as np

from .ir import Layer, Refused


def fmt_float(x):
    """The shortest text that reads back as the same float32, as ctnn's format_float."""
    x = np.float32(x)
    for digits in range(1, 10):
        text = f"{float(x):.{digits}g}"
        if np.float32(float(text)) == x:
            break
    if "e" in text:
        mant, exp = text.split("e")
        text = f"{mant}e{int(exp):+03d}"
    elif "." not in text:
        text += ".0"
    return text


def padding_spec(pads, k, s, size):
    """The ctnn padding argument for zero pads (top, bottom, left, right) of a window k, stride s
    on an image of size (h, w): "" (Valid), "ctnn::Same" when the pads are exactly TensorFlow's
    Same (out = ceil(in / s), the odd pad at the bottom and right), else ctnn::Pad<...>."""
    t, b, l, r = pads
    if not any(pads):
        return ""
    same = []
    for n in size:
        total = max((-(-n // s) - 1) * s + k - n, 0)
        same += [total // 2, total - total // 2]
    if list(pads) == same:
        return "ctnn::Same"
    if t == b == l == r:
        return f"ctnn::Pad<{t}>"
    if t == b and l == r:
        return f"ctnn::Pad<{t}, {l}>"
    return f"ctnn::Pad<{t}, {b}, {l}, {r}>"


def conv(where, what, weight, bias, stride, pads, size):
    """Conv2D from an OIHW weight; pads (top, bottom, left, right); size the input's (h, w)."""
    f, _, kh, kw = weight.shape
    if kh != kw:
        raise Refused(where, what, f"kernel {kh}x{kw}: ctnn's Conv2D has square kernels")
    if stride[0] != stride[1]:
        raise Refused(where, what, f"stride {tuple(stride)}: ctnn's Conv2D has one stride for "
                      "both axes")
    if kh > size[0] + pads[0] + pads[1] or kw > size[1] + pads[2] + pads[3]:
        raise Refused(where, what, "the kernel is larger than the padded input")
    args = [str(f), str(kh)]
    p = padding_spec(pads, kh, stride[0], size)
    if stride[0] != 1 or p:
        args.append(str(stride[0]))
    if p:
        args.append(p)
    if bias is None:
        bias = np.zeros(f, np.float32)
    return Layer(f"ctnn::Conv2D<{', '.join(args)}>", where, {"weight": weight, "bias": bias})


def pool(where, what, kind, k, s, pads, size):
    """MaxPool2D / AvgPool2D (kind "max" / "avg"), square window k, stride s, zero pads."""
    if k[0] != k[1] or s[0] != s[1]:
        raise Refused(where, what, f"window {tuple(k)} stride {tuple(s)}: ctnn's pooling layers "
                      "have square windows and one stride")
    if k[0] > size[0] + pads[0] + pads[1] or k[1] > size[1] + pads[2] + pads[3]:
        raise Refused(where, what, "the window is larger than the padded input")
    if any(pads) and 2 * max(pads) > k[0]:
        raise Refused(where, what, f"pads {tuple(pads)} larger than half the window {k[0]}")
    name = "MaxPool2D" if kind == "max" else "AvgPool2D"
    args = [str(k[0])]
    if s[0] != k[0] or any(pads):
        args.append(str(s[0]))
    if any(pads):
        t, b, l, r = pads
        args.append(f"ctnn::Pad<{t}>" if t == b == l == r else
                    f"ctnn::Pad<{t}, {l}>" if t == b and l == r else
                    f"ctnn::Pad<{t}, {b}, {l}, {r}>")
    return Layer(f"ctnn::{name}<{', '.join(args)}>", where)


def dense(where, weight, bias):
    n = weight.shape[0]
    if bias is None:
        bias = np.zeros(n, np.float32)
    return Layer(f"ctnn::Dense<{n}>", where, {"weight": weight, "bias": bias})


def batchnorm(where, weight, bias, mean, var, eps, momentum):
    c = mean.shape[0]
    weight = np.ones(c, np.float32) if weight is None else weight
    bias = np.zeros(c, np.float32) if bias is None else bias
    if np.float32(eps) == np.float32(1e-5) and np.float32(momentum) == np.float32(0.1):
        spec = "ctnn::BatchNorm"
    else:
        spec = f"ctnn::BatchNorm::with<{fmt_float(momentum)}f, {fmt_float(eps)}f>"
    return Layer(spec, where, {"weight": weight, "bias": bias, "running_mean": mean,
                               "running_var": var})


def recurrent(where, cell, hidden, layers, bidirectional, sequences, tensors):
    """The ctnn layers of a PyTorch-style recurrent module of `layers` layers: all but the last
    return sequences, the last one `sequences`. tensors(k, suffix) gives layer k's four tensors
    (weight_ih, weight_hh, bias_ih, bias_hh) in PyTorch's layout and gate order."""
    name = {"lstm": "LSTM", "gru": "GRU", "rnn": "SimpleRNN"}[cell]
    out = []
    for k in range(layers):
        seq = sequences or k < layers - 1
        spec = f"ctnn::{name}<{hidden}{', true' if seq else ''}>"
        if bidirectional:
            spec = f"ctnn::Bidirectional<{spec}>"
        t = {}
        for sfx in ("", "_reverse") if bidirectional else ("",):
            w_ih, w_hh, b_ih, b_hh = tensors(k, sfx)
            t.update({"weight_ih_l0" + sfx: w_ih, "weight_hh_l0" + sfx: w_hh,
                      "bias_ih_l0" + sfx: b_ih, "bias_hh_l0" + sfx: b_hh})
        src = where if layers == 1 else f"{where}, layer {k}"
        out.append(Layer(spec, src, t))
    return out
