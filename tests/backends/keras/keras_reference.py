"""Independent references for the Keras backend's one-node tests: each op computed from the
graph's canonical parameters with ``torch.nn.functional`` or numpy, never through netspec's
own backends (the torch backend is built in parallel; this keeps the Keras tests standalone).

``reference(graph, inputs)`` returns the canonical output of a one-node graph.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

REF = {}


def ref(*ops):
    def wrap(fn):
        for op in ops:
            REF[op] = fn
        return fn
    return wrap


def _t(a):
    return torch.from_numpy(np.ascontiguousarray(a))


def _pad_arg(pairs):
    """Per-axis (begin, end) pairs -> F.pad's last-axis-first flat list."""
    out = []
    for b, e in reversed(pairs):
        out += [b, e]
    return out


def _symmetric(pairs):
    return all(b == e for b, e in pairs)


CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
CONV_T = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}


@ref("conv", "temporal_conv")
def ref_conv(node, x):
    a = node.attrs
    x = F.pad(x[0], _pad_arg(a["padding"]))
    b = _t(node.params["bias"]) if a["bias"] else None
    return CONV[len(a["kernel"])](x, _t(node.params["weight"]), b, a["stride"], 0, a["dilation"], a["groups"])


@ref("conv_transpose")
def ref_conv_transpose(node, x):
    a = node.attrs
    b = _t(node.params["bias"]) if a["bias"] else None
    extra = [max(o - e, 0) for o, (_, e) in zip(a["output_padding"], a["padding"])]
    full = CONV_T[len(a["kernel"])](x[0], _t(node.params["weight"]), b, a["stride"], 0, extra,
                                    a["groups"], a["dilation"])
    index = (slice(None), slice(None)) + tuple(slice(p[0], p[0] + n)
                                               for p, n in zip(a["padding"], node.type.shape[2:]))
    return full[index]


@ref("locally_connected")
def ref_locally_connected(node, x):
    a = node.attrs
    xp = np.pad(x[0].numpy(), [(0, 0), (0, 0), *a["padding"]])
    w = node.params["weight"]
    out_sp = node.type.shape[2:]
    y = np.zeros((xp.shape[0], a["filters"], *out_sp), np.float64)
    for pos in np.ndindex(*out_sp):
        window = tuple(slice(p * s, p * s + k) for p, s, k in zip(pos, a["stride"], a["kernel"]))
        patch = xp[(slice(None), slice(None), *window)]  # N, C, *k
        y[(slice(None), slice(None), *pos)] = patch.reshape(len(patch), -1) @ w[pos].reshape(a["filters"], -1).T
    if a["bias"]:
        y += node.params["bias"][None]
    return _t(y.astype(np.float32))


@ref("dense")
def ref_dense(node, x):
    return F.linear(x[0], _t(node.params["weight"]), _t(node.params["bias"]) if node.attrs["bias"] else None)


@ref("embedding")
def ref_embedding(node, x):
    return F.embedding(x[0].long(), _t(node.params["weight"]))


@ref("add")
def ref_add(node, x):
    return sum(x[1:], x[0])


@ref("multiply")
def ref_multiply(node, x):
    out = x[0]
    for t in x[1:]:
        out = out * t
    return out


@ref("concat")
def ref_concat(node, x):
    return torch.cat(x, dim=node.attrs["axis"])


@ref("batchnorm")
def ref_batchnorm(node, x):
    p = {k: _t(v) for k, v in node.params.items()}
    return F.batch_norm(x[0], p["running_mean"], p["running_var"], p["weight"], p["bias"], False, 0.0,
                        node.attrs["eps"])


@ref("layernorm")
def ref_layernorm(node, x):
    shape = node.params["weight"].shape
    return F.layer_norm(x[0], shape, _t(node.params["weight"]), _t(node.params["bias"]), node.attrs["eps"])


@ref("lrn")
def ref_lrn(node, x):
    a = node.attrs
    return F.local_response_norm(x[0], a["size"], a["alpha"], a["beta"], a["bias"])


