"""The spec language: YAML -> checked graph (see docs/spec-language.md)."""
from __future__ import annotations

import contextlib
import gc

from ..errors import NetspecError, raise_all
from ..graph.init import init_weights
from ..graph.ir import Graph
from ..graph.lint import lint
from ..graph.passes import infer_shapes, receptive_fields
from .compiler import NAME, SpecCompiler, tidy
from .loader import load_yaml_file, load_yaml_text
from .zoo import resolve_spec, zoo_names

__all__ = ["compile_spec", "load_spec", "resolve_spec", "zoo_names", "parse_overrides"]


def compile_spec(data, file: str = "<spec>", overrides: dict | None = None) -> Graph:
    """Located YAML data -> linted graph with shapes, counts and receptive fields (no weights).

    Shape problems are looked for even when the spec has other errors: the compiler leaves
    out every layer that depends on a failed one, so what remains can be checked soundly,
    and a user sees a typo and an unrelated shape mismatch in the same run.
    """
    with paused_gc():
        compiler = SpecCompiler(data, file, overrides)
        graph = compiler.build()
        errors = list(compiler.errors)
        try:
            lint(graph)
            infer_shapes(graph)
        except NetspecError as exc:
            errors.extend(getattr(exc, "errors", [exc]))
        raise_all(tidy(errors))
        receptive_fields(graph)
    return graph


@contextlib.contextmanager
def paused_gc():
    """Compiling allocates many small acyclic objects; CPython's cyclic collector would rescan
    them all again and again (a 100,000-layer spec took twice as long with it running)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def load_spec(source, overrides: dict | None = None, seed: int | None = 0, text: str | None = None) -> Graph:
    """Load a spec (file path, zoo name, or YAML ``text``) into a checked graph.

    With ``seed`` set, parameters are initialised from it (a ``weights:`` file named by the
    spec wins); ``seed=None`` skips weights, which is all ``validate`` and ``info`` need.
    """
    if text is not None:
        file = str(source or "<string>")
        with paused_gc():
            data = load_yaml_text(text, file)
    else:
        file = resolve_spec(str(source))
        with paused_gc():
            data = load_yaml_file(file)
    graph = compile_spec(data, file, overrides)
    if seed is not None:
        load_spec_weights(graph)
        init_weights(graph, seed)
        graph.meta["seed"] = seed
    return graph


def load_spec_weights(graph: Graph) -> None:
    path = graph.meta.get("weights")
    if not path:
        return
    from safetensors.numpy import load_file
    try:
        arrays = load_file(path)
    except (OSError, ValueError) as exc:
        raise NetspecError(f"cannot read weights '{path}': {exc}", graph.meta.get("weights_loc")) from None
    graph.set_weights(arrays)


def parse_overrides(items) -> dict:
    """``["classes=10", "style=keras", "sizes=[1, 2]"]`` -> ``{"classes": 10, "style": "keras",
    "sizes": [1, 2]}``. Values are read as YAML (so ``10`` is a number and ``true`` a bool),
    with the spec loader's rules: no tags, and only scalars or lists."""
    out = {}
    for item in items or []:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not NAME.fullmatch(key):
            raise NetspecError(f"--set expects NAME=VALUE with NAME a parameter name, received {item!r}",
                               hint="e.g. --set classes=10")
        try:
            value = load_yaml_text(raw, "--set") if raw.strip() else None
        except NetspecError as exc:
            raise NetspecError(f"--set {key}: cannot read {raw!r}: {exc.message}",
                               hint="quote text that YAML would misread, e.g. --set name='\"a: b\"'") from None
        if isinstance(value, dict):
            raise NetspecError(f"--set {key}: expected a number, text, true/false or a list, received {raw!r}",
                               hint="quote text that contains ': '")
        out[key] = value
    return out
