"""The paper's architecture tables as data: Table 1 (ImageNet) and Sec. 4.2 (CIFAR), and the
kinds of network it compares.

Every depth, stage list, width and kind used by the constructors lives here and nowhere else.

Example:

>>> model_name("residual", 56), model_name("plain", 18), KINDS["highway"].title
('resnet56', 'plain18', 'HighwayNet')
"""

import dataclasses


@dataclasses.dataclass(frozen=True)
class Architecture:
    """One column of Table 1, or one CIFAR net of Sec. 4.2.

    Attributes:
        family: `"imagenet"` (7×7/64 stem and max pool, Table 1) or `"cifar"` (3×3/16 stem, Sec. 4.2).
        block: `"basic"` (two 3×3 convs) or `"bottleneck"` (1×1, 3×3, 1×1 with ×4 expansion).
        stages: blocks per stage, e.g. `(3, 4, 6, 3)`.
        widths: filters of each stage's 3×3 convs, e.g. `(64, 128, 256, 512)`.
    """

    family: str
    block: str
    stages: tuple
    widths: tuple


@dataclasses.dataclass(frozen=True)
class Kind:
    """How a network's blocks are joined, and how it is named.

    Attributes:
        prefix: str. The start of its registry name (`"resnet"` in `"resnet56"`).
        title: str. The start of its constructor's name (`"ResNet"` in `ResNet56`).
        text: str. What it is, with the paper's section.
    """

    prefix: str
    title: str
    text: str


# The one table of kinds: residual nets, their plain twins, and highway nets.
KINDS = {
    "residual": Kind("resnet", "ResNet", "residual network (Sec. 3.1–3.3)"),
    "plain": Kind(
        "plain", "PlainNet", "plain network, the residual net's twin without shortcuts (Sec. 3.3, Fig. 3 middle)"
    ),
    "highway": Kind(
        "highway",
        "HighwayNet",
        "highway network: gated shortcuts y = F(x)·T(x) + x·(1 − T(x)) (Srivastava et al., arXiv 1505.00387)",
    ),
}


def model_name(kind, depth):
    """The registry name of a net: `model_name("residual", 56)` is `"resnet56"`."""
    return f"{KINDS[kind].prefix}{depth}"


IMAGENET_WIDTHS = (64, 128, 256, 512)
CIFAR_WIDTHS = (16, 32, 64)

# Table 1: depth -> (block, blocks per stage).
IMAGENET_DEPTHS = {
    18: ("basic", (2, 2, 2, 2)),
    34: ("basic", (3, 4, 6, 3)),
    50: ("bottleneck", (3, 4, 6, 3)),
    101: ("bottleneck", (3, 4, 23, 3)),
    152: ("bottleneck", (3, 8, 36, 3)),
}

# Sec. 4.2 / Table 6: the CIFAR depths the paper trains (any 6n+2 can be built).
CIFAR_DEPTHS = (20, 32, 44, 56, 110, 1202)

# Spatial downsampling of the whole net: the smallest input side it accepts.
FAMILY_STRIDE = {"imagenet": 32, "cifar": 4}
FAMILY_INPUT_SHAPE = {"imagenet": (224, 224, 3), "cifar": (32, 32, 3)}
FAMILY_CLASSES = {"imagenet": 1000, "cifar": 10}
# The shortcut options of Sec. 3.3: A zero-pads, B projects where the shape changes, C projects always.
SHORTCUTS = ("A", "B", "C")
# Sec. 3.3: ImageNet nets compare options A/B/C and default to B; CIFAR nets use A.
FAMILY_SHORTCUT = {"imagenet": "B", "cifar": "A"}

# Batch normalization as in the original Caffe models and torchvision (Keras' defaults are
# momentum 0.99, epsilon 1e-3).
BN_MOMENTUM = 0.9
BN_EPSILON = 1e-5


def imagenet_architecture(depth):
    """Table 1's column for `depth` (18, 34, 50, 101 or 152)."""
    if depth not in IMAGENET_DEPTHS:
        raise ValueError(
            f"ImageNet depth must be one of {sorted(IMAGENET_DEPTHS)} (Table 1); pass `stages=` to "
            f"`keras_resnet.build_network` for other stage lists. Received: depth={depth!r}"
        )
    block, stages = IMAGENET_DEPTHS[depth]
    return Architecture("imagenet", block, stages, IMAGENET_WIDTHS)


def cifar_architecture(depth):
    """The 6n+2-layer CIFAR net of Sec. 4.2: three stages of n basic blocks (16, 32, 64 filters)."""
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 8 or (depth - 2) % 6:
        raise ValueError(
            "CIFAR depth must be 6n+2 for a whole n >= 1 (8, 14, 20, 32, 44, 56, 110, 1202, ...). "
            f"Received: depth={depth!r}"
        )
    n = (depth - 2) // 6
    return Architecture("cifar", "basic", (n, n, n), CIFAR_WIDTHS)
