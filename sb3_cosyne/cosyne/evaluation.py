"""Batched evaluation of many networks on the lanes of a VecEnv.

Each lane of the VecEnv runs one episode of one network at a time; at every step a single Numba
forward pass computes the actions of all busy lanes from their own parameter vectors. A lane whose
episode ends takes the next episode still to run, so lanes stay busy. Every episode starts from
``reset(seed=...)`` with its own seed, so a network's return does not depend on which lane ran it
or on how many lanes there are.
"""

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from gymnasium import spaces
from numba import njit
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv

from sb3_cosyne.cosyne.policies import CoSyNEPolicy
from sb3_cosyne.cosyne.spaces import normalize, outputs_to_actions, preprocess_obs

_DONE, _INVALID = 1, 2


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


class _VecLanes:
    """Lanes of any VecEnv: all lanes step together; resets go through ``env_method`` to pass a seed."""

    def __init__(self, env: VecEnv) -> None:
        self.env = env
        self.actions: np.ndarray | None = None
        # All lanes step at once: an error cannot be traced to one of them.
        self.lane: int | None = None

    def reset(self, lane: int, seed: int):
        return self.env.env_method("reset", seed=int(seed), indices=[lane])[0][0]

    def step(
        self, lanes: np.ndarray, actions: np.ndarray, obs_out: np.ndarray, rewards_out: np.ndarray, dones_out: np.ndarray
    ):
        if self.actions is None:
            # Idle lanes must still receive a valid action; their transitions are ignored.
            self.actions = np.repeat(actions[:1], self.env.num_envs, axis=0)
        self.actions[lanes] = actions
        obs, rewards, dones, _ = self.env.step(self.actions)
        obs_out[lanes], rewards_out[lanes], dones_out[lanes] = obs[lanes], rewards[lanes], dones[lanes]


class _DummyLanes:
    """Lanes of a DummyVecEnv, stepped directly: idle lanes cost nothing and no infos are copied."""

    def __init__(self, env: DummyVecEnv) -> None:
        self.envs = env.envs
        #: the lane stepped last, which names the culprit when an env raises
        self.lane: int | None = None
        # Python ints pass gymnasium's Discrete checks much faster than numpy scalars.
        self.as_list = isinstance(env.action_space, spaces.Discrete)

    def reset(self, lane: int, seed: int):
        return self.envs[lane].reset(seed=int(seed))[0]

    def step(
        self, lanes: np.ndarray, actions: np.ndarray, obs_out: np.ndarray, rewards_out: np.ndarray, dones_out: np.ndarray
    ):
        for lane, action in zip(lanes.tolist(), actions.tolist() if self.as_list else actions, strict=True):
            self.lane = lane
            obs, reward, terminated, truncated, _ = self.envs[lane].step(action)
            obs_out[lane] = obs
            rewards_out[lane] = reward
            dones_out[lane] = terminated or truncated


def _make_lanes(env: VecEnv):
    return _DummyLanes(env) if isinstance(env, DummyVecEnv) else _VecLanes(env)


