"""Where ImageNet comes from: TFDS `imagenet2012`, an ImageNet-layout JPEG folder, or TFRecords.

Each source gives, per split, a `tf.data.Dataset` of `(encoded_image, label)`: the image file's
bytes (undecoded, so the pipeline can decode only the crop of a JPEG) and an int32 label. The same code serves
any number of classes.

Example:

>>> folder_source("/no/such/folder")
Traceback (most recent call last):
...
keras_resnet.imagenet.sources.DataError: --image_folder /no/such/folder has no train/ folder; expected train/<class>/*.JPEG and val/<class>/*.JPEG
"""

import dataclasses
import os
import re

IMAGE_EXTENSIONS = (".jpeg", ".jpg", ".png")
NO_DATA = (
    "no ImageNet data: pass --data_dir with a prepared TFDS imagenet2012 (or --manual_dir with "
    "ILSVRC2012_img_train.tar and ILSVRC2012_img_val.tar to prepare it), --image_folder with "
    "train/<wnid>/*.JPEG and val/<wnid>/*.JPEG, or --tfrecords with train-* and validation-* files"
)


class DataError(ValueError):
    """Data that cannot be used, with a one-line message."""


@dataclasses.dataclass
class Source:
    """A data source.

    Attributes:
        kind: str. `"tfds"`, `"folder"` or `"tfrecords"`.
        num_classes: int. Number of classes the labels range over.
        splits: dict of split name (`"train"`, `"val"`) to a zero-argument function returning
            a `tf.data.Dataset` of `(encoded, label)` in a fixed order.
        sizes: dict of split name to its number of examples, where known.
        class_names: list of str, where known.

    The pipeline decides each image's format by its content, not by its file name or its source.
    """

    kind: str
    num_classes: int
    splits: dict
    sizes: dict
    class_names: list = None

    def examples(self, split):
        """The split's `(encoded, label)` dataset."""
        if split not in self.splits:
            raise DataError(f"the {self.kind} source has no {split!r} split; it has {', '.join(self.splits)}")
        return self.splits[split]()


def _list_folder_split(root, split):
    path = os.path.join(root, split)
    classes = sorted(e.name for e in os.scandir(path) if e.is_dir())
    return path, classes


def folder_source(root):
    """An ImageNet-layout folder: `root/train/<class>/*.JPEG`, `root/val/<class>/*.JPEG`.

    Classes are the sorted `train/` subfolder names (WordNet ids for ImageNet); `val/` must use
    the same names.

    Args:
        root: str.

    Returns:
        A `Source`.
    """
    import tensorflow as tf

    if not os.path.isdir(os.path.join(root, "train")):
        raise DataError(f"--image_folder {root} has no train/ folder; expected train/<class>/*.JPEG and val/<class>/*.JPEG")
    train_path, classes = _list_folder_split(root, "train")
    if not classes:
        raise DataError(f"--image_folder {root}/train has no class subfolders; expected train/<class>/*.JPEG")
    index = {name: i for i, name in enumerate(classes)}
    files = {}
    for split in ("train", "val"):
        path = os.path.join(root, split)
        if not os.path.isdir(path):
            continue
        _, split_classes = _list_folder_split(root, split)
        unknown = sorted(set(split_classes) - set(classes))
        if unknown:
            raise DataError(f"--image_folder {root}/{split} has classes not in train/: {', '.join(unknown[:5])}")
        pairs = [
            (os.path.join(path, name, f), index[name])
            for name in split_classes
            for f in sorted(os.listdir(os.path.join(path, name)))
            if f.lower().endswith(IMAGE_EXTENSIONS)
        ]
        if not pairs:
            raise DataError(f"--image_folder {root}/{split} holds no .JPEG/.jpg/.png images in its class subfolders")
        files[split] = pairs

    def make(pairs):
        def examples():
            paths, labels = zip(*pairs)
            ds = tf.data.Dataset.from_tensor_slices((list(paths), list(labels)))
            return ds.map(lambda p, y: (tf.io.read_file(p), tf.cast(y, tf.int32)))
        return examples

    return Source("folder", len(classes), {s: make(p) for s, p in files.items()},
                  {s: len(p) for s, p in files.items()}, classes)


