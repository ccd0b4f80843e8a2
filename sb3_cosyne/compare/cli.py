"""
Compare CoSyNE with rl_zoo3's tuned algorithms on one env: ``python -m sb3_cosyne.compare``.

Every (algorithm, seed) run trains with the algorithm's tuned hyperparameters (CoSyNE's from the package's
``cosyne.yml``, the others from rl_zoo3's), under the same step budget and optional time budget, and is
evaluated every ``--eval-every`` env steps. Finished runs are kept: running the same command again only trains
what is missing. Writes, in the output folder: ``<env>.md`` (summary table), ``<env>.json`` (every curve) and
``<env>-steps.png``, ``<env>-wall.png``, ``<env>-cpu.png`` (return against env steps and training time).

Example::

    python -m sb3_cosyne.compare --env CartPole-v1 --algos cosyne ppo a2c ars --seeds 5 --budget-steps 100000
"""

import argparse
import sys
from pathlib import Path

import torch

from sb3_cosyne.compare.plots import plot_curves
from sb3_cosyne.compare.results import Curve, default_threshold, load_curve, markdown_table, summarize, write_json
from sb3_cosyne.compare.runs import RunSettings, check_algorithm, finished_run, run_dir, train_run, warm_up

#: plot file suffix per x axis
PLOTS = {"timesteps": "steps", "wall_s": "wall", "cpu_s": "cpu"}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m sb3_cosyne.compare",
        description="Compare CoSyNE with rl_zoo3's tuned algorithms on one env (learning curves, table, plots).",
    )
    parser.add_argument("--env", required=True, help="gymnasium id")
    parser.add_argument("--algos", nargs="+", required=True, help="cosyne and/or rl_zoo3 algorithms (ppo, a2c, ars, sac, ...)")
    parser.add_argument("--seeds", type=int, default=5, help="runs per algorithm, seeds 1 to N (default: 5)")
    parser.add_argument("--budget-steps", type=int, help="env steps per run (default: each algorithm's tuned n_timesteps)")
    parser.add_argument("--budget-seconds", type=float, help="training seconds per run (evaluations not counted)")
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall", help="clock of the time budget (default: wall)")
    parser.add_argument("--eval-every", type=int, help="env steps between evaluations (default: budget-steps / 20)")
    parser.add_argument("--eval-every-seconds", type=float, help="also evaluate every this many training seconds")
    parser.add_argument("--eval-episodes", type=int, default=10, help="episodes per evaluation (default: 10)")
    parser.add_argument("--threshold", type=float, help="return that counts as solved (default: the env's)")
    parser.add_argument("--output-dir", type=Path, default=Path("comparison"), help="runs and results (default: comparison)")
    parser.add_argument("--log-steps", action="store_true", help="logarithmic env-step axis")
    parser.add_argument("--log-time", action="store_true", help="logarithmic time axes in the plots")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default: 1)")
    parser.add_argument("--device", default="cpu", help="torch device (default: cpu)")
    args = parser.parse_args(argv)
    if args.seeds < 1:
        parser.error("--seeds must be at least 1")
    if args.eval_every is None:
        if args.budget_steps is None:
            parser.error("--eval-every is needed when --budget-steps is not given")
        args.eval_every = max(1, args.budget_steps // 20)
    for name in ("budget_steps", "budget_seconds", "eval_every", "eval_every_seconds", "eval_episodes"):
        value = getattr(args, name)
        if value is not None and value <= 0:
            parser.error(f"--{name.replace('_', '-')} must be positive, got {value}")
    return args


def main(argv: list[str] | None = None) -> list[Curve]:
    """
    Run what is missing of the comparison, then write its table, JSON and plots.

    :param argv: command-line arguments (None reads ``sys.argv``)
    :return: the curves of all runs
    """
    args = parse_args(argv)
    settings = RunSettings(
        budget_steps=args.budget_steps,
        budget_seconds=args.budget_seconds,
        clock=args.clock,
        eval_every=args.eval_every,
        eval_every_seconds=args.eval_every_seconds,
        eval_episodes=args.eval_episodes,
        device=args.device,
    )
    for algo in args.algos:
        check_algorithm(algo, args.env)
    torch.set_num_threads(args.threads)
    threshold = default_threshold(args.env) if args.threshold is None else args.threshold
    seeds = range(1, args.seeds + 1)
    curves = []
    total = len(args.algos) * len(seeds)
    for algo in args.algos:
        warmed_up = False
        for seed in seeds:
            folder = run_dir(args.output_dir, algo, args.env, seed)
            record = finished_run(folder, settings)
            done = f"[{len(curves) + 1}/{total}] {algo} seed {seed}"
            if record is None:
                print(f"{done}: training", flush=True)
                if not warmed_up:
                    warm_up(algo, args.env)
                    warmed_up = True
                record = train_run(algo, args.env, seed, settings, args.output_dir)
            else:
                print(f"{done}: finished before, kept", flush=True)
            curve = load_curve(folder, record)
            curves.append(curve)
            print(
                f"    {record['timesteps']:,} steps, {record['cpu_s']:.1f} CPU s, {record['wall_s']:.1f} wall s "
                f"(stopped by {record['stop']}); final evaluation {curve.mean_returns[-1]:.1f}",
                flush=True,
            )
    write_results(args, threshold, settings, curves)
    return curves


def write_results(args: argparse.Namespace, threshold: float | None, settings: RunSettings, curves: list[Curve]) -> None:
    """Write the table (also printed), the JSON and the plots of a comparison."""
    output = Path(args.output_dir)
    summaries = {algo: summarize([c for c in curves if c.algo == algo], threshold) for algo in args.algos}
    table = markdown_table(summaries, threshold)
    (output / f"{args.env}.md").write_text(table)
    write_json(output / f"{args.env}.json", args.env, threshold, vars(settings), curves)
    budget = [f"{args.budget_steps:,} steps" if args.budget_steps else "tuned steps"]
    if args.budget_seconds:
        budget.append(f"{args.budget_seconds:g} {args.clock} s")
    title = f"{args.env}, {' / '.join(budget)} per run"
    for axis, suffix in PLOTS.items():
        log_x = args.log_steps if axis == "timesteps" else args.log_time
        plot_curves(curves, axis, output / f"{args.env}-{suffix}.png", title, threshold, log_x=log_x)
    print(table, end="")
    print(f"results in {output}/{args.env}.md, .json, -steps.png, -wall.png, -cpu.png")


if __name__ == "__main__":
    main(sys.argv[1:])
