"""The one training loop (`training.loop`) with the CIFAR task, in process, as flax's
`train_test.py`: the real loop for a few steps on tiny data, its outputs, and what a rerun of a
workdir resumes or refuses."""

import json
import shutil

import pytest

from keras_resnet.cifar import datasets
from keras_resnet.errors import RecipeError


@pytest.fixture
def data(tiny_npz):
    return datasets.load(npz=tiny_npz(), validation_size=8)


def test_the_cifar_recipe_trains_evaluates_and_writes_its_outputs(tmp_path, data, run_cifar):
    lines = []
    metrics = run_cifar(data, tmp_path / "run", lines, train_steps=4, eval_every=2, batch_size=8)
    history = json.loads((tmp_path / "run" / "history.json").read_text())
    assert [(row["step"], row["val_images"], row["test_images"]) for row in history] == [(2, 8, 12), (4, 8, 12)]
    assert [row["learning_rate"] for row in history] == pytest.approx([0.1, 0.001])  # ÷10 at 2 and 3.
    assert {k: metrics[k] for k in ("steps", "replicas", "strategy")} == {"steps": 4, "replicas": 1, "strategy": "none"}
    assert metrics["test_error"] == history[-1]["test_error"] and metrics["seconds"] == round(history[-1]["time"], 1)
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == [
        "checkpoints", "curves.png", "history.csv", "history.json", "metrics.json", "model.keras", "run_config.json",
        "tensorboard",
    ]  # fmt: skip
    assert lines[:5] == [
        "data: tiny.npz: 32 training, 8 validation and 12 test images of 8×8×3, 3 classes",
        "model: resnet8, 74,835 parameters, shortcut A",
        "schedule: 4 iterations of batch 8, learning rate 0.1 ×0.1 at 2 and 3, evaluated every 2",
        "running on: tensorflow, strategy none (1 replica), float32",
        f"outputs: {tmp_path / 'run'} (history, curves.png, metrics.json, model.keras); rerun the same command to resume",
    ]
    recorded = json.loads((tmp_path / "run" / "run_config.json").read_text())
    assert recorded["config"]["batch_size"] == 8 and recorded["config"]["runtime"]["seed"] == 0
    assert recorded["facts"] == {
        "data": "tiny.npz",
        "train_images": 32,
        "image_shape": [8, 8, 3],
        "shortcut": "A",
        "lr_boundaries": [2, 3],
        "warmup": False,
        "replicas": 1,
        "period": 2,
    }
    assert "data" not in recorded["resume"] and "strategy" not in recorded["resume"] and "seed" in recorded["resume"]


def test_a_rerun_resumes_where_only_the_data_location_differs_and_names_a_setting_that_does(
    tmp_path, data, tiny_npz, run_cifar, kill_at
):
    """What a rerun must match is the run: where the data lies is not, its batch size is."""
    moved = tmp_path / "moved.npz"
    shutil.copy(tiny_npz(), moved)
    settings = dict(train_steps=4, eval_every=2, batch_size=8)
    kill_at("backup:1")
    with pytest.raises(kill_at.Killed):
        run_cifar(data, tmp_path / "run", npz=tiny_npz(), **settings)
    kill_at(None)
    with pytest.raises(RecipeError) as error:
        run_cifar(data, tmp_path / "run", npz=str(moved), **{**settings, "batch_size": 4})
    assert str(error.value) == (
        f"--workdir {tmp_path / 'run'} holds an unfinished run with other settings (batch_size: 8 → 4); rerun it "
        "unchanged to resume, or pass --overwrite"
    )
    first = json.loads((tmp_path / "run" / "history.json").read_text())[0]["time"]
    lines = []
    metrics = run_cifar(data, tmp_path / "run", lines, npz=str(moved), **settings)
    assert f"Resuming resnet8 in {tmp_path / 'run'} at step 2" in lines and metrics["steps"] == 4
    # `seconds` is the history's clock, which the resume continues; `seconds_this_run` the rerun's only.
    last = json.loads((tmp_path / "run" / "history.json").read_text())[-1]["time"]
    assert metrics["seconds"] == round(last, 1) and last > first


def test_an_unfinished_run_of_an_earlier_version_is_refused_in_one_line(tmp_path, data, run_cifar):
    workdir = tmp_path / "run"
    workdir.mkdir()
    (workdir / "run_config.json").write_text(json.dumps({"model": "resnet8", "config": {"batch_size": 8}}))
    with pytest.raises(RecipeError) as error:
        run_cifar(data, workdir, train_steps=4, eval_every=2, batch_size=8)
    assert str(error.value) == (
        f"--workdir {workdir} holds an unfinished run begun by an earlier version of keras_resnet, whose settings "
        "this one cannot compare: finish it with that version, or pass --overwrite to start again"
    )
    assert run_cifar(data, workdir, overwrite=True, train_steps=2, eval_every=2, batch_size=8)["steps"] == 2
