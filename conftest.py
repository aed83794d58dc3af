import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow is first imported
# Notebooks run by the test suite (nbmake) take their tiny, offline settings.
os.environ["KERAS_RESNET_SMOKE_TEST"] = "1"

import pytest  # noqa: E402

import keras_resnet  # noqa: E402,F401  (first: it loads TensorFlow, under the TensorFlow backend, with its start-up lines filtered)

# A script that test_models_backends.py runs in a subprocess under another backend, not a test module.
collect_ignore = ["tests/backend_check.py"]


@pytest.fixture(autouse=True)
def _doctest_names(doctest_namespace):
    """Docstring examples are written as a user types them: `keras_resnet.ResNet34()`."""

    doctest_namespace["keras_resnet"] = keras_resnet
