"""One step and one observation of any classic-control port, chosen by the port's code.

The compiled rollout loop calls these rather than taking a step function as an argument: Numba compiles a loop that
receives a function anew in every process, while a dispatch on an int keeps the loop in Numba's on-disk cache. A loop
compiled for one port passes its code as a constant: inlined there, the dispatch leaves that port's call alone once
Numba has pruned the other branches, before typing. The ports' steps and observations are compiled functions of their
own, not inlined by Numba (which would inline all five before pruning), so that a loop compiles its own port only;
they are compiled with the loop's ``error_model="numpy"``, and LLVM inlines them into it.
"""

import numpy as np
from numba import njit

from sb3_cosyne.envs.classic_control.acrobot import acrobot_observe, acrobot_step
from sb3_cosyne.envs.classic_control.cartpole import cartpole_step
from sb3_cosyne.envs.classic_control.mountain_car import continuous_mountain_car_step, mountain_car_step
from sb3_cosyne.envs.classic_control.pendulum import pendulum_observe, pendulum_step

#: the ports' codes
CARTPOLE, PENDULUM, ACROBOT, MOUNTAIN_CAR, CONTINUOUS_MOUNTAIN_CAR = range(5)


@njit(cache=True, inline="always")
def env_step(env: int, state: np.ndarray, action: float, constants: np.ndarray) -> tuple[float, bool]:
    """The step of the port ``env``: advances ``state`` in place, returns the reward and whether the episode terminated."""
    if env == CARTPOLE:
        return cartpole_step(state, action, constants)
    if env == PENDULUM:
        return pendulum_step(state, action, constants)
    if env == ACROBOT:
        return acrobot_step(state, action, constants)
    if env == MOUNTAIN_CAR:
        return mountain_car_step(state, action, constants)
    return continuous_mountain_car_step(state, action, constants)


@njit(cache=True, inline="always")
def env_observe(env: int, state: np.ndarray, obs: np.ndarray) -> None:
    """The observation of the port ``env`` in ``state`` (float32 values), written into ``obs``."""
    if env == PENDULUM:
        pendulum_observe(state, obs)
    elif env == ACROBOT:
        acrobot_observe(state, obs)
    else:
        # CartPole and the mountain cars observe their state, rounded to float32.
        for i in range(obs.shape[0]):
            obs[i] = np.float32(state[i])
