import keras
import pytest


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
