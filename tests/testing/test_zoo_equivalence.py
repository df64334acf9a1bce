"""Acceptance of the harness on the zoo: every model agrees across torch, keras and onnx at
a small size, and the big classifiers at their published 224x224 size (marked slow, batch 1)."""
import pytest

import netspec
from netspec.spec import zoo_names
from netspec.testing import check
from netspec.testing.zoo import SMALL_ZOO

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def test_every_zoo_model_has_a_small_configuration():
    assert sorted(SMALL_ZOO) == sorted(zoo_names())


@pytest.mark.parametrize("name", zoo_names())
def test_zoo_model_is_equivalent_in_every_backend(name):
    graph = netspec.load(name, overrides=SMALL_ZOO[name])
    report = check(graph)
    assert report.ok, report.summary()
    assert len([r for r in report.rows if r.kind == "output"]) == 3 * len(graph.outputs)
    assert all(r.diff.scale > 0 for r in report.rows), "an all-zero output proves nothing"


@pytest.mark.slow
@pytest.mark.parametrize("name", ["resnet50", "vgg16", "densenet121", "googlenet"])
def test_big_classifier_is_equivalent_at_224(name):
    graph = netspec.load(name)
    assert graph.node(graph.inputs[0]).type.shape[1:] == (3, 224, 224)
    report = check(graph, batch=1)
    assert report.ok, report.summary()
