"""`recipes/imagenet.py` end to end on CPU (subprocesses: logical devices are set before any TF op)."""

import importlib.util
import json
import os
import subprocess
import sys

import pytest

from keras_resnet.training import faults

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RECIPE = os.path.join(ROOT, "recipes", "imagenet.py")
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "KERAS_BACKEND": "tensorflow"}


def run(*args, timeout=240, backend="tensorflow"):
    env = {**ENV, "KERAS_BACKEND": backend}
    return subprocess.run(
        [sys.executable, RECIPE, *args], capture_output=True, text=True, timeout=timeout, env=env, cwd=ROOT
    )


@pytest.fixture
def small(small_imagenet_flags):
    """The tiny net with the small settings."""
    return ["--model=tiny", *small_imagenet_flags]


def _one_line_error(result):
    assert result.returncode != 0
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith("error: ")
    return line


@pytest.mark.system
def test_mirrored_on_two_cpus_counts_every_validation_image_once_then_ten_crop_eval(tmp_path, image_folder, small):
    # 9 validation images in batches of 4: not a multiple of the batch nor of the 2 replicas, and
    # the last batch has 1 image for 2 replicas. 9 classes, so that top-5 is not trivially right.
    folder = image_folder(classes=9, train=2, val=1)
    workdir = tmp_path / "run"
    result = run(
        "--strategy=mirrored",
        "--cpu_devices=2",
        f"--image_folder={folder}",
        f"--workdir={workdir}",
        "--train_steps=4",
        *small,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "ran out of data" not in result.stderr  # Validation knows its number of batches.
    metrics = json.loads((workdir / "metrics.json").read_text())
    assert (metrics["strategy"], metrics["replicas"], metrics["steps"]) == ("mirrored", 2, 4)
    history = json.loads((workdir / "history.json").read_text())
    assert [(row["step"], row["val_images"]) for row in history] == [(2, 9), (4, 9)]
    assert (workdir / "pixel_mean.npy").exists()
    _check_trained_model(result.stdout, workdir, folder)
    result = run("--mode=eval", "--eval_protocol=10crop", f"--image_folder={folder}", f"--workdir={workdir}", *small)
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads((workdir / "eval_10crop.json").read_text())["images"] == 9
    # The validation during training is the centre-crop test of the whole split.
    result = run("--mode=eval", "--eval_protocol=center", f"--image_folder={folder}", f"--workdir={workdir}", *small)
    assert result.returncode == 0, result.stderr[-2000:]
    center = json.loads((workdir / "eval_center.json").read_text())
    assert center["images"] == 9
    assert (center["top1_error"], center["top5_error"]) == pytest.approx(
        (history[-1]["val_error"], history[-1]["val_top5_error"]), abs=1e-6
    )
    # The mean is a weight of the checkpoint, of the crop's size: another size is a one-line error.
    result = run("--mode=eval", f"--image_folder={folder}", f"--workdir={workdir}", *small, "--image_size=30")
    assert "evaluate with the flags the run was trained with" in _one_line_error(result)


def _check_trained_model(stdout, workdir, folder):
    """model.keras, named in the last line, loads with safe_mode and, run here without a strategy
    and its loss computed in NumPy, has the run's last validation error, top-5 error and loss."""
    import keras
    import numpy as np

    from keras_resnet.imagenet import config, input_pipeline, sources

    path = str(workdir / "model.keras")
    assert (
        stdout.strip().splitlines()[-1] == f"Trained model (keras.saving.load_model after import keras_resnet): {path}"
    )
    model = keras.saving.load_model(path, safe_mode=True)
    assert [layer.name for layer in model.layers] == ["images", "mean", "tiny"]
    cfg = config.imagenet(image_size=32, eval_resize=36)
    batches = list(input_pipeline.eval_dataset(sources.resolve_source(image_folder=folder), cfg, 4))
    logits = np.concatenate([keras.ops.convert_to_numpy(model(np.asarray(x))) for x, _ in batches]).astype(np.float64)
    labels = np.concatenate([np.asarray(y) for _, y in batches])
    shifted = logits - logits.max(axis=1, keepdims=True)
    cross_entropy = np.log(np.exp(shifted).sum(axis=1)) - shifted[np.arange(len(labels)), labels]
    penalty = (
        cfg.weight_decay
        / 2
        * sum(np.sum(np.square(keras.ops.convert_to_numpy(w), dtype=np.float64)) for w in model.trainable_weights)
    )
    top5 = np.argsort(-logits, axis=1)[:, :5]
    last = json.loads((workdir / "history.json").read_text())[-1]
    assert last["val_images"] == len(labels)
    assert np.mean(logits.argmax(axis=1) != labels) == pytest.approx(last["val_error"], abs=1e-6)
    assert np.mean((top5 != labels[:, None]).all(axis=1)) == pytest.approx(last["val_top5_error"], abs=1e-6)
    assert cross_entropy.mean() + penalty == pytest.approx(last["val_loss"], rel=1e-5)


@pytest.mark.system
def test_tfds_data_dir_mirrored_on_two_cpus_reads_each_training_batch_once(tmp_path, tfds_imagenet, small):
    """A prepared TFDS imagenet2012 under `mirrored`: every batch of the training stream is made
    once (Keras would otherwise open the stream a second time to learn its shapes)."""
    trace = tmp_path / "trace.jsonl"
    env = {**ENV, faults.TRACE_ENV: str(trace)}
    args = [
        "--strategy=mirrored",
        "--cpu_devices=2",
        f"--data_dir={tfds_imagenet}",
        f"--workdir={tmp_path}/run",
        "--train_steps=4",
        "--mean=channel",
        *small,
    ]
    result = subprocess.run(
        [sys.executable, RECIPE, *args], capture_output=True, text=True, timeout=240, env=env, cwd=ROOT
    )
    assert result.returncode == 0, result.stderr[-2000:]
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert (metrics["replicas"], metrics["steps"]) == (2, 4)
    assert [row["val_images"] for row in json.loads((tmp_path / "run" / "history.json").read_text())] == [5, 5]
    made = [json.loads(line)["batch"] for line in trace.read_text().splitlines() if "batch" in json.loads(line)]
    # Per-replica batches of 2 from one pipeline: positions 0, 2, 4, ... each made once.
    assert sorted(made) == list(range(0, 2 * len(made), 2)) and len(made) >= 8


@pytest.mark.system
@pytest.mark.torch
@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="PyTorch is not installed")
def test_smoke_train_and_multiscale_eval_on_torch(tmp_path, image_folder, small):
    workdir = tmp_path / "run"
    args = [f"--image_folder={image_folder()}", f"--workdir={workdir}", "--mean=channel", *small]
    result = run("--train_steps=2", *args, backend="torch")
    assert result.returncode == 0, result.stderr[-2000:]
    metrics = json.loads((workdir / "metrics.json").read_text())
    assert (metrics["backend"], metrics["steps"]) == ("torch", 2)
    result = run("--mode=eval", "--eval_protocol=multiscale", *args, backend="torch")
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads((workdir / "eval_multiscale.json").read_text())["images"] == 12


