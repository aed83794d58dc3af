"""Published weights: parity with keras.applications, the torchvision key map, the registry,
downloads and every bad `weights=` value. Offline: the files are written here."""

import hashlib
import pathlib
import re

import keras
import numpy as np
import pytest
from published_files import SIZE, randomise, torchvision_state_dict, write_keras_applications_h5
from safetensors.numpy import save_file

import keras_resnet
from keras_resnet.pretrained import download, registry

PRETRAINED_DOC = (pathlib.Path(__file__).parents[1] / "docs" / "pretrained.md").read_text()


def numpy(x):
    return keras.ops.convert_to_numpy(x)


def relative_error(a, b):
    return float(np.abs(a - b).max() / np.abs(a).max())


def rgb_images(n=2, seed=1):
    return np.random.default_rng(seed).uniform(0, 255, (n, SIZE, SIZE, 3)).astype("float32")


def test_msra_file_gives_keras_applications_logits(msra_resnet50):
    reference, _, folder = msra_resnet50
    x = rgb_images()
    expected = numpy(reference(keras.applications.resnet.preprocess_input(x.copy()), training=False))
    model = keras_resnet.ResNet50(
        weights=str(folder / "top.h5"), input_shape=(SIZE, SIZE, 3), classifier_activation=None
    )
    assert model.layers[1].name == "preprocessing"
    assert relative_error(expected, numpy(model(x, training=False))) < 1e-4


def test_msra_notop_file_gives_keras_applications_features(msra_resnet50):
    _, notop, folder = msra_resnet50
    x = rgb_images()
    expected = numpy(notop(keras.applications.resnet.preprocess_input(x.copy()), training=False))
    model = keras_resnet.ResNet50(
        weights=str(folder / "notop.h5"), include_top=False, pooling="avg", input_shape=(SIZE, SIZE, 3)
    )
    assert relative_error(expected, numpy(model(x, training=False))) < 1e-4


@pytest.mark.system  # A 101-layer net built twice.
def test_msra_resnet101_file_gives_keras_applications_logits(tmp_path):
    reference = keras.applications.ResNet101(weights=None, input_shape=(SIZE, SIZE, 3), classifier_activation=None)
    randomise(reference, np.random.default_rng(2))
    write_keras_applications_h5(reference, tmp_path / "r101.h5")
    x = rgb_images(1)
    expected = numpy(reference(keras.applications.resnet.preprocess_input(x.copy()), training=False))
    model = keras_resnet.ResNet101(
        weights=str(tmp_path / "r101.h5"), input_shape=(SIZE, SIZE, 3), classifier_activation=None
    )
    assert relative_error(expected, numpy(model(x, training=False))) < 1e-4


def test_bare_net_with_preprocess_input_equals_the_net_with_its_preprocessing(msra_resnet50):
    _, _, folder = msra_resnet50
    x = rgb_images()
    options = dict(weights=str(folder / "notop.h5"), include_top=False, pooling="avg", input_shape=(SIZE, SIZE, 3))
    inside = keras_resnet.ResNet50(**options)
    bare = keras_resnet.ResNet50(include_preprocessing=False, **options)
    assert "preprocessing" not in [layer.name for layer in bare.layers]
    np.testing.assert_allclose(
        numpy(bare(keras_resnet.preprocess_input(x, weights="msra"))), numpy(inside(x)), rtol=1e-5, atol=1e-4
    )


def test_preprocess_input_is_the_publishers_normalisation():
    x = np.array([[[[10.0, 20.0, 30.0]]]], "float32")
    np.testing.assert_allclose(
        numpy(keras_resnet.preprocess_input(x, weights="msra")),
        [[[[10 - 123.68, 20 - 116.779, 30 - 103.939]]]],
        rtol=1e-6,
    )
    torch_style = (x / 255.0 - np.array([0.485, 0.456, 0.406])) / np.array([0.229, 0.224, 0.225])
    np.testing.assert_allclose(
        numpy(keras_resnet.preprocess_input(x, weights="torchvision_v1")), torch_style, rtol=1e-5
    )


