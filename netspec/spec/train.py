"""The optional ``train:`` section of a spec: validated at load time, used by ``netspec train``.

Checking it with the rest of the spec means a typo in an optimiser setting fails in
``netspec validate``, not an hour into a run.
"""
from __future__ import annotations

from ..errors import NetspecError, SourceLoc, did_you_mean
from ..ops.schema import Bool, Choice, Float, Int, IntList
from .loader import LocDict

LOSSES = ("cross_entropy", "mse", "l1", "binary_cross_entropy")
OPTIMIZERS = {
    "sgd": {"lr": Float(0, exclusive_min=True), "momentum": Float(0, 1), "weight_decay": Float(0),
            "nesterov": Bool()},
    "adam": {"lr": Float(0, exclusive_min=True), "beta1": Float(0, 1), "beta2": Float(0, 1),
             "eps": Float(0, exclusive_min=True), "weight_decay": Float(0)},
}
FIELDS = {  # "data" and "optimizer" are checked by hand below
    "loss": Choice(*LOSSES),
    "epochs": Int(1),
    "batch_size": Int(1),
    "seed": Int(0),
    "val_split": Float(0, 0.9),
    "input_size": IntList(),
}
REQUIRED_FIELDS = ("data", "loss", "optimizer")
KEYS = ("data", "optimizer", *FIELDS)


def validate_train(section, where: SourceLoc | None, errors: list[NetspecError]) -> dict | None:
    """Check a ``train:`` mapping (found at ``where``); append every problem to ``errors``
    and return the section as plain data."""
    if not isinstance(section, LocDict):
        errors.append(NetspecError(f"train must be a mapping with {', '.join(REQUIRED_FIELDS)}, "
                                   f"received {section!r}", where,
                                   "e.g. train: {data: digits, loss: cross_entropy, optimizer: {sgd: {lr: 0.1}}}"))
        return None
    out = {}
    for key, value in section.items():
        at = section.where(key)
        if key == "optimizer":
            out[key] = _optimizer(value, at, errors)
        elif key == "data":
            if not isinstance(value, str) or not value:
                errors.append(NetspecError(f"train.data must be a bundled dataset name or a path to "
                                           f".npz, received {value!r}", at))
            out[key] = value
        elif key in FIELDS:
            try:
                out[key] = FIELDS[key].check(value)
            except ValueError as exc:
                errors.append(NetspecError(f"train.{key} must be {exc}, received {value!r}", at))
        else:
            errors.append(NetspecError(f"unknown train option '{key}'", section.where_key(key),
                                       did_you_mean(key, KEYS) or f"options: {', '.join(KEYS)}"))
    missing = [key for key in REQUIRED_FIELDS if key not in section]
    if missing:
        errors.append(NetspecError(f"train needs {', '.join(repr(k) for k in missing)}", section.loc))
    return out


def _optimizer(value, where, errors):
    if isinstance(value, str):
        name, settings, where_settings = value, {}, where
    elif isinstance(value, LocDict) and len(value) == 1:
        (name, settings), = value.items()
        where_settings = value.where(name)
    else:
        errors.append(NetspecError(f"train.optimizer must be one of {', '.join(OPTIMIZERS)} with its "
                                   f"settings, received {value!r}", where, "e.g. optimizer: {sgd: {lr: 0.1}}"))
        return None
    if name not in OPTIMIZERS:
        errors.append(NetspecError(f"unknown optimizer '{name}'", where,
                                   did_you_mean(name, OPTIMIZERS) or f"available: {', '.join(OPTIMIZERS)}"))
        return None
    if settings is None:
        settings = {}
    if not isinstance(settings, dict):
        errors.append(NetspecError(f"train.optimizer.{name} takes a mapping of settings, received {settings!r}",
                                   where_settings, f"e.g. {{{name}: {{lr: {settings!r}}}}}"))
        return None
    checked = {}
    for key, item in settings.items():
        at = settings.where(key) if isinstance(settings, LocDict) else where_settings
        kind = OPTIMIZERS[name].get(key)
        if kind is None:
            errors.append(NetspecError(f"unknown {name} setting '{key}'",
                                       settings.where_key(key) if isinstance(settings, LocDict) else at,
                                       did_you_mean(key, OPTIMIZERS[name]) or
                                       f"{name} takes: {', '.join(OPTIMIZERS[name])}"))
            continue
        try:
            checked[key] = kind.check(item)
        except ValueError as exc:
            errors.append(NetspecError(f"train.optimizer.{name}.{key} must be {exc}, received {item!r}", at))
    return {name: checked}
