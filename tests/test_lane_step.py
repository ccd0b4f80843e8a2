"""The compiled lane step computes exactly what the numpy formulation computes, bit for bit."""

import gymnasium as gym
import numpy as np
import pytest
from conftest import ACTION_SPACES, OBSERVATION_SPACES, SpaceEnv
from gymnasium import spaces
from numba import njit
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import DummyVecEnv, VecMonitor

from sb3_cosyne import CoSyNE
from sb3_cosyne.algorithm.policies import MlpPolicy, RecurrentPolicy
from sb3_cosyne.evaluation.lane_step import (
    JOB,
    NEXT_SQ_SUM,
    NEXT_SUM,
    batch_statistics,
    direct_call,
    pairwise_sum,
)
from sb3_cosyne.evaluation.lanes import evaluate_networks
from sb3_cosyne.networks.spaces import box_actions, normalize, outputs_to_actions, preprocess_obs


def wide_values(rng: np.random.Generator, shape) -> np.ndarray:
    """Values over many orders of magnitude, so that any change of summation order shows."""
    return rng.normal(size=shape) * 10.0 ** rng.uniform(-6, 6, size=shape)


@pytest.mark.parametrize("n", [0, 1, 2, 7, 8, 9, 15, 16, 17, 127, 128, 129, 300, 1000])
def test_pairwise_sum_is_numpys(n):
    values = wide_values(np.random.default_rng(n), n)
    assert pairwise_sum(values) == np.add.reduce(values)


@pytest.mark.parametrize("n_inputs", [1, 2, 5])
@pytest.mark.parametrize("n_lanes", [1, 3, 9, 40, 150])
def test_batch_statistics_add_as_numpy_adds(n_inputs, n_lanes):
    rng = np.random.default_rng(n_lanes * 10 + n_inputs)
    inputs = wide_values(rng, (n_lanes, n_inputs)).astype(np.float32)
    lane_info = np.zeros((n_lanes, 3), dtype=np.int64)
    lane_info[rng.random(n_lanes) < 0.3, JOB] = -1
    lane_info[0, JOB] = 0
    busy = lane_info[:, JOB] >= 0
    stats = np.zeros((6, n_inputs))
    batch_statistics(lane_info, inputs, stats)
    batch = inputs[busy].astype(np.float64)
    np.testing.assert_array_equal(stats[NEXT_SUM], batch.sum(axis=0))
    np.testing.assert_array_equal(stats[NEXT_SQ_SUM], np.square(batch).sum(axis=0))


@pytest.mark.parametrize(
    "space",
    [
        spaces.Box(np.array([-2.0, 0.0], dtype=np.float32), np.array([2.0, 1.0], dtype=np.float32)),
        spaces.Box(-0.3, 0.7, shape=(2, 2), dtype=np.float64),
        spaces.Box(-1.0, 1.0, shape=(1,), dtype=np.float32),
    ],
)
def test_box_actions_are_outputs_to_actions(space):
    n = int(np.prod(space.shape))
    outputs = wide_values(np.random.default_rng(0), (500, n))
    outputs[0], outputs[1], outputs[2] = np.nan, np.inf, -np.inf
    bounds = np.stack([space.low.ravel(), (space.high - space.low).ravel(), space.high.ravel()]).astype(np.float64)
    actions = np.empty((500, n), dtype=space.dtype)
    box_actions(outputs, bounds, actions)
    expected = outputs_to_actions(outputs, space)
    np.testing.assert_array_equal(actions.reshape(expected.shape), expected)
    assert actions.dtype == expected.dtype


@pytest.mark.parametrize("rows", [slice(None), slice(None, None, 2)])
def test_direct_call_computes_what_the_dispatcher_computes(rows):
    space = spaces.Box(-2.0, 3.0, shape=(3,), dtype=np.float32)
    outputs = wide_values(np.random.default_rng(1), (100, 3))[rows]
    n = outputs.shape[0]
    bounds = np.stack([space.low, space.high - space.low, space.high]).astype(np.float64)
    through_dispatcher, direct = np.empty((n, 3), np.float32), np.empty((n, 3), np.float32)
    box_actions(outputs, bounds, through_dispatcher)
    direct_call(box_actions, outputs, bounds, direct)(outputs, bounds, direct)
    np.testing.assert_array_equal(direct, through_dispatcher)


