"""The compiled ports of gymnasium's classic-control envs step exactly as gymnasium does."""

from collections.abc import Callable

import gymnasium as gym
import numpy as np
import pytest

from sb3_cosyne.envs.classic_control.dispatch import env_observe, env_step
from sb3_cosyne.envs.classic_control.ports import PORTS

Start = Callable[[gym.Env], np.ndarray]


def seeded(seed: int, **options) -> Start:
    """Start an episode from ``reset(seed=seed, options=...)``."""
    return lambda env: env.reset(seed=seed, options=options or None)[0]


def placed(seed: int, state: np.ndarray) -> Start:
    """Start an episode from a reset, then put the env into ``state`` (returned as the observation the policy sees)."""

    def start(env: gym.Env) -> np.ndarray:
        env.reset(seed=seed)
        env.state = state
        return np.asarray(state, dtype=np.float32)

    return start


def side_by_side(env: gym.Env, starts: list[Start], choose: Callable, max_steps: int) -> np.ndarray:
    """
    Step gymnasium's env and its port from the same starts with the same actions, and check that states,
    observations, rewards and terminations are identical.

    :param env: the unwrapped gymnasium env
    :param starts: how each episode starts
    :param choose: the action for an observation
    :param max_steps: the length of an episode that does not terminate
    :return: gymnasium's transitions, one row per step: state, observation, reward, terminated
    """
    port = PORTS[type(env)]
    constants = port.constants(env)
    expected, compiled = [], []
    for start in starts:
        obs = start(env)
        state = port.state(env)
        compiled_obs = np.empty(env.observation_space.shape[0])
        for _ in range(max_steps):
            action = choose(obs)
            obs, reward, terminated, _, _ = env.step(action)
            reward_terminated = env_step(port.code, state, float(np.ravel(action)[0]), constants)
            env_observe(port.code, state, compiled_obs)
            gym_state = np.ravel(np.asarray(env.state, dtype=np.float64))
            expected.append([*gym_state, *obs, reward, terminated])
            compiled.append([*state[: gym_state.size], *compiled_obs, *reward_terminated])
            if terminated:
                break
    expected = np.array(expected, dtype=np.float64)
    np.testing.assert_array_equal(np.array(compiled, dtype=np.float64), expected)
    return expected


def random_discrete(n: int, seed: int = 0) -> Callable:
    rng = np.random.default_rng(seed)
    return lambda obs: int(rng.integers(n))


@pytest.mark.filterwarnings(r"ignore:.*calling .step\(\). even though")
@pytest.mark.parametrize("kwargs", [{}, {"sutton_barto_reward": True}])
@pytest.mark.parametrize("integrator", ["euler", "semi-implicit-euler"])
def test_cartpole_equals_gymnasium(integrator, kwargs):
    env = gym.make("CartPole-v1", **kwargs).unwrapped
    env.kinematics_integrator = integrator
    steps = side_by_side(env, [seeded(seed) for seed in range(40)], random_discrete(2), 200)
    assert steps[:, -1].sum() == 40  # every episode ends by the pole falling or the cart leaving


def test_pendulum_equals_gymnasium():
    env = gym.make("Pendulum-v1", g=9.81).unwrapped
    rng = np.random.default_rng(0)
    # Beyond the bounds too, to exercise the clipping of the torque; fast starts reach the speed bound.
    fast = [placed(seed, np.array([rng.uniform(-np.pi, np.pi), rng.uniform(-8.0, 8.0)])) for seed in range(20)]
    steps = side_by_side(
        env, [seeded(seed) for seed in range(60)] + fast, lambda obs: rng.uniform(-3.0, 3.0, size=1).astype(np.float32), 100
    )
    assert np.any(np.abs(steps[:, 1]) == env.max_speed)


@pytest.mark.parametrize("book_or_nips", ["book", "nips"])
def test_acrobot_equals_gymnasium(book_or_nips):
    env = gym.make("Acrobot-v1").unwrapped
    env.book_or_nips = book_or_nips
    rng = np.random.default_rng(1)
    # Fast starts make the links turn over (the angles wrap) and meet the velocity bounds.
    fast = [placed(seed, rng.uniform(-1, 1, size=4) * np.array([np.pi, np.pi, 4.5 * np.pi, 10 * np.pi])) for seed in range(30)]
    steps = side_by_side(env, [seeded(seed) for seed in range(20)] + fast, random_discrete(3, 2), 120)
    theta, velocity = steps[:, :2], steps[:, 2:4]
    assert np.any(np.abs(velocity[:, 0]) == 4 * np.pi) and np.any(np.abs(velocity[:, 1]) == 9 * np.pi)
    assert np.any(theta > 3.0) and np.any(theta < -3.0)
    assert steps[:, -1].sum() >= 10  # the tip reached the height (reward 0)


