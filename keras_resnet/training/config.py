"""A run's config: frozen dataclasses whose fields declare, once, their default, their meaning and
what they accept (`option`). A recipe's config holds everything that defines a run; its
`run_config.json` is that config (`to_dict`), and its flags are made from it (`training.cli`).

A config nests groups (`runtime: Runtime`) but its fields' names are flat: `replace(config,
seed=1)` and `--seed=1` both reach `config.runtime.seed`, so no two fields share a name.

Example:

>>> @dataclasses.dataclass(frozen=True)
... class Example(SGDRecipe):
...     train_steps: int = option(100, "Iterations.", minimum=1)
...     runtime: Runtime = Runtime()
>>> config = replace(Example(), train_steps=5, seed=3)
>>> config.train_steps, config.runtime.seed, config.learning_rate
(5, 3, 0.1)
>>> check(replace(config, train_steps=0))
Traceback (most recent call last):
...
keras_resnet.errors.RecipeError: --train_steps must be at least 1. Received: --train_steps=0
"""

import dataclasses
import json
import math
import typing

from keras_resnet.errors import RecipeError

SEED_RANGE = (0, 2**32 - 1)  # What NumPy's and Keras' seeding accept; outside it they fail mid-run.
STRATEGIES = ("auto", "tpu", "mirrored", "multi_worker", "one_device", "none")
# The recipes' one vocabulary of precisions: short names, with Keras' policy names as aliases.
PRECISIONS = {
    "none": "float32",
    "bf16": "mixed_bfloat16",
    "fp16": "mixed_float16",
    "mixed_bfloat16": "mixed_bfloat16",
    "mixed_float16": "mixed_float16",
}


def option(default, help, *, choices=None, minimum=None, maximum=None, positive=False, resume=True):
    """A config field: its default and its help (the flag's), what it accepts, and whether a
    rerun must match it to resume a run (`resume`; not the data's location, say, nor the
    strategy: a run resumes on any topology of as many replicas)."""
    metadata = dict(help=help, choices=choices, minimum=minimum, maximum=maximum, positive=positive, resume=resume)
    return dataclasses.field(default=default, metadata=metadata)


@dataclasses.dataclass(frozen=True)
class Runtime:
    """Where and how a run executes; none of it changes what the paper's recipe computes beyond
    float rounding, but the precision and the seed."""

    strategy: str = option(
        "auto",
        "auto (several workers in TF_CONFIG or JAX processes: multi_worker; several GPUs: mirrored on TensorFlow, "
        "data parallel on JAX; a TPU VM: tpu), tpu, mirrored, multi_worker, one_device or none.",
        choices=STRATEGIES,
        resume=False,
    )
    tpu: typing.Optional[str] = option(
        None, "Cloud TPU name or address for --strategy=tpu; unset: this TPU VM's.", resume=False
    )
    cpu_devices: typing.Optional[int] = option(
        None, "Split the CPU into this many logical devices (to try mirrored without GPUs).", minimum=1, resume=False
    )
    mixed_precision: str = option(
        "none", "none, bf16 or fp16 (Micikevicius et al., arXiv 1710.03740). Not in the paper.", choices=PRECISIONS
    )
    seed: int = option(
        0, "Seeds initialisation, batch order and augmentation.", minimum=SEED_RANGE[0], maximum=SEED_RANGE[1]
    )
    jit_compile: typing.Optional[bool] = option(
        None, "XLA-compile the training step; unset: Keras' choice (always on JAX, on TF with a GPU/TPU).", resume=False
    )
    verbose: int = option(0, "Keras' progress bar: 0 (summary lines only), 1 or 2.", minimum=0, maximum=2, resume=False)


@dataclasses.dataclass(frozen=True)
class SGDRecipe:
    """The optimiser settings both of the paper's recipes share (Sec. 3.4 and Sec. 4.2)."""

    learning_rate: float = option(0.1, "Initial learning rate.", positive=True)
    momentum: float = option(0.9, "SGD momentum.", maximum=1.0)
    weight_decay: float = option(1e-4, "Caffe's weight decay: coupled L2, added to the gradient.")
    decoupled_weight_decay: bool = option(
        False, "Keras' decoupled weight decay (Loshchilov & Hutter, arXiv 1711.05101). Not in the paper."
    )
    no_bias_decay: bool = option(
        False, "Decay the conv and fc kernels only, not biases and BN (arXiv 1812.01187). Not in the paper."
    )

    def replace(self, **changes):
        """A copy with some fields changed (`replace`)."""
        return replace(self, **changes)


def _is_group(kind):
    return isinstance(kind, type) and dataclasses.is_dataclass(kind)


def _hints(cls):
    return typing.get_type_hints(cls)


