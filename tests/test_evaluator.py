"""What every evaluator shares: blocks of the (networks, episodes) grid, their assembly, the worker side."""

import math
import os
import sys

import gymnasium as gym
import numpy as np
import pytest
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import DummyVecEnv
from test_save_load import assert_same_state

from sb3_cosyne import CoSyNE
from sb3_cosyne.algorithm.policies import CoSyNEPolicy
from sb3_cosyne.evaluation.evaluator import (
    TASKS_PER_WORKER,
    BaseEvaluator,
    Block,
    BlockAssembler,
    EvaluationCall,
    evaluate_blocks,
    split_blocks,
    tighter_cap,
)
from sb3_cosyne.evaluation.lanes import EnvStepError, EvaluationResult, evaluate_networks
from sb3_cosyne.evaluation.worker import EvaluationWorker, worker_env_factory
from sb3_cosyne.networks.spec import NetworkSpec


class FaultyEnv(gym.Env):
    """
    Observations drawn from the reset seed; taking action 1 at step 3 raises (``fault="raise"``) or gives a
    NaN reward (``fault="nan"``) or ends the process (``fault="exit"``), so that only some networks trip over it.
    """

    observation_space = gym.spaces.Box(-1, 1, shape=(2,))
    action_space = gym.spaces.Discrete(2)

    def __init__(self, fault: str = "nan") -> None:
        self.fault = fault

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self.np_random.uniform(-1, 1, size=2).astype(np.float32), {}

    def step(self, action):
        self.t += 1
        reward = 1.0
        if action == 1 and self.t == 3:
            if self.fault == "raise":
                raise RuntimeError("simulator exploded")
            if self.fault == "exit":
                # A crash that takes its process down (only ever run in a worker process or on a Ray actor).
                os._exit(1)
            reward = np.nan
        return self.np_random.uniform(-1, 1, size=2).astype(np.float32), reward, False, self.t >= 10, {}


