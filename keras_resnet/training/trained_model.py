"""The model a recipe run ends with: its trained network behind the mean it was trained with.

A recipe trains the network wrapped in its preprocessing (the training mean, and augmentation that
acts in training only), so its checkpoints hold more than the network. At the end of a run the
recipes write `model.keras`: raw images in, the mean subtracted inside, no augmentation, the
network's logits out, exactly as the run evaluated it. It loads with
`keras.saving.load_model(path, safe_mode=True)` after `import keras_resnet`.
"""

import os

import keras

from keras_resnet.network import Network

MODEL_FILE = "model.keras"


def inference_model(model, mean_layer):
    """The trained network of a recipe model behind its mean layer, on float images 0…255.

    The new model calls the recipe model's own mean layer and network (no copies), skipping every
    other preprocessing layer (pad/crop/flip, PCA lighting), which act in training only.

    Args:
        model: a recipe model: inputs → … → `mean_layer` → … → the network (one nested model).
        mean_layer: str. Name of its `PerPixelMean` layer.

    Returns:
        A `keras_resnet.Network` named after the network, with one input `"images"` of the
        mean's shape (`(H, W, C)`, float32: uint8 images convert exactly) and the network's
        outputs.

    Example:

    >>> import numpy as np, keras_resnet
    >>> from keras_resnet.preprocessing import PadCropFlip
    >>> from keras_resnet.preprocessing import PerPixelMean
    >>> net = keras_resnet.build_network("cifar", stages=(1, 1, 1), input_shape=(8, 8, 1), classifier_activation=None)
    >>> images = keras.Input((8, 8, 1), dtype="uint8")
    >>> x = PadCropFlip(4, True)(PerPixelMean(np.full((8, 8, 1), 100.0), name="mean")(images))
    >>> trained = inference_model(keras.Model(images, net(x)), "mean")
    >>> [layer.name for layer in trained.layers], trained.output_shape
    (['images', 'mean', 'resnet8'], (None, 10))
    """
    mean = model.get_layer(mean_layer)
    networks = [layer for layer in model.layers if isinstance(layer, keras.Model)]
    if len(networks) != 1:
        raise ValueError(
            "`model` must hold exactly one network (a nested keras.Model). "
            f"Received: model={model.name!r} with {len(networks)}"
        )
    network = networks[0]
    images = keras.Input(tuple(mean.mean.shape), dtype="float32", name="images")
    return Network(images, network(mean(images)), name=network.name)


def save_trained_model(model, workdir, mean_layer):
    """Writes `inference_model(model, mean_layer)` to `workdir/model.keras`; returns the path.

    Written to a temporary name first, so a crash leaves no half-written `model.keras`.
    """
    path = os.path.join(workdir, MODEL_FILE)
    partial = path[: -len(".keras")] + ".partial.keras"
    inference_model(model, mean_layer).save(partial)
    os.replace(partial, path)
    return path
