"""Parameter counts: the paper's (and torchvision's) numbers, and an independent layer arithmetic."""

import pytest
from model_checks import build, deepest_system, trainable_params

import keras_resnet

# PAPER.md, Table 1: trainable weights of option B with no conv biases (torchvision's counts).
IMAGENET_OPTION_B = {
    18: 11_689_512,
    34: 21_797_672,
    50: 25_557_032,
    101: 44_549_160,
    152: 60_192_808,
}
# Table 6: parameters of the CIFAR ResNets (option A), as the paper rounds them.
TABLE_6_MILLIONS = {20: 0.27, 32: 0.46, 44: 0.66, 56: 0.85, 110: 1.7, 1202: 19.4}


def cifar_option_a_params(depth, channels=3, classes=10):
    """Counts ResNet-(6n+2) weights from Sec. 4.2 by hand: 3×3 convs, BN (γ, β), fc with bias."""
    n = (depth - 2) // 6
    total = 3 * 3 * channels * 16 + 2 * 16  # stem conv + BN
    previous = 16
    for width in (16, 32, 64):
        for _ in range(n):
            total += 3 * 3 * previous * width + 2 * width  # first conv + BN
            total += 3 * 3 * width * width + 2 * width  # second conv + BN
            previous = width  # option A: the shortcut has no weights
    return total + 64 * classes + classes


@pytest.mark.parametrize("depth", deepest_system(sorted(IMAGENET_OPTION_B)))
def test_imagenet_option_b_params_equal_table_1_counts(depth):
    model = build(f"resnet{depth}", shortcut="B")
    assert trainable_params(model) == IMAGENET_OPTION_B[depth]


@pytest.mark.parametrize("depth", deepest_system(sorted(TABLE_6_MILLIONS)))
def test_cifar_params_equal_hand_count_and_round_to_table_6(depth):
    count = trainable_params(build(f"resnet{depth}"))
    assert count == cifar_option_a_params(depth)
    digits = 1 if depth >= 110 else 2
    assert round(count / 1e6, digits) == TABLE_6_MILLIONS[depth]


def test_cifar_params_follow_the_input_channels_and_classes():
    model = keras_resnet.ResNet20(input_shape=(28, 28, 1), classes=7)
    assert trainable_params(model) == cifar_option_a_params(20, channels=1, classes=7)


@pytest.mark.parametrize("depth", deepest_system(sorted(IMAGENET_OPTION_B)))
def test_imagenet_shortcut_options_order_a_b_c_and_plain_equals_a(depth):
    a, b, c = (trainable_params(build(f"resnet{depth}", shortcut=s)) for s in "ABC")
    assert a < b < c
    assert trainable_params(build(f"plain{depth}")) == a


def test_option_b_adds_exactly_the_three_projections_of_resnet34():
    # Table 1: projections (1×1 conv + BN) at conv3_1, conv4_1 and conv5_1 only.
    projections = sum(c_in * c_out + 2 * c_out for c_in, c_out in ((64, 128), (128, 256), (256, 512)))
    assert (
        trainable_params(build("resnet34", shortcut="B")) - trainable_params(build("resnet34", shortcut="A"))
        == projections
    )


@pytest.mark.parametrize("depth", [20, 56])
def test_cifar_plain_net_equals_option_a_count(depth):
    assert trainable_params(build(f"plain{depth}")) == cifar_option_a_params(depth)


def test_bottleneck_stride_placement_keeps_parameter_count():
    v1 = trainable_params(build("resnet50"))
    v1_5 = trainable_params(build("resnet50", bottleneck_stride="3x3"))
    assert v1 == v1_5 == IMAGENET_OPTION_B[50]


def test_highway_gate_adds_one_biased_conv_per_block():
    # Each of ResNet-20's 9 blocks gets a 3×3 gate conv with bias on its input channels.
    gates = 0
    previous = 16
    for width in (16, 32, 64):
        for _ in range(3):
            gates += 3 * 3 * previous * width + width
            previous = width
    assert trainable_params(build("highway20")) == cifar_option_a_params(20) + gates
