"""The callbacks a long run needs: backup and resume, checkpoints, history, NaN guard, progress.

A run is a sequence of evaluation periods (Keras "epochs" of `eval_every` iterations); each
period ends with an evaluation, one history row, a checkpoint and a backup, in that order. A
killed run restarts from the last backup (`keras.callbacks.BackupAndRestore`), and the history
drops any row written after that backup, so it stays one row per period.
"""

import csv
import importlib.util
import json
import math
import os
import time

import keras
from absl import logging
from keras import ops

from keras_resnet.training import schedules

HISTORY_CSV = "history.csv"
HISTORY_JSON = "history.json"
BACKUP_DIR = "backup"
CHECKPOINT = os.path.join("checkpoints", "last_good.weights.h5")
TENSORBOARD_DIR = "tensorboard"


def _step(model):
    return int(ops.convert_to_numpy(schedules.optimizer_of(model).iterations))


class TerminateOnNaN(keras.callbacks.Callback):
    """Stops at the end of a period whose loss is NaN or infinite, before anything is saved.

    Put it first in the callback list: it raises `FloatingPointError`, so the checkpoint and the
    backup that follow it keep the last good weights. Checking once a period (not every step)
    keeps the training step asynchronous.

    Args:
        checkpoint: optional str. The last good checkpoint, named in the message.

    Example:

    >>> callback = TerminateOnNaN("ckpt.weights.h5")
    >>> callback.on_epoch_end(0, {"loss": float("nan")})
    Traceback (most recent call last):
    ...
    FloatingPointError: training loss became nan in evaluation period 1; stopped. No good checkpoint was written before it
    """

    def __init__(self, checkpoint=None):
        super().__init__()
        self.checkpoint = checkpoint

    def on_epoch_end(self, epoch, logs=None):
        loss = float((logs or {}).get("loss", 0.0))
        if not math.isfinite(loss):
            where = (
                f"The last good weights are in {self.checkpoint}"
                if self.checkpoint and os.path.exists(self.checkpoint)
                else "No good checkpoint was written before it"
            )
            raise FloatingPointError(f"training loss became {loss} in evaluation period {epoch + 1}; stopped. {where}")


def add_period_logs(logs, epoch, steps_per_period):
    """Adds `step` (iterations at the end of period `epoch`) and `train_error` (1 − the period's
    running training accuracy, as the paper's curves show it) to `logs`; returns `logs`."""
    logs = logs if logs is not None else {}
    logs["step"] = (epoch + 1) * steps_per_period
    if "accuracy" in logs:
        logs["train_error"] = 1.0 - float(logs["accuracy"])
    return logs


class PeriodicEvaluation(keras.callbacks.Callback):
    """Evaluates named splits at the end of each period and adds `{name}_error` to the logs.

    Also adds `train_error` (1 − the period's running training accuracy, as the paper's curves
    show it), `step` and `learning_rate`.

    Args:
        splits: dict of name to `(x, y)`.
        batch_size: int. Evaluation batch size.
        steps_per_period: int. Iterations per period.
        schedule: optional callable step → learning rate, for the logs.
    """

    def __init__(self, splits, batch_size, steps_per_period, schedule=None):
        super().__init__()
        self.splits = splits
        self.batch_size = batch_size
        self.steps_per_period = steps_per_period
        self.schedule = schedule

    def on_epoch_end(self, epoch, logs=None):
        logs = add_period_logs(logs, epoch, self.steps_per_period)
        for name, (x, y) in self.splits.items():
            results = self.model.evaluate(x, y, batch_size=self.batch_size, verbose=0, return_dict=True)
            logs[f"{name}_loss"] = float(results["loss"])
            logs[f"{name}_error"] = 1.0 - float(results["accuracy"])
        optimizer = schedules.optimizer_of(self.model)
        rate = self.schedule(logs["step"] - 1) if self.schedule is not None else optimizer.learning_rate
        multiplier = getattr(optimizer, "learning_rate_multiplier", 1.0)
        logs["learning_rate"] = float(ops.convert_to_numpy(rate)) * float(ops.convert_to_numpy(multiplier))


class HistoryWriter(keras.callbacks.Callback):
    """Keeps `history.csv` and `history.json` in the workdir: one row per period.

    On (re)start it keeps only the rows up to the restored step, so a resumed run continues
    the same history.

    Args:
        workdir: str.
    """

    def __init__(self, workdir):
        super().__init__()
        self.json_path = os.path.join(workdir, HISTORY_JSON)
        self.csv_path = os.path.join(workdir, HISTORY_CSV)
        self.rows = None
        self.started = None

    def on_epoch_begin(self, epoch, logs=None):
        if self.rows is None:
            restored = _step(self.model)
            self.rows = [row for row in read_history(self.json_path) if row["step"] <= restored]
            self.started = time.time() - (self.rows[-1]["time"] if self.rows else 0.0)

    def on_epoch_end(self, epoch, logs=None):
        row = {k: float(v) for k, v in (logs or {}).items() if _is_number(v)}
        row["step"] = int(row.get("step", 0))
        row["time"] = time.time() - self.started
        self.rows.append(row)
        write_history(self.rows, self.json_path, self.csv_path)


def _is_number(value):
    try:
        float(value)
        return True
    except (TypeError, ValueError):
        return False


