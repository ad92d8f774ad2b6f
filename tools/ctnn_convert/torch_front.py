"""PyTorch nn.Module -> Graph, through torch.fx: the module is traced symbolically, so that a
forward() which is not a chain (sums, concatenations, a permute and reshape before a recurrent
layer, the last step of a recurrent layer) is seen as the operations it performs. Each call of a
module or function becomes a ctnn layer, a sum, a concatenation, or a change of view of the same
values (a permute, reshape, flatten that ctnn does implicitly); anything else is refused."""

import contextlib
import dis
import inspect
import operator

import numpy as np
import torch
import torch.fx
import torch.nn.functional as F
from torch import nn
from torch.fx.passes.shape_prop import ShapeProp

from . import layers as L
from .ir import Graph, Layer, Refused


def _np(t):
    return None if t is None else t.detach().cpu().to(torch.float32).numpy().copy()


class _Val:
    """A value of the traced forward(): the graph value gid seen as `view`:
    ("image", H, W, C) an NCHW tensor; ("seq", T, F); ("vec", N); ("nhwc", H, W, C) an image
    permuted to NHWC; ("rows", H, W, C) that permuted image reshaped to [B, H, W*C], which is how
    ctnn's recurrent layers read an Image; ("pooled", C) an image averaged to 1x1, [B, C, 1, 1];
    ("rnn", r), ("rnn_out", r), ("rnn_h", r), ("rnn_c", r), ("rnn_hi", r, index): a recurrent
    module's result and its parts; ("shape",) and ("int",) sizes."""

    def __init__(self, gid, view):
        self.gid, self.view = gid, view


class _Rnn:
    def __init__(self, where, module, kind):
        self.where, self.module, self.kind = where, module, kind
        self.uses = set()  # "seq", "last"

    def layers(self):
        m = self.module
        if len(self.uses) > 1:
            raise Refused(self.where, type(m).__name__, "both the whole output sequence and the "
                          "last step are used; a ctnn recurrent layer gives one of them")
        if not self.uses:
            raise Refused(self.where, type(m).__name__, "its output is not used in a way ctnn "
                          "knows (the sequence, out[:, -1] or h_n[-1])")

        def tensors(k, sfx):
            g = lambda n: getattr(m, f"{n}_l{k}{sfx}", None)
            w_ih, w_hh = _np(g("weight_ih")), _np(g("weight_hh"))
            rows = w_ih.shape[0]
            b_ih = _np(g("bias_ih")) if m.bias else np.zeros(rows, np.float32)
            b_hh = _np(g("bias_hh")) if m.bias else np.zeros(rows, np.float32)
            return w_ih, w_hh, b_ih, b_hh

        return L.recurrent(self.where, self.kind, m.hidden_size, m.num_layers, m.bidirectional,
                           "seq" in self.uses, tensors)


def _proxy_iter(self):
    """torch.fx's Proxy.__iter__, finding the unpacking instruction by its offset: torch 1.13
    indexes the instructions by f_lasti // 2, which Python 3.11's inline caches break, so that
    `out, _ = self.lstm(x)` could not be traced."""
    frame = inspect.currentframe().f_back
    for inst in dis.get_instructions(frame.f_code):
        if inst.offset == frame.f_lasti:
            if inst.opname == "UNPACK_SEQUENCE":
                return (self[i] for i in range(inst.argval))
            break
    return self.tracer.iter(self)


@contextlib.contextmanager
def _unpackable_proxies():
    saved = torch.fx.Proxy.__iter__
    torch.fx.Proxy.__iter__ = _proxy_iter
    try:
        yield
    finally:
        torch.fx.Proxy.__iter__ = saved


def _shape(node):
    meta = node.meta.get("tensor_meta")
    return tuple(meta.shape) if meta is not None and hasattr(meta, "shape") else None


