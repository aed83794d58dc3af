"""Data parallelism on the JAX backend (`keras.distribution.DataParallel`) over two host devices."""

import importlib.util
import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="jax is not installed")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = {
    **os.environ,
    "KERAS_BACKEND": "jax",
    "TF_CPP_MIN_LOG_LEVEL": "2",
    "XLA_FLAGS": "--xla_force_host_platform_device_count=2",
    "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""),
}

PROBE = """
import keras, numpy as np
import keras_resnet
from keras_resnet import distribute
resolved = distribute.resolve("auto")
with resolved.scope():
    model = keras_resnet.build_network("imagenet", stages=(1, 1), widths=(8, 16), input_shape=(32, 32, 3), classes=3)
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
kernel = model.get_layer("conv1_conv").kernel.value
model.fit(np.zeros((8, 32, 32, 3), "float32"), np.zeros(8, "int32"), batch_size=4, epochs=1, verbose=0)
print(resolved.name, resolved.num_replicas, len(kernel.sharding.device_set))
"""


@pytest.mark.slow
def test_auto_strategy_replicates_the_model_over_all_local_devices():
    result = subprocess.run([sys.executable, "-c", PROBE], env=ENV, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split()[-3:] == ["data_parallel(auto)", "2", "2"]


@pytest.mark.slow
def test_imagenet_recipe_trains_data_parallel_on_jax(tmp_path, image_folder, small_imagenet_flags):
    # 9 validation images in batches of 4: the last batch has 1 image for the 2 devices.
    args = [
        "--model=tiny",
        *small_imagenet_flags,
        "--train_steps=4",
        f"--image_folder={image_folder(val=3)}",
        f"--workdir={tmp_path / 'run'}",
    ]
    result = subprocess.run(
        [sys.executable, os.path.join(ROOT, "recipes", "imagenet.py"), *args],
        env=ENV,
        capture_output=True,
        text=True,
        timeout=240,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.load(open(tmp_path / "run" / "metrics.json"))
    assert (metrics["backend"], metrics["strategy"], metrics["replicas"], metrics["steps"]) == (
        "jax",
        "data_parallel(auto)",
        2,
        4,
    )
    assert [row["val_images"] for row in json.load(open(tmp_path / "run" / "history.json"))] == [9, 9]
