"""Whole pole-balancing episodes in one compiled loop: physics, network, termination and fitness, no Python per step.

Each step does exactly what the env and CoSyNE's batched evaluation do (the same Numba physics and forward
pass, the same action squashing to float32, the same damping window), so returns are identical to the
VecEnv path's, bit for bit.
"""

import numpy as np
from numba import njit

from sb3_cosyne.cosyne.forward import lane_forward
from sb3_cosyne.cosyne.spaces import OBS_CLIP
from sb3_cosyne.envs.cartpole import DAMPING_WINDOW, _observation_layout, damping_fitness, window_sum
from sb3_cosyne.envs.physics import advance_in_place, has_failed


@njit(cache=True)
def rollout_buffers(k: int, obs_dim: int, layer_sizes: np.ndarray):
    """
    The outputs and work buffers every compiled rollout needs.

    :param k: episodes
    :param obs_dim: observation size
    :param layer_sizes: the policy's layer sizes (inputs = observation + recurrent state)
    :return: returns and lengths (``(k,)`` each); the observation ``(obs_dim,)``; the running sum and sum of
        squares of the observations, rows of ``(2, obs_dim)``; the network's recurrent state
        (``(layer_sizes[0] - obs_dim,)``, to be zeroed at each episode start) and work buffer for
        :func:`network_outputs`
    """
    return (
        np.zeros(k),
        np.zeros(k, dtype=np.int64),
        np.zeros(obs_dim),
        np.zeros((2, obs_dim)),
        np.zeros(layer_sizes[0] - obs_dim),
        np.zeros((2, layer_sizes.max())),
    )


# Inlined into the rollout loops: passing arrays to a call costs atomic reference counting at every step (hence
# also the statistics and buffers as rows of one array).
@njit(cache=True, inline="always")
def network_outputs(
    net: np.ndarray,
    obs: np.ndarray,
    hidden: np.ndarray,
    work: np.ndarray,
    obs_norm: np.ndarray,
    normalize: bool,
    obs_moments: np.ndarray,
    layer_sizes: np.ndarray,
    with_bias: bool,
    activation: int,
) -> None:
    """
    One network's outputs for one observation inside a compiled rollout, exactly as the batched evaluation
    computes them: normalisation (the raw observation also added to the statistics' sums), the recurrent
    state beside it, the Numba forward; nothing is allocated.

    :param net: the network's chromosome, shape ``(n,)``
    :param obs: the raw flat observation, float64
    :param hidden: the recurrent state, shape ``(state_dim,)``, updated in place
    :param work: the work buffer from :func:`rollout_buffers`; ``work[0, :output_dim]`` holds the outputs on return
    :param obs_norm: the observation mean and standard deviation to normalise with, rows of ``(2, obs_dim)``
    :param normalize: whether to normalise
    :param obs_moments: the running sum and sum of squares of the observations, rows of ``(2, obs_dim)``
    """
    obs_dim = obs.shape[0]
    for i in range(obs_dim):
        value = obs[i]
        if normalize:
            obs_moments[0, i] += value
            obs_moments[1, i] += value * value
            value = min(max((value - obs_norm[0, i]) / obs_norm[1, i], -OBS_CLIP), OBS_CLIP)
        work[0, i] = value
    for i in range(hidden.shape[0]):
        work[0, obs_dim + i] = hidden[i]
    lane_forward(net, work, layer_sizes, with_bias, activation, hidden)


def normalization(obs_stats: tuple[np.ndarray | None, np.ndarray | None], obs_dim: int) -> tuple[np.ndarray, bool]:
    """
    The observation statistics as the compiled rollouts take them.

    :param obs_stats: mean and standard deviation, or ``(None, None)`` without normalisation
    :return: the mean and standard deviation as rows of ``(2, obs_dim)``, and whether to normalise
    """
    mean, std = obs_stats
    if mean is None:
        return np.vstack([np.zeros(obs_dim), np.ones(obs_dim)]), False
    return np.vstack([mean, std]).astype(np.float64), True


