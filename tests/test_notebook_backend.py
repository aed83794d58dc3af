"""The notebooks' `BACKEND` field (`keras_resnet.notebook.use_backend`): it takes effect before
Keras loads; afterwards, and where `KERAS_BACKEND` was set before the notebook, one line says why not."""

import sys

import keras

from keras_resnet import notebook


def test_a_field_changed_after_keras_loaded_says_to_restart_the_kernel():
    lines = []
    other = "jax" if keras.backend.backend() != "jax" else "tensorflow"
    assert notebook.use_backend(other, print_fn=lines.append) == keras.backend.backend()
    assert lines == [
        f"Keras is already loaded on {keras.backend.backend()}: restart the kernel (Colab: Runtime > Restart session) "
        f"and run the notebook again to use BACKEND = {other!r}"
    ]
    lines.clear()
    notebook.use_backend(keras.backend.backend(), print_fn=lines.append)
    assert lines == []


def test_before_keras_loads_the_field_sets_the_backend_unless_the_environment_chose_one(monkeypatch):
    monkeypatch.delitem(sys.modules, "keras")
    for name in ("KERAS_BACKEND", notebook._CHOSEN):  # Set, then removed: both restored as they were after the test.
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    lines = []
    assert notebook.use_backend("jax", print_fn=lines.append) == "jax"
    assert notebook.use_backend("torch", print_fn=lines.append) == "torch"  # The field changed, the cell rerun.
    assert lines == [] and __import__("os").environ["KERAS_BACKEND"] == "torch"
    monkeypatch.setenv("KERAS_BACKEND", "tensorflow")  # As if set before Jupyter started.
    assert notebook.use_backend("jax", print_fn=lines.append) == "tensorflow"
    assert lines == ["KERAS_BACKEND=tensorflow was set before the notebook started; it wins over BACKEND = 'jax'"]
