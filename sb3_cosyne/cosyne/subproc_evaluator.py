"""Evaluation in worker processes on this machine, whole tasks of networks at a time, over SB3's ``SubprocVecEnv``."""

import functools
import os
import traceback
from collections.abc import Callable
from multiprocessing.connection import Connection, wait
from typing import Any

import gymnasium as gym
import numpy as np
from stable_baselines3.common.vec_env import SubprocVecEnv, VecEnv

from sb3_cosyne.cosyne.cosyne import _check_int
from sb3_cosyne.cosyne.evaluation import EnvStepError, EvaluationResult
from sb3_cosyne.cosyne.evaluator import (
    BaseEvaluator,
    Block,
    BlockOutcome,
    OnBlock,
    OnInvalid,
    check_env_spaces,
    drain,
    evaluate_blocks,
    split_blocks,
)
from sb3_cosyne.cosyne.policies import CoSyNEPolicy
from sb3_cosyne.cosyne.worker import EvaluationWorker, worker_env_factory


def available_cpus() -> int:
    """The CPUs this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


class WorkerHost(gym.Env):
    """
    An ``EvaluationWorker`` in a ``SubprocVecEnv`` worker process. It has the env's spaces, so that
    ``SubprocVecEnv`` can start it, but it is not stepped: CoSyNE calls its methods through ``env_method``.

    :param make_env: builds the worker's VecEnv
    """

    def __init__(self, make_env: Callable[[], VecEnv]) -> None:
        self.worker = EvaluationWorker(make_env)
        self.observation_space, self.action_space = self.worker.spaces()

    def set_policy(self, policy: CoSyNEPolicy, fast_path: bool) -> None:
        self.worker.set_policy(policy, fast_path)

    def evaluate(
        self, index: int, block: Block, params: np.ndarray, seeds: np.ndarray, obs_stats: tuple
    ) -> BlockOutcome | Exception:
        """``EvaluationWorker.evaluate``, with what it raises returned instead (a raise would end the process)."""
        try:
            return self.worker.evaluate(index, block, params, seeds, obs_stats)
        except EnvStepError as error:
            return error
        except Exception as error:
            return RuntimeError(f"a worker process raised {type(error).__name__}: {error}\n{traceback.format_exc()}")

    def step(self, action):
        raise NotImplementedError("a SubprocEvaluator's worker evaluates whole tasks; it is not stepped")

    def reset(self, *, seed=None, options=None):
        raise NotImplementedError("a SubprocEvaluator's worker evaluates whole tasks; it is not reset")

    def close(self) -> None:
        self.worker.close()


class _WorkerPipes:
    """
    The ``SubprocVecEnv``'s pipes as a ``TaskPool``: a task is a ``WorkerHost.evaluate`` call sent as
    ``SubprocVecEnv``'s ``env_method`` command to one worker alone, so that all workers run at once.
    """

    def __init__(self, remotes: list[Connection]) -> None:
        self.idle = list(remotes)
        self.busy: list[Connection] = []

    def has_free(self) -> bool:
        return bool(self.idle)

    def submit(self, args: tuple) -> None:
        remote = self.idle.pop(0)
        remote.send(("env_method", ("evaluate", args, {})))
        self.busy.append(remote)

    def has_next(self) -> bool:
        return bool(self.busy)

    def next_result(self) -> BlockOutcome:
        remote = wait(self.busy)[0]
        self.busy.remove(remote)
        outcome = remote.recv()
        # Only a live worker goes back to work (recv raises when the process has died).
        self.idle.append(remote)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome


class SubprocEvaluator(BaseEvaluator):
    """
    Evaluates CoSyNE's networks in worker processes on this machine, each holding its own copy of the env.

    The workers are those of an SB3 ``SubprocVecEnv``, but instead of stepping every lane in lockstep
    (one round trip per step), each worker runs whole tasks of ``members_per_task`` networks, handed to
    whichever worker is free, exactly as CoSyNE runs a generation locally (compiled fast path, or the
    lanes of a ``DummyVecEnv``). Every episode starts from its own reset seed, so the fitness values are
    those of local evaluation, bit for bit (for envs whose seeded reset fully determines the episode).

    The workers start at the first ``learn``. The evaluator is runtime state: it is not saved with the
    model; pass it again to ``CoSyNE.load(path, env, evaluator=...)``. ``close()`` stops the workers.

    :param env: gymnasium env id, or a function returning a gymnasium env (pickled to the workers)
    :param n_workers: number of worker processes; None: one per CPU this process may use
    :param members_per_task: networks per task; None: about eight tasks per worker and generation (small
        tasks balance the load when episode lengths vary)
    :param n_envs: lanes of each worker's ``DummyVecEnv``
    :param env_kwargs: keyword arguments of the env, as in SB3's ``make_vec_env``
    :param wrapper_class: gymnasium wrapper applied to each lane, as in ``make_vec_env``
    :param wrapper_kwargs: its keyword arguments
    :param start_method: how the processes start (``"forkserver"``, ``"spawn"``, ``"fork"``); None:
        ``SubprocVecEnv``'s default
    """

    def __init__(
        self,
        env: str | Callable[[], gym.Env],
        n_workers: int | None = None,
        members_per_task: int | None = None,
        n_envs: int = 1,
        env_kwargs: dict[str, Any] | None = None,
        wrapper_class: type[gym.Wrapper] | None = None,
        wrapper_kwargs: dict[str, Any] | None = None,
        start_method: str | None = None,
    ) -> None:
        self.env = env
        self.n_workers = available_cpus() if n_workers is None else _check_int("n_workers", n_workers, 1)
        self.members_per_task = None if members_per_task is None else _check_int("members_per_task", members_per_task, 1)
        self.n_envs = _check_int("n_envs", n_envs, 1)
        self.start_method = start_method
        self._make_env = worker_env_factory(env, n_envs, env_kwargs, wrapper_class, wrapper_kwargs)
        self._venv: SubprocVecEnv | None = None
        self._pool: _WorkerPipes | None = None
        self._obs_dim = 0

    @property
    def workers(self) -> int:
        """Number of running worker processes (0 before ``setup``)."""
        return 0 if self._venv is None else self._venv.num_envs

    @property
    def pids(self) -> list[int]:
        """The worker processes' ids."""
        return [] if self._venv is None else [process.pid for process in self._venv.processes]

    def _start(self) -> None:
        host = functools.partial(WorkerHost, self._make_env)
        try:
            self._venv = SubprocVecEnv([host] * self.n_workers, start_method=self.start_method)
        except (EOFError, ConnectionError) as error:
            self.close()
            raise RuntimeError(
                f"the worker processes could not make the env {self.env!r} (see their traceback above)"
            ) from error
        self._pool = _WorkerPipes(list(self._venv.remotes))

    def setup(self, policy: CoSyNEPolicy, fast_path: bool) -> None:
        """
        Start the workers if they are not running (or one has ended), check the env's spaces against the
        policy's and send the policy's architecture to every worker.

        :raises ValueError: when the env's observation or action space differs from the model's
        :raises RuntimeError: when the workers cannot make the env
        """
        for attempt in range(2):
            if self._venv is None:
                self._start()
            check_env_spaces(self.env, (self._venv.observation_space, self._venv.action_space), policy)
            drain(self._pool)
            self._obs_dim = policy.obs_dim
            try:
                self._venv.env_method("set_policy", policy, fast_path)
                return
            except (EOFError, ConnectionError) as error:
                # A worker ended since the last learn (killed, or Ctrl-C, which ends SubprocVecEnv's workers).
                self.close()
                if attempt:
                    raise RuntimeError(f"the worker processes ended as soon as they started: {error}") from error

    def evaluate(
        self, params: np.ndarray, seeds: np.ndarray, obs_stats: tuple, on_block: OnBlock, on_invalid: OnInvalid
    ) -> EvaluationResult:
        if self._pool is None:
            raise RuntimeError("SubprocEvaluator.setup must be called before evaluate (CoSyNE.learn does)")
        drain(self._pool)
        blocks = split_blocks(seeds.shape[0], seeds.shape[1], self.n_workers, self.members_per_task)
        try:
            return evaluate_blocks(self._pool, blocks, params, seeds, obs_stats, self._obs_dim, on_block, on_invalid)
        except EnvStepError:
            drain(self._pool)
            raise
        except (EOFError, ConnectionError) as error:
            self.close()
            raise RuntimeError(
                f"a worker process died while evaluating networks ({type(error).__name__}); the model is as after "
                "its last generation and the next learn starts new workers"
            ) from error

    def close(self) -> None:
        """Stop the worker processes (a later ``learn`` starts new ones)."""
        if self._venv is not None:
            venv, self._venv, self._pool = self._venv, None, None
            try:
                venv.close()
            except (EOFError, ConnectionError):
                # A dead worker cannot take the close command: end the others without it.
                for process in venv.processes:
                    process.kill()
                    process.join()
                for remote in venv.remotes:
                    remote.close()
        self._pool = None

    def __repr__(self) -> str:
        return (
            f"SubprocEvaluator({self.env!r}, n_workers={self.n_workers}, members_per_task={self.members_per_task}, "
            f"n_envs={self.n_envs})"
        )
