"""gymnasium's ``CartPole-v1`` step, compiled."""

import numpy as np
from gymnasium.envs.classic_control.cartpole import CartPoleEnv
from numba import njit


def cartpole_constants(env: CartPoleEnv) -> np.ndarray:
    """The settings of an unwrapped ``CartPoleEnv``, in the layout :func:`cartpole_step` reads."""
    return np.array(
        [
            env.gravity,
            env.masspole,
            env.total_mass,
            env.length,
            env.polemass_length,
            env.force_mag,
            env.tau,
            env.kinematics_integrator == "euler",
            env.x_threshold,
            env.theta_threshold_radians,
            env._sutton_barto_reward,
        ],
        dtype=np.float64,
    )


@njit(cache=True, error_model="numpy")
def cartpole_step(state: np.ndarray, action: float, constants: np.ndarray) -> tuple[float, bool]:
    """
    gymnasium's ``CartPoleEnv.step``: physics, termination and reward.

    :param state: ``(x, ẋ, θ, θ̇)``, advanced in place
    :param action: 0 (push left) or 1 (push right)
    :param constants: see :func:`cartpole_constants`
    :return: the reward and whether the pole fell or the cart left the track
    """
    gravity, masspole, total_mass, length, polemass_length, force_mag, tau = constants[:7]
    x, x_dot, theta, theta_dot = state[0], state[1], state[2], state[3]
    force = force_mag if action == 1 else -force_mag
    costheta = np.cos(theta)
    sintheta = np.sin(theta)
    temp = (force + polemass_length * (theta_dot * theta_dot) * sintheta) / total_mass
    thetaacc = (gravity * sintheta - costheta * temp) / (length * (4.0 / 3.0 - masspole * (costheta * costheta) / total_mass))
    xacc = temp - polemass_length * thetaacc * costheta / total_mass
    if constants[7]:
        x = x + tau * x_dot
        x_dot = x_dot + tau * xacc
        theta = theta + tau * theta_dot
        theta_dot = theta_dot + tau * thetaacc
    else:
        x_dot = x_dot + tau * xacc
        x = x + tau * x_dot
        theta_dot = theta_dot + tau * thetaacc
        theta = theta + tau * theta_dot
    state[0], state[1], state[2], state[3] = x, x_dot, theta, theta_dot
    x_threshold, theta_threshold, sutton_barto = constants[8], constants[9], constants[10]
    terminated = x < -x_threshold or x > x_threshold or theta < -theta_threshold or theta > theta_threshold
    if sutton_barto:
        return -1.0 if terminated else 0.0, terminated
    return 1.0, terminated
