"""A run's life, whatever it trains on: its errors, its precision and seed, its workdir (checked,
resumed or refused), its periods, and its end (`finish_run`: the trained model and the metrics
written, the backup removed).

A run is a sequence of evaluation periods in a workdir; `opened` holds the workdir for the run
and decides whether a rerun resumes it (`prepare_workdir`), `backup.backup_step` from which step,
and `finish_run` closes it, after which a rerun finds it finished. A job of several processes is
one run: the chief (process 0) holds and writes the workdir; every other process writes only
what a collective needs, in scratch space of its own removed when it finishes, and resumes from
the chief's backup, read in place, so that a run resumes on any topology of as many replicas.

`run_config.json` records the run's config (`training.config`) and the facts the task derives
from its data and topology; a rerun resumes only where every setting that matters
(`config.resumed`) and every fact is the same.

Example:

>>> steps_per_period(64000, 1000), steps_per_period(300, 1000), steps_per_period(1500, 1000)
(1000, 300, 750)
"""

import contextlib
import json
import os
import random
import shutil
import sys
import tempfile

import numpy as np

from keras_resnet.errors import RecipeError
from keras_resnet.training import config as config_lib
from keras_resnet.training import durable

# Keras, and the modules that import it, load when a run starts: a recipe's flags and its errors
# come back without them (`--help` loads no TensorFlow).
METRICS = "metrics.json"
RUN_CONFIG = "run_config.json"
CURVES_PNG = "curves.png"


def outputs():
    """What `overwrite=True` removes; anything else in the workdir is left alone."""
    from keras_resnet.training import backup, callbacks, trained_model

    return (
        METRICS,
        RUN_CONFIG,
        CURVES_PNG,
        callbacks.HISTORY_CSV,
        callbacks.HISTORY_JSON,
        backup.BACKUP_DIR,
        "checkpoints",
        callbacks.TENSORBOARD_DIR,
        trained_model.MODEL_FILE,
        callbacks.STOPPED,
    )


def check_batch(batch_size, replicas):
    """Raises `RecipeError` unless `batch_size` splits evenly over `replicas`.

    >>> check_batch(128, 3)
    Traceback (most recent call last):
    ...
    keras_resnet.errors.RecipeError: --batch_size 128 does not divide across 3 replicas; use a multiple of 3
    """
    if batch_size <= 0 or batch_size % replicas:
        raise RecipeError(
            f"--batch_size {batch_size} does not divide across {replicas} replicas; use a multiple of {replicas}"
        )


def steps_per_period(train_steps, eval_every):
    """The largest divisor of `train_steps` not above `eval_every` (periods of equal length)."""
    eval_every = max(1, min(eval_every, train_steps))
    return next(d for d in range(eval_every, 0, -1) if train_steps % d == 0)


def check_local(workdir):
    """Raises `RecipeError` where `workdir` is a URL (`gs://…`): the run's files are written with
    the operating system's calls, which would make a local folder of that name instead."""
    if "://" in str(workdir):
        raise RecipeError(
            f"--workdir {workdir} is a URL; it takes a local or mounted directory (a bucket through gcsfuse, say)"
        )


def make_workdir(workdir):
    """Creates `workdir` where needed; a `RecipeError` where it is a URL or cannot be written."""
    check_local(workdir)
    try:
        os.makedirs(workdir, exist_ok=True)
        probe = os.path.join(workdir, ".write_test")
        with open(probe, "w"):
            pass
        os.remove(probe)
    except OSError as error:
        raise RecipeError(f"cannot write to --workdir {workdir}: {error.strerror or error}") from None


def refuse_finished(workdir, overwrite=False):
    """Raises `RecipeError` where `workdir` holds a finished run (its `metrics.json`), unless `overwrite`."""
    if not overwrite and os.path.exists(os.path.join(workdir, METRICS)):
        raise RecipeError(
            f"--workdir {workdir} holds a finished run ({METRICS}); pass --overwrite to replace it, or choose another --workdir"
        )


