"""Where ImageNet comes from: TFDS `imagenet2012`, an ImageNet-layout JPEG folder, or TFRecords.

A source holds, per split, an index of its examples, never the examples themselves:

- an image folder (`FolderSplit`) is random access: the sorted listing of its files (names and
  labels in NumPy arrays: about 25 MB for ImageNet's 1,281,167 training files), read one file at a
  time by index;
- TFRecords and TFDS (`records.RecordSplit`) are read file by file, or record by record at their
  byte offsets in a job of several workers.

Each split gives its examples in a fixed order as `(encoded_image, label)`: the image file's bytes
(undecoded, so the pipeline can decode only the crop of a JPEG) and an int32 label. The training
stream's order over them is `keras_resnet.imagenet.order`'s. The same code serves any number of
classes.

Example:

>>> folder_source("/no/such/folder")
Traceback (most recent call last):
...
keras_resnet.errors.DataError: --image_folder /no/such/folder does not exist; expected train/<class>/*.JPEG and val/<class>/*.JPEG
"""

import dataclasses
import hashlib
import os
import re

import numpy as np

from keras_resnet.errors import DataError, error_line
from keras_resnet.imagenet.records import RecordSplit

IMAGE_EXTENSIONS = (".jpeg", ".jpg", ".png")
NO_DATA = (
    "no ImageNet data: pass --data_dir with a prepared TFDS imagenet2012 (or --manual_dir with "
    "ILSVRC2012_img_train.tar and ILSVRC2012_img_val.tar to prepare it), --image_folder with "
    "train/<wnid>/*.JPEG and val/<wnid>/*.JPEG, or --tfrecords with train-* and validation-* files"
)


class FolderSplit:
    """One split of an image folder: its sorted listing, read by index.

    Args:
        directory: str. The split's folder (`root/train`).
        classes: list of str. Class subfolder names; a label is an index into it.
        names: NumPy bytes array. File names, class by class, each class's sorted.
        labels: NumPy int32 array. Each file's class.
    """

    random_access = True

    def __init__(self, directory, classes, names, labels):
        self.directory, self.classes, self.names, self.labels = directory, list(classes), names, labels
        self.size = len(names)
        self._tensors = None

    def path(self, index):
        """The file of example `index` (in the listing's order)."""
        return os.path.join(self.directory, self.classes[self.labels[index]], os.fsdecode(self.names[index]))

    def _index(self):
        import tensorflow as tf

        if self._tensors is None:  # Made once, eagerly: every stream of the split shares them.
            prefixes = [os.path.join(self.directory, name) + os.sep for name in self.classes]
            with tf.init_scope():
                self._tensors = (tf.constant(prefixes), tf.constant(self.names), tf.constant(self.labels, tf.int32))
        return self._tensors

    def load(self, index):
        """`(encoded, label)` of example `index` (a tensor): its file read."""
        import tensorflow as tf

        prefixes, names, labels = self._index()
        label = tf.gather(labels, index)
        return tf.io.read_file(tf.gather(prefixes, label) + tf.gather(names, index)), label

    def examples(self, shard=(1, 0)):
        """`(encoded, label)` in the listing's order, files read in parallel; with `shard=(count,
        index)` only every `count`-th file from the `index`-th is read."""
        import tensorflow as tf

        count, index = shard
        return tf.data.Dataset.range(index, self.size, count).map(
            self.load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True
        )

    def shard_size(self, shard):
        """How many examples `examples(shard)` gives."""
        count, index = shard
        return len(range(index, self.size, count))

    def identify(self, digest):
        """Adds to a `hashlib` digest what identifies the split: its folder, its listing and the
        modification time of each class folder (which a file added, removed or renamed changes)."""
        digest.update(os.fsencode(os.path.realpath(self.directory)))
        for name in self.classes:
            path = os.path.join(self.directory, name)
            digest.update(f"{name}:{os.stat(path).st_mtime_ns if os.path.isdir(path) else -1};".encode())
        digest.update(self.names.tobytes())
        digest.update(self.labels.tobytes())


