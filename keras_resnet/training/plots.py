"""Figures in the style of the paper's Fig. 6: error (%) against iterations, thin lines for
training error, bold lines for test error, one colour per net.

Uses matplotlib's object API with the Agg canvas, so it never touches pyplot's global state
and needs no display. Each function returns the `Figure` it wrote. Curves of up to `MARKED_POINTS`
evaluations mark each point, so a run with one evaluation still shows it.
"""

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

_TEST_KEYS = ("test_error", "val_error")
_COLORS = ["tab:orange", "tab:blue", "tab:green", "tab:red", "tab:purple", "tab:brown", "tab:gray"]
MARKED_POINTS = 30


def _marker(points, marker="o"):
    return {"marker": marker, "markersize": 3} if len(points) <= MARKED_POINTS else {}


def run_title(data_name, train_steps, batch_size=None):
    """What a figure says of its run: `"Fashion-MNIST, 2,000 iterations of batch 128"`."""
    batch = f" of batch {batch_size}" if batch_size else ""
    return f"{data_name}, {train_steps:,} iterations{batch}"


def _draw(axes, curves, title):
    # The paper's axis is in units of 1e4 iterations; short runs are shown in plain iterations.
    last = max((r.get("step", 0) for rows in curves.values() for r in rows), default=0)
    unit = 1e4 if last >= 2e4 else 1
    key = None
    for i, (label, rows) in enumerate(curves.items()):
        rows = [r for r in rows if "step" in r]
        color = _COLORS[i % len(_COLORS)]
        steps = [r["step"] / unit for r in rows]
        train = [100 * r["train_error"] for r in rows if "train_error" in r]
        if train:
            axes.plot(steps[: len(train)], train, color=color, linewidth=0.8, linestyle="--", **_marker(train, "x"))
        key = next((k for k in _TEST_KEYS if rows and k in rows[0]), None)
        if key:
            axes.plot(steps, [100 * r[key] for r in rows], color=color, linewidth=2.2, label=label, **_marker(rows))
    if curves:  # Which line is which: the style, once, in grey.
        axes.plot([], [], color="gray", linewidth=0.8, linestyle="--", label="training error (thin, dashed)")
        axes.plot(
            [], [], color="gray", linewidth=2.2, label=f"{'validation' if key == 'val_error' else 'test'} error (bold)"
        )
    axes.set_xlabel("iter. (1e4)" if unit == 1e4 else "iter.")
    axes.set_ylabel("error (%)")
    axes.set_title(title)
    axes.grid(alpha=0.3)
    if curves:
        axes.legend(loc="upper right", fontsize=8)


def plot_curves(curves, path, title=""):
    """Writes one Fig. 6 panel: training (thin, dashed) and test (bold) error of each net.

    Args:
        curves: dict of label to history rows (dicts with `step`, `train_error`, `test_error`).
        path: str. The PNG to write.
        title: str.

    Example:

    >>> import os, tempfile
    >>> rows = [{"step": 100, "train_error": 0.5, "test_error": 0.6}, {"step": 200, "train_error": 0.3, "test_error": 0.4}]
    >>> path = os.path.join(tempfile.mkdtemp(), "curves.png")
    >>> figure = plot_curves({"resnet20": rows}, path, title="resnet20 on MNIST, 200 iterations")
    >>> open(path, "rb").read(4) == b"\\x89PNG", figure.axes[0].get_title()
    (True, 'resnet20 on MNIST, 200 iterations')
    """
    figure = Figure(figsize=(5, 4), dpi=120)
    FigureCanvasAgg(figure)
    _draw(figure.add_subplot(1, 1, 1), curves, title)
    figure.tight_layout()
    figure.savefig(path)
    return figure


def plot_degradation(plain, residual, path, title=""):
    """Writes Fig. 6: plain nets left, residual nets right, on one error scale; a family without
    nets gets no panel.

    Args:
        plain: dict of label to history rows.
        residual: dict of label to history rows.
        path: str. The PNG to write.
        title: str. Above the panels: the data and the run's length (`run_title`).
    """
    panels = [(name, curves) for name, curves in (("plain", plain), ("ResNet", residual)) if curves]
    figure = Figure(figsize=(5 * max(1, len(panels)), 4.4), dpi=120)
    FigureCanvasAgg(figure)
    first = None
    for i, (name, curves) in enumerate(panels):
        axes = figure.add_subplot(1, len(panels), i + 1, sharey=first)
        first = first or axes
        _draw(axes, curves, name)
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path)
    return figure


def plot_responses(responses, path, title=""):
    """Writes Fig. 7: the std of each net's 3×3 layer responses, in layer order (top) and sorted
    in descending order (bottom).

    Args:
        responses: dict of net name to a list of stds (`keras_resnet.layer_responses` values),
            plain nets dashed, residual nets solid, as in the paper.
        path: str. The PNG to write.
        title: str. Above the panels: the data and the run's length (`run_title`).

    Example:

    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "fig7.png")
    >>> figure = plot_responses({"plain8": [1.0, 2.0, 1.5], "resnet8": [1.0, 0.5, 0.7]}, path)
    >>> open(path, "rb").read(4) == b"\\x89PNG"
    True
    """
    figure = Figure(figsize=(6, 6), dpi=120)
    FigureCanvasAgg(figure)
    top, bottom = figure.add_subplot(2, 1, 1), figure.add_subplot(2, 1, 2)
    for i, (name, stds) in enumerate(responses.items()):
        style = {
            "color": _COLORS[i % len(_COLORS)],
            "linewidth": 1.2,
            "label": name,
            "linestyle": "--" if _kind(name) == "plain" else "-",
            **_marker(stds),
        }
        top.plot(range(1, len(stds) + 1), stds, **style)
        bottom.plot(range(1, len(stds) + 1), sorted(stds, reverse=True), **style)
    top.set_xlabel("layer index (original)")
    bottom.set_xlabel("layer index (sorted by magnitude)")
    for axes in (top, bottom):
        axes.set_ylabel("std")
        axes.grid(alpha=0.3)
        if responses:
            axes.legend(loc="upper right", fontsize=8)
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path)
    return figure


def _kind(name):
    """The kind of a zoo net (`"plain"`, …), `None` for a name the zoo does not know."""
    from keras_resnet import zoo

    try:
        return zoo.lookup(name).kind
    except ValueError:
        return None
