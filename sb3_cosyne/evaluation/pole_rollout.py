"""Whole pole-balancing episodes in one compiled loop: physics, network, termination and fitness, no Python per step.

Each step does exactly what the env and CoSyNE's batched evaluation do (the same Numba physics and forward
pass, the same action squashing to float32, the same damping window), so returns are identical to the
VecEnv path's, bit for bit.
"""

import functools

import gymnasium as gym
import numpy as np
from numba import njit

from sb3_cosyne.envs import generalization_starts
from sb3_cosyne.envs.cartpole import DAMPING_WINDOW, damping_fitness, observation_layout, window_sum
from sb3_cosyne.envs.physics import VECTOR_LANES, advance_lanes, force_from_action, lane_failed
from sb3_cosyne.networks.forward import lane_forward, lanes_forward, widest_layer
from sb3_cosyne.networks.spaces import OBS_CLIP, box_action
from sb3_cosyne.networks.spec import NetworkSpec


@njit(cache=True)
def rollout_buffers(k: int, obs_dim: int, layer_sizes: np.ndarray):
    """
    The outputs and work buffers every compiled rollout needs.

    :param k: episodes
    :param obs_dim: observation size
    :param layer_sizes: the network's layer sizes (inputs = observation + recurrent state)
    :return: returns and lengths (``(k,)`` each, to be written for every episode); the observation ``(obs_dim,)``;
        the running sum and sum of squares of the observations, rows of ``(2, obs_dim)`` (zeros); the network's
        recurrent state (``(layer_sizes[0] - obs_dim,)``, to be zeroed at each episode start) and work buffer for
        :func:`network_outputs`
    """
    # Only the sums start at zero: each kind of np.zeros is one more allocation for Numba to compile.
    return (
        np.empty(k),
        np.empty(k, dtype=np.int64),
        np.empty(obs_dim),
        np.zeros((2, obs_dim)),
        np.empty(layer_sizes[0] - obs_dim),
        np.empty((2, widest_layer(layer_sizes))),
    )


@njit(cache=True, inline="always")
def network_input(value: float, i: int, obs_norm: np.ndarray, normalize: bool, obs_moments: np.ndarray) -> float:
    """
    The network's input from the ``i``-th entry of a raw observation: normalised and clipped as the batched
    evaluation does it, the raw value added to the statistics' sums; unchanged without normalisation.
    """
    if not normalize:
        return value
    obs_moments[0, i] += value
    obs_moments[1, i] += value * value
    return min(max((value - obs_norm[0, i]) / obs_norm[1, i], -OBS_CLIP), OBS_CLIP)


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
        work[0, i] = network_input(obs[i], i, obs_norm, normalize, obs_moments)
    for i in range(hidden.shape[0]):
        work[0, obs_dim + i] = hidden[i]
    lane_forward(net, work, layer_sizes, with_bias, activation, hidden)


@functools.cache
def _unit_stats(obs_dim: int) -> np.ndarray:
    """Mean 0 and standard deviation 1, made once per size: the compiled rollouts only read them, and building
    them anew cost a few microseconds per call, as much as hundreds of compiled steps."""
    return np.vstack([np.zeros(obs_dim), np.ones(obs_dim)])


def normalization(obs_stats: tuple[np.ndarray | None, np.ndarray | None], obs_dim: int) -> tuple[np.ndarray, bool]:
    """
    The observation statistics as the compiled rollouts take them.

    :param obs_stats: mean and standard deviation, or ``(None, None)`` without normalisation
    :return: the mean and standard deviation as rows of ``(2, obs_dim)``, and whether to normalise
    """
    mean, std = obs_stats
    if mean is None:
        return _unit_stats(obs_dim), False
    return np.array((np.ravel(mean), np.ravel(std)), dtype=np.float64), True


#: the most carts a pole rollout advances at once: enough to fill the vector units, few enough to stay in cache
MAX_LANES = 64


