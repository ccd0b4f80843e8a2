"""
The benchmark's tables, from run records alone: the command line's report (one table per env, or per algorithm
with ``--summary``, and the cold-cache table) and the published table that ``python -m benchmarks.render`` writes.

Medians are over solved seeds only; a seed that hits the step budget or the CPU cap counts as not solved.
"""

import statistics
from typing import Any

from benchmarks.time_to_solve.tasks import (
    CRITERION_DEFAULTS,
    EVAL_FRACTION,
    EVAL_FRACTIONS,
    EVAL_SEED,
    FINAL_EPISODES,
    FINAL_SEED,
)

Run = dict[str, Any]


def fmt(value: float | None, spec: str) -> str:
    """
    :param value: number or ``None``
    :param spec: format spec
    :return: formatted value, "—" for ``None``
    """
    return "—" if value is None else format(value, spec)


def median_of(runs: list[Run], key: str) -> float | None:
    """
    :param runs: run records
    :param key: field
    :return: median over solved runs, ``None`` if none solved
    """
    values = [run[key] for run in runs if run["solved"]]
    return statistics.median(values) if values else None


def solved_count(runs: list[Run]) -> str:
    """
    :param runs: run records
    :return: "solved/runs"
    """
    return f"{sum(run['solved'] for run in runs)}/{len(runs)}"


def speed_up(algo: str, runs: list[Run], cosyne_cpu: float | None) -> float | None:
    """
    :param algo: the peer
    :param runs: its runs
    :param cosyne_cpu: CoSyNE's median CPU seconds to solve on the same env
    :return: the peer's median CPU seconds over CoSyNE's (> 1: CoSyNE is faster), ``None`` for CoSyNE itself or
        when either solved no seed
    """
    cpu = median_of(runs, "cpu_s")
    return cpu / cosyne_cpu if algo != "cosyne" and cpu is not None and cosyne_cpu else None


def final_episodes_of(runs: list[Run]) -> int:
    """
    :param runs: run records measured under one criterion
    :return: the fresh episodes that scored their passing policies (50 for runs recorded before ``--final-episodes``)
    """
    counts = {run.get("final_episodes", CRITERION_DEFAULTS["final_episodes"]) for run in runs}
    if len(counts) > 1:
        raise ValueError(f"runs scored on different numbers of final episodes {sorted(counts)}: report them apart")
    return counts.pop() if counts else FINAL_EPISODES


def by_algo(algos: list[str], runs: list[Run]) -> dict[str, list[Run]]:
    """
    :param algos: algorithms in order
    :param runs: run records of one env
    :return: the runs of each algorithm that has any, in ``algos``' order
    """
    grouped = {algo: [run for run in runs if run["algo"] == algo] for algo in algos}
    return {algo: algo_runs for algo, algo_runs in grouped.items() if algo_runs}


def env_table(algos: list[str], runs: list[Run]) -> list[str]:
    """
    Markdown table of one env, one row per algorithm.

    :param algos: algorithms in row order
    :param runs: warm-cache runs of this env
    :return: the table's lines
    """
    groups = by_algo(algos, runs)
    cosyne_cpu = median_of(groups.get("cosyne", []), "cpu_s")
    lines = [
        "| algo | solved | median CPU s | median wall s | median steps "
        f"| median {final_episodes_of(runs)}-episode return | CoSyNE speed-up |",
        "|---|---|---|---|---|---|---|",
    ]
    for algo, algo_runs in groups.items():
        lines.append(
            f"| {algo} | {solved_count(algo_runs)} | {fmt(median_of(algo_runs, 'cpu_s'), '.3g')} "
            f"| {fmt(median_of(algo_runs, 'wall_s'), '.3g')} | {fmt(median_of(algo_runs, 'steps'), ',.0f')} "
            f"| {fmt(median_of(algo_runs, 'eval_final'), '.1f')} | {fmt(speed_up(algo, algo_runs, cosyne_cpu), '.2f')} |"
        )
    return lines


def env_heading(env_id: str, runs: list[Run]) -> str:
    """
    :param env_id: gymnasium id
    :param runs: its runs
    :return: the heading of its table: threshold, step budget and CPU cap
    """
    first = runs[0]
    return f"### {env_id}: threshold {first['threshold']:g}, budget {first['budget']:,} steps, CPU cap {first['max_cpu']:g} s"


