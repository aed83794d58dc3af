"""Published weights in the ImageNet recipe: the paper's test protocols on a published net
(`--mode=eval --weights=...`), and fine-tuning from one (`--init_weights=...`). Offline: the
weight files and images are written here."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf
from published_files import torchvision_state_dict
from safetensors.numpy import save_file

import keras_resnet
from keras_resnet.imagenet import config, input_pipeline, sources, synthetic

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RECIPE = os.path.join(ROOT, "recipes", "imagenet.py")
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "KERAS_BACKEND": "tensorflow"}
CONFIG = config.imagenet(image_size=32, eval_resize=36, test_scales=(32, 40))


def run(*args, timeout=300):
    return subprocess.run(
        [sys.executable, RECIPE, *args], capture_output=True, text=True, timeout=timeout, env=ENV, cwd=ROOT
    )


def write_records(path, images, labels):
    with tf.io.TFRecordWriter(str(path)) as writer:
        for image, label in zip(images, labels):
            example = tf.train.Example(
                features=tf.train.Features(
                    feature={
                        "image/encoded": tf.train.Feature(bytes_list=tf.train.BytesList(value=[image])),
                        "image/class/label": tf.train.Feature(int64_list=tf.train.Int64List(value=[int(label)])),
                    }
                )
            )
            writer.write(example.SerializeToString())


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    """A ResNet-18 file in torchvision's layout, and 1000-class TFRecords whose validation labels
    are that net's own centre-crop predictions (computed here on raw RGB crops in [0, 255])."""
    root = tmp_path_factory.mktemp("published")
    weights = root / "resnet18.safetensors"
    save_file(torchvision_state_dict(18, np.random.default_rng(0)), str(root / "for_training.safetensors"))
    state = torchvision_state_dict(18, np.random.default_rng(0))
    state["fc.bias"][:] = 0  # The class then follows the image, not the bias.
    state["fc.weight"] *= 100
    save_file(state, str(weights))
    rng = np.random.default_rng(1)
    images = [synthetic.encode_jpeg(synthetic.smooth_image(rng, 40 + 4 * i, 48)) for i in range(6)]
    data = root / "records"
    data.mkdir()
    write_records(data / "train-00000", images, range(6))
    write_records(data / "validation-00000", images, range(6))
    crops = np.concatenate(
        [x for x, _ in input_pipeline.eval_dataset(sources.tfrecord_source(str(data)), CONFIG, 6).as_numpy_iterator()]
    )
    model = keras_resnet.ResNet18(weights=str(weights), input_shape=(None, None, 3), classifier_activation=None)
    predicted = np.argmax(keras.ops.convert_to_numpy(model(crops.astype("float32"))), axis=-1)
    assert len(set(predicted)) > 2  # A check that can fail: the images get different classes.
    write_records(data / "validation-00000", images, predicted)
    return weights, data


@pytest.mark.system
def test_published_net_evaluates_with_its_own_preprocessing(published, tmp_path, small_imagenet_flags):
    weights, data = published
    result = run(
        "--mode=eval",
        f"--weights={weights}",
        "--model=resnet18",
        "--eval_protocol=center",
        f"--tfrecords={data}",
        f"--workdir={tmp_path}",
        *small_imagenet_flags,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    (report,) = [json.loads(p.read_text()) for p in tmp_path.glob("eval_center_*.json")]
    assert report["images"] == 6 and report["top1_error"] == 0.0  # Labels are its own predictions.


@pytest.mark.system
@pytest.mark.parametrize("protocol", ["10crop", "multiscale"])
def test_published_net_runs_the_other_protocols_without_a_workdir(published, protocol, small_imagenet_flags):
    weights, data = published
    result = run(
        "--mode=eval",
        f"--weights={weights}",
        "--model=resnet18",
        f"--eval_protocol={protocol}",
        f"--tfrecords={data}",
        *small_imagenet_flags,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"resnet18 ({weights}), {protocol}: top-1 error" in result.stdout and "on 6 images" in result.stdout


@pytest.mark.system
def test_fine_tuning_starts_from_the_published_weights(published, tmp_path, small_imagenet_flags):
    _, data = published
    weights = data.parent / "for_training.safetensors"  # Moderate logits: two steps at rate 0.1 stay near it.
    workdir = tmp_path / "ft"
    result = run(
        f"--init_weights={weights}",
        "--model=resnet18",
        f"--tfrecords={data}",
        "--classes=1000",
        "--train_steps=2",
        f"--workdir={workdir}",
        "--mean=channel",
        *small_imagenet_flags,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    run_config = json.loads((workdir / "run_config.json").read_text())
    assert run_config["config"]["init_weights"] == str(weights) and "init_weights" in run_config["resume"]
    import h5py

    with h5py.File(workdir / "checkpoints" / "last_good.weights.h5") as f:
        kernels = []
        f.visititems(
            lambda name, obj: (
                kernels.append(np.asarray(obj))
                if isinstance(obj, h5py.Dataset) and obj.shape == (7, 7, 3, 64)
                else None
            )
        )
    published_kernel = torchvision_state_dict(18, np.random.default_rng(0))["conv1.weight"].transpose(2, 3, 1, 0)
    # The trained stem is the published one after two small steps (He initialisation would be uncorrelated).
    assert max(np.corrcoef(k.ravel(), published_kernel.ravel())[0, 1] for k in kernels) > 0.8
    # The evaluation takes the model, the crop sizes and the published start from the run itself.
    evaluated = run("--mode=eval", f"--tfrecords={data}", f"--workdir={workdir}", "--eval_images=2")
    assert evaluated.returncode == 0, evaluated.stderr[-2000:]
    assert "center: top-1 error" in evaluated.stdout and "on 2 images" in evaluated.stdout


def test_published_weights_on_data_of_other_classes_are_refused_before_building(published, monkeypatch):
    from keras_resnet.errors import RecipeError
    from keras_resnet.imagenet import finetune

    _, data = published
    monkeypatch.setattr(finetune, "pretrained_network", None)  # Refused before the net is built.
    with pytest.raises(RecipeError, match=r"^published ImageNet weights classify 1000 classes; the data has 6$"):
        finetune.evaluate_pretrained(CONFIG.replace(model="resnet18"), source=sources.tfrecord_source(str(data), 6))


def test_published_weights_on_a_folder_not_named_by_wordnet_ids_are_refused_before_building(monkeypatch):
    from keras_resnet.errors import DataError
    from keras_resnet.imagenet import finetune

    monkeypatch.setattr(finetune, "pretrained_network", None)
    names = sorted(str(k) for k in range(1000))  # "0", "1", "10", "100", …: not the weights' class order.
    source = sources.Source("folder", 1000, {}, class_names=names)
    with pytest.raises(DataError, match=r"need WordNet-id class folders .*; the data's classes include 0, 1, 10, …$"):
        finetune.evaluate_pretrained(CONFIG.replace(model="resnet18"), source=source)


def test_fine_tuning_net_for_other_classes_keeps_the_published_body_and_preprocessing(published):
    from keras_resnet.imagenet.finetune import pretrained_network

    weights, _ = published
    network = pretrained_network("resnet18", 6, str(weights))
    assert network.output_shape == (None, 6) and network.get_layer("preprocessing") is not None
    stem = keras.ops.convert_to_numpy(network.get_layer("conv1_conv").kernel)
    np.testing.assert_array_equal(
        stem, torchvision_state_dict(18, np.random.default_rng(0))["conv1.weight"].transpose(2, 3, 1, 0)
    )
