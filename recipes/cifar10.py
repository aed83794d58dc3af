"""Trains a CIFAR net of the paper with its recipe (Sec. 4.2).

    python recipes/cifar10.py --model resnet56 --workdir runs/resnet56
    python recipes/cifar10.py --model plain20 --npz fashion_mnist.npz --train_steps 2000 --workdir runs/p20

Rerun the same command after a crash to resume; a finished run needs --overwrite.
"""

import math
import os

from absl import app, flags

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's INFO and WARNING lines (0: all); see keras_resnet.tf_startup

from keras_resnet.training import cifar_data, cli, config, train

FLAGS = flags.FLAGS
_DEFAULTS = config.cifar10()
cli.define_cifar_flags()
flags.adopt_module_key_flags(cli)  # --help lists the shared flags too
flags.DEFINE_string("model", "resnet20", "resnetD, plainD or highwayD with D = 6n+2 (20, 32, 44, 56, 110, 1202).")
flags.DEFINE_string("shortcut", None, "Shortcut option A, B or C of residual/highway nets (paper: A).")
flags.DEFINE_float("learning_rate", _DEFAULTS.learning_rate, "Initial learning rate.")
flags.DEFINE_float("weight_decay", _DEFAULTS.weight_decay, "Weight decay (coupled L2, as Caffe).")
flags.register_validator("learning_rate", lambda v: math.isfinite(v) and v > 0, "must be a positive number")
flags.register_validator("weight_decay", lambda v: math.isfinite(v) and v >= 0, "must be a number >= 0")
flags.DEFINE_bool("decoupled_weight_decay", False, "Keras' decoupled weight decay instead (arXiv 1711.05101).")
flags.DEFINE_bool("no_bias_decay", False, "Decay conv/fc kernels only, not biases and BN (arXiv 1812.01187); the paper decays all.")
flags.DEFINE_enum("strategy", "auto", list(train.STRATEGIES), "auto (several GPUs: mirrored), none, or on TensorFlow mirrored, one_device.")
flags.DEFINE_integer("verbose", 0, "Keras progress bar: 0 (summary lines only), 1 or 2.", lower_bound=0, upper_bound=2)


def main(argv):
    del argv
    with cli.one_line_errors(train.RecipeError, cifar_data.DataError, FloatingPointError):  # FloatingPointError: NaN
        cfg = cli.cifar_config(FLAGS, learning_rate=FLAGS.learning_rate, weight_decay=FLAGS.weight_decay,
                               decoupled_weight_decay=FLAGS.decoupled_weight_decay, no_bias_decay=FLAGS.no_bias_decay)
        train.check_settings(cfg, FLAGS.model, FLAGS.strategy, FLAGS.mixed_precision, FLAGS.shortcut)
        data = cli.cifar_data_from_flags(FLAGS, cfg)
        metrics = train.train_and_evaluate(
            cfg, FLAGS.workdir, model_name=FLAGS.model, data=data, seed=FLAGS.seed, shortcut=FLAGS.shortcut,
            mixed_precision=FLAGS.mixed_precision, strategy=FLAGS.strategy, overwrite=FLAGS.overwrite,
            verbose=FLAGS.verbose,
        )
    print(f"Final: {metrics}")
    print(f"Trained model (keras.saving.load_model): {metrics['model_file']}")


if __name__ == "__main__":
    app.run(main, flags_parser=cli.parse_flags)
