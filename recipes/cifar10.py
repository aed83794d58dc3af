"""Trains a CIFAR net of the paper with its recipe (Sec. 4.2).

    python recipes/cifar10.py --model=resnet56 --workdir=runs/resnet56
    python recipes/cifar10.py --config=smoke --data=/usr/share/datasets/fashion-mnist --workdir=runs/smoke

Rerun the same command after a crash to resume; a finished run needs --overwrite. Every flag is a
field of `keras_resnet.cifar.config.CifarConfig` (`--config` picks the variant they change).
"""

from absl import app, flags

from keras_resnet import tf_startup

tf_startup.recipe_environment()  # before TensorFlow loads: its log level, oneDNN on an x86 CPU

from keras_resnet.cifar import cli
from keras_resnet.training import cli as cli_lib

cli.define_train_flags()
flags.adopt_module_key_flags(cli_lib)  # --help lists them all


def main(argv):
    del argv
    cli.train(flags.FLAGS)


if __name__ == "__main__":
    app.run(main, flags_parser=cli_lib.parse_flags)
