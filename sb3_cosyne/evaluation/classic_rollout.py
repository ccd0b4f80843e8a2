"""Whole episodes of many networks on a classic-control port, in one compiled loop.

One loop serves every port: it runs the network on the observation, turns the outputs into the action as
CoSyNE's batched evaluation does, and calls the port's step and observation through
:mod:`~sb3_cosyne.envs.classic_control.dispatch`, which dispatches on the port's code. The steps,
observations and network are inlined into the loop (``inline="always"``): a call that passes arrays costs two
atomic reference-count updates per array, which at every step would cost more than many a port's physics.
Numba's on-disk cache of the loop follows this file's timestamp only: after editing a port's module (or the
network's), delete the ``__pycache__`` ``*.nbi``/``*.nbc`` files or touch this file.
"""

import numpy as np
from numba import njit

from sb3_cosyne.envs.classic_control.dispatch import env_observe, env_step
from sb3_cosyne.evaluation.pole_rollout import network_outputs, rollout_buffers
from sb3_cosyne.networks.spaces import box_action


@njit(cache=True, error_model="numpy")
def classic_rollouts(
    env: int,
    params: np.ndarray,
    layer_sizes: np.ndarray,
    with_bias: bool,
    activation: int,
    starts: np.ndarray,
    first_obs: np.ndarray,
    constants: np.ndarray,
    discrete: bool,
    action_low: float,
    action_high: float,
    obs_norm: np.ndarray,
    normalize: bool,
    max_steps: int,
):
    """
    One episode of each network on the port ``env``.

    :param env: the port's code
    :param params: one chromosome per episode, shape ``(k, n)``
    :param layer_sizes: the network's layer sizes (inputs = observation + recurrent state)
    :param with_bias: whether neurons have biases
    :param activation: the hidden activation's code
    :param starts: each episode's state after the env's seeded ``reset``, shape ``(k, state size)``
    :param first_obs: the observation that ``reset`` returned, shape ``(k, obs_dim)``
    :param constants: the env's settings, in the port's layout
    :param discrete: a ``Discrete`` action (the argmax of the outputs), else a one-dimensional ``Box`` (``tanh``
        of the output rescaled to ``[action_low, action_high]``, float32)
    :param obs_norm: observation mean and standard deviation for normalisation, rows of ``(2, obs_dim)``
    :param normalize: whether to normalise observations
    :param max_steps: the time limit (truncation)
    :return: returns and lengths, shape ``(k,)`` each, and the count, and sum and sum of squares (rows of
        ``(2, obs_dim)``), of the raw observations (for normalisation statistics)
    """
    k = params.shape[0]
    returns, lengths, obs, obs_moments, hidden, net_work = rollout_buffers(k, first_obs.shape[1], layer_sizes)
    obs_count = 0
    state = np.empty(starts.shape[1])
    for j in range(k):
        net = params[j]
        state[:] = starts[j]
        obs[:] = first_obs[j]
        hidden[:] = 0.0
        steps, total = 0, 0.0
        while True:
            network_outputs(net, obs, hidden, net_work, obs_norm, normalize, obs_moments, layer_sizes, with_bias, activation)
            obs_count += normalize
            if discrete:
                action = np.float64(np.argmax(net_work[0, : layer_sizes[-1]]))
            else:
                scaled = box_action(net_work[0, 0], action_low, action_high - action_low, action_high)
                action = np.float64(np.float32(scaled))
            reward, terminated = env_step(env, state, action, constants)
            total += reward
            steps += 1
            if terminated or steps >= max_steps:
                break
            env_observe(env, state, obs)
        returns[j] = total
        lengths[j] = steps
    return returns, lengths, obs_count, obs_moments
