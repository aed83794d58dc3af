"""The paper's trained networks: `weights="imagenet"` and published files, loaded exactly.

`keras_resnet.ResNet50(weights="imagenet")` downloads MSRA's ResNet-50 (the paper's own model)
into the Keras cache, checks its hash, folds its Caffe layout into this library's and puts the
file's preprocessing inside the model, as a layer named `preprocessing`: the model takes RGB
images with values in [0, 255]. `registry` lists every published file; `preprocess_input` gives
what a bare net (`include_preprocessing=False`) expects.

A weights file is checked against the net being built before it is loaded, from what its content
tells: a published file's format fixes its bottleneck layout (keras.applications' files are the
paper's, torchvision's are v1.5); a Keras weights file names its layers and, written by this
library, records its layout and preprocessing (`keras_files`). A file that does not fit is one
`ValueError` line; a net's own file loads back with its preprocessing.

Example:

>>> import numpy as np
>>> x = np.full((1, 2, 2, 3), 255.0 * np.array([0.485, 0.456, 0.406]), "float32")
>>> bool(np.abs(keras.ops.convert_to_numpy(preprocess_input(x, weights="torchvision_v1"))).max() < 1e-5)
True
"""

import dataclasses
import os
import zipfile

import keras
import numpy as np

from keras_resnet.errors import listed
from keras_resnet.pretrained import convert, download, formats, keras_files, registry
from keras_resnet.pretrained.keras_files import PREPROCESSING_LAYER
from keras_resnet.pretrained.registry import DEFAULT, WEIGHTS, PretrainedWeights, find

# What each bottleneck layout is, for error messages.
_LAYOUTS = {
    "1x1": "the paper's layout (stride 2 in the first 1×1 convolution)",
    "3x3": "the v1.5 layout (stride 2 in the 3×3 convolution)",
}
# The layers `include_top` and `pooling` add (`builder._head`): a net may leave a file's out.
_HEAD = ("avg_pool", "max_pool", convert.TOP)


@dataclasses.dataclass(frozen=True)
class Resolved:
    """What `weights=` named: a Keras weights file (with its `record`), or a published file
    (`entry` when it comes from the registry and is yet to be fetched)."""

    file_format: str
    path: str = None
    entry: PretrainedWeights = None
    record: keras_files.FileRecord = None

    @property
    def preprocessing(self):
        return registry.FORMAT_PREPROCESSING.get(self.file_format)

    @property
    def published(self):
        return self.file_format != formats.KERAS


def _accepted():
    return f"None, {DEFAULT!r}, one of {', '.join(repr(n) for n in registry.source_names())}, or the path of a weights file"


