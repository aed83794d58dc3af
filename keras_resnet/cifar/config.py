"""The CIFAR-10 recipe's hyperparameters (Sec. 4.2): one home for each number.

Reference: He et al., "Deep Residual Learning for Image Recognition", CVPR 2016
(https://arxiv.org/abs/1512.03385), Sec. 4.2.

Example:

>>> cfg = cifar10()
>>> cfg.learning_rate, cfg.batch_size, cfg.lr_boundaries, cfg.train_steps
(0.1, 128, (32000, 48000), 64000)
>>> cifar10(train_steps=640).scaled_boundaries()
(320, 480)
"""

import dataclasses

from keras_resnet import architectures, paper
from keras_resnet.training.config import SGDRecipe


@dataclasses.dataclass(frozen=True)
class CifarConfig(SGDRecipe):
    """Hyperparameters of the CIFAR-10 experiments (Sec. 4.2), besides `SGDRecipe`'s.

    Args:
        batch_size: int. Mini-batch size. Defaults to `128`.
        train_steps: int. Iterations to train. Defaults to `64000`.
        lr_boundaries: tuple of int. Iterations at which the rate is divided, for `train_steps`
            of the paper; shorter runs scale them. Defaults to `(32000, 48000)`.
        lr_decay_factor: float. Multiplier at each boundary. Defaults to `0.1`.
        warmup_learning_rate: float. ResNet-110's starting rate, kept until training error falls
            under `warmup_until_error`. Defaults to `0.01`.
        warmup_until_error: float. Training-error threshold that ends the warm-up. Defaults to
            `0.8`.
        warmup_min_depth: int. Nets at least this deep get the warm-up (the paper: ResNet-110
            and deeper). Defaults to `110`.
        warmup_check_every: int. The warm-up's training error is that of the last this many
            iterations, checked every this many ("about 400 iterations"). Defaults to `100`.
        validation_size: int. Training images held out to choose the schedule (45k/5k split).
            Defaults to `5000`.
        pad: int. Zero padding on each side before the random crop. Defaults to `4`.
        horizontal_flip: bool. Random horizontal flips. Defaults to `True`.
        eval_every: int. Iterations between evaluations (one point of the curves). Defaults to
            `1000`.
        shortcut: str. The CIFAR nets' shortcut option (Sec. 4.2). Defaults to `"A"`.
    """

    batch_size: int = 128
    train_steps: int = 64000
    lr_boundaries: tuple = (32000, 48000)
    lr_decay_factor: float = 0.1
    warmup_learning_rate: float = 0.01
    warmup_until_error: float = 0.8
    warmup_min_depth: int = 110
    warmup_check_every: int = 100
    validation_size: int = 5000
    pad: int = 4
    horizontal_flip: bool = True
    eval_every: int = 1000
    shortcut: str = architectures.FAMILY_SHORTCUT["cifar"]

    def scaled_boundaries(self):
        """The learning-rate boundaries scaled to this config's `train_steps`.

        The paper's boundaries sit at 1/2 and 3/4 of its 64k iterations; a shorter (or longer)
        run keeps those fractions.

        Example:

        >>> cifar10(train_steps=1000).scaled_boundaries()
        (500, 750)
        """
        paper_steps = CifarConfig.train_steps
        return tuple(round(b * self.train_steps / paper_steps) for b in self.lr_boundaries)


def cifar10(**changes):
    """The CIFAR-10 config of Sec. 4.2, with optional changes.

    Args:
        **changes: fields of `CifarConfig` to change.

    Returns:
        A `CifarConfig`.
    """
    return CifarConfig(**changes)


# Table 6's CIFAR-10 test error (%) by net, from `keras_resnet.paper` (its one transcription).
# Plain nets are only plotted (Fig. 6): the paper gives no numbers for them, nor training errors.
TABLE6_TEST_ERROR = {name: error for name, (_, error) in paper.TABLE_6.items()}

# The degradation experiment's nets (Fig. 6): the same depths, with and without shortcuts.
DEGRADATION_DEPTHS = {"plain": (20, 32, 44, 56), "residual": (20, 32, 44, 56, 110)}
