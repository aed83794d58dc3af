"""Every flag of a recipe, tried with bad values, in one process: `python tests/flag_sweep.py RECIPE OUT.json`.

Not a test module: `tests/test_recipe_flags.py` runs it once per recipe (importing TensorFlow
or JAX once instead of once per case) and checks what it writes to `OUT.json`:

- `flags`: the flags the recipe module defines or adopts, read from absl's registry, so that a
  flag added later without a row in `CASES` shows up in `missing`;
- `missing` / `stale`: recipe flags with no row in `CASES`, and rows for flags the recipe lacks;
- `import_stderr`: what importing the recipe module wrote to stderr;
- `results`: per case, its arguments, exit status, captured stderr, whether the workdir was
  created, which files appeared under the runner's folder and which existing ones changed or
  vanished, and how many training or evaluation loops (`fit`, `evaluate`, `predict`, …) it started;
- `entry`: one more case, run through the recipe's own `if __name__ == "__main__":` block
  (`app.run` with the recipe's flags parser), as a user's command line is.

Each case parses its command line with the recipes' own `cli.parse_flags` (`keras_resnet.training.cli`) after
`FLAGS.unparse_flags()`, then calls the recipe's `main`, as `app.run` would.
"""

import ast
import contextlib
import dataclasses
import importlib.util
import io
import json
import os
import sys
import tempfile
import traceback

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MISSING = "/nonexistent/x"


@dataclasses.dataclass(frozen=True)
class Case:
    """`--flag=value` on top of the recipe's good base command line.

    Attributes:
        value: str. The bad value; `{name}` placeholders are the runner's data paths (`DATA`).
        changes: dict of other flags to set (`None`: drop it from the base line), e.g. to drop
            `--data` when the case is about `--dataset`.
        expect: str, or tuple of str. Words the error line must hold besides the flag and the value.
        names: tuple of str. For a bad combination of flags, the words by which the line names
            it, in place of `--flag` and the value (empty: those two).
    """

    value: str
    changes: tuple = ()
    expect: str = ""
    names: tuple = ()


def case(value, expect="", names=(), **changes):
    """A `Case`; `expect`: words (a str, or a tuple of them) the error line must hold besides the
    flag and the value; `names`: see `Case`."""
    return Case(value, tuple(changes.items()), expect, names)


# What the runner writes for the cases, by placeholder name.
DATA = {
    "missing": "a path that does not exist",
    "text": "a text file",
    "text_npz": "a text file named .npz",
    "folder": "an empty folder",
    "npz": "a good tiny .npz (40 training, 12 test 8x8 grayscale images, 3 classes)",
    "keys_npz": "an .npz without the keras.datasets keys",
    "labels_npz": "an .npz whose y_test holds a label (9) outside y_train's classes 0..2",
    "shapes_npz": "an .npz whose test images are another size than its training images",
    "run": "an earlier run's workdir, holding its history.json",
    "idx": "a good tiny MNIST IDX folder",
    "images": "a good tiny ImageNet-layout JPEG folder",
    "text_tfrecords": "a folder with train-00000-of-00001 that is a text file",
}

WRONG_BOOL = case("maybe")