def prepare_workdir(workdir, run_config, overwrite=False, caches=()):
    """Checks the workdir; returns whether a run there is resumed.

    A finished run (its `metrics.json` exists) is an error unless `overwrite`, which removes the
    recipe's outputs and the files it derived from its data, `caches` (only those). So is a run the NaN guard stopped (rerun unchanged, it would
    resume from its last good period into the same divergence), and an unfinished run with other
    settings.
    """
    make_workdir(workdir)
    if overwrite:
        for name in (*outputs(), *caches):
            path = os.path.join(workdir, name)
            if os.path.isdir(path):
                shutil.rmtree(path)
            elif os.path.exists(path):
                os.remove(path)
    refuse_finished(workdir)
    from keras_resnet.training import callbacks

    stopped = callbacks.read_stop(workdir)
    if stopped:
        raise RecipeError(
            f"--workdir {workdir} holds a run that stopped: {stopped['reason']} in evaluation period "
            f"{stopped['period']}. Rerun unchanged, it would fail the same way: change the settings that "
            "made it diverge (the learning rate, …) and pass --overwrite, or choose another --workdir"
        )
    path = os.path.join(workdir, RUN_CONFIG)
    if os.path.exists(path):
        with open(path) as f:
            previous = json.load(f)
        if "facts" not in previous:
            raise RecipeError(
                f"--workdir {workdir} holds an unfinished run begun by an earlier version of keras_resnet, whose "
                "settings this one cannot compare: finish it with that version, or pass --overwrite to start again"
            )
        changes = changed_settings(previous, run_config)
        if changes:
            shown = ", ".join(changes)
            raise RecipeError(
                f"--workdir {workdir} holds an unfinished run with other settings ({shown}); rerun it unchanged to resume, or pass --overwrite"
            )
        return True
    durable.write_json(path, run_config)
    return False


def record(config, facts):
    """What `run_config.json` holds: the run's config and the facts derived for it (`resume`
    tells which settings a rerun must match: `config.resumed`)."""
    return {"config": config_lib.to_dict(config), "resume": config_lib.resumed(config), "facts": jsonable(facts)}


def changed_settings(previous, now, ignore=()):
    """The settings that differ between two run records (`record`): what a rerun must match of
    the config, and the facts; as `"key: old → new"`, so that a refusal names what matters.

    >>> changed_settings({"resume": {"seed": 0, "batch_size": 128}, "facts": {"replicas": 1}},
    ...                  {"resume": {"seed": 0, "batch_size": 64}, "facts": {"replicas": 1}})
    ['batch_size: 128 → 64']
    """
    before = {**previous.get("resume", {}), **{f"facts.{k}": v for k, v in previous.get("facts", {}).items()}}
    after = {**now.get("resume", {}), **{f"facts.{k}": v for k, v in now.get("facts", {}).items()}}
    keys = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k) and k not in ignore)
    return [f"{k}: {before.get(k, '(unset)')!r} → {after.get(k, '(unset)')!r}" for k in keys]


@contextlib.contextmanager
def opened(workdir, run_config, resolved, overwrite=False, caches=()):
    """Holds the workdir for a run of a job: yields `(rundir, resumed)`, where this process
    writes and whether the run resumes.

    The chief makes the workdir, takes its lock (`lock.WorkdirLock`: one job at a time) and
    prepares it (`prepare_workdir`); every other process writes in scratch space of its own,
    removed when it finishes. All processes learn whether the chief could (one all-reduce), so
    that a job stops whole, in one line, before any of its processes writes or waits for a peer
    that stopped.
    """
    from keras_resnet.training import distribute, lock

    held, error, resumed = None, None, False
    rundir = workdir if resolved.is_chief else tempfile.mkdtemp(prefix=f"keras_resnet_process{resolved.worker_index}_")
    try:
        if resolved.is_chief:
            make_workdir(workdir)
            held = lock.WorkdirLock(workdir)
            held.acquire()
            resumed = prepare_workdir(workdir, run_config, overwrite, caches)
    except RecipeError as refused:
        error = refused
    if resolved.num_workers > 1:
        stopped = distribute.all_reduce_sum(resolved, np.array([error is not None], np.float64))[0][0]
        if stopped and error is None:
            error = RecipeError(f"--workdir {workdir}: the job's chief could not start the run (see its error)")
    try:
        if error is not None:
            raise error
        yield rundir, resumed
    finally:
        if held is not None:
            held.release()
        if not resolved.is_chief:
            shutil.rmtree(rundir, ignore_errors=True)


