"""`weights=` files of another net are one line, never a silent load; a net's own file loads back
exactly. Offline: every file is written here, from tiny nets or randomised published layouts."""

import keras
import numpy as np
import pytest
from published_files import SIZE, torchvision_state_dict
from safetensors.numpy import save_file

import keras_resnet
from keras_resnet.errors import RecipeError
from keras_resnet.imagenet.finetune import check_weights

PAPER = "the paper's layout (stride 2 in the first 1×1 convolution)"
V15 = "the v1.5 layout (stride 2 in the 3×3 convolution)"


def logits(model, seed=1):
    images = np.random.default_rng(seed).uniform(0, 255, (2,) + tuple(model.input_shape[1:])).astype("float32")
    return keras.ops.convert_to_numpy(model(images, training=False))


def layout_line(path, held, asked):
    layouts = {"1x1": PAPER, "3x3": V15}
    return (
        f"{path} holds a ResNet in {layouts[held]}, not {layouts[asked]}: build the net with "
        f"bottleneck_stride={held!r} to load it. Received: bottleneck_stride={asked!r}"
    )


def test_torchvision_resnet50_file_is_refused_by_the_papers_layout(torchvision_resnet50_file):
    path = str(torchvision_resnet50_file)
    with pytest.raises(ValueError) as error:
        keras_resnet.ResNet50(weights=path, input_shape=(SIZE, SIZE, 3))
    assert str(error.value) == layout_line(path, "3x3", "1x1")
    # The ImageNet recipe checks its flags with the same line, before it writes anything.
    with pytest.raises(RecipeError) as error:
        check_weights("resnet50", path)
    assert str(error.value) == f"--init_weights={path}: {layout_line(path, '3x3', '1x1')}"


def test_keras_applications_resnet50_file_is_refused_by_the_v15_layout(msra_resnet50):
    path = str(msra_resnet50[2] / "top.h5")
    with pytest.raises(ValueError) as error:
        keras_resnet.ResNet50(weights=path, bottleneck_stride="3x3", input_shape=(SIZE, SIZE, 3))
    assert str(error.value) == layout_line(path, "1x1", "3x3")


@pytest.mark.parametrize("suffix", [".weights.h5", ".keras"])
def test_a_nets_own_file_of_the_other_layout_is_refused(tmp_path, suffix):
    options = dict(stages=(1, 1, 1, 1), block="bottleneck", input_shape=(SIZE, SIZE, 3))
    source = keras_resnet.build_network("imagenet", bottleneck_stride="3x3", **options)
    path = str(tmp_path / f"v15{suffix}")
    source.save_weights(path) if suffix == ".weights.h5" else source.save(path)
    with pytest.raises(ValueError) as error:
        keras_resnet.build_network("imagenet", weights=path, **options)
    assert str(error.value) == layout_line(path, "3x3", "1x1")


@pytest.fixture(scope="module")
def torchvision_resnet18(tmp_path_factory):
    """A published-layout ResNet-18 file and the net built from it (its preprocessing inside)."""
    path = tmp_path_factory.mktemp("tv18") / "resnet18.safetensors"
    save_file(torchvision_state_dict(18, np.random.default_rng(18)), str(path))
    model = keras_resnet.ResNet18(weights=str(path), input_shape=(SIZE, SIZE, 3), classifier_activation=None)
    return path, model


@pytest.mark.parametrize("suffix", [".weights.h5", ".keras"])
def test_a_pretrained_nets_own_file_loads_back_with_its_preprocessing(torchvision_resnet18, tmp_path, suffix):
    _, model = torchvision_resnet18
    path = str(tmp_path / f"mine{suffix}")
    model.save_weights(path) if suffix == ".weights.h5" else model.save(path)
    again = keras_resnet.ResNet18(weights=path, input_shape=(SIZE, SIZE, 3), classifier_activation=None)
    assert [layer.name for layer in again.layers] == [layer.name for layer in model.layers]
    np.testing.assert_array_equal(logits(again), logits(model))


@pytest.mark.parametrize("writer", ["keras_resnet", "keras"])
def test_sharded_weights_round_trip_with_their_preprocessing_or_are_refused(torchvision_resnet18, tmp_path, writer):
    """`save_weights(..., max_shard_size=…)` writes an index and its shards: the index records the
    net as a single file does, so it loads back whole; Keras' own writer records nothing and is
    refused, as its single files are."""
    _, model = torchvision_resnet18
    path = str(tmp_path / "mine.weights.json")
    save = model.save_weights if writer == "keras_resnet" else lambda *a, **k: keras.Model.save_weights(model, *a, **k)
    save(path, max_shard_size=0.01)
    assert len(list(tmp_path.glob("mine_*.weights.h5"))) > 1
    if writer == "keras":
        with pytest.raises(ValueError, match="does not record its values"):
            keras_resnet.ResNet18(weights=path, input_shape=(SIZE, SIZE, 3), classifier_activation=None)
        return
    again = keras_resnet.ResNet18(weights=path, input_shape=(SIZE, SIZE, 3), classifier_activation=None)
    assert [layer.name for layer in again.layers] == [layer.name for layer in model.layers]
    np.testing.assert_array_equal(logits(again), logits(model))
    with pytest.raises(ValueError, match="saved from another net"):
        keras_resnet.ResNet34(weights=path, input_shape=(SIZE, SIZE, 3))


