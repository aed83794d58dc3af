"""One job at a time in a workdir (`training.lock`): a second launch stops in one line naming the
holder, before it writes anything; a lock whose holder is gone does not block a rerun."""

import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from keras_resnet.training import lock

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def cifar_run(tiny_npz, run_cifar):
    from keras_resnet.cifar import datasets

    data = datasets.load(npz=tiny_npz(), validation_size=8)
    return lambda workdir: run_cifar(data, workdir, train_steps=4, eval_every=2, batch_size=8)


def _write_lock(workdir, **holder):
    os.makedirs(workdir, exist_ok=True)
    path = os.path.join(workdir, lock.LOCK_FILE)
    with open(path, "w") as f:
        json.dump({**lock.identity(), **holder}, f)
    return path


def test_a_run_refuses_a_workdir_another_live_run_holds_and_writes_nothing(tmp_path, cifar_run):
    held = lock.WorkdirLock(str(tmp_path))
    held.acquire()
    try:
        with pytest.raises(lock.LockedError) as error:
            cifar_run(tmp_path)
    finally:
        held.release()
    message = str(error.value)
    assert "\n" not in message and message.startswith(
        f"--workdir {tmp_path} is in use by another run (pid {os.getpid()} "
    )
    assert sorted(os.listdir(tmp_path)) == [] and not os.path.exists(tmp_path / "run_config.json")


def test_the_lock_of_a_dead_process_is_taken_over_and_a_finished_run_leaves_none(tmp_path, cifar_run):
    gone = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(0.2)"])
    started = lock.started_ticks(gone.pid)
    gone.wait()
    _write_lock(str(tmp_path), pid=gone.pid, started=started)
    metrics = cifar_run(tmp_path)
    assert metrics["steps"] == 4 and not os.path.exists(tmp_path / lock.LOCK_FILE)


def test_a_lock_from_another_machine_holds_while_its_heartbeat_is_fresh(tmp_path):
    path = _write_lock(str(tmp_path), host="other-host", boot="another-boot", pid=1, started=5)
    with pytest.raises(lock.LockedError, match=r"\(pid 1 on other-host since "):
        lock.WorkdirLock(str(tmp_path)).acquire()
    past = time.time() - lock.STALE_SECONDS - 5
    os.utime(path, (past, past))
    taker = lock.WorkdirLock(str(tmp_path))
    taker.acquire()
    assert json.load(open(path))["pid"] == os.getpid() and json.load(open(path))["host"] == socket.gethostname()
    taker.release()
    assert not os.path.exists(path)


def test_a_held_lock_is_kept_fresh_by_its_heartbeat(tmp_path, monkeypatch):
    monkeypatch.setattr(lock, "HEARTBEAT_SECONDS", 0.05)
    held = lock.WorkdirLock(str(tmp_path))
    held.acquire()
    past = time.time() - 1000
    os.utime(held.path, (past, past))
    deadline = time.monotonic() + 30  # A wait, not a timing: the beat comes as soon as its thread runs.
    while os.stat(held.path).st_mtime == past and time.monotonic() < deadline:
        time.sleep(0.05)
    touched = os.stat(held.path).st_mtime
    held.release()
    assert touched > past + 900


@pytest.mark.system
def test_a_second_launch_into_a_running_workdir_stops_in_one_line_and_the_first_run_is_whole(tmp_path, tiny_npz):
    """Two real launches of the recipe into one workdir: the second says who holds it and exits
    with status 2; the first ends with every period in its history."""
    args = [
        sys.executable,
        os.path.join(ROOT, "recipes", "cifar10.py"),
        "--model=resnet8",
        "--batch_size=8",
        "--validation_size=8",
        "--train_steps=400",
        "--eval_every=100",
        f"--npz={tiny_npz()}",
        f"--workdir={tmp_path / 'run'}",
    ]
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "PYTHONPATH": ROOT}
    first = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not (tmp_path / "run" / "history.json").exists() and time.time() < deadline and first.poll() is None:
        time.sleep(0.2)
    os.kill(first.pid, signal.SIGSTOP)  # Held mid-run, however fast it trains, while the second launches.
    try:
        second = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120)
    finally:
        os.kill(first.pid, signal.SIGCONT)
    out, err = first.communicate(timeout=300)
    assert first.returncode == 0, err[-2000:]
    assert second.returncode == 2 and second.stderr.strip().splitlines()[-1].startswith(
        f"error: --workdir {tmp_path / 'run'} is in use by another run (pid {first.pid} "
    ), second.stderr[-2000:]
    history = json.load(open(tmp_path / "run" / "history.json"))
    assert [row["step"] for row in history] == [100, 200, 300, 400]
    assert json.load(open(tmp_path / "run" / "metrics.json"))["steps"] == 400
