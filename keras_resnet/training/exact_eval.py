"""Evaluation that counts every image exactly once, on one device or many.

Under a `tf.distribute` strategy Keras splits each evaluation batch across the replicas, so a
last batch with fewer images than replicas leaves some replica an empty batch, and TensorFlow
fails on it ("Incompatible shapes" in batch normalisation). The recipes therefore evaluate
whole batches only: the last one is padded with zero images of sample weight 0, every real
image has weight 1, and everything reported is weighted:

- the error rates come from weighted metrics, whose sums and counts add up over the replicas;
- the loss cannot be Keras' own evaluation loss: with sample weights, Keras divides each
  replica's weighted sum by the replica's whole batch, padding included. It is a weighted
  cross-entropy metric plus the weight-decay penalty (`model.losses`), which is what Keras
  reports for a split evaluated without padding;
- the number of images counted is the weight the accuracy metric has seen.

Without sample weights (training) the weighted metrics are the plain ones.

Example:

>>> x, y, weights = pad_arrays(np.ones((5, 2)), np.arange(5), batch_size=4)
>>> x.shape, y.tolist(), weights.tolist()
((8, 2), [0, 1, 2, 3, 4, 0, 0, 0], [1.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0])
"""

import keras
import numpy as np

ACCURACY = "accuracy"
TOP5_ACCURACY = "top5_accuracy"
CROSS_ENTROPY = "cross_entropy"


def weighted_metrics(num_classes=None):
    """The metrics to compile as `weighted_metrics`: accuracy, the weighted cross-entropy, and
    with `num_classes` the top-5 accuracy (top-k with k = `num_classes` when fewer)."""
    metrics = [
        keras.metrics.SparseCategoricalAccuracy(name=ACCURACY),
        keras.metrics.SparseCategoricalCrossentropy(from_logits=True, name=CROSS_ENTROPY),
    ]
    if num_classes is not None:
        metrics.insert(1, keras.metrics.SparseTopKCategoricalAccuracy(min(5, num_classes), name=TOP5_ACCURACY))
    return metrics


def pad_arrays(x, y, batch_size):
    """`(x, y, weights)`: the arrays padded with zeros to whole batches, weight 1 for the real
    examples and 0 for the padding (float32)."""
    pad = -len(x) % batch_size
    weights = np.concatenate([np.ones(len(x), np.float32), np.zeros(pad, np.float32)])
    x = np.concatenate([x, np.zeros((pad, *x.shape[1:]), x.dtype)])
    y = np.concatenate([np.asarray(y), np.zeros((pad, *np.shape(y)[1:]), np.asarray(y).dtype)])
    return x, y, weights


def pad_shard(x, y, batch_size, shard):
    """`(x, y, weights)`: share `index` of `count` of a split (every `count`-th example from
    `index`), padded with zero images of weight 0 to whole batches of `batch_size / count`, as
    many as the largest share needs: every example counts once over the shares, and every share
    takes the same number of batches.

    Args:
        x, y: arrays. The whole split.
        batch_size: int. The global batch, a multiple of `count`.
        shard: `(count, index)`.

    Example:

    >>> shares = [pad_shard(np.ones((5, 2)), np.arange(5), 4, (2, i)) for i in range(2)]
    >>> [(s[1].tolist(), s[2].tolist()) for s in shares]
    [([0, 2, 4, 0], [1.0, 1.0, 1.0, 0.0]), ([1, 3, 0, 0], [1.0, 1.0, 0.0, 0.0])]
    """
    count, index = shard
    size = shard_batches(len(x), batch_size, count) * (batch_size // count)
    x, y = x[index::count], np.asarray(y)[index::count]
    pad = size - len(x)
    weights = np.concatenate([np.ones(len(x), np.float32), np.zeros(pad, np.float32)])
    x = np.concatenate([x, np.zeros((pad, *x.shape[1:]), x.dtype)])
    y = np.concatenate([y, np.zeros((pad, *y.shape[1:]), y.dtype)])
    return x, y, weights


def shard_batches(size, batch_size, count):
    """The batches of `batch_size / count` each share of `count` takes of a split of `size`
    examples (`pad_shard`): as many as the largest share needs, at least one.

    >>> shard_batches(5, 4, 2), shard_batches(0, 4, 2)
    (2, 1)
    """
    largest = -(-size // count)
    return max(1, -(-largest // (batch_size // count)))


def pad_and_weigh(batch_size):
    """A `tf.data` map function `(x, y) → (x, y, weights)` padding a batch to `batch_size` with
    zero images of weight 0 (each real image weighs 1).

    Args:
        batch_size: int. The whole batch.
    """
    import tensorflow as tf

    def pad(x, y):
        count = tf.shape(y)[0]
        index = tf.range(batch_size)
        weights = tf.cast(index < count, tf.float32)

        def whole(t):
            t = tf.pad(t, [[0, batch_size - count]] + [[0, 0]] * (t.shape.rank - 1))
            return tf.ensure_shape(t, [batch_size, *t.shape[1:]])

        return tf.nest.map_structure(whole, x), whole(y), weights

    return pad


def _metric(model, name):
    for metric in model.metrics:
        for inner in getattr(metric, "metrics", None) or [metric]:
            if inner.name == name:
                return inner
    raise ValueError(f"the model has no compiled metric {name!r}; compile it with weighted_metrics()")


def penalty(model):
    """The weight-decay penalty Keras adds to the loss (`model.losses`, summed), as a float."""
    return float(sum(float(keras.ops.convert_to_numpy(loss)) for loss in model.losses))


def split_logs(model, results, name):
    """The logs of one evaluated split from `model.evaluate(..., return_dict=True)`.

    Args:
        model: the model compiled with `weighted_metrics()`, just evaluated.
        results: dict. What `evaluate` returned.
        name: str. The split's name, the prefix of the keys.

    Returns:
        dict with `{name}_loss` (mean cross-entropy plus the penalty), `{name}_error`,
        `{name}_top5_error` (where compiled) and `{name}_images` (the images counted).
    """
    logs = {
        f"{name}_loss": float(results[CROSS_ENTROPY]) + penalty(model),
        f"{name}_error": 1.0 - float(results[ACCURACY]),
        f"{name}_images": float(keras.ops.convert_to_numpy(_metric(model, ACCURACY).count)),
    }
    if TOP5_ACCURACY in results:
        logs[f"{name}_top5_error"] = 1.0 - float(results[TOP5_ACCURACY])
    return logs
