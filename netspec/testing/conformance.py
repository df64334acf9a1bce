"""ONNX conformance: ONNX's own backend node test cases, run through import -> torch and
import -> keras for every op type the ONNX importer claims.

Where the cases come from. The onnx wheel (1.23) ships no ``data/node`` directories, but
``onnx.backend.test.loader.load_model_tests(kind="node")`` does not read them for that
kind: it imports ``onnx.backend.test.case.node`` (one module per op, each calling
``expect(node, inputs, outputs, name)``), which builds every case in memory -- about 1,900
of them, each a one-node ``ModelProto`` (or, for ``*_expanded`` variants, the node's
function body) with one data set of numpy inputs and expected outputs, offline, in about
ten seconds. ``model_dir`` is ``None`` for all of them.

Which cases run. A case belongs to op ``X`` when its graph is one node of type ``X`` in the
default domain and ``X`` is in :func:`netspec.converters.onnx.supported_ops`. The
``*_expanded`` variants (several nodes: the function body of another op) are left out:
they test the composition of the ops they expand into, not the op the importer claims.

How inputs are bound. ONNX writes every operand of a test node as a graph input, weights
included; an exporter writes weights, shapes and axes as initializers, and netspec needs
them constant (a convolution's kernel fixes its output channels, a Reshape's shape its
output shape). The rule, one for all ops (:func:`runtime_positions`):

* the node's input 0 stays a graph input: it is the data the network runs on -- unless
  the op's schema types it ``tensor(int64)`` only, the type of shapes and axes (only
  ConstantOfShape's one input is such);
* for the ops in :data:`ALL_DATA_OPS` (elementwise arithmetic, variadic and joining ops,
  whose operands are all data of one kind) every other operand of the same rank as
  input 0 stays a graph input too; an operand of lower rank broadcasts and so cannot
  carry the batch axis (a bias, a scale, a scalar exponent) and is bound;
* every other input -- W, R, B, scale, mean, var, initial_h, shape, starts, pads, scales,
  axes, split, indices, min, max -- is bound as an initializer holding the case's value.

How outputs are judged. Expected and produced tensors are matched by position (the
case's outputs and the graph's outputs are in the same order). Floating tensors pass
under netspec's scale-relative default for their dtype
(:func:`netspec.testing.tolerance.default_tolerance`: float32 ``max|a-b| <= 1e-5 +
1e-4 * max|expected|``); integer and bool tensors must be equal. The dtype must be the
expected one and the shape must match.

Verdicts, per backend: ``pass``; ``refused`` (import, build or run raised a
:class:`~netspec.errors.NetspecError`: netspec said clearly what it does not support);
``fail`` (it ran and the numbers, shape or dtype are wrong); ``crash`` (any other
exception: a bug). Each non-pass verdict keeps its reason.

``python -m netspec.testing.conformance --write docs/onnx-conformance.md`` writes the
table; the text holds no timings or machine-dependent values, so a test can require the
committed file to equal what the generator writes.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import os
import re
import sys
import warnings
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import onnx
import onnx.defs
from onnx import numpy_helper

from netspec.errors import NetspecError, NetspecErrors

from .tolerance import compare, default_tolerance

BACKENDS = ("torch", "keras")
VERDICTS = ("pass", "refused", "fail", "crash")
# Ops whose operands are all data (an activation plus another activation), so no operand
# is a weight: every operand with input 0's rank stays a graph input.
ALL_DATA_OPS = frozenset({"Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Sum", "Concat",
                          "Where"})
NOTE_CHARS = 160  # a reason is cut here: the table is read, not parsed
# Cases whose expected values are themselves imprecise. The verdict is not changed (one
# tolerance for every case, never widened silently); the table says why it fails.
CASE_DATA_NOTES = {
    "test_averagepool_2d_ceil_last_window_starts_on_pad":
        "ONNX's expected values are rounded to 4 decimals (0.1511 for 1.3595/9 = 0.15106)",
}


# ---------------------------------------------------------------- cases
@dataclass(frozen=True)
class Case:
    """One ONNX node test, with its constant operands bound.

    ``model`` has the bound operands as initializers (no longer graph inputs);
    ``inputs`` are the values of its remaining graph inputs and ``outputs`` the expected
    values of its graph outputs, both in graph order; ``bound`` names the operands that
    were bound."""

    name: str
    op: str
    model: onnx.ModelProto
    inputs: tuple
    outputs: tuple
    bound: tuple


def claimed_ops() -> list[str]:
    """The op types the ONNX importer has importers for, sorted."""
    from netspec.converters.onnx import supported_ops

    return sorted(supported_ops())


def onnx_node_cases() -> list:
    """ONNX's node test cases (``onnx.backend.test.case.test_case.TestCase``), built in memory.

    The case modules cast values to exotic types on purpose (float8, int4) and numpy warns
    about it; those warnings say nothing about netspec, so they are silenced here."""
    from onnx.backend.test.loader import load_model_tests

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return list(load_model_tests(kind="node"))


def case_op(model: onnx.ModelProto) -> str | None:
    """The op type a case tests: its graph's single default-domain node, else None."""
    nodes = model.graph.node
    if len(nodes) != 1 or nodes[0].domain not in ("", "ai.onnx"):
        return None
    return nodes[0].op_type


