"""Plots of a comparison: mean evaluation return across seeds against env steps or training time, shaded ± one std."""

from pathlib import Path

from sb3_cosyne.compare.results import AXES, Curve, aggregate


def plot_curves(curves: list[Curve], axis: str, path: Path, title: str, threshold: float | None, log_x: bool = False) -> None:
    """
    Write a PNG with one line per algorithm: the mean across its runs, shaded by the standard deviation, over the
    range every run covers (see :func:`~sb3_cosyne.compare.results.aggregate`).

    :param curves: all runs
    :param axis: x axis, ``"timesteps"``, ``"cpu_s"`` or ``"wall_s"``
    :param path: the PNG file
    :param title: the plot's title
    :param threshold: drawn as a dashed line (None: not drawn)
    :param log_x: logarithmic x axis (the evaluations before training, at 0, are then left out)
    """
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    figure, ax = plt.subplots(figsize=(7, 4.5))
    for algo in dict.fromkeys(curve.algo for curve in curves):
        runs = [curve for curve in curves if curve.algo == algo]
        grid, mean, std = aggregate(runs, axis, log=log_x)
        (line,) = ax.plot(grid, mean, label=f"{algo} ({len(runs)} seeds)", linewidth=2)
        ax.fill_between(grid, mean - std, mean + std, color=line.get_color(), alpha=0.2)
    if threshold is not None:
        ax.axhline(threshold, color="black", linestyle="--", linewidth=1, label=f"threshold {threshold:g}")
    if log_x:
        ax.set_xscale("log")
    ax.set_xlabel(AXES[axis])
    ax.set_ylabel("mean evaluation return")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize="small")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
