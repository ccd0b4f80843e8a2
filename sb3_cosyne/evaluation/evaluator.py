"""Evaluators: run a generation's episodes away from the model's env, in blocks of networks and episodes.

An evaluator splits the ``(networks, episodes)`` grid of a call into blocks, has them evaluated
somewhere (worker processes, a Ray cluster), and puts the results back together. Several calls can run
in one pass (the champion's re-test and the challenger's), so that no worker waits between them. Every episode starts
from ``reset(seed=...)`` with its own seed, so the returns do not depend on the split nor on which worker
ran which block: they are those of local evaluation. The blocks' observation sums are added in block
order, so the statistics of ``normalize_obs`` do not depend on which block finished first either.
"""

import contextlib
import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from sb3_cosyne.evaluation.result import EvaluationResult
from sb3_cosyne.networks.spec import NetworkSpec

#: called with the result of each block (its episodes' returns, lengths and successes), in block order, as soon as
#: the blocks before it are in; returning False stops the evaluation
OnBlock = Callable[[EvaluationResult], bool]
#: called with (network, step, what) for an episode ended by a non-finite observation or reward
OnInvalid = Callable[[int, int, str], None]

#: with ``members_per_task=None``, networks are split into about this many tasks per worker: episode lengths
#: vary by an order of magnitude between networks (LunarLander: 60 to 1000 steps), and several tasks per worker
#: let a free worker take the next one; each still holds enough episodes to amortise its overhead (on
#: LunarLander with worker processes, 1, 2, 4 and 8 equal tasks per worker measured alike; tasks that shrink as
#: the call goes on measured 5-6% faster once a worker held its next task, see ``split_blocks``)
TASKS_PER_WORKER = 8


@dataclass(frozen=True)
class EvaluationCall:
    """
    One evaluation: ``seeds.shape[1]`` episodes of each network.

    :param params: one parameter vector per network, shape ``(n_networks, num_params)``
    :param seeds: reset seed of each episode, shape ``(n_networks, n_episodes)``
    :param obs_stats: observation mean and standard deviation to normalise with, or ``(None, None)``
    :param max_steps: cut this call's episodes after this many steps, on top of the evaluator's episode cap (the
        training cap of ``episode_cap_factor``; None: no cap of its own)
    """

    params: np.ndarray
    seeds: np.ndarray
    obs_stats: tuple
    max_steps: int | None = None


def tighter_cap(cap: int | None, other: int | None) -> int | None:
    """The smaller of two episode caps, None standing for no cap."""
    return other if cap is None else cap if other is None else min(cap, other)


def evaluate_in_turn(
    evaluate: Callable[[EvaluationCall], EvaluationResult], calls: list[EvaluationCall]
) -> list[EvaluationResult]:
    """
    Run ``calls`` one after the other, up to the first that a callback stops.

    :param evaluate: runs one call
    :return: the results, ending with the first aborted one (the calls after it are not run)
    """
    results: list[EvaluationResult] = []
    for call in calls:
        results.append(evaluate(call))
        if results[-1].aborted:
            break
    return results


@dataclass(frozen=True)
class Block:
    """A rectangle of the ``(networks, episodes)`` grid evaluated as one task."""

    networks: slice
    episodes: slice