def load_cases(ops=None) -> list[Case]:
    """The cases of the ops in ``ops`` (default: every claimed op), sorted by op and name."""
    wanted = set(claimed_ops() if ops is None else ops)
    cases = []
    for test in onnx_node_cases():
        op = case_op(test.model)
        if op not in wanted or "_expanded" in test.name:
            continue
        (inputs, outputs), = test.data_sets
        cases.append(bind_constants(test.name, op, test.model, [as_array(v) for v in inputs],
                                    [as_array(v) for v in outputs]))
    return sorted(cases, key=lambda c: (c.op, c.name))


def as_array(value) -> np.ndarray:
    """A case value as numpy (exotic-type cases hand over ``TensorProto`` values)."""
    if isinstance(value, onnx.TensorProto):
        return numpy_helper.to_array(value)
    return np.asarray(value)


def runtime_positions(node: onnx.NodeProto, opset: int, arrays: list[np.ndarray]) -> set[int]:
    """Which of the node's present operands stay graph inputs (see the module docstring)."""
    keep = {0} - shape_positions(node, opset)
    if node.op_type in ALL_DATA_OPS and arrays:
        rank = arrays[0].ndim
        keep |= {i for i, a in enumerate(arrays) if i > 0 and a.ndim == rank}
    return keep


def shape_positions(node: onnx.NodeProto, opset: int) -> set[int]:
    """Operands the op's schema types as ``tensor(int64)`` only: shapes and axes (only
    ConstantOfShape has one at position 0, its one input), never data."""
    schema = onnx.defs.get_schema(node.op_type, opset, node.domain)
    allowed = {c.type_param_str: set(c.allowed_type_strs) for c in schema.type_constraints}
    out = set()
    # pos counts present operands; slot is the schema's (absent optional inputs are '',
    # and a variadic last input repeats its formal parameter)
    for pos, slot in enumerate(k for k, n in enumerate(node.input) if n):
        formal = schema.inputs[min(slot, len(schema.inputs) - 1)]
        if allowed.get(formal.type_str, {formal.type_str}) == {"tensor(int64)"}:
            out.add(pos)
    return out


def bind_constants(name: str, op: str, model: onnx.ModelProto, inputs: list, outputs: list) -> Case:
    """``model`` with every operand that is not runtime data moved to the initializers.

    The node's present operands and the graph inputs are the same names in the same
    order (``expect`` writes them so), which is what pairs each value with its input."""
    model = onnx.ModelProto.FromString(model.SerializeToString())  # never touch ONNX's copy
    graph = model.graph
    opset = next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    keep = runtime_positions(graph.node[0], opset, inputs)
    values = dict(zip((v.name for v in graph.input), inputs))
    order = [n for n in graph.node[0].input if n]
    bound = [operand for pos, operand in enumerate(order) if pos not in keep]
    for operand in bound:
        graph.initializer.append(numpy_helper.from_array(values[operand], operand))
    kept = [v for v in graph.input if v.name not in bound]
    del graph.input[:]
    graph.input.extend(kept)
    return Case(name, op, model, tuple(values[v.name] for v in kept), tuple(outputs), tuple(bound))


# ---------------------------------------------------------------- running
@dataclass(frozen=True)
class Verdict:
    """One backend's outcome on one case; ``note`` is the reason for anything but a pass."""

    status: str  # one of VERDICTS
    note: str = ""


@dataclass
class Result:
    """A case and its verdict in each backend (backend name -> :class:`Verdict`)."""

    case: Case
    verdicts: dict[str, Verdict] = field(default_factory=dict)

    def passed(self) -> bool:
        return all(v.status == "pass" for v in self.verdicts.values())