def finish_run(model, workdir, metrics, mean_layer):
    """Ends a run: writes its trained network (`model.keras`, `trained_model.save_trained_model`)
    and `metrics.json` (its `model_file` added), each whole or not at all, then removes the backup.

    Only now is the backup removed: a run killed before this point is finished by its rerun.

    Returns:
        The metrics, as written.
    """
    from keras_resnet.training import backup, trained_model

    metrics = {**metrics, "model_file": trained_model.save_trained_model(model, workdir, mean_layer)}
    durable.write_json(os.path.join(workdir, METRICS), metrics)
    backup.remove_backup(workdir)
    return metrics


def summary(data, model, schedule, running, outputs, overwrite=False):
    """A run's start-up lines, one per subject, the same in every recipe; the last says how a rerun
    continues the run, or, with `overwrite`, that a finished run there was replaced.

    >>> print(summary("MNIST: 60,000 images", "resnet20", "2,000 iterations", "jax", "runs/r20"))
    data: MNIST: 60,000 images
    model: resnet20
    schedule: 2,000 iterations
    running on: jax
    outputs: runs/r20; rerun the same command to resume
    """
    rerun = "a run there is replaced (overwrite)" if overwrite else "rerun the same command to resume"
    return "\n".join(
        [
            f"data: {data}",
            f"model: {model}",
            f"schedule: {schedule}",
            f"running on: {running}",
            f"outputs: {outputs}; {rerun}",
        ]
    )


def final_line(metrics):
    """A finished run's metrics as one line a person reads.

    >>> final_line({"model": "resnet20", "steps": 2000, "train_error": 0.10125, "val_error": 0.2102000117301941,
    ...             "test_error": 0.2087, "test_loss": 0.6137, "seconds_this_run": 95.27})
    'Final: resnet20 after 2,000 iterations: training error 10.12%, validation error 21.02%, test error 20.87% (test loss 0.614); 95 s'
    """
    parts = [
        f"{label} {100 * metrics[key]:.2f}%"
        for key, label in (
            ("train_error", "training error"),
            ("val_error", "validation error"),
            ("val_top5_error", "validation top-5 error"),
            ("test_error", "test error"),
            ("top1_error", "top-1 error"),
            ("top5_error", "top-5 error"),
        )
        if metrics.get(key) is not None
    ]
    loss = next((metrics[k] for k in ("test_loss", "val_loss") if metrics.get(k) is not None), None)
    errors = ", ".join(parts) if parts else "no evaluation"
    tail = (
        f" ({'test' if metrics.get('test_loss') is not None else 'validation'} loss {loss:.3f})"
        if loss is not None
        else ""
    )
    seconds = f"; {metrics['seconds_this_run']:.0f} s" if metrics.get("seconds_this_run") is not None else ""
    return f"Final: {metrics.get('model', 'the run')} after {metrics.get('steps', 0):,} iterations: {errors}{tail}{seconds}"


def set_seed(seed):
    """Seeds Python, NumPy and the backend; on JAX and PyTorch without importing TensorFlow
    (which `keras.utils.set_random_seed` does whenever it is installed)."""
    import keras

    backend = keras.backend.backend()
    if backend == "tensorflow" or "tensorflow" in sys.modules:
        keras.utils.set_random_seed(seed)
        return
    random.seed(seed)  # Keras draws its default seeds from Python's `random`.
    np.random.seed(seed)
    if backend == "torch":
        import torch

        torch.manual_seed(seed)


def jsonable(values):
    """A dict of settings (a config's fields) as JSON gives it back: tuples as lists, at any depth,
    so that a rerun compares like with like."""
    return json.loads(json.dumps(values))


def load_metrics(workdir):
    """The `metrics.json` of a finished run, or `None`."""
    return durable.read_json(os.path.join(workdir, METRICS))


def load_run_config(workdir):
    """The `run_config.json` a run wrote in `workdir` (its settings and config), or `None`."""
    return durable.read_json(os.path.join(workdir, RUN_CONFIG))
