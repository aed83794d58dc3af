"""TensorFlow's start-up lines obey `TF_CPP_MIN_LOG_LEVEL` (`keras_resnet.tf_startup`), in the
library's filter and in the recipes' output."""

import os
import re
import subprocess
import sys

import pytest

from keras_resnet import tf_startup

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# TensorFlow 2.21's lines as printed on a CPU machine, and a CUDA build's on a machine without a GPU.
INFO = "I0000 00:00:1795998976.328864   25384 port.cc:153] oneDNN custom operations are on.\n"
BEFORE_INIT = "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
WARN = "W0000 00:00:1795998976.328864   25384 gpu_device.cc:2341] Cannot dlopen some GPU libraries.\n"
CUINIT = (
    "E0000 00:00:1795998976.328864   25384 cuda_executor.cc:1228] failed call to cuInit: INTERNAL: CUDA error: "
    "Failed call to cuInit: UNKNOWN ERROR (303)\n"
)
OLD_INFO = (
    "2025-09-17 14:44:05.157831: I external/local_xla/xla/tsl/cuda/cudart_stub.cc:32] Could not find cuda drivers.\n"
)
ERROR = "E0000 00:00:1795998976.328864   25384 op_kernel.cc:1830] OP_REQUIRES failed: a real error\n"
OURS = "a line of our own\n"
LINES = [BEFORE_INIT, INFO, WARN, CUINIT, OLD_INFO, ERROR, OURS]
# Any line in TensorFlow's C++ formats (absl's, and TensorFlow's older one).
TF_LINE = re.compile(
    r"^([IWEF]\d{4} \d\d:\d\d:[\d.]+\s+\d+ \S+:\d+\]|\d{4}-\d\d-\d\d \d\d:\d\d:[\d.]+: [IWEF] )|InitializeLog"
)


@pytest.mark.parametrize(
    "level, kept",
    [
        (0, LINES),
        (1, [BEFORE_INIT, WARN, CUINIT, ERROR, OURS]),
        (2, [ERROR, OURS]),
        (3, [OURS]),
    ],
)
def test_the_filter_keeps_what_the_level_lets_through(capfd, level, kept):
    with tf_startup.filtered(level=level):
        for line in LINES:
            os.write(2, line.encode())
    assert capfd.readouterr().err == "".join(kept)


def test_the_filter_writes_back_python_output_and_a_traceback(capfd):
    with pytest.raises(RuntimeError):
        with tf_startup.filtered(level=3):
            os.write(2, INFO.encode())
            print("a Python warning", file=sys.stderr)
            raise RuntimeError("while TensorFlow loads")
    err = capfd.readouterr().err
    assert "a Python warning" in err and "oneDNN" not in err


@pytest.mark.system
@pytest.mark.parametrize("backend", ["tensorflow", "jax"])
def test_a_recipe_prints_no_tensorflow_start_up_lines_unless_asked(tmp_path, tiny_npz, backend):
    """The recipes set the level to 2 where it is unset; 0 brings the lines back."""
    data = tiny_npz()
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    env.update(KERAS_BACKEND=backend, PYTHONPATH=ROOT + os.pathsep + env.get("PYTHONPATH", ""))
    args = [
        sys.executable,
        os.path.join(ROOT, "recipes", "cifar10.py"),
        "--model=resnet8",
        "--batch_size=8",
        "--validation_size=8",
        "--train_steps=1",
        "--eval_every=1",
        f"--npz={data}",
    ]
    quiet = subprocess.run(
        [*args, f"--workdir={tmp_path / 'quiet'}"], env=env, capture_output=True, text=True, timeout=240
    )
    assert quiet.returncode == 0, quiet.stderr[-2000:]
    assert [line for line in quiet.stderr.splitlines() if TF_LINE.search(line)] == []
    if backend == "tensorflow":
        loud = subprocess.run(
            [*args, f"--workdir={tmp_path / 'loud'}"],
            env={**env, "TF_CPP_MIN_LOG_LEVEL": "0"},
            capture_output=True,
            text=True,
            timeout=240,
        )
        assert loud.returncode == 0, loud.stderr[-2000:]
        # Which lines TensorFlow prints depends on the CPU (the oneDNN notice only where oneDNN is on).
        assert [line for line in loud.stderr.splitlines() if TF_LINE.search(line)], loud.stderr[-2000:]


FATAL = (
    "F0000 00:00:1795998976.328864   25384 cpu_feature_guard.cc:85] The TensorFlow library was compiled to use "
    "AVX instructions, but these aren't available on your machine.\n"
)


