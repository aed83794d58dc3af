"""The recipes as a new user meets them: `--help`, local data (an IDX folder), the curves' legend.
Bad flag values: `test_recipe_flags.py`."""

import os
import subprocess
import sys

import numpy as np
import pytest
from matplotlib.figure import Figure

from keras_resnet.cifar import datasets, idx
from keras_resnet.errors import DataError, RecipeError
from keras_resnet.training import plots

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RECIPES = {name: os.path.join(ROOT, "recipes", f"{name}.py") for name in ("cifar10", "degradation")}
ENV = dict(os.environ, KERAS_BACKEND="jax", TF_CPP_MIN_LOG_LEVEL="3")
SHARED_FLAGS = (
    "--data:",
    "--npz:",
    "--workdir:",
    "--train_steps:",
    "--batch_size:",
    "--eval_every:",
    "--[no]overwrite:",
    "--seed:",
    "--mixed_precision:",
)


def run(recipe, *args, timeout=240):
    return subprocess.run(
        [sys.executable, RECIPES[recipe], *args], env=ENV, capture_output=True, text=True, timeout=timeout, cwd=ROOT
    )


@pytest.mark.parametrize("recipe", ["cifar10", "degradation"])
def test_help_lists_the_shared_flags(recipe):
    shown = run(recipe, "--help").stdout
    assert [flag for flag in SHARED_FLAGS if flag not in shown] == []


def write_idx_folder(folder, n_train=40, n_test=12, shape=(8, 8)):
    """A Fashion-MNIST-like folder: gzipped IDX files, written byte by byte from the format's spec."""
    import gzip
    import struct

    rng = np.random.default_rng(0)
    arrays = {
        "train-images-idx3-ubyte.gz": rng.integers(0, 255, (n_train, *shape), dtype="uint8"),
        "train-labels-idx1-ubyte.gz": (np.arange(n_train) % 3).astype("uint8"),
        "t10k-images-idx3-ubyte.gz": rng.integers(0, 255, (n_test, *shape), dtype="uint8"),
        "t10k-labels-idx1-ubyte.gz": (np.arange(n_test) % 3).astype("uint8"),
    }
    os.makedirs(folder, exist_ok=True)
    for name, array in arrays.items():
        with gzip.open(os.path.join(folder, name), "wb") as f:
            f.write(bytes([0, 0, 8, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes())
    return arrays


def test_an_idx_folder_loads_as_the_mnist_layout(tmp_path):
    arrays = write_idx_folder(str(tmp_path))
    data = datasets.load(data=str(tmp_path), validation_size=8)
    assert data.image_shape == (8, 8, 1) and data.num_classes == 3
    np.testing.assert_array_equal(data.x_test[..., 0], arrays["t10k-images-idx3-ubyte.gz"])
    np.testing.assert_array_equal(np.concatenate([data.y_train, data.y_val]), arrays["train-labels-idx1-ubyte.gz"])


def test_an_idx_folder_missing_a_file_is_one_line(tmp_path):
    write_idx_folder(str(tmp_path))
    os.remove(tmp_path / "t10k-labels-idx1-ubyte.gz")
    with pytest.raises(DataError, match=r"holds no t10k-labels-idx1-ubyte\[\.gz\]"):
        idx.load_idx_folder(str(tmp_path))


@pytest.mark.system
def test_the_cifar_recipe_trains_on_an_idx_folder(tmp_path):
    write_idx_folder(str(tmp_path / "fmnist"))
    result = run(
        "cifar10",
        "--model=resnet8",
        "--batch_size=8",
        "--validation_size=8",
        "--train_steps=2",
        "--eval_every=2",
        f"--data={tmp_path / 'fmnist'}",
        f"--workdir={tmp_path / 'run'}",
    )
    assert result.returncode == 0, result.stderr[-1500:]
    assert (tmp_path / "run" / "metrics.json").exists()
    # run_config.json records what the run did: the boundaries scaled to its 2 steps, its shortcut.
    import json

    recorded = json.loads((tmp_path / "run" / "run_config.json").read_text())
    assert recorded["facts"]["lr_boundaries"] == [1, 2] and recorded["facts"]["shortcut"] == "A"
    assert recorded["facts"]["warmup"] is False and recorded["config"]["runtime"]["mixed_precision"] == "none"
    lines = result.stdout.splitlines()
    # What the run is, before it starts: the data's splits (40 training images less 8 held out, the
    # 12 of t10k-*), the net and its parameters, the schedule, where it runs and writes.
    assert lines[:5] == [
        "data: fmnist: 32 training, 8 validation and 12 test images of 8×8×1, 3 classes",
        "model: resnet8, 74,547 parameters, shortcut A",  # 144 + 32 + 4,672 + 13,952 + 55,552 + 195, by hand
        "schedule: 2 iterations of batch 8, learning rate 0.1 ×0.1 at 1 and 2, evaluated every 2",
        "running on: jax, strategy none (1 replica), float32",
        f"outputs: {tmp_path / 'run'} (history, curves.png, metrics.json, model.keras); rerun the same command to resume",
    ]
    assert lines[5].startswith("step 1/2: first step done")  # at once, not after a period


def test_curves_legend_says_which_line_is_training_and_which_is_test():
    rows = [{"step": 100, "train_error": 0.5, "test_error": 0.6}, {"step": 200, "train_error": 0.3, "test_error": 0.4}]
    axes = Figure().add_subplot(1, 1, 1)
    plots.draw_curves(axes, {"resnet20": rows, "resnet56": rows}, "")
    labels = [text.get_text() for text in axes.get_legend().get_texts()]
    assert labels == ["resnet20", "resnet56", "training error (thin, dashed)", "test error (bold)"]


def test_both_recipes_speak_one_vocabulary_for_precision_and_strategy():
    """Every run's config holds one `Runtime`: the same fields, choices and defaults in both recipes."""
    from keras_resnet.cifar import config as cifar_config
    from keras_resnet.imagenet import config as imagenet_config
    from keras_resnet.training import config

    assert cifar_config.cifar10().runtime == imagenet_config.imagenet().runtime == config.Runtime()
    assert {"none", "bf16", "fp16"} <= set(config.PRECISIONS)
    # As docs/recipes.md lists them.
    assert config.STRATEGIES == ("auto", "tpu", "mirrored", "multi_worker", "one_device", "none")
    for strategy in config.STRATEGIES:
        config.check(cifar_config.cifar10(strategy=strategy, mixed_precision="bf16"))
    with pytest.raises(RecipeError, match=f"--strategy must be one of {', '.join(config.STRATEGIES)}"):
        config.check(cifar_config.cifar10(strategy="gpus"))


def test_a_flag_value_starting_with_a_tilde_is_a_path_in_the_home_folder(monkeypatch, tmp_path):
    from absl import flags

    from keras_resnet.training import cli

    values = flags.FlagValues()
    flags.DEFINE_string("data_dir", None, "", flag_values=values)
    flags.DEFINE_string("model", None, "", flag_values=values)
    monkeypatch.setattr(flags, "FLAGS", values)
    monkeypatch.setenv("HOME", str(tmp_path))
    cli.parse_flags(["recipe", "--data_dir=~/tensorflow_datasets", "--model=a~b"])
    assert values.data_dir == str(tmp_path / "tensorflow_datasets")  # Bash leaves `~` after `=` as it is.
    assert values.model == "a~b"
