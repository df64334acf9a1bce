"""A small, whitelisting evaluator for spec expressions (never ``eval``).

A string containing ``$`` is an expression: ``"$filters * 2"``, ``"$stride > 1"``,
``"$image[1] // 32"``. ``${...}`` inside a longer string interpolates: ``"stage${index}"``
(inside the braces a variable may drop its ``$``). Variables are always written with ``$``
elsewhere; bare names may only be the functions and constants below.

Python's ``ast`` parses the text, but only the node types with an ``eval_`` method here are
evaluated, so nothing can reach attributes, imports, builtins or comprehensions. A spec is
untrusted input, so every result is bounded as it is produced: numbers stay finite and
within ``MAX_MAGNITUDE``, strings and lists within ``MAX_LENGTH`` items, the text within
``MAX_CHARS`` and the tree within ``MAX_DEPTH`` levels. Without the running bounds, a chain
of params each doubling the previous one (``b: "$a + $a"``) would exhaust memory.
"""
from __future__ import annotations

import ast
import difflib
import math
import operator
import re

VAR = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")
TEMPLATE = re.compile(r"\$\{([^}]*)\}")
PREFIX = "__v_"  # "$name" becomes this Python identifier before parsing
MAX_MAGNITUDE = 10 ** 18
MAX_LENGTH = 10_000  # items of a string or list result
MAX_CHARS = 1_000  # of one expression's text
MAX_DEPTH = 64  # nesting of the parsed tree


class ExprError(ValueError):
    """An expression that cannot be evaluated: ``message`` says why, ``hint`` how to fix it."""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint


class Poisoned(ExprError):
    """The expression uses a variable whose own definition failed (already reported)."""


POISONED = object()  # the value of a param whose expression failed


def _int_of(value):
    """int() that refuses what it cannot bound (inf, nan, huge digit strings)."""
    if isinstance(value, str):
        value = value.strip()
        if len(value) > 20:
            raise ValueError(f"cannot convert {value[:20]!r}... to int")
    return int(value)


FUNCTIONS = {
    "min": min, "max": max, "abs": abs, "round": round, "int": _int_of, "float": float,
    "ceil": math.ceil, "floor": math.floor, "sqrt": math.sqrt, "len": len, "sum": sum,
    "log2": math.log2,
}
CONSTANTS = {"true": True, "false": False, "null": None, "True": True, "False": False, "None": None}

BINARY = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
          ast.Div: operator.truediv, ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod,
          ast.Pow: operator.pow}
SYMBOL = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//", ast.Mod: "%",
          ast.Pow: "**", ast.LShift: "<<", ast.RShift: ">>", ast.BitAnd: "&", ast.BitOr: "|",
          ast.BitXor: "^", ast.MatMult: "@"}
UNARY = {ast.USub: operator.neg, ast.UAdd: operator.pos, ast.Not: operator.not_}
COMPARE = {ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
           ast.Gt: operator.gt, ast.GtE: operator.ge, ast.In: lambda a, b: a in b,
           ast.NotIn: lambda a, b: a not in b}
# What users reach for that the language leaves out on purpose, and what to write instead.
NOT_ALLOWED = {
    "Attribute": ("attribute access ('.') is not allowed in spec expressions", None),
    "Lambda": ("lambda is not allowed in spec expressions", None),
    "ListComp": ("comprehensions are not allowed in spec expressions", None),
    "GeneratorExp": ("comprehensions are not allowed in spec expressions", None),
    "Dict": ("dict literals are not allowed in spec expressions", "use a list"),
    "JoinedStr": ("f-strings are not allowed in spec expressions", "interpolate with ${...}"),
    "NamedExpr": ("':=' is not allowed in spec expressions", None),
}


def _is_number(value) -> bool:
    return isinstance(value, (int, float))  # bool is an int, on purpose: true + 1 == 2


