"""One-node graphs and seeded inputs: the raw material of every backend and harness test."""
from __future__ import annotations

import numpy as np

from ..graph.init import init_weights
from ..graph.ir import Graph
from ..graph.lint import lint
from ..graph.passes import infer_shapes, receptive_fields
from ..ops import OPS
from ..ops.types import CHANNELS_FIRST, PLAIN, TensorType


def single_op_graph(op: str, attrs: dict | None = None, input_shapes=((3, 8, 8),), seed: int = 0,
                    dtype: str = "float32", layout: str | None = None) -> Graph:
    """A graph ``x0[, x1, ...] -> op -> out`` with weights initialised from ``seed``.

    ``input_shapes`` exclude the batch axis; the layout defaults to channels-first for
    rank >= 2 (images, maps) and plain otherwise — pass ``layout="plain"`` for sequences.
    """
    graph = Graph(f"single_{op}")
    names = []
    for i, shape in enumerate(input_shapes):
        lay = layout or (CHANNELS_FIRST if len(shape) >= 2 and not dtype.startswith("int") else PLAIN)
        name = f"x{i}"
        graph.add_input(name, TensorType((None, *shape), dtype, lay))
        names.append(name)
    checked, problems = OPS[op].check_attrs(dict(attrs or {}))
    if problems:
        raise ValueError(f"bad attributes for {op}: {problems}")
    graph.add_node("out", op, checked, names)
    graph.outputs = ["out"]
    lint(graph)
    infer_shapes(graph)
    receptive_fields(graph)
    return init_weights(graph, seed)


def random_inputs(graph: Graph, batch: int = 2, seed: int = 0, dynamic_size: int = 16,
                  sequence_size: int | None = None) -> dict[str, np.ndarray]:
    """Seeded inputs for every graph input, in canonical layout.

    Floats are standard normal (not all ones, which hides transposition and ordering bugs);
    integer inputs are ids below the smallest vocabulary of the embeddings they feed.
    Dynamic sizes become ``dynamic_size`` (16: small, but not a power of the common strides'
    products; a fully-convolutional net with five stride-2 stages needs a multiple of 32);
    ``sequence_size``, when given, is used instead for inputs that are not feature maps.
    """
    rng = np.random.default_rng(seed)
    out = {}
    for name in graph.inputs:
        t = graph.node(name).type
        fill = dynamic_size if sequence_size is None or t.layout == CHANNELS_FIRST else sequence_size
        shape = (batch, *[fill if d is None else d for d in t.shape[1:]])
        if t.dtype.startswith("int"):
            vocab = min((graph.node(c).attrs.get("vocab", 2) for c in graph.consumers(name)), default=2)
            out[name] = rng.integers(0, vocab, shape).astype(t.dtype)
        else:
            out[name] = rng.standard_normal(shape).astype(t.dtype)
    return out
