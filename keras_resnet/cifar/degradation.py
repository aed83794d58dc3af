"""The degradation experiment (Fig. 6, Table 6): plain nets get worse with depth, ResNets don't.

Every net trains on the same data with the same schedule, each in its own sub-directory of the
workdir (so each resumes on its own); then one two-panel figure and one table come out, with
the paper's Table 6 test errors beside the measured ones. A rerun extends an experiment: nets
finished with the same settings are reused, so adding a depth trains only that net, and
`responses=True` on a finished experiment draws Fig. 7 from the trained nets, training nothing.
"""

import dataclasses
import numbers
import os

import keras
import numpy as np

from keras_resnet import architectures, zoo
from keras_resnet import responses as responses_lib
from keras_resnet.cifar import config as config_lib
from keras_resnet.cifar import figures
from keras_resnet.cifar import model as cifar_model
from keras_resnet.cifar.task import CifarTask, load_data
from keras_resnet.errors import RecipeError
from keras_resnet.training import backup, callbacks, distribute, durable, lock, loop, plots, run
from keras_resnet.training.config import check as config_check
from keras_resnet.training.config import replace

FIGURE = "fig6.png"
TABLE_MD = "table6.md"
TABLE_JSON = "table6.json"
RESPONSES_FIGURE = "fig7.png"
RESPONSES_JSON = "fig7.json"
FAMILIES = config_lib.FAMILIES


def experiment_nets(families=FAMILIES, depths=None):
    """The nets to train, as model names, family by family.

    Args:
        families: iterable of `"plain"`, `"residual"`.
        depths: optional iterable of int, used for every family. Defaults to the paper's
            (`config.DEGRADATION_DEPTHS`).

    Returns:
        A list of model names.

    Example:

    >>> experiment_nets()
    ['plain20', 'plain32', 'plain44', 'plain56', 'resnet20', 'resnet32', 'resnet44', 'resnet56', 'resnet110']
    >>> experiment_nets(["residual"], [8, 14])
    ['resnet8', 'resnet14']
    """
    families = list(families)
    if not families or "" in families:
        raise RecipeError("--families names no family: choose plain and/or residual. Received: --families=")
    for family in families:
        if family not in FAMILIES:
            raise RecipeError(f"unknown --families={family}: choose plain and/or residual")
    for depth in depths or ():
        if isinstance(depth, bool) or not isinstance(depth, numbers.Integral) or depth < 8 or (depth - 2) % 6:
            raise RecipeError(
                f"--depths must be CIFAR depths 6n+2 (8, 14, 20, 32, 44, 56, 110, …). Received: --depths={depth}"
            )
    names = [
        architectures.model_name(family, int(depth))
        for family in families
        for depth in depths or config_lib.DEGRADATION_DEPTHS[family]
    ]
    for name in names:
        config_lib.network_entry(name)
    return names


def net_config(config, name):
    """The CIFAR config of the experiment's net `name`: the experiment's settings, no shortcut
    option for a plain net."""
    base = config_lib.CifarConfig(
        **{f.name: getattr(config, f.name) for f in dataclasses.fields(config_lib.CifarConfig)}
    )
    return replace(base, model=name, shortcut=None if zoo.lookup(name).kind == "plain" else config.shortcut)


def run_experiment(config, workdir, data=None, *, overwrite=False, print_fn=print):
    """Trains each net (resuming or reusing finished ones), then writes figure and table.

    Args:
        config: a `DegradationConfig`.
        workdir: str. Each net's run goes to `workdir/<name>`.
        data: optional `CifarData`. Defaults to the data the config names.
        overwrite: bool. Retrain everything, replacing a finished experiment.
        print_fn: callable for progress lines.

    Returns:
        The table rows (also written as markdown and JSON).
    """
    config_check(config)
    nets = experiment_nets(config.families, config.depths)
    for name in nets:
        net_config(config, name).check()
    distribute.resolve_runtime(config.runtime)  # A strategy that cannot run here stops it before anything is written.
    data = data if data is not None else load_data(config)
    task = CifarTask(data)
    task.load(config, None)  # The batch fits the data.
    finished = {} if overwrite else finished_nets(config, workdir, task, nets)
    run.make_workdir(workdir)
    with lock.held(workdir):  # Each net's run holds its own folder too.
        durable.write_json(os.path.join(workdir, run.RUN_CONFIG), run.record(config, {"nets": nets}))
        to_train = [name for name in nets if name not in finished]
        print_fn(
            f"Degradation experiment in {workdir}: {len(nets)} nets ({', '.join(nets)}); "
            + (f"reusing {', '.join(finished)}, finished earlier; " if finished else "")
            + (f"training {', '.join(to_train)}" if to_train else "nothing to train"),
            flush=True,
        )
        results = {}
        for name in nets:
            if name in finished:
                results[name] = finished[name]
                continue
            print_fn(f"== {name} ==", flush=True)
            keras.backend.clear_session()
            results[name] = loop.train_and_evaluate(
                task, net_config(config, name), os.path.join(workdir, name), overwrite=overwrite, print_fn=print_fn
            )
        histories = {name: callbacks.read_history(os.path.join(workdir, name, callbacks.HISTORY_JSON)) for name in nets}
        figures.plot_degradation(
            {n: h for n, h in histories.items() if zoo.lookup(n).kind == "plain"},
            {n: h for n, h in histories.items() if zoo.lookup(n).kind != "plain"},
            os.path.join(workdir, FIGURE),
            title=plots.run_title(data.name, config.train_steps, config.batch_size),
        )
        rows = table_rows(results)
        durable.write_text(os.path.join(workdir, TABLE_MD), markdown_table(rows, config.train_steps, data.name) + "\n")
        if config.responses:
            layer_responses(config, workdir, data, nets, print_fn=print_fn)
        durable.write_json(os.path.join(workdir, TABLE_JSON), rows)
    return rows


