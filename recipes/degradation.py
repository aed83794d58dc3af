"""The degradation experiment of Fig. 6 / Table 6 in one command.

    python recipes/degradation.py --workdir runs/degradation                    # the paper's nets, 64k iterations
    python recipes/degradation.py --data /usr/share/datasets/fashion-mnist --depths 20,56 --train_steps 2000 --workdir runs/small
    python recipes/degradation.py --responses --workdir runs/degradation        # then Fig. 7, training nothing

Each net runs in its own sub-directory and resumes on its own; rerunning continues the experiment,
and extends a finished one: an added depth trains only its nets.
The flags and what they do are `keras_resnet.cifar.flags`'s.
"""

import os

from absl import app, flags

# TensorFlow's INFO and WARNING lines, also while it runs (0: all); see keras_resnet.tf_startup.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from keras_resnet.cifar import flags as cifar_flags
from keras_resnet.training import flags as flag_lib

FLAGS = flags.FLAGS
cifar_flags.define_degradation_flags()
flags.adopt_module_key_flags(cifar_flags)  # --help lists them all
flags.adopt_module_key_flags(flag_lib)


def main(argv):
    del argv
    cifar_flags.degradation(FLAGS)


if __name__ == "__main__":
    app.run(main, flags_parser=flag_lib.parse_flags)
