"""
The clock and the evaluations of one run: when an evaluation is due, whether the run is solved, when it is out of time.

The training loops call :meth:`Tracker.check` whenever they can be interrupted; it stops them by raising
:class:`Solved` or :class:`OutOfTime` (exceptions, because ARS ignores a callback's ``False``).
"""

import math
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np

from benchmarks.time_to_solve.tasks import (
    DETERMINISTIC_EPISODES,
    EVAL_EPISODES,
    EVAL_SEED,
    FINAL_EPISODES,
    FINAL_SEED,
    POLE_ENVS,
    THRESHOLDS,
    eval_every,
)
from sb3_cosyne.compare.clock import TrainingClock

# Maps a single observation, and whether it starts an episode (recurrent policies reset their memory), to an action.
Policy = Callable[[np.ndarray, bool], Any]


class Solved(Exception):  # noqa: N818 (control flow, not an error)
    """Raised from inside training once the evaluated policy reaches the threshold."""


class OutOfTime(Exception):  # noqa: N818 (control flow, not an error)
    """Raised from inside training once the training CPU time exceeds the cap."""


def play_episode(policy: Policy, env: gym.Env, seed: int) -> tuple[float, int]:
    """
    Play one episode.

    :param policy: maps a single observation and whether it is the episode's first to an action
    :param env: gymnasium env (not vectorized)
    :param seed: seed of the reset
    :return: undiscounted return and number of steps
    """
    obs, _ = env.reset(seed=seed)
    total, steps, done = 0.0, 0, False
    while not done:
        obs, reward, terminated, truncated, _ = env.step(policy(obs, steps == 0))
        total += float(reward)
        steps += 1
        done = terminated or truncated
    return total, steps


def evaluate(policy: Policy, env: gym.Env, first_seed: int, n_episodes: int) -> float:
    """
    Mean return over episodes with fixed, consecutive reset seeds (identical for every algorithm).

    :param policy: maps a single observation to an action
    :param env: gymnasium env used only for evaluation
    :param first_seed: seed of the first episode, episode ``i`` uses ``first_seed + i``
    :param n_episodes: number of episodes
    :return: mean return
    """
    return float(np.mean([play_episode(policy, env, first_seed + i)[0] for i in range(n_episodes)]))


class Tracker:
    """
    Owns the training clock, the CPU cap and the evaluation schedule of one run.

    :param env_id: gymnasium id of the task
    :param max_cpu: training CPU seconds after which the run stops unsolved
    :param confirm: count a run as solved only when the final episodes confirm the threshold; otherwise
        training goes on (without it, the first 10-episode pass ends the run and the final episodes only score it)
    :param final_episodes: the fresh episodes that score (and confirm) a passing policy; the pole-balancing envs,
        which start from one state, play one
    """

    #: calls between two looks at the CPU clock (reading it at every env step would cost more than some env steps)
    CAP_CHECK_CALLS = 256

    def __init__(self, env_id: str, max_cpu: float, confirm: bool = False, final_episodes: int = FINAL_EPISODES) -> None:
        self.threshold = THRESHOLDS[env_id]
        self.max_cpu = max_cpu
        self.confirm = confirm
        self.eval_every = eval_every(env_id)
        self.next_eval = self.eval_every
        deterministic = env_id in POLE_ENVS
        if deterministic:
            import sb3_cosyne.envs  # noqa: F401  (registers them; imported here for the peers, untimed)
        self.eval_episodes = DETERMINISTIC_EPISODES if deterministic else EVAL_EPISODES
        self.final_episodes = DETERMINISTIC_EPISODES if deterministic else final_episodes
        self.eval_env = gym.make(env_id)
        self.clock = TrainingClock()
        self.calls = 0
        self.steps = 0
        self.best_eval10 = -math.inf
        self.best_eval_final = -math.inf
        self.solution: dict[str, float] = {}
        self.fingerprint: bytes | None = None
        self.scores: tuple[float, float | None] = (-math.inf, None)

    def score(self, policy: Policy) -> tuple[float, float | None]:
        """
        :param policy: the policy to evaluate
        :return: its mean return on the evaluation episodes, and on the final episodes if the former reaches the threshold
        """
        eval10 = evaluate(policy, self.eval_env, EVAL_SEED, self.eval_episodes)
        if eval10 < self.threshold:
            return eval10, None
        return eval10, evaluate(policy, self.eval_env, FINAL_SEED, self.final_episodes)

    def check(self, steps: int, make_policy: Callable[[], Policy], fingerprint: Callable[[], bytes] | None = None) -> None:
        """
        Called by the training loop whenever it can be interrupted.

        :param steps: training env steps so far
        :param make_policy: builds the policy to evaluate, only called when an evaluation is due
        :param fingerprint: returns bytes identifying the policy, only called when an evaluation is due: a policy
            evaluated before is not played again (a population method's best network stays the same over many
            evaluation points)
        :raises OutOfTime: when the training CPU time exceeds the cap
        :raises Solved: when the evaluation reaches the threshold (confirmed on the final episodes with ``confirm``)
        """
        self.steps = steps
        self.calls += 1
        if self.calls % self.CAP_CHECK_CALLS == 0 and self.clock.seconds("cpu") > self.max_cpu:
            raise OutOfTime
        if steps < self.next_eval:
            return
        self.clock.pause()
        self._evaluate(steps, make_policy, fingerprint)
        if self.clock.seconds("cpu") > self.max_cpu:
            raise OutOfTime
        # Population methods may jump over several boundaries at once: evaluate once, then wait for the next one.
        self.next_eval = (steps // self.eval_every + 1) * self.eval_every
        self.clock.resume()

    def _evaluate(self, steps: int, make_policy: Callable[[], Policy], fingerprint: Callable[[], bytes] | None) -> None:
        """Score the policy (unless it was scored before) with the clock paused; raise :class:`Solved` if it solves."""
        current = None if fingerprint is None else fingerprint()
        if current is None or current != self.fingerprint:
            self.fingerprint = current
            self.scores = self.score(make_policy())
        eval10, eval_final = self.scores
        self.best_eval10 = max(self.best_eval10, eval10)
        if eval_final is None:
            return
        self.best_eval_final = max(self.best_eval_final, eval_final)
        if not self.confirm or eval_final >= self.threshold:
            elapsed = self.clock.elapsed()
            self.solution = {
                "cpu_s": elapsed["cpu"],
                "wall_s": elapsed["wall"],
                "steps": steps,
                "eval10": eval10,
                "eval_final": eval_final,
            }
            raise Solved
