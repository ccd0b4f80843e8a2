"""Evaluation in worker processes on this machine, whole tasks of networks at a time, over SB3's ``SubprocVecEnv``."""

import collections
import contextlib
import functools
import multiprocessing
import os
import signal
import traceback
from collections.abc import Callable, Iterable, Iterator
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Any

import gymnasium as gym
from stable_baselines3.common.vec_env import SubprocVecEnv, VecEnv

from sb3_cosyne.evaluation.evaluator import (
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

#: seconds a worker whose pipe broke gets to end before it is killed
_REAP_TIMEOUT_S = 1.0


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

    def set_network(self, network: NetworkSpec, fast_path: bool, max_episode_steps: int | None = None) -> Exception | None:
        """``EvaluationWorker.set_network``, returning what it raises."""
        return self._returning_errors(self.worker.set_network, network, fast_path, max_episode_steps)

    def evaluate(self, *args: Any) -> BlockOutcome | Exception:
        """``EvaluationWorker.evaluate(*args)``, returning what it raises."""
        return self._returning_errors(self.worker.evaluate, *args)

    def step(self, action):
        raise NotImplementedError("a SubprocEvaluator's worker evaluates whole tasks; it is not stepped")

    def reset(self, *, seed=None, options=None):
        raise NotImplementedError("a SubprocEvaluator's worker evaluates whole tasks; it is not reset")

    def close(self) -> None:
        self.worker.close()


def exit_status(exitcode: int | None) -> str:
    """How a process ended, in words: its exit code, and the signal that ended it if one did."""
    if exitcode is None:
        return "exit code unknown"
    if exitcode < 0:
        with contextlib.suppress(ValueError):
            return f"exit code {exitcode}, {signal.Signals(-exitcode).name}"
    return f"exit code {exitcode}"


class _WorkerDiedError(Exception):
    """
    A worker process ended: its pipe is closed, or its process is gone.

    :param worker: the worker's index
    :param pid: its process id
    :param exitcode: its exit code (negative: the signal that ended it), None if unknown
    :param what: how its end showed
    """

    def __init__(self, worker: int, pid: int | None, exitcode: int | None, what: str) -> None:
        super().__init__(f"worker {worker} (pid {pid}) died ({what}; {exit_status(exitcode)})")
        self.worker = worker
        self.exitcode = exitcode


class _WorkerPipes(QueuedPool):
    """
    The pipes of ``SubprocVecEnv`` worker processes as a ``TaskPool``: a task is a ``WorkerHost.evaluate`` call
    sent as ``SubprocVecEnv``'s ``env_method`` command to one worker alone, so that all workers run at once; a worker
    reads the tasks it holds from its pipe one after the other.

    Workers are named by their index, so that a dead one can be replaced in place (``install``). While
    ``replacing``, a worker that dies is replaced and its unanswered tasks are sent again to the new one; elsewhere
    (waiting out an interrupted call) a dead worker breaks the pool.

    Every wait also watches the worker's process, not only its pipe: with the ``fork`` start method the other
    workers inherit each pipe's ends, so a dead worker's pipe never reports its end.

    :param venv: the workers; the pool takes over their pipes and processes (the ``SubprocVecEnv`` is not used
        after)
    """

    def __init__(self, venv: SubprocVecEnv) -> None:
        super().__init__(range(venv.num_envs))
        self.remotes: list[Connection] = list(venv.remotes)
        self.processes: list[BaseProcess] = list(venv.processes)
        #: each worker's tasks sent and not answered yet, in the order it runs them: what its replacement runs again
        self.sent: list[collections.deque] = [collections.deque() for _ in self.remotes]
        #: while ``replacing``: puts a new worker in place of a dead one, or returns False when it may not
        self.replace: Callable[[_WorkerDiedError], bool] | None = None
        #: set when a worker died and was not replaced, or a read was interrupted: the workers must be restarted
        self.broken = False

    def _died(self, worker: int, what: str) -> _WorkerDiedError:
        """The error for ``worker``'s end, its process reaped so that its exit code is known."""
        process = self.processes[worker]
        # Its pipe can report the end a moment before the process is gone.
        process.join(_REAP_TIMEOUT_S)
        exitcode = process.exitcode
        if exitcode is None:
            # Its pipe broke but it runs on: it can no longer be trusted.
            process.kill()
            process.join()
        return _WorkerDiedError(worker, process.pid, exitcode, what)

    def send(self, worker: int, method: str, args: tuple) -> None:
        """Have ``worker`` call ``WorkerHost.<method>(*args)``."""
        try:
            self.remotes[worker].send(("env_method", (method, args, {})))
        except (OSError, EOFError) as error:
            raise self._died(worker, f"its pipe raised {type(error).__name__}") from error

    def wait_any(self, workers: list[int]) -> tuple[int, Any]:
        """
        Wait until one of ``workers`` answers; return it and its answer.

        :raises _WorkerDiedError: when a worker's process ended without answering
        """
        pipes = {self.remotes[worker]: worker for worker in workers}
        sentinels = {self.processes[worker].sentinel: worker for worker in workers}
        ready = wait([*pipes, *sentinels])
        answering = [pipes[pipe] for pipe in ready if isinstance(pipe, Connection)]
        if not answering:
            raise self._died(sentinels[ready[0]], "its process ended")
        worker = answering[0]
        try:
            return worker, self.remotes[worker].recv()
        except (OSError, EOFError) as error:
            raise self._died(worker, f"its pipe raised {type(error).__name__}") from error
        except BaseException:
            self.broken = True
            raise

    def call(self, workers: Iterable[int], method: str, *args) -> None:
        """
        Have ``workers`` call ``WorkerHost.<method>(*args)``, wait for all, then raise the first error one of them
        returned (after all have answered, so that no answer is left in a pipe). They may hold no task.
        """
        waiting, errors = list(workers), []
        for worker in waiting:
            self.send(worker, method, args)
        while waiting:
            worker, outcome = self.wait_any(waiting)
            waiting.remove(worker)
            if isinstance(outcome, Exception):
                errors.append(outcome)
        if errors:
            raise errors[0]

    @contextlib.contextmanager
    def replacing(self, replace: Callable[[_WorkerDiedError], bool]) -> Iterator[None]:
        """
        Have ``replace`` put a new worker in place of each one that dies meanwhile.

        :param replace: starts a new worker in the dead one's place (``install``) and gives it the network; returns
            False when it may not
        """
        self.replace = replace
        try:
            yield
        finally:
            self.replace = None

    def install(self, worker: int, venv: SubprocVecEnv) -> None:
        """Put the one worker process of ``venv`` in place of ``worker``, which has ended."""
        self.remotes[worker].close()
        (self.remotes[worker],), (self.processes[worker],) = venv.remotes, venv.processes

    def _recover(self, error: _WorkerDiedError) -> None:
        """
        Replace a dead worker and send the new one the dead one's unanswered tasks, in their order: a task's
        result depends only on its networks and seeds, so the new worker's is the same.

        :raises _WorkerDiedError: the last worker's end, when it may not be replaced; the pool is then broken
        """
        while self.replace is not None:
            try:
                if not self.replace(error):
                    break
                for args in self.sent[error.worker]:
                    self.send(error.worker, "evaluate", args)
                return
            except _WorkerDiedError as again:
                # The new worker died too: it counts as another death.
                error = again
        self.broken = True
        # Its tasks are lost with it: waiting out the others must not wait for it.
        self.held[error.worker] = 0
        self.sent[error.worker].clear()
        raise error

    def _send(self, worker: int, args: tuple) -> None:
        self.sent[worker].append(args)
        try:
            self.send(worker, "evaluate", args)
        except _WorkerDiedError as error:
            self._recover(error)

    def _receive(self) -> tuple[int, Any]:
        while True:
            try:
                worker, answer = self.wait_any([worker for worker, held in self.held.items() if held])
            except _WorkerDiedError as error:
                self._recover(error)
                continue
            self.sent[worker].popleft()
            return worker, answer

    def _outcome(self, answer: Any) -> BlockOutcome:
        if isinstance(answer, Exception):
            raise answer
        return answer

    def close(self) -> None:
        """Stop the workers: each takes the close command if all are alive; otherwise all are killed."""
        # A dead worker cannot take the close command, nor can a busy or broken pipe be trusted.
        if not (all(process.is_alive() for process in self.processes) and self._ask_to_close()):
            for process in self.processes:
                process.kill()
                process.join()
        for remote in self.remotes:
            remote.close()

    def _ask_to_close(self) -> bool:
        """Send every worker ``SubprocVecEnv``'s close command and wait for it to end; False when a pipe fails."""
        try:
            for remote in self.remotes:
                remote.send(("close", None))
        except (OSError, EOFError):
            return False
        for process in self.processes:
            process.join()
        return True


class SubprocEvaluator(TaskEvaluator):
    """
    Evaluates CoSyNE's networks in worker processes on this machine, each holding its own copy of the env.

    The workers are those of an SB3 ``SubprocVecEnv``, but instead of stepping every lane in lockstep
    (one round trip per step), each worker runs whole tasks of ``members_per_task`` networks, handed to
    whichever worker is free, exactly as CoSyNE runs a generation locally (compiled fast path, or the
    lanes of a ``DummyVecEnv``). Every episode starts from its own reset seed, so the fitness values are
    those of local evaluation, bit for bit (for envs whose seeded reset fully determines the episode).

    A worker that dies during a generation (killed, out of memory, a crash in the env's native code) is replaced
    by a new one, which runs the tasks it had not finished again: the same networks and seeds give the same
    results, so training goes on as if nothing happened. The first replacement is reported by a warning; after
    ``max_restarts`` in one ``learn``, the next death raises a ``RuntimeError``. An env that raises a Python
    exception does not end its worker: that raises the env's error, as local evaluation does.

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
    :param max_restarts: worker processes that may die and be replaced during one ``learn``; the next death
        raises a ``RuntimeError`` (0: the first one does)
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
        max_restarts: int = 3,
    ) -> None:
        super().__init__(env, n_workers, members_per_task, n_envs, env_kwargs, wrapper_class, wrapper_kwargs, max_restarts)
        if self.n_workers is None:
            self.n_workers = available_cpus()
        self.start_method = start_method
        self._pool: _WorkerPipes | None = None
        #: the workers' observation and action spaces
        self._spaces: tuple = ()
        #: ``set_network``'s arguments in this learn: what a new worker is given
        self._network: tuple = ()
        #: workers that died during this learn's generations
        self._deaths = 0

    @property
    def workers(self) -> int:
        """Number of running worker processes (0 before ``setup``)."""
        return 0 if self._pool is None else self._pool.workers

    @property
    def pids(self) -> list[int]:
        """The worker processes' ids, in worker order."""
        return [] if self._pool is None else [process.pid for process in self._pool.processes]

    def _spawn(self, n_workers: int) -> SubprocVecEnv:
        """
        Start ``n_workers`` worker processes, those of a ``SubprocVecEnv``.

        :raises RuntimeError: when they cannot make the env
        """
        host = functools.partial(WorkerHost, self._make_env)
        before = set(multiprocessing.active_children())
        try:
            return SubprocVecEnv([host] * n_workers, start_method=self.start_method)
        except (EOFError, ConnectionError) as error:
            # SubprocVecEnv started them before asking the first for the spaces: end those that still run.
            for process in set(multiprocessing.active_children()) - before:
                process.kill()
                process.join()
            raise RuntimeError(
                f"the worker processes could not make the env {self.env!r} (see their traceback above)"
            ) from error

    def _start(self) -> None:
        venv = self._spawn(self.n_workers)
        self._spaces = venv.observation_space, venv.action_space
        self._pool = _WorkerPipes(venv)

    def setup(self, network: NetworkSpec, fast_path: bool, max_episode_steps: int | None = None) -> None:
        """
        Start the workers if they are not running (or one has ended), check the env's spaces against the
        network's and send the architecture to every worker.

        :raises ValueError: when the env's observation or action space differs from the model's
        :raises RuntimeError: when the workers cannot make the env
        """
        self._network, self._deaths = (network, fast_path, max_episode_steps), 0
        for attempt in range(2):
            if self._pool is not None:
                drain(self._pool)
                if self._pool.broken:
                    self.close()
            if self._pool is None:
                self._start()
            check_env_spaces(self.env, self._spaces, network)
            self._obs_dim = network.obs_dim
            try:
                self._pool.call(range(self._pool.workers), "set_network", *self._network)
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
            with self._pool.replacing(self._replace_worker):
                return self._run_pass(self._pool, calls, on_block, on_invalid)
        except _WorkerDiedError as error:
            self.close()
            raise RuntimeError(self._gave_up(error)) from error
        except Exception:
            # The other tasks of the call still run: their results belong to no generation.
            drain(self._pool)
            raise

    def _replace_worker(self, error: _WorkerDiedError) -> bool:
        """
        Start a new worker in place of the one that died and give it the network, unless this ``learn`` has no
        restart left. Only the dead worker is replaced: the others keep the tasks they hold. A ``SubprocVecEnv`` of
        one worker starts it as the first ones were started; the pool takes over its pipe and process.

        :return: whether it was replaced
        :raises _WorkerDiedError: when the new worker dies before it has the network
        """
        self._deaths += 1
        if self._deaths > self.max_restarts:
            return False
        self._warn_once(error)
        self._pool.install(error.worker, self._spawn(1))
        self._pool.call([error.worker], "set_network", *self._network)
        return True

    def _warn_once(self, error: _WorkerDiedError) -> None:
        """Report the first replaced worker (a long run may lose several; the last one's error counts them)."""
        self._warn_restart(
            f"SubprocEvaluator: {error} while evaluating networks; a new worker process runs its "
            f"{len(self._pool.sent[error.worker])} unfinished task(s) again, with the same seeds and so the same "
            "results",
            per="learn",
        )

    def _gave_up(self, error: _WorkerDiedError) -> str:
        """The error message of a ``learn`` that lost more workers than ``max_restarts``."""
        deaths = f"{self._deaths} worker process{'es' if self._deaths > 1 else ''}"
        return (
            f"{deaths} died while evaluating networks in this learn, more than max_restarts={self.max_restarts} (the "
            f"last: {error}); the model is as after its last generation and the next learn starts new workers. A "
            "worker ended by SIGKILL may have run out of memory: check the machine's memory, or use fewer workers; one "
            "that exits by itself may have crashed in the env's native code: run the env in one process to see where"
        )

    def close(self) -> None:
        """Stop the worker processes (a later ``learn`` starts new ones)."""
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()

    def __repr__(self) -> str:
        return (
            f"SubprocEvaluator({self.env!r}, n_workers={self.n_workers}, members_per_task={self.members_per_task}, "
            f"n_envs={self.n_envs})"
        )