# Rows shared by the CIFAR recipes (`keras_resnet.cifar.flags.define_flags`).
CIFAR_SHARED = {
    "dataset": [
        case("nosuch", data=None),
        case(
            "some/path.npz",
            data=None,
            expect="--dataset takes a TFDS name (cifar10, cifar100, ...); for a local "
            "file or folder pass --data=some/path.npz",
        ),
    ],
    "data_dir": [
        case("{text}", data=None),
        case(
            "{missing}",
            data=None,
            download="false",
            expect=("TFDS data set 'cifar10' is not prepared in --data_dir", "--data with an .npz"),
        ),
    ],
    "download": [WRONG_BOOL],
    "data": [
        case("{missing}"),
        case("{text}"),
        case("{text_npz}", expect="is not an .npz file"),
        case("{folder}"),
        case("{keys_npz}"),
    ],
    "npz": [
        case("{missing}", data=None),
        case("{folder}", data=None, expect="is a folder"),
        case("{text_npz}", data=None, expect="is not an .npz file"),
        case("{npz}"),  # with --data as well: two data sources
        # Data refused with an earlier run's workdir given: the run's files stay as they were.
        case("{missing}", data=None, workdir="{run}", expect="data file not found"),
        case("{keys_npz}", data=None, workdir="{run}", expect="lacks x_train, y_train, x_test, y_test"),
        case("{labels_npz}", data=None, workdir="{run}", expect="y_test holds label 9, outside 0..2"),
        case("{shapes_npz}", data=None, workdir="{run}", expect="images of mixed shapes"),
    ],
    "train_steps": [
        case("0"),
        case("-1"),
        case("abc", expect="invalid literal for int()"),
        case("-5", workdir="{run}", expect="-5 is not a positive integer"),
    ],
    "batch_size": [
        case("0"),
        case("-1"),
        case("1.5", expect="invalid literal for int()"),
        case("1000"),
    ],  # 1000: more than the 32 training images
    "eval_every": [case("0"), case("-1")],
    "validation_size": [case("-1"), case("40"), case("abc")],  # 40: all the training images
    "full_train": [WRONG_BOOL],
    "workdir": [
        case("{text}"),
        case("{text}/run"),
        case("{run}/history.json/sub", expect="cannot write to --workdir"),
        case("gs://bucket/run", expect="local or mounted directory"),
    ],
    "seed": [case("-1"), case("4294967296"), case("abc")],
    "mixed_precision": [case("fp8", expect="value should be one of")],
    "overwrite": [WRONG_BOOL],
    "config": [case("huge", expect="value should be one of <paper|smoke>")],
    "shortcut": [case("D"), case("A", model="plain8")],
    "learning_rate": [case("-1"), case("0"), case("nan"), case("abc")],
    "momentum": [case("-1"), case("2"), case("nan")],
    "weight_decay": [case("-1"), case("nan")],
    "decoupled_weight_decay": [WRONG_BOOL],
    "no_bias_decay": [WRONG_BOOL],
    "lr_boundaries": [
        case("a", expect="takes integers"),
        case("0", expect="must be at least 1"),
        case("2,1", expect="must be increasing iterations of the run"),
        case("5", expect="at most --train_steps=2"),
    ],
    "lr_decay_factor": [case("0"), case("-1")],
    "warmup_learning_rate": [case("0"), case("inf")],
    "warmup_until_error": [case("2"), case("-0.5")],
    "warmup_min_depth": [case("0")],
    "warmup_check_every": [case("0")],
    "pad": [case("-1"), case("x")],
    "horizontal_flip": [WRONG_BOOL],
    "strategy": [case("gpu")],
    "tpu": [case("nosuch-tpu", strategy="tpu", names=("--strategy=tpu",))],
    "cpu_devices": [case("0"), case("-1")],
    "jit_compile": [WRONG_BOOL],
    "verbose": [case("3"), case("-1")],
}
CIFAR_BASE = {"data": "{npz}", "validation_size": "8", "batch_size": "4", "train_steps": "2", "eval_every": "2"}

