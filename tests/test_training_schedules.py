"""The paper's learning-rate schedule, ResNet-110's warm-up, and Caffe's coupled weight decay."""

import keras
import numpy as np
import pytest
from keras import ops

from keras_resnet.cifar import config, task
from keras_resnet.errors import RecipeError
from keras_resnet.training import optimizers, schedules


@pytest.mark.parametrize(
    "step, expected",
    [(0, 0.1), (31999, 0.1), (32000, 0.01), (47999, 0.01), (48000, 0.001), (63999, 0.001), (64000, 0.0)],
)
def test_paper_schedule_values_around_32k_48k_64k(step, expected):
    schedule = task.schedule(config.cifar10())
    assert float(ops.convert_to_numpy(schedule(step))) == pytest.approx(expected, rel=1e-6, abs=0)


def test_short_run_keeps_the_boundaries_at_half_and_three_quarters():
    schedule = task.schedule(config.cifar10(train_steps=800))
    values = [float(ops.convert_to_numpy(schedule(s))) for s in (399, 400, 599, 600, 799, 800)]
    np.testing.assert_allclose(values, [0.1, 0.01, 0.01, 0.001, 0.001, 0.0], rtol=1e-6)


def test_boundaries_given_are_iterations_of_the_run_and_must_lie_inside_it():
    schedule = task.schedule(config.cifar10(train_steps=800, lr_boundaries=(100, 700)))
    values = [float(ops.convert_to_numpy(schedule(s))) for s in (99, 100, 699, 700, 800)]
    np.testing.assert_allclose(values, [0.1, 0.01, 0.01, 0.001, 0.0], rtol=1e-6)
    for bad in ((100, 801), (700, 100), (100, 100)):
        with pytest.raises(RecipeError, match=r"--lr_boundaries must be increasing iterations of the run, at most"):
            config.cifar10(train_steps=800, lr_boundaries=bad).check()


def test_schedule_round_trips_through_serialization():
    schedule = schedules.StepSchedule(0.1, (10, 20), stop_step=30)
    restored = keras.optimizers.schedules.deserialize(keras.optimizers.schedules.serialize(schedule))
    assert isinstance(restored, schedules.StepSchedule)
    assert restored.get_config() == {
        "initial_learning_rate": 0.1,
        "boundaries": [10, 20],
        "factor": 0.1,
        "stop_step": 30,
    }


def _tiny_compiled_model(multiplier):
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer=optimizers.SGD(learning_rate=0.1, learning_rate_multiplier=multiplier), loss="mse")
    model.optimizer.build(model.trainable_variables)
    return model


def test_warmup_switches_only_when_training_error_falls_below_80_percent():
    model = _tiny_compiled_model(multiplier=0.1)
    callback = schedules.WarmupUntilTrainingError(threshold=0.8, check_every=1)
    callback.set_model(model)
    callback.set_params({"steps": 100})
    callback.on_train_begin()
    multiplier = model.optimizer.learning_rate_multiplier
    running = []
    for batch, accuracy in enumerate((0.05, 0.19, 0.2)):  # training error 95%, 81%, 80%: not below 80%
        running.append(accuracy)
        callback.on_train_batch_end(batch, {"accuracy": np.mean(running)})
        assert float(ops.convert_to_numpy(multiplier)) == pytest.approx(0.1)
    running.append(0.21)
    callback.on_train_batch_end(3, {"accuracy": np.mean(running)})  # 79% in the last iteration
    assert float(ops.convert_to_numpy(multiplier)) == 1.0
    assert not callback.active


def test_warmup_decides_on_the_last_hundred_iterations_not_the_period_average():
    """The paper: 0.01 "until the training error is below 80% (about 400 iterations)". Here the
    error is 100% for 300 iterations, then 70%: the last 100 iterations cross 80% at iteration
    400; the period's running average (92.5% there) would cross it only at iteration 1000."""
    model = _tiny_compiled_model(multiplier=0.1)
    callback = schedules.WarmupUntilTrainingError(threshold=0.8)
    assert callback.check_every == config.cifar10().warmup_check_every == 100
    callback.set_model(model)
    callback.set_params({"steps": 1000})  # One evaluation period of the paper's CIFAR runs.
    callback.on_train_begin()
    callback.on_epoch_begin(0)
    correct = 0.0
    for batch in range(1000):
        correct += 0.0 if batch < 300 else 0.3
        callback.on_train_batch_end(batch, {"accuracy": correct / (batch + 1)})
        if not callback.active:
            break
    assert callback.switched_at == 400
    assert float(ops.convert_to_numpy(model.optimizer.learning_rate_multiplier)) == 1.0


