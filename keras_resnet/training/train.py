"""The CIFAR training loop: `train_and_evaluate(config, workdir, ...)`, readable top to bottom.

The model the loop trains is the network with the paper's preprocessing in front of it
(per-pixel mean, then pad/crop/flip during training only), so the augmentation is part of the
compiled step on every backend and the data stays raw (uint8) on the host.
"""

import json
import os
import random
import re
import shutil
import sys
import time

import keras
import numpy as np

from keras_resnet import architectures, blocks, builder, table
from keras_resnet.training import augment, callbacks, cifar_data, exact_eval, faults, optimizers, plots, schedules, trained_model

METRICS = "metrics.json"
RUN_CONFIG = "run_config.json"
CURVES_PNG = "curves.png"
# What `overwrite=True` removes; anything else in the workdir is left alone.
OUTPUTS = (METRICS, RUN_CONFIG, CURVES_PNG, callbacks.HISTORY_CSV, callbacks.HISTORY_JSON,
           callbacks.BACKUP_DIR, "checkpoints", callbacks.TENSORBOARD_DIR, trained_model.MODEL_FILE, callbacks.STOPPED)
STRATEGIES = ("auto", "none", "mirrored", "one_device")
# The recipes' one vocabulary (`--mixed_precision`): short names, with Keras' policy names as aliases.
PRECISIONS = {"none": "float32", "bf16": "mixed_bfloat16", "fp16": "mixed_float16",
              "mixed_bfloat16": "mixed_bfloat16", "mixed_float16": "mixed_float16"}
_MODEL_NAME = re.compile(r"^(resnet|plain|highway)(\d+)$")
_KINDS = {"resnet": "residual", "plain": "plain", "highway": "highway"}


class RecipeError(ValueError):
    """A bad setting or a workdir that cannot be used, with a one-line message."""


def parse_model_name(name):
    """`"resnet56"` → `("residual", 56)`; any CIFAR depth 6n+2 of `plain`, `resnet`, `highway`.

    Example:

    >>> parse_model_name("plain20"), parse_model_name("resnet8")
    (('plain', 20), ('residual', 8))
    >>> parse_model_name("resnet21")
    Traceback (most recent call last):
    ...
    keras_resnet.training.train.RecipeError: unknown --model 'resnet21': CIFAR models are resnetD, plainD or highwayD with depth D = 6n+2 (20, 32, 44, 56, 110, 1202, or e.g. 8 for tests)
    """
    match = _MODEL_NAME.match(str(name))
    if not match or (int(match.group(2)) - 2) % 6 or int(match.group(2)) < 8:
        raise RecipeError(
            f"unknown --model {name!r}: CIFAR models are resnetD, plainD or highwayD with depth D = 6n+2 "
            "(20, 32, 44, 56, 110, 1202, or e.g. 8 for tests)"
        )
    return _KINDS[match.group(1)], int(match.group(2))


def create_model(name, data, config, shortcut=None, seed=None):
    """The network `name` with the paper's preprocessing in front; outputs logits.

    Args:
        name: str. E.g. `"resnet56"`, `"plain20"`, `"highway44"`.
        data: a `CifarData` (image shape, classes, mean).
        config: a `CifarConfig`.
        shortcut: optional str. `"A"`, `"B"` or `"C"`; residual and highway nets only.
            Defaults to `config.shortcut`.
        seed: optional int. Seed of the augmentation's random stream.

    Returns:
        A functional `keras.Model`.
    """
    kind, depth = parse_model_name(name)
    if kind == "plain" and shortcut is not None:
        raise RecipeError(f"plain nets have no shortcuts; drop --shortcut. Received: shortcut={shortcut!r}")
    options = {} if kind == "plain" else {"shortcut": shortcut or config.shortcut}
    try:
        network = builder.build_network(
            "cifar", depth, kind=kind, input_shape=data.image_shape, classes=data.num_classes,
            classifier_activation=None, **optimizers.regularizers(config), **options,
        )
    except ValueError as error:
        raise RecipeError(str(error).splitlines()[0]) from None
    dtype = "uint8" if data.x_train.dtype == np.uint8 else "float32"
    inputs = keras.Input(data.image_shape, dtype=dtype, name="images")
    x = augment.PerPixelMean(data.mean, name="per_pixel_mean")(inputs)
    x = augment.PadCropFlip(config.pad, config.horizontal_flip, seed=seed, name="pad_crop_flip")(x)
    return keras.Model(inputs, network(x), name=network.name)


