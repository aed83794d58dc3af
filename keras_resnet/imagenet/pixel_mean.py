"""The training set's per-pixel mean (Sec. 3.4: "the per-pixel mean subtracted"), computed once
per data set and cached in the workdir with what it was computed from (`mean_key`), and the
check that a split's images decode at all.

At ImageNet's size the mean is a pass over 1.28M images: decoded on all cores, in a job of
several processes each decoding its share (the sums reduced), summed exactly (integer sums in
float64), in any order.
"""

import os
import time

import numpy as np
import tensorflow as tf

from keras_resnet.errors import DataError, error_line
from keras_resnet.imagenet import order
from keras_resnet.imagenet.cropping import decode_image
from keras_resnet.imagenet.input_pipeline import numbered_center_crops, skip_and_count
from keras_resnet.imagenet.model import mean_image
from keras_resnet.imagenet.records import RECORD_COUNTS, RECORD_OFFSETS
from keras_resnet.imagenet.skips import SkipCounter
from keras_resnet.training import distribute, durable, run

# The sample `--mean_images` averages: the first images of this seed's pass 0, whatever the run's seed.
MEAN_SAMPLE_SEED = 0
PROGRESS_SECONDS = 30
PIXEL_MEAN = "pixel_mean.npy"
KEY_SUFFIX = ".key.json"  # Beside a cached result: what it was computed from.
# What the recipe keeps in its workdir besides the run's outputs; `--overwrite` removes them too.
CACHES = (PIXEL_MEAN, PIXEL_MEAN + KEY_SUFFIX, RECORD_COUNTS, RECORD_OFFSETS)


def mean_key(source, config, max_images=None):
    """What the per-pixel mean is computed from: the data (`Source.fingerprint`) and the settings
    of its crops and its sample. A cached mean is used only where its key is this one."""
    key = {
        "data": source.fingerprint(),
        "image_size": config.image_size,
        "eval_resize": config.eval_resize,
        "mean_images": max_images or config.mean_images,
    }
    if key["mean_images"]:  # The sample is the training stream's first images (`compute_pixel_mean`).
        key.update(interleave_files=config.interleave_files, shuffle_buffer=config.shuffle_buffer)
    return key


def cached_mean(source, config, workdir, max_images=None, print_fn=None, resolved=None):
    """The per-pixel (or per-channel) mean; the per-pixel one is computed once and cached in the
    (job's) workdir by the chief, with the key of the data and settings it was computed from
    (`mean_key`): a cache of other data or settings is computed anew.

    With several workers, each decodes its share of the training images and the shares' sums
    are reduced (`distribute.all_reduce_sum`): the job decodes each image once. They decide
    together: unless every worker finds the cache valid, all compute.
    """
    if config.mean == "channel":
        return mean_image(config)
    path, key = os.path.join(workdir, PIXEL_MEAN), run.jsonable(mean_key(source, config, max_images))
    cached = np.load(path) if durable.read_json(path + KEY_SUFFIX) == key and os.path.exists(path) else None
    options = {}
    if resolved is not None and resolved.num_workers > 1:
        missing = distribute.all_reduce_sum(resolved, np.array([cached is None], np.float64))[0][0]
        cached = None if missing else cached
        options = dict(
            shard=(resolved.num_workers, resolved.worker_index),
            reduce=lambda sums, count: distribute.all_reduce_sum(resolved, sums, count),
        )
    if cached is not None:
        return cached
    mean = compute_pixel_mean(source, config, max_images or config.mean_images, print_fn=print_fn, **options)
    if resolved is None or resolved.is_chief:
        with durable.writing(path) as partial:
            np.save(partial, mean)
        durable.write_json(path + KEY_SUFFIX, key)
    return mean


