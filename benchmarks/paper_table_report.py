"""The paper table (``benchmarks/paper_table.py``) as markdown, from its results document alone."""

import statistics
from typing import Any

#: the table's columns
HEADER = (
    "| task | mean evaluations | median | failed | paper CoSyNE | ratio to paper | paper's others | "
    "CPU s per run | generalization (median of 625) |"
)


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def task_row(task: dict[str, Any]) -> str:
    """
    One row: our mean, median and failures beside the paper's numbers.

    :param task: a task of the document's results: ``name``, ``paper_cosyne``, ``paper_others`` and ``runs`` (one
        record per seed: ``solved``, ``evaluations``, ``cpu_s``, ``generalization``)
    :return: the markdown row
    """
    runs = task["runs"]
    solved = [run for run in runs if run["solved"]]
    evaluations = [run["evaluations"] for run in solved]
    scores = [run["generalization"] for run in solved]
    mean = statistics.mean(evaluations) if evaluations else float("nan")
    others = ", ".join(f"{name} {value:,}" for name, value in task["paper_others"].items())
    return (
        f"| {task['name']} | {mean:,.0f} | {_median(evaluations):,.0f} | {len(runs) - len(solved)}/{len(runs)} "
        f"| {task['paper_cosyne']:,} | {mean / task['paper_cosyne']:.2f} | {others} "
        f"| {statistics.mean(run['cpu_s'] for run in runs):.2f} "
        f"| {_median(scores):.0f} ({sum(score >= 200 for score in scores)}/{len(scores)} ≥ 200) |"
    )


def markdown_table(document: dict[str, Any]) -> str:
    """
    :param document: the results document written by ``python -m benchmarks.paper_table --out``
    :return: the table, one row per task
    """
    rows = [task_row(task) for task in document["results"].values()]
    return "\n".join([HEADER, "|" + "---|" * 9, *rows])
