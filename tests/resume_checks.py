"""Shared helpers of the exact-resume tests: run a recipe in a child process (traced, optionally
killed at a named point), and compare a killed-then-rerun workdir with an uninterrupted one on
the four items of the resume guarantee: the learning rate of every iteration, every batch (its
examples and augmentation draws), the final weights, and the history.

The processes of one chain share a JAX compilation cache (`cache`), so that on JAX only the
first compiles: the cache holds XLA's executables for the same programs, which compute the same
numbers, and the chain checks them bit for bit against the uninterrupted run all the same."""

import json
import os
import signal
import subprocess
import sys

import h5py
import numpy as np

from keras_resnet.training import faults

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def peer_trace(trace, index):
    """The trace of process `index` of a job whose chief traces to `trace`."""
    return trace if index == 0 else f"{trace}.{index}"


def job_env(backend, ports, index):
    """The variables that make a process the `index`-th of a job of `len(ports)` processes on
    127.0.0.1: `TF_CONFIG` (TensorFlow workers) or Keras' `KERAS_DISTRIBUTION_*` (JAX, one CPU
    device each)."""
    if backend == "tensorflow":
        cluster = {"worker": [f"127.0.0.1:{port}" for port in ports]}
        return {"TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})}
    return {
        "KERAS_DISTRIBUTION_JOB_ADDRESSES": ",".join(f"127.0.0.1:{port}" for port in ports),
        "KERAS_DISTRIBUTION_NUM_PROCESSES": str(len(ports)),
        "KERAS_DISTRIBUTION_PROCESS_ID": str(index),
    }


def start_job(command, workdir, trace, backend, kill=None, cache=None, ports=None):
    """`start` for each process of a job on 127.0.0.1 (one per port; one process without
    `ports`), the chief (process 0) killed at `kill`; returns the processes (`finish_job`)."""
    if not ports:
        return [start(command, workdir, trace, backend, kill, cache)]
    return [
        start(
            command, workdir, peer_trace(trace, i), backend, kill if i == 0 else None, cache, job_env(backend, ports, i)
        )
        for i in range(len(ports))
    ]


def finish_job(processes, timeout=240):
    """`finish` for each process of a job. Where the chief died at its kill point, the others are
    stopped (SIGKILL) as a cluster manager restarts a job that lost a process: they would wait
    for it in a collective. Returns the chief's `(returncode, stdout, stderr)`."""
    try:
        chief = finish(processes[0], timeout)
        for process in processes[1:]:
            if processes[0].kill_point:
                stop([process])
            else:
                finish(process, timeout)
        return chief
    finally:  # A failed check leaves no process waiting for its peer.
        stop(processes)


def stop(processes):
    """Stops (SIGKILL) each process still running and waits for it: what a cluster manager does to
    the rest of a job that lost a process. A job is killed by killing its chief at a point, then
    the others; never all at the same point, which races: a process can leave a collective before
    its peer has received its share, and the peer then fails in it instead of reaching the point."""
    for process in processes:
        if process.poll() is None:
            process.kill()
        process.wait()


def wait_job(processes, timeout=240, killed=False):
    """The exit codes of a job's processes, each waited for up to `timeout` seconds; one still
    running then (waiting in a collective for a peer that died) is stopped, its code `None`.
    `killed`: the chief was to die at a kill point; once it has, the others are stopped (`stop`)."""
    codes = []
    for process in processes:
        try:
            codes.append(process.wait(timeout=timeout))
        except subprocess.TimeoutExpired:
            stop([process])
            codes.append(None)
        if killed:
            stop(processes[1:])
    return codes


def start(command, workdir, trace, backend, kill=None, cache=None, job=None):
    """Starts `command` (argv; `{workdir}` is filled in) with the trace, and the kill point if
    given; returns the process (`finish` waits for it). `cache`: a folder for JAX's persistent
    compilation cache, every program cached however short its compilation. `job`: variables
    that make it one process of several (`job_env`)."""
    env = {
        **os.environ,
        "KERAS_BACKEND": backend,
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "TF_DETERMINISTIC_OPS": "1",
        faults.TRACE_ENV: str(trace),
        "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""),
    }
    env.pop(faults.KILL_ENV, None)
    for name in ("TF_CONFIG", "KERAS_DISTRIBUTION_NUM_PROCESSES", "KERAS_DISTRIBUTION_PROCESS_ID"):
        env.pop(name, None)
    env.update(job or {})
    if kill:
        env[faults.KILL_ENV] = kill
    if cache:
        env.update(
            JAX_COMPILATION_CACHE_DIR=str(cache),
            JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
            JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="0",
        )
    argv = [a.format(workdir=workdir) for a in command]
    os.makedirs(os.path.dirname(str(trace)), exist_ok=True)
    with open(f"{trace}.out", "w") as out, open(f"{trace}.err", "w") as err:  # Files: no pipe to fill.
        process = subprocess.Popen([sys.executable, *argv], env=env, stdout=out, stderr=err, cwd=ROOT)
    process.kill_point, process.trace = kill, trace
    return process


def finish(process, timeout=240):
    """Waits for a `start`ed process; asserts it died at its kill point, or ended well without
    one. Returns its `(returncode, stdout, stderr)`."""
    process.wait(timeout=timeout)
    with open(f"{process.trace}.out") as out, open(f"{process.trace}.err") as err:
        stdout, stderr = out.read(), err.read()
    kill = process.kill_point
    if kill:
        assert process.returncode == -signal.SIGKILL, f"not killed at {kill}: {process.returncode}\n{stderr[-2000:]}"
    else:
        assert process.returncode == 0, stderr[-3000:]
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def run(command, workdir, trace, backend, kill=None, timeout=240, cache=None, ports=None):
    """`start_job`, then `finish_job`: one process, or a job of one per port."""
    return finish_job(start_job(command, workdir, trace, backend, kill, cache, ports), timeout)


def read_trace(path):
    """`(iterations, batches)`: step → list of its records, batch key → list of `(fingerprint,
    examples)`."""
    iterations, batches = {}, {}
    if not os.path.exists(path):
        return iterations, batches
    with open(path) as f:
        for line in f:
            entry = json.loads(line)
            if "batch" in entry:  # Its fingerprint and, for ImageNet, the examples it holds.
                batches.setdefault(entry["batch"], []).append((entry["fingerprint"], tuple(entry.get("examples", ()))))
            else:
                iterations.setdefault(entry.pop("step"), []).append(entry)
    return iterations, batches


def read_weights(path):
    """Every dataset of a `.weights.h5` file, by its path in the file."""
    arrays = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, item: arrays.__setitem__(name, item[()]) if isinstance(item, h5py.Dataset) else None)
    return arrays


