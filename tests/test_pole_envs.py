"""Pole-balancing envs: physics against an independent reference, episode rules, damping fitness, generalization test."""

import math
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import sb3_cosyne  # noqa: F401  (registers the envs)
from sb3_cosyne.envs import CartPoleEnv, generalization_starts, generalization_successes, generalization_test
from sb3_cosyne.envs.physics import advance, advance_lanes, force_from_action, has_failed, sin_cos

ENV_IDS = [
    "sb3_cosyne/SinglePole-v0",
    "sb3_cosyne/SinglePoleNoVel-v0",
    "sb3_cosyne/DoublePole-v0",
    "sb3_cosyne/DoublePoleNoVel-v0",
]

# ---------------------------------------------------------------------------------------------------------------
# Reference simulator: plain floats, the equations written out separately for one and two poles.
# ---------------------------------------------------------------------------------------------------------------
G, MC, MUC, MUP = -9.8, 1.0, 0.0005, 0.000002
L1, M1, L2, M2 = 0.5, 0.1, 0.05, 0.01


def ref_force(a):
    a = max(-1.0, min(1.0, a))
    f = 10.0 * a
    if abs(f) < 10.0 / 256.0:
        f = -10.0 / 256.0 if f < 0.0 else 10.0 / 256.0
    return f


def ref_pole_terms(theta, theta_dot, m, half_length):
    """(F̃, m̃, hinge term) of one pole, straight from the paper's Appendix A."""
    hinge = MUP * theta_dot / (m * half_length)
    f_eff = m * half_length * theta_dot**2 * math.sin(theta) + 0.75 * m * math.cos(theta) * (hinge + G * math.sin(theta))
    m_eff = m * (1.0 - 0.75 * math.cos(theta) ** 2)
    return f_eff, m_eff, hinge


def ref_deriv_one(s, f):
    x, xd, t1, t1d = s
    f1, m1, h1 = ref_pole_terms(t1, t1d, M1, L1)
    sgn = 1.0 if xd >= 0.0 else -1.0
    xdd = (f - MUC * sgn + f1) / (MC + m1)
    t1dd = -(3.0 / (4.0 * L1)) * (xdd * math.cos(t1) + G * math.sin(t1) + h1)
    return [xd, xdd, t1d, t1dd]


def ref_deriv_two(s, f):
    x, xd, t1, t1d, t2, t2d = s
    f1, m1, h1 = ref_pole_terms(t1, t1d, M1, L1)
    f2, m2, h2 = ref_pole_terms(t2, t2d, M2, L2)
    sgn = 1.0 if xd >= 0.0 else -1.0
    xdd = (f - MUC * sgn + f1 + f2) / (MC + m1 + m2)
    t1dd = -(3.0 / (4.0 * L1)) * (xdd * math.cos(t1) + G * math.sin(t1) + h1)
    t2dd = -(3.0 / (4.0 * L2)) * (xdd * math.cos(t2) + G * math.sin(t2) + h2)
    return [xd, xdd, t1d, t1dd, t2d, t2dd]


def ref_advance(state, action):
    deriv = ref_deriv_one if len(state) == 4 else ref_deriv_two
    f = ref_force(action)
    s = [float(v) for v in state]
    h = 0.01
    for _ in range(2):
        k1 = deriv(s, f)
        k2 = deriv([si + h / 2 * ki for si, ki in zip(s, k1, strict=True)], f)
        k3 = deriv([si + h / 2 * ki for si, ki in zip(s, k2, strict=True)], f)
        k4 = deriv([si + h * ki for si, ki in zip(s, k3, strict=True)], f)
        s = [si + h / 6 * (a + 2 * b + 2 * c + d) for si, a, b, c, d in zip(s, k1, k2, k3, k4, strict=True)]
    return np.array(s)


def lqr_gain(n_state):
    """A discrete LQR gain from the reference simulator linearised at rest (ẋ offset to stay off sgn's jump)."""
    s0 = np.zeros(n_state)
    s0[1] = 0.5
    a = np.zeros((n_state, n_state))
    for j in range(n_state):
        d = np.zeros(n_state)
        d[j] = 1e-6
        a[:, j] = (ref_advance(s0 + d, 0.5) - ref_advance(s0 - d, 0.5)) / 2e-6
    b = ((ref_advance(s0, 0.6) - ref_advance(s0, 0.4)) / 0.2)[:, None]
    p = np.eye(n_state)
    for _ in range(3000):
        k = np.linalg.solve(np.eye(1) + b.T @ p @ b, b.T @ p @ a)
        p = np.eye(n_state) + a.T @ p @ (a - b @ k)
    return k[0]


