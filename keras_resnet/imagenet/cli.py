"""The main program of `recipes/imagenet.py`: its flags are the fields of `ImageNetConfig`
(`training.cli`) and four of the invocation (`--mode`, `--weights`, `--eval_protocol`,
`--eval_images`); it trains, or evaluates a trained workdir or published weights.

`--mode=eval` of a trained workdir takes the run's config from its `run_config.json`; a flag
given on the command line changes it (another `--image_size`, say).
"""

from absl import flags

from keras_resnet.errors import RecipeError
from keras_resnet.imagenet import config
from keras_resnet.training import cli


def define_flags():
    """Every flag of `recipes/imagenet.py`."""
    cli.define_config_flags(config.ImageNetConfig, config.VARIANTS)
    cli.define_run_flags()
    flags.DEFINE_enum(
        "mode", "train", ["train", "eval"], "Train (then evaluate centre crops), or evaluate a trained workdir."
    )
    flags.DEFINE_string(
        "weights",
        None,
        "--mode=eval: evaluate published weights (imagenet, msra, torchvision_v1, or a file) instead of the workdir's "
        "checkpoint.",
    )
    flags.DEFINE_enum("eval_protocol", "center", list(config.PROTOCOLS), "The paper's test protocol.")
    flags.DEFINE_integer("eval_images", None, "Evaluate only this many validation images.", lower_bound=1)


def run_config(values):
    """The config of the run `--mode=eval` evaluates: its `run_config.json`'s, the flags given on
    the command line applied; the flags' alone for published weights."""
    from keras_resnet.training import config as config_lib
    from keras_resnet.training import run

    recorded = None if values.weights else run.load_run_config(values.workdir)
    if recorded is None:
        return cli.config_from_flags(values, config.VARIANTS)
    fields = dict(recorded["config"])
    if "facts" not in recorded:  # Written by an earlier version: the net beside the config.
        fields.update({k: recorded[k] for k in ("model", "shortcut", "bottleneck_stride") if k in recorded})
    return cli.config_from_flags(values, config.VARIANTS, base=config_lib.from_dict(config.ImageNetConfig, fields))


def main(values):
    """`recipes/imagenet.py`: trains, or evaluates a workdir or published weights, as the flags say."""
    with cli.one_line_errors():
        if values.weights and values.mode != "eval":
            raise RecipeError(
                "--weights evaluates published weights (--mode=eval); to train from them pass --init_weights"
            )
        if not (values.mode == "eval" and values.weights):
            cli.require_workdir(values)
        if values.mode == "train":
            cfg = cli.config_from_flags(values, config.VARIANTS)
            from keras_resnet.imagenet import sources
            from keras_resnet.training import run

            # What needs no data answers before TensorFlow loads: a finished run, a path that is not there.
            run.refuse_finished(values.workdir, values.overwrite)
            sources.check_given(cfg.data_dir, cfg.manual_dir, cfg.image_folder, cfg.tfrecords)
            from keras_resnet.imagenet.task import ImageNetTask
            from keras_resnet.training import loop

            metrics = loop.train_and_evaluate(ImageNetTask(), cfg, values.workdir, overwrite=values.overwrite)
            print(run.final_line(metrics))
            print(f"Trained model (keras.saving.load_model after import keras_resnet): {metrics['model_file']}")
            return
        cfg = run_config(values)
        from keras_resnet.imagenet import model, task

        # The net and its weights are checked before the data is read or anything is written.
        model.check_network(cfg, values.weights, "--weights")
        source = task.load_source(cfg)
        if values.weights:
            from keras_resnet.imagenet import finetune

            finetune.evaluate_pretrained(
                cfg,
                source=source,
                weights=values.weights,
                protocol=values.eval_protocol,
                max_images=values.eval_images,
                workdir=values.workdir,
            )
        else:
            from keras_resnet.imagenet import evaluation

            evaluation.evaluate_checkpoint(
                cfg, values.workdir, source=source, protocol=values.eval_protocol, max_images=values.eval_images
            )
