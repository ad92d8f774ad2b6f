"""A float64 evaluator of the ONNX operators the converter accepts, after the operators'
definitions in the ONNX specification (https://onnx.ai/onnx/operators/), so that the sample's
outputs of an ONNX source come from the ONNX graph itself, not from ctnn's reading of it.
(Debian's python3-onnx 1.12 has no reference evaluator.)"""

import numpy as np
from onnx import numpy_helper


def _attrs(node):
    out = {}
    for a in node.attribute:
        import onnx
        out[a.name] = onnx.helper.get_attribute_value(a)
        if isinstance(out[a.name], bytes):
            out[a.name] = out[a.name].decode()
        if a.type == onnx.AttributeProto.TENSOR:
            out[a.name] = numpy_helper.to_array(a.t)
    return out


def _pad4(x, pads, value=0.0):
    """x [N, C, H, W], pads ONNX's [top, left, bottom, right]."""
    t, l, b, r = pads
    return np.pad(x, ((0, 0), (0, 0), (t, b), (l, r)), constant_values=value)


def _windows(x, kh, kw, sh, sw):
    n, c, h, w = x.shape
    oh, ow = (h - kh) // sh + 1, (w - kw) // sw + 1
    out = np.empty((n, c, oh, ow, kh, kw), x.dtype)
    for i in range(kh):
        for j in range(kw):
            out[..., i, j] = x[:, :, i:i + sh * (oh - 1) + 1:sh, j:j + sw * (ow - 1) + 1:sw]
    return out


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def _rnn(op, a, x, W, R, B, h0, c0):
    """ONNX LSTM / GRU / RNN, layout 0: x [T, N, F]; returns Y [T, D, N, H], Y_h, Y_c."""
    direction = a.get("direction", "forward")
    dirs = 2 if direction == "bidirectional" else 1
    hsz = R.shape[-1]
    t_steps, n = x.shape[0], x.shape[1]
    ys, hs, cs = [], [], []
    for d in range(dirs):
        reverse = direction == "reverse" or d == 1
        w, r = W[d], R[d]
        b = B[d] if B is not None else np.zeros(2 * w.shape[0])
        wb, rb = b[:w.shape[0]], b[w.shape[0]:]
        h = h0[d] if h0 is not None else np.zeros((n, hsz))
        c = c0[d] if c0 is not None else np.zeros((n, hsz))
        y = np.zeros((t_steps, n, hsz))
        for t in (range(t_steps - 1, -1, -1) if reverse else range(t_steps)):
            xt = x[t] @ w.T + wb
            if op == "LSTM":
                g = xt + h @ r.T + rb
                i, o, f, cc = np.split(g, 4, axis=1)
                i, o, f, cc = _sigmoid(i), _sigmoid(o), _sigmoid(f), np.tanh(cc)
                c = f * c + i * cc
                h = o * np.tanh(c)
            elif op == "GRU":
                xz, xr, xh = np.split(xt, 3, axis=1)
                rz, rr, rh = np.split(r, 3, axis=0)
                bz, br, bh = np.split(rb, 3)
                z = _sigmoid(xz + h @ rz.T + bz)
                rt = _sigmoid(xr + h @ rr.T + br)
                if a.get("linear_before_reset", 0):
                    hh = np.tanh(xh + rt * (h @ rh.T + bh))
                else:
                    hh = np.tanh(xh + (rt * h) @ rh.T + bh)
                h = (1 - z) * hh + z * h
            else:
                h = np.tanh(xt + h @ r.T + rb)
            y[t] = h
        ys.append(y)
        hs.append(h)
        cs.append(c)
    return np.stack(ys, 1), np.stack(hs), np.stack(cs)