def mountain_car_starts(rng: np.random.Generator, dtype: type) -> list[Start]:
    """Seeded resets, resets anywhere on the track, and states anywhere with any velocity."""
    anywhere = [placed(seed, np.array([rng.uniform(-1.2, 0.6), rng.uniform(-0.07, 0.07)], dtype=dtype)) for seed in range(20)]
    return [seeded(seed) for seed in range(10)] + [seeded(seed, low=-1.2, high=0.6) for seed in range(20)] + anywhere


def pump(push_left, push_right) -> Callable:
    """Push in the direction the car moves: the bang-bang policy that climbs the hill, hitting the left wall on the way."""
    return lambda obs: push_right if obs[1] >= 0 else push_left


@pytest.mark.parametrize("goal_velocity", [0, 0.01])
def test_mountain_car_equals_gymnasium(goal_velocity):
    env = gym.make("MountainCar-v0", goal_velocity=goal_velocity).unwrapped
    starts = mountain_car_starts(np.random.default_rng(3), np.float64)
    random_steps = side_by_side(env, starts, random_discrete(3, 4), 200)
    pumped_steps = side_by_side(env, starts, pump(0, 2), 200)
    steps = np.concatenate([random_steps, pumped_steps])
    position, velocity = steps[:, 0], steps[:, 1]
    assert np.sum((position == env.min_position) & (velocity == 0)) >= 20  # the left wall stops the car
    assert np.any(np.abs(velocity) == env.max_speed)
    assert steps[:, -1].sum() >= 25  # the goal


def test_continuous_mountain_car_equals_gymnasium():
    env = gym.make("MountainCarContinuous-v0").unwrapped
    rng = np.random.default_rng(5)
    # The reset state is float64, the later ones float32: both kinds of start.
    starts = mountain_car_starts(rng, np.float32)

    def random_action(obs):
        # Actions beyond [-1, 1] are clipped by gymnasium; the bounds themselves and zero are kept as they are.
        if rng.random() < 0.2:
            return np.array([rng.choice([-1.0, 1.0, 0.0])], dtype=np.float32)
        return rng.uniform(-1.5, 1.5, size=1).astype(np.float32)

    def noisy_pump(obs):
        return np.array([np.sign(obs[1] + 1e-9) * rng.uniform(0.5, 1.3)], dtype=np.float32)

    steps = np.concatenate(
        [
            side_by_side(env, starts, random_action, 300),
            side_by_side(env, starts, pump(np.array([-1.0], np.float32), np.array([1.0], np.float32)), 300),
            side_by_side(env, starts, noisy_pump, 300),
        ]
    )
    position, velocity, reward = steps[:, 0], steps[:, 1], steps[:, -2]
    assert np.sum((position == np.float32(env.min_position)) & (velocity == 0)) >= 20  # the left wall
    assert np.any(np.abs(velocity) == np.float32(env.max_speed))
    assert np.sum(reward > 90) >= 50  # the goal's bonus of 100, less the action's cost


def test_continuous_mountain_car_goal_is_compared_in_float32():
    # A float32 position equal to float32(0.45), which is below 0.45, reaches the goal: NumPy compares a float32
    # with a Python float in float32. Find a start whose step lands there exactly.
    env = gym.make("MountainCarContinuous-v0").unwrapped
    goal, velocity, action = np.float32(env.goal_position), np.float32(0.01), np.array([0.5], dtype=np.float32)
    position = goal
    for _ in range(50):
        placed(0, np.array([position, velocity], dtype=np.float32))(env)
        env.step(action)
        if env.state[0] == goal:
            break
        position = np.float32(position + (goal - env.state[0]))
    assert env.state[0] == goal and float(goal) < env.goal_position
    steps = side_by_side(env, [placed(0, np.array([position, velocity], dtype=np.float32))], lambda obs: action, 1)
    assert steps[0, -1] == 1.0
