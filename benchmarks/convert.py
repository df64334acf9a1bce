"""ONNX -> Keras and ONNX -> torch: netspec's converter against onnx2tf and onnx2torch.

Measures, on one ONNX file (by default the zoo's resnet50, written by
``netspec build resnet50 -b onnx``):

* conversion wall and CPU time, each run in a fresh process so that nothing is cached,
  split for netspec into framework imports, import (ONNX -> graph, plus the onnxruntime
  session of the source that verification runs), build, write, verification (reload +
  comparison with onnxruntime), and the whole ``convert()`` with ``check=False``; the
  whole ``netspec convert`` command is timed as well;
* peak memory: ``ru_maxrss`` of that fresh process, and the high-water mark above the
  resident size once the frameworks are imported (``/proc/self/clear_refs``), which is
  the conversion's own peak;
* the converted models' inference time against onnxruntime on the source file in the
  same process, interleaved call by call (``benchmarks/timing.py``), one thread each,
  and their largest output difference from onnxruntime on the same input.

The competitors run in a separate virtualenv (``--other-venv``, default /work/bench-venv)
through this same file as a subprocess; without that venv they are skipped with a message.
Its recipe (pip: torch==2.14.1 torchvision==0.29.1 onnx2torch onnxruntime onnx, then onnx2tf
with --no-deps and its runtime needs) is in benchmarks/RESULTS.md, section Converters.

    .venv/bin/python benchmarks/convert.py --runs 3 --tf-runs 1 --batch 1

Only the standard library is imported at module level: the file runs under both venvs.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
MARK = "BENCH-RESULT "
CALIBRATION = "calibration_image_sample_data_20x128x128x3_float32.npy"


# ----------------------------------------------------------------- in the worker process
def _status(field: str) -> float:
    """A ``/proc/self/status`` memory field in MiB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


class Meter:
    """Phase clocks (wall and CPU) and the memory high-water mark of this process."""

    def __init__(self):
        self.phases: dict[str, list[float]] = {}
        self.base_rss = None

    def reset_peak(self):
        """From here on ``VmHWM`` counts from the current resident size."""
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        self.base_rss = _status("VmRSS")

    def timed(self, name, fn, *args, **kwargs):
        c, w = time.process_time(), time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            wall, cpu = time.perf_counter() - w, time.process_time() - c
            total = self.phases.setdefault(name, [0.0, 0.0])
            total[0] += wall
            total[1] += cpu

    def wrap(self, owner, attr, name):
        """Time every call of ``owner.attr`` as phase ``name``."""
        inner = getattr(owner, attr)
        setattr(owner, attr, lambda *a, **k: self.timed(name, inner, *a, **k))

    def result(self, **extra) -> dict:
        out = {"phases": {k: {"wall": v[0], "cpu": v[1]} for k, v in self.phases.items()},
               "maxrss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
               "hwm_above_imports_mib": _status("VmHWM") - self.base_rss if self.base_rss is not None else None,
               "rss_after_imports_mib": self.base_rss}
        out.update(extra)
        return out


def _threads(n: int):
    """One intra-op thread in every framework of this process (set before any op runs)."""
    if n <= 0:
        return
    os.environ.setdefault("OMP_NUM_THREADS", str(n))
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(n)
    if "tensorflow" in sys.modules:
        tf = sys.modules["tensorflow"]
        tf.config.threading.set_intra_op_parallelism_threads(n)
        tf.config.threading.set_inter_op_parallelism_threads(n)


def worker_netspec_convert(a) -> dict:
    """``convert()`` of the ONNX file to ``a.output``, every phase on its own clock."""
    m = Meter()

    def frameworks():
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401

        import netspec  # noqa: F401
        if a.output.endswith(".keras"):
            import keras  # noqa: F401
        else:
            import torch  # noqa: F401
    m.timed("framework imports", frameworks)
    _threads(a.threads)
    from netspec.backends import get_backend
    from netspec.converters import convert as convert_module
    from netspec.converters import targets
    from netspec.converters.sources import read_source
    from netspec.testing import equivalence

    backend = get_backend("keras" if a.output.endswith(".keras") else "torch")
    m.wrap(backend, "build", "build")
    m.wrap(backend, "save", "write")
    for ext, target in list(targets.TARGETS.items()):
        timed_reload = (lambda inner: lambda *x: m.timed("verify: reload", inner, *x))(target.reload)
        targets.TARGETS[ext] = targets.Target(target.backend, timed_reload)
    m.wrap(equivalence, "check", "verify: compare with onnxruntime")
    m.reset_peak()
    c, w = time.process_time(), time.perf_counter()
    source = m.timed("import", read_source, a.onnx)
    m.timed("convert() after import", convert_module.convert, source, a.output, check=a.check, force=True,
            input_paths=(a.onnx,))
    return m.result(total={"wall": time.perf_counter() - w, "cpu": time.process_time() - c},
                    files=sorted(os.listdir(os.path.dirname(a.output))))


