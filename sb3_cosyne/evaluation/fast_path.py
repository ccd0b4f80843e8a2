"""The compiled fast path: envs whose whole episodes CoSyNE can run in one Numba loop.

The envs: the paper's pole-balancing tasks and gymnasium's CartPole, Pendulum, Acrobot, MountainCar and
MountainCarContinuous. An env qualifies when every lane of a ``DummyVecEnv`` is one of these envs (the exact
class, with the same settings) wrapped only by the standard wrappers that change nothing but bookkeeping (SB3's
``Monitor``, gymnasium's ``TimeLimit``, ``OrderEnforcing``, ``PassiveEnvChecker``). Anything else runs on the
lanes of the VecEnv.
"""

from collections.abc import Callable

import gymnasium as gym
import numpy as np
from gymnasium.wrappers import OrderEnforcing, PassiveEnvChecker, TimeLimit
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv

from sb3_cosyne.envs.cartpole import CartPoleEnv
from sb3_cosyne.envs.classic_control import PORTS, ClassicPort
from sb3_cosyne.evaluation.classic_rollout import ClassicEpisodes, port_rollouts
from sb3_cosyne.evaluation.evaluator import tighter_cap
from sb3_cosyne.evaluation.pole_rollout import normalization, run_pole_rollouts
from sb3_cosyne.evaluation.result import EvaluationResult
from sb3_cosyne.networks.spec import NetworkSpec

STANDARD_WRAPPERS = (Monitor, TimeLimit, OrderEnforcing, PassiveEnvChecker)

#: evaluates ``params`` (one row per network) from ``seeds`` (networks × episodes) with observation statistics,
#: and optionally the call's own episode cap (``EvaluationCall.max_steps``)
CompiledRollout = Callable[..., EvaluationResult]


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


class StepLimit:
    """
    Where a compiled rollout stops an episode: the env's time limit or the episode cap, whichever comes first.

    :param time_limit: the env's ``TimeLimit`` (None: none)
    :param cap: the episode cap (None: none)
    """

    def __init__(self, time_limit: int | None, cap: int | None) -> None:
        self.time_limit, self.cap = time_limit, cap
        limits = [limit for limit in (time_limit, cap) if limit is not None]
        #: the step at which episodes stop
        self.steps = min(limits) if limits else np.iinfo(np.int64).max
        #: whether the cap, not the env, stops episodes there
        self.cuts = cap is not None and (time_limit is None or cap < time_limit)

    def tightened(self, cap: int | None) -> "StepLimit":
        """This limit with a call's own episode cap on top (None: this limit)."""
        return StepLimit(self.time_limit, tighter_cap(self.cap, cap))

    def result(self, shape: tuple, returns, lengths, count, obs_sum, obs_sq_sum) -> EvaluationResult:
        """The result of a rollout over flattened episodes, in the ``(networks, episodes)`` shape of ``seeds``."""
        cut = int(np.count_nonzero(lengths >= self.steps)) if self.cuts else 0
        return EvaluationResult(
            returns.reshape(shape), lengths.reshape(shape), int(count), obs_sum, obs_sq_sum, cut_episodes=cut
        )


def _pole_rollout(env: CartPoleEnv, limit: StepLimit) -> CompiledRollout:
    start = env._initial_state.copy()
    damping_steps = env.damping_steps if env.fitness == "damping" else 0

    def rollout(
        network: NetworkSpec, params: np.ndarray, seeds: np.ndarray, obs_stats: tuple, max_steps: int | None = None
    ) -> EvaluationResult:
        # The task is deterministic: the seeds only say how many episodes each network plays.
        shape = seeds.shape
        call_limit = limit.tightened(max_steps)
        return call_limit.result(
            shape,
            *run_pole_rollouts(
                network,
                np.repeat(params, shape[1], axis=0),
                np.repeat(start[None], seeds.size, axis=0),
                env.markov,
                obs_stats,
                call_limit.steps,
                damping_steps,
            ),
        )

    return rollout


