"""
Episode caps: an env whose episodes never end cannot hang ``learn`` (``max_episode_steps`` cuts them, with a warning),
a cap below the env's time limit trains on the first steps of every episode, and ``episode_cap_factor`` cuts training
episodes at a multiple of the previous generation's mean length.
"""

import math
import warnings

import gymnasium as gym
import numpy as np
import pytest
from stable_baselines3.common.callbacks import BaseCallback
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


@pytest.mark.parametrize("fast_path", [True, False])
def test_a_cap_below_the_env_time_limit_cuts_every_episode_of_learn_without_a_warning(fast_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = CoSyNE(
            "MlpPolicy",
            "Pendulum-v1",
            pop_size=8,
            seed=0,
            max_episode_steps=140,
            champion_episodes=2,
            holdout_episodes=4,
            fast_path=fast_path,
        ).learn(4000)
    # Population, re-tests and held-out check alike: every episode is the 200-step task's first 140 steps.
    assert model.check_timesteps > 0
    assert {info["l"] for info in model.ep_info_buffer} == {140}
    assert model.num_timesteps == 140 * model.num_evaluations


def test_max_episode_steps_is_checked():
    with pytest.raises(ValueError, match="max_episode_steps must be an int >= 1"):
        CoSyNE("MlpPolicy", "Pendulum-v1", max_episode_steps=0)


class GenerationEpisodes(BaseCallback):
    """Per generation: the lengths of its episodes (the population's, then the re-tests') and the logged cap numbers."""

    def _on_training_start(self) -> None:
        self.lengths: list[list[int]] = []
        self.logged: list[tuple] = []

    def _on_rollout_start(self) -> None:
        self.first = len(self.model.ep_info_buffer)

    def _on_step(self) -> bool:
        return True

    def _on_rollout_end(self) -> None:
        self.lengths.append([int(info["l"]) for info in list(self.model.ep_info_buffer)[self.first :]])
        values = self.model.logger.name_to_value
        self.logged.append((values.pop("train/episode_cap", None), values.get("train/capped_episodes")))


def capped_run(**kwargs) -> tuple[CoSyNE, GenerationEpisodes, list[warnings.WarningMessage]]:
    record = GenerationEpisodes()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = CoSyNE(
            "MlpPolicy", "CartPole-v1", pop_size=8, seed=1, episode_cap_factor=1.2, stats_window_size=10**6, **kwargs
        )
        model.learn(6000, callback=record, log_interval=10**6)
    return model, record, caught


def test_the_training_cap_follows_the_previous_generation_and_spares_the_re_tests():
    model, record, caught = capped_run()
    assert not [w for w in caught if "max_episode_steps" in str(w.message)]
    pop = model.pop_size
    assert record.logged[0] == (None, None)
    retest_beyond_cap = total_capped = 0
    for previous, lengths, (cap, capped) in zip(record.lengths, record.lengths[1:], record.logged[1:], strict=False):
        population, retests = np.array(lengths[:pop]), np.array(lengths[pop:])
        assert cap == math.ceil(1.2 * np.mean(previous[:pop]))
        assert population.max() <= cap
        assert capped == np.count_nonzero(population == cap)
        total_capped += capped
        retest_beyond_cap += np.count_nonzero(retests > cap)
    assert total_capped > 0 and retest_beyond_cap > 0
    assert model._episode_cap == math.ceil(1.2 * np.mean(record.lengths[-1][:pop]))


def test_the_training_cap_cuts_alike_on_the_fast_path_the_vecenv_path_and_in_one_or_two_workers():
    fast, fast_record, _ = capped_run()
    assert fast._compiled_rollout is not None
    runs = [capped_run(fast_path=False)]
    for n_workers in (1, 2):
        with SubprocEvaluator("CartPole-v1", n_workers=n_workers) as evaluator:
            runs.append(capped_run(evaluator=evaluator))
    for other, record, _ in runs:
        assert record.lengths == fast_record.lengths and record.logged == fast_record.logged
        np.testing.assert_array_equal(other.strategy.population, fast.strategy.population)
        assert other.num_timesteps == fast.num_timesteps == sum(map(sum, fast_record.lengths))


@pytest.mark.parametrize("factor", [1, 0.5, True, "2"])
def test_episode_cap_factor_is_checked(factor):
    with pytest.raises(ValueError, match="episode_cap_factor must be a number above 1"):
        CoSyNE("MlpPolicy", "CartPole-v1", episode_cap_factor=factor)


def test_episode_cap_factor_needs_re_tests():
    with pytest.raises(ValueError, match="episode_cap_factor needs champion_episodes > 0"):
        CoSyNE("MlpPolicy", "CartPole-v1", episode_cap_factor=2.0, champion_episodes=0)
