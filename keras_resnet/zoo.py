"""Every network the paper compares, as a named constructor over `build_network`.

`MODELS` maps the lowercase names (`"resnet34"`, `"plain56"`, `"highway20"`, …) to entries that
say what each net is (family, kind, depth, architecture) and build it when called; recipes,
benchmarks and tests go through it (or `lookup`, which also makes the CIFAR depths 6n+2 the paper
does not list), so nothing parses a name and a new entry is picked up everywhere.

Example:

>>> entry = MODELS["resnet56"]
>>> entry.family, entry.kind, entry.depth, entry.architecture.stages
('cifar', 'residual', 56, (9, 9, 9))
>>> lookup("plain8", family="cifar").architecture.stages
(1, 1, 1)
"""

import dataclasses
import re
from typing import Callable

from keras_resnet import architectures

MODELS = {}
_WHERE = {
    "imagenet": "Table 1, {block} blocks {stages}",
    "cifar": "Sec. 4.2, 6n+2 layers with n = {n}",
}

_DOC = """{title}: the {depth}-layer {kind_text}.

Reference: He et al., "Deep Residual Learning for Image Recognition", CVPR 2016
(https://arxiv.org/abs/1512.03385), {where}.

Args:
    include_top: bool. End with global average pooling and a `classes`-way dense layer.
        Defaults to `True`.
    weights: `None` (He initialisation); `"imagenet"` or a source's name (`"msra"`,
        `"torchvision_v1"`) for the published ImageNet weights where they exist
        (`keras_resnet.pretrained.registry`); or the path of a weights file (written by
        `model.save_weights`, or a published file). Defaults to `None`.
    input_tensor: optional Keras tensor to use as the model's input.
    input_shape: optional `(height, width, channels)`; height and width `None` or at least
        {stride}. Defaults to `{input_shape}`.
    pooling: with `include_top=False`: `None` (the last feature map), `"avg"` or `"max"`.
    classes: int. Number of classes. Defaults to `{classes}`.
    classifier_activation: activation of the top layer; `None` gives logits. Defaults to
        `"softmax"`.{shortcut_doc}
    **options: further options of `keras_resnet.build_network`: `bottleneck_stride`,
        `zero_init_residual`, `gate_bias`, `gate_kernel_size`, `kernel_regularizer`,
        `regularizer`, `include_preprocessing`, `name`.

Returns:
    A functional `keras.Model` named `"{key}"`.

Example:

{example}
"""
_EXAMPLE = """>>> model = keras_resnet.{title}({example_args})
>>> model.name, model.output_shape
('{key}', {example_output})"""
# The deepest net takes seconds to build; its example shows its stages instead of building it.
_DEEPEST_EXAMPLE = """>>> keras_resnet.architectures.cifar_architecture({depth}).stages  # n = {n} blocks per stage
({n}, {n}, {n})"""

_SHORTCUT_DOC = """
    shortcut: str. `"A"` (zero-padding identity), `"B"` (projection where dimensions change) or
        `"C"` (projection everywhere), Sec. 3.3. Defaults to `"{default}"`."""


@dataclasses.dataclass(frozen=True)
class ModelEntry:
    """A network of the zoo: what it is, and its constructor (calling the entry calls it).

    Attributes:
        name: str. Its registry name, e.g. `"resnet56"`.
        family: str. `"imagenet"` or `"cifar"`.
        kind: str. `"residual"`, `"plain"` or `"highway"` (`architectures.KINDS`).
        depth: int. Weighted layers, as the paper counts them.
        architecture: `architectures.Architecture`. Its block, stages and widths.
        constructor: the function that builds it (`keras_resnet.ResNet56`); `None` for a CIFAR
            depth the paper does not list (`lookup`), which `__call__` builds with `build_network`.
    """

    name: str
    family: str
    kind: str
    depth: int
    architecture: architectures.Architecture
    constructor: Callable = None

    def __call__(self, *args, **kwargs):
        if self.constructor is not None:
            return self.constructor(*args, **kwargs)
        from keras_resnet.builder import build_network  # Keras loads when a net is built, not before.

        kwargs.setdefault("name", self.name)
        return build_network(self.family, self.depth, *args, kind=self.kind, **kwargs)


_NAME = re.compile(r"^({})(\d+)$".format("|".join(k.prefix for k in architectures.KINDS.values())))
_KIND_OF_PREFIX = {k.prefix: kind for kind, k in architectures.KINDS.items()}


def lookup(name, family=None):
    """The entry of a registered net, or of any CIFAR depth 6n+2 (`"resnet8"`, `"plain14"`).

    Args:
        name: str.
        family: optional str. Only nets of this family (`"imagenet"`, `"cifar"`).

    Returns:
        A `ModelEntry`.

    Raises:
        ValueError: no such net, with a one-line message of what exists.
    """
    entry = MODELS.get(name)
    if entry is None and family in (None, "cifar"):
        match = _NAME.match(str(name))
        depth = int(match.group(2)) if match else 0
        if depth >= 8 and (depth - 2) % 6 == 0:
            kind = _KIND_OF_PREFIX[match.group(1)]
            entry = ModelEntry(name, "cifar", kind, depth, architectures.cifar_architecture(depth))
    if entry is not None and family in (None, entry.family):
        return entry
    prefixes = [f"{k.prefix}D" for k in architectures.KINDS.values()]
    if family == "cifar":
        raise ValueError(
            f"CIFAR models are {', '.join(prefixes[:-1])} or {prefixes[-1]} with depth D = 6n+2 "
            f"({', '.join(map(str, architectures.CIFAR_DEPTHS))}, or e.g. 8 for tests)"
        )
    names = ", ".join(n for n, e in MODELS.items() if family in (None, e.family))
    raise ValueError(f"{_FAMILY_TITLES.get(family, 'the')} models are {names}")


