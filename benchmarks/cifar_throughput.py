"""Training throughput of the CIFAR recipe's step against a bare compiled train step.

    KERAS_BACKEND=jax python benchmarks/cifar_throughput.py --models resnet20,resnet56,resnet110

For each net it prints images/s of (a) the recipe: `model.fit` on host uint8 batches with the
per-pixel mean and per-example pad/crop/flip inside the compiled step, exactly as
`recipes/cifar10.py` trains, and (b) a bare compiled train step of the same network with no
augmentation and the batch already on the device (`steps.py`); and their ratio. Synthetic
CIFAR-shaped data. JAX, TensorFlow and PyTorch backends. `train_throughput.py` measures the same
two paths for every net, with peak memory and peers, in one table.
"""

import time

import keras
import numpy as np
from absl import app, flags
from steps import bare_step_throughput

from keras_resnet.cifar import arrays, config, datasets, train
from keras_resnet.cifar import model as cifar_model
from keras_resnet.training import run

FLAGS = flags.FLAGS
flags.DEFINE_list("models", ["resnet20", "resnet56", "resnet110"], "CIFAR nets to measure.")
flags.DEFINE_integer("batch_size", config.cifar10().batch_size, "Mini-batch size.")
flags.DEFINE_integer("steps", 50, "Timed steps (after one untimed period that compiles).")
flags.DEFINE_integer("images", 5000, "Synthetic training images.")
flags.DEFINE_enum("mixed_precision", "none", list(run.PRECISIONS), "Dtype policy.")


class _PeriodTimer(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        self.began = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        float(logs["loss"])  # waits for the device
        self.seconds = time.perf_counter() - self.began


def synthetic_data(images, shape=(32, 32, 3), classes=10):
    rng = np.random.default_rng(0)
    arrays = {
        "x_train": rng.integers(0, 256, (images, *shape), dtype="uint8"),
        "y_train": rng.integers(0, classes, images),
        "x_test": np.zeros((2, *shape), "uint8"),
        "y_test": np.arange(2),
    }
    return datasets.prepare(arrays.check_arrays(arrays, num_classes=classes), full_train=True, name="synthetic")


def recipe_throughput(name, data, cfg, steps):
    """Images/s of `model.fit` as the recipe runs it (host batches, augmentation in the step)."""
    model = cifar_model.create_model(name, data, cfg, seed=0)
    train.compile_model(model, cfg, warmup=cifar_model.needs_warmup(name, cfg))
    timer = _PeriodTimer()
    model.fit(
        arrays.batches(data.x_train, data.y_train, cfg.batch_size),
        steps_per_epoch=steps,
        epochs=2,
        callbacks=[timer],
        verbose=0,
        shuffle=False,
    )
    return steps * cfg.batch_size / timer.seconds, model


def bare_throughput(model, data, cfg, steps):
    """Images/s of a compiled train step of the bare network on one device-resident batch."""
    network = model.layers[-1]  # the net without the preprocessing layers
    x = data.x_train[: cfg.batch_size].astype("float32") - data.mean
    optimizer = train.optimizers.make_optimizer(cfg, train.schedules.cifar_schedule(cfg))
    return bare_step_throughput(network, optimizer, x, data.y_train[: cfg.batch_size], steps, warmup_steps=1)


def main(argv):
    del argv
    cfg = config.cifar10(batch_size=FLAGS.batch_size)
    keras.config.set_dtype_policy("float32" if FLAGS.mixed_precision == "none" else FLAGS.mixed_precision)
    data = synthetic_data(FLAGS.images)
    print(
        f"backend {keras.backend.backend()}, batch {cfg.batch_size}, {FLAGS.steps} timed steps, {FLAGS.mixed_precision}"
    )
    print("| net | recipe img/s | bare step img/s | ratio |\n|---|---|---|---|")
    for name in FLAGS.models:
        keras.backend.clear_session()
        recipe, model = recipe_throughput(name, data, cfg, FLAGS.steps)
        bare = bare_throughput(model, data, cfg, FLAGS.steps)
        print(f"| {name} | {recipe:.0f} | {bare:.0f} | {recipe / bare:.2f} |", flush=True)


if __name__ == "__main__":
    app.run(main)
