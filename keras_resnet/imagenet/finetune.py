"""The published ImageNet nets in the recipe: evaluated with the paper's test protocols, or the
starting point of a fine-tuning run.

A published net carries its preprocessing (a layer named `preprocessing`) and takes RGB images
in [0, 255]: the protocols feed it the raw crops (mean 0), and a fine-tuning run trains it behind
PCA lighting with no mean of its own.

Example:

>>> pretrained_network("tiny", 4, "imagenet")
Traceback (most recent call last):
...
keras_resnet.errors.RecipeError: --model tiny has no published weights: choose one of resnet18, resnet34, resnet50, resnet101, resnet152
"""

import os
import re

import keras
import numpy as np

import keras_resnet
from keras_resnet import architectures
from keras_resnet.errors import DataError, RecipeError, listed
from keras_resnet.imagenet import evaluation
from keras_resnet.imagenet.skips import SkipCounter
from keras_resnet.pretrained import formats, registry
from keras_resnet.pretrained import resolve as resolve_weights
from keras_resnet.training import durable, optimizers, run

IMAGENET_CLASSES = 1000


def published_models():
    return sorted({e.model for e in registry.WEIGHTS.values()}, key=_depth)


def _depth(name):
    return int(name[len("resnet") :])  # "resnet50" → 50


def _check_published(name):
    if name not in published_models():
        raise RecipeError(f"--model {name} has no published weights: choose one of {', '.join(published_models())}")


def check_weights(name, weights, shortcut=None, bottleneck_stride="1x1", flag="--init_weights"):
    """Raises `RecipeError` unless `pretrained_network(name, …, weights)` can be built: a net with
    published weights, and `weights` a source's name or a weights file, checked without fetching
    or reading it.

    Example:

    >>> check_weights("resnet50", "nosuch", flag="--weights")
    Traceback (most recent call last):
    ...
    keras_resnet.errors.RecipeError: --weights=nosuch: `weights` must be None, 'imagenet', one of 'msra', 'torchvision_v1', or the path of a weights file. Received: weights='nosuch'
    """
    _check_published(name)
    if os.path.isfile(weights) and not formats.is_weights_file(weights):
        raise RecipeError(
            f"{flag}={weights} is not a weights file: expected HDF5 (.h5), a .keras archive, safetensors "
            "or a PyTorch file"
        )
    try:
        resolve_weights(
            weights,
            block=architectures.imagenet_architecture(_depth(name)).block,
            network=name,
            bottleneck_stride=bottleneck_stride,
            shortcut=architectures.FAMILY_SHORTCUT["imagenet"] if shortcut is None else shortcut,
        )
    except (ValueError, OSError) as error:
        raise RecipeError(f"{flag}={weights}: {str(error).strip().splitlines()[0]}") from None


def pretrained_network(name, classes, weights, config=None, shortcut=None, bottleneck_stride="1x1"):
    """Zoo net `name` with published `weights`, fully convolutional, logits out.

    With `classes` other than ImageNet's 1000, the published classifier is replaced by a new
    one (He-initialised weights, zero bias), named `predictions` like the zoo's.

    Args:
        name: str. `"resnet18"` … `"resnet152"`.
        classes: int. Classes of the data.
        weights: str. `"imagenet"`, a source's name or a published file's path.
        config: optional recipe config: its coupled L2 goes on every kernel.
        shortcut, bottleneck_stride: optional layout settings.
    """
    _check_published(name)
    decay = optimizers.regularizers(config) if config is not None else {}
    options = dict(
        input_shape=(None, None, 3),
        bottleneck_stride=bottleneck_stride,
        weights=weights,
        **decay,
        **({} if shortcut is None else {"shortcut": shortcut}),
    )
    try:
        if classes == IMAGENET_CLASSES:
            return keras_resnet.MODELS[name](classifier_activation=None, **options)
        base = keras_resnet.MODELS[name](include_top=False, pooling="avg", **options)
    except ValueError as error:
        raise RecipeError(f"--model {name} with weights {weights!r}: {str(error).splitlines()[0]}") from None
    l2 = decay.get("kernel_regularizer") or decay.get("regularizer")
    logits = keras.layers.Dense(
        classes, kernel_regularizer=l2, bias_regularizer=decay.get("regularizer"), dtype="float32", name="predictions"
    )(base.output)
    return keras.Model(base.input, logits, name=base.name)


def evaluate_pretrained(cfg, *, source, weights="imagenet", protocol="center", max_images=None, batch_size=50,
                        workdir=None, print_fn=print):  # fmt: skip
    """Top-1/top-5 error of the published net `cfg.model` (its layout: `cfg.shortcut`,
    `cfg.bottleneck_stride`) on `source`'s validation split with a test protocol.

    Writes `eval_<protocol>_<weights>.json` to `workdir` when one is given.

    Returns:
        dict with `top1_error`, `top5_error`, `images`, `skipped_images`, `protocol`, `weights`.
    """
    if source.num_classes != IMAGENET_CLASSES:
        raise RecipeError(
            f"published ImageNet weights classify {IMAGENET_CLASSES} classes; the data has {source.num_classes}"
        )
    names = [name for name in source.class_names or () if not re.fullmatch(r"n\d{8}", name)]
    if names:  # The weights' class k is the k-th WordNet id in sorted order; other names sort otherwise.
        raise DataError(
            f"published ImageNet weights need WordNet-id class folders (train/n01440764/, …); "
            f"the data's classes include {listed(names)}"
        )
    if workdir:
        run.make_workdir(workdir)  # Before the evaluation: a workdir it cannot write stops it at once.
    network = pretrained_network(
        cfg.model, IMAGENET_CLASSES, weights, shortcut=cfg.shortcut, bottleneck_stride=cfg.bottleneck_stride
    )
    result = evaluation.evaluate(
        network,
        source,
        cfg,
        protocol,
        mean=np.zeros(3, np.float32),
        batch_size=batch_size,
        max_images=max_images,
        counter=SkipCounter("evaluation"),
    )
    result["weights"] = str(weights)
    if workdir:
        label = os.path.basename(str(weights)).replace(".", "_")
        durable.write_json(os.path.join(workdir, f"eval_{protocol}_{label}.json"), result)
    print_fn(f"{cfg.model} ({weights}), {protocol}: {evaluation.result_summary(result)}", flush=True)
    return result
