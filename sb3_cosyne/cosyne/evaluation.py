"""Batched evaluation of many networks on the lanes of a VecEnv.

Each lane of the VecEnv runs one episode of one network at a time; at every step one Numba call
(:func:`~sb3_cosyne.cosyne.lane_step.advance_lanes`) records the step of every busy lane and computes the
next actions of all of them, each from its own parameter vector. A lane whose episode ends takes the next
episode still to run, so lanes stay busy. Every episode starts from ``reset(seed=...)`` with its own seed,
so a network's return does not depend on which lane ran it or on how many lanes there are. Per step,
Python only steps the envs and calls the callback.
"""

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from gymnasium import spaces
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv

from sb3_cosyne.cosyne.lane_step import (
    ACTION,
    ENDED,
    INVALID,
    JOB,
    LENGTH,
    MEAN,
    OVER,
    RETURN,
    REWARD,
    SQ_SUM,
    STD,
    SUM,
    advance_lanes,
    box_actions,
    direct_call,
)
from sb3_cosyne.cosyne.policies import CoSyNEPolicy
from sb3_cosyne.cosyne.spaces import outputs_to_actions, preprocess_obs
from sb3_cosyne.cosyne.torch_forward import TorchForward


class EnvStepError(RuntimeError):
    """An env raised while a network was being evaluated; the message names the network and the lane."""


@dataclass
class EvaluationResult:
    """
    What a batch of episodes produced.

    :param returns: episode returns, shape ``(n_networks, n_episodes)``; NaN where the env produced
        a non-finite observation or reward
    :param lengths: episode lengths, same shape
    :param obs_count: number of observations seen (counted only when normalising)
    :param obs_sum: sum of the raw flattened observations (for normalisation statistics)
    :param obs_sq_sum: sum of their squares
    :param aborted: True when a callback asked to stop before every episode finished
    """

    returns: np.ndarray
    lengths: np.ndarray
    obs_count: int
    obs_sum: np.ndarray
    obs_sq_sum: np.ndarray
    aborted: bool = False


class _VecLanes:
    """Lanes of any VecEnv: all lanes step together; resets go through ``env_method`` to pass a seed."""

    def __init__(self, env: VecEnv) -> None:
        self.env = env
        self.actions: np.ndarray | None = None
        # All lanes step at once: an error cannot be traced to one of them.
        self.lane: int | None = None

    def reset(self, lane: int, seed: int):
        return self.env.env_method("reset", seed=int(seed), indices=[lane])[0][0]

    def step(self, busy: list[int], actions: np.ndarray | list, obs_out: np.ndarray, lane_out: np.ndarray) -> None:
        actions = np.asarray(actions)
        if self.actions is None:
            # Idle lanes must still receive a valid action; their transitions are ignored.
            self.actions = np.repeat(actions[busy[:1]], self.env.num_envs, axis=0)
        # A new array each step: an env (or a VecEnv wrapper) may keep the actions it was given.
        self.actions = self.actions.copy()
        self.actions[busy] = actions[busy]
        obs, rewards, dones, _ = self.env.step(self.actions)
        obs_out[busy] = obs[busy]
        lane_out[busy, REWARD] = rewards[busy]
        lane_out[busy, OVER] = dones[busy]


class _DummyLanes:
    """Lanes of a DummyVecEnv, stepped directly: idle lanes cost nothing and no infos are copied."""

    def __init__(self, env: DummyVecEnv) -> None:
        self.envs = env.envs
        #: the lane stepped last, which names the culprit when an env raises
        self.lane: int | None = None

    def reset(self, lane: int, seed: int):
        return self.envs[lane].reset(seed=int(seed))[0]

    def step(self, busy: list[int], actions: np.ndarray | list, obs_out: np.ndarray, lane_out: np.ndarray) -> None:
        envs = self.envs
        for lane in busy:
            self.lane = lane
            obs, reward, terminated, truncated, _ = envs[lane].step(actions[lane])
            obs_out[lane] = obs
            lane_out[lane, REWARD] = reward
            lane_out[lane, OVER] = terminated or truncated


def _make_lanes(env: VecEnv):
    return _DummyLanes(env) if isinstance(env, DummyVecEnv) else _VecLanes(env)


