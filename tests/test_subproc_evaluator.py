"""Evaluation in SubprocVecEnv worker processes: the evaluator contract (``evaluator_contract``) and its own errors."""

import functools
import os
import signal
import sys

import cloudpickle
import gymnasium as gym
import numpy as np
import pytest
from evaluator_contract import *  # noqa: F403  (the tests every evaluator must pass, run here on worker processes)
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.env_util import make_vec_env
from test_save_load import assert_same_state

from sb3_cosyne import CoSyNE, SubprocEvaluator
from sb3_cosyne.evaluation.evaluator import Block
from sb3_cosyne.evaluation.lanes import evaluate_networks
from sb3_cosyne.evaluation.subproc_evaluator import WorkerHost
from sb3_cosyne.evaluation.worker import worker_env_factory

# With fork, every worker inherits the other workers' pipe ends: a dead worker's pipe never reports its end.
START_METHODS = ["forkserver", "fork"]


@pytest.fixture(scope="module", params=START_METHODS)
def make_evaluator(request):
    # The workers unpickle the test envs by value: they cannot import the test modules.
    cloudpickle.register_pickle_by_value(sys.modules["test_evaluator"])
    return functools.partial(SubprocEvaluator, start_method=request.param)


@pytest.fixture(scope="module")
def evaluator(make_evaluator):
    # Three networks per task: a generation of 8 makes more tasks than workers, arriving in any order.
    with make_evaluator("CartPole-v1", n_workers=2, members_per_task=3) as shared:
        yield shared


def test_bad_arguments_raise_clear_errors():
    for kwargs, name in [
        (dict(n_workers=0), "n_workers"),
        (dict(members_per_task=1.5), "members_per_task"),
        (dict(n_envs=0), "n_envs"),
        (dict(max_restarts=-1), "max_restarts"),
    ]:
        with pytest.raises(ValueError, match=name):
            SubprocEvaluator("CartPole-v1", **kwargs)
    with pytest.raises(ValueError, match="env must be a gymnasium env id or a function"):
        SubprocEvaluator(42)
    with SubprocEvaluator("NoSuchEnv-v0", n_workers=1) as broken:
        with pytest.raises(RuntimeError, match="the worker processes could not make the env 'NoSuchEnv-v0'"):
            CoSyNE("MlpPolicy", "CartPole-v1", evaluator=broken).learn(100)
        assert broken.workers == 0


def test_default_workers_are_the_usable_cpus():
    assert SubprocEvaluator("CartPole-v1").n_workers == len(os.sched_getaffinity(0))


@pytest.mark.parametrize("start_method", START_METHODS)
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT])
def test_workers_killed_between_learns_are_replaced(sig, start_method):
    # SIGINT is what Ctrl-C sends to every process of the terminal: SubprocVecEnv's workers end on it.
    kwargs = dict(pop_size=8, seed=2, fast_path=False)
    with SubprocEvaluator("CartPole-v1", n_workers=2, members_per_task=3, start_method=start_method) as evaluator:
        model = CoSyNE("MlpPolicy", "CartPole-v1", evaluator=evaluator, **kwargs).learn(1500)
        first = evaluator.pids
        os.kill(first[1], sig)
        model.learn(1500, reset_num_timesteps=False)
        assert evaluator.workers == 2 and not set(evaluator.pids) & set(first)
    # Training resumed from the model's state: as one uninterrupted run.
    reference = CoSyNE("MlpPolicy", "CartPole-v1", **kwargs).learn(model.num_timesteps)
    assert_same_state(model, reference)
    np.testing.assert_array_equal(model.strategy.population, reference.strategy.population)


def test_worker_errors_are_returned_not_raised():
    # A raise inside SubprocVecEnv's worker loop would end the worker process.
    host = WorkerHost(worker_env_factory("CartPole-v1", 1, None, None, None))
    outcome = host.evaluate(0, Block(slice(0, 1), slice(0, 1)), np.zeros((1, 4)), np.zeros((1, 1), dtype=int), (None, None))
    assert isinstance(outcome, RuntimeError) and "set_network must be called before evaluate" in str(outcome)
    policy = CoSyNE("MlpPolicy", "CartPole-v1", pop_size=8).policy
    assert host.set_network(policy.network, fast_path=True) is None
    index, result, invalid = host.evaluate(
        3, Block(slice(0, 1), slice(0, 1)), np.zeros((1, policy.num_params)), np.zeros((1, 1), dtype=int), (None, None)
    )
    assert index == 3 and result.lengths[0, 0] > 0 and invalid == []


