"""
What every evaluator must do, as tests that a backend's test module imports: the same fitness, champion and
resume as local evaluation, nothing lost when interrupted, and the same errors.

The importing module provides the fixtures ``evaluator`` (a shared evaluator of 2 workers on CartPole-v1 with
three networks per task) and ``make_evaluator`` (``make_evaluator(env, n_workers, **kwargs)`` builds a new one).
"""

import functools
import math
import warnings

import gymnasium as gym
import numpy as np
import pytest
from stable_baselines3.common.callbacks import BaseCallback, ProgressBarCallback
from test_evaluator import FaultyEnv
from test_save_load import assert_same_state

from sb3_cosyne import CoSyNE
from sb3_cosyne.evaluation.evaluator import EvaluationCall
from sb3_cosyne.evaluation.lanes import EnvStepError

__all__ = [
    "test_a_dead_worker_raises_and_is_replaced_at_the_next_learn",
    "test_an_interrupted_generation_loses_nothing",
    "test_env_errors_name_the_same_network_as_local_evaluation",
    "test_env_spaces_must_match_the_model",
    "test_non_finite_rewards_are_reported_as_in_local_evaluation",
    "test_progress_bar_counts_every_step",
    "test_same_fitness_and_champion_as_local_evaluation",
    "test_save_load_resume_with_the_evaluator_is_exact",
    "test_the_challenger_and_the_champion_are_re_tested_in_one_pass",
    "test_the_default_split_follows_the_evaluator_settings",
    "test_the_training_cap_cuts_as_in_local_evaluation",
]


class RecordFitness(BaseCallback):
    """Every generation's fitness values and the number of ``on_step`` calls."""

    def _on_training_start(self) -> None:
        self.fitness = []

    def _on_rollout_end(self) -> None:
        self.fitness.append(self.model.strategy.fitness.copy())

    def _on_step(self) -> bool:
        return True


@pytest.mark.parametrize("fast_path", [False, True])
def test_same_fitness_and_champion_as_local_evaluation(evaluator, fast_path):
    kwargs = dict(pop_size=8, seed=3, fast_path=fast_path, n_eval_episodes=2, shared_starts=False, champion_episodes=3)
    local_record, remote_record = RecordFitness(), RecordFitness()
    local = CoSyNE("MlpPolicy", "CartPole-v1", **kwargs).learn(4000, callback=local_record)
    remote = CoSyNE("MlpPolicy", "CartPole-v1", evaluator=evaluator, **kwargs).learn(4000, callback=remote_record)
    assert evaluator.workers == 2
    assert len(remote_record.fitness) == remote.generation >= 3
    np.testing.assert_array_equal(np.array(local_record.fitness), np.array(remote_record.fitness))
    assert_same_state(local, remote)
    # Callbacks see one on_step per env step, champion re-tests included, as with local evaluation.
    assert remote_record.n_calls == local_record.n_calls == remote.num_timesteps


def test_the_training_cap_cuts_as_in_local_evaluation(evaluator):
    kwargs = dict(pop_size=8, seed=1, episode_cap_factor=1.2, holdout_episodes=4, holdout_blocks=2)
    local = CoSyNE("MlpPolicy", "CartPole-v1", **kwargs).learn(6000)
    remote = CoSyNE("MlpPolicy", "CartPole-v1", evaluator=evaluator, **kwargs).learn(6000)
    assert local._episode_cap is not None and local.check_timesteps > 0
    assert_same_state(local, remote)
    assert (local._episode_cap, local.check_timesteps) == (remote._episode_cap, remote.check_timesteps)