def split_blocks(
    n_networks: int,
    n_episodes: int,
    n_workers: int,
    members_per_task: int | None = None,
    tasks_per_worker: int = TASKS_PER_WORKER,
    shrinking: bool = False,
) -> list[Block]:
    """
    Split the episodes of ``n_networks`` networks into tasks.

    Networks are grouped ``members_per_task`` at a time, or, with ``shrinking``, in groups that shrink as the
    call goes on; when that leaves fewer tasks than workers (the champion's re-test evaluates a single
    network), the episodes are split as well, into about ``tasks_per_worker`` tasks per worker (down to one
    episode per task), so that every worker gets some and a free worker can take the next one.

    :param n_networks: networks to evaluate
    :param n_episodes: episodes per network
    :param n_workers: workers that run the tasks
    :param members_per_task: networks per task; None: about ``tasks_per_worker`` tasks per worker, or shrinking ones
    :param tasks_per_worker: tasks per worker when ``members_per_task`` is None or gives fewer tasks than workers
    :param shrinking: with ``members_per_task=None``, each group takes ``1 / (2 n_workers)`` of the networks left
        (at least one): large tasks first, single networks last, so that the workers finish nearly together.
        It makes more tasks than ``tasks_per_worker``: for backends whose tasks cost little each
    :return: the blocks, networks-major
    """
    if members_per_task is None and shrinking:
        row_edges = [0]
        while row_edges[-1] < n_networks:
            row_edges.append(row_edges[-1] + math.ceil((n_networks - row_edges[-1]) / (2 * n_workers)))
        row_edges = np.array(row_edges)
    else:
        if members_per_task is None:
            members_per_task = max(1, math.ceil(n_networks / (tasks_per_worker * n_workers)))
        row_edges = np.linspace(0, n_networks, math.ceil(n_networks / members_per_task) + 1).round().astype(int)
    n_rows = len(row_edges) - 1
    n_cols = min(n_episodes, math.ceil(tasks_per_worker * n_workers / n_rows)) if n_rows < n_workers else 1
    col_edges = np.linspace(0, n_episodes, n_cols + 1).round().astype(int)
    return [
        Block(slice(int(r0), int(r1)), slice(int(c0), int(c1)))
        for r0, r1 in zip(row_edges[:-1], row_edges[1:], strict=True)
        for c0, c1 in zip(col_edges[:-1], col_edges[1:], strict=True)
    ]


class BlockAssembler:
    """
    Puts the results of a pass's blocks back together, call by call, in call and block order whatever order
    they arrive in.

    :param calls: the pass's calls
    :param blocks: each call's blocks
    :param obs_dim: number of network inputs (size of the observation sums)
    """

    def __init__(self, calls: list[EvaluationCall], blocks: list[list[Block]], obs_dim: int) -> None:
        #: (call, block) of every task, in the order of submission and release
        self.tasks = [(c, block) for c, call_blocks in enumerate(blocks) for block in call_blocks]
        #: each call's totals so far (blocks not released yet count as zero-length episodes)
        self.results = [
            EvaluationResult(
                np.zeros(call.seeds.shape), np.zeros(call.seeds.shape, dtype=np.int64), 0, np.zeros(obs_dim), np.zeros(obs_dim)
            )
            for call in calls
        ]
        self._arrived: dict[int, tuple[EvaluationResult, Any]] = {}
        #: tasks released so far (all tasks before this index are in the totals)
        self.released = 0

    @property
    def complete(self) -> bool:
        return self.released == len(self.tasks)

    def add(self, index: int, result: EvaluationResult, extra: Any = None) -> None:
        """
        Record task ``index``'s result.

        :param extra: anything that goes with the result (given back with it by ``release``)
        """
        self._arrived[index] = result, extra

    def release(self) -> Iterator[tuple[EvaluationResult, Any]]:
        """
        Put the recorded tasks into the totals in task order, each as it is taken, up to the first one missing,
        so that a pass stopped at a task leaves those after it out.

        :return: the ``(result, extra)`` of each task put in
        """
        while self.released in self._arrived:
            (c, block), (part, extra) = self.tasks[self.released], self._arrived.pop(self.released)
            total = self.results[c]
            total.returns[block.networks, block.episodes] = part.returns
            total.lengths[block.networks, block.episodes] = part.lengths
            if part.successes is not None:
                total.set_successes(block.networks, block.episodes, part.successes)
            total.obs_count += part.obs_count
            total.cut_episodes += part.cut_episodes
            total.obs_sum += part.obs_sum
            total.obs_sq_sum += part.obs_sq_sum
            self.released += 1
            yield part, extra

    def stopped(self, index: int) -> list[EvaluationResult]:
        """The results of a pass stopped at released task ``index``: up to its call, which is ``aborted``."""
        c = self.tasks[index][0]
        self.results[c].aborted = True
        return self.results[: c + 1]


