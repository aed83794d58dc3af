"""The callbacks a long run needs: backup and resume, checkpoints, history, NaN guard, progress.

A run is a sequence of evaluation periods (Keras "epochs" of `eval_every` iterations); each
period ends with an evaluation, the schedule's decision, one history row, a checkpoint and a
backup, in that order. A killed run restarts from the last backup (`BackupAndRestore`: weights,
optimizer, augmentation stream and schedule state, written in one atomic step), and the history
drops any row written after that backup, so it stays one row per period.
"""

import csv
import importlib.util
import math
import os
import time

import keras
import numpy as np
from absl import logging
from keras import ops

from keras_resnet.errors import listed
from keras_resnet.training import durable, exact_eval, faults, schedules
from keras_resnet.training.backup import BACKUP_DIR, CHECKPOINT, BackupAndRestore, Checkpoint
from keras_resnet.training.progress import ProgressLine  # noqa: F401  (the recipes' progress lines)

HISTORY_CSV = "history.csv"
HISTORY_JSON = "history.json"
# What the NaN guard writes when it stops a run (`TerminateOnNaN`).
STOPPED = "stopped.json"
TENSORBOARD_DIR = "tensorboard"


def _step(model):
    return int(ops.convert_to_numpy(schedules.optimizer_of(model).iterations))


class TerminateOnNaN(keras.callbacks.Callback):
    """Stops at the end of a period that is not good, before anything of it is kept.

    A period is good when every number of its logs is finite (the training loss, and the
    evaluated splits' losses and errors: a net can train on a finite loss while its evaluation
    is already NaN) and so is every array a checkpoint or a backup would keep (the weights, BN's
    moving statistics, the optimizer's state: these overflow before the loss does). Put it after
    the evaluation and before the schedule, the history, the checkpoint and the backup: it raises
    `FloatingPointError`, so those keep the last good period. Checking once a period (not every
    step) keeps the training step asynchronous.

    It also writes `stop_record` (`STOPPED`) with what happened, so that a rerun, which would
    resume from the last good backup into the same divergence, says so instead
    (`run.prepare_workdir`).

    Args:
        checkpoint: optional str. The last good checkpoint, named in the message.
        stop_record: optional str. Where to write the stop's record (JSON).

    Example:

    >>> callback = TerminateOnNaN("ckpt.weights.h5")
    >>> callback.on_epoch_end(0, {"loss": float("nan")})
    Traceback (most recent call last):
    ...
    FloatingPointError: training loss became nan in evaluation period 1; stopped. No good checkpoint was written before it
    """

    def __init__(self, checkpoint=None, stop_record=None):
        super().__init__()
        self.checkpoint = checkpoint
        self.stop_record = stop_record

    def on_epoch_end(self, epoch, logs=None):
        reason = _non_finite_log(logs or {}) or self._non_finite_arrays()
        if reason is None:
            return
        where = (
            f"The last good weights (period {epoch}) are in {self.checkpoint}"
            if self.checkpoint and os.path.exists(self.checkpoint)
            else "No good checkpoint was written before it"
        )
        if self.stop_record:
            durable.write_json(self.stop_record, {"period": epoch + 1, "reason": reason})
        raise FloatingPointError(f"{reason} in evaluation period {epoch + 1}; stopped. {where}")

    def _non_finite_arrays(self):
        model = self.model  # On JAX this syncs the variables with the trainer's state.
        if model is None:
            return None
        optimizer = getattr(model, "optimizer", None)
        variables = list(model.weights) + (list(optimizer.variables) if optimizer is not None else [])
        bad = [
            v.path
            for v in variables
            if v.dtype.startswith(("float", "bfloat")) and not np.isfinite(ops.convert_to_numpy(v)).all()
        ]
        if bad:
            return f"{listed(bad)}{f' ({len(bad)} arrays)' if len(bad) > 1 else ''} became non-finite"
        return None


def _non_finite_log(logs):
    """`"training loss became nan"` for the first non-finite number of `logs` (the loss first)."""
    for key in sorted(logs, key=lambda k: k != "loss"):
        value = logs[key]
        if _is_number(value) and not math.isfinite(float(value)):
            return f"{'training loss' if key == 'loss' else key} became {float(value)}"
    return None


def read_stop(workdir):
    """The record `TerminateOnNaN` left in `workdir` (`{"period": …, "reason": …}`), or `None`."""
    return durable.read_json(os.path.join(workdir, STOPPED))


