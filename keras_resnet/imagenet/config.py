"""The ImageNet recipe's config (Sec. 3.4): every setting of a run, one home for each number.

Reference: He et al., "Deep Residual Learning for Image Recognition", CVPR 2016
(https://arxiv.org/abs/1512.03385), Sec. 3.4: SGD with momentum 0.9, weight decay 1e-4, batch 256,
learning rate 0.1 divided by 10 when the error plateaus, up to 60×10⁴ iterations; 224×224 crops of
images whose shorter side is sampled in [256, 480], flips, the per-pixel mean subtracted,
AlexNet's colour augmentation.

Example:

>>> cfg = imagenet()
>>> cfg.batch_size, cfg.scale_range, cfg.eval_resize, cfg.schedule, cfg.iterations()
(256, (256, 480), 256, 'plateau', 600000)
>>> imagenet(batch_size=1024, linear_scaling=True).scaled_learning_rate()
0.4
>>> imagenet(schedule="step", train_images=2560).step_boundaries()
(300, 600, 800, 900)
"""

import dataclasses
import math
import typing

from keras_resnet import architectures, zoo
from keras_resnet.errors import RecipeError
from keras_resnet.training.config import Runtime, SGDRecipe, check_shortcut, option, replace, shown

SCHEDULES = ("plateau", "step")
MEANS = ("pixel", "channel")
BOTTLENECK_STRIDES = ("1x1", "3x3")
PROTOCOLS = ("center", "10crop", "multiscale")  # The paper's test protocols (`evaluation`).
# A net small enough for smoke tests on a CPU; not a network of the paper.
TEST_NETWORKS = {"tiny": dict(stages=(1, 1), widths=(16, 32))}  # Multiples of 16: oneDNN's AVX-512 channel block.
IMAGENET_MODELS = tuple(name for name, entry in zoo.MODELS.items() if entry.family == "imagenet")


