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

``--workers N`` trains each run on N worker processes (a ``SubprocEvaluator``), one run after another: its records
then also give the wall seconds (``wall_s``, checks excluded), which count what the run takes on N cores, while
``cpu_s`` counts this process only.

``--baseline`` runs every (env, seed) a second time with other overrides (say, an entry's earlier values), side by
side in the same run; its rows are labelled with those overrides.

``--save-dir DIR`` saves each run's model at the end (``DIR/ENV-seedSEED.zip``, ``...-baseline.zip`` for a baseline
run), population and champion included: ``CoSyNE.load`` it to film the returned network, or to train it further,
with other settings, from where a long run stalled. ``--load-dir DIR`` does that: each run goes on from its model
saved in DIR for ``--steps`` more env steps, the ``--set`` overrides applied as ``CoSyNE.load`` applies them (the
search's, the episodes' and the champion's settings), checked every ``--check-every`` steps from where it was saved.

Tune on seeds >= 1000 and report on seeds 0-4.

Usage::

    python -m benchmarks.hard_tasks --envs LunarLander-v3 --seeds 1000 1001 --steps 1000000 --jobs 2 \\
        [--set holdout_episodes=30 n_eval_episodes=5] [--baseline init_scale=1.0] [--fast-path off] [--workers 2] \\
        [--save-dir DIR] [--load-dir DIR] [--out FILE]
"""

import argparse
import functools
import multiprocessing
import os
import statistics
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import yaml
from stable_baselines3.common.callbacks import BaseCallback

from benchmarks.provenance import REPO_ROOT, make_document, write_document
from benchmarks.time_to_solve.runner import SINGLE_THREAD_ENV
from sb3_cosyne.compare.clock import TrainingClock

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


def training_env(env_id: str, wrapper: Any = None) -> gym.Env:
    """
    The env a run trains on, with the wrapper its entry names in rl_zoo3's ``env_wrapper`` key (training-only reward
    shaping such as ``sb3_cosyne.envs.FallPenalty``). A module-level function, so that worker processes can make it.

    :param wrapper: the ``env_wrapper`` value, as rl_zoo3 reads it (a dotted name, or one with keyword arguments)
    """
    env = gym.make(env_id)
    if wrapper is None:
        return env
    from rl_zoo3.utils import get_wrapper_class

    return get_wrapper_class({"env_wrapper": wrapper})(env)


def make_model(spec: dict[str, Any]):
    """
    The run's model: the env's yml entry with the run's overrides, trained on the env with the entry's
    ``env_wrapper`` if it names one, and with ``spec["workers"]`` worker processes (a ``SubprocEvaluator``) if more
    than one.

    :param spec: env, seed, overrides, fast_path and, optionally, workers and load_from (a saved model to go on
        from, with the overrides as ``load``'s keyword arguments)
    """
    from stable_baselines3.common.env_util import make_vec_env

    from sb3_cosyne import CoSyNE
    from sb3_cosyne.evaluation import SubprocEvaluator
    from sb3_cosyne.hyperparams import entry_env, load_hyperparams, model_kwargs

    env_id = spec["env"]
    entry = {**load_hyperparams(env_id), **spec["overrides"]}
    wrapper = entry.get("env_wrapper")
    make_env = functools.partial(training_env, env_id, wrapper)
    workers = spec.get("workers", 1)
    evaluator = SubprocEvaluator(make_env, n_workers=workers) if workers > 1 else None
    # With a wrapper: the entry's lanes (n_envs), each env wrapped for training.
    env = entry_env(env_id, entry) if wrapper is None else make_vec_env(make_env, n_envs=entry.get("n_envs", 1))
    if spec.get("load_from"):
        _, overrides = model_kwargs(spec["overrides"])
        return CoSyNE.load(spec["load_from"], env=env, fast_path=spec["fast_path"], evaluator=evaluator, **overrides)
    policy, kwargs = model_kwargs(entry)
    return CoSyNE(policy, env, seed=spec["seed"], fast_path=spec["fast_path"], evaluator=evaluator, **kwargs)


def clock_fields(clock: TrainingClock) -> dict[str, float]:
    """
    :param clock: a run's training clock (paused while the checks run)
    :return: its readings as a record's fields: this process's CPU seconds (``cpu_s``; worker processes' not
        included) and wall seconds (``wall_s``, which counts a run on several workers as it takes)
    """
    return {f"{name}_s": round(seconds, 2) for name, seconds in clock.elapsed().items()}


class ConfirmationChecks(BaseCallback):
    """
    Plays the confirmation episodes with the champion at the end of the first generation that crosses every
    ``check_every`` env steps after ``start``, with the training clock paused, and keeps a record of each check.

    :param env_id: the env whose confirmation episodes the champion plays (the plain env, no training wrapper)
    :param check_every: env steps between checks
    :param start: the model's env steps when this run began (a loaded model's steps so far)
    :param clock: the run's training clock
    """

    def __init__(self, env_id: str, check_every: int, start: int, clock: TrainingClock):
        super().__init__()
        self.env_id, self.check_every, self.start, self.clock = env_id, check_every, start, clock
        #: one record per check, in order
        self.records: list[dict[str, Any]] = []

    def _on_rollout_end(self) -> None:
        if self.model.num_timesteps - self.start < (len(self.records) + 1) * self.check_every:
            return
        self.clock.pause()
        returns = confirm(self.model, self.env_id)
        self.records.append(
            {**self.champion_fields(), "confirm_mean": float(returns.mean()), "confirm_std": float(returns.std())}
        )
        self.clock.resume()

    def champion_fields(self) -> dict[str, Any]:
        """Where training stands at a check: steps, clock, generation, and the champion's logged scores."""
        model = self.model
        return {
            "steps": int(model.num_timesteps),
            **clock_fields(self.clock),
            "generation": int(model.generation),
            "check_steps": int(model.check_timesteps),
            "holdout": float(model.champion.holdout) if np.isfinite(model.champion.holdout) else None,
            "retest_mean": float(model.best_fitness),
        }

    def _on_step(self) -> bool:
        return True


