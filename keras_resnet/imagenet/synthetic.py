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


def example(encoded, label):
    """A serialized `tf.train.Example` of an encoded image and its label, as TFRecords of ImageNet hold them."""
    import tensorflow as tf

    return tf.train.Example(
        features=tf.train.Features(
            feature={
                "image/encoded": tf.train.Feature(bytes_list=tf.train.BytesList(value=[encoded])),
                "image/class/label": tf.train.Feature(int64_list=tf.train.Int64List(value=[label])),
            }
        )
    ).SerializeToString()


def write_tfrecords(directory, split="train", labels=((0, 1), (1, 0)), shape=(40, 48), seed=0):
    """Writes `directory/<split>-NNNNN` TFRecord files of `tf.train.Example`s (`image/encoded`,
    `image/class/label`), as TensorFlow's ImageNet conversion script lays them out.

    Args:
        directory: str.
        split: str. `"train"` or `"validation"`. Defaults to `"train"`.
        labels: sequence of sequences of int. One file per entry, one record per label.
        shape: `(height, width)` of the JPEGs. Defaults to `(40, 48)`.
        seed: int. Defaults to `0`.

    Returns:
        list of the files' paths.
    """
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    os.makedirs(directory, exist_ok=True)
    paths = []
    for index, file_labels in enumerate(labels):
        path = os.path.join(directory, f"{split}-{index:05d}-of-{len(labels):05d}")
        with tf.io.TFRecordWriter(path) as writer:
            for label in file_labels:
                writer.write(example(encode_jpeg(smooth_image(rng, *shape)), int(label)))
        paths.append(path)
    return paths


def write_tfds_imagenet(data_dir, per_split=None, shards=None, shape=(40, 48), classes=3, seed=0, version=None):
    """Prepares a small `imagenet2012` in the TFDS data directory `data_dir`: TFDS's own files,
    with the real builder's features and version, read by `tfds.builder("imagenet2012",
    data_dir=data_dir)` like the prepared data set.

    Args:
        data_dir: str.
        per_split: dict of TFDS split → examples. Defaults to `{"train": 8, "validation": 4}`.
        shards: optional int. Files per split.
        shape: `(height, width)` of the JPEGs. Defaults to `(40, 48)`.
        classes: int. Labels cycle over `0 … classes - 1`. Defaults to `3`.
        seed: int. Defaults to `0`.
        version: optional str. The version to prepare. Defaults to the installed builder's.
    """
    import tensorflow_datasets as tfds

    per_split = per_split or {"train": 8, "validation": 4}
    rng = np.random.default_rng(seed)
    builder = tfds.builder("imagenet2012")
    examples = {
        split: [
            (
                f"{split}_{i}",
                {
                    "image": encode_jpeg(smooth_image(rng, *shape)),
                    "label": i % classes,
                    "file_name": f"{split}_{i}.JPEG",
                },
            )
            for i in range(count)
        ]
        for split, count in per_split.items()
    }
    tfds.dataset_builders.store_as_tfds_dataset(
        "imagenet2012",
        version or builder.version,
        builder.info.features,
        examples,
        data_dir=data_dir,
        disable_shuffling=True,
        download_config=tfds.download.DownloadConfig(num_shards=shards) if shards else None,
    )
