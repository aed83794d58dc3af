"""The command line of the ImageNet recipe (`recipes/imagenet.py`): the config's fields as flags
(`ImageNetConfig`'s docstring is their help, its defaults the paper's), the data, net, strategy
and run flags, and what the recipe does with them (`main`), so that the recipe only defines its
flags and calls one function.

`--mode=eval` of a trained workdir takes the run's model, shortcut, bottleneck layout, crop sizes,
test scales and mean from its `run_config.json`, unless given on the command line.
"""

from absl import flags

from keras_resnet.imagenet import config
from keras_resnet.training import flags as flag_lib
from keras_resnet.training.run import RecipeError

# The config fields on the command line.
CONFIG_FIELDS = (
    "batch_size",
    "eval_every",
    "schedule",
    "linear_scaling",
    "no_bias_decay",
    "mean",
    "mean_images",
    "image_size",
    "scale_range",
    "eval_resize",
    "test_scales",
    "shuffle_buffer",
    "interleave_files",
)
# What `--mode=eval` of a trained workdir takes from its run_config.json unless given on the command line.
RUN_FLAGS = ("model", "shortcut", "bottleneck_stride")
RUN_CONFIG_FIELDS = ("image_size", "eval_resize", "test_scales", "mean")


def define_flags():
    """Defines every flag of `recipes/imagenet.py`."""
    from keras_resnet.training import distribute

    flags.DEFINE_string("model", "resnet50", "resnet18…152, plain18…152, highway18/34 (tiny: a smoke-test net).")
    flags.DEFINE_string(
        "shortcut",
        None,
        "Shortcut option A, B or C (Sec. 3.3); unset: B (Tables 3-5). Table 2 / "
        "Fig. 4 (plain vs residual 18/34) use A.",
    )
    flags.DEFINE_enum(
        "bottleneck_stride",
        "1x1",
        ["1x1", "3x3"],
        "Stride in the bottleneck's 1x1 (paper) or 3x3 conv (v1.5, torchvision).",
    )
    flags.DEFINE_string(
        "weights",
        None,
        "--mode=eval: evaluate published weights (imagenet, msra, torchvision_v1, or "
        "a file) instead of the workdir's checkpoint.",
    )
    flags.DEFINE_string(
        "init_weights",
        None,
        "Start training from published weights (imagenet, msra, torchvision_v1, or a file): fine-tuning.",
    )
    flags.DEFINE_enum(
        "mode", "train", ["train", "eval"], "Train (then evaluate centre crops), or evaluate a trained workdir."
    )
    flags.DEFINE_string("eval_protocol", "center", "center, 10crop or multiscale (the paper's test protocol).")
    flags.DEFINE_integer("eval_images", None, "Evaluate only this many validation images.", lower_bound=1)
    flags.DEFINE_string("data_dir", None, "TFDS data directory with imagenet2012 prepared.")
    flags.DEFINE_string(
        "manual_dir", None, "Directory of ILSVRC2012_img_{train,val}.tar, for TFDS to prepare imagenet2012."
    )
    flags.DEFINE_string("image_folder", None, "ImageNet-layout folder: train/<wnid>/*.JPEG, val/<wnid>/*.JPEG.")
    flags.DEFINE_string(
        "tfrecords", None, "Directory of train-* and validation-* TFRecords (image/encoded, image/class/label)."
    )
    flags.DEFINE_integer("tfrecord_label_offset", 0, "Added to TFRecord labels (-1 for 1-based labels).")
    flags.DEFINE_integer("classes", 1000, "Classes of --tfrecords data (folders and TFDS know theirs).", lower_bound=1)
    flags.DEFINE_string("strategy", "auto", f"{', '.join(distribute.STRATEGIES)} (keras_resnet.distribute).")
    flags.DEFINE_string("tpu", None, "Cloud TPU name or address for --strategy=tpu; 'local' (default) on a TPU VM.")
    flag_lib.define_cpu_devices_flag()
    flags.DEFINE_integer(
        "train_steps",
        None,
        "Iterations; unset: the plateau schedule's max_steps (600,000) or the step schedule's 90 epochs.",
        lower_bound=1,
    )
    flags.DEFINE_bool(
        "jit_compile",
        None,
        "XLA-compile the training step; unset: Keras' choice (always on JAX, on TF with a GPU/TPU).",
    )
    flag_lib.define_config_flags(
        config.ImageNetConfig, CONFIG_FIELDS, choices={"schedule": config.SCHEDULES, "mean": config.MEANS}
    )
    flag_lib.define_run_flags(required_workdir=needs_workdir)


def needs_workdir(values):
    """Every run needs `--workdir` but the evaluation of published weights."""
    return not (values.mode == "eval" and values.weights)


