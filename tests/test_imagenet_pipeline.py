"""The ImageNet input pipeline: geometry of the scale augmentation, lighting, window decoding,
batches, corrupt images."""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_resnet.errors import DataError
from keras_resnet.imagenet import config, cropping, input_pipeline, model, order, pixel_mean, skips, sources, synthetic
from keras_resnet.preprocessing import PCALighting

SMALL = config.imagenet(image_size=32, scale_range=(36, 60), eval_resize=36, mean="channel")


@pytest.fixture
def folder(image_folder):
    return image_folder(val=2, shape=(50, 70), jitter=8)


def test_shorter_side_lies_in_scale_range_and_covers_it():
    draw = tf.function(
        lambda index: cropping.train_window(tf.constant([375, 500]), 224, (256, 480), tf.stack([3, index]))
    )
    windows, scales = tf.map_fn(draw, tf.range(3000), fn_output_signature=(tf.int32, tf.int32))
    (top, left, h, w), scales = windows.numpy().T, scales.numpy()
    # The window is what becomes 224 pixels after resizing 375 → scale.
    assert (h == w).all() and (h == np.round(224 * 375 / scales)).all()
    assert (0 <= top).all() and (top <= 375 - h).all() and (0 <= left).all() and (left <= 500 - w).all()
    assert min(scales) == 256 and max(scales) == 480
    counts = np.bincount(np.array(scales) - 256, minlength=225)
    assert (counts > 0).mean() > 0.99  # Every value of [256, 480] drawn (≈13 each).


def test_train_window_positions_cover_the_image():
    tops = [
        int(cropping.train_window(tf.constant([375, 500]), 224, (480, 480), tf.constant([0, i]))[0][0])
        for i in range(400)
    ]
    assert min(tops) == 0 and max(tops) == 375 - round(224 * 375 / 480)


def test_center_window_matches_resize_then_center_crop():
    # Shorter side 375 → 256: factor 256/375; the centre 224 is 328 original pixels.
    assert [int(v) for v in cropping.center_window(tf.constant([500, 375]), 224, 256)] == [86, 23, 328, 328]


def test_lighting_adds_the_pca_combination_by_hand():
    eigval = np.array([0.2175, 0.0188, 0.0045])
    eigvec = np.array(config.imagenet().pca_eigvec)
    alpha = np.array([[0.1, -0.2, 0.05], [-0.3, 0.0, 0.1]], np.float32)
    images = np.random.default_rng(0).integers(0, 256, (2, 4, 5, 3)).astype(np.uint8)
    out = keras.ops.convert_to_numpy(PCALighting(eigval, eigvec)([images, alpha]))
    assert out.dtype == np.float32
    for image, shifted, a in zip(images, out, alpha):
        expected = sum(a[i] * eigval[i] * eigvec[:, i] for i in range(3)) * 255  # Krizhevsky et al. 2012, Sec. 4.1.
        np.testing.assert_allclose(shifted - image, np.broadcast_to(expected, image.shape), atol=1e-4)
        # The shift's coordinates in the PCA basis are alpha * eigval.
        np.testing.assert_allclose(np.linalg.solve(eigvec, (shifted - image)[0, 0] / 255), a * eigval, atol=1e-5)


def test_recipe_model_is_the_network_on_lit_mean_subtracted_crops():
    cfg = config.imagenet(image_size=4)
    rng = np.random.default_rng(3)
    mean = rng.uniform(90, 130, (4, 4, 3)).astype(np.float32)
    network = keras.Sequential([keras.Input((None, None, 3)), keras.layers.Conv2D(2, 3, padding="same")], name="net")
    trained = model.recipe_model(network, cfg, mean)
    images = rng.integers(0, 256, (2, 4, 4, 3)).astype(np.uint8)
    alpha = rng.normal(0, 0.1, (2, 3)).astype(np.float32)
    shift = np.stack(
        [sum(a[i] * cfg.pca_eigval[i] * np.array(cfg.pca_eigvec)[:, i] for i in range(3)) * 255 for a in alpha]
    )
    by_hand = network(images.astype(np.float32) + shift[:, None, None, :] - mean)
    out = trained({model.IMAGE: images, model.LIGHTING_ALPHA: alpha})
    np.testing.assert_allclose(keras.ops.convert_to_numpy(out), keras.ops.convert_to_numpy(by_hand), atol=1e-3)
    np.testing.assert_array_equal(model.stored_mean(trained), mean)


