"""MultiWorkerMirroredStrategy with Keras 3 `fit`: the reduce fix (keras-team/keras issue 20585)."""

import json
import os
import subprocess
import sys
import types

import numpy as np
import pytest
import resume_checks

from keras_resnet.imagenet import config, cropping, sources
from keras_resnet.training import faults, multi_worker

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RECIPE = os.path.join(ROOT, "recipes", "imagenet.py")


def test_fix_is_needed_on_the_installed_keras():
    # Fails once Keras no longer calls reduce(axis=0) on scalars: then drop the patch's scalar part.
    assert multi_worker.reduce_fix_needed()


def test_patch_reduces_scalars_with_axis_none_and_keeps_axis_for_tensors():
    calls = []
    fake = types.SimpleNamespace(
        reduce=lambda op, value, axis=None: calls.append(axis) or value,
        experimental_local_results=lambda value: (value,),
    )
    multi_worker.patch_reduce(fake)
    multi_worker.patch_reduce(fake)  # Once only.
    import tensorflow as tf

    fake.reduce("MEAN", tf.constant(1.0), axis=0)
    fake.reduce("MEAN", tf.constant([1.0, 2.0]), axis=0)
    assert calls == [None, 0]


def test_patch_passes_uint8_leaves_of_a_data_batch_through_and_reduces_the_others():
    calls = []
    fake = types.SimpleNamespace(
        reduce=lambda op, value, axis=None: calls.append(value.dtype.name) or value * 0,
        experimental_local_results=lambda value: (value,),
    )
    multi_worker.patch_reduce(fake, scalars=False)
    import tensorflow as tf

    images = tf.constant([[7, 9]], tf.uint8)
    ((x, y),) = [fake.reduce("MEAN", ({"image": images, "alpha": tf.constant([0.5])}, tf.constant([3])), axis=None)]
    assert x["image"] is images and calls == ["float32", "int32"]
    assert x["alpha"].numpy().tolist() == [0.0] and y.numpy().tolist() == [0]


def _start_workers(command, tmp_path, ports, tag="worker", kill=None, trace=False):
    """Starts one process per worker of a two-worker cluster on 127.0.0.1; logs to `tag<i>.log`.
    `kill`: worker index → where it kills itself (`faults.KILL_ENV`); `trace`: each worker traces
    its batches to `tag<i>.trace` (`faults.TRACE_ENV`)."""
    processes = []
    for index in range(2):
        env = {
            **os.environ,
            "TF_CPP_MIN_LOG_LEVEL": "2",
            "KERAS_BACKEND": "tensorflow",
            **resume_checks.job_env("tensorflow", ports, index),
        }
        env.pop(faults.KILL_ENV, None)
        env.pop(faults.TRACE_ENV, None)
        if trace:
            env[faults.TRACE_ENV] = str(tmp_path / f"{tag}{index}.trace")
        if kill and index in kill:
            env[faults.KILL_ENV] = kill[index]
        with open(tmp_path / f"{tag}{index}.log", "w") as log:
            processes.append(subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT))
    return processes


def _workers(command, tmp_path, ports, timeout, tag="worker", **options):
    codes = resume_checks.wait_job(_start_workers(command, tmp_path, ports, tag, **options), timeout)
    return codes, [(tmp_path / f"{tag}{i}.log").read_text() for i in range(2)]


def _one_process(command, tmp_path, tag, kill=None):
    """The same job as one process with two logical CPUs (mirrored), traced to `tag.trace`."""
    command = [a for a in command if not a.startswith("--strategy")] + ["--strategy=mirrored", "--cpu_devices=2"]
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CONFIG", faults.KILL_ENV)}
    env.update(
        TF_CPP_MIN_LOG_LEVEL="2", KERAS_BACKEND="tensorflow", **{faults.TRACE_ENV: str(tmp_path / f"{tag}.trace")}
    )
    if kill:
        env[faults.KILL_ENV] = kill
    return subprocess.run(command, capture_output=True, text=True, timeout=240, env=env, cwd=ROOT)


def _batches(*traces):
    """The training batches the traces recorded, by the stream position of their first example."""
    batches = {}
    for path in traces:
        for line in path.read_text().splitlines():
            entry = json.loads(line)
            if "batch" in entry:
                batches[entry["batch"]] = (entry["fingerprint"], entry["examples"])
    return batches


def _losses(workdir):
    return [(r["step"], r["loss"]) for r in json.loads((workdir / "history.json").read_text())]


def _records(directory):
    """TFRecords of the tiny job's size: 12 training images in 3 files, 9 validation images."""
    from keras_resnet.imagenet import synthetic

    if not os.path.isdir(directory):
        synthetic.write_tfrecords(str(directory), "train", [[0, 1, 2, 0], [1, 2, 0, 1], [2, 0, 1, 2]])
        synthetic.write_tfrecords(str(directory), "validation", [[0, 1, 2], [1, 2, 0], [2, 0, 1]], seed=1)
    return [f"--tfrecords={directory}", "--classes=3"]


