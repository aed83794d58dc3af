"""A run's life, whatever it trains on: its errors, its precision and seed, its workdir (checked,
resumed or refused), its periods, and its end (`finish_run`: the trained model and the metrics
written, the backup removed).

A run is a sequence of evaluation periods in a workdir; `prepare_workdir` decides whether a rerun
resumes it, `backup.backup_step` from which step, and `finish_run` closes it, after which a
rerun finds it finished. A job of several processes is one run: the chief (process 0) writes the
workdir's files, every other process its own under `workers/<i>`, and each resumes from the
chief's backup, read in place (`join_job`), so that it resumes on any topology.

Example:

>>> steps_per_period(64000, 1000), steps_per_period(300, 1000), steps_per_period(1500, 1000)
(1000, 300, 750)
"""

import json
import os
import random
import shutil
import sys

import numpy as np

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


# The recipes' one vocabulary (`--mixed_precision`): short names, with Keras' policy names as aliases.
PRECISIONS = {
    "none": "float32",
    "bf16": "mixed_bfloat16",
    "fp16": "mixed_float16",
    "mixed_bfloat16": "mixed_bfloat16",
    "mixed_float16": "mixed_float16",
}


class RecipeError(ValueError):
    """A bad setting or a workdir that cannot be used, with a one-line message."""


def check_precision(mixed_precision):
    """Raises `RecipeError` unless `mixed_precision` is one of `PRECISIONS`."""
    if mixed_precision not in PRECISIONS:
        raise RecipeError(f"--mixed_precision must be one of {', '.join(PRECISIONS)}. Received: {mixed_precision!r}")


def check_batch(batch_size, replicas):
    """Raises `RecipeError` unless `batch_size` splits evenly over `replicas`.

    >>> check_batch(128, 3)
    Traceback (most recent call last):
    ...
    keras_resnet.training.run.RecipeError: --batch_size 128 does not divide across 3 replicas; use a multiple of 3
    """
    if batch_size <= 0 or batch_size % replicas:
        raise RecipeError(
            f"--batch_size {batch_size} does not divide across {replicas} replicas; use a multiple of {replicas}"
        )


def join_job(workdir, resolved):
    """Where this process of a job writes: the workdir for the chief, `workdir/workers/<i>` for
    process i (its own history, checkpoints and backup). Every process resumes from the
    workdir's backup (the chief's), read in place (`callbacks.make_callbacks`'s `backup_from`),
    so that all resume at the same step, however many processes the killed run had, and a
    restart copies nothing. The other processes write backups of their own (on JAX a save is a
    collective of all processes), which nothing reads.

    A worker other than the chief that finished while the chief was killed before its outputs is
    unfinished again while the chief's run is (its `metrics.json` removed): it would otherwise
    refuse the rerun that its peers wait for.

    Args:
        workdir: str. The run's workdir, one directory every process sees.
        resolved: the `distribute.Resolved` strategy (`is_chief`, `worker_index`).
    """
    from keras_resnet.training import backup

    if resolved.is_chief:
        return workdir
    rundir = os.path.join(workdir, "workers", str(resolved.worker_index))
    finished = os.path.join(rundir, METRICS)
    if os.path.isdir(os.path.join(workdir, backup.BACKUP_DIR)) and os.path.exists(finished):
        os.remove(finished)
    return rundir


def steps_per_period(train_steps, eval_every):
    """The largest divisor of `train_steps` not above `eval_every` (periods of equal length)."""
    eval_every = max(1, min(eval_every, train_steps))
    return next(d for d in range(eval_every, 0, -1) if train_steps % d == 0)


def make_workdir(workdir):
    """Creates `workdir` where needed; a `RecipeError` where it cannot be written."""
    try:
        os.makedirs(workdir, exist_ok=True)
        probe = os.path.join(workdir, ".write_test")
        with open(probe, "w"):
            pass
        os.remove(probe)
    except OSError as error:
        raise RecipeError(f"cannot write to --workdir {workdir}: {error.strerror or error}") from None


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
    if os.path.exists(os.path.join(workdir, METRICS)):
        raise RecipeError(
            f"--workdir {workdir} holds a finished run ({METRICS}); pass --overwrite to replace it, or choose another --workdir"
        )
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
        changes = changed_settings(previous, run_config)
        if changes:
            shown = ", ".join(changes)
            raise RecipeError(
                f"--workdir {workdir} holds an unfinished run with other settings ({shown}); rerun it unchanged to resume, or pass --overwrite"
            )
        return True
    durable.write_json(path, run_config)
    return False


# Settings a run config records since a later version, with the value a run of an earlier
# version had: such a run resumes where it matches.
SETTINGS_RECORDED_LATER = {"replicas": 1}


def changed_settings(previous, now):
    """The settings that differ between two run configs, as `"key: old → new"`, nested keys
    joined by dots; only those, so that a refusal names what matters.

    >>> changed_settings({"seed": 0, "config": {"batch_size": 128, "momentum": 0.9}},
    ...                  {"seed": 0, "config": {"batch_size": 64, "momentum": 0.9}})
    ['config.batch_size: 128 → 64']
    >>> changed_settings({"seed": 0}, {"seed": 0, "replicas": 1})  # A run of one replica, recorded before.
    []
    """
    earlier = {k: v for k, v in SETTINGS_RECORDED_LATER.items() if k in now}
    before, after = _flat(jsonable({**earlier, **previous})), _flat(jsonable(now))
    keys = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
    return [f"{k}: {before.get(k, '(unset)')!r} → {after.get(k, '(unset)')!r}" for k in keys]


def _flat(settings, prefix=""):
    """A nested settings dict as one level, the keys joined by dots (`config.batch_size`)."""
    flat = {}
    for key, value in settings.items():
        if isinstance(value, dict):
            flat.update(_flat(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


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


def summary(data, model, schedule, running, outputs):
    """A run's start-up lines, one per subject, the same in every recipe.

    >>> print(summary("MNIST: 60,000 images", "resnet20", "2,000 iterations", "jax", "runs/r20"))
    data: MNIST: 60,000 images
    model: resnet20
    schedule: 2,000 iterations
    running on: jax
    outputs: runs/r20; rerun the same command to resume
    """
    return "\n".join(
        [
            f"data: {data}",
            f"model: {model}",
            f"schedule: {schedule}",
            f"running on: {running}",
            f"outputs: {outputs}; rerun the same command to resume",
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


def last_history_row(workdir):
    """The history's last row (one per period), or `{}`."""
    from keras_resnet.training import callbacks

    history = callbacks.read_history(os.path.join(workdir, callbacks.HISTORY_JSON))
    return history[-1] if history else {}


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
    path = os.path.join(workdir, METRICS)
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def load_run_config(workdir):
    """The `run_config.json` a run wrote in `workdir` (its settings and config), or `None`."""
    return load_json(os.path.join(workdir, RUN_CONFIG))


def load_json(path):
    """The JSON value in the file `path`, or `None` where there is none to read."""
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError, TypeError):
        return None
