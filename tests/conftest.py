"""
Small envs for every observation and action space kind CoSyNE supports; the fast path vs VecEnv path check;
gymnasium's own ``TimeLimit`` kept for every test (see ``rl_zoo3``).
"""

import sys

import gymnasium as gym
import gymnasium.envs.registration
import gymnasium.wrappers.common
import numpy as np
import pytest
from gymnasium import spaces
from stable_baselines3.common.callbacks import BaseCallback

from sb3_cosyne.evaluation.fast_path import compiled_rollout
from sb3_cosyne.evaluation.lanes import EvaluationResult, evaluate_networks


class SpaceEnv(gym.Env):
    """
    A tiny env with the given spaces: the reward is higher the closer the action's first component is to a
    target read from the observation, so there is something to learn; episodes last ``episode_length`` steps
    and the start observation depends on the reset seed.
    """

    def __init__(self, observation_space: spaces.Space, action_space: spaces.Space, episode_length: int = 20) -> None:
        self.observation_space = observation_space
        self.action_space = action_space
        self.episode_length = episode_length
        self._t = 0
        self._obs = None

    def _sample_obs(self):
        self.observation_space.seed(int(self.np_random.integers(2**31)))
        return self.observation_space.sample()

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self._t = 0
        self._obs = self._sample_obs()
        return self._obs, {}

    def step(self, action):
        self._t += 1
        target = float(np.asarray(self._obs, dtype=np.float64).ravel()[0])
        value = float(np.asarray(action, dtype=np.float64).ravel()[0])
        reward = -abs(np.tanh(target) - np.tanh(value))
        self._obs = self._sample_obs()
        return self._obs, reward, False, self._t >= self.episode_length, {}


OBSERVATION_SPACES = {
    "box": spaces.Box(-1.0, 1.0, shape=(3,), dtype=np.float32),
    "box2d": spaces.Box(-1.0, 1.0, shape=(2, 2), dtype=np.float32),
    "discrete": spaces.Discrete(4, start=1),
    "multidiscrete": spaces.MultiDiscrete([3, 2]),
    "multibinary": spaces.MultiBinary(3),
}
# CartPole seen in a mirror: the cart's position and velocity and the pole's angle and angular velocity flip, and
# pushing left becomes pushing right.
CARTPOLE_MIRROR = dict(obs_perm=(0, 1, 2, 3), obs_sign=(-1, -1, -1, -1), action_perm=(1, 0), action_sign=(1, 1))

ACTION_SPACES = {
    "box": spaces.Box(np.array([-2.0, 0.0], dtype=np.float32), np.array([2.0, 1.0], dtype=np.float32)),
    "discrete": spaces.Discrete(3),
    "multidiscrete": spaces.MultiDiscrete([2, 3]),
    "multibinary": spaces.MultiBinary(2),
}


def assert_fast_path_equals_vec_env_path(env, policy, params, seeds, stats) -> EvaluationResult:
    """Evaluate ``params`` both ways; returns, lengths and observation statistics must agree. Returns the compiled result."""
    fast = compiled_rollout(env)(policy, params, seeds, stats)
    slow = evaluate_networks(env, policy, params, seeds, stats)
    np.testing.assert_array_equal(fast.returns, slow.returns)
    np.testing.assert_array_equal(fast.lengths, slow.lengths)
    assert fast.obs_count == slow.obs_count
    # The VecEnv path sums observations lane batch by lane batch, in another order.
    np.testing.assert_allclose(fast.obs_sum, slow.obs_sum, rtol=1e-12)
    np.testing.assert_allclose(fast.obs_sq_sum, slow.obs_sq_sum, rtol=1e-12)
    return fast


