"""Compiled rollouts of the classic-control ports equal the VecEnv path, episode by episode and in training."""

import gymnasium as gym
import numpy as np
import pytest
from conftest import assert_fast_path_equals_vec_env_path
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import DummyVecEnv

from sb3_cosyne import CoSyNE, LinearPolicy, MlpPolicy, RecurrentPolicy
from sb3_cosyne.evaluation.classic_rollout import port_rollouts
from sb3_cosyne.evaluation.fast_path import compiled_rollout

ENVS = [
    ("CartPole-v1", {}),
    ("CartPole-v1", {"sutton_barto_reward": True}),
    ("Pendulum-v1", {"max_episode_steps": 120}),
    ("Acrobot-v1", {"max_episode_steps": 300}),
    ("MountainCar-v0", {}),
    ("MountainCarContinuous-v0", {"max_episode_steps": 400}),
]


@pytest.mark.parametrize("env_id, kwargs", ENVS)
@pytest.mark.parametrize("policy_class", [MlpPolicy, RecurrentPolicy])
@pytest.mark.parametrize("normalize", [False, True])
def test_rollouts_equal_the_vec_env_path(env_id, kwargs, policy_class, normalize):
    env = make_vec_env(env_id, n_envs=2, env_kwargs=kwargs)
    policy = policy_class(env.observation_space, env.action_space, net_arch=[4])
    params = np.random.default_rng(1).uniform(-4, 4, size=(10, policy.num_params))
    seeds = np.random.default_rng(2).integers(0, 2**31 - 1, size=(10, 2))
    d = policy.obs_dim
    stats = (np.linspace(-0.1, 0.1, d), np.linspace(0.5, 1.5, d)) if normalize else (None, None)
    assert_fast_path_equals_vec_env_path(env, policy, params, seeds, stats)


# Push the way the car moves (the velocity is the second observation): both cars climb to the goal.
PUMPS = [
    ("MountainCar-v0", [[0.0, -1000.0, 0.0], [0.0, 0.0, 0.0], [0.0, 1000.0, 0.0]]),
    ("MountainCarContinuous-v0", [[0.0, 1000.0, 0.0]]),
]


@pytest.mark.parametrize("env_id, weights", PUMPS)
def test_rollouts_reaching_the_goal_equal_the_vec_env_path(env_id, weights):
    env = make_vec_env(env_id, n_envs=2)
    policy = LinearPolicy(env.observation_space, env.action_space)
    pump = np.array(weights).ravel()  # each output's weights, then its bias
    params = np.vstack([pump, pump * 0.01, np.random.default_rng(0).uniform(-3, 3, size=(4, policy.num_params))])
    fast = assert_fast_path_equals_vec_env_path(env, policy, params, np.arange(18).reshape(6, 3), (None, None))
    assert np.all(fast.lengths[0] < env.envs[0].spec.max_episode_steps)


def test_cartpole_truncates_at_the_time_limit():
    env = make_vec_env("CartPole-v1", env_kwargs=dict(max_episode_steps=37))
    policy = MlpPolicy(env.observation_space, env.action_space, net_arch=[])
    # A linear controller pushing towards the pole's lean balances longer than 37 steps.
    params = np.array([[0.0, 0.0, -1.0, -1.0, 0.0, 0.0, 0.0, 1.0, 1.0, 0.0]])
    fast = compiled_rollout(env)(policy, params, np.zeros((1, 1), dtype=np.int64), (None, None))
    assert fast.lengths[0, 0] == 37 and fast.returns[0, 0] == 37.0


TRAINING = [
    ("CartPole-v1", {}, dict(policy="MlpPolicy"), 20_000),
    ("Pendulum-v1", {}, dict(policy="MlpPolicy"), 12_000),
    ("Acrobot-v1", {"max_episode_steps": 300}, dict(policy="LinearPolicy", init_scale=10.0, champion_episodes=2), 8_000),
    ("MountainCar-v0", {}, dict(policy="MlpPolicy", init_scale=10.0), 12_000),
    ("MountainCarContinuous-v0", {"max_episode_steps": 300}, dict(policy="MlpPolicy", normalize_obs=True), 10_000),
]


@pytest.mark.parametrize("env_id, env_kwargs, kwargs, steps", TRAINING)
def test_training_is_identical_with_and_without_the_fast_path(env_id, env_kwargs, kwargs, steps):
    runs = [
        CoSyNE(env=gym.make(env_id, **env_kwargs), pop_size=12, seed=5, fast_path=fp, **kwargs).learn(steps)
        for fp in (True, False)
    ]
    assert runs[0]._compiled_rollout is not None and runs[1]._compiled_rollout is None
    assert runs[0].generation >= 2
    np.testing.assert_array_equal(runs[0].strategy.population, runs[1].strategy.population)
    np.testing.assert_array_equal(runs[0].champion_params(), runs[1].champion_params())
    assert (runs[0].num_timesteps, runs[0].best_fitness) == (runs[1].num_timesteps, runs[1].best_fitness)


def test_only_the_exact_envs_behind_standard_wrappers_run_compiled():
    from gymnasium.envs.classic_control.cartpole import CartPoleEnv

    class Heavier(CartPoleEnv):
        pass

    assert compiled_rollout(make_vec_env("Acrobot-v1", n_envs=2)) is not None
    assert compiled_rollout(DummyVecEnv([Heavier])) is None
    doubled = DummyVecEnv([lambda: gym.wrappers.TransformReward(gym.make("CartPole-v1"), lambda r: 2 * r)])
    assert compiled_rollout(doubled) is None
    assert compiled_rollout(make_vec_env("FrozenLake-v1")) is None


def test_settings_the_ports_do_not_reproduce_keep_the_vec_env_path():
    def noisy():
        env = gym.make("Acrobot-v1")
        env.unwrapped.torque_noise_max = 0.1
        return env

    assert compiled_rollout(DummyVecEnv([noisy])) is None
    assert compiled_rollout(make_vec_env("MountainCar-v0", env_kwargs=dict(goal_velocity=np.float32(0.01)))) is None
    # Lanes must share the settings and the time limit.
    assert compiled_rollout(DummyVecEnv([lambda: gym.make("Pendulum-v1"), lambda: gym.make("Pendulum-v1", g=9.81)])) is None
    limits = DummyVecEnv([lambda: gym.make("MountainCar-v0"), lambda: gym.make("MountainCar-v0", max_episode_steps=50)])
    assert compiled_rollout(limits) is None


def test_each_port_and_activation_has_cache_files_of_its_own():
    # Loops sharing one Numba cache index could be handed the same data file by two processes compiling at once
    # (pytest -n 2 on a fresh clone, benchmarks run side by side): a port would then run another port's code.
    loops = [port_rollouts(env, activation) for env in range(5) for activation in range(5)]  # ports, activations
    index_files = {loop._cache._cache_file._index_path for loop in loops}  # Numba's cache of the dispatcher
    assert len(index_files) == len(loops)
