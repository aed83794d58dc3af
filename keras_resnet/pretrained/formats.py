"""Reading published weight files, whatever their name: the format is read from the content.

- `keras_applications_h5`: keras.applications' Keras-2 HDF5 files (root attribute `layer_names`;
  per layer, its `weight_names`, e.g. `conv1_conv/kernel:0`).
- `torchvision_state_dict`: a torchvision ResNet state dict (`conv1.weight`, `bn1.running_mean`,
  `layer1.0.downsample.0.weight`, `fc.weight`, …) as safetensors (read with NumPy only) or as a
  PyTorch `.pth` file (read with PyTorch, where it is installed).
- `keras`: anything else, for `keras.Model.load_weights` (files this library's models wrote).

Readers return `{name: numpy array}` in the publisher's own names and layouts.
"""

import struct

import numpy as np

from keras_resnet.pretrained import registry

KERAS = "keras"
_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
_ZIP_MAGIC = b"PK\x03\x04"


def detect(path):
    """The format of the weights file at `path`, from its first bytes and structure.

    Returns:
        `registry.KERAS_APPLICATIONS_H5`, `registry.TORCHVISION` (with `torch_pickle=True` files
        being `.pth`), or `KERAS`.
    """
    with open(path, "rb") as f:
        head = f.read(16)
    if head.startswith(_HDF5_MAGIC):
        import h5py

        with h5py.File(path, "r") as f:
            return registry.KERAS_APPLICATIONS_H5 if "layer_names" in f.attrs else KERAS
    if _is_safetensors(path, head):
        return registry.TORCHVISION
    if _is_torch_file(path, head):
        return registry.TORCHVISION
    return KERAS


def is_weights_file(path):
    """Whether the file at `path` begins as one of the formats `detect` tells apart: HDF5, a zip
    (a `.keras` archive or a PyTorch file), safetensors or PyTorch's legacy pickle.

    Example:

    >>> import tempfile
    >>> with tempfile.NamedTemporaryFile("w", suffix=".h5") as f:
    ...     _ = f.write("not weights"); f.flush()
    ...     is_weights_file(f.name)
    False
    """
    with open(path, "rb") as f:
        head = f.read(16)
    return head.startswith((_HDF5_MAGIC, _ZIP_MAGIC, b"\x80\x02")) or _is_safetensors(path, head)


def _is_safetensors(path, head):
    # An 8-byte little-endian header length, then that many bytes of JSON.
    if len(head) < 9 or head[8:9] != b"{":
        return False
    (length,) = struct.unpack("<Q", head[:8])
    with open(path, "rb") as f:
        f.seek(0, 2)
        return 8 + length <= f.tell()


def _is_torch_file(path, head):
    if head.startswith(_ZIP_MAGIC):
        import zipfile

        with zipfile.ZipFile(path) as archive:
            return any(name.endswith("data.pkl") for name in archive.namelist())
    return head.startswith(b"\x80\x02")  # PyTorch's legacy pickle format.


def bottleneck_stride(path, file_format):
    """The bottleneck layout of a published file: its format's (`registry.FORMAT_BOTTLENECK_STRIDE`)
    where the file holds bottleneck blocks (a third convolution in a block), else `None`."""
    if file_format == registry.KERAS_APPLICATIONS_H5:
        import h5py

        with h5py.File(path, "r") as f:
            names = _strings(f.attrs["layer_names"])
        bottleneck = any(name.endswith("_3_conv") for name in names)
    else:
        bottleneck = any(".conv3." in key for key in _tensor_names(path))
    return registry.FORMAT_BOTTLENECK_STRIDE[file_format] if bottleneck else None


def _tensor_names(path):
    with open(path, "rb") as f:
        head = f.read(16)
    if _is_safetensors(path, head):
        from safetensors import safe_open

        with safe_open(path, framework="numpy") as f:
            return list(f.keys())
    return list(read_torch(path))


def read(path, file_format):
    """`{name: array}` of a published file in `file_format` (`detect`)."""
    if file_format == registry.KERAS_APPLICATIONS_H5:
        return read_keras_applications_h5(path)
    with open(path, "rb") as f:
        head = f.read(16)
    if _is_safetensors(path, head):
        return read_safetensors(path)
    return read_torch(path)


def read_keras_applications_h5(path):
    """`{"layer/weight": array}` of a keras.applications HDF5 file, e.g. `"conv1_conv/kernel"`."""
    import h5py

    tensors = {}
    with h5py.File(path, "r") as f:
        for layer in _strings(f.attrs["layer_names"]):
            group = f[layer]
            for weight_name in _strings(group.attrs.get("weight_names", [])):
                short = weight_name.rsplit("/", 1)[-1].split(":")[0]
                tensors[f"{layer}/{short}"] = np.asarray(group[weight_name])
    return tensors


def _strings(values):
    return [v.decode("utf8") if isinstance(v, bytes) else str(v) for v in values]


def read_safetensors(path):
    """The tensors of a safetensors file, with NumPy only."""
    from safetensors.numpy import load_file

    return load_file(path)


def read_torch(path):
    """The state dict of a PyTorch `.pth` file as NumPy arrays (needs PyTorch)."""
    try:
        import torch
    except ImportError:
        raise ValueError(
            f"{path} is a PyTorch file: reading it needs PyTorch (pip install torch), or use the "
            "safetensors copy of the same weights"
        ) from None
    state = torch.load(path, map_location="cpu", weights_only=True)
    state = state.get("state_dict", state) if isinstance(state, dict) else state
    return {k: v.detach().numpy() for k, v in state.items() if hasattr(v, "detach")}
