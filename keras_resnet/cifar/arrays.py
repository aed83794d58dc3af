"""Images and labels as NumPy arrays: read from an `.npz` in the `keras.datasets` layout, checked
(`check_arrays`), split and averaged as the paper prepared CIFAR-10, and drawn in shuffled
batches that depend only on the seed and the step (`batch_indices`), so a resumed run sees the
batches it would have seen.
"""

import os
import zipfile

import numpy as np

from keras_resnet.errors import DataError

NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")
_INT32 = np.iinfo(np.int32)  # The labels' dtype in training.


def per_pixel_mean(images):
    """The mean image over the first axis, accumulated in float64.

    Example:

    >>> per_pixel_mean(np.array([[[[0]]], [[[3]]]], "uint8")).tolist()
    [[[1.5]]]
    """
    return images.mean(axis=0, dtype="float64").astype("float32")


def split_train(x, y, validation_size):
    """Holds out the last `validation_size` training images (CIFAR's order is random already); a
    `DataError` where the images come in one block per class (the tail would be the last classes).

    Example:

    >>> x, y = np.zeros((10, 2, 2, 1)), np.arange(10) % 3
    >>> [len(a) for a in split_train(x, y, 3)]
    [7, 7, 3, 3]
    >>> split_train(x, np.sort(y), 3)
    Traceback (most recent call last):
    ...
    keras_resnet.errors.DataError: the training labels change 2 times in 10 images, one block per class: the last 3, held out for validation, would not be a sample of them; shuffle x_train and y_train with one permutation
    """
    if not 0 <= validation_size < len(x):
        raise DataError(
            f"--validation_size must be in [0, {len(x)}) for these {len(x)} training images (or pass "
            f"--full_train). Received: --validation_size={validation_size}"
        )
    cut = len(x) - validation_size
    classes, changes = len(np.unique(y)), int(np.count_nonzero(y[1:] != y[:-1]))
    if validation_size and 1 < classes == changes + 1 < len(y) // 2:  # One block of images per class.
        raise DataError(
            f"the training labels change {changes} times in {len(y)} images, one block per class: the last "
            f"{validation_size}, held out for validation, would not be a sample of them; shuffle x_train and y_train "
            "with one permutation"
        )
    return x[:cut], y[:cut], x[cut:], y[cut:]


def check_npz_path(path, flag="--data"):
    """Raises `DataError` unless `path` is an `.npz` file (a zip)."""
    accepted = "an .npz file or a folder of IDX files" if flag == "--data" else "an .npz file"
    if os.path.isdir(path):
        raise DataError(f"{flag}={path} is a folder; {flag} takes {accepted}")
    if not os.path.isfile(path):
        raise DataError(f"data file not found: {flag}={path} ({flag} takes {accepted})")
    if not zipfile.is_zipfile(path):  # np.load would read it as a pickle, or fail deep inside.
        raise DataError(f"{flag}={path} is not an .npz file (a zip of .npy arrays); {flag} takes {accepted}")


def load_npz(path, flag="--data"):
    """Reads and checks an `.npz` in the `keras.datasets` layout.

    Grayscale images without a channel axis (N, H, W) get one; labels of shape (N, 1) are
    flattened.

    Args:
        path: str. The file.
        flag: str. The flag that named it, for error messages. Defaults to `"--data"`.

    Returns:
        A dict with `x_train, y_train, x_test, y_test` as numpy arrays.

    Raises:
        DataError: with one line naming the problem.
    """
    check_npz_path(path, flag)
    try:
        with np.load(path, allow_pickle=False) as archive:
            missing = [k for k in NPZ_KEYS if k not in archive.files]
            if missing:
                raise DataError(
                    f"{flag}={path} lacks {', '.join(missing)}: an .npz needs {', '.join(NPZ_KEYS)} (the keras.datasets layout); it has {', '.join(archive.files) or 'nothing'}"
                )
            arrays = {k: archive[k] for k in NPZ_KEYS}
    except DataError:
        raise
    except ValueError as error:
        if "allow_pickle" in str(error):
            raise DataError(
                f"{flag}={path} holds object arrays (images of mixed shapes?): every split must be one numeric array"
            ) from None
        raise DataError(f"{flag}={path} is not a readable .npz file: {error}") from None
    except (OSError, EOFError, zipfile.BadZipFile) as error:
        raise DataError(f"{flag}={path} is not a readable .npz file: {error}") from None
    return check_arrays(arrays, source=f"{flag}={path}")


