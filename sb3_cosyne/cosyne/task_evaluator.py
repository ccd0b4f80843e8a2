"""What the evaluators that hand tasks to workers holding their own env copies share: their settings."""

from collections.abc import Callable
from typing import Any

import gymnasium as gym

from sb3_cosyne.cosyne.cosyne import _check_int
from sb3_cosyne.cosyne.evaluator import BaseEvaluator
from sb3_cosyne.cosyne.worker import worker_env_factory


class TaskEvaluator(BaseEvaluator):
    """
    An evaluator whose workers each make their own copy of the env and run tasks of networks on it.

    :param env: gymnasium env id, or a function returning a gymnasium env (pickled to the workers)
    :param n_workers: number of workers; None: the subclass decides (the CPUs it may use)
    :param members_per_task: networks per task; None: about eight tasks per worker and generation
    :param n_envs: lanes of each worker's ``DummyVecEnv``
    :param env_kwargs: keyword arguments of the env, as in SB3's ``make_vec_env``
    :param wrapper_class: gymnasium wrapper applied to each lane, as in ``make_vec_env``
    :param wrapper_kwargs: its keyword arguments
    :raises ValueError: naming the argument that is not valid
    """

    def __init__(
        self,
        env: str | Callable[[], gym.Env],
        n_workers: int | None,
        members_per_task: int | None,
        n_envs: int,
        env_kwargs: dict[str, Any] | None,
        wrapper_class: type[gym.Wrapper] | None,
        wrapper_kwargs: dict[str, Any] | None,
    ) -> None:
        self.env = env
        self.n_workers = None if n_workers is None else _check_int("n_workers", n_workers, 1)
        self.members_per_task = None if members_per_task is None else _check_int("members_per_task", members_per_task, 1)
        self.n_envs = _check_int("n_envs", n_envs, 1)
        self._make_env = worker_env_factory(env, n_envs, env_kwargs, wrapper_class, wrapper_kwargs)
        #: number of network inputs (set by ``setup``)
        self._obs_dim = 0