def test_bfloat16_crops_for_tpus_hold_the_uint8_values_and_give_the_same_outputs(folder):
    source = sources.folder_source(folder)
    ((x8, _),) = input_pipeline.train_dataset(source, SMALL, 4, seed=2).take(1).as_numpy_iterator()
    ((x16, _),) = (
        input_pipeline.train_dataset(source, SMALL, 4, seed=2, image_dtype="bfloat16").take(1).as_numpy_iterator()
    )
    assert x16[model.IMAGE].dtype.name == "bfloat16"
    np.testing.assert_array_equal(x16[model.IMAGE].astype(np.float32), x8[model.IMAGE].astype(np.float32))
    network = keras.Sequential([keras.Input((None, None, 3)), keras.layers.Conv2D(2, 3)], name="net")
    mean = pixel_mean.compute_pixel_mean(source, SMALL)
    outputs = [
        keras.ops.convert_to_numpy(model.recipe_model(network, SMALL, mean, dtype)(x))
        for dtype, x in (("uint8", x8), (model.image_dtype("tpu"), x16))
    ]
    np.testing.assert_array_equal(outputs[0], outputs[1])


def test_recipe_model_keeps_the_preprocessing_in_float32_under_mixed_precision():
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        network = keras.Sequential([keras.Input((None, None, 3)), keras.layers.Conv2D(2, 1)], name="net")
        trained = model.recipe_model(network, config.imagenet(image_size=4), np.full(3, 123.68, np.float32))
    finally:
        keras.config.set_dtype_policy("float32")
    assert network.layers[0].compute_dtype == "bfloat16"
    assert [trained.get_layer(n).compute_dtype for n in ("pca_lighting", model.MEAN_LAYER)] == ["float32", "float32"]
    # bfloat16 would hold the mean as 123.5 (8 significant bits), and 201 - 123.68 as 77.5.
    x = {model.IMAGE: np.full((1, 4, 4, 3), 201, np.uint8), model.LIGHTING_ALPHA: np.zeros((1, 3), np.float32)}
    lit = keras.Model(trained.inputs, trained.get_layer(model.MEAN_LAYER).output)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(lit(x)), np.full((1, 4, 4, 3), 201 - 123.68), atol=1e-4)


def test_recipe_model_saves_and_loads_as_a_keras_file(tmp_path):
    cfg = config.imagenet(image_size=4)
    rng = np.random.default_rng(4)
    mean = rng.uniform(90, 130, (4, 4, 3)).astype(np.float32)
    network = keras.Sequential([keras.Input((None, None, 3)), keras.layers.Conv2D(2, 3, padding="same")], name="net")
    trained = model.recipe_model(network, cfg, mean)
    trained.save(tmp_path / "recipe.keras")
    loaded = keras.saving.load_model(tmp_path / "recipe.keras")
    x = {
        model.IMAGE: rng.integers(0, 256, (2, 4, 4, 3)).astype(np.uint8),
        model.LIGHTING_ALPHA: rng.normal(0, 0.1, (2, 3)).astype(np.float32),
    }
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(loaded(x)), keras.ops.convert_to_numpy(trained(x)))
    np.testing.assert_array_equal(model.stored_mean(loaded), mean)
    assert loaded.get_layer("pca_lighting").eigvec == trained.get_layer("pca_lighting").eigvec


def test_decode_and_crop_equals_decode_then_crop():
    rng = np.random.default_rng(1)
    encoded = tf.constant(synthetic.encode_jpeg(synthetic.smooth_image(rng, 375, 500)))
    full = tf.io.decode_jpeg(encoded, channels=3).numpy().astype(int)
    for index in range(5):
        window, _ = cropping.train_window(tf.constant([375, 500]), 224, (256, 480), tf.constant([0, index]))
        top, left, h, w = (int(v) for v in window)
        part = cropping.decode_window(encoded, window).numpy().astype(int)
        assert part.shape == (h, w, 3)
        difference = np.abs(part - full[top : top + h, left : left + w])
        # Identical inside; chroma upsampling may differ by a few levels on the window's border.
        assert difference[2:-2, 2:-2].max() <= 1 and difference.mean() < 0.1