def test_pretrained_model_under_mixed_precision(msra_resnet50, dtype_policy):
    reference, _, folder = msra_resnet50
    x = rgb_images(1)
    expected = numpy(reference(keras.applications.resnet.preprocess_input(x.copy()), training=False))
    dtype_policy("mixed_bfloat16")
    model = keras_resnet.ResNet50(
        weights=str(folder / "top.h5"), input_shape=(SIZE, SIZE, 3), classifier_activation=None
    )
    assert model.get_layer("preprocessing").compute_dtype == "float32"
    logits = numpy(model(x, training=False)).astype("float32")
    assert np.isfinite(logits).all() and relative_error(expected, logits) < 0.1


def test_pretrained_model_saves_and_loads_as_keras_file(msra_resnet50, tmp_path):
    _, _, folder = msra_resnet50
    model = keras_resnet.ResNet50(
        weights=str(folder / "notop.h5"), include_top=False, pooling="avg", input_shape=(SIZE, SIZE, 3)
    )
    model.save(tmp_path / "r50.keras")
    loaded = keras.saving.load_model(tmp_path / "r50.keras", safe_mode=True)
    x = rgb_images(1)
    np.testing.assert_array_equal(numpy(loaded(x)), numpy(model(x)))


def _expected_keras_weight(key, value):
    """Where torchvision's tensor `key` lands, written out from torchvision's module names."""
    if key.endswith(".weight") and value.ndim == 4:
        return value.transpose(2, 3, 1, 0)
    if key == "fc.weight":
        return value.T
    return value


@pytest.mark.parametrize("depth, options", [(18, {}), (50, {"bottleneck_stride": "3x3"})])
def test_torchvision_safetensors_maps_every_tensor_exactly_once(tmp_path, depth, options):
    state = torchvision_state_dict(depth, np.random.default_rng(depth))
    save_file(state, str(tmp_path / "model.safetensors"))
    model = keras_resnet.MODELS[f"resnet{depth}"](
        weights=str(tmp_path / "model.safetensors"), input_shape=(SIZE, SIZE, 3), **options
    )
    variables = [v for layer in model.layers for v in layer.weights]
    values = [numpy(v) for v in variables]
    file_tensors = {k: _expected_keras_weight(k, v) for k, v in state.items() if not k.endswith("num_batches_tracked")}
    assert len(file_tensors) == len(variables)
    for key, expected in file_tensors.items():
        matches = [
            i for i, value in enumerate(values) if value.shape == expected.shape and np.array_equal(value, expected)
        ]
        assert len(matches) == 1, key


def test_registry_hashes_and_urls_are_keras_applications_own():
    from keras.src.applications import resnet as keras_resnet_apps

    for depth in (50, 101, 152):
        entry = registry.WEIGHTS[f"resnet{depth}.msra"]
        top, notop = keras_resnet_apps.WEIGHTS_HASHES[f"resnet{depth}"]
        stem = f"{keras_resnet_apps.BASE_WEIGHTS_PATH}resnet{depth}_weights_tf_dim_ordering_tf_kernels"
        assert (entry.url, entry.file_hash, entry.url_notop, entry.file_hash_notop) == (
            stem + ".h5",
            top,
            stem + "_notop.h5",
            notop,
        )


@pytest.mark.system  # ResNet-152 among them.
def test_registry_parameter_counts_are_the_networks():
    from model_checks import build  # The nets the shape, parameter and FLOP tests build.

    for entry in registry.WEIGHTS.values():
        options = {"bottleneck_stride": entry.bottleneck_stride} if entry.bottleneck_stride else {}
        model = build(entry.model, **options)
        assert keras_resnet.trainable_params(model) == entry.parameters, entry.key


def test_registry_hub_files_are_pinned_to_a_revision_with_a_sha256():
    for entry in registry.WEIGHTS.values():
        if entry.file_format == registry.TORCHVISION:
            assert re.fullmatch(
                r"https://huggingface\.co/timm/resnet\d+\.tv_in1k/resolve/[0-9a-f]{40}/model\.safetensors", entry.url
            )
            assert re.fullmatch(r"[0-9a-f]{64}", entry.file_hash)