def check_arrays(arrays, source="data", num_classes=None):
    """Checks images and labels; adds a channel axis to grayscale images.

    Args:
        arrays: dict with `x_train, y_train, x_test, y_test`.
        source: str. Named in error messages.
        num_classes: optional int. Otherwise one more than the largest training label.

    Returns:
        The checked dict, with `num_classes` added.

    Example:

    >>> arrays = dict(x_train=np.zeros((4, 5, 5)), y_train=np.array([0, 1, 2, 1]),
    ...               x_test=np.zeros((2, 5, 5)), y_test=np.array([[0], [2]]))
    >>> checked = check_arrays(arrays)
    >>> checked["x_train"].shape, checked["y_test"].tolist(), checked["num_classes"]
    ((4, 5, 5, 1), [0, 2], 3)
    >>> check_arrays(dict(arrays, y_test=np.array([0, 7])))
    Traceback (most recent call last):
    ...
    keras_resnet.errors.DataError: data: y_test holds label 7, outside 0..2 (the classes of y_train)
    """
    checked = {}
    for part in ("train", "test"):
        x, y = np.asarray(arrays[f"x_{part}"]), np.asarray(arrays[f"y_{part}"])
        if x.dtype == object or y.dtype == object:
            raise DataError(f"{source}: x_{part}/y_{part} is an object array (images of mixed shapes?)")
        if not (np.issubdtype(x.dtype, np.number) or x.dtype == bool):
            raise DataError(f"{source}: x_{part} has dtype {x.dtype}, not numeric")
        if x.ndim == 3:
            x = x[..., None]
        if x.ndim != 4 or 0 in x.shape:
            raise DataError(
                f"{source}: x_{part} must be images of shape (N, H, W) or (N, H, W, C). Received: shape {x.shape}"
            )
        if y.ndim == 2 and y.shape[1] == 1:
            y = y[:, 0]
        if y.ndim != 1 or len(y) != len(x):
            raise DataError(
                f"{source}: y_{part} must hold one label per image of x_{part} ({len(x)}). Received: shape {y.shape}"
            )
        if not np.issubdtype(y.dtype, np.integer):
            if not np.issubdtype(y.dtype, np.floating) or not np.all(np.isfinite(y)) or np.any(y != np.round(y)):
                raise DataError(f"{source}: y_{part} must hold integer class labels. Received: dtype {y.dtype}")
        # Checked before the cast to int32, which would wrap such a label into the class range.
        beyond = y[(y < _INT32.min) | (y > _INT32.max)]
        if len(beyond):
            raise DataError(f"{source}: y_{part} holds label {int(beyond[0])}, beyond the int32 range of class labels")
        if not np.issubdtype(x.dtype, np.integer) and not np.all(np.isfinite(x)):
            raise DataError(f"{source}: x_{part} holds NaN or infinite pixels")
        checked[f"x_{part}"] = x if x.dtype == np.uint8 else x.astype("float32")
        checked[f"y_{part}"] = y.astype("int32")
    if checked["x_train"].shape[1:] != checked["x_test"].shape[1:]:
        raise DataError(
            f"{source}: images of mixed shapes: x_train is {checked['x_train'].shape[1:]} but x_test is {checked['x_test'].shape[1:]}"
        )
    spans = {part: (float(checked[f"x_{part}"].min()), float(checked[f"x_{part}"].max())) for part in ("train", "test")}
    if 0 < min(high for _, high in spans.values()) <= 1.0 < 2.0 < max(high for _, high in spans.values()):
        raise DataError(
            f"{source}: x_train's pixels span [{spans['train'][0]:g}, {spans['train'][1]:g}] but x_test's "
            f"[{spans['test'][0]:g}, {spans['test'][1]:g}]: scale both splits alike (0–255, as the paper's)"
        )
    if num_classes is None:
        if checked["y_train"].min() > 0:  # 1-based labels: a class 0 that never trains, every label off by one.
            low, high = int(checked["y_train"].min()), int(checked["y_train"].max())
            raise DataError(
                f"{source}: y_train never uses label 0 (its labels run {low}..{high}): class labels start at 0; "
                "renumber y_train and y_test from 0 (1-based labels: subtract 1)"
            )
        num_classes = int(checked["y_train"].max()) + 1
        where = "the classes of y_train"
    else:
        where = f"{num_classes} classes"
    for part in ("train", "test"):
        y = checked[f"y_{part}"]
        bad = y[(y < 0) | (y >= num_classes)]
        if len(bad):
            raise DataError(f"{source}: y_{part} holds label {int(bad[0])}, outside 0..{num_classes - 1} ({where})")
    checked["num_classes"] = int(num_classes)
    return checked


def batch_indices(size, batch_size, seed=0, start_step=0, block=(1, 0)):
    """Endless: the rows of the training arrays that each step's batch takes, from `start_step`
    on; batch `s` depends only on `(seed, s)`, so a resumed run sees the same batches it would
    have seen without the interruption.

    Each pass over the data is a fresh permutation; the last incomplete batch of a pass is
    dropped (every step has `batch_size` images, as in the paper's iterations). With `block =
    (count, index)`, only the `index`-th of `count` consecutive blocks of each batch: what one
    process of a job of `count` feeds its replicas, the blocks of the processes in order making
    the batch.

    Example:

    >>> whole = next(batch_indices(10, 4, seed=1))
    >>> halves = [next(batch_indices(10, 4, seed=1, block=(2, i))) for i in range(2)]
    >>> np.concatenate(halves).tolist() == whole.tolist(), len(halves[0])
    (True, 2)
    """
    if batch_size > size:
        raise DataError(f"batch_size {batch_size} is larger than the {size} training images")
    count, index = block
    if batch_size % count:
        raise DataError(f"batch_size {batch_size} does not split into {count} blocks")
    per_pass, share = size // batch_size, batch_size // count
    step, order_pass, order = start_step, None, None
    while True:
        data_pass, position = divmod(step, per_pass)
        if data_pass != order_pass:
            order_pass, order = data_pass, np.random.default_rng([seed, data_pass]).permutation(size)
        first = position * batch_size + index * share
        yield order[first : first + share]
        step += 1