def history(workdir, keep_time=False):
    """The history rows, without their wall-clock `time` unless `keep_time`; none before the
    first is written."""
    path = os.path.join(workdir, "history.json")
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [{k: v for k, v in row.items() if keep_time or k != "time"} for row in json.load(f)]


def check_progress_lines(name, stdout, first, steps):
    """A run resumed at `first`: its first progress line is the first iteration it runs, and no
    line reports the iteration it resumed at as done again."""
    lines = [line for line in stdout.splitlines() if line.startswith("step ")]
    assert lines and lines[0].startswith(f"step {first + 1}/{steps}: first step done"), f"{name}: {lines[:2]}"
    assert not [line for line in lines if line.startswith(f"step {first}/{steps}")], f"{name}: {lines}"


def check_segment(reference_trace, trace):
    """Asserts every iteration and batch one process traced equals the reference's; returns the
    iterations it ran (sorted) and the number of batches compared."""
    ref_iterations, ref_batches = read_trace(reference_trace)
    iterations, batches = read_trace(trace)
    for step, records in sorted(iterations.items()):
        assert step in ref_iterations, f"iteration {step} is not one of the reference run's"
        for record in records:
            differing = sorted(k for k in record if record[k] != ref_iterations[step][0][k])
            assert not differing, f"iteration {step}: {differing} differ from the uninterrupted run's"
    compared = 0
    for key, prints in batches.items():
        if key in ref_batches:  # Batches prefetched past the run's end exist in one run only.
            assert set(prints) == set(ref_batches[key]), f"batch {key} differs from the uninterrupted run's"
            compared += 1
    return sorted(iterations), compared


