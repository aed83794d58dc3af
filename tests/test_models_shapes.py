"""Output shapes of every registered constructor (symbolic builds only: nothing runs)."""

import pytest
from model_checks import build, check_stage_outputs, deepest_system

import keras_resnet

IMAGENET = {name for name, entry in keras_resnet.MODELS.items() if entry.family == "imagenet"}
CIFAR = {name for name, entry in keras_resnet.MODELS.items() if entry.family == "cifar"}
# Table 1's blocks per stage, and Sec. 4.2's n of 6n+2.
TABLE1 = {18: (2, 2, 2, 2), 34: (3, 4, 6, 3), 50: (3, 4, 6, 3), 101: (3, 4, 23, 3), 152: (3, 8, 36, 3)}


def test_registry_holds_every_network_the_paper_compares_and_says_what_each_is():
    nets = {("imagenet", "residual", d) for d in (18, 34, 50, 101, 152)} | {
        ("imagenet", "plain", d) for d in (18, 34, 50, 101, 152)
    }
    nets |= {("imagenet", "highway", d) for d in (18, 34)}
    nets |= {("cifar", "residual", d) for d in (20, 32, 44, 56, 110, 1202)} | {
        ("cifar", "plain", d) for d in (20, 32, 44, 56, 110)
    }
    nets |= {("cifar", "highway", d) for d in (20, 32, 44, 56, 110)}
    titles = {"residual": ("resnet", "ResNet"), "plain": ("plain", "PlainNet"), "highway": ("highway", "HighwayNet")}
    assert sorted((e.family, e.kind, e.depth) for e in keras_resnet.MODELS.values()) == sorted(nets)
    for name, entry in keras_resnet.MODELS.items():
        prefix, title = titles[entry.kind]
        assert name == entry.name == f"{prefix}{entry.depth}"
        assert (
            entry.constructor.__name__ == f"{title}{entry.depth}"
            and getattr(keras_resnet, f"{title}{entry.depth}") is entry.constructor
        )
        stages = TABLE1[entry.depth] if entry.family == "imagenet" else ((entry.depth - 2) // 6,) * 3
        assert entry.architecture.stages == stages
        assert entry.architecture.block == (
            "bottleneck" if entry.family == "imagenet" and entry.depth >= 50 else "basic"
        )


@pytest.mark.parametrize("name", deepest_system(sorted(IMAGENET)))
def test_imagenet_output_shapes(name):
    model = build(name)
    assert isinstance(model, keras_resnet.Network)
    assert model.input_shape == (None, 224, 224, 3)
    assert model.output_shape == (None, 1000)
    assert model.name == name
    bottleneck = keras_resnet.MODELS[name].architecture.block == "bottleneck"
    features = build(name, include_top=False)
    assert features.output_shape == (None, 7, 7, 2048 if bottleneck else 512)
    # Table 1: conv2 … conv5 at 56, 28, 14, 7 (strides 4 … 32), 64 … 512 filters (×4 out of a bottleneck).
    check_stage_outputs(
        features,
        {"conv2": 4, "conv3": 8, "conv4": 16, "conv5": 32},
        [w * (4 if bottleneck else 1) for w in (64, 128, 256, 512)],
    )


@pytest.mark.parametrize("name", deepest_system(sorted(CIFAR)))
def test_cifar_output_shapes(name):
    assert isinstance(build(name), keras_resnet.Network)
    assert build(name).output_shape == (None, 10)
    features = build(name, include_top=False, input_shape=(28, 28, 1))
    assert features.output_shape == (None, 7, 7, 64)
    # Sec. 4.2: maps of 32, 16, 8 on a 32×32 input (strides 1, 2, 4) with 16, 32, 64 filters.
    check_stage_outputs(features, {"conv2": 1, "conv3": 2, "conv4": 4}, [16, 32, 64])


@pytest.mark.parametrize(
    "input_shape, expected",
    [((32, 32, 3), (None, 1, 1, 512)), ((100, 60, 3), (None, 4, 2, 512)), ((None, None, 3), (None, None, None, 512))],
)
def test_any_input_that_survives_the_downsampling(input_shape, expected):
    # Every stride-2 layer gives ceil(side / 2): 100 → 50 → 25 → 13 → 7 → 4.
    model = keras_resnet.ResNet18(include_top=False, input_shape=input_shape)
    assert model.output_shape == expected


@pytest.mark.parametrize("pooling, shape", [("avg", (None, 64)), ("max", (None, 64)), (None, (None, 8, 8, 64))])
def test_pooling_without_top(pooling, shape):
    assert keras_resnet.ResNet20(include_top=False, pooling=pooling).output_shape == shape


def test_classes_and_stage_names_follow_keras_applications():
    model = keras_resnet.ResNet50(classes=5)
    names = {layer.name for layer in model.layers}
    assert model.output_shape == (None, 5)
    assert {
        "conv1_conv",
        "pool1_pool",
        "conv2_block1_0_conv",
        "conv2_block1_1_conv",
        "conv2_block1_3_bn",
        "conv2_block1_add",
        "conv2_block1_out",
        "conv5_block3_out",
        "avg_pool",
        "predictions",
    } <= names
    # keras.applications' ResNet50 has the same blocks: conv2_block1 … conv5_block3.
    blocks = sorted(n[: -len("_out")] for n in names if n.endswith("_out"))
    assert blocks == sorted(
        f"conv{stage}_block{b}" for stage, n in zip(range(2, 6), (3, 4, 6, 3)) for b in range(1, n + 1)
    )


def test_bottleneck_stride_placement():
    v1 = build("resnet50")
    v1_5 = build("resnet50", bottleneck_stride="3x3")
    assert v1.get_layer("conv3_block1_1_conv").strides == (2, 2)
    assert v1.get_layer("conv3_block1_2_conv").strides == (1, 1)
    assert v1_5.get_layer("conv3_block1_1_conv").strides == (1, 1)
    assert v1_5.get_layer("conv3_block1_2_conv").strides == (2, 2)


def test_custom_stage_lists_and_depths():
    model = keras_resnet.build_network(
        "imagenet", stages=(1, 1), block="bottleneck", widths=(8, 16), input_shape=(64, 64, 3), include_top=False
    )
    assert model.name == "resnet8"
    assert model.output_shape == (None, 8, 8, 64)
    assert keras_resnet.build_network("cifar", 14, kind="plain").name == "plain14"
