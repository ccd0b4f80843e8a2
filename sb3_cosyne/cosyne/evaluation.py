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
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv

from sb3_cosyne.cosyne.policies import CoSyNEPolicy
from sb3_cosyne.cosyne.spaces import normalize, outputs_to_actions, preprocess_obs


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
        self.last_actions: np.ndarray | None = None

    def reset(self, lane: int, seed: int):
        return self.env.env_method("reset", seed=int(seed), indices=[lane])[0][0]

    def step(self, lanes: np.ndarray, actions: np.ndarray):
        if self.last_actions is None or len(lanes) != self.env.num_envs:
            # Idle lanes must still receive a valid action; their transitions are ignored.
            if self.last_actions is None:
                self.last_actions = np.stack([self.env.action_space.sample() for _ in range(self.env.num_envs)])
            full = self.last_actions.copy()
            full[lanes] = actions
        else:
            full = actions
        self.last_actions = full
        obs, rewards, dones, _ = self.env.step(full)
        return obs[lanes], rewards[lanes], dones[lanes]


class _DummyLanes:
    """Lanes of a DummyVecEnv, stepped directly so that idle lanes cost nothing."""

    def __init__(self, env: DummyVecEnv) -> None:
        self.envs = env.envs

    def reset(self, lane: int, seed: int):
        return self.envs[lane].reset(seed=int(seed))[0]

    def step(self, lanes: np.ndarray, actions: np.ndarray):
        results = [self.envs[lane].step(action) for lane, action in zip(lanes, actions, strict=True)]
        obs = np.stack([r[0] for r in results])
        rewards = np.array([r[1] for r in results], dtype=np.float64)
        dones = np.array([r[2] or r[3] for r in results])
        return obs, rewards, dones


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
    lane_job = np.full(n_lanes, -1, dtype=np.int64)
    lane_params = np.zeros((n_lanes, params.shape[1]))
    obs_buf = np.zeros((n_lanes, *env.observation_space.shape), dtype=env.observation_space.dtype)
    in_dim = int(policy.layer_sizes[0])
    obs_count, obs_sum, obs_sq_sum = 0, np.zeros(in_dim), np.zeros(in_dim)
    next_job = 0

    def call_env(lane: int, job: int, fn, *args):
        try:
            return fn(*args)
        except Exception as error:
            raise EnvStepError(
                f"the env of lane {lane} raised {type(error).__name__}: {error} while evaluating network "
                f"{job // n_episodes} (episode {job % n_episodes}); the population is left as it was"
            ) from error

    def start(lane: int) -> None:
        nonlocal next_job
        if next_job >= n_jobs:
            lane_job[lane] = -1
            return
        job = next_job
        next_job += 1
        lane_job[lane] = job
        lane_params[lane] = params[job // n_episodes]
        obs_buf[lane] = call_env(lane, job, lanes.reset, lane, seeds[job // n_episodes, job % n_episodes])

    for lane in range(n_lanes):
        start(lane)
    while True:
        active = np.flatnonzero(lane_job >= 0)
        if active.size == 0:
            break
        inputs = preprocess_obs(obs_buf[active], env.observation_space)
        if mean is not None:
            obs_count += active.size
            obs_sum += inputs.sum(axis=0)
            obs_sq_sum += np.square(inputs).sum(axis=0)
            inputs = normalize(inputs, mean, std)
        actions = outputs_to_actions(policy.batched_outputs(lane_params[active], inputs), env.action_space)
        obs, rewards, dones = call_env(int(active[0]), int(lane_job[active[0]]), lanes.step, active, actions)
        for k, lane in enumerate(active):
            job = lane_job[lane]
            net, episode = divmod(int(job), n_episodes)
            lengths[net, episode] += 1
            if not (np.isfinite(rewards[k]) and np.all(np.isfinite(obs[k]))):
                returns[net, episode] = np.nan
                if on_invalid is not None:
                    on_invalid(net, int(lengths[net, episode]), "reward" if not np.isfinite(rewards[k]) else "observation")
                start(lane)
                continue
            returns[net, episode] += rewards[k]
            if dones[k]:
                start(lane)
            else:
                obs_buf[lane] = obs[k]
        if on_step is not None and not on_step(int(active.size)):
            return EvaluationResult(returns, lengths, obs_count, obs_sum, obs_sq_sum, aborted=True)
    return EvaluationResult(returns, lengths, obs_count, obs_sum, obs_sq_sum)
