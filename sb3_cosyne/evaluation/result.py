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
    """

    returns: np.ndarray
    lengths: np.ndarray
    obs_count: int
    obs_sum: np.ndarray
    obs_sq_sum: np.ndarray
    aborted: bool = False
