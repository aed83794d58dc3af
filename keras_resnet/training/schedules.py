"""Learning-rate schedules of the paper: a step schedule (CIFAR), ResNet-110's warm-up, and
divide-on-plateau (ImageNet), each resumable.

Reference: He et al., "Deep Residual Learning for Image Recognition", CVPR 2016
(https://arxiv.org/abs/1512.03385), Sec. 3.4 and 4.2.
"""

import keras
import numpy as np
from absl import logging
from keras import ops


@keras.saving.register_keras_serializable(package="keras_resnet")
class StepSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """A rate divided at fixed iterations, and zero once training should have stopped.

    `step` is the optimizer's iteration count before the update, so update number
    `boundaries[0] + 1` is the first one at the lower rate: "divided by 10 at 32k iterations".

    Args:
        initial_learning_rate: float. The rate before the first boundary.
        boundaries: tuple of int. Iterations at which the rate is multiplied by `factor`.
        factor: float. Multiplier at each boundary. Defaults to `0.1`.
        stop_step: optional int. From this iteration on the rate is 0: the run is over.

    Example:

    >>> schedule = StepSchedule(0.1, (32000, 48000), stop_step=64000)
    >>> [round(float(schedule(s)), 6) for s in (0, 31999, 32000, 47999, 48000, 63999, 64000)]
    [0.1, 0.1, 0.01, 0.01, 0.001, 0.001, 0.0]
    """

    def __init__(self, initial_learning_rate, boundaries, factor=0.1, stop_step=None):
        boundaries = tuple(int(b) for b in boundaries)
        if list(boundaries) != sorted(boundaries) or any(b < 0 for b in boundaries):
            raise ValueError(f"`boundaries` must be non-negative and increasing. Received: boundaries={boundaries!r}")
        self.initial_learning_rate = float(initial_learning_rate)
        self.boundaries = boundaries
        self.factor = float(factor)
        self.stop_step = None if stop_step is None else int(stop_step)
        # The rate of each interval, computed once in float64 so 0.1 / 100 is 0.001 exactly.
        self._values = [self.initial_learning_rate * self.factor**i for i in range(len(boundaries) + 1)]

    def __call__(self, step):
        step = ops.cast(step, "int32")
        rate = ops.convert_to_tensor(np.float32(self._values[0]))
        for boundary, value in zip(self.boundaries, self._values[1:]):
            rate = ops.where(step >= boundary, np.float32(value), rate)
        if self.stop_step is not None:
            rate = ops.where(step >= self.stop_step, np.float32(0.0), rate)
        return rate

    def get_config(self):
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "boundaries": list(self.boundaries),
            "factor": self.factor,
            "stop_step": self.stop_step,
        }


def optimizer_of(model):
    """The model's optimizer, unwrapped from a mixed-precision `LossScaleOptimizer`."""
    optimizer = model.optimizer
    return getattr(optimizer, "inner_optimizer", optimizer)


