"""Fig. 7's layer responses: the statistic against a hand computation, the layers chosen, the plot."""

import numpy as np
import pytest
from model_checks import to_numpy

import keras_resnet


def _tiny_net_with_random_bn(seed=0):
    net = keras_resnet.build_network("cifar", stages=(1, 1, 1), widths=(3, 4, 4), input_shape=(6, 6, 2))
    rng = np.random.default_rng(seed)
    for layer in net.layers:
        if layer.name.endswith("_bn"):
            channels = layer.gamma.shape[0]
            # γ, β, moving mean, moving variance far from their initial 1, 0, 0, 1.
            layer.set_weights(
                [
                    rng.uniform(0.2, 3.0, channels),
                    rng.normal(0, 2, channels),
                    rng.normal(0, 1, channels),
                    rng.uniform(0.5, 2.0, channels),
                ]
            )
    return net


def _conv3x3_same(x, kernel):
    padded = np.pad(x, [(0, 0), (1, 1), (1, 1), (0, 0)])
    height, width = x.shape[1:3]
    return sum(
        np.einsum("nhwc,co->nhwo", padded[:, a : a + height, b : b + width, :], kernel[a, b])
        for a in range(3)
        for b in range(3)
    )


def _bn(y, layer):
    gamma, beta, mean, variance = (to_numpy(w).astype("float64") for w in layer.weights)
    return gamma * (y - mean) / np.sqrt(variance + layer.epsilon) + beta


def test_layer_responses_equal_a_hand_computation():
    net = _tiny_net_with_random_bn()
    x = np.random.default_rng(1).normal(size=(7, 6, 6, 2))
    # The stem and the first unit's branch by hand: conv (3×3, same, no bias) → BN (inference) → ReLU.
    expected, h = {}, x
    for name in ("conv1", "conv2_block1_1", "conv2_block1_2"):
        kernel = to_numpy(net.get_layer(f"{name}_conv").kernel).astype("float64")
        response = _bn(_conv3x3_same(h, kernel), net.get_layer(f"{name}_bn"))
        # The paper's statistic as defined here: each channel's std over images and positions,
        # averaged over channels.
        expected[f"{name}_bn"] = np.mean([np.std(response[..., c]) for c in range(response.shape[-1])])
        h = np.maximum(response, 0)
    # Batches of 3 over 7 images: the per-batch moments are merged, not averaged.
    measured = keras_resnet.layer_responses(net, x.astype("float32"), batch_size=3)
    assert list(measured) == [
        "conv1_bn",
        "conv2_block1_1_bn",
        "conv2_block1_2_bn",
        "conv3_block1_1_bn",
        "conv3_block1_2_bn",
        "conv4_block1_1_bn",
        "conv4_block1_2_bn",
    ]
    for name, value in expected.items():
        assert measured[name] == pytest.approx(value, rel=1e-5), name


def test_a_dataset_of_image_label_batches_gives_the_same_figures():
    net = _tiny_net_with_random_bn(seed=2)
    x = np.random.default_rng(3).normal(size=(10, 6, 6, 2)).astype("float32")
    batches = [(x[:4], np.zeros(4)), (x[4:], np.zeros(6))]
    from_array = keras_resnet.layer_responses(net, x, batch_size=10)
    from_batches = keras_resnet.layer_responses(net, batches)
    assert from_batches == pytest.approx(from_array, rel=1e-6)


def test_the_3x3_layers_of_every_block_type():
    bottleneck = keras_resnet.build_network(
        "imagenet", stages=(1, 1), block="bottleneck", widths=(4, 4), input_shape=(64, 64, 3)
    )
    assert keras_resnet.response_layers(bottleneck) == ["conv2_block1_2_bn", "conv3_block1_2_bn"]
    basic_c = keras_resnet.build_network(
        "imagenet", stages=(1, 1), widths=(4, 4), shortcut="C", input_shape=(64, 64, 3)
    )
    # Not the 7×7 stem, nor the 1×1 projections (`_0_bn`).
    assert keras_resnet.response_layers(basic_c) == [
        "conv2_block1_1_bn",
        "conv2_block1_2_bn",
        "conv3_block1_1_bn",
        "conv3_block1_2_bn",
    ]
    highway = keras_resnet.build_network("cifar", stages=(1, 1, 1), kind="highway")
    assert len(keras_resnet.response_layers(highway)) == 7  # the gates' 3×3 convs have no BN
    with pytest.raises(ValueError, match="Received: model='mlp'"):
        import keras

        keras_resnet.response_layers(keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)], name="mlp"))


def test_claims_follow_the_mean_stds():
    from keras_resnet.cifar import degradation

    claims = degradation.response_claims(
        {"plain20": 1.0, "plain56": 2.0, "resnet20": 1.5, "resnet56": 0.5, "resnet110": 0.7}
    )
    assert [claim.split("; here ")[1] for claim in claims] == [
        "resnet20's mean std is 1.500 and plain20's 1.000: the claim does not hold in this run.",
        "resnet56's mean std is 0.500 and plain56's 2.000: the claim holds in this run.",
        "resnet110's mean std is 0.700 and resnet20's 1.500: the claim holds in this run.",
    ]
    assert all(claim.startswith("Fig. 7: the paper finds ") for claim in claims)
