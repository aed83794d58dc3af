"""The ImageNet recipe, SIGKILLed at each named point and rerun, ends identical to the same run
left alone: the same learning rate (plateau cuts included) and batch (examples, crops, flips,
scales, lighting α) at every iteration, the same final weights bit for bit, the same history, on
TensorFlow (with op determinism) and JAX.

The run: the tiny net on a generated JPEG folder, 16 iterations in periods of 2, the rate ÷10
when the validation error has not improved for 3 evaluations; the error stays put here, so the
uninterrupted run cuts at the end of periods 4 and 7 (iterations 8 and 14). One run is killed at
each point in turn, each rerun resuming from the last kill; the trace compares every iteration
of every rerun with the uninterrupted run."""

import os

import pytest
import resume_checks

STEPS, PERIOD = 16, 2
RECIPE = os.path.join(resume_checks.ROOT, "recipes", "imagenet.py")
# On top of the small settings (`small_imagenet_flags`: batches of 4, periods of 2).
ARGS = ["--model=tiny", "--workdir={workdir}", f"--train_steps={STEPS}", "--mean=channel"]
# The kill points in the order one run meets them: name, `KERAS_RESNET_KILL_AT`, the iteration the
# rerun resumes from.
KILLS = [
    # Before its backup: the rerun replays period 4 from period 3's backup and must cut again.
    ("right after a plateau cut", "schedule:4", 6),
    # Where the backup used to precede the plateau callback: the cut must be in the backup.
    ("after the backup of a period with a cut", "backup:4", 8),
    # Inside period 6: the patience count (1 since the cut) must survive, or the cut at 7 moves.
    ("inside a period", "step:11", 10),
    ("after the last iteration, before the outputs", "end", 16),
]
# One chain per backend. A job of several processes resumes as the same run too, on any topology of as
# many replicas: `test_distribute_multi_worker.py`, `test_distribute_jax.py`, `test_cifar_distribute.py`.
VARIANTS = {"tensorflow": ("tensorflow", [], 1), "jax": ("jax", [], 1)}


@pytest.mark.system
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_a_run_killed_at_each_point_and_rerun_is_the_uninterrupted_run(
    tmp_path, image_folder, small_imagenet_flags, free_ports, variant
):
    backend, extra, processes = VARIANTS[variant]
    assert f"--eval_every={PERIOD}" in small_imagenet_flags
    command = [RECIPE, f"--image_folder={image_folder()}", *small_imagenet_flags, *ARGS, *extra]
    figures = resume_checks.check_resume_chain(
        command, backend, tmp_path, KILLS, STEPS, PERIOD, "tiny", processes=processes, free_ports=free_ports
    )
    iterations, _ = resume_checks.read_trace(tmp_path / "reference" / "trace.jsonl")
    rates = [round(iterations[s][0]["learning_rate"], 6) for s in range(STEPS)]
    assert rates == [0.1] * 8 + [0.01] * 6 + [0.001] * 2  # The cuts the kill points are placed around.
    assert figures["final"]["history rows"] == STEPS // PERIOD
    print(variant, figures)