@dataclasses.dataclass
class Source:
    """A data source.

    Attributes:
        kind: str. `"tfds"`, `"folder"` or `"tfrecords"`.
        num_classes: int. Number of classes the labels range over.
        splits: dict of split name (`"train"`, `"val"`) to a `FolderSplit` or `RecordSplit`.
        class_names: list of str, where known.
        hidden: tuple of str. The hidden entries (names starting with ".") a folder source left
            out of its classes and images (`describe` counts them).
        version: optional str. What a TFDS source read: its name and version.

    The pipeline decides each image's format by its content, not by its file name or its source.
    """

    kind: str
    num_classes: int
    splits: dict
    class_names: list = None
    hidden: tuple = ()
    version: str = None

    def describe(self):
        """One line: `"folder: 12 train and 6 val images, 3 classes"`, and the hidden entries left out."""
        sizes = " and ".join(f"{n:,} {split}" for split, n in self.sizes.items() if n)
        hidden = (
            f" ({len(self.hidden)} hidden entr{'ies' if len(self.hidden) > 1 else 'y'} left out: "
            f"{', '.join(sorted(set(self.hidden))[:3])}{', …' if len(set(self.hidden)) > 3 else ''})"
            if self.hidden
            else ""
        )
        kind = f"{self.kind} {self.version}" if self.version else self.kind
        return f"{kind}: {sizes} images, {self.num_classes} classes{hidden}"

    def fingerprint(self):
        """A digest of what identifies the data (each split's `identify`): what a result computed
        from it, such as the training set's pixel mean, is kept by."""
        digest = hashlib.sha256(self.kind.encode())
        for name, split in sorted(self.splits.items()):
            digest.update(f"[{name}]".encode())
            split.identify(digest)
        return digest.hexdigest()[:20]

    def class_digest(self):
        """A digest of the class names in label order, where known (a folder's), else `None`: a
        net trained on one folder's classes labels another's wrongly, even as many."""
        return hashlib.sha256("\n".join(self.class_names).encode()).hexdigest()[:16] if self.class_names else None

    @property
    def sizes(self):
        """Split name → number of examples, for the splits whose size is known."""
        return {name: split.size for name, split in self.splits.items() if split.size is not None}

    def split(self, name):
        """The `FolderSplit` or `RecordSplit` called `name`."""
        if name not in self.splits:
            raise DataError(f"the {self.kind} source has no {name!r} split; it has {', '.join(self.splits)}")
        return self.splits[name]

    def examples(self, split):
        """The split's `(encoded, label)` dataset, in its fixed order."""
        return self.split(split).examples()

    def count_records(self, cache_dir=None, index=False, write=True):
        """Learns every record split's size (`RecordSplit.count_records`); a no-op for folders and
        TFDS. With `index`, also where the training split's records begin
        (`RecordSplit.index_records`), for workers that read only their own records. The caches
        in `cache_dir` are read, and written where `write`."""
        for split in self.splits.values():
            if not split.random_access:
                split.count_records(cache_dir, write)
        if index and not self.split("train").random_access:
            self.split("train").index_records(cache_dir, write)


def _visible(entries):
    """The entries whose names do not start with "." (Jupyter's `.ipynb_checkpoints`, macOS's `._`
    twins, `.DS_Store`): never classes nor images, in every split; and the hidden ones' names."""
    entries = list(entries)
    return [e for e in entries if not e.name.startswith(".")], [e.name for e in entries if e.name.startswith(".")]


def _list_split(directory, classes):
    """The sorted listing of `directory/<class>/*`: names (bytes) and labels, as NumPy arrays, and
    the names of the hidden files left out."""
    names, labels, hidden = [], [], []
    for label, name in enumerate(classes):
        path = os.path.join(directory, name)
        if not os.path.isdir(path):
            continue
        entries, hidden_here = _visible(os.scandir(path))
        hidden += hidden_here
        files = sorted(e.name for e in entries if e.name.lower().endswith(IMAGE_EXTENSIONS) and e.is_file())
        if files:
            names.append(np.array([os.fsencode(f) for f in files]))
            labels.append(np.full(len(files), label, np.int32))
    if not names:
        return np.array([], "S1"), np.array([], np.int32), hidden
    width = max(n.dtype.itemsize for n in names)
    return np.concatenate([n.astype(f"S{width}") for n in names]), np.concatenate(labels), hidden


