"""The bundled model zoo (``specs/`` in the source tree, ``netspec.zoo`` once installed)."""
from __future__ import annotations

import os
from importlib import resources

from ..errors import NetspecError, SourceLoc, did_you_mean


def zoo_dir() -> str:
    return str(resources.files("netspec.zoo"))


def zoo_names() -> list[str]:
    return sorted(f[:-5] for f in os.listdir(zoo_dir()) if f.endswith(".yaml") and not f.startswith("_"))


def resolve_spec(source: str) -> str:
    """A path for a spec argument: an existing file, or the short name of a zoo model."""
    if os.path.exists(source):
        if os.path.isdir(source):
            raise NetspecError("is a directory, expected a spec file", SourceLoc(source))
        return source
    names = zoo_names()
    if source in names:
        return os.path.join(zoo_dir(), source + ".yaml")
    raise NetspecError("no such file, and no zoo model of that name", SourceLoc(source),
                       did_you_mean(source, names) or f"zoo models: {', '.join(names)}")
