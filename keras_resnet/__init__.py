"""The networks of "Deep Residual Learning for Image Recognition" (He et al., 2015) for Keras 3.

>>> import keras_resnet
>>> model = keras_resnet.ResNet34(shortcut="B")
>>> keras_resnet.trainable_params(model), keras_resnet.flops(model)
(21797672, 3663761408)

Importing the package loads neither Keras nor TensorFlow: a name is imported from its module when
first used, so the recipes answer `--help` at once. Whenever Keras loads, the recipes'
preprocessing layers are registered (a run's `model.keras` then loads with `keras.saving.load_model`)
and TensorFlow's start-up lines are held back (`keras_resnet.tf_startup`).
"""

import importlib

from keras_resnet import tf_startup

# Each public name and the module that defines it.
_HOMES = {
    "Architecture": "architectures",
    "CIFAR_DEPTHS": "architectures",
    "IMAGENET_DEPTHS": "architectures",
    "feature_model": "backbone",
    "feature_strides": "backbone",
    "build_network": "builder",
    "flops": "flop_count",
    "HighwayCombine": "layers",
    "ZeroPadShortcut": "layers",
    "Network": "network",
    "preprocess_input": "pretrained",
    "layer_responses": "responses",
    "response_layers": "responses",
    "trainable_params": "table",
    "MODELS": "zoo",
}
# The named constructors (ResNet18, …, HighwayNet110) live in `zoo`.
_ZOO_PREFIXES = ("ResNet", "PlainNet", "HighwayNet")


# The modules that register classes with Keras' serialization: the networks, their layers, the
# recipes' preprocessing layers, schedules and optimizers (a run's `model.keras` holds some).
_REGISTERING = ("layers", "network", "preprocessing", "training.optimizers", "training.schedules")


def _register_layers():
    """Registers this package's Keras classes, so that files naming them load."""
    for module in _REGISTERING:
        importlib.import_module(f"keras_resnet.{module}")


tf_startup.quiet_when_loaded(_register_layers)


def __getattr__(name):
    if name == "__all__":  # `from keras_resnet import *`: the public names, the constructors among them.
        from keras_resnet import zoo

        return sorted({*_HOMES, *zoo.__all__})
    home = _HOMES.get(name) or ("zoo" if name.startswith(_ZOO_PREFIXES) else None)
    if home is None:
        try:  # A submodule: keras_resnet.export, keras_resnet.cifar, …
            return importlib.import_module(f"keras_resnet.{name}")
        except ModuleNotFoundError as error:
            if error.name != f"keras_resnet.{name}":
                raise
            raise AttributeError(f"module 'keras_resnet' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(f"keras_resnet.{home}"), name)
    globals()[name] = value
    return value


def __dir__():
    from keras_resnet import zoo

    return sorted({*globals(), *_HOMES, *zoo.__all__})


__version__ = "0.1.0"
