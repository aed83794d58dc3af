"""Custom layers of the paper's blocks, registered so that models save to `.keras` and load back
with `safe_mode=True`.
"""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_resnet")
class ZeroPadShortcut(keras.layers.Layer):
    """Shortcut option A (Sec. 3.3): identity that subsamples and zero-pads new channels.

    Subsamples by taking every `strides`-th pixel (the top-left one of each window, as a 1×1
    convolution with that stride would), then appends `filters - channels` channels of zeros
    after the input's channels. Adds no parameters.

    Args:
        filters: int. Channels of the output; at least the input's channel count.
        strides: int. Spatial subsampling factor. Defaults to `1`.

    Example:

    >>> import numpy as np
    >>> x = np.arange(16, dtype="float32").reshape(1, 2, 2, 4)
    >>> y = ZeroPadShortcut(filters=8, strides=2)(x)
    >>> tuple(y.shape), np.asarray(y)[0, 0, 0].tolist()
    ((1, 1, 1, 8), [0.0, 1.0, 2.0, 3.0, 0.0, 0.0, 0.0, 0.0])
    """

    def __init__(self, filters, strides=1, **kwargs):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.strides = int(strides)

    def build(self, input_shape):
        if input_shape[-1] > self.filters:
            raise ValueError(
                f"ZeroPadShortcut cannot shrink {input_shape[-1]} channels to "
                f"filters={self.filters}; option A only adds channels."
            )

    def compute_output_shape(self, input_shape):
        def subsample(size):
            return None if size is None else -(-size // self.strides)

        batch, height, width, _ = input_shape
        return (batch, subsample(height), subsample(width), self.filters)

    def call(self, inputs):
        channels = inputs.shape[-1]
        if self.strides > 1:
            inputs = inputs[:, :: self.strides, :: self.strides, :]
        if self.filters > channels:
            inputs = ops.pad(inputs, [[0, 0], [0, 0], [0, 0], [0, self.filters - channels]])
        return inputs

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "strides": self.strides}


@keras.saving.register_keras_serializable(package="keras_resnet")
class HighwayCombine(keras.layers.Layer):
    """The highway combination y = H·T + x·(1 − T) (Srivastava et al., arXiv 1507.06228).

    Called on `[transform, gate, carry]`, three tensors of one shape: `transform` is H(x), `gate`
    is T(x) in [0, 1], `carry` is x (or its shortcut where dimensions change). Computed as
    x + T·(H − x). Adds no parameters.

    Example:

    >>> import numpy as np
    >>> h, t, x = np.full((1, 2), 5.0), np.array([[0.0, 1.0]]), np.full((1, 2), 3.0)
    >>> np.asarray(HighwayCombine()([h, t, x])).tolist()
    [[3.0, 5.0]]
    """

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def call(self, inputs):
        transform, gate, carry = inputs
        return carry + gate * (transform - carry)
