"""The ImageNet recipe (Sec. 3.4): `train_and_evaluate` and `evaluate_checkpoint`.

SGD with momentum 0.9 and the coupled weight decay 1e-4, global batch 256 split across the
replicas of a `tf.distribute` strategy (or a `keras.distribution` on JAX), learning rate 0.1
divided by 10 when the validation error plateaus, up to 60×10⁴ iterations. The recipe module's
callbacks give history, checkpoints, resume-after-kill and the NaN guard.

Example:

>>> create_network("tiny", classes=4).output_shape
(None, 4)
>>> check_batch(256, 3)
Traceback (most recent call last):
...
keras_resnet.training.run.RecipeError: --batch_size 256 does not divide across 3 replicas; use a multiple of 3
"""

import json
import os
import time

import keras
import numpy as np

import keras_resnet
from keras_resnet import builder, distribute, table
from keras_resnet.imagenet import evaluation, input_pipeline, order, sources
from keras_resnet.imagenet.model import (
    IMAGE,
    LIGHTING_ALPHA,
    MEAN_LAYER,
    image_dtype,
    mean_image,
    recipe_model,
    stored_mean,
)
from keras_resnet.training import backup, callbacks, durable, exact_eval, faults, lock, optimizers, run, schedules
from keras_resnet.training import flags as flag_lib
from keras_resnet.training.run import RecipeError, check_batch

PIXEL_MEAN = "pixel_mean.npy"
KEY_SUFFIX = ".key.json"  # Beside a cached result: what it was computed from.
# What the recipe keeps in its workdir besides the run's outputs; `--overwrite` removes them too.
CACHES = (PIXEL_MEAN, PIXEL_MEAN + KEY_SUFFIX, sources.RECORD_COUNTS, sources.RECORD_OFFSETS)
EVAL_PREFIX = "eval_"
# A net small enough for smoke tests on a CPU; not a network of the paper.
TEST_NETWORKS = {"tiny": dict(stages=(1, 1), widths=(8, 16))}
IMAGENET_MODELS = tuple(name for name, entry in keras_resnet.MODELS.items() if entry.family == "imagenet")


def create_network(name, classes, config=None, shortcut=None, init_weights=None, bottleneck_stride="1x1"):
    """An ImageNet net of the zoo (`"resnet50"`, `"plain34"`, …) or `"tiny"`, fully convolutional
    input `(None, None, 3)`, logits out, the coupled L2 on its kernels; with `init_weights`, the
    published net (`imagenet.pretrained.pretrained_network`), its preprocessing inside."""
    if init_weights is not None:
        from keras_resnet.imagenet.pretrained import pretrained_network

        return pretrained_network(name, classes, init_weights, config, shortcut, bottleneck_stride)
    options = optimizers.regularizers(config) if config is not None else {}
    if shortcut is not None:
        options["shortcut"] = shortcut
    if bottleneck_stride != "1x1":
        options["bottleneck_stride"] = bottleneck_stride
    check_network(name, shortcut)
    try:
        if name in TEST_NETWORKS:
            return builder.build_network(
                "imagenet",
                input_shape=(None, None, 3),
                classes=classes,
                classifier_activation=None,
                name=name,
                **TEST_NETWORKS[name],
                **options,
            )
        return keras_resnet.MODELS[name](
            input_shape=(None, None, 3), classes=classes, classifier_activation=None, **options
        )
    except (TypeError, ValueError) as error:
        raise RecipeError(f"--model {name}: {str(error).splitlines()[0]}") from None


def check_network(name, shortcut=None, bottleneck_stride="1x1", weights=None, weights_flag="--init_weights"):
    """Raises `RecipeError` for a net `create_network` cannot build, before anything is built,
    fetched or written.

    Args:
        name, shortcut, bottleneck_stride: as for `create_network`.
        weights: optional str. Published weights to start from or evaluate (`"imagenet"`, a
            source's name or a file); checked without being fetched or read.
        weights_flag: str. The flag that named `weights`, for the message.
    """
    if name not in TEST_NETWORKS and name not in IMAGENET_MODELS:
        raise RecipeError(
            f"unknown --model {name!r}: ImageNet models are {', '.join(IMAGENET_MODELS)} (or tiny for tests)"
        )
    flag_lib.check_shortcut(name, keras_resnet.MODELS[name].kind if name in IMAGENET_MODELS else "residual", shortcut)
    if weights is not None:
        from keras_resnet.imagenet.pretrained import check_weights

        check_weights(name, weights, shortcut, bottleneck_stride, weights_flag)


