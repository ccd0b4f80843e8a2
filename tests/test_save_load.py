"""Saving, loading, determinism and exact resume."""

import gymnasium as gym
import numpy as np
import pytest
from conftest import ACTION_SPACES, OBSERVATION_SPACES, SpaceEnv
from stable_baselines3 import PPO

from sb3_cosyne import CoSyNE


def space_env(act_key: str) -> SpaceEnv:
    return SpaceEnv(OBSERVATION_SPACES["box"], ACTION_SPACES[act_key])


def assert_same_state(a: CoSyNE, b: CoSyNE) -> None:
    np.testing.assert_array_equal(a.strategy.population, b.strategy.population)
    np.testing.assert_array_equal(a.strategy.fitness, b.strategy.fitness)
    np.testing.assert_array_equal(a.champion_params(), b.champion_params())
    assert a.strategy.rng.bit_generator.state == b.strategy.rng.bit_generator.state
    assert (a.generation, a.num_timesteps, a.num_evaluations, a.best_fitness) == (
        b.generation,
        b.num_timesteps,
        b.num_evaluations,
        b.best_fitness,
    )


@pytest.mark.parametrize("act_key", sorted(ACTION_SPACES))
def test_save_load_gives_identical_predictions(tmp_path, act_key):
    env = space_env(act_key)
    model = CoSyNE("MlpPolicy", env, pop_size=8, seed=0, champion_episodes=1).learn(8 * 20 * 3)
    model.save(tmp_path / "model")
    loaded = CoSyNE.load(tmp_path / "model", env=env)
    observations = np.stack([env.observation_space.sample() for _ in range(20)])
    np.testing.assert_array_equal(model.predict(observations)[0], loaded.predict(observations)[0])
    assert_same_state(model, loaded)
    assert loaded.policy.net_arch == model.policy.net_arch


@pytest.mark.parametrize("env_id", ["CartPole-v1", "Pendulum-v1"])
def test_same_seed_same_result_bit_for_bit(env_id):
    runs = [CoSyNE("MlpPolicy", env_id, pop_size=8, seed=7).learn(3000) for _ in range(2)]
    assert_same_state(*runs)
    other = CoSyNE("MlpPolicy", env_id, pop_size=8, seed=8).learn(3000)
    assert not np.array_equal(other.strategy.population, runs[0].strategy.population)


@pytest.mark.parametrize("permutation", ["all", "proportional", "none"])
@pytest.mark.parametrize("act_key", sorted(ACTION_SPACES))
def test_resume_from_save_is_exact(tmp_path, permutation, act_key):
    env = space_env(act_key)
    kwargs = dict(pop_size=8, seed=3, permutation=permutation, champion_episodes=2, normalize_obs=True)
    split = CoSyNE("MlpPolicy", env, **kwargs).learn(1500)
    split.save(tmp_path / "half")
    resumed = CoSyNE.load(tmp_path / "half", env=env).learn(1500, reset_num_timesteps=False)
    whole = CoSyNE("MlpPolicy", env, **kwargs).learn(resumed.num_timesteps)
    assert_same_state(resumed, whole)
    np.testing.assert_array_equal(resumed.obs_rms.mean, whole.obs_rms.mean)
    observations = np.stack([env.observation_space.sample() for _ in range(10)])
    np.testing.assert_array_equal(resumed.predict(observations)[0], whole.predict(observations)[0])


def test_load_with_mismatched_env_is_refused(tmp_path):
    CoSyNE("MlpPolicy", "CartPole-v1", pop_size=8, seed=0).save(tmp_path / "cartpole")
    with pytest.raises(ValueError, match="Observation spaces do not match"):
        CoSyNE.load(tmp_path / "cartpole", env=gym.make("Pendulum-v1"))


def test_loading_another_algorithms_zip_is_refused(tmp_path):
    PPO("MlpPolicy", "CartPole-v1", n_steps=64).save(tmp_path / "ppo")
    with pytest.raises(ValueError, match="saved by another algorithm"):
        CoSyNE.load(tmp_path / "ppo")
