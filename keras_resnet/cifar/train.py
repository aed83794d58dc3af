"""The CIFAR recipe (Sec. 4.2): `train_and_evaluate(config, workdir, ...)`, readable top to bottom.

SGD with momentum 0.9 and the coupled weight decay 1e-4, batch 128, learning rate 0.1 divided by
10 at 1/2 and 3/4 of the run (32k and 48k of 64k iterations), ResNet-110's warm-up; the model is
the network behind the per-pixel mean and pad/crop/flip (`cifar.model`). The run's life (workdir,
resume, outputs) is `keras_resnet.training.run`'s. It runs in one process (one device, or
`mirrored` / JAX's data parallel over its devices) or in a job of several (`multi_worker`), the
same run on any topology of as many replicas (`cifar.streams`): the chief writes the workdir's
outputs, process i its own under `workdir/workers/i`.

Example:

>>> from keras_resnet.cifar import config
>>> check_settings(config.cifar10(), "resnet21")
Traceback (most recent call last):
...
keras_resnet.training.run.RecipeError: unknown --model 'resnet21': CIFAR models are resnetD, plainD or highwayD with depth D = 6n+2 (20, 32, 44, 56, 110, 1202, or e.g. 8 for tests)
"""

import os
import time

import keras

from keras_resnet import distribute, table
from keras_resnet.cifar import model as cifar_model
from keras_resnet.cifar import streams
from keras_resnet.training import backup, callbacks, exact_eval, faults, lock, optimizers, plots, run, schedules
from keras_resnet.training.run import RecipeError


def compile_model(model, config, warmup=False):
    """Compiles with the paper's SGD, step schedule and (optionally) the warm-up multiplier."""
    multiplier = config.warmup_learning_rate / config.learning_rate if warmup else 1.0
    optimizer = optimizers.make_optimizer(config, schedules.cifar_schedule(config), multiplier)
    model.compile(
        optimizer=optimizer,
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        weighted_metrics=exact_eval.weighted_metrics(),  # Exact on padded splits (`exact_eval`).
    )


def check_settings(config, model_name, strategy="none", mixed_precision="none", shortcut=None):
    """Raises `RecipeError` for settings that cannot run, before anything is written."""
    cifar_model.check_shortcut(model_name, shortcut)
    for name in ("train_steps", "batch_size", "eval_every"):
        if getattr(config, name) <= 0:
            raise RecipeError(f"--{name} must be positive. Received: {getattr(config, name)}")
    if isinstance(strategy, str) and strategy not in distribute.STRATEGIES:
        raise RecipeError(f"--strategy must be one of {', '.join(distribute.STRATEGIES)}. Received: {strategy!r}")
    run.check_precision(mixed_precision)


def check_data(config, data):
    """Raises `RecipeError` unless one batch of `config` fits in `data`'s training split."""
    if config.batch_size > len(data.x_train):
        raise RecipeError(
            f"--batch_size={config.batch_size} is larger than the {len(data.x_train)} training images of "
            f"{data.name or 'the data'}; choose at most {len(data.x_train)}"
        )


def planned_run(config, model_name, data, seed=0, shortcut=None, mixed_precision="none", replicas=1):
    """What a run of `model_name` on `data` with `config` on `replicas` replicas records in its
    `run_config.json`, and what a rerun must match to resume it or to reuse it finished
    (`degradation.run`). The replica count, not the strategy or the process count: a run resumes
    on any topology of as many replicas (`cifar.streams`)."""
    kind = cifar_model.network_entry(model_name).kind
    used_shortcut = None if kind == "plain" else shortcut or config.shortcut
    # What the run does: its shortcut, its learning-rate boundaries (scaled to train_steps), its warm-up.
    recorded = {
        **run.jsonable(vars(config)),
        "shortcut": used_shortcut,
        "lr_boundaries": list(config.scaled_boundaries()),
    }
    return {
        "model": model_name,
        "shortcut": used_shortcut,
        "data": data.name,
        "seed": seed,
        "train_steps": config.train_steps,
        "batch_size": config.batch_size,
        "eval_every": run.steps_per_period(config.train_steps, config.eval_every),
        "train_images": len(data.x_train),
        "image_shape": list(data.image_shape),
        "mixed_precision": run.PRECISIONS[mixed_precision],
        "warmup": cifar_model.needs_warmup(model_name, config),
        "replicas": replicas,
        "config": recorded,
    }


def summary(run_config, model, data, resolved, workdir):
    """The run's start-up lines (`run.summary`): the data, the net, the schedule, where it runs, where its outputs go."""
    cfg = run_config["config"]
    shortcut = f", shortcut {run_config['shortcut']}" if run_config["shortcut"] else ""
    boundaries = " and ".join(f"{b:,}" for b in cfg["lr_boundaries"])
    warmup = f" (warm-up at {cfg['warmup_learning_rate']} until training error < {cfg['warmup_until_error']:.0%})"
    workers = f", {resolved.num_workers} processes" if resolved.num_workers > 1 else ""
    replicas = f"{resolved.num_replicas} replica{'s' if resolved.num_replicas > 1 else ''}{workers}"
    return run.summary(
        data.describe(),
        f"{run_config['model']}, {table.trainable_params(model):,} parameters{shortcut}",
        f"{run_config['train_steps']:,} iterations of batch {run_config['batch_size']}, learning rate "
        f"{cfg['learning_rate']} ×{cfg['lr_decay_factor']:g} at {boundaries}{warmup if run_config['warmup'] else ''}, "
        f"evaluated every {run_config['eval_every']:,}",
        f"{keras.backend.backend()}, strategy {resolved.name} ({replicas}), {run_config['mixed_precision']}",
        f"{workdir} (history, curves.png, metrics.json, model.keras)",
    )


