"""One generic builder for every network of the paper: plain, highway or residual; ImageNet or CIFAR."""

import keras

from keras_resnet import architectures, blocks, pretrained
from keras_resnet.network import Network

POOLINGS = (None, "avg", "max")


def build_network(
    family="imagenet",
    depth=None,
    *,
    stages=None,
    block="basic",
    widths=None,
    kind="residual",
    shortcut=None,
    include_top=True,
    weights=None,
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=None,
    classifier_activation="softmax",
    bottleneck_stride="1x1",
    zero_init_residual=False,
    gate_bias=-2.0,
    gate_kernel_size=3,
    kernel_regularizer=None,
    regularizer=None,
    include_preprocessing=True,
    name=None,
):
    """Builds a plain, highway or residual network of the paper as a functional `keras.Model`.

    Reference: He et al., "Deep Residual Learning for Image Recognition", CVPR 2016
    (https://arxiv.org/abs/1512.03385): Table 1 (ImageNet) and Sec. 4.2 (CIFAR).

    Args:
        family: str. `"imagenet"`: 7×7/64 stride-2 conv and 3×3 max pool, then stages at 1/4 …
            1/32 of the input (Table 1). `"cifar"`: 3×3/16 conv, then three stages of 16, 32, 64
            filters (Sec. 4.2). Defaults to `"imagenet"`.
        depth: int. A depth of Table 1 (18, 34, 50, 101, 152) or, for CIFAR, any 6n+2. Give
            either `depth` or `stages`.
        stages: tuple of int. Blocks per stage, for depths the paper does not list.
        block: str. With `stages`: `"basic"` or `"bottleneck"`. Defaults to `"basic"`.
        widths: tuple of int. With `stages`: filters per stage. Defaults to the family's widths.
        kind: str. `"plain"`, `"residual"` or `"highway"`. Defaults to `"residual"`.
        shortcut: str. `"A"`, `"B"` or `"C"` (Sec. 3.3). Defaults to `"B"` for ImageNet and `"A"`
            for CIFAR, as in the paper. Plain nets take none.
        include_top: bool. End with global average pooling and a `classes`-way dense layer.
            Defaults to `True`.
        weights: `None` (He initialisation); `"imagenet"`, the published ImageNet weights in
            this net's layout (`keras_resnet.pretrained.registry`); a source's name (`"msra"`,
            `"torchvision_v1"`); or the path of a weights file: one written by
            `model.save_weights` or `model.save` (it loads back with its preprocessing), or a
            published file (keras.applications HDF5, torchvision safetensors or `.pth`), told
            apart by content. A file of another net (another layout, kind, depth or class count)
            is a one-line `ValueError`. Defaults to `None`.
        input_tensor: optional Keras tensor to use as the model's input.
        input_shape: optional `(height, width, channels)`; height and width may be `None` and are
            otherwise at least the net's downsampling (32 ImageNet, 4 CIFAR). Defaults to
            `(224, 224, 3)` for ImageNet and `(32, 32, 3)` for CIFAR.
        pooling: with `include_top=False`: `None` (the last feature map), `"avg"` or `"max"`.
        classes: int. Number of classes. Defaults to 1000 (ImageNet) or 10 (CIFAR).
        classifier_activation: activation of the top layer; `None` gives logits. The top layer
            computes in float32 under mixed precision. Defaults to `"softmax"`.
        bottleneck_stride: str. `"1x1"` (the paper) or `"3x3"` ("ResNet v1.5", torchvision).
        zero_init_residual: bool. Zero-init each branch's last BN γ (arXiv 1706.02677). Not in the
            paper. Defaults to `False`.
        gate_bias: float. Initial bias of highway gates. Defaults to `-2.0`.
        gate_kernel_size: int. Kernel size of highway gates. Defaults to `3`.
        kernel_regularizer: optional regularizer for every conv and dense kernel (overrides
            `regularizer` there).
        regularizer: optional regularizer for every trainable weight (kernels, biases, BN γ and
            β), as Caffe's weight decay reaches every learned parameter.
        include_preprocessing: bool. With published weights: take RGB images in [0, 255] and
            apply the weights' preprocessing in a layer named `"preprocessing"`; `False`: the
            bare net, fed with `keras_resnet.preprocess_input`. Defaults to `True`.
        name: str. The model's name. Defaults to e.g. `"resnet34"`.

    Returns:
        A `keras_resnet.Network`: a functional `keras.Model` that also loads, clones and rebuilds
        from its config at ResNet-1202's depth.

    Example:

    >>> model = build_network("cifar", stages=(1, 1, 1), input_shape=(28, 28, 1), classes=5)
    >>> model.name, model.output_shape
    ('resnet8', (None, 5))
    >>> build_network("cifar", 21)
    Traceback (most recent call last):
    ...
    ValueError: CIFAR depth must be 6n+2 for a whole n >= 1 (8, 14, 20, 32, 44, 56, 110, 1202, ...). Received: depth=21
    """
    _check_choice("family", family, architectures.FAMILY_STRIDE)
    architecture = _architecture(family, depth, stages, block, widths)
    _check_choice("kind", kind, blocks.KINDS)
    if kind == "plain":
        if shortcut is not None:
            raise ValueError(f"Plain nets have no shortcuts; leave `shortcut` unset. Received: shortcut={shortcut!r}")
    else:
        shortcut = architectures.FAMILY_SHORTCUT[family] if shortcut is None else shortcut
        _check_choice("shortcut", shortcut, blocks.SHORTCUTS)
    _check_choice("bottleneck_stride", bottleneck_stride, blocks.BOTTLENECK_STRIDES)
    _check_choice("pooling", pooling, POOLINGS)
    if not isinstance(include_top, bool):
        raise ValueError(f"`include_top` must be True or False. Received: include_top={include_top!r}")
    classes = architectures.FAMILY_CLASSES[family] if classes is None else classes
    if isinstance(classes, bool) or not isinstance(classes, int) or classes < 1:
        raise ValueError(f"`classes` must be an integer of at least 1. Received: classes={classes!r}")
    options = blocks.BlockOptions(
        kind=kind,
        shortcut=shortcut or "A",
        bottleneck_stride=bottleneck_stride,
        zero_init_residual=zero_init_residual,
        gate_bias=float(gate_bias),
        gate_kernel_size=int(gate_kernel_size),
        kernel_regularizer=kernel_regularizer,
        regularizer=regularizer,
    )
    if name is None:
        name = architectures.model_name(kind, _depth(architecture))

    inputs = _inputs(input_tensor, input_shape, family)
    resolved = pretrained.resolve(
        weights,
        block=architecture.block,
        network=_zoo_key(family, architecture, kind),
        bottleneck_stride=bottleneck_stride,
        shortcut=shortcut,
        include_top=include_top,
        classes=classes,
        channels=inputs.shape[-1],
    )
    weights_path = pretrained.fetch(resolved, include_top) if resolved is not None else None
    x = inputs
    preprocessing = pretrained.preprocessing_layer(resolved) if resolved is not None and include_preprocessing else None
    if preprocessing is not None:
        x = preprocessing(x)
    x = _stem(x, family, architecture.widths[0], options)
    block_class = blocks.BLOCKS[architecture.block]
    for i, (count, filters) in enumerate(zip(architecture.stages, architecture.widths)):
        x = blocks.stage(x, filters, count, 1 if i == 0 else 2, block_class, f"conv{i + 2}", options)
    x = _head(x, include_top, pooling, classes, classifier_activation, options)

    source = inputs if input_tensor is None else keras.utils.get_source_inputs(input_tensor)
    model = Network(source, x, name=name)
    if resolved is not None and resolved.published:
        pretrained.load(model, resolved, weights_path)
    elif resolved is not None:
        pretrained.check_keras_file(model, resolved, include_preprocessing)
        try:
            model.load_weights(weights_path)
        except ValueError as error:
            raise ValueError(
                f"weights={str(weights)!r} does not fit {name} built with "
                f"input_shape={tuple(inputs.shape[1:])}, classes={classes}: {' '.join(str(error).split())}"
            ) from None
    return model