def tfrecord_source(pattern, num_classes=1000, label_offset=0):
    """TFRecords of `tf.train.Example`s with `image/encoded` and `image/class/label`.

    Files named `<pattern>train-*` and `<pattern>validation-*` (the layout of TensorFlow's
    ImageNet conversion script; its labels start at 1: pass `label_offset=-1`).

    Args:
        pattern: str. Directory (or prefix) of the files.
        num_classes: int. Number of classes. Defaults to `1000`.
        label_offset: int. Added to each stored label. Defaults to `0`.

    Returns:
        A `Source`.
    """
    import tensorflow as tf

    prefix = pattern.rstrip("/") + "/" if tf.io.gfile.isdir(pattern) else pattern  # local or gs://
    files = {split: sorted(tf.io.gfile.glob(f"{prefix}{name}-*")) for split, name in (("train", "train"), ("val", "validation"))}
    if not files["train"]:
        raise DataError(f"--tfrecords {pattern}: no {prefix}train-* files")
    features = {"image/encoded": tf.io.FixedLenFeature([], tf.string),
                "image/class/label": tf.io.FixedLenFeature([], tf.int64)}
    # The first record of each split, read now: a file of another kind would otherwise fail
    # mid-run, deep in tf.data.
    for paths in files.values():
        try:
            for record in tf.data.TFRecordDataset(paths[:1]).take(1):
                tf.io.parse_single_example(record, features)
        except (tf.errors.OpError, ValueError) as error:
            message = re.sub(r"\{\{.*?\}\}\s*", "", str(getattr(error, "message", None) or error)).strip().splitlines()[0]
            raise DataError(f"--tfrecords {pattern}: {paths[0]} is not a TFRecord file of tf.train.Examples with "
                            f"image/encoded and image/class/label ({message[:160]})") from None

    def parse(record):
        parsed = tf.io.parse_single_example(record, features)
        return parsed["image/encoded"], tf.cast(parsed["image/class/label"], tf.int32) + label_offset

    def make(paths):
        return lambda: tf.data.TFRecordDataset(paths, num_parallel_reads=tf.data.AUTOTUNE).map(parse)

    return Source("tfrecords", num_classes, {s: make(p) for s, p in files.items() if p}, {})


def tfds_source(data_dir=None, manual_dir=None, name="imagenet2012"):
    """TFDS `imagenet2012` (or a data set of the same features), never downloading.

    The data set must be prepared in `data_dir`, or `manual_dir` must hold the ILSVRC2012 tars
    for TFDS to prepare it (once; it takes hours).

    Args:
        data_dir: optional str. TFDS data directory.
        manual_dir: optional str. Directory of the ILSVRC2012 tars.
        name: str. TFDS name. Defaults to `"imagenet2012"`.

    Returns:
        A `Source`.
    """
    import tensorflow as tf
    import tensorflow_datasets as tfds

    try:
        builder = tfds.builder(name, data_dir=data_dir)
        if manual_dir:  # A no-op once prepared.
            builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=manual_dir))
        info = builder.info
    except Exception as error:  # TFDS raises many types; all mean "not usable here".
        raise DataError(f"TFDS {name} in --data_dir {data_dir}: {str(error).strip().splitlines()[0]}; {NO_DATA}") from None
    num_classes = info.features["label"].num_classes
    splits = {"train": "train", "val": "validation"}

    def make(split):
        def examples():
            try:
                ds = tfds.load(name, split=split, data_dir=data_dir, download=False, shuffle_files=False,
                               decoders={"image": tfds.decode.SkipDecoding()}, read_config=tfds.ReadConfig(add_tfds_id=False))
            except Exception as error:
                raise DataError(f"TFDS {name} split {split!r} in --data_dir {data_dir}: {str(error).strip().splitlines()[0]}; {NO_DATA}") from None
            return ds.map(lambda e: (e["image"], tf.cast(e["label"], tf.int32)))
        return examples

    sizes = {k: info.splits[v].num_examples for k, v in splits.items() if v in info.splits}
    return Source("tfds", num_classes, {k: make(v) for k, v in splits.items()}, sizes)


def resolve_source(data_dir=None, manual_dir=None, image_folder=None, tfrecords=None, tfrecord_label_offset=0, num_classes=1000):
    """The one source the flags name; fails at once, with one line, when there is none.

    Args:
        data_dir, manual_dir: TFDS directories.
        image_folder: str. ImageNet-layout folder.
        tfrecords: str. TFRecord directory or prefix.
        tfrecord_label_offset: int. See `tfrecord_source`.
        num_classes: int. Classes of the TFRecords.

    Returns:
        A `Source`.
    """
    chosen = [n for n, v in (("--image_folder", image_folder), ("--tfrecords", tfrecords)) if v]
    if len(chosen) > 1 or (chosen and data_dir):
        raise DataError(f"give one data source; received {', '.join(chosen + (['--data_dir'] if data_dir else []))}")
    if image_folder:
        return folder_source(image_folder)
    if tfrecords:
        return tfrecord_source(tfrecords, num_classes, tfrecord_label_offset)
    if not data_dir and not manual_dir:
        raise DataError(NO_DATA)
    for flag, path in (("--data_dir", data_dir), ("--manual_dir", manual_dir)):
        if path and os.path.isfile(path):
            raise DataError(f"{flag} {path} is a file; {flag} takes a folder")
        if path and not os.path.isdir(path):
            raise DataError(f"{flag} {path} does not exist; {NO_DATA}")
    if not manual_dir and not _tfds_prepared(data_dir):
        raise DataError(f"--data_dir {data_dir} holds no prepared imagenet2012; {NO_DATA}")
    return tfds_source(data_dir, manual_dir)


def _tfds_prepared(data_dir, name="imagenet2012"):
    path = os.path.join(data_dir, name)
    if not os.path.isdir(path):
        return False
    for root, _, files in os.walk(path):
        if "dataset_info.json" in files:
            return True
    return False
