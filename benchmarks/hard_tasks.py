"""
CoSyNE on the tasks users bring (LunarLander, LunarLanderContinuous, BipedalWalker, Python-stepped envs), judged by
the tasks' own definition of solved: the network ``learn`` returns, played deterministically on 100 fresh episodes.

Each (env, seed) run trains in its own single-threaded process with the env's ``cosyne.yml`` entry (plus ``--set``
overrides) for ``--steps`` env steps. At every ``--check-every`` steps (at the end of the generation that crosses
them) the champion, the network ``learn`` would return if it stopped there, plays the 100 confirmation episodes,
with the CPU clock paused. The confirmation episodes start from reset seeds ``2**31 + i``, which training never
draws (its seeds are below ``2**31 - 1``). The run records, at each check, the env steps, the training CPU seconds,
the champion's logged held-out score (``train/champion_holdout``, if any) and its confirmation mean; and the first
check whose confirmation reaches the threshold (``solved_at``).

An entry (or ``--set``) may name rl_zoo3's ``env_wrapper``, say ``env_wrapper=sb3_cosyne.envs.FallPenalty``:
training then plays the wrapped env (training-only reward shaping), and the checks the plain one.

``--baseline`` runs every (env, seed) a second time with other overrides (say, an entry's earlier values), side by
side in the same run; its rows are labelled with those overrides.

Tune on seeds >= 1000 and report on seeds 0-4.

Usage::

    python -m benchmarks.hard_tasks --envs LunarLander-v3 --seeds 1000 1001 --steps 1000000 --jobs 2 \\
        [--set holdout_episodes=30 n_eval_episodes=5] [--baseline init_scale=1.0] [--fast-path off] [--out FILE]
"""

import argparse
import multiprocessing
import os
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from benchmarks.provenance import REPO_ROOT, make_document, write_document
from benchmarks.time_to_solve.runner import SINGLE_THREAD_ENV

#: the tasks' own thresholds (gymnasium's ``reward_threshold`` where it has one)
THRESHOLDS = {
    "LunarLander-v3": 200.0,
    "LunarLanderContinuous-v3": 200.0,
    "BipedalWalker-v3": 300.0,
    "Pendulum-v1": -200.0,
    "Acrobot-v1": -100.0,
}
#: the confirmation's episodes and the first of their reset seeds
CONFIRM_EPISODES = 100
CONFIRM_SEED = 2**31
DEFAULT_OUT = REPO_ROOT / "benchmarks" / "results" / "hard_tasks.json"


def confirm(model, env_id: str, episodes: int = CONFIRM_EPISODES) -> np.ndarray:
    """
    The returns of the model's champion on the confirmation episodes, played as ``model.predict(deterministic=True)``
    plays them (the same network, run batched on 10 lanes of the env with its own time limit).
    """
    from stable_baselines3.common.env_util import make_vec_env

    from sb3_cosyne.evaluation.lanes import evaluate_networks

    env = make_vec_env(env_id, n_envs=10)
    seeds = (CONFIRM_SEED + np.arange(episodes))[None]
    result = evaluate_networks(env, model.policy.network, model.champion_params()[None], seeds, model.policy.obs_stats())
    env.close()
    return result.returns[0]


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """
    :param items: ``KEY=VALUE`` strings (``--set``, ``--baseline``)
    :return: the overrides of the yml entry, each value read as YAML (numbers, booleans, strings)
    """
    return {key: yaml.safe_load(value) for key, value in (item.split("=", 1) for item in items)}


def training_env(env_id: str, entry: dict[str, Any]):
    """
    The env a run trains on: the id itself, or, when the entry names rl_zoo3's ``env_wrapper`` (training-only
    reward shaping such as ``sb3_cosyne.envs.FallPenalty``), the env with that wrapper. The checks always play the
    env without it.

    :param entry: the yml entry with the run's overrides
    """
    if entry.get("env_wrapper") is None:
        return env_id
    import gymnasium as gym
    from rl_zoo3.utils import get_wrapper_class

    return get_wrapper_class(entry)(gym.make(env_id))


def run_one(spec: dict[str, Any]) -> dict[str, Any]:
    """
    One training run with its checks, in this (single-threaded) process.

    :param spec: env, seed, steps, check_every, overrides, fast_path
    :return: the run's record
    """
    from stable_baselines3.common.callbacks import BaseCallback

    from sb3_cosyne import CoSyNE
    from sb3_cosyne.hyperparams import load_hyperparams, model_kwargs

    env_id, threshold = spec["env"], THRESHOLDS[spec["env"]]
    entry = {**load_hyperparams(env_id), **spec["overrides"]}
    policy, kwargs = model_kwargs(entry)
    model = CoSyNE(policy, training_env(env_id, entry), seed=spec["seed"], fast_path=spec["fast_path"], **kwargs)
    checks: list[dict[str, Any]] = []
    clock = {"cpu": 0.0, "start": time.process_time()}

    class Checks(BaseCallback):
        def _on_rollout_end(self) -> None:
            if model.num_timesteps < (len(checks) + 1) * spec["check_every"]:
                return
            clock["cpu"] += time.process_time() - clock["start"]
            returns = confirm(model, env_id)
            checks.append(
                {
                    "steps": int(model.num_timesteps),
                    "cpu_s": round(clock["cpu"], 2),
                    "generation": int(model.generation),
                    "check_steps": int(model.check_timesteps),
                    "holdout": float(model.champion.holdout) if np.isfinite(model.champion.holdout) else None,
                    "retest_mean": float(model.best_fitness),
                    "confirm_mean": float(returns.mean()),
                    "confirm_std": float(returns.std()),
                }
            )
            clock["start"] = time.process_time()

        def _on_step(self) -> bool:
            return True

    model.learn(spec["steps"], callback=Checks())
    final = confirm(model, env_id)
    solved = next((check for check in checks if check["confirm_mean"] >= threshold), None)
    return {
        "env": env_id,
        "seed": spec["seed"],
        "overrides": spec["overrides"],
        "threshold": threshold,
        "steps": int(model.num_timesteps),
        "check_steps": int(model.check_timesteps),
        "cpu_s": round(clock["cpu"] + time.process_time() - clock["start"], 2),
        "final_confirm_mean": float(final.mean()),
        "final_confirm_std": float(final.std()),
        "solved_at": solved,
        "checks": checks,
    }