class SkipReport(keras.callbacks.Callback):
    """At each period's end, reports the unreadable training images skipped among those the
    run's steps have read so far (the validation reports its own pass). The pipeline only records
    what it skipped: it runs ahead of the steps (prefetching), so its own count would include
    images no step has reached.

    Args:
        train: the training stream's `input_pipeline.SkipCounter`.
        start_step: int. Iterations done before this run (its stream starts there).
        steps_per_period: int.
        images_per_step: int. Images one iteration takes from this process's training stream.
    """

    def __init__(self, train, start_step, steps_per_period, images_per_step):
        super().__init__()
        self.train = train
        self.start_step, self.steps_per_period, self.images_per_step = start_step, steps_per_period, images_per_step

    def on_epoch_end(self, epoch, logs=None):
        self.train.report(((epoch + 1) * self.steps_per_period - self.start_step) * self.images_per_step)


def _learning_rate(config, train_steps):
    rate = config.scaled_learning_rate()
    if config.schedule == "step":
        *boundaries, end = config.step_boundaries()
        return schedules.StepSchedule(rate, boundaries, 0.1, stop_step=end)
    return rate


def mean_key(source, config, max_images=None):
    """What the per-pixel mean is computed from: the data (`Source.fingerprint`) and the settings
    of its crops and its sample. A cached mean is used only where its key is this one."""
    key = {
        "data": source.fingerprint(),
        "image_size": config.image_size,
        "eval_resize": config.eval_resize,
        "mean_images": max_images or config.mean_images,
    }
    if key["mean_images"]:  # The sample is the training stream's first images (`compute_pixel_mean`).
        key.update(interleave_files=config.interleave_files, shuffle_buffer=config.shuffle_buffer)
    return key


def pixel_mean(source, config, workdir, max_images=None, print_fn=None, resolved=None):
    """The per-pixel (or per-channel) mean; the per-pixel one is computed once and cached in the
    (job's) workdir by the chief, with the key of the data and settings it was computed from
    (`mean_key`): a cache of other data or settings is computed anew.

    With several workers, each decodes its share of the training images and the shares' sums
    are reduced (`distribute.all_reduce_sum`): the job decodes each image once. They decide
    together: unless every worker finds the cache valid, all compute.
    """
    if config.mean == "channel":
        return mean_image(config)
    path, key = os.path.join(workdir, PIXEL_MEAN), run.jsonable(mean_key(source, config, max_images))
    cached = np.load(path) if run.load_json(path + KEY_SUFFIX) == key and os.path.exists(path) else None
    options = {}
    if resolved is not None and resolved.num_workers > 1:
        missing = distribute.all_reduce_sum(resolved, np.array([cached is None], np.float64))[0][0]
        cached = None if missing else cached
        options = dict(
            shard=(resolved.num_workers, resolved.worker_index),
            reduce=lambda sums, count: distribute.all_reduce_sum(resolved, sums, count),
        )
    if cached is not None:
        return cached
    mean = input_pipeline.compute_pixel_mean(
        source, config, max_images or config.mean_images, print_fn=print_fn, **options
    )
    if resolved is None or resolved.is_chief:
        with durable.writing(path) as partial:
            np.save(partial, mean)
        durable.write_json(path + KEY_SUFFIX, key)
    return mean


def check_data_order(workdir, overwrite=False):
    """Raises `RecipeError` for an unfinished run in `workdir` begun under another data order
    (`order.ORDER_VERSION`): resumed in this one, it would see other examples than it began with."""
    previous = run.load_run_config(workdir)
    if overwrite or previous is None or previous.get("data_order", 1) == order.ORDER_VERSION:
        return
    raise RecipeError(
        f"--workdir {workdir} holds a run begun under data order {previous.get('data_order', 1)}; this version "
        f"reads the data in order {order.ORDER_VERSION} (a fresh global order every pass, split over workers in "
        "blocks), so it cannot "
        "resume that run exactly: finish it with the version that began it, or pass --overwrite"
    )


