"""Every network the paper compares, as a named constructor over `build_network`.

`MODELS` maps the lowercase names (`"resnet34"`, `"plain56"`, `"highway20"`, …) to the
constructors; recipes and tests go through it, so a new entry is picked up everywhere.
"""

from keras_resnet import architectures
from keras_resnet.builder import build_network

MODELS = {}

_TITLES = {"residual": "ResNet", "plain": "PlainNet", "highway": "HighwayNet"}
_KIND_TEXT = {
    "residual": "residual network (Sec. 3.1–3.3)",
    "plain": "plain network, the residual net's twin without shortcuts (Sec. 3.3, Fig. 3 middle)",
    "highway": "highway network: gated shortcuts y = F(x)·T(x) + x·(1 − T(x)) (Srivastava et al., "
    "arXiv 1505.00387)",
}
_WHERE = {
    "imagenet": "Table 1, {block} blocks {stages}",
    "cifar": "Sec. 4.2, 6n+2 layers with n = {n}",
}

_DOC = '''{title}: the {depth}-layer {kind_text}.

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
'''
_EXAMPLE = """>>> model = keras_resnet.{title}({example_args})
>>> model.name, model.output_shape
('{key}', {example_output})"""
# The deepest net takes seconds to build; its example shows its stages instead of building it.
_DEEPEST_EXAMPLE = """>>> keras_resnet.architectures.cifar_architecture({depth}).stages  # n = {n} blocks per stage
({n}, {n}, {n})"""

_SHORTCUT_DOC = """
    shortcut: str. `"A"` (zero-padding identity), `"B"` (projection where dimensions change) or
        `"C"` (projection everywhere), Sec. 3.3. Defaults to `"{default}"`."""


def _register(family, depth, kind):
    """Makes, documents and registers the constructor of one network."""
    title = f"{_TITLES[kind]}{depth}"
    key = title.lower().replace("net", "") if kind != "residual" else title.lower()
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
        kind_text=_KIND_TEXT[kind],
        where=where,
        stride=architectures.FAMILY_STRIDE[family],
        input_shape=architectures.FAMILY_INPUT_SHAPE[family],
        classes=classes,
        shortcut_doc=_SHORTCUT_DOC.format(default=default_shortcut) if default_shortcut else "",
        key=key,
        example=_DEEPEST_EXAMPLE.format(depth=depth, n=(depth - 2) // 6) if depth == max(architectures.CIFAR_DEPTHS)
        else _EXAMPLE.format(title=title, example_args=example_args, key=key, example_output=example_output),
    )
    MODELS[key] = constructor
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

__all__ = ["MODELS", *(constructor.__name__ for constructor in MODELS.values())]
