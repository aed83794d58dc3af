"""Training-pipeline images/s per CPU core: window decode (the recipe) vs naive pipelines.

Generated 500×375 JPEGs. The recipe's stream is `input_pipeline.train_dataset` itself: per image,
decode only the crop's window, resize it to 224, flip, round to uint8; per batch, draw the
lighting α. PCA lighting and the mean subtraction run in the compiled train step
(`keras_resnet.imagenet.model.recipe_model`), not on the CPU. Two naive pipelines read the same
files, decode the whole image, resize it, crop and flip:

- `naive`: the same output as the recipe (uint8 crops and α), so the same work is left to the
  step: the ratio to it is the like-for-like figure;
- `naive, all on the CPU`: lighting and mean applied per image on the CPU, float32 out (the
  pipeline as usually written, and as this recipe's was before the step took them over).

One thread (a private tf.data thread pool of 1, and one TensorFlow op thread), so the figures
are per core; the pipelines alternate, best of `--repeats` each, so that load from other
processes hits all alike.

  python benchmarks/input_pipeline.py --images=256 --repeats=5 --timed_images=1024
"""

import argparse
import tempfile
import time

import tensorflow as tf

from keras_resnet.imagenet import config, cropping, input_pipeline, model, sources, synthetic

BATCH = 32


def naive_crop(encoded, index, cfg, seed):
    """Decode all, resize the shorter side to s ~ U[256, 480], random 224 crop, random flip (float32)."""
    example_seed = tf.stack([tf.cast(seed, tf.int64), tf.cast(index, tf.int64)])
    image = tf.io.decode_jpeg(encoded, channels=3)
    draws = tf.random.stateless_uniform([3], example_seed)
    low, high = cfg.scale_range
    scale = tf.minimum(low + tf.cast(draws[0] * (high - low + 1), tf.int32), high)
    image = cropping.resize_shorter(image, scale)
    shape = tf.shape(image)
    top = tf.cast(draws[1] * tf.cast(shape[0] - cfg.image_size, tf.float32), tf.int32)
    left = tf.cast(draws[2] * tf.cast(shape[1] - cfg.image_size, tf.float32), tf.int32)
    image = image[top : top + cfg.image_size, left : left + cfg.image_size]
    flip_seed = tf.random.experimental.stateless_fold_in(example_seed, 1)
    return tf.cond(tf.random.stateless_uniform([], flip_seed) < 0.5, lambda: tf.reverse(image, [1]), lambda: image)


def naive_all_on_cpu(encoded, index, cfg, seed, mean):
    """`naive_crop`, then AlexNet lighting (its own α) and the mean, per image."""
    image = naive_crop(encoded, index, cfg, seed)
    example_seed = tf.stack([tf.cast(seed, tf.int64), tf.cast(index, tf.int64)])
    alpha = tf.random.stateless_normal(
        [3], tf.random.experimental.stateless_fold_in(example_seed, 2), stddev=cfg.pca_lighting_std
    )
    shift = (
        tf.linalg.matvec(tf.constant(cfg.pca_eigvec, tf.float32), alpha * tf.constant(cfg.pca_eigval, tf.float32))
        * 255.0
    )
    return image + shift - mean


def single_thread(ds):
    options = tf.data.Options()
    options.threading.private_threadpool_size = 1
    return ds.with_options(options)


def _encoded(source):
    """`(index, encoded)` of the training files, read from disk each pass as the recipe's are."""
    return source.examples("train").map(lambda encoded, label: encoded).repeat().enumerate()


def naive_pipeline(source, cfg):
    """The recipe's output (uint8 crops, α per batch) the naive way."""
    ds = _encoded(source).map(lambda i, e: (cropping.to_uint8(naive_crop(e, i, cfg, 0)), i), num_parallel_calls=1)
    ds = ds.batch(BATCH).map(
        lambda images, index: input_pipeline.recipe_inputs(images, input_pipeline.lighting_alpha(index, cfg, 0))
    )
    return single_thread(ds.prefetch(tf.data.AUTOTUNE))  # As the recipe's stream ends.


def naive_cpu_pipeline(source, cfg):
    mean = tf.constant(model.mean_image(cfg))
    ds = _encoded(source).map(lambda i, e: naive_all_on_cpu(e, i, cfg, 0, mean), num_parallel_calls=1).batch(BATCH)
    return single_thread(ds.prefetch(tf.data.AUTOTUNE))


def recipe_pipeline(source, cfg):
    """The recipe's own training stream (`input_pipeline.train_dataset`) on the folder."""
    return single_thread(input_pipeline.train_dataset(source, cfg, BATCH, seed=0))


def _batch_size(batch):
    x = batch[0] if isinstance(batch, tuple) else batch
    return int((x[model.IMAGE] if isinstance(x, dict) else x).shape[0])


def images_per_second(ds, images, warmup_batches=4):
    """Images/s of a fresh iterator over `images` images, after a few warm-up batches; one
    pipeline at a time, so that no other pipeline's prefetching runs meanwhile."""
    iterator = iter(ds)
    for _ in range(warmup_batches):
        next(iterator)
    began = time.perf_counter()
    count = 0
    for _ in range(images // BATCH):
        count += _batch_size(next(iterator))
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
    source = sources.folder_source(root)
    cfg = config.imagenet(mean="channel")
    pipelines = {
        "recipe": recipe_pipeline(source, cfg),
        "naive": naive_pipeline(source, cfg),
        "naive_cpu": naive_cpu_pipeline(source, cfg),
    }
    best = {name: 0.0 for name in pipelines}
    for _ in range(args.repeats):
        for name, ds in pipelines.items():
            best[name] = max(best[name], images_per_second(ds, args.timed_images))
    print(f"window decode (recipe; lighting and mean in the step): {best['recipe']:.0f} images/s per core")
    print(f"naive decode-resize-crop, same output:                 {best['naive']:.0f} images/s per core")
    print(f"naive, lighting and mean on the CPU:                   {best['naive_cpu']:.0f} images/s per core")
    print(
        f"speed-up: {best['recipe'] / best['naive']:.2f}x like for like, "
        f"{best['recipe'] / best['naive_cpu']:.2f}x over the all-CPU naive pipeline"
    )


if __name__ == "__main__":
    main()
