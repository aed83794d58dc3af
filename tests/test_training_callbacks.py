"""Backups and checkpoints survive a process killed while writing them."""

import json
import os

import keras
import numpy as np
import pytest

from keras_resnet.training import callbacks


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
    backup_class = callbacks.BackupAndRestore if atomic else keras.callbacks.BackupAndRestore
    model = _model()
    backup = backup_class(str(tmp_path))
    backup.set_model(model)
    backup._current_epoch = 1
    backup._save_model()
    weights = os.path.join(tmp_path, "latest.weights.h5")
    before = open(weights, "rb").read()

    model.save_weights = _die_mid_write
    backup._current_epoch = 2
    with pytest.raises(RuntimeError, match="killed"):
        backup._save_model()

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
    checkpoint = callbacks.Checkpoint(path)
    checkpoint.set_model(model)
    checkpoint.on_epoch_end(0)
    before = open(path, "rb").read()
    model.save_weights = _die_mid_write
    with pytest.raises(RuntimeError, match="killed"):
        checkpoint.on_epoch_end(1)
    assert open(path, "rb").read() == before
