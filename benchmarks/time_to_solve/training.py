"""Which trainer runs which algorithm, and the untimed warm-up that fills Numba's cache before CoSyNE's timed runs."""

from pathlib import Path

from benchmarks.time_to_solve.cmaes import train_cmaes
from benchmarks.time_to_solve.models import build_cosyne, train_sb3
from benchmarks.time_to_solve.tracking import Tracker


def train(algo: str, env_id: str, seed: int, tracker: Tracker, scratch: Path) -> None:
    """
    Train until the tracker raises (solved, out of time) or the env's step budget is spent.

    :param algo: "cosyne", "cmaes", "ars" or "ppo"
    :param env_id: gymnasium id
    :param seed: run seed
    :param tracker: tracker of the run, its clock running
    :param scratch: scratch folder
    """
    if algo == "cmaes":
        train_cmaes(env_id, seed, tracker)
    else:
        train_sb3(algo, env_id, seed, tracker, scratch)


def warm_up(env_id: str) -> None:
    """
    Untimed short CoSyNE run, so that Numba has compiled and cached its functions before the timed runs.

    :param env_id: gymnasium id
    """
    model = build_cosyne(env_id, seed=0)
    model.learn(total_timesteps=1)
    model.predict(model.get_env().reset(), deterministic=True)
