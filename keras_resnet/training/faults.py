"""Test hooks for the recipes' resume guarantee: a SIGKILL at a named point of a run, and a trace
of what every iteration used. Both are off unless their environment variable is set; nothing
here runs in a normal run.

`KERAS_RESNET_KILL_AT` names where the process kills itself (SIGKILL: no clean-up, as a
preempted machine):

- `step:N`: after iteration N (inside a period when N is not a period's end);
- `schedule:P`: at the end of period P, right after the learning-rate schedule's decision
  (e.g. a plateau cut), before that period's history row and backup;
- `backup:P`: right after period P's backup is written;
- `end`: after the last iteration, before the final outputs (`metrics.json`, plots).

`KERAS_RESNET_TRACE` names a file to which the run appends one JSON line per iteration (the
step, the learning rate the update uses, the warm-up multiplier, the augmentation stream's
state, fingerprints of the weights and the optimizer state it starts from) and one per
training batch the input pipeline produces (a fingerprint of its
examples and augmentation draws, and each example's index: in the source's fixed order for
ImageNet, in the training arrays for CIFAR), so a test can compare a resumed run with an uninterrupted
one iteration by iteration.

Example:

>>> kill_point(INSIDE_PERIOD) is None  # The variable is not set here.
True
"""

import hashlib
import json
import os
import signal
import threading

import keras
import numpy as np

KILL_ENV = "KERAS_RESNET_KILL_AT"
TRACE_ENV = "KERAS_RESNET_TRACE"
INSIDE_PERIOD = "step"
AFTER_SCHEDULE = "schedule"
AFTER_BACKUP = "backup"
BEFORE_OUTPUTS = "end"
_lock = threading.Lock()


def _kill_spec():
    where, _, count = os.environ.get(KILL_ENV, "").partition(":")
    return where, int(count) if count else None


def _die():
    os.kill(os.getpid(), signal.SIGKILL)


class KillAt(keras.callbacks.Callback):
    """Kills the process at its place in the callback list (see the module docstring)."""

    def __init__(self, where, count):
        super().__init__()
        self.where = where
        self.count = count

    def on_train_batch_end(self, batch, logs=None):
        if self.where == INSIDE_PERIOD and _iterations(self.model) == self.count:
            _die()

    def on_epoch_end(self, epoch, logs=None):
        if self.where in (AFTER_SCHEDULE, AFTER_BACKUP) and epoch + 1 == self.count:
            _die()


def kill_point(where):
    """A `KillAt` callback if `KERAS_RESNET_KILL_AT` names `where`, else `None`."""
    spec, count = _kill_spec()
    return KillAt(where, count) if spec == where else None


def kill_if(where):
    """Kills the process here if `KERAS_RESNET_KILL_AT` names `where` (e.g. `BEFORE_OUTPUTS`)."""
    if _kill_spec()[0] == where:
        _die()


def tracing():
    """Whether `KERAS_RESNET_TRACE` is set."""
    return bool(os.environ.get(TRACE_ENV))


def _record(entry):
    with _lock, open(os.environ[TRACE_ENV], "a") as f:
        f.write(json.dumps(entry) + "\n")


def _fingerprint(*arrays):
    digest = hashlib.sha256()
    for array in arrays:
        array = np.ascontiguousarray(array)
        digest.update(str(array.dtype).encode() + str(array.shape).encode() + array.tobytes())
    return digest.hexdigest()[:16]


def _iterations(model):
    from keras_resnet.training import schedules

    return int(keras.ops.convert_to_numpy(schedules.optimizer_of(model).iterations))


class Trace(keras.callbacks.Callback):
    """Appends, before each iteration, what its update will use (see the module docstring)."""

    def on_train_batch_begin(self, batch, logs=None):
        from keras_resnet.training import schedules

        model = self.model  # On JAX this syncs the variables with the trainer's state.
        optimizer = schedules.optimizer_of(model)
        rate = float(keras.ops.convert_to_numpy(optimizer.learning_rate))
        multiplier = float(keras.ops.convert_to_numpy(getattr(optimizer, "learning_rate_multiplier", 1.0)))
        streams = [
            keras.ops.convert_to_numpy(g.state).tolist()
            for layer in model._flatten_layers()
            for g in getattr(layer, "_seed_generators", [])
        ]
        _record(
            {
                "step": _iterations(model),
                "learning_rate": rate * multiplier,
                "multiplier": multiplier,
                "seed_states": streams,
                "weights": _fingerprint(*(keras.ops.convert_to_numpy(v) for v in model.weights)),
                "optimizer": _fingerprint(*(keras.ops.convert_to_numpy(v) for v in optimizer.variables)),
            }
        )


def trace():
    """A `Trace` callback if `KERAS_RESNET_TRACE` is set, else `None`."""
    return Trace() if tracing() else None


def trace_rows(rows, x, y, start_step):
    """Passes a stream of batches' row indices into the arrays `x`, `y` through, recording for
    each the fingerprint of its batch `(x[rows], y[rows])`, the iteration it is for (the first
    is `start_step`) and the rows."""
    if not tracing():
        yield from rows
        return
    for step, take in enumerate(rows, start_step):
        _record({"batch": step, "fingerprint": _fingerprint(x[take], y[take]), "examples": [int(e) for e in take]})
        yield take


def trace_tf_batch(inputs, labels, positions, examples=None):
    """Records a tf.data training batch's fingerprint (its crops, lighting α and labels), keyed by
    the stream position of its first example, and the examples it holds (their indices in the
    source's fixed order), where given; returns `inputs` unchanged."""
    if not tracing():
        return inputs
    import tensorflow as tf

    def record(first, examples, *arrays):
        entry = {"batch": int(first), "fingerprint": _fingerprint(*(a.numpy() for a in arrays))}
        if examples.shape[0]:
            entry["examples"] = [int(e) for e in examples.numpy()]
        _record(entry)
        return np.int64(0)

    leaves = [inputs[k] for k in sorted(inputs)] + [labels]
    examples = tf.zeros([0], tf.int64) if examples is None else tf.cast(examples, tf.int64)
    done = tf.py_function(record, [positions[0], examples, *leaves], tf.int64)
    with tf.control_dependencies([done]):
        return {k: tf.identity(v) for k, v in inputs.items()}
