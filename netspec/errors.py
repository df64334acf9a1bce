"""Errors a user can cause, each carrying the place it came from.

Every problem in a spec or model is reported as a :class:`NetspecError` with a
:class:`SourceLoc` (``file:line:col`` for specs, a node name for models) so the CLI can print
one line per problem without a traceback. Several problems travel together as
:class:`NetspecErrors`, because users should see everything wrong with a file in one run.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Iterable


@dataclass(frozen=True)
class SourceLoc:
    """Where something came from: a spec position, a model node, or both."""

    file: str | None = None
    line: int | None = None  # 1-based
    col: int | None = None  # 1-based
    node: str | None = None

    def __str__(self) -> str:
        if self.file and self.line is not None:
            return f"{self.file}:{self.line}:{self.col or 1}"
        if self.file and self.node:
            return f"{self.file}: node '{self.node}'"
        if self.file:
            return self.file
        if self.node:
            return f"node '{self.node}'"
        return "<unknown>"


class NetspecError(Exception):
    """A problem the user can fix: what was received, what was expected, where, and a hint."""

    def __init__(self, message: str, loc: SourceLoc | None = None, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.loc = loc
        self.hint = hint

    def located(self, loc: SourceLoc | None) -> "NetspecError":
        """Return this error with ``loc`` filled in if it had none (inner code rarely knows it)."""
        if self.loc is None and loc is not None:
            self.loc = loc
        return self

    def __str__(self) -> str:
        text = f"{self.loc}: {self.message}" if self.loc else self.message
        return f"{text} (hint: {self.hint})" if self.hint else text


class NetspecErrors(NetspecError):
    """Several independent problems, reported together."""

    def __init__(self, errors: Iterable[NetspecError]):
        self.errors = list(errors)
        super().__init__("; ".join(e.message for e in self.errors))

    def __str__(self) -> str:
        return "\n".join(str(e) for e in self.errors)


def did_you_mean(word: str, choices: Iterable[str]) -> str | None:
    """A 'did you mean' hint for a misspelt name, or None when nothing is close."""
    close = difflib.get_close_matches(str(word), list(choices), n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else None


def raise_all(errors: list[NetspecError]) -> None:
    """Raise the collected errors, if any, as one exception."""
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise NetspecErrors(errors)