def resolve(
    weights, *, block, network=None, bottleneck_stride="1x1", shortcut=None, include_top=True, classes=1000, channels=3
):
    """Checks `weights=` against the network being built, before anything is built or fetched.

    A file's bottleneck layout is read from its content and must be the net's: a published file's
    format fixes it (`registry.FORMAT_BOTTLENECK_STRIDE`), a Keras file records it where this
    library wrote it. The rest of a file's fit is checked when it is loaded.

    Args:
        weights: `None`, `"imagenet"`, a source's name (`"msra"`, `"torchvision_v1"`) or a path.
        block: str. The net's blocks, `"basic"` or `"bottleneck"`.
        network: optional str. The zoo's name of the net being built (`"resnet50"`), `None` for a
            net that is not one of the paper's ImageNet nets.
        bottleneck_stride, shortcut, include_top, classes, channels: the net's settings.

    Returns:
        A `Resolved`, or `None` for `weights=None`.

    Raises:
        ValueError: one line naming the value and what would be accepted.
    """
    if weights is None:
        return None
    if isinstance(weights, (str, os.PathLike)) and os.path.isfile(weights):
        resolved = _resolve_file(os.fspath(weights))
        if resolved.record and resolved.record.networks:
            raise ValueError(
                f"weights={os.fspath(weights)!r} is a whole model ({', '.join(resolved.record.networks)} behind its "
                f"preprocessing, as a recipe's model.keras is), not the weights of a net: load it with "
                f"keras.saving.load_model(path) after `import keras_resnet`"
            )
        held = None
        if block == "bottleneck":  # Basic blocks have one layout.
            held = (
                resolved.record.bottleneck_stride
                if resolved.record
                else formats.bottleneck_stride(resolved.path, resolved.file_format)
            )
        if held not in (None, bottleneck_stride):
            raise ValueError(
                f"{resolved.path} holds a ResNet in {_LAYOUTS[held]}, not {_LAYOUTS[bottleneck_stride]}: build the "
                f"net with bottleneck_stride={held!r} to load it. Received: bottleneck_stride={bottleneck_stride!r}"
            )
    elif isinstance(weights, str) and weights in (DEFAULT, *registry.source_names()):
        if network is None:
            raise ValueError(
                f"No pretrained weights for this network: published weights exist for {registry.available()}. "
                f"Received: weights={weights!r}"
            )
        entry = find(network, weights, bottleneck_stride)
        if shortcut != entry.shortcut:
            raise ValueError(
                f"{entry.key} weights were trained with shortcut {entry.shortcut!r}. Received: shortcut={shortcut!r}"
            )
        resolved = Resolved(entry.file_format, entry=entry)
        if include_top and classes != 1000:
            raise ValueError(
                f"ImageNet weights with include_top=True need classes=1000; for another number of classes build "
                f"with include_top=False and add your own top. Received: classes={classes!r}"
            )
    elif isinstance(weights, (str, os.PathLike)) and os.path.isdir(weights):
        raise ValueError(f"weights={os.fspath(weights)!r} is a folder; `weights` must be {_accepted()}")
    elif isinstance(weights, os.PathLike) or (isinstance(weights, str) and _looks_like_path(weights)):
        raise ValueError(f"weights={os.fspath(weights)!r}: no such file; `weights` must be {_accepted()}")
    else:
        raise ValueError(f"`weights` must be {_accepted()}. Received: weights={weights!r}")
    if resolved.published:  # A file's classifier is checked on loading: it may have any number of classes.
        if channels != 3:
            raise ValueError(f"ImageNet weights take RGB images (3 channels). Received: input channels={channels}")
    return resolved


def _looks_like_path(text):
    """Whether a `weights` string that names no file and no source was meant as a path."""
    return os.sep in text or "/" in text or bool(os.path.splitext(text)[1])


def _resolve_file(path):
    file_format = formats.detect(path)
    if file_format != formats.KERAS:
        return Resolved(file_format, path=path)
    try:
        return Resolved(file_format, path=path, record=keras_files.read(path))
    except (OSError, KeyError, ValueError) as error:  # h5py, zipfile and json errors
        raise ValueError(f"cannot read {path} as a Keras weights file: {error}") from None


def fetch(resolved, include_top=True):
    """The local file of a `Resolved`: its path, or the registry's file, downloaded if needed."""
    return resolved.path or download.fetch(resolved.entry, include_top)


def load(model, resolved, path):
    """Loads the published file at `path` into `model` (built by `build_network`)."""
    try:
        tensors = formats.read(path, resolved.file_format)
        layers = convert.CONVERTERS[resolved.file_format](tensors)
    except (OSError, KeyError) as error:
        raise ValueError(f"cannot read {path} as {resolved.file_format}: {error}") from None
    convert.assign(model, layers, path)


