"""What each process of a CIFAR run feeds `fit` and its periodic evaluation, on any topology.

One process (no strategy, one device, `mirrored`, JAX's data parallel over local devices): the
whole batches of `arrays.batches`, and the evaluation splits as arrays; Keras splits each batch
over the replicas in consecutive blocks.

A job of several processes (TensorFlow's `multi_worker`, or the processes of a JAX job) is the
same run as one process with all the devices: at every step each process builds only its
consecutive block of the global batch (`arrays.batches` with `block=(processes, index)`: it
indexes only its rows), the blocks in process order making the batch, and each process's block
is split over its replicas in turn. On TensorFlow the blocks go through
`strategy.distribute_datasets_from_function` as per-replica batches; on JAX the block is this
process's part of the global array, which Keras places on its devices (`auto_shard_dataset` is
off, `distribute._join_jax_job`). Each evaluation split is shared over the processes
(`exact_eval.pad_shard`): every image counts once in the job, and every process takes the same
number of batches.
"""

from keras_resnet.cifar import arrays
from keras_resnet.training import callbacks, exact_eval, faults


def _traced_batches(data, batch_size, seed, start_step, block=(1, 0)):
    """`arrays.batches` of the training split (this block of each), traced (`faults.trace_batches`)."""
    return faults.trace_batches(
        arrays.batches(data.x_train, data.y_train, batch_size, seed=seed, start_step=start_step, block=block),
        start_step,
        examples=arrays.batch_indices(len(data.x_train), batch_size, seed, start_step, block),
    )


def train_stream(resolved, data, batch_size, seed=0, start_step=0):
    """The training stream of this process, from iteration `start_step` on.

    Args:
        resolved: the `distribute.Resolved` strategy.
        data: a `CifarData`.
        batch_size: int. The global batch, a multiple of the replica count.
        seed: int. The batch order's seed (`arrays.batch_indices`).
        start_step: int. The first iteration the stream feeds.

    Returns:
        A generator of numpy batches `(x, y)` (one process: whole batches; a JAX job: this
        process's block of each), or a `tf.distribute` dataset of per-replica batches.
    """
    if resolved.num_workers == 1:
        return _traced_batches(data, batch_size, seed, start_step)
    if not resolved.is_tf:
        return _traced_batches(data, batch_size, seed, start_step, (resolved.num_workers, resolved.worker_index))
    import tensorflow as tf

    x, y = data.x_train, data.y_train

    def pipeline(context):
        per_replica = context.get_per_replica_batch_size(batch_size)
        block = (context.num_input_pipelines, context.input_pipeline_id)

        def replica_batches():  # A new generator each time tf.data opens the dataset.
            for images, labels in _traced_batches(data, batch_size, seed, start_step, block):
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
