"""Every op as a one-node graph in the torch backend against an independent computation.

References are numpy loops/formulas, or torch.nn.functional called directly on the raw
arrays (for convolutions, through explicit padding, so the emitter's padding logic is not
reused). Tolerances: float32 atol 1e-5 / rtol 1e-4 unless a case states otherwise.
"""
from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from netspec.backends.torch import BACKEND
from netspec.testing.cases import random_inputs, single_op_graph

ATOL, RTOL = 1e-5, 1e-4


def run_case(op, attrs, shapes, layout=None, dtype="float32", seed=0):
    graph = single_op_graph(op, attrs, shapes, layout=layout, dtype=dtype, seed=seed)
    model = BACKEND.build(graph)
    inputs = random_inputs(graph, batch=2, seed=seed + 1)
    out = BACKEND.run(model, inputs)["out"]
    node = graph.node("out")
    assert out.shape[1:] == tuple(d for d in node.type.shape[1:]) or None in node.type.shape[1:]
    return graph, node, [inputs[f"x{i}"] for i in range(len(shapes))], out


def check(out, ref, atol=ATOL, rtol=RTOL):
    assert out.shape == ref.shape, (out.shape, ref.shape)
    np.testing.assert_allclose(out, ref, atol=atol, rtol=rtol)


def t(a):
    return torch.from_numpy(np.ascontiguousarray(a))


def flat_pads(pairs):
    return [p for pair in reversed(pairs) for p in pair]


# ------------------------------------------------------------------ convolutions
CONV_CASES = [
    ({"filters": 4, "kernel": 3, "padding": 1}, (3, 8, 8)),
    ({"filters": 6, "kernel": [3, 2], "stride": [2, 1], "padding": "same", "groups": 3}, (3, 9, 8)),
    ({"filters": 4, "kernel": 3, "dilation": 2, "padding": [[2, 1], [0, 3]], "bias": False}, (2, 8, 7)),
    ({"filters": 3, "kernel": 5, "stride": 2, "padding": "causal"}, (2, 17)),
    ({"filters": 4, "kernel": 2, "stride": 1, "padding": "same"}, (4, 9)),
    ({"filters": 2, "kernel": 3, "padding": 1, "groups": 2}, (2, 4, 5, 6)),
    ({"filters": 4, "kernel": 3, "padding": "valid", "groups": 4}, (4, 7, 7)),
]


@pytest.mark.parametrize("attrs,shape", CONV_CASES)
def test_conv(attrs, shape):
    graph, node, (x,), out = run_case("conv", attrs, [shape])
    a = node.attrs
    fn = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}[len(a["kernel"])]
    bias = t(node.params["bias"]) if a["bias"] else None
    ref = fn(F.pad(t(x), flat_pads(a["padding"])), t(node.params["weight"]), bias,
             a["stride"], 0, a["dilation"], a["groups"])
    check(out, ref.numpy())


@pytest.mark.parametrize("kernel,dilation", [(3, 1), (2, 4)])
def test_temporal_conv_is_causal(kernel, dilation):
    graph, node, (x,), out = run_case("temporal_conv", {"filters": 3, "kernel": kernel, "dilation": dilation}, [(2, 12)])
    w, b = node.params["weight"], node.params["bias"]
    ref = np.zeros_like(out)
    for step in range(12):  # y[t] = b + sum_k w[k] x[t - d*(K-1-k)]
        for k in range(kernel):
            src = step - dilation * (kernel - 1 - k)
            if src >= 0:
                ref[:, :, step] += np.einsum("oc,nc->no", w[:, :, k], x[:, :, src])
    check(out, ref + b[None, :, None])


CONV_T_CASES = [
    ({"filters": 4, "kernel": 2, "stride": 2}, (3, 5, 5)),
    ({"filters": 4, "kernel": 3, "stride": 2, "padding": 1, "output_padding": 1}, (2, 4, 6)),
    ({"filters": 4, "kernel": 3, "stride": 2, "padding": [[0, 2], [1, 2]], "groups": 2}, (2, 4, 4)),
    ({"filters": 3, "kernel": 4, "stride": 3, "dilation": 2, "padding": [[1, 0]], "output_padding": 1}, (2, 6)),
    ({"filters": 2, "kernel": 2, "stride": 2, "bias": False}, (2, 3, 3, 3)),
]