def test_window_path_matches_naive_resize_then_crop_up_to_interpolation():
    rng = np.random.default_rng(2)
    image = synthetic.smooth_image(rng, 375, 500)
    encoded = tf.constant(synthetic.encode_jpeg(image))
    window, scale = cropping.train_window(tf.constant([375, 500]), 224, (256, 480), tf.constant([5, 5]))
    fast = tf.image.resize(cropping.decode_window(encoded, window), [224, 224]).numpy()
    factor = int(scale) / 375
    resized = tf.image.resize(tf.io.decode_jpeg(encoded), [int(scale), round(500 * factor)]).numpy()
    top, left = round(int(window[0]) * factor), round(int(window[1]) * factor)
    naive = resized[top : top + 224, left : left + 224]
    assert naive.shape == fast.shape
    assert np.abs(fast - naive).mean() < 3.0


def test_train_batches_shapes_dtypes_ranges_and_determinism(folder):
    source = sources.folder_source(folder)
    batches = [
        list(input_pipeline.train_dataset(source, SMALL, 4, seed=7).take(3).as_numpy_iterator()) for _ in range(2)
    ]
    alphas = []
    for (x, y), (x2, y2) in zip(*batches):
        assert sorted(x) == [model.IMAGE, model.LIGHTING_ALPHA]
        image, alpha = x[model.IMAGE], x[model.LIGHTING_ALPHA]
        assert image.shape == (4, 32, 32, 3) and image.dtype == np.uint8 and y.dtype == np.int32
        assert alpha.shape == (4, 3) and alpha.dtype == np.float32
        assert set(y) <= {0, 1, 2}
        np.testing.assert_array_equal(image, x2[model.IMAGE])
        np.testing.assert_array_equal(alpha, x2[model.LIGHTING_ALPHA])
        assert int(image.max()) - int(image.min()) > 100  # The crops' pixels, not a constant.
        alphas.append(alpha)
    alphas = np.concatenate(alphas)
    assert len(np.unique(alphas)) == alphas.size  # One α per image and channel.
    assert 0.03 < alphas.std() < 0.3  # N(0, 0.1²): 36 draws.
    other = next(input_pipeline.train_dataset(source, SMALL, 4, seed=8).as_numpy_iterator())[0][model.IMAGE]
    assert not np.array_equal(other, batches[0][0][0][model.IMAGE])
    assert not next(input_pipeline.train_dataset(source, SMALL.replace(pca_lighting_std=0.0), 4).as_numpy_iterator())[
        0
    ][model.LIGHTING_ALPHA].any()


def test_train_crops_are_the_window_resized_flipped_and_rounded(folder):
    source = sources.folder_source(folder)
    ((x, _),) = input_pipeline.train_dataset(source, SMALL, 1, seed=5).take(1).as_numpy_iterator()
    # Position 0 holds the first example of pass 0's permutation (`test_imagenet_order.py`).
    first = order.folder_pass(source.sizes["train"], seed=5, pass_index=0)[0]
    encoded, _ = list(source.examples("train").as_numpy_iterator())[first]
    seed = tf.constant([5, 0], tf.int64)
    window, _ = cropping.train_window(tf.image.extract_jpeg_shape(encoded)[:2], 32, SMALL.scale_range, seed)
    resized = tf.image.resize(cropping.decode_window(encoded, window), [32, 32]).numpy()
    crop = x[model.IMAGE][0].astype(np.float32)
    # Flipped or not (a fair coin per example), and rounded: within half a level.
    assert min(np.abs(crop - resized).max(), np.abs(crop - resized[:, ::-1]).max()) <= 0.5


def test_resumed_stream_continues_the_uninterrupted_one(folder):
    source = sources.folder_source(folder)
    whole = list(input_pipeline.train_dataset(source, SMALL, 4, seed=3).take(5).as_numpy_iterator())
    resumed = list(input_pipeline.train_dataset(source, SMALL, 4, seed=3, start_step=3).take(2).as_numpy_iterator())
    for (x, y), (x2, y2) in zip(whole[3:], resumed):
        for key in x:
            np.testing.assert_array_equal(x[key], x2[key])
        np.testing.assert_array_equal(y, y2)