def test_docs_weights_table_is_the_generated_one():
    table = re.search(r"<!-- weights:start -->\n(.*?)<!-- weights:end -->", PRETRAINED_DOC, re.S).group(1)
    assert table == registry.markdown_table()


def test_default_weights_per_constructor_and_layout():
    assert registry.find("resnet18").key == "resnet18.torchvision_v1"
    assert registry.find("resnet34").key == "resnet34.torchvision_v1"
    assert [registry.find(f"resnet{d}").key for d in (50, 101, 152)] == [
        "resnet50.msra",
        "resnet101.msra",
        "resnet152.msra",
    ]
    assert registry.find("resnet50", bottleneck_stride="3x3").key == "resnet50.torchvision_v1"


@pytest.fixture
def hub_file(tmp_path, monkeypatch):
    """ResNet-18's registry entry pointing at a local file:// copy; the Keras cache in tmp_path."""
    state = torchvision_state_dict(18, np.random.default_rng(0))
    source = tmp_path / "served" / "model.safetensors"
    source.parent.mkdir()
    save_file(state, str(source))
    sha256 = hashlib.sha256(source.read_bytes()).hexdigest()
    entry = registry.WEIGHTS["resnet18.torchvision_v1"]
    import dataclasses

    monkeypatch.setitem(registry.WEIGHTS, entry.key, dataclasses.replace(entry, url=source.as_uri(), file_hash=sha256))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    return source, state, tmp_path / "keras_home" / "models" / "resnet18_torchvision_v1.safetensors"


def test_imagenet_weights_download_into_the_cache_with_the_hash_checked(hub_file):
    source, state, cached = hub_file
    model = keras_resnet.ResNet18(weights="imagenet", input_shape=(SIZE, SIZE, 3))
    assert cached.exists()
    np.testing.assert_array_equal(numpy(model.get_layer("predictions").bias), state["fc.bias"])
    source.unlink()  # The cached file is used as it is: no download.
    keras_resnet.ResNet18(weights="torchvision_v1", include_top=False, input_shape=(SIZE, SIZE, 3))


def test_a_download_with_the_wrong_hash_is_one_line_and_leaves_nothing(hub_file, monkeypatch):
    source, _, cached = hub_file
    entry = registry.WEIGHTS["resnet18.torchvision_v1"]
    import dataclasses

    monkeypatch.setitem(registry.WEIGHTS, entry.key, dataclasses.replace(entry, file_hash="0" * 64))
    with pytest.raises(
        ValueError,
        match=r"^the file downloaded from file://\S+ does not have the published hash 0{64}; it was removed\. Download",
    ) as error:
        keras_resnet.ResNet18(weights="imagenet")
    assert "\n" not in str(error.value) and not cached.exists()


def test_offline_download_fails_at_once_saying_where_to_put_the_file(monkeypatch, tmp_path):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    probed, fetched = [], []
    monkeypatch.setattr(download, "reachable", lambda host: probed.append(host) or False)
    monkeypatch.setattr(keras.utils, "get_file", lambda *args, **kwargs: fetched.append(args))
    with pytest.raises(ValueError) as error:
        keras_resnet.ResNet34(weights="imagenet")
    message = str(error.value)
    # At once: one probe of the host, no download tried, nothing written.
    assert probed == ["huggingface.co"] and fetched == [] and list(tmp_path.iterdir()) == []
    assert "\n" not in message
    assert message.startswith(
        "resnet34.torchvision_v1 weights cannot be downloaded here (huggingface.co is unreachable): download https://huggingface.co/timm/resnet34.tv_in1k/resolve/"
    )
    assert f"put it at {tmp_path / 'models' / 'resnet34_torchvision_v1.safetensors'}" in message