def check_keras_file(model, resolved, include_preprocessing=True):
    """Raises a one-line `ValueError` unless the Keras weights file of `resolved` is one of `model`.

    Keras pairs a file's layers with the model's by position, so a file of another net with the
    same weight shapes would load without a word: the layer names the file records must be the
    model's (the classifier may be left out of `model`, and the preprocessing when
    `include_preprocessing=False`), and its classifier must have the model's classes.
    """
    record, path = resolved.record, resolved.path
    if record.layers is None:
        return  # The file names no layers: Keras' own checks are all there is.
    file_layers = set(record.layers)
    model_layers = {layer.name for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)}
    if PREPROCESSING_LAYER in file_layers - model_layers:
        if include_preprocessing:  # The builder adds the layer wherever the file records its values.
            raise ValueError(
                f"{path} holds a net with a `{PREPROCESSING_LAYER}` layer but does not record its values (it was "
                f"written by keras.Model.save_weights, or by an older keras_resnet): build the net with "
                f"include_preprocessing=False and feed it keras_resnet.preprocess_input(images, weights=<its source>). "
                f"Received: include_preprocessing=True"
            )
        file_layers.discard(PREPROCESSING_LAYER)
    if convert.TOP not in file_layers or record.classes is not None:
        convert.check_classifier(path, record.classes, model)
    extra = sorted(file_layers - model_layers - set(_HEAD))
    missing = sorted(model_layers - file_layers - set(_HEAD))
    if extra or missing:
        whole = (
            "; a .keras file of another net loads whole with keras.saving.load_model"
            if zipfile.is_zipfile(path)
            else ""
        )
        raise ValueError(
            f"{path} was saved from another net than this {model.name}: {len(extra)} of its layers are not in this net "
            f"({listed(extra)}) and {len(missing)} of this net's are not in the file ({listed(missing)})"
            f"{whole}"
        )


def preprocessing_layer(resolved):
    """The layer that turns RGB images in [0, 255] into what the weights of `resolved` expect: the
    published file's preprocessing, or the one a Keras file records; `None` where there is none."""
    if resolved.published:
        preprocessing = resolved.preprocessing
        return keras.layers.Normalization(
            mean=list(preprocessing.mean),
            variance=[s * s for s in preprocessing.std],
            dtype="float32",  # Under mixed precision too: the first conv casts.
            name=PREPROCESSING_LAYER,
        )
    if resolved.record is not None and resolved.record.preprocessing is not None:
        return keras.layers.deserialize(resolved.record.preprocessing)
    return None


def preprocessing_of(weights):
    """The `registry.Preprocessing` of a source's name, a `PretrainedWeights` or a published file."""
    if isinstance(weights, PretrainedWeights):
        return weights.preprocessing
    if isinstance(weights, str) and weights in registry.source_names():
        return next(e.preprocessing for e in WEIGHTS.values() if e.name == weights)
    if isinstance(weights, (str, os.PathLike)) and os.path.isfile(weights):
        file_format = formats.detect(weights)
        if file_format in registry.FORMAT_PREPROCESSING:
            return registry.FORMAT_PREPROCESSING[file_format]
    raise ValueError(
        f"`weights` must be one of {', '.join(repr(n) for n in registry.source_names())} or the path of a published "
        f"weights file (the preprocessing differs between sources). Received: weights={weights!r}"
    )


def preprocess_input(images, weights):
    """What a bare published net (`include_preprocessing=False`) expects of RGB images in [0, 255].

    Args:
        images: array or tensor `[..., 3]`, RGB, values in [0, 255].
        weights: a source's name (`"msra"`, `"torchvision_v1"`), a `PretrainedWeights` or the
            path of a published file.

    Returns:
        float32 tensor `(images - mean) / std`.

    Raises:
        ValueError: `weights` names no source, or `images` are not RGB (one line).
    """
    shape = tuple(keras.ops.shape(images))
    if shape[-1:] != (3,):
        gray = "; repeat a grayscale image over 3 channels first" if shape[-1:] == (1,) else ""
        raise ValueError(f"preprocess_input takes RGB images, shape (..., 3){gray}. Received: shape {shape}")
    preprocessing = preprocessing_of(weights)
    mean = np.asarray(preprocessing.mean, np.float32)
    std = np.asarray(preprocessing.std, np.float32)
    return (keras.ops.cast(images, "float32") - mean) / std
