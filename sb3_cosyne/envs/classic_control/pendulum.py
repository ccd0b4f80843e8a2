"""gymnasium's ``Pendulum-v1`` step and observation, compiled."""

import numpy as np
from gymnasium.envs.classic_control.pendulum import PendulumEnv
from numba import njit


def pendulum_constants(env: PendulumEnv) -> np.ndarray:
    """The settings of an unwrapped ``PendulumEnv``, in the layout :func:`pendulum_step` reads."""
    # The terms gymnasium computes from the settings alone, computed as it does; 2.0 is the exponent of the costs.
    return np.array([3 * env.g / (2 * env.l), 3.0 / (env.m * env.l**2), env.max_torque, env.max_speed, env.dt, 2.0])


@njit(cache=True)
def angle_normalize(x: float) -> float:
    """gymnasium's Pendulum ``angle_normalize``: the angle in [−π, π)."""
    return ((x + np.pi) % (2 * np.pi)) - np.pi


@njit(cache=True, error_model="numpy")
def pendulum_step(state: np.ndarray, action: float, constants: np.ndarray) -> tuple[float, bool]:
    """
    gymnasium's ``PendulumEnv.step``, with its float32 intermediate values (NumPy 2 promotion rules).

    :param state: ``(θ, θ̇)``, advanced in place
    :param action: the torque, a float32 value
    :param constants: see :func:`pendulum_constants`
    :return: the reward (minus the cost) and False: the pendulum never terminates
    """
    gravity_term, torque_term, max_torque, max_speed, dt, two = constants
    th, thdot = state[0], state[1]
    torque = np.float32(action)
    u = np.float32(min(max(torque, np.float32(-max_torque)), np.float32(max_torque)))
    normalized = angle_normalize(th)
    # NumPy's scalar ``**`` calls libm's pow/powf, which is not always the product x * x; an exponent known only
    # at run time keeps LLVM from turning the power into a product.
    squared_torque = np.float32(u ** np.float32(two))
    costs = normalized**two + 0.1 * thdot**two + np.float64(np.float32(0.001) * squared_torque)
    newthdot = thdot + (gravity_term * np.sin(th) + np.float64(np.float32(torque_term) * u)) * dt
    newthdot = min(max(newthdot, -max_speed), max_speed)
    state[0], state[1] = th + newthdot * dt, newthdot
    return -costs, False


@njit(cache=True, error_model="numpy")
def pendulum_observe(state: np.ndarray, obs: np.ndarray) -> None:
    """gymnasium's Pendulum observation ``(cos θ, sin θ, θ̇)`` (float32 values), written into ``obs``."""
    obs[0] = np.float32(np.cos(state[0]))
    obs[1] = np.float32(np.sin(state[0]))
    obs[2] = np.float32(state[1])
