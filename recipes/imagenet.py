"""Trains or evaluates an ImageNet net of the paper with its recipe (Sec. 3.4).

  python recipes/imagenet.py --model=resnet50 --data_dir=~/tensorflow_datasets --workdir=runs/r50
  python recipes/imagenet.py --model=resnet50 --image_folder=/data/imagenet --strategy=mirrored --workdir=runs/r50
  python recipes/imagenet.py --model=resnet50 --tfrecords=gs://bucket/imagenet --strategy=tpu --tpu=my-tpu --workdir=runs/r50
  python recipes/imagenet.py --mode=eval --eval_protocol=10crop --data_dir=... --workdir=runs/r50
  python recipes/imagenet.py --mode=eval --weights=imagenet --model=resnet50 --eval_protocol=10crop --data_dir=...
  python recipes/imagenet.py --init_weights=imagenet --model=resnet50 --image_folder=/data/birds --workdir=runs/ft
  python recipes/imagenet.py --config=smoke --image_folder=/data/small --workdir=runs/smoke

Rerunning a killed run with the same flags resumes it from its last backup. Every flag but `--config`,
`--workdir`, `--overwrite` and the four of `--mode=eval` is a field of
`keras_resnet.imagenet.config.ImageNetConfig`.
"""

from absl import app, flags

from keras_resnet import tf_startup

tf_startup.recipe_environment()  # before TensorFlow loads: its log level, oneDNN on an x86 CPU

from keras_resnet.imagenet import cli
from keras_resnet.training import cli as cli_lib

cli.define_flags()
flags.adopt_module_key_flags(cli)  # --help lists them all
flags.adopt_module_key_flags(cli_lib)


def main(argv):
    del argv
    cli.main(flags.FLAGS)


if __name__ == "__main__":
    app.run(main, flags_parser=cli_lib.parse_flags)
