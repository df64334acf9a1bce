"""The expression evaluator: arithmetic that specs need, and nothing a hostile spec could use."""
import time

import pytest

from netspec.spec.expr import MAX_CHARS, ExprError, evaluate, is_expression

SCOPE = {"filters": 64, "stride": 2, "image": [3, 224, 224], "style": "keras", "seq": [None, 40],
         "flag": True}


@pytest.mark.parametrize("text, expected", [
    ("$filters * 2", 128),
    ("$filters // 3", 21),
    ("$filters / 4", 16.0),
    ("$filters % 10 + 2 ** 3", 12),
    ("-$stride", -2),
    ("$stride > 1", True),
    ("$stride > 1 and $filters < 64", False),
    ("not $flag", False),
    ("1 < $stride <= 2", True),
    ("$image[1] // 32", 7),
    ("$image[-1]", 224),
    ("$image[1:]", [224, 224]),
    ("len($image)", 3),
    ("max($filters, 100)", 100),
    ("min($image)", 3),
    ("int(log2($filters))", 6),
    ("ceil($filters / 3)", 22),
    ("sum([1, 2, 3])", 6),
    ("2 if $style == 'keras' else 1", 2),
    ("$style in ['keras', 'torch']", True),
    ("[$filters, $filters * 2]", [64, 128]),
    ("$image + [7]", [3, 224, 224, 7]),
    ("$seq[0]", None),
    ("${filters}", 64),
    ("stage${stride}", "stage2"),
    ("${filters * 2}_x", "128_x"),
    ("$style + '_2'", "keras_2"),
    ("true", True),
    ("1.001e-5 if $style == 'keras' else 1e-5", 1.001e-5),
])
def test_evaluates(text, expected):
    assert evaluate(text, SCOPE) == expected


def test_is_expression():
    assert is_expression("$a") and not is_expression("abc") and not is_expression(3)


@pytest.mark.parametrize("text, message", [
    # reaching outside the language
    ("$filters.__class__", "attribute access"),
    ("().__class__.__bases__", "attribute access"),
    ("__import__('os')", "function '__import__' is not allowed"),
    ("open('/etc/passwd')", "function 'open' is not allowed"),
    ("eval('1')", "function 'eval' is not allowed"),
    ("getattr($filters, 'real')", "function 'getattr' is not allowed"),
    ("$image.pop()", "attribute access"),
    ("(lambda: 1)()", "lambda is not allowed"),
    ("[x for x in $image]", "comprehensions are not allowed"),
    ("{'a': 1}", "dict literals"),
    ("f'{$filters}'", "f-strings"),
    ("__v_filters", "reserved"),
    ("$__class__", "unknown variable '$__class__'"),
    ("filters * 2", "bare name 'filters'"),
    ("max", "must be called"),
    ("max(1, key=abs)", "no keyword arguments"),
    # bombs
    ("9 ** 9 ** 9", "exponent"),
    ("10 ** 40", "out of range"),
    ("'ab' * 1000000000", "needs numbers"),
    ("[1] * 1000000000", "needs numbers"),
    ("float('inf')", "not a finite number"),
    ("int(float('inf'))", "not a finite number"),
    ("int('9' * 5000)", "needs numbers"),
    ("ceil(1e300 * 1e300)", "out of range"),
    ("1 << 100000", "operator '<<' is not allowed"),
    ("-" * 200 + "1", "nested"),
    ("(" * 300 + "1" + ")" * 300, "cannot parse"),
    ("1" + "+1" * (MAX_CHARS // 2), "characters long"),
    # ordinary mistakes
    ("$filtrs * 2", "unknown variable '$filtrs'"),
    ("$filters *", "cannot parse"),
    ("$filters / 0", "division by zero"),
    ("$image[5]", "out of range"),
    ("$filters[0]", "cannot index"),
    ("$seq[0] * 2", "needs numbers, received None"),
    ("sqrt(-1)", "sqrt()"),
    ("$ + 1", "'$' must be followed"),
    ("1 is 1", "comparison 'Is' is not allowed"),
    ("$image < 3", "cannot compare"),
    ("${filters", "'$' must be followed"),
])
def test_refuses(text, message):
    start = time.perf_counter()
    with pytest.raises(ExprError) as info:
        evaluate(text, SCOPE)
    assert message in str(info.value), str(info.value)
    assert time.perf_counter() - start < 0.5


def test_unknown_variable_hints():
    with pytest.raises(ExprError) as info:
        evaluate("$filtrs", SCOPE)
    assert info.value.hint == "did you mean '$filters'?"
    with pytest.raises(ExprError) as info:
        evaluate("$zzz", {"a": 1})
    assert info.value.hint == "defined here: $a"


def test_dynamic_size_hint():
    with pytest.raises(ExprError) as info:
        evaluate("$seq[0] // 2", SCOPE)
    assert "dynamic" in info.value.hint


def test_doubling_is_bounded():
    """Params that each double the previous one must stop at the length limit, not eat memory."""
    scope = {"a": [1] * 64}
    for _ in range(20):
        try:
            scope = {"a": evaluate("$a + $a", scope)}
        except ExprError as exc:
            assert "limit" in str(exc)
            break
    else:
        pytest.fail("a list grew without bound")


def test_parsed_text_is_reused():
    """Repeated blocks evaluate the same texts many times; parsing once keeps that cheap."""
    from netspec.spec import expr
    evaluate("$filters * 7 + 1", SCOPE)
    assert ("$filters * 7 + 1", False) in expr._TREES