class WarmupUntilTrainingError(keras.callbacks.Callback):
    """Keeps a lower rate until the training error falls under a threshold (ResNet-110, Sec. 4.2).

    The paper trains ResNet-110 at 0.01 "until the training error is below 80% (about 400
    iterations), and then go[es] back to 0.1". The model's optimizer must be a
    `keras_resnet.training.optimizers.SGD` built with `learning_rate_multiplier` = warm-up rate /
    rate; this callback sets the multiplier to 1 once the *recent* training error is below
    `threshold`: the error over the last `check_every` iterations, checked every `check_every`
    iterations (the training logs' running accuracy averages over the whole evaluation period,
    which lags: an error crossing 80% at iteration 400 would move the period's average across
    only near 800). The recent error is the difference of two running averages, so this
    callback converts a metric only at the checks (Keras itself still fetches the logs after
    every step while any callback has a batch-end hook, as this one does: a cost paid by
    ResNet-110 and deeper only).

    The multiplier is an optimizer variable, so it is in the backup; the checks fall at fixed
    iterations of each period and a resumed run restarts at a period's start, so it decides at
    the same iterations from the same batches.

    Args:
        threshold: float. Training error that ends the warm-up. Defaults to `0.8`.
        check_every: int. Iterations per window (and between checks). Defaults to `100`.
        metric: str. The accuracy entry of the training logs. Defaults to `"accuracy"`.

    Example:

    >>> callback = WarmupUntilTrainingError(threshold=0.8, check_every=2)
    >>> callback.recent_error(running_accuracy=0.5, batches=4, previous=(0.25, 2))  # batches 3-4 at 75% accuracy
    0.25
    """

    def __init__(self, threshold=0.8, check_every=100, metric="accuracy"):
        super().__init__()
        self.threshold = float(threshold)
        self.check_every = int(check_every)
        self.metric = metric
        self.active = False
        self.switched_at = None
        self._epoch = 0
        self._previous = (0.0, 0)  # (running accuracy, batches) at the period's last check

    def on_train_begin(self, logs=None):
        self.on_epoch_begin(0)

    def on_epoch_begin(self, epoch, logs=None):
        # Read again at each period's start: by then a backup, if any, has been restored.
        self.active = float(ops.convert_to_numpy(self._multiplier())) != 1.0
        self._epoch, self._previous = epoch, (0.0, 0)

    def _multiplier(self):
        optimizer = optimizer_of(self.model)
        if not optimizer.built:
            optimizer.build(self.model.trainable_variables)
        return optimizer.learning_rate_multiplier

    @staticmethod
    def recent_error(running_accuracy, batches, previous):
        """1 − the accuracy of the batches since `previous` = (running accuracy, batches) then."""
        accuracy, count = previous
        return round(1.0 - (running_accuracy * batches - accuracy * count) / (batches - count), 12)

    def on_train_batch_end(self, batch, logs=None):
        steps = (self.params or {}).get("steps") or 0
        step = self._epoch * steps + batch + 1
        if not self.active or not logs or self.metric not in logs or step % self.check_every:
            return
        running = float(ops.convert_to_numpy(logs[self.metric]))  # The period's running accuracy.
        error = self.recent_error(running, batch + 1, self._previous)
        self._previous = (running, batch + 1)
        if error < self.threshold:
            multiplier = self._multiplier()  # `self.model` first: on JAX it syncs the state.
            multiplier.assign(1.0)
            self.active = False
            self.switched_at = step
            logging.info(
                "Warm-up over at step %d: training error %.3f < %.2f over the last %d iterations",
                step,
                error,
                self.threshold,
                self.check_every,
            )


class ReduceLROnPlateau(keras.callbacks.ReduceLROnPlateau):
    """`keras.callbacks.ReduceLROnPlateau` whose counters survive a resume.

    Keras keeps `best`, `wait` and the cooldown only in the Python object and resets them on
    every `fit()`, so a run preempted more often than every `patience` evaluations would never
    lower its rate. Here they are the callback's state that `backup.BackupAndRestore` saves
    with each backup (`backup_state`) and restores (`restore_state`); the rate itself is the
    optimizer's, saved with it.

    Example:

    >>> plateau = ReduceLROnPlateau(monitor="val_error", mode="min", patience=2)
    >>> plateau.restore_state({"best": 0.5, "wait": 1, "cooldown_counter": 0})
    >>> plateau.on_train_begin()
    >>> plateau.backup_state()
    {'best': 0.5, 'wait': 1, 'cooldown_counter': 0}
    """

    _restored = False

    def backup_state(self):
        best = self.best
        return {
            "best": None if best is None else float(best),
            "wait": int(self.wait),
            "cooldown_counter": int(self.cooldown_counter),
        }

    def restore_state(self, state):
        self.best, self.wait, self.cooldown_counter = state["best"], int(state["wait"]), int(state["cooldown_counter"])
        self._restored = True

    def on_train_begin(self, logs=None):
        if not self._restored:  # Keras resets the counters here.
            super().on_train_begin(logs)
