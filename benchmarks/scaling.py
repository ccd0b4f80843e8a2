"""
Scaling benchmark: CoSyNE's generations per second on an expensive env, evaluated in one process, on the
lanes of a ``SubprocVecEnv`` (one process per lane, stepped in lockstep) and on Ray actors (whole tasks of
networks per actor, ``RayEvaluator``), side by side in one run.

Every configuration trains the same model (the env's tuned settings from ``cosyne.yml``, else the defaults
with ``pop_size=40``; same seed), so
they run the same episodes: the script checks that their populations end identical. After one warm-up
generation (process and actor start-up, Numba's cache), the wall-clock time of the next ``--generations``
generations is measured; each repeat uses another seed and runs every configuration once, in turn, so that
a change in the machine's load touches them alike. Reported: generations per second (median over the
repeats) and the speed-up over one process (median of the per-repeat ratios).

Usage::

    python -m benchmarks.scaling --env LunarLander-v3 --workers 2 --generations 5 --repeats 3 [--markdown table.md]
"""

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import SubprocVecEnv

from sb3_cosyne import CoSyNE, RayEvaluator
from sb3_cosyne.hyperparams import load_hyperparams, model_kwargs


class GenerationClock(BaseCallback):
    """Records the time at the end of every generation and stops training after ``generations`` of them."""

    def __init__(self, generations: int) -> None:
        super().__init__()
        self.generations = generations
        self.ends: list[float] = []

    def _on_rollout_end(self) -> None:
        self.ends.append(time.perf_counter())

    def _on_step(self) -> bool:
        # Stops at the first step of the generation after the last timed one (which is then discarded).
        return len(self.ends) <= self.generations


def time_generations(make_model: Callable[[], CoSyNE], generations: int) -> tuple[float, CoSyNE]:
    """
    Train a fresh model for one warm-up generation, then ``generations`` timed ones.

    :return: generations per second (wall clock) and the trained model
    """
    model = make_model()
    clock = GenerationClock(generations)
    model.learn(10**12, callback=clock)
    return generations / (clock.ends[-1] - clock.ends[0]), model


def load_average() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def run(env_id: str, workers: int, generations: int, repeats: int, members_per_task: int | None) -> dict[str, Any]:
    import ray

    try:
        policy, kwargs = model_kwargs(load_hyperparams(env_id))
    except KeyError:
        # No tuned entry (BipedalWalker-v3): the defaults, with a population as large as LunarLander's.
        policy, kwargs = "MlpPolicy", dict(pop_size=40)
    ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
    evaluator = RayEvaluator(env_id, n_workers=workers, members_per_task=members_per_task)

    def single(seed):
        return (lambda: CoSyNE(policy, env_id, seed=seed, **kwargs)), (lambda: None)

    def subproc(seed):
        env = make_vec_env(env_id, n_envs=workers, vec_env_cls=SubprocVecEnv)
        return (lambda: CoSyNE(policy, env, seed=seed, **kwargs)), env.close

    def on_ray(seed):
        return (lambda: CoSyNE(policy, env_id, seed=seed, evaluator=evaluator, **kwargs)), (lambda: None)

    # Each makes (the model factory, what to close after the run) for a seed.
    configurations: dict[str, Callable[[int], tuple[Callable[[], CoSyNE], Callable[[], None]]]] = {
        "1 process": single,
        f"SubprocVecEnv, {workers} lanes": subproc,
        f"Ray, {workers} CPUs": on_ray,
    }
    rates: dict[str, list[float]] = {name: [] for name in configurations}
    identical = True
    loads = [load_average()]
    try:
        for seed in range(repeats):
            populations = []
            for name, configure in configurations.items():
                make_model, close = configure(seed)
                try:
                    rate, model = time_generations(make_model, generations)
                finally:
                    close()
                rates[name].append(rate)
                populations.append(model.strategy.population)
                print(f"seed {seed}  {name:<24} {rate:7.3f} generations/s  (load {load_average()})", flush=True)
            identical &= all(np.array_equal(populations[0], other) for other in populations[1:])
            loads.append(load_average())
    finally:
        evaluator.close()
        ray.shutdown()
    baseline = rates["1 process"]
    rows = [
        {
            "configuration": name,
            "median generations/s": statistics.median(values),
            "speed-up": statistics.median(value / base for value, base in zip(values, baseline, strict=True)),
            "per repeat": values,
        }
        for name, values in rates.items()
    ]
    return {
        "env": env_id,
        "workers": workers,
        "generations": generations,
        "repeats": repeats,
        "members_per_task": members_per_task,
        "settings": kwargs,
        "identical populations": identical,
        "load averages (1, 5, 15 min)": loads,
        "rows": rows,
    }


def markdown(report: dict[str, Any]) -> str:
    lines = [
        "| configuration | median generations/s | speed-up over 1 process |",
        "|---|---|---|",
        *(f"| {row['configuration']} | {row['median generations/s']:.3g} | {row['speed-up']:.2f} |" for row in report["rows"]),
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="LunarLander-v3", help="env id (its cosyne.yml settings, if it has an entry)")
    parser.add_argument("--workers", type=int, default=2, help="SubprocVecEnv lanes and Ray CPUs (one actor each)")
    parser.add_argument("--generations", type=int, default=5, help="timed generations per run")
    parser.add_argument("--repeats", type=int, default=3, help="runs of every configuration (seeds 0, 1, ...)")
    parser.add_argument("--members-per-task", type=int, default=None, help="RayEvaluator's members_per_task")
    parser.add_argument("--json", type=Path, help="write the full report here")
    parser.add_argument("--markdown", type=Path, help="write the table here")
    args = parser.parse_args()
    report = run(args.env, args.workers, args.generations, args.repeats, args.members_per_task)
    table = markdown(report)
    print(table)
    print(f"identical populations across configurations: {report['identical populations']}")
    print(f"load averages during the run: {report['load averages (1, 5, 15 min)']}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=str))
    if args.markdown:
        args.markdown.write_text(table)


if __name__ == "__main__":
    main()