for _op, _fn in {
    "dropout": lambda n, x: x[0],
    "relu": lambda n, x: F.relu(x[0]),
    "leaky_relu": lambda n, x: F.leaky_relu(x[0], n.attrs["alpha"]),
    "elu": lambda n, x: F.elu(x[0], n.attrs["alpha"]),
    "sigmoid": lambda n, x: torch.sigmoid(x[0]),
    "tanh": lambda n, x: torch.tanh(x[0]),
    "gelu": lambda n, x: F.gelu(x[0], approximate=n.attrs["approximate"]),
    "softmax": lambda n, x: F.softmax(x[0], dim=n.attrs["axis"]),
    "flatten": lambda n, x: x[0].reshape(x[0].shape[0], -1),
    "reshape": lambda n, x: x[0].reshape(x[0].shape[0], *n.attrs["shape"]),
    "transpose": lambda n, x: x[0].permute(*n.attrs["perm"]),
    "globalavgpool": lambda n, x: x[0].mean(dim=tuple(range(2, x[0].ndim)), keepdim=True),
    "globalmaxpool": lambda n, x: x[0].amax(dim=tuple(range(2, x[0].ndim)), keepdim=True),
}.items():
    REF[_op] = _fn

MAXPOOL = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}
AVGPOOL = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}


@ref("maxpool")
def ref_maxpool(node, x):
    a = node.attrs
    if _symmetric(a["padding"]):
        return MAXPOOL[len(a["kernel"])](x[0], a["kernel"], a["stride"], [b for b, _ in a["padding"]],
                                         ceil_mode=a["ceil_mode"])
    assert not a["ceil_mode"]
    xp = F.pad(x[0], _pad_arg(a["padding"]), value=-np.inf)
    return MAXPOOL[len(a["kernel"])](xp, a["kernel"], a["stride"])


@ref("avgpool")
def ref_avgpool(node, x):
    a = node.attrs
    nd = len(a["kernel"])
    if _symmetric(a["padding"]):
        return AVGPOOL[nd](x[0], a["kernel"], a["stride"], [b for b, _ in a["padding"]],
                           ceil_mode=a["ceil_mode"], count_include_pad=a["count_include_pad"])
    assert not a["ceil_mode"]
    pad = _pad_arg(a["padding"])
    total = AVGPOOL[nd](F.pad(x[0], pad), a["kernel"], a["stride"])
    if a["count_include_pad"]:
        return total
    mask = F.pad(torch.ones_like(x[0][:1, :1]), pad)
    return total / AVGPOOL[nd](mask, a["kernel"], a["stride"])


@ref("pad")
def ref_pad(node, x):
    a = node.attrs
    if a["mode"] == "constant":
        return F.pad(x[0], _pad_arg(a["pads"]), value=a["value"])
    return F.pad(x[0], _pad_arg(a["pads"]), mode=a["mode"])


@ref("crop")
def ref_crop(node, x):
    index = (slice(None), slice(None)) + tuple(slice(b, n - e) for (b, e), n in
                                               zip(node.attrs["crop"], x[0].shape[2:]))
    return x[0][index]


@ref("upsample")
def ref_upsample(node, x):
    a = node.attrs
    if a["mode"] == "nearest":
        return F.interpolate(x[0], scale_factor=a["scale"], mode="nearest")
    return F.interpolate(x[0], scale_factor=a["scale"], mode="bilinear", align_corners=a["align_corners"])


@ref("zero_upsample")
def ref_zero_upsample(node, x):
    s = node.attrs["scale"]
    out = torch.zeros(*x[0].shape[:2], *[n * k for n, k in zip(x[0].shape[2:], s)])
    out[(slice(None), slice(None), *[slice(None, None, k) for k in s])] = x[0]
    return out


def _recurrent_loop(node, x, step):
    p = {k: _t(v) for k, v in node.params.items()}
    n, steps = x.shape[0], x.shape[1]
    h = torch.zeros(n, node.attrs["units"])
    c = torch.zeros_like(h)
    outs = []
    for t in range(steps):
        h, c = step(p, x[:, t], h, c)
        outs.append(h)
    return torch.stack(outs, 1) if node.attrs["return_sequences"] else outs[-1]


