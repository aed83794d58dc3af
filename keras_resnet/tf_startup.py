"""TensorFlow's start-up lines, held to `TF_CPP_MIN_LOG_LEVEL`.

Since TensorFlow 2.19 the C++ lines printed while TensorFlow loads ignore `TF_CPP_MIN_LOG_LEVEL`
(tensorflow/tensorflow#100442): absl's "All log messages before absl::InitializeLog() …", the
oneDNN notice (twice), CUDA plug-in registration errors and, on a machine without a GPU, "failed
call to cuInit". `filtered()` sends file descriptor 2 through a filter process while TensorFlow
loads, which writes back only the lines the level lets through, as the variable promises (and
every line, should the process die while TensorFlow loads):

  - `0`: nothing is filtered;
  - `1`: no INFO lines; `2` (and unset): no WARNING lines either, nor the known-harmless CUDA
    errors a CPU machine prints (`BENIGN_ERRORS`); `3`: no ERROR lines.

Everything else written meanwhile (Python warnings, tracebacks) is written back unchanged.
`import keras_resnet` loads neither Keras nor TensorFlow; `quiet_when_loaded` holds their
start-up lines whenever they load afterwards, whoever imports them, so the package prints nothing
unless asked: `TF_CPP_MIN_LOG_LEVEL=0` shows every line. The recipes, notebooks and tests also
run `recipe_environment()` before TensorFlow loads: the level 2 for the lines it prints while it
runs, and oneDNN's kernels on every x86 CPU.

Example:

>>> keeps("I0000 00:00:1795998976.328864   25384 port.cc:153] oneDNN custom operations are on.", 2)
False
"""

import contextlib
import importlib.abc
import importlib.util
import logging
import os
import platform
import re
import subprocess
import sys

# absl's `I0000 00:00:1795998976.328864   25384 port.cc:153] …` and TensorFlow's older
# `2025-09-17 14:44:05.157831: I external/…/cudart_stub.cc:32] …`.
_ABSL_LINE = re.compile(r"^([IWEF])\d{4} \d\d:\d\d:[\d.]+\s+\d+ \S+:\d+\] ")
_TSL_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:[\d.]+: ([IWEF]) \S+:\d+\] ")
_BEFORE_INIT = "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR"
_CONTINUATIONS = ("To enable the following instructions",)
_SEVERITY = {"I": 0, "W": 1, "E": 2, "F": 3}

# Errors TensorFlow prints on every start of a machine without a (usable) GPU, or when two of its
# libraries register the same CUDA plug-in; none says anything about the run.
BENIGN_ERRORS = (
    "failed call to cuInit",
    "Unable to register cuDNN factory",
    "Unable to register cuFFT factory",
    "Unable to register cuBLAS factory",
)


# `platform.machine()` of the x86 CPUs, lower-cased: where `recipe_environment` turns oneDNN on.
X86_MACHINES = ("x86_64", "amd64", "x86", "i686")


