"""What the notebooks' first cell does: the backend their `BACKEND` field names, or one line
saying why it cannot take effect.

Keras reads `KERAS_BACKEND` once, when it is first imported (keras-team/keras-core#833): a field
changed and its cell rerun after that would change nothing, silently. `use_backend` says so, and
that a restart of the kernel is what makes it take.

Example:

>>> import keras  # Loaded already here: the field can only be told how to take effect.
>>> use_backend(keras.backend.backend()) == keras.backend.backend()
True
"""

import os
import sys

from keras_resnet import tf_startup

# Set by `use_backend`: a `KERAS_BACKEND` it did not set was set before the notebook started.
_CHOSEN = "KERAS_RESNET_NOTEBOOK_BACKEND"


def use_backend(name, print_fn=print):
    """Makes `name` Keras' backend for this kernel where it still can; returns the backend that
    the notebook runs on.

    Before Keras is imported, `KERAS_BACKEND` is set to `name`, unless it was set before the
    notebook started (then that one wins, and one line says so). Once Keras is loaded on another
    backend, one line says to restart the kernel. TensorFlow's environment is the recipes'
    (`tf_startup.recipe_environment`).
    """
    tf_startup.recipe_environment()
    if "keras" in sys.modules:
        import keras

        loaded = keras.backend.backend()
        if loaded != name:
            print_fn(
                f"Keras is already loaded on {loaded}: restart the kernel (Colab: Runtime > Restart session) "
                f"and run the notebook again to use BACKEND = {name!r}"
            )
        return loaded
    before = os.environ.get("KERAS_BACKEND")
    if before and before != name and os.environ.get(_CHOSEN) != before:
        print_fn(f"KERAS_BACKEND={before} was set before the notebook started; it wins over BACKEND = {name!r}")
        return before
    os.environ["KERAS_BACKEND"] = os.environ[_CHOSEN] = name
    return name