CASES = {
    "cifar10": {
        **CIFAR_SHARED,
        "model": [
            case("resnet21"),
            case("resnet"),
            case("dense20"),
            case("resnet7", workdir="{run}", expect="unknown --model 'resnet7'"),
        ],
        # 3 over the two CPU devices JAX sees in the runner (`tests/test_recipe_flags.py` sets XLA_FLAGS):
        "batch_size": CIFAR_SHARED["batch_size"]
        + [case("3", strategy="mirrored", expect="does not divide across 2 replicas")],
    },
    "degradation": {
        **CIFAR_SHARED,
        "families": [case("dense"), case("")],
        "depths": [case("21"), case("a"), case("0"), case("-4")],
        "responses": [WRONG_BOOL],
        "shortcut": [case("D")],
    },
    "imagenet": {
        "model": [case("resnet21"), case("nosuch")],
        "shortcut": [case("D"), case("A", model="plain18")],
        "bottleneck_stride": [case("2x2")],
        "weights": [case(v, mode="eval", model="resnet50") for v in ("nosuch", "{missing}", "{text}", "{folder}")]
        + [
            case("msra", mode="eval", model="resnet34", expect="No 'msra' weights for resnet34"),
            case(
                "imagenet",
                model="resnet18",
                names=("--weights", "--mode=eval"),  # --mode=train
                expect="--weights evaluates published weights (--mode=eval)",
            ),
            case("imagenet", mode="eval", model="tiny", names=("--model tiny",), expect="has no published weights"),
        ],
        "init_weights": [case(v, model="resnet50") for v in ("nosuch", "{missing}", "{text}", "{folder}")]
        + [case("msra", model="resnet18")],  # resnet18 has torchvision's weights only
        "mode": [case("predict", expect="value should be one of <train|eval>")],
        "eval_protocol": [case("5crop", expect="value should be one of <center|10crop|multiscale>")],
        "eval_images": [case("0"), case("-1"), case("many", expect="invalid literal for int()")],
        "data_dir": [
            case("{missing}", image_folder=None, expect="does not exist"),
            case("{text}", image_folder=None),
            case("{folder}", image_folder=None, expect="holds no prepared imagenet2012"),
        ],
        "manual_dir": [
            case("{missing}", image_folder=None, expect="does not exist"),
            case("{text}", image_folder=None, expect="is a file"),
        ],
        "image_folder": [case("{missing}"), case("{text}"), case("{folder}", expect="has no train/ folder")],
        "tfrecords": [
            case("{missing}", image_folder=None),
            case("{text}", image_folder=None),
            case("{text_tfrecords}", image_folder=None),
        ],
        "tfrecord_label_offset": [case("abc"), case("1.5")],  # any integer: the pipeline checks the labels it makes
        "classes": [case("0"), case("-1")],
        "workdir": [case("{text}"), case("{text}/run"), case("{missing}", mode="eval")],
        "strategy": [case("gpu", expect="value should be one of"), case("tpu", expect="no TPU on this machine")],
        "tpu": [case("nosuch-tpu", expect="--strategy=tpu --tpu=nosuch-tpu: cannot connect to the TPU: no Cloud TPU")],
        "cpu_devices": [case("0"), case("-1")],
        "batch_size": [
            case("0"),
            case("-1"),  # 3 over the runner's two logical CPUs (`--cpu_devices=2`):
            case("3", strategy="mirrored", expect="does not divide across 2 replicas"),
        ],
        "train_steps": [case("0"), case("-1")],
        "eval_every": [case("0"), case("-1")],
        "schedule": [case("cosine")],
        "linear_scaling": [WRONG_BOOL],
        "no_bias_decay": [WRONG_BOOL],
        "mixed_precision": [case("fp8")],
        "jit_compile": [WRONG_BOOL],
        "mean": [case("median")],
        "mean_images": [case("0"), case("-5"), case("all")],
        "shuffle_buffer": [case("0"), case("-1")],
        "interleave_files": [case("0"), case("1.5")],
        "image_size": [case("0"), case("-1"), case("64")],  # 64: larger than --scale_range's 36
        "scale_range": [case("480,256"), case("1"), case("a,b"), case("0,10")],
        "eval_resize": [case("0"), case("30")],  # 30: smaller than --image_size's 32
        "test_scales": [case("0"), case("a"), case("-224")],
        "seed": [case("-1"), case("4294967296")],
        "overwrite": [WRONG_BOOL],
        "config": [case("huge", expect="value should be one of <paper|smoke>")],
        "learning_rate": [case("-1"), case("0"), case("nan")],
        "momentum": [case("-1"), case("2")],
        "weight_decay": [case("-1"), case("nan")],
        "decoupled_weight_decay": [WRONG_BOOL],
        "max_steps": [case("0")],
        "plateau_factor": [case("0"), case("-0.1")],
        "plateau_patience": [case("0")],
        "step_epochs": [case("a"), case("0")],
        "total_epochs": [case("0")],
        "train_images": [case("0")],
        "reference_batch_size": [case("0")],
        "channel_mean": [case("1,2", expect="takes 3 numbers"), case("a")],
        "pca_lighting_std": [case("-1"), case("nan")],
        "pca_eigval": [case("1,2", expect="takes 3 numbers"), case("a")],
        "pca_eigvec": [case("1,2,3,4", expect="3 a row"), case("1,2,3", expect="takes 3 rows of 3 numbers")],
        "verbose": [case("3")],
    },
}
BASE = {
    "cifar10": {**CIFAR_BASE, "model": "resnet8"},
    "degradation": {**CIFAR_BASE, "families": "residual", "depths": "8"},
    "imagenet": {
        "model": "tiny",
        "image_folder": "{images}",
        "image_size": "32",
        "scale_range": "36,60",
        "eval_resize": "36",
        "test_scales": "32,40",
        "batch_size": "4",
        "eval_every": "2",
        "train_steps": "2",
        "mean": "channel",
    },
}


def data_paths(root):
    """The placeholder → path map (`DATA`) of the cases' data under `root`."""
    paths = {name: os.path.join(root, name) + (".npz" if name.endswith("npz") else "") for name in DATA}
    paths["missing"] = MISSING
    return paths