def _bounded(value):
    """Refuse results that would let an expression grow without limit."""
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ExprError(f"result {value!r} is not a finite number")
        if abs(value) > MAX_MAGNITUDE:
            raise ExprError(f"result {value:.3g} is out of range (above {MAX_MAGNITUDE:.0e})")
    elif isinstance(value, int) and not isinstance(value, bool):
        if abs(value) > MAX_MAGNITUDE:
            raise ExprError(f"result is out of range (above {MAX_MAGNITUDE:.0e})")
    elif isinstance(value, (str, list, tuple)) and len(value) > MAX_LENGTH:
        raise ExprError(f"result has {len(value):,} items, above the {MAX_LENGTH:,} limit")
    elif isinstance(value, complex):
        raise ExprError("result is a complex number")
    return value


class _Evaluator:
    def __init__(self, scope, bare_vars=False):
        self.scope = scope
        self.bare_vars = bare_vars  # inside ${...}: a plain name may be a variable
        self.depth = 0

    def run(self, node):
        handler = getattr(self, "eval_" + type(node).__name__, None)
        if handler is None:
            kind = type(node).__name__
            message, hint = NOT_ALLOWED.get(kind, (f"'{kind}' is not allowed in spec expressions", None))
            raise ExprError(message, hint)
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ExprError(f"expression is nested more than {MAX_DEPTH} levels deep")
        try:
            return handler(node)
        finally:
            self.depth -= 1

    def eval_Expression(self, node):
        return self.run(node.body)

    def eval_Constant(self, node):
        if not isinstance(node.value, (int, float, str, bool, type(None))):
            raise ExprError(f"constant {node.value!r} is not allowed")
        return _bounded(node.value)

    def eval_Name(self, node):
        name = node.id
        if name.startswith(PREFIX):
            return self.lookup(name[len(PREFIX):])
        if name in CONSTANTS:
            return CONSTANTS[name]
        if self.bare_vars and name in self.scope:
            return self.scope[name]
        if name in FUNCTIONS:
            raise ExprError(f"function '{name}' must be called, e.g. {name}(...)")
        raise ExprError(f"bare name '{name}' is not a variable or constant",
                        f"variables are written with '$': ${name}")

    def lookup(self, name):
        if name not in self.scope:
            close = difflib.get_close_matches(name, list(self.scope), n=1)
            known = ", ".join("$" + k for k in sorted(self.scope)) or "none"
            raise ExprError(f"unknown variable '${name}'",
                            f"did you mean '${close[0]}'?" if close else f"defined here: {known}")
        value = self.scope[name]
        if value is POISONED:
            raise Poisoned(f"${name} is undefined")
        return value

    def eval_BinOp(self, node):
        op = BINARY.get(type(node.op))
        if op is None:
            raise ExprError(f"operator '{SYMBOL.get(type(node.op), type(node.op).__name__)}' "
                            "is not allowed", "use + - * / // % **")
        left, right = self.run(node.left), self.run(node.right)
        if isinstance(node.op, ast.Add) and (
                (isinstance(left, str) and isinstance(right, str))
                or (isinstance(left, list) and isinstance(right, list))):
            return _bounded(left + right)
        if not (_is_number(left) and _is_number(right)):
            hint = "a size is dynamic (null) here" if left is None or right is None else None
            raise ExprError(f"'{SYMBOL[type(node.op)]}' needs numbers, received {left!r} and {right!r}", hint)
        if isinstance(node.op, ast.Pow) and abs(right) > 64:
            raise ExprError(f"exponent {right} is too large (at most 64)")
        try:
            return _bounded(op(left, right))
        except ZeroDivisionError:
            raise ExprError("division by zero") from None
        except OverflowError:
            raise ExprError("result is out of range") from None

    def eval_UnaryOp(self, node):
        value = self.run(node.operand)
        if isinstance(node.op, ast.Not):
            return not value
        if type(node.op) not in UNARY:
            raise ExprError(f"'{type(node.op).__name__}' is not allowed")
        if not _is_number(value):
            raise ExprError(f"'-' and '+' need a number, received {value!r}")
        return UNARY[type(node.op)](value)

    def eval_BoolOp(self, node):
        is_and = isinstance(node.op, ast.And)
        value = None
        for item in node.values:
            value = self.run(item)
            if bool(value) != is_and:
                return value
        return value

    def eval_Compare(self, node):
        left = self.run(node.left)
        for op, right_node in zip(node.ops, node.comparators):
            fn = COMPARE.get(type(op))
            if fn is None:
                raise ExprError(f"comparison '{type(op).__name__}' is not allowed", "use == or !=")
            right = self.run(right_node)
            try:
                if not fn(left, right):
                    return False
            except TypeError:
                raise ExprError(f"cannot compare {left!r} with {right!r}") from None
            left = right
        return True

    def eval_IfExp(self, node):
        return self.run(node.body) if self.run(node.test) else self.run(node.orelse)

    def eval_Call(self, node):
        if not isinstance(node.func, ast.Name):
            self.run(node.func)  # says what is wrong with it (attribute access, lambda, ...)
            raise ExprError("only the listed functions can be called",
                            f"available: {', '.join(sorted(FUNCTIONS))}")
        name = node.func.id
        if name not in FUNCTIONS:
            raise ExprError(f"function '{name}' is not allowed",
                            f"available: {', '.join(sorted(FUNCTIONS))}")
        if node.keywords:
            raise ExprError(f"{name}() takes no keyword arguments")
        args = [self.run(a) for a in node.args]
        try:
            return _bounded(FUNCTIONS[name](*args))
        except (TypeError, ValueError, ArithmeticError) as exc:
            raise ExprError(f"{name}(): {exc}") from None

    def eval_Subscript(self, node):
        target = self.run(node.value)
        index = self.run(node.slice)
        if not isinstance(target, (list, tuple, str)):
            raise ExprError(f"cannot index {target!r}: only lists and strings can be indexed")
        try:
            return target[index]
        except (IndexError, TypeError, ValueError):
            raise ExprError(f"index {index!r} is out of range for {target!r}") from None

    def eval_Slice(self, node):
        return slice(*(None if p is None else self.run(p) for p in (node.lower, node.upper, node.step)))

    def eval_List(self, node):
        return _bounded([self.run(e) for e in node.elts])

    eval_Tuple = eval_List


