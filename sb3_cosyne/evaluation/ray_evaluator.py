"""Evaluation on Ray actors, on one machine or a cluster (``pip install sb3-cosyne[ray]``)."""

import itertools
import time
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np

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

#: seconds to wait for the CPUs of stopped actors to come back before refusing to start
_RELEASE_WAIT_S = 10.0


def _import_ray():
    try:
        import ray
    except ImportError as error:
        raise ImportError("RayEvaluator needs Ray: pip install sb3-cosyne[ray]") from error
    return ray


class RestartableWorker(EvaluationWorker):
    """
    An :class:`EvaluationWorker` that Ray may restart: a restarted actor starts again from its constructor, so
    every task carries the evaluation settings (a reference Ray resolves) and the actor takes them when their
    version is new to it.
    """

    def __init__(self, make_env: Callable) -> None:
        super().__init__(make_env)
        self.version: int | None = None

    def use(self, version: int, settings: tuple) -> None:
        """Evaluate with ``settings`` (``set_network``'s arguments) unless this version is already in use."""
        if version != self.version:
            self.set_network(*settings)
            self.version = version

    def evaluate_with(self, version: int, settings: tuple, *args: Any) -> tuple[bool, BlockOutcome]:
        """
        ``evaluate(*args)`` with these settings.

        :return: whether Ray restarted this actor after a failure, and the task's outcome
        """
        self.use(version, settings)
        restarted = _import_ray().get_runtime_context().was_current_actor_reconstructed
        return restarted, self.evaluate(*args)


class _ActorTasks(QueuedPool):
    """
    Ray actors as a ``TaskPool``: a task is an actor's ``RestartableWorker.evaluate_with``; Ray queues an actor's
    calls, and runs them again on the actor it restarts when the actor dies.

    :param actors: the actors
    :param settings: the version of the evaluation settings and a reference to them
    """

    def __init__(self, actors: list, settings: tuple[int, Any]) -> None:
        super().__init__(range(len(actors)))
        self.actors = actors
        self.settings = settings
        #: the answer of every task sent and not received, and its actor's index
        self.futures: dict[Any, int] = {}
        #: the actors Ray restarted since this set was last emptied
        self.restarted: set[int] = set()

    def _send(self, worker: int, args: tuple) -> None:
        self.futures[self.actors[worker].evaluate_with.remote(*self.settings, *args)] = worker

    def _receive(self) -> tuple[int, Any]:
        ray = _import_ray()
        (ready,), _ = ray.wait(list(self.futures), num_returns=1)
        worker = self.futures.pop(ready)
        return worker, (worker, ready)

    def _outcome(self, answer: Any) -> BlockOutcome:
        worker, ready = answer
        restarted, outcome = _import_ray().get(ready)
        if restarted:
            self.restarted.add(worker)
        return outcome


