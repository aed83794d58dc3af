"""The model the CIFAR recipe trains: the network with the paper's preprocessing in front of it
(per-pixel mean, then pad/crop/flip during training only), so the augmentation is part of the
compiled step on every backend and the data stays raw (uint8) on the host.

Example:

>>> import numpy as np
>>> from keras_resnet.cifar import config, datasets
>>> images = np.zeros((4, 8, 8, 1), "uint8")
>>> data = datasets.prepare(datasets.check_arrays(dict(x_train=images, y_train=np.arange(4) % 2, x_test=images,
...                                                    y_test=np.arange(4) % 2)), validation_size=0)
>>> model = create_model("resnet8", data, config.cifar10())
>>> [layer.name for layer in model.layers], model.output_shape
(['images', 'per_pixel_mean', 'pad_crop_flip', 'resnet8'], (None, 2))
"""

import keras
import numpy as np

from keras_resnet import zoo
from keras_resnet.cifar.augment import PadCropFlip
from keras_resnet.training import flags as flag_lib
from keras_resnet.training import optimizers
from keras_resnet.training.preprocessing import PerPixelMean
from keras_resnet.training.run import RecipeError

MEAN_LAYER = "per_pixel_mean"


def network_entry(name):
    """The zoo entry of a CIFAR net (`"resnet56"`, `"plain20"`, any 6n+2), or `RecipeError`."""
    try:
        return zoo.lookup(name, family="cifar")
    except ValueError as error:
        raise RecipeError(f"unknown --model {name!r}: {error}") from None


def check_shortcut(name, shortcut):
    """Raises `RecipeError` for an unknown net, or a shortcut the net `name` cannot take."""
    flag_lib.check_shortcut(name, network_entry(name).kind, shortcut)


def create_model(name, data, config, shortcut=None, seed=None):
    """The network `name` with the paper's preprocessing in front; outputs logits.

    Args:
        name: str. E.g. `"resnet56"`, `"plain20"`, `"highway44"`.
        data: a `datasets.CifarData` (image shape and dtype, classes, mean).
        config: a `CifarConfig`.
        shortcut: optional str. `"A"`, `"B"` or `"C"`; residual and highway nets only.
            Defaults to `config.shortcut`.
        seed: optional int. Seed of the augmentation's random stream.

    Returns:
        A functional `keras.Model`.
    """
    entry = network_entry(name)
    check_shortcut(name, shortcut)
    options = {} if entry.kind == "plain" else {"shortcut": shortcut or config.shortcut}
    try:
        network = entry(
            input_shape=data.image_shape,
            classes=data.num_classes,
            classifier_activation=None,
            **optimizers.regularizers(config),
            **options,
        )
    except ValueError as error:
        raise RecipeError(str(error).splitlines()[0]) from None
    inputs = keras.Input(data.image_shape, dtype=image_dtype(data), name="images")
    x = PerPixelMean(data.mean, name=MEAN_LAYER)(inputs)
    x = PadCropFlip(config.pad, config.horizontal_flip, seed=seed, name="pad_crop_flip")(x)
    return keras.Model(inputs, network(x), name=network.name)


def image_dtype(data):
    """The images' dtype on the way in: uint8 where the data is, float32 otherwise."""
    return "uint8" if data.x_train.dtype == np.uint8 else "float32"


def needs_warmup(name, config):
    """Whether the net gets ResNet-110's warm-up (depth ≥ `config.warmup_min_depth`)."""
    return network_entry(name).depth >= config.warmup_min_depth
