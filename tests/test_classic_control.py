"""Compiled ports of gymnasium's classic-control envs reproduce gymnasium exactly."""

import gymnasium as gym
import numpy as np
import pytest
from stable_baselines3.common.env_util import make_vec_env

from sb3_cosyne import CoSyNE, MlpPolicy, RecurrentPolicy
from sb3_cosyne.cosyne.evaluation import evaluate_networks
from sb3_cosyne.cosyne.fast_path import compiled_rollout
from sb3_cosyne.envs.classic_control import cartpole_step, pendulum_step


@pytest.mark.filterwarnings(r"ignore:.*calling .step\(\). even though")
@pytest.mark.parametrize("integrator", ["euler", "semi-implicit-euler"])
def test_cartpole_step_equals_gymnasium_for_random_actions(integrator):
    env = gym.make("CartPole-v1").unwrapped
    env.kinematics_integrator = integrator
    constants = np.array([env.gravity, env.masspole, env.total_mass, env.length, env.polemass_length, env.force_mag, env.tau])
    rng = np.random.default_rng(0)
    for seed in range(40):
        env.reset(seed=seed)
        state = env.state.copy()
        for _ in range(60):
            action = int(rng.integers(2))
            env.step(action)
            state = cartpole_step(state, action, constants, integrator == "euler")
            np.testing.assert_array_equal(state, env.state)


def test_pendulum_step_equals_gymnasium_for_random_torques():
    env = gym.make("Pendulum-v1", g=9.81).unwrapped
    constants = np.array([3 * env.g / (2 * env.l), 3.0 / (env.m * env.l**2), env.max_torque, env.max_speed, env.dt, 2.0])
    rng = np.random.default_rng(0)
    for seed in range(100):
        env.reset(seed=seed)
        state = env.state.copy()
        for _ in range(100):
            # Beyond the bounds too, to exercise the clipping of the torque and of the speed.
            action = rng.uniform(-3.0, 3.0, size=1).astype(np.float32)
            _, reward, _, _, _ = env.step(action)
            state, compiled_reward = pendulum_step(state, action[0], constants)
            np.testing.assert_array_equal(state, env.state)
            assert compiled_reward == reward


@pytest.mark.parametrize("policy_class", [MlpPolicy, RecurrentPolicy])
@pytest.mark.parametrize("normalize", [False, True])
def test_pendulum_rollouts_equal_the_vec_env_path(policy_class, normalize):
    env = make_vec_env("Pendulum-v1", n_envs=2, env_kwargs=dict(max_episode_steps=120))
    policy = policy_class(env.observation_space, env.action_space, net_arch=[4])
    params = np.random.default_rng(3).uniform(-3, 3, size=(10, policy.num_params))
    seeds = np.random.default_rng(4).integers(0, 2**31 - 1, size=(10, 2))
    stats = (np.array([0.0, 0.1, 0.5]), np.array([0.7, 0.7, 3.0])) if normalize else (None, None)
    fast = compiled_rollout(env)(policy, params, seeds, stats)
    slow = evaluate_networks(env, policy, params, seeds, stats)
    np.testing.assert_array_equal(fast.returns, slow.returns)
    np.testing.assert_array_equal(fast.lengths, slow.lengths)
    assert np.all(fast.lengths == 120)
    np.testing.assert_allclose(fast.obs_sum, slow.obs_sum, rtol=1e-12)


@pytest.mark.parametrize("kwargs", [{}, {"sutton_barto_reward": True}])
@pytest.mark.parametrize("policy_class", [MlpPolicy, RecurrentPolicy])
@pytest.mark.parametrize("normalize", [False, True])
def test_cartpole_rollouts_equal_the_vec_env_path(kwargs, policy_class, normalize):
    env = make_vec_env("CartPole-v1", n_envs=2, env_kwargs=kwargs)
    policy = policy_class(env.observation_space, env.action_space, net_arch=[4])
    params = np.random.default_rng(1).uniform(-3, 3, size=(16, policy.num_params))
    seeds = np.random.default_rng(2).integers(0, 2**31 - 1, size=(16, 2))
    stats = (np.array([0.0, 0.1, 0.0, -0.1]), np.array([1.0, 0.5, 0.1, 0.5])) if normalize else (None, None)
    fast = compiled_rollout(env)(policy, params, seeds, stats)
    slow = evaluate_networks(env, policy, params, seeds, stats)
    np.testing.assert_array_equal(fast.returns, slow.returns)
    np.testing.assert_array_equal(fast.lengths, slow.lengths)
    np.testing.assert_allclose(fast.obs_sum, slow.obs_sum, rtol=1e-12)
    assert fast.obs_count == slow.obs_count
    assert len(np.unique(fast.lengths)) > 3


def test_cartpole_truncates_at_the_time_limit():
    env = make_vec_env("CartPole-v1", env_kwargs=dict(max_episode_steps=37))
    policy = MlpPolicy(env.observation_space, env.action_space, net_arch=[])
    # A linear controller pushing towards the pole's lean balances longer than 37 steps.
    params = np.array([[0.0, 0.0, -1.0, -1.0, 0.0, 0.0, 0.0, 1.0, 1.0, 0.0]])
    fast = compiled_rollout(env)(policy, params, np.zeros((1, 1), dtype=np.int64), (None, None))
    assert fast.lengths[0, 0] == 37 and fast.returns[0, 0] == 37.0


@pytest.mark.parametrize("env_id, steps", [("CartPole-v1", 20_000), ("Pendulum-v1", 12_000)])
def test_training_is_identical_with_and_without_the_fast_path(env_id, steps):
    runs = [CoSyNE("MlpPolicy", env_id, pop_size=12, seed=5, fast_path=fp).learn(steps) for fp in (True, False)]
    assert runs[0]._compiled_rollout is not None and runs[1]._compiled_rollout is None
    np.testing.assert_array_equal(runs[0].strategy.population, runs[1].strategy.population)
    np.testing.assert_array_equal(runs[0].champion_params(), runs[1].champion_params())
    assert runs[0].num_timesteps == runs[1].num_timesteps


def test_subclasses_and_other_wrappers_keep_the_vec_env_path():
    from gymnasium.envs.classic_control.cartpole import CartPoleEnv
    from stable_baselines3.common.vec_env import DummyVecEnv

    class Heavier(CartPoleEnv):
        pass

    assert compiled_rollout(DummyVecEnv([Heavier])) is None
    clipped = DummyVecEnv([lambda: gym.wrappers.TransformReward(gym.make("CartPole-v1"), lambda r: 2 * r)])
    assert compiled_rollout(clipped) is None
