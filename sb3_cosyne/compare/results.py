"""
The results of a comparison: learning curves read from the runs' folders, their summary, a markdown table
and a JSON file.

A curve is a run's evaluations: at each, the env steps taken, the training CPU and wall seconds, and the
returns of the evaluation episodes. An algorithm's curves are averaged across seeds on a common grid by
linear interpolation between each run's evaluations, over the range every run covers.
"""

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from statistics import median
from typing import Any

import gymnasium as gym
import numpy as np

from sb3_cosyne.compare.callbacks import CLOCK_FILE

#: solving thresholds of envs whose gymnasium spec has none (mean evaluation return)
EXTRA_THRESHOLDS = {"Pendulum-v1": -200.0}
#: the x axes of curves: key in :class:`Curve` and label
AXES = {"timesteps": "env steps", "cpu_s": "training CPU time (s)", "wall_s": "training wall time (s)"}


def default_threshold(env_id: str) -> float | None:
    """
    :param env_id: gymnasium id
    :return: the env's ``reward_threshold`` (or the one above for envs without), None if there is none
    """
    if env_id in EXTRA_THRESHOLDS:
        return EXTRA_THRESHOLDS[env_id]
    return gym.spec(env_id).reward_threshold


@dataclass
class Curve:
    """
    The evaluations of one run.

    :param algo: algorithm name
    :param seed: run seed
    :param timesteps: env steps at each evaluation
    :param cpu_s: training CPU seconds at each evaluation
    :param wall_s: training wall seconds at each evaluation
    :param returns: returns of the evaluation episodes, one row per evaluation
    :param record: the run's ``run.json``
    """

    algo: str
    seed: int
    timesteps: np.ndarray
    cpu_s: np.ndarray
    wall_s: np.ndarray
    returns: np.ndarray
    record: dict[str, Any] = field(default_factory=dict)

    @property
    def mean_returns(self) -> np.ndarray:
        """Mean return of each evaluation."""
        return self.returns.mean(axis=1)

    def first_reaching(self, threshold: float | None) -> int | None:
        """
        :param threshold: the solving threshold
        :return: index of the first evaluation whose mean return reaches it, None if none does
        """
        if threshold is None:
            return None
        reached = np.flatnonzero(self.mean_returns >= threshold)
        return int(reached[0]) if reached.size else None

    def to_json(self) -> dict[str, Any]:
        """The curve as plain lists (all the evaluation episodes included)."""
        return {
            "algo": self.algo,
            "seed": self.seed,
            "timesteps": self.timesteps.tolist(),
            "cpu_s": self.cpu_s.tolist(),
            "wall_s": self.wall_s.tolist(),
            "mean_return": self.mean_returns.tolist(),
            "returns": self.returns.tolist(),
            "run": self.record,
        }


def load_curve(folder: Path, record: dict[str, Any]) -> Curve:
    """
    :param folder: a finished run's folder
    :param record: its ``run.json``
    :return: its evaluations
    """
    evaluations = np.load(folder / "evaluations.npz")
    clock = np.load(folder / CLOCK_FILE)
    if not np.array_equal(evaluations["timesteps"], clock["timesteps"]):
        raise ValueError(f"{folder}: evaluations.npz and {CLOCK_FILE} disagree on the evaluation steps")
    return Curve(
        algo=record["algo"],
        seed=int(record["seed"]),
        timesteps=evaluations["timesteps"].astype(np.int64),
        cpu_s=clock["cpu_s"].astype(np.float64),
        wall_s=clock["wall_s"].astype(np.float64),
        returns=evaluations["results"].astype(np.float64),
        record=record,
    )