def test_the_challenger_and_the_champion_are_re_tested_in_one_pass(evaluator, monkeypatch):
    passes = []
    evaluate_calls = type(evaluator).evaluate_calls

    def recording(self, calls, *args):
        passes.append([call.params.shape[0] for call in calls])
        return evaluate_calls(self, calls, *args)

    monkeypatch.setattr(type(evaluator), "evaluate_calls", recording)
    model = CoSyNE("MlpPolicy", "CartPole-v1", pop_size=8, seed=3, champion_episodes=3, evaluator=evaluator).learn(4000)
    # Each generation is one pass; so is each re-test, the challenger's and the champion's episodes together
    # (only the first challenger faces no champion).
    assert passes.count([8]) == model.generation
    assert passes.count([1]) == 1
    assert passes.count([1, 1]) >= 2
    assert len(passes) == model.generation + 1 + passes.count([1, 1])


def test_the_default_split_follows_the_evaluator_settings(make_evaluator):
    generation = EvaluationCall(np.zeros((40, 1)), np.zeros((40, 3), dtype=np.int64), (None, None))
    retest = EvaluationCall(np.zeros((1, 1)), np.zeros((1, 5), dtype=np.int64), (None, None))
    evaluator = make_evaluator("CartPole-v1", n_workers=2)  # not started: splitting needs no worker
    evaluator.shrinking_tasks = False
    for tasks in (evaluator.tasks_per_worker, 1, 3):
        evaluator.tasks_per_worker = tasks
        # About that many per worker: the networks, in tasks of equal size.
        expected = [math.ceil(40 / math.ceil(40 / (2 * tasks))), min(5, 2 * tasks)]
        assert [len(blocks) for blocks in evaluator._split([generation, retest], 2)] == expected
    evaluator.shrinking_tasks = True
    blocks, retest_blocks = evaluator._split([generation, retest], 2)
    assert [block.networks.stop - block.networks.start for block in blocks] == [10, 8, 6, 4, 3, 3, 2, 1, 1, 1, 1]
    assert len(retest_blocks) == min(5, 2 * evaluator.tasks_per_worker)


def test_save_load_resume_with_the_evaluator_is_exact(tmp_path, evaluator):
    kwargs = dict(pop_size=8, seed=5, champion_episodes=2, normalize_obs=True)
    split = CoSyNE("MlpPolicy", "CartPole-v1", evaluator=evaluator, **kwargs).learn(1500)
    split.save(tmp_path / "half")
    # The evaluator is runtime state: not in the file, given again on load.
    assert CoSyNE.load(tmp_path / "half").evaluator is None
    resumed = CoSyNE.load(tmp_path / "half", env=gym.make("CartPole-v1"), evaluator=evaluator)
    assert resumed.evaluator is evaluator
    resumed.learn(1500, reset_num_timesteps=False)
    whole = CoSyNE("MlpPolicy", "CartPole-v1", evaluator=evaluator, **kwargs).learn(resumed.num_timesteps)
    assert_same_state(resumed, whole)
    np.testing.assert_array_equal(resumed.obs_rms.mean, whole.obs_rms.mean)
    # Local evaluation sums the observation statistics in another order: equal up to rounding.
    local = CoSyNE("MlpPolicy", "CartPole-v1", **kwargs).learn(1500)
    np.testing.assert_allclose(local.obs_rms.mean, split.obs_rms.mean, rtol=1e-12)


class Interrupt(BaseCallback):
    """Stops training (``how="stop"``) or raises KeyboardInterrupt at the ``at``-th ``on_step``."""

    def __init__(self, at: int, how: str) -> None:
        super().__init__()
        self.at, self.how = at, how

    def _on_step(self) -> bool:
        if self.n_calls == self.at and self.how == "interrupt":
            raise KeyboardInterrupt
        return self.n_calls < self.at


@pytest.mark.parametrize("how", ["stop", "interrupt"])
def test_an_interrupted_generation_loses_nothing(evaluator, how):
    kwargs = dict(pop_size=8, seed=4, fast_path=False)
    model = CoSyNE("MlpPolicy", "CartPole-v1", evaluator=evaluator, **kwargs).learn(1500)
    reference = CoSyNE("MlpPolicy", "CartPole-v1", **kwargs).learn(1500)
    state = model.strategy.population.copy(), model.generation, model.champion_params()
    if how == "interrupt":
        with pytest.raises(KeyboardInterrupt):
            model.learn(10_000, callback=Interrupt(3, how), reset_num_timesteps=False)
    else:
        model.learn(10_000, callback=Interrupt(3, how), reset_num_timesteps=False)
    np.testing.assert_array_equal(model.strategy.population, state[0])
    assert model.generation == state[1]
    np.testing.assert_array_equal(model.champion_params(), state[2])
    # The tasks still running when it stopped are discarded: training goes on as if nothing happened.
    model.learn(1500)
    reference.learn(1500)
    assert_same_state(model, reference)


