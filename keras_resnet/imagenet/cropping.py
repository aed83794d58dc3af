"""The geometry and decoding of the paper's ImageNet crops (Sec. 3.4), one image at a time.

Training: "the image is resized with its shorter side randomly sampled in [256, 480] for scale
augmentation. A 224×224 crop is randomly sampled from an image or its horizontal flip."
Evaluation: shorter side resized to 256, centre 224×224 crop.

Both never decode the whole JPEG: a 224 crop of the image resized by `f = s / shorter_side` is
the window of side `224 / f` of the original, so the window is drawn first, only it is decoded
(`tf.image.decode_and_crop_jpeg`), then resized to 224×224 and rounded to uint8. Draws are
stateless, seeded by `(seed, stream position)`, so an example gets the same crop whenever its
position comes round, resumed or not.

The format is decided by content, not by file name, on every path (training, centre crops, the
10-crop and multi-scale tests, the pixel mean): bytes that start like a JPEG go to the JPEG
decoder (a window of it here), anything else to `tf.io.decode_image` (PNG, GIF, BMP). ImageNet's
training set holds a PNG named `.JPEG`; it is read like the others.

Example:

>>> import tensorflow as tf
>>> window, scale = train_window(tf.constant([375, 500]), 224, (256, 480), tf.constant([7, 0]))
>>> bool(256 <= int(scale) <= 480), int(window[2]) == int(window[3])
(True, True)
>>> [int(v) for v in center_window(tf.constant([375, 500]), 224, 256)]
[23, 86, 328, 328]
"""

import tensorflow as tf


def decode_image(encoded):
    """Decodes a whole image of any format `tf.io.decode_image` reads (JPEG, PNG, GIF, BMP), by its
    content; RGB uint8 `[height, width, 3]`."""
    return tf.io.decode_image(encoded, channels=3, expand_animations=False)


def image_shape(encoded):
    """`[height, width]` of an encoded image: a JPEG's (by its first bytes) from its header only;
    any other format's by decoding it."""
    # The check and its cond (here and in `decode_window`) cost 1-5% of a JPEG crop's decode on one
    # core (`benchmarks/decode_check.py`).
    return tf.cond(
        tf.io.is_jpeg(encoded),
        lambda: tf.image.extract_jpeg_shape(encoded)[:2],
        lambda: tf.shape(decode_image(encoded))[:2],
    )


def decode_window(encoded, window):
    """Decodes only `window = [top, left, height, width]` of a JPEG (by its first bytes); any other
    format whole, then crops it.

    Args:
        encoded: string tensor, the encoded image.
        window: int tensor `[top, left, height, width]`.

    Returns:
        uint8 tensor `[height, width, 3]`.
    """

    def other():
        return tf.image.crop_to_bounding_box(decode_image(encoded), window[0], window[1], window[2], window[3])

    return tf.cond(tf.io.is_jpeg(encoded), lambda: tf.image.decode_and_crop_jpeg(encoded, window, channels=3), other)


def train_window(shape, size, scale_range, seed):
    """The window of the original image that becomes the random `size` crop after scaling.

    Draws the shorter side `s ~ U{scale_range[0], …, scale_range[1]}` and a crop position
    uniformly in the scaled image; returns the window in original pixels and `s`.

    Args:
        shape: int tensor `[height, width]`.
        size: int. Side of the crop (224).
        scale_range: `(low, high)` of the shorter side.
        seed: int tensor of shape `[2]`.

    Returns:
        `(window, s)`: int32 `[top, left, side, side]` and the int32 shorter side.
    """
    draws = tf.random.stateless_uniform([3], seed)
    low, high = scale_range
    scale = tf.minimum(low + tf.cast(draws[0] * (high - low + 1), tf.int32), high)
    shorter = tf.minimum(shape[0], shape[1])
    side = tf.cast(tf.round(size * tf.cast(shorter, tf.float32) / tf.cast(scale, tf.float32)), tf.int32)
    side = tf.clip_by_value(side, 1, shorter)
    top = tf.minimum(tf.cast(draws[1] * tf.cast(shape[0] - side + 1, tf.float32), tf.int32), shape[0] - side)
    left = tf.minimum(tf.cast(draws[2] * tf.cast(shape[1] - side + 1, tf.float32), tf.int32), shape[1] - side)
    return tf.stack([top, left, side, side]), scale


def center_window(shape, size, resize):
    """The window of the original image that becomes the centre `size` crop after resizing the
    shorter side to `resize`.

    Returns:
        int32 `[top, left, side, side]`.
    """
    shorter = tf.minimum(shape[0], shape[1])
    side = tf.cast(tf.round(size * tf.cast(shorter, tf.float32) / float(resize)), tf.int32)
    side = tf.clip_by_value(side, 1, shorter)
    return tf.stack([(shape[0] - side) // 2, (shape[1] - side) // 2, side, side])


def to_uint8(image):
    """Rounds a float image in [0, 255] (a bilinear resize of uint8 pixels) to uint8."""
    return tf.cast(image + 0.5, tf.uint8)


def train_crop(encoded, index, config, seed):
    """One training example's geometry: window decode, resize to the crop, random flip.

    Draws are seeded by `(seed, index)`, so an example gets the same crop whenever it comes round
    in the same pass, resumed or not. The resized crop is rounded to uint8 (at most half a grey
    level); lighting and mean follow in the compiled step (`model.recipe_model`).

    Returns:
        uint8 `[size, size, 3]`.
    """
    example_seed = tf.stack([tf.cast(seed, tf.int64), tf.cast(index, tf.int64)])
    window, _ = train_window(image_shape(encoded), config.image_size, config.scale_range, example_seed)
    image = decode_window(encoded, window)
    image = to_uint8(tf.image.resize(image, [config.image_size, config.image_size], method="bilinear"))
    flip_seed = tf.random.experimental.stateless_fold_in(example_seed, 1)
    return tf.image.stateless_random_flip_left_right(image, flip_seed)


def eval_image(encoded, config):
    """The evaluation crop, uint8: shorter side → `eval_resize`, centre `image_size`."""
    window = center_window(image_shape(encoded), config.image_size, config.eval_resize)
    image = decode_window(encoded, window)
    return to_uint8(tf.image.resize(image, [config.image_size, config.image_size], method="bilinear"))


def resize_shorter(image, shorter):
    """Resizes so the shorter side is `shorter` (aspect ratio kept); float32 out."""
    shape = tf.cast(tf.shape(image)[:2], tf.float32)
    factor = float(shorter) / tf.reduce_min(shape)
    new = tf.maximum(tf.cast(tf.round(shape * factor), tf.int32), shorter)
    new = tf.where(shape <= tf.reduce_min(shape), shorter, new)
    return tf.image.resize(image, new, method="bilinear")