@pytest.mark.parametrize("attrs,shape", CONV_T_CASES)
def test_conv_transpose(attrs, shape):
    graph, node, (x,), out = run_case("conv_transpose", attrs, [shape])
    a = node.attrs
    fn = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}[len(a["kernel"])]
    bias = t(node.params["bias"]) if a["bias"] else None
    full = fn(t(x), t(node.params["weight"]), bias, a["stride"], 0, a["output_padding"], a["groups"],
              a["dilation"]).numpy()  # unpadded output; then remove each (begin, end)
    ref = full[(slice(None), slice(None), *[slice(b, n - e) for (b, e), n in zip(a["padding"], full.shape[2:])])]
    check(out, ref)


@pytest.mark.parametrize("attrs,shape", [
    ({"filters": 3, "kernel": 3}, (2, 6, 5)),
    ({"filters": 2, "kernel": [2, 3], "stride": [2, 1], "padding": "same"}, (3, 5, 6)),
    ({"filters": 4, "kernel": 3, "stride": 2, "bias": False}, (3, 11)),
    ({"filters": 2, "kernel": 2, "padding": [[1, 0]]}, (2, 5)),
])
def test_locally_connected(attrs, shape):
    graph, node, (x,), out = run_case("locally_connected", attrs, [shape])
    a = node.attrs
    xp = np.pad(x, [(0, 0), (0, 0), *a["padding"]])
    w = node.params["weight"]
    ref = np.zeros_like(out)
    for pos in itertools.product(*[range(n) for n in out.shape[2:]]):
        window = tuple(slice(p * s, p * s + k) for p, s, k in zip(pos, a["stride"], a["kernel"]))
        patch = xp[(slice(None), slice(None), *window)]
        ref[(slice(None), slice(None), *pos)] = np.tensordot(patch, w[pos], axes=(list(range(1, patch.ndim)),) * 2)
    if a["bias"]:
        ref += node.params["bias"][None]
    check(out, ref)


# ------------------------------------------------------------------ pooling
def pool_reference(x, a, kind, out_shape):
    """Windows start at o*s - pad_begin; they are clipped to the padded input, and the
    real (unpadded) part is what max and exclude-pad averages see."""
    out = np.zeros((x.shape[0], x.shape[1], *out_shape), np.float64)
    sizes = x.shape[2:]
    for pos in itertools.product(*[range(n) for n in out_shape]):
        real, padded = [], 1
        for p, s, k, (b, e), n in zip(pos, a["stride"], a["kernel"], a["padding"], sizes):
            start = p * s - b
            stop = min(start + k, n + e)
            padded *= stop - start
            real.append(slice(max(start, 0), min(stop, n)))
        window = x[(slice(None), slice(None), *real)].reshape(x.shape[0], x.shape[1], -1)
        idx = (slice(None), slice(None), *pos)
        if kind == "max":
            out[idx] = window.max(-1)
        else:
            out[idx] = window.sum(-1) / (padded if a["count_include_pad"] else window.shape[-1])
    return out.astype(np.float32)


POOL_CASES = [
    ({"kernel": 2}, (3, 8, 8)),
    ({"kernel": 3, "stride": 2, "padding": 1}, (2, 9, 10)),
    ({"kernel": 3, "stride": 2, "padding": "same"}, (2, 10, 7)),
    ({"kernel": 3, "stride": 2, "ceil_mode": True}, (2, 10, 11)),
    ({"kernel": 3, "stride": 2, "padding": [[0, 1], [1, 0]], "ceil_mode": True}, (2, 8, 9)),
    ({"kernel": 2, "stride": 1, "padding": [[1, 0]]}, (3, 7)),
    ({"kernel": [2, 2, 3], "stride": [1, 2, 2], "padding": [0, 1, 1]}, (2, 4, 5, 6)),
]


@pytest.mark.parametrize("attrs,shape", POOL_CASES)
def test_maxpool(attrs, shape):
    graph, node, (x,), out = run_case("maxpool", attrs, [shape])
    check(out, pool_reference(x, node.attrs, "max", node.type.shape[2:]))


@pytest.mark.parametrize("include", [False, True])
@pytest.mark.parametrize("attrs,shape", POOL_CASES)
def test_avgpool(attrs, shape, include):
    graph, node, (x,), out = run_case("avgpool", dict(attrs, count_include_pad=include), [shape])
    check(out, pool_reference(x, node.attrs, "avg", node.type.shape[2:]))


@pytest.mark.parametrize("shape", [(3, 5), (3, 4, 6), (2, 3, 4, 5)])
def test_global_pools(shape):
    axes = tuple(range(2, len(shape) + 1))
    _, _, (x,), out = run_case("globalavgpool", {}, [shape])
    check(out, x.mean(axes, keepdims=True))
    _, _, (x,), out = run_case("globalmaxpool", {}, [shape])
    check(out, x.max(axes, keepdims=True))


