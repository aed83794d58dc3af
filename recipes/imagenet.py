"""Trains or evaluates an ImageNet net of the paper with its recipe (Sec. 3.4).

  python recipes/imagenet.py --model=resnet50 --data_dir=~/tensorflow_datasets --workdir=runs/r50
  python recipes/imagenet.py --model=resnet50 --image_folder=/data/imagenet --strategy=mirrored --workdir=runs/r50
  python recipes/imagenet.py --model=resnet50 --tfrecords=gs://bucket/imagenet --strategy=tpu --tpu=my-tpu --workdir=runs/r50
  python recipes/imagenet.py --mode=eval --eval_protocol=10crop --model=resnet50 --data_dir=... --workdir=runs/r50
  python recipes/imagenet.py --mode=eval --weights=imagenet --model=resnet50 --eval_protocol=10crop --data_dir=...
  python recipes/imagenet.py --init_weights=imagenet --model=resnet50 --image_folder=/data/birds --workdir=runs/ft

Rerunning a killed run with the same flags resumes it from its last backup.
"""

import os

from absl import app, flags

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's INFO and WARNING lines (0: all); see keras_resnet.tf_startup

from keras_resnet.training import cli
from keras_resnet.training.train import PRECISIONS, RecipeError

flags.DEFINE_string("model", "resnet50", "resnet18…152, plain18…152, highway18/34 (tiny: a smoke-test net).")
flags.DEFINE_string("shortcut", None, "Shortcut option A, B or C (Sec. 3.3); unset: B (Tables 3-5). Table 2 / Fig. 4 (plain vs residual 18/34) use A.")
flags.DEFINE_enum("bottleneck_stride", "1x1", ["1x1", "3x3"], "Stride in the bottleneck's 1x1 (paper) or 3x3 conv (v1.5, torchvision).")
flags.DEFINE_string("weights", None, "--mode=eval: evaluate published weights (imagenet, msra, torchvision_v1, or a file) instead of the workdir's checkpoint.")
flags.DEFINE_string("init_weights", None, "Start training from published weights (imagenet, msra, torchvision_v1, or a file): fine-tuning.")
flags.DEFINE_enum("mode", "train", ["train", "eval"], "Train (then evaluate centre crops), or evaluate a trained workdir.")
flags.DEFINE_string("eval_protocol", "center", "center, 10crop or multiscale (the paper's test protocol).")
flags.DEFINE_integer("eval_images", None, "Evaluate only this many validation images.", lower_bound=1)
flags.DEFINE_string("data_dir", None, "TFDS data directory with imagenet2012 prepared.")
flags.DEFINE_string("manual_dir", None, "Directory of ILSVRC2012_img_{train,val}.tar, for TFDS to prepare imagenet2012.")
flags.DEFINE_string("image_folder", None, "ImageNet-layout folder: train/<wnid>/*.JPEG, val/<wnid>/*.JPEG.")
flags.DEFINE_string("tfrecords", None, "Directory of train-* and validation-* TFRecords (image/encoded, image/class/label).")
flags.DEFINE_integer("tfrecord_label_offset", 0, "Added to TFRecord labels (-1 for 1-based labels).")
flags.DEFINE_integer("classes", 1000, "Classes of --tfrecords data (folders and TFDS know theirs).", lower_bound=1)
flags.DEFINE_string("workdir", None, "Run directory (history, checkpoints, backup, metrics).")
flags.DEFINE_string("strategy", "auto", "auto, tpu, mirrored, multi_worker (TF_CONFIG) or one_device.")
flags.DEFINE_string("tpu", None, "Cloud TPU name or address for --strategy=tpu; 'local' (default) on a TPU VM.")
flags.DEFINE_integer("cpu_devices", None, "Split the CPU into this many logical devices (to try mirrored without GPUs).", lower_bound=1)
flags.DEFINE_integer("batch_size", None, "Global batch, split across replicas (paper: 256).", lower_bound=1)
flags.DEFINE_integer("train_steps", None, "Iterations (paper: up to 600000; the step schedule: 90 epochs).", lower_bound=1)
flags.DEFINE_integer("eval_every", None, "Iterations between validations (plateau checks).", lower_bound=1)
flags.DEFINE_enum("schedule", "plateau", ["plateau", "step"], "plateau (paper) or step: ÷10 at 30/60/80 of 90 epochs.")
flags.DEFINE_bool("linear_scaling", False, "Learning rate × batch/256 (Goyal et al., arXiv 1706.02677). Not in the paper.")
flags.DEFINE_bool("no_bias_decay", False, "Decay conv/fc kernels only, not biases and BN (arXiv 1812.01187); the paper decays all.")
flags.DEFINE_enum("mixed_precision", "none", list(PRECISIONS), "Mixed precision: none, bf16 or fp16 (not in the paper).")
flags.DEFINE_bool("jit_compile", None, "XLA-compile the training step; unset: Keras' choice (always on JAX, on TF with a GPU/TPU).")
flags.DEFINE_enum("mean", "pixel", ["pixel", "channel"], "Per-pixel mean of the training set (paper) or the published per-channel mean.")
flags.DEFINE_integer("mean_images", None, "Average a random sample of this many training images for the per-pixel mean (paper: all). Not in the paper.", lower_bound=1)
flags.DEFINE_integer("shuffle_buffer", None, "TFRecords/TFDS: records permuted together; two such windows are held in memory (default 10000).", lower_bound=1)
flags.DEFINE_integer("interleave_files", None, "TFRecords/TFDS: files read at a time, one record from each in turn (default 64).", lower_bound=1)
flags.DEFINE_integer("image_size", None, "Crop side (paper: 224); smaller for quick tries.", lower_bound=1)
flags.DEFINE_list("scale_range", None, "Shorter side range of the scale augmentation (paper: 256,480).")
flags.DEFINE_integer("eval_resize", None, "Shorter side before the evaluation centre crop (paper: 256).", lower_bound=1)
flags.DEFINE_list("test_scales", None, "Shorter sides of the multi-scale test (paper: 224,256,384,480,640).")
flags.DEFINE_integer("seed", 0, "Seeds initialisation, shuffling and augmentation.", lower_bound=cli.SEED_RANGE[0],
                     upper_bound=cli.SEED_RANGE[1])
