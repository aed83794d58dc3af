"""The CIFAR recipe, SIGKILLed at each named point and rerun, ends identical to the same run left
alone: the same learning rate and batch (examples and crop/flip draws) at every iteration, the
same final weights bit for bit, the same history. TensorFlow (with op determinism) and JAX, CPU.

The run: resnet8 on 8×8 images, 16 iterations in periods of 4, rate ÷10 at 8 and 12, with
ResNet-110's warm-up (0.01 until the period's running training error is under 60%; it ends at
iteration 6 here)."""

import os

import numpy as np
import pytest

import resume_checks

STEPS, PERIOD, BATCH = 16, 4, 8
DRIVER = """
import sys
from keras_resnet.training import cifar_data, config, train
cfg = config.cifar10(train_steps=16, eval_every=4, batch_size=8, validation_size=8, warmup_min_depth=8,
                     warmup_until_error=0.6)
train.train_and_evaluate(cfg, sys.argv[1], model_name="resnet8", data=cifar_data.load(npz=sys.argv[2], validation_size=8))
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


def _last_iteration(kill):
    where, _, count = kill.partition(":")
    return {"step": lambda n: n - 1, "backup": lambda n: n * PERIOD - 1, "end": lambda n: STEPS - 1}[where](int(count or 0))


def check_resume_chain(command, backend, tmp_path, kills, steps, rerun_line):
    """Runs `command` uninterrupted and killed at each of `kills`; asserts each rerun is the
    uninterrupted run, iteration by iteration; returns the figures per kill point."""
    reference = tmp_path / "reference"
    resume_checks.run(command, reference / "run", reference / "trace.jsonl", backend)
    workdir, traces = tmp_path / "run", tmp_path / "traces"
    traces.mkdir()
    chain = resume_checks.run_chain(command, workdir, str(traces), backend, [k for _, k, _ in kills])
    figures, start = {}, 0
    for index, (_, _, trace) in enumerate(chain):
        name, kill, resumed_at = kills[index] if index < len(kills) else ("final rerun", None, None)
        ran, batches = resume_checks.check_segment(reference / "trace.jsonl", trace)
        last = _last_iteration(kill) if kill else steps - 1
        assert ran == list(range(start, last + 1)), f"{name}: ran iterations {ran[:1]}…{ran[-1:]}, expected {start}…{last}"
        if index:
            figures[kills[index - 1][0]] = {"iterations compared": len(ran), "batches compared": batches}
        if kill:
            start = resumed_at
            result = chain[index + 1][1]
            assert rerun_line(resumed_at) in result.stdout, f"{name}: the rerun did not resume at {resumed_at}"
    figures["final"] = dict(zip(("max weight difference", "history rows"),
                                resume_checks.compare_outputs(reference / "run", workdir)))
    return figures


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_run_killed_at_each_point_and_rerun_is_the_uninterrupted_run(tmp_path, backend):
    data = _npz(tmp_path / "d.npz")
    command = ["-c", DRIVER.replace("0.6", str(THRESHOLD[backend])), "{workdir}", data]
    figures = check_resume_chain(command, backend, tmp_path, KILLS, STEPS, _rerun_line)
    iterations, _ = resume_checks.read_trace(tmp_path / "reference" / "trace.jsonl")
    multipliers = [iterations[s][0]["multiplier"] for s in range(STEPS)]
    assert multipliers[5] == pytest.approx(0.1) and multipliers[-1] == 1.0  # The kill was inside the warm-up.
    assert figures["final"]["history rows"] == STEPS // PERIOD
    print(backend, figures)


def _rerun_line(step):
    return f"finished training at step {step}" if step == STEPS else f"Resuming resnet8 in"
