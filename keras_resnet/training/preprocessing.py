"""The preprocessing both recipes share, as a layer inside the model: "the per-pixel mean
subtracted" (Sec. 3.4, Sec. 4.2). The recipes' augmentations are `keras_resnet.cifar.augment`
and `keras_resnet.imagenet.augment`.
"""

import keras
import numpy as np
from keras import ops


@keras.saving.register_keras_serializable(package="keras_resnet")
class PerPixelMean(keras.layers.Layer):
    """Subtracts a per-pixel mean image (the training split's) and casts to the compute dtype.

    The mean is a non-trainable weight of the input's shape, saved with the model.

    Args:
        mean: optional array of shape `(height, width, channels)`, or one that broadcasts to it
            (a per-channel mean `(channels,)`). Defaults to zeros (to be loaded from saved
            weights).
        **kwargs: base `Layer` arguments.

    Example:

    >>> import numpy as np
    >>> layer = PerPixelMean(np.full((2, 2, 1), 3.0))
    >>> keras.ops.convert_to_numpy(layer(np.full((1, 2, 2, 1), 5, "uint8"))).ravel().tolist()
    [2.0, 2.0, 2.0, 2.0]
    """

    def __init__(self, mean=None, **kwargs):
        super().__init__(**kwargs)
        self._initial_mean = None if mean is None else np.asarray(mean, "float32")

    def build(self, input_shape):
        self.mean = self.add_weight(
            shape=tuple(input_shape[1:]), initializer="zeros", trainable=False, name="mean", dtype="float32"
        )
        if self._initial_mean is not None:
            self.mean.assign(np.broadcast_to(self._initial_mean, tuple(input_shape[1:])))

    def call(self, inputs):
        return ops.cast(inputs, self.compute_dtype) - ops.cast(self.mean, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        # The mean is a weight: a loaded model gets it from the saved weights, not the config.
        return super().get_config()