@pytest.fixture(scope="module")
def double_gain():
    return lqr_gain(6)


def lqr_action(gain, state):
    return np.array([np.clip(-gain @ state, -1.0, 1.0)], dtype=np.float32)


# ---------------------------------------------------------------------------------------------------------------
# Physics
# ---------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("n_poles", [1, 2])
def test_trajectories_match_reference(n_poles):
    rng = np.random.default_rng(n_poles)
    env = CartPoleEnv(n_poles=n_poles)
    # A noisy stabilising controller keeps episodes long; near-zero actions exercise the 10/256 N clamp.
    # Episodes stop at 50 steps: the open-loop short pole grows rounding differences ~1.27x per step.
    gain = lqr_gain(2 + 2 * n_poles)
    tiny = [0.0, -0.0, 1e-4, -1e-4, 0.003, -0.003, 0.0039, -0.0039, 0.004, 1.5, -2.0]
    lengths = []
    for episode in range(10):
        env.reset()
        if episode == 0:  # the paper's start, at rest: exercises sgn(0) = +1 in the cart friction
            start = env.state
        else:
            start = rng.uniform(-1, 1, 2 + 2 * n_poles) * np.array([1.5, 0.5] + [0.05, 0.1] * n_poles)
        env.state = start
        reference = start.copy()
        for step in range(50):
            near_zero = rng.random() < 0.4
            a = rng.choice(tiny) if near_zero else float(np.clip(-gain @ reference, -1, 1)) + rng.uniform(-0.5, 0.5)
            a = float(np.float32(a))
            _, _, terminated, _, _ = env.step(np.array([a], dtype=np.float32))
            reference = ref_advance(reference, a)
            np.testing.assert_allclose(env.unwrapped.state, reference, rtol=0, atol=1e-9, err_msg=f"step {step}")
            if terminated:
                break
        lengths.append(step + 1)
    assert sum(lengths) > 300, lengths


def test_advance_is_pure_and_clamps_force():
    state = np.array([0.1, 0.2, 0.03, -0.1, 0.01, 0.2])
    before = state.copy()
    out = advance(state, 0.0)
    np.testing.assert_array_equal(state, before)
    # a = 0, tiny positive actions and -0.0 all push with +10/256 N; tiny negative ones with -10/256 N
    for a in (1e-9, 0.0039, -0.0):
        np.testing.assert_array_equal(advance(state, a), out)
    np.testing.assert_array_equal(advance(state, -1e-9), advance(state, -0.0039))
    np.testing.assert_array_equal(advance(state, 3.0), advance(state, 1.0))


def _ulps(value, reference):
    return np.abs(value - reference) / np.spacing(np.abs(reference))


@pytest.mark.parametrize(("bound", "max_ulps"), [(0.7, 1), (20.0, 1), (1e5, 2), (2.0**19, 2)])
def test_sin_cos_is_within_ulps_of_libm(bound, max_ulps):
    x = np.random.default_rng(0).uniform(-bound, bound, 200_000)
    sines, cosines = np.array([sin_cos(v) for v in x[:2000]]).T
    assert _ulps(sines, np.sin(x[:2000])).max() <= max_ulps
    assert _ulps(cosines, np.cos(x[:2000])).max() <= max_ulps
    # mostly the very value
    assert np.mean(sines == np.sin(x[:2000])) > 0.75
    for special in (0.0, np.pi / 2, np.pi, -np.pi / 4, 1e-300):
        s, c = sin_cos(special)
        assert abs(s - np.sin(special)) <= np.spacing(1.0) and abs(c - np.cos(special)) <= np.spacing(1.0)
    for bad in (np.nan, np.inf, -np.inf):
        assert np.isnan(sin_cos(bad)).all()


@pytest.mark.parametrize("n_poles", [1, 2])
def test_lanes_advance_as_each_cart_alone(n_poles):
    """Many carts advanced at once (the compiled rollouts) take the env's states, bit for bit."""
    rng = np.random.default_rng(n_poles)
    n_state, lanes = 2 + 2 * n_poles, 23
    states = rng.uniform(-1, 1, (n_state, lanes)) * np.array([1.0, 1.0] + [0.2, 1.0] * n_poles)[:, None]
    states[:, 0] = np.zeros(n_state)  # at rest: sgn(0) = +1
    alone = states.copy()
    work = np.empty((5, n_state, lanes))
    for _ in range(60):
        actions = rng.uniform(-1.5, 1.5, lanes)
        actions[:3] = (0.0, -0.0, np.nan)
        # the last lanes are left out, as a rollout leaves lanes without an episode
        busy = lanes - 4
        advance_lanes(states, np.array([force_from_action(a) for a in actions]), busy, work)
        for lane in range(busy):
            alone[:, lane] = advance(alone[:, lane].copy(), actions[lane])
        np.testing.assert_array_equal(states, alone)


