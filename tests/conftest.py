"""Small envs for every observation and action space kind CoSyNE supports."""

import gymnasium as gym
import numpy as np
from gymnasium import spaces


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