def train_and_evaluate(
    config,
    workdir,
    *,
    model_name,
    data,
    seed=0,
    shortcut=None,
    mixed_precision="none",
    strategy="auto",
    overwrite=False,
    verbose=0,
    print_fn=print,
):
    """Trains `model_name` on `data` with the paper's recipe; resumes a killed run in `workdir`.

    Writes to `workdir`: `history.csv`/`history.json` (one row per evaluation), checkpoints,
    a backup for resuming, TensorBoard logs when TensorBoard is installed, `metrics.json` and
    `curves.png` (Fig. 6 style) and `model.keras`, the trained network with the mean inside
    (`run.finish_run`). In a job of several processes the chief writes these; process i writes
    its own under `workdir/workers/i` (`run.join_job`).

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
        strategy: str. A `keras_resnet.distribute` name: `"auto"` (several workers in
            `TF_CONFIG` or several JAX processes: `multi_worker`; several GPUs: mirrored on
            TensorFlow, data parallel on JAX; one device: no strategy), `"none"`, `"mirrored"`,
            `"multi_worker"`, `"one_device"`, …; or a `distribute.Resolved` (resolved before any
            TensorFlow op runs, as a strategy that joins other processes must be: before TFDS
            data is loaded). Defaults to `"auto"`.
        overwrite: bool. Replace a finished run in `workdir`. Defaults to `False`.
        verbose: int. Keras' progress bar (0, 1, 2); one summary line per evaluation is always
            printed. Defaults to `0`.
        print_fn: callable used for the summary lines. Defaults to `print`.

    Returns:
        The final metrics as a dict (also in `metrics.json`).
    """
    check_settings(config, model_name, strategy, mixed_precision, shortcut)
    check_data(config, data)
    try:
        resolved = (
            strategy
            if isinstance(strategy, distribute.Resolved)
            else distribute.resolve(strategy, single_device="none")
        )
    except distribute.StrategyError as error:
        raise RecipeError(str(error)) from None
    run.check_batch(config.batch_size, resolved.num_replicas)
    run_config = planned_run(config, model_name, data, seed, shortcut, mixed_precision, resolved.num_replicas)
    period, warmup = run_config["eval_every"], run_config["warmup"]
    rundir = run.join_job(workdir, resolved)  # Where this process writes; all resume from workdir's backup.
    run.make_workdir(rundir)
    with lock.hold(rundir, resolved):  # One job at a time in a workdir.
        resumed = run.prepare_workdir(rundir, run_config, overwrite)

        run.set_seed(seed)
        keras.config.set_dtype_policy(run.PRECISIONS[mixed_precision])
        with resolved.scope():
            model = cifar_model.create_model(model_name, data, config, shortcut=shortcut, seed=seed)
            compile_model(model, config, warmup=warmup)
        # Built from shapes: under a strategy Keras would otherwise draw a batch from the stream to learn them.
        distribute.build_from_shapes(
            model,
            resolved,
            (
                keras.KerasTensor((None, *data.image_shape), cifar_model.image_dtype(data)),
                keras.KerasTensor((None,), "int32"),
            ),
        )

        # Other workers resume from the chief's backup (`run.join_job`), whether or not they ran before.
        start = backup.backup_step(workdir, period, print_fn) if resumed or not resolved.is_chief else 0
        print_fn(summary(run_config, model, data, resolved, rundir), flush=True)
        began = time.time()
        if start >= config.train_steps:  # Killed after training, before the outputs: only finish those.
            print_fn(f"{model_name} in {rundir} finished training at step {start}; writing its outputs", flush=True)
            with resolved.scope():
                backup.restore_backup(model, workdir)
        else:
            if start:
                print_fn(f"Resuming {model_name} in {rundir} at step {start}", flush=True)
            evaluation = streams.periodic_evaluation(
                resolved, data, config.batch_size, period, schedule=schedules.cifar_schedule(config)
            )
            warmup_callback = (
                schedules.WarmupUntilTrainingError(
                    config.warmup_until_error, check_every=min(config.warmup_check_every, period)
                )
                if warmup
                else None
            )
            progress = callbacks.ProgressLine(config.train_steps, config.batch_size, print_fn)
            model.fit(
                streams.train_stream(resolved, data, config.batch_size, seed=seed, start_step=start),
                steps_per_epoch=period,
                epochs=config.train_steps // period,
                callbacks=callbacks.make_callbacks(rundir, evaluation, warmup_callback, progress, backup_from=workdir),
                verbose=verbose,
                shuffle=False,  # The batches are shuffled already, reproducibly (`datasets.batches`).
            )
            faults.kill_if(faults.BEFORE_OUTPUTS)
        keras.config.set_dtype_policy("float32")
        history = callbacks.read_history(os.path.join(rundir, callbacks.HISTORY_JSON))
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
        plots.plot_curves(
            {model_name: history},
            os.path.join(rundir, run.CURVES_PNG),
            title=f"{model_name}: {plots.run_title(data.name, config.train_steps, config.batch_size)}",
        )
        return run.finish_run(model, rundir, metrics, cifar_model.MEAN_LAYER)
