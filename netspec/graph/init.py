"""Seeded parameter initialisation: same graph + same seed = bit-identical arrays, always.

Each parameter draws from its own generator seeded by (seed, crc32("node.param")), so the
arrays do not depend on node order, on which other layers exist, or on the backend.
"""
from __future__ import annotations

import math
import zlib

import numpy as np

from ..ops.schema import ParamSpec
from .ir import Graph


def _uniform(rng, spec, bound):
    return rng.uniform(-bound, bound, spec.shape)


def _normal(rng, spec, std):
    return rng.normal(0.0, std, spec.shape)


INITIALIZERS = {
    "zeros": lambda rng, s: np.zeros(s.shape),
    "ones": lambda rng, s: np.ones(s.shape),
    "normal": lambda rng, s: _normal(rng, s, 1.0),  # PyTorch's embedding default
    "uniform": lambda rng, s: _uniform(rng, s, dict(s.init_args)["bound"]),
    "he_uniform": lambda rng, s: _uniform(rng, s, math.sqrt(6.0 / s.fan_in)),
    "he_normal": lambda rng, s: _normal(rng, s, math.sqrt(2.0 / s.fan_in)),
    "glorot_uniform": lambda rng, s: _uniform(rng, s, math.sqrt(6.0 / (s.fan_in + s.fan_out))),
    "glorot_normal": lambda rng, s: _normal(rng, s, math.sqrt(2.0 / (s.fan_in + s.fan_out))),
    "lecun_uniform": lambda rng, s: _uniform(rng, s, math.sqrt(3.0 / s.fan_in)),
    "lecun_normal": lambda rng, s: _normal(rng, s, math.sqrt(1.0 / s.fan_in)),
}


def init_param(spec: ParamSpec, seed: int, key: str) -> np.ndarray:
    rng = np.random.default_rng([seed, zlib.crc32(key.encode())])
    return np.ascontiguousarray(INITIALIZERS[spec.init](rng, spec), dtype=np.float32)


def init_weights(graph: Graph, seed: int = 0, overwrite: bool = False) -> Graph:
    """Fill every node's parameters from ``seed`` (keeps loaded ones unless ``overwrite``)."""
    for node in graph.nodes():
        for spec in node.param_specs:
            if overwrite or spec.name not in node.params:
                node.params[spec.name] = init_param(spec, seed, f"{node.name}.{spec.name}")
    return graph
