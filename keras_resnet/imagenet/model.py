"""The ImageNet recipe's trained model: the network behind the preprocessing that runs inside
the compiled step.

The input pipeline ships what only the CPU can do cheaply (decode the crop window, resize, flip)
as uint8 crops, with one PCA-lighting α per image; AlexNet's lighting and the mean subtraction
are elementwise passes over every pixel, so they run on the accelerator, where they fuse into
the first convolution's input, and the host sends a quarter of the bytes. This module needs no
TensorFlow.

Example:

>>> import numpy as np
>>> from keras_resnet.imagenet import config
>>> network = keras.Sequential([keras.Input((None, None, 3)), keras.layers.GlobalAveragePooling2D()], name="net")
>>> model = recipe_model(network, config.imagenet(image_size=8), mean=np.zeros(3))
>>> sorted(model.input)
['image', 'lighting_alpha']
>>> x = {IMAGE: np.full((1, 8, 8, 3), 10, "uint8"), LIGHTING_ALPHA: np.zeros((1, 3), "float32")}
>>> keras.ops.convert_to_numpy(model(x)).tolist()
[[10.0, 10.0, 10.0]]
"""

import keras
import numpy as np

import keras_resnet
from keras_resnet import architectures, builder
from keras_resnet.errors import RecipeError
from keras_resnet.imagenet.config import TEST_NETWORKS
from keras_resnet.preprocessing import PCALighting, PerPixelMean
from keras_resnet.training import optimizers

IMAGE = "image"
LIGHTING_ALPHA = "lighting_alpha"
MEAN_LAYER = "mean"


def image_dtype(strategy_name):
    """The dtype the crops travel in: uint8, or bfloat16 under TPUStrategy (TPU infeed takes no
    uint8; bfloat16 holds 0…255 exactly, in twice the bytes). JAX puts uint8 on any device.

    >>> image_dtype("mirrored"), image_dtype("tpu")
    ('uint8', 'bfloat16')
    """
    return "bfloat16" if strategy_name == "tpu" else "uint8"


def recipe_model(network, config, mean=None, image_dtype="uint8"):
    """`network` behind PCA lighting and the mean subtraction, on the pipeline's inputs.

    Args:
        network: a `keras.Model` taking float images `(None, None, 3)`.
        config: an `ImageNetConfig` (`image_size`, `pca_eigval`, `pca_eigvec`).
        mean: `[size, size, 3]` (per-pixel) or `[3]` (per-channel) array; saved in the model.
            `None`: zeros, to be loaded with the weights.
        image_dtype: str. dtype of the image input (`image_dtype`). Defaults to `"uint8"`.

    Returns:
        A functional `keras.Model` with inputs `{"image": uint8 [size, size, 3],
        "lighting_alpha": float32 [3]}` (α = 0 for evaluation) and the network's outputs. The
        preprocessing computes in float32 under any dtype policy.
    """
    size = config.image_size
    image = keras.Input((size, size, 3), dtype=image_dtype, name=IMAGE)
    alpha = keras.Input((3,), dtype="float32", name=LIGHTING_ALPHA)
    x = PCALighting(config.pca_eigval, config.pca_eigvec, dtype="float32", name="pca_lighting")([image, alpha])
    x = PerPixelMean(mean, dtype="float32", name=MEAN_LAYER)(x)
    return keras.Model({IMAGE: image, LIGHTING_ALPHA: alpha}, network(x), name=network.name)


def mean_image(config, pixel_mean=None):
    """The mean subtracted from every crop: `[size, size, 3]` per-pixel, or `[3]` per-channel.

    Args:
        config: an `ImageNetConfig` (`mean`, `channel_mean`).
        pixel_mean: the training set's per-pixel mean (`pixel_mean.compute_pixel_mean`);
            needed for `mean="pixel"`.
    """
    if config.mean == "pixel":
        if pixel_mean is None:
            raise ValueError("mean='pixel' needs the training set's per-pixel mean (compute_pixel_mean)")
        return np.asarray(pixel_mean, np.float32)
    return np.asarray(config.channel_mean, np.float32)


def stored_mean(model):
    """The mean a `recipe_model` subtracts (`[size, size, 3]` float32 numpy)."""
    return keras.ops.convert_to_numpy(model.get_layer(MEAN_LAYER).mean)


def create_network(name, classes, config=None, shortcut=None, init_weights=None, bottleneck_stride="1x1"):
    """An ImageNet net of the zoo (`"resnet50"`, `"plain34"`, …) or `"tiny"`, fully convolutional
    input `(None, None, 3)`, logits out, the coupled L2 on its kernels; with `init_weights`, the
    published net (`imagenet.finetune.pretrained_network`), its preprocessing inside."""
    if init_weights is not None:
        from keras_resnet.imagenet.finetune import pretrained_network

        return pretrained_network(name, classes, init_weights, config, shortcut, bottleneck_stride)
    options = optimizers.regularizers(config) if config is not None else {}
    if shortcut is not None:
        options["shortcut"] = shortcut
    if bottleneck_stride != "1x1":
        options["bottleneck_stride"] = bottleneck_stride
    try:
        if name in TEST_NETWORKS:
            return builder.build_network(
                "imagenet",
                input_shape=(None, None, 3),
                classes=classes,
                classifier_activation=None,
                name=name,
                **TEST_NETWORKS[name],
                **options,
            )
        return keras_resnet.MODELS[name](
            input_shape=(None, None, 3), classes=classes, classifier_activation=None, **options
        )
    except (TypeError, ValueError) as error:
        raise RecipeError(f"--model {name}: {str(error).splitlines()[0]}") from None


def check_network(cfg, weights=None, weights_flag="--init_weights"):
    """Raises `RecipeError` for a net `create_network` cannot build, before anything is built,
    fetched or written: the config's net (`ImageNetConfig.check`) and the published `weights` it
    starts from or is evaluated with (`"imagenet"`, a source's name or a file), checked without
    being fetched or read."""
    cfg.check()
    if weights is not None:
        from keras_resnet.imagenet.finetune import check_weights

        check_weights(cfg.model, weights, cfg.shortcut, cfg.bottleneck_stride, weights_flag)


def used_shortcut(cfg):
    """The shortcut option the config's net is built with: `None` for a plain net, else
    `cfg.shortcut` or the paper's B."""
    return None if cfg.kind() == "plain" else cfg.shortcut or architectures.FAMILY_SHORTCUT["imagenet"]
