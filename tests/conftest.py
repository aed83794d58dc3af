from keras_resnet import tf_startup

tf_startup.recipe_environment()  # The tests run TensorFlow as the recipes do.

import keras
import numpy as np
import pytest
from published_files import SIZE, randomise, torchvision_state_dict, write_keras_applications_h5
from safetensors.numpy import save_file

# Under `pytest -n`, each of these groups of tests runs whole on one worker, so that what they
# share is made once: the registered nets `model_checks.build` keeps (ResNet-1202 and the
# ResNet-152s among them), and the published-weights files of the session fixtures below. Every
# other test is a unit of its own, as `--dist load` hands them out. By node id prefix; first match.
SHARED_BUILDS = {
    "zoo": (
        "tests/test_models_shapes.py::",
        "tests/test_models_params.py::",
        "tests/test_models_flops.py::",
        "tests/test_readme.py::",
        "tests/test_models_saving.py::test_resnet1202_",
        "tests/test_pretrained.py::test_registry_parameter_counts_",
    ),
    "weights files": ("tests/test_pretrained.py::", "tests/test_weights_files.py::"),
}


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """`--dist load` (what `-n` means by default), with the groups of `SHARED_BUILDS` as units."""
    if config.getvalue("dist") != "load":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class SharedBuildScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid):
            return next((group for group, prefixes in SHARED_BUILDS.items() if nodeid.startswith(prefixes)), nodeid)

    return SharedBuildScheduling(config, log)


# The ImageNet recipe's settings for tests: 32-pixel crops of images scaled to 36-60, batches of 4,
# a period of 2 iterations, the tiny net.
SMALL_IMAGENET = dict(
    model="tiny", image_size=32, scale_range=(36, 60), eval_resize=36, test_scales=(32, 40), batch_size=4, eval_every=2
)


@pytest.fixture
def small_imagenet_flags():
    """`SMALL_IMAGENET` as the recipe's flags, `--model` left out."""
    return [
        f"--{name}={','.join(map(str, value)) if isinstance(value, tuple) else value}"
        for name, value in SMALL_IMAGENET.items()
        if name != "model"
    ]


@pytest.fixture
def run_imagenet():
    """`run_imagenet(source, workdir, lines=None, overwrite=False, **changes)`: the ImageNet recipe's
    one loop, in this process, on a `sources.Source` with `SMALL_IMAGENET` and `changes`; its metrics."""
    from keras_resnet.imagenet import config
    from keras_resnet.imagenet.task import ImageNetTask
    from keras_resnet.training import loop

    def run(source, workdir, lines=None, overwrite=False, **changes):
        def print_fn(*parts, **kwargs):
            if lines is not None:
                lines.extend(" ".join(str(p) for p in parts).splitlines())

        cfg = config.imagenet(**{**SMALL_IMAGENET, **changes})
        return loop.train_and_evaluate(ImageNetTask(source), cfg, str(workdir), overwrite=overwrite, print_fn=print_fn)

    return run


@pytest.fixture(scope="session")
def image_folder(tmp_path_factory):
    """`image_folder(**options)`: a tiny ImageNet-layout JPEG folder (`synthetic.write_image_folder`),
    written once per session for each set of options; read it, never write into it.

    Defaults: 3 classes of 4 training and 4 validation images each, 48×60 pixels ± 6.
    """
    from keras_resnet.imagenet import synthetic

    written = {}

    def folder(classes=3, train=4, val=4, shape=(48, 60), jitter=6):
        key = (classes, train, val, tuple(shape), jitter)
        if key not in written:
            written[key] = str(tmp_path_factory.mktemp("images"))
            per_class = {"train": train, "val": val} if val else {"train": train}
            synthetic.write_image_folder(written[key], classes=classes, per_class=per_class, shape=shape, jitter=jitter)
        return written[key]

    return folder


@pytest.fixture(scope="session")
def tiny_npz(tmp_path_factory):
    """`tiny_npz(**options)`: the path of a tiny `.npz` in keras.datasets' layout (x_train, y_train,
    x_test, y_test) of random uint8 images, written once per session for each set of options.

    Defaults: 40 training and 12 test images of 8×8×3, labels 0, 1, 2, 0, … (3 classes).
    """
    written = {}

    def npz(n_train=40, n_test=12, shape=(8, 8, 3), classes=3):
        key = (n_train, n_test, tuple(shape), classes)
        if key not in written:
            rng = np.random.default_rng(0)
            written[key] = str(tmp_path_factory.mktemp("npz") / "tiny.npz")
            np.savez(
                written[key],
                x_train=rng.integers(0, 255, (n_train, *shape), dtype="uint8"),
                y_train=np.arange(n_train) % classes,
                x_test=rng.integers(0, 255, (n_test, *shape), dtype="uint8"),
                y_test=np.arange(n_test) % classes,
            )
        return written[key]

    return npz


