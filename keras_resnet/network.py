"""`Network`: the functional model class of the zoo, deep enough for ResNet-1202.

Keras maps a functional graph (`keras.Model(inputs, outputs)`, and so every `from_config`,
`load_model` and `clone_model`, which all end in that constructor) with a recursive walk, one Python
frame per layer call: ResNet-1202's ~4,200 layers need more than Python's default limit of 1,000
frames. `Network` raises the limit, for the duration of its own construction only, to what its graph
needs, so users never touch `sys.setrecursionlimit`.
"""

import contextlib
import os
import sys

import keras

# Frames above the graph size: the constructor's own frames and whatever called it.
_HEADROOM = 1000


@keras.saving.register_keras_serializable(package="keras_resnet")
class Network(keras.Model):
    """A functional `keras.Model` that builds, clones and loads at any depth.

    Every network of the zoo is one. It behaves as `keras.Model(inputs, outputs)` in all things;
    it is registered (`"keras_resnet>Network"`), so a `.keras` file of it loads with
    `keras.saving.load_model(path, safe_mode=True)` once `keras_resnet` is imported, and
    `keras.models.clone_model` and `type(model).from_config(model.get_config())` rebuild it as a
    `Network`. (`keras.Model.from_config` always builds a plain `keras.Model`, which cannot hold
    ResNet-1202's depth at Python's default recursion limit: use the model's own class.)

    Args:
        inputs: the input tensor(s), as for `keras.Model`.
        outputs: the output tensor(s): a tensor, list or dict.
        **kwargs: further arguments of `keras.Model` (`name`, `trainable`).

    Example:

    >>> import keras
    >>> inputs = keras.Input((4,))
    >>> model = Network(inputs, keras.layers.Dense(2, name="fc")(inputs), name="tiny")
    >>> clone = keras.models.clone_model(model)
    >>> type(clone).__name__, clone.name, clone.output_shape
    ('Network', 'tiny', (None, 2))
    """

    def __init__(self, *args, **kwargs):
        outputs = args[1] if len(args) > 1 else kwargs.get("outputs")
        with recursion_limit(graph_size(outputs) + _HEADROOM):
            super().__init__(*args, **kwargs)

    def save_weights(self, filepath, overwrite=True, **kwargs):
        """Keras' `Model.save_weights`; the file (or, with `max_shard_size`, the shards' index
        `*.weights.json`) also records the net's bottleneck layout and preprocessing
        (`keras_resnet.pretrained.keras_files`), so that `weights=filepath` rebuilds the same net
        or refuses another."""
        super().save_weights(filepath, overwrite=overwrite, **kwargs)
        from keras_resnet.pretrained import keras_files

        if kwargs.get("max_shard_size") is not None:  # Keras writes an index, `*.weights.json`, and its shards.
            filepath = os.path.splitext(os.fspath(filepath))[0] + ".json"
        if os.path.isfile(filepath):
            keras_files.write_record(self, filepath)

    def export(self, filepath, format="tf_saved_model", **kwargs):
        """Keras' `Model.export`, after `keras_resnet.export.check_export(format)`: a format that
        cannot be written here is a one-line `ValueError` before any file is written.

        A functional model's inputs are known without calling it, but Keras' ONNX exporter
        refuses a model never called ("The model provided has never called"): a net just
        built or loaded gets the input signature Keras would derive after a call."""
        from keras_resnet.export import check_export

        check_export(format, self)
        if format == "onnx":
            kwargs.setdefault("input_signature", [keras.tree.map_structure(_input_spec, self.input)])
        return super().export(filepath, format=format, **kwargs)


def _input_spec(tensor):
    return keras.InputSpec(shape=(None, *tensor.shape[1:]), dtype=tensor.dtype, name=tensor.name)


def graph_size(outputs):
    """The number of layer calls (graph nodes) that lead to `outputs`, counted without recursion.

    Args:
        outputs: symbolic Keras tensor(s): a tensor, or a list, tuple or dict of them.

    Returns:
        int.

    Example:

    >>> import keras
    >>> x = keras.Input((3,))
    >>> graph_size(keras.layers.Dense(2)(keras.layers.Dense(4)(x)))  # the input, two dense layers
    3
    """
    if outputs is None:
        return 0
    nodes, stack = set(), list(keras.tree.flatten(outputs))
    while stack:
        history = getattr(stack.pop(), "_keras_history", None)
        if history is None or history[0] is None:
            continue
        operation, node_index, _ = history
        node = operation._inbound_nodes[node_index]
        if id(node) not in nodes:
            nodes.add(id(node))
            stack.extend(keras.tree.flatten(node.input_tensors))
    return len(nodes)


@contextlib.contextmanager
def recursion_limit(limit):
    """Raises Python's recursion limit to at least `limit` inside the block, then restores it."""
    previous = sys.getrecursionlimit()
    sys.setrecursionlimit(max(previous, limit))
    try:
        yield
    finally:
        sys.setrecursionlimit(previous)
