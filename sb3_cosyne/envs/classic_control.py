"""Compiled ports of gymnasium's classic-control envs: whole episodes of many networks in one Numba loop.

Each port repeats its gymnasium env's arithmetic operation for operation (same order, same float32 casts), so
that from the same start state and actions it produces the same observations, rewards and terminations bit for
bit; start states come from the env's own ``reset(seed=...)``. ``tests/test_classic_control.py`` checks this
against gymnasium for many seeds and action sequences.
"""

import numpy as np
from numba import njit

from sb3_cosyne.envs.rollout import network_outputs, rollout_buffers


@njit(cache=True)
def cartpole_step(state: np.ndarray, action: int, constants: np.ndarray, euler: bool) -> np.ndarray:
    """
    gymnasium's ``CartPoleEnv.step`` physics.

    :param state: ``(x, ẋ, θ, θ̇)``
    :param action: 0 (push left) or 1 (push right)
    :param constants: ``(gravity, masspole, total_mass, length, polemass_length, force_mag, tau)``
    :param euler: explicit Euler (gymnasium's default) or semi-implicit Euler
    :return: the next state
    """
    gravity, masspole, total_mass, length, polemass_length, force_mag, tau = constants
    x, x_dot, theta, theta_dot = state[0], state[1], state[2], state[3]
    force = force_mag if action == 1 else -force_mag
    costheta = np.cos(theta)
    sintheta = np.sin(theta)
    temp = (force + polemass_length * (theta_dot * theta_dot) * sintheta) / total_mass
    thetaacc = (gravity * sintheta - costheta * temp) / (length * (4.0 / 3.0 - masspole * (costheta * costheta) / total_mass))
    xacc = temp - polemass_length * thetaacc * costheta / total_mass
    if euler:
        x = x + tau * x_dot
        x_dot = x_dot + tau * xacc
        theta = theta + tau * theta_dot
        theta_dot = theta_dot + tau * thetaacc
    else:
        x_dot = x_dot + tau * xacc
        x = x + tau * x_dot
        theta_dot = theta_dot + tau * thetaacc
        theta = theta + tau * theta_dot
    return np.array((x, x_dot, theta, theta_dot))


@njit(cache=True)
def cartpole_rollouts(
    params: np.ndarray,
    layer_sizes: np.ndarray,
    with_bias: bool,
    activation: int,
    state_dim: int,
    starts: np.ndarray,
    constants: np.ndarray,
    thresholds: np.ndarray,
    euler: bool,
    sutton_barto: bool,
    obs_mean: np.ndarray,
    obs_std: np.ndarray,
    normalize: bool,
    max_steps: int,
):
    """
    One CartPole episode of each network (argmax of two outputs picks the action, as for ``Discrete(2)``).

    :param starts: start state of each episode, shape ``(k, 4)``
    :param constants: see :func:`cartpole_step`
    :param thresholds: ``(x_threshold, theta_threshold_radians)``
    :param sutton_barto: gymnasium's ``sutton_barto_reward`` (0 per step, −1 on failure) instead of 1 per step
    :return: returns, lengths, and the count, sum and sum of squares of the observations
    """
    k = params.shape[0]
    returns, lengths, obs, obs_sum, obs_sq_sum, inputs, hidden = rollout_buffers(k, 4, state_dim)
    obs_count = 0
    for j in range(k):
        net = params[j : j + 1]
        state = starts[j].copy()
        hidden[:] = 0.0
        steps, total = 0, 0.0
        while True:
            for i in range(4):
                obs[i] = np.float64(np.float32(state[i]))
            outputs = network_outputs(
                net, obs, inputs, hidden, obs_mean, obs_std, normalize, obs_sum, obs_sq_sum, layer_sizes, with_bias, activation
            )
            obs_count += normalize
            state = cartpole_step(state, int(np.argmax(outputs)), constants, euler)
            steps += 1
            x, theta = state[0], state[2]
            terminated = x < -thresholds[0] or x > thresholds[0] or theta < -thresholds[1] or theta > thresholds[1]
            if not terminated:
                total += 0.0 if sutton_barto else 1.0
            else:
                total += -1.0 if sutton_barto else 1.0
            if terminated or steps >= max_steps:
                break
        returns[j] = total
        lengths[j] = steps
    return returns, lengths, obs_count, obs_sum, obs_sq_sum


