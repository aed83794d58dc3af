"""Exporting the networks for runtimes without Python Keras: TF SavedModel, ONNX, LiteRT.

`model.export(path, format=...)` is Keras' own; a `keras_resnet.Network` checks first, with a
one-line `ValueError` and before any file is written, that the format can be written here (the
backend, the converter package). `run_exported` runs an exported file with its own runtime
(TensorFlow, onnxruntime, the LiteRT interpreter), to compare with Keras' outputs.

    model.export("resnet50_savedmodel", format="tf_saved_model")   # TensorFlow Serving, TF.js, ...
    model.export("resnet50.onnx", format="onnx")                   # onnxruntime, TensorRT, ...
    model.export("resnet50.tflite", format="litert")               # LiteRT (TFLite): phones, MCUs
"""

import importlib.util

import keras
import numpy as np

# Format -> {backend: the packages it needs there}. Keras writes SavedModel from TensorFlow and
# JAX (through jax2tf), ONNX from TensorFlow (tf2onnx) and JAX (jax2onnx), LiteRT from
# TensorFlow. Exports from the PyTorch backend are not covered here.
FORMATS = {
    "tf_saved_model": {"tensorflow": ("tensorflow",), "jax": ("tensorflow",)},
    "onnx": {"tensorflow": ("tf2onnx", "onnx"), "jax": ("jax2onnx", "onnx")},
    "litert": {"tensorflow": ("tensorflow",)},
}
# The runtime that runs each format, for `run_exported`: its import name and pip package.
RUNTIMES = {
    "tf_saved_model": ("tensorflow", "tensorflow"),
    "onnx": ("onnxruntime", "onnxruntime"),
    "litert": ("ai_edge_litert", "ai-edge-litert"),
}


def check_export(format, model=None):
    """Raises a one-line `ValueError` unless `format` can be written here and run by its runtime.

    Checks the backend, the converter packages and, given `model`, its compute dtypes: under mixed
    precision the LiteRT converter emits TensorFlow ops the LiteRT interpreter does not have
    ("Select TensorFlow op(s) ... not supported"), and ONNX gets bfloat16 convolutions that
    onnxruntime rejects as an invalid graph (float16 runs). Formats other than
    `"tf_saved_model"`, `"onnx"` and `"litert"` are left to Keras.

    Args:
        format: str. The `format` of `model.export`.
        model: optional `keras.Model` to be exported.

    Example:

    >>> import keras
    >>> check_export("litert") if keras.backend.backend() == "tensorflow" else None
    """
    if format not in FORMATS:
        return
    backend = keras.backend.backend()
    if backend not in FORMATS[format]:
        raise ValueError(
            f"format={format!r} is written from the {' or '.join(FORMATS[format])} backend; this process "
            f"runs {backend!r}: set KERAS_BACKEND=tensorflow before importing keras, load the model there, "
            "and export."
        )
    low = sorted(_low_precision_dtypes(model)) if model is not None else []
    refused = {"litert": ("float16", "bfloat16"), "onnx": ("bfloat16",)}.get(format, ())
    if any(dtype in refused for dtype in low):
        raise ValueError(
            f"format={format!r} cannot run a net that computes in {', '.join(low)} (mixed precision); "
            "export a float32 copy: build the same net under keras.config.set_dtype_policy('float32') "
            "and copy the weights with set_weights(model.get_weights())"
        )
    missing = [p for p in FORMATS[format][backend] if importlib.util.find_spec(p) is None]
    if missing:
        raise ValueError(
            f"format={format!r} on {backend} needs {', '.join(missing)}: "
            f"pip install {' '.join(missing)} (or keras-resnet-paper[export])"
        )


def _low_precision_dtypes(model):
    dtypes, stack = set(), [model]
    while stack:
        layer = stack.pop()
        if layer.compute_dtype in ("float16", "bfloat16"):
            dtypes.add(layer.compute_dtype)
        stack.extend(getattr(layer, "layers", []))
    return dtypes


def run_exported(path, format, images):
    """Runs an exported model with its format's own runtime, without Keras.

    Args:
        path: str. What `model.export(path, format=format)` wrote.
        format: str. `"tf_saved_model"` (TensorFlow's `tf.saved_model.load(...)`, its
            `serving_default` signature), `"onnx"` (onnxruntime on the CPU) or `"litert"` (the
            LiteRT interpreter's signature runner).
        images: float32 array `(N, H, W, C)`, what the Keras model takes.

    Returns:
        The model's output for `images` as a numpy array; for a model with several outputs (a
        `feature_model`), a dict of them keyed by the names the file gives them, a dict
        output's keys (`{"conv2": …, "conv5": …}`).
    """
    if format not in RUNTIMES:
        raise ValueError(f"`format` must be one of {', '.join(map(repr, RUNTIMES))}. Received: format={format!r}")
    module, package = RUNTIMES[format]
    if importlib.util.find_spec(module) is None:
        raise ValueError(f"running format={format!r} needs {module}: pip install {package}")
    images = np.asarray(images, "float32")
    if format == "tf_saved_model":
        import tensorflow as tf

        loaded = tf.saved_model.load(str(path))  # Kept referenced while it runs: it owns the variables.
        signature = loaded.signatures["serving_default"]
        (name,) = signature.structured_input_signature[1]
        return _outputs(signature(**{name: tf.constant(images)}))
    if format == "onnx":
        import onnxruntime

        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        values = session.run(None, {session.get_inputs()[0].name: images})
        return _outputs(dict(zip((output.name for output in session.get_outputs()), values)))
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path))
    (name,) = interpreter.get_signature_list()["serving_default"]["inputs"]
    return _outputs(interpreter.get_signature_runner()(**{name: images}))


def _outputs(by_name):
    """The one output as an array, or every output by name (each format names a single output
    its own way: `output_0`, the converter's tensor name)."""
    arrays = {name: np.asarray(value) for name, value in sorted(by_name.items())}
    return next(iter(arrays.values())) if len(arrays) == 1 else arrays
