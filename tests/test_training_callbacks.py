"""Backups and checkpoints survive a process killed while writing them."""

import json
import os

import keras
import numpy as np
import pytest

from keras_resnet.training import backup, callbacks


def _model():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(optimizer="sgd", loss="mse")
    return model


def _die_mid_write(filepath, overwrite=True):
    with open(filepath, "wb") as f:
        f.write(b"\x89HDF\r\n\x1a\n")  # the first bytes of an HDF5 file, then nothing
    raise RuntimeError("killed")


@pytest.mark.parametrize("atomic", [True, False])
def test_backup_written_when_the_process_dies_keeps_the_previous_one(tmp_path, atomic):
    backup_class = backup.BackupAndRestore if atomic else keras.callbacks.BackupAndRestore
    model = _model()
    saver = backup_class(str(tmp_path))
    saver.set_model(model)
    saver._current_epoch = 1
    saver._save_model()
    weights = os.path.join(tmp_path, "latest.weights.h5")
    before = open(weights, "rb").read()

    model.save_weights = _die_mid_write
    saver._current_epoch = 2
    with pytest.raises(RuntimeError, match="killed"):
        saver._save_model()

    if not atomic:  # Keras as shipped: the backup is now a truncated file.
        assert open(weights, "rb").read() == b"\x89HDF\r\n\x1a\n"
        return
    assert open(weights, "rb").read() == before
    assert json.load(open(os.path.join(tmp_path, "training_metadata.json")))["epoch"] == 1
    restored = _model()
    restored.load_weights(weights)
    for a, b in zip(restored.get_weights(), _model_weights(before, tmp_path)):
        np.testing.assert_array_equal(a, b)


def _model_weights(data, tmp_path):
    path = os.path.join(tmp_path, "copy.weights.h5")
    with open(path, "wb") as f:
        f.write(data)
    model = _model()
    model.load_weights(path)
    return model.get_weights()


def test_checkpoint_written_when_the_process_dies_keeps_the_previous_one(tmp_path):
    model = _model()
    path = str(tmp_path / "last_good.weights.h5")
    checkpoint = backup.Checkpoint(path)
    checkpoint.set_model(model)
    checkpoint.on_epoch_end(0)
    before = open(path, "rb").read()
    model.save_weights = _die_mid_write
    with pytest.raises(RuntimeError, match="killed"):
        checkpoint.on_epoch_end(1)
    assert open(path, "rb").read() == before


def _plateau():
    from keras_resnet.training import schedules

    return schedules.ReduceLROnPlateau(monitor="val_error", mode="min", patience=3)