def recipe_environment():
    """Sets, where the user has not, the environment the recipes, notebooks and tests run
    TensorFlow in; it takes effect only before TensorFlow is imported.

      - `TF_CPP_MIN_LOG_LEVEL=2`: TensorFlow's warnings and errors only, also while it runs.
      - `TF_ENABLE_ONEDNN_OPTS=1` on an x86 CPU: TensorFlow uses oneDNN's kernels by default only
        where the CPU has AVX-512 or newer; on an AVX2 one (many laptops and cloud machines) its
        own kernels train the CIFAR nets at about half the speed (docs/benchmarks.md). oneDNN's
        results differ from them by float rounding only. `TF_ENABLE_ONEDNN_OPTS=0` turns it off.

    >>> import os
    >>> recipe_environment(); os.environ["TF_CPP_MIN_LOG_LEVEL"] in ("0", "1", "2", "3")
    True
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if platform.machine().lower() in X86_MACHINES:
        os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")


def min_level():
    """`TF_CPP_MIN_LOG_LEVEL` as an int: 2 where unset (the recipes' default), 0 where not a number."""
    try:
        return int(os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2"))
    except ValueError:
        return 0


def keeps(line, level):
    """Whether a line written while TensorFlow loads is shown at `TF_CPP_MIN_LOG_LEVEL=level`.

    >>> keeps("W0000 00:00:1.5  25 cuda.cc:1] slow", 1), keeps("W0000 00:00:1.5  25 cuda.cc:1] slow", 2)
    (True, False)
    >>> keeps("Traceback (most recent call last):", 3)
    True
    """
    if line.rstrip("\n") == _BEFORE_INIT:
        return level < _SEVERITY["W"] + 1
    match = _ABSL_LINE.match(line) or _TSL_LINE.match(line)
    if not match:
        return True
    severity = _SEVERITY[match.group(1)]
    if severity == _SEVERITY["E"] and level >= 2 and any(text in line for text in BENIGN_ERRORS):
        return False
    return severity >= level or severity == _SEVERITY["F"]


def kept_lines(text, level):
    """The lines of `text` that `keeps` accepts; a record's continuation line (absl writes
    `cpu_feature_guard`'s "To enable the following instructions: …" on a line of its own) goes
    with its record.

    >>> text = "I0000 00:00:1.5  25 cpu_feature_guard.cc:227] optimized.\\nTo enable the following instructions: AVX2\\nours\\n"
    >>> kept_lines(text, 2), len(kept_lines(text, 0))
    (['ours\\n'], 3)
    """
    kept, previous = [], True
    for line in text.splitlines(keepends=True):
        if line.startswith(_CONTINUATIONS):
            keep = previous
        else:
            keep = previous = keeps(line, level)
        if keep:
            kept.append(line)
    return kept


# What `filtered` writes into its pipe last, once the block is over: a filter that reaches the
# end of its input without it knows the process died inside the block.
_DONE = b"\0keras_resnet.tf_startup: done\0"


@contextlib.contextmanager
def filtered(level=None):
    """Sends what is written to file descriptor 2 inside the block to a filter process, which
    writes back the lines `keeps(line, level)` accepts once the block is over. `level` defaults
    to `min_level()`; at 0 nothing is filtered.

    The filter is a process of its own so that nothing is lost when this one dies inside the
    block (TensorFlow aborts at import on a CPU without the instructions it was built for, and
    says why in one fatal line): a filter whose input ends before the block's does writes back
    everything it received, unfiltered."""
    level = min_level() if level is None else level
    if level <= 0 or not sys.executable:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    read_end, write_end = os.pipe()
    try:
        child = subprocess.Popen(
            [sys.executable, "-S", "-E", os.path.abspath(__file__), str(level)], stdin=read_end, stdout=saved
        )
    except OSError:  # No filter, no filtering: the lines are shown rather than lost.
        os.close(read_end), os.close(write_end), os.close(saved)
        yield
        return
    os.close(read_end)
    os.dup2(write_end, 2)
    os.close(write_end)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.write(2, _DONE)
        os.dup2(saved, 2)  # The pipe's last write end closes: the filter reads to its end and exits.
        os.close(saved)
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:  # A process the block started holds the pipe open.
            pass


def _filter(level, source, sink):
    """The filter process of `filtered`: reads `source` to its end, then writes to `sink` the
    lines `kept_lines` accepts, or every line where the block did not end (`_DONE` missing)."""
    text = source.read()
    done = text.endswith(_DONE)
    text = (text[: -len(_DONE)] if done else text).decode(errors="replace")
    sink.write("".join(kept_lines(text, level)) if done else text)
    sink.flush()


def quiet_jax_platform_probe():
    """Below `TF_CPP_MIN_LOG_LEVEL` 1, nothing; else JAX's INFO line for each platform it did not
    find ("Unable to initialize backend 'tpu'"), which absl's INFO verbosity shows on every start
    of a recipe, is held back like TensorFlow's start-up lines."""
    if min_level() >= 1:
        logging.getLogger("jax._src.xla_bridge").setLevel(logging.WARNING)


def _keras_backend():
    """The backend Keras loads, known without loading it: `KERAS_BACKEND`, else `keras.json`'s."""
    import json

    if "KERAS_BACKEND" in os.environ:
        return os.environ["KERAS_BACKEND"]
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    try:
        with open(os.path.join(home, "keras.json")) as f:
            return json.load(f).get("backend", "tensorflow")
    except (OSError, ValueError):
        return "tensorflow"


def _tensorflow_loaded():
    """What follows TensorFlow's import, its lines held with the import's: its devices found (CUDA
    starts here, and says so on a machine without a GPU), and, under another Keras backend, for
    which TensorFlow only feeds data, the GPUs hidden from it (it would reserve their memory)."""
    tf = sys.modules["tensorflow"]
    tf.config.list_physical_devices()
    if _keras_backend() != "tensorflow":
        try:
            tf.config.set_visible_devices([], "GPU")
        except RuntimeError:  # TensorFlow already ran something: too late, and its choice stands.
            pass


class _WhenLoaded(importlib.abc.MetaPathFinder):
    """Finds nothing itself: for the one module `name` it asks the other finders, then runs that
    module's code, and `after()` once it has loaded, inside `filtered()`. It stays in
    `sys.meta_path` until the module is loaded, not merely looked for: TensorFlow's import asks
    for Keras' spec (`importlib.util.find_spec("keras")`) without loading it."""

    def __init__(self, name, after):
        self.name, self.after, self._asking = name, after, False

    def find_spec(self, fullname, path=None, target=None):
        if fullname != self.name or self._asking:
            return None
        self._asking = True  # The lookup below must not find this finder.
        try:
            spec = importlib.util.find_spec(fullname)
        finally:
            self._asking = False
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        exec_module, finder = spec.loader.exec_module, self

        def quiet_exec_module(module):
            if finder in sys.meta_path:
                sys.meta_path.remove(finder)  # One load.
            with filtered():
                exec_module(module)
                finder.after()

        spec.loader.exec_module = quiet_exec_module
        return spec


def quiet_when_loaded(after):
    """Holds the start-up lines of Keras (which loads its backend) and TensorFlow to
    `TF_CPP_MIN_LOG_LEVEL` whenever they are first imported, and calls `after()` once Keras has
    loaded (at once if it has already)."""
    if "keras" in sys.modules:
        after()
        return
    for name, then in (("tensorflow", _tensorflow_loaded), ("keras", after)):
        if name not in sys.modules and not any(isinstance(f, _WhenLoaded) and f.name == name for f in sys.meta_path):
            sys.meta_path.insert(0, _WhenLoaded(name, then))


if __name__ == "__main__":  # The filter process of `filtered` (`python -S tf_startup.py LEVEL`).
    _filter(int(sys.argv[1]), sys.stdin.buffer, sys.stdout)
