"""The ImageNet recipe's hyperparameters (Sec. 3.4): one home for every number of the recipe.

Reference: He et al., "Deep Residual Learning for Image Recognition", CVPR 2016
(https://arxiv.org/abs/1512.03385), Sec. 3.4.

Example:

>>> cfg = imagenet()
>>> cfg.batch_size, cfg.scale_range, cfg.eval_resize, cfg.schedule
(256, (256, 480), 256, 'plateau')
>>> imagenet(batch_size=1024, linear_scaling=True).scaled_learning_rate()
0.4
>>> imagenet(schedule="step", train_images=2560).step_boundaries()
(300, 600, 800, 900)
"""

import dataclasses
import math

from keras_resnet import architectures
from keras_resnet.training.config import SGDRecipe

SCHEDULES = ("plateau", "step")
MEANS = ("pixel", "channel")


@dataclasses.dataclass(frozen=True)
class ImageNetConfig(SGDRecipe):
    """Hyperparameters of the ImageNet recipe (Sec. 3.4), besides `SGDRecipe`'s.

    Args:
        batch_size: int. Global mini-batch, split across replicas. Defaults to `256`.
        max_steps: int. Iterations at most. Defaults to `600000`.
        plateau_factor: float. Rate multiplier when the error plateaus. Defaults to `0.1`.
        plateau_patience: int. Evaluations without improvement before dividing. The paper
            does not give it. Defaults to `3`.
        image_size: int. Side of the random crop. Defaults to `224`.
        scale_range: tuple of int. Range of the random shorter side (scale augmentation).
            Defaults to `(256, 480)`.
        pca_lighting_std: float. Standard deviation of AlexNet's PCA lighting. Defaults to
            `0.1`.
        test_scales: tuple of int. Shorter sides of the fully convolutional multi-scale test.
            Defaults to `(224, 256, 384, 480, 640)`.
        shortcut: str. Defaults to `"B"`.
        eval_resize: int. Shorter side before the evaluation centre crop. Defaults to `256`.
        mean: str. `"pixel"`: the per-pixel mean of the training set (the paper), computed once
            and cached; `"channel"`: the published per-channel mean. Defaults to `"pixel"`.
        channel_mean: tuple of float. Published ImageNet RGB mean (Caffe's BGR 104, 117, 123).
        mean_images: optional int. Training images averaged for the per-pixel mean, a random
            sample (`input_pipeline.compute_pixel_mean`); `None`: all (the paper). Not in the paper.
        pca_eigval: tuple of float. Eigenvalues of the ImageNet RGB covariance (pixels in [0, 1];
            AlexNet's lighting as published by fb.resnet.torch).
        pca_eigvec: tuple of tuples. Its eigenvectors, one per column.
        schedule: str. `"plateau"`: ÷10 when the validation error plateaus (the paper);
            `"step"`: ÷10 at `step_epochs` of `total_epochs` (Goyal et al., arXiv 1706.02677).
            Not in the paper. Defaults to `"plateau"`.
        step_epochs: tuple of int. Epochs at which the step schedule divides. Defaults to
            `(30, 60, 80)`.
        total_epochs: int. Length of the step schedule. Defaults to `90`.
        train_images: int. Training-set size, for epochs. Defaults to `1281167`.
        linear_scaling: bool. Learning rate × batch / `reference_batch_size` (Goyal et al.,
            arXiv 1706.02677). Not in the paper. Defaults to `False`.
        reference_batch_size: int. Batch of the base rate. Defaults to `256`.
        eval_every: int. Iterations between validations (plateau checks). Defaults to `5000`.
        shuffle_buffer: int. Records permuted together in the training stream of a record source
            (TFRecords, TFDS): two such windows of encoded images are held (`imagenet.order`).
            Defaults to `10000` (about 1.1 GB of ImageNet JPEGs a window).
        interleave_files: int. Record files read at a time, one record from each in turn
            (`imagenet.order`). Defaults to `64`.
    """

    batch_size: int = 256
    max_steps: int = 600000
    plateau_factor: float = 0.1
    plateau_patience: int = 3
    image_size: int = 224
    scale_range: tuple = (256, 480)
    pca_lighting_std: float = 0.1
    test_scales: tuple = (224, 256, 384, 480, 640)
    shortcut: str = architectures.FAMILY_SHORTCUT["imagenet"]
    eval_resize: int = 256
    mean: str = "pixel"
    channel_mean: tuple = (123.68, 116.779, 103.939)
    mean_images: int = None
    pca_eigval: tuple = (0.2175, 0.0188, 0.0045)
    pca_eigvec: tuple = ((-0.5675, 0.7192, 0.4009), (-0.5808, -0.0045, -0.8140), (-0.5836, -0.6948, 0.4203))
    schedule: str = "plateau"
    step_epochs: tuple = (30, 60, 80)
    total_epochs: int = 90
    train_images: int = 1281167
    linear_scaling: bool = False
    reference_batch_size: int = 256
    eval_every: int = 5000
    shuffle_buffer: int = 10000
    interleave_files: int = 64

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


def imagenet(**changes):
    """The ImageNet recipe's config with optional changes.

    Args:
        **changes: fields of `ImageNetConfig`.

    Returns:
        An `ImageNetConfig`.
    """
    return ImageNetConfig(**changes)