def _tiny_job(tmp_path, image_folder, small_imagenet_flags, train_steps, name="run", mean="channel", records=False):
    """The recipe's command for a tiny multi-worker job on a generated folder (or TFRecords), and
    its workdir."""
    # 9 validation images in batches of 4: the last batch has 1 image for the 2 workers.
    workdir = tmp_path / name
    command = [
        sys.executable,
        RECIPE,
        "--strategy=multi_worker",
        "--model=tiny",
        *(_records(tmp_path / "records") if records else [f"--image_folder={image_folder(val=3)}"]),
        f"--workdir={workdir}",
        *small_imagenet_flags,
        f"--train_steps={train_steps}",
        f"--mean={mean}",
    ]
    return command, workdir


@pytest.mark.system
def test_two_workers_train_with_fit_and_agree(tmp_path, image_folder, small_imagenet_flags, free_ports):
    command, workdir = _tiny_job(tmp_path, image_folder, small_imagenet_flags, train_steps=4, mean="pixel")
    codes, logs = _workers(command, tmp_path, free_ports(2), timeout=240, trace=True)
    assert codes == [0, 0], logs[0][-1500:] + logs[1][-1500:]

    # The per-pixel mean computed once for the job: each worker decodes half the 12 training
    # images; the chief alone writes it, and it is the mean of all the centre crops.
    assert all("pixel mean: 6 training images here, 12 over 2 workers" in log for log in logs)
    assert not (workdir / "workers").exists()  # Process 1 wrote in scratch space of its own, now gone.
    source = sources.folder_source(image_folder(val=3))
    cfg = config.imagenet(image_size=32, eval_resize=36)  # As small_imagenet_flags.
    crops = np.array([cropping.eval_image(e, cfg).numpy() for e, _ in source.examples("train")], np.float64)
    np.testing.assert_allclose(np.load(workdir / "pixel_mean.npy"), crops.mean(axis=0), atol=1e-4)

    # The same job as one process of two devices: each replica takes the same batches (crops,
    # lighting, labels), and the losses agree to float rounding.
    one, one_workdir = _tiny_job(tmp_path, image_folder, small_imagenet_flags, train_steps=4, name="one", mean="pixel")
    result = _one_process(one, tmp_path, "one")
    assert result.returncode == 0, result.stderr[-1500:]
    # The batches of the 4 steps (the pipelines read ahead): replica batches of 2, the global batch is 4.
    two_processes = {
        k: v for k, v in _batches(tmp_path / "worker0.trace", tmp_path / "worker1.trace").items() if k < 16
    }
    assert sorted(two_processes) == [0, 2, 4, 6, 8, 10, 12, 14]
    assert {k: v for k, v in _batches(tmp_path / "one.trace").items() if k < 16} == two_processes
    steps, losses = zip(*_losses(workdir))
    assert _losses(one_workdir) == [(s, pytest.approx(x, rel=1e-6)) for s, x in zip(steps, losses)]
    chief = json.loads((workdir / "history.json").read_text())
    assert [r["step"] for r in chief] == [2, 4]
    finals = [[line.split("; ")[0] for line in log.splitlines() if line.startswith("Final: ")] for log in logs]
    assert finals[0] == finals[1] and len(finals[0]) == 1  # Process 1 ends with the chief's results.
    assert json.loads((workdir / "metrics.json").read_text())["replicas"] == 2
    # Each worker decodes its share of the 9 validation images; each counts once over the two,
    # as in one process.
    assert [r["val_images"] for r in chief] == [9, 9]
    one_history = json.loads((one_workdir / "history.json").read_text())
    assert [r["val_images"] for r in one_history] == [9, 9]
    assert [r["val_error"] for r in one_history] == [pytest.approx(r["val_error"], abs=1e-6) for r in chief]
    assert [r["val_loss"] for r in one_history] == [pytest.approx(r["val_loss"], rel=1e-5) for r in chief]
    # The BN moving statistics are the job's, not the chief's own: those of one process (to rounding).
    checkpoint = os.path.join("checkpoints", "last_good.weights.h5")
    weights = [resume_checks.read_weights(d / checkpoint) for d in (workdir, one_workdir)]
    assert all(np.allclose(weights[0][k], weights[1][k], rtol=1e-5, atol=1e-6) for k in weights[0])
    # The validation during training is the centre-crop test of the whole split.
    evaluate = [a for a in command if not a.startswith("--strategy")] + ["--mode=eval", "--eval_protocol=center"]
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    result = subprocess.run(
        evaluate, capture_output=True, text=True, timeout=120, env={**env, "KERAS_BACKEND": "tensorflow"}, cwd=ROOT
    )
    assert result.returncode == 0, result.stderr[-1500:]
    center = json.loads((workdir / "eval_center.json").read_text())
    assert center["images"] == 9 and center["top1_error"] == pytest.approx(chief[-1]["val_error"], abs=1e-6)


