"""What each process of a CIFAR run feeds `fit` and its periodic evaluation, on any topology.

One process (no strategy, one device, `mirrored`, JAX's data parallel over local devices): the
whole batches of `arrays.batch_indices` (on TensorFlow gathered by tf.data from the arrays held as
tensors, elsewhere taken on the host), and the evaluation splits as arrays; Keras splits each
batch over the replicas in consecutive blocks.

A job of several processes (TensorFlow's `multi_worker`, or the processes of a JAX job) is the
same run as one process with all the devices: at every step each process builds only its
consecutive block of the global batch (`arrays.batch_indices` with `block=(processes, index)`: it
indexes only its rows), the blocks in process order making the batch, and each process's block
is split over its replicas in turn. On TensorFlow the blocks go through
`strategy.distribute_datasets_from_function` as per-replica batches; on JAX the block is this
process's part of the global array, which Keras places on its devices (`auto_shard_dataset` is
off, `distribute._join_jax_job`). Each evaluation split is shared over the processes
(`exact_eval.pad_shard`): every image counts once in the job, and every process takes the same
number of batches.
"""

import keras

from keras_resnet.cifar import arrays
from keras_resnet.training import callbacks, exact_eval, faults


def _rows(data, batch_size, seed, start_step, block=(1, 0)):
    """The training split's rows that each batch takes (`arrays.batch_indices`, this block of
    each), traced (`faults.trace_rows`)."""
    rows = arrays.batch_indices(len(data.x_train), batch_size, seed, start_step, block)
    return faults.trace_rows(rows, data.x_train, data.y_train, start_step)


def _host_batches(data, batch_size, seed, start_step, block=(1, 0)):
    """The batches of `_rows`, taken from the arrays on the host."""
    return ((data.x_train[take], data.y_train[take]) for take in _rows(data, batch_size, seed, start_step, block))


def _gathered_batches(data, batch_size, seed, start_step):
    """A `tf.data.Dataset` of the batches of `_rows`: only each batch's row indices come from
    Python; the images are gathered from the arrays held as tensors, one batch ahead, outside
    the interpreter (a Python generator of whole batches costs TensorFlow's step up to a tenth
    on a CPU: `docs/benchmarks.md`)."""
    import tensorflow as tf

    with tf.device("/cpu:0"):  # Where tf.data runs, whatever device the caller's scope names.
        x, y = tf.constant(data.x_train), tf.constant(data.y_train)
    rows = tf.data.Dataset.from_generator(
        lambda: _rows(data, batch_size, seed, start_step), output_signature=tf.TensorSpec((batch_size,), tf.int64)
    )
    return rows.map(lambda take: (tf.gather(x, take), tf.gather(y, take))).prefetch(1)


def train_stream(resolved, data, batch_size, seed=0, start_step=0):
    """The training stream of this process, from iteration `start_step` on.

    Args:
        resolved: the `distribute.Resolved` strategy.
        data: a `CifarData`.
        batch_size: int. The global batch, a multiple of the replica count.
        seed: int. The batch order's seed (`arrays.batch_indices`).
        start_step: int. The first iteration the stream feeds.

    Returns:
        One process: whole batches, a `tf.data.Dataset` on TensorFlow and a generator of numpy
        batches `(x, y)` elsewhere; a JAX job: a generator of this process's block of each; a
        TensorFlow job: a `tf.distribute` dataset of per-replica batches.
    """
    if resolved.num_workers == 1:
        if keras.backend.backend() == "tensorflow":
            return _gathered_batches(data, batch_size, seed, start_step)
        return _host_batches(data, batch_size, seed, start_step)
    if not resolved.is_tf:
        return _host_batches(data, batch_size, seed, start_step, (resolved.num_workers, resolved.worker_index))
    import tensorflow as tf

    x, y = data.x_train, data.y_train

    def pipeline(context):
        per_replica = context.get_per_replica_batch_size(batch_size)
        block = (context.num_input_pipelines, context.input_pipeline_id)

        def replica_batches():  # A new generator each time tf.data opens the dataset.
            for images, labels in _host_batches(data, batch_size, seed, start_step, block):
                for first in range(0, len(images), per_replica):
                    yield images[first : first + per_replica], labels[first : first + per_replica]

        return tf.data.Dataset.from_generator(
            replica_batches,
            output_signature=(
                tf.TensorSpec((per_replica, *x.shape[1:]), tf.as_dtype(x.dtype)),
                tf.TensorSpec((per_replica,), tf.as_dtype(y.dtype)),
            ),
        )

    return resolved.strategy.distribute_datasets_from_function(pipeline)


def periodic_evaluation(resolved, data, batch_size, steps_per_period, schedule=None):
    """The run's `callbacks.PeriodicEvaluation` of `data.eval_splits()`, in batches of
    `batch_size`: the arrays themselves in one process; in a job of several, this process's share
    of each split, padded with images of weight 0 (`exact_eval.pad_shard`), as arrays on JAX and
    as a `tf.distribute` dataset of per-replica batches on TensorFlow."""
    splits = data.eval_splits()
    if resolved.num_workers == 1:
        return callbacks.PeriodicEvaluation(splits, steps_per_period, batch_size=batch_size, schedule=schedule)
    workers = resolved.num_workers
    if not resolved.is_tf:
        shard = (workers, resolved.worker_index)
        shares = {name: exact_eval.pad_shard(x, y, batch_size, shard) for name, (x, y) in splits.items()}
        return callbacks.PeriodicEvaluation(
            shares, steps_per_period, batch_size=batch_size // workers, schedule=schedule
        )
    import tensorflow as tf

    def distributed(x, y):
        def pipeline(context):
            per_replica = context.get_per_replica_batch_size(batch_size)
            share = exact_eval.pad_shard(x, y, batch_size, (context.num_input_pipelines, context.input_pipeline_id))
            return tf.data.Dataset.from_tensor_slices(share).batch(per_replica, drop_remainder=True)

        return resolved.strategy.distribute_datasets_from_function(pipeline)

    return callbacks.PeriodicEvaluation(
        {name: distributed(x, y) for name, (x, y) in splits.items()},
        steps_per_period,
        schedule=schedule,
        steps={name: exact_eval.shard_batches(len(x), batch_size, workers) for name, (x, _) in splits.items()},
    )
