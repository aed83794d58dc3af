"""What deciding each image's format by its content costs the window decode: images per CPU second.

The pipeline reads a JPEG by decoding only the crop's window (`tf.image.decode_and_crop_jpeg`),
which fails on other formats, so it first checks the image's first bytes (`tf.io.is_jpeg`) and
branches (`tf.cond`, in `cropping.image_shape` and `decode_window`). This times, on
generated 500×375 JPEGs held in memory (so no file reading is timed):

- `no check`: the JPEG-only decode (what the pipeline did for sources whose files were all named
  .JPEG, skipping a PNG so named);
- `content check`: the pipeline's own `train_crop` and `eval_image`.

One thread (a private tf.data thread pool of 1, one TensorFlow op thread); the figure is images
per second of this process's CPU time, which other processes' load inflates less than wall time. The variants
alternate; the median over `--repeats` passes is reported.

  python benchmarks/decode_check.py --images=2000 --repeats=7
"""

import argparse
import time

import numpy as np
import tensorflow as tf

from keras_resnet.imagenet import config, cropping, synthetic

BATCH = 32


def _example_seed(seed, index):
    return tf.stack([tf.cast(seed, tf.int64), tf.cast(index, tf.int64)])


def _resize_and_flip(image, cfg, example_seed):
    size = cfg.image_size
    image = cropping.to_uint8(tf.image.resize(image, [size, size], method="bilinear"))
    return tf.image.stateless_random_flip_left_right(image, tf.random.experimental.stateless_fold_in(example_seed, 1))


def train_crop_no_check(encoded, index, cfg, seed):
    """`cropping.train_crop` with the JPEG decoders called unconditionally."""
    example_seed = _example_seed(seed, index)
    window, _ = cropping.train_window(
        tf.image.extract_jpeg_shape(encoded)[:2], cfg.image_size, cfg.scale_range, example_seed
    )
    return _resize_and_flip(tf.image.decode_and_crop_jpeg(encoded, window, channels=3), cfg, example_seed)


def eval_image_no_check(encoded, cfg):
    """`cropping.eval_image` with the JPEG decoders called unconditionally."""
    window = cropping.center_window(tf.image.extract_jpeg_shape(encoded)[:2], cfg.image_size, cfg.eval_resize)
    image = tf.image.decode_and_crop_jpeg(encoded, window, channels=3)
    return cropping.to_uint8(tf.image.resize(image, [cfg.image_size, cfg.image_size], method="bilinear"))


def pipelines(encoded, cfg):
    def make(crop):
        ds = tf.data.Dataset.from_tensor_slices(encoded).enumerate().map(lambda i, e: crop(e, i), num_parallel_calls=1)
        options = tf.data.Options()
        options.threading.private_threadpool_size = 1
        return ds.batch(BATCH).with_options(options)

    return {
        "train crop, no check": make(lambda e, i: train_crop_no_check(e, i, cfg, 0)),
        "train crop, content check": make(lambda e, i: cropping.train_crop(e, i, cfg, 0)),
        "centre crop, no check": make(lambda e, i: eval_image_no_check(e, cfg)),
        "centre crop, content check": make(lambda e, i: cropping.eval_image(e, cfg)),
    }


def images_per_cpu_second(ds):
    """Over one pass, after its first batch (a new iterator instantiates the map function, which a
    training run does once)."""
    iterator = iter(ds)
    next(iterator)
    began, count = time.process_time(), 0
    for batch in iterator:
        count += int(batch.shape[0])
    return count / (time.process_time() - began)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    rng = np.random.default_rng(0)
    encoded = [synthetic.encode_jpeg(synthetic.smooth_image(rng, 375, 500)) for _ in range(args.images)]
    variants = pipelines(encoded, config.imagenet(mean="channel"))
    rates = {name: [] for name in variants}
    for _ in range(args.repeats):
        for name, ds in variants.items():
            rates[name].append(images_per_cpu_second(ds))
    median = {name: float(np.median(r)) for name, r in rates.items()}
    print("| pipeline | images per CPU second | against no check |\n|---|---|---|")
    for name, rate in median.items():
        reference = median[name.split(",")[0] + ", no check"]
        print(f"| {name} | {rate:.0f} | {rate / reference - 1:+.1%} |")


if __name__ == "__main__":
    main()
