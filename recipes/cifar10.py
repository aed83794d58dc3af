"""Trains a CIFAR net of the paper with its recipe (Sec. 4.2).

    python recipes/cifar10.py --model=resnet56 --workdir=runs/resnet56
    python recipes/cifar10.py --config=smoke --data=/usr/share/datasets/fashion-mnist --workdir=runs/smoke

Rerun the same command after a crash to resume; a finished run needs --overwrite. Every flag is a
field of `keras_resnet.cifar.config.CifarConfig` (`--config` picks the variant they change).
"""

import os

from absl import app, flags

# TensorFlow's INFO and WARNING lines, also while it runs (0: all); see keras_resnet.tf_startup.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from keras_resnet.cifar import cli
from keras_resnet.training import cli as cli_lib

cli.define_train_flags()
flags.adopt_module_key_flags(cli_lib)  # --help lists them all


def main(argv):
    del argv
    cli.train(flags.FLAGS)


if __name__ == "__main__":
    app.run(main, flags_parser=cli_lib.parse_flags)
