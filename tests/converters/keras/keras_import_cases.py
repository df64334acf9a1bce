"""Shared helpers of the Keras importer tests: seeded weights and inputs, and the one
comparison every test makes -- the Keras model against netspec's torch backend running
the imported graph, on the same arrays.

Tolerance (float32): ``max|keras - torch| <= 1e-5 + 1e-5 * max|keras|`` for one layer,
netspec's documented float32 default ``1e-5 + 1e-4 * scale`` for whole models. A
one-layer output sums at most a few hundred products; two runtimes adding them in
different orders differ by about sqrt(K) * 1.2e-7 of the scale (~3e-6 for K = 500), so
1e-5 is a margin of 3 while any real mapping mistake -- a transposed kernel, a swapped
gate, a padding off by one -- moves outputs by a sizeable fraction of their scale. Deep
models chain ~50 such layers, hence the wider relative bound there.
"""
from __future__ import annotations

import numpy as np

from netspec.backends import get_backend
from netspec.converters.keras import from_keras, to_graph_inputs, to_keras_outputs
from netspec.testing.tolerance import Tolerance, compare, default_tolerance

import keras

TORCH = get_backend("torch")
LAYER_TOLERANCE = Tolerance(atol=1e-5, rtol=1e-5)
MODEL_TOLERANCE = default_tolerance("float32")


def randomize(model, seed: int = 0):
    """Seeded weights that exercise every mapping: kernels and biases non-zero, batch-norm
    statistics away from 0 and 1 (a swapped mean and variance would show)."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        arrays = []
        for weight in layer.weights:
            shape, path = tuple(weight.shape), weight.path
            if "variance" in path:
                arrays.append(rng.uniform(0.5, 1.5, shape))
            elif str(weight.dtype).startswith("int"):
                arrays.append(np.asarray(keras.ops.convert_to_numpy(weight)))
            else:
                arrays.append(rng.normal(0.0, 0.4, shape))
        if arrays:
            layer.set_weights([a.astype(np.asarray(keras.ops.convert_to_numpy(w)).dtype)
                               for a, w in zip(arrays, layer.weights)])
    return model


def keras_inputs(model, batch: int = 2, fill: int = 8, seed: int = 1, ids: bool = False) -> list[np.ndarray]:
    """Seeded inputs; token ids (int inputs, or float ones when ``ids``) below 10."""
    rng = np.random.default_rng(seed)
    out = []
    for tensor in model.inputs:
        shape = (batch, *[fill if d is None else d for d in tensor.shape[1:]])
        if ids:
            out.append(rng.integers(0, 10, shape).astype(str(tensor.dtype)))
        elif str(tensor.dtype).startswith("int"):
            out.append(rng.integers(0, 10, shape).astype(str(tensor.dtype)))
        else:
            out.append(rng.standard_normal(shape).astype("float32"))
    return out


def keras_count(graph) -> int:
    """Parameters and state as Keras counts them (constants netspec adds for scalars in
    hard_sigmoid or Rescaling are no Keras weights)."""
    return sum(n.param_count + n.state_count for n in graph.nodes() if n.op != "constant")


def transposes(graph) -> int:
    return sum(node.op == "transpose" for node in graph.nodes())


def run_both(model, inputs=None, graph=None):
    """(graph, keras outputs, torch outputs as Keras arrays)."""
    inputs = keras_inputs(model) if inputs is None else inputs
    graph = from_keras(model) if graph is None else graph
    ref = model(inputs if len(inputs) > 1 else inputs[0], training=False)
    ref = [np.asarray(keras.ops.convert_to_numpy(r)) for r in (ref if isinstance(ref, (list, tuple)) else [ref])]
    torch_model = TORCH.build(graph)
    got = to_keras_outputs(graph, TORCH.run(torch_model, to_graph_inputs(graph, inputs)))
    return graph, ref, got


def assert_matches(model, tolerance=LAYER_TOLERANCE, inputs=None, graph=None):
    graph, ref, got = run_both(model, inputs, graph)
    assert len(ref) == len(got)
    worst = 0.0
    for r, g in zip(ref, got):
        diff = compare(r, g, tolerance)
        assert diff.ok, f"{graph.name}: {diff}"
        worst = max(worst, diff.max_abs)
    return graph, worst
