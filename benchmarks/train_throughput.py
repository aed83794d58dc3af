"""Training images/s and peak memory: the recipes' `fit` against a bare compiled step and peers.

    KERAS_BACKEND=jax python benchmarks/train_throughput.py --preset=cpu --json_out=train_throughput.json
    KERAS_BACKEND=jax python benchmarks/train_throughput.py --precision=mixed_bfloat16 --json_out=gpu.json

(`PYTHONPATH=.` from the repository root where the package is not installed.)

For each net (ResNet-18/34/50/101/152 of the ImageNet family, CIFAR ResNet-20/56/110) and path:

- (a) `recipe`: the recipe's own training path. CIFAR: `keras_resnet.cifar` (`model.create_model`,
  `task.compile_model`, `model.fit` on the recipe's stream of uint8 batches, `streams.train_stream`;
  mean and pad/crop/flip run inside the compiled step). ImageNet: `keras_resnet.imagenet`'s compile
  settings, its model (`model.recipe_model`: lighting and mean inside the step) and `model.fit`
  fed by its tf.data pipeline (`input_pipeline.train_dataset`) on generated JPEGs
  (`synthetic.write_image_folder`; window decode, scale augmentation, crop, flip, uint8 crops and
  lighting α); `--imagenet_input=tensors`: one such batch repeated by tf.data; `arrays`: host
  numpy batches (the default where TensorFlow is not installed). Both with the recipes' callbacks
  (`callbacks.make_callbacks`); the timer runs from the end of each `fit`'s first step to the
  epoch's end, their start-up, checkpoints and that first step left out (once a run and once a period).
- (b) `bare`: a compiled train step of the same network (`benchmarks/steps.py`), one batch
  already on the device, no metrics, callbacks or input pipeline (CIFAR: no augmentation).
- (c) `keras_apps`: `keras.applications` ResNet50/101/152 through the same bare step.
- (d) `torch_compile`: the same net in PyTorch (`steps.torch_peer`: torchvision's ResNet where
  torchvision loads, else `torch_nets.py`'s, which is the paper's v1 layout; CIFAR nets always
  `torch_nets.py`'s option-A net) under `torch.compile`, channels-last, SGD with momentum and weight
  decay, autocast for the mixed precisions; "not installed" where PyTorch is missing.
- (e) `torch_eager`: the same PyTorch net and step, eager.

Every (net, path) runs in a process of its own, so peak memory is its own: the accelerator's peak
bytes in use, or on a CPU the process's peak resident set size (the table says which). Ratios are
to (b), (d) and (e) of the same net; with `--rounds=N` the paths of a net take N turns each,
alternating within seconds, and a ratio is the median of the N rounds' ratios. The timed steps
follow `--warmup_steps` untimed ones that compile.
TensorFlow runs as in the recipes (`tf_startup.recipe_environment`: oneDNN on an x86 CPU unless
`TF_ENABLE_ONEDNN_OPTS=0`).
"""

import dataclasses
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

from absl import app, flags

from keras_resnet import tf_startup

tf_startup.recipe_environment()

IMAGENET_DEFAULT_MODELS = ["resnet18", "resnet34", "resnet50", "resnet101", "resnet152"]
CIFAR_DEFAULT_MODELS = ["resnet20", "resnet56", "resnet110"]
KERAS_APPLICATIONS = {"resnet50": "ResNet50", "resnet101": "ResNet101", "resnet152": "ResNet152"}
TORCH_DEPTHS = (18, 34, 50, 101, 152)
PATHS = {"a": "recipe", "b": "bare", "c": "keras_apps", "d": "torch_compile", "e": "torch_eager"}
PRESETS = {
    # Small enough for a 2-core CPU in a few minutes; the ratios, not the absolute figures, carry over.
    "cpu": dict(
        models=["resnet50", "resnet20", "resnet56"],
        batch_size=None,
        image_size=64,
        steps=10,
        warmup_steps=3,
        repeats=3,
        imagenet_batch_size=16,
        cifar_batch_size=32,
    ),
    "full": dict(
        models=IMAGENET_DEFAULT_MODELS + CIFAR_DEFAULT_MODELS,
        batch_size=None,
        image_size=224,
        steps=50,
        warmup_steps=5,
        repeats=1,
        imagenet_batch_size=256,
        cifar_batch_size=128,
    ),
}

