"""The command-line flags that `recipes/cifar10.py` and `recipes/degradation.py` share, and the
one way every recipe reports a bad input: one line on stderr, `error: …`, exit status 2.

Each CIFAR recipe calls `define_cifar_flags()` once, adds its own flags, and builds its config
and data with `cifar_config(FLAGS)` and `cifar_data_from_flags(FLAGS, config)`.
"""

import contextlib
import importlib.util
import sys

from absl import flags

from keras_resnet import tf_startup
from keras_resnet.training import cifar_data, config, train

USAGE_ERROR = 2  # The exit status of a bad command line, as argparse and absl's own usage errors.
# numpy's and Keras' seeding accept exactly this range; outside it they raise mid-run.
SEED_RANGE = (0, 2**32 - 1)


def fail(message):
    """Prints `error: <message>` (its first line) on stderr and exits with status 2."""
    lines = str(message).strip().splitlines()
    print(f"error: {lines[0] if lines else type(message).__name__}", file=sys.stderr)
    sys.exit(USAGE_ERROR)


@contextlib.contextmanager
def one_line_errors(*kinds):
    """A context in which an exception of `kinds` ends the program through `fail`.

    The recipes wrap their `main` in it with their one-line error types (`train.RecipeError`,
    `cifar_data.DataError`, …); anything else is a bug and keeps its traceback.
    """
    try:
        yield
    except kinds as error:
        fail(error)


def parse_flags(argv):
    """absl's flag parser with bad values as one line (`error: flag --x=y: …`) and exit status 2.

    For `app.run(main, flags_parser=parse_flags)`; absl's own parser prints a traceback-like
    block and exits with 1. Then it starts TensorFlow where installed (tf.data feeds every
    backend, and Keras loads it to save a model), with its start-up lines held to
    `TF_CPP_MIN_LOG_LEVEL` (`tf_startup.import_tensorflow`).
    """
    try:
        argv = flags.FLAGS(argv)
    except flags.Error as error:
        fail(error)
    tf_startup.quiet_jax_platform_probe()
    if importlib.util.find_spec("tensorflow"):
        tf_startup.import_tensorflow()
    return argv


def define_cifar_flags():
    """Defines the data, schedule and run flags of the CIFAR recipes (defaults: the paper's)."""
    defaults = config.cifar10()
    flags.DEFINE_string("dataset", "cifar10", "TFDS name (cifar10, cifar100, …); ignored with --data.")
    flags.DEFINE_string("data_dir", None, "TFDS data directory (a prepared data set there is used as it is).")
    flags.DEFINE_bool("download", True, "Download the TFDS data set if --data_dir lacks it (--nodownload: never).")
    flags.DEFINE_string("data", None, "Local data: an .npz (x_train, y_train, x_test, y_test) or a folder of MNIST-format IDX files.")
    flags.DEFINE_string("npz", None, "An .npz with x_train, y_train, x_test, y_test (keras.datasets layout); as --data.")
    flags.DEFINE_integer("train_steps", defaults.train_steps, "Iterations; the rate is divided at 1/2 and 3/4 of them.", lower_bound=1)
    flags.DEFINE_integer("batch_size", defaults.batch_size, "Mini-batch size.", lower_bound=1)
    flags.DEFINE_integer("eval_every", defaults.eval_every, "Iterations between evaluations (history rows).", lower_bound=1)
    flags.DEFINE_integer("validation_size", defaults.validation_size, "Training images held out for validation (45k/5k).", lower_bound=0)
    flags.DEFINE_bool("full_train", False, "Train on all training images (no validation split).")
    flags.DEFINE_string("workdir", None, "Directory for history, checkpoints, metrics and plots.", required=True)
    flags.DEFINE_integer("seed", 0, "Random seed.", lower_bound=SEED_RANGE[0], upper_bound=SEED_RANGE[1])
    flags.DEFINE_enum("mixed_precision", "none", list(train.PRECISIONS), "Mixed precision: none, bf16 or fp16 (not in the paper).")
    flags.DEFINE_bool("overwrite", False, "Replace a finished run in --workdir.")


def cifar_config(values, **changes):
    """The `cifar10` config with the schedule flags applied (and any further `changes`)."""
    return config.cifar10(train_steps=values.train_steps, batch_size=values.batch_size, eval_every=values.eval_every,
                          validation_size=values.validation_size, **changes)


def cifar_data_from_flags(values, cfg):
    """Loads the `--data`, `--npz` or TFDS data the flags name, split and mean-prepared."""
    return cifar_data.load(values.npz, values.dataset, values.data_dir, cfg.validation_size, values.full_train,
                           download=values.download, data=values.data)
