"""The ImageNet recipe (Sec. 3.4) as a task of the one training loop (`training.loop`).

SGD with momentum 0.9 and the coupled weight decay 1e-4, global batch 256 split across the
replicas, learning rate 0.1 divided by 10 when the validation error plateaus, up to 60×10⁴
iterations. The data is a `sources.Source`; each worker reads its own share of every global batch
(`order`), so a run is the same on any topology of as many replicas.

Example:

>>> from keras_resnet.imagenet import config
>>> ImageNetTask().check(config.imagenet(model="resnet21"))
Traceback (most recent call last):
...
keras_resnet.errors.RecipeError: unknown --model 'resnet21': ImageNet models are resnet18, resnet34, resnet50, resnet101, resnet152, plain18, plain34, plain50, plain101, plain152, highway18, highway34 (or tiny for tests)
"""

import os

import keras
import numpy as np

from keras_resnet import table
from keras_resnet.errors import RecipeError
from keras_resnet.imagenet import input_pipeline, model, order, pixel_mean, sources
from keras_resnet.imagenet.skips import SkipCounter, SkipReport
from keras_resnet.training import callbacks, exact_eval, loop, optimizers, run, schedules


def learning_rate(cfg):
    """The rate the optimizer starts with: a number (the plateau schedule lowers it), or the
    step schedule."""
    rate = cfg.scaled_learning_rate()
    if cfg.schedule == "step":
        *boundaries, end = cfg.step_boundaries()
        return schedules.StepSchedule(rate, boundaries, 0.1, stop_step=end)
    return rate


def load_source(cfg):
    """The one source the config names (`sources.resolve_source`)."""
    return sources.resolve_source(
        cfg.data_dir, cfg.manual_dir, cfg.image_folder, cfg.tfrecords, cfg.tfrecord_label_offset, cfg.classes
    )


class ImageNetTask(loop.Task):
    """The ImageNet recipe's task.

    Args:
        source: optional `sources.Source`. Defaults to the source the config names, opened in `load`.
    """

    mean_layer = model.MEAN_LAYER
    caches = pixel_mean.CACHES

    def __init__(self, source=None):
        self.source = source
        self.train_skips, self.val_skips = SkipCounter("train"), SkipCounter("validation")

    @property
    def data_name(self):
        return self.source.kind if self.source is not None else ""

    def check(self, cfg):
        model.check_network(cfg, cfg.init_weights)

    def load(self, cfg, resolved, workdir=None):
        if self.source is None:
            self.source = load_source(cfg)
        # The records counted (the counts cached in the workdir where it exists: only the chief
        # writes it), and a split of unreadable files refused, before anything is written.
        cache = workdir if workdir and os.path.isdir(workdir) else None
        self.source.count_records(cache, write=resolved is None or resolved.is_chief)
        pixel_mean.check_readable(self.source)

    def train_steps(self, cfg):
        return cfg.iterations()

    def facts(self, cfg, resolved):
        return {
            "data": self.source.kind,
            "classes": self.source.num_classes,
            "class_names_sha256": self.source.class_digest(),
            "train_images": self.source.sizes.get("train"),
            "data_order": order.ORDER_VERSION,
        }

    def open(self, cfg, workdir, resolved):
        # A job's input pipelines (its workers, a TPU pod's hosts) read their own records at their
        # offsets, walked once and kept in the workdir by the chief.
        index = resolved.num_workers > 1 or resolved.name == "tpu"
        self.source.count_records(workdir, index=index, write=resolved.is_chief)

    def _image_dtype(self, resolved):
        return model.image_dtype(resolved.name)

    def build(self, cfg, resolved, workdir, print_fn=print):
        # A published net carries its own preprocessing: it is trained on the raw crops.
        mean = (
            pixel_mean.cached_mean(self.source, cfg, workdir, print_fn=print_fn, resolved=resolved)
            if cfg.init_weights is None
            else np.zeros(3, np.float32)
        )
        with resolved.scope():
            network = model.create_network(
                cfg.model, self.source.num_classes, cfg, cfg.shortcut, cfg.init_weights, cfg.bottleneck_stride
            )
            recipe = model.recipe_model(network, cfg, mean, self._image_dtype(resolved))
            recipe.compile(
                optimizer=optimizers.make_optimizer(cfg, learning_rate(cfg)),
                loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                weighted_metrics=exact_eval.weighted_metrics(self.source.num_classes),  # Exact on padded batches.
                jit_compile="auto" if cfg.runtime.jit_compile is None else cfg.runtime.jit_compile,
            )
        return recipe

    def batch_spec(self, cfg, resolved):
        size = cfg.image_size
        return (
            {
                model.IMAGE: keras.KerasTensor((None, size, size, 3), self._image_dtype(resolved)),
                model.LIGHTING_ALPHA: keras.KerasTensor((None, 3), "float32"),
            },
            keras.KerasTensor((None,), "int32"),
        )

    def train_stream(self, cfg, resolved, start_step):
        return input_pipeline.distributed_train_dataset(
            resolved,
            self.source,
            cfg,
            seed=cfg.runtime.seed,
            start_step=start_step,
            counter=self.train_skips,
            image_dtype=self._image_dtype(resolved),
        )

    def callbacks(self, cfg, resolved, start_step, period):
        val, steps, plateau = None, None, None
        if "val" in self.source.splits:
            val, steps = input_pipeline.distributed_eval_dataset(
                resolved, self.source, cfg, counter=self.val_skips, image_dtype=self._image_dtype(resolved)
            )
            if cfg.schedule == "plateau":
                plateau = schedules.ReduceLROnPlateau(
                    monitor="val_error", mode="min", factor=cfg.plateau_factor, patience=cfg.plateau_patience, verbose=1
                )
        evaluation = callbacks.PeriodicEvaluation(
            {"val": val} if val is not None else {},
            period,
            steps={"val": steps},
            skips={"val": self.val_skips},
            sizes={"val": self.source.sizes.get("val")},
        )
        per_step = input_pipeline.images_per_step(resolved, cfg)
        return loop.Callbacks(evaluation, plateau, [SkipReport(self.train_skips, start_step, period, per_step)])

    def describe(self, cfg, recipe, resolved):
        lo, hi = cfg.scale_range
        shortcut = model.used_shortcut(cfg)
        schedule = (
            f"step, ÷10 at epochs {', '.join(str(e) for e in cfg.step_epochs)}"
            if cfg.schedule == "step"
            else f"×{cfg.plateau_factor:g} when the validation error plateaus for {cfg.plateau_patience} evaluations"
        )
        return (
            f"{self.source.describe()}; {cfg.image_size}×{cfg.image_size} crops of images resized to a shorter side "
            f"in [{lo}, {hi}]",
            f"{cfg.model}, {table.trainable_params(recipe):,} parameters{f', shortcut {shortcut}' if shortcut else ''}, "
            f"bottleneck stride {cfg.bottleneck_stride}",
            f"{cfg.iterations():,} iterations of batch {cfg.batch_size}, learning rate {cfg.scaled_learning_rate():g} "
            f"({schedule}), evaluated every {run.steps_per_period(cfg.iterations(), cfg.eval_every):,}",
        )

    def metrics(self):
        return {"skipped_train_images": self.train_skips.count, "skipped_val_images": self.val_skips.count}

    def explain(self, error):
        # tf.errors.InvalidArgumentError from the pipeline's label check.
        if "label outside" not in str(error) and "negative label" not in str(error):
            return None
        line = next(text for text in str(error).splitlines() if "label" in text).strip()
        return RecipeError(f"{self.source.kind} data: {line}")
