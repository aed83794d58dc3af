"""The recipes' preprocessing as layers of the model, so that it runs inside the compiled step on
every backend and the data stays raw (uint8) on the host: the per-pixel mean subtracted (Sec. 3.4,
Sec. 4.2), CIFAR's pad/crop/flip (Sec. 4.2) and ImageNet's PCA lighting (Sec. 3.4, after AlexNet).

CIFAR: "4 pixels are padded on each side, and a 32×32 crop is randomly sampled from the padded
image or its horizontal flip. For testing, we only evaluate the single view of the original 32×32
image." `keras.layers.RandomCrop` is not used: it takes one crop offset for a whole batch.
`PadCropFlip` draws an offset and a flip for every example, and builds each crop as two one-hot
matrix products (rows, then columns), which every backend compiles and which is exact.
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


# The key under which `PadCropFlip` saves its random stream's state.
_SEED_STATE = "seed_state"


@keras.saving.register_keras_serializable(package="keras_resnet")
class PadCropFlip(keras.layers.Layer):
    """Zero-pad, random crop back to the input size, random horizontal flip; per example.

    Active only with `training=True`; otherwise the input passes through untouched. The state
    of the layer's random stream (the seed and the number of draws so far) is saved with its
    weights, so a run restored from a backup draws what it would have drawn uninterrupted.

    Args:
        pad: int. Zero padding on each side. Defaults to `4`.
        flip: bool. Random horizontal flips (probability 1/2). Defaults to `True`.
        seed: optional int. Seed of the layer's random stream.
        **kwargs: base `Layer` arguments.

    Example:

    >>> import numpy as np
    >>> images = np.arange(2 * 4 * 4, dtype="float32").reshape(2, 4, 4, 1)
    >>> layer = PadCropFlip(pad=1, seed=0)
    >>> bool((keras.ops.convert_to_numpy(layer(images, training=False)) == images).all())
    True
    >>> tuple(layer(images, training=True).shape)
    (2, 4, 4, 1)
    """

    def __init__(self, pad=4, flip=True, seed=None, **kwargs):
        super().__init__(**kwargs)
        if int(pad) < 0:
            raise ValueError(f"`pad` must be at least 0. Received: pad={pad!r}")
        self.pad = int(pad)
        self.flip = bool(flip)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs, training=None):
        if not training:
            return inputs
        batch = ops.shape(inputs)[0]
        height, width = inputs.shape[1], inputs.shape[2]
        span = 2 * self.pad + 1
        rows_offset = keras.random.randint((batch, 1), 0, span, seed=self.seed_generator)
        cols_offset = keras.random.randint((batch, 1), 0, span, seed=self.seed_generator)
        cols = ops.arange(width, dtype="int32")[None, :]
        if self.flip:
            flips = keras.random.randint((batch, 1), 0, 2, seed=self.seed_generator)
            cols = ops.where(flips == 1, width - 1 - cols, cols)
        # Source row (column) of each output row (column); outside the image means padding.
        source_rows = rows_offset - self.pad + ops.arange(height, dtype="int32")[None, :]
        source_cols = cols_offset - self.pad + cols
        pick_rows = ops.cast(source_rows[:, :, None] == ops.arange(height, dtype="int32")[None, None, :], inputs.dtype)
        pick_cols = ops.cast(source_cols[:, :, None] == ops.arange(width, dtype="int32")[None, None, :], inputs.dtype)
        rows = ops.einsum("bih,bhwc->biwc", pick_rows, inputs)
        return ops.einsum("bjw,biwc->bijc", pick_cols, rows)

    def save_own_variables(self, store):
        super().save_own_variables(store)
        store[_SEED_STATE] = self.seed_generator.state

    def load_own_variables(self, store):
        # Weights saved before the stream state was stored load too, leaving the stream as it is.
        if _SEED_STATE in store.keys():
            self.seed_generator.state.assign(store[_SEED_STATE])

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({"pad": self.pad, "flip": self.flip, "seed": self.seed})
        return config


def lighting_shift(alpha, eigval, eigvec):
    """AlexNet's PCA colour shift `eigvec @ (alpha * eigval) × 255` (Krizhevsky et al. 2012, Sec. 4.1).

    Args:
        alpha: `[batch, 3]` tensor, one α per image (drawn from N(0, σ²)).
        eigval: `[3]` eigenvalues of the RGB covariance of pixels in [0, 1].
        eigvec: `[3, 3]` eigenvectors, one per column.

    Returns:
        float32 `[batch, 3]`: the value added to every pixel of each image.

    Example:

    >>> import numpy as np
    >>> shift = lighting_shift(np.array([[1.0, 0.0, 0.0]]), [0.2, 0.0, 0.0], np.eye(3))
    >>> np.round(keras.ops.convert_to_numpy(shift), 3).tolist()
    [[51.0, 0.0, 0.0]]
    """
    alpha = ops.cast(alpha, "float32")
    scaled = alpha * ops.convert_to_tensor(np.asarray(eigval, "float32"))[None, :]
    return ops.matmul(scaled, ops.transpose(ops.convert_to_tensor(np.asarray(eigvec, "float32")))) * 255.0


@keras.saving.register_keras_serializable(package="keras_resnet")
class PCALighting(keras.layers.Layer):
    """Adds AlexNet's PCA colour shift to each image, for the α given with it.

    Called on `[images, alpha]`: images `[batch, height, width, 3]` in [0, 255] (any dtype),
    alpha `[batch, 3]`. The α are an input rather than drawn here, so the input pipeline's
    seeded draws decide them (deterministic, and the same after a resume) and evaluation passes
    zeros. Returns the images as float32 (the layer's compute dtype).

    Args:
        eigval: `[3]` eigenvalues of the RGB covariance (pixels in [0, 1]).
        eigvec: `[3, 3]` eigenvectors, one per column.
        **kwargs: base `Layer` arguments.

    Example:

    >>> import numpy as np
    >>> layer = PCALighting([0.2, 0.0, 0.0], np.eye(3))
    >>> out = layer([np.zeros((1, 1, 2, 3), "uint8"), np.array([[0.5, 1.0, 1.0]])])
    >>> np.round(keras.ops.convert_to_numpy(out), 3).tolist()
    [[[[25.5, 0.0, 0.0], [25.5, 0.0, 0.0]]]]
    """

    def __init__(self, eigval, eigvec, **kwargs):
        super().__init__(**kwargs)
        self.eigval = tuple(float(v) for v in np.asarray(eigval).ravel())
        self.eigvec = tuple(tuple(float(v) for v in row) for row in np.asarray(eigvec))
        if len(self.eigval) != 3 or np.asarray(self.eigvec).shape != (3, 3):
            raise ValueError(
                f"PCALighting needs 3 eigenvalues and a 3×3 eigenvector matrix. Received: "
                f"eigval={eigval!r}, eigvec={eigvec!r}"
            )

    def call(self, inputs):
        images, alpha = inputs
        shift = ops.cast(lighting_shift(alpha, self.eigval, self.eigvec), self.compute_dtype)
        return ops.cast(images, self.compute_dtype) + shift[:, None, None, :]

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self):
        config = super().get_config()
        config.update({"eigval": self.eigval, "eigvec": self.eigvec})
        return config