@pytest.fixture
def aborting_tensorflow(tmp_path):
    """A `tensorflow` package that dies at import as TensorFlow does on a CPU it was not built for:
    an INFO line, its fatal line, then abort."""
    package = tmp_path / "fake" / "tensorflow"
    package.mkdir(parents=True)
    package.joinpath("__init__.py").write_text(f"import os\nos.write(2, {(INFO + FATAL).encode()!r})\nos.abort()\n")
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    env.update(KERAS_BACKEND="tensorflow", PYTHONPATH=os.pathsep.join([str(package.parent), ROOT]))
    return env


@pytest.mark.parametrize("command", ["import", "recipe"])
def test_a_process_that_dies_while_tensorflow_loads_shows_all_it_printed(
    tmp_path, tiny_npz, aborting_tensorflow, command
):
    args = {
        "import": ["-c", "import keras_resnet, tensorflow"],
        "recipe": [
            os.path.join(ROOT, "recipes", "cifar10.py"),
            f"--workdir={tmp_path / 'run'}",
            f"--data={tiny_npz()}",
        ],
    }[command]
    died = subprocess.run([sys.executable, *args], env=aborting_tensorflow, capture_output=True, text=True, timeout=60)
    assert died.returncode == -6, died.stderr[-2000:]
    assert INFO + FATAL in died.stderr, died.stderr[-2000:]  # Then, in a recipe, absl's stack dump.


@pytest.mark.parametrize("backend", ["tensorflow", pytest.param("jax", marks=pytest.mark.system)])
def test_a_saved_model_loads_whatever_the_import_order(tmp_path, backend):
    """TensorFlow's import asks for Keras' spec without loading it; the registration that runs
    when Keras loads must survive that."""
    import keras_resnet

    path = str(tmp_path / "net.keras")
    keras_resnet.build_network("cifar", stages=(1, 1, 1), input_shape=(8, 8, 1)).save(path)
    code = f"import keras_resnet, tensorflow, keras; print(type(keras.saving.load_model({path!r})).__name__)"
    env = {**os.environ, "KERAS_BACKEND": backend, "PYTHONPATH": ROOT}
    loaded = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert loaded.returncode == 0, loaded.stderr[-2000:]
    assert loaded.stdout.split() == ["Network"]


def test_the_devices_tensorflow_finds_at_its_first_use_say_nothing_on_a_cpu(tmp_path):
    """A CUDA build on a machine without a GPU prints `failed call to cuInit` when it first looks
    for devices, which the first network built does: that look happens as TensorFlow loads, its
    lines held with the start-up lines."""
    package = tmp_path / "tensorflow"
    (package / "config").mkdir(parents=True)
    package.joinpath("__init__.py").write_text("from tensorflow import config\n")
    package.joinpath("config", "__init__.py").write_text(
        "import os\n_found = []\n"
        "def list_physical_devices(kind=None):\n"
        f"    if not _found:\n        os.write(2, {CUINIT.encode()!r})\n        _found.append(1)\n"
        "    return []\n"
        "def set_visible_devices(devices, kind=None):\n    pass\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    env.update(KERAS_BACKEND="jax", PYTHONPATH=os.pathsep.join([str(tmp_path), ROOT]))
    code = "import keras_resnet, tensorflow as tf; tf.config.list_physical_devices(); print('ran')"
    quiet = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert quiet.stdout == "ran\n" and quiet.stderr == "", quiet.stderr[-2000:]
    loud = subprocess.run(
        [sys.executable, "-c", code],
        env={**env, "TF_CPP_MIN_LOG_LEVEL": "1"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert loud.stderr == CUINIT, loud.stderr[-2000:]


@pytest.mark.parametrize(
    "machine, set_before, expected",
    [("x86_64", None, "1"), ("AMD64", None, "1"), ("x86_64", "0", "0"), ("aarch64", None, None)],
)
def test_the_recipes_turn_on_onednn_on_x86_unless_told_not_to(monkeypatch, machine, set_before, expected):
    """TensorFlow leaves oneDNN off on x86 CPUs without AVX-512, where it trains about twice as fast."""
    monkeypatch.setattr(tf_startup.platform, "machine", lambda: machine)
    monkeypatch.delenv("TF_ENABLE_ONEDNN_OPTS", raising=False)
    if set_before is not None:
        monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", set_before)
    tf_startup.recipe_environment()
    assert os.environ.get("TF_ENABLE_ONEDNN_OPTS") == expected


@pytest.mark.skipif(os.environ.get("TF_ENABLE_ONEDNN_OPTS") == "0", reason="oneDNN turned off by the user")
def test_the_tests_run_tensorflow_with_onednn_as_the_recipes_do():
    import platform

    from tensorflow.python.util import _pywrap_util_port

    assert _pywrap_util_port.IsMklEnabled() == (platform.machine().lower() in tf_startup.X86_MACHINES)
