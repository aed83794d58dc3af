"""Training-pipeline images/s per CPU core: window decode (the recipe) vs a naive pipeline.

Generated 500×375 JPEGs; the whole training transform (scale augmentation, 224 crop, flip, PCA
lighting, mean) in both. The recipe's stream is `input_pipeline.train_dataset` itself (window
decode per image, lighting and mean per batch); the naive one decodes the whole image, resizes
it, crops, and colours each image on its own, from cached encoded bytes.
One thread (a private tf.data thread pool of 1, and one TensorFlow op thread), so the figures
are per core; the two pipelines alternate, best of `--repeats` each, so that load from other
processes hits both alike.

  python benchmarks/input_pipeline.py --images=256 --repeats=5 --timed_images=1024
"""

import argparse
import tempfile
import time

import numpy as np
import tensorflow as tf

from keras_resnet.imagenet import config, input_pipeline, sources, synthetic


def naive_transform(encoded, index, cfg, seed, mean):
    example_seed = tf.stack([tf.cast(seed, tf.int64), tf.cast(index, tf.int64)])
    image = tf.io.decode_jpeg(encoded, channels=3)
    draws = tf.random.stateless_uniform([3], example_seed)
    low, high = cfg.scale_range
    scale = tf.minimum(low + tf.cast(draws[0] * (high - low + 1), tf.int32), high)
    image = input_pipeline.resize_shorter(image, scale)
    shape = tf.shape(image)
    top = tf.cast(draws[1] * tf.cast(shape[0] - cfg.image_size, tf.float32), tf.int32)
    left = tf.cast(draws[2] * tf.cast(shape[1] - cfg.image_size, tf.float32), tf.int32)
    image = image[top:top + cfg.image_size, left:left + cfg.image_size]
    flip_seed = tf.random.experimental.stateless_fold_in(example_seed, 1)
    image = tf.cond(tf.random.stateless_uniform([], flip_seed) < 0.5, lambda: tf.reverse(image, [1]), lambda: image)
    alpha = tf.random.stateless_normal([3], tf.random.experimental.stateless_fold_in(example_seed, 2), stddev=cfg.pca_lighting_std)
    return input_pipeline.lighting(image, alpha, cfg.pca_eigval, cfg.pca_eigvec) - mean


BATCH = 32


def single_thread(ds):
    options = tf.data.Options()
    options.threading.private_threadpool_size = 1
    return ds.with_options(options)


def naive_pipeline(files, cfg):
    mean = tf.constant(input_pipeline.mean_image(cfg))
    ds = tf.data.Dataset.from_tensor_slices(files).map(tf.io.read_file).cache().repeat().enumerate()
    ds = ds.map(lambda i, e: naive_transform(e, i, cfg, 0, mean), num_parallel_calls=1).batch(BATCH)
    return single_thread(ds.prefetch(tf.data.AUTOTUNE))  # as the recipe's stream ends


def recipe_pipeline(root, cfg):
    """The recipe's own training stream (`input_pipeline.train_dataset`) on the folder."""
    source = sources.folder_source(root)
    ds = input_pipeline.train_dataset(source, cfg, BATCH, mean=input_pipeline.mean_image(cfg), seed=0)
    return single_thread(ds)


def images_per_second(ds, images, warmup_batches=4):
    """Images/s of a fresh iterator over `images` images, after a few warm-up batches; one
    pipeline at a time, so that no other pipeline's prefetching runs meanwhile."""
    iterator = iter(ds)
    for _ in range(warmup_batches):
        next(iterator)
    began = time.perf_counter()
    count = 0
    for _ in range(images // BATCH):
        batch = next(iterator)
        count += int((batch[0] if isinstance(batch, tuple) else batch).shape[0])
    return count / (time.perf_counter() - began)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--timed_images", type=int, default=1024, help="images per timed run (the streams repeat)")
    args = parser.parse_args()
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    root = tempfile.mkdtemp()
    synthetic.write_image_folder(root, classes=1, per_class={"train": args.images}, shape=(375, 500))
    import glob
    import os

    files = sorted(glob.glob(os.path.join(root, "train", "*", "*.JPEG")))
    cfg = config.recipe_config(mean="channel")
    pipelines = {"fast": recipe_pipeline(root, cfg), "naive": naive_pipeline(files, cfg)}
    best = {name: 0.0 for name in pipelines}
    for _ in range(args.repeats):
        for name, ds in pipelines.items():
            best[name] = max(best[name], images_per_second(ds, args.timed_images))
    fast, naive = best["fast"], best["naive"]
    print(f"window decode (recipe): {fast:.0f} images/s per core")
    print(f"naive decode-resize-crop: {naive:.0f} images/s per core")
    print(f"speed-up: {fast / naive:.2f}x")


if __name__ == "__main__":
    main()
