import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow is first imported

import keras  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture
def dtype_policy():
    """Lets a test set a global dtype policy and restores float32 afterwards."""
    yield keras.config.set_dtype_policy
    keras.config.set_dtype_policy("float32")
