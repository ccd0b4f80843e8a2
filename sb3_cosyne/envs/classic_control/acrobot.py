"""gymnasium's ``Acrobot-v1`` step and observation, compiled.

gymnasium integrates the two links' equations with one 4th-order Runge-Kutta step of ``dt`` over a float64
state (the torque as a fifth component), wraps the angles into [−π, π] and bounds the velocities. The port
repeats each operation in gymnasium's order; the terms that depend only on the env's settings are computed
in Python as gymnasium computes them, so they are the same doubles.
"""

from math import pi

import numpy as np
from gymnasium.envs.classic_control.acrobot import AcrobotEnv
from numba import njit

#: gymnasium's gravity, a literal inside ``AcrobotEnv._dsdt``
GRAVITY = 9.8


def acrobot_constants(env: AcrobotEnv) -> np.ndarray:
    """The settings of an unwrapped ``AcrobotEnv`` and the terms of its dynamics they fix, as :func:`acrobot_step` reads."""
    m1, m2, l1 = env.LINK_MASS_1, env.LINK_MASS_2, env.LINK_LENGTH_1
    lc1, lc2, moi, g = env.LINK_COM_POS_1, env.LINK_COM_POS_2, env.LINK_MOI, GRAVITY
    # Each product groups as in gymnasium's left-to-right expressions.
    terms = [
        m1 * lc1**2,  # d1 = [0] + m2 * ([1] + [2] cos θ2) + I1 + I2
        l1**2 + lc2**2,
        2 * l1 * lc2,
        lc2**2,  # d2 = m2 * ([3] + [4] cos θ2) + I2
        l1 * lc2,
        m2 * lc2 * g,  # φ2 = [5] cos(θ1 + θ2 − π/2)
        -m2 * l1 * lc2,  # φ1 = [6] θ̇2² sin θ2 − [7] θ̇2 θ̇1 sin θ2 + [8] cos(θ1 − π/2) + φ2
        2 * m2 * l1 * lc2,
        (m1 * lc1 + m2 * l1) * g,
        m2 * lc2**2 + moi,  # the denominator of θ̈2: [9] − d2² / d1
        m2 * l1 * lc2,  # the "book" term of θ̈2: [10] θ̇1² sin θ2
    ]
    return np.array(
        [
            *terms,
            m2,
            moi,
            env.book_or_nips == "nips",
            env.dt,
            env.MAX_VEL_1,
            env.MAX_VEL_2,
            *env.AVAIL_TORQUE,
            2.0,  # the exponent of gymnasium's ``**2`` (libm's pow, not always the product)
        ],
        dtype=np.float64,
    )


@njit(cache=True)
def _derivatives(y: tuple[float, float, float, float], a: float, c: np.ndarray) -> tuple[float, float, float, float]:
    """``AcrobotEnv._dsdt``: the time derivatives of ``y = (θ1, θ2, θ̇1, θ̇2)`` under the torque ``a``."""
    m2, moi, two = c[11], c[12], c[20]
    theta1, theta2, dtheta1, dtheta2 = y[0], y[1], y[2], y[3]
    d1 = c[0] + m2 * (c[1] + c[2] * np.cos(theta2)) + moi + moi
    d2 = m2 * (c[3] + c[4] * np.cos(theta2)) + moi
    phi2 = c[5] * np.cos(theta1 + theta2 - pi / 2.0)
    phi1 = (
        c[6] * dtheta2**two * np.sin(theta2)
        - c[7] * dtheta2 * dtheta1 * np.sin(theta2)
        + c[8] * np.cos(theta1 - pi / 2)
        + phi2
    )
    if c[13]:
        ddtheta2 = (a + d2 / d1 * phi1 - phi2) / (c[9] - d2**two / d1)
    else:
        ddtheta2 = (a + d2 / d1 * phi1 - c[10] * dtheta1**two * np.sin(theta2) - phi2) / (c[9] - d2**two / d1)
    ddtheta1 = -(d2 * ddtheta2 + phi1) / d1
    return dtheta1, dtheta2, ddtheta1, ddtheta2


@njit(cache=True)
def _stage(
    y: tuple[float, float, float, float], h: float, k: tuple[float, float, float, float]
) -> tuple[float, float, float, float]:
    """``y + h * k``, a Runge-Kutta stage's state."""
    return y[0] + h * k[0], y[1] + h * k[1], y[2] + h * k[2], y[3] + h * k[3]


@njit(cache=True)
def _wrap(x: float, low: float, high: float) -> float:
    """gymnasium's Acrobot ``wrap``: shift by whole turns into [low, high]."""
    diff = high - low
    while x > high:
        x = x - diff
    while x < low:
        x = x + diff
    return x


@njit(cache=True, error_model="numpy")
def acrobot_step(state: np.ndarray, action: float, constants: np.ndarray) -> tuple[float, bool]:
    """
    gymnasium's ``AcrobotEnv.step`` (without torque noise): one Runge-Kutta step, wrapping, bounds, termination, reward.

    :param state: ``(θ1, θ2, θ̇1, θ̇2)``, advanced in place
    :param action: 0, 1 or 2, the index of the torque
    :param constants: see :func:`acrobot_constants`
    :return: the reward (−1, or 0 on reaching the height) and whether the tip reached the height
    """
    dt, max_vel_1, max_vel_2 = constants[14], constants[15], constants[16]
    y0 = (state[0], state[1], state[2], state[3])
    torque = constants[17 + int(action)]
    # rk4(derivs, y0, [0, dt]): one step; the torque's derivative is 0, so it is the same in every stage.
    dt2 = dt / 2.0
    k1 = _derivatives(y0, torque, constants)
    k2 = _derivatives(_stage(y0, dt2, k1), torque, constants)
    k3 = _derivatives(_stage(y0, dt2, k2), torque, constants)
    k4 = _derivatives(_stage(y0, dt, k3), torque, constants)
    for i in range(4):
        state[i] = y0[i] + dt / 6.0 * (k1[i] + 2 * k2[i] + 2 * k3[i] + k4[i])
    state[0] = _wrap(state[0], -pi, pi)
    state[1] = _wrap(state[1], -pi, pi)
    state[2] = min(max(state[2], -max_vel_1), max_vel_1)
    state[3] = min(max(state[3], -max_vel_2), max_vel_2)
    terminated = -np.cos(state[0]) - np.cos(state[1] + state[0]) > 1.0
    return 0.0 if terminated else -1.0, terminated


@njit(cache=True, error_model="numpy")
def acrobot_observe(state: np.ndarray, obs: np.ndarray) -> None:
    """gymnasium's Acrobot observation ``(cos θ1, sin θ1, cos θ2, sin θ2, θ̇1, θ̇2)`` (float32 values), written into ``obs``."""
    obs[0] = np.float32(np.cos(state[0]))
    obs[1] = np.float32(np.sin(state[0]))
    obs[2] = np.float32(np.cos(state[1]))
    obs[3] = np.float32(np.sin(state[1]))
    obs[4] = np.float32(state[2])
    obs[5] = np.float32(state[3])
