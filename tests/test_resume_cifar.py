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
from keras_resnet.cifar import config, datasets, train
cfg = config.cifar10(train_steps=16, eval_every=4, batch_size=8, validation_size=8, warmup_min_depth=8,
                     warmup_until_error=float(sys.argv[3]))
train.train_and_evaluate(cfg, sys.argv[1], model_name="resnet8", data=datasets.load(npz=sys.argv[2], validation_size=8))
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


@pytest.mark.slow
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
