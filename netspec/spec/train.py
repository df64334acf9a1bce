"""The optional ``train:`` section of a spec: validated at load time, used by ``netspec train``."""
from __future__ import annotations

from ..errors import NetspecError, did_you_mean, raise_all
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


def validate_train(section, file: str | None) -> dict:
    """Check a ``train:`` mapping and return it as plain data; every problem is reported."""
    errors = []
    if not isinstance(section, LocDict):
        raise NetspecError("train must be a mapping", getattr(section, "loc", None))
    out = {}
    for key, value in section.items():
        where = section.where(key)
        if key == "optimizer":
            out[key] = _optimizer(value, where, errors)
        elif key == "data":
            if not isinstance(value, str) or not value:
                errors.append(NetspecError(f"train.data must be a bundled dataset name or a path to "
                                           f".npz, received {value!r}", where))
            out[key] = value
        elif key in FIELDS:
            try:
                out[key] = FIELDS[key].check(value)
            except ValueError as exc:
                errors.append(NetspecError(f"train.{key} must be {exc}, received {value!r}", where))
        else:
            errors.append(NetspecError(f"unknown train option '{key}'", section.where_key(key),
                                       did_you_mean(key, [*FIELDS, "optimizer"])))
    for key in REQUIRED_FIELDS:
        if key not in section:
            errors.append(NetspecError(f"train needs '{key}'", section.loc))
    raise_all(errors)
    return out


def _optimizer(value, where, errors):
    if isinstance(value, str):
        value = {value: {}}
    if not isinstance(value, dict) or len(value) != 1:
        errors.append(NetspecError(f"train.optimizer must be one of {', '.join(OPTIMIZERS)} with its "
                                   f"settings, e.g. {{sgd: {{lr: 0.1}}}}, received {value!r}", where))
        return None
    (name, settings), = value.items()
    if name not in OPTIMIZERS:
        errors.append(NetspecError(f"unknown optimizer '{name}'", where,
                                   did_you_mean(name, OPTIMIZERS) or f"available: {', '.join(OPTIMIZERS)}"))
        return None
    settings = settings or {}
    checked = {}
    for key, item in settings.items():
        kind = OPTIMIZERS[name].get(key)
        if kind is None:
            errors.append(NetspecError(f"unknown {name} setting '{key}'", where,
                                       did_you_mean(key, OPTIMIZERS[name]) or f"available: {', '.join(OPTIMIZERS[name])}"))
            continue
        try:
            checked[key] = kind.check(item)
        except ValueError as exc:
            errors.append(NetspecError(f"train.optimizer.{name}.{key} must be {exc}, received {item!r}", where))
    return {name: checked}
