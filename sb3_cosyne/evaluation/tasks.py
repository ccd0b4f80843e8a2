"""What the evaluators that hand tasks to workers holding their own env copies share: their settings."""

import warnings
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np

from sb3_cosyne.core.strategy import check_int
from sb3_cosyne.evaluation.evaluator import (
    TASKS_PER_WORKER,
    BaseEvaluator,
    Block,
    EvaluationCall,
    OnBlock,
    OnInvalid,
    QueuedPool,
    evaluate_blocks,
    split_blocks,
)
from sb3_cosyne.evaluation.result import EvaluationResult
from sb3_cosyne.evaluation.worker import worker_env_factory


class TaskEvaluator(BaseEvaluator):
    """
    An evaluator whose workers each make their own copy of the env and run tasks of networks on it.

    :param env: gymnasium env id, or a function returning a gymnasium env (pickled to the workers)
    :param n_workers: number of workers; None: the subclass decides (the CPUs it may use)
    :param members_per_task: networks per task; None: about ``tasks_per_worker`` tasks per worker and generation
    :param n_envs: lanes of each worker's ``DummyVecEnv``
    :param env_kwargs: keyword arguments of the env, as in SB3's ``make_vec_env``
    :param wrapper_class: gymnasium wrapper applied to each lane, as in ``make_vec_env``
    :param wrapper_kwargs: its keyword arguments
    :param max_restarts: how many lost workers may be replaced (what counts is the backend's)
    :raises ValueError: naming the argument that is not valid
    """

    #: tasks per worker and call when ``members_per_task`` is None, and for calls of fewer networks than workers
    #: (``split_blocks``); a backend sets its own, an instance may too
    tasks_per_worker: int = TASKS_PER_WORKER
    #: with ``members_per_task`` None, tasks that shrink as a call goes on (``split_blocks``'s ``shrinking``)
    shrinking_tasks: bool = False
    #: tasks a worker holds at once: the one it runs and the next, which it starts as soon as it ends one instead
    #: of after a round trip to this process (on a 2-core VM, 0.3-0.7 ms for a worker process and 2.1-2.5 ms for a
    #: Ray actor: benchmarks/task_round_trip.py)
    queue_depth: int = 2

    def __init__(
        self,
        env: str | Callable[[], gym.Env],
        n_workers: int | None,
        members_per_task: int | None,
        n_envs: int,
        env_kwargs: dict[str, Any] | None,
        wrapper_class: type[gym.Wrapper] | None,
        wrapper_kwargs: dict[str, Any] | None,
        max_restarts: int,
    ) -> None:
        self.env = env
        self.n_workers = None if n_workers is None else check_int("n_workers", n_workers, 1)
        self.members_per_task = None if members_per_task is None else check_int("members_per_task", members_per_task, 1)
        self.n_envs = check_int("n_envs", n_envs, 1)
        self._make_env = worker_env_factory(env, n_envs, env_kwargs, wrapper_class, wrapper_kwargs)
        self.max_restarts = check_int("max_restarts", max_restarts, 0)
        self._warned_restart = False
        #: number of network inputs (set by ``setup``)
        self._obs_dim = 0

    def _warn_restart(self, message: str, per: str) -> None:
        """
        Report the first worker that was replaced (a long run may lose several; later ones are not reported).

        :param message: what happened to it
        :param per: what ``max_restarts`` counts restarts over ("learn", "worker")
        """
        if not self._warned_restart:
            self._warned_restart = True
            limit = f"at most max_restarts={self.max_restarts} restarts per {per}; later ones are not reported"
            warnings.warn(f"{message} ({limit})", stacklevel=3)

    def evaluate(
        self,
        params: np.ndarray,
        seeds: np.ndarray,
        obs_stats: tuple,
        on_block: OnBlock,
        on_invalid: OnInvalid,
        max_steps: int | None = None,
    ) -> EvaluationResult:
        """``BaseEvaluator.evaluate``, as a pass of one call."""
        return self.evaluate_calls([EvaluationCall(params, seeds, obs_stats, max_steps)], on_block, on_invalid)[0]

    def _split(self, calls: list[EvaluationCall], n_workers: int) -> list[list[Block]]:
        """Each call's blocks for ``n_workers`` workers."""
        return [
            split_blocks(*call.seeds.shape, n_workers, self.members_per_task, self.tasks_per_worker, self.shrinking_tasks)
            for call in calls
        ]

    def _run_pass(
        self, pool: QueuedPool, calls: list[EvaluationCall], on_block: OnBlock, on_invalid: OnInvalid
    ) -> list[EvaluationResult]:
        """Run ``calls`` on the workers of ``pool`` in one pass (``evaluate_blocks``)."""
        pool.depth = self.queue_depth
        return evaluate_blocks(pool, calls, self._split(calls, pool.workers), self._obs_dim, on_block, on_invalid)