def needs_warmup(name, config):
    """Whether the net gets ResNet-110's warm-up (depth ≥ `config.warmup_min_depth`)."""
    return parse_model_name(name)[1] >= config.warmup_min_depth


def compile_model(model, config, warmup=False):
    """Compiles with the paper's SGD, step schedule and (optionally) the warm-up multiplier."""
    multiplier = config.warmup_learning_rate / config.learning_rate if warmup else 1.0
    optimizer = optimizers.make_optimizer(config, schedules.cifar_schedule(config), multiplier)
    model.compile(
        optimizer=optimizer,
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        weighted_metrics=exact_eval.weighted_metrics(),  # Exact on padded splits (`exact_eval`).
    )


def steps_per_period(train_steps, eval_every):
    """The largest divisor of `train_steps` not above `eval_every` (periods of equal length).

    Example:

    >>> steps_per_period(64000, 1000), steps_per_period(300, 1000), steps_per_period(1500, 1000)
    (1000, 300, 750)
    """
    eval_every = max(1, min(eval_every, train_steps))
    return next(d for d in range(eval_every, 0, -1) if train_steps % d == 0)


def check_settings(config, model_name, strategy="none", mixed_precision="none", shortcut=None):
    """Raises `RecipeError` for settings that cannot run, before anything is written."""
    kind, _ = parse_model_name(model_name)
    if shortcut is not None and kind == "plain":
        raise RecipeError(f"plain nets have no shortcuts; drop --shortcut. Received: --shortcut={shortcut} --model={model_name}")
    if shortcut is not None and shortcut not in blocks.SHORTCUTS:
        raise RecipeError(f"--shortcut must be one of {', '.join(blocks.SHORTCUTS)} (Sec. 3.3). Received: --shortcut={shortcut}")
    if config.train_steps <= 0:
        raise RecipeError(f"--train_steps must be a positive number of iterations. Received: {config.train_steps}")
    if config.batch_size <= 0:
        raise RecipeError(f"--batch_size must be positive. Received: {config.batch_size}")
    if config.eval_every <= 0:
        raise RecipeError(f"--eval_every must be positive. Received: {config.eval_every}")
    if strategy not in STRATEGIES:
        raise RecipeError(f"--strategy must be one of {', '.join(STRATEGIES)}. Received: {strategy!r}")
    if strategy not in ("auto", "none") and keras.backend.backend() != "tensorflow":
        raise RecipeError(f"--strategy={strategy} needs the TensorFlow backend (KERAS_BACKEND=tensorflow)")
    if mixed_precision not in PRECISIONS:
        raise RecipeError(f"--mixed_precision must be one of {', '.join(PRECISIONS)}. Received: {mixed_precision!r}")


def check_data(config, data):
    """Raises `RecipeError` unless one batch of `config` fits in `data`'s training split."""
    if config.batch_size > len(data.x_train):
        raise RecipeError(f"--batch_size={config.batch_size} is larger than the {len(data.x_train)} training images of "
                          f"{data.name or 'the data'}; choose at most {len(data.x_train)}")