flags.DEFINE_bool("overwrite", False, "Replace a finished run in --workdir.")
FLAGS = flags.FLAGS


# What --mode=eval of a trained workdir takes from its run_config.json unless given on the command line.
RUN_FLAGS = ("model", "shortcut", "bottleneck_stride")
RUN_CONFIG_FIELDS = ("image_size", "eval_resize", "test_scales", "mean")


def _config(run=None):
    """The recipe config from the flags; with `run` (a workdir's run_config.json), the evaluation
    settings of the run where no flag names them."""
    from keras_resnet.imagenet import config

    changes = {"schedule": FLAGS.schedule, "linear_scaling": FLAGS.linear_scaling, "mean": FLAGS.mean,
               "no_bias_decay": FLAGS.no_bias_decay}
    if run:
        changes.update({k: tuple(v) if isinstance(v, list) else v for k, v in run.get("config", {}).items()
                        if k in RUN_CONFIG_FIELDS and not FLAGS[k].present})
    for name in ("batch_size", "eval_every", "image_size", "eval_resize", "mean_images", "shuffle_buffer", "interleave_files"):
        if getattr(FLAGS, name) is not None:
            changes[name] = getattr(FLAGS, name)
    if FLAGS.scale_range:
        changes["scale_range"] = _sizes("scale_range", "two shorter sides, smallest first (paper: 256,480)", count=2)
    if FLAGS.test_scales:
        changes["test_scales"] = _sizes("test_scales", "shorter sides (paper: 224,256,384,480,640)")
    cfg = config.recipe_config(**changes)
    low, _ = cfg.scale_range
    for name, side in (("scale_range", low), ("eval_resize", cfg.eval_resize)):
        if cfg.image_size > side:  # The crop is taken from the image scaled to this side.
            raise RecipeError(f"--image_size={cfg.image_size} is larger than the shorter side --{name} scales the images to "
                                f"({side}); choose --image_size at most {side}")
    return cfg