def read_history(path):
    """The rows of a `history.json`, or `[]` if there is none."""
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return json.load(f)


def write_history(rows, json_path, csv_path):
    """Writes the rows as JSON and CSV, each through a temporary file (a kill never truncates)."""
    _atomic_write(json_path, json.dumps(rows, indent=1))
    columns = sorted({k for row in rows for k in row}, key=lambda k: (k != "step", k))
    tmp = csv_path + ".tmp"
    with open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, csv_path)


def _atomic_write(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


class ProgressLine(keras.callbacks.Callback):
    """Prints one line per period: step, errors, rate, images per second.

    Args:
        total_steps: int.
        batch_size: int.
        print_fn: callable. Defaults to `print`.
    """

    def __init__(self, total_steps, batch_size, print_fn=print):
        super().__init__()
        self.total_steps = total_steps
        self.batch_size = batch_size
        self.print_fn = print_fn
        self.last = None

    def on_epoch_begin(self, epoch, logs=None):
        self.last = time.time()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        seconds = time.time() - self.last
        steps = self.params.get("steps") or 0
        parts = [f"step {int(logs.get('step', 0))}/{self.total_steps}", f"loss {float(logs.get('loss', float('nan'))):.4f}"]
        parts += [f"{k} {float(logs[k]) * 100:.2f}%" for k in ("train_error", "val_error", "test_error") if k in logs]
        if "learning_rate" in logs:
            parts.append(f"lr {float(logs['learning_rate']):.4g}")
        parts.append(f"{steps * self.batch_size / max(seconds, 1e-9):.0f} img/s (incl. eval)")
        self.print_fn("  ".join(parts), flush=True)


def backup_step(workdir, steps_per_period):
    """The step a rerun resumes from: the last backup's period × `steps_per_period` (0 if none)."""
    path = os.path.join(workdir, BACKUP_DIR, "training_metadata.json")
    try:
        with open(path) as f:
            return int(json.load(f)["epoch"]) * steps_per_period
    except (OSError, ValueError, KeyError):
        return 0


def save_weights_atomically(model, path):
    """Writes `model`'s weights to `path` (a `.weights.h5` file) through a temporary file and a
    rename, so that a process killed mid-write leaves the previous file whole."""
    partial = path[: -len(".weights.h5")] + ".partial.weights.h5"
    model.save_weights(partial, overwrite=True)
    os.replace(partial, path)


class Checkpoint(keras.callbacks.Callback):
    """Saves the weights at the end of every period, atomically (`save_weights_atomically`)."""

    def __init__(self, path):
        super().__init__()
        self.path = path

    def on_epoch_end(self, epoch, logs=None):
        save_weights_atomically(self.model, self.path)


class BackupAndRestore(keras.callbacks.BackupAndRestore):
    """`keras.callbacks.BackupAndRestore` with atomic writes.

    Keras writes the backup in place: a SIGKILL during the write leaves a truncated HDF5 file
    that the next run cannot load ("bad object header version number"). Here the weights, then
    the metadata, are each written to a temporary file and renamed over the old one. A kill
    between the two renames resumes from the new weights at the previous period's step, which
    repeats one period of batches and loses nothing.
    """

    def _save_model(self):
        os.makedirs(self.backup_dir, exist_ok=True)
        save_weights_atomically(self.model, self._weights_path)
        metadata = {"epoch": self._current_epoch, "batch": self._last_batch_seen}
        _atomic_write(self._training_metadata_path, json.dumps(metadata))


def tensorboard_available():
    """Whether Keras' TensorBoard callback can run: it needs the `tensorboard` package (TF 2.21 no
    longer ships it) and TensorFlow itself (`tensorflow.summary`), on every backend."""
    try:
        return all(importlib.util.find_spec(name) is not None for name in ("tensorboard", "tensorflow"))
    except ValueError:  # A module set to None in sys.modules: it cannot be imported.
        return False


def make_callbacks(workdir, evaluation=None, warmup=None, progress=None):
    """The run's callbacks, in the order that keeps the saved state consistent.

    NaN guard, evaluation, history, checkpoint, backup; then the warm-up (it reads the restored
    optimizer) and progress. TensorBoard only when it is installed (one warning otherwise).

    Args:
        workdir: str.
        evaluation: optional `PeriodicEvaluation`.
        warmup: optional `WarmupUntilTrainingError`.
        progress: optional `ProgressLine`.

    Returns:
        A list of callbacks.
    """
    checkpoint = os.path.join(workdir, CHECKPOINT)
    os.makedirs(os.path.dirname(checkpoint), exist_ok=True)
    callbacks = [TerminateOnNaN(checkpoint)]
    callbacks += [c for c in (evaluation,) if c is not None]
    callbacks += [
        HistoryWriter(workdir),
        Checkpoint(checkpoint),
        BackupAndRestore(os.path.join(workdir, BACKUP_DIR)),
    ]
    callbacks += [c for c in (warmup, progress) if c is not None]
    if tensorboard_available():
        callbacks.append(keras.callbacks.TensorBoard(os.path.join(workdir, TENSORBOARD_DIR)))
    else:
        logging.warning("tensorboard or tensorflow is not installed: no TensorBoard logs (pip install tensorboard tensorflow)")
    return callbacks