def reason(exc: BaseException) -> str:
    """One line of an exception, stripped of what differs between runs (addresses)."""
    if isinstance(exc, NetspecErrors):
        text = "; ".join(str(e) for e in exc.errors)
    elif isinstance(exc, NetspecError):
        text = str(exc)
    else:
        lines = [ln.strip() for ln in re.sub(r"\x1b\[[0-9;]*m", "", str(exc)).splitlines() if ln.strip()]
        if len(lines) > 1 and lines[0].startswith("Exception encountered when calling"):
            lines[0] = f"{lines[0].rstrip('.')}: {lines[1]}"  # Keras wraps the real message
        text = f"{type(exc).__name__}: {lines[0] if lines else ''}".rstrip(": ")
    text = re.sub(r"0x[0-9a-fA-F]+", "0x…", " ".join(text.split()))
    return text if len(text) <= NOTE_CHARS else text[:NOTE_CHARS - 1] + "…"


def judge(expected: tuple, got: list[np.ndarray]) -> Verdict:
    """Pass when every produced tensor has the expected dtype and shape and is close
    enough: within the dtype's default tolerance for floats, equal otherwise."""
    if len(got) != len(expected):
        return Verdict("fail", f"{len(got)} outputs, expected {len(expected)}")
    for k, (want, have) in enumerate(zip(expected, got)):
        have = np.asarray(have)
        where = f"output {k}: " if len(expected) > 1 else ""
        if have.dtype != want.dtype:
            return Verdict("fail", f"{where}dtype {have.dtype}, expected {want.dtype}")
        if have.shape != want.shape:
            return Verdict("fail", f"{where}shape {list(have.shape)}, expected {list(want.shape)}")
        if want.dtype.kind == "f":
            diff = compare(want, have, default_tolerance(str(want.dtype)))
            if not diff.ok:
                extra = f"; {diff.note}" if diff.note else ""
                return Verdict("fail", f"{where}max error {diff.max_abs:.1e} at scale {diff.scale:.1e} "
                                       f"(tolerance {diff.tolerance}){extra}")
        elif not np.array_equal(want, have):
            return Verdict("fail", f"{where}values differ ({int(np.sum(want != have))} of {want.size})")
    return Verdict("pass")


def run_backend(backend, graph, case: Case) -> Verdict:
    """Build ``graph`` in one backend, run it on the case's inputs, judge the outputs."""
    try:
        if len(graph.inputs) != len(case.inputs):
            return Verdict("crash", f"the graph has {len(graph.inputs)} inputs, the case feeds "
                                    f"{len(case.inputs)}")
        with quiet():
            model = backend.build(graph)
            out = backend.run(model, dict(zip(graph.inputs, case.inputs)), graph)
        return judge(case.outputs, [out[name] for name in graph.outputs])
    except NetspecError as exc:
        return Verdict("refused", reason(exc))
    except Exception as exc:  # anything else is a bug, and the table says which
        return Verdict("crash", reason(exc))


def run_case(case: Case, backends: dict) -> Result:
    """One import, then each backend in turn on the same graph."""
    from netspec.converters.onnx import import_onnx

    result = Result(case)
    try:
        with quiet():
            graph = import_onnx(case.model)
    except NetspecError as exc:
        result.verdicts = {name: Verdict("refused", reason(exc)) for name in backends}
        return result
    except Exception as exc:
        result.verdicts = {name: Verdict("crash", reason(exc)) for name in backends}
        return result
    result.verdicts = {name: run_backend(backend, graph, case) for name, backend in backends.items()}
    data_note = CASE_DATA_NOTES.get(case.name)
    if data_note:
        result.verdicts = {name: Verdict(v.status, f"{v.note} ({data_note})") if v.status == "fail" else v
                           for name, v in result.verdicts.items()}
    return result


@contextlib.contextmanager
def quiet():
    """Keep what a build prints to Python's streams (Keras summaries, warnings) out of
    the caller's output; the verdict carries what matters."""
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        yield


def run_all(ops=None, backends=BACKENDS, progress=None) -> list[Result]:
    """Every case of ``ops`` (default: the claimed ops) through each backend."""
    from netspec.backends import get_backend

    engines = {name: get_backend(name) for name in backends}
    results = []
    for case in load_cases(ops):
        results.append(run_case(case, engines))
        if progress is not None:
            progress(results[-1])
    return results


# ---------------------------------------------------------------- the table
def summary(results: list[Result]) -> dict[str, Counter]:
    """Backend -> count of each verdict."""
    out: dict[str, Counter] = {}
    for r in results:
        for name, v in r.verdicts.items():
            out.setdefault(name, Counter())[v.status] += 1
    return out


def cell(text: str) -> str:
    return text.replace("|", "\\|").replace("`", "'")


