"""
The SB3 models of the benchmark: CoSyNE with its tuned ``cosyne.yml`` entry, PPO and ARS with rl_zoo3's (built by
``zoo``), and what lets the tracker evaluate and stop them.
"""

from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback

from benchmarks.time_to_solve.tasks import BUDGETS
from benchmarks.time_to_solve.tracking import Policy, Tracker


def sb3_policy(model: BaseAlgorithm) -> Policy:
    """
    Deterministic policy of an SB3 model for a single unnormalized observation.

    Observations are normalized with the training ``VecNormalize`` statistics (frozen: ``normalize_obs``
    does not update them), as the zoo does when it loads ``vecnormalize.pkl`` for evaluation.

    A recurrent model carries its state from step to step, reset at each episode's first step.

    :param model: SB3 model
    :return: the policy
    """
    venv = model.get_vec_normalize_env()
    state = None

    def policy(obs: np.ndarray, episode_start: bool) -> Any:
        nonlocal state
        if venv is not None:
            obs = venv.normalize_obs(obs)
        action, state = model.predict(obs, state, np.array([episode_start]), deterministic=True)
        return action

    return policy


def model_fingerprint(model: BaseAlgorithm) -> bytes:
    """
    :param model: SB3 model
    :return: the bytes of everything its deterministic policy depends on: the policy's state (parameters and
        buffers) and the ``VecNormalize`` observation statistics
    """
    parts = [tensor.detach().cpu().numpy().tobytes() for tensor in model.policy.state_dict().values()]
    venv = model.get_vec_normalize_env()
    if venv is not None:
        parts += [venv.obs_rms.mean.tobytes(), venv.obs_rms.var.tobytes()]
    return b"".join(parts)


class TrackerCallback(BaseCallback):
    """
    Lets the tracker evaluate ``self.model`` and stop training by raising.

    :param tracker: tracker of the run
    """

    def __init__(self, tracker: Tracker) -> None:
        super().__init__(verbose=0)
        self.tracker = tracker

    def _init_callback(self) -> None:
        self.policy, self.fingerprint = partial(sb3_policy, self.model), partial(model_fingerprint, self.model)

    def _on_step(self) -> bool:
        self.tracker.check(self.model.num_timesteps, self.policy, self.fingerprint)
        return True


def build_cosyne(env_id: str, seed: int) -> BaseAlgorithm:
    """
    CoSyNE with its tuned hyperparameters from ``sb3_cosyne/hyperparams/cosyne.yml`` (defaults where the env has none),
    on the env id, so that it picks its compiled path where the env has one, or on the entry's ``n_envs`` lanes.

    :param env_id: gymnasium id
    :param seed: run seed
    :return: the model
    """
    from sb3_cosyne import CoSyNE
    from sb3_cosyne.hyperparams import entry_env, model_kwargs, tuned_entry

    entry = tuned_entry(env_id)
    policy, kwargs = model_kwargs(entry)
    return CoSyNE(policy, entry_env(env_id, entry), seed=seed, verbose=0, **kwargs)


def build_model(algo: str, env_id: str, seed: int, scratch: Path) -> BaseAlgorithm:
    """
    :param algo: "cosyne", "ppo" or "ars"
    :param env_id: gymnasium id
    :param seed: run seed
    :param scratch: scratch folder (for the zoo's config files)
    :return: the model, with its tuned hyperparameters
    """
    if algo == "cosyne":
        return build_cosyne(env_id, seed)
    # Imported only here: importing rl_zoo3 patches gymnasium's TimeLimit, which CoSyNE's processes should not see.
    from benchmarks.time_to_solve.zoo import build_zoo_model

    return build_zoo_model(algo, env_id, seed, scratch)


def train_sb3(algo: str, env_id: str, seed: int, tracker: Tracker, scratch: Path) -> None:
    """
    Build (on the clock) and train an SB3 model until the tracker raises or the budget is spent.

    :param algo: "cosyne", "ppo" or "ars"
    :param env_id: gymnasium id
    :param seed: run seed
    :param tracker: tracker of the run
    :param scratch: scratch folder (for the zoo's config files)
    """
    model = build_model(algo, env_id, seed, scratch)
    model.learn(total_timesteps=BUDGETS[env_id], callback=TrackerCallback(tracker))
