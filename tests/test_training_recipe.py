"""`recipes/cifar10.py` and `recipes/degradation.py` end to end, in subprocesses: smoke runs on
TensorFlow, JAX and (where installed) PyTorch, and a finished run kept. Bad input:
`test_recipe_flags.py`; kill-and-resume: `test_resume_cifar.py`."""

import csv
import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CIFAR = os.path.join(ROOT, "recipes", "cifar10.py")
DEGRADATION = os.path.join(ROOT, "recipes", "degradation.py")
TINY = ["--model", "resnet8", "--batch_size", "8", "--validation_size", "8"]


def _env(backend):
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _run(args, backend="jax", script=CIFAR, timeout=240):
    return subprocess.run(
        [sys.executable, script, *args], env=_env(backend), capture_output=True, text=True, timeout=timeout, cwd=ROOT
    )


def _check_outputs(workdir, steps):
    history = json.load(open(os.path.join(workdir, "history.json")))
    assert [row["step"] for row in history] == steps
    assert all(0.0 <= row["test_error"] <= 1.0 and 0.0 <= row["train_error"] <= 1.0 for row in history)
    with open(os.path.join(workdir, "history.csv")) as f:
        rows = list(csv.DictReader(f))
    assert [int(float(r["step"])) for r in rows] == steps
    metrics = json.load(open(os.path.join(workdir, "metrics.json")))
    assert metrics["steps"] == steps[-1] and 0.0 <= metrics["test_error"] <= 1.0
    with open(os.path.join(workdir, "curves.png"), "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    assert os.path.getsize(os.path.join(workdir, "checkpoints", "last_good.weights.h5")) > 0
    return metrics


def test_a_finished_run_is_kept_and_its_model_file_is_what_it_evaluated(tmp_path, tiny_npz, run_cifar):
    from keras_resnet.cifar import datasets
    from keras_resnet.errors import RecipeError

    workdir, data = str(tmp_path / "run"), datasets.load(npz=tiny_npz(), validation_size=8)
    metrics = run_cifar(data, workdir, train_steps=4, eval_every=2, batch_size=8)
    _check_outputs(workdir, [2, 4])
    _check_trained_model(workdir, tiny_npz(), metrics)
    before = open(os.path.join(workdir, "metrics.json")).read()
    with pytest.raises(RecipeError, match=r"^--workdir .* holds a finished run \(metrics.json\); pass --overwrite"):
        run_cifar(data, workdir, train_steps=4, eval_every=2, batch_size=8)
    assert open(os.path.join(workdir, "metrics.json")).read() == before


_TORCH = pytest.param(
    "torch",
    marks=[
        pytest.mark.torch,
        pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="PyTorch is not installed"),
    ],
)


