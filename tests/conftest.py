import keras
import numpy as np
import pytest
from safetensors.numpy import save_file

from published_files import SIZE, randomise, torchvision_state_dict, write_keras_applications_h5


@pytest.fixture
def dtype_policy():
    """Lets a test set a global dtype policy and restores float32 afterwards."""
    yield keras.config.set_dtype_policy
    keras.config.set_dtype_policy("float32")


@pytest.fixture(scope="session")
def tfds_imagenet(tmp_path_factory):
    """A TFDS data directory holding a small prepared `imagenet2012` (TFDS's own files, 3 train shards)."""
    from keras_resnet.imagenet import synthetic

    data_dir = str(tmp_path_factory.mktemp("tensorflow_datasets"))
    synthetic.write_tfds_imagenet(data_dir, {"train": 10, "validation": 5}, shards=3, shape=(48, 60))
    return data_dir


@pytest.fixture(scope="session")
def msra_resnet50(tmp_path_factory):
    """keras.applications' ResNet50 with random weights, written as the published top and no-top files."""
    folder = tmp_path_factory.mktemp("msra")
    reference = keras.applications.ResNet50(weights=None, input_shape=(SIZE, SIZE, 3), classifier_activation=None)
    randomise(reference, np.random.default_rng(0))
    # A BN whose variance is ~0 (a dead channel), where the two files' ε differ by 5e-4 relative.
    stem_bn = reference.get_layer("conv1_bn")
    stem_bn.moving_variance.assign(np.zeros(64, "float32"))
    stem_bn.gamma.assign(np.full(64, 3e-3, "float32"))
    write_keras_applications_h5(reference, folder / "top.h5")
    notop = keras.applications.ResNet50(weights=None, include_top=False, input_shape=(SIZE, SIZE, 3), pooling="avg")
    for layer in [layer for layer in notop.layers if layer.weights]:
        layer.set_weights(reference.get_layer(layer.name).get_weights())
    write_keras_applications_h5(notop, folder / "notop.h5")
    return reference, notop, folder


@pytest.fixture(scope="session")
def torchvision_resnet50_file(tmp_path_factory):
    """torchvision's ResNet-50 (v1.5: stride in the 3×3) with random values, as a safetensors file."""
    path = tmp_path_factory.mktemp("torchvision") / "resnet50.safetensors"
    save_file(torchvision_state_dict(50, np.random.default_rng(50)), str(path))
    return path
