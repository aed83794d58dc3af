"""The degradation experiment of Fig. 6 / Table 6 in one command.

    python recipes/degradation.py --workdir=runs/degradation                    # the paper's nets, 64k iterations
    python recipes/degradation.py --config=smoke --data=/usr/share/datasets/fashion-mnist --workdir=runs/small
    python recipes/degradation.py --responses --workdir=runs/degradation        # then Fig. 7, training nothing

Each net runs in its own sub-directory and resumes on its own; rerunning continues the experiment,
and extends a finished one: an added depth trains only its nets. Every flag is a field of
`keras_resnet.cifar.config.DegradationConfig`.
"""

from absl import app, flags

from keras_resnet import tf_startup

tf_startup.recipe_environment()  # before TensorFlow loads: its log level, oneDNN on an x86 CPU

from keras_resnet.cifar import cli
from keras_resnet.training import cli as cli_lib

cli.define_degradation_flags()
flags.adopt_module_key_flags(cli_lib)  # --help lists them all


def main(argv):
    del argv
    cli.degradation(flags.FLAGS)


if __name__ == "__main__":
    app.run(main, flags_parser=cli_lib.parse_flags)
