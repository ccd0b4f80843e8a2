"""How observations become network inputs and network outputs become actions, in numpy.

One implementation serves both the batched Numba rollouts and the torch policy's ``predict``, so the
two cannot drift apart.
"""

import numpy as np
from gymnasium import spaces
from numba import njit

from sb3_cosyne.networks.activations import tanh, tanh_array

#: Normalised observations are clipped to this magnitude, as in SB3's ``VecNormalize``.
OBS_CLIP = 10.0
SUPPORTED_OBSERVATION_SPACES = (spaces.Box, spaces.Discrete, spaces.MultiDiscrete, spaces.MultiBinary)
SUPPORTED_ACTION_SPACES = (spaces.Box, spaces.Discrete, spaces.MultiDiscrete, spaces.MultiBinary)


def check_spaces(observation_space: spaces.Space, action_space: spaces.Space) -> None:
    """
    Raise a clear error for the spaces CoSyNE's networks cannot handle.

    :raises ValueError: naming the unsupported space and what is supported
    """
    if not isinstance(observation_space, SUPPORTED_OBSERVATION_SPACES):
        raise ValueError(
            f"CoSyNE does not support the observation space {observation_space}: supported are Box, Discrete "
            "(one-hot), MultiDiscrete (one-hot per dimension) and MultiBinary; flatten Dict/Tuple observations "
            "with gymnasium.wrappers.FlattenObservation"
        )
    if not isinstance(action_space, SUPPORTED_ACTION_SPACES):
        raise ValueError(
            f"CoSyNE does not support the action space {action_space}: supported are bounded Box, Discrete, "
            "MultiDiscrete and MultiBinary"
        )
    if isinstance(action_space, spaces.Box) and not (
        np.all(np.isfinite(action_space.low)) and np.all(np.isfinite(action_space.high))
    ):
        raise ValueError(
            f"CoSyNE needs a bounded Box action space to squash its outputs into, got {action_space}: "
            "rescale the actions with gymnasium.wrappers.RescaleAction or clip them in a wrapper"
        )


def input_dim(observation_space: spaces.Space) -> int:
    """Number of network inputs for an observation space."""
    if isinstance(observation_space, spaces.Discrete):
        return int(observation_space.n)
    if isinstance(observation_space, spaces.MultiDiscrete):
        return int(np.sum(observation_space.nvec))
    return int(np.prod(observation_space.shape))


def output_dim(action_space: spaces.Space) -> int:
    """Number of network outputs for an action space."""
    if isinstance(action_space, spaces.Discrete):
        return int(action_space.n)
    if isinstance(action_space, spaces.MultiDiscrete):
        return int(np.sum(action_space.nvec))
    return int(np.prod(action_space.shape))