class SyncReplicaCopies(keras.callbacks.Callback):
    """At each period's end, sets every replica's copy of each float non-trainable variable to
    the copies' mean (a no-op with one replica).

    Under a `tf.distribute` strategy, Keras 3 keeps one copy per replica of each non-trainable
    variable (the BN moving statistics) and each replica updates its copy from its own share of
    the batch; a checkpoint or backup holds only the first copy. Averaging them before the
    evaluation and the saves makes the evaluation use the statistics the checkpoint holds, and
    makes the saved state the whole state, so a resumed run continues exactly as an
    uninterrupted one. Training is unaffected (BN trains on batch statistics).

    Under a strategy of several workers (MultiWorkerMirroredStrategy) each worker holds only its
    own replicas' copies: the mean is then taken over every replica of the job (one all-reduce),
    so that all workers evaluate and save the same statistics as one process of as many replicas.
    """

    def on_epoch_end(self, epoch, logs=None):
        synced = []
        for variable in self.model.non_trainable_variables:
            copies = getattr(getattr(variable, "value", None), "values", None)
            if isinstance(copies, tuple) and variable.dtype.startswith(("float", "bfloat")):
                synced.append((variable, copies))
        if not synced:
            return
        strategy = getattr(synced[0][0].value, "_distribute_strategy", None)
        if strategy is not None and strategy.num_replicas_in_sync > len(synced[0][1]):
            self._sync_over_workers(strategy, synced)
            return
        for _, copies in synced:
            if len(copies) < 2:
                continue
            mean = ops.mean(ops.stack([ops.convert_to_numpy(c.read_value()) for c in copies]), axis=0)
            for copy in copies:
                copy.assign(ops.cast(mean, copy.dtype))

    @staticmethod
    def _sync_over_workers(strategy, synced):
        import tensorflow as tf

        local = strategy.run(lambda: [tf.identity(variable.value) for variable, _ in synced])
        means = strategy.reduce("MEAN", local, axis=None)
        for mean, (_, copies) in zip(means, synced):
            for copy in copies:
                copy.assign(tf.cast(mean, copy.dtype))


def add_period_logs(logs, epoch, steps_per_period):
    """Adds `step` (iterations at the end of period `epoch`) and `train_error` (1 − the period's
    running training accuracy, as the paper's curves show it) to `logs`; returns `logs`."""
    logs = logs if logs is not None else {}
    logs["step"] = (epoch + 1) * steps_per_period
    if "accuracy" in logs:
        logs["train_error"] = 1.0 - float(logs["accuracy"])
    return logs


class PeriodicEvaluation(keras.callbacks.Callback):
    """Evaluates named splits at the end of each period and adds `{name}_error`, `{name}_loss` and
    `{name}_images` to the logs, every image counted once under any strategy (`exact_eval`; the
    model compiled with `exact_eval.weighted_metrics()`).

    A split is arrays `(x, y)` (padded here to whole batches, the padding weighted 0), arrays
    `(x, y, weights)` of whole batches already weighted (`exact_eval.pad_shard`), or a dataset of
    whole weighted batches `(x, y, weights)` (`exact_eval.pad_and_weigh`). Also adds
    `train_error` (1 − the period's running training accuracy, as the paper's curves show it),
    `step` and `learning_rate`.

    Args:
        splits: dict of name to `(x, y)` or a dataset.
        steps_per_period: int. Iterations per period.
        batch_size: int. Evaluation batch size of array splits (in a job of several processes
            that evaluates arrays, this process's share of the batch).
        schedule: optional callable step → learning rate, for the logs; otherwise the optimizer's
            current rate.
        steps: optional dict of name to the batches in one pass of a dataset split, where known,
            so that Keras need not run it dry (and warn) to find its end.
        skips: optional dict of name to the `SkipCounter` of a dataset split, told each pass's
            count of unreadable images.
        sizes: optional dict of name to the files in a dataset split, where known: the skips are
            then exactly the files `{name}_images` leaves out, the split's last ones included.
    """

    def __init__(self, splits, steps_per_period, *, batch_size=None, schedule=None, steps=None, skips=None, sizes=None):
        super().__init__()
        # Arrays: whole batches, the padding weighted 0 (see `exact_eval`).
        self.splits = {
            name: exact_eval.pad_arrays(*split, batch_size) if isinstance(split, tuple) and len(split) == 2 else split
            for name, split in splits.items()
        }
        self.batch_size = batch_size
        self.steps_per_period = steps_per_period
        self.schedule = schedule
        self.steps, self.skips, self.sizes = steps or {}, skips or {}, sizes or {}

    def on_epoch_end(self, epoch, logs=None):
        logs = add_period_logs(logs, epoch, self.steps_per_period)
        for name, split in self.splits.items():
            if isinstance(split, tuple):
                x, y, weights = split
                results = self.model.evaluate(
                    x, y, sample_weight=weights, batch_size=self.batch_size, verbose=0, return_dict=True
                )
            else:
                results = self.model.evaluate(split, steps=self.steps.get(name), verbose=0, return_dict=True)
            logs.update(exact_eval.split_logs(self.model, results, name))
            if name in self.skips:
                size = self.sizes.get(name)
                self.skips[name].report(int(round(logs[f"{name}_images"])) if size else None, size)
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
    return durable.read_json(path) or []


