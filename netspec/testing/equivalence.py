"""The equivalence harness: one graph, the same weights and inputs, every backend compared.

:func:`check` builds the graph in each backend (each loads the graph's own arrays), runs
them on identical inputs in canonical layout, and compares every output for every pair of
backends under the documented tolerances (:mod:`.tolerance`). When an output fails, it
compares every node's value across that pair, in topological order, and names the first
node that diverges (:func:`localise`): the bug is in that node's emitter or weight map,
not in the hundred downstream nodes that merely inherit its error. On request it also
compares input and parameter gradients (``grad``) and the weights after one SGD step
(``train_step``) between the trainable backends (:mod:`.training`).

Everything measured lands in a :class:`Report` (a rich table for people, JSON for
machines, the same content), timed per phase so the harness's own cost stays visible.
"""
from __future__ import annotations

import contextlib
import itertools
import time
from dataclasses import dataclass, field

import numpy as np

from ..errors import NetspecError
from .cases import random_inputs
from .tolerance import GRADIENT_FACTOR, Diff, Tolerance, compare, default_tolerance
from .training import SGD, not_comparable_after_step, probes, trainer, without_dropout

DEFAULT_BACKENDS = ("torch", "keras", "onnx")


@dataclass
class Row:
    """One compared tensor: ``kind`` is output, gradient or step (weight after a step)."""

    kind: str
    inputs: str
    name: str
    reference: str
    other: str
    diff: Diff

    def to_json(self) -> dict:
        return {"kind": self.kind, "inputs": self.inputs, "name": self.name,
                "pair": [self.reference, self.other], **self.diff.to_json()}


@dataclass
class Divergence:
    """The first node (topological order) whose value differs between two backends."""

    inputs: str
    reference: str
    other: str
    node: str
    op: str
    where: str
    diff: Diff
    upstream_ok: int  # nodes before it that agreed

    def to_json(self) -> dict:
        return {"inputs": self.inputs, "pair": [self.reference, self.other], "node": self.node,
                "op": self.op, "where": self.where, "upstream_nodes_agreeing": self.upstream_ok,
                **self.diff.to_json()}


@dataclass
class Report:
    model: str
    backends: list[str]
    rows: list[Row] = field(default_factory=list)
    divergences: list[Divergence] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(r.diff.ok for r in self.rows)

    @property
    def failures(self) -> list[Row]:
        return [r for r in self.rows if not r.diff.ok]

    def to_json(self) -> dict:
        return {"model": self.model, "backends": self.backends, "ok": self.ok,
                "rows": [r.to_json() for r in self.rows],
                "divergences": [d.to_json() for d in self.divergences],
                "timings_s": self.timings, "notes": self.notes}

    def summary(self) -> str:
        """Plain text for assertion messages: the verdict and every failure."""
        lines = [f"{self.model}: {'equivalent' if self.ok else 'NOT equivalent'} across "
                 f"{', '.join(self.backends)} ({len(self.rows)} tensors compared)"]
        for r in self.failures:
            lines.append(f"  {r.kind} {r.name} [{r.inputs}] {r.reference} vs {r.other}: max abs "
                         f"{r.diff.max_abs:.3g}, max rel {r.diff.max_rel:.3g} > {r.diff.tolerance}"
                         + (f" ({r.diff.note})" if r.diff.note else ""))
        for d in self.divergences:
            lines.append(f"  first divergence {d.reference} vs {d.other} [{d.inputs}]: node "
                         f"'{d.node}' ({d.op}, {d.where}), max abs {d.diff.max_abs:.3g}, "
                         f"max rel {d.diff.max_rel:.3g}")
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


def _clock(timings: dict):
    """``with clock("run torch"): ...`` adds the block's wall time to ``timings[key]``."""
    @contextlib.contextmanager
    def span(key):
        start = time.perf_counter()
        try:
            yield
        finally:
            timings[key] = timings.get(key, 0.0) + time.perf_counter() - start
    return span


def _graph_dtype(graph) -> str:
    return graph.node(graph.outputs[0]).type.dtype


def check_inputs(graph, inputs: dict, label: str = "inputs") -> dict[str, np.ndarray]:
    """User inputs checked against the graph: every input present, ranks and static sizes
    matching, dtypes cast to the graph's (a float64 .npz is common)."""
    from ..errors import SourceLoc, raise_all

    errors = []
    out = {}
    for name in graph.inputs:
        t = graph.node(name).type
        if name not in inputs:
            errors.append(NetspecError(f"no array named '{name}'", SourceLoc(label),
                                       f"the model's inputs: {', '.join(graph.inputs)}"))
            continue
        value = np.asarray(inputs[name])
        bad = len(value.shape) != len(t.shape) or any(
            d is not None and d != v for d, v in zip(t.shape[1:], value.shape[1:]))
        if bad:
            want = ", ".join(["N", *["any" if d is None else str(d) for d in t.shape[1:]]])
            errors.append(NetspecError(f"array '{name}' has shape {list(value.shape)}, the input "
                                       f"expects [{want}]", SourceLoc(label),
                                       "arrays are channels-first unless --input-layout nhwc"))
            continue
        out[name] = value.astype(t.dtype)
    unknown = sorted(set(inputs) - set(graph.inputs))
    if unknown:
        errors.append(NetspecError(f"arrays {unknown} match no model input", SourceLoc(label),
                                   f"the model's inputs: {', '.join(graph.inputs)}"))
    raise_all(errors)
    return out


