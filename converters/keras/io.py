"""Arrays between a Keras model and the graph imported from it.

The graph is channels-first; the Keras model takes and returns its arrays as Keras holds
them. ``graph.meta["keras"]`` records, per input and output, the view relating the two
(``keras == graph.transpose(perm)``, or for a flattened map ``keras[:, j] == graph[:, order[j]]``).
"""
from __future__ import annotations

import numpy as np

from netspec.errors import NetspecError

from .values import inverse


def _meta(graph) -> dict:
    meta = graph.meta.get("keras")
    if meta is None:
        raise NetspecError(f"graph '{graph.name}' was not imported from Keras", hint="use from_keras(model)")
    return meta


def to_graph_inputs(graph, keras_inputs) -> dict[str, np.ndarray]:
    """The graph's inputs from the Keras model's (a list in ``model.inputs`` order, or one
    array), cast to the graph's dtypes (float token ids become int64)."""
    meta = _meta(graph)["inputs"]
    arrays = keras_inputs if isinstance(keras_inputs, (list, tuple)) else [keras_inputs]
    if len(arrays) != len(graph.inputs):
        raise NetspecError(f"the model takes {len(graph.inputs)} inputs, received {len(arrays)}")
    return {name: np.ascontiguousarray(np.transpose(np.asarray(a), inverse(meta[name]["perm"])),
                                       dtype=graph.node(name).type.dtype)
            for name, a in zip(graph.inputs, arrays)}


def to_keras_outputs(graph, outputs: dict) -> list[np.ndarray]:
    """The graph's outputs (``{name: array}``) as the Keras model returns them, in order."""
    meta = _meta(graph)["outputs"]
    out = []
    for name in graph.outputs:
        array, view = np.asarray(outputs[name]), meta[name]
        out.append(array[:, np.asarray(view["order"])] if "order" in view else np.transpose(array, view["perm"]))
    return out
