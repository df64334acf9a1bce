"""Emitted Keras models against the same networks written directly in Keras.

* ResNet-50: ``keras.applications.ResNet50(weights=None)`` against the zoo's resnet50 with
  ``style=keras`` (stride on the first 1x1 conv, biased convolutions: 25,636,712 weights
  with the batchnorm statistics), weights copied from the emitted model into the native
  one by structure, outputs compared, then ``predict_on_batch`` (batch 8, 224x224) and one
  ``train_on_batch`` timed.
* U-Net: the zoo's unet against a hand-written Keras U-Net of the same shape.
* LSTM: the zoo's peephole lstm against a hand-written Keras RNN cell, and the same model
  without peepholes (benchmarks/specs/lstm_plain.yaml) against ``keras.layers.LSTM``.

Each pair is timed interleaved (emitted, native, emitted, ...) after a warm-up, and the
medians are compared: the target is emitted/native <= 1.05. Prints a Markdown table for
the ``## Keras backend`` section of benchmarks/RESULTS.md.

    .venv/bin/python benchmarks/keras_vs_native.py [--repeat 5] [--only resnet50,unet,lstm]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import netspec  # noqa: E402
from netspec.backends import get_backend  # noqa: E402

B = get_backend("keras")
HERE = os.path.dirname(os.path.abspath(__file__))


# ---------------------------------------------------------------- weight mapping by structure
def _producer(layer):
    return layer.input._keras_history.operation


def _signature(layer):
    return type(layer).__name__.replace("TorchBatchNorm", "BatchNormalization"), tuple(
        tuple(w.shape) for w in layer.weights)


def copy_weights(src, dst) -> int:
    """Copy every weight of ``src`` into ``dst`` by structure: convolutions, dense and
    recurrent layers by (kind, weight shapes) in topological order, batchnorms through the
    layer that feeds them (a residual block's shortcut and last batchnorm have equal shapes
    but come in different orders in the two models). Returns the number of layers copied."""
    def weighted(model):
        return [layer for layer in model.layers if layer.weights]

    def is_bn(layer):
        return isinstance(layer, keras.layers.BatchNormalization)

    by_sig: dict = {}
    for layer in weighted(dst):
        if not is_bn(layer):
            by_sig.setdefault(_signature(layer), []).append(layer)
    matched, copied = {}, 0
    for layer in weighted(src):
        if is_bn(layer):
            continue
        target = by_sig[_signature(layer)].pop(0)
        target.set_weights(layer.get_weights())
        matched[id(layer)] = target
        copied += 1
    assert not any(by_sig.values()), "unmatched layers in the native model"
    dst_bn = {id(_producer(layer)): layer for layer in weighted(dst) if is_bn(layer)}
    for layer in weighted(src):
        if is_bn(layer):
            dst_bn[id(matched[id(_producer(layer))])].set_weights(layer.get_weights())
            copied += 1
    return copied


# ---------------------------------------------------------------- hand-written models
def native_unet(size, channels=1, classes=2, filters=16):
    def double(x, f):
        for _ in range(2):
            x = keras.layers.Conv2D(f, 3, padding="same", activation="relu")(x)
        return x

    inp = keras.Input((size, size, channels))
    skips, x = [], double(inp, filters)
    for level in range(1, 5):
        skips.append(x)
        x = double(keras.layers.MaxPooling2D(2)(x), filters * 2 ** level)
    for level in range(3, -1, -1):
        x = keras.layers.Conv2DTranspose(filters * 2 ** level, 2, strides=2)(x)
        x = double(keras.layers.Concatenate()([skips[level], x]), filters * 2 ** level)
    return keras.Model(inp, keras.layers.Conv2D(classes, 1)(x))


class HandPeepholeCell(keras.layers.Layer):
    """What a Keras user would write for a peephole LSTM: one fused kernel, peepholes i, f, o."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units, self.state_size, self.output_size = units, [units, units], units

    def build(self, shape):
        h = self.units
        self.kernel = self.add_weight(shape=(shape[-1], 4 * h))
        self.recurrent_kernel = self.add_weight(shape=(h, 4 * h))
        self.bias = self.add_weight(shape=(2, 4 * h))
        self.peephole = self.add_weight(shape=(3, h))

    def call(self, x, states):
        h, c = states
        ops = keras.ops
        z = ops.matmul(x, self.kernel) + ops.matmul(h, self.recurrent_kernel) + self.bias[0] + self.bias[1]
        zi, zf, zg, zo = ops.split(z, 4, axis=-1)
        i = ops.sigmoid(zi + self.peephole[0] * c)
        f = ops.sigmoid(zf + self.peephole[1] * c)
        c = f * c + i * ops.tanh(zg)
        h = ops.sigmoid(zo + self.peephole[2] * c) * ops.tanh(c)
        return h, [h, c]


