"""The CIFAR recipe (Sec. 4.2) as a task of the one training loop (`training.loop`).

The model is the network behind the per-pixel mean and pad/crop/flip (`cifar.model`); SGD with
momentum and the coupled weight decay; the step schedule; ResNet-110's warm-up. Each process
feeds its block of every batch (`cifar.streams`), so a run is the same on any topology of as many
replicas.

Example:

>>> from keras_resnet.cifar import config
>>> from keras_resnet.training import loop
>>> metrics = loop.train_and_evaluate(CifarTask(tiny_data()), config.cifar10(model="resnet8", train_steps=2,
...     batch_size=4, eval_every=2), tempfile.mkdtemp(), print_fn=lambda *a, **k: None)
>>> metrics["steps"], sorted(metrics)[:3]
(2, ['backend', 'loss', 'model'])
"""

import tempfile  # noqa: F401  (the example's)

import keras
import numpy as np

from keras_resnet import table
from keras_resnet.cifar import datasets, streams
from keras_resnet.cifar import model as cifar_model
from keras_resnet.errors import RecipeError
from keras_resnet.training import exact_eval, loop, optimizers, run, schedules


def schedule(config):
    """The step schedule of Sec. 4.2: `config.learning_rate`, × `lr_decay_factor` at each of
    `config.boundaries()`, 0 from `train_steps` on."""
    return schedules.StepSchedule(
        config.learning_rate, config.boundaries(), config.lr_decay_factor, stop_step=config.train_steps
    )


def compile_model(model, config, warmup=False):
    """Compiles with the paper's SGD, step schedule and (optionally) the warm-up multiplier."""
    multiplier = config.warmup_learning_rate / config.learning_rate if warmup else 1.0
    model.compile(
        optimizer=optimizers.make_optimizer(config, schedule(config), multiplier),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        weighted_metrics=exact_eval.weighted_metrics(),  # Exact on padded splits (`exact_eval`).
        jit_compile="auto" if config.runtime.jit_compile is None else config.runtime.jit_compile,
    )


def load_data(config):
    """The `CifarData` the config names: `--data`, `--npz` or the TFDS `--dataset`."""
    return datasets.load(
        config.npz,
        config.dataset,
        config.data_dir,
        config.validation_size,
        config.full_train,
        download=config.download,
        data=config.data,
    )


def tiny_data(images=16, shape=(8, 8, 1), classes=2):
    """Random `CifarData` of a few images, for examples and smoke runs."""
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (images, *shape), dtype="uint8")
    y = np.arange(images) % classes
    arrays = datasets.check_arrays(dict(x_train=x, y_train=y, x_test=x[:4], y_test=y[:4]))
    return datasets.prepare(arrays, validation_size=4, name="random images")


class CifarTask(loop.Task):
    """The CIFAR recipe's task.

    Args:
        data: optional `CifarData`. Defaults to the data the config names, loaded in `load`.
    """

    mean_layer = cifar_model.MEAN_LAYER

    def __init__(self, data=None):
        self.data = data

    @property
    def data_name(self):
        return self.data.name if self.data is not None else ""

    def load(self, config, resolved, workdir=None):
        if self.data is None:
            self.data = load_data(config)
        if config.batch_size > len(self.data.x_train):
            raise RecipeError(
                f"--batch_size={config.batch_size} is larger than the {len(self.data.x_train)} training images of "
                f"{self.data.name or 'the data'}; choose at most {len(self.data.x_train)}"
            )

    def _warmup(self, config):
        return cifar_model.needs_warmup(config)

    def facts(self, config, resolved):
        return {
            "data": self.data.name,
            "train_images": len(self.data.x_train),
            "image_shape": list(self.data.image_shape),
            "shortcut": cifar_model.used_shortcut(config),
            "lr_boundaries": list(config.boundaries()),
            "warmup": self._warmup(config),
        }

    def build(self, config, resolved, workdir, print_fn=print):
        with resolved.scope():
            model = cifar_model.create_model(config, self.data)
            compile_model(model, config, warmup=self._warmup(config))
        return model

    def batch_spec(self, config, resolved):
        return (
            keras.KerasTensor((None, *self.data.image_shape), cifar_model.image_dtype(self.data)),
            keras.KerasTensor((None,), "int32"),
        )

    def train_stream(self, config, resolved, start_step):
        return streams.train_stream(
            resolved, self.data, config.batch_size, seed=config.runtime.seed, start_step=start_step
        )

    def callbacks(self, config, resolved, start_step, period):
        evaluation = streams.periodic_evaluation(
            resolved, self.data, config.batch_size, period, schedule=schedule(config)
        )
        warmup = None
        if self._warmup(config):
            check_every = min(config.warmup_check_every, period)
            warmup = schedules.WarmupUntilTrainingError(config.warmup_until_error, check_every=check_every)
        return loop.Callbacks(evaluation, warmup)

    def describe(self, config, model, resolved):
        facts = self.facts(config, resolved)
        shortcut = f", shortcut {facts['shortcut']}" if facts["shortcut"] else ""
        boundaries = " and ".join(f"{b:,}" for b in facts["lr_boundaries"])
        warmup = (
            f" (warm-up at {config.warmup_learning_rate} until training error < {config.warmup_until_error:.0%})"
            if facts["warmup"]
            else ""
        )
        return (
            self.data.describe(),
            f"{config.model}, {table.trainable_params(model):,} parameters{shortcut}",
            f"{config.train_steps:,} iterations of batch {config.batch_size}, learning rate {config.learning_rate} "
            f"×{config.lr_decay_factor:g} at {boundaries}{warmup}, evaluated every "
            f"{run.steps_per_period(config.train_steps, config.eval_every):,}",
        )
