"""The compiled fast path: envs whose whole episodes CoSyNE can run in one Numba loop.

The envs: the paper's pole-balancing tasks and gymnasium's CartPole and Pendulum. An env qualifies when every lane of a
``DummyVecEnv`` is one of these envs (the exact class, with the same settings) wrapped only by the standard
wrappers that change nothing but bookkeeping (SB3's ``Monitor``, gymnasium's ``TimeLimit``,
``OrderEnforcing``, ``PassiveEnvChecker``). Anything else runs on the lanes of the VecEnv.
"""

from collections.abc import Callable

import gymnasium as gym
import numpy as np
from gymnasium.envs.classic_control.cartpole import CartPoleEnv as ClassicCartPole
from gymnasium.envs.classic_control.pendulum import PendulumEnv as ClassicPendulum
from gymnasium.wrappers import OrderEnforcing, PassiveEnvChecker, TimeLimit
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv

from sb3_cosyne.cosyne.evaluation import EvaluationResult
from sb3_cosyne.cosyne.policies import CoSyNEPolicy
from sb3_cosyne.envs.cartpole import CartPoleEnv
from sb3_cosyne.envs.classic_control import cartpole_rollouts, pendulum_rollouts
from sb3_cosyne.envs.rollout import run_pole_rollouts

STANDARD_WRAPPERS = (Monitor, TimeLimit, OrderEnforcing, PassiveEnvChecker)

#: evaluates ``params`` (one row per network) from ``seeds`` (networks × episodes) with observation statistics
CompiledRollout = Callable[[CoSyNEPolicy, np.ndarray, np.ndarray, tuple], EvaluationResult]


def unwrap_standard(env: gym.Env) -> tuple[gym.Env | None, int | None]:
    """
    Peel off the standard wrappers.

    :param env: a (wrapped) gymnasium env
    :return: the env below them, or None if another wrapper stands in the way, and the time limit if any
    """
    max_steps = None
    while isinstance(env, gym.Wrapper):
        if not isinstance(env, STANDARD_WRAPPERS):
            return None, None
        if isinstance(env, TimeLimit):
            max_steps = env._max_episode_steps if max_steps is None else min(max_steps, env._max_episode_steps)
        env = env.env
    return env, max_steps


def _pole_rollout(env: CartPoleEnv, max_steps: int | None) -> CompiledRollout:
    start = env._initial_state.copy()
    damping_steps = env.damping_steps if env.fitness == "damping" else 0
    limit = np.iinfo(np.int64).max if max_steps is None else max_steps

    def rollout(policy: CoSyNEPolicy, params: np.ndarray, seeds: np.ndarray, obs_stats: tuple) -> EvaluationResult:
        # The task is deterministic: the seeds only say how many episodes each network plays.
        shape = seeds.shape
        returns, lengths, count, obs_sum, obs_sq_sum = run_pole_rollouts(
            policy,
            np.repeat(params, shape[1], axis=0),
            np.repeat(start[None], seeds.size, axis=0),
            env.markov,
            obs_stats,
            limit,
            damping_steps,
        )
        return EvaluationResult(returns.reshape(shape), lengths.reshape(shape), int(count), obs_sum, obs_sq_sum)

    return rollout


def _seeded_starts(env: gym.Env, seeds: np.ndarray) -> np.ndarray:
    """The env's start state after ``reset(seed=s)`` for every seed, one row per episode (repeated seeds reset once)."""
    cache: dict[int, np.ndarray] = {}
    for seed in np.unique(seeds):
        env.reset(seed=int(seed))
        cache[int(seed)] = np.array(env.unwrapped.state, dtype=np.float64)
    return np.stack([cache[int(seed)] for seed in seeds.ravel()])


def _classic_rollout(env: gym.Env, max_steps: int | None, kernel: Callable, env_args: tuple, obs_dim: int) -> CompiledRollout:
    """
    The rollout of a classic-control port: starts from the env's own seeded resets, then ``kernel`` (whose
    arguments are the network's, the starts, ``env_args``, the observation statistics and the time limit).
    """
    limit = np.iinfo(np.int64).max if max_steps is None else max_steps

    def rollout(policy: CoSyNEPolicy, params: np.ndarray, seeds: np.ndarray, obs_stats: tuple) -> EvaluationResult:
        mean, std = obs_stats
        normalize = mean is not None
        returns, lengths, count, obs_sum, obs_sq_sum = kernel(
            np.ascontiguousarray(np.repeat(params, seeds.shape[1], axis=0), dtype=np.float64),
            policy.layer_sizes,
            policy.with_bias,
            policy.activation_code,
            policy.state_dim,
            _seeded_starts(env, seeds),
            *env_args,
            mean if normalize else np.zeros(obs_dim),
            std if normalize else np.ones(obs_dim),
            normalize,
            limit,
        )
        shape = seeds.shape
        return EvaluationResult(returns.reshape(shape), lengths.reshape(shape), int(count), obs_sum, obs_sq_sum)

    return rollout


def _cartpole_rollout(env: ClassicCartPole, max_steps: int | None) -> CompiledRollout:
    constants = np.array([env.gravity, env.masspole, env.total_mass, env.length, env.polemass_length, env.force_mag, env.tau])
    thresholds = np.array([env.x_threshold, env.theta_threshold_radians])
    env_args = (constants, thresholds, env.kinematics_integrator == "euler", env._sutton_barto_reward)
    return _classic_rollout(env, max_steps, cartpole_rollouts, env_args, 4)


def _pendulum_rollout(env: ClassicPendulum, max_steps: int | None) -> CompiledRollout:
    constants = np.array([3 * env.g / (2 * env.l), 3.0 / (env.m * env.l**2), env.max_torque, env.max_speed, env.dt, 2.0])
    env_args = (constants, float(env.action_space.low[0]), float(env.action_space.high[0]))
    return _classic_rollout(env, max_steps, pendulum_rollouts, env_args, 3)


def compiled_rollout(env: VecEnv) -> CompiledRollout | None:
    """
    The compiled rollout for a training env, if it has one.

    :param env: the training VecEnv
    :return: a function evaluating networks in one compiled loop, or None when the env must run on its lanes
    """
    if not isinstance(env, DummyVecEnv):
        return None
    unwrapped = [unwrap_standard(lane) for lane in env.envs]
    base, max_steps = unwrapped[0]
    if isinstance(base, CartPoleEnv) and all(
        isinstance(other, CartPoleEnv)
        and (other.n_poles, other.markov, other.fitness, other.damping_steps, limit)
        == (base.n_poles, base.markov, base.fitness, base.damping_steps, max_steps)
        for other, limit in unwrapped
    ):
        return _pole_rollout(base, max_steps)
    if (
        type(base) is ClassicCartPole
        and base.render_mode != "human"
        and all(type(other) is ClassicCartPole and limit == max_steps for other, limit in unwrapped)
    ):
        return _cartpole_rollout(base, max_steps)
    if (
        type(base) is ClassicPendulum
        and base.render_mode != "human"
        and all(type(other) is ClassicPendulum and limit == max_steps for other, limit in unwrapped)
    ):
        return _pendulum_rollout(base, max_steps)
    return None
