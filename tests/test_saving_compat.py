"""`.keras` files written before the recipes' layers moved modules load with the same outputs: a
layer is found by its registered name (`keras_resnet>PadCropFlip`), not by the module the file names."""

import json
import zipfile

import keras
import numpy as np
import pytest

from keras_resnet.preprocessing import PadCropFlip, PCALighting, PerPixelMean

# Where each layer lived when earlier versions saved their files.
EARLIER_MODULES = {
    "training.augment": {
        "PerPixelMean": "keras_resnet.training.augment",
        "PadCropFlip": "keras_resnet.training.augment",
        "PCALighting": "keras_resnet.training.augment",
    },
    "recipe packages": {
        "PerPixelMean": "keras_resnet.training.preprocessing",
        "PadCropFlip": "keras_resnet.cifar.augment",
        "PCALighting": "keras_resnet.imagenet.augment",
    },
}


def _rename_modules(config, modules):
    if isinstance(config, dict):
        if config.get("class_name") in modules:
            config["module"] = modules[config["class_name"]]
        for value in config.values():
            _rename_modules(value, modules)
    elif isinstance(config, list):
        for value in config:
            _rename_modules(value, modules)


@pytest.mark.parametrize("version", list(EARLIER_MODULES))
def test_a_file_naming_the_earlier_modules_loads_with_the_same_outputs(tmp_path, version):
    modules = EARLIER_MODULES[version]
    images = keras.Input((8, 8, 3), dtype="uint8", name="images")
    alpha = keras.Input((3,), name="alpha")
    x = PCALighting((0.2, 0.02, 0.004), np.eye(3).tolist(), name="lighting")([images, alpha])
    x = PadCropFlip(2, True, seed=1, name="pad_crop_flip")(PerPixelMean(np.full((8, 8, 3), 100.0), name="mean")(x))
    model = keras.Model([images, alpha], keras.layers.Conv2D(2, 3)(x))
    model.save(tmp_path / "now.keras")
    with zipfile.ZipFile(tmp_path / "now.keras") as now, zipfile.ZipFile(tmp_path / "earlier.keras", "w") as earlier:
        for item in now.infolist():
            data = now.read(item.filename)
            if item.filename == "config.json":
                config = json.loads(data)
                _rename_modules(config, modules)
                data = json.dumps(config).encode()
            earlier.writestr(item, data)
    written = zipfile.ZipFile(tmp_path / "earlier.keras").read("config.json").decode()
    assert all(module in written for module in modules.values())
    loaded = keras.saving.load_model(tmp_path / "earlier.keras", safe_mode=True)
    x = [np.random.default_rng(0).integers(0, 256, (2, 8, 8, 3)).astype("uint8"), np.full((2, 3), 0.1, "float32")]
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(loaded(x)), keras.ops.convert_to_numpy(model(x)))
    assert [type(layer) for layer in loaded.layers[2:5]] == [PCALighting, PerPixelMean, PadCropFlip]
