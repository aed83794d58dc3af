"""Stage outputs of any network of the zoo, for detection and segmentation heads (FPN, Faster R-CNN …).

The paper's ResNets won COCO detection and segmentation as backbones (Sec. 4.3, Appendix A): a head
reads the last feature map of each stage, `conv2` … `conv5` of Table 1 (the "C2 … C5" of FPN,
arXiv 1612.03144). `feature_model` gives them as one functional model that shares its layers, and so
its weights, trained or pretrained, with the network it came from.
"""

import re

from keras_resnet.network import Network

# The stem's subsampling: ImageNet's 7×7/2 conv and 3×3/2 max pool (Table 1); CIFAR's stride-1 3×3
# conv (Sec. 4.2). Every later stage halves the map once more.
_STEM_STRIDE = {"imagenet": 4, "cifar": 1}
_UNIT_OUTPUT = re.compile(r"^(conv(\d+))_block(\d+)_out$")


def feature_strides(model):
    """The stride of each stage output of a network of the zoo, keyed by stage name.

    A stage output of stride s holds a map of ⌈H/s⌉ × ⌈W/s⌉ for an H × W input: ImageNet nets
    give `{"conv2": 4, "conv3": 8, "conv4": 16, "conv5": 32}`, CIFAR nets
    `{"conv2": 1, "conv3": 2, "conv4": 4}`.

    Args:
        model: a network of the zoo (`keras_resnet.ResNet50()`, `build_network(...)`, with or
            without its top), or a model from `feature_model`.

    Returns:
        dict of str to int, in stage order.

    Example:

    >>> import keras_resnet
    >>> feature_strides(keras_resnet.ResNet50(include_top=False, input_shape=(None, None, 3)))
    {'conv2': 4, 'conv3': 8, 'conv4': 16, 'conv5': 32}
    >>> feature_strides(keras_resnet.build_network("cifar", stages=(1, 1, 1)))
    {'conv2': 1, 'conv3': 2, 'conv4': 4}
    """
    last_units = _last_units(model)
    family = "imagenet" if _has_layer(model, "pool1_pool") else "cifar"
    return {stage: _STEM_STRIDE[family] * 2**i for i, stage in enumerate(last_units)}


def feature_model(model, stages=None, name=None):
    """A functional model whose outputs are the stage outputs of a network of the zoo.

    The outputs are the last unit of each stage, after its ReLU (`conv3_block4_out` for
    ResNet-50's `conv3`), keyed by stage name, in the strides `feature_strides` gives. The new
    model calls the very layers of `model`: it holds the same variables, so pretrained or trained
    weights are the feature model's too, and training a head on it with the backbone trainable
    updates the classifier. It takes every input size `model` takes (build `model` with
    `input_shape=(None, None, 3)` for any size of at least the net's downsampling).

    Args:
        model: a plain, residual or highway network of the zoo, ImageNet or CIFAR, with or without
            its top (`include_top=False`), any weights.
        stages: optional iterable of stage names, e.g. `("conv3", "conv4", "conv5")`. Defaults to
            every stage.
        name: str. The new model's name. Defaults to `f"{model.name}_features"`.

    Returns:
        A `keras_resnet.Network` (a functional `keras.Model`) whose outputs are a dict
        `{stage name: feature map}`.

    Example:

    >>> import keras_resnet
    >>> backbone = keras_resnet.ResNet50(input_shape=(256, 256, 3))
    >>> features = feature_model(backbone, stages=("conv3", "conv4", "conv5"))
    >>> {stage: tuple(tensor.shape) for stage, tensor in features.output.items()}
    {'conv3': (None, 32, 32, 512), 'conv4': (None, 16, 16, 1024), 'conv5': (None, 8, 8, 2048)}
    >>> features.get_layer("conv1_conv") is backbone.get_layer("conv1_conv")
    True
    """
    last_units = _last_units(model)
    if stages is None:
        stages = tuple(last_units)
    elif isinstance(stages, str) or not stages or any(s not in last_units for s in stages):
        raise ValueError(
            f"`stages` must be a non-empty collection of {', '.join(map(repr, last_units))}. "
            f"Received: stages={stages!r}"
        )
    outputs = {stage: model.get_layer(last_units[stage]).output for stage in stages}
    return Network(model.input, outputs, name=name or f"{model.name}_features")


def _last_units(model):
    """Stage name -> the name of the layer that outputs the stage's last unit, in stage order."""
    last = {}
    for layer in getattr(model, "layers", ()):
        match = _UNIT_OUTPUT.match(layer.name)
        if match:
            stage, number, block = match.group(1), int(match.group(2)), int(match.group(3))
            if block >= last.get(stage, (0, 0, ""))[1]:
                last[stage] = (number, block, layer.name)
    if not last or sorted(n for n, _, _ in last.values()) != list(range(2, 2 + len(last))):
        raise ValueError(
            "`model` must be a network of keras_resnet's zoo, whose stages end in layers named "
            f"conv2_block<k>_out, conv3_block<k>_out, … Received: model={getattr(model, 'name', model)!r}"
        )
    return {stage: layer for stage, (_, _, layer) in sorted(last.items(), key=lambda kv: kv[1][0])}


def _has_layer(model, name):
    return any(layer.name == name for layer in model.layers)
