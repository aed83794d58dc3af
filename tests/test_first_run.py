"""What a new user meets first: a quick `--help`, a quiet import, one-line errors for the usual
mistakes, figures that show a short run, and messages that name what matters."""

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RECIPES = ("cifar10", "degradation", "imagenet")
# What a recipe's flags must not load: the backends (TensorFlow loads with Keras on its backend).
HEAVY = ("tensorflow", "keras", "jax", "torch")


def _python(*args, env=None, **changes):
    environment = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    environment.update(PYTHONPATH=ROOT, **changes)
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, cwd=ROOT, env=environment, timeout=240
    )


def _imported(importtime_stderr):
    """The top-level packages `python -X importtime` says were imported."""
    return {line.split("|")[-1].strip().split(".")[0] for line in importtime_stderr.splitlines() if "|" in line}


# A command line whose error needs no data: the words of its one line.
NEEDS_NO_DATA = {
    "misspelt": (["--no_such_flag=1"], "no_such_flag"),
    "no-workdir": ([], "--workdir is required: the directory of the run's outputs"),
    "unknown model": (["--model=resnet21", "--workdir={tmp}/run"], "unknown --model 'resnet21'"),
    "missing data": (["--data=/no/such.npz", "--image_folder=/no/such", "--workdir={tmp}/run"], "/no/such"),
    "finished run": (["--workdir={finished}", "--data={tmp}", "--image_folder={tmp}"], "holds a finished run"),
    "bad boundaries": (["--lr_boundaries=5,1", "--workdir={tmp}/run"], "--lr_boundaries must be increasing"),
}


@pytest.mark.parametrize("recipe", RECIPES)
@pytest.mark.parametrize("case", ["help", *NEEDS_NO_DATA])
def test_help_and_errors_that_need_no_data_load_no_backend(tmp_path, recipe, case):
    """`--help` and every error that needs no data answer before Keras or TensorFlow loads."""
    if case in ("unknown model", "finished run") and recipe == "degradation":
        pytest.skip("the experiment has no --model, and extends a finished run")
    if case == "bad boundaries" and recipe == "imagenet":
        pytest.skip("the ImageNet recipe has no --lr_boundaries")
    (tmp_path / "finished").mkdir()
    (tmp_path / "finished" / "metrics.json").write_text("{}")
    args, expected = (["--help"], None) if case == "help" else NEEDS_NO_DATA[case]
    args = [a.format(tmp=tmp_path, finished=tmp_path / "finished") for a in args]
    if recipe != "imagenet":
        args = [a for a in args if not a.startswith("--image_folder")]
    else:
        args = [a for a in args if not a.startswith("--data=")]
    result = _python("-X", "importtime", os.path.join("recipes", f"{recipe}.py"), *args)
    assert _imported(result.stderr) & set(HEAVY) == set(), result.stderr[-1000:]
    assert "absl" in _imported(result.stderr)  # The parse did run.
    if case == "help":
        assert result.returncode == 0 and "--workdir" in result.stdout, result.stderr[-2000:]
        return
    assert result.returncode == 2, result.stderr[-2000:]
    last = [line for line in result.stderr.splitlines() if "|" not in line and line.strip()][-1]
    assert last.startswith("error: ") and expected in last, last


@pytest.mark.system
def test_importing_the_package_and_building_a_net_print_nothing_unless_asked():
    code = "import keras_resnet; print(keras_resnet.trainable_params(keras_resnet.ResNet18()))"
    quiet = _python("-c", code, KERAS_BACKEND="tensorflow")
    assert quiet.returncode == 0 and quiet.stdout.strip() == "11689512", quiet.stderr[-2000:]
    assert quiet.stderr == ""
    asked = _python("-c", code, KERAS_BACKEND="tensorflow", TF_CPP_MIN_LOG_LEVEL="0")
    assert re.search(r"^I\d{4} .*\] ", asked.stderr, re.M), asked.stderr[-2000:]  # TensorFlow's own lines.


def test_import_keras_resnet_loads_no_backend():
    result = _python("-X", "importtime", "-c", "import keras_resnet")
    assert result.returncode == 0, result.stderr[-2000:]
    assert _imported(result.stderr) & set(HEAVY) == set()


@pytest.mark.system
def test_a_recipe_model_file_loads_after_import_keras_resnet(tmp_path):
    """The recipes' layers are registered whenever Keras loads after `import keras_resnet`."""
    import keras

    import keras_resnet
    from keras_resnet.preprocessing import PerPixelMean
    from keras_resnet.training import trained_model

    net = keras_resnet.build_network("cifar", stages=(1, 1, 1), input_shape=(8, 8, 1), classifier_activation=None)
    images = keras.Input((8, 8, 1))
    path = trained_model.save_trained_model(
        keras.Model(images, net(PerPixelMean(np.full((8, 8, 1), 100.0), name="mean")(images))), str(tmp_path), "mean"
    )
    code = f"import keras_resnet, keras; print([l.name for l in keras.saving.load_model({path!r}).layers])"
    loaded = _python("-c", code, KERAS_BACKEND="jax")
    assert loaded.returncode == 0, loaded.stderr[-2000:]
    assert loaded.stdout.strip() == "['images', 'mean', 'resnet8']"


def test_every_module_that_registers_keras_classes_is_registered_on_load():
    import keras_resnet

    package = os.path.join(ROOT, "keras_resnet")
    registering = set()
    for folder, _, files in os.walk(package):
        for name in files:
            if name.endswith(".py") and "register_keras_serializable" in open(os.path.join(folder, name)).read():
                module = os.path.relpath(os.path.join(folder, name[:-3]), package).replace(os.sep, ".")
                registering.add(module)
    assert registering == set(keras_resnet._REGISTERING)