class _Actions:
    """
    Turns every lane's outputs into its action: Discrete actions come from the kernel as ints (Python ints pass
    gymnasium's checks much faster than numpy scalars), float Box actions from the kernel too
    (:func:`~sb3_cosyne.cosyne.lane_step.box_actions`, into a fresh array each step, since an env may keep the
    action it was given), other spaces go through ``outputs_to_actions``.
    """

    def __init__(self, action_space: spaces.Space, num_envs: int) -> None:
        self.space = action_space
        self.discrete = isinstance(action_space, spaces.Discrete)
        self.start = int(action_space.start) if self.discrete else 0
        self.box = isinstance(action_space, spaces.Box) and np.issubdtype(action_space.dtype, np.floating)
        #: the bounds the kernel squashes Box actions into (no columns: the kernel computes none)
        self.bounds = np.zeros((3, 0))
        #: what the kernel fills with Box actions: shape and dtype
        self.buffer_shape, self.dtype = (num_envs, 0), np.dtype(np.float64)
        if self.box:
            low, high = action_space.low, action_space.high
            # The span in the space's dtype first, as numpy promotes it in outputs_to_actions.
            self.bounds = np.stack([low.ravel(), (high - low).ravel(), high.ravel()]).astype(np.float64)
            self.buffer_shape, self.dtype = (num_envs, self.bounds.shape[1]), action_space.dtype
            self.shape = (num_envs, *action_space.shape)

    def buffer(self) -> np.ndarray:
        """An array for the kernel's Box actions."""
        return np.empty(self.buffer_shape, dtype=self.dtype)

    def __call__(self, outputs: np.ndarray, lane_info: np.ndarray, box: np.ndarray) -> np.ndarray | list:
        """
        :param outputs: every lane's outputs (zeros for idle lanes)
        :param lane_info: every lane's Discrete action in its ``ACTION`` column
        :param box: every lane's Box action, as the kernel computed them from ``outputs``
        :return: one action per lane
        """
        if self.discrete:
            return lane_info[:, ACTION].tolist()
        if self.box:
            return box if box.shape == self.shape else box.reshape(self.shape)
        return outputs_to_actions(outputs, self.space)


