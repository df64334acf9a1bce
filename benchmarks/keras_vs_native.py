"""Emitted Keras models against the same networks written directly in Keras.

* ResNet-50: ``keras.applications.ResNet50(weights=None)`` against the zoo's resnet50 with
  ``style=keras`` (stride on the first 1x1 conv, biased convolutions: 25,636,712 weights
  with the batchnorm statistics), weights copied from the emitted model into the native
  one by structure, outputs compared, then ``predict_on_batch`` (batch 8, 224x224) and one
  ``train_on_batch`` timed.
* U-Net: the zoo's unet against a hand-written Keras U-Net of the same shape.
* LSTM: the zoo's peephole lstm against a hand-written Keras RNN cell, and the same model
  without peepholes (benchmarks/specs/lstm_plain.yaml) against ``keras.layers.LSTM``.

Weights are copied by structure (kind, weight shapes and the weighted layers upstream; see
``copy_weights``), never by name, and the outputs compared. Each pair is timed interleaved
(emitted, native, then native, emitted) after two warm-up calls, cheap calls repeated until
they fill a few seconds, and the median CPU times are compared (wall times beside them), as
in benchmarks/timing.py; TensorFlow runs one intra- and one inter-op thread by default,
because on two cores shared with other jobs its thread pools make wall time a lottery
(``--threads 0`` keeps TensorFlow's defaults). The target is emitted/native <= 1.05.
Prints a Markdown table for the ``## Keras backend`` section of benchmarks/RESULTS.md.

    .venv/bin/python benchmarks/keras_vs_native.py [--repeat 5] [--threads 1] [--only resnet50,unet,lstm]
"""
from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import netspec  # noqa: E402
from netspec.backends import get_backend  # noqa: E402
from timing import interleaved  # noqa: E402

B = get_backend("keras")
HERE = os.path.dirname(os.path.abspath(__file__))


# ---------------------------------------------------------------- weight mapping by structure
def _parents(layer) -> list:
    if isinstance(layer, keras.layers.InputLayer):
        return []
    inputs = layer.input if isinstance(layer.input, (list, tuple)) else [layer.input]
    return [t._keras_history.operation for t in inputs]


def _signature(layer):
    return type(layer).__name__.replace("TorchBatchNorm", "BatchNormalization"), tuple(
        tuple(w.shape) for w in layer.weights)


def _weighted_ancestors(model) -> dict:
    """id(layer) -> the set of ids of the nearest layers with weights upstream of it, looking
    through weightless layers (activations, pads, pools, adds): the layer's place in the
    network, independent of names and of the order in which ``model.layers`` lists
    independent branches."""
    memo: dict = {}

    def nearest(layer):
        if id(layer) not in memo:
            found = set()
            for p in _parents(layer):
                found |= {id(p)} if p.weights else nearest(p)
            memo[id(layer)] = frozenset(found)
        return memo[id(layer)]

    return {id(layer): nearest(layer) for layer in model.layers}


def copy_weights(src, dst) -> int:
    """Copy every weight of ``src`` into ``dst`` by structure; returns the layers copied.

    Layers with weights are paired in ``src``'s topological order: a ``dst`` layer matches if
    it has the same kind and weight shapes and is fed by the images of the ``src`` layer's
    nearest weighted ancestors. Kind and shapes alone are not enough: a ResNet block's 1x1
    expansion and its 1x1 projection shortcut look alike, and the two models list them in
    different orders (then the output comparison would fail, as it did)."""
    src_up, dst_up = _weighted_ancestors(src), _weighted_ancestors(dst)
    free = [layer for layer in dst.layers if layer.weights]
    image: dict = {}
    for layer in (lay for lay in src.layers if lay.weights):
        want = frozenset(id(image[a]) for a in src_up[id(layer)])
        match = next((d for d in free if _signature(d) == _signature(layer) and dst_up[id(d)] == want), None)
        assert match is not None, f"no layer of the native model matches {layer.name} {_signature(layer)}"
        match.set_weights(layer.get_weights())
        free.remove(match)
        image[id(layer)] = match
    assert not free, f"unmatched layers in the native model: {[d.name for d in free]}"
    return len(image)


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
def compare(name, graph, native, x, y, loss, repeat):
    emitted = B.build(graph)
    copied = copy_weights(emitted, native)
    a = np.asarray(emitted.predict_on_batch(x))
    b = np.asarray(native.predict_on_batch(x))
    err = float(np.abs(a - b).max() / (np.abs(b).max() + 1e-12))
    for model in (emitted, native):
        model.compile(optimizer=keras.optimizers.SGD(0.001), loss=loss)
    predict = interleaved({"emitted": lambda: emitted.predict_on_batch(x),
                           "native": lambda: native.predict_on_batch(x)}, repeat, warmup=2)
    train = interleaved({"emitted": lambda: emitted.train_on_batch(x, y),
                         "native": lambda: native.train_on_batch(x, y)}, repeat, warmup=2)
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
    parser.add_argument("--repeat", type=int, default=5, help="at least this many timed calls each")
    parser.add_argument("--threads", type=int, default=1,
                        help="TensorFlow intra- and inter-op threads (0: TensorFlow's default)")
    parser.add_argument("--only", default=",".join(BENCHES))
    args = parser.parse_args()
    if args.threads and keras.config.backend() == "tensorflow":
        import tensorflow as tf
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    rows = []
    for key in args.only.split(","):
        for bench in BENCHES[key]:
            r = bench(args.repeat)
            rows.append(r)
            print(f"# {r['model']}: {r['predict']} {r['train']}", file=sys.stderr, flush=True)
    device = "GPU" if keras.config.backend() == "tensorflow" and __import__("tensorflow").config.list_physical_devices("GPU") else "CPU"
    threads = f"{args.threads} thread(s)" if args.threads else "default threads"
    print(f"Keras {keras.__version__} on {keras.config.backend()}, {device}, {os.cpu_count()} cores, {threads}. "
          f"Medians of at least {args.repeat} interleaved calls after a warm-up (n = calls each): CPU time "
          "of the process, with the wall-time ratio beside it.\n")
    print("| model | params (emitted / native) | max rel. output diff | transposes "
          "| predict CPU ms emitted / native (n) | ratio | wall ratio "
          "| train_on_batch CPU ms emitted / native (n) | ratio | wall ratio |")
    print("|---|---|---|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        cells = [r["model"], f"{r['params'][0]:,} / {r['params'][1]:,}", f"{r['rel err']:.1e}", str(r["transposes"])]
        for d in (r["predict"], r["train"]):
            e, n = d["emitted"], d["native"]
            cells += [f"{e['cpu'] * 1e3:.1f} / {n['cpu'] * 1e3:.1f} ({e['n']})", f"{e['cpu'] / n['cpu']:.3f}",
                      f"{e['wall'] / n['wall']:.3f}"]
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