def test_failure_bounds():
    one = np.zeros(4)
    two = np.zeros(6)
    assert not has_failed(one) and not has_failed(two)
    for state, index, bound in [(one, 0, 2.4), (one, 2, 0.2094384), (two, 0, 2.4), (two, 2, 0.628329), (two, 4, 0.628329)]:
        for sign in (1, -1):
            inside, outside = state.copy(), state.copy()
            inside[index] = sign * bound
            outside[index] = sign * (bound + 1e-9)
            assert not has_failed(inside)
            assert has_failed(outside)
    # 12° is the one-pole limit only
    assert not has_failed(np.array([0.0, 0.0, 0.3, 0.0, 0.3, 0.0]))


@pytest.mark.parametrize(
    ("env_id", "start", "fails"),
    [
        ("sb3_cosyne/SinglePole-v0", [2.39, 1.0, 0.0, 0.0], True),
        ("sb3_cosyne/SinglePole-v0", [2.3, 1.0, 0.0, 0.0], False),
        ("sb3_cosyne/SinglePole-v0", [-2.39, -1.0, 0.0, 0.0], True),
        ("sb3_cosyne/SinglePole-v0", [0.0, 0.0, 0.2, 1.0], True),
        ("sb3_cosyne/SinglePole-v0", [0.0, 0.0, 0.15, 0.0], False),
        ("sb3_cosyne/DoublePole-v0", [0.0, 0.0, 0.3, 0.0, 0.0, 0.0], False),
        ("sb3_cosyne/DoublePole-v0", [0.0, 0.0, -0.62, -1.0, 0.0, 0.0], True),
        ("sb3_cosyne/DoublePole-v0", [0.0, 0.0, 0.0, 0.0, 0.62, 2.0], True),
        ("sb3_cosyne/DoublePoleNoVel-v0", [2.39, 1.0, 0.0, 0.0, 0.0, 0.0], True),
    ],
)
def test_termination_in_env(env_id, start, fails):
    env = gym.make(env_id)
    env.reset()
    env.unwrapped.state = start
    _, reward, terminated, truncated, _ = env.step(np.array([0.0], dtype=np.float32))
    assert terminated is fails and truncated is False
    assert reward == (0.0 if fails else 1.0)


# ---------------------------------------------------------------------------------------------------------------
# Episode rules
# ---------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("env_id", ENV_IDS)
def test_return_is_steps_balanced(env_id):
    env = gym.make(env_id)
    env.reset()
    rewards = []
    states = []
    terminated = truncated = False
    while not (terminated or truncated):
        _, reward, terminated, truncated, _ = env.step(np.array([0.0], dtype=np.float32))
        rewards.append(reward)
        states.append(env.unwrapped.state)
    assert terminated and not truncated
    balanced = sum(not has_failed(s) for s in states)
    assert balanced == len(rewards) - 1 > 10
    assert sum(rewards) == balanced
    assert rewards[-1] == 0.0


def test_truncation_at_max_episode_steps(double_gain):
    env = gym.make("sb3_cosyne/DoublePole-v0", max_episode_steps=7)
    assert gym.make("sb3_cosyne/DoublePole-v0").spec.max_episode_steps == 100_000
    env.reset()
    total, steps, done = 0.0, 0, False
    while not done:
        _, reward, terminated, truncated, _ = env.step(lqr_action(double_gain, env.unwrapped.state))
        total += reward
        steps += 1
        done = terminated or truncated
    assert (steps, total, terminated, truncated) == (7, 7.0, False, True)


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_reset_is_deterministic(env_id):
    env = gym.make(env_id)
    obs_a, _ = env.reset(seed=1)
    state_a = env.unwrapped.state
    env.step(env.action_space.sample())
    obs_b, _ = env.reset(seed=2)
    np.testing.assert_array_equal(obs_a, obs_b)
    np.testing.assert_array_equal(state_a, env.unwrapped.state)
    assert math.degrees(state_a[2]) == pytest.approx(4.0156, abs=1e-4)
    assert state_a[2] == 4.0156035 * 0.0174532
    assert np.count_nonzero(state_a) == 1
    assert state_a.dtype == np.float64