def render(results: list[Result], ops=None) -> str:
    """The markdown page: how the cases were run, the counts, one row per case."""
    ops = sorted(claimed_ops() if ops is None else ops)
    backends = list(results[0].verdicts) if results else list(BACKENDS)
    counts = summary(results)
    per_op = Counter(r.case.op for r in results)
    both = Counter(r.case.op for r in results if r.passed())
    lines = [
        "# ONNX conformance",
        "",
        "Generated by `python -m netspec.testing.conformance --write docs/onnx-conformance.md`;",
        "do not edit by hand (`tests/testing/test_conformance.py` requires this file to match).",
        "",
        f"ONNX's backend node test cases (onnx {onnx.__version__}, built in memory by",
        "`onnx.backend.test.loader.load_model_tests(kind=\"node\")`) for every op type the ONNX",
        "importer claims (`netspec.converters.onnx.supported_ops()`), each imported with",
        "`import_onnx` and run in the " + " and ".join(f"`{b}`" for b in backends) + " backends.",
        "A case belongs to an op when its graph is that one node; the `*_expanded` variants",
        "(the function body of another op) are left out.",
        "",
        "**Weights arriving as graph inputs were bound as initializers.** ONNX writes every",
        "operand of a test node as a graph input; this runner keeps input 0 (the data) as a",
        "graph input and binds every other operand (W, R, B, scale, mean, var, shape, starts,",
        "pads, scales, axes, indices, min, max, ...) as an initializer holding the case's",
        "value, as an exporter writes them; so is input 0 where the op's schema types it",
        "`tensor(int64)` only, a shape (ConstantOfShape). For " + ", ".join(sorted(ALL_DATA_OPS)) + ",",
        "whose operands are all data, every operand of input 0's rank stays a graph input",
        "(a lower-rank operand broadcasts, so it cannot carry the batch axis, and is bound).",
        "The *bound* column lists the bound operands.",
        "",
        "Outputs are compared by position. Floats pass within netspec's scale-relative default",
        "for their dtype (float32: `max|got - expected| <= 1e-5 + 1e-4 * max|expected|`, see",
        "`netspec/testing/tolerance.py`); integers and bools must be equal; dtype and shape must",
        "match. Verdicts: **pass**; **refused** (import, build or run raised a `NetspecError`:",
        "a clear refusal); **fail** (wrong numbers, shape or dtype); **crash** (any other",
        "exception: a bug).",
        "",
        "## Summary",
        "",
        f"{len(results)} cases of {len(ops)} op types; {sum(1 for r in results if r.passed())} pass in "
        f"every backend.",
        "",
        "| backend | " + " | ".join(VERDICTS) + " |",
        "|---|" + "---|" * len(VERDICTS),
    ]
    for name in backends:
        row = counts.get(name, Counter())
        lines.append(f"| {name} | " + " | ".join(str(row[v]) for v in VERDICTS) + " |")
    passes = {b: Counter(r.case.op for r in results if r.verdicts[b].status == "pass") for b in backends}
    lines += ["", "## Per op", "",
              "| op | cases | " + " | ".join(f"{b} pass" for b in backends) + " | pass in every backend |",
              "|---|---|" + "---|" * len(backends) + "---|"]
    for op in ops:
        lines.append(f"| {op} | {per_op[op]} | " + " | ".join(str(passes[b][op]) for b in backends)
                     + f" | {both[op]} |")
    lines += ["", "## Cases", "",
              "| op | case | bound | " + " | ".join(backends) + " | note |",
              "|---|---|---|" + "---|" * len(backends) + "---|"]
    for r in results:
        notes = []
        for name in backends:
            v = r.verdicts[name]
            if v.note and (not notes or notes[-1][1] != v.note):
                notes.append((name, v.note))
        same = len(notes) == 1 and all(r.verdicts[b].note == notes[0][1] for b in backends)
        note = notes[0][1] if same else "; ".join(f"{name}: {text}" for name, text in notes)
        lines.append(f"| {r.case.op} | {r.case.name} | {', '.join(r.case.bound)} | "
                     + " | ".join(r.verdicts[b].status for b in backends) + f" | {cell(note)} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m netspec.testing.conformance",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--write", metavar="PATH", help="write the markdown table here (default: stdout)")
    parser.add_argument("--ops", help="comma-separated op types (default: every claimed op)")
    parser.add_argument("--backends", default=",".join(BACKENDS), help="comma-separated backends")
    parser.add_argument("-v", "--verbose", action="store_true", help="print each verdict as it comes")
    args = parser.parse_args(argv)
    ops = args.ops.split(",") if args.ops else None
    backends = tuple(args.backends.split(","))

    def progress(r: Result) -> None:
        print(r.case.name, *(f"{b}={v.status}" for b, v in r.verdicts.items()),
              *[v.note for v in r.verdicts.values() if v.note][:1], file=sys.stderr)

    results = run_all(ops, backends, progress if args.verbose else None)
    text = render(results, ops)
    if args.write:
        with open(args.write + ".tmp", "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(args.write + ".tmp", args.write)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
