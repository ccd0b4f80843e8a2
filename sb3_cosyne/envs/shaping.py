"""Training-only reward shaping, as gymnasium wrappers: train with them, judge a network without them."""

import gymnasium as gym


class FallPenalty(gym.Wrapper):
    """
    Replaces the penalty an episode ends with when the agent falls (BipedalWalker's -100 when its hull touches the
    ground) by ``penalty``: the large penalty makes a network that falls after a few strides score below one that
    stands still, which discourages the risky gaits that lead to walking. Only the last step's reward changes, and
    only when the episode terminates with exactly ``fall_reward``.

    Use it for training only (``make_vec_env(env_id, wrapper_class=FallPenalty)``); judge the network on the env
    without it, whose reward defines solved.

    :param env: the env
    :param penalty: the reward given instead (0: a fall costs nothing beyond the progress it ends)
    :param fall_reward: the reward that marks a fall on a terminating step (BipedalWalker's: -100)
    """

    def __init__(self, env: gym.Env, penalty: float = 0.0, fall_reward: float = -100.0) -> None:
        super().__init__(env)
        self.penalty = float(penalty)
        self.fall_reward = float(fall_reward)

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        if terminated and reward == self.fall_reward:
            reward = self.penalty
        return obs, reward, terminated, truncated, info