FLAGS = flags.FLAGS
flags.DEFINE_enum("preset", "full", list(PRESETS), "Defaults for models, batch, image size and steps.")
flags.DEFINE_list("models", None, "Nets; ImageNet ones are the zoo's resnet18…152, others CIFAR (resnet20…).")
flags.DEFINE_integer(
    "batch_size",
    None,
    "Batch for every net. Defaults to 256 for ImageNet nets and 128 for CIFAR (--preset=cpu: 16 and 32).",
)
flags.DEFINE_integer("image_size", None, "Side of the ImageNet nets' training crop (224 in the paper).")
flags.DEFINE_enum("precision", "float32", ["float32", "mixed_bfloat16", "mixed_float16"], "Keras dtype policy.")
flags.DEFINE_integer("steps", None, "Timed steps per run.")
flags.DEFINE_integer("warmup_steps", None, "Untimed steps before the timed ones (the first compiles).")
flags.DEFINE_integer("repeats", None, "Times the timed steps run in each process; the fastest counts.")
flags.DEFINE_list(
    "paths",
    ["a", "b", "c", "d", "e"],
    "Paths to run: a=recipe fit, b=bare step, c=keras.applications, d=PyTorch peer + torch.compile, "
    "e=PyTorch peer eager.",
)
flags.DEFINE_enum(
    "imagenet_input",
    None,
    ["jpeg", "tensors", "arrays"],
    "Recipe (a) input for ImageNet nets: the "
    "tf.data pipeline on generated JPEGs, one pre-decoded batch repeated by tf.data, or host numpy "
    "batches (no TensorFlow needed). Defaults to jpeg, or arrays where TensorFlow is not installed.",
)
flags.DEFINE_enum(
    "recipe_jit_compile",
    "recipe",
    ["recipe", "auto", "true", "false"],
    "`jit_compile` of the "
    "ImageNet recipe's `compile` in (a): the recipe's own default, or this value (to measure a change).",
)
flags.DEFINE_bool(
    "recipe_callbacks",
    True,
    "Run (a) with the recipes' callbacks (`callbacks.make_callbacks`: NaN "
    "guard, history, checkpoint, backup; the ResNet-110 warm-up) as they train.",
)
flags.DEFINE_integer(
    "rounds",
    1,
    "Turns of each (net, path) (a, b, …, then b, …, a: each a fastest of --repeats runs of --steps steps); a row "
    "is its fastest turn, a ratio the median of the rounds' ratios. Above 1, a net's processes live side by side "
    "and their turns alternate within seconds: on a machine whose speed drifts (a shared VM), paths measured "
    "one after the other in long blocks compare badly.",
)
flags.DEFINE_string("json_out", None, "Write the rows and settings here as JSON.")
flags.DEFINE_string("row", None, "Internal: serve one `model:path` in this process (`serve_row`).")

_ROW_PREFIX = "THROUGHPUT_ROW "


def settings():
    """The effective settings: the preset, overridden by the flags given."""
    preset = PRESETS[FLAGS.preset]
    values = {
        key: getattr(FLAGS, key, None) if getattr(FLAGS, key, None) is not None else default
        for key, default in preset.items()
    }
    values.update(
        precision=FLAGS.precision,
        paths=[p.strip() for p in FLAGS.paths],
        recipe_jit_compile=FLAGS.recipe_jit_compile,
        recipe_callbacks=FLAGS.recipe_callbacks,
        rounds=FLAGS.rounds,
        imagenet_input=FLAGS.imagenet_input or ("jpeg" if tensorflow_installed() else "arrays"),
    )
    unknown = sorted(set(values["paths"]) - set(PATHS))
    if unknown:
        raise app.UsageError(f"--paths takes a, b, c, d, e. Received: {','.join(unknown)}")
    return values


def family(name):
    """`"imagenet"` or `"cifar"`: the registry's word for the net (any CIFAR depth 6n+2 too)."""
    from keras_resnet import zoo

    return zoo.lookup(name).family


def tensorflow_installed():
    return importlib.util.find_spec("tensorflow") is not None


def imagenet_network(name, cfg):
    """The zoo net as the recipe builds it (logits, coupled L2: `imagenet.model.create_network`)."""
    from keras_resnet.imagenet import model

    return model.create_network(name, 1000, cfg)


def batch_for(name, values):
    if values["batch_size"]:
        return values["batch_size"]
    return values[f"{family(name)}_batch_size"]