_TREES: dict[tuple[str, bool], ast.AST] = {}  # parsed once: a block body repeats the same texts


def _parse(source: str, text: str) -> ast.AST:
    try:
        return ast.parse(source, mode="eval")
    except SyntaxError as exc:
        raise ExprError(f"cannot parse expression {text!r}: {exc.msg}") from None
    except (RecursionError, MemoryError):
        raise ExprError(f"expression {text[:40]!r}... is nested too deeply") from None


def _compile(text: str, bare_vars: bool) -> ast.AST:
    key = (text, bare_vars)
    tree = _TREES.get(key)
    if tree is None:
        if len(text) > MAX_CHARS:
            raise ExprError(f"expression is {len(text):,} characters long, above the {MAX_CHARS:,} limit",
                            "compute it in several params")
        if PREFIX in text:
            raise ExprError(f"names starting with '{PREFIX}' are reserved")
        source = VAR.sub(lambda m: PREFIX + m.group(1), text).strip()
        if "$" in source:
            raise ExprError(f"'$' must be followed by a variable name, received {text!r}")
        tree = _parse(source, text)
        if len(_TREES) > 4096:
            _TREES.clear()
        _TREES[key] = tree
    return tree


def evaluate(text: str, scope: dict):
    """Evaluate one expression string against ``scope`` (variables without their ``$``)."""
    if "${" in text:
        parts = TEMPLATE.split(text)
        if len(parts) > 1:
            if len(parts) == 3 and parts[0] == parts[2] == "":  # "${x}" alone keeps its type
                return _Evaluator(scope, bare_vars=True).run(_compile(parts[1], True))
            out = [str(_Evaluator(scope, bare_vars=True).run(_compile(part, True))) if i % 2 else part
                   for i, part in enumerate(parts)]
            return _bounded("".join(out))
    return _Evaluator(scope).run(_compile(text, False))


def is_expression(value) -> bool:
    return isinstance(value, str) and "$" in value
