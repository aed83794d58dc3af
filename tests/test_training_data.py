"""CIFAR data as the paper prepared it: augmentation, per-pixel mean, splits, input checks."""

import os

import keras
import numpy as np
import pytest
from keras import ops

from keras_resnet.cifar import arrays, config, datasets, streams
from keras_resnet.errors import DataError
from keras_resnet.preprocessing import PadCropFlip, PerPixelMean
from keras_resnet.training import backup, callbacks, distribute


def _unique_images(n, size=8):
    # Every pixel of every image distinct and positive, so a crop identifies its offset and flip.
    return np.arange(n * size * size, dtype="float32").reshape(n, size, size, 1) + 1.0


def _find_crop(out, image, pad):
    padded = np.pad(image, ((pad, pad), (pad, pad), (0, 0)))
    h, w = image.shape[:2]
    for dy in range(2 * pad + 1):
        for dx in range(2 * pad + 1):
            window = padded[dy : dy + h, dx : dx + w]
            for flipped in (False, True):
                if np.array_equal(out, window[:, ::-1] if flipped else window):
                    return dy, dx, flipped
    return None


def test_crops_come_from_inside_the_padded_image_with_per_example_offsets_and_half_flips():
    images = _unique_images(400)
    layer = PadCropFlip(pad=2, seed=3)
    out = ops.convert_to_numpy(layer(images, training=True))
    found = [_find_crop(o, i, 2) for o, i in zip(out, images)]
    assert all(f is not None for f in found), "an output is not a pad-2 crop (or its flip) of its input"
    offsets = {(dy, dx) for dy, dx, _ in found}
    assert len(offsets) == 25  # every offset of a 5x5 range occurs: one per example, not per batch
    flip_rate = np.mean([f[2] for f in found])
    assert 0.4 < flip_rate < 0.6


def test_paper_default_pads_four_and_test_images_are_untouched():
    cfg = config.cifar10()
    assert cfg.pad == 4 and cfg.horizontal_flip
    images = _unique_images(16, size=32)
    layer = PadCropFlip(cfg.pad, seed=0)
    np.testing.assert_array_equal(ops.convert_to_numpy(layer(images, training=False)), images)
    np.testing.assert_array_equal(ops.convert_to_numpy(layer(images)), images)


def test_augmentation_layer_round_trips_through_config():
    layer = PadCropFlip(pad=3, flip=False, seed=7)
    clone = PadCropFlip.from_config(layer.get_config())
    assert (clone.pad, clone.flip, clone.seed) == (3, False, 7)


def _arrays(n_train=50, n_test=10, shape=(4, 4, 3), classes=3):
    rng = np.random.default_rng(0)
    return {
        "x_train": rng.integers(0, 255, (n_train, *shape), dtype="uint8"),
        "y_train": np.arange(n_train) % classes,
        "x_test": rng.integers(0, 255, (n_test, *shape), dtype="uint8"),
        "y_test": np.arange(n_test) % classes,
    }


def test_per_pixel_mean_is_the_training_splits_not_the_held_out_images():
    given = _arrays()
    given["x_train"][45:] = 255  # the held-out five are bright: they would shift the mean
    data = datasets.prepare(arrays.check_arrays(given), validation_size=5)
    expected = given["x_train"][:45].astype("float64").sum(axis=0) / 45
    np.testing.assert_allclose(data.mean, expected, rtol=1e-6)
    assert data.mean.shape == (4, 4, 3)
    assert not np.allclose(data.mean, given["x_train"].mean(axis=0))


def test_mean_layer_subtracts_the_mean_image():
    mean = np.arange(12, dtype="float32").reshape(2, 2, 3)
    x = np.full((1, 2, 2, 3), 20, "uint8")
    np.testing.assert_array_equal(ops.convert_to_numpy(PerPixelMean(mean)(x))[0], 20 - mean)


def test_split_is_45k_train_5k_validation_and_full_train_keeps_50k():
    given = {
        "x_train": np.zeros((50000, 1, 1, 1), "uint8"),
        "y_train": np.zeros(50000, "int64"),
        "x_test": np.zeros((10, 1, 1, 1), "uint8"),
        "y_test": np.zeros(10, "int64"),
    }
    loaded = arrays.check_arrays(given)
    data = datasets.prepare(loaded, validation_size=config.cifar10().validation_size)
    assert (len(data.x_train), len(data.x_val), len(data.x_test)) == (45000, 5000, 10)
    full = datasets.prepare(loaded, full_train=True)
    assert len(full.x_train) == 50000 and full.x_val is None and list(full.eval_splits()) == ["test"]


