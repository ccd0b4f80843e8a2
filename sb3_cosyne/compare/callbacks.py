"""Callbacks of a comparison run: evaluation on a fixed schedule of env steps, and the time budget."""

from pathlib import Path
from typing import Any

import numpy as np
from stable_baselines3.common.callbacks import BaseCallback, EvalCallback
from stable_baselines3.common.vec_env import VecEnv

from sb3_cosyne.compare.clock import TrainingClock

#: file beside ``evaluations.npz`` with the training clock at every evaluation
CLOCK_FILE = "clock.npz"


class BudgetExhausted(Exception):  # noqa: N818 (control flow, not an error)
    """
    Raised from a callback when the training time budget is spent.

    An exception rather than a callback returning ``False``: sb3-contrib's ARS ignores that return value.
    """


class TimeBudgetCallback(BaseCallback):
    """
    Ends training once the training clock reaches ``seconds``, by raising :class:`BudgetExhausted`.

    :param clock: the run's training clock
    :param seconds: the budget
    :param clock_name: which clock the budget is on, ``"cpu"`` or ``"wall"``
    """

    def __init__(self, clock: TrainingClock, seconds: float, clock_name: str) -> None:
        super().__init__(verbose=0)
        self.clock = clock
        self.budget = seconds
        self.clock_name = clock_name

    def _on_step(self) -> bool:
        if self.clock.reached(self.clock_name, self.budget):
            raise BudgetExhausted
        return True


class ScheduledEvalCallback(EvalCallback):
    """
    SB3's :class:`~stable_baselines3.common.callbacks.EvalCallback` (same ``evaluations.npz``, best model, logger
    keys) on a schedule of env steps instead of callback calls, which mean different things for different
    algorithms (one per step of all lanes for PPO, one per env step for CoSyNE, replayed after each episode on
    its compiled path, so that ``num_timesteps`` jumps by whole episodes between evaluations there).

    It evaluates before training (at step 0), then at the first step at which ``num_timesteps`` has reached
    the next multiple of ``eval_every`` (or, with ``eval_every_seconds``, the training clock the next multiple
    of it, whichever comes first); it records the actual ``num_timesteps``, so an algorithm that steps in
    chunks (several lanes, whole episodes) is shown at the steps it had really taken. The training clock is
    paused while evaluating, and its readings at every evaluation go to ``clock.npz`` beside ``evaluations.npz``.

    :param eval_env: the env to evaluate on
    :param clock: the run's training clock; started at the start of training
    :param log_path: folder of ``evaluations.npz`` and ``clock.npz``
    :param eval_every: env steps between evaluations
    :param eval_every_seconds: training seconds between evaluations (None: steps only)
    :param clock_name: the clock ``eval_every_seconds`` is on, ``"cpu"`` or ``"wall"``
    :param kwargs: the other arguments of ``EvalCallback`` (``n_eval_episodes``, ``best_model_save_path``, ...)
    """

    def __init__(
        self,
        eval_env: VecEnv,
        clock: TrainingClock,
        log_path: str,
        eval_every: int,
        eval_every_seconds: float | None = None,
        clock_name: str = "cpu",
        **kwargs: Any,
    ) -> None:
        if eval_every < 1:
            raise ValueError(f"eval_every must be a positive number of env steps, got {eval_every}")
        if eval_every_seconds is not None and eval_every_seconds <= 0:
            raise ValueError(f"eval_every_seconds must be positive, got {eval_every_seconds}")
        # eval_freq=1: the parent evaluates whenever it is called; this class decides when that is.
        super().__init__(eval_env, eval_freq=1, log_path=log_path, **kwargs)
        self.clock = clock
        self.clock_name = clock_name
        self.clock_path = Path(log_path) / CLOCK_FILE
        self.eval_every = eval_every
        self.eval_every_seconds = eval_every_seconds
        self.next_steps = eval_every
        self.next_seconds = eval_every_seconds
        #: training clock readings at each evaluation, parallel to ``evaluations_timesteps``
        self.cpu_seconds: list[float] = []
        self.wall_seconds: list[float] = []

    def _on_training_start(self) -> None:
        self.evaluate()

    def _due(self) -> bool:
        if self.num_timesteps >= self.next_steps:
            return True
        return self.next_seconds is not None and self.clock.reached(self.clock_name, self.next_seconds)

    def _on_step(self) -> bool:
        return self.evaluate() if self._due() else True

    def evaluate(self, resume: bool = True) -> bool:
        """
        Evaluate now, with the training clock paused, and record the result.

        :param resume: whether to restart the training clock afterwards
        :return: whether training should go on (the parent's verdict)
        """
        self.clock.pause()
        self.num_timesteps = self.model.num_timesteps
        elapsed = self.clock.elapsed()
        continue_training = super()._on_step()
        self.cpu_seconds.append(elapsed["cpu"])
        self.wall_seconds.append(elapsed["wall"])
        np.savez(self.clock_path, timesteps=self.evaluations_timesteps, cpu_s=self.cpu_seconds, wall_s=self.wall_seconds)
        # Chunked algorithms may jump over several scheduled points at once: evaluate once, then wait for the next.
        self.next_steps = (self.num_timesteps // self.eval_every + 1) * self.eval_every
        if self.eval_every_seconds is not None:
            self.next_seconds = (elapsed[self.clock_name] // self.eval_every_seconds + 1) * self.eval_every_seconds
        if resume:
            self.clock.resume()
        return continue_training

    def evaluate_final(self) -> None:
        """Evaluate the trained agent, unless the last evaluation was already at its final step count."""
        if not self.evaluations_timesteps or self.evaluations_timesteps[-1] != self.model.num_timesteps:
            self.evaluate(resume=False)
        self.clock.pause()