@njit(cache=True)
def angle_normalize(x: float) -> float:
    """gymnasium's Pendulum ``angle_normalize``: the angle in [−π, π)."""
    return ((x + np.pi) % (2 * np.pi)) - np.pi


@njit(cache=True)
def pendulum_step(state: np.ndarray, torque: np.float32, constants: np.ndarray) -> tuple[np.ndarray, float]:
    """
    gymnasium's ``PendulumEnv.step``, with its float32 intermediate values (NumPy 2 promotion rules).

    :param state: ``(θ, θ̇)``
    :param torque: the float32 action
    :param constants: ``(3g/(2l), 3/(m l²), max_torque, max_speed, dt, 2.0)``, the last the exponent of the costs
    :return: the next state and the reward
    """
    gravity_term, torque_term, max_torque, max_speed, dt, two = constants
    th, thdot = state[0], state[1]
    u = np.float32(min(max(torque, np.float32(-max_torque)), np.float32(max_torque)))
    normalized = angle_normalize(th)
    # NumPy's scalar ``**`` calls libm's pow/powf, which is not always the product x * x; an exponent known only
    # at run time keeps LLVM from turning the power into a product.
    squared_torque = np.float32(u ** np.float32(two))
    costs = normalized**two + 0.1 * thdot**two + np.float64(np.float32(0.001) * squared_torque)
    newthdot = thdot + (gravity_term * np.sin(th) + np.float64(np.float32(torque_term) * u)) * dt
    newthdot = min(max(newthdot, -max_speed), max_speed)
    newth = th + newthdot * dt
    return np.array((newth, newthdot)), -costs


@njit(cache=True)
def pendulum_rollouts(
    params: np.ndarray,
    layer_sizes: np.ndarray,
    with_bias: bool,
    activation: int,
    state_dim: int,
    starts: np.ndarray,
    constants: np.ndarray,
    action_low: float,
    action_high: float,
    obs_mean: np.ndarray,
    obs_std: np.ndarray,
    normalize: bool,
    max_steps: int,
):
    """
    One Pendulum episode of each network (``tanh`` output rescaled to the action bounds, as for a Box action).

    :param starts: start state of each episode, shape ``(k, 2)``
    :param constants: see :func:`pendulum_step`
    :return: returns, lengths, and the count, sum and sum of squares of the observations
    """
    k = params.shape[0]
    returns, lengths, obs, obs_sum, obs_sq_sum, inputs, hidden = rollout_buffers(k, 3, state_dim)
    obs_count = 0
    for j in range(k):
        net = params[j : j + 1]
        state = starts[j].copy()
        hidden[:] = 0.0
        steps, total = 0, 0.0
        while True:
            obs[0] = np.float64(np.float32(np.cos(state[0])))
            obs[1] = np.float64(np.float32(np.sin(state[0])))
            obs[2] = np.float64(np.float32(state[1]))
            output = network_outputs(
                net, obs, inputs, hidden, obs_mean, obs_std, normalize, obs_sum, obs_sq_sum, layer_sizes, with_bias, activation
            )[0]
            obs_count += normalize
            scaled = action_low + 0.5 * (np.tanh(output) + 1.0) * (action_high - action_low)
            state, reward = pendulum_step(state, np.float32(min(max(scaled, action_low), action_high)), constants)
            total += reward
            steps += 1
            if steps >= max_steps:
                break
        returns[j] = total
        lengths[j] = steps
    return returns, lengths, obs_count, obs_sum, obs_sq_sum
