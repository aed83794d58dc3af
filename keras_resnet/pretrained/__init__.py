"""The paper's trained networks: `weights="imagenet"` and published files, loaded exactly.

`keras_resnet.ResNet50(weights="imagenet")` downloads MSRA's ResNet-50 (the paper's own model)
into the Keras cache, checks its hash, folds its Caffe layout into this library's and puts the
file's preprocessing inside the model, as a layer named `preprocessing`: the model takes RGB
images with values in [0, 255]. `registry` lists every published file; `preprocess_input` gives
what a bare net (`include_preprocessing=False`) expects.

Example:

>>> import numpy as np
>>> x = np.full((1, 2, 2, 3), 255.0 * np.array([0.485, 0.456, 0.406]), "float32")
>>> bool(np.abs(keras.ops.convert_to_numpy(preprocess_input(x, weights="torchvision_v1"))).max() < 1e-5)
True
"""

import dataclasses
import os

import keras
import numpy as np

from keras_resnet.pretrained import convert, download, formats, registry
from keras_resnet.pretrained.registry import DEFAULT, WEIGHTS, PretrainedWeights, find

PREPROCESSING_LAYER = "preprocessing"


@dataclasses.dataclass(frozen=True)
class Resolved:
    """What `weights=` named: a Keras weights file, or a published file (`entry` when it comes
    from the registry and is yet to be fetched)."""

    file_format: str
    path: str = None
    entry: PretrainedWeights = None

    @property
    def preprocessing(self):
        return registry.FORMAT_PREPROCESSING.get(self.file_format)

    @property
    def published(self):
        return self.file_format != formats.KERAS


def _accepted():
    return f"None, {DEFAULT!r}, one of {', '.join(repr(n) for n in registry.source_names())}, or the path of a weights file"


def resolve(weights, *, network=None, bottleneck_stride="1x1", shortcut=None, include_top=True, classes=1000,
            channels=3):
    """Checks `weights=` against the network being built, before anything is built or fetched.

    Args:
        weights: `None`, `"imagenet"`, a source's name (`"msra"`, `"torchvision_v1"`) or a path.
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
        resolved = Resolved(formats.detect(weights), path=os.fspath(weights))
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
    else:
        raise ValueError(f"`weights` must be {_accepted()}. Received: weights={weights!r}")
    if resolved.published:
        if include_top and classes != 1000:
            raise ValueError(
                f"ImageNet weights with include_top=True need classes=1000; for another number of classes build "
                f"with include_top=False and add your own top. Received: classes={classes!r}"
            )
        if channels != 3:
            raise ValueError(f"ImageNet weights take RGB images (3 channels). Received: input channels={channels}")
    return resolved


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


def preprocessing_layer(preprocessing):
    """The layer that turns RGB images in [0, 255] into what the published net expects."""
    return keras.layers.Normalization(
        mean=list(preprocessing.mean),
        variance=[s * s for s in preprocessing.std],
        dtype="float32",  # Under mixed precision too: the first conv casts.
        name=PREPROCESSING_LAYER,
    )


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
    """
    preprocessing = preprocessing_of(weights)
    mean = np.asarray(preprocessing.mean, np.float32)
    std = np.asarray(preprocessing.std, np.float32)
    return (keras.ops.cast(images, "float32") - mean) / std
