"""CIFAR-style data as the paper prepared it: a 45k/5k split and the training split's mean.

Two sources give the same in-memory arrays: a TFDS data set (`cifar10`, `cifar100`, …; read
through tf.data, only when asked for, and downloaded where the internet can be reached) or an `.npz` file in the
`keras.datasets` layout (`x_train, y_train, x_test, y_test`) of any height × width × channels.
Augmentation is not done here: it is a layer of the model (`cifar.augment.PadCropFlip`), so it runs
inside the compiled training step on the accelerator.
"""

import contextlib
import dataclasses
import os
import urllib.parse
import zipfile

import numpy as np
from absl import logging

from keras_resnet import tf_startup
from keras_resnet.hosts import reachable

NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")
_INT32 = np.iinfo(np.int32)  # The labels' dtype in training.


class DataError(ValueError):
    """Data that cannot be used, with a one-line message saying why."""


@dataclasses.dataclass
class CifarData:
    """Images (uint8 or float32, NHWC) and integer labels of each split.

    `x_val` and `y_val` are `None` when training on the whole training set.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int
    mean: np.ndarray
    name: str = ""

    @property
    def image_shape(self):
        return tuple(self.x_train.shape[1:])

    def describe(self):
        """One line: `"MNIST: 110 training, 10 validation and 20 test images of 28×28×1, 10 classes"`."""
        sizes = [f"{len(self.x_train):,} training"]
        if self.x_val is not None and len(self.x_val):
            sizes.append(f"{len(self.x_val):,} validation")
        sizes.append(f"{len(self.x_test):,} test")
        counts = ", ".join(sizes[:-1]) + " and " + sizes[-1]
        shape = "×".join(str(n) for n in self.image_shape)
        return f"{self.name or 'data'}: {counts} images of {shape}, {self.num_classes} classes"

    def eval_splits(self):
        """The splits evaluated during training, by name: `{"val": …, "test": …}`."""
        splits = {}
        if self.x_val is not None and len(self.x_val):
            splits["val"] = (self.x_val, self.y_val)
        splits["test"] = (self.x_test, self.y_test)
        return splits


def per_pixel_mean(images):
    """The mean image over the first axis, accumulated in float64.

    Example:

    >>> per_pixel_mean(np.array([[[[0]]], [[[3]]]], "uint8")).tolist()
    [[[1.5]]]
    """
    return images.mean(axis=0, dtype="float64").astype("float32")


def split_train(x, y, validation_size):
    """Holds out the last `validation_size` training images (CIFAR's order is random already).

    Example:

    >>> x, y = np.zeros((10, 2, 2, 1)), np.arange(10)
    >>> [len(a) for a in split_train(x, y, 3)]
    [7, 7, 3, 3]
    """
    if not 0 <= validation_size < len(x):
        raise DataError(
            f"--validation_size must be in [0, {len(x)}) for these {len(x)} training images (or pass "
            f"--full_train). Received: --validation_size={validation_size}"
        )
    cut = len(x) - validation_size
    return x[:cut], y[:cut], x[cut:], y[cut:]


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
    accepted = "an .npz file or a folder of IDX files" if flag == "--data" else "an .npz file"
    if os.path.isdir(path):
        raise DataError(f"{flag}={path} is a folder; {flag} takes {accepted}")
    if not os.path.isfile(path):
        raise DataError(f"data file not found: {flag}={path} ({flag} takes {accepted})")
    if not zipfile.is_zipfile(path):  # np.load would read it as a pickle, or fail deep inside.
        raise DataError(f"{flag}={path} is not an .npz file (a zip of .npy arrays); {flag} takes {accepted}")
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
    keras_resnet.cifar.datasets.DataError: data: y_test holds label 7, outside 0..2 (the classes of y_train)
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
    if num_classes is None:
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


# Where TFDS downloads the raw files of the data sets the recipe knows (host, or host:port); others:
# their homepage's host.
DOWNLOAD_HOSTS = {
    "cifar10": "www.cs.toronto.edu",
    "cifar100": "www.cs.toronto.edu",
    "fashion_mnist": "fashion-mnist.s3-website.eu-central-1.amazonaws.com:80",
}
# Where Debian's `dataset-fashion-mnist` package installs Fashion-MNIST's IDX files.
FASHION_MNIST_FOLDER = "/usr/share/datasets/fashion-mnist"


def load_tfds(name, data_dir=None, download=True, is_reachable=reachable, instead=None):
    """Reads a TFDS image-classification data set into memory, downloading it where possible.

    A prepared copy in `data_dir` is used as it is. Otherwise, with `download`, the data set's
    download host is probed first (a few seconds at most), so that a machine without internet
    fails at once instead of after TFDS's minutes of retries, and TFDS downloads and prepares it.

    Args:
        name: str. A TFDS name with `train` and `test` splits, e.g. `"cifar10"`, `"cifar100"`.
        data_dir: optional str. Where the prepared data set lives (TFDS' default if `None`).
        download: bool. Download and prepare the data set if it is not there. Defaults to `True`.
        is_reachable: callable `host -> bool` (or `(host, port) -> bool` for a host named with
            its port), the probe. Defaults to `reachable`.
        instead: optional str. What the message of a data set that cannot be had says to do
            instead. Defaults to pointing `--data_dir` or `--data` at local data.

    Returns:
        A dict with `x_train, y_train, x_test, y_test` and `num_classes`.

    Raises:
        DataError: the data set is unknown, or absent and cannot be downloaded; the message
            says how to point at local data.
    """
    try:
        tf_startup.import_tensorflow()
        import tensorflow_datasets as tfds
    except ImportError:
        raise DataError(
            "TFDS data sets need tensorflow-datasets (pip install 'keras-resnet-paper[tfds]'); or pass --data with an .npz (x_train, y_train, x_test, y_test) or a folder of MNIST-format IDX files"
        ) from None
    if data_dir and os.path.exists(data_dir) and not os.path.isdir(data_dir):
        raise DataError(f"--data_dir={data_dir} is a file; --data_dir takes the folder of the TFDS data sets")
    where = f"--data_dir={data_dir or '~/tensorflow_datasets'}"
    local = instead or (
        "point --data_dir at a directory holding it (prepared with `tfds build`), or pass --data with an .npz of "
        "x_train, y_train, x_test, y_test or a folder of MNIST-format IDX files"
    )
    try:
        builder = tfds.builder(name, data_dir=data_dir)
    except (tfds.core.registered.DatasetNotFoundError, ValueError):  # ValueError: not a well-formed name
        raise DataError(
            f"unknown --dataset={name}: not a TFDS data set; or pass --data with an .npz (x_train, y_train, x_test, y_test) or a folder of MNIST-format IDX files"
        ) from None
    try:
        with _quiet_absl():  # TFDS logs a warning and a line of progress on the way to failing.
            splits = tfds.load(name, split=["train", "test"], data_dir=data_dir, download=False, as_supervised=True)
    except Exception:  # Not prepared: tfds raises AssertionError, FileNotFoundError, …
        if not download:
            raise DataError(
                f"TFDS data set {name!r} is not prepared in {where} and --nodownload was given: {local}"
            ) from None
        host = DOWNLOAD_HOSTS.get(name) or urllib.parse.urlparse(builder.info.homepage or "").hostname
        address, _, port = (host or "").partition(":")
        if not host or not (is_reachable(address, int(port)) if port else is_reachable(address)):
            raise DataError(
                f"TFDS data set {name!r} is not prepared in {where} and cannot be downloaded here "
                f"({host or 'no download host'} is unreachable): {local}"
            ) from None
        try:
            splits = tfds.load(name, split=["train", "test"], data_dir=data_dir, download=True, as_supervised=True)
        except Exception as error:
            raise DataError(
                f"TFDS data set {name!r} could not be downloaded to {where} ({type(error).__name__}: "
                f"{str(error).splitlines()[0] if str(error) else ''}): {local}"
            ) from None
    (x_train, y_train), (x_test, y_test) = (_to_numpy(tfds, split) for split in splits)
    num_classes = None
    try:
        num_classes = builder.info.features["label"].num_classes
    except Exception:  # Not every data set names its label feature "label".
        pass
    arrays = dict(x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    return check_arrays(arrays, source=f"TFDS {name}", num_classes=num_classes)


@contextlib.contextmanager
def _quiet_absl():
    verbosity = logging.get_verbosity()
    logging.set_verbosity(logging.ERROR)
    try:
        yield
    finally:
        logging.set_verbosity(verbosity)


def _to_numpy(tfds, dataset, chunk=4096):
    images, labels = [], []
    for x, y in tfds.as_numpy(dataset.batch(chunk)):
        images.append(x)
        labels.append(y)
    return np.concatenate(images), np.concatenate(labels)


def prepare(arrays, validation_size=5000, full_train=False, name=""):
    """Splits the training set and computes the per-pixel mean of the images trained on.

    Args:
        arrays: dict from `load_npz`, `load_tfds` or `check_arrays`.
        validation_size: int. Images held out of training. Defaults to `5000`.
        full_train: bool. Train on every training image (no validation split). Defaults to
            `False`.
        name: str. The data's name, for reports.

    Returns:
        A `CifarData`.

    Example:

    >>> arrays = check_arrays(dict(x_train=np.arange(10, dtype="uint8").reshape(10, 1, 1),
    ...     y_train=np.zeros(10, "int32"), x_test=np.zeros((2, 1, 1)), y_test=np.zeros(2, "int32")))
    >>> data = prepare(arrays, validation_size=4)
    >>> len(data.x_train), len(data.x_val), data.mean.ravel().tolist()
    (6, 4, [2.5])
    """
    if full_train:
        x_train, y_train, x_val, y_val = arrays["x_train"], arrays["y_train"], None, None
    else:
        x_train, y_train, x_val, y_val = split_train(arrays["x_train"], arrays["y_train"], validation_size)
    return CifarData(
        x_train=x_train,
        y_train=y_train,
        x_val=x_val,
        y_val=y_val,
        x_test=arrays["x_test"],
        y_test=arrays["y_test"],
        num_classes=arrays["num_classes"],
        mean=per_pixel_mean(x_train),
        name=name,
    )


def load(npz=None, dataset="cifar10", data_dir=None, validation_size=5000, full_train=False, download=True, data=None):
    """Loads local `data` or `npz` if given, else the TFDS `dataset` (`load_tfds`), and prepares it
    (`prepare`).

    Args:
        data: optional str. An `.npz` file, or a folder of MNIST-format IDX files
            (`idx.load_idx_folder`).

    Returns:
        A `CifarData`.
    """
    if data and npz:
        raise DataError(f"give one of --data and --npz. Received: --data={data}, --npz={npz}")
    if data and os.path.isdir(data):
        from keras_resnet.cifar import idx

        arrays, name = idx.load_idx_folder(data), os.path.basename(os.path.normpath(data))
    elif data or npz:
        flag, path = ("--data", data) if data else ("--npz", npz)
        arrays, name = load_npz(path, flag), os.path.basename(path)
    elif dataset.endswith(".npz") or os.sep in dataset:
        raise DataError(
            f"--dataset takes a TFDS name (cifar10, cifar100, ...); for a local file or folder pass --data={dataset}"
        )
    else:
        arrays, name = load_tfds(dataset, data_dir, download), dataset
    return prepare(arrays, validation_size=validation_size, full_train=full_train, name=name)


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


def batches(x, y, batch_size, seed=0, start_step=0, block=(1, 0)):
    """Endless shuffled mini-batches `(x, y)` of the rows `batch_indices` gives (this `block` of
    each batch only: no other row is read).

    Example:

    >>> x = np.arange(10)[:, None]
    >>> first = [b[0].ravel().tolist() for _, b in zip(range(3), batches(x, x, 4, seed=1))]
    >>> again = next(batches(x, x, 4, seed=1, start_step=2))[0].ravel().tolist()
    >>> first[2] == again, len(first[0])
    (True, 4)
    """
    for take in batch_indices(len(x), batch_size, seed, start_step, block):
        yield x[take], y[take]


def load_default(validation_size=5000, full_train=False, folder=FASHION_MNIST_FOLDER, is_reachable=reachable):
    """Fashion-MNIST, the notebooks' default data, wherever they run: Debian's folder where the
    `dataset-fashion-mnist` package installed it (offline), else TFDS's `fashion_mnist`,
    downloaded where the internet can be reached.

    Args:
        validation_size, full_train: as for `prepare`.
        folder: str. Where to look for the IDX files first. Defaults to Debian's folder.
        is_reachable: callable `(host, port) -> bool`, the download probe.

    Raises:
        DataError: neither can be had here; one line saying what to do instead.
    """
    if os.path.isdir(folder):
        return load(data=folder, validation_size=validation_size, full_train=full_train)
    instead = f"set DATA to local data (an .npz or a folder of IDX files), or install Debian's dataset-fashion-mnist ({folder})"
    arrays = load_tfds("fashion_mnist", is_reachable=is_reachable, instead=instead)
    return prepare(arrays, validation_size=validation_size, full_train=full_train, name="fashion_mnist")
