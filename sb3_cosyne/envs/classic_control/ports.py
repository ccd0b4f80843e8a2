"""Which gymnasium classes have a compiled port, and how to read an env's settings and state for it."""

from collections.abc import Callable
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
from gymnasium.envs.classic_control.acrobot import AcrobotEnv
from gymnasium.envs.classic_control.cartpole import CartPoleEnv
from gymnasium.envs.classic_control.continuous_mountain_car import Continuous_MountainCarEnv
from gymnasium.envs.classic_control.mountain_car import MountainCarEnv
from gymnasium.envs.classic_control.pendulum import PendulumEnv

from sb3_cosyne.envs.classic_control.acrobot import acrobot_constants
from sb3_cosyne.envs.classic_control.cartpole import cartpole_constants
from sb3_cosyne.envs.classic_control.dispatch import ACROBOT, CARTPOLE, CONTINUOUS_MOUNTAIN_CAR, MOUNTAIN_CAR, PENDULUM
from sb3_cosyne.envs.classic_control.mountain_car import (
    continuous_mountain_car_constants,
    continuous_mountain_car_state,
    mountain_car_constants,
)
from sb3_cosyne.envs.classic_control.pendulum import pendulum_constants


def _state(env: gym.Env) -> np.ndarray:
    return np.array(env.state, dtype=np.float64)


def _any(env: gym.Env) -> bool:
    return True


def _python_goal_velocity(env: MountainCarEnv | Continuous_MountainCarEnv) -> bool:
    # The port compares as NumPy does with a Python number; a NumPy goal velocity would promote differently.
    return type(env.goal_velocity) in (int, float)


@dataclass(frozen=True)
class ClassicPort:
    """
    A compiled port of a gymnasium env.

    :param code: the port's code in :mod:`sb3_cosyne.evaluation.classic_rollout`
    :param constants: the env's settings, in the layout the port's step reads
    :param state: the env's state after ``reset``, as the port's step reads it
    :param supports: whether the port reproduces this env's settings (e.g. not Acrobot's torque noise)
    """

    code: int
    constants: Callable[[gym.Env], np.ndarray]
    state: Callable[[gym.Env], np.ndarray] = _state
    supports: Callable[[gym.Env], bool] = _any


#: the gymnasium classes with a port (exactly these classes: a subclass may change the dynamics)
PORTS: dict[type[gym.Env], ClassicPort] = {
    CartPoleEnv: ClassicPort(CARTPOLE, cartpole_constants),
    PendulumEnv: ClassicPort(PENDULUM, pendulum_constants),
    AcrobotEnv: ClassicPort(ACROBOT, acrobot_constants, supports=lambda env: env.torque_noise_max == 0),
    MountainCarEnv: ClassicPort(MOUNTAIN_CAR, mountain_car_constants, supports=_python_goal_velocity),
    Continuous_MountainCarEnv: ClassicPort(
        CONTINUOUS_MOUNTAIN_CAR, continuous_mountain_car_constants, continuous_mountain_car_state, _python_goal_velocity
    ),
}
