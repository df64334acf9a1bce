"""The registry applies defaults and checks attributes once, centrally, and reports clearly."""
import pytest

from netspec.emitters import EmitterTable
from netspec.errors import NetspecError
from netspec.ops import OPS, OpDef, ShapeError, get_op, register
from netspec.testing import single_op_graph


def test_defaults_are_applied():
    attrs, problems = OPS["conv"].check_attrs({"filters": 4, "kernel": 3})
    assert not problems
    assert attrs["stride"] == 1 and attrs["padding"] == 0 and attrs["groups"] == 1 and attrs["bias"] is True


@pytest.mark.parametrize("attrs,fragment", [
    ({"filters": 4, "kernel": -3}, "conv.kernel must be a positive int or list of positive ints, received -3"),
    ({"filters": 0, "kernel": 3}, "conv.filters must be a positive int, received 0"),
    ({"filters": 4, "kernel": 3, "padding": "full"}, "conv.padding must be"),
    ({"filters": 4, "kernel": 3, "bias": "yes"}, "conv.bias must be true or false, received 'yes'"),
    ({"kernel": 3}, "conv needs attribute 'filters'"),
])
def test_bad_attributes_are_reported(attrs, fragment):
    _, problems = OPS["conv"].check_attrs(attrs)
    assert any(fragment in message for _, message, _ in problems), problems


def test_unknown_attribute_suggests_the_closest():
    _, problems = OPS["conv"].check_attrs({"filters": 4, "kernal": 3})
    (key, message, hint), = [p for p in problems if p[0] == "kernal"]
    assert message == "unknown attribute 'kernal' for op 'conv'" and hint == "did you mean 'kernel'?"


def test_unknown_op_suggests_the_closest():
    with pytest.raises(NetspecError, match="unknown op 'cnov'") as info:
        get_op("cnov")
    assert info.value.hint == "did you mean 'conv'?"


def test_registering_an_op_twice_is_refused():
    with pytest.raises(RuntimeError, match="already registered"):
        register(OpDef("relu", "again", "activation"))


def test_emitter_table_refuses_duplicates_and_reports_missing_ops():
    table = EmitterTable("test")
    table.register("relu")(lambda *a: None)
    with pytest.raises(RuntimeError, match="registered twice"):
        table.register("relu")(lambda *a: None)
    graph = single_op_graph("conv", {"filters": 2, "kernel": 1})
    with pytest.raises(NetspecError, match="cannot emit op 'conv'"):
        table.check_graph(graph)


@pytest.mark.parametrize("op,attrs,shapes,fragment", [
    ("conv", {"filters": 4, "kernel": 7}, [(3, 5, 5)], "kernel 7 is larger than the padded input 5"),
    ("conv", {"filters": 4, "kernel": 3, "groups": 2}, [(3, 5, 5)], "groups=2 must divide"),
    ("conv", {"filters": 4, "kernel": [3, 3, 3]}, [(3, 5, 5)], "kernel has 3 values but the input has 2"),
    ("dense", {"units": 4}, [(3, 5, 5)], "dense acts on the last axis"),
    ("add", {}, [(3, 4), (3, 5)], "add needs inputs of the same shape"),
    ("concat", {}, [(3, 4, 4), (3, 5, 4)], "concat along axis 1 needs equal sizes"),
    ("reshape", {"shape": [7, -1]}, [(3, 4)], "reshape cannot fit 12 elements"),
    ("lstm", {"units": 4}, [(3, 8, 8)], "lstm expects a plain batch-first sequence"),
    ("conv", {"filters": 4, "kernel": 3, "stride": 2, "padding": "same"}, [(3, None, 8)], "needs a static input size"),
    ("locally_connected", {"filters": 4, "kernel": 3}, [(3, None, 8)], "needs static input sizes"),
])
def test_shape_errors_say_what_was_received(op, attrs, shapes, fragment):
    with pytest.raises(NetspecError, match=fragment.replace("(", r"\(").replace(")", r"\)")) as info:
        single_op_graph(op, attrs, shapes)
    assert "node 'out'" in str(info.value)


def test_every_op_documents_itself():
    for op in OPS.values():
        assert op.doc and op.doc[0].isupper(), op.name
        for attr in op.attrs:
            assert attr.type.expected, (op.name, attr.name)
