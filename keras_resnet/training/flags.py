"""Command lines for the recipes: flags made from a config's fields (`define_config_flags`,
`config_changes`), so a field is declared once, with its doc and its default, in its config
dataclass; the run flags every recipe shares (`define_run_flags`); and the one way every recipe
reports a bad input: one line on stderr, `error: …`, exit status 2.

Example:

>>> from keras_resnet.cifar import config
>>> field_help(config.CifarConfig)["train_steps"], field_help(config.CifarConfig)["momentum"]
('Iterations to train.', 'SGD momentum.')
"""

import contextlib
import dataclasses
import importlib.util
import math
import re
import sys

from absl import flags

from keras_resnet import tf_startup
from keras_resnet.training.run import PRECISIONS

USAGE_ERROR = 2  # The exit status of a bad command line, as argparse and absl's own usage errors.
# numpy's and Keras' seeding accept exactly this range; outside it they raise mid-run.
SEED_RANGE = (0, 2**32 - 1)


def fail(message):
    """Prints `error: <message>` (its first line) on stderr and exits with status 2."""
    lines = str(message).strip().splitlines()
    print(f"error: {lines[0] if lines else type(message).__name__}", file=sys.stderr)
    sys.exit(USAGE_ERROR)


@contextlib.contextmanager
def one_line_errors(*kinds):
    """A context in which an exception of `kinds` ends the program through `fail`.

    The recipes wrap their `main` in it with their one-line error types (`run.RecipeError`,
    `datasets.DataError`, …); anything else is a bug and keeps its traceback.
    """
    try:
        yield
    except kinds as error:
        fail(error)


def parse_flags(argv):
    """absl's flag parser with bad values as one line (`error: flag --x=y: …`) and exit status 2.

    For `app.run(main, flags_parser=parse_flags)`; absl's own parser prints a traceback-like
    block and exits with 1. Then it starts TensorFlow where installed (tf.data feeds every
    backend, and Keras loads it to save a model), with its start-up lines held to
    `TF_CPP_MIN_LOG_LEVEL` (`tf_startup.import_tensorflow`).
    """
    try:
        argv = flags.FLAGS(argv)
    except flags.Error as error:
        fail(error)
    if _workdir_needed and flags.FLAGS.workdir is None and _workdir_needed(flags.FLAGS):
        fail(WORKDIR_REQUIRED)
    tf_startup.quiet_jax_platform_probe()
    if importlib.util.find_spec("tensorflow"):
        tf_startup.import_tensorflow()
    return argv


def check_shortcut(name, kind, shortcut):
    """Raises `RecipeError` for a `--shortcut` the net `name` of `kind` cannot take."""
    from keras_resnet import blocks
    from keras_resnet.training.run import RecipeError

    if shortcut is not None and kind == "plain":
        raise RecipeError(
            f"plain nets have no shortcuts; drop --shortcut. Received: --shortcut={shortcut} --model={name}"
        )
    if shortcut is not None and shortcut not in blocks.SHORTCUTS:
        raise RecipeError(
            f"--shortcut must be one of {', '.join(blocks.SHORTCUTS)} (Sec. 3.3). Received: --shortcut={shortcut}"
        )


WORKDIR_REQUIRED = "--workdir is required: the directory of the run's outputs (rerun with the same one to resume)"
_workdir_needed = None  # Set by `define_run_flags`; `parse_flags` asks it.


def define_run_flags(required_workdir=True):
    """The flags of a run that every recipe has: `--workdir`, `--seed`, `--mixed_precision`, `--overwrite`.

    `required_workdir`: whether a run needs `--workdir`, or a function of the parsed flags that says so;
    `parse_flags` refuses its absence in one line (`WORKDIR_REQUIRED`), the same in every recipe.
    """
    global _workdir_needed
    _workdir_needed = required_workdir if callable(required_workdir) else (lambda values: required_workdir)
    flags.DEFINE_string("workdir", None, "Directory for history, checkpoints, backup, metrics and plots.")
    flags.DEFINE_integer(
        "seed",
        0,
        "Seeds initialisation, shuffling and augmentation.",
        lower_bound=SEED_RANGE[0],
        upper_bound=SEED_RANGE[1],
    )
    flags.DEFINE_enum(
        "mixed_precision",
        "none",
        list(PRECISIONS),
        "Mixed precision: none, bf16 or fp16 (arXiv 1710.03740). Not in the paper.",
    )
    flags.DEFINE_bool("overwrite", False, "Replace a finished (or stopped) run in --workdir.")


