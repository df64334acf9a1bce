"""The broken-spec corpus: each tests/data/bad_specs/NAME.yaml must make ``netspec validate``
print exactly the lines in NAME.expected on stderr, exit with status 2 and show no traceback.

Paths are given relative to the repository root (the test runs from there), so the expected
lines are the same on every machine. Files under ``_lib/`` are included by the corpus, not
specs of their own.
"""
import os
import subprocess
import sys
import time

import pytest

from netspec.cli import main
from netspec.graph.ir import Graph
from netspec.graph.lint import lint
from netspec.errors import NetspecError
from netspec.ops.types import TensorType

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CORPUS = "tests/data/bad_specs"
NAMES = sorted(f[:-5] for f in os.listdir(os.path.join(ROOT, CORPUS)) if f.endswith(".yaml"))


def test_corpus_is_complete():
    assert len(NAMES) >= 35
    for name in NAMES:
        assert os.path.exists(os.path.join(ROOT, CORPUS, name + ".expected")), f"{name}.expected is missing"


@pytest.mark.parametrize("name", NAMES)
def test_bad_spec(name, capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    path = f"{CORPUS}/{name}.yaml"
    with open(f"{CORPUS}/{name}.expected") as handle:
        expected = handle.read().splitlines()
    status = main(["validate", path])
    out, err = capsys.readouterr()
    assert status == 2
    assert "Traceback" not in err and out == ""
    assert err.splitlines() == expected


@pytest.mark.parametrize("name", ["python_tag", "many_errors", "include_loop"])
def test_bad_spec_through_the_console_script(name):
    """The real process: exit status 2, the same lines, nothing else on stderr."""
    result = subprocess.run([sys.executable, "-m", "netspec", "validate", f"{CORPUS}/{name}.yaml"],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    with open(os.path.join(ROOT, CORPUS, name + ".expected")) as handle:
        assert result.stderr.splitlines() == handle.read().splitlines()
    assert result.returncode == 2


def test_every_spec_of_several_is_reported(capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    assert main(["validate", f"{CORPUS}/unknown_op.yaml", f"{CORPUS}/python_tag.yaml"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2 and "unknown_op.yaml" in err[0] and "python_tag.yaml" in err[1]


def test_50_megabyte_file_is_refused_quickly(tmp_path, capsys):
    big = tmp_path / "big.yaml"
    line = "  - relu  # " + "x" * 100 + "\n"
    with open(big, "w") as handle:
        handle.write("netspec: 1\ninputs: {x: [4]}\nlayers:\n")
        handle.write(line * (50 * 2**20 // len(line)))
    start = time.perf_counter()
    assert main(["validate", str(big)]) == 2
    assert time.perf_counter() - start < 1.0
    (line,) = capsys.readouterr().err.splitlines()
    assert line == f"error: {big}: spec file is 52.4 MB, above the 10 MiB limit " \
                   "(hint: specs describe structure; keep weights in .safetensors)"


def test_cycle_is_caught_by_lint():
    """The language cannot express a cycle (from: sees only earlier layers, see
    forward_reference.yaml); graphs built by hand or imported are linted for one."""
    g = Graph("loop")
    g.add_input("x", TensorType((None, 4)))
    g.add_node("a", "add", {}, ["x", "b"])
    g.add_node("b", "relu", {}, ["a"])
    with pytest.raises(NetspecError, match=r"the graph has a cycle: a -> b -> a"):
        lint(g)