@pytest.fixture(scope="module")
def run_model_file(tmp_path_factory):
    """A recipe run's `model.keras`: the network behind its training mean."""
    import keras

    import keras_resnet
    from keras_resnet.preprocessing import PerPixelMean
    from keras_resnet.training import trained_model

    net = keras_resnet.build_network("cifar", stages=(1, 1, 1), input_shape=(8, 8, 1), classifier_activation=None)
    images = keras.Input((8, 8, 1))
    model = keras.Model(images, net(PerPixelMean(np.full((8, 8, 1), 100.0), name="mean")(images)))
    return trained_model.save_trained_model(model, str(tmp_path_factory.mktemp("run")), "mean")


@pytest.mark.parametrize(
    "weights, line",
    [
        (
            "nope.h5",
            r"^weights='nope.h5': no such file; `weights` must be None, 'imagenet', .* or the path of a weights file$",
        ),
        ("{folder}", r"^weights='.*' is a folder; `weights` must be None"),
        (
            "{model_file}",
            r"^weights='.*model.keras' is a whole model \(resnet8 behind its preprocessing, .*\), not the "
            r"weights of a net: load it with keras.saving.load_model\(path\) after `import keras_resnet`$",
        ),
    ],
    ids=["missing", "folder", "run-model-file"],
)
def test_weights_misuse_is_one_line(weights, line, run_model_file, capfd):
    import keras_resnet

    weights = weights.format(folder=os.path.dirname(run_model_file), model_file=run_model_file)
    with pytest.raises(ValueError) as error:
        keras_resnet.build_network("cifar", stages=(1, 1, 1), input_shape=(8, 8, 1), weights=weights)
    assert re.match(line, str(error.value)) and "\n" not in str(error.value)
    assert "warn" not in capfd.readouterr().err.lower()  # Refused before Keras reads the file.


def test_a_refused_resume_names_only_the_changed_settings(tmp_path):
    from keras_resnet.errors import RecipeError
    from keras_resnet.training import run

    settings = {"resume": {f"field_{i}": i for i in range(17)}, "facts": {"replicas": 1}, "config": {}}
    run.prepare_workdir(str(tmp_path), settings)
    changed = {**settings, "resume": {**settings["resume"], "field_3": 30}}
    with pytest.raises(RecipeError) as error:
        run.prepare_workdir(str(tmp_path), changed)
    message = str(error.value)
    assert "(field_3: 3 → 30)" in message and "field_4" not in message and "replicas" not in message


def _line_pixels(png, rgb):
    """How many pixels of a PNG are within a small distance of the colour `rgb` (0…1)."""
    from matplotlib import image

    pixels = image.imread(png)[..., :3]
    return int((np.abs(pixels - np.array(rgb)).max(axis=-1) < 0.05).sum())


def test_a_single_evaluation_is_drawn(tmp_path):
    from matplotlib import colors

    from keras_resnet.training import plots

    one = [{"step": 100, "train_error": 0.5, "test_error": 0.6}]
    path = str(tmp_path / "curves.png")
    figure = plots.plot_curves({"resnet20": one}, path, title=plots.run_title("MNIST", 100, 128))
    drawn = [line for line in figure.axes[0].lines if len(line.get_xdata())]
    assert [line.get_marker() for line in drawn] == ["x", "o"]  # training, test
    assert _line_pixels(path, colors.to_rgb("tab:orange")) > 5  # The marks are on the canvas.
    assert figure.axes[0].get_title() == "MNIST, 100 iterations of batch 128"


def test_fig6_draws_only_the_families_trained_and_names_the_run(tmp_path):
    from keras_resnet.cifar import figures as plots

    rows = [{"step": 100, "train_error": 0.5, "test_error": 0.6}]
    figure = plots.plot_degradation({"plain20": rows}, {}, str(tmp_path / "fig6.png"), title="MNIST, 100 iterations")
    assert [axes.get_title() for axes in figure.axes] == ["plain"]
    assert figure._suptitle.get_text() == "MNIST, 100 iterations"
    both = plots.plot_degradation({"plain20": rows}, {"resnet20": rows}, str(tmp_path / "fig6b.png"))
    assert [axes.get_title() for axes in both.axes] == ["plain", "ResNet"]


def test_fig7_marks_its_points_and_names_the_run(tmp_path):
    from keras_resnet.cifar import figures as plots

    figure = plots.plot_responses({"plain8": [1.0], "resnet8": [0.5]}, str(tmp_path / "fig7.png"), title="MNIST, 2")
    assert {line.get_marker() for line in figure.axes[0].lines} == {"o"}
    assert figure._suptitle.get_text() == "MNIST, 2"


def test_the_final_line_is_read_not_parsed():
    from keras_resnet.training import run

    metrics = json.loads('{"model": "resnet20", "steps": 600, "train_error": 0.2102000117301941, "test_error": 0.2}')
    assert run.final_line(metrics) == "Final: resnet20 after 600 iterations: training error 21.02%, test error 20.00%"


def test_star_import_gives_the_public_names_and_every_constructor():
    namespace = {}
    exec("from keras_resnet import *", namespace)
    import keras_resnet

    assert {"build_network", "feature_model", "layer_responses", "preprocess_input", "MODELS"} <= set(namespace)
    assert {entry.constructor.__name__ for entry in keras_resnet.MODELS.values()} <= set(namespace)


def test_each_public_name_is_its_home_modules_object_after_every_module_is_imported():
    """A submodule import sets the package attribute of its name: no public name may be one."""
    import importlib

    import keras_resnet

    for name, home in keras_resnet._HOMES.items():
        module = importlib.import_module(f"keras_resnet.{home}")
        assert getattr(keras_resnet, name) is getattr(module, name), name
