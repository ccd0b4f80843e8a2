"""Evaluation in SubprocVecEnv worker processes: the evaluator contract (``evaluator_contract``) and its own errors."""

import functools
import os
import signal
import sys

import cloudpickle
import numpy as np
import pytest
from evaluator_contract import *  # noqa: F403  (the tests every evaluator must pass, run here on worker processes)
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
