"""What a Keras weights file records of the net that wrote it, so that `weights=` can check it.

Keras loads a weights file (`.weights.h5`, or the weights inside a `.keras` archive) by position:
it pairs layers by class and order, not by name. A file of another net whose weights have the
same shapes therefore loads without a word: a plain net's into its residual twin, a v1.5 net's
into the paper's layout, a net with its published preprocessing into one without. What a file
tells of its net:

- the names of its layers: every Keras 3 weights file records each layer's name;
- the bottleneck layout and the `preprocessing` layer: `keras_resnet.Network.save_weights`
  writes them as an HDF5 attribute of the file, or into the JSON index of sharded weights
  (`write_record`); a `.keras` archive has both in its config.

Example:

>>> import keras_resnet
>>> record_of(keras_resnet.ResNet50(bottleneck_stride="3x3"))["bottleneck_stride"]
'3x3'
"""

import dataclasses
import json
import os
import re
import zipfile

import keras

from keras_resnet.pretrained.convert import TOP

# The HDF5 attribute `write_record` adds to a `.weights.h5` file.
RECORD_ATTR = "keras_resnet"
# The layer that holds a published net's preprocessing (`keras_resnet.pretrained`).
PREPROCESSING_LAYER = "preprocessing"
# What `keras.layers.deserialize` needs of a layer's entry in a `.keras` config.
_SERIALIZED_KEYS = ("module", "class_name", "config", "registered_name")
# Where a stage's first bottleneck subsamples: `_1_conv` (the paper) or `_2_conv` (v1.5).
_FIRST_BLOCK_CONV = re.compile(r"^conv\d+_block1_([12])_conv$")
_LAYOUT_OF_CONV = {"1": "1x1", "2": "3x3"}


@dataclasses.dataclass(frozen=True)
class FileRecord:
    """What a Keras weights file tells of the net that wrote it.

    Attributes:
        layers: tuple of str, or `None` where the file does not name its layers (its writer
            recorded no names, or it has no `layers` group). Input layers are left out.
        classes: int or None. The output size of its classifier (`predictions`), if it has one.
        bottleneck_stride: `"1x1"`, `"3x3"`, or `None` for a net without bottleneck blocks or a
            file that does not record it (`write_record`, or a `.keras` archive's config).
        preprocessing: the serialized `preprocessing` layer (`keras.layers.serialize`), or `None`
            for a net without one or a file that does not record it.
        networks: tuple of str. The models nested in a `.keras` archive's model (a recipe's
            `model.keras` holds its network behind the training mean): such a file is a whole
            model, not the weights of a net.
    """

    layers: tuple = None
    classes: int = None
    bottleneck_stride: str = None
    preprocessing: dict = None
    networks: tuple = ()


def bottleneck_stride_of(strides):
    """The bottleneck layout of a net of this library, from its layers' strides.

    Args:
        strides: dict of layer name to its strides (a tuple or list), `None` for layers without.

    Returns:
        `"1x1"` where each stage's first bottleneck subsamples in its first 1×1 convolution (the
        paper), `"3x3"` where in its 3×3 (v1.5), `None` for a net without bottleneck blocks.

    Example:

    >>> bottleneck_stride_of({"conv3_block1_1_conv": (1, 1), "conv3_block1_2_conv": (2, 2),
    ...                       "conv3_block1_3_conv": (1, 1)})
    '3x3'
    >>> bottleneck_stride_of({"conv3_block1_1_conv": (2, 2), "conv3_block1_2_conv": (1, 1)}) is None
    True
    """
    if not any(name.endswith("_block1_3_conv") for name in strides):
        return None  # Basic blocks: the stride has one place.
    for name, value in strides.items():
        match = _FIRST_BLOCK_CONV.match(name)
        if match and value is not None and max(value) > 1:
            return _LAYOUT_OF_CONV[match.group(1)]
    return None