def _batch_shapes(config, crops_dtype):
    """The symbolic `(inputs, labels)` of one training batch (`input_pipeline.recipe_inputs`)."""
    size = config.image_size
    return (
        {
            IMAGE: keras.KerasTensor((None, size, size, 3), crops_dtype),
            LIGHTING_ALPHA: keras.KerasTensor((None, 3), "float32"),
        },
        keras.KerasTensor((None,), "int32"),
    )


def summary(run_config, network, source, config, resolved, rundir):
    """The run's start-up lines (`run.summary`)."""
    lo, hi = config.scale_range
    shortcut = f", shortcut {run_config['shortcut']}" if run_config["shortcut"] else ""
    schedule = (
        f"step, ÷10 at epochs {', '.join(str(e) for e in config.step_epochs)}"
        if config.schedule == "step"
        else f"×{config.plateau_factor:g} when the validation error plateaus for {config.plateau_patience} evaluations"
    )
    workers = f", {resolved.num_workers} workers" if resolved.num_workers > 1 else ""
    return run.summary(
        f"{source.describe()}; {config.image_size}×{config.image_size} "
        f"crops of images resized to a shorter side in [{lo}, {hi}]",
        f"{run_config['model']}, {table.trainable_params(network):,} parameters{shortcut}, "
        f"bottleneck stride {run_config['bottleneck_stride']}",
        f"{run_config['train_steps']:,} iterations of batch {config.batch_size}, learning rate {config.scaled_learning_rate():g} "
        f"({schedule}), evaluated every {run_config['eval_every']:,}",
        f"{keras.backend.backend()}, strategy {resolved.name} ({resolved.num_replicas} replica"
        f"{'s' if resolved.num_replicas > 1 else ''}{workers}), "
        f"{run.PRECISIONS[run_config['mixed_precision']]}",
        f"{rundir} (history, checkpoints, metrics.json, model.keras)",
    )


