"""The editor schema is derived from the op registry and accepts the zoo."""
import glob
import json
import os

import pytest

from netspec.ops import OPS
from netspec.spec.compiler import META_KEYS, TOP_KEYS
from netspec.spec.jsonschema import spec_schema
from netspec.spec.loader import load_yaml_file

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def layer_forms(schema):
    return schema["properties"]["layers"]["items"]["anyOf"]


def test_structure_follows_the_registry():
    schema = json.loads(json.dumps(spec_schema()))  # plain JSON all the way down
    assert set(schema["properties"]) == set(TOP_KEYS)
    assert schema["required"] == ["inputs", "layers"] and schema["additionalProperties"] is False
    by_op = {next(iter(f["required"])): f for f in layer_forms(schema) if "required" in f}
    assert set(by_op) == set(OPS)
    for name, op in OPS.items():
        body = next(f for f in by_op[name]["properties"][name]["anyOf"] if f.get("type") == "object")
        assert set(body["properties"]) == {a.name for a in op.attrs} | set(META_KEYS)
        assert body["required"] == [a.name for a in op.attrs if a.required]
        assert body["additionalProperties"] is False
        assert set(by_op[name]["properties"]) == {name, *META_KEYS}
    block_call = layer_forms(schema)[-1]
    assert set(block_call["propertyNames"]["not"]["enum"]) == set(OPS)
    conv = by_op["conv"]["properties"]["conv"]["anyOf"][0]["properties"]
    assert conv["padding"]["default"] == 0 and {"type": "string", "pattern": "\\$"} == {
        k: v for k, v in conv["filters"]["anyOf"][1].items() if k != "description"}
    train = schema["properties"]["train"]
    assert train["required"] == ["data", "loss", "optimizer"] and "cross_entropy" in train["properties"]["loss"]["enum"]


def test_schema_command_writes_a_file(tmp_path, capsys):
    from netspec.cli import main
    out = tmp_path / "netspec.schema.json"
    assert main(["schema", "-o", str(out)]) == 0
    assert json.loads(out.read_text()) == json.loads(json.dumps(spec_schema()))


def test_zoo_validates_against_the_schema():
    import jsonschema  # a dev dependency: this test must run, not skip
    validator = jsonschema.Draft202012Validator(spec_schema())
    validator.check_schema(spec_schema())
    for path in sorted(glob.glob(os.path.join(ROOT, "specs", "[!_]*.yaml"))):
        data = json.loads(json.dumps(load_yaml_file(path)))
        assert not list(validator.iter_errors(data)), path
    bad = json.loads(json.dumps(load_yaml_file(os.path.join(ROOT, "tests/data/bad_specs/unknown_attribute.yaml"))))
    assert list(validator.iter_errors(bad))