def prepare_workdir(workdir, run_config, overwrite=False):
    """Checks the workdir; returns whether a run there is resumed.

    A finished run (its `metrics.json` exists) is an error unless `overwrite`, which removes the
    recipe's outputs (only those). So is a run the NaN guard stopped (rerun unchanged, it would
    resume from its last good period into the same divergence), and an unfinished run with other
    settings.
    """
    try:
        os.makedirs(workdir, exist_ok=True)
        probe = os.path.join(workdir, ".write_test")
        with open(probe, "w"):
            pass
        os.remove(probe)
    except OSError as error:
        raise RecipeError(f"cannot write to --workdir {workdir}: {error.strerror or error}") from None
    if overwrite:
        for name in OUTPUTS:
            path = os.path.join(workdir, name)
            if os.path.isdir(path):
                shutil.rmtree(path)
            elif os.path.exists(path):
                os.remove(path)
    if os.path.exists(os.path.join(workdir, METRICS)):
        raise RecipeError(f"--workdir {workdir} holds a finished run ({METRICS}); pass --overwrite to replace it, or choose another --workdir")
    stopped = callbacks.read_stop(workdir)
    if stopped:
        raise RecipeError(f"--workdir {workdir} holds a run that stopped: {stopped['reason']} in evaluation period "
                          f"{stopped['period']}. Rerun unchanged, it would fail the same way: change the settings that "
                          "made it diverge (the learning rate, …) and pass --overwrite, or choose another --workdir")
    path = os.path.join(workdir, RUN_CONFIG)
    if os.path.exists(path):
        with open(path) as f:
            previous = json.load(f)
        changed = sorted(k for k in set(previous) | set(run_config) if previous.get(k) != run_config.get(k))
        if changed:
            shown = ", ".join(f"{k}={previous.get(k)!r}→{run_config.get(k)!r}" for k in changed)
            raise RecipeError(f"--workdir {workdir} holds an unfinished run with other settings ({shown}); rerun it unchanged to resume, or pass --overwrite")
        return True
    with open(path, "w") as f:
        json.dump(run_config, f, indent=1)
    return False


def _strategy_scope(strategy):
    if strategy == "auto":  # As the ImageNet recipe: several GPUs → mirrored; else the default device.
        strategy = "mirrored" if keras.backend.backend() == "tensorflow" and _gpu_count() > 1 else "none"
    if strategy == "none":
        return keras.name_scope("train")  # A no-op context.
    import tensorflow as tf

    if strategy == "mirrored":
        return tf.distribute.MirroredStrategy().scope()
    return tf.distribute.OneDeviceStrategy("/gpu:0" if _gpu_count() else "/cpu:0").scope()


def _gpu_count():
    import tensorflow as tf

    return len(tf.config.list_physical_devices("GPU"))


