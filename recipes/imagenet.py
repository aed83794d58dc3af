"""Trains or evaluates an ImageNet net of the paper with its recipe (Sec. 3.4).

  python recipes/imagenet.py --model=resnet50 --data_dir=~/tensorflow_datasets --workdir=runs/r50
  python recipes/imagenet.py --model=resnet50 --image_folder=/data/imagenet --strategy=mirrored --workdir=runs/r50
  python recipes/imagenet.py --model=resnet50 --tfrecords=gs://bucket/imagenet --strategy=tpu --tpu=my-tpu --workdir=runs/r50
  python recipes/imagenet.py --mode=eval --eval_protocol=10crop --model=resnet50 --data_dir=... --workdir=runs/r50

Rerunning a killed run with the same flags resumes it from its last backup.
"""

import sys

from absl import app, flags

flags.DEFINE_string("model", "resnet50", "resnet18…152, plain18…152, highway18/34 (tiny: a smoke-test net).")
flags.DEFINE_string("shortcut", None, "Shortcut option A, B or C (Sec. 3.3); the zoo's default (B) if unset.")
flags.DEFINE_enum("mode", "train", ["train", "eval"], "Train (then evaluate centre crops), or evaluate a trained workdir.")
flags.DEFINE_string("eval_protocol", "center", "center, 10crop or multiscale (the paper's test protocol).")
flags.DEFINE_integer("eval_images", None, "Evaluate only this many validation images.")
flags.DEFINE_string("data_dir", None, "TFDS data directory with imagenet2012 prepared.")
flags.DEFINE_string("manual_dir", None, "Directory of ILSVRC2012_img_{train,val}.tar, for TFDS to prepare imagenet2012.")
flags.DEFINE_string("image_folder", None, "ImageNet-layout folder: train/<wnid>/*.JPEG, val/<wnid>/*.JPEG.")
flags.DEFINE_string("tfrecords", None, "Directory of train-* and validation-* TFRecords (image/encoded, image/class/label).")
flags.DEFINE_integer("tfrecord_label_offset", 0, "Added to TFRecord labels (-1 for 1-based labels).")
flags.DEFINE_integer("classes", 1000, "Classes of --tfrecords data (folders and TFDS know theirs).")
flags.DEFINE_string("workdir", None, "Run directory (history, checkpoints, backup, metrics).")
flags.DEFINE_string("strategy", "auto", "auto, tpu, mirrored, multi_worker (TF_CONFIG) or one_device.")
flags.DEFINE_string("tpu", None, "Cloud TPU name or address for --strategy=tpu; 'local' (default) on a TPU VM.")
flags.DEFINE_integer("cpu_devices", None, "Split the CPU into this many logical devices (to try mirrored without GPUs).")
flags.DEFINE_integer("batch_size", None, "Global batch, split across replicas (paper: 256).")
flags.DEFINE_integer("train_steps", None, "Iterations (paper: up to 600000; the step schedule: 90 epochs).")
flags.DEFINE_integer("eval_every", None, "Iterations between validations (plateau checks).")
flags.DEFINE_enum("schedule", "plateau", ["plateau", "step"], "plateau (paper) or step: ÷10 at 30/60/80 of 90 epochs.")
flags.DEFINE_bool("linear_scaling", False, "Learning rate × batch/256 (Goyal et al., arXiv 1706.02677). Not in the paper.")
flags.DEFINE_string("mixed_precision", "none", "none, bf16 or fp16.")
flags.DEFINE_bool("jit_compile", None, "XLA-compile the training step; unset: Keras' choice (always on JAX, on TF with a GPU/TPU).")
flags.DEFINE_enum("mean", "pixel", ["pixel", "channel"], "Per-pixel mean of the training set (paper) or the published per-channel mean.")
flags.DEFINE_integer("image_size", None, "Crop side (paper: 224); smaller for quick tries.")
flags.DEFINE_list("scale_range", None, "Shorter side range of the scale augmentation (paper: 256,480).")
flags.DEFINE_integer("eval_resize", None, "Shorter side before the evaluation centre crop (paper: 256).")
flags.DEFINE_list("test_scales", None, "Shorter sides of the multi-scale test (paper: 224,256,384,480,640).")
flags.DEFINE_integer("seed", 0, "Seeds initialisation, shuffling and augmentation.")
flags.DEFINE_bool("overwrite", False, "Replace a finished run in --workdir.")
FLAGS = flags.FLAGS


def _config():
    from keras_resnet.imagenet import config

    changes = {"schedule": FLAGS.schedule, "linear_scaling": FLAGS.linear_scaling, "mean": FLAGS.mean}
    for name in ("batch_size", "eval_every", "image_size", "eval_resize"):
        if getattr(FLAGS, name) is not None:
            changes[name] = getattr(FLAGS, name)
    for name in ("scale_range", "test_scales"):
        if getattr(FLAGS, name):
            changes[name] = tuple(int(v) for v in getattr(FLAGS, name))
    return config.recipe_config(**changes)


def main(argv):
    del argv
    if FLAGS.cpu_devices:
        from keras_resnet import distribute

        distribute.configure_cpu_devices(FLAGS.cpu_devices)
    from keras_resnet import distribute
    from keras_resnet.imagenet import evaluation, sources, train

    errors = (train.RecipeError, sources.DataError, distribute.StrategyError)
    try:
        if FLAGS.strategy not in distribute.STRATEGIES:
            distribute.resolve(FLAGS.strategy)
        if FLAGS.eval_protocol not in evaluation.PROTOCOLS:
            raise train.RecipeError(f"unknown --eval_protocol {FLAGS.eval_protocol!r}: choose one of {', '.join(evaluation.PROTOCOLS)}")
        if not FLAGS.workdir:
            raise train.RecipeError("--workdir is required")
        source = sources.resolve_source(FLAGS.data_dir, FLAGS.manual_dir, FLAGS.image_folder, FLAGS.tfrecords,
                                        FLAGS.tfrecord_label_offset, FLAGS.classes)
        cfg = _config()
        if FLAGS.mode == "eval":
            train.evaluate_checkpoint(cfg, FLAGS.workdir, model_name=FLAGS.model, source=source, protocol=FLAGS.eval_protocol,
                                      shortcut=FLAGS.shortcut, max_images=FLAGS.eval_images)
        else:
            metrics = train.train_and_evaluate(cfg, FLAGS.workdir, model_name=FLAGS.model, source=source, strategy=FLAGS.strategy,
                                     tpu=FLAGS.tpu, train_steps=FLAGS.train_steps, seed=FLAGS.seed, shortcut=FLAGS.shortcut,
                                     mixed_precision=FLAGS.mixed_precision, jit_compile="auto" if FLAGS.jit_compile is None else FLAGS.jit_compile,
                                     overwrite=FLAGS.overwrite)
            print(f"Trained model (keras.saving.load_model): {metrics['model_file']}")
    except errors as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    app.run(main)
