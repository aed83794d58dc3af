"""Exports (TF SavedModel, ONNX, LiteRT) run by their own runtimes give Keras' outputs.

Tolerance: max |runtime − Keras| ≤ 1e-5 × max |Keras| on the logits. The converters fold each BN
into its convolution and sum in other orders, so float32 results differ by rounding that grows
with depth: measured ≤ 1.8e-6 of the output scale (ResNet-50, ONNX and LiteRT; SavedModel runs
TensorFlow's own graph and matched exactly); 1e-5 leaves a margin of five.
"""

import os
import subprocess
import sys

import keras
import numpy as np
import pytest

import keras_resnet
from keras_resnet.export import run_exported

pytestmark = pytest.mark.skipif(
    keras.backend.backend() != "tensorflow",
    reason="SavedModel, ONNX and LiteRT are written from the TensorFlow backend",
)
SUFFIX = {"tf_saved_model": "", "onnx": ".onnx", "litert": ".tflite"}
RELATIVE_TOLERANCE = 1e-5


def _recipe_model():
    from keras_resnet.cifar import arrays, config, datasets
    from keras_resnet.cifar import model as cifar_model
    from keras_resnet.training import trained_model

    rng = np.random.default_rng(0)
    data = datasets.prepare(
        arrays.check_arrays(
            dict(
                x_train=rng.integers(0, 256, (16, 16, 16, 3), dtype="uint8"),
                y_train=np.arange(16) % 10,
                x_test=rng.integers(0, 256, (4, 16, 16, 3), dtype="uint8"),
                y_test=np.arange(4) % 10,
            )
        ),
        validation_size=0,
    )
    return trained_model.inference_model(
        cifar_model.create_model(config.cifar10(model="resnet8"), data), "per_pixel_mean"
    )


MODELS = {
    "resnet18": lambda: keras_resnet.ResNet18(input_shape=(64, 64, 3), classifier_activation=None),
    "resnet50": lambda: keras_resnet.ResNet50(input_shape=(64, 64, 3), classifier_activation=None),
    "resnet20": lambda: keras_resnet.ResNet20(classifier_activation=None),
    "highway8": lambda: keras_resnet.build_network("cifar", 8, kind="highway", classifier_activation=None),
    "recipe_resnet8": _recipe_model,  # raw 0-255 images in: the mean is inside
}


# The ImageNet nets and the 20-layer CIFAR net take the converters longest: in the system tier.
@pytest.mark.parametrize(
    "name",
    [
        pytest.param(name, marks=pytest.mark.system) if name in ("resnet18", "resnet50", "resnet20") else name
        for name in sorted(MODELS)
    ],
)
def test_each_runtime_gives_keras_outputs(name, tmp_path):
    model = MODELS[name]()
    scale = 255.0 if name.startswith("recipe") else 1.0
    x = (scale * np.random.default_rng(1).uniform(size=(3,) + tuple(model.input_shape[1:]))).astype("float32")
    expected = keras.ops.convert_to_numpy(model(x, training=False))
    for format, suffix in SUFFIX.items():
        path = str(tmp_path / f"{name}{suffix}")
        model.export(path, format=format, verbose=False)
        outputs = run_exported(path, format, x)
        assert outputs.shape == expected.shape
        error = _relative_error(outputs, expected)
        assert error <= RELATIVE_TOLERANCE, (format, error)


def _tiny_net():
    return keras_resnet.build_network("cifar", stages=(1, 1, 1), input_shape=(16, 16, 3), classifier_activation=None)


def _relative_error(outputs, expected):
    return np.max(np.abs(outputs - expected)) / np.max(np.abs(expected))


@pytest.mark.parametrize("source", ["built", "loaded"])
def test_onnx_export_of_a_net_never_called_gives_keras_outputs(source, tmp_path):
    model = _tiny_net()
    if source == "loaded":  # As docs/networks.md's `keras.saving.load_model("runs/.../model.keras")`.
        model.save(tmp_path / "net.keras")
        model = keras.saving.load_model(tmp_path / "net.keras")
    path = str(tmp_path / "net.onnx")
    model.export(path, format="onnx", verbose=False)  # Before the model's first call.
    x = np.random.default_rng(2).uniform(size=(3, 16, 16, 3)).astype("float32")
    assert _relative_error(run_exported(path, "onnx", x), keras.ops.convert_to_numpy(model(x))) <= RELATIVE_TOLERANCE


def test_each_runtime_gives_every_stage_of_a_feature_model_by_name(tmp_path):
    features = keras_resnet.feature_model(_tiny_net())
    x = np.random.default_rng(3).uniform(size=(2, 16, 16, 3)).astype("float32")
    expected = {stage: keras.ops.convert_to_numpy(value) for stage, value in features(x).items()}
    for format, suffix in SUFFIX.items():
        path = str(tmp_path / f"features{suffix}")
        features.export(path, format=format, verbose=False)
        outputs = run_exported(path, format, x)
        assert sorted(outputs) == ["conv2", "conv3", "conv4"], format
        for stage, value in expected.items():
            assert (
                outputs[stage].shape == value.shape and _relative_error(outputs[stage], value) <= RELATIVE_TOLERANCE
            ), (format, stage)


@pytest.mark.parametrize(
    "policy, format", [("mixed_float16", "litert"), ("mixed_bfloat16", "litert"), ("mixed_bfloat16", "onnx")]
)
def test_mixed_precision_where_the_runtime_cannot_run_it_is_refused_before_writing(
    policy, format, tmp_path, dtype_policy
):
    dtype_policy(policy)
    model = keras_resnet.build_network("cifar", stages=(1, 1, 1), input_shape=(8, 8, 3))
    path = tmp_path / f"net{SUFFIX[format]}"
    with pytest.raises(ValueError, match=r"cannot run a net that computes in b?float16 \(mixed precision\)"):
        model.export(str(path), format=format)
    assert not path.exists()


@pytest.mark.system  # A process of its own, on JAX.
def test_litert_on_jax_is_refused_before_writing(tmp_path):
    path = tmp_path / "net.tflite"
    code = (
        "import keras_resnet\n"
        "model = keras_resnet.build_network('cifar', stages=(1, 1, 1), input_shape=(8, 8, 3))\n"
        f"model.export({str(path)!r}, format='litert')\n"
    )
    env = dict(os.environ, KERAS_BACKEND="jax", PYTHONPATH=os.pathsep.join(sys.path))
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=240)
    assert result.returncode != 0
    assert result.stderr.strip().splitlines()[-1] == (
        "ValueError: format='litert' is written from the tensorflow backend; this process runs 'jax': "
        "set KERAS_BACKEND=tensorflow before importing keras, load the model there, and export."
    )
    assert not path.exists()
