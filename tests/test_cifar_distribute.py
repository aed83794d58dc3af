"""The CIFAR recipe across processes: two TensorFlow workers (MultiWorkerMirroredStrategy,
TF_CONFIG) or two JAX processes (`keras.distribution`) are the same run as one process of two
devices: the same examples on each replica at every step, losses and evaluations equal to float
rounding, one set of outputs; and a run killed on two processes resumes on one of two devices.

The run: resnet8 on the tiny npz (31 training images after 9 held out for validation, 12 test
images), 4 iterations of batch 4 in periods of 2. The 9 validation images split 5 + 4 over two
processes, each padded to 3 batches of 2 with images of weight 0."""

import importlib.util
import json
import os
import subprocess
import sys

import pytest
import resume_checks

from keras_resnet.training import faults

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RECIPE = os.path.join(ROOT, "recipes", "cifar10.py")
BASE_ENV = {
    **{k: v for k, v in os.environ.items() if k not in ("TF_CONFIG", "XLA_FLAGS", faults.KILL_ENV, faults.TRACE_ENV)},
    "TF_CPP_MIN_LOG_LEVEL": "2",
    "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""),
}
# The outputs of a finished run, written by the chief into the workdir (`run.finish_run`, the callbacks).
OUTPUTS = {
    "checkpoints",
    "curves.png",
    "history.csv",
    "history.json",
    "metrics.json",
    "model.keras",
    "run_config.json",
}
EVALUATION = ("val_loss", "val_error", "val_images", "test_loss", "test_error", "test_images")

needs_jax = pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="jax is not installed")


def _command(workdir, data, strategy):
    return [
        sys.executable,
        RECIPE,
        "--model=resnet8",
        f"--data={data}",
        "--validation_size=9",
        "--batch_size=4",
        "--train_steps=4",
        "--eval_every=2",
        f"--strategy={strategy}",
        f"--workdir={workdir}",
    ]


def _process_env(backend, tmp_path, tag, index, ports, kill=None):
    """Process `index` of a two-process job on 127.0.0.1, traced to `tag<index>.trace`."""
    env = {**BASE_ENV, "KERAS_BACKEND": backend, faults.TRACE_ENV: str(tmp_path / f"{tag}{index}.trace")}
    env.update(resume_checks.job_env(backend, ports, index))  # On JAX, one CPU device each.
    if kill:
        env[faults.KILL_ENV] = kill
    return env


def _two_processes(backend, workdir, data, tmp_path, tag, ports, kill=None):
    """Runs the job as two processes; returns their exit codes and logs (`tag<i>.log`). With
    `kill`, the chief dies there and process 1 is then stopped (`resume_checks.stop`)."""
    command = _command(workdir, data, "multi_worker")
    processes = []
    for index in range(2):
        with open(tmp_path / f"{tag}{index}.log", "w") as log:
            env = _process_env(backend, tmp_path, tag, index, ports, kill if index == 0 else None)
            processes.append(subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT))
    codes = resume_checks.wait_job(processes, killed=bool(kill))
    return codes, [(tmp_path / f"{tag}{i}.log").read_text() for i in range(2)]


