"""
PPO and ARS built by rl_zoo3's own ``ExperimentManager`` from rl_zoo3's tuned hyperparameters, as
``sb3_cosyne.compare`` builds them: the zoo's hyperparameter preprocessing, schedules, envs and normalisation.

Importing this module imports rl_zoo3, which patches gymnasium's ``TimeLimit``: only the processes of the rl_zoo3
algorithms import it.
"""

import argparse
import contextlib
import os
from pathlib import Path
from typing import Any

from rl_zoo3.exp_manager import ExperimentManager
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.vec_env import VecEnv

from benchmarks.time_to_solve.tasks import BUDGETS


class BenchmarkManager(ExperimentManager):
    """
    rl_zoo3's ``ExperimentManager`` (hyperparameters, schedules, envs, normalisation, model) with no callbacks of
    its own (the tracker evaluates) and no ``monitor.csv``: training logs would be charged to the training clock.

    :param folder: where the zoo writes its config files
    :param kwargs: ``ExperimentManager``'s arguments
    """

    def __init__(self, folder: Path, **kwargs: Any) -> None:
        super().__init__(eval_freq=-1, save_freq=-1, **kwargs)
        self.save_path = str(folder)
        self.params_path = str(folder / self.env_name)

    def create_envs(self, n_envs: int, eval_env: bool = False, no_log: bool = False) -> VecEnv:
        return super().create_envs(n_envs, eval_env=eval_env, no_log=True)


def build_zoo_model(algo: str, env_id: str, seed: int, folder: Path) -> BaseAlgorithm:
    """
    PPO or ARS with rl_zoo3's tuned hyperparameters (its ``default`` entry where the env has none), built by rl_zoo3.

    ARS trains on one env in this process (the zoo's ``setup_experiment`` gives ARS one env; only the zoo's ``learn``
    would evaluate candidates in ``n_envs`` processes, and the benchmark calls the model's own ``learn``).

    :param algo: "ppo" or "ars"
    :param env_id: gymnasium id
    :param seed: run seed (model and envs)
    :param folder: scratch folder for the zoo's config files
    :return: the model
    """
    manager = BenchmarkManager(
        folder,
        args=argparse.Namespace(algo=algo, env=env_id, seed=seed),
        algo=algo,
        env_id=env_id,
        log_folder=str(folder),
        n_timesteps=BUDGETS[env_id],
        seed=seed,
        verbose=0,
        device="cpu",
    )
    # The zoo prints its hyperparameters; the benchmark's output is its progress lines.
    with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull):
        model, _ = manager.setup_experiment()
    return model