def worker_onnx2torch_convert(a) -> dict:
    m = Meter()

    def frameworks():
        import onnx  # noqa: F401
        import onnx2torch  # noqa: F401
        import torch  # noqa: F401
    m.timed("framework imports", frameworks)
    _threads(a.threads)
    import onnx2torch
    import torch
    m.reset_peak()
    c, w = time.process_time(), time.perf_counter()
    module = m.timed("convert", onnx2torch.convert, a.onnx)
    m.timed("write (torch.save)", torch.save, module, a.output)
    return m.result(total={"wall": time.perf_counter() - w, "cpu": time.process_time() - c},
                    versions={"onnx2torch": _version("onnx2torch"), "torch": torch.__version__})


def worker_onnx2tf_convert(a) -> dict:
    """onnx2tf's conversion to an in-memory tf_keras model (``disable_model_save``) and its
    save as a SavedModel; or (``--full``) its default run, SavedModel plus float32 and
    float16 .tflite, in one call."""
    m = Meter()
    m.timed("framework imports", lambda: __import__("onnx2tf"))
    _threads(a.threads)
    import numpy as np
    import onnx2tf
    os.chdir(os.path.dirname(a.output))
    if not os.path.exists(CALIBRATION):  # onnx2tf downloads it otherwise (no internet here)
        np.save(CALIBRATION, np.random.default_rng(0).random((20, 128, 128, 3), dtype=np.float32))
    m.reset_peak()
    c, w = time.process_time(), time.perf_counter()
    options = dict(input_onnx_file_path=a.onnx, output_folder_path=a.output, non_verbose=True,
                   not_use_onnxsim=True)  # onnxsim is not installed (onnx2tf's pins, see RESULTS.md)
    if a.full:
        m.timed("convert + save (SavedModel, tflite fp32 + fp16)", onnx2tf.convert, **options)
    else:
        model = m.timed("convert (to tf_keras model)", onnx2tf.convert, disable_model_save=True, **options)
        m.timed("write (SavedModel)", model.save, a.output, save_format="tf")
    return m.result(total={"wall": time.perf_counter() - w, "cpu": time.process_time() - c},
                    files=sorted(os.listdir(a.output)), versions={"onnx2tf": _version("onnx2tf"),
                                                                  "tensorflow": _version("tensorflow")})


def _version(dist):
    from importlib.metadata import version
    try:
        return version(dist)
    except Exception:
        return "?"


def _ort_session(path, threads):
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.log_severity_level = 3
    if threads > 0:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])


def _errors(out, ref) -> dict:
    import numpy as np
    out, ref = np.asarray(out, dtype=np.float64), np.asarray(ref, dtype=np.float64)
    diff = float(np.max(np.abs(out - ref)))
    return {"max_abs": diff, "max_rel": diff / max(float(np.max(np.abs(ref))), 1e-30)}


def _time(fns, a) -> dict:
    sys.path.insert(0, HERE)
    from timing import interleaved
    return interleaved(fns, repeat=a.repeat, min_seconds=a.min_seconds, warmup=2)


