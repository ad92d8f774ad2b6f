"""ONNX model -> Graph. The graph is first evaluated in float64 (onnx_eval) on the sample's
inputs, which gives every value's shape and the values of the exporters' shape bookkeeping
(Shape, Gather, Unsqueeze, Concat, Expand, Constant, ...), which is dropped; each operator on
the data becomes a ctnn layer, a sum, a concatenation or a change of view of the same values, as
in torch_front; anything else is refused with the node's name and operator."""

import numpy as np
import onnx

from . import layers as L
from .ir import Graph, Layer, Refused
from .onnx_eval import _attrs, evaluate

SAMPLES = 4
# PyTorch's gate order from ONNX's: LSTM i,f,g,o from i,o,f,c; GRU r,z,n from z,r,h.
GATES = {"LSTM": [0, 2, 3, 1], "GRU": [1, 0, 2], "RNN": [0]}


class _V:
    def __init__(self, gid, view):
        self.gid, self.view = gid, view


class _Rnn:
    def __init__(self, where, op, hidden, bidirectional, tensors, steps):
        self.where, self.op, self.hidden, self.bi = where, op, hidden, bidirectional
        self.tensors, self.steps, self.uses = tensors, steps, set()

    def layers(self):
        if len(self.uses) != 1:
            raise Refused(self.where, self.op, "both the whole output sequence and the last step "
                          "are used" if self.uses else "its output is not used in a way ctnn "
                          "knows")
        return L.recurrent(self.where, self.op.lower(), self.hidden, 1, self.bi,
                           "seq" in self.uses, lambda k, sfx: self.tensors[sfx])


def _f32(a):
    return np.ascontiguousarray(a, dtype=np.float32)


def convert(path):
    try:
        model = onnx.load(path)
    except Exception as e:
        raise ValueError(f"{path}: not a readable ONNX model: {e}") from None
    opset = max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=0)
    if not 11 <= opset <= 17:
        raise Refused(path, f"opset {opset}", "the converter reads ONNX opsets 11 to 17")
    g = model.graph
    inits = {i.name for i in g.initializer}
    inputs = [i for i in g.input if i.name not in inits]
    if len(inputs) != 1 or len(g.output) != 1:
        raise Refused(path, "graph", f"{len(inputs)} inputs and {len(g.output)} outputs; a ctnn "
                      "network has one of each")
    dims = [d.dim_value if d.HasField("dim_value") else None
            for d in inputs[0].type.tensor_type.shape.dim]
    if len(dims) not in (2, 3, 4) or any(d is None or d <= 0 for d in dims[1:]):
        raise Refused(inputs[0].name, "input", f"shape {dims}: expected [batch, C, H, W], "
                      "[batch, T, F] or [batch, N] with fixed sizes after the batch")
    dims = tuple(dims[1:])
    for n in g.node:
        if n.domain not in ("", "ai.onnx"):
            raise Refused(n.name, f"{n.domain}.{n.op_type}", "an operator outside the ONNX domain")
    rng = np.random.default_rng(0)
    batch = dims and (g.input[0].type.tensor_type.shape.dim[0])
    b = batch.dim_value if batch.HasField("dim_value") else SAMPLES
    x = rng.uniform(-1.0, 1.0, size=(b,) + dims)
    try:
        env = evaluate(model, x)
    except KeyError as e:
        bad = next(n for n in g.node if n.op_type == e.args[0])
        raise Refused(bad.name, bad.op_type, "no ctnn layer for this operator") from None
    except Exception as e:
        raise Refused(path, "graph", f"cannot be evaluated: {type(e).__name__}: {e}") from None
    front = _Front(model, env, inputs[0].name, dims, opset)
    graph = front.run()
    out = env[g.output[0].name]
    kind = front.output_view[0]
    if out.ndim == 4 and kind == "image":
        out = out.transpose(0, 2, 3, 1)
    out = out.reshape(out.shape[0], *([-1] if kind in ("pooled", "vec") else out.shape[1:]))
    xin = x.transpose(0, 2, 3, 1) if x.ndim == 4 else x
    from .ir import build
    return dict(dims=dims, ctnn_dims=(dims[1], dims[2], dims[0]) if len(dims) == 3 else dims,
                chain=build(graph), inputs=_f32(xin), outputs=np.ascontiguousarray(out))