def recipe_config(values, run=None):
    """The config from the flags; with `run` (a workdir's run_config.json), the evaluation settings
    of the run where no flag names them."""
    changes = flag_lib.config_changes(config.ImageNetConfig, CONFIG_FIELDS, values)
    if run:
        changes.update(
            {
                k: tuple(v) if isinstance(v, list) else v
                for k, v in run.get("config", {}).items()
                if k in RUN_CONFIG_FIELDS and not values[k].present
            }
        )
    cfg = config.imagenet(**changes)
    low, high = cfg.scale_range if len(cfg.scale_range) == 2 else (0, -1)
    if low > high:
        raise RecipeError(
            f"--scale_range takes two shorter sides, smallest first (paper: 256,480). "
            f"Received: --scale_range={','.join(values.scale_range)}"
        )
    for name, side in (("scale_range", low), ("eval_resize", cfg.eval_resize)):
        if cfg.image_size > side:  # The crop is taken from the image scaled to this side.
            raise RecipeError(
                f"--image_size={cfg.image_size} is larger than the shorter side --{name} scales the images to "
                f"({side}); choose --image_size at most {side}"
            )
    return cfg


def run_flags(values, run):
    """`--model`, `--shortcut`, `--bottleneck_stride`: the run's, unless given on the command line."""
    return {
        name: run[name] if run and name in run and not values[name].present else values[name].value
        for name in RUN_FLAGS
    }


def main(values):
    """`recipes/imagenet.py`: trains, or evaluates a workdir or published weights, as the flags say."""
    if values.cpu_devices:
        from keras_resnet.training import distribute

        distribute.configure_cpu_devices(values.cpu_devices)
    from keras_resnet.training import distribute
    from keras_resnet.imagenet import evaluation, sources, train
    from keras_resnet.training import run as run_lib

    with flag_lib.one_line_errors(RecipeError, sources.DataError, distribute.StrategyError):
        if values.strategy not in distribute.STRATEGIES:
            distribute.resolve(values.strategy)
        if values.eval_protocol not in evaluation.PROTOCOLS:
            raise RecipeError(
                f"unknown --eval_protocol {values.eval_protocol!r}: choose one of {', '.join(evaluation.PROTOCOLS)}"
            )
        if values.weights and values.mode != "eval":
            raise RecipeError(
                "--weights evaluates published weights (--mode=eval); to train from them pass --init_weights"
            )
        if not values.workdir and needs_workdir(values):
            raise RecipeError(flag_lib.WORKDIR_REQUIRED)
        run = run_lib.load_run_config(values.workdir) if values.mode == "eval" and not values.weights else None
        cfg = recipe_config(values, run)
        settings = run_flags(values, run)
        # A strategy that joins other processes or a TPU must exist before any TensorFlow op runs
        # (opening TFRecords or TFDS runs some): resolved first.
        resolved = distribute.resolve(values.strategy, values.tpu) if values.mode != "eval" else None
        # The net and its weights are checked before the data is read or anything is written.
        weights_flag, weights = (
            ("--weights", values.weights) if values.mode == "eval" else ("--init_weights", values.init_weights)
        )
        train.check_network(
            settings["model"], settings["shortcut"], settings["bottleneck_stride"], weights, weights_flag
        )
        source = sources.resolve_source(
            values.data_dir,
            values.manual_dir,
            values.image_folder,
            values.tfrecords,
            values.tfrecord_label_offset,
            values.classes,
        )
        if values.mode == "eval" and values.weights:
            from keras_resnet.imagenet import pretrained

            pretrained.evaluate_pretrained(
                cfg,
                model_name=values.model,
                source=source,
                weights=values.weights,
                protocol=values.eval_protocol,
                shortcut=values.shortcut,
                bottleneck_stride=values.bottleneck_stride,
                max_images=values.eval_images,
                workdir=values.workdir,
            )
        elif values.mode == "eval":
            train.evaluate_checkpoint(
                cfg,
                values.workdir,
                model_name=settings["model"],
                source=source,
                protocol=values.eval_protocol,
                shortcut=settings["shortcut"],
                max_images=values.eval_images,
                bottleneck_stride=settings["bottleneck_stride"],
            )
        else:
            metrics = train.train_and_evaluate(
                cfg,
                values.workdir,
                model_name=values.model,
                source=source,
                strategy=resolved,
                train_steps=values.train_steps,
                seed=values.seed,
                shortcut=values.shortcut,
                mixed_precision=values.mixed_precision,
                overwrite=values.overwrite,
                init_weights=values.init_weights,
                jit_compile="auto" if values.jit_compile is None else values.jit_compile,
                bottleneck_stride=values.bottleneck_stride,
            )
            print(run_lib.final_line(metrics))
            print(f"Trained model (keras.saving.load_model after import keras_resnet): {metrics['model_file']}")
