"""Compiled ports of gymnasium's classic-control envs: whole episodes of many networks in one Numba loop.

Each port repeats its gymnasium env's arithmetic operation for operation (same order, same float32 casts, libm's
``pow`` where gymnasium writes ``**``), so that from the same start state and actions it produces the same
observations, rewards and terminations bit for bit; start states and first observations come from the env's own
``reset(seed=...)``. ``tests/test_classic_control.py`` checks this against gymnasium for many seeds and action
sequences.

Modules: one per env (its step, observation and settings), :mod:`.dispatch` (a port's step and observation by its
code) and :mod:`.ports` (which gymnasium classes have a port). The loop that runs networks on them is
:mod:`sb3_cosyne.evaluation.classic_rollout`.
"""

from sb3_cosyne.envs.classic_control.acrobot import acrobot_step
from sb3_cosyne.envs.classic_control.cartpole import cartpole_step
from sb3_cosyne.envs.classic_control.mountain_car import continuous_mountain_car_step, mountain_car_step
from sb3_cosyne.envs.classic_control.pendulum import pendulum_step
from sb3_cosyne.envs.classic_control.ports import PORTS, ClassicPort

__all__ = [
    "PORTS",
    "ClassicPort",
    "acrobot_step",
    "cartpole_step",
    "continuous_mountain_car_step",
    "mountain_car_step",
    "pendulum_step",
]