def train_and_evaluate(config, workdir, *, model_name, data, seed=0, shortcut=None, mixed_precision="none",
                       strategy="auto", overwrite=False, verbose=0, print_fn=print):
    """Trains `model_name` on `data` with the paper's recipe; resumes a killed run in `workdir`.

    Writes to `workdir`: `history.csv`/`history.json` (one row per evaluation), checkpoints,
    a backup for resuming, TensorBoard logs when TensorBoard is installed, `metrics.json` and
    `curves.png` (Fig. 6 style) and `model.keras`, the trained network with the mean inside
    (`trained_model.inference_model`).

    Args:
        config: a `CifarConfig` (`train_steps`, `batch_size`, `eval_every`, … are read here).
        workdir: str.
        model_name: str. E.g. `"resnet56"`.
        data: a `CifarData`.
        seed: int. Seeds initialisation, augmentation and batch order. Defaults to `0`.
        shortcut: optional str. Shortcut option of residual and highway nets.
        mixed_precision: str. `"none"`, `"bf16"` or `"fp16"` (or Keras' `"mixed_bfloat16"`,
            `"mixed_float16"`). Not in the paper (Micikevicius et al., arXiv 1710.03740). Defaults
            to `"none"`.
        strategy: str. `"auto"` (several GPUs on TensorFlow: mirrored; otherwise the default
            device), `"none"`, or on TensorFlow `"mirrored"`, `"one_device"`. Defaults to `"auto"`.
        overwrite: bool. Replace a finished run in `workdir`. Defaults to `False`.
        verbose: int. Keras' progress bar (0, 1, 2); one summary line per evaluation is always
            printed. Defaults to `0`.
        print_fn: callable used for the summary lines. Defaults to `print`.

    Returns:
        The final metrics as a dict (also in `metrics.json`).
    """
    check_settings(config, model_name, strategy, mixed_precision, shortcut)
    check_data(config, data)
    period = steps_per_period(config.train_steps, config.eval_every)
    kind = parse_model_name(model_name)[0]
    warmup = needs_warmup(model_name, config)
    used_shortcut = None if kind == "plain" else shortcut or config.shortcut
    # What the run does: its shortcut, its learning-rate boundaries (scaled to train_steps), its warm-up.
    recorded = {**_jsonable(vars(config)), "shortcut": used_shortcut, "lr_boundaries": list(config.scaled_boundaries())}
    run_config = {"model": model_name, "shortcut": used_shortcut, "data": data.name, "seed": seed,
                  "train_steps": config.train_steps, "batch_size": config.batch_size, "eval_every": period,
                  "train_images": len(data.x_train), "image_shape": list(data.image_shape),
                  "mixed_precision": PRECISIONS[mixed_precision], "warmup": warmup,
                  "config": recorded}
    resumed = prepare_workdir(workdir, run_config, overwrite)

    set_seed(seed)
    keras.config.set_dtype_policy(PRECISIONS[mixed_precision])
    with _strategy_scope(strategy):
        model = create_model(model_name, data, config, shortcut=shortcut, seed=seed)
        compile_model(model, config, warmup=warmup)

    start = callbacks.backup_step(workdir, period) if resumed else 0
    began = time.time()
    if start >= config.train_steps:  # Killed after training, before the outputs: only finish those.
        print_fn(f"{model_name} in {workdir} finished training at step {start}; writing its outputs", flush=True)
        callbacks.restore_backup(model, workdir)
    else:
        if start:
            print_fn(f"Resuming {model_name} in {workdir} at step {start}", flush=True)
        evaluation = callbacks.PeriodicEvaluation(data.eval_splits(), config.batch_size, period,
                                                  schedules.cifar_schedule(config))
        warmup_callback = schedules.WarmupUntilTrainingError(
            config.warmup_until_error, check_every=min(config.warmup_check_every, period)) if warmup else None
        progress = callbacks.ProgressLine(config.train_steps, config.batch_size, print_fn)
        stream = cifar_data.batches(data.x_train, data.y_train, config.batch_size, seed=seed, start_step=start)
        model.fit(
            faults.trace_batches(stream, start),
            steps_per_epoch=period,
            epochs=config.train_steps // period,
            callbacks=callbacks.make_callbacks(workdir, evaluation, warmup_callback, progress),
            verbose=verbose,
            shuffle=False,  # The batches are shuffled already, reproducibly (`cifar_data.batches`).
        )
        faults.kill_if(faults.BEFORE_OUTPUTS)
    keras.config.set_dtype_policy("float32")
    history = callbacks.read_history(os.path.join(workdir, callbacks.HISTORY_JSON))
    last = history[-1] if history else {}
    metrics = {
        "model": model_name,
        "steps": int(last.get("step", config.train_steps)),
        "train_error": last.get("train_error"),
        "val_error": last.get("val_error"),
        "test_error": last.get("test_error"),
        "test_loss": last.get("test_loss"),
        "parameters": table.trainable_params(model),
        "seconds_this_run": round(time.time() - began, 1),
        "backend": keras.backend.backend(),
    }
    plots.plot_curves({model_name: history}, os.path.join(workdir, CURVES_PNG), title=f"{model_name} on {data.name}")
    metrics["model_file"] = trained_model.save_trained_model(model, workdir, "per_pixel_mean")
    with open(os.path.join(workdir, METRICS), "w") as f:
        json.dump(metrics, f, indent=1)
    callbacks.remove_backup(workdir)  # Only now: a rerun before this point must find the run finished.
    return metrics


def set_seed(seed):
    """Seeds Python, NumPy and the backend; on JAX and PyTorch without importing TensorFlow
    (which `keras.utils.set_random_seed` does whenever it is installed)."""
    backend = keras.backend.backend()
    if backend == "tensorflow" or "tensorflow" in sys.modules:
        keras.utils.set_random_seed(seed)
        return
    random.seed(seed)  # Keras draws its default seeds from Python's `random`.
    np.random.seed(seed)
    if backend == "torch":
        import torch

        torch.manual_seed(seed)


def _jsonable(values):
    return {k: list(v) if isinstance(v, tuple) else v for k, v in values.items()}


def load_metrics(workdir):
    """The `metrics.json` of a finished run, or `None`."""
    path = os.path.join(workdir, METRICS)
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


# The CIFAR family's input shape, for readers who build the model by hand.
CIFAR_INPUT_SHAPE = architectures.FAMILY_INPUT_SHAPE["cifar"]