def test_progress_bar_counts_every_step(evaluator):
    bar = ProgressBarCallback()
    model = CoSyNE("MlpPolicy", "CartPole-v1", evaluator=evaluator, pop_size=8, seed=0)
    model.learn(2000, callback=bar)
    assert bar.pbar.n == model.num_timesteps >= 2000


def test_env_spaces_must_match_the_model(evaluator):
    model = CoSyNE("MlpPolicy", "Pendulum-v1", evaluator=evaluator, pop_size=8)
    with pytest.raises(ValueError, match=r"evaluator's env 'CartPole-v1' has the observation space Box.*but the model's is"):
        model.learn(1000)
    assert model.num_timesteps == 0


def test_env_errors_name_the_same_network_as_local_evaluation(make_evaluator):
    # Seed 1: network 3 is the first to fail, the first of the second task.
    kwargs = dict(pop_size=8, seed=1, champion_episodes=0)
    with pytest.raises(EnvStepError) as local:
        CoSyNE("MlpPolicy", FaultyEnv("raise"), **kwargs).learn(1000)
    # One worker runs the tasks in order: the first failing task holds the first failing network.
    with make_evaluator(functools.partial(FaultyEnv, "raise"), n_workers=1, members_per_task=3) as one_worker:
        model = CoSyNE("MlpPolicy", FaultyEnv("raise"), evaluator=one_worker, **kwargs)
        initial = model.strategy.population.copy()
        with pytest.raises(EnvStepError) as remote:
            model.learn(1000)
    message = str(local.value)
    network = int(message.split("evaluating network ")[1].split()[0])
    assert network >= 3, "the failing network should lie beyond the first task for this test to check the numbering"
    assert str(remote.value).startswith(message)
    assert "(worker " in str(remote.value)
    np.testing.assert_array_equal(model.strategy.population, initial)


def test_non_finite_rewards_are_reported_as_in_local_evaluation(make_evaluator):
    kwargs = dict(pop_size=8, seed=0, champion_episodes=0)
    messages = []
    for evaluator in (None, make_evaluator(functools.partial(FaultyEnv, "nan"), n_workers=2, members_per_task=2)):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model = CoSyNE("MlpPolicy", FaultyEnv("nan"), evaluator=evaluator, **kwargs).learn(1000)
        messages.append([str(w.message) for w in caught if "non-finite" in str(w.message)])
        if evaluator is None:
            local = model
        else:
            evaluator.close()
    assert len(messages[0]) == 1
    assert messages[0] == messages[1]
    assert_same_state(local, model)


def test_a_dead_worker_raises_and_is_replaced_at_the_next_learn(make_evaluator):
    # Two workers: the other one is busy, or idle, when its peer dies.
    with make_evaluator(functools.partial(FaultyEnv, "exit"), n_workers=2, members_per_task=1) as crashing:
        if hasattr(crashing, "max_restarts"):
            crashing.max_restarts = 0  # replacing workers that die every time only delays the error
        model = CoSyNE("MlpPolicy", FaultyEnv("exit"), evaluator=crashing, pop_size=8, seed=1, champion_episodes=0)
        initial = model.strategy.population.copy()
        with pytest.raises(RuntimeError, match="worker.* died while evaluating networks"):
            model.learn(1000)
        assert crashing.workers == 0
        np.testing.assert_array_equal(model.strategy.population, initial)
        crashing.setup(model.policy.network, fast_path=True)
        assert crashing.workers == 2
