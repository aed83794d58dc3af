"""The recipes' constants, checked through the objects the recipes train against values taken
from outside this code: the paper's weight decay of 0.0001 (Sec. 3.4, 4.2), torchvision's and
Caffe's BN, the rate divided by 10 when the *error* plateaus, AlexNet's lighting eigenvectors."""

import keras
import numpy as np
import pytest

from keras_resnet.cifar import arrays, config, datasets
from keras_resnet.cifar import model as cifar_model
from keras_resnet.imagenet import config as imagenet_config
from keras_resnet.imagenet import model as imagenet_model
from keras_resnet.training import optimizers

PAPER_WEIGHT_DECAY = 0.0001  # "a weight decay of 0.0001 and a momentum of 0.9" (Sec. 3.4, 4.2)


def tiny_cifar_data():
    rng = np.random.default_rng(0)
    loaded = arrays.check_arrays(
        dict(
            x_train=rng.integers(0, 255, (20, 8, 8, 3), dtype="uint8"),
            y_train=np.arange(20) % 10,
            x_test=rng.integers(0, 255, (4, 8, 8, 3), dtype="uint8"),
            y_test=rng.integers(0, 10, 4),
        )
    )
    return datasets.prepare(loaded, validation_size=4)


def caffe_decay(model, weights):
    """Caffe's weight decay as a loss: wd/2·Σ‖w‖², whose gradient wd·w is added to the gradient."""
    return (
        PAPER_WEIGHT_DECAY
        / 2
        * sum(float(np.sum(keras.ops.convert_to_numpy(w).astype("float64") ** 2)) for w in weights)
    )


def recipe_models():
    yield "cifar highway8", cifar_model.create_model(config.cifar10(model="highway8"), tiny_cifar_data())
    yield "imagenet tiny", imagenet_model.create_network("tiny", 4, imagenet_config.imagenet())


@pytest.mark.parametrize("name, model", list(recipe_models()))
def test_recipe_model_decays_every_trainable_weight_as_caffe(name, model):
    for w in model.trainable_weights:  # Random values, so every weight counts in the sum.
        w.assign(np.random.default_rng(0).normal(0, 1, w.shape).astype("float32"))
    kinds = {w.name for w in model.trainable_weights}
    assert {"kernel", "gamma", "beta", "bias"} <= kinds, kinds  # highway gates and the classifier have biases
    assert len(model.losses) == len(model.trainable_weights)
    np.testing.assert_allclose(
        sum(float(keras.ops.convert_to_numpy(loss)) for loss in model.losses),
        caffe_decay(model, model.trainable_weights),
        rtol=1e-5,
    )


def test_no_bias_decay_decays_the_kernels_only():
    model = cifar_model.create_model(config.cifar10(model="highway8", no_bias_decay=True), tiny_cifar_data())
    kernels = [w for w in model.trainable_weights if w.name == "kernel"]
    np.testing.assert_allclose(
        sum(float(keras.ops.convert_to_numpy(loss)) for loss in model.losses), caffe_decay(model, kernels), rtol=1e-5
    )


def test_decoupled_decay_reaches_gate_kernels_and_follows_the_warmup_multiplier():
    cfg = config.cifar10(decoupled_weight_decay=True, no_bias_decay=True)
    optimizer = optimizers.make_optimizer(cfg, 0.1, learning_rate_multiplier=0.1)
    kernel = keras.Variable(np.ones(2, "float32"), name="kernel")
    bias = keras.Variable(np.ones(2, "float32"), name="bias")
    optimizer.apply([np.zeros(2, "float32")] * 2, [kernel, bias])
    # w ← w − w·wd·lr·multiplier on kernels (gate kernels are named "kernel" too); biases untouched.
    np.testing.assert_allclose(keras.ops.convert_to_numpy(kernel), 1 - PAPER_WEIGHT_DECAY * 0.1 * 0.1, rtol=1e-7)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(bias), 1.0)


