"""
Speed of CoSyNE's compiled fast path: env steps per CPU second against the Python env.

For every env with a compiled port, in one run:

* **fast path**: a CoSyNE population (20 networks by default) evaluated by the compiled rollout, as a
  generation is in training: one episode per network from shared seeded starts, new seeds for every
  generation, until ``--steps`` env steps are done; network forward, physics, reward, the seeded resets and
  the rollout's Python wrapper all count (only the calls are timed, not this script's choice of the next
  networks and seeds, as the Python env's actions are drawn beforehand). The networks: the env's tuned
  ``cosyne.yml`` entry (policy, initial weight scale, observation normalisation), or the paper table's network
  for the pole tasks; the population is the one CoSyNE starts from, or the one it has after ``--generations``
  generations of training.
* **Python env**: the same env made by ``gym.make`` (with gymnasium's standard wrappers, as CoSyNE's lanes have it)
  stepped with uniformly random actions drawn beforehand, ``reset(seed=...)`` at every episode end, for
  ``--python-steps`` steps; no network.
* **VecEnv path**: the same population evaluated on CoSyNE's VecEnv (``fast_path=False``), one network at a
  time, for at least ``--python-steps`` steps; for reference.

Each measure is repeated ``--repeats`` times (other seeds each time); the table gives the medians of the
steps per CPU second (``time.process_time``, one process, one core) and their ratios.

Usage::

    python -m benchmarks.fast_path_speed [--envs CartPole-v1 ...] [--repeats 5] [--json out.json] [--markdown out.md]
"""

import argparse
import json
import statistics
import time
from typing import Any

import gymnasium as gym
import numpy as np

from benchmarks.paper_table import TASKS
from sb3_cosyne import CoSyNE, LinearPolicy, MlpPolicy, RecurrentPolicy
from sb3_cosyne.evaluation.fast_path import compiled_rollout
from sb3_cosyne.evaluation.lanes import evaluate_networks
from sb3_cosyne.hyperparams import load_hyperparams, model_kwargs

#: the pole tasks' networks, from the paper table's settings
POLE_TASKS = {task.env_id: task for key, task in TASKS.items() if key != "2b-damping"}
GYMNASIUM_ENVS = ["CartPole-v1", "Acrobot-v1", "MountainCar-v0", "MountainCarContinuous-v0", "Pendulum-v1"]
ENVS = [*POLE_TASKS, *GYMNASIUM_ENVS]


def make_model(env_id: str, pop_size: int, generations: int) -> CoSyNE:
    """
    CoSyNE as it trains on ``env_id``: the yml entry's settings, or the paper table's network for a pole task.

    :param generations: generations to train first (0: the population CoSyNE starts from)
    """
    if env_id in POLE_TASKS:
        task = POLE_TASKS[env_id]
        policy, kwargs = task.policy_class, dict(init_scale=task.init_scale, policy_kwargs=dict(net_arch=task.net_arch))
    else:
        try:
            policy, kwargs = model_kwargs(load_hyperparams(env_id))
        except KeyError:
            policy, kwargs = "MlpPolicy", {}
    kwargs.update(pop_size=pop_size, n_eval_episodes=1, seed=0)
    model = CoSyNE(policy, env_id, **kwargs)
    for _ in range(generations):
        model.learn(1, reset_num_timesteps=False)  # one generation
    return model


def network_name(model: CoSyNE) -> str:
    policy = model.policy
    name = {MlpPolicy: "MlpPolicy", LinearPolicy: "LinearPolicy", RecurrentPolicy: "RecurrentPolicy"}[type(policy)]
    hidden = f"[{', '.join(str(n) for n in policy.net_arch)}]"
    return f"{name} {hidden}, {policy.num_params} weights"


def rollout_rate(model: CoSyNE, evaluate, min_steps: int, seed: int, batch: int | None = None) -> float:
    """
    Steps per CPU second of ``evaluate`` on the model's population, one episode per network from shared seeded
    starts, new seeds for every batch, until ``min_steps`` steps are done.

    :param batch: networks per call, the whole population by default (a generation); fewer keep a slow path's
        measure short when episodes are long
    """
    population = model.strategy.ask()
    batch = len(population) if batch is None else batch
    stats = model._obs_stats()
    rng = np.random.default_rng(seed)
    steps, calls, seconds = 0, 0, 0.0
    while steps < min_steps:
        params = np.roll(population, -calls * batch, axis=0)[:batch]
        seeds = np.broadcast_to(rng.integers(0, 2**31 - 1, size=(1, 1)), (batch, 1))
        # only the call is timed: choosing the next networks and seeds is this script's work, not the path's
        start = time.process_time()
        result = evaluate(model.policy, params, seeds, stats)
        seconds += time.process_time() - start
        steps += int(result.lengths.sum())
        calls += 1
    return steps / seconds


