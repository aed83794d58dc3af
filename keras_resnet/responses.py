"""The paper's analysis of layer responses (Sec. 4.2, Fig. 7).

"The responses are the outputs of each 3×3 layer, after BN and before other nonlinearity
(ReLU/addition)"; Fig. 7 plots their standard deviations on the CIFAR-10 test set. For a ResNet
they measure how strongly each residual function modifies the signal; the paper's claims are that
they are smaller than in the plain twin, and smaller still in deeper ResNets.

The paper does not say over which axes the std is taken. Here it is the std of each channel over
all test images and positions, averaged over the layer's channels: BN normalises each channel on
its own, so a channel's std is the scale (≈ |γ|) its BN learned, the strength of the response,
and spreads of the channels' offsets (β) do not count as strength.
"""

import keras
import numpy as np

from keras_resnet.network import Network


def response_layers(model):
    """The names of the BN layers right after the 3×3 convolutions of `model`, in layer order.

    In a CIFAR net: the stem's `conv1_bn`, then `_1_bn` and `_2_bn` of each basic block (6n + 1
    layers); in an ImageNet net: both BNs of each basic block, or the middle BN (`_2_bn`) of each
    bottleneck. Shortcut projections (1×1) and the ImageNet stem (7×7) are not 3×3 layers.

    Args:
        model: a network of the zoo.

    Returns:
        list of str.

    Example:

    >>> import keras_resnet
    >>> response_layers(keras_resnet.build_network("cifar", stages=(1, 1, 1)))[:3]
    ['conv1_bn', 'conv2_block1_1_bn', 'conv2_block1_2_bn']
    >>> len(response_layers(keras_resnet.ResNet56()))
    55
    """
    names = {layer.name: layer for layer in model.layers}
    selected = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization) and layer.name.endswith("_bn"):
            conv = names.get(layer.name[: -len("_bn")] + "_conv")
            if isinstance(conv, keras.layers.Conv2D) and tuple(conv.kernel_size) == (3, 3):
                selected.append(layer.name)
    if not selected:
        raise ValueError(
            "`model` must be a network of keras_resnet's zoo, with BN layers `<name>_bn` after 3×3 "
            f"convolutions `<name>_conv`. Received: model={getattr(model, 'name', model)!r}"
        )
    return selected


def layer_responses(model, images, batch_size=128):
    """The std of each 3×3 layer's response (after BN, in inference mode) over `images`.

    For each layer of `response_layers(model)`: the standard deviation of each channel over all
    images and positions (population std, accumulated in float64 batch by batch), averaged over
    the channels.

    Args:
        model: a network of the zoo, trained or not.
        images: the images as the network takes them (for the recipes' nets: minus the training
            mean): an array `(N, H, W, C)`, or an iterable of such batches or of
            `(images, labels)` pairs (a `tf.data.Dataset`, a generator).
        batch_size: int. Images per forward pass when `images` is an array. Defaults to `128`.

    Returns:
        dict of layer name to float, in layer order.

    Example:

    >>> import numpy as np, keras_resnet
    >>> net = keras_resnet.build_network("cifar", stages=(1, 1, 1), input_shape=(8, 8, 1))
    >>> stds = layer_responses(net, np.random.default_rng(0).normal(size=(6, 8, 8, 1)), batch_size=4)
    >>> list(stds)[:2], len(stds)
    (['conv1_bn', 'conv2_block1_1_bn'], 7)
    """
    names = response_layers(model)
    probe = Network(model.input, [model.get_layer(name).output for name in names], name=f"{model.name}_responses")
    # Per layer: elements per channel so far, their mean and summed squared deviations.
    counts, means, squares = [0] * len(names), [0.0] * len(names), [0.0] * len(names)
    for batch in _batches(images, batch_size):
        for i, output in enumerate(probe(batch, training=False)):
            values = keras.ops.convert_to_numpy(output).astype("float64")
            values = values.reshape(-1, values.shape[-1])
            n = len(values)
            batch_mean = values.mean(axis=0)
            batch_squares = np.square(values - batch_mean).sum(axis=0)
            # Chan et al.'s pairwise update: exact and stable merging of per-batch moments.
            delta = batch_mean - means[i]
            total = counts[i] + n
            means[i] = means[i] + delta * n / total
            squares[i] = squares[i] + batch_squares + np.square(delta) * counts[i] * n / total
            counts[i] = total
    if not counts[0]:
        raise ValueError(f"`images` holds no images. Received: images={images!r}")
    return {name: float(np.mean(np.sqrt(squares[i] / counts[i]))) for i, name in enumerate(names)}


def _batches(images, batch_size):
    if isinstance(images, np.ndarray):
        for start in range(0, len(images), batch_size):
            yield np.asarray(images[start : start + batch_size], "float32")
        return
    for batch in images:
        if isinstance(batch, (tuple, list)):
            batch = batch[0]
        yield np.asarray(batch, "float32")