@pytest.mark.parametrize(
    "n_networks, n_episodes, n_workers, members_per_task",
    [(20, 1, 2, None), (20, 3, 2, 3), (8, 2, 4, 8), (1, 3, 2, None), (1, 1, 2, None), (7, 5, 3, 1), (20, 1, 1, 50)],
)
@pytest.mark.parametrize("shrinking", [False, True])
def test_blocks_cover_every_episode_once(n_networks, n_episodes, n_workers, members_per_task, shrinking):
    blocks = split_blocks(n_networks, n_episodes, n_workers, members_per_task, shrinking=shrinking)
    covered = np.zeros((n_networks, n_episodes), dtype=int)
    for block in blocks:
        covered[block.networks, block.episodes] += 1
        size = block.networks.stop - block.networks.start
        assert 1 <= size <= (members_per_task or n_networks)
    np.testing.assert_array_equal(covered, 1)
    n_rows = len({(block.networks.start, block.networks.stop) for block in blocks})
    if shrinking and members_per_task is None:
        sizes = [block.networks.stop - block.networks.start for block in blocks[:: len(blocks) // n_rows]]
        assert sizes == sorted(sizes, reverse=True) and sizes[-1] == 1
    if n_rows < n_workers:
        # Too few groups of networks for the workers: the episodes are split too, as finely as TASKS_PER_WORKER asks.
        assert len(blocks) == n_rows * min(n_episodes, math.ceil(TASKS_PER_WORKER * n_workers / n_rows))
        assert len(blocks) >= min(n_workers, n_episodes)
    else:
        assert all(block.episodes == slice(0, n_episodes) for block in blocks)


@pytest.mark.parametrize("tasks_per_worker", [1, 2, 5])
def test_tasks_per_worker_sets_the_number_of_tasks(tasks_per_worker):
    assert len(split_blocks(40, 3, 2, tasks_per_worker=tasks_per_worker)) == 2 * tasks_per_worker
    # One network (a re-test): its episodes are split, down to one per task.
    assert len(split_blocks(1, 5, 2, tasks_per_worker=tasks_per_worker)) == min(5, 2 * tasks_per_worker)


def test_default_split_gives_each_worker_several_tasks():
    blocks = split_blocks(40, 3, 2)
    assert len(blocks) == 14
    assert max(b.networks.stop - b.networks.start for b in blocks) == 3


def test_assembly_follows_block_order_whatever_the_arrival_order():
    policy = CoSyNEPolicy(gym.spaces.Box(-1, 1, shape=(4,)), gym.spaces.Discrete(2), net_arch=[3])
    env = make_vec_env("CartPole-v1")
    params = np.random.default_rng(0).uniform(-1, 1, size=(6, policy.num_params))
    seeds = np.random.default_rng(1).integers(0, 1000, size=(6, 2))
    stats = (np.zeros(4), np.ones(4))
    blocks = split_blocks(6, 2, 2, members_per_task=2)
    parts = [evaluate_networks(env, policy, params[b.networks], seeds[b.networks, b.episodes], stats) for b in blocks]

    def assemble(order):
        assembler = BlockAssembler([EvaluationCall(params, seeds, stats)], [blocks], policy.obs_dim)
        released = []
        for index in order:
            assembler.add(index, parts[index], extra=index)
            released += [extra for _, extra in assembler.release()]
        assert released == list(range(len(blocks)))
        assert assembler.complete
        return assembler.results[0]

    in_order, reversed_order = assemble(range(len(blocks))), assemble(reversed(range(len(blocks))))
    whole = evaluate_networks(env, policy, params, seeds, stats)
    np.testing.assert_array_equal(in_order.returns, whole.returns)
    np.testing.assert_array_equal(in_order.lengths, whole.lengths)
    assert in_order.obs_count == whole.obs_count
    np.testing.assert_allclose(in_order.obs_sum, whole.obs_sum, rtol=1e-12)
    # Bit for bit the same sums whatever order the blocks arrived in.
    np.testing.assert_array_equal(in_order.obs_sum, reversed_order.obs_sum)
    np.testing.assert_array_equal(in_order.obs_sq_sum, reversed_order.obs_sq_sum)


class LastInFirstOutPool:
    """
    A ``TaskPool`` of ``n_workers`` in-process workers whose most recently started task always finishes first
    (results arrive out of order); it records what happened, in order.
    """

    def __init__(self, worker: EvaluationWorker, n_workers: int) -> None:
        self.worker, self.workers = worker, n_workers
        self.running: list[tuple] = []
        self.events: list[tuple[str, int]] = []

    def has_free(self, queue: bool = False) -> bool:
        return len(self.running) < self.workers

    def submit(self, args: tuple) -> None:
        self.events.append(("submit", args[0]))
        self.running.append(args)

    def has_next(self) -> bool:
        return bool(self.running)

    def next_result(self):
        args = self.running.pop()
        self.events.append(("result", args[0]))
        return self.worker.evaluate(*args)


def two_calls(policy: CoSyNEPolicy) -> list[EvaluationCall]:
    """A challenger and a champion on the same seeds, each with its own observation statistics."""
    rng = np.random.default_rng(3)
    seeds = rng.integers(0, 1000, size=(1, 5))
    return [
        EvaluationCall(rng.uniform(-1, 1, size=(1, policy.num_params)), seeds, (np.zeros(4), np.ones(4))),
        EvaluationCall(rng.uniform(-1, 1, size=(1, policy.num_params)), seeds, (np.full(4, 0.1), np.full(4, 2.0))),
    ]


def test_calls_run_in_one_pass_as_if_one_after_the_other():
    policy = CoSyNEPolicy(gym.spaces.Box(-1, 1, shape=(4,)), gym.spaces.Discrete(2), net_arch=[3])
    worker = EvaluationWorker(worker_env_factory("CartPole-v1", 1, None, None, None))
    worker.set_network(policy.network, fast_path=False)
    env = make_vec_env("CartPole-v1")
    calls = two_calls(policy)
    blocks = [split_blocks(1, 5, 2) for _ in calls]
    pool = LastInFirstOutPool(worker, n_workers=2)
    heard: list[np.ndarray] = []
    results = evaluate_blocks(pool, calls, blocks, policy.obs_dim, lambda part: heard.append(part.lengths) or True, print)

    assert len(results) == 2 and not any(result.aborted for result in results)
    for call, result in zip(calls, results, strict=True):
        alone = evaluate_networks(env, policy, call.params, call.seeds, call.obs_stats)
        np.testing.assert_array_equal(result.returns, alone.returns)
        np.testing.assert_array_equal(result.lengths, alone.lengths)
        np.testing.assert_array_equal(result.obs_sum, alone.obs_sum)
    # The callbacks hear every block in call and block order, though the results came back last in, first out.
    expected = [
        result.lengths[block.networks, block.episodes] for result, bs in zip(results, blocks, strict=True) for block in bs
    ]
    assert len(heard) == len(expected) == 10  # each call's 5 episodes split one per task for 2 workers
    for got, want in zip(heard, expected, strict=True):
        np.testing.assert_array_equal(got, want)
    # No wait between the calls: the champion's first task started before the challenger's last one finished.
    first_of_second = pool.events.index(("submit", len(blocks[0])))
    last_of_first = max(pool.events.index(("result", index)) for index in range(len(blocks[0])))
    assert first_of_second < last_of_first
    assert [kind for kind, _ in pool.events].count("result") == 10


def test_a_stop_in_a_call_drops_the_calls_after_it():
    policy = CoSyNEPolicy(gym.spaces.Box(-1, 1, shape=(4,)), gym.spaces.Discrete(2), net_arch=[3])
    worker = EvaluationWorker(worker_env_factory("CartPole-v1", 1, None, None, None))
    worker.set_network(policy.network, fast_path=False)
    calls = two_calls(policy) + two_calls(policy)[:1]
    blocks = [split_blocks(1, 5, 2) for _ in calls]
    pool = LastInFirstOutPool(worker, n_workers=2)
    heard = []
    # Stops at the second call's first block.
    results = evaluate_blocks(pool, calls, blocks, policy.obs_dim, lambda part: len(heard.append(1) or heard) <= 5, print)
    assert len(results) == 2
    assert not results[0].aborted and results[1].aborted
    assert np.all(results[0].lengths > 0)
    assert results[1].lengths[0, 0] > 0 and np.all(results[1].lengths[0, 1:] == 0)
    assert not pool.has_next()  # the tasks still running were waited out


def faulty_params(policy: CoSyNEPolicy) -> np.ndarray:
    """Two networks that always choose action 0, then two that always choose action 1."""
    params = np.zeros((4, policy.num_params))
    params[:2, 2] = 1.0  # bias of output 0 (each neuron: its two weights, then its bias)
    params[2:, 5] = 1.0  # bias of output 1
    return params


@pytest.mark.parametrize("fault", ["raise", "nan"])
def test_worker_numbers_networks_and_episodes_as_the_whole_call(fault):
    worker = EvaluationWorker(lambda: DummyVecEnv([lambda: FaultyEnv(fault)]))
    policy = CoSyNEPolicy(FaultyEnv.observation_space, FaultyEnv.action_space, net_arch=[])
    worker.set_network(policy.network, fast_path=True)
    assert worker.spaces() == (FaultyEnv.observation_space, FaultyEnv.action_space)
    # The block holds networks 10..13 and episodes 2..3 of a larger call; its networks 12 and 13 pick action 1.
    block = Block(slice(10, 14), slice(2, 4))
    seeds = np.zeros((4, 2), dtype=np.int64)
    if fault == "raise":
        with pytest.raises(EnvStepError, match=r"in lane 0 while evaluating network 12 \(episode 2\).*\(worker \d+ on "):
            worker.evaluate(7, block, faulty_params(policy), seeds, (None, None))
        return
    index, result, invalid = worker.evaluate(7, block, faulty_params(policy), seeds, (None, None))
    assert index == 7
    assert isinstance(result, EvaluationResult)
    assert np.all(np.isnan(result.returns[2:])) and np.all(result.returns[:2] == 10)
    assert invalid == [(12, 3, "reward"), (12, 3, "reward"), (13, 3, "reward"), (13, 3, "reward")]


def test_worker_needs_a_vec_env_and_a_policy():
    with pytest.raises(TypeError, match="must build a VecEnv"):
        EvaluationWorker(lambda: gym.make("CartPole-v1"))
    worker = EvaluationWorker(lambda: make_vec_env("CartPole-v1"))
    with pytest.raises(RuntimeError, match="set_network"):
        worker.evaluate(0, Block(slice(0, 1), slice(0, 1)), np.zeros((1, 10)), np.zeros((1, 1), dtype=np.int64), (None, None))


class InProcessEvaluator(BaseEvaluator):
    """The least a backend writes (``setup``, ``evaluate``, ``close``): here, its own env in this process."""

    def setup(self, network: NetworkSpec, fast_path: bool, max_episode_steps: int | None = None) -> None:
        self.env, self.network, self.calls = make_vec_env("CartPole-v1"), network, 0
        self.max_episode_steps = max_episode_steps

    def evaluate(self, params, seeds, obs_stats, on_block, on_invalid, max_steps=None) -> EvaluationResult:
        self.calls += 1
        cap = tighter_cap(self.max_episode_steps, max_steps)
        result = evaluate_networks(
            self.env, self.network, params, seeds, obs_stats, on_invalid=on_invalid, max_episode_steps=cap
        )
        result.aborted = not on_block(result)
        return result

    def close(self) -> None:
        self.env.close()


def test_a_backend_with_evaluate_alone_trains_as_local_evaluation():
    kwargs = dict(pop_size=8, seed=3, champion_episodes=3, normalize_obs=True)
    with InProcessEvaluator() as evaluator:
        remote = CoSyNE("MlpPolicy", "CartPole-v1", evaluator=evaluator, **kwargs).learn(3000)
    local = CoSyNE("MlpPolicy", "CartPole-v1", **kwargs).learn(3000)
    assert_same_state(local, remote)
    np.testing.assert_array_equal(local.obs_rms.var, remote.obs_rms.var)
    # The re-tests' calls run one after the other through evaluate: more calls than generations.
    assert evaluator.calls > remote.generation + 1


def test_evaluator_must_be_an_evaluator():
    with pytest.raises(ValueError, match='evaluator must be None, "auto" or a BaseEvaluator'):
        CoSyNE("MlpPolicy", "CartPole-v1", evaluator="ray")
    with pytest.raises(ValueError, match='evaluator must be None, "auto" or a BaseEvaluator'):
        CoSyNE("MlpPolicy", "CartPole-v1", evaluator=42)


def test_ray_evaluator_without_ray_names_the_extra(monkeypatch):
    from sb3_cosyne import RayEvaluator

    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(ImportError, match=r"pip install sb3-cosyne\[ray\]"):
        RayEvaluator("CartPole-v1")


def test_worker_envs_are_made_without_a_render_mode_unless_asked():
    # make_vec_env alone would ask for rgb_array (LunarLander then simulates particles at 3-4 times a step's cost).
    assert worker_env_factory("CartPole-v1", 2, None, None, None)().get_attr("render_mode") == [None, None]
    asked = worker_env_factory("CartPole-v1", 1, dict(render_mode="rgb_array"), None, None)()
    assert asked.get_attr("render_mode") == ["rgb_array"]
    assert worker_env_factory(FaultyEnv, 1, dict(fault="raise"), None, None)().get_attr("fault") == ["raise"]
    with pytest.raises(ValueError, match="env must be a gymnasium env id or a function"):
        worker_env_factory(42, 1, None, None, None)
