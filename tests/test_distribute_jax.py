"""Data parallelism on the JAX backend (`keras.distribution.DataParallel`) over two host devices."""

import importlib.util
import json
import os
import subprocess
import sys

import pytest
import resume_checks

pytestmark = pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="jax is not installed")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = {
    **os.environ,
    "KERAS_BACKEND": "jax",
    "TF_CPP_MIN_LOG_LEVEL": "2",
    "XLA_FLAGS": "--xla_force_host_platform_device_count=2",
    "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""),
}

PROBE = """
import keras, numpy as np
import keras_resnet
from keras_resnet.training import distribute
resolved = distribute.resolve("auto")
with resolved.scope():
    model = keras_resnet.build_network("imagenet", stages=(1, 1), widths=(8, 16), input_shape=(32, 32, 3), classes=3)
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
kernel = model.get_layer("conv1_conv").kernel.value
model.fit(np.zeros((8, 32, 32, 3), "float32"), np.zeros(8, "int32"), batch_size=4, epochs=1, verbose=0)
print(resolved.name, resolved.num_replicas, len(kernel.sharding.device_set))
"""


@pytest.mark.system
def test_auto_strategy_replicates_the_model_over_all_local_devices():
    result = subprocess.run([sys.executable, "-c", PROBE], env=ENV, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split()[-3:] == ["data_parallel(auto)", "2", "2"]


@pytest.mark.system
def test_imagenet_recipe_trains_data_parallel_on_jax(tmp_path, image_folder, small_imagenet_flags):
    # 9 validation images in batches of 4: the last batch has 1 image for the 2 devices.
    args = [
        "--model=tiny",
        *small_imagenet_flags,
        "--train_steps=4",
        f"--image_folder={image_folder(val=3)}",
        f"--workdir={tmp_path / 'run'}",
    ]
    result = subprocess.run(
        [sys.executable, os.path.join(ROOT, "recipes", "imagenet.py"), *args],
        env=ENV,
        capture_output=True,
        text=True,
        timeout=240,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.load(open(tmp_path / "run" / "metrics.json"))
    assert (metrics["backend"], metrics["strategy"], metrics["replicas"], metrics["steps"]) == (
        "jax",
        "data_parallel(auto)",
        2,
        4,
    )
    assert [row["val_images"] for row in json.load(open(tmp_path / "run" / "history.json"))] == [9, 9]


def _recipe(workdir, image_folder, small_imagenet_flags, strategy):
    return [
        sys.executable,
        os.path.join(ROOT, "recipes", "imagenet.py"),
        "--model=tiny",
        *small_imagenet_flags,
        "--train_steps=4",
        f"--strategy={strategy}",
        f"--image_folder={image_folder(val=3)}",
        f"--workdir={workdir}",
    ]


def _two_processes(command, tmp_path, tag, ports, kill=None):
    """A two-process JAX job on 127.0.0.1 (one CPU device each, gloo collectives), joined through
    Keras' variables; each process traced to `tag<i>.trace`, logged to `tag<i>.log`."""
    from keras_resnet.training import faults

    processes = []
    for index in range(2):
        env = {k: v for k, v in ENV.items() if k not in ("XLA_FLAGS", faults.KILL_ENV)}
        env.update(
            resume_checks.job_env("jax", ports, index), **{faults.TRACE_ENV: str(tmp_path / f"{tag}{index}.trace")}
        )
        if kill and index in kill:
            env[faults.KILL_ENV] = kill[index]
        with open(tmp_path / f"{tag}{index}.log", "w") as log:
            processes.append(subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT))
    return processes


def _one_process(command, tmp_path, tag, kill=None):
    """The job as one process of two CPU devices, traced to `tag.trace`, killed at `kill`."""
    from keras_resnet.training import faults

    env = {**ENV, faults.TRACE_ENV: str(tmp_path / f"{tag}.trace")}
    env.pop(faults.KILL_ENV, None)
    if kill:
        env[faults.KILL_ENV] = kill
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=240, cwd=ROOT)


def _examples(*traces, below=16):
    """Stream position → example, for the positions of the first steps the pipelines gave."""
    examples = {}
    for path in traces:
        for entry in map(json.loads, path.read_text().splitlines()):
            if "batch" in entry:
                examples.update(
                    (entry["batch"] + i, e) for i, e in enumerate(entry["examples"]) if entry["batch"] + i < below
                )
    return examples


def _history(workdir):
    return json.loads((workdir / "history.json").read_text())