def _sizes(name, accepted, count=None):
    """The positive integers of list flag `--name`; `RecipeError` naming the flag otherwise."""
    given = getattr(FLAGS, name)
    try:
        sizes = tuple(int(v) for v in given)
    except ValueError:
        sizes = ()
    ordered = count is None or (len(sizes) == count and list(sizes) == sorted(sizes))
    if not sizes or min(sizes) < 1 or not ordered:
        raise RecipeError(f"--{name} takes {accepted}. Received: --{name}={','.join(given)}")
    return sizes


def _run_flags(run):
    """`--model`, `--shortcut`, `--bottleneck_stride`: the run's, unless given on the command line."""
    return {name: run[name] if run and name in run and not FLAGS[name].present else getattr(FLAGS, name) for name in RUN_FLAGS}


def main(argv):
    del argv
    if FLAGS.cpu_devices:
        from keras_resnet import distribute

        distribute.configure_cpu_devices(FLAGS.cpu_devices)
    from keras_resnet import distribute
    from keras_resnet.imagenet import evaluation, sources, train

    errors = (train.RecipeError, sources.DataError, distribute.StrategyError)
    with cli.one_line_errors(*errors):
        if FLAGS.strategy not in distribute.STRATEGIES:
            distribute.resolve(FLAGS.strategy)
        if FLAGS.eval_protocol not in evaluation.PROTOCOLS:
            raise train.RecipeError(f"unknown --eval_protocol {FLAGS.eval_protocol!r}: choose one of {', '.join(evaluation.PROTOCOLS)}")
        if FLAGS.weights and FLAGS.mode != "eval":
            raise train.RecipeError("--weights evaluates published weights (--mode=eval); to train from them pass --init_weights")
        if not FLAGS.workdir and not (FLAGS.mode == "eval" and FLAGS.weights):
            raise train.RecipeError("--workdir is required")
        run = train.load_run_config(FLAGS.workdir) if FLAGS.mode == "eval" and not FLAGS.weights else None
        cfg = _config(run)
        settings = _run_flags(run)
        # The net and its weights are checked before the data is read or anything is written.
        weights_flag, weights = ("--weights", FLAGS.weights) if FLAGS.mode == "eval" else ("--init_weights", FLAGS.init_weights)
        train.check_network(settings["model"], settings["shortcut"], settings["bottleneck_stride"], weights, weights_flag)
        source = sources.resolve_source(FLAGS.data_dir, FLAGS.manual_dir, FLAGS.image_folder, FLAGS.tfrecords,
                                        FLAGS.tfrecord_label_offset, FLAGS.classes)
        if FLAGS.mode == "eval" and FLAGS.weights:
            from keras_resnet.imagenet import pretrained

            pretrained.evaluate_pretrained(cfg, model_name=FLAGS.model, source=source, weights=FLAGS.weights,
                                           protocol=FLAGS.eval_protocol, shortcut=FLAGS.shortcut,
                                           bottleneck_stride=FLAGS.bottleneck_stride, max_images=FLAGS.eval_images,
                                           workdir=FLAGS.workdir)
        elif FLAGS.mode == "eval":
            train.evaluate_checkpoint(cfg, FLAGS.workdir, model_name=settings["model"], source=source,
                                      protocol=FLAGS.eval_protocol, shortcut=settings["shortcut"],
                                      max_images=FLAGS.eval_images, bottleneck_stride=settings["bottleneck_stride"])
        else:
            metrics = train.train_and_evaluate(cfg, FLAGS.workdir, model_name=FLAGS.model, source=source, strategy=FLAGS.strategy,
                                     tpu=FLAGS.tpu, train_steps=FLAGS.train_steps, seed=FLAGS.seed, shortcut=FLAGS.shortcut,
                                     mixed_precision=FLAGS.mixed_precision, jit_compile="auto" if FLAGS.jit_compile is None else FLAGS.jit_compile,
                                     overwrite=FLAGS.overwrite, init_weights=FLAGS.init_weights,
                                     bottleneck_stride=FLAGS.bottleneck_stride)
            print(f"Trained model (keras.saving.load_model): {metrics['model_file']}")


if __name__ == "__main__":
    app.run(main, flags_parser=cli.parse_flags)