def train_and_evaluate(
    config,
    workdir,
    *,
    model_name,
    source,
    strategy="auto",
    tpu=None,
    train_steps=None,
    seed=0,
    shortcut=None,
    mixed_precision="none",
    jit_compile="auto",
    overwrite=False,
    verbose=0,
    print_fn=print,
    init_weights=None,
    bottleneck_stride="1x1",
):
    """Trains `model_name` on `source` with the paper's ImageNet recipe; resumes a killed run.

    Args:
        config: an `ImageNetConfig`.
        workdir: str. History, checkpoints, backup, `pixel_mean.npy`, `metrics.json`, and
            `model.keras`: the trained network on crops, the mean inside, no lighting.
        model_name: str. A zoo ImageNet name (`"resnet50"`) or `"tiny"`.
        source: a `sources.Source`.
        strategy: str (see `keras_resnet.distribute`), or a `distribute.Resolved`: a strategy
            that joins other processes (`multi_worker`, `tpu`) is resolved before any TensorFlow
            op runs, so before a TFRecord or TFDS source is opened. Defaults to `"auto"`.
        tpu: optional str. TPU name for `strategy="tpu"`.
        train_steps: optional int. Iterations; defaults to `config.max_steps` (plateau) or the
            step schedule's end.
        seed: int. Defaults to `0`.
        shortcut: optional str. Shortcut option of residual and highway nets.
        mixed_precision: str. `"none"`, `"bf16"` or `"fp16"` (Micikevicius et al., arXiv
            1710.03740). Not in the paper. Defaults to `"none"`.
        jit_compile: bool or `"auto"`. Compile the train step with XLA (`jax.jit` on JAX).
            `"auto"` is Keras' choice: always on JAX, on TensorFlow only with a GPU or TPU;
            `False` runs the JAX step op by op. Defaults to `"auto"`.
        overwrite: bool. Replace a finished run. Defaults to `False`.
        verbose: int. Keras progress bar. Defaults to `0`.
        print_fn: callable for one summary line per period.
        init_weights: optional str. Start from published weights (`"imagenet"`, a source's name
            or a file): fine-tuning. The net then takes raw RGB crops (its own preprocessing
            inside) and no training-set mean is computed. Defaults to `None`.
        bottleneck_stride: str. `"1x1"` (the paper) or `"3x3"` (v1.5). Defaults to `"1x1"`.

    Returns:
        The final metrics (also in `metrics.json`).
    """
    run.check_precision(mixed_precision)
    try:
        resolved = strategy if isinstance(strategy, distribute.Resolved) else distribute.resolve(strategy, tpu)
    except distribute.StrategyError as error:
        raise RecipeError(str(error)) from None
    check_batch(config.batch_size, resolved.num_replicas)
    if train_steps is None:
        train_steps = config.step_boundaries()[-1] if config.schedule == "step" else config.max_steps
    if train_steps <= 0:
        raise RecipeError(f"--train_steps must be positive. Received: {train_steps}")
    period = run.steps_per_period(train_steps, config.eval_every)
    run_config = {
        "model": model_name,
        "shortcut": shortcut,
        "data": source.kind,
        "data_order": order.ORDER_VERSION,
        "classes": source.num_classes,
        "seed": seed,
        "train_steps": train_steps,
        "eval_every": period,
        "mixed_precision": mixed_precision,
        # The replica count, not the strategy or the process count: a run resumes on any topology
        # of as many replicas (`order`).
        "replicas": resolved.num_replicas,
        "init_weights": None if init_weights is None else str(init_weights),
        "bottleneck_stride": bottleneck_stride,
        "config": run.jsonable(vars(config)),
    }
    rundir = run.join_job(workdir, resolved)  # Where this process writes; all resume from workdir's backup.
    # Before anything is written: the records counted (their counts cached in the workdir once it
    # exists), and a split of unreadable files refused.
    source.count_records(rundir if os.path.isdir(rundir) else None)
    input_pipeline.check_readable(source)
    run.make_workdir(rundir)
    with lock.hold(rundir, resolved):  # One job at a time in a workdir.
        check_data_order(rundir, overwrite)
        resumed = run.prepare_workdir(rundir, run_config, overwrite, caches=CACHES)
        # The input pipelines of a job (its workers, a TPU pod's hosts) read their own records at
        # their offsets, walked once and kept here.
        source.count_records(rundir, index=resolved.num_workers > 1 or resolved.name == "tpu")

        # A published net carries its own preprocessing: it is trained on the raw crops.
        mean = (
            pixel_mean(source, config, workdir, print_fn=print_fn, resolved=resolved)
            if init_weights is None
            else np.zeros(3, np.float32)
        )
        crops_dtype = image_dtype(resolved.name)
        keras.utils.set_random_seed(seed)
        keras.config.set_dtype_policy(run.PRECISIONS[mixed_precision])
        try:
            with resolved.scope():
                network = create_network(
                    model_name, source.num_classes, config, shortcut, init_weights, bottleneck_stride
                )
                model = recipe_model(network, config, mean, crops_dtype)
                model.compile(
                    optimizer=optimizers.make_optimizer(config, _learning_rate(config, train_steps)),
                    loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                    weighted_metrics=exact_eval.weighted_metrics(source.num_classes),  # Exact on padded batches.
                    jit_compile=jit_compile,
                )
            distribute.build_from_shapes(model, resolved, _batch_shapes(config, crops_dtype))
            # Other workers resume from the chief's backup (`run.join_job`), whether or not they ran before.
            start = backup.backup_step(workdir, period, print_fn) if resumed or not resolved.is_chief else 0
            print_fn(summary(run_config, network, source, config, resolved, rundir), flush=True)
            if start >= train_steps:
                print_fn(f"{model_name} in {rundir} finished training at step {start}; writing its outputs", flush=True)
            elif start:
                print_fn(f"Resuming {model_name} in {rundir} at step {start}", flush=True)
            train_skips = input_pipeline.SkipCounter("train")
            data = input_pipeline.distributed_train_dataset(
                resolved, source, config, seed=seed, start_step=start, counter=train_skips, image_dtype=crops_dtype
            )
            val, val_steps = None, None
            val_skips = input_pipeline.SkipCounter("validation")
            if "val" in source.splits:
                val, val_steps = input_pipeline.distributed_eval_dataset(
                    resolved, source, config, counter=val_skips, image_dtype=crops_dtype
                )
            plateau = None
            if config.schedule == "plateau" and val is not None:
                plateau = schedules.reduce_on_plateau(config, monitor="val_error")
                plateau.mode = "min"  # An error: Keras cannot infer the direction from the name.
            began = time.time()
            try:
                if start < train_steps:
                    skips = SkipReport(train_skips, start, period, input_pipeline.images_per_step(resolved, config))
                    validation = callbacks.PeriodicEvaluation(
                        {"val": val} if val is not None else {},
                        period,
                        steps={"val": val_steps},
                        skips={"val": val_skips},
                        sizes={"val": source.sizes.get("val")},
                    )
                    model.fit(
                        data,
                        steps_per_epoch=period,
                        epochs=train_steps // period,
                        verbose=verbose,
                        shuffle=False,
                        callbacks=callbacks.make_callbacks(
                            rundir,
                            validation,
                            plateau,
                            callbacks.ProgressLine(train_steps, config.batch_size, print_fn),
                            backup_from=workdir,
                        )
                        + [skips],
                    )
                    faults.kill_if(faults.BEFORE_OUTPUTS)
                else:  # Killed after training, before the outputs: only finish those.
                    with resolved.scope():
                        backup.restore_backup(model, workdir)
            except Exception as error:  # tf.errors.InvalidArgumentError from the pipeline's label check.
                if "label outside" not in str(error) and "negative label" not in str(error):
                    raise
                line = next(text for text in str(error).splitlines() if "label" in text).strip()
                raise RecipeError(f"{source.kind} data: {line}") from None
        finally:
            keras.config.set_dtype_policy("float32")
        last = (callbacks.read_history(os.path.join(rundir, callbacks.HISTORY_JSON)) or [{}])[-1]
        metrics = {
            "model": model_name,
            "steps": int(last.get("step", train_steps)),
            "strategy": resolved.name,
            "replicas": resolved.num_replicas,
            "train_error": last.get("train_error"),
            "val_error": last.get("val_error"),
            "val_top5_error": last.get("val_top5_error"),
            "loss": last.get("loss"),
            "skipped_train_images": train_skips.count,
            "skipped_val_images": val_skips.count,
            "seconds_this_run": round(time.time() - began, 1),
            "backend": keras.backend.backend(),
        }
        return run.finish_run(model, rundir, metrics, MEAN_LAYER)