def test_a_training_set_ordered_by_class_is_refused_before_its_last_class_is_held_out():
    given = arrays.check_arrays(_arrays(n_train=60))
    order = np.argsort(given["y_train"], kind="stable")  # 20 of class 0, 20 of 1, 20 of 2.
    ordered = dict(given, x_train=given["x_train"][order], y_train=given["y_train"][order])
    with pytest.raises(
        DataError, match=r"the training labels change 2 times in 60 images, one block per class: the last 10"
    ):
        datasets.prepare(ordered, validation_size=10)
    assert len(datasets.prepare(given, validation_size=10).x_val) == 10  # Shuffled: accepted.
    assert len(datasets.prepare(ordered, full_train=True).x_train) == 60  # Nothing held out: nothing to check.


def test_grayscale_npz_without_channel_axis_gets_one(tmp_path):
    path = tmp_path / "gray.npz"
    np.savez(
        path,
        x_train=np.zeros((6, 28, 28), "uint8"),
        y_train=np.arange(6) % 2,
        x_test=np.zeros((2, 28, 28), "uint8"),
        y_test=np.array([[0], [1]]),
    )
    loaded = arrays.load_npz(str(path))
    assert loaded["x_train"].shape == (6, 28, 28, 1) and loaded["y_test"].tolist() == [0, 1]
    assert loaded["num_classes"] == 2


@pytest.mark.parametrize(
    "change, message",
    [
        ({"drop": "y_test"}, "lacks y_test"),
        ({"y_test": np.array([0, 1, 2, 7] + [0] * 6)}, "y_test holds label 7, outside 0..2"),
        ({"y_train": -(np.arange(50) % 3)}, "y_train holds label -1"),
        ({"x_test": np.zeros((10, 5, 4, 3), "uint8")}, "images of mixed shapes"),
        ({"y_train": np.zeros(49, "int64")}, "one label per image"),
        (
            {"y_train": np.arange(50) % 3 + 1, "y_test": np.arange(10) % 3 + 1},
            r"never uses label 0 \(its labels run 1..3\)",
        ),
        (
            {"x_test": np.full((10, 4, 4, 3), 0.5, "float32")},
            r"x_train's pixels span \[0, 254\] but x_test's \[0.5, 0.5\]",
        ),
    ],
)
def test_malformed_npz_is_refused_with_the_problem_named(tmp_path, change, message):
    given = _arrays()
    given.pop(change.pop("drop", None), None)
    given.update(change)
    path = tmp_path / "bad.npz"
    np.savez(path, **given)
    with pytest.raises(DataError, match=message):
        arrays.load_npz(str(path))


def test_npz_of_mixed_image_shapes_as_an_object_array_is_refused(tmp_path):
    ragged = np.empty(2, dtype=object)
    ragged[0], ragged[1] = np.zeros((4, 4, 3)), np.zeros((5, 5, 3))
    path = tmp_path / "ragged.npz"
    np.savez(path, x_train=ragged, y_train=np.zeros(2), x_test=np.zeros((1, 4, 4, 3)), y_test=np.zeros(1))
    with pytest.raises(DataError, match="mixed shapes"):
        arrays.load_npz(str(path))


