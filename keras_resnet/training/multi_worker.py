"""MultiWorkerMirroredStrategy and Keras 3 `fit`.

Keras' TensorFlow trainer reduces per-replica metric values with `strategy.reduce("MEAN", v,
axis=0)`, which fails on scalars (keras-team/keras issue 20585), and before the first step reduces a
whole data batch across the workers to learn its shapes, which fails for uint8 images (collective
ops reduce floats and int32/int64 only). `patch_reduce` wraps the strategy's `reduce` for both; the
scalar part is applied only while the installed Keras still has the faulty call
(`reduce_fix_needed`): drop that part once a Keras release fixes the issue, and the rest once Keras
stops reducing the data batch.
"""

import inspect


def reduce_fix_needed():
    """Whether the installed Keras still calls `strategy.reduce(..., axis=0)` on per-replica
    metrics under MultiWorkerMirroredStrategy (keras-team/keras issue 20585).

    Returns:
        bool. `False` on other backends, or once Keras no longer contains the faulty call.
    """
    import keras

    if keras.backend.backend() != "tensorflow":
        return False
    from keras.src.backend.tensorflow import trainer

    source = inspect.getsource(trainer.reduce_per_replica)
    return 'strategy.reduce("MEAN", v, axis=0)' in source


# The dtypes tf.distribute's collective all-reduce accepts.
COLLECTIVE_DTYPES = ("bfloat16", "float16", "float32", "float64", "int32", "int64")


def patch_reduce(strategy, scalars=True):
    """Wraps `strategy.reduce` for Keras 3 `fit` under MultiWorkerMirroredStrategy.

    - With `scalars`, scalar values reduce with `axis=None` (keras-team/keras#20585): Keras'
      TensorFlow trainer reduces the step's metric values (one scalar per replica) with
      `axis=0`, which raises "Invalid reduction dimension 0 for input with 0 dimensions".
      Values of rank ≥ 1 are reduced as asked.
    - Structures (Keras passes the first data batch, to build the model from its shapes and
      dtypes) reduce leaf by leaf; a leaf whose dtype the collectives cannot reduce (uint8
      images: "Value for attr 'T' of uint8 is not in the list of allowed values") comes back
      as this worker's first local value, which has the shape and dtype Keras reads.

    Args:
        strategy: a `tf.distribute.MultiWorkerMirroredStrategy`.
        scalars: bool. Apply the scalar fix. Defaults to `True`.

    Returns:
        The same strategy, its `reduce` wrapped (once).
    """
    if getattr(strategy, "_keras_resnet_reduce_patched", False):
        return strategy
    original = strategy.reduce

    def reduce_one(reduce_op, value, axis):
        if scalars and axis is not None and _rank(strategy, value) == 0:
            axis = None
        return original(reduce_op, value, axis=axis)

    def reduce_leaf(reduce_op, value, axis):
        local = strategy.experimental_local_results(value)
        dtype = getattr(local[0] if local else value, "dtype", None)
        if dtype is not None and getattr(dtype, "name", str(dtype)) not in COLLECTIVE_DTYPES:
            return local[0]
        return reduce_one(reduce_op, value, axis)

    def reduce(reduce_op, value, axis=None):
        if isinstance(value, (tuple, list, dict)):
            import tensorflow as tf

            return tf.nest.map_structure(lambda v: reduce_leaf(reduce_op, v, axis), value)
        return reduce_one(reduce_op, value, axis)

    strategy.reduce = reduce
    strategy._keras_resnet_reduce_patched = True
    return strategy


def _rank(strategy, value):
    local = strategy.experimental_local_results(value)
    shape = getattr(local[0] if local else value, "shape", None)
    return None if shape is None else shape.rank