def test_eval_batches_are_center_crops(folder):
    source = sources.folder_source(folder)
    batches = list(input_pipeline.eval_dataset(source, SMALL, 4).as_numpy_iterator())
    assert [len(y) for _, y in batches] == [4, 2] and batches[0][0].dtype == np.uint8
    encoded, _ = next(iter(source.examples("val")))
    image = tf.io.decode_jpeg(encoded).numpy()
    shorter = min(image.shape[:2])
    side = round(32 * shorter / 36)
    top, left = (image.shape[0] - side) // 2, (image.shape[1] - side) // 2
    expected = tf.image.resize(image[top : top + side, left : left + side], [32, 32]).numpy()
    difference = np.abs(batches[0][0][0] - expected)
    assert difference[1:-1, 1:-1].max() <= 3 and difference.mean() < 0.75
    recipe = next(input_pipeline.eval_dataset(source, SMALL, 4, as_recipe_inputs=True).as_numpy_iterator())[0]
    np.testing.assert_array_equal(recipe[model.IMAGE], batches[0][0])
    assert recipe[model.LIGHTING_ALPHA].shape == (4, 3) and not recipe[model.LIGHTING_ALPHA].any()


def test_weighted_eval_batches_are_whole_and_weigh_each_image_once(folder):
    source = sources.folder_source(folder)
    plain = list(input_pipeline.eval_dataset(source, SMALL, 4, as_recipe_inputs=True).as_numpy_iterator())
    weighted = list(
        input_pipeline.eval_dataset(source, SMALL, 4, as_recipe_inputs=True, weighted=True).as_numpy_iterator()
    )
    assert [len(y) for _, y in plain] == [4, 2]
    for (x, y), (x0, y0, w0) in zip(plain, weighted):
        n = len(y)
        assert x0[model.IMAGE].shape[0] == x0[model.LIGHTING_ALPHA].shape[0] == len(y0) == 4
        np.testing.assert_array_equal(x0[model.IMAGE][:n], x[model.IMAGE])
        np.testing.assert_array_equal(y0[:n], y)
        assert not x0[model.IMAGE][n:].any() and not y0[n:].any()
        assert w0.tolist() == [1.0] * n + [0.0] * (4 - n)


