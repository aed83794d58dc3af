"""MNIST's IDX files as a CIFAR-recipe data set: MNIST, Fashion-MNIST and their kin, offline.

A folder with `train-images-idx3-ubyte`, `train-labels-idx1-ubyte`, `t10k-images-idx3-ubyte` and
`t10k-labels-idx1-ubyte` (each optionally `.gz`), as the data sets are published and as Debian's
`dataset-fashion-mnist` installs them (`/usr/share/datasets/fashion-mnist`).

IDX: two zero bytes, a type code (0x08: unsigned bytes), the number of dimensions, each dimension
as a big-endian uint32, then the data in C order.

Example:

>>> import os, tempfile
>>> folder = tempfile.mkdtemp()
>>> write_idx(os.path.join(folder, "x-idx3-ubyte"), np.arange(8, dtype="uint8").reshape(2, 2, 2))
>>> read_idx(os.path.join(folder, "x-idx3-ubyte")).tolist()
[[[0, 1], [2, 3]], [[4, 5], [6, 7]]]
"""

import gzip
import os
import struct

import numpy as np

from keras_resnet.cifar.arrays import check_arrays
from keras_resnet.errors import DataError

FILES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}
_UBYTE = 0x08


def read_idx(path):
    """The array in an IDX file of unsigned bytes (gzipped or not)."""
    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            head = f.read(4)
            if len(head) != 4 or head[:2] != b"\0\0" or head[2] != _UBYTE:
                raise DataError(f"{path} is not an IDX file of unsigned bytes (MNIST format)")
            shape = struct.unpack(f">{head[3]}I", f.read(4 * head[3]))
            data = np.frombuffer(f.read(), np.uint8)
    except (OSError, EOFError, struct.error) as error:
        raise DataError(f"{path} is not a readable IDX file: {error}") from None
    if data.size != int(np.prod(shape)):
        raise DataError(f"{path} holds {data.size} values where its header says {shape}")
    return data.reshape(shape)


def write_idx(path, array):
    """Writes `array` (uint8) as an IDX file; gzipped when `path` ends in `.gz`."""
    array = np.ascontiguousarray(array, np.uint8)
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "wb") as f:
        f.write(bytes([0, 0, _UBYTE, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes())


def load_idx_folder(folder):
    """`x_train, y_train, x_test, y_test` (checked, `num_classes` added) from a folder of IDX files."""
    arrays = {}
    for key, name in FILES.items():
        found = [
            os.path.join(folder, name + suffix)
            for suffix in ("", ".gz")
            if os.path.isfile(os.path.join(folder, name + suffix))
        ]
        if not found:
            raise DataError(
                f"--data {folder} holds no {name}[.gz]: an IDX folder needs {', '.join(FILES.values())} (MNIST layout)"
            )
        try:
            arrays[key] = read_idx(found[0])
        except DataError as error:
            raise DataError(f"--data={folder}: {error}") from None
    return check_arrays(arrays, source=f"--data={folder}")