def write_data(paths):
    """Writes the cases' data at `paths` (`data_paths`)."""
    from keras_resnet.cifar import idx
    from keras_resnet.imagenet import synthetic

    os.makedirs(os.path.dirname(paths["text"]))
    for name in ("text", "text_npz"):
        with open(paths[name], "w") as f:
            f.write("not data\n")
    os.makedirs(paths["folder"])
    rng = np.random.default_rng(0)
    arrays = {
        "x_train": rng.integers(0, 255, (40, 8, 8), dtype="uint8"),
        "y_train": np.arange(40) % 3,
        "x_test": rng.integers(0, 255, (12, 8, 8), dtype="uint8"),
        "y_test": np.arange(12) % 3,
    }
    np.savez(paths["npz"], **arrays)
    np.savez(paths["keys_npz"], images=arrays["x_train"], labels=arrays["y_train"])
    np.savez(paths["labels_npz"], **{**arrays, "y_test": np.where(np.arange(12) == 2, 9, arrays["y_test"])})
    np.savez(paths["shapes_npz"], **{**arrays, "x_test": arrays["x_test"][:, :6, :6]})
    os.makedirs(paths["run"])
    with open(os.path.join(paths["run"], "history.json"), "w") as f:
        f.write("keep\n")
    os.makedirs(paths["idx"])
    for key, name in idx.FILES.items():
        idx.write_idx(os.path.join(paths["idx"], name + ".gz"), arrays[key])
    synthetic.write_image_folder(paths["images"], classes=2, per_class={"train": 2, "val": 2}, shape=(40, 40))
    os.makedirs(paths["text_tfrecords"])
    with open(os.path.join(paths["text_tfrecords"], "train-00000-of-00001"), "w") as f:
        f.write("not a TFRecord\n")


def command_line(recipe, flag, bad, paths, workdir):
    """The case's arguments: the base line, its changes, `--flag=value`, and a fresh workdir."""
    values = {**BASE[recipe], "workdir": workdir, **dict(bad.changes), flag: bad.value}
    return [f"--{name}={value.format(**paths)}" for name, value in values.items() if value is not None]


