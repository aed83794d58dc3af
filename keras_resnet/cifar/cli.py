"""The main programs of `recipes/cifar10.py` and `recipes/degradation.py`: their flags are the
fields of their configs (`training.cli`), and each program calls one function of the library.
"""

from keras_resnet.cifar import config
from keras_resnet.training import cli


def define_train_flags():
    """The flags of `recipes/cifar10.py`: `--config` and every field of `CifarConfig`."""
    cli.define_config_flags(config.CifarConfig, config.VARIANTS)
    cli.define_run_flags()


def train(values):
    """`recipes/cifar10.py`: trains the net the flags name on their data; prints the results."""
    with cli.one_line_errors():
        cli.require_workdir(values)
        cfg = cli.config_from_flags(values, config.VARIANTS)
        from keras_resnet.cifar import datasets
        from keras_resnet.training import run

        # What needs no data answers before TensorFlow loads: a finished run, a path that is not there.
        run.refuse_finished(values.workdir, values.overwrite)
        datasets.check_given(cfg.npz, cfg.dataset, cfg.data)
        from keras_resnet.cifar.task import CifarTask
        from keras_resnet.training import loop

        metrics = loop.train_and_evaluate(CifarTask(), cfg, values.workdir, overwrite=values.overwrite)
    print(run.final_line(metrics))
    print(f"Trained model (keras.saving.load_model after import keras_resnet): {metrics['model_file']}")


def define_degradation_flags():
    """The flags of `recipes/degradation.py`: `--config` and every field of `DegradationConfig`
    but `--model` (the experiment's nets are `--families` × `--depths`)."""
    cli.define_config_flags(config.DegradationConfig, config.DEGRADATION_VARIANTS, exclude=("model",))
    cli.define_run_flags()


def degradation(values):
    """`recipes/degradation.py`: trains the experiment's nets; prints the table beside Table 6."""
    with cli.one_line_errors():
        cli.require_workdir(values)
        cfg = cli.config_from_flags(values, config.DEGRADATION_VARIANTS)
        from keras_resnet.cifar import datasets

        datasets.check_given(cfg.npz, cfg.dataset, cfg.data)  # Before TensorFlow loads.
        from keras_resnet.cifar import degradation as experiment

        experiment.run_experiment(cfg, values.workdir, overwrite=values.overwrite)
    with open(f"{values.workdir}/{experiment.TABLE_MD}") as f:
        print(f.read())