class _Front:
    def __init__(self, model, env, input_name, dims, opset):
        self.model, self.env, self.opset = model, env, opset
        self.g = Graph()
        d = dims
        view = ("image", d[1], d[2], d[0]) if len(d) == 3 else \
            ("seq", d[0], d[1]) if len(d) == 2 else ("vec", d[0])
        self.vals = {input_name: _V(0, view)}  # values computed from the input

    def run(self):
        for node in self.model.graph.node:
            self.node = node
            dyn = [i for i in node.input if i in self.vals]
            if not dyn or node.op_type == "Shape":
                continue  # constants and shape bookkeeping: their values are known
            res = self.visit(node, node.op_type, _attrs(node))
            if not isinstance(res, (list, tuple)):
                res = [res]
            for name, v in zip(node.output, res):
                if v is not None:
                    self.vals[name] = v
        out = self.model.graph.output[0].name
        v = self.vals.get(out)
        if v is None:
            raise Refused(out, "output", "the output does not depend on the input")
        v = self.plain(v)
        if v.view[0] not in ("image", "seq", "vec", "pooled"):
            raise Refused(out, "output", f"the model returns {v.view[0]} values")
        self.g.output, self.output_view = v.gid, v.view
        return self.g

    # --- helpers -----------------------------------------------------------------------------
    def refuse(self, why):
        raise Refused(self.node.name or self.node.output[0], self.node.op_type, why)

    def const(self, name):
        if name in self.vals:
            self.refuse(f"input '{name}' depends on the model's input; it must be a constant")
        return self.env[name]

    def shape(self, name):
        return self.env[name].shape

    def plain(self, v):
        """A recurrent output read as a whole: its sequence."""
        if v.view[0] == "rnn_seq":
            v.view[1].uses.add("seq")
            r = v.view[1]
            return _V(v.gid, ("seq", r.steps, r.hidden * (2 if r.bi else 1)))
        return v

    def get(self, i, *kinds):
        v = self.vals[self.node.input[i]]
        if "seq" in kinds:
            v = self.plain(v)
        if kinds and v.view[0] not in kinds:
            self.refuse(f"reads {v.view[0]} values; it needs {' or '.join(kinds)}")
        return v

    def layer(self, v, layers, view):
        where = self.node.name or self.node.output[0]
        for layer in layers:
            layer.source = f"{where} ({self.node.op_type})"
        return _V(self.g.add("layer", [v.gid], layers, where), view)

    def out_shape(self):
        return self.env[self.node.output[0]].shape

    # --- operators -----------------------------------------------------------------------------
    def visit(self, node, op, a):
        where = node.name or node.output[0]
        if op in ("Identity", "Dropout"):
            return self.vals[node.input[0]]
        if op == "Pad":
            v = self.get(0, "image")
            mode = a.get("mode", "constant")
            pads = [int(p) for p in (self.const(node.input[1]) if len(node.input) > 1
                                     else a["pads"])]
            value = self.const(node.input[2]) if len(node.input) > 2 and node.input[2] else 0
            if mode != "constant" or np.any(np.asarray(value) != 0):
                self.refuse(f"mode '{mode}' value {value}: only constant zero pads are mapped")
            if len(pads) != 8 or any(pads[i] for i in (0, 1, 4, 5)) or min(pads) < 0:
                self.refuse(f"pads {pads}: only non-negative pads of H and W are mapped")
            if not any(pads):
                return v
            t, l, b, r = pads[2], pads[3], pads[6], pads[7]
            return _V(v.gid, ("padded", v, (t, b, l, r)))
        if op in ("Conv", "MaxPool", "AveragePool"):
            return self.window(node, op, a)
        if op == "BatchNormalization":
            v = self.get(0, "image", "vec")
            if len(node.output) > 1 and any(node.output[1:]):
                self.refuse("training-mode outputs (running statistics) are used")
            c = [_f32(self.const(i)) for i in node.input[1:5]]
            layer = L.batchnorm(where, c[0], c[1], c[2], c[3], a.get("epsilon", 1e-5),
                                float(f"{1 - a.get('momentum', 0.9):.6g}"))
            return self.layer(v, [layer], v.view)
        if op in ("Relu", "Sigmoid", "Tanh"):
            v = self.get(0, "image", "seq", "vec", "pooled")
            return self.layer(v, [Layer(f"ctnn::{ {'Relu': 'ReLU'}.get(op, op)}", where)], v.view)
        if op == "Softmax":
            v = self.get(0, "vec")
            axis = a.get("axis", 1 if self.opset < 13 else -1)
            if axis not in (1, -1):
                self.refuse(f"axis {axis}: ctnn's Softmax normalises a vector's features")
            return self.layer(v, [Layer("ctnn::Softmax", where)], v.view)
        if op == "GlobalAveragePool":
            v = self.get(0, "image")
            return self.layer(v, [Layer("ctnn::GlobalAvgPool2D", where)], ("pooled", v.view[3]))
        if op == "ReduceMean":
            v = self.get(0, "image")
            axes = a.get("axes", self.const(node.input[1]) if len(node.input) > 1 else None)
            if axes is None or sorted(int(x) % 4 for x in np.ravel(axes)) != [2, 3]:
                self.refuse(f"axes {axes}: only the mean over H and W (global average pooling) "
                            "is mapped")
            view = ("pooled", v.view[3]) if a.get("keepdims", 1) else ("vec", v.view[3])
            return self.layer(v, [Layer("ctnn::GlobalAvgPool2D", where)], view)
        if op == "Flatten":
            if a.get("axis", 1) != 1:
                self.refuse(f"axis {a.get('axis')}: only flattening each sample (axis 1) is mapped")
            return self.to_vector(self.get(0))
        if op == "Reshape":
            return self.reshape(self.get(0), self.out_shape())
        if op == "Transpose":
            return self.transpose(self.get(0), tuple(a.get("perm", ())))
        if op == "Squeeze":
            v = self.get(0)
            if v.view[0] == "rnn_y" and not v.view[1].bi and self.out_shape() == \
                    self.shape(node.input[0])[:1] + self.shape(node.input[0])[2:]:
                return _V(v.gid, ("rnn_tb", v.view[1]))
            if v.view[0] == "rnn_h" and not v.view[1].bi and len(self.out_shape()) == 2:
                v.view[1].uses.add("last")
                return _V(v.gid, ("vec", v.view[1].hidden))
            return self.reshape(v, self.out_shape())
        if op == "Gemm":
            v = self.get(0, "vec")
            if a.get("transA", 0) or a.get("alpha", 1.0) != 1.0 or a.get("beta", 1.0) != 1.0:
                self.refuse("transA, alpha or beta other than PyTorch's Linear (0, 1, 1)")
            w = self.const(node.input[1])
            w = w if a.get("transB", 0) else w.T
            bias = self.const(node.input[2]) if len(node.input) > 2 and node.input[2] else None
            if bias is not None and bias.shape != (w.shape[0],):
                self.refuse(f"bias of shape {list(bias.shape)}: expected [{w.shape[0]}]")
            return self.layer(v, [L.dense(where, _f32(w), None if bias is None else _f32(bias))],
                              ("vec", w.shape[0]))
        if op == "MatMul":
            v = self.get(0, "vec")
            w = self.const(node.input[1])
            if w.ndim != 2:
                self.refuse("a product with a matrix of rank other than 2")
            layer = L.dense(where, _f32(w.T), None)
            return self.layer(v, [layer], ("vec", w.shape[1]))
        if op == "Add":
            dyn = [i for i in node.input if i in self.vals]
            if len(dyn) == 1:
                v = self.get(0 if node.input[0] in self.vals else 1, "vec")
                bias = self.const(node.input[1 if node.input[0] in self.vals else 0])
                n = self.g.node(v.gid) if v.gid else None
                if n is None or len(n.layers) != 1 or not n.layers[0].spec.startswith(
                        "ctnn::Dense") or "MatMul" not in n.layers[0].source or \
                        np.any(n.layers[0].tensors["bias"]) or bias.size != v.view[1]:
                    self.refuse("adds a constant to something other than a MatMul's product")
                n.layers[0].tensors["bias"] = _f32(bias.reshape(-1))
                return v
            x, y = self.plain(self.vals[node.input[0]]), self.plain(self.vals[node.input[1]])
            if x.view != y.view or x.view[0] not in ("image", "seq", "vec", "pooled"):
                self.refuse(f"adds {x.view} and {y.view}")
            return _V(self.g.add("add", [x.gid, y.gid], source=where), x.view)
        if op == "Concat":
            return self.concat(node, a)
        if op == "Gather":
            return self.gather(node, a)
        if op in ("LSTM", "GRU", "RNN"):
            return self.recurrent(node, op, a)
        if op in ("Unsqueeze", "Expand", "Slice", "ConstantOfShape"):
            self.refuse("applied to the data rather than to its shape; no ctnn layer does this")
        self.refuse("no ctnn layer for this operator")

    def window(self, node, op, a):
        where = node.name or node.output[0]
        v = self.get(0, "image", "padded")
        pre = (0, 0, 0, 0)
        if v.view[0] == "padded":
            if op == "MaxPool":
                self.refuse("zero pads before a max pooling: PyTorch's and ctnn's max pooling "
                            "pad with -infinity, so merging would change the result")
            pre, v = v.view[2], v.view[1]
        if a.get("auto_pad", "NOTSET") not in ("NOTSET", "VALID"):
            self.refuse(f"auto_pad {a['auto_pad']}: give explicit pads")
        p = a.get("pads", [0, 0, 0, 0])
        pads = (pre[0] + p[0], pre[1] + p[2], pre[2] + p[1], pre[3] + p[3])
        if any(d != 1 for d in a.get("dilations", [1, 1])):
            self.refuse(f"dilations {a['dilations']}: ctnn has no dilation")
        if a.get("ceil_mode", 0):
            self.refuse("ceil_mode=1: ctnn's pooling rounds the output size down")
        s = list(a.get("strides", [1, 1]))
        size = v.view[1:3]
        oh, ow = self.out_shape()[2:]
        if op == "Conv":
            if a.get("group", 1) != 1:
                self.refuse(f"group={a['group']}: ctnn's Conv2D is a full convolution")
            w = _f32(self.const(node.input[1]))
            bias = _f32(self.const(node.input[2])) if len(node.input) > 2 and node.input[2] \
                else None
            layer = L.conv(where, op, w, bias, s, pads, size)
            return self.layer(v, [layer], ("image", oh, ow, w.shape[0]))
        if op == "MaxPool" and len(node.output) > 1 and node.output[1]:
            self.refuse("the indices output is used")
        if op == "MaxPool" and a.get("storage_order", 0):
            self.refuse("storage_order=1")
        if op == "AveragePool" and any(p) and not a.get("count_include_pad", 0):
            # Zeros of a Pad node before it are counted whatever count_include_pad says.
            self.refuse("count_include_pad=0 with pads: ctnn's AvgPool2D counts the padding "
                        "zeros in the average")
        k = a["kernel_shape"]
        layer = L.pool(where, op, "max" if op == "MaxPool" else "avg", k, s, pads, size)
        return self.layer(v, [layer], ("image", oh, ow, v.view[3]))

    def to_vector(self, v):
        v = self.plain(v)
        kind = v.view[0]
        if kind == "vec":
            return v
        if kind == "pooled":
            return _V(v.gid, ("vec", v.view[1]))
        if kind in ("image", "seq"):
            return self.layer(v, [Layer("ctnn::Flatten", "")], ("vec", int(np.prod(v.view[1:]))))
        self.refuse(f"flattens {kind} values; only NCHW images, sequences and vectors flatten as "
                    "ctnn's Flatten does")

    def reshape(self, v, out):
        kind = v.view[0]
        if kind == "nhwc" and tuple(out[1:]) == (v.view[1], v.view[2] * v.view[3]):
            return _V(v.gid, ("rows",) + v.view[1:])
        if kind == "rnn_yt" and len(out) == 3 and out[2] == 2 * v.view[1].hidden:
            return _V(v.gid, ("rnn_tb", v.view[1]))
        if len(out) == 2 and kind in ("image", "seq", "vec", "pooled", "rnn_seq"):
            return self.to_vector(v)
        self.refuse(f"reshapes {kind} values to {list(out)}: only flattening each sample, and an "
                    "NHWC image reshaped to [batch, H, W*C] rows for a recurrent layer, are mapped")

    def transpose(self, v, perm):
        kind = v.view[0]
        if kind == "image" and perm == (0, 2, 3, 1):
            return _V(v.gid, ("nhwc",) + v.view[1:])
        if kind in ("seq", "rows") and perm == (1, 0, 2):
            return _V(v.gid, ("tbf", v))
        if kind == "rnn_y" and perm == (0, 2, 1, 3):
            return _V(v.gid, ("rnn_yt", v.view[1]))
        if kind == "rnn_tb" and perm == (1, 0, 2):
            return _V(v.gid, ("rnn_seq", v.view[1]))
        self.refuse(f"permutes {kind} values by {list(perm)}; only an NCHW image to NHWC before "
                    "recurrent rows and the batch/time swaps around recurrent layers are mapped")

    def concat(self, node, a):
        axis = a["axis"]
        vals = [self.vals.get(i) for i in node.input]
        if any(x is None for x in vals):
            self.refuse("joins constants with values computed from the input")
        if all(x.view[0] == "rnn_h" for x in vals):
            return _V(vals[-1].gid, ("rnn_hn", [x.view[1] for x in vals]))
        if len(vals) == 2 and all(x.view[0] == "rnn_hi" for x in vals):
            (x, y) = vals
            if x.view[1] is not y.view[1] or (x.view[2], y.view[2]) != (0, 1) or axis not in (1, -1):
                self.refuse("only the forward then backward final state of the last layer, "
                            "along features, is ctnn's Bidirectional output")
            x.view[1].uses.add("last")
            return _V(x.gid, ("vec", 2 * x.view[1].hidden))
        vals = [self.plain(x) for x in vals]
        kinds = {x.view[0] for x in vals}
        if len(kinds) != 1 or not kinds <= {"image", "vec", "pooled"} or axis not in (1, -3 if
                                                                                     "image" in
                                                                                     kinds else -1):
            self.refuse(f"axis {axis} of {[x.view[0] for x in vals]}: ctnn's Concat joins images "
                        "along channels or vectors along features")
        if "image" in kinds:
            if len({x.view[1:3] for x in vals}) != 1:
                self.refuse("images of different sizes")
            view = ("image",) + vals[0].view[1:3] + (sum(x.view[3] for x in vals),)
        else:
            view = (kinds.pop(), sum(x.view[1] for x in vals))
        where = node.name or node.output[0]
        return _V(self.g.add("cat", [x.gid for x in vals], source=where), view)

    def gather(self, node, a):
        raw = self.vals[node.input[0]]
        if node.input[1] in self.vals:
            self.refuse("indices computed from the input")
        idx = self.const(node.input[1])
        axis = a.get("axis", 0)
        kind = raw.view[0]
        if idx.ndim == 0 and kind == "rnn_seq" and axis == 1:
            r = raw.view[1]
            if int(idx) not in (-1, r.steps - 1):
                self.refuse(f"step {int(idx)} of a recurrent output: only the last is mapped")
            if r.bi:
                self.refuse("the last step of a bidirectional layer's output holds the backward "
                            "direction after one step; ctnn's Bidirectional gives the final "
                            "states of both directions")
            r.uses.add("last")
            return _V(r.gid, ("vec", r.hidden))
        if idx.ndim == 0 and kind in ("rnn_hn", "rnn_h") and axis == 0:
            i = int(idx)
            rs = raw.view[1] if kind == "rnn_hn" else [raw.view[1]]
            d = 2 if rs[-1].bi else 1
            n = d * len(rs)
            if not -n <= i < n or (i % n) // d != len(rs) - 1:
                self.refuse(f"h_n[{i}] is not the last layer's final state")
            r = rs[-1]
            if d == 1:
                r.uses.add("last")
                return _V(r.gid, ("vec", r.hidden))
            return _V(r.gid, ("rnn_hi", r, i % d))
        self.refuse(f"indexes {kind} values; only the last step of a recurrent layer and its "
                    "final state are mapped")

    def recurrent(self, node, op, a):
        where = node.name or node.output[0]
        v = self.vals[node.input[0]]
        if a.get("layout", 0) != 0:
            self.refuse("layout=1: the converter reads the [time, batch, features] layout that "
                        "PyTorch's exporter writes")
        if v.view[0] == "tbf":
            src = v.view[1]
        elif v.view[0] == "rnn_tb":
            r0 = v.view[1]
            r0.uses.add("seq")
            src = _V(v.gid, ("seq", r0.steps, r0.hidden * (2 if r0.bi else 1)))
        else:
            self.refuse(f"reads {v.view[0]} values as [time, batch, features]; ctnn's recurrent "
                        "layers read the model's [batch, time, features] sequence")
        steps = src.view[1]
        ins = list(node.input) + [""] * 8
        if ins[4]:
            self.refuse("sequence_lens: ctnn runs every sequence to its full length")
        if op == "LSTM" and ins[7]:
            self.refuse("peephole weights: ctnn's LSTM has none")
        for k in (5, 6):
            if ins[k] and (ins[k] in self.vals or np.any(self.env[ins[k]] != 0)):
                self.refuse("a non-zero initial state: ctnn's recurrent layers start from zero")
        direction = a.get("direction", "forward")
        if direction == "reverse":
            self.refuse("direction 'reverse' alone: ctnn reverses only inside Bidirectional")
        if a.get("clip") is not None:
            self.refuse("clip: ctnn does not clip the cell")
        if op == "LSTM" and a.get("input_forget", 0):
            self.refuse("input_forget=1: ctnn's LSTM has separate input and forget gates")
        acts = a.get("activations")
        default = {"LSTM": ["Sigmoid", "Tanh", "Tanh"], "GRU": ["Sigmoid", "Tanh"],
                   "RNN": ["Tanh"]}[op]
        if acts and [x if isinstance(x, str) else x.decode() for x in acts] != \
                default * (2 if direction == "bidirectional" else 1):
            self.refuse(f"activations {acts}: ctnn's cells use {default}")
        if op == "GRU" and not a.get("linear_before_reset", 0):
            self.refuse("linear_before_reset=0: ctnn's GRU (as PyTorch's) applies the reset gate "
                        "after the recurrent product")
        W, R = self.const(ins[1]), self.const(ins[2])
        B = self.const(ins[3]) if ins[3] else np.zeros((W.shape[0], 2 * W.shape[1]))
        hidden = a["hidden_size"]
        order = GATES[op]

        def reorder(m):
            blocks = np.split(m, len(order), axis=0)
            return _f32(np.concatenate([blocks[j] for j in order], axis=0))

        tensors = {}
        for d, sfx in enumerate(("", "_reverse")[:W.shape[0]]):
            gh = W.shape[1]
            tensors[sfx] = (reorder(W[d]), reorder(R[d]), reorder(B[d][:gh]), reorder(B[d][gh:]))
        r = _Rnn(f"{where} ({op})", op, hidden, direction == "bidirectional", tensors, steps)
        r.gid = self.g.add("layer", [src.gid], r.layers, where)
        return [_V(r.gid, ("rnn_y", r)), _V(r.gid, ("rnn_h", r)), None]
