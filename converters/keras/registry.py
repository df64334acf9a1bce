"""The importer table: Keras layer class -> a function that produces graph nodes.

Entries are keyed by the layer's *registered* Keras name (``keras.saving.get_registered_name``):
``"Conv2D"`` for Keras's own layers, ``"netspec>Pad"`` for the netspec Keras backend's
custom layers, ``"package>Name"`` for any other registered custom layer. The key is the
class itself, never ``isinstance``: a user's subclass of Conv2D may compute anything in its
``call``, so it is reported as unsupported instead of imported as a plain Conv2D.

An entry is ``importer(ctx, layer) -> Value | list[Value]`` (see :mod:`.context`), plus
``wants(layer)``: the view the layer reads its first input in (``"channels_last"``,
``"channels_first"`` or ``"plain"``; ``None`` for layers that take any view). The importer
uses it to declare a rank-3 Keras input as a sequence or as a 1d map, as its readers need.
Registering a class twice is a programming error, caught when the module is imported.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import keras


@dataclass(frozen=True)
class Entry:
    importer: Callable
    wants: Callable
    check: Callable | None = None  # check(layer) -> problem text or None (before any building)


def _any(layer):
    return None


class LayerTable:
    def __init__(self, owner: str = "keras importer"):
        self.owner = owner
        self.entries: dict[str, Entry] = {}

    def register(self, *names: str, wants=_any, check=None):
        """Decorator: ``@TABLE.register("Conv1D", "Conv2D", wants=conv_view)``; ``wants`` may
        be a string for layers that always read one view."""
        wants_fn = (lambda layer, w=wants: w) if isinstance(wants, str) or wants is None else wants

        def wrap(fn):
            for name in names:
                if name in self.entries:
                    raise RuntimeError(f"{self.owner}: layer class '{name}' is registered twice")
                self.entries[name] = Entry(fn, wants_fn, check)
            return fn
        return wrap

    def lookup(self, layer) -> Entry | None:
        return self.entries.get(class_key(layer))

    def names(self) -> list[str]:
        return sorted(self.entries)

    def __contains__(self, name: str) -> bool:
        return name in self.entries


def class_key(layer) -> str:
    """The table key of a layer (or a ``keras.ops`` operation, keyed ``"ops.<Class>"``).

    An unregistered class outside Keras is keyed by its module path, so a user's own
    ``Dense`` can never be taken for Keras's."""
    cls = type(layer)
    keras_class = cls.__module__.split(".")[0] == "keras"
    if not isinstance(layer, keras.layers.Layer):
        return f"ops.{cls.__name__}" if keras_class else f"{cls.__module__}.{cls.__qualname__}"
    name = keras.saving.get_registered_name(cls)
    if ">" in name or keras_class:
        return name
    return f"{cls.__module__}.{cls.__qualname__}"


TABLE = LayerTable()
