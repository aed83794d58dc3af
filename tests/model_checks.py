"""Shared helpers of the model tests (the keras-hub way: one helper per kind of check)."""

import functools

import numpy as np
import pytest

import keras_resnet

# The full-depth builds take seconds each: the tests of these depths are in the system tier.
DEEPEST = (101, 110, 152, 1202)


def deepest_system(values):
    """`values` (depths, or registered names) for `pytest.mark.parametrize`, those of the deepest
    nets (`DEEPEST`) marked `system`."""
    return [
        pytest.param(value, marks=pytest.mark.system)
        if int("".join(filter(str.isdigit, str(value)))) in DEEPEST
        else value
        for value in values
    ]


def build(name, **kwargs):
    """Builds a registered model once per test process (the big nets take seconds to build).

    Under `pytest -n`, the tests that build through it run on one worker (`SHARED_BUILDS` in
    conftest.py), so each net is built once.
    """
    return _build(name, tuple(sorted(kwargs.items())))


@functools.lru_cache(maxsize=None)
def _build(name, arguments):
    return keras_resnet.MODELS[name](**dict(arguments))


def check_stage_outputs(model, strides, channels):
    """`feature_model` gives each stage's last unit output, of ceil(side / stride) and `channels`."""
    features = keras_resnet.feature_model(model)
    assert keras_resnet.feature_strides(model) == strides
    height, width = model.input_shape[1:3]
    expected = {
        stage: (None, -(-height // stride), -(-width // stride), c)
        for (stage, stride), c in zip(strides.items(), channels)
    }
    assert {stage: tuple(t.shape) for stage, t in features.output.items()} == expected
    # Without its top, the net ends with its last stage.
    assert features.output[list(strides)[-1]] is model.output


def trainable_params(model):
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


def to_numpy(tensor):
    import keras

    return keras.ops.convert_to_numpy(tensor)


def run_inference(model, seed=0):
    shape = (2,) + tuple(model.input_shape[1:])
    x = np.random.default_rng(seed).uniform(0, 1, shape).astype("float32")
    return x, to_numpy(model(x, training=False))


def check_keras_file_round_trip(model, path):
    """Saves to `.keras`, loads back with safe_mode=True, and checks the outputs are the same."""
    import keras

    x, expected = run_inference(model)
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert type(loaded) is type(model)
    assert loaded.name == model.name
    assert [layer.name for layer in loaded.layers] == [layer.name for layer in model.layers]
    np.testing.assert_allclose(to_numpy(loaded(x, training=False)), expected, rtol=1e-5, atol=1e-6)


def check_config_round_trip(model):
    """`from_config(get_config())` gives the same architecture; with the weights, the same outputs."""
    clone = type(model).from_config(model.get_config())
    assert type(clone) is type(model)
    assert clone.get_config() == model.get_config()
    clone.set_weights(model.get_weights())
    x, expected = run_inference(model)
    np.testing.assert_allclose(to_numpy(clone(x, training=False)), expected, rtol=1e-5, atol=1e-6)


def check_fit_lowers_loss(model, steps=8, seed=0):
    """Trains on one fixed batch; the training loss must fall."""
    import keras

    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, (8,) + tuple(model.input_shape[1:])).astype("float32")
    y = rng.integers(0, model.output_shape[-1], 8)
    model.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9), loss="sparse_categorical_crossentropy")
    losses = [float(model.train_on_batch(x, y)) for _ in range(steps)]
    assert np.all(np.isfinite(losses))
    assert losses[-1] < losses[0], losses
    return losses
