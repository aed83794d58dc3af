"""The optimiser settings both of the paper's recipes share (Sec. 3.4 and Sec. 4.2).

Each recipe's config (`keras_resnet.cifar.config.CifarConfig`,
`keras_resnet.imagenet.config.ImageNetConfig`) extends `SGDRecipe` with its own numbers: every
number of a recipe lives in its config, and a departure from the paper is a field that is off by
default and names its source.

Example:

>>> SGDRecipe().learning_rate, SGDRecipe().momentum, SGDRecipe().weight_decay
(0.1, 0.9, 0.0001)
"""

import dataclasses


@dataclasses.dataclass(frozen=True)
class SGDRecipe:
    """The optimiser settings both of the paper's recipes share (Sec. 3.4 and Sec. 4.2).

    Args:
        learning_rate: float. Initial learning rate. Defaults to `0.1`.
        momentum: float. SGD momentum. Defaults to `0.9`.
        weight_decay: float. Caffe's weight decay, coupled L2 added to the gradient. Defaults to
            `1e-4`.
        decoupled_weight_decay: bool. Use Keras' decoupled `weight_decay` (Loshchilov & Hutter,
            arXiv 1711.05101) instead of the paper's coupled L2. Not in the paper. Defaults to
            `False`.
        no_bias_decay: bool. Decay only the conv and fc kernels, not biases and BN γ/β ("no bias
            decay", He et al., arXiv 1812.01187). Not in the paper: its Caffe implementation
            decays every learned parameter. Defaults to `False`.
    """

    learning_rate: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 1e-4
    decoupled_weight_decay: bool = False
    no_bias_decay: bool = False

    def replace(self, **changes):
        """Returns a copy with some fields changed.

        Example:

        >>> SGDRecipe().replace(learning_rate=0.01).learning_rate
        0.01
        """
        return dataclasses.replace(self, **changes)