def test_the_recipe_trains_evaluates_and_writes_its_outputs_in_process(tmp_path, image_folder, run_imagenet):
    """The one loop with the ImageNet task, as flax's `train_test.py`: 4 iterations in periods of 2
    on a folder of 3 classes, evaluated on its 12 validation images, its outputs written."""
    import numpy as np

    from keras_resnet.imagenet import sources

    lines = []
    metrics = run_imagenet(sources.folder_source(image_folder()), tmp_path / "run", lines, train_steps=4)
    assert (metrics["steps"], metrics["replicas"], metrics["skipped_train_images"]) == (4, 1, 0)
    history = json.loads((tmp_path / "run" / "history.json").read_text())
    assert [(row["step"], row["val_images"]) for row in history] == [(2, 12), (4, 12)]
    assert metrics["val_error"] == history[-1]["val_error"] and np.isfinite(metrics["loss"])
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == [
        "checkpoints", "curves.png", "history.csv", "history.json", "metrics.json", "model.keras", "pixel_mean.npy",
        "pixel_mean.npy.key.json", "run_config.json", "tensorboard",
    ]  # fmt: skip
    assert (
        lines[0]
        == "data: folder: 12 train and 12 val images, 3 classes; 32×32 crops of images resized to a shorter side in [36, 60]"
    )