def load_recipe(recipe):
    spec = importlib.util.spec_from_file_location(f"recipe_{recipe}", os.path.join(ROOT, "recipes", f"{recipe}.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # absl files each flag under the module that defines it, found in sys.modules
    spec.loader.exec_module(module)
    return module


def recipe_flags(module):
    """The flags the recipe module defines or adopts (absl's own, such as --verbosity, excluded)."""
    from absl import flags

    return sorted(f.name for f in flags.FLAGS.get_key_flags_for_module(module.__name__))


@contextlib.contextmanager
def captured_stderr():
    """Collects what Python and native code write to stderr (file descriptor 2) while inside."""
    sys.stderr.flush()
    saved = os.dup(2)
    python_lines = io.StringIO()
    with tempfile.TemporaryFile() as native:
        os.dup2(native.fileno(), 2)
        real, sys.stderr = sys.stderr, python_lines
        result = {}
        try:
            yield result
        finally:
            sys.stderr = real
            real.flush()
            os.dup2(saved, 2)
            os.close(saved)
            native.seek(0)
            result["text"] = native.read().decode(errors="replace") + python_lines.getvalue()


def run_case(module, argv):
    """Parses `argv` and runs `main` as `app.run` would; returns `(exit status, stderr)`."""
    from absl import flags

    from keras_resnet.training import cli as flag_lib

    flags.FLAGS.unparse_flags()
    with captured_stderr() as captured:
        try:
            module.main(flag_lib.parse_flags(["recipe", *argv]))
            status = 0
        except SystemExit as stop:
            if stop.code is None or isinstance(stop.code, int):
                status = stop.code or 0
            else:  # sys.exit("message"): Python prints it and exits with 1.
                print(stop.code, file=sys.stderr)
                status = 1
        except Exception:  # noqa: BLE001 - reported as Python would, as a traceback and status 1.
            traceback.print_exc(file=sys.stderr)
            status = 1
    return status, captured["text"]


def _files(root):
    """Every path under `root`, with the size and modification time of the files."""
    found = {}
    for top, dirs, names in os.walk(root):
        found.update({os.path.join(top, name): None for name in dirs})
        for name in names:
            stat = os.stat(os.path.join(top, name))
            found[os.path.join(top, name)] = (stat.st_size, stat.st_mtime_ns)
    return found


@contextlib.contextmanager
def counted_loops():
    """Counts the training and evaluation loops of `keras.Model` started while inside."""
    import keras

    counts = {"loops": 0}
    names = ("fit", "evaluate", "predict", "train_on_batch", "test_on_batch", "predict_on_batch")
    originals = {name: getattr(keras.Model, name) for name in names}

    def counting(method):
        def run(*args, **kwargs):
            counts["loops"] += 1
            return method(*args, **kwargs)

        return run

    for name, method in originals.items():
        setattr(keras.Model, name, counting(method))
    try:
        yield counts
    finally:
        for name, method in originals.items():
            setattr(keras.Model, name, method)


def run_entry(module, argv):
    """Runs the recipe file's own `if __name__ == "__main__":` block (its `app.run(...)`) with
    `sys.argv` set to `argv`; returns `(exit status, stderr)`."""
    from absl import flags

    with open(module.__file__) as f:
        tree = ast.parse(f.read())
    (block,) = [
        node for node in tree.body if isinstance(node, ast.If) and ast.unparse(node.test) == "__name__ == '__main__'"
    ]
    code = compile(ast.Module(body=block.body, type_ignores=[]), module.__file__, "exec")
    flags.FLAGS.unparse_flags()
    saved, sys.argv = sys.argv, ["recipe", *argv]
    with captured_stderr() as captured:
        try:
            exec(code, vars(module))
            status = 0
        except SystemExit as stop:
            status = stop.code if isinstance(stop.code, int) else 1
        finally:
            sys.argv = saved
    return status, captured["text"]


# One case per recipe run through the recipe's own entry point: a value of the wrong type.
ENTRY = {
    "cifar10": ("train_steps", case("abc")),
    "degradation": ("batch_size", case("1.5")),
    "imagenet": ("mode", case("predict")),
}


def run_and_record(recipe, flag, bad, paths, workdir, root, run):
    """Runs one case with `run(argv)`; returns its record for the report."""
    argv = command_line(recipe, flag, bad, paths, workdir)
    given = dict(arg[2:].split("=", 1) for arg in argv)
    before = _files(root)
    existed = os.path.exists(given["workdir"])
    with counted_loops() as counts:
        status, stderr = run(argv)
    after = _files(root)
    return {
        "flag": flag,
        "value": bad.value.format(**paths),
        "expect": bad.expect,
        "names": bad.names,
        "argv": argv,
        "status": status,
        "stderr": stderr,
        "workdir_created": not existed and os.path.exists(given["workdir"]),
        "written": sorted(set(after) - set(before)),
        "changed": sorted(path for path, stat in before.items() if after.get(path, "gone") != stat),
        "loops": counts["loops"],
    }


def sweep(recipe, root):
    with captured_stderr() as imported:
        module = load_recipe(recipe)
    defined = recipe_flags(module)
    table = CASES[recipe]
    report = {
        "flags": defined,
        "missing": sorted(set(defined) - set(table)),
        "stale": sorted(set(table) - set(defined)),
        "import_stderr": imported["text"],
        "results": [],
    }
    paths = data_paths(os.path.join(root, "data"))
    # First, as in a process of its own (after the import, nothing else has run): the entry case.
    flag, bad = ENTRY[recipe]
    report["entry"] = run_and_record(
        recipe, flag, bad, paths, os.path.join(root, "runs", "entry"), root, lambda argv: run_entry(module, argv)
    )
    if recipe == "imagenet":
        # Two logical CPUs, as `--cpu_devices=2` gives (only possible before TensorFlow's first op),
        # for the cases that need two replicas.
        import tensorflow as tf

        from keras_resnet.training import distribute

        distribute.configure_cpu_devices(2)

        def no_cloud_tpu(tpu=None, **kwargs):  # A Cloud TPU's resolver asks GCE's metadata server: no network.
            raise ValueError(f"no Cloud TPU {tpu} (a test reaches no network)")

        tf.distribute.cluster_resolver.TPUClusterResolver = no_cloud_tpu
    write_data(paths)
    for flag in sorted(set(table) & set(defined)):
        for number, bad in enumerate(table[flag]):
            workdir = os.path.join(root, "runs", f"{flag}-{number}")
            report["results"].append(
                run_and_record(recipe, flag, bad, paths, workdir, root, lambda argv: run_case(module, argv))
            )
    return report


def main(argv):
    recipe, out = argv[1], os.path.abspath(argv[2])
    with tempfile.TemporaryDirectory() as root:
        os.chdir(root)  # A relative path a case writes to (`gs://x` is one) lands where `written` looks.
        report = sweep(recipe, root)
    with open(out, "w") as f:
        json.dump(report, f, indent=1)


if __name__ == "__main__":
    main(sys.argv)
