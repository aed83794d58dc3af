"""The table of every constructor in docs/networks.md: parameters and FLOPs, computed from the models.

`python -m keras_resnet.table` prints it; a test checks that docs/networks.md holds exactly this table.
"""

import inspect

import numpy as np

from keras_resnet.flop_count import flops
from keras_resnet.zoo import MODELS


def trainable_params(model):
    """Trainable weights, the count the paper and torchvision report (no BN moving statistics)."""
    return sum(int(np.prod(weight.shape)) for weight in model.trainable_weights)


def markdown_table(build=None):
    """A markdown table of every registered constructor at its default input size.

    Args:
        build: optional callable `name -> keras.Model`, to reuse models built elsewhere.
            Defaults to calling the registered constructor.

    Returns:
        str. One row per model: constructor, input, shortcut, parameters, multiply-adds.
    """
    build = build or (lambda name: MODELS[name]())
    rows = [
        "| constructor | input | shortcut | parameters | FLOPs (multiply-adds) |",
        "|---|---|---|---:|---:|",
    ]
    for name, entry in MODELS.items():
        model = build(name)
        height, width, channels = model.input_shape[1:]
        shortcut = inspect.signature(entry.constructor).parameters["shortcut"].default or "none"
        rows.append(
            f"| `{entry.constructor.__name__}` | {height}×{width}×{channels} | {shortcut} "
            f"| {trainable_params(model):,} | {flops(model) / 1e9:.3g}×10⁹ |"
        )
    return "\n".join(rows) + "\n"


if __name__ == "__main__":
    print(markdown_table(), end="")