@ref("lstm")
def ref_lstm(node, x):
    def step(p, xt, h, c):
        z = xt @ p["weight_ih"].T + p["bias_ih"] + h @ p["weight_hh"].T + p["bias_hh"]
        zi, zf, zg, zo = z.chunk(4, 1)
        peep = p.get("peephole", torch.zeros(3, h.shape[1]))
        i = torch.sigmoid(zi + peep[0] * c)
        f = torch.sigmoid(zf + peep[1] * c)
        c = f * c + i * torch.tanh(zg)
        o = torch.sigmoid(zo + peep[2] * c)
        return o * torch.tanh(c), c
    return _recurrent_loop(node, x[0], step)


@ref("gru")
def ref_gru(node, x):
    lbr = node.attrs["linear_before_reset"]

    def step(p, xt, h, c):
        gi = xt @ p["weight_ih"].T + p["bias_ih"]
        wr, wz, wn = p["weight_hh"].chunk(3, 0)
        br, bz, bn = p["bias_hh"].chunk(3, 0)
        ir, iz, inn = gi.chunk(3, 1)
        r = torch.sigmoid(ir + h @ wr.T + br)
        z = torch.sigmoid(iz + h @ wz.T + bz)
        if lbr:
            n = torch.tanh(inn + r * (h @ wn.T + bn))
        else:
            n = torch.tanh(inn + (r * h) @ wn.T + bn)
        return (1 - z) * n + z * h, c
    return _recurrent_loop(node, x[0], step)


@ref("rnn")
def ref_rnn(node, x):
    act = torch.tanh if node.attrs["activation"] == "tanh" else torch.relu

    def step(p, xt, h, c):
        return act(xt @ p["weight_ih"].T + p["bias_ih"] + h @ p["weight_hh"].T + p["bias_hh"]), c
    return _recurrent_loop(node, x[0], step)


# ---------------------------------------------------------------- low-level ops (torch)
BINARY = {"add": torch.add, "sub": torch.sub, "mul": torch.mul, "div": torch.div, "pow": torch.pow,
          "max": torch.maximum, "min": torch.minimum}
UNARY = {"sqrt": torch.sqrt, "exp": torch.exp, "log": torch.log, "abs": torch.abs, "neg": torch.neg,
         "reciprocal": torch.reciprocal, "erf": torch.erf, "floor": torch.floor, "ceil": torch.ceil}
REDUCE = {"mean": torch.mean, "sum": torch.sum, "max": torch.amax, "min": torch.amin}
REF["binary"] = lambda node, x: BINARY[node.attrs["fn"]](x[0], x[1])
REF["unary"] = lambda node, x: UNARY[node.attrs["fn"]](x[0])
REF["clip"] = lambda node, x: torch.clamp(x[0], node.attrs["min"], node.attrs["max"])
REF["cast"] = lambda node, x: x[0].to(getattr(torch, node.attrs["dtype"]))
REF["matmul"] = lambda node, x: x[0] @ x[1]
REF["where"] = lambda node, x: torch.where(x[0], x[1], x[2])
REF["reduce"] = lambda node, x: REDUCE[node.attrs["fn"]](x[0], dim=list(node.attrs["axes"]),
                                                          keepdim=node.attrs["keepdims"])
REF["constant"] = lambda node, x: _t(node.params["value"])


@ref("slice")
def ref_slice(node, x):
    index = [slice(None)] * x[0].ndim
    for start, end, axis, step in zip(*(node.attrs[k] for k in ("starts", "ends", "axes", "steps"))):
        index[axis] = slice(start, end, step)
    return x[0][tuple(index)]


@ref("gather")
def ref_gather(node, x):
    indices, axis = node.attrs["indices"], node.attrs["axis"]
    if isinstance(indices, tuple):
        return torch.index_select(x[0], axis, torch.tensor(indices))
    return torch.select(x[0], axis, indices)


def reference(graph, inputs) -> np.ndarray:
    node = graph.node(graph.outputs[0])
    with torch.no_grad():
        out = REF[node.op](node, [_t(inputs[n]) for n in node.inputs])
    return out.numpy()
