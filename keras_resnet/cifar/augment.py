"""CIFAR's augmentation as a layer, so it runs inside the compiled training step (Sec. 4.2):
"4 pixels are padded on each side, and a 32×32 crop is randomly sampled from the padded image or
its horizontal flip. For testing, we only evaluate the single view of the original 32×32 image."

`keras.layers.RandomCrop` is not used: it takes one crop offset for a whole batch. `PadCropFlip`
draws an offset and a flip for every example, and builds each crop as two one-hot matrix
products (rows, then columns), which every backend compiles and which is exact.
"""

import keras
from keras import ops

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