@pytest.fixture
def dtype_policy():
    """Lets a test set a global dtype policy and restores float32 afterwards."""
    yield keras.config.set_dtype_policy
    keras.config.set_dtype_policy("float32")


@pytest.fixture(scope="session")
def tfds_imagenet(tmp_path_factory):
    """A TFDS data directory holding a small prepared `imagenet2012` (TFDS's own files, 3 train shards)."""
    from keras_resnet.imagenet import synthetic

    data_dir = str(tmp_path_factory.mktemp("tensorflow_datasets"))
    synthetic.write_tfds_imagenet(data_dir, {"train": 10, "validation": 5}, shards=3, shape=(48, 60))
    return data_dir


@pytest.fixture(scope="session")
def msra_resnet50(tmp_path_factory):
    """keras.applications' ResNet50 with random weights, written as the published top and no-top files."""
    folder = tmp_path_factory.mktemp("msra")
    reference = keras.applications.ResNet50(weights=None, input_shape=(SIZE, SIZE, 3), classifier_activation=None)
    randomise(reference, np.random.default_rng(0))
    # A BN whose variance is ~0 (a dead channel), where the two files' ε differ by 5e-4 relative.
    stem_bn = reference.get_layer("conv1_bn")
    stem_bn.moving_variance.assign(np.zeros(64, "float32"))
    stem_bn.gamma.assign(np.full(64, 3e-3, "float32"))
    write_keras_applications_h5(reference, folder / "top.h5")
    notop = keras.applications.ResNet50(weights=None, include_top=False, input_shape=(SIZE, SIZE, 3), pooling="avg")
    for layer in [layer for layer in notop.layers if layer.weights]:
        layer.set_weights(reference.get_layer(layer.name).get_weights())
    write_keras_applications_h5(notop, folder / "notop.h5")
    return reference, notop, folder


@pytest.fixture(scope="session")
def torchvision_resnet50_file(tmp_path_factory):
    """torchvision's ResNet-50 (v1.5: stride in the 3×3) with random values, as a safetensors file."""
    path = tmp_path_factory.mktemp("torchvision") / "resnet50.safetensors"
    save_file(torchvision_state_dict(50, np.random.default_rng(50)), str(path))
    return path


@pytest.fixture
def free_ports():
    """`free_ports(count)`: that many TCP ports on 127.0.0.1 free a moment ago, for the processes of
    a job of several (tf.distribute workers, JAX processes)."""
    import socket

    def ports(count):
        sockets = [socket.socket() for _ in range(count)]
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        found = [s.getsockname()[1] for s in sockets]
        for s in sockets:
            s.close()
        return found

    return ports


class Killed(BaseException):
    """What `kill_at` raises where a run would be SIGKILLed."""


@pytest.fixture
def kill_at(monkeypatch):
    """`kill_at(point)`: the recipes' kill point `point` (`faults`, e.g. `"backup:2"`) raises
    `Killed` in this process instead of killing it, leaving the workdir as a SIGKILL there would;
    `kill_at(None)` disarms it."""
    from keras_resnet.training import faults

    def die():
        raise Killed

    monkeypatch.setattr(faults, "_die", die)

    def arm(point):
        if point is None:
            monkeypatch.delenv(faults.KILL_ENV, raising=False)
        else:
            monkeypatch.setenv(faults.KILL_ENV, point)

    arm.Killed = Killed
    return arm


@pytest.fixture
def run_cifar():
    """`run_cifar(data, workdir, lines=None, overwrite=False, **changes)`: the CIFAR recipe's one loop,
    in this process, on a `CifarData` with `config.cifar10(model="resnet8", **changes)`; its metrics.
    The lines it prints go to `lines` (a list) where given, nowhere otherwise."""
    from keras_resnet.cifar import config
    from keras_resnet.cifar.task import CifarTask
    from keras_resnet.training import loop

    def run(data, workdir, lines=None, overwrite=False, **changes):
        def print_fn(*parts, **kwargs):
            if lines is not None:
                lines.extend(" ".join(str(p) for p in parts).splitlines())

        cfg = config.cifar10(**{"model": "resnet8", **changes})
        return loop.train_and_evaluate(CifarTask(data), cfg, str(workdir), overwrite=overwrite, print_fn=print_fn)

    return run