class RayEvaluator(TaskEvaluator):
    """
    Evaluates CoSyNE's networks on Ray actors, each holding its own copy of the env.

    A generation's networks are split into tasks of ``members_per_task`` networks (all their episodes),
    each handed to the actor with the fewest (an actor holds the next task while it runs one, Ray queuing
    the call); an actor runs its task exactly as CoSyNE
    runs a generation locally (compiled fast path, or the lanes of a ``DummyVecEnv``). Every episode
    starts from its own reset seed, so the fitness values are those of local evaluation, bit for bit
    (for envs whose seeded reset fully determines the episode).

    Ray is started on first use (``learn``): ``ray.init(address=address, **ray_init_kwargs)`` unless Ray is
    already initialised, in which case that session is used. The evaluator is runtime state: it is not
    saved with the model; pass it again to ``CoSyNE.load(path, env, evaluator=...)``.

    :param env: gymnasium env id, or a function returning a gymnasium env (pickled to the workers,
        so it must not close over unpicklable objects)
    :param n_workers: number of actors; None: one per free CPU of the Ray cluster (``num_cpus_per_worker`` each)
    :param members_per_task: networks per task; None: about ``tasks_per_worker`` (2) tasks per worker and
        generation (small tasks balance the load when episode lengths vary, large ones amortise Ray's
        per-task overhead)
    :param n_envs: lanes of each actor's ``DummyVecEnv``
    :param env_kwargs: keyword arguments of the env, as in SB3's ``make_vec_env``
    :param wrapper_class: gymnasium wrapper applied to each lane, as in ``make_vec_env``
    :param wrapper_kwargs: its keyword arguments
    :param address: Ray cluster to connect to (``"auto"``: the cluster this machine belongs to; None: a
        local Ray, or the one named by ``RAY_ADDRESS``)
    :param num_cpus_per_worker: CPUs Ray reserves for each actor
    :param ray_init_kwargs: further arguments of ``ray.init`` (``num_cpus``, ``runtime_env``, ...)
    :param max_restarts: times Ray may restart each actor that dies (killed, out of memory, a node lost), running
        its unfinished tasks again on the restarted actor: the tasks' seeds make their results the same. Ray's own
        ``max_restarts`` and ``max_task_retries``; past them, ``learn`` raises
    """

    # A Ray task costs about a millisecond of CPU on each side: on 2 cores, 8 tasks per actor made Ray 0.77 as
    # CPU-efficient as one process, 2 tasks 0.86, 1 task 0.87, while 2 tasks still leave a free actor something
    # to take (benchmarks/scaling.py --configs Ray --splits 8 2 1 --warmup 20).
    tasks_per_worker = 2

    def __init__(
        self,
        env: str | Callable[[], gym.Env],
        n_workers: int | None = None,
        members_per_task: int | None = None,
        n_envs: int = 1,
        env_kwargs: dict[str, Any] | None = None,
        wrapper_class: type[gym.Wrapper] | None = None,
        wrapper_kwargs: dict[str, Any] | None = None,
        address: str | None = None,
        num_cpus_per_worker: float = 1,
        ray_init_kwargs: dict[str, Any] | None = None,
        max_restarts: int = 3,
    ) -> None:
        _import_ray()
        super().__init__(env, n_workers, members_per_task, n_envs, env_kwargs, wrapper_class, wrapper_kwargs, max_restarts)
        cpus = num_cpus_per_worker
        if isinstance(cpus, bool) or not isinstance(cpus, (int, float, np.integer, np.floating)) or not cpus > 0:
            raise ValueError(f"num_cpus_per_worker must be a number > 0, got {num_cpus_per_worker!r}")
        self.num_cpus_per_worker = num_cpus_per_worker
        self.address = address
        self.ray_init_kwargs = dict(ray_init_kwargs or {})
        self._versions = itertools.count()
        self._actors: list = []
        self._pool = None
        #: each actor's (observation space, action space)
        self._spaces: list[tuple] = []

    @property
    def workers(self) -> int:
        """Number of running actors (0 before ``setup``)."""
        return len(self._actors)

    @property
    def actors(self) -> list:
        """The running actors' handles (e.g. to query them with ``__ray_call__``)."""
        return list(self._actors)

    def _start(self) -> None:
        ray = _import_ray()
        if not ray.is_initialized():
            ray.init(address=self.address, **self.ray_init_kwargs)
        n_workers = self._fitting_workers(ray)
        actor_class = ray.remote(
            num_cpus=self.num_cpus_per_worker, max_restarts=self.max_restarts, max_task_retries=self.max_restarts
        )(RestartableWorker)
        self._actors = [actor_class.remote(self._make_env) for _ in range(n_workers)]
        try:
            self._spaces = ray.get([actor.spaces.remote() for actor in self._actors])
        except ray.exceptions.RayActorError as error:
            self.close()
            raise RuntimeError(f"the Ray workers could not make the env {self.env!r}: {error}") from error
        self._pool = _ActorTasks(self._actors, (-1, None))

    def _fitting_workers(self, ray) -> int:
        """
        The number of actors to start, checked against the CPUs free in the cluster: actors that do not fit
        would wait for CPUs forever, and ``learn`` with them.
        """
        deadline = time.monotonic() + _RELEASE_WAIT_S
        while True:
            free = ray.available_resources().get("CPU", 0)
            n_workers = self.n_workers if self.n_workers is not None else int(free // self.num_cpus_per_worker)
            needed = max(n_workers, 1) * self.num_cpus_per_worker
            # The CPUs of just-stopped actors come back after a moment.
            if needed <= free or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        if needed > free:
            raise ValueError(
                f"{max(n_workers, 1)} workers of {self.num_cpus_per_worker:g} CPU need {needed:g} CPUs, but {free:g} of "
                f"the Ray cluster's {ray.cluster_resources().get('CPU', 0):g} are free (another RayEvaluator's actors "
                "hold theirs until its close()): use fewer workers or a smaller num_cpus_per_worker"
            )
        return n_workers

    def setup(self, network: NetworkSpec, fast_path: bool, max_episode_steps: int | None = None) -> None:
        """
        Start Ray and the actors if they are not running, check the env's spaces against the network's and
        send the architecture to every actor.

        :raises ValueError: when the env's observation or action space differs from the model's
        :raises RuntimeError: when the actors cannot make the env
        """
        ray = _import_ray()
        if self._pool is None:
            self._start()
        check_env_spaces(self.env, self._spaces[0], network)
        self._drain()
        self._obs_dim = network.obs_dim
        settings = (next(self._versions), ray.put((network, fast_path, max_episode_steps)))
        ray.get([actor.use.remote(*settings) for actor in self._actors])
        self._pool.settings = settings

    def _drain(self) -> None:
        if self._pool is not None:
            drain(self._pool)

    def evaluate_calls(self, calls: list[EvaluationCall], on_block: OnBlock, on_invalid: OnInvalid) -> list[EvaluationResult]:
        ray = _import_ray()
        if self._pool is None:
            raise RuntimeError("RayEvaluator.setup must be called before evaluate (CoSyNE.learn does)")
        self._drain()
        try:
            results = self._run_pass(self._pool, calls, on_block, on_invalid)
            self._warn_restarts()
            return results
        except ray.exceptions.RayTaskError as error:
            self._drain()
            if isinstance(error.cause, EnvStepError):
                raise error.cause from None
            raise
        except ray.exceptions.RayActorError as error:
            self.close()
            raise RuntimeError(
                f"a Ray worker died while evaluating networks, more than max_restarts={self.max_restarts} times or "
                f"beyond Ray's restarting it: {error}; the model is as after its last generation and the next learn "
                "starts new workers"
            ) from error

    def _warn_restarts(self) -> None:
        """Report the first actor Ray restarted (warned once per evaluator)."""
        restarted, self._pool.restarted = self._pool.restarted, set()
        if restarted:
            self._warn_restart(
                f"RayEvaluator: worker {min(restarted)} died and Ray restarted it; its unfinished tasks ran again, "
                "with the same seeds and so the same results",
                per="worker",
            )

    def close(self) -> None:
        """Stop the actors (the Ray session itself is left running; ``ray.shutdown()`` ends it)."""
        if self._actors:
            ray = _import_ray()
            for actor in self._actors:
                ray.kill(actor)
        self._actors, self._pool = [], None

    def __repr__(self) -> str:
        return (
            f"RayEvaluator({self.env!r}, n_workers={self.n_workers}, members_per_task={self.members_per_task}, "
            f"n_envs={self.n_envs}, address={self.address!r})"
        )