def _check_choice(argument, value, choices):
    if value not in choices:
        raise ValueError(
            f"`{argument}` must be one of {', '.join(repr(c) for c in choices)}. Received: {argument}={value!r}"
        )


def _architecture(family, depth, stages, block, widths):
    if (depth is None) == (stages is None):
        raise ValueError(f"Give exactly one of `depth` and `stages`. Received: depth={depth!r}, stages={stages!r}")
    if depth is not None:
        if family == "imagenet":
            return architectures.imagenet_architecture(depth)
        return architectures.cifar_architecture(depth)
    _check_choice("block", block, blocks.BLOCKS)
    widths = (
        widths
        or {
            "imagenet": architectures.IMAGENET_WIDTHS,
            "cifar": architectures.CIFAR_WIDTHS,
        }[family]
    )
    stages, widths = tuple(stages), tuple(widths)
    if not stages or len(stages) != len(widths) or not all(isinstance(v, int) and v >= 1 for v in stages + widths):
        raise ValueError(
            "`stages` and `widths` must be equally long, non-empty tuples of positive integers. "
            f"Received: stages={stages!r}, widths={widths!r}"
        )
    return architectures.Architecture(family, block, stages, widths)


def _depth(architecture):
    """Weighted layers: stem conv + convs of every block + the fc layer (Table 1's "18-layer" …)."""
    per_block = 2 if architecture.block == "basic" else 3
    return 2 + per_block * sum(architecture.stages)


