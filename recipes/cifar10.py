"""Trains a CIFAR net of the paper with its recipe (Sec. 4.2).

    python recipes/cifar10.py --model resnet56 --workdir runs/resnet56
    python recipes/cifar10.py --model plain20 --npz fashion_mnist.npz --train_steps 2000 --workdir runs/p20

Rerun the same command after a crash to resume; a finished run needs --overwrite.
"""

import sys

from absl import app, flags

from keras_resnet.training import cifar_data, config, train

FLAGS = flags.FLAGS
_DEFAULTS = config.cifar10()
flags.DEFINE_string("model", "resnet20", "resnetD, plainD or highwayD with D = 6n+2 (20, 32, 44, 56, 110, 1202).")
flags.DEFINE_string("shortcut", None, "Shortcut option A, B or C of residual/highway nets (paper: A).")
flags.DEFINE_string("dataset", "cifar10", "TFDS name (cifar10, cifar100, …); ignored with --npz.")
flags.DEFINE_string("data_dir", None, "Directory with the prepared TFDS data set (nothing is downloaded).")
flags.DEFINE_string("npz", None, "An .npz with x_train, y_train, x_test, y_test (keras.datasets layout).")
flags.DEFINE_integer("train_steps", _DEFAULTS.train_steps, "Iterations; the rate is divided at 1/2 and 3/4 of them.")
flags.DEFINE_integer("batch_size", _DEFAULTS.batch_size, "Mini-batch size.")
flags.DEFINE_integer("eval_every", _DEFAULTS.eval_every, "Iterations between evaluations (history rows).")
flags.DEFINE_float("learning_rate", _DEFAULTS.learning_rate, "Initial learning rate.")
flags.DEFINE_float("weight_decay", _DEFAULTS.weight_decay, "Weight decay (coupled L2, as Caffe).")
flags.DEFINE_bool("decoupled_weight_decay", False, "Keras' decoupled weight decay instead (arXiv 1711.05101).")
flags.DEFINE_integer("validation_size", _DEFAULTS.validation_size, "Training images held out for validation (45k/5k).")
flags.DEFINE_bool("full_train", False, "Train on all training images (no 5k validation split).")
flags.DEFINE_string("workdir", None, "Directory for history, checkpoints, metrics and plots.", required=True)
flags.DEFINE_integer("seed", 0, "Random seed.")
flags.DEFINE_enum("mixed_precision", "none", list(train.PRECISIONS), "Mixed precision (not in the paper).")
flags.DEFINE_enum("strategy", "none", list(train.STRATEGIES), "tf.distribute strategy (TensorFlow backend).")
flags.DEFINE_bool("overwrite", False, "Replace a finished run in --workdir.")
flags.DEFINE_integer("verbose", 0, "Keras progress bar: 0 (summary lines only), 1 or 2.")


def main(argv):
    del argv
    try:
        cfg = config.cifar10(
            train_steps=FLAGS.train_steps, batch_size=FLAGS.batch_size, eval_every=FLAGS.eval_every,
            learning_rate=FLAGS.learning_rate, weight_decay=FLAGS.weight_decay,
            decoupled_weight_decay=FLAGS.decoupled_weight_decay, validation_size=FLAGS.validation_size,
        )
        train.check_settings(cfg, FLAGS.model, FLAGS.strategy, FLAGS.mixed_precision)
        data = cifar_data.load(FLAGS.npz, FLAGS.dataset, FLAGS.data_dir, cfg.validation_size, FLAGS.full_train)
        metrics = train.train_and_evaluate(
            cfg, FLAGS.workdir, model_name=FLAGS.model, data=data, seed=FLAGS.seed, shortcut=FLAGS.shortcut,
            mixed_precision=FLAGS.mixed_precision, strategy=FLAGS.strategy, overwrite=FLAGS.overwrite,
            verbose=FLAGS.verbose,
        )
    except (ValueError, FloatingPointError) as error:  # RecipeError, DataError, NaN: one line.
        if not isinstance(error, (train.RecipeError, cifar_data.DataError, FloatingPointError)):
            raise
        sys.exit(f"error: {error}")
    print(f"Final: {metrics}")


if __name__ == "__main__":
    app.run(main)
