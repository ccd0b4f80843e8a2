"""What an evaluation gives back, and the error it raises when an env fails."""

from dataclasses import dataclass

import numpy as np


class EnvStepError(RuntimeError):
    """An env raised while a network was being evaluated; the message names the network and the lane."""


@dataclass
class EvaluationResult:
    """
    What a batch of episodes produced.

    :param returns: episode returns, shape ``(n_networks, n_episodes)``; NaN where the env produced
        a non-finite observation or reward
    :param lengths: episode lengths, same shape
    :param obs_count: number of observations seen (counted only when normalising)
    :param obs_sum: sum of the raw flattened observations (for normalisation statistics)
    :param obs_sq_sum: sum of their squares
    :param aborted: True when a callback asked to stop before every episode finished
    :param successes: each episode's ``info["is_success"]`` at its end (1.0 or 0.0), NaN where the env did not
        report one; None when no episode reported one
    :param cut_episodes: the number of episodes cut at the episode cap (``max_episode_steps``)
    """

    returns: np.ndarray
    lengths: np.ndarray
    obs_count: int
    obs_sum: np.ndarray
    obs_sq_sum: np.ndarray
    aborted: bool = False
    successes: np.ndarray | None = None
    cut_episodes: int = 0

    def record_success(self, network: int, episode: int, info: dict) -> None:
        """Keep an episode's ``is_success`` from the ``info`` of its last step, if the env reports one."""
        success = info.get("is_success")
        if success is not None:
            self.set_successes(network, episode, float(success))

    def set_successes(self, networks: int | slice, episodes: int | slice, values: float | np.ndarray) -> None:
        """Write episodes' successes (``successes[networks, episodes] = values``), making the array at the first."""
        if self.successes is None:
            self.successes = np.full(self.returns.shape, np.nan)
        self.successes[networks, episodes] = values


@dataclass
class Transition:
    """
    One batched step of the lanes, as SB3's on-policy loop shows it to callbacks (``callback.locals``): arrays over
    the VecEnv's lanes, idle lanes holding zeros, False and empty infos.

    :param n_steps: the number of lanes stepped (env steps taken)
    :param actions: each lane's action
    :param new_obs: each lane's observation after the step (for a lane whose episode ended, its last one; under
        VecEnv wrappers, as SB3 gives it, the next episode's first)
    :param rewards: each lane's reward
    :param dones: whether each lane's episode ended
    :param infos: each lane's info
    """

    n_steps: int
    actions: np.ndarray
    new_obs: np.ndarray
    rewards: np.ndarray
    dones: np.ndarray
    infos: list[dict]
