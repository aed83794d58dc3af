"""A run's life, whatever it trains on: its errors, its precision and seed, its workdir (checked,
resumed or refused), its periods, and its end (`finish_run`: the trained model and the metrics
written, the backup removed).

A run is a sequence of evaluation periods in a workdir; `prepare_workdir` decides whether a rerun
resumes it, `callbacks.backup_step` from which step, and `finish_run` closes it, after which a
rerun finds it finished.

Example:

>>> steps_per_period(64000, 1000), steps_per_period(300, 1000), steps_per_period(1500, 1000)
(1000, 300, 750)
"""

import json
import os
import random
import shutil
import sys

import keras
import numpy as np

from keras_resnet.training import callbacks, trained_model

METRICS = "metrics.json"
RUN_CONFIG = "run_config.json"
CURVES_PNG = "curves.png"
# What `overwrite=True` removes; anything else in the workdir is left alone.
OUTPUTS = (
    METRICS,
    RUN_CONFIG,
    CURVES_PNG,
    callbacks.HISTORY_CSV,
    callbacks.HISTORY_JSON,
    callbacks.BACKUP_DIR,
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


def steps_per_period(train_steps, eval_every):
    """The largest divisor of `train_steps` not above `eval_every` (periods of equal length)."""
    eval_every = max(1, min(eval_every, train_steps))
    return next(d for d in range(eval_every, 0, -1) if train_steps % d == 0)


def prepare_workdir(workdir, run_config, overwrite=False):
    """Checks the workdir; returns whether a run there is resumed.

    A finished run (its `metrics.json` exists) is an error unless `overwrite`, which removes the
    recipe's outputs (only those). So is a run the NaN guard stopped (rerun unchanged, it would
    resume from its last good period into the same divergence), and an unfinished run with other
    settings.
    """
    try:
        os.makedirs(workdir, exist_ok=True)
        probe = os.path.join(workdir, ".write_test")
        with open(probe, "w"):
            pass
        os.remove(probe)
    except OSError as error:
        raise RecipeError(f"cannot write to --workdir {workdir}: {error.strerror or error}") from None
    if overwrite:
        for name in OUTPUTS:
            path = os.path.join(workdir, name)
            if os.path.isdir(path):
                shutil.rmtree(path)
            elif os.path.exists(path):
                os.remove(path)
    if os.path.exists(os.path.join(workdir, METRICS)):
        raise RecipeError(
            f"--workdir {workdir} holds a finished run ({METRICS}); pass --overwrite to replace it, or choose another --workdir"
        )
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
        changed = sorted(k for k in set(previous) | set(run_config) if previous.get(k) != run_config.get(k))
        if changed:
            shown = ", ".join(f"{k}={previous.get(k)!r}→{run_config.get(k)!r}" for k in changed)
            raise RecipeError(
                f"--workdir {workdir} holds an unfinished run with other settings ({shown}); rerun it unchanged to resume, or pass --overwrite"
            )
        return True
    with open(path, "w") as f:
        json.dump(run_config, f, indent=1)
    return False


def finish_run(model, workdir, metrics, mean_layer):
    """Ends a run: writes its trained network (`model.keras`, `trained_model.save_trained_model`)
    and `metrics.json` (its `model_file` added), each whole or not at all, then removes the backup.

    Only now is the backup removed: a run killed before this point is finished by its rerun.

    Returns:
        The metrics, as written.
    """
    metrics = {**metrics, "model_file": trained_model.save_trained_model(model, workdir, mean_layer)}
    path = os.path.join(workdir, METRICS)
    with open(path + ".partial", "w") as f:
        json.dump(metrics, f, indent=1)
    os.replace(path + ".partial", path)
    callbacks.remove_backup(workdir)
    return metrics


def last_history_row(workdir):
    """The history's last row (one per period), or `{}`."""
    history = callbacks.read_history(os.path.join(workdir, callbacks.HISTORY_JSON))
    return history[-1] if history else {}


def set_seed(seed):
    """Seeds Python, NumPy and the backend; on JAX and PyTorch without importing TensorFlow
    (which `keras.utils.set_random_seed` does whenever it is installed)."""
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
    """A config's fields with tuples as lists (as JSON gives them back)."""
    return {k: json.loads(json.dumps(v)) if isinstance(v, tuple) else v for k, v in values.items()}


def load_metrics(workdir):
    """The `metrics.json` of a finished run, or `None`."""
    path = os.path.join(workdir, METRICS)
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def load_run_config(workdir):
    """The `run_config.json` a run wrote in `workdir` (its settings and config), or `None`."""
    try:
        with open(os.path.join(workdir, RUN_CONFIG)) as f:
            return json.load(f)
    except (OSError, ValueError, TypeError):
        return None
