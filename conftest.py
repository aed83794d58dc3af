import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow is first imported

import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _doctest_names(doctest_namespace):
    """Docstring examples are written as a user types them: `keras_resnet.ResNet34()`."""
    import keras_resnet

    doctest_namespace["keras_resnet"] = keras_resnet
