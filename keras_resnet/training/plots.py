"""Figures in the style of the paper's Fig. 6: error (%) against iterations, thin lines for
training error, bold lines for test error, one colour per net.

Uses matplotlib's object API with the Agg canvas, so it never touches pyplot's global state
and needs no display.
"""

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

_TEST_KEYS = ("test_error", "val_error")


def _draw(axes, curves, title):
    # The paper's axis is in units of 1e4 iterations; short runs are shown in plain iterations.
    last = max((r.get("step", 0) for rows in curves.values() for r in rows), default=0)
    unit = 1e4 if last >= 2e4 else 1
    colors = ["tab:orange", "tab:blue", "tab:green", "tab:red", "tab:purple", "tab:brown", "tab:gray"]
    for i, (label, rows) in enumerate(curves.items()):
        rows = [r for r in rows if "step" in r]
        color = colors[i % len(colors)]
        steps = [r["step"] / unit for r in rows]
        train = [100 * r["train_error"] for r in rows if "train_error" in r]
        if train:
            axes.plot(steps[: len(train)], train, color=color, linewidth=0.8, linestyle="--")
        key = next((k for k in _TEST_KEYS if rows and k in rows[0]), None)
        if key:
            axes.plot(steps, [100 * r[key] for r in rows], color=color, linewidth=2.2, label=label)
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
    >>> plot_curves({"resnet20": rows}, path)
    >>> open(path, "rb").read(4) == b"\\x89PNG"
    True
    """
    figure = Figure(figsize=(5, 4), dpi=120)
    FigureCanvasAgg(figure)
    _draw(figure.add_subplot(1, 1, 1), curves, title)
    figure.tight_layout()
    figure.savefig(path)


def plot_degradation(plain, residual, path):
    """Writes the two-panel Fig. 6: plain nets left, residual nets right, on one error scale.

    Args:
        plain: dict of label to history rows.
        residual: dict of label to history rows.
        path: str. The PNG to write.
    """
    figure = Figure(figsize=(10, 4), dpi=120)
    FigureCanvasAgg(figure)
    left = figure.add_subplot(1, 2, 1)
    right = figure.add_subplot(1, 2, 2, sharey=left)
    _draw(left, plain, "plain")
    _draw(right, residual, "ResNet")
    figure.tight_layout()
    figure.savefig(path)


def plot_responses(responses, path):
    """Writes Fig. 7: the std of each net's 3×3 layer responses, in layer order (top) and sorted
    in descending order (bottom).

    Args:
        responses: dict of net name to a list of stds (`keras_resnet.layer_responses` values),
            plain nets dashed, residual nets solid, as in the paper.
        path: str. The PNG to write.

    Example:

    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "fig7.png")
    >>> plot_responses({"plain8": [1.0, 2.0, 1.5], "resnet8": [1.0, 0.5, 0.7]}, path)
    >>> open(path, "rb").read(4) == b"\\x89PNG"
    True
    """
    figure = Figure(figsize=(6, 6), dpi=120)
    FigureCanvasAgg(figure)
    top, bottom = figure.add_subplot(2, 1, 1), figure.add_subplot(2, 1, 2)
    colors = ["tab:orange", "tab:blue", "tab:green", "tab:red", "tab:purple", "tab:brown", "tab:gray"]
    for i, (name, stds) in enumerate(responses.items()):
        style = {
            "color": colors[i % len(colors)],
            "linewidth": 1.2,
            "label": name,
            "linestyle": "--" if _kind(name) == "plain" else "-",
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
    figure.tight_layout()
    figure.savefig(path)


def _kind(name):
    """The kind of a zoo net (`"plain"`, …), `None` for a name the zoo does not know."""
    from keras_resnet import zoo

    try:
        return zoo.lookup(name).kind
    except ValueError:
        return None
