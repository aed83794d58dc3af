"""The backup a killed run resumes from, and the checkpoint of its last good period.

At each period's end `BackupAndRestore` writes the whole training state (weights, optimizer,
augmentation stream, and the schedule's counters with the period in the file's metadata) to a
temporary file, flushes it to the disk and renames it into place, the backup before it kept as
`previous.weights.h5` (`durable`): a kill, a power cut or a full disk leaves whole files. A rerun
resumes from the newest backup that reads whole (`whole_backup`: every array read back); one
that does not (torn by a disk that lied, cut by hand) is passed over with one line saying from
which step the run resumes instead. The backup is kept until the run's outputs are written
(`remove_backup`), so a run killed in between finishes them without training again.
"""

import json
import os
import shutil

import keras

from keras_resnet.training import durable

BACKUP_DIR = "backup"
BACKUP_WEIGHTS = "latest.weights.h5"
PREVIOUS_WEIGHTS = "previous.weights.h5"
BACKUP_METADATA = "training_metadata.json"  # A readable copy of the latest backup's metadata.
CHECKPOINT = os.path.join("checkpoints", "last_good.weights.h5")
# The HDF5 attribute of a backup's weights file that holds its metadata (period, schedule state).
_METADATA_ATTR = "training_metadata"


def _read_whole(path):
    """The metadata of the backup file `path`, every array of it read back; or the reason it
    cannot be used, as a string."""
    import h5py

    def read(name, item):
        if isinstance(item, h5py.Dataset):
            item[()]

    try:
        with h5py.File(path, "r") as f:
            text = f.attrs.get(_METADATA_ATTR)
            f.visititems(read)
        if text is None:  # A backup of an older version: its metadata beside it.
            with open(os.path.join(os.path.dirname(path), BACKUP_METADATA)) as f:
                text = f.read()
        return json.loads(text)
    except Exception as error:  # h5py raises OSError, KeyError, RuntimeError, … for a torn file.
        return f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else 'unreadable'}"


def whole_backup(backup_dir):
    """The newest backup in `backup_dir` that reads whole: `(path, metadata, passed_over)`, where
    `passed_over` lists `(file, reason)` for each newer one that does not; `(None, None, […])`
    where none does."""
    passed_over = []
    for name in (BACKUP_WEIGHTS, PREVIOUS_WEIGHTS):
        path = os.path.join(backup_dir, name)
        if not os.path.exists(path):
            continue
        metadata = _read_whole(path)
        if isinstance(metadata, dict):
            return path, metadata, passed_over
        passed_over.append((path, metadata))
    return None, None, passed_over


def backup_step(workdir, steps_per_period, print_fn=None):
    """The step a rerun resumes from: the newest whole backup's period × `steps_per_period` (0
    where there is none). A backup passed over is one line through `print_fn`, naming the step
    the run resumes from instead."""
    path, metadata, passed_over = whole_backup(os.path.join(workdir, BACKUP_DIR))
    step = int(metadata["epoch"]) * steps_per_period if metadata else 0
    if passed_over and print_fn is not None:
        instead = f"the previous backup, at step {step:,}" if metadata else "step 0: no whole backup is left"
        damaged = "; ".join(f"{file} ({reason})" for file, reason in passed_over)
        print_fn(f"backup {damaged} cannot be read whole; resuming from {instead}", flush=True)
    return step


def restore_backup(model, workdir):
    """Loads the newest whole backup into a compiled `model` (for a run whose training is over,
    so that `fit` is not called again)."""
    backup = BackupAndRestore(os.path.join(workdir, BACKUP_DIR))
    backup.set_model(model)
    backup.on_train_begin()


def remove_backup(workdir):
    """Deletes the backup once a run's final outputs are written."""
    shutil.rmtree(os.path.join(workdir, BACKUP_DIR), ignore_errors=True)


def save_weights(model, path, metadata=None, previous=None):
    """Writes `model`'s weights to `path` (a `.weights.h5` file) whole or not at all, and
    durably (`durable.writing`).

    Args:
        model: a `keras.Model`.
        path: str.
        metadata: optional JSON-able dict, stored in the file (an HDF5 attribute) before the
            rename, so that weights and metadata are replaced together.
        previous: optional str. Where the file at `path` is kept once the new one is written.
    """
    with durable.writing(path) as partial:
        model.save_weights(partial, overwrite=True)
        if metadata is not None:
            import h5py

            with h5py.File(partial, "a") as f:
                f.attrs[_METADATA_ATTR] = json.dumps(metadata)
        if previous is not None and os.path.exists(path):
            os.replace(path, previous)


class Checkpoint(keras.callbacks.Callback):
    """Saves the weights at the end of every period, whole (`save_weights`)."""

    def __init__(self, path):
        super().__init__()
        self.path = path

    def on_epoch_end(self, epoch, logs=None):
        save_weights(self.model, self.path)


class BackupAndRestore(keras.callbacks.BackupAndRestore):
    """`keras.callbacks.BackupAndRestore` that saves the whole training state in one durable
    write, keeps the backup before it, restores from the newest whole one, and keeps its backup
    until the run's outputs are written.

    Keras writes the weights, then the metadata, each in place: a kill during the write leaves a
    truncated HDF5 file that the next run cannot load, and a kill between the two pairs weights
    and period that do not belong together. Here the metadata (the period, and the state of the
    callbacks in `stateful`, e.g. the plateau schedule's counters) goes into the weights file,
    written under a temporary name and renamed into place (`save_weights`).

    Args:
        backup_dir: str.
        stateful: optional dict of name to callback with `backup_state()` (a JSON-able value)
            and `restore_state(value)`.
        save_dir: optional str. Where the backup is written, when not where it is restored from
            (the other processes of a job restore from the chief's backup and write their own:
            on JAX a save is a collective of all processes). Defaults to `backup_dir`.
    """

    # Saves once per period: Keras' batch-end hook, which then never saves, would make Keras fetch
    # every step's logs to the host (see `callbacks.PeriodTensorBoard`).
    on_train_batch_end = keras.callbacks.Callback.on_train_batch_end

    def __init__(self, backup_dir, stateful=None, save_dir=None):
        super().__init__(backup_dir, delete_checkpoint=False)
        self.stateful, self.save_dir = dict(stateful or {}), save_dir or backup_dir

    def on_train_begin(self, logs=None):
        path, metadata, _ = whole_backup(self.backup_dir)
        if path is None:
            return
        if self.model.optimizer is not None and not self.model.optimizer.built:
            self.model.optimizer.build(self.model.trainable_variables)
        self.model.load_weights(path)
        self.model._initial_epoch = int(metadata["epoch"])
        state = metadata.get("state", {})
        for name, callback in self.stateful.items():
            if name in state:
                callback.restore_state(state[name])

    def _save_model(self):
        os.makedirs(self.save_dir, exist_ok=True)
        metadata = {
            "epoch": self._current_epoch,
            "batch": self._last_batch_seen,
            "state": {name: callback.backup_state() for name, callback in self.stateful.items()},
        }
        save_weights(
            self.model,
            os.path.join(self.save_dir, BACKUP_WEIGHTS),
            metadata,
            previous=os.path.join(self.save_dir, PREVIOUS_WEIGHTS),
        )
        durable.write_json(os.path.join(self.save_dir, BACKUP_METADATA), metadata)