def test_backup_carries_the_schedule_counters_in_its_weights_file_and_outlives_fit(tmp_path):
    model, plateau = _model(), _plateau()
    plateau.best, plateau.wait = 0.25, 2
    saver = backup.BackupAndRestore(str(tmp_path), {"schedule": plateau})
    saver.set_model(model)
    saver._current_epoch = 3
    saver._save_model()
    saver.on_train_end()
    os.remove(tmp_path / "training_metadata.json")  # The weights file alone is the backup.

    restored_model, restored_plateau = _model(), _plateau()
    restored = backup.BackupAndRestore(str(tmp_path), {"schedule": restored_plateau})
    for callback in (restored_plateau, restored):  # The recipe's order: the schedule comes first.
        callback.set_model(restored_model)
        callback.on_train_begin()
    restored_plateau.on_train_begin()  # Keras would reset the counters here; a restored one keeps them.
    assert (restored_plateau.best, restored_plateau.wait, restored_plateau.cooldown_counter) == (0.25, 2, 0)
    assert restored_model._initial_epoch == 3
    for a, b in zip(restored_model.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_backup_step_reads_the_period_from_the_weights_file(tmp_path):
    model = _model()
    saver = backup.BackupAndRestore(str(tmp_path / backup.BACKUP_DIR))
    saver.set_model(model)
    saver._current_epoch = 4
    saver._save_model()
    with open(tmp_path / backup.BACKUP_DIR / "training_metadata.json", "w") as f:
        json.dump({"epoch": 1}, f)  # A kill between the two writes leaves the previous period's copy.
    assert backup.backup_step(str(tmp_path), 5) == 20
    backup.remove_backup(str(tmp_path))
    assert backup.backup_step(str(tmp_path), 5) == 0


def test_pad_crop_flip_saves_its_random_stream_with_the_weights(tmp_path):
    import keras

    from keras_resnet.preprocessing import PadCropFlip

    images = np.arange(2 * 6 * 6, dtype="float32").reshape(2, 6, 6, 1)

    def model():
        inputs = keras.Input((6, 6, 1))
        return keras.Model(inputs, PadCropFlip(2, seed=3)(inputs))

    first = model()
    for _ in range(3):
        first(images, training=True)
    first.save_weights(str(tmp_path / "w.weights.h5"))
    second, fresh = model(), model()
    second.load_weights(str(tmp_path / "w.weights.h5"))
    draws = [keras.ops.convert_to_numpy(m(images, training=True)) for m in (first, second, fresh)]
    np.testing.assert_array_equal(draws[0], draws[1])
    assert not np.array_equal(draws[0], draws[2])  # Without the saved state the stream restarts.


def _fit_printing_progress(epochs, steps_per_epoch, batch_size=2):
    """Fits `_model()` on zeros with a `ProgressLine` that prints at every chance; its lines."""
    lines, steps = [], epochs * steps_per_epoch
    progress = callbacks.ProgressLine(
        steps, batch_size, print_fn=lambda line, flush=False: lines.append(line), every_seconds=0.0
    )
    x, y = np.zeros((steps * batch_size, 3), "float32"), np.zeros((steps * batch_size, 2), "float32")
    _model().fit(
        x, y, batch_size=batch_size, epochs=epochs, steps_per_epoch=steps_per_epoch, verbose=0, callbacks=[progress]
    )
    return progress, lines


def test_progress_shows_the_first_step_at_once_and_lines_within_a_period():
    progress, lines = _fit_printing_progress(epochs=2, steps_per_epoch=6)
    assert lines[0].startswith("step 1/12: first step done") and "compiling included" in lines[0]
    within = [line for line in lines[1:] if line.endswith("img/s")]
    # Printed as a step begins (no batch-end hook: Keras would fetch the logs after every step);
    # the period's last step is in its period line.
    assert [line.split("/")[0] for line in within] == [f"step {s}" for s in (2, 3, 4, 5, 7, 8, 9, 10, 11)]
    assert type(progress).on_train_batch_end is keras.callbacks.Callback.on_train_batch_end
    assert sum("(incl. eval)" in line for line in lines) == 2  # one line per period


def test_the_first_step_of_a_process_says_how_long_since_its_launch(monkeypatch):
    """The first training of a process counts from its launch too (imports and data included);
    later ones from their own start only."""
    import re
    import subprocess
    import sys

    from keras_resnet.training import progress

    monkeypatch.setattr(progress, "_first_run", True)
    _, lines = _fit_printing_progress(epochs=1, steps_per_epoch=2)
    began, launched = map(float, re.match(r"^step 1/2: first step done ([\d.]+) s after training began \(compiling "
                                          r"included\); ([\d.]+) s after the launch$", lines[0]).groups())  # fmt: skip
    assert launched > began
    _, again = _fit_printing_progress(epochs=1, steps_per_epoch=2)
    assert "after the launch" not in again[0]
    # From the kernel's count: a process that slept 1 s before asking was launched over 1 s ago.
    code = "import time; time.sleep(1); from keras_resnet.training import lock; print(time.time() - lock.launched())"
    slept = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert slept.returncode == 0 and slept.stdout.strip(), slept.stderr[-2000:]
    assert 1.0 <= float(slept.stdout.split()[-1]) < 120, slept.stdout


def test_progress_of_one_step_periods_is_the_period_lines_in_order():
    _, lines = _fit_printing_progress(epochs=3, steps_per_epoch=1)
    # No "first step done" line after the first period's line: that line came first, and says it.
    assert len(lines) == 3 and all(line.endswith("img/s (incl. eval)") for line in lines), lines


def test_the_runs_callbacks_write_tensorboard_logs_with_no_batch_end_hook(tmp_path):
    """While any callback has a batch-end hook Keras fetches every step's logs to the host; the
    recipe's list has none (Keras' own TensorBoard callback has one), yet writes TensorBoard logs."""
    import tensorflow as tf

    progress = callbacks.ProgressLine(4, 2, print_fn=lambda line, flush=False: None)
    made = callbacks.make_callbacks(str(tmp_path), progress=progress)
    _model().fit(
        np.zeros((8, 3), "float32"),
        np.zeros((8, 2), "float32"),
        batch_size=2,
        epochs=2,
        steps_per_epoch=2,
        verbose=0,
        callbacks=made,
    )
    hooked = [
        type(c).__name__ for c in made if type(c).on_train_batch_end is not keras.callbacks.Callback.on_train_batch_end
    ]
    assert hooked == []
    events = [os.path.join(d, f) for d, _, files in os.walk(tmp_path / callbacks.TENSORBOARD_DIR) for f in files]
    tags = {
        (v.tag, e.step) for path in events for e in tf.compat.v1.train.summary_iterator(path) for v in e.summary.value
    }
    assert {("epoch_loss", 0), ("epoch_loss", 1)} <= tags


def test_a_backup_is_flushed_to_the_disk_before_it_takes_its_name_and_the_previous_one_is_kept(tmp_path, monkeypatch):
    """The order a power cut cannot tear: the new file written and fsync'ed under a temporary
    name, the backup before it kept, the rename, then the folder fsync'ed."""
    from keras_resnet.training import durable

    events = []
    fsync, replace = os.fsync, os.replace

    def traced_fsync(descriptor):
        events.append(("fsync", os.path.basename(os.readlink(f"/proc/self/fd/{descriptor}"))))
        fsync(descriptor)

    def traced_replace(source, target):
        events.append(("rename", os.path.basename(source), os.path.basename(target)))
        replace(source, target)

    saver = backup.BackupAndRestore(str(tmp_path))
    saver.set_model(_model())
    for epoch in (1, 2):
        if epoch == 2:
            monkeypatch.setattr(durable.os, "fsync", traced_fsync)
            monkeypatch.setattr(durable.os, "replace", traced_replace)
        saver._current_epoch = epoch
        saver._save_model()
    folder = os.path.basename(tmp_path)
    assert events[:4] == [
        ("rename", "latest.weights.h5", "previous.weights.h5"),
        ("fsync", "latest.partial.weights.h5"),
        ("rename", "latest.partial.weights.h5", "latest.weights.h5"),
        ("fsync", folder),
    ]
    assert [
        backup.whole_backup(str(tmp_path))[1]["epoch"],
        backup._read_whole(str(tmp_path / "previous.weights.h5"))["epoch"],
    ] == [2, 1]