@njit(cache=True, error_model="numpy")
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

    The episodes run side by side on lanes, so that one call of
    :func:`~sb3_cosyne.envs.physics.advance_lanes` advances all their carts at once; a lane whose episode ends
    takes the next network, and once none is left the last busy lane moves into its place, so that the lanes
    advanced are always the first ones. A lane's arithmetic is the same as the env's, so are the returns. With
    normalisation a single lane runs, so that the observations are summed in the order of the episodes, step by
    step, as the VecEnv path with one lane sums them.

    :param params: one chromosome per network, shape ``(k, n)``
    :param layer_sizes: the network's layer sizes (inputs = observation + recurrent state)
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
    n_state = starts.shape[1]
    returns, lengths, _, obs_moments, _, net_work = rollout_buffers(k, obs_dim, layer_sizes)
    n_lanes = 1 if normalize else max(1, min(k, MAX_LANES))
    # per lane: its network and chromosome, steps, steps balanced and return so far, recurrent state, damping
    # window and cart; lanes are columns where loops over lanes are to run on vector units
    job = np.zeros(n_lanes, dtype=np.int64)
    weights = np.zeros((params.shape[1], n_lanes))
    counts = np.zeros((n_lanes, 2), dtype=np.int64)
    total = np.zeros(n_lanes)
    hidden = np.zeros((layer_sizes[0] - obs_dim, n_lanes))
    values = np.zeros((widest_layer(layer_sizes), n_lanes))
    scratch = np.zeros((widest_layer(layer_sizes), n_lanes))
    jiggle = np.zeros((n_lanes, DAMPING_WINDOW))
    states = np.zeros((n_state, n_lanes))
    forces = np.zeros(n_lanes)
    physics_work = np.zeros((5, n_state, n_lanes))
    obs_count = 0
    n_busy = 0
    next_job = 0
    while n_busy < n_lanes and next_job < k:
        _start_lane(n_busy, next_job, job, weights, counts, total, hidden, jiggle, states, params, starts)
        n_busy += 1
        next_job += 1
    while n_busy > 0:
        for lane in range(n_busy):
            for i in range(obs_dim):
                values[i, lane] = network_input(states[obs_index[i], lane] / obs_scale[i], i, obs_norm, normalize, obs_moments)
            for i in range(hidden.shape[0]):
                values[obs_dim + i, lane] = hidden[i, lane]
        obs_count += n_busy * normalize
        if n_busy >= VECTOR_LANES:
            lanes_forward(weights, n_busy, values, scratch, layer_sizes, with_bias, activation, hidden)
        else:
            # too few lanes to fill a vector: each network on its own is faster, and computes the same
            for lane in range(n_busy):
                for i in range(layer_sizes[0]):
                    net_work[0, i] = values[i, lane]
                lane_forward(params[job[lane]], net_work, layer_sizes, with_bias, activation, hidden[:, lane])
                values[0, lane] = net_work[0, 0]
        for lane in range(n_busy):
            # The Box(-1, 1) action as outputs_to_actions makes it, float32 included.
            action = np.float32(box_action(values[0, lane], -1.0, 2.0, 1.0))
            forces[lane] = force_from_action(np.float64(action))
        advance_lanes(states, forces, n_busy, physics_work)
        lane = 0
        while lane < n_busy:
            counts[lane, 0] += 1
            steps, balanced = counts[lane, 0], counts[lane, 1]
            failed = lane_failed(states, lane)
            ended = failed or steps >= max_steps
            if damping_steps == 0:
                total[lane] += 0.0 if failed else 1.0
            else:
                if not failed:
                    jiggle[lane, balanced % DAMPING_WINDOW] = (
                        abs(states[0, lane]) + abs(states[1, lane]) + abs(states[2, lane]) + abs(states[3, lane])
                    )
                    counts[lane, 1] = balanced + 1
                if failed or steps >= damping_steps:
                    total[lane] = damping_fitness(counts[lane, 1], window_sum(jiggle[lane]), damping_steps)
                    ended = True
            if not ended:
                lane += 1
                continue
            returns[job[lane]] = total[lane]
            lengths[job[lane]] = steps
            if next_job < k:
                _start_lane(lane, next_job, job, weights, counts, total, hidden, jiggle, states, params, starts)
                next_job += 1
                lane += 1
            else:
                # the last busy lane, not yet looked at in this step unless it is this one, moves here
                n_busy -= 1
                _move_lane(n_busy, lane, job, weights, counts, total, hidden, jiggle, states)
    return returns, lengths, obs_count, obs_moments


