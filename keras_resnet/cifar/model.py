"""The model the CIFAR recipe trains: the network with the paper's preprocessing in front of it
(per-pixel mean, then pad/crop/flip during training only), so the augmentation is part of the
compiled step on every backend and the data stays raw (uint8) on the host.

Example:

>>> import numpy as np
>>> from keras_resnet.cifar import config, datasets
>>> images = np.zeros((4, 8, 8, 1), "uint8")
>>> data = datasets.prepare(datasets.check_arrays(dict(x_train=images, y_train=np.arange(4) % 2, x_test=images,
...                                                    y_test=np.arange(4) % 2)), validation_size=0)
>>> model = create_model(config.cifar10(model="resnet8"), data)
>>> [layer.name for layer in model.layers], model.output_shape
(['images', 'per_pixel_mean', 'pad_crop_flip', 'resnet8'], (None, 2))
"""

import keras
import numpy as np

from keras_resnet import architectures
from keras_resnet.cifar.config import network_entry
from keras_resnet.errors import RecipeError
from keras_resnet.preprocessing import PadCropFlip, PerPixelMean
from keras_resnet.training import optimizers

MEAN_LAYER = "per_pixel_mean"


def used_shortcut(config):
    """The shortcut option the config's net is built with: `None` for a plain net, else
    `config.shortcut` or the paper's A."""
    if network_entry(config.model).kind == "plain":
        return None
    return config.shortcut or architectures.FAMILY_SHORTCUT["cifar"]


def create_model(config, data):
    """The config's network with the paper's preprocessing in front; outputs logits.

    Args:
        config: a `CifarConfig` (the net, its shortcut, the decay, the augmentation and its seed).
        data: a `datasets.CifarData` (image shape and dtype, classes, mean).

    Returns:
        A functional `keras.Model`.
    """
    entry = network_entry(config.model)
    config.check()
    shortcut = used_shortcut(config)
    try:
        network = entry(
            input_shape=data.image_shape,
            classes=data.num_classes,
            classifier_activation=None,
            **optimizers.regularizers(config),
            **({} if shortcut is None else {"shortcut": shortcut}),
        )
    except ValueError as error:
        raise RecipeError(str(error).splitlines()[0]) from None
    inputs = keras.Input(data.image_shape, dtype=image_dtype(data), name="images")
    x = PerPixelMean(data.mean, name=MEAN_LAYER)(inputs)
    x = PadCropFlip(config.pad, config.horizontal_flip, seed=config.runtime.seed, name="pad_crop_flip")(x)
    return keras.Model(inputs, network(x), name=network.name)


def image_dtype(data):
    """The images' dtype on the way in: uint8 where the data is, float32 otherwise."""
    return "uint8" if data.x_train.dtype == np.uint8 else "float32"


def needs_warmup(config):
    """Whether the config's net gets ResNet-110's warm-up (depth ≥ `config.warmup_min_depth`)."""
    return network_entry(config.model).depth >= config.warmup_min_depth
