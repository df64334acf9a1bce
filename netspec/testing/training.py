"""Gradients and one optimiser step in each trainable backend, in canonical layout.

The harness compares training, not just inference: the gradient of one scalar loss with
respect to every input and parameter, and the weights after one SGD step with momentum and
weight decay. Each backend computes them with its own autodiff and its own optimiser (the
point is to prove the real training loops agree), and hands them back keyed like graph
weights (``"node.param"``, canonical layout) plus ``"input:<name>"`` for input gradients.

The loss is ``sum over outputs of mean(output * probe)`` with a seeded standard-normal
probe per output: every output element gets its own random weight, so a gradient that is
transposed, reordered or summed over the wrong axis cannot cancel out.

One step of PyTorch's SGD (weight decay added to the gradient, momentum buffer starting at
the gradient) and one of Keras's (decoupled decay ``w -= lr * wd * w`` applied before the
update, velocity starting at zero) give the same weights; later steps differ by design,
which is why exactly one is compared.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import NetspecError

INPUT_PREFIX = "input:"


@dataclass(frozen=True)
class SGD:
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 5e-4


def without_dropout(graph):
    """A copy of ``graph`` whose dropout layers drop nothing (rate 0): training-mode runs of
    two frameworks cannot share random masks, so the comparison turns dropout off."""
    copy = graph.copy()
    for node in copy.layers():
        if node.op == "dropout":
            node.attrs = {**node.attrs, "rate": 0.0}
    return copy


def probes(graph, outputs: dict[str, np.ndarray], seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed + 7919)  # not the inputs' stream
    return {name: rng.standard_normal(outputs[name].shape).astype(np.float32) for name in graph.outputs}


# ---------------------------------------------------------------- torch
class TorchTrainer:
    def _loss(self, model, graph, inputs, probe, train: bool):
        import torch
        from netspec.backends.torch.build import to_tensors

        model.train(train)
        tensors = to_tensors(model, graph, inputs)
        for t in tensors:
            if t.is_floating_point():
                t.requires_grad_(True)
        out = model(*tensors)
        outs = out if isinstance(out, tuple) else (out,)
        loss = sum((y * torch.as_tensor(probe[n], device=y.device, dtype=y.dtype)).sum() / y.numel()
                   for n, y in zip(graph.outputs, outs))
        return loss, tensors

    def gradients(self, model, graph, inputs, probe, train: bool = False) -> dict[str, np.ndarray]:
        loss, tensors = self._loss(model, graph, inputs, probe, train)
        model.zero_grad(set_to_none=True)
        loss.backward()
        model.eval()
        grads = {INPUT_PREFIX + n: t.grad.detach().cpu().numpy()
                 for n, t in zip(graph.inputs, tensors) if t.grad is not None}
        params = dict(model.named_parameters())
        for key, path in model.netspec_params.items():
            if path in params:
                p = params[path]
                grads[key] = (np.zeros(tuple(p.shape), np.float32) if p.grad is None
                              else p.grad.detach().cpu().numpy())
        return grads

    def train_step(self, model, graph, inputs, probe, sgd: SGD) -> dict[str, np.ndarray]:
        import torch
        from netspec.backends.torch.build import read_weights

        optimiser = torch.optim.SGD(model.parameters(), lr=sgd.lr, momentum=sgd.momentum,
                                    weight_decay=sgd.weight_decay)
        loss, _ = self._loss(model, graph, inputs, probe, train=True)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        model.eval()
        return read_weights(model, graph)


# ---------------------------------------------------------------- keras
class KerasTrainer:
    """TensorFlow's GradientTape over the Keras model; gradients of Keras-layout weights
    are mapped back with the same weight map that reads the weights (every map is a
    permutation of elements, whose adjoint is its inverse), except where Keras keeps one
    bias for PyTorch's two: both PyTorch biases receive the gradient of their sum."""

    def _feeds(self, model, graph, inputs):
        import tensorflow as tf
        from netspec.backends.keras import BACKEND

        io = BACKEND._io(model, graph)
        feeds = [tf.constant(np.ascontiguousarray(np.transpose(inputs[n], p))) for n, p in zip(io.inputs, io.in_perms)]
        return io, feeds

    def _loss(self, model, io, feeds, probe, train: bool):
        import tensorflow as tf

        result = model(feeds, training=train)
        if not isinstance(result, (list, tuple)):
            result = [result]
        total = 0.0
        for name, y, perm in zip(io.outputs, result, io.out_perms):
            p = tf.constant(np.ascontiguousarray(np.transpose(probe[name], np.argsort(perm))))
            total += tf.reduce_sum(y * p) / float(np.prod(p.shape))
        return total

    def _weights_of(self, model, node):
        from netspec.backends.keras.emitters import layer_name
        return model.get_layer(layer_name(node.name)).weights

    def gradients(self, model, graph, inputs, probe, train: bool = False) -> dict[str, np.ndarray]:
        import tensorflow as tf
        from netspec.backends.keras.emitters import WEIGHTS, merged_bias_count
        from netspec.backends.keras.layout import plan

        io, feeds = self._feeds(model, graph, inputs)
        weighted = [n for n in graph.layers() if n.param_specs]
        variables = [self._weights_of(model, n) for n in weighted]
        with tf.GradientTape() as tape:
            for f in feeds:
                if f.dtype.is_floating:
                    tape.watch(f)
            loss = self._loss(model, io, feeds, probe, train)
        flat = [getattr(v, "value", v) for vs in variables for v in vs]  # the tf.Variable under it
        grads = tape.gradient(loss, [*feeds, *flat], unconnected_gradients=tf.UnconnectedGradients.ZERO)
        out = {}
        for name, feed, perm, g in zip(io.inputs, feeds, io.in_perms, grads):
            if feed.dtype.is_floating:
                out[INPUT_PREFIX + name] = np.transpose(g.numpy(), np.argsort(perm))
        rest = iter(grads[len(feeds):])
        layout = plan(graph)
        for node, vs in zip(weighted, variables):
            arrays = [np.asarray(tf.convert_to_tensor(next(rest))) for _ in vs]  # embeddings: IndexedSlices
            params = WEIGHTS[node.op].from_keras(node, [layout[i] for i in node.inputs], arrays)
            if merged_bias_count(node):
                params["bias_hh"] = params["bias_ih"].copy()
            trainable = {s.name for s in node.param_specs if s.trainable}
            out.update({f"{node.name}.{k}": v for k, v in params.items() if k in trainable})
        return out

    def train_step(self, model, graph, inputs, probe, sgd: SGD) -> dict[str, np.ndarray]:
        import keras
        import tensorflow as tf
        from netspec.backends.keras import BACKEND

        io, feeds = self._feeds(model, graph, inputs)
        optimiser = keras.optimizers.SGD(learning_rate=sgd.lr, momentum=sgd.momentum,
                                         weight_decay=sgd.weight_decay)
        variables = model.trainable_variables
        with tf.GradientTape() as tape:
            loss = self._loss(model, io, feeds, probe, train=True)
        optimiser.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return BACKEND.read_weights(model, graph)


TRAINERS = {"torch": TorchTrainer(), "keras": KerasTrainer()}


def trainer(backend: str):
    if backend not in TRAINERS:
        raise NetspecError(f"gradients and training steps are compared in {' and '.join(TRAINERS)}, "
                           f"not in {backend}", hint="ONNX models are inference graphs")
    return TRAINERS[backend]


def not_comparable_after_step(graph) -> dict[str, str]:
    """Weights whose one-step update differs between the frameworks by construction."""
    from netspec.backends.keras.emitters import merged_bias_count

    notes = {}
    for node in graph.layers():
        if node.op in ("lstm", "gru", "rnn") and merged_bias_count(node):
            for p in ("bias_ih", "bias_hh"):
                notes[f"{node.name}.{p}"] = ("Keras keeps bias_ih + bias_hh as one vector, so SGD "
                                             "moves their sum half as far as PyTorch does")
    return notes