class TorchFront:
    def __init__(self, model, input_dims):
        self.model, self.dims = model, input_dims
        self.g = Graph()
        self.env = {}

    def example(self, batch=2):
        return torch.zeros((batch,) + tuple(self.dims), dtype=torch.float32)

    def convert(self):
        try:
            with torch.no_grad():
                self.model(self.example())
        except Exception as e:
            raise ValueError(f"the module does not run on an input of shape "
                             f"{[2] + list(self.dims)} (--input-shape {','.join(map(str, self.dims))}): "
                             f"{type(e).__name__}: {e}") from None
        try:
            with _unpackable_proxies():
                gm = torch.fx.symbolic_trace(self.model)
        except Exception as e:  # tracing runs the user's forward(): any error it raises
            raise Refused(type(self.model).__name__, "module", "torch.fx cannot trace its "
                          f"forward() ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})")
        try:
            ShapeProp(gm).propagate(self.example())
        except Exception as e:
            raise Refused(type(self.model).__name__, "module", "it does not run on an input of "
                          f"shape {[2] + list(self.dims)}: {type(e).__name__}: {e}")
        self.gm = gm
        inputs = [n for n in gm.graph.nodes if n.op == "placeholder"]
        if len(inputs) != 1:
            raise Refused(type(self.model).__name__, "module", f"forward() takes {len(inputs)} "
                          "inputs; a ctnn network takes one")
        for node in gm.graph.nodes:
            self.env[node] = self.visit(node)
        return self.g

    # --- helpers -----------------------------------------------------------------------------
    def where(self, node):
        if node.op == "call_module":
            return node.target
        return node.name

    def val(self, node, arg):
        v = self.raw(node, arg)
        if v.view[0] == "rnn_out":  # the whole output sequence
            r = v.view[1]
            r.uses.add("seq")
            return _Val(v.gid, ("seq", r.steps, r.module.hidden_size *
                                (2 if r.module.bidirectional else 1)))
        return v

    def raw(self, node, arg):
        if not isinstance(arg, torch.fx.Node):
            raise Refused(self.where(node), "argument", f"{arg!r} where a tensor was expected")
        v = self.env[arg]
        if v.view[0] == "rnn_c":
            raise Refused(self.where(node), self._what(node), "reads the LSTM's cell state c_n: "
                          "ctnn's LSTM gives the hidden state only")
        return v

    def tensor(self, node, arg, *kinds):
        v = self.val(node, arg)
        if v.view[0] not in kinds:
            raise Refused(self.where(node), self._what(node), f"reads a value of form "
                          f"{_describe(v.view)}; it needs {' or '.join(map(_describe_kind, kinds))}")
        return v

    def _what(self, node):
        if node.op == "call_module":
            return type(self.gm.get_submodule(node.target)).__name__
        return getattr(node.target, "__name__", str(node.target))

    def layer(self, node, v, layers, view):
        for layer in layers:
            if node.op == "call_module" and layer.source == node.target:
                layer.source = f"{node.target} ({self._what(node)})"
        return _Val(self.g.add("layer", [v.gid], layers, self.where(node)), view)

    # --- nodes -------------------------------------------------------------------------------
    def visit(self, node):
        if node.op == "placeholder":
            d = self.dims
            view = ("image", d[1], d[2], d[0]) if len(d) == 3 else \
                ("seq", d[0], d[1]) if len(d) == 2 else ("vec", d[0])
            return _Val(0, view)
        if node.op == "output":
            v = self.val(node, node.args[0])
            if v.view[0] not in ("image", "seq", "vec", "pooled"):
                raise Refused("output", "output", f"the model returns {_describe(v.view)}")
            self.g.output = v.gid
            self.output_view = v.view
            return v
        if node.op == "get_attr":
            raise Refused(node.target, "parameter", "a parameter or buffer used outside a module "
                          "that ctnn maps")
        if node.op == "call_module":
            return self.module(node, self.gm.get_submodule(node.target))
        if node.op == "call_function":
            return self.function(node, node.target, node.args, node.kwargs)
        if node.op == "call_method":
            return self.method(node, node.target, node.args, node.kwargs)
        raise Refused(self.where(node), node.op, "not a module, function or method call")

    def module(self, node, m):
        w, what = node.target, type(m).__name__
        if len(node.args) != 1 or node.kwargs:
            raise Refused(w, what, "called with more than one input (an initial state?); ctnn's "
                          "layers take one")
        x = node.args[0]
        if isinstance(m, nn.Conv2d):
            v = self.tensor(node, x, "image")
            if m.groups != 1:
                raise Refused(w, what, f"groups={m.groups}: ctnn's Conv2D is a full convolution "
                              "(groups=1)")
            if tuple(m.dilation) != (1, 1):
                raise Refused(w, what, f"dilation={tuple(m.dilation)}: ctnn's Conv2D has no "
                              "dilation")
            if m.padding_mode != "zeros":
                raise Refused(w, what, f"padding_mode='{m.padding_mode}': ctnn pads with zeros "
                              "only")
            rp = m._reversed_padding_repeated_twice  # left, right, top, bottom
            pads = (rp[2], rp[3], rp[0], rp[1])
            layer = L.conv(w, what, _np(m.weight), _np(m.bias), m.stride, pads, v.view[1:3])
            oh, ow = _shape(node)[2:]
            return self.layer(node, v, [layer], ("image", oh, ow, m.out_channels))
        if isinstance(m, (nn.MaxPool2d, nn.AvgPool2d)):
            v = self.tensor(node, x, "image")
            pair = lambda a: tuple(a) if isinstance(a, (tuple, list)) else (a, a)
            k, s, p = pair(m.kernel_size), pair(m.stride or m.kernel_size), pair(m.padding)
            if m.ceil_mode:
                raise Refused(w, what, "ceil_mode=True: ctnn's pooling rounds the output size "
                              "down (ceil_mode=False)")
            if isinstance(m, nn.MaxPool2d):
                if pair(m.dilation) != (1, 1):
                    raise Refused(w, what, "dilation: ctnn's pooling has none")
                if m.return_indices:
                    raise Refused(w, what, "return_indices=True: ctnn's pooling returns values")
            else:
                if m.divisor_override:
                    raise Refused(w, what, "divisor_override: ctnn's AvgPool2D divides by the "
                                  "window's size")
                if any(p) and not m.count_include_pad:
                    raise Refused(w, what, "count_include_pad=False with padding: ctnn's "
                                  "AvgPool2D counts the padding zeros in the average")
            layer = L.pool(w, what, "max" if isinstance(m, nn.MaxPool2d) else "avg", k, s,
                           (p[0], p[0], p[1], p[1]), v.view[1:3])
            oh, ow = _shape(node)[2:]
            return self.layer(node, v, [layer], ("image", oh, ow, v.view[3]))
        if isinstance(m, nn.AdaptiveAvgPool2d):
            v = self.tensor(node, x, "image")
            size = m.output_size if isinstance(m.output_size, tuple) else (m.output_size,) * 2
            if tuple(size) != (1, 1):
                raise Refused(w, what, f"output_size={m.output_size}: only 1 (global average "
                              "pooling, ctnn's GlobalAvgPool2D) is mapped")
            return self.layer(node, v, [Layer("ctnn::GlobalAvgPool2D", w)], ("pooled", v.view[3]))
        if isinstance(m, nn.Linear):
            v = self.tensor(node, x, "vec")
            return self.layer(node, v, [L.dense(w, _np(m.weight), _np(m.bias))],
                              ("vec", m.out_features))
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            v = self.tensor(node, x, "image" if isinstance(m, nn.BatchNorm2d) else "vec")
            if not m.track_running_stats or m.running_mean is None:
                raise Refused(w, what, "track_running_stats=False normalises by the batch's "
                              "statistics in inference; ctnn uses running statistics")
            mom = 0.1 if m.momentum is None else m.momentum
            layer = L.batchnorm(w, _np(m.weight) if m.affine else None,
                                _np(m.bias) if m.affine else None, _np(m.running_mean),
                                _np(m.running_var), m.eps, mom)
            return self.layer(node, v, [layer], v.view)
        if isinstance(m, (nn.ReLU, nn.Sigmoid, nn.Tanh)):
            v = self.tensor(node, x, "image", "seq", "vec", "pooled")
            return self.layer(node, v, [Layer(f"ctnn::{what}", w)], v.view)
        if isinstance(m, nn.Softmax):
            return self.softmax(node, x, m.dim)
        if isinstance(m, nn.Flatten):
            return self.flatten(node, x, m.start_dim, m.end_dim)
        if isinstance(m, nn.Dropout):
            v = self.tensor(node, x, "image", "seq", "vec", "pooled")
            if not 0 < m.p < 1:
                return v
            return self.layer(node, v, [Layer(f"ctnn::Dropout<{L.fmt_float(m.p)}f>", w)], v.view)
        if isinstance(m, nn.Identity):
            return self.val(node, x)
        if isinstance(m, (nn.LSTM, nn.GRU, nn.RNN)):
            v = self.tensor(node, x, "seq", "rows")
            kind = {nn.LSTM: "lstm", nn.GRU: "gru", nn.RNN: "rnn"}[type(m)]
            if not m.batch_first:
                raise Refused(w, what, "batch_first=False reads [time, batch, features]; ctnn's "
                              "recurrent layers read [batch, time, features]: use "
                              "batch_first=True")
            if getattr(m, "proj_size", 0):
                raise Refused(w, what, f"proj_size={m.proj_size}: ctnn's LSTM has no projection")
            if kind == "rnn" and m.nonlinearity != "tanh":
                raise Refused(w, what, f"nonlinearity='{m.nonlinearity}': ctnn's SimpleRNN is "
                              "tanh")
            r = _Rnn(f"{w} ({what})", m, kind)
            r.steps = v.view[1]
            r.gid = self.g.add("layer", [v.gid], r.layers, w)
            return _Val(r.gid, ("rnn", r))
        raise Refused(w, what, "no ctnn layer for this module")

    def softmax(self, node, x, dim):
        v = self.tensor(node, x, "vec", "image", "seq", "pooled")
        if v.view[0] != "vec" or dim not in (1, -1):
            raise Refused(self.where(node), "Softmax", f"dim={dim} on {_describe(v.view)}: ctnn's "
                          "Softmax normalises all values of a sample, a Vector's features (dim=1)")
        return self.layer(node, v, [Layer("ctnn::Softmax", self.where(node))], v.view)

    def flatten(self, node, x, start, end=-1):
        v = self.val(node, x)
        if start != 1 or end != -1:
            raise Refused(self.where(node), "flatten", f"start_dim={start}, end_dim={end}: only "
                          "flattening each sample (start_dim=1, end_dim=-1) is mapped")
        return self.to_vector(node, v)

    def to_vector(self, node, v):
        kind = v.view[0]
        if kind == "vec":
            return v
        if kind == "pooled":
            return _Val(v.gid, ("vec", v.view[1]))
        if kind in ("image", "seq"):
            n = int(np.prod(v.view[1:]))
            return self.layer(node, v, [Layer("ctnn::Flatten", self.where(node))], ("vec", n))
        raise Refused(self.where(node), "flatten", f"flattens {_describe(v.view)}; ctnn flattens "
                      "an image in PyTorch's (c, h, w) order only from NCHW")

    def function(self, node, f, args, kwargs):
        w = self.where(node)
        if f in _ARITHMETIC and all(isinstance(a, (int, float)) or (
                isinstance(a, torch.fx.Node) and self.env[a].view[0] == "int") for a in args):
            return _Val(None, ("int",))  # sizes computed from sizes
        if f in (operator.add, torch.add) and len(args) == 2 and not kwargs:
            a, b = (self.tensor(node, x, "image", "seq", "vec", "pooled") for x in args)
            if a.view != b.view:
                raise Refused(w, "add", f"adds {_describe(a.view)} and {_describe(b.view)}")
            return _Val(self.g.add("add", [a.gid, b.gid], source=w), a.view)
        if f in (torch.cat, getattr(torch, "concat", torch.cat)):
            return self.cat(node, args[0], kwargs.get("dim", args[1] if len(args) > 1 else 0))
        if f is torch.flatten:
            return self.flatten(node, args[0], kwargs.get("start_dim", args[1] if len(args) > 1
                                                          else 0),
                                kwargs.get("end_dim", args[2] if len(args) > 2 else -1))
        if f in (F.relu, torch.relu, torch.sigmoid, torch.tanh, F.sigmoid, F.tanh):
            v = self.tensor(node, args[0], "image", "seq", "vec", "pooled")
            name = {F.relu: "ReLU", torch.relu: "ReLU", torch.sigmoid: "Sigmoid",
                    F.sigmoid: "Sigmoid", torch.tanh: "Tanh", F.tanh: "Tanh"}[f]
            return self.layer(node, v, [Layer(f"ctnn::{name}", w)], v.view)
        if f in (F.softmax, torch.softmax):
            return self.softmax(node, args[0], kwargs.get("dim", args[1] if len(args) > 1
                                                          else None))
        if f in (F.dropout,):
            return self.val(node, args[0])
        if f is F.adaptive_avg_pool2d:
            v = self.tensor(node, args[0], "image")
            size = kwargs.get("output_size", args[1] if len(args) > 1 else None)
            if size not in (1, (1, 1), [1, 1]):
                raise Refused(w, "adaptive_avg_pool2d", f"output_size={size}: only 1 is mapped")
            return self.layer(node, v, [Layer("ctnn::GlobalAvgPool2D", w)], ("pooled", v.view[3]))
        if f is torch.mean:
            return self.mean(node, args[0], args[1:], kwargs)
        if f is getattr:
            v = self.val(node, args[0])
            if args[1] == "shape":
                return _Val(None, ("shape",))
            raise Refused(w, "getattr", f"attribute '{args[1]}'")
        if f is operator.getitem:
            return self.getitem(node, args[0], args[1])
        raise Refused(w, getattr(f, "__name__", str(f)), "no ctnn layer for this function")

    def method(self, node, name, args, kwargs):
        w = self.where(node)
        v = self.raw(node, args[0])
        if v.view[0] == "rnn_out":
            v = self.val(node, args[0])
        if name in ("size",):
            return _Val(None, ("shape",) if len(args) == 1 else ("int",))
        if name == "contiguous":
            return v
        if name in ("relu", "sigmoid", "tanh"):
            return self.function(node, {"relu": torch.relu, "sigmoid": torch.sigmoid,
                                        "tanh": torch.tanh}[name], args, kwargs)
        if name == "softmax":
            return self.softmax(node, args[0], kwargs.get("dim", args[1] if len(args) > 1
                                                          else None))
        if name == "mean":
            return self.mean(node, args[0], args[1:], kwargs)
        if name == "flatten":
            return self.flatten(node, args[0], kwargs.get("start_dim", args[1] if len(args) > 1
                                                          else 0),
                                kwargs.get("end_dim", args[2] if len(args) > 2 else -1))
        if name == "permute":
            dims = tuple(args[1]) if len(args) == 2 and isinstance(args[1], (tuple, list)) \
                else tuple(args[1:])
            if v.view[0] == "image" and dims == (0, 2, 3, 1):
                return _Val(v.gid, ("nhwc",) + v.view[1:])
            raise Refused(w, "permute", f"permute{dims} of {_describe(v.view)}: only an NCHW "
                          "image permuted to NHWC (0, 2, 3, 1) before it is reshaped into rows "
                          "for a recurrent layer is mapped")
        if name in ("reshape", "view"):
            out = _shape(node)
            kind = v.view[0]
            if kind == "nhwc" and len(out) == 3 and tuple(out[1:]) == (v.view[1],
                                                                      v.view[2] * v.view[3]):
                return _Val(v.gid, ("rows",) + v.view[1:])
            if kind in ("image", "seq", "vec", "pooled") and len(out) == 2:
                return self.to_vector(node, v)
            if kind == "vec" and len(out) == 2:
                return v
            raise Refused(w, name, f"{name} of {_describe(v.view)} to {list(out)}: only "
                          "flattening each sample, and an NHWC image reshaped to [batch, H, W*C] "
                          "rows for a recurrent layer, are mapped")
        if name == "squeeze" and v.view[0] == "rnn_h":
            r = v.view[1]
            if r.module.num_layers * (2 if r.module.bidirectional else 1) != 1:
                raise Refused(w, "squeeze", "h_n of several layers or directions")
            return self.last_of(node, r, 0)
        raise Refused(w, name, "no ctnn layer for this method")

    def mean(self, node, x, rest, kwargs):
        v = self.tensor(node, x, "image")
        dim = kwargs.get("dim", rest[0] if rest else None)
        keep = kwargs.get("keepdim", rest[1] if len(rest) > 1 else False)
        if dim is None or sorted(d % 4 for d in (dim if isinstance(dim, (tuple, list))
                                                 else [dim])) != [2, 3]:
            raise Refused(self.where(node), "mean", f"dim={dim}: only the mean over H and W "
                          "(dim=(2, 3), global average pooling) is mapped")
        view = ("pooled", v.view[3]) if keep else ("vec", v.view[3])
        return self.layer(node, v, [Layer("ctnn::GlobalAvgPool2D", self.where(node))], view)

    def cat(self, node, parts, dim):
        w = self.where(node)
        if not isinstance(parts, (list, tuple)):
            raise Refused(w, "cat", "not a list of tensors")
        vals = [self.raw(node, p) for p in parts]
        if not all(x.view[0] == "rnn_hi" for x in vals):
            vals = [self.val(node, p) for p in parts]
        if len(vals) == 2 and all(x.view[0] == "rnn_hi" for x in vals):
            return self.bidirectional_last(node, vals, dim)
        for x in vals:
            if x.view[0] not in ("image", "vec", "pooled"):
                raise Refused(w, "cat", f"joins {_describe(x.view)}: ctnn's Concat joins images "
                              "along channels or vectors along features")
        kinds = {x.view[0] for x in vals}
        if len(kinds) != 1 or dim not in (1, -3 if "image" in kinds else -1):
            raise Refused(w, "cat", f"dim={dim} of {', '.join(_describe(x.view) for x in vals)}: "
                          "ctnn's Concat joins images along channels (dim=1) or vectors along "
                          "features (dim=1)")
        if "image" in kinds:
            if len({x.view[1:3] for x in vals}) != 1:
                raise Refused(w, "cat", "images of different sizes")
            view = ("image",) + vals[0].view[1:3] + (sum(x.view[3] for x in vals),)
        else:
            view = (kinds.pop(), sum(x.view[1] for x in vals))
        return _Val(self.g.add("cat", [x.gid for x in vals], source=w), view)

    # --- recurrent results -------------------------------------------------------------------
    def getitem(self, node, x, idx):
        w = self.where(node)
        v = self.raw(node, x)
        kind = v.view[0]
        if kind == "shape":
            return _Val(None, ("int",))
        if kind == "rnn":
            r = v.view[1]
            if idx == 0:
                return _Val(v.gid, ("rnn_out", r))
            if idx == 1:
                return _Val(v.gid, ("rnn_hc" if r.kind == "lstm" else "rnn_h", r))
        if kind == "rnn_hc":
            if idx == 0:
                return _Val(v.gid, ("rnn_h", v.view[1]))
            return _Val(v.gid, ("rnn_c", v.view[1]))  # refused where it is used
        if kind == "rnn_out":
            r = v.view[1]
            if _is_last_step(idx):
                if r.module.bidirectional:
                    raise Refused(w, "getitem", "out[:, -1] of a bidirectional layer holds the "
                                  "backward direction after its first step; ctnn's Bidirectional "
                                  "gives torch.cat([h_n[-2], h_n[-1]], 1)")
                return self.last_of(node, r, None)
            raise Refused(w, "getitem", f"index {idx!r} of a recurrent output: only out[:, -1] "
                          "(the last step) is mapped")
        if kind == "rnn_h":
            r = v.view[1]
            if isinstance(idx, int):
                d = 2 if r.module.bidirectional else 1
                n = r.module.num_layers * d
                if not -n <= idx < n:
                    raise Refused(w, "getitem", f"index {idx} of h_n of {n} entries")
                i = idx % n
                if i // d != r.module.num_layers - 1:
                    raise Refused(w, "getitem", "h_n of a layer other than the last: ctnn gives "
                                  "the last layer's")
                if d == 1:
                    return self.last_of(node, r, 0)
                return _Val(v.gid, ("rnn_hi", r, i % d))
        raise Refused(w, "getitem", f"index {idx!r} of {_describe(v.view)}")

    def last_of(self, node, r, _):
        r.uses.add("last")
        return _Val(r.gid, ("vec", r.module.hidden_size))

    def bidirectional_last(self, node, vals, dim):
        w = self.where(node)
        (a, b) = vals
        if a.view[1] is not b.view[1] or (a.view[2], b.view[2]) != (0, 1) or dim not in (1, -1):
            raise Refused(w, "cat", "only torch.cat([h_n[-2], h_n[-1]], 1) (forward then backward "
                          "direction of the last layer) is ctnn's Bidirectional output")
        r = a.view[1]
        r.uses.add("last")
        return _Val(a.gid, ("vec", 2 * r.module.hidden_size))


