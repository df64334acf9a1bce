"""The ``train:`` section: checked with the spec, every problem at its own position."""
import pytest

from netspec.errors import SourceLoc
from netspec.spec.loader import load_yaml_text
from netspec.spec.train import validate_train


def check(text):
    errors = []
    out = validate_train(load_yaml_text(text, "t.yaml"), SourceLoc("t.yaml", 1, 1), errors)
    return out, [str(e) for e in errors]


def test_full_section():
    out, errors = check("""
data: digits
loss: cross_entropy
optimizer: {sgd: {lr: 0.1, momentum: 0.9, weight_decay: 5.0e-4, nesterov: true}}
epochs: 10
batch_size: 64
seed: 3
val_split: 0.1
""")
    assert errors == []
    assert out["optimizer"] == {"sgd": {"lr": 0.1, "momentum": 0.9, "weight_decay": 5e-4, "nesterov": True}}
    assert out["epochs"] == 10 and out["val_split"] == 0.1


def test_optimizer_by_name_only():
    out, errors = check("{data: d.npz, loss: mse, optimizer: adam}")
    assert errors == [] and out["optimizer"] == {"adam": {}}


@pytest.mark.parametrize("text, expected", [
    ("{data: x, loss: mse, optimizer: {sgd: 0.1}}",
     "t.yaml:1:39: train.optimizer.sgd takes a mapping of settings, received 0.1 (hint: e.g. {sgd: {lr: 0.1}})"),
    ("{data: x, loss: mse, optimizer: {sgd: {lr: 0}}}",
     "t.yaml:1:44: train.optimizer.sgd.lr must be a number > 0, received 0"),
    ("{data: x, loss: mse, optimizer: {sgd: {rate: 1}}}",
     "t.yaml:1:40: unknown sgd setting 'rate' (hint: sgd takes: lr, momentum, weight_decay, nesterov)"),
    ("{data: x, loss: mse, optimizer: {rmsprop: {}}}",
     "t.yaml:1:33: unknown optimizer 'rmsprop' (hint: available: sgd, adam)"),
    ("{data: x, loss: mse, optimizer: {sgd: {}, adam: {}}}",
     "t.yaml:1:33: train.optimizer must be one of sgd, adam with its settings, received {'sgd': {}, 'adam': {}} "
     "(hint: e.g. optimizer: {sgd: {lr: 0.1}})"),
    ("{data: 3, loss: mse, optimizer: sgd}",
     "t.yaml:1:8: train.data must be a bundled dataset name or a path to .npz, received 3"),
    ("{data: x, loss: mse, optimizer: sgd, batch_size: 0.5}",
     "t.yaml:1:50: train.batch_size must be a positive int, received 0.5"),
    ("{data: x, loss: mse, optimizer: sgd, epoch: 3}",
     "t.yaml:1:38: unknown train option 'epoch' (hint: did you mean 'epochs'?)"),
    ("{loss: mse}", "t.yaml:1:1: train needs 'data', 'optimizer'"),
])
def test_problems(text, expected):
    _, errors = check(text)
    assert errors == [expected]


def test_not_a_mapping():
    errors = []
    assert validate_train(None, SourceLoc("t.yaml", 7, 8), errors) is None
    assert str(errors[0]).startswith("t.yaml:7:8: train must be a mapping with data, loss, optimizer, received None")


def test_all_problems_in_one_run(spec):
    errors = spec.errors("""
        inputs: {x: [4]}
        layers: [relu]
        train: {data: x, loss: hinge, optimizer: {adam: {lr: -1}}, epochs: 0}
        """)
    assert len(errors) == 3