def test_a_run_resumes_and_is_evaluated_only_on_the_class_folders_it_trained_on(
    tmp_path, image_folder, run_imagenet, kill_at
):
    """A folder of as many classes under other names labels the images otherwise: resuming the run
    on it, or evaluating its checkpoint on it, is refused in one line; its own folder evaluates."""
    import shutil

    from keras_resnet.errors import DataError, RecipeError
    from keras_resnet.imagenet import config, evaluation, sources

    renamed = tmp_path / "renamed"
    shutil.copytree(image_folder(), renamed)
    for split in ("train", "val"):  # Labels 0, 1, 2 become 2, 0, 1.
        (renamed / split / "n00000000").rename(renamed / split / "n00000009")
    own, other, workdir = sources.folder_source(image_folder()), sources.folder_source(str(renamed)), tmp_path / "run"
    kill_at("backup:1")
    with pytest.raises(kill_at.Killed):
        run_imagenet(own, workdir, train_steps=4, mean="channel")
    kill_at(None)
    with pytest.raises(
        RecipeError, match=r"other settings \(facts.class_names_sha256: '[0-9a-f]{16}' → '[0-9a-f]{16}'"
    ):
        run_imagenet(other, workdir, train_steps=4, mean="channel")
    cfg = config.imagenet(model="tiny", image_size=32, eval_resize=36, mean="channel")  # as trained
    with pytest.raises(DataError) as info:
        evaluation.evaluate_checkpoint(cfg, str(workdir), source=other, print_fn=lambda *a, **k: None)
    assert str(info.value) == (
        f"the 3 classes of the folder source are not those the run in --workdir {workdir} trained on "
        "(other class folder names, so other labels): evaluate on a folder of its classes"
    )
    assert not list(workdir.glob("eval_*"))
    result = evaluation.evaluate_checkpoint(cfg, str(workdir), source=own, print_fn=lambda *a, **k: None)
    assert result["images"] == 12


def test_the_quick_try_trains_at_the_papers_crop_size(tmp_path, image_folder, run_imagenet):
    """`--model=tiny` at the default 224-pixel crops and 256-pixel evaluation: one step and its
    evaluation (narrow layers at this size once crashed TensorFlow's oneDNN kernels)."""
    from keras_resnet.imagenet import config, sources

    paper = config.imagenet()
    run_imagenet(
        sources.folder_source(image_folder(classes=2, train=1, val=1)),
        tmp_path,
        image_size=paper.image_size,
        scale_range=paper.scale_range,
        eval_resize=paper.eval_resize,
        test_scales=(paper.image_size,),
        batch_size=2,
        train_steps=1,
        eval_every=1,
        mean="channel",
    )
    history = json.loads((tmp_path / "history.json").read_text())
    assert paper.image_size == 224 and [(row["step"], row["val_images"]) for row in history] == [(1, 2)]


def test_a_cached_mean_is_used_only_for_the_data_it_was_computed_from(tmp_path, image_folder, run_imagenet):
    """The per-pixel mean cached in a workdir is keyed by the data and its crop settings; a run
    with --overwrite on other data starts clean and subtracts that data's own mean."""
    import numpy as np

    from keras_resnet.imagenet import config, pixel_mean, sources, synthetic

    other = tmp_path / "other"
    synthetic.write_image_folder(str(other), classes=3, per_class={"train": 4, "val": 2}, shape=(48, 60), seed=7)
    first, second = sources.folder_source(image_folder()), sources.folder_source(str(other))
    cfg = config.imagenet(image_size=32, scale_range=(36, 60), eval_resize=36)
    means = [pixel_mean.compute_pixel_mean(s, cfg) for s in (first, second)]
    assert np.abs(means[0] - means[1]).max() > 10
    workdir = tmp_path / "run"
    for source, expected in zip((first, second), means):
        if source is second:  # A cache of the first run's data that this run's data does not use.
            (workdir / "record_counts.json").write_text("{}")
        run_imagenet(source, workdir, overwrite=True, train_steps=2)
        np.testing.assert_allclose(np.load(workdir / "pixel_mean.npy"), expected, atol=1e-4)
    assert not (workdir / "record_counts.json").exists()
    # The cache is read where it fits (a marked file comes back as it is), recomputed where the crops differ.
    np.save(workdir / "pixel_mean.npy", np.load(workdir / "pixel_mean.npy") + 1000)
    np.testing.assert_allclose(pixel_mean.cached_mean(second, cfg, str(workdir)), expected + 1000, atol=1e-3)
    larger = config.imagenet(image_size=34, scale_range=(36, 60), eval_resize=36)
    assert pixel_mean.cached_mean(second, larger, str(workdir)).shape == (34, 34, 3)