def evaluate_checkpoint(
    config,
    workdir,
    *,
    model_name,
    source,
    protocol="center",
    shortcut=None,
    max_images=None,
    batch_size=50,
    print_fn=print,
    bottleneck_stride="1x1",
):
    """Evaluates the run in `workdir` with a test protocol; writes `eval_<protocol>.json`.

    Args:
        config: an `ImageNetConfig`.
        workdir: str. A workdir written by `train_and_evaluate`.
        model_name, source, shortcut: as for training.
        protocol: str. `"center"`, `"10crop"` or `"multiscale"`. Defaults to `"center"`.
        max_images: optional int. Evaluate only this many validation images.
        batch_size: int. Images per forward pass. Defaults to `50`.
        print_fn: callable for the result line.

    Returns:
        dict with `top1_error`, `top5_error`, `images`, `skipped_images`, `protocol`.
    """
    if protocol not in evaluation.PROTOCOLS:
        raise RecipeError(f"unknown --eval_protocol {protocol!r}: choose one of {', '.join(evaluation.PROTOCOLS)}")
    checkpoint = os.path.join(workdir, backup.CHECKPOINT)
    if not os.path.exists(checkpoint):
        raise RecipeError(f"--workdir {workdir} has no checkpoint ({backup.CHECKPOINT}); train first (--mode=train)")
    # A fine-tuned run's net was built from published weights (cached by the run): build it the same way.
    init_weights = (run.load_run_config(workdir) or {}).get("init_weights")
    network = create_network(model_name, source.num_classes, None, shortcut, init_weights, bottleneck_stride)
    model = recipe_model(network, config)
    try:
        model.load_weights(checkpoint)  # The network's weights and the mean it was trained with.
    except ValueError as error:
        raise RecipeError(
            f"{checkpoint} does not fit --model {model_name} with {source.num_classes} classes at "
            f"--image_size {config.image_size}: evaluate with the flags the run was trained with "
            f"({str(error).strip().splitlines()[0].split('. Example')[0][:120]})"
        ) from None
    result = evaluation.evaluate(
        network,
        source,
        config,
        protocol,
        mean=stored_mean(model),
        batch_size=batch_size,
        max_images=max_images,
        counter=input_pipeline.SkipCounter("evaluation"),
    )
    with open(os.path.join(workdir, f"{EVAL_PREFIX}{protocol}.json"), "w") as f:
        json.dump(result, f, indent=1)
    print_fn(f"{protocol}: {evaluation.result_summary(result)}", flush=True)
    return result
