"""Independent computations of every op for the ONNX backend tests: torch.nn.functional
called directly (PyTorch defines the canonical semantics) and numpy loops where torch has no
functional form (peephole LSTM, GRU, RNN, locally connected, zero insertion).

``reference(node, params, xs)`` takes resolved attributes, canonical parameters and
channels-first inputs, all as the graph holds them, and returns the expected output.
"""
from __future__ import annotations

import itertools

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


def reference(node, xs):
    return np.asarray(REF[node.op](node.attrs, node.params, xs), dtype=np.float32)


def T(a):
    return torch.from_numpy(np.ascontiguousarray(a))


def _torch_pads(pairs):
    """(begin, end) per spatial axis -> F.pad's last-axis-first flat list."""
    return [p for pair in reversed(pairs) for p in pair]


def _nd(x):
    return x.ndim - 2


# ---------------------------------------------------------------- conv family
@ref("conv", "temporal_conv")
def conv(a, p, xs):
    nd = _nd(xs[0])
    x = F.pad(T(xs[0]), _torch_pads(a["padding"]))
    fn = (F.conv1d, F.conv2d, F.conv3d)[nd - 1]
    return fn(x, T(p["weight"]), T(p["bias"]) if "bias" in p else None,
              stride=a["stride"], dilation=a["dilation"], groups=a["groups"]).numpy()


@ref("conv_transpose")
def conv_transpose(a, p, xs):
    nd = _nd(xs[0])
    fn = (F.conv_transpose1d, F.conv_transpose2d, F.conv_transpose3d)[nd - 1]
    full = fn(T(xs[0]), T(p["weight"]), T(p["bias"]) if "bias" in p else None,
              stride=a["stride"], dilation=a["dilation"], groups=a["groups"],
              output_padding=a["output_padding"]).numpy()
    # padding (begin, end) removes positions from the full output, as ONNX's pads do
    index = [slice(None), slice(None)] + [slice(b, n - e) for (b, e), n in zip(a["padding"], full.shape[2:])]
    return full[tuple(index)]


@ref("locally_connected")
def locally_connected(a, p, xs):
    x = np.pad(xs[0], [(0, 0), (0, 0), *a["padding"]])
    w = p["weight"]
    nd = _nd(x)
    out_sp = w.shape[:nd]
    out = np.zeros((x.shape[0], w.shape[nd], *out_sp), np.float64)
    for pos in itertools.product(*map(range, out_sp)):
        window = tuple(slice(o * s, o * s + k) for o, s, k in zip(pos, a["stride"], a["kernel"]))
        patch = x[(slice(None), slice(None), *window)].reshape(x.shape[0], -1)
        out[(slice(None), slice(None), *pos)] = patch @ w[pos].reshape(w.shape[nd], -1).T
    if "bias" in p:
        out += p["bias"][None]
    return out


# ---------------------------------------------------------------- pooling
def _symmetric(pairs):
    return all(b == e for b, e in pairs)


@ref("maxpool")
def maxpool(a, p, xs):
    fn = (F.max_pool1d, F.max_pool2d, F.max_pool3d)[_nd(xs[0]) - 1]
    if _symmetric(a["padding"]):
        return fn(T(xs[0]), a["kernel"], a["stride"], padding=[b for b, _ in a["padding"]],
                  ceil_mode=a["ceil_mode"]).numpy()
    assert not a["ceil_mode"], "the reference covers ceil_mode with symmetric padding only"
    x = F.pad(T(xs[0]), _torch_pads(a["padding"]), value=-np.inf)
    return fn(x, a["kernel"], a["stride"]).numpy()


@ref("avgpool")
def avgpool(a, p, xs):
    fn = (F.avg_pool1d, F.avg_pool2d, F.avg_pool3d)[_nd(xs[0]) - 1]
    if _symmetric(a["padding"]):
        return fn(T(xs[0]), a["kernel"], a["stride"], padding=[b for b, _ in a["padding"]],
                  ceil_mode=a["ceil_mode"], count_include_pad=a["count_include_pad"]).numpy()
    assert not a["ceil_mode"], "the reference covers ceil_mode with symmetric padding only"
    pads = _torch_pads(a["padding"])
    total = fn(F.pad(T(xs[0]), pads), a["kernel"], a["stride"])
    if a["count_include_pad"]:
        return total.numpy()
    # mean over real elements only: the padded sum divided by the share of real elements
    share = fn(F.pad(torch.ones_like(T(xs[0])), pads), a["kernel"], a["stride"])
    return (total / share).numpy()