@njit(cache=True, inline="always")
def _start_lane(lane, network, job, weights, counts, total, hidden, jiggle, states, params, starts) -> None:
    """Start a network's episode on a lane of :func:`pole_rollouts`."""
    job[lane] = network
    _copy(weights[:, lane], params[network])
    counts[lane] = 0
    total[lane] = 0.0
    hidden[:, lane] = 0.0
    jiggle[lane] = 0.0
    _copy(states[:, lane], starts[network])


@njit(cache=True, inline="always")
def _move_lane(source, target, job, weights, counts, total, hidden, jiggle, states) -> None:
    """Move a lane of :func:`pole_rollouts`, episode and all, into another."""
    job[target] = job[source]
    _copy(weights[:, target], weights[:, source])
    _copy(counts[target], counts[source])
    total[target] = total[source]
    _copy(hidden[:, target], hidden[:, source])
    _copy(jiggle[target], jiggle[source])
    _copy(states[:, target], states[:, source])


@njit(cache=True, inline="always")
def _copy(target: np.ndarray, source: np.ndarray) -> None:
    """``target[:] = source`` for one-dimensional arrays of one length, element by element: assigning an array to a
    slice compiles Numba's shape-mismatch message, which takes seconds."""
    for i in range(target.shape[0]):
        target[i] = source[i]


def run_pole_rollouts(
    network: NetworkSpec,
    params: np.ndarray,
    starts: np.ndarray,
    markov: bool,
    obs_stats: tuple[np.ndarray | None, np.ndarray | None],
    max_steps: int,
    damping_steps: int = 0,
):
    """
    :func:`pole_rollouts` for a CoSyNE network's architecture: one episode per row of ``params``.

    :param network: the architecture the chromosomes fill
    :param params: one chromosome per episode, shape ``(k, num_params)``
    :param starts: one physical start state per episode, shape ``(k, 2 + 2 * n_poles)``
    :param markov: whether the velocities are observed
    :param obs_stats: observation mean and standard deviation, or ``(None, None)`` without normalisation
    :param max_steps: the time limit
    :param damping_steps: 0 for the standard fitness, else the horizon of the damping fitness
    :return: returns and lengths, shape ``(k,)`` each, and the count, sum and sum of squares of the raw
        observations
    """
    obs_index, obs_scale = observation_layout((starts.shape[1] - 2) // 2, markov)
    obs_norm, normalize = normalization(obs_stats, len(obs_index))
    returns, lengths, count, moments = pole_rollouts(
        np.ascontiguousarray(params, dtype=np.float64),
        network.layer_sizes,
        network.with_bias,
        network.activation_code,
        np.ascontiguousarray(starts, dtype=np.float64),
        obs_index,
        obs_scale,
        obs_norm,
        normalize,
        max_steps,
        damping_steps,
    )
    return returns, lengths, count, moments[0], moments[1]


def compiled_generalization_score(
    network: NetworkSpec,
    params: np.ndarray,
    env_id: str = "sb3_cosyne/DoublePoleNoVel-v0",
    steps: int = 1000,
    obs_stats: tuple[np.ndarray | None, np.ndarray | None] = (None, None),
) -> int:
    """
    :func:`~sb3_cosyne.envs.generalization_test` for a CoSyNE network, in one compiled loop (same result, much faster).

    :param network: the network's architecture (a CoSyNE policy's ``network``)
    :param params: the network's chromosome
    :param env_id: a registered pole-balancing env
    :param steps: the number of steps to balance
    :param obs_stats: the observation mean and standard deviation it normalises with (a policy's ``obs_stats()``)
    :return: the number of starts balanced for ``steps`` steps
    """
    env = gym.make(env_id).unwrapped
    starts = generalization_starts()[:, : 2 + 2 * env.n_poles]
    params = np.repeat(np.asarray(params, dtype=np.float64)[None], len(starts), axis=0)
    returns = run_pole_rollouts(network, params, starts, env.markov, obs_stats, steps)[0]
    return int(np.sum(returns == steps))