@pytest.mark.system
def test_two_jax_processes_are_one_process_of_two_devices_and_resume_after_a_kill_on_any_topology(
    tmp_path, image_folder, small_imagenet_flags, free_ports
):
    from keras_resnet.training import faults

    # Two processes, each one CPU device, joined by keras.distribution.initialize().
    two = tmp_path / "two"
    processes = _two_processes(
        _recipe(two, image_folder, small_imagenet_flags, "multi_worker"), tmp_path, "two", free_ports(2)
    )
    codes = resume_checks.wait_job(processes, 300)
    logs = [(tmp_path / f"two{i}.log").read_text() for i in range(2)]
    assert codes == [0, 0], logs[0][-2000:] + logs[1][-2000:]
    metrics = json.loads((two / "metrics.json").read_text())
    assert (metrics["strategy"], metrics["replicas"]) == ("data_parallel(multi_worker)", 2)
    # The mean computed once for the job; the chief alone writes the run's files.
    assert all("pixel mean: 6 training images here, 12 over 2 workers" in log for log in logs)
    assert not (two / "workers").exists()  # Process 1 wrote in scratch space of its own, now gone.

    # The same job in one process of two devices: the same batches on each replica, the same losses.
    one = tmp_path / "one"
    result = _one_process(_recipe(one, image_folder, small_imagenet_flags, "auto"), tmp_path, "one")
    assert result.returncode == 0, result.stderr[-2000:]
    # Process 0 took the first half of each global batch of 4, process 1 the second.
    positions = {i: sorted(_examples(tmp_path / f"two{i}.trace")) for i in range(2)}
    assert positions == {0: [0, 1, 4, 5, 8, 9, 12, 13], 1: [2, 3, 6, 7, 10, 11, 14, 15]}
    assert _examples(tmp_path / "one.trace") == _examples(tmp_path / "two0.trace", tmp_path / "two1.trace")
    expected = _history(two)
    assert [r["step"] for r in _history(one)] == [r["step"] for r in expected] == [2, 4]
    for got, want in zip(_history(one), expected):
        assert got["loss"] == pytest.approx(want["loss"], rel=1e-6)
        assert got["val_images"] == want["val_images"] == 9
        assert got["val_error"] == pytest.approx(want["val_error"], abs=1e-6)

    # Process 1 killed after its backup of period 1; the job restarted: it ends as the uninterrupted one.
    killed = tmp_path / "killed"
    command = _recipe(killed, image_folder, small_imagenet_flags, "multi_worker")
    first = _two_processes(command, tmp_path, "first", free_ports(2), kill={1: f"{faults.AFTER_BACKUP}:1"})
    assert first[1].wait(timeout=300) == -9, (tmp_path / "first1.log").read_text()[-2000:]
    try:
        first[0].wait(timeout=20)
    except subprocess.TimeoutExpired:
        first[0].kill()  # Waiting in a collective for its peer: a cluster manager restarts the job.
        first[0].wait()
    again = _two_processes(command, tmp_path, "again", free_ports(2))
    assert resume_checks.wait_job(again, 300) == [0, 0], (tmp_path / "again0.log").read_text()[-2000:]
    assert f"Resuming tiny in {killed} at step 2" in (tmp_path / "again0.log").read_text()
    for got, want in zip(_history(killed), expected, strict=True):
        assert (got["step"], got["loss"]) == (want["step"], pytest.approx(want["loss"], rel=1e-6))

    # Another topology of as many replicas: killed on two processes, rerun as one of two devices
    # (the reverse, one process rerun on two, is the TensorFlow workers' test): it ends as the
    # uninterrupted run.
    two_one = tmp_path / "two_one"
    first = _two_processes(
        _recipe(two_one, image_folder, small_imagenet_flags, "multi_worker"),
        tmp_path,
        "two_one",
        free_ports(2),
        kill={0: f"{faults.AFTER_BACKUP}:1"},
    )
    assert resume_checks.wait_job(first, 300, killed=True)[0] == -9, (tmp_path / "two_one0.log").read_text()[-2000:]
    rerun = _one_process(_recipe(two_one, image_folder, small_imagenet_flags, "auto"), tmp_path, "two_one_rerun")
    assert rerun.returncode == 0 and f"Resuming tiny in {two_one} at step 2" in rerun.stdout, rerun.stderr[-2000:]
    for got, want in zip(_history(two_one), expected, strict=True):
        assert (got["step"], got["loss"]) == (want["step"], pytest.approx(want["loss"], rel=1e-6))
        assert got["val_error"] == pytest.approx(want["val_error"], abs=1e-6)