def test_state_setter_and_start_option():
    env = gym.make("sb3_cosyne/DoublePole-v0")
    env.reset()
    start = [0.5, -0.2, 0.01, 0.02, -0.03, 0.04]
    env.unwrapped.state = start
    got = env.unwrapped.state
    np.testing.assert_array_equal(got, start)
    got[0] = 9.0  # the getter returns a copy
    assert env.unwrapped.state[0] == 0.5
    source = np.array(start)
    env.unwrapped.state = source
    source[0] = 9.0  # the setter copies
    assert env.unwrapped.state[0] == 0.5
    with pytest.raises(ValueError):
        env.unwrapped.state = np.zeros(4)
    obs, _ = env.reset(options={"state": start})
    np.testing.assert_array_equal(env.unwrapped.state, start)
    np.testing.assert_allclose(obs, np.array(start) / [2.4, 10, 0.628329, 5, 0.628329, 16])


@pytest.mark.parametrize(
    ("env_id", "index", "scale"),
    [
        ("sb3_cosyne/SinglePole-v0", [0, 1, 2, 3], [2.4, 10.0, 0.2094384, 5.0]),
        ("sb3_cosyne/SinglePoleNoVel-v0", [0, 2], [2.4, 0.2094384]),
        ("sb3_cosyne/DoublePole-v0", [0, 1, 2, 3, 4, 5], [2.4, 10.0, 0.628329, 5.0, 0.628329, 16.0]),
        ("sb3_cosyne/DoublePoleNoVel-v0", [0, 2, 4], [2.4, 0.52, 0.52]),
    ],
)
def test_observations_are_the_scaled_state(env_id, index, scale):
    env = gym.make(env_id)
    n_state = 4 if "Single" in env_id else 6
    start = np.linspace(-0.1, 0.12, n_state)
    obs, _ = env.reset(options={"state": start})
    assert obs.dtype == np.float64 and obs.shape == env.observation_space.shape == (len(index),)
    np.testing.assert_allclose(obs, start[index] / scale, rtol=1e-15)
    obs, *_ = env.step(np.array([0.3], dtype=np.float32))
    np.testing.assert_allclose(obs, env.unwrapped.state[index] / scale, rtol=1e-15)


