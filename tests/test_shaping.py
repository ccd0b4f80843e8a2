"""Training-only reward shaping: ``FallPenalty`` changes a fall's last reward and nothing else."""

import gymnasium as gym
import numpy as np

from sb3_cosyne.envs import FallPenalty


class Falls(gym.Env):
    """Pays 1 per step; at step 5 it falls (-100, terminated) when the action is 1, else it is truncated at 8."""

    observation_space = gym.spaces.Box(-1.0, 1.0, (1,))
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.zeros(1, dtype=np.float32), {}

    def step(self, action):
        self.t += 1
        obs = np.zeros(1, dtype=np.float32)
        if self.t == 5 and action == 1:
            return obs, -100.0, True, False, {}
        return obs, 1.0, False, self.t == 8, {}


def play(env: gym.Env, action: int) -> list[float]:
    env.reset(seed=0)
    rewards, done = [], False
    while not done:
        _, reward, terminated, truncated, _ = env.step(action)
        rewards.append(reward)
        done = terminated or truncated
    return rewards


def test_a_fall_s_penalty_is_replaced_and_other_rewards_pass_through():
    assert play(FallPenalty(Falls()), 1) == [1.0, 1.0, 1.0, 1.0, 0.0]
    assert play(FallPenalty(Falls(), penalty=-10.0), 1) == [1.0, 1.0, 1.0, 1.0, -10.0]
    assert play(FallPenalty(Falls()), 0) == play(Falls(), 0) == [1.0] * 8
