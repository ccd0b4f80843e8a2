"""The compiled fast path: used only where it applies, and identical to the VecEnv path."""

import gymnasium as gym
import numpy as np
import pytest
from conftest import assert_fast_path_equals_vec_env_path
from stable_baselines3.common.callbacks import BaseCallback, CallbackList, ConvertCallback, ProgressBarCallback
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import DummyVecEnv

from sb3_cosyne import CoSyNE, MlpPolicy, RecurrentPolicy
from sb3_cosyne.evaluation.fast_path import compiled_rollout

TASKS = [
    ("sb3_cosyne/SinglePole-v0", MlpPolicy, {}),
    ("sb3_cosyne/SinglePoleNoVel-v0", RecurrentPolicy, {}),
    ("sb3_cosyne/DoublePole-v0", MlpPolicy, {}),
    ("sb3_cosyne/DoublePoleNoVel-v0", RecurrentPolicy, {}),
    ("sb3_cosyne/DoublePoleNoVel-v0", RecurrentPolicy, {"fitness": "damping"}),
]


@pytest.mark.parametrize("env_id, policy_class, kwargs", TASKS)
@pytest.mark.parametrize("normalize", [False, True])
def test_compiled_returns_equal_the_vec_env_path(env_id, policy_class, kwargs, normalize):
    env = make_vec_env(env_id, n_envs=2, env_kwargs=dict(max_episode_steps=1500, **kwargs))
    policy = policy_class(env.observation_space, env.action_space, net_arch=[3])
    params = np.random.default_rng(0).uniform(-1, 1, size=(12, policy.num_params))
    seeds = np.zeros((12, 2), dtype=np.int64)
    stats = (
        (np.array([0.1, -0.2, 0.3, 0.0, 0.1, 0.2])[: policy.obs_dim], np.full(policy.obs_dim, 0.5))
        if normalize
        else (None, None)
    )
    fast = assert_fast_path_equals_vec_env_path(env, policy, params, seeds, stats)
    assert len(set(fast.returns[:, 0])) > 1


@pytest.mark.parametrize(
    "env_id, policy, kwargs", [(t[0], t[1].__name__.replace("CoSyNE", "").replace("Policy", ""), t[2]) for t in TASKS]
)
def test_training_is_identical_with_and_without_the_fast_path(env_id, policy, kwargs):
    name = {"": "MlpPolicy", "Recurrent": "RecurrentPolicy"}[policy]
    runs = []
    for fast_path in (True, False):
        env = gym.make(env_id, max_episode_steps=1000, **kwargs)
        model = CoSyNE(name, env, pop_size=8, seed=1, champion_episodes=1, init_scale=3.0, fast_path=fast_path,
                       policy_kwargs=dict(net_arch=[2]))  # fmt: skip
        model.learn(8 * 1000 * 3)
        assert (model._compiled_rollout is not None) == fast_path
        runs.append(model)
    np.testing.assert_array_equal(runs[0].strategy.population, runs[1].strategy.population)
    np.testing.assert_array_equal(runs[0].champion_params(), runs[1].champion_params())
    assert (runs[0].num_timesteps, runs[0].best_fitness) == (runs[1].num_timesteps, runs[1].best_fitness)


@pytest.mark.parametrize("env_id, policy_class, kwargs", TASKS)
def test_pole_episodes_side_by_side_end_as_each_alone(env_id, policy_class, kwargs):
    """More networks than lanes: lanes restart and close up as episodes end; no return depends on the others."""
    env = gym.make(env_id, max_episode_steps=400, **kwargs)
    policy = policy_class(env.observation_space, env.action_space, net_arch=[3])
    rollout = compiled_rollout(DummyVecEnv([lambda: env]))
    params = np.random.default_rng(1).uniform(-2, 2, size=(150, policy.num_params))
    seeds = np.zeros((150, 1), dtype=np.int64)
    together = rollout(policy, params, seeds, (None, None))
    alone = [rollout(policy, params[i : i + 1], seeds[:1], (None, None)) for i in range(150)]
    np.testing.assert_array_equal(together.returns[:, 0], [result.returns[0, 0] for result in alone])
    np.testing.assert_array_equal(together.lengths[:, 0], [result.lengths[0, 0] for result in alone])
    # episodes of many lengths, so that lanes end at different steps
    lengths = together.lengths[:, 0]
    assert len(set(lengths)) > 10 and lengths.max() >= 3 * lengths.min()


class Shift(gym.ObservationWrapper):
    def observation(self, observation):
        return observation + 1.0


def test_fast_path_only_for_known_envs_behind_standard_wrappers():
    assert compiled_rollout(make_vec_env("sb3_cosyne/DoublePole-v0")) is not None
    assert compiled_rollout(make_vec_env("FrozenLake-v1")) is None
    assert compiled_rollout(DummyVecEnv([lambda: Shift(gym.make("sb3_cosyne/DoublePole-v0"))])) is None
    mixed = DummyVecEnv([lambda: gym.make("sb3_cosyne/DoublePole-v0"), lambda: gym.make("sb3_cosyne/SinglePole-v0")])
    assert compiled_rollout(mixed) is None