def define_cpu_devices_flag():
    """`--cpu_devices`: the CPU split into that many logical TensorFlow devices
    (`distribute.configure_cpu_devices`), to run `mirrored` without GPUs."""
    flags.DEFINE_integer(
        "cpu_devices",
        None,
        "Split the CPU into this many logical devices (to try mirrored without GPUs).",
        lower_bound=1,
    )


_ARG = re.compile(r"^ {8}(\w+): ([^.]*)\. (.*)$")


def field_help(config_class):
    """Each field's description from the `Args:` of the config class's docstring (and its bases'):
    the text after the type, without its `Defaults to` sentence."""
    helps = {}
    for cls in reversed(config_class.__mro__):
        lines = (cls.__doc__ or "").splitlines()
        name = None
        for line in lines:
            match = _ARG.match(line)
            if match:
                name = match.group(1)
                helps[name] = match.group(3)
            elif name and line.startswith(" " * 12):
                helps[name] += " " + line.strip()
            else:
                name = None
    return {k: re.sub(r"\s*Defaults to .*$", "", v).strip() for k, v in helps.items()}


def define_config_flags(config_class, names, choices=None, minimums=None, positive=()):
    """Defines one flag per field in `names` of `config_class`, its help its docstring entry, its
    default the config's (shown by `--help`), its type the default's.

    Integers are at least 1 unless `minimums` says otherwise; floats finite and at least 0 (above
    0 for the fields in `positive`), strings restricted to `choices` where given, tuples of
    integers a list of positive integers (`config_changes` parses them).

    Args:
        config_class: a config dataclass.
        names: iterable of field names.
        choices: optional dict of field name to the values it accepts.
        minimums: optional dict of integer field name to the smallest value it accepts.
        positive: iterable of float field names that must be above 0.
    """
    choices, minimums = choices or {}, minimums or {}
    defaults = config_class()
    helps = field_help(config_class)
    fields = {f.name: f for f in dataclasses.fields(config_class)}
    for name in names:
        default, kind, text = getattr(defaults, name), fields[name].type, helps.get(name, "")
        kind = kind if isinstance(kind, str) else kind.__name__
        if kind == "bool" or isinstance(default, bool):
            flags.DEFINE_bool(name, default, text)
        elif name in choices:
            flags.DEFINE_enum(name, default, list(choices[name]), text)
        elif kind == "int":
            flags.DEFINE_integer(name, default, text, lower_bound=minimums.get(name, 1))
        elif kind == "float":
            flags.DEFINE_float(name, default, text)
            if name in positive:
                flags.register_validator(
                    name, lambda v: v is not None and math.isfinite(v) and v > 0, "must be a positive number"
                )
            else:
                flags.register_validator(
                    name, lambda v: v is not None and math.isfinite(v) and v >= 0, "must be a number >= 0"
                )
        elif kind == "tuple":
            flags.DEFINE_list(name, [str(v) for v in default], text)
        else:
            flags.DEFINE_string(name, default, text)


def config_changes(config_class, names, values, only_present=False):
    """The fields of `names` as the flags `values` give them (tuples parsed to positive integers):
    a `RecipeError` naming the flag for a list that is not one.

    Args:
        only_present: bool. Only flags given on the command line. Defaults to `False`.
    """
    from keras_resnet.training.run import RecipeError

    kinds = {f.name: f.type if isinstance(f.type, str) else f.type.__name__ for f in dataclasses.fields(config_class)}
    changes = {}
    for name in names:
        if only_present and not values[name].present:
            continue
        value = values[name].value
        if kinds[name] == "tuple":
            try:
                value = tuple(int(v) for v in value)
            except ValueError:
                value = ()
            if not value or min(value) < 1:
                raise RecipeError(
                    f"--{name} takes positive integers, comma-separated. Received: --{name}={','.join(values[name].value)}"
                )
        changes[name] = value
    return changes
