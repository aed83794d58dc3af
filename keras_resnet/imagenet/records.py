"""TFRecord splits (TFRecords of TensorFlow's ImageNet script, and TFDS's files): their files, each
file's record count and, for a job of several workers, where each record begins, so that each
worker reads its own records and no others (`RecordSplit.read`).

TFDS stores the counts; TFRecords are counted once by their headers (a few bytes a record) and
the counts and offsets cached in the run's workdir, by path, byte size and modification time: a
file rewritten is walked again. Offsets are 8 bytes a record, about 10 MB for ImageNet.
"""

import concurrent.futures
import json
import os
import struct

import numpy as np

from keras_resnet.errors import DataError
from keras_resnet.training import durable

RECORD_COUNTS = "record_counts.json"
RECORD_OFFSETS = "record_offsets.npz"
RECORD_HEADER, RECORD_FOOTER = 12, 4  # Bytes around a record's data (`tfrecord_offsets`).
# Files a split's fixed order (`examples`) reads at once: a fixed number, so that the order does
# not depend on the machine.
READ_FILES = 16


class RecordSplit:
    """One split of TFRecord files: the files, each one's record count, and the record parser.

    Args:
        files: list of str, in a fixed (sorted) order.
        parse: function of a serialized record → `(encoded, label)` tensors.
        lengths: optional sequence of int. Records per file, where known (TFDS); otherwise
            `count_records` counts them.
        name: str. The flag and value that named the files, for messages.
    """

    random_access = False

    def __init__(self, files, parse, lengths=None, name=""):
        self.files, self.parse, self.name = list(files), parse, name
        self.lengths = None if lengths is None else np.asarray(lengths, np.int64)
        self._counts = None  # path → [bytes, records, modification time], once counted here
        self._offsets = {}  # path → each record's byte offset and the file's size, once walked here
        self.record_offsets = None  # int64 [records + 1 per file], by example: `index_records`
        self._read_tensors = None
        self._file_stats = None  # path → [bytes, modification time], once stat'ed here

    @property
    def size(self):
        return None if self.lengths is None else int(self.lengths.sum())

    @property
    def starts(self):
        """The index of each file's first record in the split's order (files in order)."""
        return np.concatenate([[0], np.cumsum(self.lengths)[:-1]]).astype(np.int64)

    def load(self, serialized):
        """`(encoded, label)` of a record."""
        return self.parse(serialized)

    def shard_size(self, shard):
        """How many records `examples(shard)` gives (the counts known: `count_records`)."""
        count, index = shard
        return int(np.asarray(self.lengths)[index::count].sum()) if self.lengths is not None else None

    def identify(self, digest):
        """Adds to a `hashlib` digest what identifies the split: its files with their byte sizes,
        record counts and modification times where they were counted here (TFRecords), or the
        counts stored with them (TFDS, whose prepared files are never rewritten)."""
        for path, length in zip(self.files, self.lengths if self.lengths is not None else [None] * len(self.files)):
            digest.update(f"{path}:{(self._counts or {}).get(path, length)};".encode())

    def records(self, file_index, skip=0, buffered=True):
        """`(example, serialized)` of one file's records from its `skip`-th on.

        Unbuffered, `skip` moves past records by their headers without reading their contents.
        """
        import tensorflow as tf

        path = tf.gather(tf.constant(self.files), file_index)
        first = tf.gather(tf.constant(self.starts), file_index) + tf.cast(skip, tf.int64)
        records = tf.data.TFRecordDataset(path, buffer_size=None if buffered else 0)
        if not isinstance(skip, int) or skip:
            records = records.skip(tf.cast(skip, tf.int64))
        return records.enumerate(start=first)

    def examples(self, shard=(1, 0)):
        """`(encoded, label)` of every record: `READ_FILES` files at a time, one record from each in
        turn; with `shard=(count, index)` only the records of every `count`-th file from the
        `index`-th (no other file is opened)."""
        import tensorflow as tf

        count, index = shard
        mine = self.files[index::count]
        if not mine:  # More workers than files: this one has none.
            return tf.data.TFRecordDataset(tf.constant([], tf.string)).map(self.parse)
        files = tf.data.Dataset.from_tensor_slices(mine)
        records = files.interleave(
            tf.data.TFRecordDataset,
            cycle_length=min(READ_FILES, len(mine)),
            block_length=1,
            num_parallel_calls=tf.data.AUTOTUNE,
            deterministic=True,
        )
        return records.map(self.parse, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)

    def count_records(self, cache_dir=None, write=True):
        """Counts each file's records once (by their headers: a few bytes a record) and sets
        `lengths`; with `cache_dir`, the counts are read from and kept in
        `cache_dir/record_counts.json`, by path, byte size and modification time, so that a rerun
        counts nothing. Counts TFDS stored are used as they are."""
        if self.lengths is not None and self._counts is None:
            return self.lengths  # Stored with the data (TFDS).
        cache_path = os.path.join(cache_dir, RECORD_COUNTS) if cache_dir else None
        cached = {}
        if cache_path and os.path.exists(cache_path):
            with open(cache_path) as f:
                cached = json.load(f)
        if self._counts is None:
            stats = self._stats()
            fresh = {p: len(o) - 1 for p, o in self._offsets.items() if o[-1] == stats[p][0]}  # Walked here.
            missing = [p for p in self.files if p not in fresh and cached.get(p, [None] * 3)[::2] != stats[p]]
            fresh.update((p, len(o) - 1) for p, o in self._walk(missing).items())
            self._counts = {
                path: [stats[path][0], fresh[path] if path in fresh else cached[path][1], stats[path][1]]
                for path in self.files
            }
            self.lengths = np.array([self._counts[path][1] for path in self.files], np.int64)
        if (
            write
            and cache_path
            and os.path.isdir(cache_dir)
            and any(cached.get(p) != c for p, c in self._counts.items())
        ):
            durable.write_text(cache_path, json.dumps({**cached, **self._counts}))
        return self.lengths

    def _stats(self):
        """Path → `[byte size, modification time in ns]`: what a cached count or offset is kept by.
        Asked of the file system once (counting and indexing both need them: a request a file on
        object storage)."""
        import tensorflow as tf

        if self._file_stats is None:
            self._file_stats = {path: [(s := tf.io.gfile.stat(path)).length, s.mtime_nsec] for path in self.files}
        return self._file_stats

    def _walk(self, paths):
        """Walks the record headers of `paths` (in parallel) and keeps each file's offsets."""
        with concurrent.futures.ThreadPoolExecutor(max_workers=min(32, len(paths) or 1)) as pool:
            walked = dict(zip(paths, pool.map(lambda p: tfrecord_offsets(p, self.name), paths)))
        self._offsets.update(walked)
        return walked

    def index_records(self, cache_dir=None, write=True):
        """Learns where each record begins (`record_offsets`), so that `read` can read any record
        alone: from the headers walked while counting, from `cache_dir/record_offsets.npz` (by path,
        byte size and modification time), or by walking the headers of the files not known yet (a
        few bytes a record; about 1.3 M small reads for ImageNet, once per cache directory: each
        worker of a job keeps its own).

        Raises:
            DataError: a file holds another number of records than its stored count.
        """
        if self.record_offsets is not None:
            return self.record_offsets
        cache_path = os.path.join(cache_dir, RECORD_OFFSETS) if cache_dir else None
        stats = self._stats()
        known = {p: o for p, o in self._offsets.items() if o[-1] == stats[p][0]}
        cached = set()
        if cache_path and os.path.exists(cache_path):
            with np.load(cache_path) as cache:
                bounds = np.concatenate([[0], np.cumsum(cache["counts"] + 1)])
                for i, path in enumerate(cache["paths"].tolist()):
                    if path in stats and [int(cache["sizes"][i]), int(cache["mtimes"][i])] == stats[path]:
                        known.setdefault(path, cache["offsets"][bounds[i] : bounds[i + 1]])
                        cached.add(path)
        known.update(self._walk([path for path in self.files if path not in known]))
        if self.lengths is None:
            self.count_records(cache_dir, write)
        for path, length in zip(self.files, self.lengths):
            if len(known[path]) - 1 != length:
                raise DataError(
                    f"{self.name} {path} holds {len(known[path]) - 1} records, not the {length} recorded for it; "
                    "was it rewritten?"
                )
        self.record_offsets = np.concatenate([known[path] for path in self.files]).astype(np.int64)
        if write and cache_path and os.path.isdir(cache_dir) and set(self.files) - cached:
            with durable.writing(cache_path) as partial:
                np.savez(
                    partial,
                    paths=np.array(self.files),
                    sizes=np.array([stats[p][0] for p in self.files], np.int64),
                    mtimes=np.array([stats[p][1] for p in self.files], np.int64),
                    counts=np.asarray(self.lengths, np.int64),
                    offsets=self.record_offsets,
                )
        return self.record_offsets

    def read(self, example):
        """The serialized record of `example` (its index in the split's order: files in order,
        records in each file), read alone: a read of exactly its bytes (after TensorFlow's probe of
        one byte before it; two requests a record on object storage), CRCs checked. Needs
        `index_records`."""
        import tensorflow as tf

        if self._read_tensors is None:
            with tf.init_scope():  # Made once, eagerly: every stream of the split shares them.
                self._read_tensors = (
                    tf.constant(self.files),
                    tf.constant(self.starts),
                    tf.constant(self.record_offsets),
                )
        files, starts, offsets = self._read_tensors
        example = tf.cast(example, tf.int64)
        file_index = tf.searchsorted(starts, example[None], side="right", out_type=tf.int64)[0] - 1
        # Each file's offsets end with its size: one more entry per file than it has records.
        slot = example + file_index
        begin = offsets[slot]
        records = tf.raw_ops.TFRecordDatasetV2(
            filenames=files[file_index][None],
            compression_type="",
            buffer_size=offsets[slot + 1] - begin,
            byte_offsets=begin[None],
        )
        return tf.data.experimental.from_variant(records, tf.TensorSpec([], tf.string)).take(1).get_single_element()


def tfrecord_offsets(path, name=""):
    """Where each record of a TFRecord file begins, read from their headers (a record is an
    8-byte length, a 4-byte CRC, the data and a 4-byte CRC): the data itself is sought past, not
    read.

    Returns:
        An int64 array of the records' byte offsets, then the file's size (one more entry than
        the file has records).

    Raises:
        DataError: the file ends inside a record.
    """
    import tensorflow as tf

    offsets, size = [], tf.io.gfile.stat(path).length
    with tf.io.gfile.GFile(path, "rb") as f:
        position = 0
        while position < size:
            header = f.read(RECORD_HEADER)
            if len(header) < RECORD_HEADER:
                break
            end = position + RECORD_HEADER + struct.unpack("<Q", header[:8])[0] + RECORD_FOOTER
            if end > size:
                break
            offsets.append(position)
            position = end
            f.seek(position)
    if position != size:
        raise DataError(f"{name} {path} ends inside a record (truncated?); a TFRecord file holds whole records")
    return np.array(offsets + [size], np.int64)