@pytest.mark.parametrize(("env_id", "kwargs"), [(env_id, {}) for env_id in ENV_IDS] + [(ENV_IDS[3], {"fitness": "damping"})])
def test_check_env(env_id, kwargs):
    env = gym.make(env_id, **kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        # The observation space is unbounded on purpose (see sb3_cosyne.envs.cartpole).
        warnings.filterwarnings("ignore", message=".*Box observation space m.* value is -?infinity")
        check_env(env.unwrapped)


# ---------------------------------------------------------------------------------------------------------------
# Damping fitness
# ---------------------------------------------------------------------------------------------------------------
def run_damping(policy):
    env = gym.make("sb3_cosyne/DoublePoleNoVel-v0", fitness="damping")
    env.reset()
    rewards, states = [], []
    done = False
    while not done:
        _, reward, terminated, truncated, _ = env.step(policy(len(rewards), env.unwrapped.state))
        rewards.append(reward)
        states.append(env.unwrapped.state)
        done = terminated or truncated
    return np.array(rewards), np.array(states), terminated, truncated


def expected_damping(states, balanced):
    window = states[balanced - 100 : balanced]  # states after balanced steps balanced-99 … balanced
    jiggle = sum(abs(s[0]) + abs(s[1]) + abs(s[2]) + abs(s[3]) for s in window)
    return 0.1 * balanced / 1000 + 0.9 * 0.75 / jiggle


def test_damping_full_episode(double_gain):
    rewards, states, terminated, truncated = run_damping(lambda t, s: lqr_action(double_gain, s))
    assert len(rewards) == 1000 and truncated and not terminated
    assert np.all(rewards[:-1] == 0.0)
    assert rewards[-1] == pytest.approx(expected_damping(states, 1000), rel=1e-12)
    assert rewards.sum() > 0.1


def test_damping_failure_after_100_steps(double_gain):
    rewards, states, terminated, truncated = run_damping(
        lambda t, s: lqr_action(double_gain, s) if t < 150 else np.array([1.0], dtype=np.float32)
    )
    balanced = len(rewards) - 1
    assert terminated and not truncated and 150 <= balanced < 1000
    assert not has_failed(states[balanced - 1]) and has_failed(states[balanced])
    assert np.all(rewards[:-1] == 0.0)
    assert rewards[-1] == pytest.approx(expected_damping(states, balanced), rel=1e-12)


def test_damping_short_episode():
    rewards, _, terminated, _ = run_damping(lambda t, s: np.array([0.0], dtype=np.float32))
    balanced = len(rewards) - 1
    assert terminated and balanced < 100
    assert rewards.sum() == 0.1 * balanced / 1000


# ---------------------------------------------------------------------------------------------------------------
# Generalization test
# ---------------------------------------------------------------------------------------------------------------
def test_generalization_grid():
    starts = generalization_starts()
    assert starts.shape == (625, 6)
    assert len(np.unique(starts, axis=0)) == 625
    expected = [
        [-1.944, -1.08, 0.0, 1.08, 1.944],
        [-1.215, -0.675, 0.0, 0.675, 1.215],
        [-0.05655, -0.03142, 0.0, 0.03142, 0.05655],
        [-0.13509, -0.07505, 0.0, 0.07505, 0.13509],
    ]
    for column, values in enumerate(expected):
        np.testing.assert_allclose(np.unique(starts[:, column]), values, atol=1e-5)
        assert np.all(np.unique(starts[:, column], return_counts=True)[1] == 125)
    assert np.all(starts[:, 4:] == 0.0)
    # Gomez's loop order: x outermost, θ̇1 innermost
    np.testing.assert_allclose(starts[0, :4], [-1.944, -1.215, -0.056548368, -0.135087768], rtol=1e-12)
    np.testing.assert_allclose(starts[1, :4], [-1.944, -1.215, -0.056548368, -0.07504876], rtol=1e-12)
    np.testing.assert_allclose(starts[5, :4], [-1.944, -1.215, -0.03141576, -0.135087768], rtol=1e-12)


class ConstantModel:
    """Pushes with the same action everywhere; checks SB3's recurrent predict protocol on the way."""

    def __init__(self, action):
        self.action = action
        self.calls = 0

    def predict(self, obs, state=None, episode_start=None, deterministic=False):
        assert deterministic
        assert obs.shape == (625, 3)
        assert np.all(episode_start == (self.calls == 0))
        assert (state is None) == (self.calls == 0)
        if state is not None:
            assert np.all(state == self.calls)
        self.calls += 1
        return np.full((len(obs), 1), self.action, dtype=np.float32), np.full(len(obs), self.calls)


def test_generalization_constant_push_scores_zero():
    model = ConstantModel(1.0)
    assert generalization_test(model) == 0
    assert 1 < model.calls < 100


class LqrModel:
    """LQR from the full state, read back from the Markov double-pole observation."""

    scale = np.array([2.4, 10.0, 0.628329, 5.0, 0.628329, 16.0])

    def __init__(self, gain):
        self.gain = gain

    def predict(self, obs, state=None, episode_start=None, deterministic=False):
        return np.clip(-(obs * self.scale) @ self.gain, -1.0, 1.0)[:, None].astype(np.float32), None


def test_generalization_counts_successes(double_gain):
    steps = 60
    model = LqrModel(double_gain)
    successes = generalization_successes(model, env_id="sb3_cosyne/DoublePole-v0", steps=steps)
    # the same episodes one at a time
    expected = np.zeros(625, dtype=bool)
    env = CartPoleEnv(n_poles=2, markov=True)
    for i, start in enumerate(generalization_starts()):
        obs, _ = env.reset(options={"state": start})
        for _ in range(steps):
            obs, _, terminated, _, _ = env.step(model.predict(obs[None])[0][0])
            if terminated:
                break
        expected[i] = not terminated
    np.testing.assert_array_equal(successes, expected)
    assert 0 < successes.sum() < 625
    assert generalization_test(model, env_id="sb3_cosyne/DoublePole-v0", steps=steps) == successes.sum()


def test_rgb_array_render_draws_the_state():
    env = gym.make("sb3_cosyne/DoublePole-v0", render_mode="rgb_array")
    env.reset()
    upright = env.render()
    env.unwrapped.state = np.array([1.0, 0.0, 0.4, 0.0, 0.0, 0.0])
    leaning = env.render()
    assert upright.shape == (240, 480, 3) and upright.dtype == np.uint8
    assert (upright != leaning).any()
    no_render = gym.make("sb3_cosyne/DoublePole-v0")
    no_render.reset()
    assert no_render.render() is None
