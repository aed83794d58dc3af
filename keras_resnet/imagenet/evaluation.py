"""The paper's test protocol (Sec. 3.4): centre crop, 10-crop, and the fully convolutional
multi-scale test, each reporting top-1 and top-5 error.

"In testing, for comparison studies we adopt the standard 10-crop testing [AlexNet]. For best
results, we adopt the fully-convolutional form as in [VGG, He et al. 2014], and average the
scores at multiple scales (images are resized such that the shorter side is in {224, 256, 384,
480, 640})." The nets end in global average pooling and a linear classifier, so running one on
a whole image computes the average of its fully convolutional score map; the class scores
(softmax) are averaged over scales and horizontal flips.

Example:

>>> ten_crop_windows(256, 300, 224)
[(0, 0), (0, 76), (32, 0), (32, 76), (16, 38)]
>>> import numpy as np
>>> scores = np.array([[0.1, 0.7, 0.2], [0.5, 0.2, 0.3]])
>>> top_k_errors(scores, np.array([2, 0]), ks=(1, 2))
{'top1_error': 0.5, 'top2_error': 0.0}
"""

import os

import keras
import numpy as np
import tensorflow as tf

from keras_resnet.errors import DataError, RecipeError
from keras_resnet.imagenet import config, cropping, input_pipeline, skips
from keras_resnet.training import backup, durable, run

PROTOCOLS = config.PROTOCOLS


