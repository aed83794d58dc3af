"""Training throughput of the CIFAR recipe's step against a bare compiled train step.

    KERAS_BACKEND=jax python benchmarks/cifar_throughput.py --models resnet20,resnet56,resnet110

For each net it prints images/s of (a) the recipe: `model.fit` on host uint8 batches with the
per-pixel mean and per-example pad/crop/flip inside the compiled step, exactly as
`recipes/cifar10.py` trains, and (b) a bare compiled train step of the same network with no
augmentation and the batch already on the device; and their ratio. Synthetic CIFAR-shaped data.
JAX and TensorFlow backends.
"""

import time

import keras
import numpy as np
from absl import app, flags

from keras_resnet.training import cifar_data, config, train

FLAGS = flags.FLAGS
flags.DEFINE_list("models", ["resnet20", "resnet56", "resnet110"], "CIFAR nets to measure.")
flags.DEFINE_integer("batch_size", config.cifar10().batch_size, "Mini-batch size.")
flags.DEFINE_integer("steps", 50, "Timed steps (after one untimed period that compiles).")
flags.DEFINE_integer("images", 5000, "Synthetic training images.")
flags.DEFINE_enum("mixed_precision", "none", list(train.PRECISIONS), "Dtype policy.")


class _PeriodTimer(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        self.began = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        float(logs["loss"])  # waits for the device
        self.seconds = time.perf_counter() - self.began


def synthetic_data(images, shape=(32, 32, 3), classes=10):
    rng = np.random.default_rng(0)
    arrays = {"x_train": rng.integers(0, 256, (images, *shape), dtype="uint8"), "y_train": rng.integers(0, classes, images),
              "x_test": np.zeros((2, *shape), "uint8"), "y_test": np.arange(2)}
    return cifar_data.prepare(cifar_data.check_arrays(arrays, num_classes=classes), full_train=True, name="synthetic")


def recipe_throughput(name, data, cfg, steps):
    """Images/s of `model.fit` as the recipe runs it (host batches, augmentation in the step)."""
    model = train.create_model(name, data, cfg, seed=0)
    train.compile_model(model, cfg, warmup=train.needs_warmup(name, cfg))
    timer = _PeriodTimer()
    model.fit(cifar_data.batches(data.x_train, data.y_train, cfg.batch_size), steps_per_epoch=steps, epochs=2,
              callbacks=[timer], verbose=0, shuffle=False)
    return steps * cfg.batch_size / timer.seconds, model


def bare_throughput(model, data, cfg, steps):
    """Images/s of a compiled train step of the bare network on one device-resident batch."""
    network = model.layers[-1]  # the net without the preprocessing layers
    x = (data.x_train[: cfg.batch_size].astype("float32") - data.mean)
    y = data.y_train[: cfg.batch_size]
    optimizer = train.optimizers.make_optimizer(cfg, train.schedules.cifar_schedule(cfg))
    optimizer.build(network.trainable_variables)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        def loss_of(trainable, non_trainable, x, y):
            logits, non_trainable, losses = network.stateless_call(trainable, non_trainable, x, training=True, return_losses=True)
            return loss_fn(y, logits) + sum(losses), non_trainable

        grad_fn = jax.value_and_grad(loss_of, has_aux=True)

        @jax.jit
        def step(state, x, y):
            trainable, non_trainable, opt_vars = state
            (loss, non_trainable), grads = grad_fn(trainable, non_trainable, x, y)
            trainable, opt_vars = optimizer.stateless_apply(opt_vars, grads, trainable)
            return loss, (trainable, non_trainable, opt_vars)

        state = ([v.value for v in network.trainable_variables], [v.value for v in network.non_trainable_variables],
                 [v.value for v in optimizer.variables])
        x, y = jax.device_put(x), jax.device_put(y)
        loss, state = step(state, x, y)
        loss.block_until_ready()
        began = time.perf_counter()
        for _ in range(steps):
            loss, state = step(state, x, y)
        loss.block_until_ready()
    elif backend == "tensorflow":
        import tensorflow as tf

        @tf.function(jit_compile=bool(model.jit_compile))
        def step(x, y):
            with tf.GradientTape() as tape:
                loss = loss_fn(y, network(x, training=True)) + tf.add_n(network.losses)
            optimizer.apply(tape.gradient(loss, network.trainable_variables), network.trainable_variables)
            return loss

        x, y = tf.constant(x), tf.constant(y)
        step(x, y).numpy()
        began = time.perf_counter()
        for _ in range(steps):
            loss = step(x, y)
        loss.numpy()
    else:
        raise SystemExit(f"the bare step is written for jax and tensorflow, not {backend}")
    return steps * cfg.batch_size / (time.perf_counter() - began)


def main(argv):
    del argv
    cfg = config.cifar10(batch_size=FLAGS.batch_size)
    keras.config.set_dtype_policy("float32" if FLAGS.mixed_precision == "none" else FLAGS.mixed_precision)
    data = synthetic_data(FLAGS.images)
    print(f"backend {keras.backend.backend()}, batch {cfg.batch_size}, {FLAGS.steps} timed steps, {FLAGS.mixed_precision}")
    print("| net | recipe img/s | bare step img/s | ratio |\n|---|---|---|---|")
    for name in FLAGS.models:
        keras.backend.clear_session()
        recipe, model = recipe_throughput(name, data, cfg, FLAGS.steps)
        bare = bare_throughput(model, data, cfg, FLAGS.steps)
        print(f"| {name} | {recipe:.0f} | {bare:.0f} | {recipe / bare:.2f} |", flush=True)


if __name__ == "__main__":
    app.run(main)
