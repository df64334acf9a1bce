"""The language reference's examples compile, and the op reference matches the registry."""
import os
import re

import pytest

from netspec.spec import load_spec
from netspec.spec.opsdoc import render

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DOC = os.path.join(ROOT, "docs", "spec-language.md")


def examples():
    with open(DOC) as handle:
        text = handle.read()
    blocks = re.findall(r"```yaml\n(.*?)```", text, re.S)
    return [b for b in blocks if b.lstrip().startswith(("netspec: 1", "# yaml-language-server"))]


def test_there_are_examples():
    assert len(examples()) >= 10


@pytest.mark.parametrize("index", range(len(examples())))
def test_example_compiles(index):
    graph = load_spec(f"example{index}.yaml", text=examples()[index], seed=None)
    assert len(graph) > 1


def test_first_example_numbers():
    graph = load_spec("tiny_cnn.yaml", text=examples()[0], seed=None)
    assert graph.param_count == 31_530 and len(graph) - len(graph.inputs) == 5


def test_ops_reference_is_generated():
    with open(os.path.join(ROOT, "docs", "ops.md")) as handle:
        assert handle.read() == render(), "docs/ops.md is stale: run python -m netspec.spec.opsdoc -o docs/ops.md"
