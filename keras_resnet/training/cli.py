"""The recipes' command lines: one flag per field of the recipe's config (`define_config_flags`,
`config_from_flags`: a field is declared once, in its config), and the one way a recipe reports
a bad input: one line on stderr, `error: …`, exit status 2.

A recipe's `--config` names the variant its flags change (`paper`, the default, or `smoke`, a
few-minute run on a CPU); a flag given on the command line changes its field, whatever the
variant. Nothing here imports TensorFlow: a bad command line answers at once.
"""

import contextlib
import math
import os
import sys

from absl import app, flags

from keras_resnet import tf_startup
from keras_resnet.errors import RecipeError
from keras_resnet.training import config as config_lib

USAGE_ERROR = 2  # The exit status of a bad command line, as argparse and absl's own usage errors.
WORKDIR_REQUIRED = "--workdir is required: the directory of the run's outputs (rerun with the same one to resume)"
_HELP = ("--help", "-h", "-?", "--helpshort", "--helpfull")


def fail(message):
    """Prints `error: <message>` (its first line) on stderr and exits with status 2."""
    lines = str(message).strip().splitlines()
    print(f"error: {lines[0] if lines else type(message).__name__}", file=sys.stderr)
    sys.exit(USAGE_ERROR)


@contextlib.contextmanager
def one_line_errors(*kinds):
    """A context in which an exception of `kinds` (default: `RecipeError`, and the NaN guard's
    `FloatingPointError`) ends the program through `fail`; anything else is a bug and keeps its
    traceback."""
    try:
        yield
    except kinds or (RecipeError, FloatingPointError) as error:
        fail(error)


def parse_flags(argv):
    """absl's flag parser for `app.run(main, flags_parser=parse_flags)`: `--help` exits with status
    0, a bad value is one line (`error: flag --x=y: …`) with status 2 (absl prints a block and
    exits with 1 for both); a value that starts with `~` is a path in the home folder."""
    if any(arg in _HELP for arg in argv[1:]):
        app.usage(shorthelp=True, writeto_stdout=True, exitcode=0)
    try:
        argv = flags.FLAGS(argv)
    except flags.Error as error:
        fail(error)
    for name in flags.FLAGS:  # `--data_dir=~/x`: the shell expands no `~` after `=`.
        flag = flags.FLAGS[name]
        if flag.present and isinstance(flag.value, str) and flag.value.startswith("~"):
            flag.value = os.path.expanduser(flag.value)
    tf_startup.quiet_jax_platform_probe()
    return argv


def _help(field):
    return field.metadata["help"]


def define_config_flags(config_class, variants, exclude=()):
    """Defines `--config` (one of `variants`, a dict of name to config function; the first is
    the default) and one flag per leaf field of `config_class` but those in `exclude`, its help
    the field's, its default the first variant's."""
    base = next(iter(variants.values()))()
    defaults = config_lib.leaves(base)
    flags.DEFINE_enum(
        "config", next(iter(variants)), list(variants), "The settings the other flags change: " + ", ".join(variants)
    )
    for name, field, kind, _ in config_lib.walk(config_class):
        if name in exclude:
            continue
        default, meta, text = defaults[name], field.metadata, _help(field)
        if kind is bool:
            flags.DEFINE_bool(name, default, text)
        elif config_lib._is_tuple(kind):
            shown = (
                [str(v) for row in default for v in (row if isinstance(row, tuple) else (row,))] if default else None
            )
            flags.DEFINE_list(name, shown, text + (" Row by row." if default and isinstance(default[0], tuple) else ""))
        elif meta["choices"] is not None:
            flags.DEFINE_enum(name, default, list(meta["choices"]), text)
        elif kind is int:
            flags.DEFINE_integer(name, default, text, lower_bound=meta["minimum"], upper_bound=meta["maximum"])
        elif kind is float:
            flags.DEFINE_float(name, default, text)
        else:
            flags.DEFINE_string(name, default, text)


def config_from_flags(values, variants, base=None):
    """The config of the variant `--config` names (or `base`), with every field given on the
    command line changed, checked (`config.check`); a `RecipeError` naming the flag for a value
    its field does not take."""
    base = base if base is not None else variants[values.config]()
    kinds = {name: kind for name, _, kind, _ in config_lib.walk(type(base))}
    defaults = config_lib.leaves(base)
    changes = {}
    for name, kind in kinds.items():
        if name not in values or not values[name].present:
            continue
        value = values[name].value
        if config_lib._is_tuple(kind):
            value = _parse_list(name, value, kind, defaults[name])
        elif kind is float and not math.isfinite(value):
            raise RecipeError(f"--{name} must be a finite number. Received: --{name}={value}")
        changes[name] = value
    config = config_lib.check(config_lib.replace(base, **changes))
    return config.check() if hasattr(config, "check") else config


def _parse_list(name, value, kind, default):
    """A comma-separated flag as its field's tuple: integers, numbers, or rows of numbers as long
    as the default's."""
    element = (kind.__args__ or (int,))[0] if hasattr(kind, "__args__") else int
    if element is str:
        return tuple(value)  # Words: `config.check` holds them to their choices.
    rows = element is not int and element is not float
    parse = float if rows or element is float else int
    what = "integers" if parse is int else "numbers"
    try:
        numbers = tuple(parse(v) for v in value)
    except ValueError:
        numbers = ()
    width = len(default[0]) if rows and default else 1
    if not numbers or len(numbers) % width or (parse is float and not all(math.isfinite(v) for v in numbers)):
        shape = f", {width} a row" if rows else ""
        raise RecipeError(f"--{name} takes {what}, comma-separated{shape}. Received: --{name}={','.join(value)}")
    return tuple(numbers[i : i + width] for i in range(0, len(numbers), width)) if rows else numbers


def require_workdir(values):
    """Raises `RecipeError` where `--workdir` is missing or a URL."""
    from keras_resnet.training import run

    if not values.workdir:
        raise RecipeError(WORKDIR_REQUIRED)
    run.check_local(values.workdir)


def define_run_flags():
    """The flags of an invocation, not of its run: `--workdir` and `--overwrite`."""
    flags.DEFINE_string("workdir", None, "Directory for history, checkpoints, backup, metrics and plots.")
    flags.DEFINE_bool("overwrite", False, "Replace a finished (or stopped) run in --workdir.")