def walk(config_class):
    """`(name, field, kind, group)` of every leaf field, groups entered (`group`: the names of
    the fields that lead to it); `kind` is the field's annotation without `Optional`."""
    hints = _hints(config_class)
    for field in dataclasses.fields(config_class):
        kind = hints[field.name]
        if typing.get_origin(kind) is typing.Union:
            kind = next(a for a in typing.get_args(kind) if a is not type(None))
        if _is_group(kind):
            for name, inner, inner_kind, group in walk(kind):
                yield name, inner, inner_kind, (field.name, *group)
        else:
            yield field.name, field, kind, ()


def leaves(config):
    """The config's leaf fields by name: `{"learning_rate": 0.1, …, "seed": 0}`."""
    values = {}
    for name, _, _, group in walk(type(config)):
        owner = config
        for step in group:
            owner = getattr(owner, step)
        values[name] = getattr(owner, name)
    return values


def replace(config, **changes):
    """A copy of `config` with leaf fields changed by name, in whichever group they are."""
    known = {name: group for name, _, _, group in walk(type(config))}
    unknown = sorted(set(changes) - set(known))
    if unknown:
        raise TypeError(f"{type(config).__name__} has no field {', '.join(unknown)}")
    direct = {k: v for k, v in changes.items() if not known[k]}
    for group in {known[k][0] for k in changes if known[k]}:
        inner = {k: v for k, v in changes.items() if known[k] and known[k][0] == group}
        direct[group] = replace(getattr(config, group), **inner)
    return dataclasses.replace(config, **direct)


def to_dict(config):
    """The config as JSON gives it back (tuples as lists), groups nested."""
    return json.loads(json.dumps(dataclasses.asdict(config)))


def from_dict(config_class, values):
    """The config of `config_class` that `to_dict` gave `values` (unknown keys are refused)."""
    flat = {}

    def collect(group):
        for key, value in group.items():
            if isinstance(value, dict):
                collect(value)
            else:
                flat[key] = value

    collect(values)
    kinds = {name: kind for name, _, kind, _ in walk(config_class)}
    return replace(config_class(), **{k: _as_tuple(v) if _is_tuple(kinds.get(k)) else v for k, v in flat.items()})


def _is_tuple(kind):
    return kind is tuple or typing.get_origin(kind) is tuple


def _as_tuple(value):
    return tuple(_as_tuple(v) for v in value) if isinstance(value, list) else value


def resumed(config):
    """The leaf fields a rerun must match to resume the run (`option`'s `resume`), by name."""
    return json.loads(
        json.dumps({name: value for name, value in leaves(config).items() if _metadata(config, name)["resume"]})
    )


def _metadata(config, name):
    return next(field.metadata for n, field, _, _ in walk(type(config)) if n == name)


def check(config):
    """Raises `RecipeError` for a field outside what its `option` accepts, in one line naming
    the flag and its value."""
    values = leaves(config)
    for name, field, kind, _ in walk(type(config)):
        value, meta = values[name], field.metadata
        if value is None or not meta:
            continue
        received = f"Received: --{name}={shown(value)}"
        chosen = value if isinstance(value, tuple) else (value,)
        numbers = [v for v in chosen if isinstance(v, (int, float)) and not isinstance(v, bool)]
        if meta["choices"] is not None and not all(v in meta["choices"] for v in chosen):
            raise RecipeError(f"--{name} must be one of {', '.join(meta['choices'])}. {received}")
        if not all(math.isfinite(v) for v in numbers):
            raise RecipeError(f"--{name} must be a finite number. {received}")
        if meta["positive"] and not all(v > 0 for v in numbers):
            raise RecipeError(f"--{name} must be positive. {received}")
        if meta["minimum"] is not None and not all(v >= meta["minimum"] for v in numbers):
            raise RecipeError(f"--{name} must be at least {meta['minimum']}. {received}")
        if meta["maximum"] is not None and not all(v <= meta["maximum"] for v in numbers):
            raise RecipeError(f"--{name} must be at most {meta['maximum']}. {received}")
        if kind is float and isinstance(value, (int, float)) and value < 0 and meta["minimum"] is None:
            raise RecipeError(f"--{name} must be a number >= 0. {received}")
    return config


def shown(value):
    """A field's value as a flag gives it: lists comma-separated, rows flattened, `2.0` as `2`.

    >>> shown(((1.0, 0.5), (2.0, 3.0))), shown(0.1), shown("A")
    ('1,0.5,2,3', '0.1', 'A')
    """
    if isinstance(value, tuple):
        return ",".join(shown(v) for v in value)
    return format(value, "g") if isinstance(value, float) else str(value)


def check_shortcut(name, kind, shortcut):
    """Raises `RecipeError` for a `--shortcut` the net `name` of `kind` cannot take: plain nets
    have none."""
    if shortcut is not None and kind == "plain":
        raise RecipeError(
            f"plain nets have no shortcuts; drop --shortcut. Received: --shortcut={shortcut} --model={name}"
        )
