"""ONNX's own backend node test cases, for every op the ONNX importer claims, through
import -> torch and import -> keras (:mod:`netspec.testing.conformance`).

What is required: no case fails (wrong numbers) or crashes (an exception that is not a
NetspecError) except those in KNOWN_FAILURES, each with the text it fails with and a
diagnosis; every claimed op has at least one case that passes in both backends, unless
REFUSED_OPS says why netspec refuses all of its cases; and docs/onnx-conformance.md is
what the generator writes today. All cases run once (one import per case, shared by both
backends; Keras models run eagerly, nothing is compiled): about 30 s on two cores, 10 of
them ONNX building its cases.

A known failure that starts passing fails the test too, so the entry (and the table) is
updated when the bug is fixed.
"""
from __future__ import annotations

import os

import pytest

from netspec.testing import conformance

DOC = os.path.join(os.path.dirname(__file__), "..", "..", "docs", "onnx-conformance.md")

# (case, backend) -> the start of the verdict's note, and why it happens. These are bugs in
# netspec's op definitions, importer or emitters (or, for the one marked, ONNX's case
# data); converters/onnx, netspec/ops and backends/* are other people's to fix.
KNOWN_FAILURES = {
    ("test_averagepool_2d_ceil_last_window_starts_on_pad", "torch"):
        ("fail: max error 5.6e-05 at scale 3.6e-01",
         "ONNX's case data: the expected means are rounded to 4 decimals; netspec is exact"),
    ("test_averagepool_2d_ceil_last_window_starts_on_pad", "keras"):
        ("fail: max error 5.6e-05 at scale 3.6e-01",
         "ONNX's case data: the expected means are rounded to 4 decimals; netspec is exact"),
}

# Claimed ops none of whose ONNX cases netspec runs, and why that is a fair refusal.
REFUSED_OPS = {
    "ConstantOfShape": "its one input is a shape, so every case is a constant graph; netspec "
                       "graphs compute their outputs from inputs (it imports where a shape is "
                       "computed, Shape -> ConstantOfShape, in exported models)",
    "Shape": "a static input's shape is a constant, which the importer folds; every case "
             "outputs it directly, and netspec graphs compute their outputs from inputs",
    "LayerNormalization": "every case makes the optional Mean and InvStdDev outputs graph "
                          "outputs; netspec's layernorm has one output (Y alone is covered by "
                          "tests/converters/onnx)",
}


@pytest.fixture(scope="module")
def results():
    return conformance.run_all()


def test_no_unexpected_failures_or_crashes(results):
    bad, seen = [], set()
    for r in results:
        for backend, v in r.verdicts.items():
            if v.status not in ("fail", "crash"):
                continue
            key = (r.case.name, backend)
            seen.add(key)
            text = f"{v.status}: {v.note}"
            known = KNOWN_FAILURES.get(key)
            if known is None or not text.startswith(known[0]):
                bad.append(f"{r.case.name} [{backend}] {text}")
    assert not bad, ("cases that fail or crash (fix, or add to KNOWN_FAILURES with a diagnosis):\n"
                     + "\n".join(bad))
    fixed = sorted(set(KNOWN_FAILURES) - seen)
    assert not fixed, f"known failures that no longer fail (remove them, regenerate the doc): {fixed}"


def test_every_claimed_op_passes_somewhere(results):
    claimed = conformance.claimed_ops()
    passing = {r.case.op for r in results if r.passed()}
    missing = sorted(set(claimed) - passing - set(REFUSED_OPS))
    assert not missing, f"claimed ops with no case passing in both backends: {missing}"
    stale = sorted(set(REFUSED_OPS) & (passing | (set(REFUSED_OPS) - set(claimed))))
    assert not stale, f"REFUSED_OPS entries that pass now or are no longer claimed: {stale}"


def test_every_claimed_op_has_cases(results):
    ops = {r.case.op for r in results}
    assert ops == set(conformance.claimed_ops())


def test_committed_table_is_current(results):
    with open(DOC, encoding="utf-8") as f:
        committed = f.read()
    assert committed == conformance.render(results), (
        "docs/onnx-conformance.md is stale: python -m netspec.testing.conformance "
        "--write docs/onnx-conformance.md")


def test_binding_rule():
    """Weights, shapes and broadcast operands become initializers; data stays an input."""
    cases = {c.name: c for c in conformance.load_cases(["Conv", "Add", "ConstantOfShape", "LSTM"])}
    assert cases["test_basic_conv_with_padding"].bound == ("W",)
    assert cases["test_add"].bound == ()
    assert cases["test_add_bcast"].bound == ("y",)
    assert cases["test_constantofshape_float_ones"].bound == ("x",)
    peep = cases["test_lstm_with_peepholes"]
    assert peep.bound[:3] == ("W", "R", "B") and len(peep.model.graph.input) == 1
