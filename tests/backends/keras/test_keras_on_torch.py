"""Emitted models also run on Keras' PyTorch backend (KERAS_BACKEND=torch): a .keras file
written on TensorFlow loads there and gives the same outputs. Keras picks its backend once
per process, hence the subprocess."""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import netspec
from netspec.backends import get_backend
from netspec.testing import random_inputs

# Keras' TensorFlow and torch wrappers trip numpy 2's __array__(copy=) deprecation.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

B = get_backend("keras")

SCRIPT = textwrap.dedent("""
    import sys, numpy as np, netspec, keras
    from netspec.backends import get_backend
    assert keras.backend.backend() == "torch"
    B = get_backend("keras")
    for name, path, data in zip(sys.argv[1::3], sys.argv[2::3], sys.argv[3::3]):
        graph = netspec.load(name, overrides={"size": 32} if name == "unet" else {})
        arrays = dict(np.load(data))
        fresh = B.run(B.build(graph), arrays)
        loaded = B.run(B.load(path, graph), arrays)
        for key in fresh:
            np.save(f"{data}.{key}.fresh.npy", fresh[key])
            np.save(f"{data}.{key}.loaded.npy", loaded[key])
""")


def test_models_run_on_keras_torch_backend(tmp_path):
    argv = []
    expected = {}
    for name in ("lenet5", "lstm", "unet"):
        graph = netspec.load(name, overrides={"size": 32} if name == "unet" else {})
        model = B.build(graph)
        inputs = random_inputs(graph, batch=2, seed=8)
        path, data = tmp_path / f"{name}.keras", tmp_path / f"{name}.npz"
        B.save(model, graph, path)
        np.savez(data, **inputs)
        expected[str(data)] = B.run(model, inputs)
        argv += [name, str(path), str(data)]
    env = dict(os.environ, KERAS_BACKEND="torch", TF_CPP_MIN_LOG_LEVEL="3")
    done = subprocess.run([sys.executable, "-c", SCRIPT, *argv], env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    for data, outputs in expected.items():
        for key, want in outputs.items():
            for kind in ("fresh", "loaded"):
                got = np.load(f"{data}.{key}.{kind}.npy")
                np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5, err_msg=f"{data} {kind}")