def localise(graph, runners: dict, values_cache: dict, reference: str, other: str, label: str,
             inputs: dict, tolerance: Tolerance) -> Divergence | None:
    """The first node, in topological order, whose value differs between two backends."""
    names = [n.name for n in graph.layers()]
    got = {}
    for backend in (reference, other):
        key = (backend, label)
        if key not in values_cache:
            values_cache[key] = runners[backend].intermediates(inputs, names)
        got[backend] = values_cache[key]
    agreeing = 0
    for node in graph.layers():
        diff = compare(got[reference][node.name], got[other][node.name], tolerance)
        if not diff.ok:
            return Divergence(label, reference, other, node.name, node.op, str(node.where()),
                              diff, agreeing)
        agreeing += 1
    return None


class Runner:
    """One backend's model of the graph, built once, run on any input set."""

    def __init__(self, backend_name: str, graph, options: dict, clock, model=None):
        from ..backends import get_backend

        self.name = backend_name
        self.backend = get_backend(backend_name)
        self.graph = graph
        self.clock = clock
        if model is None:
            with clock(f"build {backend_name}"):
                model = self.backend.build(graph, **options)
        self.model = model

    def run(self, inputs: dict) -> dict[str, np.ndarray]:
        with self.clock(f"run {self.name}"):
            return self.backend.run(self.model, inputs, self.graph)

    def intermediates(self, inputs: dict, names) -> dict[str, np.ndarray]:
        with self.clock(f"localise {self.name}"):
            return self.backend.run_intermediates(self.model, self.graph, inputs, names)


class ForeignRunner:
    """A model netspec did not build (a conversion's source, a file loaded back), compared
    on its outputs only: it has no per-layer values to localise a divergence with."""

    def __init__(self, name: str, run, clock):
        self.name, self._run, self.clock = name, run, clock

    def run(self, inputs: dict) -> dict[str, np.ndarray]:
        with self.clock(f"run {self.name}"):
            return self._run(inputs)

    def intermediates(self, inputs, names):
        raise NetspecError(f"{self.name} gives no per-layer values")


def check(graph, backends=DEFAULT_BACKENDS, inputs: dict | None = None, inputs_label: str = "user inputs",
          batch: int = 2, seed: int = 0, atol: float | None = None, rtol: float | None = None,
          grad: bool = False, train_step: bool = False, localise_failures: bool = True,
          options: dict | None = None, dynamic_size: int = 16, sgd: SGD = SGD(),
          models: dict | None = None, foreign: dict | None = None) -> Report:
    """Compare ``graph`` across ``backends`` (the first is the reference of each pair).

    Inputs: a seeded set (standard normal, ``batch`` samples, dynamic sizes set to
    ``dynamic_size``) and, when given, ``inputs`` (canonical layout) as a second set.
    ``options`` maps a backend name to its build options (``{"onnx": {"opset": 13}}``);
    ``models`` to an already built model to compare instead of building one (a converted
    model's source, or a model whose weights were changed after building). ``foreign`` maps
    labels to functions ``inputs -> outputs`` (canonical layout, graph names) for models
    netspec did not build; they come first in every pair.
    """
    backends = list(dict.fromkeys(backends))
    foreign = foreign or {}
    if len(backends) + len(foreign) < 2:
        raise NetspecError(f"equivalence needs at least two backends, received {backends}",
                           hint="e.g. --backends torch,onnx")
    report = Report(graph.name, [*foreign, *backends])
    clock = _clock(report.timings)
    tolerance = default_tolerance(_graph_dtype(graph), atol, rtol)
    input_sets = [("seeded", random_inputs(graph, batch=batch, seed=seed, dynamic_size=dynamic_size))]
    if inputs is not None:
        input_sets.append((inputs_label, check_inputs(graph, inputs, inputs_label)))

    options = options or {}
    models = models or {}
    runners = {label: ForeignRunner(label, fn, clock) for label, fn in foreign.items()}
    runners.update({b: Runner(b, graph, options.get(b, {}), clock, models.get(b)) for b in backends})
    values_cache: dict = {}
    for label, feed in input_sets:
        outputs = {b: r.run(feed) for b, r in runners.items()}
        for name in graph.outputs:  # agreement on zeros proves nothing about the weights
            if all(not np.any(out[name]) for out in outputs.values()):
                report.notes.append(f"output '{name}' is all zeros in every model on the {label} inputs, "
                                    "so agreeing on it proves little: try other inputs or a seed")
        for ref, other in itertools.combinations(runners, 2):
            failed = False
            with clock("compare"):
                for name in graph.outputs:
                    diff = compare(outputs[ref][name], outputs[other][name], tolerance)
                    report.rows.append(Row("output", label, name, ref, other, diff))
                    failed |= not diff.ok
            if failed and localise_failures:
                try:
                    found = localise(graph, runners, values_cache, ref, other, label, feed, tolerance)
                except NetspecError as exc:  # e.g. an exported onnx model has no per-node values
                    report.notes.append(f"cannot localise {ref} vs {other}: {exc.message}")
                    continue
                if found is not None:
                    report.divergences.append(found)
    if grad or train_step:
        _compare_training(graph, runners, input_sets[0][1], seed, tolerance, grad, train_step,
                          options, sgd, report, clock)
    return report


