"""The CIFAR-10 recipe's config (Sec. 4.2): every setting of a run, one home for each number.

Reference: He et al., "Deep Residual Learning for Image Recognition", CVPR 2016
(https://arxiv.org/abs/1512.03385), Sec. 4.2: SGD with momentum 0.9, weight decay 1e-4, batch
128, learning rate 0.1 divided by 10 at 32k and 48k iterations, stopped at 64k; a 45k/5k split;
the per-pixel mean subtracted; 4-pixel padding, random crops and flips; ResNet-110 warmed up at
0.01 until the training error is below 80%.

Example:

>>> cfg = cifar10()
>>> cfg.learning_rate, cfg.batch_size, cfg.train_steps, cfg.boundaries()
(0.1, 128, 64000, (32000, 48000))
>>> cifar10(train_steps=640).boundaries(), smoke().train_steps
((320, 480), 200)
"""

import dataclasses
import typing

from keras_resnet import architectures, paper, zoo
from keras_resnet.errors import RecipeError
from keras_resnet.training.config import Runtime, SGDRecipe, check_shortcut, option, replace, shown

# The paper's schedule: divided at 32k and 48k of 64k iterations (1/2 and 3/4 of the run).
PAPER_STEPS, PAPER_BOUNDARIES = 64000, (32000, 48000)


@dataclasses.dataclass(frozen=True)
class CifarConfig(SGDRecipe):
    """A run of the CIFAR recipe: the net, the data, the schedule, the augmentation, the
    optimiser (`SGDRecipe`) and where it runs (`Runtime`)."""

    model: str = option("resnet20", "resnetD, plainD or highwayD with D = 6n+2 (20, 32, 44, 56, 110, 1202).")
    shortcut: typing.Optional[str] = option(
        None,
        "Shortcut option A, B or C of residual and highway nets (Sec. 3.3); unset: A, the paper's.",
        choices=architectures.SHORTCUTS,
    )
    dataset: str = option("cifar10", "TFDS name (cifar10, cifar100, …); ignored with --data.", resume=False)
    data_dir: typing.Optional[str] = option(
        None, "TFDS data directory (a data set prepared there is used).", resume=False
    )
    download: bool = option(
        True, "Download the TFDS data set if --data_dir lacks it (--nodownload: never).", resume=False
    )
    data: typing.Optional[str] = option(
        None,
        "Local data: an .npz (x_train, y_train, x_test, y_test) or a folder of MNIST-format IDX files.",
        resume=False,
    )
    npz: typing.Optional[str] = option(None, "An .npz in the keras.datasets layout; as --data.", resume=False)
    full_train: bool = option(False, "Train on all training images (no validation split).")
    validation_size: int = option(5000, "Training images held out to choose the schedule (45k/5k).", minimum=0)
    batch_size: int = option(128, "Mini-batch size.", minimum=1)
    train_steps: int = option(PAPER_STEPS, "Iterations to train.", minimum=1)
    lr_boundaries: typing.Optional[tuple[int, ...]] = option(
        None,
        "Iterations at which the rate is divided; unset: 1/2 and 3/4 of --train_steps (the paper's 32k, 48k).",
        minimum=1,
    )
    lr_decay_factor: float = option(0.1, "Multiplier of the rate at each boundary.", positive=True)
    warmup_learning_rate: float = option(
        0.01,
        "ResNet-110's starting rate, kept until the training error falls under --warmup_until_error.",
        positive=True,
    )
    warmup_until_error: float = option(0.8, "Training error that ends the warm-up.", maximum=1.0)
    warmup_min_depth: int = option(110, "Nets at least this deep get the warm-up (the paper: ResNet-110).", minimum=1)
    warmup_check_every: int = option(
        100, "The warm-up's training error: that of the last this many iterations ('about 400').", minimum=1
    )
    pad: int = option(4, "Zero padding on each side before the random crop.", minimum=0)
    horizontal_flip: bool = option(True, "Random horizontal flips.")
    eval_every: int = option(1000, "Iterations between evaluations (one point of the curves).", minimum=1)
    runtime: Runtime = Runtime()

    def boundaries(self):
        """The iterations at which the rate is divided: `lr_boundaries`, or the paper's 1/2 and
        3/4 of the run."""
        if self.lr_boundaries is not None:
            return self.lr_boundaries
        return tuple(round(b * self.train_steps / PAPER_STEPS) for b in PAPER_BOUNDARIES)

    def check(self):
        """Raises `RecipeError` for an unknown net, a shortcut it cannot take, or `lr_boundaries`
        that are not increasing iterations of the run; needs no Keras."""
        check_shortcut(self.model, network_entry(self.model).kind, self.shortcut)
        bounds = self.lr_boundaries
        if bounds is not None and (list(bounds) != sorted(set(bounds)) or bounds[-1] > self.train_steps):
            raise RecipeError(
                f"--lr_boundaries must be increasing iterations of the run, at most --train_steps={self.train_steps}. "
                f"Received: --lr_boundaries={shown(bounds)}"
            )
        return self


def network_entry(name):
    """The zoo entry of a CIFAR net (`"resnet56"`, `"plain20"`, any 6n+2), or `RecipeError`."""
    try:
        return zoo.lookup(name, family="cifar")
    except ValueError as error:
        raise RecipeError(f"unknown --model {name!r}: {error}") from None


def cifar10(**changes):
    """The paper's CIFAR-10 run (Sec. 4.2), with optional changes of any field (`replace`)."""
    return replace(CifarConfig(), **changes)


def smoke(**changes):
    """A run of a few minutes on a 2-core CPU: ResNet-20, 200 iterations of 128 (÷10 at 100 and
    150), evaluated every 20."""
    return replace(CifarConfig(), **{"train_steps": 200, "eval_every": 20, **changes})


VARIANTS = {"paper": cifar10, "smoke": smoke}

# The kinds the degradation experiment compares (Fig. 6).
FAMILIES = ("plain", "residual")


@dataclasses.dataclass(frozen=True)
class DegradationConfig(CifarConfig):
    """The experiment: the CIFAR recipe's settings (every net's), and which nets."""

    families: tuple[str, ...] = option(FAMILIES, "Families to train: plain, residual.", choices=FAMILIES)
    depths: typing.Optional[tuple[int, ...]] = option(
        None, "Depths 6n+2 for every family; unset: the paper's (plain 20-56, residual 20-110).", minimum=8
    )
    responses: bool = option(False, "Also write Fig. 7: the std of each 3x3 layer's response on the test set.")


def degradation(**changes):
    """The paper's experiment (Fig. 6: 64k iterations on CIFAR-10), with optional changes."""
    return replace(DegradationConfig(), **changes)


def degradation_smoke(**changes):
    """A few minutes on a 2-core CPU: plain and residual 8 and 14, 200 iterations each."""
    return replace(DegradationConfig(), **{"depths": (8, 14), "train_steps": 200, "eval_every": 20, **changes})


DEGRADATION_VARIANTS = {"paper": degradation, "smoke": degradation_smoke}


# Table 6's CIFAR-10 test error (%) by net, from `keras_resnet.paper` (its one transcription).
# Plain nets are only plotted (Fig. 6): the paper gives no numbers for them, nor training errors.
TABLE6_TEST_ERROR = {name: error for name, (_, error) in paper.TABLE_6.items()}

# The degradation experiment's nets (Fig. 6): the same depths, with and without shortcuts.
DEGRADATION_DEPTHS = {"plain": (20, 32, 44, 56), "residual": (20, 32, 44, 56, 110)}