@ref("globalavgpool")
def globalavgpool(a, p, xs):
    return xs[0].mean(axis=tuple(range(2, xs[0].ndim)), keepdims=True)


@ref("globalmaxpool")
def globalmaxpool(a, p, xs):
    return xs[0].max(axis=tuple(range(2, xs[0].ndim)), keepdims=True)


# ---------------------------------------------------------------- normalisation
@ref("batchnorm")
def batchnorm(a, p, xs):
    return F.batch_norm(T(xs[0]), T(p["running_mean"]), T(p["running_var"]), T(p["weight"]),
                        T(p["bias"]), training=False, eps=a["eps"]).numpy()


@ref("layernorm")
def layernorm(a, p, xs):
    return F.layer_norm(T(xs[0]), p["weight"].shape, T(p["weight"]), T(p["bias"]), a["eps"]).numpy()


@ref("lrn")
def lrn(a, p, xs):
    return F.local_response_norm(T(xs[0]), a["size"], a["alpha"], a["beta"], a["bias"]).numpy()


# ---------------------------------------------------------------- activations, merges
REF["relu"] = lambda a, p, xs: F.relu(T(xs[0])).numpy()
REF["leaky_relu"] = lambda a, p, xs: F.leaky_relu(T(xs[0]), a["alpha"]).numpy()
REF["elu"] = lambda a, p, xs: F.elu(T(xs[0]), a["alpha"]).numpy()
REF["sigmoid"] = lambda a, p, xs: torch.sigmoid(T(xs[0])).numpy()
REF["tanh"] = lambda a, p, xs: torch.tanh(T(xs[0])).numpy()
REF["gelu"] = lambda a, p, xs: F.gelu(T(xs[0]), approximate=a["approximate"]).numpy()
REF["softmax"] = lambda a, p, xs: F.softmax(T(xs[0]), dim=a["axis"]).numpy()
REF["dropout"] = lambda a, p, xs: xs[0]
REF["add"] = lambda a, p, xs: np.sum(xs, axis=0)
REF["multiply"] = lambda a, p, xs: np.prod(xs, axis=0)
REF["concat"] = lambda a, p, xs: np.concatenate(xs, axis=a["axis"])


# ---------------------------------------------------------------- data movement
REF["flatten"] = lambda a, p, xs: xs[0].reshape(xs[0].shape[0], -1)
REF["reshape"] = lambda a, p, xs: xs[0].reshape(xs[0].shape[0], *a["shape"])
REF["transpose"] = lambda a, p, xs: np.transpose(xs[0], a["perm"])


@ref("pad")
def pad(a, p, xs):
    if a["mode"] == "constant":
        return np.pad(xs[0], [(0, 0), (0, 0), *a["pads"]], constant_values=a["value"])
    return np.pad(xs[0], [(0, 0), (0, 0), *a["pads"]], mode={"reflect": "reflect", "replicate": "edge"}[a["mode"]])


@ref("crop")
def crop(a, p, xs):
    x = xs[0]
    return x[(slice(None), slice(None), *[slice(b, n - e) for (b, e), n in zip(a["crop"], x.shape[2:])])]


@ref("upsample")
def upsample(a, p, xs):
    if a["mode"] == "nearest":
        return F.interpolate(T(xs[0]), scale_factor=a["scale"], mode="nearest").numpy()
    return F.interpolate(T(xs[0]), scale_factor=a["scale"], mode="bilinear",
                         align_corners=a["align_corners"]).numpy()


@ref("zero_upsample")
def zero_upsample(a, p, xs):
    x = xs[0]
    out = np.zeros((*x.shape[:2], *[n * s for n, s in zip(x.shape[2:], a["scale"])]), x.dtype)
    out[(slice(None), slice(None), *[slice(None, None, s) for s in a["scale"]])] = x
    return out


# ---------------------------------------------------------------- linear
REF["dense"] = lambda a, p, xs: xs[0] @ p["weight"].T + (p["bias"] if "bias" in p else 0)
REF["embedding"] = lambda a, p, xs: p["weight"][xs[0]]