@pytest.mark.parametrize(
    "part, labels, shown",
    [
        ("train", np.array([0, 1, 2, 2**32 + 1], "int64"), 2**32 + 1),  # The int32 cast made it label 1.
        ("test", np.array([0, 1e10]), 10**10),
    ],
    ids=["int64", "float"],
)
def test_a_label_beyond_int32_is_refused_naming_its_value(tmp_path, part, labels, shown):
    given = {
        "x_train": np.zeros((4, 4, 4, 3), "uint8"),
        "y_train": np.array([0, 1, 2, 2]),
        "x_test": np.zeros((len(labels), 4, 4, 3), "uint8"),
        "y_test": np.array([0, 1] * (len(labels) // 2)),
    }
    given[f"y_{part}"] = labels
    path = tmp_path / "data.npz"
    np.savez(path, **given)
    with pytest.raises(DataError) as error:
        arrays.load_npz(str(path))
    assert str(error.value) == f"--data={path}: y_{part} holds label {shown}, beyond the int32 range of class labels"


def test_missing_npz_is_named(tmp_path):
    with pytest.raises(DataError, match="not found"):
        arrays.load_npz(str(tmp_path / "nothing.npz"))


@pytest.mark.parametrize("backend", ["tensorflow", "host"])
def test_the_training_stream_is_full_shuffled_passes_and_resumes_at_the_same_batch(backend, monkeypatch):
    if backend == "host":  # The numpy batches JAX and PyTorch get.
        monkeypatch.setattr(streams.keras.backend, "backend", lambda: "jax")
    images = np.arange(10, dtype="uint8").reshape(10, 1, 1, 1)
    data = datasets.prepare(
        arrays.check_arrays(dict(x_train=images, y_train=np.arange(10), x_test=images, y_test=np.arange(10))),
        validation_size=0,
    )

    def labels(start_step, count):
        stream = streams.train_stream(distribute.Resolved("none"), data, 3, seed=5, start_step=start_step)
        taken = [(ops.convert_to_numpy(x).ravel(), ops.convert_to_numpy(y)) for (x, y), _ in zip(stream, range(count))]
        assert all((x == y).all() for x, y in taken)  # Images and labels of the same rows.
        return [y.tolist() for _, y in taken]

    run = labels(0, 7)
    first_pass = np.concatenate(run[:3]).tolist()  # 10 // 3 = 3 full batches, one image dropped
    assert len(set(first_pass)) == 9 and first_pass != sorted(first_pass)
    assert run == [rows.tolist() for rows, _ in zip(arrays.batch_indices(10, 3, seed=5), range(7))]
    assert labels(5, 2) == run[5:7]


def test_nan_loss_stops_the_run_and_keeps_the_last_good_checkpoint(tmp_path):
    workdir = str(tmp_path)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")

    def data():
        for step in range(100):
            value = np.nan if step >= 4 else 1.0  # periods 1 and 2 are good, period 3 is not
            yield np.full((2, 2), value, "float32"), np.ones((2, 1), "float32")

    with pytest.raises(FloatingPointError, match="loss became nan in evaluation period 3.*last good weights"):
        model.fit(data(), steps_per_epoch=2, epochs=5, verbose=0, callbacks=callbacks.make_callbacks(workdir))
    assert np.isnan(ops.convert_to_numpy(model.layers[0].kernel)).all()
    good = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    good.load_weights(os.path.join(workdir, backup.CHECKPOINT))
    assert np.isfinite(ops.convert_to_numpy(good.layers[0].kernel)).all()
    assert len(callbacks.read_history(os.path.join(workdir, callbacks.HISTORY_JSON))) == 2  # no row for the NaN period


def _fake_tfds_load(calls, images=12):
    import tensorflow as tf

    def load(name, split, data_dir, download, as_supervised):
        calls.append(download)
        if not download:
            raise AssertionError(f"Dataset {name} not found in {data_dir}")
        x = np.zeros((images, 4, 4, 3), "uint8")
        y = np.arange(images) % 10
        return [tf.data.Dataset.from_tensor_slices((x, y)) for _ in split]

    return load


def test_absent_tfds_data_is_downloaded_where_its_host_answers(monkeypatch, tmp_path):
    import tensorflow_datasets as tfds

    calls, probed = [], []
    monkeypatch.setattr(tfds, "load", _fake_tfds_load(calls))
    given = datasets.load_tfds("cifar10", str(tmp_path), is_reachable=lambda host: probed.append(host) or True)
    assert probed == ["www.cs.toronto.edu"]
    assert calls == [False, True]  # first the local copy, then the download
    assert given["x_train"].shape == (12, 4, 4, 3) and given["num_classes"] == 10


def test_absent_tfds_data_with_an_unreachable_host_fails_at_once(monkeypatch, tmp_path):
    import tensorflow_datasets as tfds

    calls = []
    monkeypatch.setattr(tfds, "load", _fake_tfds_load(calls))
    with pytest.raises(DataError) as raised:
        datasets.load_tfds("cifar100", str(tmp_path), is_reachable=lambda host: False)
    message = str(raised.value)
    assert calls == [False]  # no download was tried
    assert message.startswith(
        f"TFDS data set 'cifar100' is not prepared in --data_dir={tmp_path} and cannot be "
        "downloaded here (www.cs.toronto.edu is unreachable)"
    )
    assert "--data_dir" in message and "--data with an .npz" in message and "IDX" in message and "\n" not in message


def test_the_notebooks_default_data_is_debians_folder_where_it_exists_else_a_download_or_one_line(tmp_path):
    from keras_resnet.cifar import idx

    folder = tmp_path / "fashion-mnist"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for key, name in idx.FILES.items():
        n = 30 if "train" in key else 10
        array = rng.integers(0, 256, (n, 28, 28)) if key.startswith("x") else np.arange(n) % 10
        idx.write_idx(str(folder / f"{name}.gz"), array)
    probed = []
    data = datasets.load_default(validation_size=5, folder=str(folder), is_reachable=lambda *a: probed.append(a))
    assert (len(data.x_train), len(data.x_val), data.image_shape, data.name) == (25, 5, (28, 28, 1), "fashion-mnist")
    assert probed == []  # Offline: the folder is read, nothing is probed.
    with pytest.raises(DataError) as error:
        datasets.load_default(folder=str(tmp_path / "absent"), is_reachable=lambda *a: probed.append(a) or False)
    assert probed == [("fashion-mnist.s3-website.eu-central-1.amazonaws.com", 80)]
    assert "\n" not in str(error.value) and str(error.value).endswith(
        f"is unreachable): set DATA to local data (an .npz or a folder of IDX files), or install Debian's "
        f"dataset-fashion-mnist ({tmp_path / 'absent'})"
    )