@dataclasses.dataclass(frozen=True)
class ImageNetConfig(SGDRecipe):
    """A run of the ImageNet recipe: the net, the data, the schedule, the augmentation, the
    test protocol's sizes, the optimiser (`SGDRecipe`) and where it runs (`Runtime`)."""

    model: str = option("resnet50", "resnet18…152, plain18…152, highway18/34 (tiny: a smoke-test net).")
    shortcut: typing.Optional[str] = option(
        None,
        "Shortcut option A, B or C (Sec. 3.3); unset: B (Tables 3-5). Table 2 / Fig. 4 (plain vs residual 18/34) use A.",
        choices=architectures.SHORTCUTS,
    )
    bottleneck_stride: str = option(
        "1x1", "Stride in the bottleneck's 1x1 (the paper) or 3x3 conv (v1.5, torchvision).", choices=BOTTLENECK_STRIDES
    )
    init_weights: typing.Optional[str] = option(
        None, "Start from published weights (imagenet, msra, torchvision_v1, or a file): fine-tuning."
    )
    data_dir: typing.Optional[str] = option(None, "TFDS data directory with imagenet2012 prepared.", resume=False)
    manual_dir: typing.Optional[str] = option(
        None, "Directory of ILSVRC2012_img_{train,val}.tar, for TFDS to prepare imagenet2012.", resume=False
    )
    image_folder: typing.Optional[str] = option(
        None, "ImageNet-layout folder: train/<wnid>/*.JPEG, val/<wnid>/*.JPEG.", resume=False
    )
    tfrecords: typing.Optional[str] = option(
        None, "Directory of train-* and validation-* TFRecords (image/encoded, image/class/label).", resume=False
    )
    tfrecord_label_offset: int = option(0, "Added to TFRecord labels (-1 for 1-based labels).")
    classes: int = option(1000, "Classes of --tfrecords data (folders and TFDS know theirs).", minimum=1)
    batch_size: int = option(256, "Global mini-batch, split across replicas.", minimum=1)
    max_steps: int = option(600000, "Iterations at most of the plateau schedule.", minimum=1)
    train_steps: typing.Optional[int] = option(
        None, "Iterations; unset: --max_steps (plateau) or the step schedule's --total_epochs.", minimum=1
    )
    schedule: str = option(
        "plateau",
        "plateau: ÷10 when the validation error plateaus (the paper); step: ÷10 at --step_epochs of "
        "--total_epochs (Goyal et al., arXiv 1706.02677, not in the paper).",
        choices=SCHEDULES,
    )
    plateau_factor: float = option(0.1, "Rate multiplier when the error plateaus.", positive=True)
    plateau_patience: int = option(3, "Evaluations without improvement before dividing (not in the paper).", minimum=1)
    step_epochs: tuple[int, ...] = option((30, 60, 80), "Epochs at which the step schedule divides.", minimum=1)
    total_epochs: int = option(90, "Length of the step schedule.", minimum=1)
    train_images: int = option(1281167, "Training-set size, for epochs.", minimum=1)
    linear_scaling: bool = option(
        False, "Learning rate × batch / --reference_batch_size (Goyal et al., arXiv 1706.02677). Not in the paper."
    )
    reference_batch_size: int = option(256, "Batch of the base rate.", minimum=1)
    eval_every: int = option(5000, "Iterations between validations (plateau checks).", minimum=1)
    image_size: int = option(224, "Side of the random crop.", minimum=1)
    scale_range: tuple[int, ...] = option(
        (256, 480), "Range of the random shorter side (scale augmentation), smallest first.", minimum=1
    )
    eval_resize: int = option(256, "Shorter side before the evaluation centre crop.", minimum=1)
    test_scales: tuple[int, ...] = option(
        (224, 256, 384, 480, 640), "Shorter sides of the fully convolutional multi-scale test.", minimum=1, resume=False
    )
    mean: str = option(
        "pixel",
        "pixel: the per-pixel mean of the training set (the paper), computed once and cached; channel: the "
        "published per-channel mean.",
        choices=MEANS,
    )
    channel_mean: tuple[float, ...] = option(
        (123.68, 116.779, 103.939), "Published ImageNet RGB mean (Caffe's BGR 104, 117, 123)."
    )
    mean_images: typing.Optional[int] = option(
        None, "Training images averaged for the per-pixel mean, a sample; unset: all (the paper).", minimum=1
    )
    pca_lighting_std: float = option(0.1, "Standard deviation of AlexNet's PCA lighting.")
    pca_eigval: tuple[float, ...] = option(
        (0.2175, 0.0188, 0.0045), "Eigenvalues of the ImageNet RGB covariance (pixels in [0, 1])."
    )
    pca_eigvec: tuple[tuple[float, ...], ...] = option(
        ((-0.5675, 0.7192, 0.4009), (-0.5808, -0.0045, -0.8140), (-0.5836, -0.6948, 0.4203)),
        "Its eigenvectors, one per column (AlexNet's lighting as fb.resnet.torch publishes it).",
    )
    shuffle_buffer: int = option(
        10000, "Records permuted together in the training stream of TFRecords or TFDS (two windows held).", minimum=1
    )
    interleave_files: int = option(64, "Record files read at a time, one record from each in turn.", minimum=1)
    runtime: Runtime = Runtime()

    def scaled_learning_rate(self):
        """The initial rate; × batch / `reference_batch_size` with `linear_scaling`."""
        if not self.linear_scaling:
            return self.learning_rate
        return self.learning_rate * self.batch_size / self.reference_batch_size

    def steps_per_epoch(self):
        """Iterations per pass over `train_images`."""
        return math.ceil(self.train_images / self.batch_size)

    def step_boundaries(self):
        """The step schedule's boundaries and its end, in iterations."""
        per_epoch = self.steps_per_epoch()
        return tuple(e * per_epoch for e in self.step_epochs) + (self.total_epochs * per_epoch,)

    def kind(self):
        """The net's kind: `"residual"`, `"plain"` or `"highway"` (`tiny` is residual)."""
        return zoo.MODELS[self.model].kind if self.model in IMAGENET_MODELS else "residual"

    def iterations(self):
        """The run's iterations: `train_steps`, or the schedule's end."""
        if self.train_steps is not None:
            return self.train_steps
        return self.step_boundaries()[-1] if self.schedule == "step" else self.max_steps

    def check(self):
        """Raises `RecipeError` for an unknown net, a shortcut it cannot take, or crop sizes that
        cannot be cut from the scaled images; needs no Keras."""
        if self.model not in TEST_NETWORKS and self.model not in IMAGENET_MODELS:
            raise RecipeError(
                f"unknown --model {self.model!r}: ImageNet models are {', '.join(IMAGENET_MODELS)} (or tiny for tests)"
            )
        check_shortcut(self.model, self.kind(), self.shortcut)
        if len(self.scale_range) != 2 or self.scale_range[0] > self.scale_range[1]:
            raise RecipeError(
                "--scale_range takes two shorter sides, smallest first (paper: 256,480). "
                f"Received: --scale_range={shown(self.scale_range)}"
            )
        for name, side in (("scale_range", self.scale_range[0]), ("eval_resize", self.eval_resize)):
            if self.image_size > side:  # The crop is taken from the image scaled to this side.
                raise RecipeError(
                    f"--image_size={self.image_size} is larger than the shorter side --{name} scales the images to "
                    f"({side}); choose --image_size at most {side}"
                )
        for name, value in (("channel_mean", self.channel_mean), ("pca_eigval", self.pca_eigval)):
            if len(value) != 3:
                raise RecipeError(f"--{name} takes 3 numbers, R, G, B. Received: --{name}={shown(value)}")
        if len(self.pca_eigvec) != 3:
            raise RecipeError(
                f"--pca_eigvec takes 3 rows of 3 numbers. Received: --pca_eigvec={shown(self.pca_eigvec)}"
            )
        return self


def imagenet(**changes):
    """The paper's ImageNet run (Sec. 3.4), with optional changes of any field (`replace`)."""
    return replace(ImageNetConfig(), **changes)


def smoke(**changes):
    """A run of a few minutes on a 2-core CPU: the `tiny` net on 64-pixel crops of images scaled
    to 72-96, batches of 16, 100 iterations evaluated every 20, the per-channel mean."""
    settings = dict(
        model="tiny",
        image_size=64,
        scale_range=(72, 96),
        eval_resize=72,
        test_scales=(64, 80),
        batch_size=16,
        train_steps=100,
        eval_every=20,
        mean="channel",
    )
    return replace(ImageNetConfig(), **{**settings, **changes})


VARIANTS = {"paper": imagenet, "smoke": smoke}
