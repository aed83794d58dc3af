"""The degradation experiment of Fig. 6 / Table 6 in one command.

    python recipes/degradation.py --workdir runs/degradation                    # the paper's nets, 64k iterations
    python recipes/degradation.py --npz fmnist.npz --depths 20,56 --train_steps 2000 --workdir runs/small
    python recipes/degradation.py --responses --workdir runs/degradation        # and Fig. 7

Each net runs in its own sub-directory and resumes on its own; rerunning continues the experiment.
"""

import os

from absl import app, flags

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's INFO and WARNING lines (0: all); see keras_resnet.tf_startup

from keras_resnet.training import cifar_data, cli, degradation, train

FLAGS = flags.FLAGS
cli.define_cifar_flags()
flags.adopt_module_key_flags(cli)  # --help lists the shared flags too
flags.DEFINE_list("families", ["plain", "residual"], "Families to train: plain, residual.")
flags.DEFINE_list("depths", None, "Depths 6n+2 for every family (default: plain 20-56, residual 20-110).")
flags.DEFINE_bool("responses", False, "Also write Fig. 7: std of each 3x3 layer's response on the test set (fig7.png, fig7.json).")


def main(argv):
    del argv
    with cli.one_line_errors(train.RecipeError, cifar_data.DataError, FloatingPointError):  # FloatingPointError: NaN
        cfg = cli.cifar_config(FLAGS)
        try:
            depths = [int(d) for d in FLAGS.depths] if FLAGS.depths else None
        except ValueError:
            raise train.RecipeError(f"--depths must be integers 6n+2. Received: --depths={','.join(FLAGS.depths)}") from None
        nets = degradation.experiment_nets(FLAGS.families, depths)
        train.check_settings(cfg, nets[0], mixed_precision=FLAGS.mixed_precision)
        data = cli.cifar_data_from_flags(FLAGS, cfg)
        degradation.run(cfg, FLAGS.workdir, data, nets, seed=FLAGS.seed, overwrite=FLAGS.overwrite,
                        responses=FLAGS.responses, mixed_precision=FLAGS.mixed_precision)
    with open(f"{FLAGS.workdir}/{degradation.TABLE_MD}") as f:
        print(f.read())


if __name__ == "__main__":
    app.run(main, flags_parser=cli.parse_flags)