def run_one(spec: dict[str, Any]) -> dict[str, Any]:
    """
    One training run with its checks, in this (single-threaded) process, or on ``spec["workers"]`` worker processes.

    :param spec: env, seed, steps, check_every, overrides, fast_path and, optionally, workers, save_to (where to
        save the model at the end) and load_from (a saved model to go on from)
    :return: the run's record
    """
    env_id, threshold = spec["env"], THRESHOLDS[spec["env"]]
    model = make_model(spec)
    start = model.num_timesteps
    clock = TrainingClock()
    clock.resume()
    checks = ConfirmationChecks(env_id, spec["check_every"], start, clock)
    try:
        model.learn(spec["steps"], callback=checks, reset_num_timesteps=not spec.get("load_from"))
    finally:
        if model.evaluator is not None:
            model.evaluator.close()
    clock.pause()
    if spec.get("save_to"):
        model.save(spec["save_to"])
    final = confirm(model, env_id)
    solved = next((check for check in checks.records if check["confirm_mean"] >= threshold), None)
    return {
        "env": env_id,
        "seed": spec["seed"],
        "overrides": spec["overrides"],
        **({"loaded_from": spec["load_from"], "start_steps": int(start)} if spec.get("load_from") else {}),
        "threshold": threshold,
        "steps": int(model.num_timesteps),
        "check_steps": int(model.check_timesteps),
        **clock_fields(clock),
        "workers": spec.get("workers", 1),
        "final_confirm_mean": float(final.mean()),
        "final_confirm_std": float(final.std()),
        "solved_at": solved,
        "checks": checks.records,
    }


def row_label(record: dict[str, Any], where: str = "") -> str:
    """
    :param record: a run's record
    :param where: what to say after the env's name (e.g. " on the Python env")
    :return: the env, with the run's overrides of its entry when it has any
    """
    overrides = ", ".join(f"{key}={value}" for key, value in record["overrides"].items())
    return f"{record['env']}{where} ({overrides})" if overrides else f"{record['env']}{where}"