def test_warmup_rate_is_a_tenth_of_the_rate_and_resumed_runs_stay_warm():
    cfg = config.cifar10()
    assert cfg.warmup_learning_rate / cfg.learning_rate == pytest.approx(0.1)
    w = keras.Variable(np.ones(3, "float32"))
    opt = optimizers.SGD(learning_rate=0.1, learning_rate_multiplier=0.1)
    opt.apply([np.full(3, 2.0, "float32")], [w])
    np.testing.assert_allclose(ops.convert_to_numpy(w), 1 - 0.01 * 2.0, rtol=1e-6)
    # A restored optimizer whose multiplier is already 1 does not go back into warm-up.
    model = _tiny_compiled_model(multiplier=0.1)
    model.optimizer.learning_rate_multiplier.assign(1.0)
    callback = schedules.WarmupUntilTrainingError()
    callback.set_model(model)
    callback.on_train_begin()
    assert not callback.active


def test_coupled_l2_gives_the_caffe_update_and_differs_from_decoupled_decay():
    lr, momentum, wd = 0.1, 0.9, 0.1  # a large decay so the two forms differ visibly
    cfg = config.cifar10(learning_rate=lr, momentum=momentum, weight_decay=wd)
    x = np.array([[1.0, -2.0], [3.0, 0.5]], "float32")
    w0 = np.array([[0.5], [-1.5]], "float32")

    def loss(y_true, y_pred):  # d(loss)/dw = mean of x over the batch: known by hand
        return ops.mean(y_pred)

    def train_two_steps(regularizer, optimizer):
        model = keras.Sequential(
            [keras.Input((2,)), keras.layers.Dense(1, use_bias=False, kernel_regularizer=regularizer)]
        )
        model.layers[0].kernel.assign(w0)
        model.compile(optimizer=optimizer, loss=loss)
        for _ in range(2):
            model.train_on_batch(x, np.zeros((2, 1), "float32"))
        return ops.convert_to_numpy(model.layers[0].kernel)

    g = x.mean(axis=0)[:, None].astype("float64")
    # Caffe: v <- m v + lr (g + wd w); w <- w - v
    w, v = w0.astype("float64"), np.zeros_like(g)
    for _ in range(2):
        v = momentum * v + lr * (g + wd * w)
        w = w - v
    coupled = train_two_steps(optimizers.regularizers(cfg)["regularizer"], optimizers.make_optimizer(cfg, lr))
    np.testing.assert_allclose(coupled, w, rtol=1e-5)

    # Keras' decoupled decay: w <- w - lr wd w, then the momentum step with g alone.
    w_d, v_d = w0.astype("float64"), np.zeros_like(g)
    for _ in range(2):
        w_d = w_d - lr * wd * w_d
        v_d = momentum * v_d - lr * g
        w_d = w_d + v_d
    decoupled_cfg = cfg.replace(decoupled_weight_decay=True)
    decoupled = train_two_steps(
        optimizers.regularizers(decoupled_cfg).get("regularizer"), optimizers.make_optimizer(decoupled_cfg, lr)
    )
    np.testing.assert_allclose(decoupled, w_d, rtol=1e-5)
    assert np.abs(decoupled - coupled).max() > 1e-3


def test_l2_regularizer_is_half_the_decay_so_its_gradient_is_wd_times_w():
    reg = optimizers.regularizers(config.cifar10())["regularizer"]
    w = np.array([1.0, -3.0], "float32")
    eps = 1e-2
    numeric = [(float(reg(w + eps * e)) - float(reg(w - eps * e))) / (2 * eps) for e in np.eye(2, dtype="float32")]
    np.testing.assert_allclose(numeric, 1e-4 * w, rtol=1e-2)


def test_warmup_switch_inside_fit_reaches_the_compiled_step():
    y = (np.arange(64) % 2).astype("int32")  # every batch of 8 is half class 0, half class 1
    x = np.repeat(2.0 * y[:, None] - 1.0, 2, axis=1).astype("float32")
    # Zero weights: equal logits, class 0 everywhere, half right: 50% error in the first batch, below 80% at once.
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2, kernel_initializer="zeros")])
    model.compile(
        optimizer=optimizers.SGD(learning_rate=0.1, learning_rate_multiplier=0.1),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
    )
    callback = schedules.WarmupUntilTrainingError(threshold=0.8, check_every=1)
    model.fit(x, y, batch_size=8, epochs=2, verbose=0, shuffle=False, callbacks=[callback])
    assert callback.switched_at == 1
    # The switch survives the end of the epoch, when JAX writes its step state back.
    assert float(ops.convert_to_numpy(model.optimizer.learning_rate_multiplier)) == 1.0