def record_of(model):
    """What `write_record` writes of `model`: `{"bottleneck_stride": …, "preprocessing": …}`."""
    strides = {layer.name: getattr(layer, "strides", None) for layer in model.layers}
    preprocessing = next((layer for layer in model.layers if layer.name == PREPROCESSING_LAYER), None)
    return {
        "bottleneck_stride": bottleneck_stride_of(strides),
        "preprocessing": keras.layers.serialize(preprocessing) if preprocessing is not None else None,
    }


def write_record(model, path):
    """Adds `record_of(model)` to the weights file at `path` that `model` just wrote: an HDF5
    attribute of a `.weights.h5` file, an entry of the `metadata` of a sharded file's JSON index
    (Keras reads only its `weight_map`)."""
    record = json.dumps(record_of(model))
    if _sharded_index(path) is not None:
        with open(path) as f:
            index = json.load(f)
        index.setdefault("metadata", {})[RECORD_ATTR] = record
        with open(path, "w") as f:
            json.dump(index, f, indent=4)
        return
    import h5py

    with h5py.File(path, "a") as f:
        f.attrs[RECORD_ATTR] = record


def _sharded_index(path):
    """The JSON index of sharded weights at `path` (Keras' `save_weights(..., max_shard_size=…)`),
    or `None` where `path` is not one."""
    try:
        with open(path) as f:
            index = json.load(f)
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    return index if isinstance(index, dict) and isinstance(index.get("weight_map"), dict) else None


def read(path):
    """The `FileRecord` of a Keras weights file: a `.weights.h5` file, a sharded file's JSON index
    (its shards beside it) or a `.keras` archive."""
    if zipfile.is_zipfile(path):
        return _read_archive(path)
    import h5py

    index = _sharded_index(path)
    if index is not None:
        text = index.get("metadata", {}).get(RECORD_ATTR)
        folder, shards = os.path.dirname(path), []
        for files in index["weight_map"].values():
            shards += [f for f in ([files] if isinstance(files, str) else files) if f not in shards]
        return _record(text, [os.path.join(folder, shard) for shard in shards])
    if not h5py.is_hdf5(path):
        return FileRecord()
    with h5py.File(path, "r") as f:
        text = f.attrs.get(RECORD_ATTR)
    return _record(text, [path])


def _record(text, files):
    """The `FileRecord` of the HDF5 weights `files` (one file, or the shards of one) and the
    record `text` written with them."""
    import h5py

    names, classes = {}, None  # The key of each layer's group → its name.
    for path in files:
        with h5py.File(path, "r") as f:
            for key, group in f.get("layers", {}).items():
                variables = group.get("vars")
                name = variables.attrs.get("name") if variables is not None else None
                name = names.get(key) if name is None else name  # A layer's later shards do not repeat it.
                if name is None:
                    return FileRecord(classes=classes, **_recorded(text))
                names[key] = name
                if name == TOP and "1" in variables:
                    classes = int(variables["1"].shape[0])  # The bias: one value per class.
    layers = tuple(name for key, name in names.items() if not key.startswith("input_layer"))
    return FileRecord(layers=layers or None, classes=classes, **_recorded(text))


def _recorded(text):
    """The bottleneck layout and preprocessing a record `text` (`write_record`) holds."""
    record = json.loads(text) if text is not None else {}
    return {"bottleneck_stride": record.get("bottleneck_stride"), "preprocessing": record.get("preprocessing")}


def _read_archive(path):
    with zipfile.ZipFile(path) as archive:
        config = json.loads(archive.read("config.json"))
    layers = [layer for layer in config.get("config", {}).get("layers", []) if layer["class_name"] != "InputLayer"]
    by_name = {layer["config"]["name"]: layer for layer in layers}
    top = by_name.get(TOP)
    return FileRecord(
        layers=tuple(by_name),
        classes=top["config"].get("units") if top else None,
        bottleneck_stride=bottleneck_stride_of(
            {name: layer["config"].get("strides") for name, layer in by_name.items()}
        ),
        preprocessing={k: v for k, v in by_name[PREPROCESSING_LAYER].items() if k in _SERIALIZED_KEYS}
        if PREPROCESSING_LAYER in by_name
        else None,
        networks=tuple(name for name, layer in by_name.items() if "layers" in layer["config"]),
    )
