"""The paper's ImageNet input streams on tf.data (Sec. 3.4): the training stream (crops in the
training order, batched, with the lighting α), the evaluation stream, the per-pixel mean.

Each image's crop is `cropping`'s (window decode, resize, flip); the order is `order`'s. The lighting α
(one per image) are drawn here, once per batch; the lighting itself and the mean subtraction run
inside the compiled step (`model.recipe_model`). Label checks and the count of skipped images also
happen once per batch. Random draws are stateless, seeded by `(seed, stream position)` (crop,
flip) and `(seed, batch's first position)` (lighting): a seeded pipeline is deterministic, and a
resumed run sees the same batches as an uninterrupted one. Images no decoder can read are skipped
and counted (`SkipCounter`) among the images the run has consumed.

Example:

>>> from keras_resnet.imagenet import config
>>> lighting_alpha(tf.range(2, dtype=tf.int64), config.imagenet(pca_lighting_std=0.0), 0).numpy().tolist()
[[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]
>>> whole = lighting_alpha(tf.range(4, 8, dtype=tf.int64), config.imagenet(), 0).numpy()
>>> half = lighting_alpha(tf.range(6, 8, dtype=tf.int64), config.imagenet(), 0, global_batch_size=4).numpy()
>>> bool((whole[2:] == half).all())  # An image's α is its position's, however the batch is split.
True
"""

import math

import tensorflow as tf

from keras_resnet.imagenet import order
from keras_resnet.imagenet.cropping import eval_image, train_crop
from keras_resnet.imagenet.model import IMAGE, LIGHTING_ALPHA
from keras_resnet.training import exact_eval, faults


def lighting_alpha(positions, config, seed, global_batch_size=None):
    """The PCA-lighting α of a batch's images: `[batch, 3]` from N(0, `pca_lighting_std`²), zeros
    without lighting.

    Drawn once per global batch (per image, tf.data would run the draw as separate small ops),
    seeded by `(seed, -1 - its first position)`, which is never an example's crop seed; each image
    takes the row of its position. So an image's α depends on its position only, not on how the
    global batch is split over processes and devices (nor on images skipped before it).

    Args:
        positions: int64 `[batch]` tensor. The images' stream positions, increasing.
        config: an `ImageNetConfig`.
        seed: int.
        global_batch_size: optional int. Positions per iteration over the whole job. Defaults to
            the batch's size (the batch is the global batch).
    """
    positions = tf.cast(positions, tf.int64)
    count = tf.shape(positions)[0]
    if not config.pca_lighting_std:
        return tf.zeros([count, 3], tf.float32)
    whole = tf.cast(count if global_batch_size is None else global_batch_size, tf.int64)
    steps = positions // whole
    first_step = steps[0]

    def draws(step):
        step_seed = tf.stack([tf.cast(seed, tf.int64), -1 - step * whole])
        return tf.random.stateless_normal(tf.stack([whole, 3]), step_seed, stddev=config.pca_lighting_std)

    # The steps the batch spans: one, or two where it straddles a step (images skipped before it).
    tables = tf.map_fn(draws, tf.range(first_step, steps[-1] + 1), fn_output_signature=tf.float32)
    return tf.gather(tf.reshape(tables, [-1, 3]), positions - first_step * whole)


def recipe_inputs(images, alpha=None, image_dtype="uint8"):
    """The inputs of `model.recipe_model`: `{"image": crops, "lighting_alpha": α}` (zeros when
    `alpha` is None), the crops cast to `image_dtype` (`model.image_dtype`)."""
    if alpha is None:
        alpha = tf.zeros([tf.shape(images)[0], 3], tf.float32)
    return {IMAGE: tf.cast(images, image_dtype), LIGHTING_ALPHA: alpha}


def _skip_gaps(ds):
    """Drops elements whose decode failed (after `map`); each survivor carries, as its first
    component, the last position delivered before it and its own (`_log_skips`)."""
    ds = ds.ignore_errors()

    def gap(last, element):
        position = element[0]
        return position, (tf.stack([last, position]),) + tuple(element[1:])

    return ds.scan(tf.constant(-1, tf.int64), gap)


def _log_skips(counter, seen):
    """Hands `seen` (the last position delivered before, then those delivered now) to `counter`
    when it has gaps: a py_function only for the few batches that skipped an image."""
    if counter is None:
        return
    skipped = seen[-1] - seen[0] - tf.cast(tf.size(seen) - 1, tf.int64)
    tf.cond(skipped > 0, lambda: tf.py_function(counter.add, [seen], tf.int64), lambda: tf.constant(0, tf.int64))


def skip_and_count(ds, counter):
    """`(position, image, label)` → `(image, label)`, dropping unreadable images and counting them."""

    def log(seen, image, label):
        _log_skips(counter, seen)
        return image, label

    return _skip_gaps(ds).map(log)