# ------------------------------------------------------------------ linear, norms
@pytest.mark.parametrize("shape,layout,bias", [((7,), None, True), ((5, 6), "plain", False)])
def test_dense(shape, layout, bias):
    _, node, (x,), out = run_case("dense", {"units": 4, "bias": bias}, [shape], layout=layout)
    ref = x @ node.params["weight"].T + (node.params["bias"] if bias else 0)
    check(out, ref)


@pytest.mark.parametrize("dtype", ["int64", "int32"])
def test_embedding(dtype):
    _, node, (x,), out = run_case("embedding", {"vocab": 11, "dim": 4}, [(6,)], dtype=dtype)
    check(out, node.params["weight"][x])


@pytest.mark.parametrize("shape", [(4,), (4, 6), (3, 5, 4), (2, 3, 4, 3)])
def test_batchnorm_eval(shape):
    graph = single_op_graph("batchnorm", {"eps": 1e-3}, [shape])
    node = graph.node("out")
    rng = np.random.default_rng(3)
    node.params["running_mean"] = rng.standard_normal(shape[0]).astype(np.float32)
    node.params["running_var"] = rng.uniform(0.5, 2, shape[0]).astype(np.float32)
    node.params["weight"] = rng.standard_normal(shape[0]).astype(np.float32)
    model = BACKEND.build(graph)
    x = random_inputs(graph, 2, 1)["x0"]
    out = BACKEND.run(model, {"x0": x})["out"]
    bshape = (1, -1) + (1,) * (len(shape) - 1)
    p = {k: v.reshape(bshape) for k, v in node.params.items()}
    ref = (x - p["running_mean"]) / np.sqrt(p["running_var"] + 1e-3) * p["weight"] + p["bias"]
    check(out, ref)


def test_batchnorm_train_updates_running_stats_with_pytorch_momentum():
    graph = single_op_graph("batchnorm", {"momentum": 0.3}, [(3, 4, 4)])
    model = BACKEND.build(graph).train()
    x = random_inputs(graph, 4, 1)["x0"]
    y = model(t(x)).detach().numpy()
    mean, var = x.mean((0, 2, 3)), x.var((0, 2, 3))
    check(y, (x - mean[None, :, None, None]) / np.sqrt(var[None, :, None, None] + 1e-5), atol=1e-4)
    unbiased = x.var((0, 2, 3), ddof=1)
    weights = BACKEND.read_weights(model)
    check(weights["out.running_mean"], 0.3 * mean)
    check(weights["out.running_var"], 0.7 + 0.3 * unbiased)


@pytest.mark.parametrize("shape,axes", [((5, 6), None), ((3, 4, 5), [2, 3]), ((3, 4, 5), [1, 2, 3])])
def test_layernorm(shape, axes):
    graph, node, (x,), out = run_case("layernorm", {"axes": axes} if axes else {}, [shape], layout="plain")
    ax = node.attrs["axes"]
    mean, var = x.mean(ax, keepdims=True), x.var(ax, keepdims=True)
    check(out, (x - mean) / np.sqrt(var + 1e-5) * node.params["weight"] + node.params["bias"], atol=1e-4)