def row_label(record: dict[str, Any]) -> str:
    """
    :return: the env, with the run's overrides of its entry when it has any
    """
    overrides = ", ".join(f"{key}={value}" for key, value in record["overrides"].items())
    return f"{record['env']} ({overrides})" if overrides else record["env"]


def markdown_table(document: dict[str, Any]) -> str:
    """
    The published table: per env (a row per set of overrides), the seeds whose returned network is solved on the 100
    confirmation episodes at the end of training, the median of their means, the first check at which the
    confirmation reached the threshold (the median over the seeds that reached it), the median env steps and CPU
    seconds of training, and each seed's mean.

    :param document: a ``hard_tasks`` results document
    """
    records = document["results"]
    lines = [
        "| env | solved at the end (100 fresh episodes) | median 100-episode mean | first solved at (env steps) "
        "| env steps | CPU s (median) | each seed |",
        "|---|---|---|---|---|---|---|",
    ]
    for label in sorted({row_label(record) for record in records}):
        runs = sorted((record for record in records if row_label(record) == label), key=lambda record: record["seed"])
        finals = [record["final_confirm_mean"] for record in runs]
        passing = sum(final >= runs[0]["threshold"] for final in finals)
        solved = [record["solved_at"]["steps"] for record in runs if record.get("solved_at")]
        first = f"{statistics.median(solved):,.0f} ({len(solved)}/{len(runs)} seeds)" if solved else "never"
        each = ", ".join(f"{record['seed']}: {record['final_confirm_mean']:.0f}" for record in runs)
        lines.append(
            f"| {label} | {passing}/{len(runs)} (≥ {runs[0]['threshold']:g}) | {statistics.median(finals):.1f} | "
            f"{first} | {statistics.median(record['steps'] for record in runs):,.0f} | "
            f"{statistics.median(record['cpu_s'] for record in runs):.0f} | {each} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--envs", nargs="+", default=["LunarLander-v3"], choices=sorted(THRESHOLDS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    parser.add_argument("--steps", type=int, default=1_000_000, help="training env steps per run")
    parser.add_argument("--check-every", type=int, default=100_000, help="env steps between confirmations")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="overrides of the yml entry")
    parser.add_argument(
        "--baseline", nargs="*", metavar="KEY=VALUE", help="also run every (env, seed) with these overrides instead"
    )
    parser.add_argument("--fast-path", choices=["on", "off"], default="on", help="off: step the Python env")
    parser.add_argument("--jobs", type=int, default=1, help="runs at once (one core each)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    overrides = parse_overrides(args.set)
    variants = [overrides] if args.baseline is None else [overrides, parse_overrides(args.baseline)]
    specs = [
        {
            "env": env_id,
            "seed": seed,
            "steps": args.steps,
            "check_every": args.check_every,
            "overrides": variant,
            "fast_path": args.fast_path == "on",
        }
        for env_id in args.envs
        for variant in variants
        for seed in args.seeds
    ]
    records: list[dict[str, Any]] = []
    settings = {"steps": args.steps, "check_every": args.check_every, "overrides": overrides, "fast_path": args.fast_path}
    if args.baseline is not None:
        settings["baseline"] = variants[1]
    # Set before the workers start, so that numpy's thread pools start single-threaded; one process per run, so that
    # every run pays its own start-up.
    os.environ.update(SINGLE_THREAD_ENV)
    with multiprocessing.get_context("spawn").Pool(args.jobs, maxtasksperchild=1) as pool:
        for record in pool.imap_unordered(run_one, specs):
            records.append(record)
            print(
                f"{row_label(record)} seed {record['seed']}: final {record['final_confirm_mean']:.1f}, "
                f"{record['steps']:,} steps, {record['cpu_s']:.0f} CPU s, solved at "
                f"{record['solved_at']['steps'] if record['solved_at'] else 'never'}",
                flush=True,
            )
            document = make_document("hard_tasks", "benchmarks.hard_tasks", args.seeds, settings, records, argv)
            write_document(args.out, document)
    print(markdown_table(document))


if __name__ == "__main__":
    main()