@pytest.mark.parametrize("name, model", list(recipe_models()))
def test_recipe_batch_norm_is_torchvisions(name, model):
    """torchvision's BatchNorm2d (momentum 0.1 of the new batch, ε 1e-5), as Caffe's ResNet models."""
    layers = [layer for layer in model._flatten_layers() if isinstance(layer, keras.layers.BatchNormalization)]
    assert layers
    for layer in layers:
        channels = layer.gamma.shape[0]
        x = np.random.default_rng(1).normal(3, 2, (4, 3, 3, channels)).astype("float32")
        layer.moving_mean.assign(np.zeros(channels, "float32"))
        layer(x, training=True)
        np.testing.assert_allclose(
            keras.ops.convert_to_numpy(layer.moving_mean), 0.1 * x.mean(axis=(0, 1, 2)), rtol=1e-4
        )
        variance = np.full(channels, 1e-5, "float32")  # where ε matters: 1e-5 against Keras' default 1e-3
        layer.moving_variance.assign(variance)
        expected = (x - keras.ops.convert_to_numpy(layer.moving_mean)) / np.sqrt(variance + 1e-5)
        np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(x, training=False)), expected, rtol=1e-4, atol=1e-3)


def test_imagenet_plateau_divides_by_ten_when_the_validation_error_stalls(
    monkeypatch, tmp_path, image_folder, run_imagenet
):
    from keras_resnet.imagenet import sources

    root = image_folder(classes=2, train=2, val=2, shape=(40, 40), jitter=0)
    captured = {}

    def spy(self, *args, **kwargs):  # The recipe's real callbacks; the run itself is not needed.
        captured["callbacks"] = kwargs["callbacks"]
        raise KeyboardInterrupt

    monkeypatch.setattr(keras.Model, "fit", spy)
    with pytest.raises(KeyboardInterrupt):
        run_imagenet(sources.folder_source(root), tmp_path / "run", batch_size=2, train_steps=8, mean="channel")
    (plateau,) = [c for c in captured["callbacks"] if isinstance(c, keras.callbacks.ReduceLROnPlateau)]
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    plateau.set_model(model)
    plateau.on_train_begin()
    rates = []
    # The error stalls at 0.5 while the loss keeps falling: the error decides.
    for epoch, (error, loss) in enumerate([(0.6, 3.0), (0.5, 2.0), (0.5, 1.0), (0.5, 0.5), (0.5, 0.25), (0.5, 0.1)]):
        plateau.on_epoch_end(epoch, {"val_error": error, "val_loss": loss})
        rates.append(round(float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)), 6))
    assert rates == [0.1, 0.1, 0.1, 0.1, 0.01, 0.01]  # three validations without improvement, then ÷10


def test_lighting_eigenvectors_are_an_orthonormal_basis_with_alexnets_eigenvalues():
    cfg = imagenet_config.imagenet(image_size=8)
    network = keras.Sequential([keras.Input((None, None, 3)), keras.layers.GlobalAveragePooling2D()])
    layer = imagenet_model.recipe_model(network, cfg, mean=np.zeros(3)).get_layer("pca_lighting")
    vectors = np.asarray(layer.eigvec)
    np.testing.assert_allclose(vectors.T @ vectors, np.eye(3), atol=2e-3)
    # The eigenvalues are those of the RGB covariance in [0, 1] units: sorted, summing to ~0.24.
    assert list(layer.eigval) == sorted(layer.eigval, reverse=True) and abs(sum(layer.eigval) - 0.2408) < 1e-4
    # The principal component of natural images' colours is brightness: column 0, not row 0, is ±(1, 1, 1)/√3.
    np.testing.assert_allclose(np.abs(vectors[:, 0]), np.full(3, 3**-0.5), atol=0.015)
    # fb.resnet.torch's published values (transforms.lua), eigenvectors one per column.
    assert cfg.pca_eigval == (0.2175, 0.0188, 0.0045)
    assert cfg.pca_eigvec == ((-0.5675, 0.7192, 0.4009), (-0.5808, -0.0045, -0.8140), (-0.5836, -0.6948, 0.4203))