def _batch(ds, batch_size, counter, num_classes, drop_remainder, per_batch=None):
    """Batches `(position, image, label)`, dropping unreadable images, then per batch (not per
    image: tf.data runs each small op of a map function separately) records the dropped ones (the
    gaps in `position`, `_log_skips`), checks the labels and applies `per_batch` to the batched
    `image` (which may be a tuple)."""
    ds = ds.ignore_errors().batch(batch_size, drop_remainder=drop_remainder)

    def gap(last, element):
        positions, image, label = element
        return positions[-1], (tf.concat([[last], positions], 0), image, label)

    check = _check_labels(num_classes)

    def finish(seen, image, label):
        _log_skips(counter, seen)
        if per_batch is not None:
            image = per_batch(*image) if isinstance(image, tuple) else per_batch(image)
        return image, check(label)

    return _finish(ds.scan(tf.constant(-1, tf.int64), gap).map(finish))


def train_dataset(
    source,
    config,
    batch_size,
    *,
    seed=0,
    start_step=0,
    num_shards=1,
    shard_index=0,
    counter=None,
    global_batch_size=None,
    image_dtype="uint8",
):
    """The infinite, shuffled, augmented training stream, batched, as `model.recipe_model` inputs.

    The examples come in `order.training_stream`'s order (a fresh global order every pass); a
    resumed run's stream seeks to its position instead of reading what came before.

    Args:
        source: a `sources.Source` (record sources with their counts: `Source.count_records`).
        config: an `ImageNetConfig`.
        batch_size: int. Batch this pipeline yields (a replica's or the whole batch).
        seed: int. Seeds shuffling and augmentation. Defaults to `0`.
        start_step: int. Iterations already done.
        num_shards, shard_index: int. This input pipeline's share of the stream: the
            `shard_index`-th block of `global_batch_size / num_shards` positions of every step.
        counter: optional `SkipCounter`.
        global_batch_size: int. Examples per iteration over all pipelines. Defaults to
            `batch_size × num_shards`.
        image_dtype: str. dtype of the crops (`model.image_dtype`). Defaults to `"uint8"`.

    Returns:
        A `tf.data.Dataset` of `({"image": uint8 [batch, size, size, 3], "lighting_alpha": float32
        [batch, 3]}, int32 [batch])`.
    """
    global_batch_size = global_batch_size or batch_size * num_shards
    split = source.split("train")
    ds = order.training_stream(
        split,
        seed,
        start_step * global_batch_size,
        interleave_files=config.interleave_files,
        window=config.shuffle_buffer,
        # Pipeline i takes the i-th block of global_batch_size / num_shards positions of every
        # step, and reads only those examples: replica r of the job (workers in order, then their
        # devices) sees the same examples whatever the number of workers (`order`).
        share=(global_batch_size // num_shards, num_shards, shard_index) if num_shards > 1 else None,
    )

    def crop(number, element):
        position, example, payload = element
        encoded, label = split.load(payload)
        return number, (train_crop(encoded, position, config, seed), position, example, label), label

    ds = ds.enumerate().map(crop, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)

    def per_batch(images, positions, examples, labels):
        alpha = lighting_alpha(positions, config, seed, global_batch_size)
        inputs = recipe_inputs(images, alpha, image_dtype)
        return faults.trace_tf_batch(inputs, labels, positions, examples)

    return _batch(ds, batch_size, counter, source.num_classes, drop_remainder=True, per_batch=per_batch)


def numbered_center_crops(examples, config):
    """`(encoded, label)` → `(position, centre crop, label)`, numbered before decoding (`_batch`,
    `skip_and_count`)."""
    return examples.enumerate().map(
        lambda position, e: (position, eval_image(e[0], config), e[1]),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True,
    )


def eval_dataset(
    source,
    config,
    batch_size,
    *,
    split="val",
    shard=(1, 0),
    counter=None,
    drop_remainder=False,
    as_recipe_inputs=False,
    image_dtype="uint8",
    weighted=False,
):
    """The evaluation stream (one pass): uint8 centre crops, batched.

    Args:
        shard: `(count, index)`. Read and decode only this share of the split
            (`FolderSplit.examples`, `RecordSplit.examples`). Defaults to `(1, 0)`: all of it.
        as_recipe_inputs: bool. Yield `model.recipe_model` inputs (`recipe_inputs`, α = 0)
            instead of the bare crops. Defaults to `False`.
        image_dtype: str. dtype of the recipe inputs' crops (`model.image_dtype`). Defaults to
            `"uint8"`.
        weighted: bool. Yield `(inputs, labels, weights)` in whole batches, the last one padded
            with zero images of weight 0, so that a strategy gives every replica images and
            each image counts once (`training.exact_eval`). Defaults to `False`.

    Returns:
        A `tf.data.Dataset` of `(uint8 [batch, size, size, 3], int32 [batch])`, or with
        `as_recipe_inputs` of `({"image": image_dtype crops, "lighting_alpha": zeros [batch, 3]},
        int32 [batch])`; with `weighted`, float32 `[batch]` weights third.
    """
    ds = numbered_center_crops(source.split(split).examples(shard), config)
    ds = _batch(
        ds,
        batch_size,
        counter,
        source.num_classes,
        drop_remainder,
        per_batch=(lambda images: recipe_inputs(images, image_dtype=image_dtype)) if as_recipe_inputs else None,
    )
    return ds.map(exact_eval.pad_and_weigh(batch_size)) if weighted else ds


def _check_labels(num_classes):
    def check(labels):
        with tf.control_dependencies(
            [
                tf.debugging.assert_less(
                    labels, num_classes, message=f"label outside 0…{num_classes - 1} (classes={num_classes})"
                ),
                tf.debugging.assert_non_negative(labels, message="negative label"),
            ]
        ):
            return tf.identity(labels)

    return check


def _finish(ds):
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF  # Sharded here.
    options.deterministic = True
    return ds.with_options(options).prefetch(tf.data.AUTOTUNE)


def distributed_train_dataset(resolved, source, config, *, seed=0, start_step=0, counter=None, image_dtype="uint8"):
    """The training stream for a resolved strategy: one pipeline per worker (tf.distribute input
    contexts), each yielding per-replica batches of `config.batch_size / replicas`; on JAX, this
    process's block of every global batch (`config.batch_size / processes`), which Keras places on
    its devices."""

    def pipeline(batch_size, pipelines, index):
        return train_dataset(
            source,
            config,
            batch_size,
            seed=seed,
            start_step=start_step,
            num_shards=pipelines,
            shard_index=index,
            counter=counter,
            global_batch_size=config.batch_size,
            image_dtype=image_dtype,
        )

    if not resolved.is_tf:
        return pipeline(config.batch_size // resolved.num_workers, resolved.num_workers, resolved.worker_index)

    def make(context):
        return pipeline(
            context.get_per_replica_batch_size(config.batch_size),
            context.num_input_pipelines,
            context.input_pipeline_id,
        )

    return resolved.strategy.distribute_datasets_from_function(make)


def distributed_eval_dataset(resolved, source, config, *, split="val", counter=None, image_dtype="uint8"):
    """The weighted evaluation stream of the recipe's periodic validation, and its steps.

    One process: `eval_dataset` in batches of `config.batch_size`. Several workers (tf.distribute,
    or the processes of a JAX job): each decodes only its share of the split (`FolderSplit.examples` / `RecordSplit.examples`
    with `(workers, index)`), batched by `config.batch_size / workers` and padded with images of
    weight 0 to the steps of the largest share, so that every image counts once in the job and all
    workers take the same number of steps (`training.exact_eval`).

    Returns:
        `(dataset, steps)`: what `PeriodicEvaluation` evaluates, and its batches in one pass.
    """
    size = source.sizes.get(split)
    if resolved.num_workers == 1:
        dataset = eval_dataset(
            source,
            config,
            config.batch_size,
            split=split,
            as_recipe_inputs=True,
            image_dtype=image_dtype,
            counter=counter,
            weighted=True,
        )
        return dataset, math.ceil(size / config.batch_size) if size else None
    workers, data = resolved.num_workers, source.split(split)
    local_batch = config.batch_size // workers
    steps = max(1, max(math.ceil(data.shard_size((workers, w)) / local_batch) for w in range(workers)))
    crop = config.image_size

    def share(worker):
        ds = eval_dataset(
            source,
            config,
            local_batch,
            split=split,
            shard=(workers, worker),
            counter=counter,
            as_recipe_inputs=True,
            image_dtype=image_dtype,
            weighted=True,
        )
        empty = (
            {IMAGE: tf.zeros([local_batch, crop, crop, 3], image_dtype), LIGHTING_ALPHA: tf.zeros([local_batch, 3])},
            tf.zeros([local_batch], tf.int32),
            tf.zeros([local_batch], tf.float32),
        )
        return ds.concatenate(tf.data.Dataset.from_tensors(empty).repeat()).take(steps)

    if not resolved.is_tf:  # JAX: Keras places this process's batches on its devices.
        return share(resolved.worker_index), steps

    def make(context):  # Per-replica batches, as tf.distribute takes them.
        ds = share(context.input_pipeline_id)
        return ds.unbatch().batch(context.get_per_replica_batch_size(config.batch_size), drop_remainder=True)

    return resolved.strategy.distribute_datasets_from_function(make), steps


def images_per_step(resolved, config):
    """Images one iteration takes from this process's stream of `distributed_train_dataset`: the
    global batch over the input pipelines (one per worker)."""
    return config.batch_size // resolved.num_workers
