"""Evaluation in worker processes on this machine, whole tasks of networks at a time, over SB3's ``SubprocVecEnv``."""

import contextlib
import functools
import multiprocessing
import os
import traceback
from collections.abc import Callable
from multiprocessing.connection import Connection, wait
from typing import Any

import gymnasium as gym
import numpy as np
from stable_baselines3.common.vec_env import SubprocVecEnv, VecEnv

from sb3_cosyne.evaluation.evaluator import (
    Block,
    BlockOutcome,
    EvaluationCall,
    OnBlock,
    OnInvalid,
    QueuedPool,
    check_env_spaces,
    drain,
)
from sb3_cosyne.evaluation.result import EnvStepError, EvaluationResult
from sb3_cosyne.evaluation.tasks import TaskEvaluator
from sb3_cosyne.evaluation.worker import EvaluationWorker
from sb3_cosyne.networks.spec import NetworkSpec


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

    @staticmethod
    def _returning_errors(call: Callable, *args):
        """``call(*args)``, with what it raises returned instead (a raise would end the worker process)."""
        try:
            return call(*args)
        except EnvStepError as error:
            return error
        except Exception as error:
            return RuntimeError(f"a worker process raised {type(error).__name__}: {error}\n{traceback.format_exc()}")

    def set_network(self, network: NetworkSpec, fast_path: bool) -> Exception | None:
        """``EvaluationWorker.set_network``, returning what it raises."""
        return self._returning_errors(self.worker.set_network, network, fast_path)

    def evaluate(
        self, index: int, block: Block, params: np.ndarray, seeds: np.ndarray, obs_stats: tuple
    ) -> BlockOutcome | Exception:
        """``EvaluationWorker.evaluate``, returning what it raises."""
        return self._returning_errors(self.worker.evaluate, index, block, params, seeds, obs_stats)

    def step(self, action):
        raise NotImplementedError("a SubprocEvaluator's worker evaluates whole tasks; it is not stepped")

    def reset(self, *, seed=None, options=None):
        raise NotImplementedError("a SubprocEvaluator's worker evaluates whole tasks; it is not reset")

    def close(self) -> None:
        self.worker.close()


class _WorkerDiedError(Exception):
    """A worker process ended: its pipe is closed, or its process is gone."""

    def __init__(self, remote: Connection, what: str) -> None:
        super().__init__(what)
        self.remote = remote


class _WorkerPipes(QueuedPool):
    """
    The ``SubprocVecEnv``'s pipes as a ``TaskPool``: a task is a ``WorkerHost.evaluate`` call sent as
    ``SubprocVecEnv``'s ``env_method`` command to one worker alone, so that all workers run at once; a worker
    reads the tasks it holds from its pipe one after the other.

    Every wait also watches the worker's process, not only its pipe: with the ``fork`` start method the other
    workers inherit each pipe's ends, so a dead worker's pipe never reports its end.

    :param venv: the workers
    """

    def __init__(self, venv: SubprocVecEnv) -> None:
        super().__init__(venv.remotes)
        self.processes = dict(zip(venv.remotes, venv.processes, strict=True))
        #: set when a worker died or a read was interrupted: the workers must be restarted
        self.broken = False

    def _died(self, remote: Connection, what: str) -> "_WorkerDiedError":
        self.broken = True
        return _WorkerDiedError(remote, what)

    def send(self, remote: Connection, method: str, args: tuple) -> None:
        """Have the worker call ``WorkerHost.<method>(*args)``."""
        try:
            remote.send(("env_method", (method, args, {})))
        except (OSError, EOFError) as error:
            raise self._died(remote, f"{type(error).__name__}: {error}") from error

    def wait_any(self, remotes: list[Connection]) -> tuple[Connection, Any]:
        """
        Wait until one of ``remotes`` answers; return it and its answer.

        :raises _WorkerDiedError: when a worker's process ended without answering
        """
        sentinels = {self.processes[remote].sentinel: remote for remote in remotes}
        ready = wait([*remotes, *sentinels])
        pipes = [remote for remote in ready if isinstance(remote, Connection)]
        if not pipes:
            raise self._died(sentinels[ready[0]], "its process ended")
        remote = pipes[0]
        try:
            return remote, remote.recv()
        except (OSError, EOFError) as error:
            raise self._died(remote, f"{type(error).__name__}: {error}") from error
        except BaseException:
            self.broken = True
            raise

    def call_all(self, method: str, *args) -> None:
        """
        Have every worker call ``WorkerHost.<method>(*args)``, wait for all, then raise the first error one of
        them returned (after all have answered, so that no answer is left in a pipe). No task may be running.
        """
        for remote in self.held:
            self.send(remote, method, args)
        waiting, errors = list(self.held), []
        while waiting:
            remote, outcome = self.wait_any(waiting)
            waiting.remove(remote)
            if isinstance(outcome, Exception):
                errors.append(outcome)
        if errors:
            raise errors[0]

    def _send(self, remote: Connection, args: tuple) -> None:
        self.send(remote, "evaluate", args)

    def _receive(self) -> tuple[Connection, Any]:
        try:
            return self.wait_any([remote for remote, held in self.held.items() if held])
        except _WorkerDiedError as error:
            # Its tasks are lost with it; the call fails, and draining the others must not wait for it.
            self.held[error.remote] = 0
            raise

    def _outcome(self, answer: Any) -> BlockOutcome:
        if isinstance(answer, Exception):
            raise answer
        return answer