def check_env_spaces(env: Any, env_spaces: tuple, network: NetworkSpec) -> None:
    """
    :param env: the evaluator's env (id or function), for the message
    :param env_spaces: the observation and action spaces of the evaluator's env
    :param network: the architecture of the model's networks
    :raises ValueError: when a space differs from the model's
    """
    for kind, env_space, model_space in zip(
        ("observation", "action"), env_spaces, (network.observation_space, network.action_space), strict=True
    ):
        if env_space != model_space:
            raise ValueError(f"the evaluator's env {env!r} has the {kind} space {env_space}, but the model's is {model_space}")


#: what a worker gives back for a block: its index, its result and its invalid-episode reports
BlockOutcome = tuple[int, EvaluationResult, list[tuple[int, int, str]]]


class TaskPool(Protocol):
    """Hands tasks to free workers and gives their outcomes back as they finish (any order)."""

    #: number of workers
    workers: int

    def has_free(self, queue: bool = False) -> bool:
        """Whether a worker is idle or, with ``queue``, can take a task to start as soon as its current one ends."""

    def submit(self, args: tuple) -> None:
        """Have a free worker run ``EvaluationWorker.evaluate(*args)`` (an idle one if any)."""

    def has_next(self) -> bool:
        """Whether tasks are still running."""

    def next_result(self) -> BlockOutcome:
        """Wait for the next task to finish and return its outcome (raising what the worker raised)."""


class QueuedPool(ABC):
    """
    A ``TaskPool`` over fixed workers, each holding up to ``depth`` tasks: the one it runs and the next ones,
    which it starts as soon as it ends one instead of after a round trip to the main process. A worker runs its
    tasks in the order sent and answers each in turn. Subclasses say how a task reaches a worker and how an
    answer comes back.

    :param workers: the workers' keys (what ``_send`` and ``_receive`` name a worker by)
    """

    def __init__(self, workers: Iterable[Any]) -> None:
        #: tasks sent to each worker and not answered yet
        self.held: dict[Any, int] = dict.fromkeys(workers, 0)
        self.workers = len(self.held)
        #: tasks a worker may hold
        self.depth = 1

    @abstractmethod
    def _send(self, worker: Any, args: tuple) -> None:
        """Have ``worker`` run ``EvaluationWorker.evaluate(*args)`` after the tasks it holds."""

    @abstractmethod
    def _receive(self) -> tuple[Any, Any]:
        """Wait for the next answer of a worker that holds tasks; return the worker and the answer."""

    @abstractmethod
    def _outcome(self, answer: Any) -> BlockOutcome:
        """The task's outcome from its answer (raising what the worker raised)."""

    def has_free(self, queue: bool = False) -> bool:
        return min(self.held.values()) < (self.depth if queue else 1)

    def submit(self, args: tuple) -> None:
        worker = min(self.held, key=self.held.__getitem__)
        self.held[worker] += 1
        self._send(worker, args)

    def has_next(self) -> bool:
        return any(self.held.values())

    def next_result(self) -> BlockOutcome:
        worker, answer = self._receive()
        self.held[worker] -= 1
        return self._outcome(answer)


def drain(pool: TaskPool) -> None:
    """Wait out the tasks of an interrupted call (their results belong to no generation)."""
    while pool.has_next():
        # A discarded task's error concerns no generation.
        with contextlib.suppress(Exception):
            pool.next_result()