def test_an_own_file_loads_into_the_bare_net_fed_by_preprocess_input(torchvision_resnet18, tmp_path):
    published, model = torchvision_resnet18
    path = str(tmp_path / "mine.weights.h5")
    model.save_weights(path)
    bare = keras_resnet.ResNet18(
        weights=path, include_preprocessing=False, input_shape=(SIZE, SIZE, 3), classifier_activation=None
    )
    images = np.random.default_rng(2).uniform(0, 255, (2, SIZE, SIZE, 3)).astype("float32")
    ours = keras.ops.convert_to_numpy(bare(keras_resnet.preprocess_input(images, weights=str(published))))
    np.testing.assert_allclose(ours, keras.ops.convert_to_numpy(model(images)), rtol=1e-5, atol=1e-5)


def test_a_file_that_does_not_record_its_preprocessing_is_refused(torchvision_resnet18, tmp_path):
    _, model = torchvision_resnet18
    path = str(tmp_path / "plain_keras.weights.h5")
    keras.Model.save_weights(model, path)  # Keras' own writer, as files of earlier versions were written.
    with pytest.raises(ValueError) as error:
        keras_resnet.ResNet18(weights=path, input_shape=(SIZE, SIZE, 3))
    assert str(error.value) == (
        f"{path} holds a net with a `preprocessing` layer but does not record its values (it was written by "
        "keras.Model.save_weights, or by an older keras_resnet): build the net with include_preprocessing=False and "
        "feed it keras_resnet.preprocess_input(images, weights=<its source>). Received: include_preprocessing=True"
    )


def _cifar(kind="residual", **options):
    return keras_resnet.build_network("cifar", stages=(1, 1, 1), kind=kind, input_shape=(16, 16, 3), **options)


@pytest.mark.parametrize(
    "source_kind, kind, extra, missing",
    [
        (
            "plain",
            "residual",
            "0 of its layers are not in this net (-)",
            "5 of this net's are not in the file (conv2_block1_add, conv3_block1_0_shortcut, conv3_block1_add, …)",
        ),
        (
            "residual",
            "plain",
            "5 of its layers are not in this net (conv2_block1_add, conv3_block1_0_shortcut, conv3_block1_add, …)",
            "0 of this net's are not in the file (-)",
        ),
    ],
    ids=["plain_file_into_residual", "residual_file_into_plain"],
)
def test_a_file_of_the_twin_net_with_the_same_weight_shapes_is_refused(tmp_path, source_kind, kind, extra, missing):
    path = str(tmp_path / f"{source_kind}.weights.h5")
    _cifar(source_kind).save_weights(path)
    with pytest.raises(ValueError) as error:
        _cifar(kind, weights=path)
    name = {"plain": "plain8", "residual": "resnet8"}[kind]
    assert str(error.value) == f"{path} was saved from another net than this {name}: {extra} and {missing}"


def test_a_file_of_another_class_count_or_without_a_classifier_is_refused(tmp_path):
    ten, body = str(tmp_path / "ten.weights.h5"), str(tmp_path / "body.weights.h5")
    _cifar(classes=10).save_weights(ten)
    _cifar(include_top=False).save_weights(body)
    with pytest.raises(ValueError) as error:
        _cifar(weights=ten, classes=5)
    assert str(error.value) == (
        f"{ten} holds a 10-class classifier: build the net with classes=10, or with "
        "include_top=False for its body alone. Received: classes=5"
    )
    with pytest.raises(ValueError) as error:
        _cifar(weights=body)
    assert str(error.value) == (
        f"{body} holds no classifier (it was saved with include_top=False): build the net "
        "with include_top=False. Received: include_top=True"
    )


def test_a_published_file_of_another_class_count_loads_with_that_count(tmp_path):
    state = torchvision_state_dict(18, np.random.default_rng(10), classes=10)
    path = str(tmp_path / "ten.safetensors")
    save_file(state, path)
    model = keras_resnet.ResNet18(weights=path, classes=10, input_shape=(SIZE, SIZE, 3))
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(model.get_layer("predictions").kernel), state["fc.weight"].T
    )
    with pytest.raises(ValueError) as error:
        keras_resnet.ResNet18(weights=path, input_shape=(SIZE, SIZE, 3))
    assert str(error.value) == (
        f"{path} holds a 10-class classifier: build the net with classes=10, or with "
        "include_top=False for its body alone. Received: classes=1000"
    )


@pytest.mark.parametrize(
    "shape, line",
    [
        ((1, 2, 2, 4), "preprocess_input takes RGB images, shape (..., 3). Received: shape (1, 2, 2, 4)"),
        (
            (1, 2, 2, 1),
            "preprocess_input takes RGB images, shape (..., 3); repeat a grayscale image over 3 channels "
            "first. Received: shape (1, 2, 2, 1)",
        ),
    ],
    ids=["four_channels", "grayscale"],
)
def test_preprocess_input_of_images_that_are_not_rgb_is_one_line(shape, line):
    with pytest.raises(ValueError) as error:
        keras_resnet.preprocess_input(np.zeros(shape, "float32"), weights="msra")
    assert str(error.value) == line