_FAMILY_TITLES = {"imagenet": "ImageNet", "cifar": "CIFAR"}


def _register(family, depth, kind):
    """Makes, documents and registers the constructor of one network."""
    title = f"{architectures.KINDS[kind].title}{depth}"
    key = architectures.model_name(kind, depth)
    classes = architectures.FAMILY_CLASSES[family]
    default_shortcut = architectures.FAMILY_SHORTCUT[family] if kind != "plain" else None

    def constructor(
        include_top=True,
        weights=None,
        input_tensor=None,
        input_shape=None,
        pooling=None,
        classes=classes,
        classifier_activation="softmax",
        shortcut=default_shortcut,
        **options,
    ):
        from keras_resnet.builder import build_network

        options.setdefault("name", key)
        return build_network(
            family,
            depth,
            kind=kind,
            shortcut=shortcut,
            include_top=include_top,
            weights=weights,
            input_tensor=input_tensor,
            input_shape=input_shape,
            pooling=pooling,
            classes=classes,
            classifier_activation=classifier_activation,
            **options,
        )

    architecture = (architectures.imagenet_architecture if family == "imagenet" else architectures.cifar_architecture)(
        depth
    )
    if family == "imagenet":
        block, stages = architectures.IMAGENET_DEPTHS[depth]
        where = _WHERE[family].format(block=block, stages=list(stages))
        example_args, example_output = "", f"(None, {classes})"
    else:
        where = _WHERE[family].format(n=(depth - 2) // 6)
        example_args = "input_shape=(28, 28, 1), include_top=False, pooling='avg'"
        example_output = f"(None, {architectures.CIFAR_WIDTHS[-1]})"
    constructor.__name__ = constructor.__qualname__ = title
    constructor.__module__ = "keras_resnet"
    constructor.__doc__ = _DOC.format(
        title=title,
        depth=depth,
        kind_text=architectures.KINDS[kind].text,
        where=where,
        stride=architectures.FAMILY_STRIDE[family],
        input_shape=architectures.FAMILY_INPUT_SHAPE[family],
        classes=classes,
        shortcut_doc=_SHORTCUT_DOC.format(default=default_shortcut) if default_shortcut else "",
        key=key,
        example=_DEEPEST_EXAMPLE.format(depth=depth, n=(depth - 2) // 6)
        if depth == max(architectures.CIFAR_DEPTHS)
        else _EXAMPLE.format(title=title, example_args=example_args, key=key, example_output=example_output),
    )
    MODELS[key] = ModelEntry(key, family, kind, depth, architecture, constructor)
    return constructor


# Table 1 / Table 2 / Table 3: ImageNet.
ResNet18 = _register("imagenet", 18, "residual")
ResNet34 = _register("imagenet", 34, "residual")
ResNet50 = _register("imagenet", 50, "residual")
ResNet101 = _register("imagenet", 101, "residual")
ResNet152 = _register("imagenet", 152, "residual")
PlainNet18 = _register("imagenet", 18, "plain")
PlainNet34 = _register("imagenet", 34, "plain")
PlainNet50 = _register("imagenet", 50, "plain")
PlainNet101 = _register("imagenet", 101, "plain")
PlainNet152 = _register("imagenet", 152, "plain")
HighwayNet18 = _register("imagenet", 18, "highway")
HighwayNet34 = _register("imagenet", 34, "highway")

# Sec. 4.2 / Table 6 / Fig. 6: CIFAR-10.
ResNet20 = _register("cifar", 20, "residual")
ResNet32 = _register("cifar", 32, "residual")
ResNet44 = _register("cifar", 44, "residual")
ResNet56 = _register("cifar", 56, "residual")
ResNet110 = _register("cifar", 110, "residual")
ResNet1202 = _register("cifar", 1202, "residual")
PlainNet20 = _register("cifar", 20, "plain")
PlainNet32 = _register("cifar", 32, "plain")
PlainNet44 = _register("cifar", 44, "plain")
PlainNet56 = _register("cifar", 56, "plain")
PlainNet110 = _register("cifar", 110, "plain")
HighwayNet20 = _register("cifar", 20, "highway")
HighwayNet32 = _register("cifar", 32, "highway")
HighwayNet44 = _register("cifar", 44, "highway")
HighwayNet56 = _register("cifar", 56, "highway")
HighwayNet110 = _register("cifar", 110, "highway")

__all__ = ["MODELS", *(entry.constructor.__name__ for entry in MODELS.values())]
