"""Trains a CIFAR net of the paper with its recipe (Sec. 4.2).

    python recipes/cifar10.py --model resnet56 --workdir runs/resnet56
    python recipes/cifar10.py --model plain20 --data /usr/share/datasets/fashion-mnist --train_steps 2000 --workdir runs/p20

Rerun the same command after a crash to resume; a finished run needs --overwrite. The flags and
what they do are `keras_resnet.cifar.flags`'s.
"""

import os

from absl import app, flags

# TensorFlow's INFO and WARNING lines, also while it runs (0: all); see keras_resnet.tf_startup.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from keras_resnet.cifar import flags as cifar_flags
from keras_resnet.training import flags as flag_lib

FLAGS = flags.FLAGS
cifar_flags.define_train_flags()
flags.adopt_module_key_flags(cifar_flags)  # --help lists them all
flags.adopt_module_key_flags(flag_lib)


def main(argv):
    del argv
    cifar_flags.train(FLAGS)


if __name__ == "__main__":
    app.run(main, flags_parser=flag_lib.parse_flags)
