"""Images decided by content on every path (a PNG named .JPEG is read; a CMYK JPEG too), unreadable
ones skipped and counted once, and counted among the images the consumer has read, not among those
the pipeline has prefetched."""

import io
import time

import numpy as np
import pytest
import tensorflow as tf

from keras_resnet import builder
from keras_resnet.errors import DataError
from keras_resnet.imagenet import (
    config,
    cropping,
    evaluation,
    input_pipeline,
    model,
    order,
    pixel_mean,
    skips,
    sources,
    synthetic,
)
from keras_resnet.imagenet.skips import SkipReport
from keras_resnet.training import distribute

SMALL = config.imagenet(
    image_size=32,
    scale_range=(36, 60),
    eval_resize=36,
    test_scales=(32, 40),
    mean="channel",
    batch_size=4,
    eval_every=2,
)
PNG_SHAPE = (44, 52)  # Unlike the JPEGs' (48, 60), so a crop of the wrong file cannot match.


def _png(seed):
    return tf.io.encode_png(synthetic.smooth_image(np.random.default_rng(seed), *PNG_SHAPE)).numpy()


def _cmyk_jpeg(seed):
    from PIL import Image  # Pillow comes with matplotlib.

    buffer = io.BytesIO()
    Image.fromarray(synthetic.smooth_image(np.random.default_rng(seed), 40, 56)).convert("CMYK").save(buffer, "JPEG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    """Per split: a PNG, random bytes and a CMYK JPEG, all named .JPEG, before the class's JPEGs."""
    root = tmp_path_factory.mktemp("mixed")
    synthetic.write_image_folder(str(root), classes=2, per_class={"train": 3, "val": 2}, shape=(48, 60))
    for split, seed in (("train", 1), ("val", 2)):
        folder = root / split / "n00000000"
        (folder / "a_png.JPEG").write_bytes(_png(seed))
        (folder / "b_corrupt.JPEG").write_bytes(np.random.default_rng(seed).bytes(3000))
        (folder / "c_cmyk.JPEG").write_bytes(_cmyk_jpeg(seed))
    return sources.folder_source(str(root))


def _files(source, split):
    return source.examples(split).as_numpy_iterator()


def _is_corrupt(encoded):
    try:
        tf.io.decode_image(encoded)
        return False
    except tf.errors.InvalidArgumentError:
        return True


def _stream(source, seed, positions):
    """The training stream's first `positions` encoded images, in its order."""
    split = source.split("train")
    return [open(split.path(e), "rb").read() for e in order.stream_examples(split, seed, positions)]


def _corrupt_among(stream, images):
    """Corrupt images before the `images`-th readable one of `stream`, counted by reading it."""
    corrupt = 0
    for encoded in stream:
        if _is_corrupt(encoded):
            corrupt += 1
        else:
            images -= 1
            if images == 0:
                return corrupt
    raise AssertionError("the stream is too short")


def _tiny_network():
    return builder.build_network(
        "imagenet", stages=(1, 1), widths=(8, 16), input_shape=(None, None, 3), classes=2, classifier_activation=None
    )


def _center_crop_by_hand(image):
    shorter = min(image.shape[:2])
    side = round(32 * shorter / 36)
    top, left = (image.shape[0] - side) // 2, (image.shape[1] - side) // 2
    return tf.image.resize(image[top : top + side, left : left + side], [32, 32]).numpy()


def test_the_format_is_decided_by_content_not_by_name(mixed):
    png, corrupt, cmyk = (e for e, _ in list(_files(mixed, "val"))[:3])
    window = tf.constant([3, 5, 20, 30])
    assert cropping.image_shape(png).numpy().tolist() == list(PNG_SHAPE)
    np.testing.assert_array_equal(cropping.decode_window(png, window), tf.io.decode_png(png, 3)[3:23, 5:35])
    assert cropping.image_shape(cmyk).numpy().tolist() == [40, 56]
    difference = np.abs(
        cropping.decode_window(cmyk, window).numpy().astype(int) - tf.io.decode_jpeg(cmyk, 3)[3:23, 5:35].numpy()
    )
    assert difference[2:-2, 2:-2].max() <= 1 and difference.mean() < 0.1  # Chroma upsampling at the window's border.
    for op in (lambda: cropping.image_shape(corrupt), lambda: cropping.decode_window(corrupt, window)):
        with pytest.raises(tf.errors.InvalidArgumentError):
            op()


def test_centre_crops_read_the_png_and_cmyk_and_skip_the_corrupt_file_once(mixed):
    counter = skips.SkipCounter("test")
    batches = list(input_pipeline.eval_dataset(mixed, SMALL, 4, counter=counter).as_numpy_iterator())
    images = np.concatenate([x for x, _ in batches])
    assert len(images) == 6 and mixed.sizes["val"] == 7
    assert counter.skipped_among() == 1 and counter.report(len(images), mixed.sizes["val"]) == 1
    png, _, cmyk = (e for e, _ in list(_files(mixed, "val"))[:3])
    for crop, encoded in ((images[0], png), (images[1], cmyk)):
        difference = np.abs(crop - _center_crop_by_hand(tf.io.decode_image(encoded, 3).numpy()))
        assert difference[1:-1, 1:-1].max() <= 3 and difference.mean() < 0.75


def test_training_stream_reads_the_png_and_counts_the_corrupt_file_once_a_pass(mixed):
    seed, size = 3, mixed.sizes["train"]
    stream = _stream(mixed, seed, 2 * size)
    counter = skips.SkipCounter("test")
    crops = [
        x[model.IMAGE][0]
        for x, _ in input_pipeline.train_dataset(mixed, SMALL, 1, seed=seed, counter=counter)
        .take(2 * (size - 1))
        .as_numpy_iterator()
    ]
    assert counter.report(len(crops)) == _corrupt_among(stream, len(crops)) >= 1
    # The PNG's crop, by hand: the window drawn for its stream position, of the decoded PNG.
    position = next(i for i, e in enumerate(stream) if e[:4] == b"\x89PNG")
    output = position - sum(_is_corrupt(e) for e in stream[:position])
    window, _ = cropping.train_window(
        tf.constant(PNG_SHAPE), 32, SMALL.scale_range, tf.constant([seed, position], tf.int64)
    )
    top, left, h, w = (int(v) for v in window)
    resized = tf.image.resize(tf.io.decode_png(stream[position], 3)[top : top + h, left : left + w], [32, 32]).numpy()
    crop = crops[output].astype(np.float32)
    assert min(np.abs(crop - resized).max(), np.abs(crop - resized[:, ::-1]).max()) <= 0.5


def test_ten_crop_and_multiscale_read_the_png_and_count_the_corrupt_file_once(mixed):
    keras_model = _tiny_network()
    mean = np.array(SMALL.channel_mean, np.float32)
    for protocol in ("10crop", "multiscale", "center"):
        result = evaluation.evaluate(keras_model, mixed, SMALL, protocol, mean=mean, batch_size=4)
        assert (result["images"], result["skipped_images"]) == (6, 1), protocol
    # With max_images, only skips before the last image read count: the corrupt file lies between the first two.
    assert evaluation.evaluate(keras_model, mixed, SMALL, "10crop", mean=mean, max_images=1)["skipped_images"] == 0
    assert evaluation.evaluate(keras_model, mixed, SMALL, "10crop", mean=mean, max_images=2)["skipped_images"] == 1


def test_pixel_mean_averages_the_png_and_cmyk_and_counts_the_corrupt_file_once(mixed):
    counter = skips.SkipCounter("test")
    mean = pixel_mean.compute_pixel_mean(mixed, SMALL, counter=counter)
    readable = [e for e, _ in _files(mixed, "train") if not _is_corrupt(e)]
    assert len(readable) == 8 and counter.count == 1
    np.testing.assert_allclose(
        mean, np.mean([cropping.eval_image(e, SMALL).numpy() for e in readable], axis=0), atol=1e-3
    )


def test_a_corrupt_last_file_of_a_pass_read_to_its_end_is_counted(tmp_path):
    synthetic.write_image_folder(str(tmp_path), classes=2, per_class={"train": 2, "val": 2}, shape=(40, 40))
    for split in ("train", "val"):
        (tmp_path / split / "n00000001" / "z_corrupt.JPEG").write_bytes(b"not an image")
    source = sources.folder_source(str(tmp_path))
    counter = skips.SkipCounter("test")
    pixel_mean.compute_pixel_mean(source, SMALL, counter=counter)
    assert counter.skipped_among() == 0 and counter.count == 1  # No image after it reveals the gap.
    mean = np.array(SMALL.channel_mean, np.float32)
    assert evaluation.evaluate(_tiny_network(), source, SMALL, "center", mean=mean)["skipped_images"] == 1


def test_skips_are_counted_among_the_batches_consumed_not_those_prefetched(mixed):
    seed, batch = 5, 2
    stream = _stream(mixed, seed, 8 * mixed.sizes["train"])
    expected = [_corrupt_among(stream, k * batch) if k else 0 for k in range(12)]
    # A k after which the next batch's positions hold a corrupt image: prefetching that batch
    # records a skip that no consumed batch holds.
    k = next(k for k in range(1, 11) if expected[k + 1] > expected[k])
    counter = skips.SkipCounter("test")
    iterator = iter(input_pipeline.train_dataset(mixed, SMALL, batch, seed=seed, counter=counter))
    consumed = [next(iterator) for _ in range(k)]
    deadline = time.time() + 60
    while counter.skipped_among() <= expected[k] and time.time() < deadline:
        time.sleep(0.05)
    assert counter.skipped_among() > expected[k], "the pipeline did not prefetch"
    assert counter.report(k * batch) == expected[k]
    # Counting changes no batch.
    plain = list(input_pipeline.train_dataset(mixed, SMALL, batch, seed=seed).take(k).as_numpy_iterator())
    for (x, y), (x2, y2) in zip(consumed, plain):
        np.testing.assert_array_equal(x[model.IMAGE], x2[model.IMAGE])
        np.testing.assert_array_equal(y, y2)


def test_skip_report_counts_the_images_of_this_runs_steps():
    counter = skips.SkipCounter("test")
    counter.add([-1, 0, 1, 3, 4, 6, 7, 8, 10])  # Positions 2, 5 and 9 skipped.
    report = SkipReport(counter, start_step=2, steps_per_period=2, images_per_step=2)
    report.on_epoch_end(1)  # Period 2 ends at step 4: this run (from step 2) read 2 steps × 2 images, to position 4.
    assert counter.count == 1
    report.on_epoch_end(3)  # Step 8: 12 images, to position 14.
    assert counter.count == 3
    two_workers = distribute.Resolved("multi_worker", num_replicas=4, num_workers=2)
    assert input_pipeline.images_per_step(two_workers, SMALL) == 2


def test_training_run_reports_the_skips_among_the_images_its_steps_read(mixed, tmp_path, run_imagenet):
    metrics = run_imagenet(mixed, tmp_path, train_steps=2, mean="channel")
    assert metrics["skipped_train_images"] == _corrupt_among(_stream(mixed, 0, 4 * mixed.sizes["train"]), 2 * 4)


def test_a_corrupt_last_validation_file_is_counted_in_the_runs_validation(tmp_path, run_imagenet):
    """No later image reveals the split's last file as skipped: the count is the split's files
    less the images the validation counted (`val_images`)."""
    root = tmp_path / "data"
    synthetic.write_image_folder(str(root), classes=2, per_class={"train": 3, "val": 2}, shape=(48, 60))
    (root / "val" / "n00000001" / "zz_corrupt.JPEG").write_bytes(np.random.default_rng(3).bytes(3000))
    source = sources.folder_source(str(root))
    last = [encoded for encoded, _ in source.examples("val").as_numpy_iterator()][-1]
    assert _is_corrupt(last)  # The split's last file, in its order.
    metrics = run_imagenet(source, tmp_path / "run", train_steps=2, mean="channel")
    assert metrics["skipped_val_images"] == 1
    import json

    history = json.loads((tmp_path / "run" / "history.json").read_text())
    assert history[-1]["val_images"] == source.sizes["val"] - 1 == 4


@pytest.mark.parametrize("mean", ["channel", "pixel"])
def test_a_folder_of_unreadable_training_files_stops_at_once_and_writes_nothing(tmp_path, mean, run_imagenet):
    """Git LFS pointers saved as .JPEG: the endless training stream would skip them forever."""
    root = tmp_path / "data"
    for c in range(2):
        (root / "train" / f"n{c:08d}").mkdir(parents=True)
        for i in range(40):
            (root / "train" / f"n{c:08d}" / f"{i}.JPEG").write_text(
                f"version https://git-lfs.github.com/spec/v1\noid sha256:{c}{i:063d}\nsize 110000\n"
            )
    source = sources.folder_source(str(root))
    workdir = tmp_path / "run"
    with pytest.raises(DataError) as info:
        run_imagenet(source, workdir, train_steps=2, mean=mean)
    message = str(info.value)
    assert "\n" not in message and message.startswith(f"{root}/train: none of 32 training images tried decodes")
    assert f"{root}/train/n0000000" in message and message.endswith("are these image files?")
    assert not workdir.exists()


def test_tfrecords_of_unreadable_images_stop_at_once_and_write_nothing(tmp_path, run_imagenet):
    import tensorflow as tf

    with tf.io.TFRecordWriter(str(tmp_path / "train-00000")) as writer:
        for i in range(5):
            writer.write(synthetic.example(b"<html><body>403 Forbidden</body></html>", i % 2))
    workdir = tmp_path / "run"
    with pytest.raises(DataError) as info:
        run_imagenet(sources.tfrecord_source(str(tmp_path), 2), workdir, train_steps=2, mean="channel")
    assert str(info.value).startswith(
        f"--tfrecords {tmp_path}: none of 5 training images tried decodes (e.g. record 0: "
    )
    assert not workdir.exists()