def _compare_training(graph, runners, feed, seed, tolerance, grad, train_step, options, sgd, report, clock):
    """Gradients of the inference function, on the very models whose outputs were compared;
    the training step on fresh builds of a dropout-free copy (a step changes the weights)."""
    trainable = [b for b in runners if b in ("torch", "keras")]
    if len(trainable) < 2:
        report.notes.append("gradients and training steps are compared between torch and keras; "
                            f"only {', '.join(trainable) or 'neither'} was selected")
        return
    ref, other = trainable[:2]
    tol = tolerance.scaled(GRADIENT_FACTOR)
    probe = probes(graph, runners[ref].run(feed), seed)
    if grad:
        grads = {}
        for b in (ref, other):
            with clock(f"gradients {b}"):
                grads[b] = trainer(b).gradients(runners[b].model, graph, feed, probe)
        with clock("compare"):
            for key in sorted(grads[ref]):
                diff = (compare(grads[ref][key], grads[other][key], tol) if key in grads[other]
                        else Diff(float("inf"), float("inf"), 0, tol, False, f"{other} has no gradient"))
                report.rows.append(Row("gradient", "seeded", key, ref, other, diff))
    if train_step:
        train_graph = without_dropout(graph)
        if any(n.op == "dropout" for n in graph.layers()):
            report.notes.append("dropout is off (rate 0) for the training step: two frameworks "
                                "cannot draw the same random masks")
        report.notes += _ill_conditioned_batchnorms(graph, len(next(iter(feed.values()))))
        skip = not_comparable_after_step(graph)
        after = {}
        for b in (ref, other):
            runner = Runner(b, train_graph, options.get(b, {}), clock)
            with clock(f"train step {b}"):
                after[b] = trainer(b).train_step(runner.model, train_graph, feed, probe, sgd)
        with clock("compare"):
            for key in sorted(after[ref]):
                if key in skip:
                    continue
                report.rows.append(Row("step", "seeded", key, ref, other,
                                       compare(after[ref][key], after[other][key], tol)))
        report.notes += sorted({f"{k.rsplit('.', 1)[0]}: {v}" for k, v in skip.items()})
        report.notes.append(f"training step: SGD lr={sgd.lr}, momentum={sgd.momentum}, "
                            f"weight_decay={sgd.weight_decay}, batchnorm in training mode")


BATCHNORM_MIN_VALUES = 8  # 2 values per channel visibly break float32 agreement, 8 do not


def _ill_conditioned_batchnorms(graph, batch: int) -> list[str]:
    """Training-mode batchnorm over very few values per channel (batch x spatial) divides
    by the spread of a handful of numbers: its outputs are near +-1 whatever the input, and
    its gradients amplify rounding differences without bound. Such a comparison proves
    little, so the report says so (a larger batch or input size fixes it)."""
    notes = []
    for node in graph.layers():
        if node.op != "batchnorm":
            continue
        spatial = node.type.shape[2:]
        if any(d is None for d in spatial):
            continue
        count = batch * int(np.prod(spatial, dtype=np.int64))
        if count < 2:
            raise NetspecError(f"batchnorm in training mode needs more than one value per channel, "
                               f"'{node.name}' gets {count}", node.where(),
                               "use a larger --batch or input size for --grad/--train-step")
        if count < BATCHNORM_MIN_VALUES:
            notes.append(f"batchnorm '{node.name}' normalises over {count} values per channel in "
                         "training mode, so its gradients are ill-conditioned: use a larger batch "
                         "or input size for --grad/--train-step")
    return notes[:3] + ([f"... and {len(notes) - 3} more such batchnorms"] if len(notes) > 3 else [])


class EquivalenceError(AssertionError):
    def __init__(self, report: Report):
        super().__init__(report.summary())
        self.report = report


def assert_equivalent(model_or_spec, backends=DEFAULT_BACKENDS, **options) -> Report:
    """Raise :class:`EquivalenceError` (an AssertionError, with every failure and the first
    diverging node in its message) unless ``model_or_spec`` agrees across ``backends``.

    ``model_or_spec`` is a spec path, a zoo name or a :class:`~netspec.Graph`; the keyword
    options are :func:`check`'s, plus ``overrides`` for spec parameters and ``seed``::

        from netspec.testing import assert_equivalent

        def test_my_net_is_portable():
            assert_equivalent("specs/my_net.yaml", overrides={"classes": 10}, grad=True)
    """
    from ..api import load

    seed = options.pop("seed", 0)
    graph = load(model_or_spec, seed=seed, overrides=options.pop("overrides", None))
    report = check(graph, backends, seed=seed, **options)
    if not report.ok:
        raise EquivalenceError(report)
    return report
