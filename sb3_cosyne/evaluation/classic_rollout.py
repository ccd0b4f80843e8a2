"""Whole episodes of many networks on a classic-control port, in one compiled loop.

The loop runs the network on the observation, turns the outputs into the action as CoSyNE's batched evaluation does,
and calls the port's step and observation through :mod:`~sb3_cosyne.envs.classic_control.dispatch`, which dispatches
on the port's code. It is compiled once per port and hidden activation (:func:`port_rollouts`), with both as
constants, so that a run compiles its own port's physics and its network's activation only. Numba inlines the network
into the loop (``inline="always"``) and LLVM the port's step and observation: a call that passes arrays costs two
atomic reference-count updates per array, which at every step would cost more than many a port's physics. Numba's
on-disk cache of a loop follows this file's source only: after editing a port's module (or the network's), delete the
``__pycache__`` ``*.nbi``/``*.nbc`` files.
"""

import functools
from typing import NamedTuple

import numpy as np
from numba import njit
from numba.core.dispatcher import Dispatcher

from sb3_cosyne.envs.classic_control.dispatch import ACROBOT, CARTPOLE, MOUNTAIN_CAR, env_observe, env_step
from sb3_cosyne.evaluation.pole_rollout import network_outputs, rollout_buffers
from sb3_cosyne.networks.spaces import argmax, box_action


class ClassicEpisodes(NamedTuple):
    """The episodes a port's kernel runs: the networks, their start states and the env's settings."""

    #: one chromosome per episode, shape ``(k, n)``
    params: np.ndarray
    #: the network's layer sizes (inputs = observation + recurrent state)
    layer_sizes: np.ndarray
    #: whether neurons have biases
    with_bias: bool
    #: each episode's state after the env's seeded ``reset``, shape ``(k, state size)``
    starts: np.ndarray
    #: the observation that ``reset`` returned, shape ``(k, obs_dim)``
    first_obs: np.ndarray
    #: the env's settings, in the port's layout
    constants: np.ndarray
    #: the bounds of a one-dimensional ``Box`` action (unused for ``Discrete`` actions)
    action_low: float
    action_high: float
    #: observation mean and standard deviation for normalisation, rows of ``(2, obs_dim)``
    obs_norm: np.ndarray
    #: whether to normalise observations
    normalize: bool
    #: the time limit (truncation)
    max_steps: int


#: the ports whose action space is ``Discrete`` (the others have a one-dimensional ``Box``)
DISCRETE_PORTS = frozenset({CARTPOLE, ACROBOT, MOUNTAIN_CAR})


@functools.cache
def port_rollouts(env: int, activation: int) -> Dispatcher:
    """
    The compiled loop of a port, for networks of a hidden activation.

    The port's code, its action kind and the activation are constants of the compiled code (a closure's ints), so
    that Numba prunes the other ports' branches of the dispatch, the other action kind and the other activations
    before typing: a run compiles the loop of its own port and activation only, cached in files of its own.

    :param env: the port's code
    :param activation: the hidden activation's code
    :return: the loop, a Numba dispatcher taking :class:`ClassicEpisodes`; the action is the argmax of the outputs
        (``Discrete``), or ``tanh`` of the first output rescaled to ``[action_low, action_high]``, float32 (``Box``)
    """
    discrete = env in DISCRETE_PORTS

    def classic_rollouts(episodes: ClassicEpisodes):
        """
        One episode of each network on the port.

        :param episodes: the networks, their start states and the env's settings
        :return: returns and lengths, shape ``(k,)`` each, and the count, and sum and sum of squares (rows of
            ``(2, obs_dim)``), of the raw observations (for normalisation statistics)
        """
        (params, layer_sizes, with_bias, starts, first_obs, constants,
         action_low, action_high, obs_norm, normalize, max_steps) = episodes  # fmt: skip
        k = params.shape[0]
        returns, lengths, obs, obs_moments, hidden, net_work = rollout_buffers(k, first_obs.shape[1], layer_sizes)
        obs_count = 0
        state = np.empty(starts.shape[1])
        for j in range(k):
            net = params[j]
            # element by element: assigning an array to a slice compiles Numba's shape-mismatch message (seconds)
            for i in range(state.shape[0]):
                state[i] = starts[j, i]
            for i in range(obs.shape[0]):
                obs[i] = first_obs[j, i]
            hidden[:] = 0.0
            steps, total = 0, 0.0
            while True:
                network_outputs(
                    net, obs, hidden, net_work, obs_norm, normalize, obs_moments, layer_sizes, with_bias, activation
                )
                obs_count += normalize
                if discrete:
                    action = np.float64(argmax(net_work[0], layer_sizes[-1]))
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

    # Numba names a function's cache files after its qualified name. Under a name of its own, each loop has an index
    # file of its own: loops of several ports sharing one index could be given the same data file by two processes
    # compiling at once (Numba numbers a new entry's file without a lock), and a port would then load another's code.
    classic_rollouts.__qualname__ = f"classic_rollouts_port{env}_activation{activation}"
    return njit(cache=True, error_model="numpy")(classic_rollouts)