def _zoo_key(family, architecture, kind):
    """The zoo's name of a Table 1 net (`"resnet50"`, `"plain34"`), else `None`."""
    depth = _depth(architecture)
    if (
        family == "imagenet"
        and depth in architectures.IMAGENET_DEPTHS
        and architecture == architectures.imagenet_architecture(depth)
    ):
        return architectures.model_name(kind, depth)
    return None


def _inputs(input_tensor, input_shape, family):
    if input_tensor is not None:
        tensor_shape = tuple(input_tensor.shape[1:])
        if input_shape is not None and tuple(input_shape) != tensor_shape:
            raise ValueError(
                f"`input_shape` disagrees with `input_tensor`'s shape {tensor_shape}. "
                f"Received: input_shape={input_shape!r}"
            )
        input_shape = tensor_shape
    elif input_shape is None:
        input_shape = architectures.FAMILY_INPUT_SHAPE[family]
    _check_input_shape(input_shape, family)
    if input_tensor is None:
        return keras.Input(shape=tuple(input_shape), name="input")
    if keras.backend.is_keras_tensor(input_tensor):
        return input_tensor
    return keras.Input(tensor=input_tensor, shape=tuple(input_shape), name="input")


def _check_input_shape(input_shape, family):
    stride = architectures.FAMILY_STRIDE[family]
    if keras.config.image_data_format() != "channels_last":
        raise ValueError(
            "keras_resnet builds channels_last models only. Received: "
            f"keras.config.image_data_format()={keras.config.image_data_format()!r}"
        )
    shape = tuple(input_shape) if isinstance(input_shape, (tuple, list)) else None
    if (
        shape is None
        or len(shape) != 3
        or not isinstance(shape[2], int)
        or shape[2] < 1
        or any(size is not None and (not isinstance(size, int) or size < stride) for size in shape[:2])
    ):
        raise ValueError(
            f"`input_shape` must be (height, width, channels) with known channels and height and "
            f"width None or at least {stride}, the {family} nets' downsampling. "
            f"Received: input_shape={input_shape!r}"
        )


def _stem(x, family, filters, options):
    """Sec. 4.2: a 3×3 conv (16 filters, as the first stage); Table 1: 7×7/2 conv (64) + max pool."""
    if family == "cifar":
        return blocks.conv_bn(x, filters, 3, 1, "conv1", options)
    x = blocks.conv_bn(x, filters, 7, 2, "conv1", options)
    x = keras.layers.ZeroPadding2D(1, name="pool1_pad")(x)  # after ReLU, so as good as -inf
    return keras.layers.MaxPooling2D(3, strides=2, name="pool1_pool")(x)


def _head(x, include_top, pooling, classes, classifier_activation, options):
    if include_top:
        x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
        return keras.layers.Dense(
            classes,
            activation=classifier_activation,
            kernel_regularizer=options.kernel_decay,
            bias_regularizer=options.regularizer,
            dtype="float32",
            name="predictions",
        )(x)
    if pooling == "avg":
        return keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    if pooling == "max":
        return keras.layers.GlobalMaxPooling2D(name="max_pool")(x)
    return x
