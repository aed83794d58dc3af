"""CIFAR-style data as the paper prepared it: a 45k/5k split and the training split's mean.

Three sources give the same in-memory arrays (`cifar.arrays`): a TFDS data set (`cifar10`,
`cifar100`, …; read through tf.data, only when asked for, and downloaded where the internet can be
reached), an `.npz` file in the `keras.datasets` layout (`x_train, y_train, x_test, y_test`) of any
height × width × channels, or a folder of MNIST-format IDX files (`cifar.idx`).
Augmentation is not done here: it is a layer of the model (`keras_resnet.preprocessing.PadCropFlip`), so it runs
inside the compiled training step on the accelerator.
"""

import contextlib
import dataclasses
import os
import urllib.parse

import numpy as np
from absl import logging

from keras_resnet.cifar import idx
from keras_resnet.cifar.arrays import check_arrays, check_npz_path, load_npz, per_pixel_mean, split_train
from keras_resnet.errors import DataError
from keras_resnet.hosts import reachable


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
        import tensorflow_datasets as tfds  # TensorFlow with it, its start-up lines held (`tf_startup`).
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
    check_given(npz, dataset, data)
    if data and os.path.isdir(data):
        arrays, name = idx.load_idx_folder(data), os.path.basename(os.path.normpath(data))
    elif data or npz:
        flag, path = ("--data", data) if data else ("--npz", npz)
        arrays, name = load_npz(path, flag), os.path.basename(path)
    else:
        arrays, name = load_tfds(dataset, data_dir, download), dataset
    return prepare(arrays, validation_size=validation_size, full_train=full_train, name=name)


def check_given(npz=None, dataset="cifar10", data=None):
    """Raises `DataError` unless the flags name one source, whose local path exists; reads nothing."""
    if data and npz:
        raise DataError(f"give one of --data and --npz. Received: --data={data}, --npz={npz}")
    if data and os.path.isdir(data):
        return
    if data or npz:
        flag, path = ("--data", data) if data else ("--npz", npz)
        check_npz_path(path, flag)
    elif dataset.endswith(".npz") or os.sep in dataset:
        raise DataError(
            f"--dataset takes a TFDS name (cifar10, cifar100, ...); for a local file or folder pass --data={dataset}"
        )


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
