"""The degradation experiment of Fig. 6 / Table 6 in one command.

    python recipes/degradation.py --workdir runs/degradation                    # the paper's nets, 64k iterations
    python recipes/degradation.py --npz fmnist.npz --depths 20,56 --train_steps 2000 --workdir runs/small

Each net runs in its own sub-directory and resumes on its own; rerunning continues the experiment.
"""

import sys

from absl import app, flags

from keras_resnet.training import cifar_data, config, degradation, train

FLAGS = flags.FLAGS
_DEFAULTS = config.cifar10()
flags.DEFINE_list("families", ["plain", "residual"], "Families to train: plain, residual.")
flags.DEFINE_list("depths", None, "Depths 6n+2 for every family (default: plain 20-56, residual 20-110).")
flags.DEFINE_string("dataset", "cifar10", "TFDS name; ignored with --npz.")
flags.DEFINE_string("data_dir", None, "Directory with the prepared TFDS data set (nothing is downloaded).")
flags.DEFINE_string("npz", None, "An .npz with x_train, y_train, x_test, y_test (keras.datasets layout).")
flags.DEFINE_integer("train_steps", _DEFAULTS.train_steps, "Iterations per net; rate divided at 1/2 and 3/4.")
flags.DEFINE_integer("batch_size", _DEFAULTS.batch_size, "Mini-batch size.")
flags.DEFINE_integer("eval_every", _DEFAULTS.eval_every, "Iterations between evaluations.")
flags.DEFINE_integer("validation_size", _DEFAULTS.validation_size, "Training images held out (45k/5k).")
flags.DEFINE_bool("full_train", False, "Train on all training images (no validation split).")
flags.DEFINE_string("workdir", None, "Directory for every net's run, the figure and the table.", required=True)
flags.DEFINE_integer("seed", 0, "Random seed, the same for every net.")
flags.DEFINE_enum("mixed_precision", "none", list(train.PRECISIONS), "Mixed precision (not in the paper).")
flags.DEFINE_bool("overwrite", False, "Retrain every net and replace a finished experiment.")


def main(argv):
    del argv
    try:
        cfg = config.cifar10(train_steps=FLAGS.train_steps, batch_size=FLAGS.batch_size,
                             eval_every=FLAGS.eval_every, validation_size=FLAGS.validation_size)
        try:
            depths = [int(d) for d in FLAGS.depths] if FLAGS.depths else None
        except ValueError:
            raise train.RecipeError(f"--depths must be integers 6n+2. Received: {','.join(FLAGS.depths)}") from None
        nets = degradation.experiment_nets(FLAGS.families, depths)
        train.check_settings(cfg, nets[0], mixed_precision=FLAGS.mixed_precision)
        data = cifar_data.load(FLAGS.npz, FLAGS.dataset, FLAGS.data_dir, cfg.validation_size, FLAGS.full_train)
        degradation.run(cfg, FLAGS.workdir, data, nets, seed=FLAGS.seed, overwrite=FLAGS.overwrite,
                        mixed_precision=FLAGS.mixed_precision)
    except (ValueError, FloatingPointError) as error:
        if not isinstance(error, (train.RecipeError, cifar_data.DataError, FloatingPointError)):
            raise
        sys.exit(f"error: {error}")
    with open(f"{FLAGS.workdir}/{degradation.TABLE_MD}") as f:
        print(f.read())


if __name__ == "__main__":
    app.run(main)
