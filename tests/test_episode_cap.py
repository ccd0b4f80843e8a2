"""An env whose episodes never end cannot hang ``learn``: ``max_episode_steps`` cuts them, with a warning."""

import warnings

import gymnasium as gym
import numpy as np
import pytest
from stable_baselines3.common.vec_env import DummyVecEnv

from sb3_cosyne import CoSyNE, SubprocEvaluator


class Endless(gym.Env):
    """Never terminates or truncates; the reward is the action."""

    observation_space = gym.spaces.Box(-1.0, 1.0, (2,))
    action_space = gym.spaces.Box(-1.0, 1.0, (1,))

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return self.np_random.uniform(-1, 1, 2).astype(np.float32), {}

    def step(self, action):
        return self.np_random.uniform(-1, 1, 2).astype(np.float32), float(action[0]), False, False, {}


def bare_pendulum():
    """Pendulum without its TimeLimit: its episodes never end, and it has a compiled port."""
    return gym.make("Pendulum-v1").unwrapped


def train(env, **kwargs) -> tuple[CoSyNE, list[warnings.WarningMessage]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = CoSyNE("MlpPolicy", env, pop_size=8, seed=0, max_episode_steps=50, champion_episodes=2, **kwargs)
        model.learn(2000)
    return model, [w for w in caught if "max_episode_steps" in str(w.message)]


@pytest.mark.parametrize("make_env", [Endless, bare_pendulum])
def test_endless_episodes_are_cut_at_the_cap_with_one_warning(make_env):
    model, cut_warnings = train(DummyVecEnv([make_env, make_env]))
    assert len(cut_warnings) == 1 and "max_episode_steps=50" in str(cut_warnings[0].message)
    assert {info["l"] for info in model.ep_info_buffer} == {50}
    assert model.num_timesteps == 50 * model.num_evaluations


def test_the_cap_cuts_alike_on_the_fast_path_the_vecenv_path_and_in_workers():
    fast, _ = train(DummyVecEnv([bare_pendulum]))
    assert fast._compiled_rollout is not None
    lanes, _ = train(DummyVecEnv([bare_pendulum]), fast_path=False)
    with SubprocEvaluator(bare_pendulum, n_workers=2) as evaluator:
        remote, remote_warnings = train(bare_pendulum(), evaluator=evaluator)
    assert len(remote_warnings) == 1
    for other in (lanes, remote):
        np.testing.assert_array_equal(other.strategy.population, fast.strategy.population)
        assert other.num_timesteps == fast.num_timesteps and other.best_fitness == fast.best_fitness


def test_an_env_time_limit_at_the_cap_is_not_a_cut():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = CoSyNE("MlpPolicy", "Pendulum-v1", pop_size=8, seed=0, max_episode_steps=200).learn(2000)
    assert {info["l"] for info in model.ep_info_buffer} == {200}


def test_max_episode_steps_is_checked():
    with pytest.raises(ValueError, match="max_episode_steps must be an int >= 1"):
        CoSyNE("MlpPolicy", "Pendulum-v1", max_episode_steps=0)