class _Timer:
    """Seconds from the end of the first step of one `fit` call to the end of its epoch (the
    device waited for). Left out, as they happen once per run or per evaluation period of
    thousands of steps in a real run: the callbacks' work at the start of training and at the
    epoch's end (evaluation, checkpoints), and the first step, which also waits for the stream's
    first batch (its pipeline starts with `fit`'s iterator) and for Keras' first call of the step
    in this `fit` (ResNet-20, batch 32, 2-core CPU: 160–220 ms against a step of 85–125 ms). The
    callbacks' and the stream's work at every later step counts."""

    def __init__(self):
        import keras

        class Callback(keras.callbacks.Callback):
            def on_train_batch_begin(inner, batch, logs=None):
                if batch == 1:
                    self.began = time.perf_counter()

            def on_epoch_end(inner, epoch, logs=None):
                float(logs["loss"])  # Waits for the device.
                self.seconds = time.perf_counter() - self.began

        self.callback = Callback()


def fit_window(model, make_data, steps, warmup_steps, callbacks=(), repeats=1):
    """Runs a first `fit` of `warmup_steps` (compiles); returns the function that times `fit`:
    the seconds of the fastest of `repeats` calls over `steps` (each call runs one untimed step
    first, `_Timer`).

    Args:
        model: a compiled `keras.Model`.
        make_data: zero-argument function returning what `fit` reads.
        steps: int. Timed steps.
        warmup_steps: int. Steps of the untimed first `fit`.
        callbacks: the recipe's callbacks, in every call.
        repeats: int. Timed calls. Defaults to `1`.
    """
    import shutil

    import keras

    model.fit(make_data(), steps_per_epoch=max(1, warmup_steps), epochs=1, verbose=0, callbacks=list(callbacks))

    def window():
        seconds = []
        for _ in range(max(1, repeats)):
            for callback in callbacks:  # The recipe keeps its backup after `fit`: the next must not resume from it.
                if isinstance(callback, keras.callbacks.BackupAndRestore):
                    shutil.rmtree(callback.backup_dir, ignore_errors=True)
            timer = _Timer()
            fit_callbacks = [timer.callback, *callbacks]
            model.fit(make_data(), steps_per_epoch=steps + 1, epochs=1, verbose=0, callbacks=fit_callbacks)
            seconds.append(timer.seconds)
        return min(seconds)

    return window


def recipe_callbacks(values, workdir, warmup=None):
    """The callbacks the recipes train with (`callbacks.make_callbacks`) in `workdir`, or none."""
    if not values["recipe_callbacks"]:
        return []
    from keras_resnet.training import callbacks

    return callbacks.make_callbacks(workdir, None, warmup, None)


def cifar_recipe_and_bare(name, values, path):
    import numpy as np
    from steps import bare_step_window

    from keras_resnet.cifar import arrays, config, datasets, streams, task
    from keras_resnet.cifar import model as cifar_model
    from keras_resnet.training import distribute, optimizers, run, schedules

    batch = batch_for(name, values)
    cfg = config.cifar10(model=name, batch_size=batch)
    rng = np.random.default_rng(0)
    images = max(4 * batch, 512)
    given = {
        "x_train": rng.integers(0, 256, (images, 32, 32, 3), dtype="uint8"),
        "y_train": rng.integers(0, 10, images),
        "x_test": np.zeros((2, 32, 32, 3), "uint8"),
        "y_test": np.arange(2),
    }
    data = datasets.prepare(arrays.check_arrays(given, num_classes=10), full_train=True, name="synthetic")
    run.set_seed(0)
    model = cifar_model.create_model(cfg, data)
    if path == "a":
        warmup = cifar_model.needs_warmup(cfg)
        task.compile_model(model, cfg, warmup=warmup)
        workdir = tempfile.mkdtemp()  # Removed at exit (`serve_row`).
        extra = recipe_callbacks(
            values,
            workdir,
            schedules.WarmupUntilTrainingError(cfg.warmup_until_error, check_every=cfg.warmup_check_every)
            if warmup
            else None,
        )
        window = fit_window(
            model,
            lambda: streams.train_stream(distribute.Resolved("none"), data, batch),
            values["steps"],
            values["warmup_steps"],
            extra,
            values["repeats"],
        )
        return window, {
            "input": "the recipe's stream of in-memory uint8 batches",
            "jit_compile": model.jit_compile,
            "callbacks": [type(c).__name__ for c in extra],
        }
    network = model.layers[-1]  # The net without the preprocessing layers.
    x = data.x_train[:batch].astype("float32") - data.mean
    optimizer = optimizers.make_optimizer(cfg, task.schedule(cfg))
    return bare_step_window(
        network, optimizer, x, data.y_train[:batch], values["steps"], values["warmup_steps"], values["repeats"]
    ), {}


