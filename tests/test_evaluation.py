"""Batched evaluation on VecEnv lanes: same returns as single-env rollouts, whatever the lanes."""

import gymnasium as gym
import numpy as np
import pytest
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv

from sb3_cosyne.algorithm.policies import CoSyNEPolicy, MlpPolicy
from sb3_cosyne.evaluation.lanes import EnvStepError, evaluate_networks
from sb3_cosyne.networks.spaces import outputs_to_actions, preprocess_obs


def single_env_return(env_id: str, policy: CoSyNEPolicy, params: np.ndarray, seed: int, use_torch: bool) -> float:
    """Return of one episode of one network in a plain gymnasium env, reset with ``seed``."""
    env = gym.make(env_id)
    obs, _ = env.reset(seed=int(seed))
    policy.set_flat_params(params)
    total, done = 0.0, False
    while not done:
        if use_torch:
            action, _ = policy.predict(obs, deterministic=True)
        else:
            outputs = policy.batched_outputs(params[None], preprocess_obs(obs[None], env.observation_space))
            action = outputs_to_actions(outputs, env.action_space)[0]
        obs, reward, terminated, truncated, _ = env.step(action)
        total += float(reward)
        done = terminated or truncated
    return total


def population(env_id: str, n_networks: int, seed: int = 0):
    env = gym.make(env_id)
    policy = CoSyNEPolicy(env.observation_space, env.action_space, net_arch=[4])
    params = np.random.default_rng(seed).uniform(-2, 2, size=(n_networks, policy.num_params))
    return policy, params


@pytest.mark.parametrize("env_id", ["CartPole-v1", "Pendulum-v1"])
@pytest.mark.parametrize("n_lanes", [1, 3])
def test_lane_returns_equal_single_env_rollouts(env_id, n_lanes):
    policy, params = population(env_id, 5)
    seeds = np.random.default_rng(1).integers(0, 2**31 - 1, size=(5, 2))
    result = evaluate_networks(make_vec_env(env_id, n_envs=n_lanes), policy, params, seeds)
    assert not result.aborted
    for net in range(5):
        for episode in range(2):
            expected = single_env_return(env_id, policy, params[net], seeds[net, episode], use_torch=False)
            assert result.returns[net, episode] == expected
    if env_id == "Pendulum-v1":
        assert np.all(result.lengths == 200)


def test_lane_returns_equal_torch_policy_rollouts():
    policy, params = population("CartPole-v1", 4, seed=3)
    seeds = np.arange(4).reshape(4, 1) + 100
    result = evaluate_networks(make_vec_env("CartPole-v1", n_envs=2), policy, params, seeds)
    expected = [single_env_return("CartPole-v1", policy, params[n], seeds[n, 0], use_torch=True) for n in range(4)]
    np.testing.assert_array_equal(result.returns[:, 0], expected)
    np.testing.assert_array_equal(result.lengths[:, 0], expected)


def test_subprocess_lanes_give_the_same_returns():
    policy, params = population("CartPole-v1", 6, seed=5)
    seeds = np.random.default_rng(2).integers(0, 2**31 - 1, size=(6, 1))
    local = evaluate_networks(make_vec_env("CartPole-v1", n_envs=1), policy, params, seeds)
    subproc_env = make_vec_env("CartPole-v1", n_envs=2, vec_env_cls=SubprocVecEnv)
    try:
        remote = evaluate_networks(subproc_env, policy, params, seeds)
    finally:
        subproc_env.close()
    np.testing.assert_array_equal(local.returns, remote.returns)
    np.testing.assert_array_equal(local.lengths, remote.lengths)


def test_on_step_counts_every_env_step_and_can_abort():
    policy, params = population("CartPole-v1", 3)
    seeds = np.zeros((3, 1), dtype=np.int64)
    steps = []
    result = evaluate_networks(
        make_vec_env("CartPole-v1", n_envs=2), policy, params, seeds, on_step=lambda n, _: steps.append(n) or True
    )
    assert sum(steps) == result.lengths.sum()
    calls = []
    aborted = evaluate_networks(
        make_vec_env("CartPole-v1"), policy, params, seeds, on_step=lambda n, _: calls.append(n) or len(calls) < 5
    )
    assert aborted.aborted
    assert len(calls) == 5


class NaNRewardEnv(gym.Env):
    observation_space = gym.spaces.Box(-1, 1, shape=(2,))
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.zeros(2, dtype=np.float32), {}

    def step(self, action):
        self.t += 1
        reward = np.nan if (action == 1 and self.t == 3) else 1.0
        return np.zeros(2, dtype=np.float32), reward, False, self.t >= 10, {}


class RaisingEnv(NaNRewardEnv):
    def step(self, action):
        if self.t == 2:
            raise RuntimeError("simulator exploded")
        return super().step(action)


def test_non_finite_rewards_end_the_episode_with_nan_return():
    env = DummyVecEnv([NaNRewardEnv])
    policy = CoSyNEPolicy(env.observation_space, env.action_space, net_arch=[])
    # Zero weights with a bias favouring action 1 (NaN at step 3) or action 0 (finite).
    params = np.array([[0, 0, 1, 0, 0, 0], [0, 0, 0, 0, 0, 1]], dtype=np.float64)
    reported = []
    result = evaluate_networks(env, policy, params, np.zeros((2, 1), dtype=np.int64), on_invalid=lambda *a: reported.append(a))
    assert result.returns[0, 0] == 10.0
    assert np.isnan(result.returns[1, 0])
    assert reported == [(1, 3, "reward")]


def test_env_errors_name_the_network_and_lane():
    env = DummyVecEnv([RaisingEnv])
    policy = CoSyNEPolicy(env.observation_space, env.action_space, net_arch=[])
    params = np.zeros((2, policy.num_params))
    with pytest.raises(EnvStepError, match="raised RuntimeError: simulator exploded in lane 0 while evaluating network 0"):
        evaluate_networks(env, policy, params, np.zeros((2, 1), dtype=np.int64))


def test_env_errors_name_the_lane_that_raised():
    env = DummyVecEnv([NaNRewardEnv, NaNRewardEnv, RaisingEnv])
    policy = CoSyNEPolicy(env.observation_space, env.action_space, net_arch=[])
    params = np.zeros((5, policy.num_params))
    with pytest.raises(EnvStepError, match=r"in lane 2 while evaluating network 2 \(episode 0\)"):
        evaluate_networks(env, policy, params, np.zeros((5, 1), dtype=np.int64))


def test_no_networks_is_an_empty_result():
    policy = MlpPolicy(gym.spaces.Box(-1, 1, (4,)), gym.spaces.Discrete(2))
    result = evaluate_networks(make_vec_env("CartPole-v1"), policy.network, np.zeros((0, policy.num_params)), np.zeros((0, 2)))
    assert result.returns.shape == (0, 2) and not result.aborted