def python_env_rate(env_id: str, n_steps: int, seed: int) -> float:
    """Steps per CPU second of ``gym.make(env_id)`` under random actions, resetting with a new seed after each episode."""
    env = gym.make(env_id)
    env.action_space.seed(seed)
    actions = [env.action_space.sample() for _ in range(n_steps)]
    if isinstance(env.action_space, gym.spaces.Discrete):
        actions = [int(action) for action in actions]
    episode = seed * n_steps
    env.reset(seed=episode)
    env.step(actions[0])  # the env checker's first-step checks
    env.reset(seed=episode)
    start = time.process_time()
    for action in actions:
        _, _, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            episode += 1
            env.reset(seed=episode)
    return n_steps / (time.process_time() - start)


def measure(env_id: str, args: argparse.Namespace) -> dict[str, Any]:
    model = make_model(env_id, args.pop_size, args.generations)
    fast = compiled_rollout(model.env)
    assert fast is not None, f"{env_id} has no compiled port"

    def vec_env_path(policy, params, seeds, stats):
        return evaluate_networks(model.env, policy, params, seeds, stats)

    rollout_rate(model, fast, 1, 0)  # compile (or load from Numba's cache) before timing
    runs = [
        {
            "fast_path": rollout_rate(model, fast, args.steps, repeat),
            "python_env": python_env_rate(env_id, args.python_steps, repeat),
            "vec_env_path": rollout_rate(model, vec_env_path, args.python_steps, repeat, batch=1),
        }
        for repeat in range(args.repeats)
    ]
    medians = {key: statistics.median(run[key] for run in runs) for key in runs[0]}
    return {"env": env_id, "network": network_name(model), "pop_size": args.pop_size, "runs": runs, "medians": medians}


def table(results: list[dict[str, Any]]) -> str:
    rows = [
        "| env | network | fast path steps/s | Python env steps/s | fast path / Python env | VecEnv path steps/s "
        "| fast path / VecEnv path |",
        "|---|---|---|---|---|---|---|",
    ]
    for result in results:
        m = result["medians"]
        rows.append(
            f"| {result['env']} | {result['network']} | {m['fast_path']:,.0f} | {m['python_env']:,.0f} | "
            f"{m['fast_path'] / m['python_env']:.1f}× | {m['vec_env_path']:,.0f} | {m['fast_path'] / m['vec_env_path']:.1f}× |"
        )
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--envs", nargs="+", default=ENVS, choices=ENVS)
    parser.add_argument("--pop-size", type=int, default=20, help="networks in the population")
    parser.add_argument("--generations", type=int, default=0, help="train this many generations before measuring")
    parser.add_argument("--repeats", type=int, default=5, help="the table gives the median of this many measures")
    parser.add_argument("--steps", type=int, default=200_000, help="env steps per measure of the fast path")
    parser.add_argument("--python-steps", type=int, default=20_000, help="env steps per measure of the Python paths")
    parser.add_argument("--json", help="write every measure to this file")
    parser.add_argument("--markdown", help="write the table to this file")
    args = parser.parse_args()

    gym.logger.min_level = 40  # the pole envs' unbounded observation space is intended
    results = []
    for env_id in args.envs:
        results.append(measure(env_id, args))
        print(table(results[-1:]).splitlines()[-1], flush=True)
    command = (
        f"python -m benchmarks.fast_path_speed --repeats {args.repeats} --pop-size {args.pop_size} "
        f"--generations {args.generations} --steps {args.steps} --python-steps {args.python_steps}"
    )
    footer = f"\n\nMedians of {args.repeats} measures of env steps per CPU second (one core), `{command}`."
    print("\n" + table(results) + footer)
    if args.markdown:
        with open(args.markdown, "w") as file:
            file.write(table(results) + footer + "\n")
    if args.json:
        with open(args.json, "w") as file:
            json.dump({"args": vars(args), "results": results}, file, indent=1)


if __name__ == "__main__":
    main()
