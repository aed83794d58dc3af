import keras
import pytest


@pytest.fixture
def dtype_policy():
    """Lets a test set a global dtype policy and restores float32 afterwards."""
    yield keras.config.set_dtype_policy
    keras.config.set_dtype_policy("float32")
