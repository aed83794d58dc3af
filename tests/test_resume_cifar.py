"""The CIFAR recipe, SIGKILLed at each named point and rerun, ends identical to the same run left
alone: the same learning rate and batch (examples and crop/flip draws) at every iteration, the
same final weights bit for bit, the same history. TensorFlow (with op determinism) and JAX, CPU.

The run: resnet8 on 8×8 images, 16 iterations in periods of 4, rate ÷10 at 8 and 12, with
ResNet-110's warm-up (0.01 until the training error of the last 4 iterations, checked every 4, is
under a threshold; it
ends after iteration 5 here). One run is killed at each point in turn, each rerun resuming
from the last kill; the trace compares every iteration of every rerun with the uninterrupted run."""

import numpy as np
import pytest
import resume_checks

STEPS, PERIOD = 16, 4
DRIVER = """
import sys
from keras_resnet.cifar import config, datasets
from keras_resnet.cifar.task import CifarTask
from keras_resnet.training import loop
cfg = config.cifar10(model="resnet8", train_steps=16, eval_every=4, batch_size=8, validation_size=8,
                     warmup_min_depth=8, warmup_until_error=float(sys.argv[3]))
loop.train_and_evaluate(CifarTask(datasets.load(npz=sys.argv[2], validation_size=8)), cfg, sys.argv[1])
"""
# The kill points in the order one run meets them: name, `KERAS_RESNET_KILL_AT`, the iteration the
# rerun resumes from.
KILLS = [
    ("during the warm-up", "step:5", 4),
    ("after a backup", "backup:2", 8),
    ("inside a period", "step:10", 8),
    ("after the last iteration, before the outputs", "end", 16),
]
# The warm-up's threshold, so that it ends after iteration 5 (the kill inside it): the first
# iterations' errors differ between the backends, whose initial weights differ.
THRESHOLD = {"tensorflow": 0.6, "jax": 0.25}
BACKENDS = ["tensorflow", "jax"]


def _npz(path):
    # Learnable classes (one brighter channel each), so the training error falls through the threshold.
    rng = np.random.default_rng(0)
    arrays = {}
    for part, n in (("train", 40), ("test", 12)):
        y = np.arange(n) % 3
        x = rng.integers(0, 160, (n, 8, 8, 3)).astype("uint8")
        x[np.arange(n), :, :, y] += 90
        arrays[f"x_{part}"], arrays[f"y_{part}"] = x, y
    np.savez(path, **arrays)
    return str(path)


@pytest.mark.system
@pytest.mark.parametrize("backend", BACKENDS)
def test_a_run_killed_at_each_point_and_rerun_is_the_uninterrupted_run(tmp_path, backend):
    data = _npz(tmp_path / "d.npz")
    command = ["-c", DRIVER, "{workdir}", data, str(THRESHOLD[backend])]
    figures = resume_checks.check_resume_chain(command, backend, tmp_path, KILLS, STEPS, PERIOD, "resnet8")
    iterations, _ = resume_checks.read_trace(tmp_path / "reference" / "trace.jsonl")
    multipliers = [iterations[s][0]["multiplier"] for s in range(STEPS)]
    assert multipliers[5] == pytest.approx(0.1) and multipliers[-1] == 1.0  # The kill was inside the warm-up.
    assert figures["final"]["history rows"] == STEPS // PERIOD
    print(backend, figures)


SETTINGS = dict(train_steps=6, eval_every=2, batch_size=8)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, tiny_npz):
    """The CIFAR data of these tests and the run of `SETTINGS` left alone: `(data, workdir)`."""
    from keras_resnet.cifar import config, datasets
    from keras_resnet.cifar.task import CifarTask
    from keras_resnet.training import loop

    data = datasets.load(npz=tiny_npz(), validation_size=8)
    workdir = tmp_path_factory.mktemp("uninterrupted") / "run"
    loop.train_and_evaluate(
        CifarTask(data), config.cifar10(model="resnet8", **SETTINGS), str(workdir), print_fn=lambda *a, **k: None
    )
    return data, workdir


@pytest.mark.parametrize(
    "damage", ["latest cut in half", pytest.param("latest emptied", marks=pytest.mark.system), "both emptied"]
)
def test_a_damaged_backup_falls_back_to_the_previous_one_and_ends_as_the_uninterrupted_run(
    tmp_path, uninterrupted, kill_at, run_cifar, damage
):
    """A backup torn by a disk that lied (cut to half, or to 0 bytes): the rerun says so in one
    line, resumes from the previous backup (or from the start where none is whole), and ends as
    the run that was never killed, bit for bit."""
    import os

    from keras_resnet.training import backup

    data, reference = uninterrupted
    lines = []
    kill_at("backup:2")
    with pytest.raises(kill_at.Killed):
        run_cifar(data, tmp_path / "run", **SETTINGS)
    kill_at(None)
    folder = tmp_path / "run" / backup.BACKUP_DIR
    for name in [backup.BACKUP_WEIGHTS] + ([backup.PREVIOUS_WEIGHTS] if damage == "both emptied" else []):
        size = os.path.getsize(folder / name)
        os.truncate(folder / name, size // 2 if damage == "latest cut in half" else 0)
    run_cifar(data, tmp_path / "run", lines, **SETTINGS)
    said = [line for line in lines if line.startswith("backup ")]
    assert len(said) == 1 and said[0].endswith(
        "resuming from step 0: no whole backup is left"
        if damage == "both emptied"
        else "resuming from the previous backup, at step 2"
    ), lines
    assert f"{folder / backup.BACKUP_WEIGHTS} (" in said[0]
    resume_checks.compare_outputs(reference, tmp_path / "run")