# rl_zoo3's import replaces gymnasium's TimeLimit with its PatchedTimeLimit (rl_zoo3/gym_patches.py), for the whole
# process: imported while collecting, it would run every later test of the worker on rl_zoo3's wrapper, which is
# not among the standard wrappers the compiled fast path sees through. Test modules import rl_zoo3 (and modules
# that import it: sb3_cosyne.compare.cli and .runs) only inside tests that take the rl_zoo3 fixture, or in a subprocess.
GYMNASIUM_TIME_LIMIT = next(
    cls
    for cls in gymnasium.wrappers.TimeLimit.__mro__
    if cls.__name__ == "TimeLimit" and cls.__module__.startswith("gymnasium.")
)
_NUMPY_BOOL8 = np.__dict__.get("bool8")  # rl_zoo3 also sets np.bool8 = np.bool_


def _time_limit_holders() -> dict:
    """The modules whose ``TimeLimit`` rl_zoo3 overwrites (``gymnasium.wrappers.time_limit`` before gymnasium 1.0)."""
    names = ["gymnasium.wrappers", "gymnasium.wrappers.common", "gymnasium.wrappers.time_limit", "gymnasium.envs.registration"]
    return {name: sys.modules[name] for name in names if hasattr(sys.modules.get(name), "TimeLimit")}


def patched_time_limits() -> list[str]:
    """Where ``TimeLimit`` is not gymnasium's own class, as ``module.TimeLimit = its class``."""
    return [
        f"{name}.TimeLimit = {module.TimeLimit.__module__}.{module.TimeLimit.__qualname__}"
        for name, module in _time_limit_holders().items()
        if module.TimeLimit is not GYMNASIUM_TIME_LIMIT
    ]


def restore_gymnasium() -> None:
    """Undo what importing rl_zoo3 did to gymnasium and numpy."""
    for module in _time_limit_holders().values():
        module.TimeLimit = GYMNASIUM_TIME_LIMIT
    if _NUMPY_BOOL8 is None:
        np.__dict__.pop("bool8", None)
    else:
        np.bool8 = _NUMPY_BOOL8


_collection_patched: list[str] = []


def pytest_collection_finish(session: pytest.Session) -> None:
    if GYMNASIUM_TIME_LIMIT.__module__.split(".")[0] != "gymnasium" or patched_time_limits():
        message = (
            "collecting the tests replaced gymnasium's TimeLimit ("
            + "; ".join(patched_time_limits())
            + "): a test module imports rl_zoo3 at import time. Import it inside the tests, with the rl_zoo3 fixture."
        )
        if not hasattr(session.config, "workerinput"):
            raise pytest.UsageError(message)
        # A pytest-xdist worker would report a UsageError as a bare crash: every test fails with the message instead.
        _collection_patched.append(message)


@pytest.fixture(autouse=True)
def _gymnasium_keeps_its_time_limit(request):
    if _collection_patched:
        pytest.fail(_collection_patched[0], pytrace=False)
    yield
    patched = patched_time_limits()
    if patched:
        restore_gymnasium()
        pytest.fail(
            f"{request.node.nodeid} left gymnasium's TimeLimit replaced ({'; '.join(patched)}): take the rl_zoo3 fixture, "
            "or import rl_zoo3 in a subprocess",
            pytrace=False,
        )


@pytest.fixture
def rl_zoo3():
    """
    rl_zoo3, imported with its patches in force for one test, as in rl_zoo3's own scripts; gymnasium's own
    ``TimeLimit`` (and numpy's attributes) are put back after it.
    """
    zoo = pytest.importorskip("rl_zoo3", reason="needs rl_zoo3 (the zoo and compare extras)")
    # A test before this one may have put gymnasium's own class back: patch as rl_zoo3's first import did.
    patched_class = sys.modules["rl_zoo3.gym_patches"].PatchedTimeLimit
    for module in _time_limit_holders().values():
        module.TimeLimit = patched_class
    np.bool8 = np.bool_
    try:
        yield zoo
    finally:
        restore_gymnasium()


class RaiseAt(BaseCallback):
    """Raises ``error`` at the ``n_calls``-th step: a callback that fails, or a Ctrl-C, in the middle of training."""

    def __init__(self, n_calls: int, error: BaseException) -> None:
        super().__init__()
        self.limit = n_calls
        self.error = error

    def _on_step(self) -> bool:
        if self.n_calls == self.limit:
            raise self.error
        return True