@pytest.mark.parametrize(
    "build, message",
    [
        (
            lambda: keras_resnet.ResNet50(weights="imagenet_v9"),
            r"^`weights` must be None, 'imagenet', one of 'msra', 'torchvision_v1', or the path of a weights file\. Received: weights='imagenet_v9'$",
        ),
        (
            lambda: keras_resnet.ResNet34(weights="msra"),
            r"^No 'msra' weights for resnet34\. Published weights: resnet34: 'torchvision_v1'\. Received: weights='msra'$",
        ),
        (
            lambda: keras_resnet.ResNet101(weights="msra", bottleneck_stride="3x3"),
            r"^No 'msra' weights for resnet101 with bottleneck_stride='3x3'\.",
        ),
        (
            lambda: keras_resnet.PlainNet34(weights="imagenet"),
            r"^No pretrained weights for plain34\. Published weights: resnet18: 'torchvision_v1'; ",
        ),
        (lambda: keras_resnet.HighwayNet18(weights="imagenet"), r"^No pretrained weights for highway18\."),
        (
            lambda: keras_resnet.ResNet20(weights="imagenet"),
            r"^No pretrained weights for this network: published weights exist for resnet18",
        ),
        (
            lambda: keras_resnet.build_network("cifar", 50, weights="imagenet"),
            r"^No pretrained weights for this network",
        ),
        (
            lambda: keras_resnet.ResNet18(weights="imagenet", classes=10),
            r"^ImageNet weights with include_top=True need classes=1000; .* Received: classes=10$",
        ),
        (
            lambda: keras_resnet.ResNet18(weights="imagenet", shortcut="A"),
            r"^resnet18\.torchvision_v1 weights were trained with shortcut 'B'\. Received: shortcut='A'$",
        ),
        (
            lambda: keras_resnet.ResNet18(weights="imagenet", input_shape=(64, 64, 1)),
            r"^ImageNet weights take RGB images \(3 channels\)\. Received: input channels=1$",
        ),
    ],
)
def test_bad_weights_values_are_one_line_value_errors(build, message):
    with pytest.raises(ValueError, match=message) as error:
        build()
    assert "\n" not in str(error.value)


def test_a_file_of_another_net_is_a_value_error(tmp_path):
    save_file(torchvision_state_dict(18, np.random.default_rng(0)), str(tmp_path / "r18.safetensors"))
    with pytest.raises(
        ValueError,
        match=r"r18\.safetensors does not fit resnet34: 32 layers of the model have no weights in the file \(conv2_block3_1_bn",
    ):
        keras_resnet.ResNet34(weights=str(tmp_path / "r18.safetensors"), input_shape=(SIZE, SIZE, 3))


def test_format_is_read_from_the_content_not_the_name(msra_resnet50, tmp_path):
    _, _, folder = msra_resnet50
    disguised = tmp_path / "weights.bin"
    disguised.write_bytes((folder / "notop.h5").read_bytes())
    model = keras_resnet.ResNet50(weights=str(disguised), include_top=False, input_shape=(SIZE, SIZE, 3))
    assert model.get_layer("preprocessing") is not None
    save_file(torchvision_state_dict(18, np.random.default_rng(0)), str(tmp_path / "r18.h5"))
    keras_resnet.ResNet18(weights=str(tmp_path / "r18.h5"), input_shape=(SIZE, SIZE, 3))


def test_feature_model_of_a_pretrained_net_keeps_its_preprocessing(tmp_path):
    save_file(torchvision_state_dict(18, np.random.default_rng(3)), str(tmp_path / "r18.safetensors"))
    options = dict(weights=str(tmp_path / "r18.safetensors"), include_top=False, input_shape=(SIZE, SIZE, 3))
    features = keras_resnet.feature_model(keras_resnet.ResNet18(**options))
    bare = keras_resnet.feature_model(keras_resnet.ResNet18(include_preprocessing=False, **options))
    x = rgb_images(1)
    ours, expected = features(x), bare(keras_resnet.preprocess_input(x, weights="torchvision_v1"))
    assert list(ours) == ["conv2", "conv3", "conv4", "conv5"]
    for stage in ours:
        np.testing.assert_allclose(numpy(ours[stage]), numpy(expected[stage]), rtol=1e-5, atol=1e-4)