def _one_process(backend, workdir, data, tmp_path, tag, kill=None):
    """The same job as one process of two CPU devices (`mirrored` on TensorFlow, data parallel on
    JAX), traced to `tag.trace`."""
    env = {**BASE_ENV, "KERAS_BACKEND": backend, faults.TRACE_ENV: str(tmp_path / f"{tag}.trace")}
    if backend == "tensorflow":
        command = _command(workdir, data, "mirrored") + ["--cpu_devices=2"]
    else:
        command = _command(workdir, data, "auto")
        env["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"
    if kill:
        env[faults.KILL_ENV] = kill
    return subprocess.run(command, capture_output=True, text=True, timeout=240, env=env, cwd=ROOT)


def _examples(trace, steps=4):
    """Step → the training examples (rows of x_train) its batch held in this process, in order."""
    found = {}
    for entry in map(json.loads, trace.read_text().splitlines()):
        if "batch" in entry and entry["batch"] < steps:
            assert found.setdefault(entry["batch"], entry["examples"]) == entry["examples"]
    return found


def _history(workdir):
    return json.loads((workdir / "history.json").read_text())


def _assert_same_run(got, want):
    """The histories agree: steps, training loss to 1e-6, evaluations to 1e-5 (relative); returns
    the largest relative differences of the training and of the evaluation losses."""
    assert [r["step"] for r in got] == [r["step"] for r in want] == [2, 4]
    worst = {"loss": 0.0, "evaluation": 0.0}
    for mine, theirs in zip(got, want):
        assert mine["loss"] == pytest.approx(theirs["loss"], rel=1e-6)
        assert mine["train_error"] == theirs["train_error"]
        worst["loss"] = max(worst["loss"], abs(mine["loss"] / theirs["loss"] - 1))
        for key in EVALUATION:
            assert mine[key] == pytest.approx(theirs[key], rel=1e-5, abs=1e-6), key
        worst["evaluation"] = max(
            worst["evaluation"], *(abs(mine[k] / theirs[k] - 1) for k in ("val_loss", "test_loss"))
        )
    return worst


def _check_agreement(backend, tmp_path, data, ports):
    two, one = tmp_path / "two", tmp_path / "one"
    codes, logs = _two_processes(backend, two, data, tmp_path, "two", ports)
    assert codes == [0, 0], logs[0][-2000:] + logs[1][-2000:]
    result = _one_process(backend, one, data, tmp_path, "one")
    assert result.returncode == 0, result.stderr[-2000:]

    # Each step's batch of 4: process 0 took its first 2 examples, process 1 the last 2, as
    # replicas 0 and 1 of the one process did.
    whole = _examples(tmp_path / "one.trace")
    blocks = [_examples(tmp_path / f"two{i}.trace") for i in range(2)]
    assert sorted(whole) == sorted(blocks[0]) == sorted(blocks[1]) == [0, 1, 2, 3]
    for step, examples in whole.items():
        assert len(examples) == 4 and len(set(examples)) == 4
        assert [examples[:2], examples[2:]] == [blocks[0][step], blocks[1][step]]

    # The same losses and evaluations, every validation and test image counted once.
    history = _history(two)
    assert [(r["val_images"], r["test_images"]) for r in history] == [(9, 12), (9, 12)]
    worst = _assert_same_run(_history(one), history)
    # Process 1 ends with the chief's results, which it computed with it.
    finals = [[line.split("; ")[0] for line in log.splitlines() if line.startswith("Final: ")] for log in logs]
    assert finals[0] == finals[1] and len(finals[0]) == 1

    # One set of outputs: the chief's in the workdir, as the one process wrote them; process 1's
    # scratch space is gone.
    assert set(os.listdir(two)) - {"tensorboard"} == set(os.listdir(one)) - {"tensorboard"} == OUTPUTS
    metrics = json.loads((two / "metrics.json").read_text())
    assert metrics["model_file"] == str(two / "model.keras")
    assert json.loads((two / "run_config.json").read_text())["facts"]["replicas"] == 2
    print(f"{backend}: largest relative differences, two processes vs one of two devices: {worst}")
    return worst


@pytest.mark.system
def test_two_tensorflow_workers_are_one_process_of_two_devices(tmp_path, tiny_npz, free_ports):
    _check_agreement("tensorflow", tmp_path, tiny_npz(), free_ports(2))


@pytest.mark.system
@needs_jax
def test_two_jax_processes_are_one_process_of_two_devices(tmp_path, tiny_npz, free_ports):
    _check_agreement("jax", tmp_path, tiny_npz(), free_ports(2))


@pytest.mark.system
def test_a_run_killed_on_two_workers_resumes_on_one_process_of_two_devices(tmp_path, tiny_npz, free_ports):
    data = tiny_npz()
    reference = tmp_path / "whole"
    result = _one_process("tensorflow", reference, data, tmp_path, "whole")
    assert result.returncode == 0, result.stderr[-2000:]

    # The chief killed inside the second period (after iteration 3; the last backup is at 2), then
    # its peer.
    workdir = tmp_path / "run"
    kill = f"{faults.INSIDE_PERIOD}:3"
    codes, logs = _two_processes("tensorflow", workdir, data, tmp_path, "killed", free_ports(2), kill=kill)
    assert codes[0] == -9, logs[0][-2000:]
    assert [r["step"] for r in _history(workdir)] == [2]
    rerun = _one_process("tensorflow", workdir, data, tmp_path, "rerun")
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert f"Resuming resnet8 in {workdir} at step 2" in rerun.stdout
    # Iterations 3 and 4 replayed on the same examples as in the uninterrupted run.
    whole = _examples(tmp_path / "whole.trace")
    assert _examples(tmp_path / "rerun.trace") == {s: whole[s] for s in (2, 3)}
    worst = _assert_same_run(_history(workdir), _history(reference))
    print(f"tensorflow: largest relative differences, resumed vs uninterrupted: {worst}")