def _one_hot(values: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """One-hot encode each column of ``values`` (batch, k) with ``sizes[c]`` classes, concatenated."""
    offsets = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    encoded = np.zeros((values.shape[0], int(np.sum(sizes))))
    encoded[np.arange(values.shape[0])[:, None], offsets + values] = 1.0
    return encoded


def preprocess_obs(
    obs: np.ndarray, observation_space: spaces.Space, mean: np.ndarray | None = None, std: np.ndarray | None = None
) -> np.ndarray:
    """
    Turn a batch of observations into network inputs.

    Box observations are flattened and, when ``mean`` and ``std`` are given, normalised and clipped to
    ``±OBS_CLIP``; Discrete and MultiDiscrete observations are one-hot encoded; MultiBinary ones cast to float.

    :param obs: a batch of observations, shape ``(batch, *observation_space.shape)``
    :param observation_space: the observation space
    :param mean: running mean of Box observations, or None for no normalisation
    :param std: running standard deviation of Box observations
    :return: float64 inputs, shape ``(batch, input_dim)``
    """
    obs = np.asarray(obs)
    if isinstance(observation_space, spaces.Discrete):
        values = obs.reshape(-1, 1).astype(np.int64) - int(observation_space.start)
        return _one_hot(values, np.array([observation_space.n]))
    if isinstance(observation_space, spaces.MultiDiscrete):
        batch = obs.reshape(-1, observation_space.nvec.size).astype(np.int64) - observation_space.start.reshape(1, -1)
        return _one_hot(batch, observation_space.nvec.ravel())
    x = obs.reshape(obs.shape[0], -1).astype(np.float64)
    return normalize(x, mean, std) if isinstance(observation_space, spaces.Box) else x


def normalize(x: np.ndarray, mean: np.ndarray | None, std: np.ndarray | None) -> np.ndarray:
    """
    Normalise flat inputs by running statistics and clip them to ``±OBS_CLIP``.

    :param x: inputs, shape ``(batch, input_dim)``
    :param mean: running mean, or None to return ``x`` unchanged
    :param std: running standard deviation
    :return: the normalised inputs
    """
    if mean is None:
        return x
    return np.clip((x - mean.reshape(1, -1)) / std.reshape(1, -1), -OBS_CLIP, OBS_CLIP)


def outputs_to_actions(outputs: np.ndarray, action_space: spaces.Space) -> np.ndarray:
    """
    Turn a batch of network outputs into actions.

    Box: ``tanh`` squashes each output into ``[-1, 1]``, rescaled linearly to ``[low, high]``.
    Discrete: the argmax. MultiDiscrete: the argmax within each dimension's block of outputs.
    MultiBinary: 1 where the output is positive.

    :param outputs: network outputs, shape ``(batch, output_dim)``
    :param action_space: the action space
    :return: actions, shape ``(batch, *action_space.shape)``
    """
    batch = outputs.shape[0]
    if isinstance(action_space, spaces.Box):
        low, high = action_space.low.reshape(1, -1), action_space.high.reshape(1, -1)
        squashed = tanh_array(np.asarray(outputs, dtype=np.float64))
        actions = np.clip(low + 0.5 * (squashed + 1.0) * (high - low), low, high)
        return actions.reshape(batch, *action_space.shape).astype(action_space.dtype)
    if isinstance(action_space, spaces.Discrete):
        actions = outputs.argmax(axis=1)
        return actions + int(action_space.start) if action_space.start else actions
    if isinstance(action_space, spaces.MultiDiscrete):
        nvec = action_space.nvec.ravel()
        bounds = np.concatenate(([0], np.cumsum(nvec)))
        actions = np.stack([np.argmax(outputs[:, bounds[d] : bounds[d + 1]], axis=1) for d in range(nvec.size)], axis=1)
        actions = actions + action_space.start.reshape(1, -1)
        return actions.reshape(batch, *action_space.shape).astype(action_space.dtype)
    return (outputs > 0).reshape(batch, *action_space.shape).astype(action_space.dtype)


@njit(cache=True, inline="always")
def argmax(values: np.ndarray, n: int) -> int:
    """
    ``np.argmax(values[:n])`` (a Discrete action from the outputs, as ``outputs_to_actions`` computes it): the first
    maximum, or the first NaN. Inlined into compiled paths, where Numba's ``np.argmax`` takes a quarter of a second to
    compile.
    """
    best = 0
    for k in range(1, n):
        if not np.isnan(values[best]) and (np.isnan(values[k]) or values[k] > values[best]):
            best = k
    return best


@njit(cache=True, inline="always")
def box_action(output: float, low: float, span: float, high: float) -> float:
    """
    One entry of a Box action from a network output, as ``outputs_to_actions`` computes it: ``low + 0.5 *
    (tanh(output) + 1) * span``, clipped to ``[low, high]`` (NaN passes), in float64. Inlined into every
    compiled path that makes Box actions, so that they all compute the same.

    :param span: ``high - low`` (computed in the space's dtype)
    """
    value = low + 0.5 * (tanh(output) + 1.0) * span
    if value < low:
        return low
    if value > high:
        return high
    return value


@njit(cache=True, error_model="numpy")
def box_actions(outputs: np.ndarray, bounds: np.ndarray, actions: np.ndarray) -> None:
    """
    Box actions from network outputs (:func:`box_action` of each), cast to the actions' dtype.

    :param outputs: network outputs, one row per action
    :param bounds: float64 rows ``low``, ``high - low`` (computed in the space's dtype) and ``high``
    :param actions: receives the actions, shape ``(outputs.shape[0], bounds.shape[1])``
    """
    for row in range(actions.shape[0]):
        for i in range(actions.shape[1]):
            actions[row, i] = box_action(outputs[row, i], bounds[0, i], bounds[1, i], bounds[2, i])
