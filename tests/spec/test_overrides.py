"""``--set NAME=VALUE``: parsed as YAML scalars, applied to spec params, checked against them."""
import pytest

from netspec.cli import main
from netspec.errors import NetspecError
from netspec.spec import parse_overrides


def test_values_are_typed():
    assert parse_overrides(["classes=10", "lr=1e-3", "style=keras", "bn=true", "sizes=[1, 2]",
                            "none=", "expr=$classes * 2", " spaced = 3"]) == {
        "classes": 10, "lr": 0.001, "style": "keras", "bn": True, "sizes": [1, 2], "none": None,
        "expr": "$classes * 2", "spaced": 3}
    assert parse_overrides(None) == {} and parse_overrides(["a=1", "a=2"]) == {"a": 2}


@pytest.mark.parametrize("item, message", [
    ("classes", "expects NAME=VALUE"),
    ("=3", "expects NAME=VALUE"),
    ("my-param=3", "expects NAME=VALUE"),
    ("x=!!python/object/apply:os.system [ls]", "YAML tag"),
    ("x=[1, 2", "cannot read"),
    ("x=a: b", "expected a number, text"),
])
def test_bad_items(item, message):
    with pytest.raises(NetspecError, match=message.replace("[", r"\[")):
        parse_overrides([item])


SPEC = """
inputs: {x: [$features]}
params: {features: 4, classes: 3, wide: false, width: "$classes * 2"}
layers:
  - dense: {units: $width, when: $wide}
  - dense: $classes
"""


def test_overrides_reach_params_inputs_and_derived_params(spec):
    g = spec.graph(SPEC, parse_overrides(["classes=5", "features=7", "wide=true"]))
    assert g.node("x").type.shape == (None, 7)
    assert [n.type.shape for n in g.layers()] == [(None, 10), (None, 5)]
    assert g.meta["params"]["width"] == 10
    assert spec.graph(SPEC, {"width": 1, "wide": True}).node("dense").type.shape == (None, 1)


def test_unknown_and_mistyped_overrides(spec):
    errors = spec.errors(SPEC, parse_overrides(["clases=5", "wide=yes please", "features=1.5"]))
    assert errors == [
        "main.yaml:3:9: --set clases: the spec has no parameter 'clases' (hint: did you mean 'classes'?)",
        "main.yaml:3:20: --set features=1.5: expected an int, like the default 4",
        "main.yaml:3:41: --set wide='yes please': expected true or false, like the default False"]


def test_set_through_the_cli(spec, capsys):
    path = spec.write("m.yaml", SPEC)
    assert main(["validate", path, "--set", "classes=9"]) == 0
    assert main(["validate", path, "--set", "classes=nine"]) == 2
    err = capsys.readouterr().err
    assert "--set classes='nine': expected an int, like the default 3" in err and "Traceback" not in err