def cold_table(envs: list[str], runs: list[Run]) -> list[str]:
    """
    Markdown table comparing each env's cold-cache CoSyNE run with the warm-cache run of the same seed.

    :param envs: env ids in row order
    :param runs: all runs
    :return: the table's lines
    """
    lines = [
        "| env | seed | cold: CPU s to solve | warm: CPU s to solve | cold: wall s | warm: wall s "
        "| cold: import CPU s | warm: import CPU s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    warm = {(run["env"], run["seed"]): run for run in runs if run["algo"] == "cosyne" and not run["cold"]}
    for env_id in envs:
        cold = next((run for run in runs if run["env"] == env_id and run["algo"] == "cosyne" and run["cold"]), None)
        if cold is None:
            continue
        same_seed = warm.get((env_id, cold["seed"]), {})
        lines.append(
            f"| {env_id} | {cold['seed']} | {fmt(cold['cpu_s'], '.3g')} | {fmt(same_seed.get('cpu_s'), '.3g')} "
            f"| {fmt(cold['wall_s'], '.3g')} | {fmt(same_seed.get('wall_s'), '.3g')} "
            f"| {fmt(cold['import_cpu_s'], '.3g')} | {fmt(same_seed.get('import_cpu_s'), '.3g')} |"
        )
    return lines


def unsolved_summary(runs: list[Run]) -> str:
    """
    :param runs: the runs of one algorithm on one env
    :return: for each unsolved run, its best 10-episode / final-episode means, steps run and CPU seconds
    """
    unsolved = ", ".join(
        f"{fmt(run['eval10'], '.1f')} / {fmt(run['eval_final'], '.1f')} ({run['steps_run']:,}, {run['cpu_run_s']:.3g})"
        for run in runs
        if not run["solved"]
    )
    return unsolved or "—"


def summary_table(envs: list[str], algo: str, runs: list[Run]) -> list[str]:
    """
    Markdown table with one row per env for one algorithm (``--summary``).

    :param envs: env ids in row order
    :param algo: the algorithm
    :param runs: warm-cache runs
    :return: the table's lines
    """
    lines = [
        "| env | threshold | step budget | CPU cap s | solved | median CPU s | median wall s | median steps | median final "
        f"return | unsolved seeds: best 10-episode / {final_episodes_of(runs)}-episode mean (steps run, CPU s) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for env_id in envs:
        env_runs = sorted((run for run in runs if run["env"] == env_id and run["algo"] == algo), key=lambda run: run["seed"])
        if not env_runs:
            continue
        first = env_runs[0]
        lines.append(
            f"| {env_id} | {first['threshold']:g} | {first['budget']:,} | {max(run['max_cpu'] for run in env_runs):g} "
            f"| {solved_count(env_runs)} | {fmt(median_of(env_runs, 'cpu_s'), '.3g')} "
            f"| {fmt(median_of(env_runs, 'wall_s'), '.3g')} | {fmt(median_of(env_runs, 'steps'), ',.0f')} "
            f"| {fmt(median_of(env_runs, 'eval_final'), '.1f')} | {unsolved_summary(env_runs)} |"
        )
    return lines


def criterion(confirm: bool, final_episodes: int = FINAL_EPISODES) -> str:
    """
    :param confirm: whether the runs were measured with ``--confirm``
    :param final_episodes: the fresh episodes that scored the passing policies
    :return: what "solved" means, in words
    """
    schedule = (
        f"Solved means that the mean of 10 deterministic episodes (reset seeds {EVAL_SEED}+i), checked every "
        f"{EVAL_FRACTION:.1%} of the budget ({', '.join(f'{k} {v:.1%}' for k, v in EVAL_FRACTIONS.items())}), "
        "reaches the threshold"
    )
    if confirm:
        return (
            f"{schedule} and {final_episodes} fresh episodes (seeds {FINAL_SEED}+i) confirm it; until they do, training "
            f"goes on. The final return is that {final_episodes}-episode mean"
        )
    return f"{schedule}; the {final_episodes}-episode return (seeds {FINAL_SEED}+i) scores that same policy"


def warm_runs(runs: list[Run], algos: list[str], seeds: list[int]) -> list[Run]:
    """
    :return: the warm-cache runs of the given algorithms and seeds
    """
    return [run for run in runs if not run["cold"] and run["algo"] in algos and run["seed"] in seeds]


def section(heading: str, table: list[str]) -> str:
    """
    :param heading: markdown heading
    :param table: the table's lines
    :return: the heading, a blank line and the table
    """
    return "\n".join([heading, "", *table])


def tables(envs: list[str], algos: list[str], warm: list[Run], summary: bool) -> list[str]:
    """
    :param envs: env ids
    :param algos: algorithms
    :param warm: the warm-cache runs
    :param summary: one table per algorithm with a row per env, instead of one table per env
    :return: the tables, each under its heading
    """
    if summary:
        return [section(f"### {algo}: one row per env", summary_table(envs, algo, warm)) for algo in algos]
    per_env = {env_id: [run for run in warm if run["env"] == env_id] for env_id in envs}
    return [section(env_heading(env_id, runs), env_table(algos, runs)) for env_id, runs in per_env.items() if runs]


def report(
    envs: list[str], algos: list[str], seeds: list[int], runs: list[Run], summary: bool = False, confirm: bool = False
) -> str:
    """
    Full markdown report of the command line.

    :param envs: env ids
    :param algos: algorithms
    :param seeds: seeds of the warm runs
    :param runs: all runs
    :param summary: one table per algorithm with a row per env, instead of one table per env
    :param confirm: whether the runs were measured with ``--confirm``
    :return: markdown
    """
    sections = [
        "## Time to solve (1 thread per run, process CPU time, evaluation excluded)",
        *tables(envs, algos, warm_runs(runs, algos, seeds), summary),
        "Medians are over solved seeds only; a seed that hits the step budget or the CPU cap counts as not solved "
        "and is left out of the medians (not counted at the cap). CoSyNE speed-up = peer median CPU s / CoSyNE median "
        "CPU s (> 1: CoSyNE is faster), shown when both solved at least one seed. "
        f"{criterion(confirm, final_episodes_of(runs))}. The pole-balancing envs start from one state: there a single "
        "episode of 100,000 steps is the whole evaluation.",
    ]
    if any(run["cold"] for run in runs):
        sections.append(section("### CoSyNE first run (empty Numba cache) vs warm cache, same seed", cold_table(envs, runs)))
    return "\n\n".join(sections) + "\n"


def published_rows(env_id: str, algos: list[str], runs: list[Run]) -> list[str]:
    """
    :param env_id: gymnasium id
    :param algos: algorithms in row order
    :param runs: its warm-cache runs
    :return: its rows of the published table, the env, its threshold and step budget on the first
    """
    groups = by_algo(algos, runs)
    cosyne_cpu = median_of(groups.get("cosyne", []), "cpu_s")
    rows = []
    for algo, algo_runs in groups.items():
        first = algo_runs[0]
        env_cells = f"{env_id} | {first['threshold']:g} | {first['budget']:,}" if not rows else " |  | "
        rows.append(
            f"| {env_cells} | {algo} | {solved_count(algo_runs)} | {fmt(median_of(algo_runs, 'steps'), ',.0f')} "
            f"| {fmt(median_of(algo_runs, 'cpu_s'), '.3g')} | {fmt(median_of(algo_runs, 'eval_final'), '.1f')} "
            f"| {fmt(speed_up(algo, algo_runs, cosyne_cpu), '.2f')} |"
        )
    return rows


def published_table(document: dict[str, Any]) -> str:
    """
    The table the docs publish: per env and algorithm, the seeds solved, the median env steps and CPU seconds to
    solve, the median final return of the solving policies (their mean on the final episodes: 50, or
    ``--final-episodes``, which the text around the table names, so that files of either can join), and CoSyNE's
    speed-up over each peer (the peer's median CPU seconds over CoSyNE's); then, if the document has cold-cache
    runs, the cold-cache table.

    :param document: the results document written by ``python -m benchmarks.time_to_solve --out``
    :return: markdown
    """
    settings, runs = document["settings"], document["results"]
    warm = warm_runs(runs, settings["algos"], document["seeds"])
    lines = [
        "| env | threshold | step budget | algo | seeds solved | median env steps | median CPU s "
        "| median final return | CoSyNE speed-up (peer CPU s / CoSyNE CPU s) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for env_id in settings["envs"]:
        lines += published_rows(env_id, settings["algos"], [run for run in warm if run["env"] == env_id])
    if any(run["cold"] for run in runs):
        lines += [
            "",
            "CoSyNE's first run in a process with an empty Numba cache, against the warm-cache run of the same seed:",
            "",
        ]
        lines += cold_table(settings["envs"], runs)
    return "\n".join(lines)