class StopAt(BaseCallback):
    """Returns False at its ``stop_at``-th call; records the step count at every generation's end."""

    def __init__(self, stop_at: int) -> None:
        super().__init__()
        self.stop_at = stop_at
        self.generation_ends: list[int] = []

    def _on_rollout_end(self) -> None:
        self.generation_ends.append(self.model.num_timesteps)

    def _on_step(self) -> bool:
        return self.n_calls < self.stop_at


@pytest.mark.parametrize("stop_at", [5, 1234])
def test_callbacks_see_every_episode_and_can_stop_the_fast_path(stop_at):
    uninterrupted = StopAt(10**9)
    CoSyNE("MlpPolicy", "sb3_cosyne/SinglePole-v0", pop_size=8, seed=0).learn(stop_at, callback=uninterrupted)
    model = CoSyNE("MlpPolicy", "sb3_cosyne/SinglePole-v0", pop_size=8, seed=0)
    stop = StopAt(stop_at)
    model.learn(100_000, callback=stop)
    assert model._compiled_rollout is not None
    # One lane: training stops at exactly the step whose call returned False, within the episode being replayed,
    # and keeps the generations completed before it.
    assert model.num_timesteps == stop.n_calls == stop_at
    assert model.generation == len(stop.generation_ends) == sum(end < stop_at for end in uninterrupted.generation_ends)
    assert stop.generation_ends == uninterrupted.generation_ends[: model.generation]


def test_callbacks_get_one_call_per_env_step_on_the_fast_path():
    class Record(BaseCallback):
        def __init__(self) -> None:
            super().__init__()
            self.timesteps: list[int] = []

        def _on_step(self) -> bool:
            self.timesteps.append(self.num_timesteps)
            return True

    for fast_path in (True, False):
        model = CoSyNE("MlpPolicy", "CartPole-v1", pop_size=8, seed=0, fast_path=fast_path)
        record = Record()
        model.learn(2_000, callback=record)
        # One call per step, each seeing the step count advanced by one, as an EvalCallback's eval_freq expects.
        assert record.timesteps == list(range(1, model.num_timesteps + 1))


def test_silent_callbacks_are_counted_at_once_as_a_replay_would_leave_them():
    from sb3_cosyne.algorithm.callbacks import is_silent as _is_silent

    silent = CallbackList([ConvertCallback(None), CallbackList([ConvertCallback(None)])])
    assert _is_silent(silent) and _is_silent(ConvertCallback(None))
    assert not _is_silent(ConvertCallback(lambda _locals, _globals: True))
    assert not _is_silent(CallbackList([ConvertCallback(None), ProgressBarCallback()]))

    class Count(BaseCallback):
        def _on_step(self) -> bool:
            return True

    class Stop(CallbackList):
        def _on_step(self) -> bool:
            return self.n_calls < 100

    # A subclass may act at each step: never silent, even with silent children or none.
    assert not _is_silent(Stop([ConvertCallback(None)])) and not _is_silent(Stop([]))
    stopped = CoSyNE("MlpPolicy", "CartPole-v1", pop_size=8, seed=0)
    stopped.learn(3_000, callback=Stop([]))
    assert stopped.num_timesteps == 100

    def no_replay(self):
        raise AssertionError("a silent callback was replayed")

    models = {}
    for name, callback in (("silent", silent), ("replayed", Count()), ("none", None)):
        models[name] = CoSyNE("MlpPolicy", "CartPole-v1", pop_size=8, seed=0)
        with pytest.MonkeyPatch.context() as patch:
            if name != "replayed":
                patch.setattr(ConvertCallback, "on_step", no_replay)
            models[name].learn(3_000, callback=callback)
    steps = models["replayed"].num_timesteps
    for model in models.values():
        assert model.num_timesteps == steps
        np.testing.assert_array_equal(model.strategy.population, models["replayed"].strategy.population)
    # every callback of the list, nested ones too, as after one on_step per env step
    for callback in (silent, *silent.callbacks, silent.callbacks[1].callbacks[0]):
        assert callback.n_calls == steps and callback.num_timesteps == steps


def test_compiled_generalization_score_equals_the_generic_test():
    from sb3_cosyne.envs.generalization import generalization_test
    from sb3_cosyne.evaluation.pole_rollout import compiled_generalization_score

    env = gym.make("sb3_cosyne/DoublePole-v0", max_episode_steps=1000)
    model = CoSyNE("MlpPolicy", env, pop_size=30, seed=0, champion_episodes=0, policy_kwargs=dict(net_arch=[3]))
    model.learn(2_000_000, callback=StopWhenBalanced())
    assert model.best_fitness == 1000
    compiled = compiled_generalization_score(
        model.policy.network, model.champion_params(), "sb3_cosyne/DoublePole-v0", obs_stats=model.policy.obs_stats()
    )
    assert compiled == generalization_test(model.policy, "sb3_cosyne/DoublePole-v0")
    assert 0 < compiled < 625


class StopWhenBalanced(BaseCallback):
    def _on_step(self) -> bool:
        return self.model.best_fitness < 1000