def finished_nets(config, workdir, task, nets):
    """The nets of `nets` that finished in `workdir` with the settings asked for now, by name to
    their metrics; a net finished with other settings is refused in one line (its results would
    be mixed with runs of another schedule or data). The replica count it ran on is not compared:
    a net finished on other devices is kept."""
    finished = {}
    for name in nets:
        net_dir = os.path.join(workdir, name)
        metrics = run.load_metrics(net_dir)
        if metrics is None:
            continue
        settings = net_config(config, name)
        period = run.steps_per_period(settings.train_steps, settings.eval_every)
        planned = run.record(settings, {**task.facts(settings, None), "period": period})
        changes = run.changed_settings(run.load_run_config(net_dir) or {}, planned, ignore=("facts.replicas",))
        if changes:
            raise RecipeError(
                f"--workdir {workdir} holds {name} finished with other settings ({', '.join(changes)}); "
                "rerun with its settings to extend the experiment, or pass --overwrite to retrain every net"
            )
        finished[name] = metrics
    return finished


def layer_responses(config, workdir, data, nets, print_fn=print):
    """Fig. 7: the std of each 3×3 layer's response on the test split, for each trained net.

    Each net is rebuilt with its last checkpoint; the test images minus the training mean go
    through it in inference mode (`keras_resnet.layer_responses`). Writes `fig7.png` (layer order
    and sorted) and `fig7.json` (per net: layers, stds, their mean; the paper's two claims).

    Returns:
        dict: `{"nets": {name: {"layers", "std", "mean_std"}}, "claims": [sentences]}`.
    """
    images = data.x_test.astype("float32") - np.asarray(data.mean, "float32")
    results = {}
    for name in nets:
        keras.backend.clear_session()
        model = cifar_model.create_model(net_config(config, name), data)
        model.load_weights(os.path.join(workdir, name, backup.CHECKPOINT))
        stds = responses_lib.layer_responses(model.get_layer(name), images, batch_size=config.batch_size)
        results[name] = {
            "layers": list(stds),
            "std": list(stds.values()),
            "mean_std": float(np.mean(list(stds.values()))),
        }
    summary = {"nets": results, "claims": response_claims({n: r["mean_std"] for n, r in results.items()})}
    figures.plot_responses(
        {n: r["std"] for n, r in results.items()},
        os.path.join(workdir, RESPONSES_FIGURE),
        title=f"{plots.run_title(data.name, config.train_steps, config.batch_size)}; {len(images):,} test images",
    )
    durable.write_json(os.path.join(workdir, RESPONSES_JSON), summary)
    print_fn(
        "Fig. 7, mean std of the 3×3 layer responses: "
        + ", ".join(f"{n} {r['mean_std']:.3f}" for n, r in results.items()),
        flush=True,
    )
    for sentence in summary["claims"]:
        print_fn(sentence, flush=True)
    return summary