def folder_checked(root):
    """Raises `DataError` unless `root` is a folder with a `train/` folder."""
    expected = "expected train/<class>/*.JPEG and val/<class>/*.JPEG"
    if not os.path.exists(root):
        raise DataError(f"--image_folder {root} does not exist; {expected}")
    if not os.path.isdir(root):
        raise DataError(f"--image_folder {root} is a file; it takes a folder with {expected[9:]}")
    if not os.path.isdir(os.path.join(root, "train")):
        raise DataError(f"--image_folder {root} has no train/ folder; {expected}")


def folder_source(root):
    """An ImageNet-layout folder: `root/train/<class>/*.JPEG`, `root/val/<class>/*.JPEG`.

    Classes are the sorted `train/` subfolder names (WordNet ids for ImageNet); `val/` must use
    the same names. Only the file listing is kept: names and labels in NumPy arrays.

    Args:
        root: str.

    Returns:
        A `Source`.
    """
    folder_checked(root)
    entries, hidden = _visible(os.scandir(os.path.join(root, "train")))
    classes = sorted(e.name for e in entries if e.is_dir())
    if not classes:
        raise DataError(f"--image_folder {root}/train has no class subfolders; expected train/<class>/*.JPEG")
    splits = {}
    for split in ("train", "val"):
        directory = os.path.join(root, split)
        if not os.path.isdir(directory):
            continue
        entries, hidden_here = _visible(os.scandir(directory)) if split != "train" else (entries, [])
        unknown = sorted({e.name for e in entries if e.is_dir()} - set(classes))
        if unknown:
            raise DataError(f"--image_folder {directory} has classes not in train/: {', '.join(unknown[:5])}")
        names, labels, hidden_files = _list_split(directory, classes)
        hidden += hidden_here + hidden_files
        if not len(names):
            raise DataError(f"--image_folder {directory} holds no .JPEG/.jpg/.png images in its class subfolders")
        splits[split] = FolderSplit(directory, classes, names, labels)
    return Source("folder", len(classes), splits, classes, hidden=tuple(hidden))


def tfrecord_source(pattern, num_classes=1000, label_offset=0):
    """TFRecords of `tf.train.Example`s with `image/encoded` and `image/class/label`.

    Files named `<pattern>train-*` and `<pattern>validation-*` (the layout of TensorFlow's
    ImageNet conversion script; its labels start at 1: pass `label_offset=-1`). Their record
    counts are learnt when a run starts (`Source.count_records`).

    Args:
        pattern: str. Directory (or prefix) of the files.
        num_classes: int. Number of classes. Defaults to `1000`.
        label_offset: int. Added to each stored label. Defaults to `0`.

    Returns:
        A `Source`.
    """
    import tensorflow as tf

    prefix = pattern.rstrip("/") + "/" if tf.io.gfile.isdir(pattern) else pattern  # local or gs://
    files = {
        split: sorted(tf.io.gfile.glob(f"{prefix}{name}-*"))
        for split, name in (("train", "train"), ("val", "validation"))
    }
    if not files["train"]:
        raise DataError(f"--tfrecords {pattern}: no {prefix}train-* files")
    features = {
        "image/encoded": tf.io.FixedLenFeature([], tf.string),
        "image/class/label": tf.io.FixedLenFeature([], tf.int64),
    }
    # The first record of each split, read now: a file of another kind would otherwise fail
    # mid-run, deep in tf.data.
    for paths in files.values():
        try:
            for record in tf.data.TFRecordDataset(paths[:1]).take(1):
                tf.io.parse_single_example(record, features)
        except (tf.errors.OpError, ValueError) as error:
            raise DataError(
                f"--tfrecords {pattern}: {paths[0]} is not a TFRecord file of tf.train.Examples with "
                f"image/encoded and image/class/label ({error_line(error)[:160]})"
            ) from None

    def parse(record):
        parsed = tf.io.parse_single_example(record, features)
        return parsed["image/encoded"], tf.cast(parsed["image/class/label"], tf.int32) + label_offset

    splits = {split: RecordSplit(paths, parse, name="--tfrecords") for split, paths in files.items() if paths}
    return Source("tfrecords", num_classes, splits)