_ARITHMETIC = (operator.add, operator.sub, operator.mul, operator.floordiv, operator.truediv)


def _is_last_step(idx):
    if not isinstance(idx, tuple) or len(idx) < 2:
        return False
    full = lambda s: isinstance(s, slice) and s == slice(None, None, None)
    return full(idx[0]) and idx[1] == -1 and all(full(s) for s in idx[2:]) and len(idx) <= 3


def _describe_kind(kind):
    return {"image": "an image [B, C, H, W]", "seq": "a sequence [B, T, F]",
            "vec": "a vector [B, N]", "rows": "image rows [B, H, W*C]",
            "pooled": "a pooled image [B, C, 1, 1]"}.get(kind, kind)


def _describe(view):
    k = view[0]
    if k == "image":
        return f"an image [B, {view[3]}, {view[1]}, {view[2]}]"
    if k == "seq":
        return f"a sequence [B, {view[1]}, {view[2]}]"
    if k == "vec":
        return f"a vector [B, {view[1]}]"
    if k == "nhwc":
        return f"an NHWC image [B, {view[1]}, {view[2]}, {view[3]}]"
    if k == "rows":
        return f"image rows [B, {view[1]}, {view[2] * view[3]}]"
    if k == "pooled":
        return f"a pooled image [B, {view[1]}, 1, 1]"
    if k.startswith("rnn"):
        return "the (output, state) of a recurrent module"
    return "a size"


def run(model, inputs_nchw):
    """The model's outputs in float64 for inputs in PyTorch's layout."""
    m = model.to(torch.float64).eval()
    with torch.no_grad():
        out = m(torch.from_numpy(inputs_nchw.astype(np.float64)))
    model.to(torch.float32)
    if isinstance(out, (tuple, list)):
        out = out[0]
    return out.numpy()