def test_direct_call_resolves_once_per_argument_types():
    bounds, outputs = np.zeros((3, 2)), np.zeros((4, 2))
    first = direct_call(box_actions, outputs, bounds, np.empty((4, 2), np.float32))
    assert direct_call(box_actions, np.ones((9, 2)), bounds, np.empty((9, 2), np.float32)) is first
    # another dtype, or a layout the first does not read right (rows apart), is another compiled function
    assert direct_call(box_actions, outputs, bounds, np.empty((4, 2))) is not first
    assert direct_call(box_actions, np.zeros((8, 2))[::2], bounds, np.empty((4, 2), np.float32)) is not first
    readonly = outputs.copy()
    readonly.flags.writeable = False
    assert direct_call(box_actions, readonly, bounds, np.empty((4, 2), np.float32)) is not first


def test_direct_call_keys_ints_by_their_numba_type():
    @njit
    def identity(value):
        return value

    assert direct_call(identity, 2**62) is direct_call(identity, 5)
    big = direct_call(identity, 2**63)  # beyond int64: Numba types it uint64
    assert big is not direct_call(identity, 5)
    assert big(2**63) == 2**63


class ActionKeeper(gym.Wrapper):
    """Keeps every action it is given, as a recording wrapper would."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        self.given: list[tuple[np.ndarray, np.ndarray]] = []

    def step(self, action):
        self.given.append((action, np.array(action, copy=True)))
        return self.env.step(action)


@pytest.mark.parametrize("vec_wrapper", [None, VecMonitor])
@pytest.mark.parametrize("n_lanes", [1, 3])
def test_box_actions_an_env_keeps_stay_as_given(n_lanes, vec_wrapper):
    lanes = DummyVecEnv([lambda: ActionKeeper(gym.make("Pendulum-v1")) for _ in range(n_lanes)])
    # a VecEnv wrapper makes the lanes step together, through the VecEnv's step
    env = lanes if vec_wrapper is None else vec_wrapper(lanes)
    policy = MlpPolicy(env.observation_space, env.action_space, net_arch=[4])
    params = np.random.default_rng(0).uniform(-2, 2, size=(4, policy.num_params))
    evaluate_networks(env, policy, params, np.arange(4).reshape(4, 1))
    for lane_env in lanes.envs:
        given = lane_env.get_wrapper_attr("given")
        assert len(given) >= 200
        assert all(np.array_equal(kept, copy) for kept, copy in given)
        # the actions differ from step to step, so a reused buffer would have shown
        assert len({float(copy[0]) for _, copy in given}) > 10


def numpy_evaluation(env: DummyVecEnv, policy, params, seeds, obs_stats):
    """The evaluation written with the numpy functions, lane after lane as ``evaluate_networks`` schedules them."""
    mean, std = obs_stats
    n_networks, n_episodes = seeds.shape
    returns, lengths = np.zeros(seeds.shape), np.zeros(seeds.shape, dtype=np.int64)
    obs_sum = obs_sq_sum = np.zeros(policy.obs_dim)
    count, jobs = 0, iter(range(seeds.size))
    lane_job, obs, state = {}, {}, {}

    def start(lane):
        job = next(jobs, None)
        if job is None:
            lane_job.pop(lane)
            return
        lane_job[lane] = job
        obs[lane] = env.envs[lane].reset(seed=int(seeds.flat[job]))[0]
        state[lane] = policy.initial_state(1)

    for lane in range(min(env.num_envs, seeds.size)):
        lane_job[lane] = None
        start(lane)
    while lane_job:
        busy = sorted(lane_job)
        inputs = preprocess_obs(np.stack([obs[lane] for lane in busy]), env.observation_space)
        if mean is not None:
            count += len(busy)
            obs_sum, obs_sq_sum = obs_sum + inputs.sum(axis=0), obs_sq_sum + np.square(inputs).sum(axis=0)
            inputs = normalize(inputs, mean, std)
        for row, lane in enumerate(busy):
            net, episode = divmod(lane_job[lane], n_episodes)
            outputs = policy.batched_outputs(params[net][None], inputs[row : row + 1], state[lane])
            action = outputs_to_actions(outputs, env.action_space)[0]
            obs[lane], reward, terminated, truncated, _ = env.envs[lane].step(action)
            lengths[net, episode] += 1
            returns[net, episode] += reward
            if terminated or truncated:
                start(lane)
    return returns, lengths, count, obs_sum, obs_sq_sum


CASES = [
    ("Pendulum-v1", MlpPolicy, 3, True),
    ("CartPole-v1", RecurrentPolicy, 2, True),
    ("MountainCarContinuous-v0", MlpPolicy, 1, True),
    ("single-input", MlpPolicy, 9, True),
    ("multidiscrete", MlpPolicy, 2, False),
    ("discrete-start", MlpPolicy, 3, False),
]


def make_lanes(name: str, n_lanes: int) -> DummyVecEnv:
    if name == "single-input":
        return DummyVecEnv([lambda: SpaceEnv(spaces.Box(-1.0, 1.0, (1,), np.float32), ACTION_SPACES["box"])] * n_lanes)
    if name == "multidiscrete":
        return DummyVecEnv([lambda: SpaceEnv(OBSERVATION_SPACES["multidiscrete"], ACTION_SPACES["multidiscrete"])] * n_lanes)
    if name == "discrete-start":
        return DummyVecEnv([lambda: SpaceEnv(OBSERVATION_SPACES["discrete"], spaces.Discrete(3, start=-1))] * n_lanes)
    return make_vec_env(name, n_envs=n_lanes)


@pytest.mark.parametrize("name, policy_class, n_lanes, normalized", CASES)
def test_evaluation_is_the_numpy_formulation_bit_for_bit(name, policy_class, n_lanes, normalized):
    policy = policy_class(make_lanes(name, 1).observation_space, make_lanes(name, 1).action_space, net_arch=[3])
    params = np.random.default_rng(0).uniform(-2, 2, size=(5, policy.num_params))
    seeds = np.random.default_rng(1).integers(0, 2**31 - 1, size=(5, 2))
    rng = np.random.default_rng(2)
    stats = (rng.normal(size=policy.obs_dim), rng.uniform(0.2, 2.0, policy.obs_dim)) if normalized else (None, None)
    result = evaluate_networks(make_lanes(name, n_lanes), policy, params, seeds, stats)
    returns, lengths, count, obs_sum, obs_sq_sum = numpy_evaluation(make_lanes(name, n_lanes), policy, params, seeds, stats)
    np.testing.assert_array_equal(result.returns, returns)
    np.testing.assert_array_equal(result.lengths, lengths)
    assert result.obs_count == count
    np.testing.assert_array_equal(result.obs_sum, obs_sum)
    np.testing.assert_array_equal(result.obs_sq_sum, obs_sq_sum)


def test_aborted_evaluation_keeps_the_episodes_so_far():
    policy = MlpPolicy(*(lambda e: (e.observation_space, e.action_space))(gym.make("Pendulum-v1")))
    params = np.random.default_rng(0).uniform(-1, 1, size=(3, policy.num_params))
    calls = []
    result = evaluate_networks(
        make_vec_env("Pendulum-v1", n_envs=2), policy, params, np.zeros((3, 1), dtype=np.int64),
        (np.zeros(3), np.ones(3)), on_step=lambda n, _: calls.append(n) or len(calls) < 7,
    )  # fmt: skip
    assert result.aborted
    np.testing.assert_array_equal(result.lengths[:, 0], [7, 7, 0])
    assert result.returns[0, 0] < 0 and result.returns[2, 0] == 0.0
    # Only the observations the 7 steps were taken from count.
    assert result.obs_count == 14


def test_env_ids_are_made_without_a_render_mode():
    # SB3's rgb_array makes LunarLander simulate its exhaust particles, for nothing during training.
    assert CoSyNE("MlpPolicy", "CartPole-v1").env.envs[0].unwrapped.render_mode is None
    env = gym.make("CartPole-v1", render_mode="rgb_array")
    assert CoSyNE("MlpPolicy", env).env.envs[0].unwrapped.render_mode == "rgb_array"