def response_claims(mean_stds):
    """Fig. 7's two claims as sentences, from each net's mean response std.

    Example:

    >>> for line in response_claims({"plain20": 1.2, "resnet20": 0.8, "resnet56": 0.9}):
    ...     print(line)
    Fig. 7: the paper finds a ResNet's responses smaller than its plain twin's; here resnet20's mean std is 0.800 and plain20's 1.200: the claim holds in this run.
    Fig. 7: the paper finds deeper ResNets' responses smaller; here resnet56's mean std is 0.900 and resnet20's 0.800: the claim does not hold in this run.
    """
    entries = {name: zoo.lookup(name) for name in mean_stds}
    sentences = []
    for name, value in mean_stds.items():
        twin = architectures.model_name("plain", entries[name].depth)
        if entries[name].kind == "residual" and twin in mean_stds:
            sentences.append(
                "Fig. 7: the paper finds a ResNet's responses smaller than its plain twin's; here "
                f"{name}'s mean std is {value:.3f} and {twin}'s {mean_stds[twin]:.3f}: {_held(value < mean_stds[twin])}."
            )
    resnets = sorted((n for n in mean_stds if entries[n].kind == "residual"), key=lambda n: entries[n].depth)
    if len(resnets) >= 2:
        shallow, deep = resnets[0], resnets[-1]
        sentences.append(
            "Fig. 7: the paper finds deeper ResNets' responses smaller; here "
            f"{deep}'s mean std is {mean_stds[deep]:.3f} and {shallow}'s {mean_stds[shallow]:.3f}: "
            f"{_held(mean_stds[deep] < mean_stds[shallow])}."
        )
    return sentences


def _held(holds):
    return "the claim holds in this run" if holds else "the claim does not hold in this run"


def table_rows(results):
    """One row per net: measured final training/test error (%) and Table 6's test error.

    Example:

    >>> table_rows({"resnet20": {"train_error": 0.05, "test_error": 0.09, "steps": 10}})
    [{'net': 'resnet20', 'steps': 10, 'train_error': 5.0, 'test_error': 9.0, 'paper_test_error': 8.75}]
    """
    rows = []
    for name, metrics in results.items():
        rows.append(
            {
                "net": name,
                "steps": metrics.get("steps"),
                "train_error": _percent(metrics.get("train_error")),
                "test_error": _percent(metrics.get("test_error")),
                "paper_test_error": config_lib.TABLE6_TEST_ERROR.get(name),
            }
        )
    return rows


def _percent(value):
    return None if value is None else round(100 * float(value), 2)


def markdown_table(rows, train_steps, data_name=""):
    """The table as markdown, with the paper's Table 6 column and a line on the two claims.

    Example:

    >>> rows = [{"net": "plain20", "steps": 8, "train_error": 10.0, "test_error": 12.0, "paper_test_error": None},
    ...         {"net": "plain56", "steps": 8, "train_error": 20.0, "test_error": 22.0, "paper_test_error": None}]
    >>> print(markdown_table(rows, 8).splitlines()[-1])
    Fig. 6, plain nets: the paper finds the deeper net trains worse; here plain56 ends at 20.00% training error and plain20 at 10.00%: the claim holds in this run.
    """

    def cell(value):
        return "—" if value is None else f"{value:.2f}"

    lines = [
        f"Final errors (%) after {train_steps} iterations{' on ' + data_name if data_name else ''}; "
        "paper: Table 6 (CIFAR-10, 64k iterations; plain nets are only plotted in Fig. 6).",
        "",
        "| net | training error | test error | paper test error |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {r['net']} | {cell(r['train_error'])} | {cell(r['test_error'])} | {cell(r['paper_test_error'])} |"
        for r in rows
    ]
    for sentence in claims(rows):  # Each its own paragraph in Markdown.
        lines += ["", sentence]
    return "\n".join(lines)


# Fig. 6's claim for each family: whether its deepest net's final training error should be above
# its shallowest's (plain nets degrade) or not (ResNets do not).
PAPER_FINDS = {"plain": ("plain nets", "trains worse", True), "residual": ("ResNets", "trains no worse", False)}


def claims(rows):
    """Fig. 6's claims, each family's deepest net against its shallowest, as sentences that say
    what the paper found, what this run measured, and whether the claim held.

    >>> rows = [{"net": "resnet20", "train_error": 19.08}, {"net": "resnet56", "train_error": 30.26}]
    >>> print(claims(rows)[0])
    Fig. 6, ResNets: the paper finds the deeper net trains no worse; here resnet56 ends at 30.26% training error and resnet20 at 19.08%: the claim does not hold in this run.
    """
    sentences = []
    for kind in FAMILIES:
        family = sorted(
            (r for r in rows if zoo.lookup(r["net"]).kind == kind and r["train_error"] is not None),
            key=lambda r: zoo.lookup(r["net"]).depth,
        )
        if len(family) < 2:
            continue
        shallow, deep = family[0], family[-1]
        label, finding, deeper_worse = PAPER_FINDS[kind]
        worse = deep["train_error"] > shallow["train_error"]
        sentences.append(
            f"Fig. 6, {label}: the paper finds the deeper net {finding}; here {deep['net']} ends at "
            f"{deep['train_error']:.2f}% training error and {shallow['net']} at {shallow['train_error']:.2f}%: "
            f"{_held(worse == deeper_worse)}."
        )
    return sentences
