"""gymnasium's ``MountainCar-v0`` and ``MountainCarContinuous-v0`` steps, compiled.

``MountainCar-v0`` computes in float64 throughout. ``MountainCarContinuous-v0`` stores its state as float32
after every step (``reset`` stores float64), so NumPy 2's promotion rules make most of its arithmetic float32:
a float32 scalar combined with a Python float gives float32 (the Python float rounded to float32 first), also in
comparisons, while the bounds it assigns on clipping are Python floats again. The port tracks, for position
and velocity, whether gymnasium holds a float32 at that point, and computes each operation in that precision.
"""

import numpy as np
from gymnasium.envs.classic_control.continuous_mountain_car import Continuous_MountainCarEnv
from gymnasium.envs.classic_control.mountain_car import MountainCarEnv
from numba import njit


def mountain_car_constants(env: MountainCarEnv) -> np.ndarray:
    """The settings of an unwrapped ``MountainCarEnv``, in the layout :func:`mountain_car_step` reads."""
    return np.array(
        [env.force, env.gravity, env.max_speed, env.min_position, env.max_position, env.goal_position, env.goal_velocity],
        dtype=np.float64,
    )


@njit(cache=True, error_model="numpy")
def mountain_car_step(state: np.ndarray, action: float, constants: np.ndarray) -> tuple[float, bool]:
    """
    gymnasium's ``MountainCarEnv.step``.

    :param state: ``(position, velocity)``, advanced in place
    :param action: 0 (push left), 1 (no push) or 2 (push right)
    :param constants: see :func:`mountain_car_constants`
    :return: the reward (−1) and whether the car reached the goal
    """
    force, gravity, max_speed, min_position, max_position, goal_position, goal_velocity = constants
    position, velocity = state[0], state[1]
    velocity = velocity + ((action - 1) * force + np.cos(3 * position) * (-gravity))
    velocity = min(max(velocity, -max_speed), max_speed)
    position = min(max(position + velocity, min_position), max_position)
    if position == min_position and velocity < 0:
        velocity = 0.0
    state[0], state[1] = position, velocity
    return -1.0, position >= goal_position and velocity >= goal_velocity


def continuous_mountain_car_constants(env: Continuous_MountainCarEnv) -> np.ndarray:
    """The settings of an unwrapped ``Continuous_MountainCarEnv``, in the layout :func:`continuous_mountain_car_step` reads."""
    return np.array(
        [
            env.min_action,
            env.max_action,
            env.power,
            env.max_speed,
            env.min_position,
            env.max_position,
            env.goal_position,
            env.goal_velocity,
        ],
        dtype=np.float64,
    )


def continuous_mountain_car_state(env: Continuous_MountainCarEnv) -> np.ndarray:
    """The env's state as :func:`continuous_mountain_car_step` reads it: position, velocity, whether they are float32."""
    return np.array([*env.state, env.state.dtype == np.float32], dtype=np.float64)


@njit(cache=True, inline="always")
def _held(x: float, is_float32: bool) -> float:
    """``x`` as gymnasium holds it: rounded to float32 where gymnasium's variable is float32 (or meets one)."""
    return np.float64(np.float32(x)) if is_float32 else x


@njit(cache=True, inline="always")
def _add(x: float, y: float, is_float32: bool) -> float:
    """``x + y`` as gymnasium computes it: in float32 where ``x`` is a float32 (``y`` rounded to float32 first)."""
    return np.float64(np.float32(x) + np.float32(y)) if is_float32 else x + y


@njit(cache=True, error_model="numpy")
def continuous_mountain_car_step(state: np.ndarray, action: float, constants: np.ndarray) -> tuple[float, bool]:
    """
    gymnasium's ``Continuous_MountainCarEnv.step``.

    :param state: ``(position, velocity, whether they are float32)``, advanced in place
    :param action: the float32 action, before gymnasium clips it
    :param constants: see :func:`continuous_mountain_car_constants`
    :return: the reward (100 on reaching the goal, minus 0.1 · action²) and whether the car reached the goal
    """
    min_action, max_action, power, max_speed, min_position, max_position, goal_position, goal_velocity = constants
    position, velocity, stored_float32 = state[0], state[1], state[2] != 0.0
    a = np.float32(action)
    # 3 * position: float32 arithmetic on a float32 position; math.cos then computes in float64.
    angle = np.float64(np.float32(np.float32(3.0) * np.float32(position))) if stored_float32 else 3.0 * position
    gravity = 0.0025 * np.cos(angle)
    # Python's min/max keep the float32 action inside the bounds and put in the Python float bound outside.
    if a < np.float32(min_action) or a > np.float32(max_action):
        push = (min_action if a < np.float32(min_action) else max_action) * power - gravity
    else:
        # a float32 times, then minus, a Python float: float32 arithmetic
        push = np.float64(np.float32(a * np.float32(power)) - np.float32(gravity))
    velocity = _add(velocity, push, stored_float32)
    velocity_float32 = stored_float32
    if _held(velocity, velocity_float32) > _held(max_speed, velocity_float32):
        velocity, velocity_float32 = max_speed, False
    if _held(velocity, velocity_float32) < _held(-max_speed, velocity_float32):
        velocity, velocity_float32 = -max_speed, False
    position = _add(position, velocity, stored_float32)
    position_float32 = stored_float32
    if _held(position, position_float32) > _held(max_position, position_float32):
        position, position_float32 = max_position, False
    if _held(position, position_float32) < _held(min_position, position_float32):
        position, position_float32 = min_position, False
    if _held(position, position_float32) == _held(min_position, position_float32) and velocity < 0:
        velocity, velocity_float32 = 0.0, False
    terminated = _held(position, position_float32) >= _held(goal_position, position_float32) and _held(
        velocity, velocity_float32
    ) >= _held(goal_velocity, velocity_float32)
    # gymnasium's math.pow(action, 2) is exact here, as the product is: a float32 squared fits a float64's mantissa
    reward = (100.0 if terminated else 0.0) - (np.float64(a) * np.float64(a)) * 0.1
    state[0], state[1], state[2] = np.float32(position), np.float32(velocity), 1.0
    return reward, terminated