def write_history(rows, json_path, csv_path):
    """Writes the rows as JSON and CSV, each whole or not at all (`durable`)."""
    durable.write_json(json_path, rows)
    columns = sorted({k for row in rows for k in row}, key=lambda k: (k != "step", k))
    with durable.writing(csv_path) as partial:
        with open(partial, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=columns)
            writer.writeheader()
            writer.writerows(rows)


def tensorboard_available():
    """Whether Keras' TensorBoard callback can run: it needs the `tensorboard` package (TF 2.21 no
    longer ships it) and TensorFlow itself (`tensorflow.summary`), on every backend."""
    try:
        return all(importlib.util.find_spec(name) is not None for name in ("tensorboard", "tensorflow"))
    except ValueError:  # A module set to None in sys.modules: it cannot be imported.
        return False


class PeriodTensorBoard(keras.callbacks.TensorBoard):
    """Keras' TensorBoard callback writing each period's logs, without its batch-end hook: while
    any callback has one, Keras fetches every step's logs to the host, which takes JAX and
    PyTorch runs off asynchronous dispatch (the hook writes nothing at `update_freq="epoch"`,
    but the train graph, which is therefore not written)."""

    on_train_batch_end = keras.callbacks.Callback.on_train_batch_end

    def __init__(self, log_dir):
        super().__init__(log_dir, write_graph=False)


def make_callbacks(workdir, evaluation=None, schedule=None, progress=None, backup_from=None, chief=True):
    """The run's callbacks, in the order that keeps the saved state consistent.

    At each period's end: replica copies made one (`SyncReplicaCopies`), evaluation, NaN guard
    (which sees the evaluation and every kept array), the schedule (its decision, e.g. a plateau
    cut, belongs to the period just ended), history row, checkpoint, backup (which carries the
    schedule's counters); then progress. TensorBoard (`PeriodTensorBoard`) on every backend where
    it and TensorFlow are installed (one warning otherwise), in the chief only. No callback here
    has a batch-end hook. `faults` adds its
    test hooks where its environment variables ask for them.

    Args:
        workdir: str.
        evaluation: optional `PeriodicEvaluation` (or another callback adding the period's logs).
        schedule: optional learning-rate callback: `schedules.ReduceLROnPlateau` or
            `schedules.WarmupUntilTrainingError`.
        progress: optional `ProgressLine`.
        backup_from: optional str. The workdir whose backup this process resumes from: the
            job's, whose backup is the chief's, also for a process that writes in scratch space
            of its own (`run.opened`). Defaults to `None`: `workdir`.
        chief: bool. Whether this process writes the run's outputs; the others write no
            TensorBoard logs. Defaults to `True`.

    Returns:
        A list of callbacks.
    """
    checkpoint = os.path.join(workdir, CHECKPOINT)
    os.makedirs(os.path.dirname(checkpoint), exist_ok=True)
    stateful = {"schedule": schedule} if hasattr(schedule, "backup_state") else {}
    callbacks = [
        SyncReplicaCopies(),
        evaluation,
        TerminateOnNaN(checkpoint, os.path.join(workdir, STOPPED)),
        schedule,
        faults.kill_point(faults.AFTER_SCHEDULE),
        HistoryWriter(workdir),
        Checkpoint(checkpoint),
        BackupAndRestore(
            os.path.join(backup_from or workdir, BACKUP_DIR), stateful, save_dir=os.path.join(workdir, BACKUP_DIR)
        ),
        faults.kill_point(faults.AFTER_BACKUP),
        progress,
        faults.trace(),
        faults.kill_point(faults.INSIDE_PERIOD),
    ]
    callbacks = [c for c in callbacks if c is not None]
    if not chief:
        return callbacks
    if not tensorboard_available():
        logging.warning(
            "tensorboard or TensorFlow is not installed: no TensorBoard logs (pip install tensorboard tensorflow)"
        )
    else:  # Through tf.summary, on every backend: TensorFlow loads here where nothing loaded it yet.
        callbacks.append(PeriodTensorBoard(os.path.join(workdir, TENSORBOARD_DIR)))
    return callbacks