def imagenet_config(values, batch):
    from keras_resnet.imagenet import config

    size = values["image_size"]
    low, high = (round(s * size / 224) for s in config.imagenet().scale_range)
    return config.imagenet(batch_size=batch, image_size=size, scale_range=(low, high), mean="channel")


def imagenet_recipe(name, values):
    """(a) for an ImageNet net: the recipe's compile settings, `fit` fed by its tf.data pipeline."""

    import keras
    import numpy as np

    from keras_resnet.imagenet import model as imagenet_model
    from keras_resnet.training import exact_eval, optimizers

    batch = batch_for(name, values)
    cfg = imagenet_config(values, batch)
    if values["recipe_jit_compile"] != "recipe":
        jit_compile = {"auto": "auto", "true": True, "false": False}[values["recipe_jit_compile"]]
    else:
        jit_compile = cfg.runtime.jit_compile if cfg.runtime.jit_compile is not None else "auto"  # The recipe's.
    keras.utils.set_random_seed(0)
    model = imagenet_model.recipe_model(imagenet_network(name, cfg), cfg, imagenet_model.mean_image(cfg))
    model.compile(
        optimizer=optimizers.make_optimizer(cfg, cfg.scaled_learning_rate()),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        weighted_metrics=exact_eval.weighted_metrics(1000),  # The recipe's metrics.
        jit_compile=jit_compile,
    )
    rng = np.random.default_rng(0)
    x = {
        imagenet_model.IMAGE: rng.integers(0, 256, (batch, cfg.image_size, cfg.image_size, 3)).astype("uint8"),
        imagenet_model.LIGHTING_ALPHA: rng.normal(0, cfg.pca_lighting_std, (batch, 3)).astype("float32"),
    }
    y = rng.integers(0, 1000, batch).astype("int32")
    root = tempfile.mkdtemp()  # Removed at exit (`serve_row`).
    if values["imagenet_input"] == "arrays":

        def make_data():
            while True:
                yield x, y
    elif values["imagenet_input"] == "jpeg":
        from keras_resnet.imagenet import input_pipeline, sources, synthetic

        # JPEGs scaled like ImageNet's typical 375×500 relative to the crop.
        shape = tuple(round(s * values["image_size"] / 224) for s in (375, 500))
        synthetic.write_image_folder(root, classes=4, per_class={"train": max(8, batch // 2)}, shape=shape, jitter=4)
        source = dataclasses.replace(sources.folder_source(root), num_classes=1000)

        def make_data():
            return input_pipeline.train_dataset(source, cfg, batch, seed=0)
    else:
        import tensorflow as tf

        def make_data():
            return tf.data.Dataset.from_tensors((x, y)).repeat().prefetch(tf.data.AUTOTUNE)

    extra = recipe_callbacks(values, os.path.join(root, "workdir"))
    window = fit_window(model, make_data, values["steps"], values["warmup_steps"], extra, values["repeats"])
    return window, {
        "input": values["imagenet_input"],
        "jit_compile": model.jit_compile,
        "callbacks": [type(c).__name__ for c in extra],
    }


def imagenet_bare(name, values, applications=False):
    """(b), or (c) with `applications`: the bare step on random images already on the device."""
    import keras
    import numpy as np
    from steps import bare_step_window

    from keras_resnet.training import optimizers

    batch = batch_for(name, values)
    cfg = imagenet_config(values, batch)
    keras.utils.set_random_seed(0)
    size = values["image_size"]
    if applications:
        network = getattr(keras.applications, KERAS_APPLICATIONS[name])(
            weights=None, input_shape=(size, size, 3), classes=1000, classifier_activation=None
        )
    else:
        network = imagenet_network(name, cfg)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(batch, size, size, 3)).astype("float32")
    y = rng.integers(0, 1000, batch).astype("int32")
    optimizer = optimizers.make_optimizer(cfg, cfg.scaled_learning_rate())
    return bare_step_window(network, optimizer, x, y, values["steps"], values["warmup_steps"], values["repeats"]), {}


def row_window(model, path, values):
    """Builds and warms up one (net, path) in this process; returns `(window, extra)`: `window()`
    times one turn (the fastest of `repeats` runs of `steps` steps, in seconds)."""
    if path in ("d", "e"):
        from steps import torch_window

        from keras_resnet import zoo

        dtype = {"float32": None, "mixed_bfloat16": "bfloat16", "mixed_float16": "float16"}[values["precision"]]
        entry = zoo.lookup(model)
        window, device, origin = torch_window(
            model,
            entry.family,
            entry.depth,
            batch_for(model, values),
            values["image_size"],
            dtype,
            values["steps"],
            values["warmup_steps"],
            values["repeats"],
            compile=path == "d",
        )
        return window, {"device": device, "net": origin}
    import keras

    keras.config.set_dtype_policy(values["precision"])
    if family(model) == "cifar":
        return cifar_recipe_and_bare(model, values, path)
    if path == "a":
        return imagenet_recipe(model, values)
    return imagenet_bare(model, values, applications=path == "c")


def serve_row(model, path, values):
    """The process of one (net, path): builds it, then times one turn for each line read from
    standard input; at the input's end, its extras and peak memory. Each answer is one line."""
    from steps import peak_memory

    with tempfile.TemporaryDirectory() as scratch:
        tempfile.tempdir = scratch  # The recipes' workdirs and generated JPEGs, removed at exit.
        window, extra = row_window(model, path, values)
        print(_ROW_PREFIX + json.dumps({"ready": True}), flush=True)
        for _ in sys.stdin:
            print(_ROW_PREFIX + json.dumps({"seconds": window()}), flush=True)
        memory = peak_memory()
        print(_ROW_PREFIX + json.dumps({"peak_memory_mib": memory[0], "memory_kind": memory[1], **extra}), flush=True)


def skip_reason(model, path):
    """Why a (net, path) has no figure, or `None` when it runs."""
    if path == "c" and model not in KERAS_APPLICATIONS:
        return "n/a"
    if path in ("d", "e"):
        from keras_resnet import zoo

        entry = zoo.lookup(model)
        if entry.kind != "residual" or (entry.family == "imagenet" and entry.depth not in TORCH_DEPTHS):
            return "n/a"
        if importlib.util.find_spec("torch") is None:
            return "not installed"
    return None


class RowProcess:
    """One (net, path) in a process of its own (`serve_row`), which times a turn when asked.
    With `--rounds` above 1 the processes of a net live side by side, each waiting on its input
    while the others run, so that their turns alternate within seconds; JAX and TensorFlow then
    take accelerator memory as they need it rather than most of it at once."""

    def __init__(self, model, path, side_by_side):
        env = dict(os.environ)
        if path in ("d", "e") or side_by_side:  # Keep JAX and TensorFlow from claiming the accelerator's memory.
            env.update(XLA_PYTHON_CLIENT_PREALLOCATE="false", TF_FORCE_GPU_ALLOW_GROWTH="true")
        if path in ("d", "e"):
            env.update(KERAS_BACKEND="torch")
        command = [sys.executable, os.path.abspath(__file__), *sys.argv[1:], f"--row={model}:{path}"]
        self.stderr = tempfile.TemporaryFile("w+")
        self.process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr, text=True, env=env
        )
        self.answer()  # Built and warmed up.

    def answer(self):
        """The next result line of the process; `RuntimeError` with its last error line if it ended."""
        for line in self.process.stdout:
            if line.startswith(_ROW_PREFIX):
                return json.loads(line[len(_ROW_PREFIX) :])
        self.process.wait()
        self.stderr.seek(0)
        lines = [text for text in self.stderr.read().strip().splitlines() if text.strip()]
        raise RuntimeError(lines[-1][:200] if lines else f"exit status {self.process.returncode}")

    def turn(self):
        """Seconds of one turn."""
        self.process.stdin.write("turn\n")
        self.process.stdin.flush()
        return self.answer()["seconds"]

    def close(self):
        """The process's extras and peak memory; it exits."""
        self.process.stdin.close()
        try:
            return self.answer()
        finally:
            self.process.wait()
            self.stderr.close()


def add_ratios(rows):
    """Adds `ratio_to_b`, `ratio_to_d`, `ratio_to_e`: the median over the rounds of the round's
    images/s over that of (b), (d), (e) of the same net (turns seconds apart: the machine's drift
    cancels), or `None`.

    >>> add_ratios([dict(model="m", path="a", runs=[2.0, 3.0, 9.0]), dict(model="m", path="b", runs=[4.0, 3.0, 3.0])])[0]["ratio_to_b"]
    1.0
    """
    runs = {(r["model"], r["path"]): r.get("runs") for r in rows}
    for row in rows:
        for ref in ("b", "d", "e"):
            pairs = list(zip(row.get("runs") or [], runs.get((row["model"], ref)) or []))
            row[f"ratio_to_{ref}"] = statistics.median(own / base for own, base in pairs) if pairs else None
    return rows


def markdown_table(rows, memory_kind):
    """The rows as one markdown table."""
    memory_title = "peak device memory (MiB)" if memory_kind == "device" else "peak host RSS (MiB)"
    lines = [
        f"| net | path | images/s | {memory_title} | × (b) | × (d) | × (e) |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        label = f"({r['path']}) {PATHS[r['path']]}"
        if "images_per_second" not in r:
            lines.append(f"| {r['model']} | {label} | {r.get('status') or r.get('error')} | | | | |")
            continue
        ratios = [f"{r[k]:.2f}" if r.get(k) is not None else "–" for k in ("ratio_to_b", "ratio_to_d", "ratio_to_e")]
        lines.append(
            f"| {r['model']} | {label} | {r['images_per_second']:.1f} | {r['peak_memory_mib']:.0f} | "
            f"{' | '.join(ratios)} |"
        )
    return "\n".join(lines)


def measure_net(model, values, rows):
    """Times each path of one net in turn, `--rounds` times (the order rotated each round), into
    `rows[(model, path)]`: `runs` (images/s of each round), the fastest as `images_per_second`."""
    paths, processes = [], {}
    for path in values["paths"]:
        reason = skip_reason(model, path)
        if reason == "n/a":
            continue
        rows[model, path] = {
            "model": model,
            "family": family(model),
            "path": path,
            "batch_size": batch_for(model, values),
        }
        if reason:
            rows[model, path]["status"] = reason
            print(f"{model} ({path}) {PATHS[path]}: {reason}", flush=True)
        else:
            paths.append(path)
    if not paths:
        return
    side_by_side = values["rounds"] > 1
    images = values["steps"] * batch_for(model, values)
    for round_ in range(values["rounds"]):
        for path in paths[round_ % len(paths) :] + paths[: round_ % len(paths)]:
            row = rows[model, path]
            if "error" in row:
                continue
            try:
                if path not in processes:
                    processes[path] = RowProcess(model, path, side_by_side)
                rate = images / processes[path].turn()
                row.setdefault("runs", []).append(rate)
                row["images_per_second"] = max(row["runs"])
                if not side_by_side:
                    row.update(processes.pop(path).close())
                shown = f"{rate:.1f} images/s"
            except RuntimeError as error:
                processes.pop(path, None)
                row["error"] = shown = str(error)
            turn = f" [round {round_ + 1}/{values['rounds']}]" if side_by_side else ""
            print(f"{model} ({path}) {PATHS[path]}: {shown}{turn}", flush=True)
    for path, process in processes.items():
        try:
            rows[model, path].update(process.close())
        except RuntimeError as error:
            rows[model, path]["error"] = str(error)


def main(argv):
    del argv
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    values = settings()
    if FLAGS.row:
        model, path = FLAGS.row.split(":")
        serve_row(model, path, values)
        return
    backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    print(
        f"backend {backend}, precision {values['precision']}, "
        f"batch {values['batch_size'] or '{imagenet_batch_size} ImageNet / {cifar_batch_size} CIFAR'.format(**values)}, "
        f"ImageNet image {values['image_size']}², best of {values['rounds']} round(s) × {values['repeats']} × {values['steps']} timed steps after {values['warmup_steps']}, "
        f"ImageNet recipe input: {values['imagenet_input']}",
        flush=True,
    )
    rows = {}
    began = time.time()
    for model in values["models"]:
        measure_net(model, values, rows)
    rows = list(rows.values())
    add_ratios(rows)
    kinds = {r["memory_kind"] for r in rows if "memory_kind" in r}
    memory_kind = "device" if kinds == {"device"} else "host_rss"
    table = markdown_table(rows, memory_kind)
    print(table)
    print(f"({time.time() - began:.0f} s)")
    if FLAGS.json_out:
        result = {
            "settings": {
                **values,
                "backend": backend,
                "onednn": os.environ.get("TF_ENABLE_ONEDNN_OPTS"),
                "memory_kind": memory_kind,
                "date": time.strftime("%Y-%m-%d"),
                "command": " ".join(sys.argv),
            },
            "rows": rows,
            "table": table,
        }
        with open(FLAGS.json_out, "w") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    app.run(main)
