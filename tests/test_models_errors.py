"""Bad input: one `ValueError` that names the value received and what would be accepted."""

import keras
import pytest

import keras_resnet


@pytest.mark.parametrize(
    "call, message",
    [
        (
            lambda: keras_resnet.ResNet34(shortcut="D"),
            r"`shortcut` must be one of 'A', 'B', 'C'. Received: shortcut='D'",
        ),
        (lambda: keras_resnet.build_network("cifar", 21), r"CIFAR depth must be 6n\+2 .* Received: depth=21"),
        (lambda: keras_resnet.build_network("cifar", 2), r"CIFAR depth must be 6n\+2 .* Received: depth=2"),
        (
            lambda: keras_resnet.build_network("imagenet", 42),
            r"ImageNet depth must be one of \[18, 34, 50, 101, 152\] .* Received: depth=42",
        ),
        (
            lambda: keras_resnet.build_network("mnist", 20),
            r"`family` must be one of 'imagenet', 'cifar'. Received: family='mnist'",
        ),
        (
            lambda: keras_resnet.build_network("cifar", 20, stages=(1, 1, 1)),
            r"Give exactly one of `depth` and `stages`. Received: depth=20, stages=\(1, 1, 1\)",
        ),
        (
            lambda: keras_resnet.build_network("cifar", stages=(1, 0), widths=(4, 8)),
            r"positive integers. Received: stages=\(1, 0\), widths=\(4, 8\)",
        ),
        (
            lambda: keras_resnet.build_network("cifar", stages=(1,), block="wide"),
            r"`block` must be one of 'basic', 'bottleneck'. Received: block='wide'",
        ),
        (
            lambda: keras_resnet.build_network("cifar", 20, kind="dense"),
            r"`kind` must be one of 'residual', 'plain', 'highway'. Received: kind='dense'",
        ),
        (lambda: keras_resnet.ResNet20(classes=0), r"`classes` must be an integer of at least 1. Received: classes=0"),
        (lambda: keras_resnet.ResNet50(classes=10.5), r"Received: classes=10.5"),
        (
            lambda: keras_resnet.ResNet50(weights="missing.weights.h5"),
            r"^weights='missing.weights.h5': no such file; `weights` must be None, 'imagenet', .* or the path of a weights file$",
        ),
        (
            lambda: keras_resnet.ResNet18(input_shape=(16, 16, 3)),
            r"height and width None or at least 32, .* Received: input_shape=\(16, 16, 3\)",
        ),
        (lambda: keras_resnet.ResNet20(input_shape=(3, 32, 32)), r"at least 4, .* Received: input_shape=\(3, 32, 32\)"),
        (
            lambda: keras_resnet.ResNet20(input_shape=(32, 32)),
            r"`input_shape` must be \(height, width, channels\).* Received: input_shape=\(32, 32\)",
        ),
        (
            lambda: keras_resnet.ResNet20(input_shape=(32, 32, None)),
            r"known channels .* Received: input_shape=\(32, 32, None\)",
        ),
        (
            lambda: keras_resnet.ResNet20(include_top=False, pooling="sum"),
            r"`pooling` must be one of None, 'avg', 'max'. Received: pooling='sum'",
        ),
        (
            lambda: keras_resnet.ResNet20(include_top="yes"),
            r"`include_top` must be True or False. Received: include_top='yes'",
        ),
        (
            lambda: keras_resnet.PlainNet20(shortcut="A"),
            r"Plain nets have no shortcuts; leave `shortcut` unset. Received: shortcut='A'",
        ),
        (
            lambda: keras_resnet.ResNet50(bottleneck_stride="7x7"),
            r"`bottleneck_stride` must be one of '1x1', '3x3'. Received: bottleneck_stride='7x7'",
        ),
        (
            lambda: keras_resnet.ResNet20(input_tensor=keras.Input((32, 32, 3)), input_shape=(28, 28, 1)),
            r"`input_shape` disagrees with `input_tensor`'s shape \(32, 32, 3\). Received: input_shape=\(28, 28, 1\)",
        ),
        (
            lambda: keras_resnet.ZeroPadShortcut(filters=4)(keras.Input((8, 8, 16))),
            r"cannot shrink 16 channels to filters=4",
        ),
    ],
)
def test_bad_input_raises_one_clear_value_error(call, message):
    with pytest.raises(ValueError, match=message) as raised:
        call()
    assert "\n" not in str(raised.value)


def test_input_tensor_becomes_the_model_input():
    inputs = keras.Input((28, 28, 1))
    model = keras_resnet.ResNet20(input_tensor=inputs, classes=5)
    assert model.inputs[0] is inputs
    assert model.output_shape == (None, 5)