def test_corrupt_and_truncated_jpegs_are_skipped_and_counted(tmp_path):
    synthetic.write_image_folder(str(tmp_path), classes=2, per_class={"train": 3}, shape=(40, 40))
    good = (tmp_path / "train" / "n00000000" / "train_0_0.JPEG").read_bytes()
    (tmp_path / "train" / "n00000000" / "truncated.JPEG").write_bytes(good[: len(good) // 2])
    (tmp_path / "train" / "n00000001" / "garbage.JPEG").write_bytes(b"\xff\xd8\xff\xe0 not a jpeg")
    source = sources.folder_source(str(tmp_path))
    counter = skips.SkipCounter("test")
    ds = input_pipeline.eval_dataset(source, SMALL, 100, split="train", counter=counter)
    ((x, y),) = list(ds.as_numpy_iterator())
    assert len(y) == 6 and counter.skipped_among() == 2 and counter.report(len(y), source.sizes["train"]) == 2


def test_labels_outside_classes_fail_in_the_pipeline(tmp_path):
    encoded = synthetic.encode_jpeg(synthetic.smooth_image(np.random.default_rng(0), 40, 40))
    with tf.io.TFRecordWriter(str(tmp_path / "validation-00000")) as writer:
        for label in (0, 1, 5):
            example = tf.train.Example(
                features=tf.train.Features(
                    feature={
                        "image/encoded": tf.train.Feature(bytes_list=tf.train.BytesList(value=[encoded])),
                        "image/class/label": tf.train.Feature(int64_list=tf.train.Int64List(value=[label])),
                    }
                )
            )
            writer.write(example.SerializeToString())
    (tmp_path / "train-00000").write_bytes((tmp_path / "validation-00000").read_bytes())
    source = sources.tfrecord_source(str(tmp_path), num_classes=3)
    ds = input_pipeline.eval_dataset(source, SMALL, 8)
    with pytest.raises(tf.errors.InvalidArgumentError, match="label outside 0…2"):
        list(ds.as_numpy_iterator())


def test_folder_without_class_subfolders_is_a_one_line_error(tmp_path):
    (tmp_path / "train").mkdir()
    (tmp_path / "train" / "a.JPEG").write_bytes(b"")
    with pytest.raises(DataError, match="has no class subfolders") as info:
        sources.folder_source(str(tmp_path))
    assert "\n" not in str(info.value)


def test_hidden_folders_and_files_are_neither_classes_nor_images(tmp_path, folder):
    """Jupyter's `.ipynb_checkpoints` (with an image in it), macOS's `._` twins and `.DS_Store`
    change nothing: the source is the clean folder's, and says what it left out."""
    import shutil

    root = tmp_path / "data"
    shutil.copytree(folder, root)
    image = sorted((root / "train").glob("*/*.JPEG"))[0]
    for split in ("train", "val"):
        (root / split / ".ipynb_checkpoints").mkdir()
        shutil.copy(image, root / split / ".ipynb_checkpoints" / "x.JPEG")
        shutil.copy(image, image.parent.parent.parent / split / image.parent.name / f"._{image.name}")
    (image.parent / ".DS_Store").write_bytes(b"\0")
    clean, messy = sources.folder_source(folder), sources.folder_source(str(root))
    assert messy.num_classes == clean.num_classes == 3 and messy.class_names == clean.class_names
    for split in ("train", "val"):
        assert messy.splits[split].names.tolist() == clean.splits[split].names.tolist()
        assert messy.splits[split].labels.tolist() == clean.splits[split].labels.tolist()
    hidden = f"(5 hidden entries left out: .DS_Store, ._{image.name}, .ipynb_checkpoints)"
    assert messy.describe() == f"folder: 12 train and 6 val images, 3 classes {hidden}"
    assert clean.describe() == "folder: 12 train and 6 val images, 3 classes"


def test_no_data_source_is_a_one_line_error_naming_the_flags_to_pass():
    with pytest.raises(DataError) as info:
        sources.resolve_source()
    assert str(info.value).startswith("no ImageNet data: pass --data_dir") and "\n" not in str(info.value)
    assert all(flag in str(info.value) for flag in ("--manual_dir", "--image_folder", "--tfrecords"))


def test_tfds_imagenet2012_is_read_from_its_files_with_their_stored_counts(tfds_imagenet):
    import tensorflow_datasets as tfds

    source = sources.resolve_source(data_dir=tfds_imagenet)
    split = source.split("train")
    assert (source.kind, source.num_classes, source.sizes) == ("tfds", 1000, {"train": 10, "val": 5})
    assert split.lengths.tolist() == [3, 4, 3] and all(
        os.path.basename(f).startswith("imagenet2012-train.tfrecord") for f in split.files
    )
    # The split's examples are TFDS's own, image bytes and labels.
    by_tfds = sorted(
        (e["image"], int(e["label"]))
        for e in tfds.load(
            "imagenet2012", split="train", data_dir=tfds_imagenet, decoders={"image": tfds.decode.SkipDecoding()}
        ).as_numpy_iterator()
    )
    assert sorted((e, int(y)) for e, y in source.examples("train").as_numpy_iterator()) == by_tfds
    x, y = next(input_pipeline.train_dataset(source, SMALL, 4).as_numpy_iterator())
    assert x[model.IMAGE].shape == (4, 32, 32, 3) and set(y) <= {0, 1, 2}


def test_pixel_mean_is_the_average_of_centre_crops(folder):
    source = sources.folder_source(folder)
    crops = [cropping.eval_image(e, SMALL).numpy() for e, _ in source.examples("train")]
    np.testing.assert_allclose(pixel_mean.compute_pixel_mean(source, SMALL), np.mean(crops, axis=0), atol=1e-3)


def test_a_tfds_imagenet_prepared_by_another_tfds_release_is_read_as_prepared(tmp_path):
    """imagenet2012 prepared at 5.0.0 where this TFDS builds 5.1.0: read at its version, said so."""
    import tensorflow_datasets as tfds

    installed = str(tfds.builder("imagenet2012").version)
    older = next(str(v) for v in tfds.builder_cls("imagenet2012").SUPPORTED_VERSIONS if str(v) != installed)
    synthetic.write_tfds_imagenet(str(tmp_path), {"train": 6, "validation": 3}, version=older)
    source = sources.resolve_source(data_dir=str(tmp_path))
    assert source.sizes == {"train": 6, "val": 3}
    assert source.describe() == (
        f"tfds imagenet2012 {older} (as prepared in --data_dir; this TFDS release reads {installed}): "
        "6 train and 3 val images, 1000 classes"
    )
    labels = [int(y) for _, y in source.examples("train").as_numpy_iterator()]
    assert sorted(labels) == [0, 0, 1, 1, 2, 2]
