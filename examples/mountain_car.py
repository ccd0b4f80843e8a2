"""
CoSyNE on MountainCarContinuous-v0, the task of the original Python CoSyNE: push an underpowered car up a hill.

The reward pays +100 at the flag and charges for every push, so a policy that does nothing scores about 0
and gradient methods often settle there; CoSyNE's evolved networks pump the car back and forth from the
first generations. The settings are the tuned ones from ``sb3_cosyne/hyperparams/cosyne.yml``.

    python examples/mountain_car.py                  # 100,000 steps, a few seconds
    python examples/mountain_car.py --steps 20000 --seed 3 --path cosyne_mountain_car
"""

import argparse
import time

import numpy as np
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.evaluation import evaluate_policy

from sb3_cosyne import CoSyNE
from sb3_cosyne.hyperparams import load_hyperparams, model_kwargs

ENV_ID = "MountainCarContinuous-v0"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=100_000, help="training env steps")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--episodes", type=int, default=10, help="evaluation episodes")
    parser.add_argument("--path", default="cosyne_mountain_car", help="where to save the model (.zip is added)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> tuple[float, str]:
    """
    Train with the tuned settings, evaluate on fresh episodes, save.

    :param argv: command-line arguments (None reads ``sys.argv``)
    :return: the mean evaluation return and the saved file
    """
    args = parse_args(argv)
    policy, kwargs = model_kwargs(load_hyperparams(ENV_ID))
    model = CoSyNE(policy, ENV_ID, seed=args.seed, **kwargs)
    start = time.process_time()
    model.learn(total_timesteps=args.steps)
    print(f"{ENV_ID}: {model.num_timesteps:,} steps, {model.generation} generations, {time.process_time() - start:.1f} CPU s")
    returns, lengths = evaluate_policy(
        model, make_vec_env(ENV_ID, seed=args.seed + 1000), n_eval_episodes=args.episodes, return_episode_rewards=True
    )
    reached = sum(length < 999 for length in lengths)
    print(f"evaluation: {np.mean(returns):.1f} +/- {np.std(returns):.1f}, flag reached in {reached}/{args.episodes} episodes")
    model.save(args.path)
    print(f"saved to {args.path}.zip")
    return float(np.mean(returns)), f"{args.path}.zip"


if __name__ == "__main__":
    main()