# ---------------------------------------------------------------- recurrent (canonical gate order)
def _sigmoid(v):
    return 1 / (1 + np.exp(-v))


def _scan(a, xs, step, state):
    x = xs[0].astype(np.float64)
    outs = []
    for t in range(x.shape[1]):
        state = step(x[:, t], state)
        outs.append(state[0])
    seq = np.stack(outs, axis=1)
    return seq if a["return_sequences"] else seq[:, -1]


@ref("lstm")
def lstm(a, p, xs):
    n, h = xs[0].shape[0], a["units"]
    peep = p.get("peephole", np.zeros((3, h)))

    def step(x, state):
        hp, cp = state
        z = x @ p["weight_ih"].T + p["bias_ih"] + hp @ p["weight_hh"].T + p["bias_hh"]
        zi, zf, zg, zo = np.split(z, 4, axis=1)
        i = _sigmoid(zi + peep[0] * cp)
        f = _sigmoid(zf + peep[1] * cp)
        c = f * cp + i * np.tanh(zg)
        o = _sigmoid(zo + peep[2] * c)
        return o * np.tanh(c), c
    return _scan(a, xs, step, (np.zeros((n, h)), np.zeros((n, h))))


@ref("gru")
def gru(a, p, xs):
    n, h = xs[0].shape[0], a["units"]
    wr, wz, wn = np.split(p["weight_ih"], 3)
    ur, uz, un = np.split(p["weight_hh"], 3)
    br, bz, bn = np.split(p["bias_ih"], 3)
    cr, cz, cn = np.split(p["bias_hh"], 3)

    def step(x, state):
        hp, = state
        r = _sigmoid(x @ wr.T + br + hp @ ur.T + cr)
        z = _sigmoid(x @ wz.T + bz + hp @ uz.T + cz)
        if a["linear_before_reset"]:
            cand = np.tanh(x @ wn.T + bn + r * (hp @ un.T + cn))
        else:
            cand = np.tanh(x @ wn.T + bn + (r * hp) @ un.T + cn)
        return ((1 - z) * cand + z * hp,)
    return _scan(a, xs, step, (np.zeros((n, h)),))


@ref("rnn")
def rnn(a, p, xs):
    n, h = xs[0].shape[0], a["units"]
    act = np.tanh if a["activation"] == "tanh" else (lambda v: np.maximum(v, 0))

    def step(x, state):
        return (act(x @ p["weight_ih"].T + p["bias_ih"] + state[0] @ p["weight_hh"].T + p["bias_hh"]),)
    return _scan(a, xs, step, (np.zeros((n, h)),))


# ---------------------------------------------------------------- low-level ops (numpy)
BINARY = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.divide, "pow": np.power,
          "max": np.maximum, "min": np.minimum}
UNARY = {"sqrt": np.sqrt, "exp": np.exp, "log": np.log, "abs": np.abs, "neg": np.negative,
         "reciprocal": np.reciprocal, "erf": lambda x: torch.erf(T(x)).numpy(), "floor": np.floor, "ceil": np.ceil}
REF["binary"] = lambda a, p, xs: BINARY[a["fn"]](xs[0], xs[1])
REF["unary"] = lambda a, p, xs: UNARY[a["fn"]](xs[0])
REF["clip"] = lambda a, p, xs: np.clip(xs[0], a["min"], a["max"])
REF["cast"] = lambda a, p, xs: xs[0].astype(a["dtype"])
REF["matmul"] = lambda a, p, xs: np.matmul(xs[0], xs[1])
REF["gather"] = lambda a, p, xs: np.take(xs[0], a["indices"], axis=a["axis"])
REF["reduce"] = lambda a, p, xs: getattr(np, {"mean": "mean", "sum": "sum", "max": "max", "min": "min"}[a["fn"]])(
    xs[0], axis=a["axes"], keepdims=a["keepdims"])
REF["where"] = lambda a, p, xs: np.where(xs[0], xs[1], xs[2])
REF["constant"] = lambda a, p, xs: p["value"]


@ref("slice")
def slice_(a, p, xs):
    index = [slice(None)] * xs[0].ndim
    for start, end, axis, step in zip(a["starts"], a["ends"], a["axes"], a["steps"]):
        index[axis] = slice(start, end, step)
    return xs[0][tuple(index)]
