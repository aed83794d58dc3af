"""`keras_resnet.flops` against the paper's Table 1 and an independent count."""

import pytest
from model_checks import build, deepest_system

import keras_resnet

# Table 1, multiply-adds ×10⁹ at 224×224, and the ×4 widths of each stage.
TABLE_1_GFLOPS = {18: 1.8, 34: 3.6, 50: 3.8, 101: 7.6, 152: 11.3}
# torchvision's published GFLOPS of its "v1.5" models (stride in the 3×3 conv).
TORCHVISION_V1_5_GFLOPS = {50: 4.09, 101: 7.80, 152: 11.51}
STAGES = {18: (2, 2, 2, 2), 34: (3, 4, 6, 3), 50: (3, 4, 6, 3), 101: (3, 4, 23, 3), 152: (3, 8, 36, 3)}


def hand_count(depth, shortcut="B", stride_in_3x3=False, size=224):
    """Multiply-adds of Table 1's net by hand: conv layers (k·k·c_in·c_out per output pixel) + fc."""
    bottleneck = depth >= 50
    side = size // 4  # 7×7 stride-2 conv, then 3×3 stride-2 max pool
    macs = (size // 2) ** 2 * 7 * 7 * 3 * 64
    c_in = 64
    for stage, (blocks, width) in enumerate(zip(STAGES[depth], (64, 128, 256, 512))):
        for b in range(blocks):
            stride = 2 if b == 0 and stage > 0 else 1
            out_side = side // stride
            c_out = width * 4 if bottleneck else width
            if bottleneck:
                first_side = side if stride_in_3x3 else out_side
                macs += first_side**2 * c_in * width + out_side**2 * (9 * width * width + width * c_out)
            else:
                macs += out_side**2 * 9 * width * (c_in + width)
            if shortcut == "C" or (shortcut == "B" and (c_in != c_out or stride != 1)):
                macs += out_side**2 * c_in * c_out
            c_in, side = c_out, out_side
    return macs + c_in * 1000


@pytest.mark.parametrize("depth", deepest_system(sorted(TABLE_1_GFLOPS)))
@pytest.mark.parametrize("shortcut", ["A", "B"])
def test_flops_equal_hand_count(depth, shortcut):
    assert keras_resnet.flops(build(f"resnet{depth}", shortcut=shortcut)) == hand_count(depth, shortcut)


@pytest.mark.parametrize("depth", deepest_system(sorted(TABLE_1_GFLOPS)))
def test_flops_match_table_1(depth):
    # Table 1 prints two significant figures. 18, 101 and 152 agree within 1%; the exact counts
    # of 34 (3.66e9, or 3.64e9 for the plain/option-A baseline the paper calls "3.6 billion")
    # and 50 (3.86e9) lie 1-2% above the printed figure, as in every reimplementation.
    tolerance = 0.01 if depth in (18, 101, 152) else 0.02
    flops = keras_resnet.flops(build(f"resnet{depth}"))
    assert flops / 1e9 == pytest.approx(TABLE_1_GFLOPS[depth], rel=tolerance)


def test_plain_34_is_the_papers_3_6_billion_flops_baseline():
    assert round(keras_resnet.flops(build("plain34")) / 1e9, 1) == 3.6


@pytest.mark.parametrize("depth", deepest_system(sorted(TORCHVISION_V1_5_GFLOPS)))
def test_flops_of_the_3x3_stride_option_match_v1_5(depth):
    flops = keras_resnet.flops(build(f"resnet{depth}", bottleneck_stride="3x3"))
    assert flops == hand_count(depth, stride_in_3x3=True)
    assert flops / 1e9 == pytest.approx(TORCHVISION_V1_5_GFLOPS[depth], rel=0.01)


def test_flops_scale_with_the_input_size():
    # At twice the side every conv output has 4× the pixels; only the fc layer stays.
    base = keras_resnet.flops(build("resnet18"))
    double = keras_resnet.flops(build("resnet18", input_shape=(448, 448, 3)))
    assert double - 512 * 1000 == 4 * (base - 512 * 1000)


def test_flops_needs_a_fixed_input_size():
    model = keras_resnet.ResNet20(input_shape=(None, None, 3))
    with pytest.raises(ValueError, match="needs a fixed input size"):
        keras_resnet.flops(model)
