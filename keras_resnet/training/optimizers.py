"""SGD as the paper (Caffe) runs it: momentum 0.9 and weight decay coupled into the gradient.

Caffe's weight decay adds `wd · w` to the gradient before momentum: `v ← m·v + lr·(g + wd·w)`,
`w ← w − v`. In Keras that is an L2 penalty `wd / 2 · ‖w‖²` on the kernels
(a regularizer on every trainable weight: Caffe's default decay multiplier is 1 for every learned
parameter, BN's γ/β and biases included), not the optimizer's `weight_decay`, which is decoupled
(`w ← w − lr·wd·w`, unseen by momentum; Loshchilov & Hutter, arXiv 1711.05101). The decoupled
form, and decaying the kernels only ("no bias decay", arXiv 1812.01187), are named alternatives,
off by default.
"""

import keras
from keras import ops

# Variable names (Keras matches `variable.name`, e.g. "kernel", not the layer's path) that
# "no bias decay" leaves undecayed in the decoupled mode.
NO_BIAS_DECAY_NAMES = ("bias", "gamma", "beta")


@keras.saving.register_keras_serializable(package="keras_resnet")
class SGD(keras.optimizers.SGD):
    """Keras SGD with a learning-rate multiplier held in an optimizer variable.

    The multiplier is how ResNet-110's warm-up (`WarmupUntilTrainingError`) lowers the rate
    without replacing the schedule; it is saved with the optimizer, so a resumed run keeps it.

    Args:
        learning_rate: float or `LearningRateSchedule`. Defaults to `0.01`.
        momentum: float. Defaults to `0.0`.
        nesterov: bool. Defaults to `False`.
        learning_rate_multiplier: float. Initial multiplier of the rate. Defaults to `1.0`.
        **kwargs: other arguments of `keras.optimizers.SGD`.

    Example:

    >>> import numpy as np
    >>> w = keras.Variable(np.ones(2, "float32"))
    >>> opt = SGD(learning_rate=0.1, learning_rate_multiplier=0.5)
    >>> opt.apply([np.ones(2, "float32")], [w])
    >>> [round(float(v), 4) for v in w.numpy()]
    [0.95, 0.95]
    """

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, learning_rate_multiplier=1.0, **kwargs):
        super().__init__(learning_rate=learning_rate, momentum=momentum, nesterov=nesterov, **kwargs)
        self.initial_learning_rate_multiplier = float(learning_rate_multiplier)

    def build(self, variables):
        if self.built:
            return
        super().build(variables)
        self.learning_rate_multiplier = self.add_variable(
            shape=(),
            initializer=keras.initializers.Constant(self.initial_learning_rate_multiplier),
            dtype="float32",
            name="learning_rate_multiplier",
        )

    def _apply_weight_decay(self, variables):
        # Keras decays by the bare rate: the warm-up's multiplier must lower the decay too.
        if self.weight_decay is None:
            return
        for variable in variables:
            if self._use_weight_decay(variable):
                rate = ops.cast(self.learning_rate, variable.dtype) * ops.cast(
                    self.learning_rate_multiplier, variable.dtype
                )
                variable.assign(variable - variable * ops.cast(self.weight_decay, variable.dtype) * rate)

    def update_step(self, gradient, variable, learning_rate):
        learning_rate = ops.multiply(ops.cast(learning_rate, "float32"), self.learning_rate_multiplier)
        super().update_step(gradient, variable, learning_rate)

    def get_config(self):
        config = super().get_config()
        config["learning_rate_multiplier"] = self.initial_learning_rate_multiplier
        return config


def regularizers(config):
    """The coupled (Caffe) weight decay as `L2(wd / 2)` regularizers, for `build_network`.

    Args:
        config: a recipe's config (an `SGDRecipe`).

    Returns:
        dict of `build_network` arguments: `{"regularizer": L2}` (every trainable weight, the
        paper's Caffe), `{"kernel_regularizer": L2}` with `no_bias_decay`, or `{}` with
        `decoupled_weight_decay` (the optimizer then decays instead).

    Example:

    >>> from keras_resnet.training.config import SGDRecipe
    >>> regularizers(SGDRecipe())["regularizer"].l2
    5e-05
    >>> list(regularizers(SGDRecipe(no_bias_decay=True)))
    ['kernel_regularizer']
    >>> regularizers(SGDRecipe(decoupled_weight_decay=True))
    {}
    """
    if config.decoupled_weight_decay:
        return {}
    l2 = keras.regularizers.L2(config.weight_decay / 2)
    return {"kernel_regularizer": l2} if config.no_bias_decay else {"regularizer": l2}


def make_optimizer(config, learning_rate, learning_rate_multiplier=1.0):
    """SGD with the config's momentum; decoupled decay only when the config asks for it.

    Args:
        config: a recipe's config (an `SGDRecipe`).
        learning_rate: float or `LearningRateSchedule`.
        learning_rate_multiplier: float. Initial multiplier (the warm-up). Defaults to `1.0`.

    Returns:
        A `keras_resnet.training.optimizers.SGD`.

    Example:

    >>> from keras_resnet.training.config import SGDRecipe
    >>> opt = make_optimizer(SGDRecipe(), 0.1)
    >>> float(opt.momentum), opt.weight_decay
    (0.9, None)
    """
    weight_decay = config.weight_decay if config.decoupled_weight_decay else None
    optimizer = SGD(
        learning_rate=learning_rate,
        momentum=config.momentum,
        weight_decay=weight_decay,
        learning_rate_multiplier=learning_rate_multiplier,
    )
    if weight_decay is not None and config.no_bias_decay:
        optimizer.exclude_from_weight_decay(var_names=list(NO_BIAS_DECAY_NAMES))
    return optimizer
