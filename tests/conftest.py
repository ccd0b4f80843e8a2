"""Small envs for every observation and action space kind CoSyNE supports; the fast path vs VecEnv path check."""

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from sb3_cosyne.cosyne.evaluation import EvaluationResult, evaluate_networks
from sb3_cosyne.cosyne.fast_path import compiled_rollout


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