UNPATCHED = """
import numpy as np, tensorflow as tf, keras
strategy = tf.distribute.MultiWorkerMirroredStrategy()
with strategy.scope():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
model.fit(np.ones((8, 4), "float32"), np.zeros(8, "int32"), batch_size=4, epochs=1, verbose=0)
print("TRAINED")
"""


@pytest.mark.system
def test_unpatched_multi_worker_fit_fails(tmp_path, free_ports):
    codes, logs = _workers([sys.executable, "-c", UNPATCHED], tmp_path, free_ports(2), timeout=120)
    assert codes != [0, 0] and "TRAINED" not in logs[0]
    assert any("Invalid reduction dimension" in log or "PerReplica" in log for log in logs)


@pytest.mark.system
def test_a_killed_worker_is_restarted_and_the_job_continues_from_the_backups(
    tmp_path, image_folder, small_imagenet_flags, free_ports
):
    import signal

    command, workdir = _tiny_job(tmp_path, image_folder, small_imagenet_flags, train_steps=8)
    ports = free_ports(2)
    # Worker 1 dies (SIGKILL, as a preempted machine) right after its backup of period 2 of 4;
    # its peer then fails (or hangs) in a collective.
    first = _start_workers(command, tmp_path, ports, "first", kill={1: f"{faults.AFTER_BACKUP}:2"})
    assert first[1].wait(timeout=240) == -signal.SIGKILL, (tmp_path / "first1.log").read_text()[-1500:]
    try:
        first[0].wait(timeout=10)
    except subprocess.TimeoutExpired:
        first[0].kill()  # a cluster manager restarts the whole job
        first[0].wait()
    assert first[0].returncode != 0  # the job did not finish: it was cut short
    # Read once the chief is gone: it may still have been writing its backup of period 2.
    backup = workdir / "backup" / "training_metadata.json"
    assert backup.exists(), (tmp_path / "first0.log").read_text()[-1500:]
    resumed_at = json.loads(backup.read_text())["epoch"] * 2

    again = _start_workers(command, tmp_path, ports, "again")
    codes = resume_checks.wait_job(again, 300)
    logs = [(tmp_path / f"again{i}.log").read_text() for i in range(2)]
    assert codes == [0, 0], logs[0][-1500:] + logs[1][-1500:]
    assert f"Resuming tiny in {workdir} at step {resumed_at}" in logs[0]
    history = json.loads((workdir / "history.json").read_text())
    assert [r["step"] for r in history] == [2, 4, 6, 8]  # one row per period, none lost or doubled


@pytest.mark.system
def test_a_run_resumes_on_another_topology_of_as_many_replicas(
    tmp_path, image_folder, small_imagenet_flags, free_ports
):
    """Killed on two workers, rerun as one process of two devices, and the reverse: each ends as
    the uninterrupted run of the topology it began on, to float rounding. From TFRecords: one
    process reads them file by file, each of two workers its own records at their offsets."""

    def job(name):
        return _tiny_job(tmp_path, image_folder, small_imagenet_flags, train_steps=4, name=name, records=True)

    uninterrupted, reference = job("whole")
    assert _one_process(uninterrupted, tmp_path, "whole").returncode == 0
    expected = [(s, pytest.approx(x, rel=1e-6)) for s, x in _losses(reference)]

    two_then_one, workdir = job("two_one")
    first = _start_workers(
        two_then_one,
        tmp_path,
        free_ports(2),
        "killed",
        kill={0: f"{faults.AFTER_BACKUP}:1"},
    )
    assert resume_checks.wait_job(first, killed=True)[0] == -9, (tmp_path / "killed0.log").read_text()[-1500:]
    rerun = _one_process(two_then_one, tmp_path, "rerun")
    assert rerun.returncode == 0, rerun.stderr[-1500:]
    assert f"Resuming tiny in {workdir} at step 2" in rerun.stdout
    assert _losses(workdir) == expected

    one_then_two, workdir = job("one_two")
    killed = _one_process(one_then_two, tmp_path, "killed_one", kill=f"{faults.AFTER_BACKUP}:1")
    assert killed.returncode == -9, killed.stderr[-1500:]
    codes, logs = _workers(one_then_two, tmp_path, free_ports(2), timeout=240, tag="again")
    assert codes == [0, 0], logs[0][-1500:] + logs[1][-1500:]
    assert f"Resuming tiny in {workdir} at step 2" in logs[0]
    assert f"Resuming tiny in {workdir} at step 2" in logs[1]
    assert _losses(workdir) == expected
    # The chief learnt the records' offsets and keeps them in the workdir; process 1 wrote nothing.
    assert (workdir / "record_offsets.npz").exists() and not (workdir / "workers").exists()
