import os
import re

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


# Items that cannot carry a decorator, put in the system tier here: the notebooks (each trains in
# a kernel of its own) and the docstring examples that build a net of 101 layers or more.
SYSTEM_ITEMS = re.compile(r"^notebooks/|^keras_resnet/__init__\.py::keras_resnet\.\w+?(101|110|152|1202)$")


def pytest_collection_modifyitems(items):
    for item in items:
        if SYSTEM_ITEMS.search(item.nodeid):
            item.add_marker(pytest.mark.system)
