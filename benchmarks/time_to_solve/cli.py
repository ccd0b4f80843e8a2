"""The command line: schedule the runs, collect them, write the results document and print the tables."""

import argparse
import sys
from pathlib import Path
from typing import Any

import benchmarks.time_to_solve as package
from benchmarks.provenance import make_document, write_document
from benchmarks.time_to_solve.report import report
from benchmarks.time_to_solve.runner import load_runs, make_specs, run_key, run_specs, warm_up
from benchmarks.time_to_solve.tasks import ALGOS, COMPARISON_ENVS, FINAL_EPISODES, THRESHOLDS, schedule


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """
    :param argv: command-line arguments (``None``: this process's)
    :return: the parsed arguments
    """
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.time_to_solve",
        description=package.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--envs", nargs="+", default=list(COMPARISON_ENVS), choices=list(THRESHOLDS))
    parser.add_argument("--algos", nargs="+", default=list(ALGOS), choices=ALGOS)
    parser.add_argument("--seeds", type=int, default=5, help="number of seeds, 0..N-1")
    parser.add_argument("--max-cpu", type=float, default=120.0, help="training CPU seconds per run before giving up")
    parser.add_argument("--jobs", type=int, default=2, help="runs at once")
    parser.add_argument(
        "--out",
        "--json",
        type=Path,
        help="write the results document here after each run (published: docs/results/time_to_solve.json)",
    )
    parser.add_argument("--markdown", type=Path, help="write the tables here")
    parser.add_argument("--cold", action="store_true", help="also one CoSyNE run per env with an empty Numba cache")
    parser.add_argument("--resume", action="store_true", help="skip runs already in --out")
    parser.add_argument("--confirm", action="store_true", help="solved only once the final episodes confirm the threshold")
    parser.add_argument(
        "--final-episodes",
        type=int,
        default=FINAL_EPISODES,
        help="fresh episodes that score a passing policy (and confirm it with --confirm); 100 is the tasks' own test",
    )
    parser.add_argument("--summary", action="store_true", help="one table per algorithm with a row per env")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.resume and args.out is None:
        parser.error("--resume needs --out")
    if args.final_episodes < 1:
        parser.error(f"--final-episodes must be at least 1, got {args.final_episodes}")
    return args


def settings_of(args: argparse.Namespace) -> dict[str, Any]:
    """
    :param args: command-line arguments
    :return: what the runs share, as the results document records it
    """
    return {
        "envs": args.envs,
        "algos": args.algos,
        "max_cpu": args.max_cpu,
        "jobs": args.jobs,
        "cold": args.cold,
        "confirm": args.confirm,
        "evaluation": schedule(args.final_episodes),
    }


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    """
    Run what is missing, print the tables and write the results document and the markdown.

    :param argv: command-line arguments (``None``: this process's)
    :return: all run records
    """
    args = parse_args(argv)
    if args.worker is not None:
        from benchmarks.time_to_solve.worker import worker_main

        worker_main(args.worker)
        return []
    seeds = list(range(args.seeds))
    criterion = {"max_cpu": args.max_cpu, "confirm": args.confirm, "final_episodes": args.final_episodes}
    runs = load_runs(args.out, criterion) if args.resume else []
    done = {run_key(run) for run in runs}
    specs = make_specs(args.envs, args.algos, seeds, criterion, args.cold)
    specs = [spec for spec in specs if run_key(spec) not in done]
    warm_up(specs)

    def on_result(result: dict[str, Any]) -> None:
        runs.append(result)
        if args.out is not None:
            document = make_document("time_to_solve", "benchmarks.time_to_solve", seeds, settings_of(args), runs, argv)
            write_document(args.out, document)

    failures = run_specs(specs, args.jobs, on_result)
    markdown = report(args.envs, args.algos, seeds, runs, args.summary, args.confirm)
    print(markdown)
    if args.markdown is not None:
        args.markdown.write_text(markdown)
    if failures:
        sys.exit(f"{failures} runs failed (see above); rerun with --resume to retry them")
    return runs