def evaluate_blocks(
    pool: TaskPool,
    calls: list[EvaluationCall],
    blocks: list[list[Block]],
    obs_dim: int,
    on_block: OnBlock,
    on_invalid: OnInvalid,
) -> list[EvaluationResult]:
    """
    Evaluate the blocks of one or more calls on the workers of ``pool`` in one pass, keeping every worker
    busy (a call's tasks start while the previous call's last ones still run), and put the results together.

    Callbacks and reports follow call and block order whatever order the results arrive in, so runs repeat
    exactly, and as if the calls had run one after the other.

    :param pool: the workers
    :param calls: the calls, in order
    :param blocks: each call's blocks (``split_blocks``)
    :param obs_dim: number of network inputs
    :param on_block: called with each block's result in call and block order; returning False stops
    :param on_invalid: called for episodes ended by a non-finite observation or reward (networks numbered
        within their call)
    :return: the calls' results, ending with the first aborted one (``on_block`` stopped it; the calls after
        it are dropped and the tasks still running are waited out)
    """
    assembler = BlockAssembler(calls, blocks, obs_dim)
    submitted = 0

    def submit_while_free() -> None:
        nonlocal submitted
        # A task queued behind a running one hides the round trip between them. The last tasks go only to idle
        # workers: queued, one could wait behind a long task while another worker has nothing to do.
        while submitted < len(assembler.tasks) and pool.has_free(queue=len(assembler.tasks) - submitted > pool.workers):
            c, block = assembler.tasks[submitted]
            call = calls[c]
            seeds = call.seeds[block.networks, block.episodes]
            pool.submit((submitted, block, call.params[block.networks], seeds, call.obs_stats, call.max_steps))
            submitted += 1

    submit_while_free()
    while not assembler.complete:
        index, result, invalid = pool.next_result()
        submit_while_free()
        assembler.add(index, result, (index, invalid))
        for released, (task, reports) in assembler.release():
            for network, step, what in reports:
                on_invalid(network, step, what)
            if not on_block(released):
                drain(pool)
                return assembler.stopped(task)
    return assembler.results


class BaseEvaluator(ABC):
    """
    Evaluates CoSyNE's networks on env copies of its own (in worker processes, on a cluster) instead of on
    the model's env. It is runtime state: it is not saved with the model; pass it again to ``CoSyNE.load``.
    """

    @abstractmethod
    def setup(self, network: NetworkSpec, fast_path: bool, max_episode_steps: int | None = None) -> None:
        """
        Get ready to evaluate networks of this architecture (called at the start of every ``learn``).

        :param network: the networks' architecture (the model's ``policy.network``)
        :param fast_path: whether episodes may run on the compiled fast path where the env has one
        :param max_episode_steps: the episode cap: episodes that have not ended after this many steps are cut
            (None: none)
        :raises ValueError: when the evaluator's env spaces differ from the network's
        """

    @abstractmethod
    def evaluate(
        self,
        params: np.ndarray,
        seeds: np.ndarray,
        obs_stats: tuple,
        on_block: OnBlock,
        on_invalid: OnInvalid,
        max_steps: int | None = None,
    ) -> EvaluationResult:
        """
        Run ``seeds.shape[1]`` episodes of each network.

        :param params: one parameter vector per network, shape ``(n_networks, num_params)``
        :param seeds: reset seed of each episode, shape ``(n_networks, n_episodes)``
        :param obs_stats: observation mean and standard deviation to normalise with, or ``(None, None)``
        :param on_block: called with each block's result in block order; returning False stops
        :param on_invalid: called for episodes ended by a non-finite observation or reward
        :param max_steps: cut the episodes after this many steps, on top of the cap given to ``setup`` (None: no
            cap of their own); cut episodes count in the result's ``cut_episodes``
        :return: the episodes' returns, lengths and observation statistics (``aborted`` when stopped)
        """

    def evaluate_calls(self, calls: list[EvaluationCall], on_block: OnBlock, on_invalid: OnInvalid) -> list[EvaluationResult]:
        """
        Run several calls, as ``evaluate`` one after the other would; evaluators with workers run them in one
        pass, with no wait between them.

        :param calls: the calls, in order
        :param on_block: called with each block's result in call and block order; returning False stops
        :param on_invalid: called for episodes ended by a non-finite observation or reward (networks numbered
            within their call)
        :return: the results, ending with the first aborted one (the calls after it are not run)
        """
        return evaluate_in_turn(
            lambda call: self.evaluate(call.params, call.seeds, call.obs_stats, on_block, on_invalid, call.max_steps), calls
        )

    @abstractmethod
    def close(self) -> None:
        """Release the workers (a later ``setup`` starts new ones)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
