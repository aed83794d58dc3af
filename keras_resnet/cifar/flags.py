"""The command line of the CIFAR recipes (`recipes/cifar10.py`, `recipes/degradation.py`): the
config's fields as flags (`CifarConfig`'s docstring is their help, its defaults the paper's), the
data flags, the run flags, and what each recipe does with them (`train`, `degradation`), so that
the recipes only define their flags and call one function.
"""

from absl import flags

from keras_resnet import distribute
from keras_resnet.cifar import config, datasets
from keras_resnet.training import flags as flag_lib
from keras_resnet.training import run as run_lib
from keras_resnet.training.run import RecipeError

# What a CIFAR recipe reports in one line: bad settings, bad data, a diverged run (the NaN guard).
ERRORS = (RecipeError, datasets.DataError, FloatingPointError)

# The config fields on the command line: the schedule of both recipes, the optimiser of `cifar10.py`.
SCHEDULE_FIELDS = ("train_steps", "batch_size", "eval_every", "validation_size")
OPTIMIZER_FIELDS = ("learning_rate", "weight_decay", "decoupled_weight_decay", "no_bias_decay")


def define_flags(fields=SCHEDULE_FIELDS):
    """Defines the data, config and run flags of a CIFAR recipe (defaults: the paper's)."""
    flags.DEFINE_string("dataset", "cifar10", "TFDS name (cifar10, cifar100, …); ignored with --data.")
    flags.DEFINE_string("data_dir", None, "TFDS data directory (a prepared data set there is used as it is).")
    flags.DEFINE_bool("download", True, "Download the TFDS data set if --data_dir lacks it (--nodownload: never).")
    flags.DEFINE_string(
        "data", None, "Local data: an .npz (x_train, y_train, x_test, y_test) or a folder of MNIST-format IDX files."
    )
    flags.DEFINE_string(
        "npz", None, "An .npz with x_train, y_train, x_test, y_test (keras.datasets layout); as --data."
    )
    flags.DEFINE_bool("full_train", False, "Train on all training images (no validation split).")
    flag_lib.define_config_flags(
        config.CifarConfig, fields, minimums={"validation_size": 0}, positive=("learning_rate",)
    )
    flag_lib.define_run_flags()


def config_from_flags(values, fields=SCHEDULE_FIELDS):
    """The `cifar10` config with the flags of `fields` applied."""
    return config.cifar10(**flag_lib.config_changes(config.CifarConfig, fields, values))


def data_from_flags(values, cfg):
    """Loads the `--data`, `--npz` or TFDS data the flags name, split and mean-prepared."""
    return datasets.load(
        values.npz,
        values.dataset,
        values.data_dir,
        cfg.validation_size,
        values.full_train,
        download=values.download,
        data=values.data,
    )


def define_train_flags():
    """The flags of `recipes/cifar10.py`: the data, the schedule, the optimiser, the net, the run."""
    define_flags(SCHEDULE_FIELDS + OPTIMIZER_FIELDS)
    flags.DEFINE_string("model", "resnet20", "resnetD, plainD or highwayD with D = 6n+2 (20, 32, 44, 56, 110, 1202).")
    flags.DEFINE_string("shortcut", None, "Shortcut option A, B or C of residual/highway nets (paper: A).")
    flags.DEFINE_enum(
        "strategy",
        "auto",
        list(distribute.STRATEGIES),
        "auto (several workers in TF_CONFIG or JAX processes: multi_worker; several GPUs: mirrored on "
        "TensorFlow, data parallel on JAX), none, or another of keras_resnet.distribute's.",
    )
    flag_lib.define_cpu_devices_flag()
    flags.DEFINE_integer(
        "verbose", 0, "Keras progress bar: 0 (summary lines only), 1 or 2.", lower_bound=0, upper_bound=2
    )


def train(values):
    """`recipes/cifar10.py`: trains `--model` on the data the flags name; prints the results."""
    from keras_resnet.cifar import train as cifar_train

    if values.cpu_devices:  # Before TensorFlow's first op.
        distribute.configure_cpu_devices(values.cpu_devices)
    with flag_lib.one_line_errors(*ERRORS):
        cfg = config_from_flags(values, SCHEDULE_FIELDS + OPTIMIZER_FIELDS)
        cifar_train.check_settings(cfg, values.model, values.strategy, values.mixed_precision, values.shortcut)
        # Before the data: loading TFDS runs TensorFlow ops, after which a strategy that joins
        # other processes cannot start.
        try:
            resolved = distribute.resolve(values.strategy, single_device="none")
        except distribute.StrategyError as error:
            raise RecipeError(str(error)) from None
        data = data_from_flags(values, cfg)
        metrics = cifar_train.train_and_evaluate(
            cfg,
            values.workdir,
            model_name=values.model,
            data=data,
            seed=values.seed,
            shortcut=values.shortcut,
            mixed_precision=values.mixed_precision,
            strategy=resolved,
            overwrite=values.overwrite,
            verbose=values.verbose,
        )
    print(run_lib.final_line(metrics))
    print(f"Trained model (keras.saving.load_model after import keras_resnet): {metrics['model_file']}")


def define_degradation_flags():
    """The flags of `recipes/degradation.py`: the data, the schedule, the nets, the run."""
    define_flags()
    flags.DEFINE_list("families", ["plain", "residual"], "Families to train: plain, residual.")
    flags.DEFINE_list("depths", None, "Depths 6n+2 for every family (default: plain 20-56, residual 20-110).")
    flags.DEFINE_bool(
        "responses", False, "Also write Fig. 7: std of each 3x3 layer's response on the test set (fig7.png, fig7.json)."
    )


def degradation(values):
    """`recipes/degradation.py`: trains the experiment's nets; prints the table beside Table 6."""
    from keras_resnet.cifar import degradation as experiment
    from keras_resnet.cifar import train as cifar_train

    with flag_lib.one_line_errors(*ERRORS):
        cfg = config_from_flags(values)
        try:
            depths = [int(d) for d in values.depths] if values.depths else None
        except ValueError:
            raise RecipeError(f"--depths must be integers 6n+2. Received: --depths={','.join(values.depths)}") from None
        nets = experiment.experiment_nets(values.families, depths)
        cifar_train.check_settings(cfg, nets[0], mixed_precision=values.mixed_precision)
        data = data_from_flags(values, cfg)
        experiment.run(
            cfg,
            values.workdir,
            data,
            nets,
            seed=values.seed,
            overwrite=values.overwrite,
            responses=values.responses,
            mixed_precision=values.mixed_precision,
        )
    with open(f"{values.workdir}/{experiment.TABLE_MD}") as f:
        print(f.read())