def evaluate(model, inputs):
    """{value name: numpy array} of every value of model.graph for the graph input `inputs`."""
    g = model.graph
    env = {i.name: numpy_helper.to_array(i).astype(np.float64)
           if numpy_helper.to_array(i).dtype.kind == "f" else numpy_helper.to_array(i)
           for i in g.initializer}
    real_inputs = [i.name for i in g.input if i.name not in env]
    env[real_inputs[0]] = inputs.astype(np.float64)
    env[""] = None
    for node in g.node:
        a = _attrs(node)
        x = [env.get(i) for i in node.input]
        op = node.op_type
        if op == "Constant":
            r = [a["value"]]
        elif op == "Identity" or op == "Dropout":
            r = [x[0], np.ones(x[0].shape, bool)]
        elif op == "Shape":
            r = [np.array(x[0].shape, np.int64)]
        elif op == "Gather":
            r = [np.take(x[0], x[1], axis=a.get("axis", 0))]
        elif op == "Unsqueeze":
            axes = a.get("axes", x[1] if len(x) > 1 else None)
            r = [np.expand_dims(x[0], tuple(int(v) for v in np.ravel(axes)))]
        elif op == "Squeeze":
            axes = a.get("axes", x[1] if len(x) > 1 else None)
            r = [np.squeeze(x[0], None if axes is None else tuple(int(v) for v in np.ravel(axes)))]
        elif op == "Concat":
            r = [np.concatenate(x, axis=a["axis"])]
        elif op == "ConstantOfShape":
            v = a.get("value", np.zeros(1))
            r = [np.full(tuple(x[0]), v.ravel()[0], dtype=v.dtype)]
        elif op == "Expand":
            r = [x[0] * np.ones(tuple(x[1]), dtype=x[0].dtype)]
        elif op == "Slice":
            starts, ends = x[1], x[2]
            axes = x[3] if len(x) > 3 and x[3] is not None else range(len(starts))
            steps = x[4] if len(x) > 4 and x[4] is not None else [1] * len(starts)
            sl = [slice(None)] * x[0].ndim
            for s, e, ax, st in zip(starts, ends, axes, steps):
                sl[int(ax)] = slice(int(s), int(e), int(st))
            r = [x[0][tuple(sl)]]
        elif op == "Transpose":
            r = [np.transpose(x[0], a.get("perm"))]
        elif op == "Reshape":
            shape = [int(s) for s in x[1]]
            shape = [x[0].shape[i] if s == 0 else s for i, s in enumerate(shape)]
            r = [x[0].reshape(shape)]
        elif op == "Flatten":
            ax = a.get("axis", 1)
            r = [x[0].reshape(int(np.prod(x[0].shape[:ax])), -1)]
        elif op == "Relu":
            r = [np.maximum(x[0], 0)]
        elif op == "Sigmoid":
            r = [_sigmoid(x[0])]
        elif op == "Tanh":
            r = [np.tanh(x[0])]
        elif op == "Softmax":
            ax = a.get("axis", -1)
            e = np.exp(x[0] - x[0].max(axis=ax, keepdims=True))
            r = [e / e.sum(axis=ax, keepdims=True)]
        elif op == "Add":
            r = [x[0] + x[1]]
        elif op == "Sub":
            r = [x[0] - x[1]]
        elif op == "Mul":
            r = [x[0] * x[1]]
        elif op == "Div":
            r = [x[0] // x[1] if x[0].dtype.kind in "iu" else x[0] / x[1]]
        elif op == "Cast":
            from onnx.mapping import TENSOR_TYPE_TO_NP_TYPE
            r = [x[0].astype(TENSOR_TYPE_TO_NP_TYPE[a["to"]])]
        elif op == "ReduceMean":
            axes = a.get("axes", x[1] if len(x) > 1 else None)
            axes = None if axes is None else tuple(int(v) for v in np.ravel(axes))
            r = [x[0].mean(axis=axes, keepdims=bool(a.get("keepdims", 1)))]
        elif op == "MatMul":
            r = [x[0] @ x[1]]
        elif op == "Gemm":
            A = x[0].T if a.get("transA", 0) else x[0]
            B = x[1].T if a.get("transB", 0) else x[1]
            y = a.get("alpha", 1.0) * (A @ B)
            if len(x) > 2 and x[2] is not None:
                y = y + a.get("beta", 1.0) * x[2]
            r = [y]
        elif op == "BatchNormalization":
            s = (1, -1) + (1,) * (x[0].ndim - 2)
            r = [(x[0] - x[3].reshape(s)) / np.sqrt(x[4].reshape(s) + a.get("epsilon", 1e-5))
                 * x[1].reshape(s) + x[2].reshape(s)]
        elif op == "Pad":
            pads = [int(p) for p in (x[1] if len(x) > 1 else a["pads"])]
            h = len(pads) // 2
            r = [np.pad(x[0], list(zip(pads[:h], pads[h:])))]
        elif op == "Conv":
            w = x[1]
            k = w.shape[2:]
            s = a.get("strides", [1, 1])
            p = a.get("pads", [0, 0, 0, 0])
            xp = _pad4(x[0], [p[0], p[1], p[2], p[3]])
            win = _windows(xp, k[0], k[1], s[0], s[1])  # n c oh ow kh kw
            y = np.einsum("ncijkl,fckl->nfij", win, w)
            if len(x) > 2 and x[2] is not None:
                y = y + x[2].reshape(1, -1, 1, 1)
            r = [y]
        elif op in ("MaxPool", "AveragePool"):
            k = a["kernel_shape"]
            s = a.get("strides", [1, 1])
            p = a.get("pads", [0, 0, 0, 0])
            fill = -np.inf if op == "MaxPool" else 0.0
            win = _windows(_pad4(x[0], [p[0], p[1], p[2], p[3]], fill), k[0], k[1], s[0], s[1])
            r = [win.max(axis=(4, 5)) if op == "MaxPool" else win.mean(axis=(4, 5))]
        elif op == "GlobalAveragePool":
            r = [x[0].mean(axis=(2, 3), keepdims=True)]
        elif op in ("LSTM", "GRU", "RNN"):
            xs = x + [None] * (8 - len(x))
            r = list(_rnn(op, a, xs[0], xs[1], xs[2], xs[3], xs[5], xs[6] if op == "LSTM"
                          else None))
        else:
            raise KeyError(op)
        for name, v in zip(node.output, r):
            env[name] = v
    return env
