"""The one training loop of the recipes: `train_and_evaluate(task, config, workdir)` runs a
run's life once, whatever it trains on; a `Task` says what is particular to a recipe (TF Model
Garden's `Task` and `run_experiment`, big_vision's single `train.py`).

The life of a run: its settings checked (nothing read or written yet), the strategy resolved
(before any TensorFlow op: a strategy that joins other processes needs that), the data loaded,
the workdir held and checked (`run.opened`: a rerun resumes, a finished or changed run is
refused), the model built from shapes (so that `fit` opens the data once), the summary lines,
`fit` over evaluation periods from the backup's step, and the outputs (`run.finish_run`). A run
killed at any point and rerun ends as the run left alone (`backup`).

Example:

>>> from keras_resnet.cifar import config, task
>>> train_and_evaluate(task.CifarTask(), config.cifar10(model="resnet21"), "runs/x")
Traceback (most recent call last):
...
keras_resnet.errors.RecipeError: unknown --model 'resnet21': CIFAR models are resnetD, plainD or highwayD with depth D = 6n+2 (20, 32, 44, 56, 110, 1202, or e.g. 8 for tests)
"""

import dataclasses
import os
import time

import keras

from keras_resnet import table
from keras_resnet.training import backup, callbacks, distribute, faults, plots, run
from keras_resnet.training import config as config_lib
from keras_resnet.training.progress import ProgressLine

# The history's entries that `metrics.json` repeats from the last period, where the run logs them.
FINAL_ENTRIES = ("loss", "train_error", "val_error", "val_top5_error", "val_loss", "test_error", "test_loss")


@dataclasses.dataclass
class Callbacks:
    """What a task adds to a run's periods: its evaluation (a `callbacks.PeriodicEvaluation`), its
    schedule's callback (the warm-up, the plateau), and others after them."""

    evaluation: object = None
    schedule: object = None
    extra: list = dataclasses.field(default_factory=list)


class Task:
    """What is particular to one recipe. Every method takes the run's config; the data a task
    loads (`load`) it keeps for the others."""

    mean_layer = None  # The recipe model's mean layer: `model.keras` keeps the network behind it.
    caches = ()  # Files of the workdir derived from the data, removed by `--overwrite`.

    def check(self, config):
        """Raises `RecipeError` for settings that cannot run; reads and writes nothing."""

    def load(self, config, resolved, workdir=None):
        """Reads or opens the data (after the strategy is resolved: opening it runs TensorFlow ops);
        `workdir` may hold what an earlier run learnt of it."""

    def train_steps(self, config):
        """The run's iterations."""
        return config.train_steps

    def facts(self, config, resolved):
        """What the run derives from its data and settings, recorded beside its config; a rerun
        resumes only where they are the same."""
        return {}

    def open(self, config, workdir, resolved):
        """Called once the workdir is held, before the model is built."""

    def build(self, config, resolved, workdir, print_fn=print):
        """The compiled recipe model, under `resolved`'s scope (`print_fn` for progress lines of
        what building it takes, such as a mean computed over the data)."""
        raise NotImplementedError

    def batch_spec(self, config, resolved):
        """`(inputs, labels)` of one training batch as `keras.KerasTensor`s."""
        raise NotImplementedError

    def train_stream(self, config, resolved, start_step):
        """This process's training stream from iteration `start_step` on."""
        raise NotImplementedError

    def callbacks(self, config, resolved, start_step, period):
        """The task's `Callbacks` of a run resumed at `start_step`."""
        return Callbacks()

    def describe(self, config, model, resolved):
        """Three start-up lines of `run.summary`: the data, the model, the schedule."""
        raise NotImplementedError

    def metrics(self):
        """What `metrics.json` adds for this task (e.g. images it skipped)."""
        return {}

    def explain(self, error):
        """A one-line `RecipeError` for an error raised by `fit` that the data caused, or `None`."""
        return None