@pytest.mark.parametrize("size,shape", [(3, (6, 4, 4)), (5, (7, 3)), (1, (3, 2, 2))])
def test_lrn(size, shape):
    attrs = {"size": size, "alpha": 0.5, "beta": 0.75, "bias": 2.0}
    _, _, (x,), out = run_case("lrn", attrs, [shape])
    sq = np.pad(x ** 2, [(0, 0), (size // 2, (size - 1) // 2)] + [(0, 0)] * (x.ndim - 2))
    total = sum(sq[:, i:i + x.shape[1]] for i in range(size))
    check(out, x / (2.0 + 0.5 / size * total) ** 0.75)


def test_dropout_identity_in_eval_and_scaled_in_train():
    graph, _, (x,), out = run_case("dropout", {"rate": 0.5}, [(64, 64)])
    check(out, x)
    model = BACKEND.build(graph).train()
    y = model(t(x)).detach().numpy()
    kept = y != 0
    assert 0.4 < kept.mean() < 0.6
    check(y[kept], 2 * x[kept])


# ------------------------------------------------------------------ activations, merges
def _erf(a):
    return np.vectorize(math.erf)(a)


ACTIVATIONS = [
    ("relu", {}, lambda x: np.maximum(x, 0)),
    ("leaky_relu", {"alpha": 0.2}, lambda x: np.where(x > 0, x, 0.2 * x)),
    ("elu", {"alpha": 0.7}, lambda x: np.where(x > 0, x, 0.7 * (np.exp(x) - 1))),
    ("sigmoid", {}, lambda x: 1 / (1 + np.exp(-x))),
    ("tanh", {}, np.tanh),
    ("gelu", {}, lambda x: 0.5 * x * (1 + _erf(x / math.sqrt(2)))),
    ("gelu", {"approximate": "tanh"},
     lambda x: 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))),
]


@pytest.mark.parametrize("op,attrs,ref", ACTIVATIONS, ids=[f"{a[0]}{i}" for i, a in enumerate(ACTIVATIONS)])
def test_activation(op, attrs, ref):
    _, _, (x,), out = run_case(op, attrs, [(3, 5, 4)])
    check(out, ref(x.astype(np.float64)).astype(np.float32))


@pytest.mark.parametrize("axis,shape,layout", [("channels", (4, 3, 3), None), (-1, (4, 5), "plain"), (2, (3, 4, 5), None)])
def test_softmax(axis, shape, layout):
    _, node, (x,), out = run_case("softmax", {"axis": axis}, [shape], layout=layout)
    ax = node.attrs["axis"]
    e = np.exp(x - x.max(ax, keepdims=True))
    check(out, e / e.sum(ax, keepdims=True))


@pytest.mark.parametrize("n", [2, 3])
def test_add_multiply(n):
    _, _, xs, out = run_case("add", {}, [(3, 4, 4)] * n)
    check(out, sum(xs))
    _, _, xs, out = run_case("multiply", {}, [(3, 4, 4)] * n)
    check(out, np.prod(xs, axis=0))


@pytest.mark.parametrize("axis,shapes", [("channels", [(2, 4, 4), (3, 4, 4)]), (3, [(2, 4, 1), (2, 4, 3), (2, 4, 2)])])
def test_concat(axis, shapes):
    _, node, xs, out = run_case("concat", {"axis": axis}, shapes)
    check(out, np.concatenate(xs, node.attrs["axis"]))


# ------------------------------------------------------------------ shape ops
def test_flatten_keeps_channels_first_order():
    _, _, (x,), out = run_case("flatten", {}, [(3, 4, 5)])
    check(out, x.reshape(2, -1))


@pytest.mark.parametrize("shape", [[4, -1], [2, 3, 10]])
def test_reshape(shape):
    _, _, (x,), out = run_case("reshape", {"shape": shape}, [(3, 4, 5)])
    check(out, x.reshape(2, *shape))


def test_transpose():
    _, _, (x,), out = run_case("transpose", {"perm": [0, 2, 3, 1]}, [(3, 4, 5)])
    check(out, x.transpose(0, 2, 3, 1))


@pytest.mark.parametrize("mode,pads,shape", [
    ("constant", 1, (2, 4, 4)), ("constant", [[1, 2], [0, 3]], (2, 4, 4)),
    ("reflect", [[2, 1]], (2, 5)), ("replicate", [1, [2, 0]], (2, 3, 4)),
])
def test_pad(mode, pads, shape):
    attrs = {"pads": pads, "mode": mode, **({"value": 1.5} if mode == "constant" else {})}
    _, node, (x,), out = run_case("pad", attrs, [shape])
    width = [(0, 0), (0, 0), *node.attrs["pads"]]
    ref = {"constant": lambda: np.pad(x, width, constant_values=1.5),
           "reflect": lambda: np.pad(x, width, mode="reflect"),
           "replicate": lambda: np.pad(x, width, mode="edge")}[mode]()
    check(out, ref)


@pytest.mark.parametrize("crop,shape", [(1, (2, 5, 5)), ([[0, 2], [1, 0]], (2, 5, 6)), ([[2, 1]], (2, 7))])
def test_crop(crop, shape):
    _, node, (x,), out = run_case("crop", {"crop": crop}, [shape])
    check(out, x[(slice(None), slice(None), *[slice(b, n - e) for (b, e), n in zip(node.attrs["crop"], shape[1:])])])


@pytest.mark.parametrize("scale,shape", [(2, (2, 3, 4)), ([1, 3], (2, 3, 2)), (2, (2, 5)), (2, (2, 2, 3, 2))])
def test_upsample_nearest(scale, shape):
    _, node, (x,), out = run_case("upsample", {"scale": scale}, [shape])
    ref = x
    for axis, s in enumerate(node.attrs["scale"]):
        ref = np.repeat(ref, s, axis=axis + 2)
    check(out, ref)


@pytest.mark.parametrize("align", [False, True])
def test_upsample_bilinear(align):
    _, _, (x,), out = run_case("upsample", {"scale": [2, 3], "mode": "bilinear", "align_corners": align}, [(2, 4, 5)])
    ref = F.interpolate(t(x), size=(8, 15), mode="bilinear", align_corners=align)  # by size, not scale
    check(out, ref.numpy())


@pytest.mark.parametrize("scale,shape", [(2, (2, 3, 3)), ([3, 2], (2, 2, 3)), (3, (2, 4))])
def test_zero_upsample(scale, shape):
    _, node, (x,), out = run_case("zero_upsample", {"scale": scale}, [shape])
    ref = np.zeros(out.shape, np.float32)
    ref[(slice(None), slice(None), *[slice(None, None, s) for s in node.attrs["scale"]])] = x
    check(out, ref)


# ------------------------------------------------------------------ recurrent (numpy loops)
def sigmoid(a):
    return 1 / (1 + np.exp(-a))


def lstm_reference(x, p, units, peephole):
    n = x.shape[0]
    h, c = np.zeros((n, units)), np.zeros((n, units))
    outs = []
    pi, pf, po = p["peephole"] if peephole else np.zeros((3, units))
    for step in range(x.shape[1]):
        z = x[:, step] @ p["weight_ih"].T + p["bias_ih"] + h @ p["weight_hh"].T + p["bias_hh"]
        i, f, g, o = np.split(z, 4, axis=1)
        i, f = sigmoid(i + pi * c), sigmoid(f + pf * c)
        c = f * c + i * np.tanh(g)
        h = sigmoid(o + po * c) * np.tanh(c)
        outs.append(h)
    return np.stack(outs, 1)


def gru_reference(x, p, units, before_reset):
    h = np.zeros((x.shape[0], units))
    wr, wz, wn = np.split(p["weight_hh"], 3)
    br, bz, bn = np.split(p["bias_hh"], 3)
    outs = []
    for step in range(x.shape[1]):
        xr, xz, xn = np.split(x[:, step] @ p["weight_ih"].T + p["bias_ih"], 3, axis=1)
        r, z = sigmoid(xr + h @ wr.T + br), sigmoid(xz + h @ wz.T + bz)
        n = np.tanh(xn + r * (h @ wn.T + bn)) if before_reset else np.tanh(xn + (r * h) @ wn.T + bn)
        h = (1 - z) * n + z * h
        outs.append(h)
    return np.stack(outs, 1)


def rnn_reference(x, p, units, act):
    h = np.zeros((x.shape[0], units))
    f = np.tanh if act == "tanh" else (lambda a: np.maximum(a, 0))
    outs = []
    for step in range(x.shape[1]):
        h = f(x[:, step] @ p["weight_ih"].T + p["bias_ih"] + h @ p["weight_hh"].T + p["bias_hh"])
        outs.append(h)
    return np.stack(outs, 1)


RECURRENT = [
    ("lstm", {"peephole": False}, lambda x, p, u, a: lstm_reference(x, p, u, False)),
    ("lstm", {"peephole": True}, lambda x, p, u, a: lstm_reference(x, p, u, True)),
    ("gru", {"linear_before_reset": True}, lambda x, p, u, a: gru_reference(x, p, u, True)),
    ("gru", {"linear_before_reset": False}, lambda x, p, u, a: gru_reference(x, p, u, False)),
    ("rnn", {"activation": "tanh"}, lambda x, p, u, a: rnn_reference(x, p, u, "tanh")),
    ("rnn", {"activation": "relu"}, lambda x, p, u, a: rnn_reference(x, p, u, "relu")),
]


@pytest.mark.parametrize("last", [False, True])
@pytest.mark.parametrize("op,attrs,ref", RECURRENT, ids=[f"{r[0]}-{list(r[1].values())[0]}" for r in RECURRENT])
def test_recurrent(op, attrs, ref, last):
    attrs = dict(attrs, units=5, return_sequences=not last)
    _, node, (x,), out = run_case(op, attrs, [(7, 3)], layout="plain")
    params = {k: v.astype(np.float64) for k, v in node.params.items()}
    seq = ref(x.astype(np.float64), params, 5, attrs).astype(np.float32)
    check(out, seq[:, -1] if last else seq)


def test_peephole_lstm_is_scriptable():
    from netspec.backends.torch.modules import PeepholeLSTM, ResetBeforeGRU
    for cls in (PeepholeLSTM, ResetBeforeGRU):
        eager = cls(3, 4)
        for p in eager.parameters():
            torch.nn.init.uniform_(p, -0.5, 0.5)
        x = torch.randn(2, 5, 3)
        scripted = torch.jit.script(eager)
        torch.testing.assert_close(scripted(x), eager(x))