@pytest.mark.system
@pytest.mark.parametrize("backend", ["jax", _TORCH])
def test_smoke_grayscale_npz_runs_without_tensorflow(tmp_path, tiny_npz, backend):
    path = tiny_npz(shape=(12, 12), classes=10)  # Fashion-MNIST's layout: 28x28 grayscale, no channel axis
    workdir = str(tmp_path / "run")
    argv = ["cifar10.py", *TINY, "--npz", path, "--train_steps", "2", "--eval_every", "2", "--workdir", workdir]
    # As on a machine without TensorFlow: `import tensorflow` fails. (Keras' `.keras` writer imports
    # TensorFlow wherever it can, so merely checking sys.modules would fail on a machine that has it.)
    code = (
        "import runpy, sys\n"
        "sys.modules['tensorflow'] = None\n"
        f"sys.argv = {argv!r}\n"
        "try:\n"
        f"    runpy.run_path({CIFAR!r}, run_name='__main__')\n"
        "except SystemExit as e:\n"
        "    assert not e.code, e.code\n"
        "assert sys.modules['tensorflow'] is None, 'tensorflow was imported'\n"
        "print('NO_TENSORFLOW')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], env=_env(backend), capture_output=True, text=True, timeout=240, cwd=ROOT
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "NO_TENSORFLOW" in result.stdout
    assert _check_outputs(workdir, [2])["backend"] == backend


def test_the_cifar_recipe_reads_tfds_cifar10(tmp_path):
    import tensorflow_datasets as tfds

    from keras_resnet.cifar import config
    from keras_resnet.cifar.task import CifarTask
    from keras_resnet.training import loop

    workdir = str(tmp_path / "run")
    cfg = config.cifar10(model="resnet8", batch_size=8, validation_size=8, train_steps=2, eval_every=2)
    with tfds.testing.mock_data(num_examples=24):
        loop.train_and_evaluate(CifarTask(), cfg, workdir, print_fn=lambda *a, **k: None)
    _check_outputs(workdir, [2])
    facts = json.load(open(os.path.join(workdir, "run_config.json")))["facts"]
    assert facts["image_shape"] == [32, 32, 3] and facts["train_images"] == 16  # 24 mock images - 8 held out


MIRRORED = """
import sys
from keras_resnet.cifar import config, datasets
from keras_resnet.cifar.task import CifarTask
from keras_resnet.training import loop
cfg = config.cifar10(model="resnet8", train_steps=2, batch_size=4, eval_every=2, strategy="mirrored", cpu_devices=2)
loop.train_and_evaluate(CifarTask(datasets.load(npz=sys.argv[1], validation_size=5)), cfg, sys.argv[2])
"""


@pytest.mark.system
def test_mirrored_on_two_cpus_counts_every_val_and_test_image_once(tmp_path, tiny_npz):
    # Batches of 4 on 2 replicas: 5 validation images (the last batch has 1 image for 2 replicas)
    # and 7 test images (neither a multiple of the batch nor of the replicas).
    import keras

    from keras_resnet.cifar import config, datasets

    npz, workdir = tiny_npz(n_train=21, n_test=7), tmp_path / "run"
    result = subprocess.run(
        [sys.executable, "-c", MIRRORED, npz, str(workdir)],
        env=_env("tensorflow"),
        capture_output=True,
        text=True,
        timeout=240,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    last = json.load(open(workdir / "history.json"))[-1]
    # The same net on the same images without a strategy, its loss computed in NumPy.
    model = keras.saving.load_model(str(workdir / "model.keras"), safe_mode=True)
    penalty = (
        config.cifar10().weight_decay
        / 2
        * sum(np.sum(np.square(keras.ops.convert_to_numpy(w), dtype=np.float64)) for w in model.trainable_weights)
    )
    data = datasets.load(npz=npz, validation_size=5)
    for name, x, y in (("val", data.x_val, data.y_val), ("test", data.x_test, data.y_test)):
        logits = keras.ops.convert_to_numpy(model(x.astype("float32"))).astype(np.float64)
        shifted = logits - logits.max(axis=1, keepdims=True)
        cross_entropy = np.log(np.exp(shifted).sum(axis=1)) - shifted[np.arange(len(y)), y]
        assert last[f"{name}_images"] == len(y)
        assert last[f"{name}_error"] == pytest.approx(np.mean(logits.argmax(axis=1) != y), abs=1e-6)
        assert last[f"{name}_loss"] == pytest.approx(cross_entropy.mean() + penalty, rel=1e-5)


def test_degradation_writes_figure_and_table_and_a_rerun_extends_it(tmp_path, tiny_npz):
    """A finished experiment is extended by a rerun: an added depth trains only its nets, and
    `responses` draws Fig. 7 from the trained nets; other settings are refused."""
    from keras_resnet.cifar import config, datasets, degradation
    from keras_resnet.cifar.task import CifarTask
    from keras_resnet.errors import RecipeError

    workdir, data = str(tmp_path / "deg"), datasets.load(npz=tiny_npz(), validation_size=8)
    base = config.degradation(train_steps=2, eval_every=2, batch_size=8, validation_size=8, families=("residual",))
    lines = []
    degradation.run_experiment(base.replace(depths=(8,)), workdir, data, print_fn=lambda *a, **k: None)
    finished = {n: os.stat(os.path.join(workdir, n, "metrics.json")).st_mtime_ns for n in ("resnet8",)}
    extended = base.replace(depths=(8, 14), responses=True)
    degradation.run_experiment(extended, workdir, data, print_fn=lambda line, **k: lines.append(line))
    assert "reusing resnet8, finished earlier; training resnet14" in lines[0]
    assert {n: os.stat(os.path.join(workdir, n, "metrics.json")).st_mtime_ns for n in finished} == finished
    _check_fig7(workdir, tiny_npz())
    rows = json.load(open(os.path.join(workdir, "table6.json")))
    assert [r["net"] for r in rows] == ["resnet8", "resnet14"]
    assert all(r["steps"] == 2 and 0 <= r["test_error"] <= 100 for r in rows)
    table = open(os.path.join(workdir, "table6.md")).read()
    assert "| resnet14 |" in table and "paper test error" in table
    with open(os.path.join(workdir, "fig6.png"), "rb") as f:
        assert f.read(4) == b"\x89PNG"

    # Other settings: refused in one line naming the change, before anything is trained.
    task = CifarTask(data)
    assert list(degradation.finished_nets(extended, workdir, task, ["resnet14", "resnet20"])) == ["resnet14"]
    with pytest.raises(RecipeError, match=r"holds resnet8 finished with other settings \(.*train_steps: 2 → 4"):
        degradation.finished_nets(extended.replace(train_steps=4), workdir, task, ["resnet8"])


def _check_trained_model(workdir, npz, metrics):
    """model.keras, named in the metrics, loads with safe_mode and has the run's test error on raw images."""
    import keras

    path = os.path.join(workdir, "model.keras")
    assert metrics["model_file"] == path
    model = keras.saving.load_model(path, safe_mode=True)
    assert [layer.name for layer in model.layers] == ["images", "per_pixel_mean", "resnet8"]  # no augmentation
    arrays = np.load(npz)
    logits = keras.ops.convert_to_numpy(model(arrays["x_test"]))
    assert np.mean(np.argmax(logits, -1) != arrays["y_test"]) == pytest.approx(metrics["test_error"], abs=1e-6)


def _check_fig7(workdir, npz):
    """fig7.json holds, per net, the responses of its trained checkpoint on the test images minus the mean."""
    import keras_resnet
    from keras_resnet.cifar import config, datasets
    from keras_resnet.cifar import model as cifar_model
    from keras_resnet.training import backup

    with open(os.path.join(workdir, "fig7.png"), "rb") as f:
        assert f.read(4) == b"\x89PNG"
    summary = json.load(open(os.path.join(workdir, "fig7.json")))
    assert {name: len(net["std"]) for name, net in summary["nets"].items()} == {
        "resnet8": 7,
        "resnet14": 13,
    }  # 6n + 1 layers of 3×3
    assert len(summary["claims"]) == 1  # Deeper ResNets respond less; no plain twin here.
    arrays = np.load(npz)
    data = datasets.load(npz=str(npz), validation_size=8)
    model = cifar_model.create_model(config.cifar10(model="resnet14"), data)
    model.load_weights(os.path.join(workdir, "resnet14", backup.CHECKPOINT))
    images = arrays["x_test"].astype("float32") - arrays["x_train"][:-8].astype("float64").mean(axis=0).astype(
        "float32"
    )
    expected = keras_resnet.layer_responses(model.get_layer("resnet14"), images)
    assert summary["nets"]["resnet14"]["layers"] == list(expected)
    np.testing.assert_allclose(summary["nets"]["resnet14"]["std"], list(expected.values()), rtol=1e-5)
    assert summary["nets"]["resnet14"]["mean_std"] == pytest.approx(np.mean(list(expected.values())))


def test_degradation_table_carries_the_papers_table6_numbers():
    from keras_resnet.cifar import degradation

    rows = degradation.table_rows(
        {f"resnet{d}": {"train_error": 0.0, "test_error": 0.1, "steps": 1} for d in (20, 32, 44, 56, 110)}
    )
    assert [r["paper_test_error"] for r in rows] == [8.75, 7.51, 7.17, 6.97, 6.43]
    assert degradation.experiment_nets() == [
        "plain20",
        "plain32",
        "plain44",
        "plain56",
        "resnet20",
        "resnet32",
        "resnet44",
        "resnet56",
        "resnet110",
    ]