@njit(cache=True)
def pole_rollouts(
    params: np.ndarray,
    layer_sizes: np.ndarray,
    with_bias: bool,
    activation: int,
    starts: np.ndarray,
    obs_index: np.ndarray,
    obs_scale: np.ndarray,
    obs_norm: np.ndarray,
    normalize: bool,
    max_steps: int,
    damping_steps: int,
):
    """
    One episode of each network on a pole-balancing task.

    :param params: one chromosome per network, shape ``(k, n)``
    :param layer_sizes: the policy's layer sizes (inputs = observation + recurrent state)
    :param with_bias: whether neurons have biases
    :param activation: the hidden activation's code
    :param starts: the physical start state of each network's episode, shape ``(k, 2 + 2 * n_poles)``
    :param obs_index: state indices observed
    :param obs_scale: divisor of each observed value
    :param obs_norm: observation mean and standard deviation for normalisation, rows of ``(2, obs_dim)``
    :param normalize: whether to normalise observations
    :param max_steps: the time limit (truncation)
    :param damping_steps: 0 for the standard fitness, else the horizon of Gruau's damping fitness
    :return: returns and lengths, shape ``(k,)`` each, and the count, and sum and sum of squares (rows of
        ``(2, obs_dim)``), of the raw observations (for normalisation statistics)
    """
    k = params.shape[0]
    obs_dim = obs_index.shape[0]
    returns, lengths, obs, obs_moments, hidden, net_work = rollout_buffers(k, obs_dim, layer_sizes)
    obs_count = 0
    jiggle = np.zeros(DAMPING_WINDOW)
    state = np.empty(starts.shape[1])
    physics_work = np.empty((5, starts.shape[1]))
    for j in range(k):
        net = params[j]
        state[:] = starts[j]
        hidden[:] = 0.0
        jiggle[:] = 0.0
        steps, balanced, total = 0, 0, 0.0
        while True:
            for i in range(obs_dim):
                obs[i] = state[obs_index[i]] / obs_scale[i]
            network_outputs(net, obs, hidden, net_work, obs_norm, normalize, obs_moments, layer_sizes, with_bias, activation)
            obs_count += normalize
            # The Box(-1, 1) action as outputs_to_actions makes it, float32 included.
            action = np.float32(min(max(-1.0 + 0.5 * (np.tanh(net_work[0, 0]) + 1.0) * 2.0, -1.0), 1.0))
            advance_in_place(state, np.float64(action), physics_work)
            steps += 1
            failed = has_failed(state)
            if damping_steps == 0:
                total += 0.0 if failed else 1.0
                if failed or steps >= max_steps:
                    break
                continue
            if not failed:
                jiggle[balanced % DAMPING_WINDOW] = abs(state[0]) + abs(state[1]) + abs(state[2]) + abs(state[3])
                balanced += 1
            if failed or steps >= damping_steps:
                total = damping_fitness(balanced, window_sum(jiggle), damping_steps)
                break
            if steps >= max_steps:
                break
        returns[j] = total
        lengths[j] = steps
    return returns, lengths, obs_count, obs_moments


def run_pole_rollouts(
    policy,
    params: np.ndarray,
    starts: np.ndarray,
    markov: bool,
    obs_stats: tuple[np.ndarray | None, np.ndarray | None],
    max_steps: int,
    damping_steps: int = 0,
):
    """
    :func:`pole_rollouts` for a CoSyNE policy's architecture: one episode per row of ``params``.

    :param policy: the CoSyNE policy whose architecture the chromosomes fill
    :param params: one chromosome per episode, shape ``(k, num_params)``
    :param starts: one physical start state per episode, shape ``(k, 2 + 2 * n_poles)``
    :param markov: whether the velocities are observed
    :param obs_stats: observation mean and standard deviation, or ``(None, None)`` without normalisation
    :param max_steps: the time limit
    :param damping_steps: 0 for the standard fitness, else the horizon of the damping fitness
    :return: returns and lengths, shape ``(k,)`` each, and the count, sum and sum of squares of the raw
        observations
    """
    obs_index, obs_scale = _observation_layout((starts.shape[1] - 2) // 2, markov)
    obs_norm, normalize = normalization(obs_stats, len(obs_index))
    returns, lengths, count, moments = pole_rollouts(
        np.ascontiguousarray(params, dtype=np.float64),
        policy.layer_sizes,
        policy.with_bias,
        policy.activation_code,
        np.ascontiguousarray(starts, dtype=np.float64),
        obs_index,
        obs_scale,
        obs_norm,
        normalize,
        max_steps,
        damping_steps,
    )
    return returns, lengths, count, moments[0], moments[1]