def test_a_worker_holds_the_next_task_while_it_runs_one(evaluator):
    policy = CoSyNE("MlpPolicy", "CartPole-v1", pop_size=8).policy
    evaluator.setup(policy.network, fast_path=False)
    pool = evaluator._pool
    pool.depth = 2
    rng = np.random.default_rng(0)
    params = rng.uniform(-1, 1, size=(5, policy.num_params))
    seeds = rng.integers(0, 1000, size=(5, 2))
    block = Block(slice(0, 1), slice(0, 2))
    submitted = 0
    while pool.has_free(queue=True):
        pool.submit((submitted, block, params[submitted : submitted + 1], seeds[submitted : submitted + 1], (None, None)))
        submitted += 1
    # Two workers, each running a task with the next one waiting in its pipe; none idle.
    assert submitted == 4 and sorted(pool.held.values()) == [2, 2] and not pool.has_free()
    outcomes = {}
    while pool.has_next():
        index, result, _ = pool.next_result()
        outcomes[index] = result
    env = make_vec_env("CartPole-v1")
    for index, result in outcomes.items():
        alone = evaluate_networks(env, policy, params[index : index + 1], seeds[index : index + 1])
        np.testing.assert_array_equal(result.returns, alone.returns)
    assert sorted(outcomes) == [0, 1, 2, 3] and pool.has_free()


class KillWorker(BaseCallback):
    """Kills worker ``worker`` of ``evaluator`` with SIGKILL at the ``at``-th ``on_step``, while other tasks still run."""

    def __init__(self, evaluator: SubprocEvaluator, worker: int, at: int) -> None:
        super().__init__()
        self.evaluator, self.worker, self.at = evaluator, worker, at
        self.killed: int | None = None

    def _on_step(self) -> bool:
        if self.n_calls == self.at:
            self.killed = self.evaluator.pids[self.worker]
            os.kill(self.killed, signal.SIGKILL)
        return True


@pytest.mark.parametrize("start_method", START_METHODS)
def test_a_worker_killed_mid_generation_is_replaced_and_training_is_unchanged(start_method):
    kwargs = dict(pop_size=8, seed=6, fast_path=False)
    with SubprocEvaluator("CartPole-v1", n_workers=2, start_method=start_method) as evaluator:
        model = CoSyNE("MlpPolicy", "CartPole-v1", evaluator=evaluator, **kwargs)
        # The 5th step replayed is in the first generation's first episode: the other tasks are out.
        kill = KillWorker(evaluator, worker=1, at=5)
        with pytest.warns(UserWarning, match="SubprocEvaluator: worker 1") as caught:
            model.learn(3000, callback=kill)
        pids = evaluator.pids
    warned = [str(warning.message) for warning in caught if "SubprocEvaluator" in str(warning.message)]
    assert len(warned) == 1 and f"worker 1 (pid {kill.killed}) " in warned[0] and "SIGKILL" in warned[0], warned
    # Only the dead worker was replaced.
    assert kill.killed not in pids and pids[0] != kill.killed
    # Its lost tasks ran again on the new worker: same fitness, champion and population as a run nothing disturbed
    # (which local evaluation is: the evaluator contract), and every step reached the callback once.
    reference = CoSyNE("MlpPolicy", "CartPole-v1", **kwargs).learn(3000)
    assert_same_state(model, reference)
    assert kill.n_calls == model.num_timesteps


class ExitOnMarker(gym.Wrapper):
    """Ends its process at every step once the file ``marker`` exists: a worker that dies whenever it is replaced."""

    def __init__(self, env: gym.Env, marker: str) -> None:
        super().__init__(env)
        self.marker = marker

    def step(self, action):
        if os.path.exists(self.marker):
            os._exit(1)
        return self.env.step(action)


def test_a_worker_that_always_dies_raises_after_max_restarts(tmp_path):
    # The workers unpickle the wrapper by value: they cannot import the test modules.
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    marker = tmp_path / "die"
    kwargs = dict(pop_size=8, seed=7, fast_path=False)
    # fork: a replacement starts in milliseconds (with forkserver, each imports the package first).
    dying = dict(wrapper_class=ExitOnMarker, wrapper_kwargs=dict(marker=str(marker)), max_restarts=2, start_method="fork")
    with SubprocEvaluator("CartPole-v1", n_workers=2, **dying) as evaluator:
        model = CoSyNE("MlpPolicy", "CartPole-v1", evaluator=evaluator, **kwargs).learn(1500)
        before = (
            model.strategy.population.copy(),
            model.champion_params(),
            model.generation,
            model.num_timesteps,
            model.best_fitness,
        )
        marker.touch()
        gave_up = r"3 worker processes died while evaluating networks in this learn, more than max_restarts=2 \(the last: "
        with (
            pytest.warns(UserWarning, match="SubprocEvaluator: worker") as caught,
            pytest.raises(RuntimeError, match=gave_up + r"worker \d \(pid \d+\) .*exit code 1\).*fewer workers"),
        ):
            model.learn(1500, reset_num_timesteps=False)
        assert len([warning for warning in caught if "SubprocEvaluator" in str(warning.message)]) == 1
        assert evaluator.workers == 0
        # The generation is a transaction: the model is as after its last completed one.
        np.testing.assert_array_equal(model.strategy.population, before[0])
        np.testing.assert_array_equal(model.champion_params(), before[1])
        assert (model.generation, model.num_timesteps, model.best_fitness) == before[2:]
        # Once the fault is gone, the next learn starts new workers and goes on as one undisturbed run.
        marker.unlink()
        model.learn(1500, reset_num_timesteps=False)
    assert_same_state(model, CoSyNE("MlpPolicy", "CartPole-v1", **kwargs).learn(model.num_timesteps))