def aggregate(
    curves: list[Curve], axis: str, n_points: int = 200, log: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """
    Mean and standard deviation across runs of the mean evaluation return, on a common grid.

    :param curves: the runs of one algorithm
    :param axis: ``"timesteps"``, ``"cpu_s"`` or ``"wall_s"``
    :param n_points: points of the grid
    :param log: a geometric grid from the first positive x every run has (for a logarithmic axis)
    :return: the grid (from the first evaluation to the end of the shortest run), mean and standard deviation
    """
    xs = [getattr(curve, axis).astype(np.float64) for curve in curves]
    end = min(float(x[-1]) for x in xs)
    if log:
        start = max(float(x[x > 0][0]) if np.any(x > 0) else end for x in xs)
        grid = np.geomspace(start, max(start, end), n_points) if start > 0 else np.zeros(1)
    else:
        start = max(float(x[0]) for x in xs)
        grid = np.linspace(start, max(start, end), n_points)
    values = np.array([np.interp(grid, x, curve.mean_returns) for x, curve in zip(xs, curves, strict=True)])
    return grid, values.mean(axis=0), values.std(axis=0)


def _median_or_none(values: list[float]) -> float | None:
    return median(values) if values else None


def summarize(curves: list[Curve], threshold: float | None) -> dict[str, Any]:
    """
    Summary of one algorithm's runs.

    :param curves: its runs
    :param threshold: the solving threshold (None: nothing counts as solved)
    :return: seeds, final return (mean and std across runs of the last evaluation's mean), how many runs reached
        the threshold, medians over those of the steps, CPU and wall seconds to reach it, medians over all runs
        of the steps and seconds trained, and how the runs stopped
    """
    finals = [float(curve.mean_returns[-1]) for curve in curves]
    firsts = [(curve, curve.first_reaching(threshold)) for curve in curves]
    solved = [(curve, index) for curve, index in firsts if index is not None]
    return {
        "seeds": [curve.seed for curve in curves],
        "final_mean": float(np.mean(finals)),
        "final_std": float(np.std(finals)),
        "solved": len(solved),
        "steps_to_threshold": _median_or_none([int(curve.timesteps[i]) for curve, i in solved]),
        "cpu_s_to_threshold": _median_or_none([float(curve.cpu_s[i]) for curve, i in solved]),
        "wall_s_to_threshold": _median_or_none([float(curve.wall_s[i]) for curve, i in solved]),
        "steps_trained": median(int(curve.timesteps[-1]) for curve in curves),
        "cpu_s_trained": median(float(curve.cpu_s[-1]) for curve in curves),
        "wall_s_trained": median(float(curve.wall_s[-1]) for curve in curves),
        "stops": sorted({curve.record.get("stop", "?") for curve in curves}),
    }


def _number(value: float | None, digits: int = 3) -> str:
    """A table cell: ``—`` for nothing, thousands separators for large numbers, ``digits`` significant digits."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    if abs(value) >= 10**digits:
        return f"{round(value):,}"
    return f"{value:.{digits}g}"


def markdown_table(summaries: dict[str, dict[str, Any]], threshold: float | None) -> str:
    """
    :param summaries: per algorithm, the output of :func:`summarize`
    :param threshold: the solving threshold
    :return: a markdown table, one row per algorithm
    """
    target = "threshold" if threshold is None else f"{threshold:g}"
    header = (
        f"| algo | final return | reached {target} | median steps to {target} | median CPU s to {target} "
        f"| median wall s to {target} | median steps trained | median CPU s trained | stopped by |"
    )
    lines = [header, "|" + "---|" * 9]
    for algo, summary in summaries.items():
        lines.append(
            f"| {algo} | {summary['final_mean']:.1f} ± {summary['final_std']:.1f} "
            f"| {summary['solved']}/{len(summary['seeds'])} | {_number(summary['steps_to_threshold'])} "
            f"| {_number(summary['cpu_s_to_threshold'])} | {_number(summary['wall_s_to_threshold'])} "
            f"| {_number(summary['steps_trained'])} | {_number(summary['cpu_s_trained'])} | {', '.join(summary['stops'])} |"
        )
    return "\n".join(lines) + "\n"


def write_json(path: Path, env_id: str, threshold: float | None, settings: dict[str, Any], curves: list[Curve]) -> None:
    """
    Write every curve and the per-algorithm summaries.

    :param path: the JSON file
    :param env_id: gymnasium id
    :param threshold: the solving threshold
    :param settings: the comparison's settings
    :param curves: all runs
    """
    algos = list(dict.fromkeys(curve.algo for curve in curves))
    summaries = {algo: summarize([c for c in curves if c.algo == algo], threshold) for algo in algos}
    document = {
        "env": env_id,
        "threshold": threshold,
        "settings": settings,
        "summaries": summaries,
        "curves": [curve.to_json() for curve in curves],
    }
    Path(path).write_text(json.dumps(document, indent=1))