def compare_outputs(reference, resumed):
    """Asserts the final weights (bit for bit), history and metrics of two workdirs are equal and
    that the resumed run's backup is gone; returns the max weight difference and history rows."""
    checkpoint = os.path.join("checkpoints", "last_good.weights.h5")
    expected, actual = (
        read_weights(os.path.join(reference, checkpoint)),
        read_weights(os.path.join(resumed, checkpoint)),
    )
    assert sorted(expected) == sorted(actual)
    difference = max(
        float(np.max(np.abs(expected[k].astype("float64") - actual[k].astype("float64")), initial=0.0))
        for k in expected
    )
    assert all(np.array_equal(expected[k], actual[k]) for k in expected), f"final weights differ by up to {difference}"
    rows = history(resumed)
    assert rows == history(reference), "the history differs from the uninterrupted run's"
    with open(os.path.join(reference, "metrics.json")) as a, open(os.path.join(resumed, "metrics.json")) as b:
        drop = ("seconds_this_run", "seconds", "model_file")  # model_file: each workdir's own path
        assert {k: v for k, v in json.load(a).items() if k not in drop} == {
            k: v for k, v in json.load(b).items() if k not in drop
        }
    assert not os.path.exists(os.path.join(resumed, "backup")), "the backup outlived the outputs"
    return difference, len(rows)


def last_iteration(kill, steps, period):
    """The last iteration a process killed at `kill` runs (0-based)."""
    where, _, count = kill.partition(":")
    if where == "step":
        return int(count) - 1
    if where in ("schedule", "backup"):
        return int(count) * period - 1
    return steps - 1


def check_resume_chain(command, backend, tmp_path, kills, steps, period, model, processes=1, free_ports=None):
    """Runs `command` uninterrupted, then killed at each of `kills` in turn and rerun; asserts that
    each process after a kill resumes where it should (its "Resuming" line, its first progress
    line, the history rows it kept as they were) and is the uninterrupted run, iteration by
    iteration (checked as soon as it ends), and that the outputs are the same. Returns the
    figures per kill point.

    Args:
        kills: list of `(name, KERAS_RESNET_KILL_AT value, iteration the rerun resumes from)`.
        model: str. The model's name, as the recipe's "Resuming" line gives it.
        processes: int. Processes of the job on 127.0.0.1 (`job_env`): the chief is killed at
            each point, the others then stopped, and every process of every rerun is compared
            with the same process of the uninterrupted job. Defaults to `1`.
        free_ports: with `processes > 1`, the `free_ports` fixture.
    """
    reference = tmp_path / "reference"
    cache = tmp_path / "jax_cache" if backend == "jax" else None

    def ports():
        return free_ports(processes) if processes > 1 else None

    run(command, reference / "run", reference / "trace.jsonl", backend, cache=cache, ports=ports())
    workdir = tmp_path / "run"
    figures, first = {}, 0
    for index, kill in enumerate([k for _, k, _ in kills] + [None]):
        trace = tmp_path / "traces" / f"{index}.jsonl"
        kept = [row for row in history(workdir, keep_time=True) if row["step"] <= first]
        result = run(command, workdir, trace, backend, kill, cache=cache, ports=ports())
        name = kills[index - 1][0] if index else "first run"
        last = last_iteration(kill, steps, period) if kill else steps - 1
        for process in range(processes if not kill else 1):  # The others were stopped anywhere.
            ran, batches = check_segment(peer_trace(reference / "trace.jsonl", process), peer_trace(trace, process))
            assert ran == list(range(first, last + 1)), (
                f"{name}, process {process}: ran iterations {ran[:1]}…{ran[-1:]}, expected {first}…{last}"
            )
        if index:
            figures[name] = {"iterations compared": len(ran), "batches compared": batches}
            line = (
                f"{model} in {workdir} finished training at step {first}"
                if first == steps
                else f"Resuming {model} in {workdir} at step {first}"
            )
            assert line in result.stdout, f"{name}: the rerun did not resume at {first}: {result.stdout[-500:]}"
            if first < steps:
                check_progress_lines(name, result.stdout, first, steps)
            # The rows of the periods before the backup are the killed run's, as it wrote them.
            assert history(workdir, keep_time=True)[: len(kept)] == kept, (
                f"{name}: the rows before step {first} changed"
            )
        if kill:
            first = kills[index][2]
    figures["final"] = dict(zip(("max weight difference", "history rows"), compare_outputs(reference / "run", workdir)))
    return figures
