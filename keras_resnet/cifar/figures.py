"""The degradation experiment's figures: Fig. 6 (plain nets beside ResNets, error against
iterations) and Fig. 7 (the std of each 3×3 layer's response).

Uses matplotlib's object API with the Agg canvas: no pyplot state, no display needed.
"""

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from keras_resnet.training import plots


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
        plots.draw_curves(axes, curves, name)
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
            "color": plots.COLORS[i % len(plots.COLORS)],
            "linewidth": 1.2,
            "label": name,
            "linestyle": "--" if _kind(name) == "plain" else "-",
            **plots.marker(stds),
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
