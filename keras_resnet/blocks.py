"""The paper's building blocks: basic and bottleneck branches, joined plain, residual or highway.

A block class knows only its branch F(x) and its channel expansion; how F(x) meets x (no shortcut,
an identity/projection shortcut, or a highway gate) is the `kind` of the unit, so one stage builder
serves every network of the paper.
"""

import dataclasses

import keras

from keras_resnet import architectures
from keras_resnet.layers import BatchNormalization, HighwayCombine, ZeroPadShortcut

KINDS = tuple(architectures.KINDS)
SHORTCUTS = architectures.SHORTCUTS
BOTTLENECK_STRIDES = ("1x1", "3x3")


@dataclasses.dataclass(frozen=True)
class BlockOptions:
    """How every unit of a network is built.

    Attributes:
        kind: `"plain"` (no shortcut), `"residual"` (y = F(x) + x) or `"highway"`
            (y = F(x)·T(x) + x·(1 − T(x))).
        shortcut: `"A"`, `"B"` or `"C"` (Sec. 3.3); for highway nets, the carry path where
            dimensions change. Ignored by plain nets.
        bottleneck_stride: `"1x1"`, the paper's layout (stride 2 in the first 1×1 conv), or
            `"3x3"`, the later "ResNet v1.5" layout (torchvision; ~0.5% better top-1, 4.1 instead
            of 3.9 GFLOPs for ResNet-50).
        zero_init_residual: start each branch's last BN at γ = 0, so every residual unit starts as
            its shortcut (Goyal et al., arXiv 1706.02677). Not in the paper.
        gate_bias: initial bias of highway gates; negative, so the net starts by carrying x
            (Srivastava et al. use −1 to −3, deeper nets more negative).
        gate_kernel_size: kernel size of the convolutional highway gate.
        kernel_regularizer: regularizer for every conv and dense kernel (overrides
            `regularizer` there).
        regularizer: regularizer for every trainable weight: kernels, biases, BN γ and β, e.g.
            `keras.regularizers.L2(5e-5)` for the paper's (Caffe's) weight decay of 1e-4.
    """

    kind: str = "residual"
    shortcut: str = "B"
    bottleneck_stride: str = "1x1"
    zero_init_residual: bool = False
    gate_bias: float = -2.0
    gate_kernel_size: int = 3
    kernel_regularizer: object = None
    regularizer: object = None

    @property
    def kernel_decay(self):
        return self.kernel_regularizer or self.regularizer


def conv(x, filters, kernel_size, strides, name, options, **kwargs):
    """A bias-free, He-initialised convolution named `{name}_conv`.

    Strided convolutions are zero-padded by `kernel_size // 2` on every side (as Caffe and
    PyTorch pad), not by TensorFlow's asymmetric "same", so weights port between frameworks.
    """
    if strides > 1 and kernel_size > 1:
        x = keras.layers.ZeroPadding2D(kernel_size // 2, name=f"{name}_pad")(x)
        padding = "valid"
    else:
        padding = "same"
    kwargs.setdefault("use_bias", False)
    kwargs.setdefault("kernel_initializer", "he_normal")
    return keras.layers.Conv2D(
        filters,
        kernel_size,
        strides=strides,
        padding=padding,
        kernel_regularizer=options.kernel_decay,
        bias_regularizer=options.regularizer if kwargs.get("use_bias") else None,
        name=f"{name}_conv",
        **kwargs,
    )(x)


def conv_bn(x, filters, kernel_size, strides, name, options, relu=True, zero_gamma=False):
    """conv → BN (→ ReLU): the paper puts BN right after each conv, before the activation."""
    x = conv(x, filters, kernel_size, strides, name, options)
    x = BatchNormalization(
        momentum=architectures.BN_MOMENTUM,
        epsilon=architectures.BN_EPSILON,
        gamma_initializer="zeros" if zero_gamma else "ones",
        gamma_regularizer=options.regularizer,
        beta_regularizer=options.regularizer,
        name=f"{name}_bn",
    )(x)
    if relu:
        x = keras.layers.Activation("relu", name=f"{name}_relu")(x)
    return x


class BasicBlock:
    """Two 3×3 convs (Fig. 5 left), used by ResNet-18/34 and the CIFAR nets."""

    expansion = 1

    @staticmethod
    def branch(x, filters, strides, name, options):
        x = conv_bn(x, filters, 3, strides, f"{name}_1", options)
        return conv_bn(
            x,
            filters,
            3,
            1,
            f"{name}_2",
            options,
            relu=False,
            zero_gamma=options.zero_init_residual,
        )


class Bottleneck:
    """1×1 (reduce), 3×3, 1×1 (restore ×4) convs (Fig. 5 right), used by ResNet-50/101/152."""

    expansion = 4

    @staticmethod
    def branch(x, filters, strides, name, options):
        first, middle = (strides, 1) if options.bottleneck_stride == "1x1" else (1, strides)
        x = conv_bn(x, filters, 1, first, f"{name}_1", options)
        x = conv_bn(x, filters, 3, middle, f"{name}_2", options)
        return conv_bn(
            x,
            filters * Bottleneck.expansion,
            1,
            1,
            f"{name}_3",
            options,
            relu=False,
            zero_gamma=options.zero_init_residual,
        )


BLOCKS = {"basic": BasicBlock, "bottleneck": Bottleneck}


def shortcut(x, filters, strides, name, options):
    """The shortcut of Sec. 3.3 from `x` to a map of `filters` channels subsampled by `strides`.

    Option A is the identity, subsampled and zero-padded where dimensions grow; B is the identity
    except for a 1×1 projection + BN where dimensions change; C projects everywhere.
    """
    same_shape = strides == 1 and x.shape[-1] == filters
    if options.shortcut == "C" or (options.shortcut == "B" and not same_shape):
        return conv_bn(x, filters, 1, strides, f"{name}_0", options, relu=False)
    if same_shape:
        return x
    return ZeroPadShortcut(filters, strides, name=f"{name}_0_shortcut")(x)


def unit(x, filters, strides, block, name, options):
    """One building block: branch F(x), joined with x as `options.kind` says, then ReLU.

    Layers are named in the keras.applications scheme: `{name}_1_conv`, `{name}_0_conv` for a
    projection shortcut, `{name}_add`, `{name}_out`.
    """
    out_filters = filters * block.expansion
    y = block.branch(x, filters, strides, name, options)
    if options.kind == "residual":
        y = keras.layers.Add(name=f"{name}_add")([y, shortcut(x, out_filters, strides, name, options)])
    elif options.kind == "highway":
        gate = conv(
            x,
            out_filters,
            options.gate_kernel_size,
            strides,
            f"{name}_gate",
            options,
            use_bias=True,
            bias_initializer=keras.initializers.Constant(options.gate_bias),
            activation="sigmoid",
        )
        y = HighwayCombine(name=f"{name}_highway")([y, gate, shortcut(x, out_filters, strides, name, options)])
    return keras.layers.Activation("relu", name=f"{name}_out")(y)


def stage(x, filters, blocks, strides, block, name, options):
    """`blocks` units of `filters`; the first one subsamples by `strides` (Table 1: conv3_1 …)."""
    for i in range(blocks):
        x = unit(x, filters, strides if i == 0 else 1, block, f"{name}_block{i + 1}", options)
    return x
