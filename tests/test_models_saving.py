"""Serialization, mixed precision and training of the built models."""

import sys

import keras
import numpy as np
import pytest
from model_checks import (
    check_config_round_trip,
    check_fit_lowers_loss,
    check_keras_file_round_trip,
    run_inference,
)

import keras_resnet

SMALL = {
    "resnet_a": lambda: keras_resnet.ResNet20(input_shape=(16, 16, 3)),
    "highway_a": lambda: keras_resnet.HighwayNet20(input_shape=(16, 16, 1), classes=3),
    "plain": lambda: keras_resnet.PlainNet20(input_shape=(16, 16, 3)),
    "bottleneck_b_v1_5": lambda: keras_resnet.build_network(
        "imagenet",
        stages=(1, 1),
        block="bottleneck",
        widths=(8, 16),
        input_shape=(64, 64, 3),
        classes=4,
        bottleneck_stride="3x3",
        zero_init_residual=True,
    ),
    "basic_c_regularized": lambda: keras_resnet.build_network(
        "imagenet",
        stages=(1, 1),
        widths=(8, 16),
        shortcut="C",
        input_shape=(32, 32, 3),
        classes=4,
        kernel_regularizer=keras.regularizers.L2(5e-5),
    ),
}


@pytest.mark.parametrize("name", sorted(SMALL))
def test_keras_file_round_trip_with_safe_mode(name, tmp_path):
    check_keras_file_round_trip(SMALL[name](), tmp_path / f"{name}.keras")


@pytest.mark.parametrize("name", sorted(SMALL))
def test_config_round_trip(name):
    check_config_round_trip(SMALL[name]())


@pytest.mark.system
def test_resnet1202_loads_clones_and_rebuilds_at_the_default_recursion_limit(tmp_path):
    # Keras maps a functional graph one frame per layer call: ~4,200 here, far over the default.
    from model_checks import build  # The net the shape and parameter tests build.

    model = build("resnet1202")
    assert sys.getrecursionlimit() < len(model.layers)
    x, expected = run_inference(model)
    rebuilt = type(model).from_config(model.get_config())
    clone = keras.models.clone_model(model)
    model.save(tmp_path / "resnet1202.keras")
    loaded = keras.saving.load_model(tmp_path / "resnet1202.keras", safe_mode=True)
    assert sys.getrecursionlimit() < len(model.layers)
    for other in (rebuilt, clone, loaded):
        assert isinstance(other, keras_resnet.Network)
        assert [layer.name for layer in other.layers] == [layer.name for layer in model.layers]
    np.testing.assert_array_equal(np.asarray(loaded(x, training=False)), expected)


def test_no_lambda_layers_anywhere():
    for name in ("resnet20", "highway20", "resnet18", "highway18", "plain18"):
        model = keras_resnet.MODELS[name]()
        assert not any(isinstance(layer, keras.layers.Lambda) for layer in model.layers)


@pytest.mark.parametrize("name", ["resnet_a", "highway_a", "bottleneck_b_v1_5"])
def test_one_tiny_fit_lowers_the_loss(name):
    check_fit_lowers_loss(SMALL[name]())


def test_kernel_regularizer_adds_the_coupled_l2_loss():
    model = SMALL["basic_c_regularized"]()
    kernels = [layer.kernel for layer in model.layers if hasattr(layer, "kernel")]
    expected = 5e-5 * sum(float(np.sum(np.square(np.asarray(k)))) for k in kernels)
    assert len(model.losses) == len(kernels)
    assert float(sum(np.asarray(loss) for loss in model.losses)) == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("policy, compute", [("mixed_bfloat16", "bfloat16"), ("mixed_float16", "float16")])
def test_mixed_precision_computes_low_and_returns_float32(policy, compute, dtype_policy):
    dtype_policy(policy)
    # Small: float16 convolutions are slow on CPU.
    model = keras_resnet.build_network("cifar", 8, kind="highway", input_shape=(8, 8, 3))
    assert model.get_layer("conv2_block1_1_conv").compute_dtype == compute
    assert model.get_layer("conv2_block1_1_conv").kernel.dtype == "float32"
    assert model.get_layer("conv2_block1_highway").compute_dtype == compute
    assert model.get_layer("predictions").compute_dtype == "float32"
    _, probabilities = run_inference(model)
    assert probabilities.dtype == np.float32
    np.testing.assert_allclose(probabilities.sum(axis=-1), 1.0, rtol=1e-5)
    check_fit_lowers_loss(model)


def test_weights_file_loads_into_the_same_network(tmp_path):
    source = keras_resnet.ResNet20(input_shape=(16, 16, 3), classes=4)
    path = tmp_path / "resnet20.weights.h5"
    source.save_weights(path)
    x, expected = run_inference(source)
    loaded = keras_resnet.ResNet20(input_shape=(16, 16, 3), classes=4, weights=str(path))
    np.testing.assert_array_equal(np.asarray(loaded(x, training=False)), expected)


def test_weights_file_of_another_shape_is_a_clear_error(tmp_path):
    path = tmp_path / "resnet20.weights.h5"
    keras_resnet.ResNet20(input_shape=(16, 16, 3), classes=4).save_weights(path)
    with pytest.raises(ValueError, match=r"does not fit resnet20 built with input_shape=\(16, 16, 1\), classes=4"):
        keras_resnet.ResNet20(input_shape=(16, 16, 1), classes=4, weights=str(path))
