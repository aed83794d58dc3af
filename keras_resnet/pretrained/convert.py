"""Published weights → this library's layer names and layout, folded exactly, then assigned.

This library's nets have no conv biases and BN ε = 1e-5 (Caffe's and torchvision's), and take
RGB. keras.applications' MSRA files have conv biases, BN ε = 1.001e-5 and take BGR; each
difference folds exactly into the weights:

- BN(conv(x) + b) with moving mean μ is BN(conv(x)) with moving mean μ − b;
- ε₁ + σ² = ε₀ + (σ² + ε₁ − ε₀): the moving variance takes the ε difference;
- a conv over BGR channels is the conv over RGB with its input-channel axis reversed.

torchvision's state dicts need only names and axis orders: conv kernels are (out, in, kh, kw)
there and (kh, kw, in, out) here; dense kernels (out, in) and (in, out).
"""

import re

import numpy as np

from keras_resnet import architectures
from keras_resnet.errors import listed
from keras_resnet.pretrained import registry

# keras.applications' ResNet50/101/152 build their BN layers with this ε.
KERAS_APPLICATIONS_BN_EPSILON = 1.001e-5
TOP = "predictions"

_TORCH_BN = {"weight": "gamma", "bias": "beta", "running_mean": "moving_mean", "running_var": "moving_variance"}
_TORCH_BLOCK = re.compile(r"^layer(\d+)\.(\d+)\.(conv\d|bn\d|downsample\.[01])\.(\w+)$")


def from_keras_applications(tensors):
    """`{layer: {weight: array}}` in this library's layout from a keras.applications file."""
    layers = {}
    for key, value in tensors.items():
        layer, weight = key.split("/")
        layers.setdefault(layer, {})[weight] = np.asarray(value, np.float32)
    for name in [n for n in layers if n.endswith("_conv") and "bias" in layers[n]]:
        bn = layers.get(name[: -len("_conv")] + "_bn")
        if bn is None:
            raise ValueError(f"conv layer {name} has a bias but no batch normalization to fold it into")
        bn["moving_mean"] = bn["moving_mean"] - layers[name].pop("bias")
    for name, weights in layers.items():
        if name.endswith("_bn"):
            weights["moving_variance"] = weights["moving_variance"] + (
                KERAS_APPLICATIONS_BN_EPSILON - architectures.BN_EPSILON
            )
    if "conv1_conv" in layers:
        layers["conv1_conv"]["kernel"] = layers["conv1_conv"]["kernel"][:, :, ::-1, :]  # BGR → RGB
    return layers


def from_torchvision(tensors):
    """`{layer: {weight: array}}` in this library's layout from a torchvision ResNet state dict."""
    layers = {}
    for key, value in tensors.items():
        value = np.asarray(value, np.float32)
        if key.endswith("num_batches_tracked"):
            continue  # BN's step counter: no part of the function.
        try:
            layer, weight = _torch_name(key)
        except KeyError:
            raise ValueError(f"{key!r} is not a weight of a torchvision ResNet") from None
        if weight == "kernel":
            value = value.transpose(2, 3, 1, 0) if value.ndim == 4 else value.T
        layers.setdefault(layer, {})[weight] = value
    return layers


def _torch_name(key):
    if key.startswith(("conv1.", "bn1.")):
        module, param = key.split(".")
        return ("conv1_conv", "kernel") if module == "conv1" else ("conv1_bn", _TORCH_BN[param])
    if key in ("fc.weight", "fc.bias"):
        return TOP, "kernel" if key == "fc.weight" else "bias"
    match = _TORCH_BLOCK.match(key)
    if not match:
        raise ValueError(f"{key!r} is not a weight of a torchvision ResNet")
    stage, block, module, param = match.groups()
    prefix = f"conv{int(stage) + 1}_block{int(block) + 1}"
    if module.startswith("downsample"):
        part, kind = "0", "conv" if module.endswith("0") else "bn"
    else:
        part, kind = module[-1], module[:-1]
    if kind == "conv":
        return f"{prefix}_{part}_conv", "kernel"
    return f"{prefix}_{part}_bn", _TORCH_BN[param]


CONVERTERS = {registry.KERAS_APPLICATIONS_H5: from_keras_applications, registry.TORCHVISION: from_torchvision}


def assign(model, layers, origin):
    """Assigns `layers` (`{layer: {weight: array}}`) to `model`, every weight exactly once.

    The classifier of the file is left out when `model` has none (`include_top=False`).

    Raises:
        ValueError: a weight of `model` has no value in the file, a value of the file has no
            weight in `model`, or the shapes differ; the message names `origin`.
    """
    layers = dict(layers)
    model_layers = {layer.name: layer for layer in model.layers if layer.weights}
    if TOP not in model_layers:
        layers.pop(TOP, None)
    else:
        check_classifier(origin, len(layers[TOP]["bias"]) if "bias" in layers.get(TOP, {}) else None, model)
    missing = sorted(set(model_layers) - set(layers))
    unused = sorted(set(layers) - set(model_layers))
    if missing or unused:
        raise ValueError(
            f"{origin} does not fit {model.name}: {len(missing)} layers of the model have no weights in the file "
            f"({listed(missing)}) and {len(unused)} layers of the file none in the model ({listed(unused)})"
        )
    for name, layer in model_layers.items():
        variables = {v.name: v for v in layer.weights}
        values = layers[name]
        if set(variables) != set(values):
            raise ValueError(
                f"{origin} does not fit {model.name}: layer {name} has weights {sorted(variables)}, the file "
                f"{sorted(values)}"
            )
        for weight, variable in variables.items():
            if tuple(variable.shape) != values[weight].shape:
                raise ValueError(
                    f"{origin} does not fit {model.name}: {name}/{weight} is {tuple(variable.shape)} in the model, "
                    f"{values[weight].shape} in the file"
                )
    for name, layer in model_layers.items():
        for variable in layer.weights:
            variable.assign(layers[name][variable.name].astype(variable.dtype))


def check_classifier(origin, file_classes, model):
    """Raises a one-line `ValueError` unless the classifier of a file fits `model`'s (if any).

    Args:
        origin: str. The file, named in the message.
        file_classes: int, or `None` for a file without a classifier.
        model: the net being loaded.
    """
    if not any(layer.name == TOP for layer in model.layers):
        return  # The file's classifier, if any, is left out.
    classes = model.get_layer(TOP).units
    if file_classes is None:
        raise ValueError(
            f"{origin} holds no classifier (it was saved with include_top=False): build the net with "
            "include_top=False. Received: include_top=True"
        )
    if file_classes != classes:
        raise ValueError(
            f"{origin} holds a {file_classes}-class classifier: build the net with classes={file_classes}, "
            f"or with include_top=False for its body alone. Received: classes={classes}"
        )