def _seeded_starts(env: gym.Env, seeds: np.ndarray, state: Callable[[gym.Env], np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """
    The env's state and observation after ``reset(seed=s)`` for every seed, one row per episode (repeated seeds
    reset once).

    :param state: reads the env's state in the layout the port's step reads
    """
    # Plain Python for the few seeds of a generation: np.unique and np.stack cost more than the resets' bookkeeping.
    flat = seeds.ravel().tolist()
    unique = sorted(set(flat))
    row = {seed: i for i, seed in enumerate(unique)}
    states = observations = None
    for i, seed in enumerate(unique):
        obs, _ = env.reset(seed=int(seed))
        start = state(env)
        if states is None:
            states, observations = np.empty((len(unique), start.size)), np.empty((len(unique), np.size(obs)))
        states[i] = start
        observations[i] = np.ravel(obs)
    episode_seed = np.fromiter((row[seed] for seed in flat), dtype=np.intp, count=len(flat))
    return states.take(episode_seed, axis=0), observations.take(episode_seed, axis=0)


def _classic_rollout(env: gym.Env, limit: StepLimit, port: ClassicPort) -> CompiledRollout:
    """The rollout of a classic-control port: from the env's own seeded resets, then the port's compiled kernel."""
    constants = port.constants(env)
    discrete = isinstance(env.action_space, gym.spaces.Discrete)
    low, high = (0.0, 0.0) if discrete else (float(env.action_space.low[0]), float(env.action_space.high[0]))
    obs_dim = int(np.prod(env.observation_space.shape))

    def rollout(
        network: NetworkSpec, params: np.ndarray, seeds: np.ndarray, obs_stats: tuple, max_steps: int | None = None
    ) -> EvaluationResult:
        call_limit = limit.tightened(max_steps)
        obs_norm, normalize = normalization(obs_stats, obs_dim)
        starts, first_obs = _seeded_starts(env, seeds, port.state)
        returns, lengths, count, moments = port_rollouts(port.code, network.activation_code)(
            ClassicEpisodes(
                np.ascontiguousarray(np.repeat(params, seeds.shape[1], axis=0), dtype=np.float64),
                network.layer_sizes,
                network.with_bias,
                starts,
                first_obs,
                constants,
                low,
                high,
                obs_norm,
                normalize,
                call_limit.steps,
            )
        )
        return call_limit.result(seeds.shape, returns, lengths, count, moments[0], moments[1])

    return rollout


def _lane_settings(env: gym.Env | None, max_steps: int | None) -> tuple | None:
    """What a lane's compiled rollout depends on (lanes must agree on it), or None when it has none."""
    if isinstance(env, CartPoleEnv):
        return CartPoleEnv, env.n_poles, env.markov, env.fitness, env.damping_steps, max_steps
    port = PORTS.get(type(env))
    if port is None or env.render_mode == "human" or not port.supports(env):
        return None
    return type(env), max_steps, *port.constants(env).tolist()


def compiled_rollout(env: VecEnv, max_episode_steps: int | None = None) -> CompiledRollout | None:
    """
    The compiled rollout for a training env, if it has one.

    :param env: the training VecEnv
    :param max_episode_steps: the episode cap: episodes that have not ended after this many steps are cut (None:
        only the env's time limit ends them)
    :return: a function evaluating networks in one compiled loop, or None when the env must run on its lanes
    """
    if not isinstance(env, DummyVecEnv):
        return None
    lanes = [unwrap_standard(lane) for lane in env.envs]
    settings = [_lane_settings(base, max_steps) for base, max_steps in lanes]
    if settings[0] is None or any(other != settings[0] for other in settings[1:]):
        return None
    base, time_limit = lanes[0]
    limit = StepLimit(time_limit, max_episode_steps)
    if isinstance(base, CartPoleEnv):
        return _pole_rollout(base, limit)
    return _classic_rollout(base, limit, PORTS[type(base)])
