"""Gymnasium env for the CoSyNE paper's pole-balancing tasks: one or two poles on a cart, with or without velocities.

Physics: :mod:`sb3_cosyne.envs.physics` (JMLR Appendix A, Gomez's RK4 code). One action = 0.02 s of
simulated time; the action is ``Box(−1, 1, (1,))`` and the force ``10·a`` N, clipped to ±10 N and kept at
least 10/256 N in magnitude (``a = 0`` pushes with ``+10/256`` N, as Gomez's code does).

Observations (float64, no bias input: the network has its own biases) are the state scaled to about
[−1, 1] as in Gomez's ``CartPole::setupInput``:

============================  ==============================================================
task                          observation
============================  ==============================================================
1 pole, full state            x/2.4, ẋ/10, θ/0.2094384, θ̇/5
1 pole, no velocities         x/2.4, θ/0.2094384
2 poles, full state           x/2.4, ẋ/10, θ1/0.628329, θ̇1/5, θ2/0.628329, θ̇2/16
2 poles, no velocities        x/2.4, θ1/0.52, θ2/0.52
============================  ==============================================================

The observation space is unbounded (±inf): the velocities have no hard bound, and a failed state or a
state set through ``options`` may lie beyond the failure limits; positions and angles of a balanced
cart-pole lie in [−1, 1] (the non-Markov two-pole angles in ±1.21).

Episodes start from the paper's state: long pole at 4.0156035° (Gomez's ``4.0156035 * 0.0174532`` rad),
everything else 0, so resets are deterministic; ``reset(options={"state": s})`` starts from ``s``.
An episode terminates when the cart leaves ±2.4 m or a pole passes 12° (one pole) / 36° (two poles).

Rewards, ``fitness="standard"``: 1 for every step after which the cart-pole is still within bounds, 0 for
the step that fails, so the return is the number of steps balanced, the paper's fitness; the registered envs
truncate at 100,000 steps, the paper's "solved".

Rewards, ``fitness="damping"`` (Gruau et al. 1996, JMLR p. 954): an episode lasts at most ``damping_steps``
(1000) steps; every reward is 0 except the last, which is::

    F = 0.1 · t/1000 + 0.9 · f2,   f2 = 0.75 / Σ (|x| + |ẋ| + |θ1| + |θ̇1|)  if t ≥ 100, else 0

where ``t`` is the number of steps balanced (the standard fitness, at most 1000) and the sum runs over the
raw (unscaled) states after each of the last 100 balanced steps, ``s_{t−99} … s_t`` (``s_k`` = the state
after the k-th action; the failing state is excluded). This is the window of NEAT's ``jigglestep`` and of
Gomez's ``gruau`` deque (which, unlike the paper, fills it with the network's scaled inputs). The episode
return is then F. Keep ``max_episode_steps`` of ``gym.make`` at least ``damping_steps`` or F is never paid.
"""

import functools
from typing import Any, Literal

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from numba import njit

from sb3_cosyne.envs.physics import INITIAL_LONG_POLE_ANGLE, ONE_POLE_ANGLE_LIMIT, TWO_POLE_ANGLE_LIMIT, advance, has_failed
from sb3_cosyne.envs.render import draw

#: Number of balanced steps whose states enter the damping term.
DAMPING_WINDOW = 100


@functools.cache  # shared: the env and the compiled rollouts only read these arrays
def observation_layout(n_poles: int, markov: bool) -> tuple[np.ndarray, np.ndarray]:
    """State indices observed and the divisor of each, as in Gomez's ``setupInput``."""
    if n_poles == 1:
        if markov:
            return np.array([0, 1, 2, 3]), np.array([2.4, 10.0, ONE_POLE_ANGLE_LIMIT, 5.0])
        return np.array([0, 2]), np.array([2.4, ONE_POLE_ANGLE_LIMIT])
    if markov:
        return np.arange(6), np.array([2.4, 10.0, TWO_POLE_ANGLE_LIMIT, 5.0, TWO_POLE_ANGLE_LIMIT, 16.0])
    return np.array([0, 2, 4]), np.array([2.4, 0.52, 0.52])


@njit(cache=True)
def window_sum(window: np.ndarray) -> float:
    """Sum of the damping window, in index order (one summation order for the env and the compiled rollouts)."""
    total = 0.0
    for value in window:
        total += value
    return total


@njit(cache=True)
def damping_fitness(balanced_steps: int, window_sum: float, horizon: int = 1000) -> float:
    """
    Gruau's damping fitness ``0.1·t/horizon + 0.9·0.75/window_sum`` (the second term only when ``t ≥ 100``).

    :param balanced_steps: ``t``, the number of steps balanced within the horizon
    :param window_sum: ``Σ (|x| + |ẋ| + |θ1| + |θ̇1|)`` over the raw states after the last 100 balanced steps
    :param horizon: the episode length the first term is normalised by (1000 in the paper)
    :return: the fitness F
    """
    f1 = balanced_steps / horizon
    f2 = 0.75 / window_sum if balanced_steps >= DAMPING_WINDOW else 0.0
    return 0.1 * f1 + 0.9 * f2


