"""Multiply-adds of a forward pass, counted as the paper counts FLOPs (Table 1)."""

import math

import keras


def flops(model):
    """Multiply-adds of one forward pass of `model` for one image at its input shape.

    Counts what Table 1 counts: the multiply-adds of every convolution and fully connected layer.
    Batch normalization, activations, pooling and additions are left out, as in the paper.

    Args:
        model: keras.Model. A model with a fully known input shape (nested models are counted too).

    Returns:
        int. Multiply-adds per image.

    Example:

    >>> import keras, keras_resnet
    >>> inputs = keras.Input((8, 8, 3))
    >>> x = keras.layers.Conv2D(4, 3, padding="same")(inputs)
    >>> outputs = keras.layers.Dense(2)(keras.layers.Flatten()(x))
    >>> keras_resnet.flops(keras.Model(inputs, outputs))  # 8·8·3·3·3·4 + 256·2
    7424
    """
    total = 0
    for layer in _layers(model):
        if isinstance(layer, keras.layers.Conv2D):
            _, height, width, channels = layer.output.shape
            if height is None or width is None:
                raise ValueError(
                    f"flops() needs a fixed input size; layer {layer.name!r} has output shape "
                    f"{layer.output.shape}. Build the model with e.g. input_shape=(224, 224, 3)."
                )
            kernel = math.prod(layer.kernel_size) * layer.input.shape[-1] // layer.groups
            total += height * width * channels * kernel
        elif isinstance(layer, keras.layers.Dense):
            positions = math.prod(layer.output.shape[1:-1])
            total += positions * layer.input.shape[-1] * layer.units
    return int(total)


def _layers(model):
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from _layers(layer)
        else:
            yield layer
