"""Stage outputs as a backbone: any input size, a detection-style head, shared weights, saving."""

import keras
import numpy as np
import pytest
from model_checks import to_numpy

import keras_resnet


def tiny_cifar(**kwargs):
    return keras_resnet.build_network("cifar", stages=(1, 1, 1), widths=(4, 8, 8), **kwargs)


def test_any_input_size_gives_ceil_side_over_stride():
    model = keras_resnet.build_network(
        "imagenet", stages=(1, 1, 1, 1), widths=(4, 4, 4, 4), include_top=False, input_shape=(None, None, 3)
    )
    features = keras_resnet.feature_model(model)(np.zeros((1, 65, 97, 3), "float32"))
    # 65 → 33 (conv1) → 17 (pool1) = conv2; then 9, 5, 3. 97 → 49 → 25; then 13, 7, 4.
    assert {stage: tuple(t.shape[1:3]) for stage, t in features.items()} == {
        "conv2": (17, 25),
        "conv3": (9, 13),
        "conv4": (5, 7),
        "conv5": (3, 4),
    }


def test_the_last_stage_is_what_the_classifier_pools():
    model = tiny_cifar(input_shape=(8, 8, 3), classes=3, classifier_activation=None)
    x = np.random.default_rng(0).normal(size=(2, 8, 8, 3)).astype("float32")
    last = to_numpy(keras_resnet.feature_model(model, stages=["conv4"])(x)["conv4"])
    kernel, bias = (to_numpy(w) for w in model.get_layer("predictions").weights)
    np.testing.assert_allclose(last.mean(axis=(1, 2)) @ kernel + bias, to_numpy(model(x)), rtol=1e-5, atol=1e-6)


def test_a_detection_head_trains_and_updates_the_classifier():
    classifier = tiny_cifar(input_shape=(16, 16, 3), classes=3)
    features = keras_resnet.feature_model(classifier)
    assert features.get_layer("conv1_conv").kernel is classifier.get_layer("conv1_conv").kernel
    # An objectness map per stage, as an RPN puts on each FPN level.
    maps = {stage: keras.layers.Conv2D(1, 1, name=f"{stage}_objectness")(t) for stage, t in features.output.items()}
    detector = keras.Model(features.input, maps)
    detector.compile(
        keras.optimizers.SGD(0.1), loss={s: keras.losses.BinaryCrossentropy(from_logits=True) for s in maps}
    )
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 16, 16, 3)).astype("float32")
    y = {s: (rng.uniform(size=(4,) + tuple(t.shape[1:])) > 0.5).astype("float32") for s, t in maps.items()}
    before_kernel = to_numpy(classifier.get_layer("conv1_conv").kernel).copy()
    before_logits = to_numpy(classifier(x))
    losses = [float(np.asarray(detector.train_on_batch(x, y)).ravel()[0]) for _ in range(2)]
    assert losses[1] < losses[0], losses
    # One step moved the classifier's own kernel, so its predictions changed too.
    assert not np.allclose(to_numpy(classifier.get_layer("conv1_conv").kernel), before_kernel)
    assert not np.allclose(to_numpy(classifier(x)), before_logits)


def test_weights_from_a_file_are_the_feature_models_weights(tmp_path):
    source = keras_resnet.ResNet20(input_shape=(16, 16, 3), include_top=False)
    path = tmp_path / "backbone.weights.h5"
    source.save_weights(path)
    loaded = keras_resnet.ResNet20(input_shape=(16, 16, 3), include_top=False, weights=str(path))
    x = np.random.default_rng(1).normal(size=(2, 16, 16, 3)).astype("float32")
    expected = keras_resnet.feature_model(source)(x)
    for stage, tensor in keras_resnet.feature_model(loaded)(x).items():
        np.testing.assert_array_equal(to_numpy(tensor), to_numpy(expected[stage]))


def test_feature_model_saves_and_loads_with_safe_mode(tmp_path):
    features = keras_resnet.feature_model(tiny_cifar(kind="highway", input_shape=(8, 8, 1)), stages=("conv3", "conv4"))
    x = np.random.default_rng(2).normal(size=(2, 8, 8, 1)).astype("float32")
    features.save(tmp_path / "features.keras")
    loaded = keras.saving.load_model(tmp_path / "features.keras", safe_mode=True)
    outputs = loaded(x)
    assert sorted(outputs) == ["conv3", "conv4"]
    for stage, tensor in features(x).items():
        np.testing.assert_allclose(to_numpy(outputs[stage]), to_numpy(tensor), rtol=1e-6, atol=1e-6)


def test_bad_stages_and_models_are_one_line_errors():
    model = tiny_cifar()
    with pytest.raises(ValueError, match=r"'conv2', 'conv3', 'conv4'\. Received: stages=\('conv5',\)"):
        keras_resnet.feature_model(model, stages=("conv5",))
    with pytest.raises(ValueError, match="Received: stages='conv3'"):
        keras_resnet.feature_model(model, stages="conv3")
    dense = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)], name="mlp")
    with pytest.raises(ValueError, match="zoo.*Received: model='mlp'"):
        keras_resnet.feature_model(dense)
