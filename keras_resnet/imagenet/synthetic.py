"""Generated ImageNet-layout JPEG folders, for tests, benchmarks and trying the recipe offline.

Example:

>>> import tempfile
>>> root = tempfile.mkdtemp()
>>> counts = write_image_folder(root, classes=2, per_class={"train": 2, "val": 1}, shape=(40, 48))
>>> counts, sorted(os.listdir(os.path.join(root, "train")))
({'train': 4, 'val': 2}, ['n00000000', 'n00000001'])
"""

import os

import numpy as np


def smooth_image(rng, height, width):
    """A smooth random RGB image (uint8): colour gradients plus low-frequency waves, so JPEG
    files have realistic sizes and resampling differences stay small."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    channels = []
    for _ in range(3):
        fy, fx, phase = rng.uniform(0.5, 3.0), rng.uniform(0.5, 3.0), rng.uniform(0, 2 * np.pi)
        wave = np.sin(2 * np.pi * (fy * y / height + fx * x / width) + phase)
        channels.append(128 + 60 * wave + rng.uniform(-40, 40) * (x / width - 0.5))
    return np.clip(np.stack(channels, -1), 0, 255).astype(np.uint8)


def encode_jpeg(image, quality=90):
    """JPEG bytes of a uint8 `[h, w, 3]` array."""
    import tensorflow as tf

    return tf.io.encode_jpeg(image, quality=quality).numpy()


def write_image_folder(root, classes=2, per_class=None, shape=(375, 500), seed=0, jitter=0):
    """Writes `root/<split>/n%08d/*.JPEG` images.

    Args:
        root: str.
        classes: int. Class folders. Defaults to `2`.
        per_class: dict of split → images per class. Defaults to `{"train": 4, "val": 2}`.
        shape: `(height, width)` of each image. Defaults to `(375, 500)`.
        seed: int. Defaults to `0`.
        jitter: int. Each side varies by up to this many pixels. Defaults to `0`.

    Returns:
        dict of split → images written.
    """
    per_class = per_class or {"train": 4, "val": 2}
    rng = np.random.default_rng(seed)
    counts = {}
    for split, count in per_class.items():
        for c in range(classes):
            folder = os.path.join(root, split, f"n{c:08d}")
            os.makedirs(folder, exist_ok=True)
            for i in range(count):
                h, w = (int(s + rng.integers(-jitter, jitter + 1)) if jitter else s for s in shape)
                with open(os.path.join(folder, f"{split}_{c}_{i}.JPEG"), "wb") as f:
                    f.write(encode_jpeg(smooth_image(rng, h, w)))
        counts[split] = classes * count
    return counts