def markdown_table(document: dict[str, Any]) -> str:
    """
    The published table: per env (a row per set of overrides), the seeds whose returned network is solved on the 100
    confirmation episodes at the end of training, the median of their means, the first check at which the
    confirmation reached the threshold (the median over the seeds that reached it), the median env steps and CPU
    seconds of training (wall seconds for runs on worker processes, whose CPU time this process does not see), and
    each seed's mean.

    :param document: a ``hard_tasks`` results document
    """
    records = document["results"]
    workers = max(record.get("workers", 1) for record in records)
    clock, clock_title = ("wall_s", f"wall s on {workers} workers") if workers > 1 else ("cpu_s", "CPU s")
    lines = [
        "| env | solved at the end (100 fresh episodes) | median 100-episode mean | first solved at (env steps) "
        f"| env steps | {clock_title} (median) | each seed |",
        "|---|---|---|---|---|---|---|",
    ]
    # Fast-path runs return what the Python env would; runs without it say so, as a user's own env runs that way.
    where = " on the Python env" if document.get("settings", {}).get("fast_path") == "off" else ""
    for label in sorted({row_label(record, where) for record in records}):
        runs = sorted((record for record in records if row_label(record, where) == label), key=lambda r: r["seed"])
        finals = [record["final_confirm_mean"] for record in runs]
        passing = sum(final >= runs[0]["threshold"] for final in finals)
        solved = [record["solved_at"]["steps"] for record in runs if record.get("solved_at")]
        first = f"{statistics.median(solved):,.0f} ({len(solved)}/{len(runs)} seeds)" if solved else "never"
        each = ", ".join(f"{record['seed']}: {record['final_confirm_mean']:.0f}" for record in runs)
        lines.append(
            f"| {label} | {passing}/{len(runs)} (≥ {runs[0]['threshold']:g}) | {statistics.median(finals):.1f} | "
            f"{first} | {statistics.median(record['steps'] for record in runs):,.0f} | "
            f"{statistics.median(record[clock] for record in runs):.0f} | {each} |"
        )
    return "\n".join(lines)


def model_path(save_dir: Path, env_id: str, seed: int, baseline: bool = False) -> Path:
    """Where ``--save-dir`` saves a run's model: ``ENV-seedSEED.zip``, with ``-baseline`` for a ``--baseline`` run."""
    name = env_id.replace("/", "_")
    return save_dir / f"{name}-seed{seed}{'-baseline' if baseline else ''}.zip"


def run_all(specs: list[dict[str, Any]], jobs: int, workers: int):
    """
    The runs' records, as they finish: ``jobs`` runs at once, each in its own process, or, with ``workers`` > 1,
    one by one in this process (a pool's processes cannot start workers of their own).
    """
    if workers > 1:
        yield from map(run_one, specs)
        return
    with multiprocessing.get_context("spawn").Pool(jobs, maxtasksperchild=1) as pool:
        yield from pool.imap_unordered(run_one, specs)


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
    parser.add_argument(
        "--workers", type=int, default=1, help="worker processes of each run (a SubprocEvaluator); runs then go one by one"
    )
    parser.add_argument("--save-dir", type=Path, help="save each run's model at the end in this folder")
    parser.add_argument(
        "--load-dir", type=Path, help="go on from each run's model saved (--save-dir) in this folder, --steps more"
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    if args.workers > 1 and args.jobs > 1:
        parser.error("--workers > 1 runs one run at a time on its workers: leave --jobs at 1")
    if args.save_dir is not None:
        args.save_dir.mkdir(parents=True, exist_ok=True)
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
            "workers": args.workers,
            "save_to": None if args.save_dir is None else str(model_path(args.save_dir, env_id, seed, baseline=index > 0)),
            "load_from": None if args.load_dir is None else str(model_path(args.load_dir, env_id, seed, baseline=index > 0)),
        }
        for env_id in args.envs
        for index, variant in enumerate(variants)
        for seed in args.seeds
    ]
    records: list[dict[str, Any]] = []
    settings = {"steps": args.steps, "check_every": args.check_every, "overrides": overrides, "fast_path": args.fast_path}
    if args.baseline is not None:
        settings["baseline"] = variants[1]
    if args.load_dir is not None:
        settings["load_dir"] = str(args.load_dir)
    # Set before the workers start, so that numpy's thread pools start single-threaded; one process per run, so that
    # every run pays its own start-up.
    os.environ.update(SINGLE_THREAD_ENV)
    if args.workers > 1:
        settings["workers"] = args.workers
    for record in run_all(specs, args.jobs, args.workers):
        records.append(record)
        print(
            f"{row_label(record)} seed {record['seed']}: final {record['final_confirm_mean']:.1f}, "
            f"{record['steps']:,} steps, {record['cpu_s']:.0f} CPU s, {record['wall_s']:.0f} wall s, solved at "
            f"{record['solved_at']['steps'] if record['solved_at'] else 'never'}",
            flush=True,
        )
        document = make_document("hard_tasks", "benchmarks.hard_tasks", args.seeds, settings, records, argv)
        write_document(args.out, document)
    print(markdown_table(document))


if __name__ == "__main__":
    main()