def train_and_evaluate(task, config, workdir, *, overwrite=False, print_fn=print):
    """Trains and evaluates a run of `task` with `config` in `workdir`; resumes a killed run.

    Writes to `workdir`: `run_config.json`, `history.csv`/`history.json` (one row per evaluation),
    checkpoints, a backup for resuming, TensorBoard logs where TensorBoard is installed,
    `curves.png`, `metrics.json` and `model.keras` (the trained network behind its mean). In a job
    of several processes the chief writes them (`run.opened`).

    Args:
        task: a `Task`.
        config: the task's config (`config.check`ed here).
        workdir: str.
        overwrite: bool. Replace a finished run in `workdir`. Defaults to `False`.
        print_fn: callable for the run's lines. Defaults to `print`.

    Returns:
        The final metrics as a dict (also in `metrics.json`).
    """
    config_lib.check(config)
    if hasattr(config, "check"):
        config.check()
    task.check(config)
    resolved = distribute.resolve_runtime(config.runtime)
    run.check_batch(config.batch_size, resolved.num_replicas)
    task.load(config, resolved, workdir)
    train_steps = task.train_steps(config)
    period = run.steps_per_period(train_steps, config.eval_every)
    facts = {**task.facts(config, resolved), "replicas": resolved.num_replicas, "period": period}
    record = run.record(config, facts)
    with run.opened(workdir, record, resolved, overwrite, task.caches) as (rundir, resumed):
        task.open(config, workdir, resolved)
        run.set_seed(config.runtime.seed)
        keras.config.set_dtype_policy(config_lib.PRECISIONS[config.runtime.mixed_precision])
        try:
            model = task.build(config, resolved, workdir, print_fn)
            distribute.build_from_shapes(model, resolved, task.batch_spec(config, resolved))
            # The other processes resume from the chief's backup, whether or not they ran before.
            start = backup.backup_step(workdir, period, print_fn) if resumed or not resolved.is_chief else 0
            print_fn(_summary(task, config, model, resolved, workdir, overwrite), flush=True)
            began = time.time()
            if start >= train_steps:  # Killed after training, before the outputs: only those are left.
                print_fn(
                    f"{config.model} in {workdir} finished training at step {start}; writing its outputs", flush=True
                )
                with resolved.scope():
                    backup.restore_backup(model, workdir)
            else:
                if start:
                    print_fn(f"Resuming {config.model} in {workdir} at step {start}", flush=True)
                _fit(task, config, model, resolved, rundir, workdir, start, period, train_steps, print_fn)
                faults.kill_if(faults.BEFORE_OUTPUTS)
        finally:
            keras.config.set_dtype_policy("float32")
        history = callbacks.read_history(os.path.join(rundir, callbacks.HISTORY_JSON))
        last = history[-1] if history else {}
        metrics = {
            "model": config.model,
            "steps": int(last.get("step", train_steps)),
            **{key: last[key] for key in FINAL_ENTRIES if key in last},
            "parameters": table.trainable_params(model),
            "strategy": resolved.name,
            "replicas": resolved.num_replicas,
            "backend": keras.backend.backend(),
            "seconds_this_run": round(time.time() - began, 1),
            "seconds": round(last.get("time", time.time() - began), 1),  # Every run of it, resumes included.
            **task.metrics(),
        }
        if resolved.is_chief:
            title = f"{config.model}: {plots.run_title(_data_name(task), train_steps, config.batch_size)}"
            plots.plot_curves({config.model: history}, os.path.join(rundir, run.CURVES_PNG), title=title)
        return run.finish_run(model, rundir, metrics, task.mean_layer)


def _fit(task, config, model, resolved, rundir, workdir, start, period, train_steps, print_fn):
    parts = task.callbacks(config, resolved, start, period)
    progress = ProgressLine(train_steps, config.batch_size, print_fn)
    run_callbacks = callbacks.make_callbacks(
        rundir, parts.evaluation, parts.schedule, progress, backup_from=workdir, chief=resolved.is_chief
    )
    try:
        model.fit(
            task.train_stream(config, resolved, start),
            steps_per_epoch=period,
            epochs=train_steps // period,
            callbacks=run_callbacks + parts.extra,
            verbose=config.runtime.verbose,
            shuffle=False,  # The streams are in the run's order already, reproducibly.
        )
    except Exception as error:
        explained = task.explain(error)
        if explained is None:
            raise
        raise explained from None


def _data_name(task):
    return getattr(task, "data_name", "")


def _summary(task, config, model, resolved, workdir, overwrite):
    data, network, schedule = task.describe(config, model, resolved)
    workers = f", {resolved.num_workers} processes" if resolved.num_workers > 1 else ""
    replicas = f"{resolved.num_replicas} replica{'s' if resolved.num_replicas > 1 else ''}{workers}"
    precision = config_lib.PRECISIONS[config.runtime.mixed_precision]
    return run.summary(
        data,
        network,
        schedule,
        f"{keras.backend.backend()}, strategy {resolved.name} ({replicas}), {precision}",
        f"{workdir} (history, curves.png, metrics.json, model.keras)",
        overwrite,
    )
