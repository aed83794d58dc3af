"""The NaN guard keeps good periods only (every logged number and every kept array finite), and a
rerun of a run it stopped says why instead of resuming into the same divergence."""

import os
import re

import h5py
import keras
import numpy as np
import pytest

from keras_resnet.cifar import datasets
from keras_resnet.cifar.arrays import check_arrays
from keras_resnet.errors import RecipeError
from keras_resnet.training import backup, callbacks, run


def _model():
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, name="fc")], name="net")
    model.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9), loss="mse")
    return model


class Spoil(keras.callbacks.Callback):
    """Stands in for the evaluation: keeps each period's weights; in `period`, makes the validation
    loss NaN, or the kernel infinite (as BN's moving variance overflows while the loss is finite)."""

    def __init__(self, period, what):
        super().__init__()
        self.period, self.what, self.weights = period, what, []

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 == self.period and self.what == "val_loss":
            logs["val_loss"] = float("nan")
        elif epoch + 1 == self.period:
            self.model.get_layer("fc").kernel.assign(np.full((2, 1), np.inf, "float32"))
        self.weights.append(self.model.get_weights())


def _float_arrays(path):
    arrays = []
    with h5py.File(path, "r") as f:
        f.visititems(
            lambda name, item: (
                arrays.append(item[()]) if isinstance(item, h5py.Dataset) and item.dtype.kind == "f" else None
            )
        )
    return arrays


@pytest.mark.parametrize(
    "what, reason",
    [
        ("val_loss", "val_loss became nan"),
        ("kernel", "net/fc/kernel became non-finite"),
    ],
    ids=["val_loss", "kernel"],
)
def test_a_period_with_a_non_finite_evaluation_or_array_is_not_kept(tmp_path, what, reason):
    workdir, model, spoil = str(tmp_path), _model(), Spoil(2, what)
    x, y = np.ones((8, 2), "float32"), np.ones((8, 1), "float32")
    with pytest.raises(FloatingPointError) as error:
        model.fit(x, y, batch_size=4, epochs=4, verbose=0, callbacks=callbacks.make_callbacks(workdir, spoil))
    checkpoint = os.path.join(workdir, backup.CHECKPOINT)
    assert str(error.value) == (
        f"{reason} in evaluation period 2; stopped. The last good weights (period 1) are in {checkpoint}"
    )
    kept = _model()
    kept.load_weights(checkpoint)
    for value, expected in zip(kept.get_weights(), spoil.weights[0]):
        np.testing.assert_array_equal(value, expected)
    backup_file = os.path.join(workdir, backup.BACKUP_DIR, backup.BACKUP_WEIGHTS)
    assert all(np.isfinite(a).all() for a in _float_arrays(backup_file))
    with pytest.raises(RecipeError) as error:
        run.prepare_workdir(workdir, {"model": "net"})
    assert str(error.value) == (
        f"--workdir {workdir} holds a run that stopped: {reason} in evaluation period 2. Rerun unchanged, it would "
        "fail the same way: change the settings that made it diverge (the learning rate, …) and pass --overwrite, or "
        "choose another --workdir"
    )


def test_a_diverging_cifar_run_keeps_only_finite_arrays_and_its_rerun_says_why_it_stops(tmp_path, run_cifar):
    rng = np.random.default_rng(0)
    arrays = check_arrays(
        dict(
            x_train=rng.integers(0, 256, (64, 8, 8, 3), dtype="uint8"),
            y_train=np.arange(64) % 10,
            x_test=rng.integers(0, 256, (16, 8, 8, 3), dtype="uint8"),
            y_test=np.arange(16) % 10,
        )
    )
    data = datasets.prepare(arrays, validation_size=16)
    workdir = str(tmp_path / "run")

    def run():  # Diverges at once.
        return run_cifar(data, workdir, train_steps=30, batch_size=16, eval_every=1, learning_rate=1000.0)

    with pytest.raises(FloatingPointError) as error:
        run()
    reason, period = re.match(r"^(.*) in evaluation period (\d+); stopped\.", str(error.value)).groups()
    kept = [
        os.path.join(workdir, backup.CHECKPOINT),
        os.path.join(workdir, backup.BACKUP_DIR, backup.BACKUP_WEIGHTS),
    ]
    for path in [p for p in kept if os.path.exists(p)]:
        assert all(np.isfinite(a).all() for a in _float_arrays(path)), path
    rows = callbacks.read_history(os.path.join(workdir, callbacks.HISTORY_JSON))
    assert len(rows) == int(period) - 1 and all(np.isfinite(v) for row in rows for v in row.values())
    with pytest.raises(RecipeError) as error:
        run()
    assert str(error.value) == (
        f"--workdir {workdir} holds a run that stopped: {reason} in evaluation period {period}. Rerun unchanged, it "
        "would fail the same way: change the settings that made it diverge (the learning rate, …) and pass "
        "--overwrite, or choose another --workdir"
    )