def native_lstm(features, units, classes, peephole):
    inp = keras.Input((None, features))
    if peephole:
        x = keras.layers.RNN(HandPeepholeCell(units), return_sequences=True)(inp)
        x = keras.layers.RNN(HandPeepholeCell(units))(keras.layers.Dropout(0.2)(x))
    else:
        x = keras.layers.LSTM(units, return_sequences=True)(inp)
        x = keras.layers.LSTM(units)(keras.layers.Dropout(0.2)(x))
    return keras.Model(inp, keras.layers.Dense(classes)(keras.layers.Dropout(0.2)(x)))


# ---------------------------------------------------------------- timing
def interleaved(fns: dict, repeat: int) -> dict:
    """Median seconds per callable, calls interleaved so load drifts hit both alike."""
    for fn in fns.values():
        fn()  # warm-up: tracing and first-call allocation
    times = {k: [] for k in fns}
    for _ in range(repeat):
        for key, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[key].append(time.perf_counter() - start)
    return {k: statistics.median(v) for k, v in times.items()}


def compare(name, graph, native, x, y, loss, repeat):
    emitted = B.build(graph)
    copied = copy_weights(emitted, native)
    a = np.asarray(emitted.predict_on_batch(x))
    b = np.asarray(native.predict_on_batch(x))
    err = float(np.abs(a - b).max() / (np.abs(b).max() + 1e-12))
    for model in (emitted, native):
        model.compile(optimizer=keras.optimizers.SGD(0.001), loss=loss)
    predict = interleaved({"emitted": lambda: emitted.predict_on_batch(x),
                           "native": lambda: native.predict_on_batch(x)}, repeat)
    train = interleaved({"emitted": lambda: emitted.train_on_batch(x, y),
                         "native": lambda: native.train_on_batch(x, y)}, repeat)
    params = (emitted.count_params(), native.count_params())
    return {"model": name, "params": params, "layers copied": copied, "rel err": err,
            "predict": predict, "train": train, "transposes": B.count_transposes(emitted)}


def bench_resnet50(repeat, batch=8, size=224):
    graph = netspec.load("resnet50", overrides={"style": "keras"})
    native = keras.applications.ResNet50(weights=None, classifier_activation=None)
    assert native.count_params() == graph.param_count + graph.state_count == 25_636_712
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, size, size, 3)).astype("float32")
    y = rng.integers(0, 1000, batch)
    return compare("resnet50 (keras style)", graph, native, x, y,
                   keras.losses.SparseCategoricalCrossentropy(from_logits=True), repeat)


def bench_unet(repeat, batch=4, size=128):
    graph = netspec.load("unet", overrides={"size": size})
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, size, size, 1)).astype("float32")
    y = rng.integers(0, 2, (batch, size, size))
    return compare(f"unet ({size}x{size})", graph, native_unet(size), x, y,
                   keras.losses.SparseCategoricalCrossentropy(from_logits=True), repeat)


def bench_lstm(repeat, batch=32, steps=50, peephole=True):
    spec = "lstm" if peephole else os.path.join(HERE, "specs", "lstm_plain.yaml")
    graph = netspec.load(spec)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, steps, 40)).astype("float32")
    y = rng.integers(0, 10, batch)
    name = "lstm, peephole (vs hand-written cell)" if peephole else "lstm, plain (vs keras.layers.LSTM)"
    return compare(name, graph, native_lstm(40, 128, 10, peephole), x, y,
                   keras.losses.SparseCategoricalCrossentropy(from_logits=True), repeat)


BENCHES = {"resnet50": [bench_resnet50], "unet": [bench_unet],
           "lstm": [bench_lstm, lambda r: bench_lstm(r, peephole=False)]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--only", default=",".join(BENCHES))
    args = parser.parse_args()
    rows = []
    for key in args.only.split(","):
        for bench in BENCHES[key]:
            r = bench(args.repeat)
            rows.append(r)
            print(f"# {r['model']}: done", file=sys.stderr, flush=True)
    device = "GPU" if keras.config.backend() == "tensorflow" and __import__("tensorflow").config.list_physical_devices("GPU") else "CPU"
    print(f"Keras {keras.__version__} on {keras.config.backend()}, {device}, {os.cpu_count()} cores; "
          f"medians of {args.repeat} interleaved runs after a warm-up.\n")
    print("| model | params (emitted / native) | max rel. output diff | transposes | predict emitted / native (s) | ratio | train_on_batch emitted / native (s) | ratio |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        p, t = r["predict"], r["train"]
        print(f"| {r['model']} | {r['params'][0]:,} / {r['params'][1]:,} | {r['rel err']:.1e} | {r['transposes']} | "
              f"{p['emitted']:.3f} / {p['native']:.3f} | {p['emitted'] / p['native']:.3f} | "
              f"{t['emitted']:.3f} / {t['native']:.3f} | {t['emitted'] / t['native']:.3f} |")


if __name__ == "__main__":
    main()
