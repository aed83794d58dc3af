"""Weight files in the published layouts, written independently of `keras_resnet.pretrained`.

- `write_keras_applications_h5`: the Keras-2 HDF5 layout of keras.applications' published
  ResNet files (root attribute `layer_names`; per layer a group whose attribute `weight_names`
  lists `"<layer>/kernel:0"`, …, stored at `f[layer][layer]["kernel:0"]`).
- `torchvision_state_dict`: random tensors under torchvision's ResNet key names and shapes,
  written out here from torchvision's module layout (conv1, bn1, layer1..4, downsample, fc).
"""

import h5py
import keras
import numpy as np

# The side of the images the tests feed these nets: all are fully convolutional, and a small input keeps the
# forward passes cheap.
SIZE = 64
BASIC = {18: (2, 2, 2, 2), 34: (3, 4, 6, 3)}
BOTTLENECK = {50: (3, 4, 6, 3), 101: (3, 4, 23, 3), 152: (3, 8, 36, 3)}


def randomise(model, rng):
    """Random values for every weight, BN moving statistics and conv biases included (variances
    away from 1, means away from 0), at a scale that keeps a deep net's activations finite."""
    for layer in model.layers:
        for variable in layer.weights:
            shape = tuple(variable.shape)
            if variable.name == "kernel":
                value = rng.normal(0, np.sqrt(2.0 / np.prod(shape[:-1])), shape)
            elif variable.name in ("bias", "beta", "moving_mean"):
                value = rng.normal(0, 0.1, shape)
            elif variable.name == "gamma":
                value = rng.uniform(0.5, 1.0, shape)
            elif variable.name == "moving_variance":
                value = rng.uniform(0.5, 2.0, shape)
            else:
                continue
            variable.assign(value.astype("float32"))


def write_keras_applications_h5(model, path):
    """Writes `model`'s weights in the Keras-2 HDF5 layout of keras.applications' files."""
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = [layer.name.encode("utf8") for layer in model.layers]
        f.attrs["backend"] = b"tensorflow"
        f.attrs["keras_version"] = b"2.2.4"
        for layer in model.layers:
            group = f.create_group(layer.name)
            names = [f"{layer.name}/{w.name}:0" for w in layer.weights]
            group.attrs["weight_names"] = [n.encode("utf8") for n in names]
            for name, weight in zip(names, layer.weights):
                group.create_dataset(name, data=keras.ops.convert_to_numpy(weight))


def torchvision_state_dict(depth, rng, classes=1000):
    """`{key: array}` with torchvision's ResNet-`depth` keys and shapes, random values."""
    bottleneck = depth in BOTTLENECK
    stages = BOTTLENECK[depth] if bottleneck else BASIC[depth]
    state = {"conv1.weight": rng.normal(0, 0.1, (64, 3, 7, 7))}
    state.update(_bn("bn1", 64, rng))
    in_channels = 64
    for s, (blocks, width) in enumerate(zip(stages, (64, 128, 256, 512))):
        out_channels = width * (4 if bottleneck else 1)
        for b in range(blocks):
            prefix = f"layer{s + 1}.{b}"
            if bottleneck:
                convs = [(width, in_channels, 1), (width, width, 3), (out_channels, width, 1)]
            else:
                convs = [(width, in_channels, 3), (width, width, 3)]
            for k, (out, inp, size) in enumerate(convs, 1):
                state[f"{prefix}.conv{k}.weight"] = rng.normal(
                    0, np.sqrt(2.0 / (inp * size * size)), (out, inp, size, size)
                )
                state.update(_bn(f"{prefix}.bn{k}", out, rng))
            if b == 0 and (s > 0 or in_channels != out_channels):
                state[f"{prefix}.downsample.0.weight"] = rng.normal(
                    0, np.sqrt(2.0 / in_channels), (out_channels, in_channels, 1, 1)
                )
                state.update(_bn(f"{prefix}.downsample.1", out_channels, rng))
            in_channels = out_channels
    state["fc.weight"] = rng.normal(0, 0.01, (classes, in_channels))
    state["fc.bias"] = rng.normal(0, 0.1, (classes,))
    return {k: np.asarray(v, np.float32) if not k.endswith("num_batches_tracked") else v for k, v in state.items()}


def _bn(prefix, channels, rng):
    return {
        f"{prefix}.weight": rng.uniform(0.5, 1.0, channels),
        f"{prefix}.bias": rng.normal(0, 0.1, channels),
        f"{prefix}.running_mean": rng.normal(0, 0.1, channels),
        f"{prefix}.running_var": rng.uniform(0.5, 2.0, channels),
        f"{prefix}.num_batches_tracked": np.array(1000, np.int64),
    }