def ten_crop_windows(height, width, size):
    """`(top, left)` of the four corner crops and the centre crop, in that order.

    Args:
        height, width: int. The image (already resized).
        size: int. Crop side.

    Returns:
        A list of five `(top, left)` pairs: top-left, top-right, bottom-left, bottom-right, centre.
    """
    if height < size or width < size:
        raise ValueError(f"a {size}×{size} crop needs an image at least that large. Received: {height}×{width}")
    bottom, right = height - size, width - size
    return [(0, 0), (0, right), (bottom, 0), (bottom, right), (bottom // 2, right // 2)]


def ten_crops(image, size):
    """The 10 views: five crops (`ten_crop_windows`), then the same five flipped horizontally.

    Args:
        image: `[height, width, channels]` tensor.
        size: int.

    Returns:
        `[10, size, size, channels]` tensor.
    """
    shape = tf.shape(image)
    crops = [image[top : top + size, left : left + size] for top, left in _windows(shape, size)]
    crops = tf.stack(crops)
    return tf.concat([crops, tf.reverse(crops, [2])], axis=0)


def _windows(shape, size):
    bottom, right = shape[0] - size, shape[1] - size
    return [(0, 0), (0, right), (bottom, 0), (bottom, right), (bottom // 2, right // 2)]


def channel_mean(mean):
    """A per-channel mean `[3]` from a per-pixel (`[h, w, 3]`) or per-channel mean."""
    mean = np.asarray(mean, np.float32)
    return mean.reshape(-1, mean.shape[-1]).mean(axis=0) if mean.ndim == 3 else mean


def top_k_errors(scores, labels, ks=(1, 5)):
    """Top-k errors of class scores.

    Args:
        scores: `[n, classes]` array.
        labels: `[n]` int array.
        ks: tuple of int. k larger than the number of classes is clipped to it.

    Returns:
        dict `top{k}_error` → float.

    Raises:
        DataError: a label outside the scores' classes (1-based TFRecords read with offset 0, say),
            which would count as a miss.
    """
    scores = np.asarray(scores)
    labels = np.asarray(labels)
    outside = labels[(labels < 0) | (labels >= scores.shape[-1])]
    if len(outside):
        raise DataError(
            f"label {int(outside[0])} is outside the net's classes 0..{scores.shape[-1] - 1} (1-based labels? "
            "TFRecords take --tfrecord_label_offset=-1)"
        )
    order = np.argsort(-scores, axis=1, kind="stable")
    result = {}
    for k in ks:
        hit = (order[:, : min(k, scores.shape[1])] == labels[:, None]).any(axis=1)
        result[f"top{k}_error"] = float(1.0 - hit.mean()) if len(labels) else float("nan")
    return result


def _probabilities(model, images):
    logits = model(images, training=False)
    return keras.ops.convert_to_numpy(keras.ops.softmax(keras.ops.cast(logits, "float32"), axis=-1))


def multiscale_scores(model, image, scales, mean):
    """Class scores of one image averaged over `scales` (shorter side) and horizontal flips.

    Args:
        model: a fully convolutional `keras.Model` (input `(None, None, 3)`) returning logits.
        image: `[height, width, 3]` uint8 or float tensor in [0, 255].
        scales: tuple of int.
        mean: per-channel mean `[3]`.

    Returns:
        `[classes]` array.
    """
    views = []
    for scale in scales:
        resized = cropping.resize_shorter(tf.cast(image, tf.float32), scale) - mean
        views.append(_probabilities(model, tf.stack([resized, tf.reverse(resized, [1])])))
    return np.mean(np.concatenate(views), axis=0)


def _decoded(source, split, counter):
    # Enumerated before decoding: a failed decode leaves a gap in the positions, which is counted.
    ds = (
        source.examples(split)
        .enumerate()
        .map(
            lambda position, e: (position, cropping.decode_image(e[0]), e[1]),
            num_parallel_calls=tf.data.AUTOTUNE,
            deterministic=True,
        )
    )
    return input_pipeline.skip_and_count(ds, counter)


def result_summary(result):
    """An `evaluate` result in words: its errors, its images and any it skipped.

    Example:

    >>> result_summary({"top1_error": 0.25, "top5_error": 0.0625, "images": 6, "skipped_images": 1})
    'top-1 error 25.00%, top-5 error 6.25% on 6 images (1 unreadable skipped)'
    >>> result_summary({"top1_error": 0.25, "top5_error": 0.0625, "images": 7, "skipped_images": 0})
    'top-1 error 25.00%, top-5 error 6.25% on 7 images'
    """
    skipped = f" ({result['skipped_images']} unreadable skipped)" if result.get("skipped_images") else ""
    return (
        f"top-1 error {result['top1_error'] * 100:.2f}%, top-5 error {result['top5_error'] * 100:.2f}% "
        f"on {result['images']} images{skipped}"
    )


def evaluate(
    model, source, config, protocol="center", *, mean, batch_size=50, max_images=None, split="val", counter=None
):
    """Top-1 and top-5 error of `model` on `split` with one of the paper's test protocols.

    Args:
        model: the bare network (`keras.Model` with input `(None, None, 3)`, logits out): the
            mean is subtracted here, and the multi-scale test needs any input size.
        source: a `sources.Source`.
        config: an `ImageNetConfig` (`image_size`, `eval_resize`, `test_scales`).
        protocol: str. `"center"`, `"10crop"` or `"multiscale"`. Defaults to `"center"`.
        mean: the mean the model was trained with (`imagenet.model.stored_mean`);
            the multi-scale test subtracts its per-channel average (`channel_mean`).
        batch_size: int. Images per forward pass (center, 10-crop). Defaults to `50`.
        max_images: optional int. Evaluate only the first this many images.
        split: str. Defaults to `"val"`.
        counter: optional `skips.SkipCounter` for unreadable images. Defaults to a new one.

    Returns:
        dict with `top1_error`, `top5_error`, `images`, `skipped_images` (unreadable ones skipped
        among those read) and `protocol`.
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown eval protocol {protocol!r}: choose one of {', '.join(PROTOCOLS)}")
    counter = counter or skips.SkipCounter("evaluation")
    scores, labels = [], []
    if protocol == "center":
        ds = input_pipeline.eval_dataset(source, config, batch_size, split=split, counter=counter)
        if max_images:
            ds = ds.unbatch().take(max_images).batch(batch_size)
        for images, y in ds:
            scores.append(_probabilities(model, tf.cast(images, tf.float32) - mean))
            labels.append(y.numpy())
    elif protocol == "10crop":
        size = config.image_size
        ds = _decoded(source, split, counter)
        if max_images:
            ds = ds.take(max_images)
        ds = (
            ds.map(
                lambda image, y: (
                    ten_crops(cropping.resize_shorter(tf.cast(image, tf.float32), config.eval_resize), size) - mean,
                    y,
                ),
                num_parallel_calls=tf.data.AUTOTUNE,
            )
            .batch(batch_size)
            .prefetch(2)
        )
        for crops, y in ds:
            n = int(tf.shape(crops)[0])
            probabilities = _probabilities(model, tf.reshape(crops, [n * 10, size, size, 3]))
            scores.append(probabilities.reshape(n, 10, -1).mean(axis=1))
            labels.append(y.numpy())
    else:
        per_channel = channel_mean(mean)
        ds = _decoded(source, split, counter)
        if max_images:
            ds = ds.take(max_images)
        for image, y in ds.prefetch(2):
            scores.append(multiscale_scores(model, image, config.test_scales, per_channel)[None])
            labels.append(np.asarray(y)[None])
    scores = np.concatenate(scores) if scores else np.zeros((0, 1))
    labels = np.concatenate(labels) if labels else np.zeros((0,), np.int32)
    read_to_end = not max_images or len(labels) < max_images
    skipped = counter.report(len(labels), source.sizes.get(split) if read_to_end else None)
    return {"protocol": protocol, "images": int(len(labels)), "skipped_images": skipped, **top_k_errors(scores, labels)}


EVAL_PREFIX = "eval_"


def evaluate_checkpoint(cfg, workdir, *, source, protocol="center", max_images=None, batch_size=50, print_fn=print):
    """Evaluates the run in `workdir` with a test protocol; writes `eval_<protocol>.json`.

    Args:
        cfg: the run's `ImageNetConfig` (its net, and the crop sizes to test with).
        workdir: str. A workdir written by the recipe.
        source: a `sources.Source`.
        protocol: str. `"center"`, `"10crop"` or `"multiscale"`. Defaults to `"center"`.
        max_images: optional int. Evaluate only this many validation images.
        batch_size: int. Images per forward pass. Defaults to `50`.
        print_fn: callable for the result line.

    Returns:
        dict with `top1_error`, `top5_error`, `images`, `skipped_images`, `protocol`.
    """
    from keras_resnet.imagenet import model

    checkpoint = os.path.join(workdir, backup.CHECKPOINT)
    if not os.path.exists(checkpoint):
        raise RecipeError(f"--workdir {workdir} has no checkpoint ({backup.CHECKPOINT}); train first (--mode=train)")
    trained_on = (run.load_run_config(workdir) or {}).get("facts", {}).get("class_names_sha256")
    if trained_on and source.class_names and trained_on != source.class_digest():
        raise DataError(
            f"the {source.num_classes} classes of the {source.kind} source are not those the run in --workdir "
            f"{workdir} trained on (other class folder names, so other labels): evaluate on a folder of its classes"
        )
    # A fine-tuned run's net was built from published weights (cached by the run): built the same way.
    network = model.create_network(
        cfg.model, source.num_classes, None, cfg.shortcut, cfg.init_weights, cfg.bottleneck_stride
    )
    trained = model.recipe_model(network, cfg)
    try:
        trained.load_weights(checkpoint)  # The network's weights and the mean it was trained with.
    except ValueError as error:
        raise RecipeError(
            f"{checkpoint} does not fit --model {cfg.model} with {source.num_classes} classes at "
            f"--image_size {cfg.image_size}: evaluate with the flags the run was trained with "
            f"({str(error).strip().splitlines()[0].split('. Example')[0][:120]})"
        ) from None
    result = evaluate(
        network,
        source,
        cfg,
        protocol,
        mean=model.stored_mean(trained),
        batch_size=batch_size,
        max_images=max_images,
        counter=skips.SkipCounter("evaluation"),
    )
    durable.write_json(os.path.join(workdir, f"{EVAL_PREFIX}{protocol}.json"), result)
    print_fn(f"{protocol}: {result_summary(result)}", flush=True)
    return result
