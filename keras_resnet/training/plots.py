"""A run's curves in the style of the paper's Fig. 6: error (%) against iterations, thin lines
for training error, bold lines for test (or validation) error, one colour per net.

Uses matplotlib's object API with the Agg canvas, so it never touches pyplot's global state
and needs no display. Each function returns the `Figure` it wrote. Curves of up to `MARKED_POINTS`
evaluations mark each point, so a run with one evaluation still shows it.
"""

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

_TEST_KEYS = ("test_error", "val_error")
COLORS = ["tab:orange", "tab:blue", "tab:green", "tab:red", "tab:purple", "tab:brown", "tab:gray"]
MARKED_POINTS = 30


def marker(points, marker="o"):
    """The marker style of a curve of `points`: each point marked where there are few."""
    return {"marker": marker, "markersize": 3} if len(points) <= MARKED_POINTS else {}


def run_title(data_name, train_steps, batch_size=None):
    """What a figure says of its run: `"Fashion-MNIST, 2,000 iterations of batch 128"`."""
    batch = f" of batch {batch_size}" if batch_size else ""
    return f"{data_name}, {train_steps:,} iterations{batch}"


def draw_curves(axes, curves, title):
    """Draws the error curves of each net of `curves` (label → history rows) on `axes`."""
    # The paper's axis is in units of 1e4 iterations; short runs are shown in plain iterations.
    last = max((r.get("step", 0) for rows in curves.values() for r in rows), default=0)
    unit = 1e4 if last >= 2e4 else 1
    key = None
    for i, (label, rows) in enumerate(curves.items()):
        rows = [r for r in rows if "step" in r]
        color = COLORS[i % len(COLORS)]
        steps = [r["step"] / unit for r in rows]
        train = [100 * r["train_error"] for r in rows if "train_error" in r]
        if train:
            axes.plot(steps[: len(train)], train, color=color, linewidth=0.8, linestyle="--", **marker(train, "x"))
        key = next((k for k in _TEST_KEYS if rows and k in rows[0]), None)
        if key:
            axes.plot(steps, [100 * r[key] for r in rows], color=color, linewidth=2.2, label=label, **marker(rows))
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
    draw_curves(figure.add_subplot(1, 1, 1), curves, title)
    figure.tight_layout()
    figure.savefig(path)
    return figure