def evaluate_networks(
    env: VecEnv,
    policy: CoSyNEPolicy,
    params: np.ndarray,
    seeds: np.ndarray,
    obs_stats: tuple[np.ndarray | None, np.ndarray | None] = (None, None),
    on_step: Callable[[int], bool] | None = None,
    on_invalid: Callable[[int, int, str], None] | None = None,
    torch_forward: TorchForward | None = None,
    first_network: int = 0,
    first_episode: int = 0,
) -> EvaluationResult:
    """
    Run ``seeds.shape[1]`` episodes of each network on the lanes of ``env``.

    :param env: the VecEnv whose lanes run the episodes
    :param policy: the policy whose architecture the parameter vectors fill
    :param params: one parameter vector per network, shape ``(n_networks, num_params)``
    :param seeds: reset seed of each episode, shape ``(n_networks, n_episodes)``
    :param obs_stats: observation mean and standard deviation to normalise with, or ``(None, None)``
    :param on_step: called after every batched step with the number of env steps taken; returning
        False aborts the evaluation
    :param on_invalid: called with (network, step, what) when an env returns a non-finite observation
        or reward; that episode ends and its return is NaN
    :param torch_forward: run the networks with this torch forward (for ``env.num_envs`` lanes) instead of Numba's
    :param first_network: number of the first network in error messages (when these networks are part of a larger
        call, as an evaluator's block is)
    :param first_episode: number of the first episode in error messages
    :raises EnvStepError: when the env raises, naming the network and the lane
    :return: the episodes' returns and lengths and the observation statistics
    """
    n_networks, n_episodes = seeds.shape
    n_jobs = n_networks * n_episodes
    num_envs = env.num_envs
    lanes = _make_lanes(env)
    params = np.ascontiguousarray(params, dtype=np.float64)
    n_params = params.shape[1]
    mean, std = obs_stats
    normalize = mean is not None
    obs_space = env.observation_space

    returns = np.zeros((n_networks, n_episodes))
    lengths = np.zeros((n_networks, n_episodes), dtype=np.int64)
    lane_info = np.zeros((num_envs, 3), dtype=np.int64)
    lane_info[:, JOB] = -1
    lane_job = lane_info[:, JOB]
    lane_out = np.zeros((num_envs, 4))
    lane_nets = np.zeros((num_envs, n_params + policy.state_dim))
    # float64 whatever the space's dtype (casting is exact, as preprocess_obs's), so that the kernel has one signature
    obs_buf = np.zeros((num_envs, *obs_space.shape))
    # Discrete observations are one-hot encoded by numpy; the kernel reads all others as they are.
    one_hot = isinstance(obs_space, (spaces.Discrete, spaces.MultiDiscrete))
    inputs = np.zeros((num_envs, policy.obs_dim)) if one_hot else obs_buf.reshape(num_envs, -1)
    stats = np.zeros((6, policy.obs_dim))
    if normalize:
        stats[MEAN], stats[STD] = mean, std
    outputs = np.zeros((num_envs, int(policy.layer_sizes[-1])))
    to_actions = _Actions(env.action_space, num_envs)
    box = to_actions.buffer()
    network = (policy.layer_sizes, policy.with_bias, policy.activation_code)
    kernel_args = (lane_info, lane_out, inputs, lane_nets, stats, normalize, *network)
    net_inputs = outputs
    if torch_forward is not None:
        torch_forward.load(params)
        # The kernel leaves the networks' inputs here for torch.
        net_inputs = np.zeros((num_envs, int(policy.layer_sizes[0])))
    kernel = direct_call(advance_lanes, True, True, *kernel_args, True, net_inputs, 0, to_actions.bounds, box)
    obs_count = 0
    next_job = 0

    def env_error(error: Exception, lane: int | None) -> EnvStepError:
        if lane is None:
            busy = ", ".join(
                f"{lane} (network {lane_job[lane] // n_episodes + first_network})" for lane in np.flatnonzero(lane_job >= 0)
            )
            where = f"one of the lanes {busy}"
        else:
            network, episode = divmod(int(lane_job[lane]), n_episodes)
            where = f"lane {lane} while evaluating network {network + first_network} (episode {episode + first_episode})"
        return EnvStepError(f"the env raised {type(error).__name__}: {error} in {where}; the population is left as it was")

    def start(lane: int) -> None:
        nonlocal next_job
        lane_out[lane, RETURN] = lane_out[lane, LENGTH] = 0.0
        if next_job >= n_jobs:
            lane_job[lane] = -1
            return
        job = next_job
        next_job += 1
        lane_job[lane] = job
        lane_nets[lane, :n_params] = params[job // n_episodes]
        lane_nets[lane, n_params:] = 0.0
        if torch_forward is not None:
            torch_forward.assign(lane, job // n_episodes)
        try:
            obs_buf[lane] = lanes.reset(lane, seeds[job // n_episodes, job % n_episodes])
        except Exception as error:
            raise env_error(error, lane) from error

    def record_episode(lane: int) -> tuple[int, int]:
        """Write the lane's episode so far into the results; return its network and episode."""
        net, episode = divmod(int(lane_job[lane]), n_episodes)
        returns[net, episode] = lane_out[lane, RETURN]
        lengths[net, episode] = int(lane_out[lane, LENGTH])
        return net, episode

    def advance(record: bool, commit: bool) -> int:
        nonlocal box
        if one_hot:
            inputs[busy] = preprocess_obs(obs_buf[busy], obs_space)
        if to_actions.box:
            box = to_actions.buffer()
        if torch_forward is None:
            return kernel(record, commit, *kernel_args, True, outputs, to_actions.start, to_actions.bounds, box)
        n_ended = kernel(record, commit, *kernel_args, False, net_inputs, 0, to_actions.bounds, box)
        if not n_ended:
            outputs[:], hidden = torch_forward(net_inputs)
            idle = lane_job < 0
            outputs[idle] = 0.0
            lane_info[:, ACTION] = outputs.argmax(axis=1) + to_actions.start
            if to_actions.box:
                box_actions(outputs, to_actions.bounds, box)
            if hidden is not None:
                lane_nets[:, n_params:] = hidden
        return n_ended

    def result(aborted: bool = False) -> EvaluationResult:
        return EvaluationResult(returns, lengths, obs_count, stats[SUM].copy(), stats[SQ_SUM].copy(), aborted)

    for lane in range(min(num_envs, n_jobs)):
        start(lane)
    busy = [lane for lane in range(num_envs) if lane_job[lane] >= 0]
    if busy:
        advance(False, False)
    while busy:
        # The inputs the last call read are stepped now: their statistics count from the next call on.
        stepped = len(busy) if normalize else 0
        try:
            lanes.step(busy, to_actions(outputs, lane_info, box), obs_buf, lane_out)
        except Exception as error:
            raise env_error(error, lanes.lane) from error
        # Records this step and, unless an episode ended, computes the next actions.
        n_ended = advance(True, stepped > 0)
        obs_count += stepped
        if on_step is not None and not on_step(len(busy)):
            for lane in busy:
                record_episode(lane)
            return result(aborted=True)
        if n_ended:
            for lane in busy:
                if lane_info[lane, ENDED]:
                    net, episode = record_episode(lane)
                    if lane_info[lane, ENDED] == INVALID and on_invalid is not None:
                        what = "reward" if not np.isfinite(lane_out[lane, REWARD]) else "observation"
                        on_invalid(net, int(lengths[net, episode]), what)
                    start(lane)
            busy = [lane for lane in range(num_envs) if lane_job[lane] >= 0]
            if busy:
                advance(False, False)
    return result()