def tfds_source(data_dir=None, manual_dir=None, name="imagenet2012"):
    """TFDS `imagenet2012` (or a data set of the same features), never downloading: prepared in
    `data_dir` (at any version; the one prepared is read), or prepared once from the ILSVRC2012
    tars in `manual_dir` (it takes hours). Its TFRecord files are read directly, with the record
    counts TFDS stored. Returns a `Source`."""
    import tensorflow as tf
    import tensorflow_datasets as tfds

    note = ""
    try:
        builder = tfds.builder(name, data_dir=data_dir)
        if manual_dir:  # A no-op once prepared.
            builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=manual_dir))
        elif data_dir and str(builder.version) not in _prepared_versions(data_dir, name):
            # Prepared by another TFDS release: read as it was prepared.
            prepared = _prepared_versions(data_dir, name)[-1]
            builder = tfds.builder_from_directory(os.path.join(data_dir, name, prepared))
            note = f" (as prepared in --data_dir; this TFDS release reads {tfds.builder(name).version})"
        info = builder.info
        file_format = str(getattr(info, "file_format", "tfrecord") or "tfrecord").lower()
    except Exception as error:  # TFDS raises many types; all mean "not usable here".
        raise DataError(
            f"TFDS {name} in --data_dir {data_dir}: {str(error).strip().splitlines()[0]}; {NO_DATA}"
        ) from None
    if "tfrecord" not in file_format:
        raise DataError(
            f"TFDS {name} in --data_dir {data_dir} is prepared as {file_format}, which tf.data cannot read; "
            "prepare it as TFRecords (the default file_format)"
        )
    skip = {"image": tfds.decode.SkipDecoding()}

    def parse(record):
        example = info.features.deserialize_example(record, decoders=skip)
        return example["image"], tf.cast(example["label"], tf.int32)

    splits = {}
    for split, tfds_split in (("train", "train"), ("val", "validation")):
        if tfds_split in info.splits:
            split_info = info.splits[tfds_split]
            splits[split] = RecordSplit(
                [os.fspath(p) for p in split_info.filepaths], parse, split_info.shard_lengths, "--data_dir"
            )
    if "train" not in splits:
        raise DataError(f"TFDS {name} in --data_dir {data_dir} has no train split; {NO_DATA}")
    return Source("tfds", info.features["label"].num_classes, splits, version=f"{name} {info.version}{note}")


def resolve_source(
    data_dir=None, manual_dir=None, image_folder=None, tfrecords=None, tfrecord_label_offset=0, num_classes=1000
):
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
    check_given(data_dir, manual_dir, image_folder, tfrecords)
    if image_folder:
        return folder_source(image_folder)
    if tfrecords:
        return tfrecord_source(tfrecords, num_classes, tfrecord_label_offset)
    return tfds_source(data_dir, manual_dir)


def check_given(data_dir=None, manual_dir=None, image_folder=None, tfrecords=None):
    """Raises `DataError` unless the flags name one source whose local folder exists; opens
    nothing, runs no TensorFlow op (a strategy that joins other processes needs none run before
    it starts)."""
    chosen = [n for n, v in (("--image_folder", image_folder), ("--tfrecords", tfrecords)) if v]
    if len(chosen) > 1 or (chosen and data_dir):
        raise DataError(f"give one data source; received {', '.join(chosen + (['--data_dir'] if data_dir else []))}")
    if image_folder:
        folder_checked(image_folder)
    if chosen:
        return
    if not data_dir and not manual_dir:
        raise DataError(NO_DATA)
    for flag, path in (("--data_dir", data_dir), ("--manual_dir", manual_dir)):
        if path and os.path.isfile(path):
            raise DataError(f"{flag} {path} is a file; {flag} takes a folder")
        if path and not os.path.isdir(path):
            raise DataError(f"{flag} {path} does not exist; {NO_DATA}")
    if not manual_dir and not _prepared_versions(data_dir):
        raise DataError(f"--data_dir {data_dir} holds no prepared imagenet2012; {NO_DATA}")


def _prepared_versions(data_dir, name="imagenet2012"):
    """The versions of TFDS `name` prepared in `data_dir` (folders holding a `dataset_info.json`),
    oldest first."""
    root = os.path.join(data_dir, name)
    found = []
    for folder, _, files in os.walk(root) if os.path.isdir(root) else ():
        if "dataset_info.json" in files:
            found.append(os.path.relpath(folder, root))
    return sorted(found, key=lambda v: [int(p) if p.isdigit() else -1 for p in re.split(r"[./]", v)])
