"""A small, whitelisting evaluator for spec expressions (never ``eval``).

A string containing ``$`` is an expression: ``"$filters * 2"``, ``"$stride > 1"``,
``"$image[1] // 32"``. ``${...}`` inside a longer string interpolates: ``"stage${i}"``.
Variables are always written with ``$``; bare names may only be the functions below.
Python's ``ast`` parses the text; only the node types listed here are evaluated, numbers
stay bounded, and nothing can reach attributes, imports or builtins.
"""
from __future__ import annotations

import ast
import math
import operator
import re

VAR = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")
TEMPLATE = re.compile(r"\$\{([^}]*)\}")
PREFIX = "__v_"
MAX_MAGNITUDE = 10 ** 18


class ExprError(ValueError):
    """An expression that cannot be evaluated; the message says why."""


FUNCTIONS = {
    "min": min, "max": max, "abs": abs, "round": round, "int": int, "float": float,
    "ceil": math.ceil, "floor": math.floor, "sqrt": math.sqrt, "len": len, "sum": sum,
    "log2": math.log2,
}
CONSTANTS = {"true": True, "false": False, "null": None, "True": True, "False": False, "None": None}

BINARY = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
          ast.Div: operator.truediv, ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod,
          ast.Pow: operator.pow}
UNARY = {ast.USub: operator.neg, ast.UAdd: operator.pos, ast.Not: operator.not_}
COMPARE = {ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
           ast.Gt: operator.gt, ast.GtE: operator.ge, ast.In: lambda a, b: a in b,
           ast.NotIn: lambda a, b: a not in b}


def _number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) or isinstance(value, bool)


class _Evaluator:
    def __init__(self, scope):
        self.scope = scope

    def run(self, node):
        handler = getattr(self, "eval_" + type(node).__name__, None)
        if handler is None:
            raise ExprError(f"'{type(node).__name__}' is not allowed in spec expressions")
        return handler(node)

    def eval_Expression(self, node):
        return self.run(node.body)

    def eval_Constant(self, node):
        if not isinstance(node.value, (int, float, str, bool, type(None))):
            raise ExprError(f"constant {node.value!r} is not allowed")
        return node.value

    def eval_Name(self, node):
        if node.id.startswith(PREFIX):
            name = node.id[len(PREFIX):]
            if name not in self.scope:
                import difflib
                close = difflib.get_close_matches(name, list(self.scope), n=1)
                raise ExprError(f"unknown variable '${name}'" + (f" (did you mean '${close[0]}'?)" if close else
                                f"; defined: {', '.join('$' + k for k in sorted(self.scope)) or 'none'}"))
            return self.scope[name]
        if node.id in CONSTANTS:
            return CONSTANTS[node.id]
        raise ExprError(f"bare name '{node.id}': variables are written ${node.id}")

    def eval_BinOp(self, node):
        left, right = self.run(node.left), self.run(node.right)
        op = BINARY.get(type(node.op))
        if op is None:
            raise ExprError(f"operator '{type(node.op).__name__}' is not allowed")
        if isinstance(node.op, ast.Add) and isinstance(left, str) and isinstance(right, str):
            return left + right
        if isinstance(node.op, ast.Add) and isinstance(left, list) and isinstance(right, list):
            return left + right
        if not (_number(left) and _number(right)):
            raise ExprError(f"arithmetic needs numbers, received {left!r} and {right!r}")
        if isinstance(node.op, ast.Pow) and abs(right) > 64:
            raise ExprError(f"exponent {right} is too large")
        try:
            result = op(left, right)
        except ZeroDivisionError:
            raise ExprError("division by zero") from None
        if isinstance(result, complex) or (_number(result) and abs(result) > MAX_MAGNITUDE):
            raise ExprError(f"result {result!r} is out of range")
        return result

    def eval_UnaryOp(self, node):
        value = self.run(node.operand)
        if not isinstance(node.op, ast.Not) and not _number(value):
            raise ExprError(f"'{type(node.op).__name__}' needs a number, received {value!r}")
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
                raise ExprError(f"comparison '{type(op).__name__}' is not allowed")
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
        if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS or node.keywords:
            name = getattr(node.func, "id", "?")
            raise ExprError(f"function '{name}' is not allowed; available: {', '.join(sorted(FUNCTIONS))}")
        args = [self.run(a) for a in node.args]
        try:
            return FUNCTIONS[node.func.id](*args)
        except (TypeError, ValueError) as exc:
            raise ExprError(f"{node.func.id}(): {exc}") from None

    def eval_Subscript(self, node):
        target = self.run(node.value)
        index = self.run(node.slice)
        if not isinstance(target, (list, tuple, str)):
            raise ExprError(f"cannot index {target!r}")
        try:
            return target[index]
        except (IndexError, TypeError):
            raise ExprError(f"index {index!r} is out of range for {target!r}") from None

    def eval_Slice(self, node):
        parts = [None if p is None else self.run(p) for p in (node.lower, node.upper, node.step)]
        return slice(*parts)

    def eval_List(self, node):
        return [self.run(e) for e in node.elts]

    eval_Tuple = eval_List


def evaluate(text: str, scope: dict):
    """Evaluate one expression string against ``scope`` (variables without their ``$``)."""
    if TEMPLATE.search(text):
        parts = TEMPLATE.split(text)
        if len(parts) == 3 and parts[0] == parts[2] == "":
            return evaluate(_as_expr(parts[1]), scope)
        out = []
        for i, part in enumerate(parts):
            out.append(str(evaluate(_as_expr(part), scope)) if i % 2 else part)
        return "".join(out)
    source = VAR.sub(lambda m: PREFIX + m.group(1), text).strip()
    if "$" in source:
        raise ExprError(f"'$' must be followed by a variable name in {text!r}")
    try:
        tree = ast.parse(source, mode="eval")
    except SyntaxError as exc:
        raise ExprError(f"cannot parse expression {text!r}: {exc.msg}") from None
    return _Evaluator(scope).run(tree)


def _as_expr(inner: str) -> str:
    """``${filters * 2}`` allows the variables inside braces without their own ``$``."""
    return inner if "$" in inner else re.sub(r"\b([A-Za-z_][A-Za-z0-9_]*)\b(?!\s*\()",
                                               lambda m: m.group(1) if m.group(1) in CONSTANTS else "$" + m.group(1),
                                               inner)


def is_expression(value) -> bool:
    return isinstance(value, str) and "$" in value