def evaluate_networks(
    env: VecEnv,
    policy: CoSyNEPolicy,
    params: np.ndarray,
    seeds: np.ndarray,
    obs_stats: tuple[np.ndarray | None, np.ndarray | None] = (None, None),
    on_step: Callable[[int], bool] | None = None,
    on_invalid: Callable[[int, int, str], None] | None = None,
) -> EvaluationResult:
    """
    Run ``seeds.shape[1]`` episodes of each network on the lanes of ``env``.

    :param env: the VecEnv whose lanes run the episodes
    :param policy: the policy whose architecture the parameter vectors fill
    :param params: one parameter vector per network, shape ``(n_networks, num_params)``
    :param seeds: reset seed of each episode, shape ``(n_networks, n_episodes)``
    :param obs_stats: observation mean and standard deviation to normalise with, or ``(None, None)``
    :param on_step: called after every batched step with the number of env steps taken; returning
        False aborts the evaluation
    :param on_invalid: called with (network, step, what) when an env returns a non-finite observation
        or reward; that episode ends and its return is NaN
    :raises EnvStepError: when the env raises, naming the network and the lane
    :return: the episodes' returns and lengths and the observation statistics
    """
    n_networks, n_episodes = seeds.shape
    n_jobs = n_networks * n_episodes
    n_lanes = min(env.num_envs, n_jobs)
    lanes = _make_lanes(env)
    params = np.ascontiguousarray(params, dtype=np.float64)
    mean, std = obs_stats

    returns = np.zeros((n_networks, n_episodes))
    lengths = np.zeros((n_networks, n_episodes), dtype=np.int64)
    lane_job = np.full(env.num_envs, -1, dtype=np.int64)
    lane_params = np.zeros((env.num_envs, params.shape[1]))
    obs_buf = np.zeros((env.num_envs, *env.observation_space.shape), dtype=env.observation_space.dtype)
    rewards = np.zeros(env.num_envs)
    dones = np.zeros(env.num_envs, dtype=bool)
    state = policy.initial_state(env.num_envs)
    in_dim = policy.obs_dim
    obs_count, obs_sum, obs_sq_sum = 0, np.zeros(in_dim), np.zeros(in_dim)
    next_job = 0

    def env_error(error: Exception, lane: int | None) -> EnvStepError:
        if lane is None:
            busy = ", ".join(f"{lane} (network {lane_job[lane] // n_episodes})" for lane in np.flatnonzero(lane_job >= 0))
            where = f"one of the lanes {busy}"
        else:
            job = int(lane_job[lane])
            where = f"lane {lane} while evaluating network {job // n_episodes} (episode {job % n_episodes})"
        return EnvStepError(f"the env raised {type(error).__name__}: {error} in {where}; the population is left as it was")

    def start(lane: int) -> None:
        nonlocal next_job
        if next_job >= n_jobs:
            lane_job[lane] = -1
            return
        job = next_job
        next_job += 1
        lane_job[lane] = job
        lane_params[lane] = params[job // n_episodes]
        state[lane] = 0.0
        try:
            obs_buf[lane] = lanes.reset(lane, seeds[job // n_episodes, job % n_episodes])
        except Exception as error:
            raise env_error(error, lane) from error

    for lane in range(n_lanes):
        start(lane)
    active = np.arange(n_lanes)
    while active.size:
        # Lanes are all busy most of the time: index only when some are idle.
        every_lane = active.size == env.num_envs
        obs = obs_buf if every_lane else obs_buf[active]
        inputs = preprocess_obs(obs, env.observation_space)
        if mean is not None:
            obs_count += active.size
            obs_sum += inputs.sum(axis=0)
            obs_sq_sum += np.square(inputs).sum(axis=0)
            inputs = normalize(inputs, mean, std)
        if every_lane:
            outputs = policy.batched_outputs(lane_params, inputs, state)
        else:
            lane_state = state[active]
            outputs = policy.batched_outputs(lane_params[active], inputs, lane_state)
            state[active] = lane_state
        try:
            lanes.step(active, outputs_to_actions(outputs, env.action_space), obs_buf, rewards, dones)
        except Exception as error:
            raise env_error(error, lanes.lane) from error
        ended = record_step(active, lane_job, n_episodes, rewards, obs_buf.reshape(env.num_envs, -1), dones, returns, lengths)
        if on_step is not None and not on_step(int(active.size)):
            return EvaluationResult(returns, lengths, obs_count, obs_sum, obs_sq_sum, aborted=True)
        if ended.any():
            for lane, how in zip(active[ended > 0].tolist(), ended[ended > 0].tolist(), strict=True):
                if how == _INVALID and on_invalid is not None:
                    net, episode = divmod(int(lane_job[lane]), n_episodes)
                    on_invalid(net, int(lengths[net, episode]), "reward" if not np.isfinite(rewards[lane]) else "observation")
                start(lane)
            active = np.flatnonzero(lane_job >= 0)
    return EvaluationResult(returns, lengths, obs_count, obs_sum, obs_sq_sum)


@njit(cache=True)
def record_step(
    active: np.ndarray,
    lane_job: np.ndarray,
    n_episodes: int,
    rewards: np.ndarray,
    obs: np.ndarray,
    dones: np.ndarray,
    returns: np.ndarray,
    lengths: np.ndarray,
) -> np.ndarray:
    """
    Add one step of every busy lane to its episode's return and length, in place.

    :param active: indices of the busy lanes
    :param lane_job: episode (``network * n_episodes + episode``) each lane runs
    :param n_episodes: episodes per network
    :param rewards: reward of each lane, shape ``(lanes,)``
    :param obs: new observation of each lane, flattened, shape ``(lanes, d)``
    :param dones: whether each lane's episode ended
    :param returns: episode returns, updated in place; set to NaN on a non-finite reward or observation
    :param lengths: episode lengths, updated in place
    :return: for each busy lane, 0 if its episode goes on, ``_DONE`` if it ended, ``_INVALID`` if its reward or
        observation was non-finite (which ends it too)
    """
    ended = np.zeros(active.shape[0], dtype=np.int8)
    for k in range(active.shape[0]):
        lane = active[k]
        net, episode = lane_job[lane] // n_episodes, lane_job[lane] % n_episodes
        lengths[net, episode] += 1
        finite = np.isfinite(rewards[lane])
        for i in range(obs.shape[1]):
            finite = finite and np.isfinite(obs[lane, i])
        if finite:
            returns[net, episode] += rewards[lane]
            if dones[lane]:
                ended[k] = _DONE
        else:
            returns[net, episode] = np.nan
            ended[k] = _INVALID
    return ended
