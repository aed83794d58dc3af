"""The paper's test protocol: 10-crop geometry, multi-scale averaging, top-k errors."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_resnet import builder
from keras_resnet.errors import DataError
from keras_resnet.imagenet import config, cropping, evaluation, sources, synthetic


def test_ten_crops_are_the_four_corners_the_centre_and_their_flips():
    image = np.arange(7 * 9 * 1, dtype=np.float32).reshape(7, 9, 1)
    crops = evaluation.ten_crops(tf.constant(image), 4).numpy()
    windows = [(0, 0), (0, 5), (3, 0), (3, 5), (1, 2)]  # By hand: bottom 7-4=3, right 9-4=5, centre (1, 2).
    assert evaluation.ten_crop_windows(7, 9, 4) == windows
    assert crops.shape == (10, 4, 4, 1)
    for i, (top, left) in enumerate(windows):
        np.testing.assert_array_equal(crops[i], image[top : top + 4, left : left + 4])
        np.testing.assert_array_equal(crops[5 + i], image[top : top + 4, left : left + 4][:, ::-1])


def test_ten_crops_of_a_256_by_341_image_at_224():
    assert evaluation.ten_crop_windows(256, 341, 224) == [(0, 0), (0, 117), (32, 0), (32, 117), (16, 58)]


def _tiny_model(classes=3):
    keras.utils.set_random_seed(0)
    return builder.build_network(
        "imagenet",
        stages=(1, 1),
        widths=(8, 16),
        input_shape=(None, None, 3),
        classes=classes,
        classifier_activation=None,
    )


def test_multiscale_scores_equal_averaging_by_hand():
    model = _tiny_model()
    image = synthetic.smooth_image(np.random.default_rng(0), 40, 56)
    mean = np.array([120.0, 110.0, 100.0], np.float32)
    scores = evaluation.multiscale_scores(model, tf.constant(image), (32, 48), mean)
    by_hand = []
    for shorter, longer in ((32, round(56 * 32 / 40)), (48, round(56 * 48 / 40))):
        resized = tf.image.resize(image.astype(np.float32), [shorter, longer]).numpy() - mean
        for view in (resized, resized[:, ::-1]):
            logits = keras.ops.convert_to_numpy(model(view[None], training=False))[0]
            by_hand.append(np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum())
    np.testing.assert_allclose(scores, np.mean(by_hand, axis=0), rtol=1e-5, atol=1e-6)


def test_top_k_errors_by_hand():
    scores = np.array([[0.1, 0.5, 0.4], [0.6, 0.3, 0.1], [0.2, 0.3, 0.5]])
    labels = np.array([2, 0, 0])
    errors = evaluation.top_k_errors(scores, labels, ks=(1, 2, 5))
    assert errors == {"top1_error": pytest.approx(2 / 3), "top2_error": pytest.approx(1 / 3), "top5_error": 0.0}
    with pytest.raises(DataError, match=r"label 3 is outside the net's classes 0..2 \(1-based labels\? "):
        evaluation.top_k_errors(scores, np.array([3, 1, 2]))  # Not a miss: 1-based labels, every one off by one.


def test_ten_crop_evaluation_averages_the_ten_views(image_folder):
    folder = image_folder(train=1, val=1, shape=(40, 50), jitter=0)
    cfg = config.imagenet(image_size=32, eval_resize=36, test_scales=(32, 40))
    source = sources.folder_source(folder)
    model = _tiny_model()
    mean = np.array(cfg.channel_mean, np.float32)
    result = evaluation.evaluate(model, source, cfg, "10crop", mean=mean)
    scores = []
    for encoded, _ in source.examples("val"):
        image = cropping.resize_shorter(tf.cast(tf.io.decode_jpeg(encoded), tf.float32), 36).numpy()
        assert image.shape == (36, 45, 3)  # Corners, then the centre (rounded down), each also flipped.
        crops = [image[top : top + 32, left : left + 32] for top, left in [(0, 0), (0, 13), (4, 0), (4, 13), (2, 6)]]
        crops = np.stack(crops + [crop[:, ::-1] for crop in crops])
        scores.append(keras.ops.convert_to_numpy(keras.ops.softmax(model(crops - mean))).mean(axis=0))
    top1 = np.mean(np.argmax(scores, axis=1) != [0, 1, 2])  # Three classes: every label is in the top 5.
    assert result == {"protocol": "10crop", "images": 3, "skipped_images": 0, "top1_error": pytest.approx(top1),
                      "top5_error": 0.0}  # fmt: skip
    assert evaluation.evaluate(model, source, cfg, "multiscale", mean=mean)["images"] == 3
