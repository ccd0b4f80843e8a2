"""The worker side of an evaluator: one env copy, on which blocks of a generation are evaluated.

A worker runs a block exactly as CoSyNE runs a generation locally: on the compiled fast path when its
env has one, otherwise on the lanes of its VecEnv (``evaluate_networks``). Networks and episodes are
numbered in the whole call's numbering in errors and invalid-episode reports.
"""

import functools
import os
import socket
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import VecEnv

from sb3_cosyne.evaluation.evaluator import Block, tighter_cap
from sb3_cosyne.evaluation.fast_path import CompiledRollout, compiled_rollout
from sb3_cosyne.evaluation.lanes import evaluate_networks
from sb3_cosyne.evaluation.result import EnvStepError, EvaluationResult
from sb3_cosyne.networks.spec import NetworkSpec


def worker_env_factory(
    env: str | Callable[[], gym.Env],
    n_envs: int,
    env_kwargs: dict[str, Any] | None,
    wrapper_class: type[gym.Wrapper] | None,
    wrapper_kwargs: dict[str, Any] | None,
) -> Callable[[], VecEnv]:
    """
    What builds a worker's VecEnv: SB3's ``make_vec_env`` with these arguments, an env id made without a render
    mode, as ``CoSyNE`` makes one (``make_vec_env`` would ask for ``rgb_array``, with which LunarLander simulates
    its decorative exhaust particles at 3-4 times the cost of a step); ``env_kwargs`` may still set one.

    :raises ValueError: when ``env`` is neither an env id nor a function
    """
    if isinstance(env, str):
        env_kwargs = {"render_mode": None, **(env_kwargs or {})}
    elif not callable(env):
        raise ValueError(f"env must be a gymnasium env id or a function returning an env, got {env!r}")
    return functools.partial(
        make_vec_env, env, n_envs=n_envs, env_kwargs=env_kwargs, wrapper_class=wrapper_class, wrapper_kwargs=wrapper_kwargs
    )


class EvaluationWorker:
    """
    Holds one copy of the env and evaluates blocks of networks on it.

    :param make_env: builds the worker's VecEnv (its lanes run the block's episodes)
    """

    def __init__(self, make_env: Callable[[], VecEnv]) -> None:
        self.env = make_env()
        if not isinstance(self.env, VecEnv):
            raise TypeError(f"the env factory must build a VecEnv, got {type(self.env).__name__}")
        self.network: NetworkSpec | None = None
        self.max_episode_steps: int | None = None
        self.compiled: CompiledRollout | None = None

    def spaces(self) -> tuple[spaces.Space, spaces.Space]:
        """The env's observation and action spaces."""
        return self.env.observation_space, self.env.action_space

    def set_network(self, network: NetworkSpec, fast_path: bool, max_episode_steps: int | None = None) -> None:
        """
        Evaluate networks of this architecture from now on.

        :param network: the networks' architecture
        :param fast_path: whether to use the env's compiled rollout, if it has one
        :param max_episode_steps: the episode cap (None: none)
        """
        self.network = network
        self.max_episode_steps = max_episode_steps
        self.compiled = compiled_rollout(self.env, max_episode_steps) if fast_path else None

    def evaluate(
        self,
        index: int,
        block: Block,
        params: np.ndarray,
        seeds: np.ndarray,
        obs_stats: tuple,
        max_steps: int | None = None,
    ) -> tuple[int, EvaluationResult, list[tuple[int, int, str]]]:
        """
        Run the episodes of one block.

        :param index: the block's index, returned as is so that results can arrive in any order
        :param block: where the block lies in the call's grid (for the numbers in errors and reports)
        :param params: the block's networks, shape ``(n_networks, num_params)``
        :param seeds: their reset seeds, shape ``(n_networks, n_episodes)``
        :param obs_stats: observation mean and standard deviation, or ``(None, None)``
        :param max_steps: the call's own episode cap, on top of the worker's (None: none)
        :raises EnvStepError: when the env raises, naming the network and episode in the call's numbering
        :return: the index, the result, and the (network, step, what) of episodes with non-finite values
        """
        if self.network is None:
            raise RuntimeError("set_network must be called before evaluate")
        invalid: list[tuple[int, int, str]] = []

        def on_invalid(network: int, step: int, what: str) -> None:
            invalid.append((network + block.networks.start, step, what))

        try:
            if self.compiled is not None:
                result = self.compiled(self.network, params, seeds, obs_stats, max_steps)
            else:
                result = evaluate_networks(
                    self.env,
                    self.network,
                    params,
                    seeds,
                    obs_stats,
                    on_invalid=on_invalid,
                    first_network=block.networks.start,
                    first_episode=block.episodes.start,
                    max_episode_steps=tighter_cap(self.max_episode_steps, max_steps),
                )
        except EnvStepError as error:
            where = f" (worker {os.getpid()} on {socket.gethostname()})"
            raise EnvStepError(f"{error}{where}") from None
        return index, result, invalid

    def close(self) -> None:
        self.env.close()
