"""Custom layers of the paper's blocks, registered so that models save to `.keras` and load back
with `safe_mode=True`.
"""

import functools

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


@keras.saving.register_keras_serializable(package="keras_resnet")
class BatchNormalization(keras.layers.BatchNormalization):
    """Keras' `BatchNormalization`, in training on a TensorFlow CPU one fused kernel.

    Keras computes a training batch's moments and normalises with separate ops; on a CPU,
    TensorFlow's fused kernel (`FusedBatchNormV3`, oneDNN's where TensorFlow uses oneDNN) does it
    in one pass, forward and backward: the CIFAR ResNet-56 step is about 1.2× as fast on 2 cores.
    The numbers are Keras': the moving variance is updated with the batch's biased variance, as
    Keras does (the kernel gives the unbiased one: it is scaled by (n − 1)/n), in float32 whatever
    the dtype policy; they differ from Keras' only by float rounding. Everywhere else (inference,
    JAX, PyTorch, a GPU or TPU, where XLA fuses anyway) it is Keras' layer, whose weights and
    config it shares.

    Example:

    >>> import numpy as np
    >>> x = np.random.default_rng(0).normal(3, 2, (4, 5, 5, 8)).astype("float32")
    >>> ours, keras_bn = BatchNormalization(momentum=0.9), keras.layers.BatchNormalization(momentum=0.9)
    >>> bool(np.allclose(ours(x, training=True), keras_bn(x, training=True), atol=1e-5))
    True
    """

    def call(self, inputs, training=None, mask=None):
        if not (training and self.trainable and mask is None and _fused_kernel_runs(self, inputs)):
            return super().call(inputs, training=training, mask=mask)
        import tensorflow as tf

        x = tf.cast(inputs, "float32")
        channels = x.shape[-1]
        gamma = tf.cast(self.gamma, "float32") if self.scale else tf.ones([channels])
        beta = tf.cast(self.beta, "float32") if self.center else tf.zeros([channels])
        empty = tf.constant([], "float32")
        y, mean, variance = tf.raw_ops.FusedBatchNormV3(
            x=x, scale=gamma, offset=beta, mean=empty, variance=empty, epsilon=self.epsilon, is_training=True
        )[:3]
        count = tf.cast(tf.size(x) // channels, "float32")
        variance = variance * (count - 1.0) / count
        self.moving_mean.assign(self.moving_mean * self.momentum + mean * (1.0 - self.momentum))
        self.moving_variance.assign(self.moving_variance * self.momentum + variance * (1.0 - self.momentum))
        return tf.cast(y, self.compute_dtype)


def _fused_kernel_runs(layer, inputs):
    """Whether `BatchNormalization` trains with TensorFlow's fused kernel: Keras on TensorFlow,
    which sees no GPU or TPU, an NHWC feature map, no renormalisation nor synchronisation."""
    if keras.backend.backend() != "tensorflow" or layer.renorm or layer.synchronized:
        return False
    if len(inputs.shape) != 4 or layer.axis not in (-1, 3):
        return False
    return not _accelerators()


@functools.cache
def _accelerators():
    """Whether TensorFlow sees a GPU or TPU."""
    import tensorflow as tf

    return bool(tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("TPU"))