class CartPoleEnv(gym.Env):
    """
    One or two poles on a cart (the CoSyNE paper's tasks 1a, 1b, 2a, 2b); see the module docstring.

    :param n_poles: 1 (the long pole only) or 2
    :param markov: observe the velocities (full state) or only the positions and angles
    :param fitness: ``"standard"`` (1 per balanced step) or ``"damping"`` (Gruau's fitness, paid at the end)
    :param damping_steps: the longest episode with the damping fitness
    :param render_mode: ``"rgb_array"`` to draw the cart and poles with :meth:`render`, or None
    """

    metadata: dict[str, Any] = {"render_modes": ["rgb_array"], "render_fps": 50}

    def __init__(
        self,
        n_poles: int = 2,
        markov: bool = True,
        fitness: Literal["standard", "damping"] = "standard",
        damping_steps: int = 1000,
        render_mode: str | None = None,
    ) -> None:
        if n_poles not in (1, 2):
            raise ValueError(f"n_poles must be 1 or 2, got {n_poles}")
        if fitness not in ("standard", "damping"):
            raise ValueError(f"fitness must be 'standard' or 'damping', got {fitness!r}")
        self.n_poles = n_poles
        self.markov = markov
        self.fitness = fitness
        self.damping_steps = damping_steps
        self.render_mode = render_mode
        self._obs_index, self._obs_scale = observation_layout(n_poles, markov)
        self.observation_space = spaces.Box(-np.inf, np.inf, shape=self._obs_index.shape, dtype=np.float64)
        self.action_space = spaces.Box(-1.0, 1.0, shape=(1,), dtype=np.float32)
        self._initial_state = np.zeros(2 + 2 * n_poles)
        self._initial_state[2] = INITIAL_LONG_POLE_ANGLE
        self._state = self._initial_state.copy()
        self._steps = 0
        self._balanced = 0
        # Ring buffer of |x| + |ẋ| + |θ1| + |θ̇1| after each balanced step, for the damping fitness.
        self._jiggle = np.zeros(DAMPING_WINDOW)

    @property
    def state(self) -> np.ndarray:
        """
        The physical state ``(x, ẋ, θ1, θ̇1[, θ2, θ̇2])`` in SI units and radians (a copy; assign to set it).

        Assigning keeps the episode's step and damping counters and the last observation returned; to start an
        episode from a state, ``reset(options={"state": s})`` is the way that also returns its observation.
        """
        return self._state.copy()

    @state.setter
    def state(self, value: np.ndarray) -> None:
        value = np.array(value, dtype=np.float64).reshape(-1)
        if value.shape != self._state.shape:
            raise ValueError(f"state must have {self._state.shape[0]} components, got {value.shape[0]}")
        self._state = value

    def _observation(self) -> np.ndarray:
        return self._state[self._obs_index] / self._obs_scale

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        """
        Start an episode from the paper's start state, or from ``options["state"]`` when given.

        :param seed: accepted for gymnasium's API; the task has no randomness
        :param options: optional ``{"state": array}``, the physical start state
        :return: the first observation and an empty info dict
        """
        super().reset(seed=seed)
        self._state = self._initial_state.copy()
        if options is not None and options.get("state") is not None:
            self.state = options["state"]
        self._steps = 0
        self._balanced = 0
        self._jiggle[:] = 0.0
        return self._observation(), {}

    def render(self) -> np.ndarray | None:
        """
        Draw the current state (``render_mode="rgb_array"``).

        :return: an RGB image, or None when the env was made without ``render_mode="rgb_array"``
        """
        return draw(self._state) if self.render_mode == "rgb_array" else None

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict]:
        """
        Apply the action's force for 0.02 s.

        :param action: array whose first element is the action in [−1, 1] (a scalar is accepted too)
        :return: observation, reward, terminated, truncated, info
        """
        self._state = advance(self._state, float(np.asarray(action).reshape(-1)[0]))
        self._steps += 1
        terminated = bool(has_failed(self._state))
        if self.fitness == "standard":
            return self._observation(), 0.0 if terminated else 1.0, terminated, False, {}
        if not terminated:
            s = self._state
            self._jiggle[self._balanced % DAMPING_WINDOW] = abs(s[0]) + abs(s[1]) + abs(s[2]) + abs(s[3])
            self._balanced += 1
        truncated = not terminated and self._steps >= self.damping_steps
        reward = 0.0
        if terminated or truncated:
            reward = damping_fitness(self._balanced, window_sum(self._jiggle), self.damping_steps)
        return self._observation(), reward, terminated, truncated, {}
