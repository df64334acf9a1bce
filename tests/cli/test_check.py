"""``netspec check`` from the command line: exit statuses, the table, JSON, user inputs."""
import json
import re
import subprocess
import sys

import numpy as np
import pytest

from netspec.cli import main

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def test_equivalent_spec_exits_0_with_a_row_per_pair(capsys):
    assert main(["check", "mlp", "--set", "units=16"]) == 0
    out = capsys.readouterr().out
    for pair in ("torch vs keras", "torch vs onnx", "keras vs onnx"):
        assert pair in out
    assert "mlp: equivalent (3 tensors compared)" in out


def test_zero_tolerance_fails_with_exit_1_and_names_the_first_layer(capsys):
    status = main(["check", "lenet5", "--backends", "torch,onnx", "--atol", "0", "--rtol", "0"])
    out = capsys.readouterr().out
    assert status == 1
    assert "FAIL" in out and "NOT equivalent" in out
    flat = " ".join(out.split())
    assert re.search(r"first divergence \(torch vs onnx, seeded\): layer (c1|c1_act) \((conv|tanh)\) at "
                     r"\S*lenet5.yaml:\d+:\d+", flat), flat


def test_json_report_written_atomically_and_not_replaced_without_force(tmp_path, capsys):
    path = tmp_path / "report.json"
    assert main(["check", "tcn", "--backends", "torch,onnx", "--json", str(path)]) == 0
    data = json.loads(path.read_text())
    assert data["ok"] and data["model"] == "tcn" and len(data["rows"]) == 1
    assert main(["check", "tcn", "--backends", "torch,onnx", "--json", str(path)]) == 2
    assert "output exists" in capsys.readouterr().err


def test_user_inputs_in_channels_last_layout(tmp_path, capsys):
    x = np.random.default_rng(1).standard_normal((1, 32, 32, 1)).astype(np.float32)
    np.savez(tmp_path / "x.npz", image=x)
    args = ["check", "lenet5", "--backends", "torch,keras", "--inputs", str(tmp_path / "x.npz")]
    assert main(args + ["--input-layout", "nhwc"]) == 0
    assert "x.npz" in capsys.readouterr().out
    assert main(args) == 2  # read as channels-first, [1, 32, 32, 1] is not [N, 1, 32, 32]
    err = capsys.readouterr().err
    assert "array 'image' has shape [1, 32, 32, 1], the input expects [N, 1, 32, 32]" in err


def test_grad_and_train_step_summaries(capsys):
    assert main(["check", "gru", "--set", "vocab=50", "--set", "dim=8", "--set", "units=8",
                 "--backends", "torch,keras", "--grad", "--train-step"]) == 0
    out = capsys.readouterr().out
    assert "gradients (torch vs keras): " in out and "weights after one SGD step (torch vs keras): " in out


@pytest.mark.parametrize("args, message", [
    (["check", "mlp", "--backends", "torch,tf"], "unknown backend 'tf'"),
    (["check", "mlp", "--backends", "torch"], "at least two backends"),
    (["check", "mlp", "--batch", "0"], "--batch must be at least 1"),
    (["check", "mlp", "--inputs", "missing.npz"], "missing.npz: cannot read inputs"),
    (["check", "no_such_model"], "no_such_model"),
])
def test_bad_input_exits_2_with_one_line(args, message, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_console_script_prints_no_native_log_noise():
    """TensorFlow's C++ start-up lines are held back (see netspec.backends.native_stderr_held)."""
    result = subprocess.run([sys.executable, "-m", "netspec", "check", "mlp", "--set", "units=8",
                             "--backends", "torch,keras"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "oneDNN" not in result.stderr and "cuda drivers" not in result.stderr
