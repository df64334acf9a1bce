"""Small but complete configurations of the zoo models: every layer of each spec is there,
only input sizes and widths shrink, so a whole-zoo check runs in seconds on a laptop CPU
(the shape logic and the weight mappings are what such a check proves; the published
sizes are checked separately, at full size)."""
from __future__ import annotations

SMALL_ZOO: dict[str, dict] = {
    "alexnet": {"size": 64, "classes": 10},
    "deepface": {"features": 32, "classes": 10},
    "densenet121": {"size": 32, "classes": 10},
    "encoder_decoder": {"size": 32},
    "fcn": {"height": 32, "width": 32, "fc": 64},
    "googlenet": {"size": 64, "classes": 10},
    "gru": {"vocab": 50, "dim": 8, "units": 8},
    "lenet5": {},
    "lstm": {"features": 6, "units": 8},
    "mlp": {"units": 32},
    "resnet18": {"size": 32, "classes": 10},
    "resnet34": {"size": 32, "classes": 10},
    "resnet50": {"size": 32, "classes": 10},
    "tcn": {},
    "unet": {"size": 32},
    "vgg16": {"size": 32, "classes": 10},
}


def small_overrides(name: str) -> dict:
    return dict(SMALL_ZOO.get(name, {}))
