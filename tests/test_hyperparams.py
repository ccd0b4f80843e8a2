"""The tuned hyperparameter file: every entry builds a model, unknown keys are named."""

import gymnasium as gym
import numpy as np
import pytest
import yaml
from stable_baselines3.common.vec_env import DummyVecEnv

from sb3_cosyne import CoSyNE
from sb3_cosyne.hyperparams import (
    DEFAULT_PATH,
    entry_env,
    load_hyperparams,
    model_kwargs,
    tuned_entry,
    tuned_or_default,
)

ENTRIES = sorted(yaml.safe_load(DEFAULT_PATH.read_text()))


@pytest.mark.parametrize("env_id", ENTRIES)
def test_every_entry_builds_a_model(env_id):
    policy, kwargs = model_kwargs(load_hyperparams(env_id))
    model = CoSyNE(policy, gym.make(env_id), seed=0, **kwargs)
    for key, value in kwargs.items():
        if key != "policy_kwargs":
            assert getattr(model, key) == value
    assert load_hyperparams(env_id)["n_timesteps"] > 0


def test_policy_kwargs_strings_are_evaluated_like_the_zoo(tmp_path):
    path = tmp_path / "custom.yml"
    path.write_text("CartPole-v1:\n  n_timesteps: 1000\n  policy_kwargs: 'dict(net_arch=[3], activation_fn=nn.ReLU)'\n")
    policy, kwargs = model_kwargs(load_hyperparams("CartPole-v1", path))
    model = CoSyNE(policy, "CartPole-v1", **kwargs)
    assert model.policy.net_arch == [3]
    assert model.policy.activation_fn.__name__ == "ReLU"


def test_mistyped_key_is_named_with_a_suggestion(tmp_path):
    path = tmp_path / "typo.yml"
    path.write_text("CartPole-v1:\n  n_timesteps: 1000\n  pop_sise: 12\n")
    with pytest.raises(ValueError, match=r"unknown hyperparameter 'pop_sise' .*did you mean 'pop_size'"):
        load_hyperparams("CartPole-v1", path)


def test_missing_env_lists_the_available_ones():
    with pytest.raises(KeyError, match="no hyperparameters for 'Nope-v0'.*CartPole-v1"):
        load_hyperparams("Nope-v0")


def test_tuned_or_default_falls_back_to_the_defaults():
    assert tuned_or_default("CartPole-v1") == model_kwargs(load_hyperparams("CartPole-v1"))
    assert tuned_or_default("FrozenLake-v1") == ("MlpPolicy", {})
    assert tuned_entry("FrozenLake-v1") == {} and tuned_entry("CartPole-v1") == load_hyperparams("CartPole-v1")


def test_an_entry_s_n_envs_makes_that_many_lanes_without_a_render_mode():
    assert entry_env("CartPole-v1", load_hyperparams("CartPole-v1")) == "CartPole-v1"
    env = entry_env("LunarLander-v3", load_hyperparams("LunarLander-v3"))
    assert isinstance(env, DummyVecEnv) and env.num_envs == 8
    assert [lane.unwrapped.render_mode for lane in env.envs] == [None] * 8


def test_the_lander_s_lanes_change_the_speed_not_the_results():
    policy, kwargs = tuned_or_default("LunarLander-v3")
    lanes = CoSyNE(policy, entry_env("LunarLander-v3", load_hyperparams("LunarLander-v3")), seed=7, **kwargs)
    one = CoSyNE(policy, gym.make("LunarLander-v3"), seed=7, **kwargs)
    lanes.learn(20_000)
    one.learn(20_000)
    assert lanes.generation == one.generation >= 2
    np.testing.assert_array_equal(lanes.strategy.population, one.strategy.population)
    assert (lanes.num_timesteps, lanes.check_timesteps, lanes.champion) == (
        one.num_timesteps,
        one.check_timesteps,
        one.champion,
    )