class SubprocEvaluator(TaskEvaluator):
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
    :param members_per_task: networks per task; None: tasks that shrink as a generation goes on, single
        networks last (``shrinking_tasks``), so that the workers finish nearly together
    :param n_envs: lanes of each worker's ``DummyVecEnv``
    :param env_kwargs: keyword arguments of the env, as in SB3's ``make_vec_env``
    :param wrapper_class: gymnasium wrapper applied to each lane, as in ``make_vec_env``
    :param wrapper_kwargs: its keyword arguments
    :param start_method: how the processes start (``"forkserver"``, ``"spawn"``, ``"fork"``); None:
        ``SubprocVecEnv``'s default
    """

    # A task costs next to nothing beyond its round trip, which the queue hides: many small tasks at the end of a
    # call let the workers finish nearly together. LunarLander, 2 workers on 2 cores, speed-up over one process,
    # medians of 5 seeds (benchmarks/scaling.py --splits 8 shrinking --queue-depth 1 2): equal tasks 1.66 (queue
    # 1) and 1.68 (queue 2), shrinking tasks 1.77 and 1.74; the queue's gain per seed ranges from -2% to +7%.
    shrinking_tasks = True

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
        super().__init__(env, n_workers, members_per_task, n_envs, env_kwargs, wrapper_class, wrapper_kwargs)
        if self.n_workers is None:
            self.n_workers = available_cpus()
        self.start_method = start_method
        self._venv: SubprocVecEnv | None = None
        self._pool: _WorkerPipes | None = None

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
        before = set(multiprocessing.active_children())
        try:
            self._venv = SubprocVecEnv([host] * self.n_workers, start_method=self.start_method)
        except (EOFError, ConnectionError) as error:
            # SubprocVecEnv started them before asking the first for the spaces: end those that still run.
            for process in set(multiprocessing.active_children()) - before:
                process.kill()
                process.join()
            raise RuntimeError(
                f"the worker processes could not make the env {self.env!r} (see their traceback above)"
            ) from error
        self._pool = _WorkerPipes(self._venv)

    def setup(self, network: NetworkSpec, fast_path: bool) -> None:
        """
        Start the workers if they are not running (or one has ended), check the env's spaces against the
        network's and send the architecture to every worker.

        :raises ValueError: when the env's observation or action space differs from the model's
        :raises RuntimeError: when the workers cannot make the env
        """
        for attempt in range(2):
            if self._pool is not None:
                drain(self._pool)
                if self._pool.broken:
                    self.close()
            if self._venv is None:
                self._start()
            check_env_spaces(self.env, (self._venv.observation_space, self._venv.action_space), network)
            self._obs_dim = network.obs_dim
            try:
                self._pool.call_all("set_network", network, fast_path)
                return
            except _WorkerDiedError as error:
                # A worker ended since the last learn (killed, or Ctrl-C, which ends SubprocVecEnv's workers).
                self.close()
                if attempt:
                    raise RuntimeError(f"the worker processes ended as soon as they started ({error})") from error

    def evaluate_calls(self, calls: list[EvaluationCall], on_block: OnBlock, on_invalid: OnInvalid) -> list[EvaluationResult]:
        if self._pool is None:
            raise RuntimeError("SubprocEvaluator.setup must be called before evaluate (CoSyNE.learn does)")
        drain(self._pool)
        if self._pool.broken:
            self.close()
            raise RuntimeError("a worker process died between two generations; the next learn starts new workers")
        try:
            return self._run_pass(self._pool, calls, on_block, on_invalid)
        except _WorkerDiedError as error:
            self.close()
            raise RuntimeError(
                f"a worker process died while evaluating networks ({error}); the model is as after its last "
                "generation and the next learn starts new workers"
            ) from error
        except Exception:
            # The other tasks of the call still run: their results belong to no generation.
            drain(self._pool)
            raise

    def close(self) -> None:
        """Stop the worker processes (a later ``learn`` starts new ones)."""
        venv, self._venv, self._pool = self._venv, None, None
        if venv is None:
            return
        if all(process.is_alive() for process in venv.processes):
            with contextlib.suppress(OSError, EOFError):
                venv.close()
                return
        # A dead worker cannot take the close command, nor can a busy or broken pipe be trusted: end them all.
        for process in venv.processes:
            process.kill()
            process.join()
        for remote in venv.remotes:
            remote.close()

    def __repr__(self) -> str:
        return (
            f"SubprocEvaluator({self.env!r}, n_workers={self.n_workers}, members_per_task={self.members_per_task}, "
            f"n_envs={self.n_envs})"
        )