def compute_pixel_mean(
    source, config, max_images=None, batch_size=256, counter=None, print_fn=None, shard=(1, 0), reduce=None
):
    """The training set's per-pixel mean of the evaluation crop (`[size, size, 3]`, float32).

    Crops are decoded on all cores and summed in batches (exactly: integer sums); the result does
    not depend on the order in which they are read, nor on how the work is shared: with `shard`,
    this process decodes only its share and `reduce` sums the shares of all.

    Args:
        source: a `sources.Source` (record sources with their counts: `Source.count_records`).
        config: an `ImageNetConfig`.
        max_images: optional int. Average this many images only: the first of the training
            stream's pass 0 drawn with seed 0 (for a folder, a uniform random sample).
        batch_size: int. Images decoded per batch. Defaults to `256`.
        counter: optional `SkipCounter` for the unreadable images. Defaults to a new one.
        print_fn: optional callable for progress lines (images done of the total).
        shard: `(count, index)`. Decode only share `index` of `count` (`FolderSplit.examples`,
            `RecordSplit.examples`; of the sample with `max_images`). Defaults to `(1, 0)`: all.
        reduce: with `shard`, a function of `(sums, count)` (float64 arrays) that returns their
            totals over all shares (`distribute.all_reduce_sum`).

    Returns:
        A float32 array (float64 accumulation).

    Raises:
        sources.DataError: no image could be read.
    """
    counter = counter or SkipCounter("pixel mean")
    split = source.split("train")
    total = split.size
    shards, index = shard
    if max_images and total and max_images < total:
        stream = order.training_stream(
            split,
            MEAN_SAMPLE_SEED,
            0,
            interleave_files=config.interleave_files,
            window=config.shuffle_buffer,
            share=(1, shards, index) if shards > 1 else None,  # Each process reads its positions only.
        )
        total = len(range(index, max_images, shards))
        ds = stream.take(total).map(lambda position, example, payload: split.load(payload))
    else:
        ds = split.examples(shard)
        total = split.shard_size(shard)
        if max_images:
            ds, total = ds.take(max_images), min(total, max_images) if total is not None else max_images
    crops = skip_and_count(numbered_center_crops(ds, config), counter).batch(batch_size)
    sums = crops.map(
        lambda images, labels: (tf.reduce_sum(tf.cast(images, tf.float32), 0), tf.shape(images)[0]),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=False,
    )
    mean = np.zeros((config.image_size, config.image_size, 3), np.float64)
    count, began, shown = 0, time.time(), time.time()
    for batch_sum, images in sums.prefetch(2).as_numpy_iterator():
        mean += batch_sum
        count += int(images)
        if print_fn and time.time() - shown > PROGRESS_SECONDS:
            shown = time.time()
            print_fn(
                f"pixel mean: {count:,} of {total:,} training images ({100 * count / total:.0f}%), "
                f"{count / (shown - began):,.0f} images/s"
                if total
                else f"pixel mean: {count:,} images",
                flush=True,
            )
    counter.report(count, total)
    if reduce is not None:
        here = count
        mean, counted = reduce(mean, np.array([count], np.float64))
        count = int(counted[0])
        if print_fn:
            print_fn(f"pixel mean: {here:,} training images here, {count:,} over {shards} workers", flush=True)
    if not count:
        raise DataError(
            f"no readable training image in {_describe(split)} to compute the per-pixel mean from "
            f"({counter.count} unreadable)"
        )
    return (mean / count).astype(np.float32)


def _describe(split):
    return getattr(split, "directory", None) or f"{split.name} {os.path.dirname(split.files[0])}"


def check_readable(source, split="train", sample=32):
    """Raises `sources.DataError` unless one of `sample` images of the split decodes: a split of
    unreadable files (Git LFS pointers, HTML error pages) would otherwise make the endless
    training stream skip images forever without yielding one.

    The images tried: for a folder, a random sample (the first of the training order's pass 0 for
    seed 0); for records, the first records. Costs up to `sample` images read and decoded.
    """
    data = source.split(split)
    if data.random_access:
        indices = order.folder_pass(data.size, MEAN_SAMPLE_SEED, 0)[:sample]
        candidates = ((data.path(i), lambda i=i: data.load(tf.constant(i, tf.int64))[0]) for i in indices)
    else:
        candidates = ((f"record {i}", lambda e=e: e) for i, (e, _) in enumerate(data.examples().take(sample)))
    first_error, tried = None, 0
    for name, encoded in candidates:
        tried += 1
        try:
            decode_image(encoded())
            return
        except tf.errors.OpError as error:
            first_error = first_error or f"{name}: {error_line(error)[:100]}"
    raise DataError(
        f"{_describe(data)}: none of {tried} training images tried decodes (e.g. {first_error}); are these image files?"
    )
