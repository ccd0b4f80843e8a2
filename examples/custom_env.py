"""
CoSyNE on an env of your own: a gymnasium ``Env`` subclass, checked, registered and trained.

``PointToTarget`` is a point mass on a line that must reach a target and stay there: the observation is
its position, velocity and the target, the action a force in [-1, 1], the reward minus the distance to the
target at every step, for 100 steps. Doing nothing scores about -70 (the mean distance between two uniform
points of [-1, 1] is 2/3); a good controller brakes in time and scores about -13.

Any env with Box or Discrete (also MultiDiscrete, MultiBinary) spaces works the same way; ``check_env``
(SB3's env checker) finds most mistakes in a new env before training does.

    python examples/custom_env.py                 # 50,000 steps, a few seconds
    python examples/custom_env.py --steps 20000   # a quicker run (about -13 too)
"""

import argparse

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from stable_baselines3.common.env_checker import check_env
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.evaluation import evaluate_policy

from sb3_cosyne import CoSyNE

ENV_ID = "PointToTarget-v0"


class PointToTarget(gym.Env):
    """
    A point mass on [-2, 2] pushed towards a target in [-1, 1].

    :param dt: time step
    :param episode_length: steps per episode
    :param render_mode: ``"rgb_array"`` (a strip with the target in red and the point in blue) or None
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}

    def __init__(self, dt: float = 0.1, episode_length: int = 100, render_mode: str | None = None) -> None:
        self.dt = dt
        self.episode_length = episode_length
        self.render_mode = render_mode
        high = np.array([2.0, 5.0, 1.0], dtype=np.float32)
        self.observation_space = spaces.Box(-high, high, dtype=np.float32)
        self.action_space = spaces.Box(-1.0, 1.0, shape=(1,), dtype=np.float32)
        self.position = self.velocity = self.target = 0.0
        self.t = 0

    def _obs(self) -> np.ndarray:
        return np.array([self.position, self.velocity, self.target], dtype=np.float32)

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        self.position, self.target = self.np_random.uniform(-1.0, 1.0, size=2)
        self.velocity, self.t = 0.0, 0
        return self._obs(), {}

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict]:
        force = float(np.clip(action, -1.0, 1.0)[0])
        self.velocity = float(np.clip(self.velocity + force * self.dt, -5.0, 5.0))
        self.position = float(np.clip(self.position + self.velocity * self.dt, -2.0, 2.0))
        self.t += 1
        reward = -abs(self.position - self.target)
        return self._obs(), reward, False, self.t >= self.episode_length, {}

    def render(self) -> np.ndarray | None:
        if self.render_mode != "rgb_array":
            return None
        frame = np.full((20, 201, 3), 255, dtype=np.uint8)
        for x, color in ((self.target, (220, 0, 0)), (self.position, (0, 0, 220))):
            column = round((x + 2.0) * 50)
            frame[:, max(0, column - 2) : column + 3] = color
        return frame


class DoNothing:
    """The baseline: zero force, whatever the observation (anything with ``predict`` works with ``evaluate_policy``)."""

    def predict(self, obs: np.ndarray, *args, **kwargs) -> tuple[np.ndarray, None]:
        return np.zeros((len(obs), 1), dtype=np.float32), None


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=50_000, help="training env steps")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> tuple[float, float]:
    """
    Check the env, register it, train CoSyNE on it and compare with doing nothing.

    :param argv: command-line arguments (None reads ``sys.argv``)
    :return: mean evaluation return of the trained model and of the do-nothing policy, on the same episodes
    """
    args = parse_args(argv)
    check_env(PointToTarget())
    if ENV_ID not in gym.registry:
        gym.register(ENV_ID, entry_point=PointToTarget)
    model = CoSyNE("MlpPolicy", ENV_ID, pop_size=20, champion_episodes=3, seed=args.seed)
    model.learn(total_timesteps=args.steps)
    trained, _ = evaluate_policy(model, make_vec_env(ENV_ID, seed=1000), n_eval_episodes=20)
    idle, _ = evaluate_policy(DoNothing(), make_vec_env(ENV_ID, seed=1000), n_eval_episodes=20)
    print(f"{ENV_ID}: {model.num_timesteps:,} steps, {model.generation} generations")
    print(f"mean return over 20 episodes: trained {trained:.1f}, doing nothing {idle:.1f}")
    return float(trained), float(idle)


if __name__ == "__main__":
    main()