def worker_netspec_infer(a) -> dict:
    """onnxruntime on the source against netspec's .keras (``predict_on_batch``, NHWC
    input as Keras takes it), .pt2 and .py (eval, no_grad), interleaved in this process."""
    import numpy as np
    import keras
    import torch
    _threads(a.threads)
    import netspec
    from netspec.backends import get_backend
    import importlib.util

    graph = netspec.from_onnx(a.onnx)
    x = np.random.default_rng(0).standard_normal((a.batch, 3, 224, 224)).astype(np.float32)
    session = _ort_session(a.onnx, a.threads)
    in_name, out_name = session.get_inputs()[0].name, session.get_outputs()[0].name
    ref = session.run([out_name], {in_name: x})[0]
    kmodel = get_backend("keras").load(os.path.join(a.work, "resnet50.keras"), graph)
    x_nhwc = np.ascontiguousarray(np.transpose(x, (0, 2, 3, 1)))
    pt2 = torch.export.load(os.path.join(a.work, "resnet50.pt2")).module()
    # the generated .py imported as a user would, its module called directly (no harness)
    spec = importlib.util.spec_from_file_location("netspec_bench_py", os.path.join(a.work, "resnet50.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    pymod = module.load().eval()
    xt = torch.from_numpy(x)

    def torch_call(mod):
        def call():
            with torch.no_grad():
                return mod(xt)
        return call
    import tensorflow as tf
    traced = tf.function(lambda t: kmodel(t, training=False))  # what a SavedModel signature runs
    x_tf = tf.constant(x_nhwc)
    fns = {"onnxruntime": lambda: session.run([out_name], {in_name: x}),
           "netspec .keras (predict_on_batch)": lambda: kmodel.predict_on_batch(x_nhwc),
           "netspec .keras (tf.function call)": lambda: traced(x_tf),
           "netspec .pt2": torch_call(pt2), "netspec .py": torch_call(pymod)}
    errors = {"netspec .keras (predict_on_batch)": _errors(np.asarray(kmodel.predict_on_batch(x_nhwc)), ref),
              "netspec .pt2": _errors(torch_call(pt2)().numpy(), ref),
              "netspec .keras (tf.function call)": _errors(traced(x_tf).numpy(), ref),
              "netspec .py": _errors(torch_call(pymod)().numpy(), ref)}
    return {"timing": _time(fns, a), "errors": errors,
            "versions": {"torch": torch.__version__, "keras": keras.__version__,
                         "onnxruntime": _version("onnxruntime"), "tensorflow": _version("tensorflow")}}


def worker_others_infer(a) -> dict:
    """onnxruntime against onnx2torch's module, onnx2tf's SavedModel and its float32 .tflite."""
    import numpy as np
    import torch
    import onnx2torch
    import tensorflow as tf
    _threads(a.threads)
    x = np.random.default_rng(0).standard_normal((a.batch, 3, 224, 224)).astype(np.float32)
    x_nhwc = np.ascontiguousarray(np.transpose(x, (0, 2, 3, 1)))
    session = _ort_session(a.onnx, a.threads)
    in_name, out_name = session.get_inputs()[0].name, session.get_outputs()[0].name
    ref = session.run([out_name], {in_name: x})[0]
    fns = {"onnxruntime": lambda: session.run([out_name], {in_name: x})}
    errors, skipped = {}, {}
    module = onnx2torch.convert(a.onnx).eval()
    xt = torch.from_numpy(x)

    def o2t():
        with torch.no_grad():
            return module(xt)
    fns["onnx2torch module"] = o2t
    errors["onnx2torch module"] = _errors(o2t().numpy(), ref)
    for name, label in (("resnet50.pt2", "netspec .pt2 (this venv's torch)"),
                        ("resnet50.keras", "netspec .keras (this venv's TF, tf.function call)")):
        path = os.path.join(a.work, name)
        if not os.path.exists(path):
            continue
        try:
            if name.endswith(".pt2"):
                pt2 = torch.export.load(path).module()

                def call(mod=pt2):
                    with torch.no_grad():
                        return mod(xt)
                errors[label] = _errors(call().numpy(), ref)
            else:
                import keras
                kmodel = keras.models.load_model(path)
                traced = tf.function(lambda t, m=kmodel: m(t, training=False))
                x_k = tf.constant(x_nhwc)

                def call(fn=traced, t=x_k):
                    return fn(t)
                errors[label] = _errors(call().numpy(), ref)
            fns[label] = call
        except Exception as exc:  # a file this venv's frameworks cannot load
            skipped[label] = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    saved = os.path.join(a.work, "onnx2tf_full")
    if os.path.isdir(saved):
        loaded = tf.saved_model.load(saved)
        serve = loaded.signatures["serving_default"]
        key = list(serve.structured_input_signature[1])[0]
        xtf = tf.constant(x_nhwc)

        def sm():
            return serve(**{key: xtf})
        fns["onnx2tf SavedModel"] = sm
        errors["onnx2tf SavedModel"] = _errors(list(sm().values())[0].numpy(), ref)
        tflites = sorted(f for f in os.listdir(saved) if f.endswith("_float32.tflite"))
        if tflites:
            from ai_edge_litert.interpreter import Interpreter
            interp = Interpreter(model_path=os.path.join(saved, tflites[0]), num_threads=max(a.threads, 1))
            detail = interp.get_input_details()[0]
            if list(detail["shape"]) != list(x_nhwc.shape):
                interp.resize_tensor_input(detail["index"], list(x_nhwc.shape))
            interp.allocate_tensors()
            out_index = interp.get_output_details()[0]["index"]

            def lite():
                interp.set_tensor(detail["index"], x_nhwc)
                interp.invoke()
                return interp.get_tensor(out_index)
            fns["onnx2tf .tflite fp32"] = lite
            errors["onnx2tf .tflite fp32"] = _errors(lite(), ref)
    else:
        skipped["onnx2tf"] = f"no {saved} (the onnx2tf conversion failed or was skipped)"
    return {"timing": _time(fns, a), "errors": errors, "skipped": skipped,
            "versions": {"torch": torch.__version__, "tensorflow": tf.__version__,
                         "onnxruntime": _version("onnxruntime"), "onnx2torch": _version("onnx2torch")}}


WORKERS = {"netspec-convert": worker_netspec_convert, "onnx2torch-convert": worker_onnx2torch_convert,
           "onnx2tf-convert": worker_onnx2tf_convert, "netspec-infer": worker_netspec_infer,
           "others-infer": worker_others_infer}


# ----------------------------------------------------------------- the driver
def spawn(python, args, label, timeout=1800) -> dict | None:
    """Run a worker (or a command) in a fresh process: its result, its wall and CPU time
    and its peak RSS from ``wait4``; None (with the tail of its output) when it failed."""
    cmd = [python, os.path.abspath(__file__), *args] if python else args
    env = dict(os.environ, PYTHONUNBUFFERED="1", TF_CPP_MIN_LOG_LEVEL="2")
    env.setdefault("CUDA_VISIBLE_DEVICES", "")
    w = time.perf_counter()
    with tempfile.TemporaryFile("w+") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        except KeyboardInterrupt:
            proc.kill()
            raise
        proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - w
        log.seek(0)
        text = log.read()
    result = None
    for line in text.splitlines():
        if line.startswith(MARK):
            result = json.loads(line[len(MARK):])
    if proc.returncode != 0 or (python and result is None):
        print(f"  ! {label} failed (exit {proc.returncode}):\n    " + "\n    ".join(text.strip().splitlines()[-15:]))
        return None
    result = result or {}
    result["process"] = {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "maxrss_mib": usage.ru_maxrss / 1024}
    return result


def median_of(runs, *path):
    values = []
    for r in runs:
        v = r
        for p in path:
            v = v.get(p) if isinstance(v, dict) else None
        if v is not None:
            values.append(v)
    return statistics.median(values) if values else None


def fmt(v, unit="s", digits=2):
    if v is None:
        return "-"
    return f"{v:.{digits}f}" + (f" {unit}" if unit else "")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--worker", choices=WORKERS, help=argparse.SUPPRESS)
    p.add_argument("--output", help=argparse.SUPPRESS)
    p.add_argument("--check", type=int, default=1, help=argparse.SUPPRESS)
    p.add_argument("--full", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--onnx", help="source ONNX file (default: the zoo's resnet50, written into --work)")
    p.add_argument("--work", default=os.path.join(tempfile.gettempdir(), "netspec-bench-convert"),
                   help="folder for the converted files")
    p.add_argument("--other-venv", default="/work/bench-venv", help="virtualenv with onnx2torch and onnx2tf")
    p.add_argument("--runs", type=int, default=3, help="fresh-process conversions per tool (median)")
    p.add_argument("--tf-runs", type=int, default=1,
                   help="runs of each onnx2tf conversion (several minutes each here), at most --runs")
    p.add_argument("--batch", type=int, default=1, help="inference batch (224x224)")
    p.add_argument("--repeat", type=int, default=7, help="least timed inference calls per model")
    p.add_argument("--min-seconds", type=float, default=4.0)
    p.add_argument("--threads", type=int, default=1, help="intra-op threads (0: library default)")
    p.add_argument("--skip", default="", help="comma-separated: netspec, onnx2torch, onnx2tf, cli, infer; convert (every conversion)")
    a = p.parse_args()
    if a.worker:
        result = WORKERS[a.worker](a)
        print(MARK + json.dumps(result), flush=True)
        return
    drive(a)


def drive(a):
    skip = set(filter(None, a.skip.split(",")))
    os.makedirs(a.work, exist_ok=True)
    if not a.onnx:
        a.onnx = os.path.join(a.work, "resnet50.onnx")
        if not os.path.exists(a.onnx):
            subprocess.run([os.path.join(os.path.dirname(sys.executable), "netspec"), "build", "resnet50",
                            "-b", "onnx", "-o", a.onnx], check=True)
    a.onnx = os.path.abspath(a.onnx)
    other = os.path.join(a.other_venv, "bin", "python")
    have_other = os.path.exists(other)
    if not have_other:
        print(f"no virtualenv at {a.other_venv}: onnx2torch and onnx2tf are skipped "
              f"(how to make it: benchmarks/RESULTS.md, section Converters)")
    common = ["--onnx", a.onnx, "--threads", str(a.threads)]

    jobs = []  # (label, python, args); one fresh process each, round-robin over the runs
    if "convert" in skip:  # inference only, on the files of an earlier run in --work
        skip |= {"netspec-convert", "onnx2torch", "onnx2tf", "cli"}
    if "netspec" not in skip and "netspec-convert" not in skip:
        for name in ("resnet50.keras", "resnet50.pt2", "resnet50.py"):
            for check in (1, 0):
                label = f"netspec -> {os.path.splitext(name)[1]}" + ("" if check else ", check=False")
                jobs.append((label, sys.executable, lambda n=name, c=check: [
                    "--worker", "netspec-convert", "--output", os.path.join(a.work, f"c{c}", n),
                    "--check", str(c), *common]))
    if have_other and "onnx2torch" not in skip:
        jobs.append(("onnx2torch", other, lambda: ["--worker", "onnx2torch-convert", "--output",
                                                   os.path.join(a.work, "onnx2torch.pt"), *common]))
    if have_other and "onnx2tf" not in skip:
        jobs.append(("onnx2tf -> tf_keras model + SavedModel", other, lambda: [
            "--worker", "onnx2tf-convert", "--output", os.path.join(a.work, "onnx2tf_keras"), *common]))
        jobs.append(("onnx2tf, default (SavedModel + tflite)", other, lambda: [
            "--worker", "onnx2tf-convert", "--full", "--output", os.path.join(a.work, "onnx2tf_full"), *common]))
    cli = []
    if "cli" not in skip and "netspec" not in skip:
        ns = os.path.join(os.path.dirname(sys.executable), "netspec")
        for ext in (".keras", ".pt2"):
            cli.append((f"`netspec convert` -> {ext}", None,
                        lambda e=ext: [ns, "convert", a.onnx, "-o", os.path.join(a.work, "cli", "resnet50" + e),
                                       "--force"]))
    for sub in ("c0", "c1", "cli"):
        os.makedirs(os.path.join(a.work, sub), exist_ok=True)
    runs: dict[str, list] = {label: [] for label, _, _ in jobs + cli}
    for r in range(a.runs):
        order = jobs + cli if r % 2 == 0 else (jobs + cli)[::-1]
        for label, python, args in order:
            if label.startswith("onnx2tf") and r >= a.tf_runs:
                continue
            print(f"run {r + 1}/{a.runs}: {label}", flush=True)
            result = spawn(python, args(), label)
            if result is not None:
                runs[label].append(result)
    if jobs or cli:
        report_conversions(a, runs)

    if "infer" not in skip:
        print(f"\nInference, batch {a.batch}x3x224x224, {a.threads} thread(s); median CPU ms (wall ms), n calls; "
              "ratio = model CPU / onnxruntime CPU in the same process")
        if "netspec" not in skip:
            for c in ("resnet50.keras", "resnet50.pt2", "resnet50.py"):
                src = os.path.join(a.work, "c1", c)
                if os.path.exists(src) and not os.path.exists(os.path.join(a.work, c)):
                    os.symlink(src, os.path.join(a.work, c))
            safetensors = os.path.join(a.work, "c1", "resnet50.safetensors")
            if os.path.exists(safetensors) and not os.path.exists(os.path.join(a.work, "resnet50.safetensors")):
                os.symlink(safetensors, os.path.join(a.work, "resnet50.safetensors"))
            res = spawn(sys.executable, ["--worker", "netspec-infer", "--work", a.work, "--batch", str(a.batch),
                                         "--repeat", str(a.repeat), "--min-seconds", str(a.min_seconds), *common],
                        "netspec inference")
            report_inference(res)
        if have_other:
            res = spawn(other, ["--worker", "others-infer", "--work", a.work, "--batch", str(a.batch),
                                "--repeat", str(a.repeat), "--min-seconds", str(a.min_seconds), *common],
                        "onnx2torch / onnx2tf inference")
            report_inference(res)


def report_conversions(a, runs):
    print(f"\nConversion of {a.onnx}, fresh process each, medians of up to {a.runs} runs "
          "(wall s / CPU s); peak RSS MiB of the process, and above the RSS after framework imports")
    print("\n| conversion | n | framework imports | import | build | write | verify: reload | verify: compare "
          "| conversion (after imports) | process wall | process CPU | peak RSS | peak above imports |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for label, rs in runs.items():
        if not rs:
            print(f"| {label} | 0 | failed or skipped |" + " |" * 10)
            continue
        phases = ["framework imports", "import", "build", "write", "verify: reload",
                  "verify: compare with onnxruntime"]
        alias = {"import": ["convert", "convert (to tf_keras model)", "convert + save (SavedModel, tflite fp32 + fp16)"],
                 "write": ["write (torch.save)", "write (SavedModel)"]}
        cells = []
        for ph in phases:
            names = [ph] + alias.get(ph, [])
            w = c = None
            for n in names:
                w = w if w is not None else median_of(rs, "phases", n, "wall")
                c = c if c is not None else median_of(rs, "phases", n, "cpu")
            cells.append("-" if w is None else f"{w:.2f} / {c:.2f}")
        total = median_of(rs, "total", "wall")
        total_cpu = median_of(rs, "total", "cpu")
        cells.append("-" if total is None else f"**{total:.2f}** / {total_cpu:.2f}")
        cells += [fmt(median_of(rs, "process", "wall")), fmt(median_of(rs, "process", "cpu")),
                  fmt(median_of(rs, "process", "maxrss_mib"), "", 0), fmt(median_of(rs, "hwm_above_imports_mib"), "", 0)]
        print(f"| {label} | {len(rs)} | " + " | ".join(cells) + " |")
    for label, rs in runs.items():
        if rs and rs[0].get("versions"):
            print(f"{label}: {rs[0]['versions']}")
    print("(onnx2torch: 'import' column = onnx2torch.convert, 'write' = torch.save of the module; onnx2tf: "
          "'import' = onnx2tf.convert, 'write' = tf_keras model.save as SavedModel)")


def report_inference(res):
    if res is None:
        return
    timing, errors = res["timing"], res["errors"]
    ref = timing["onnxruntime"]
    print(f"versions: {res.get('versions')}")
    for k, why in res.get("skipped", {}).items():
        print(f"skipped {k}: {why}")
    print("\n| model | CPU ms (n) | wall ms | ratio to onnxruntime (CPU) | wall ratio | max abs diff | max rel diff |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for k, t in timing.items():
        e = errors.get(k)
        print(f"| {k} | {t['cpu'] * 1e3:.1f} ({t['n']}) | {t['wall'] * 1e3:.1f} | {t['cpu'] / ref['cpu']:.3f} | "
              f"{t['wall'] / ref['wall']:.3f} | {_sci(e, 'max_abs')} | {_sci(e, 'max_rel')} |")


def _sci(errors, key):
    return "-" if errors is None else f"{errors[key]:.1e}"


if __name__ == "__main__":
    main()
