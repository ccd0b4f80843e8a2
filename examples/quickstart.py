"""Train CoSyNE on CartPole-v1, evaluate it, save it and load it back.

python examples/quickstart.py [--env CartPole-v1] [--steps 100000] [--seed 0]
"""

import argparse
import time

from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.evaluation import evaluate_policy

from sb3_cosyne import CoSyNE


def main(env_id: str = "CartPole-v1", steps: int = 100_000, seed: int = 0, path: str = "cosyne_cartpole") -> float:
    """
    Train, evaluate on 10 deterministic episodes, save, reload and check the reloaded model agrees.

    :return: the mean return of the evaluation
    """
    model = CoSyNE("MlpPolicy", env_id, seed=seed, verbose=0)
    start = time.process_time()
    model.learn(total_timesteps=steps)
    cpu = time.process_time() - start
    eval_env = make_vec_env(env_id, seed=seed + 1000)
    mean, std = evaluate_policy(model, eval_env, n_eval_episodes=10, deterministic=True)
    print(
        f"{env_id}: {model.num_timesteps} env steps, {model.generation} generations, {cpu:.1f} s CPU; "
        f"champion {model.best_fitness:.1f}; evaluation over 10 episodes: {mean:.1f} +/- {std:.1f}"
    )
    model.save(path)
    reloaded = CoSyNE.load(path)
    reloaded_mean, _ = evaluate_policy(reloaded, make_vec_env(env_id, seed=seed + 1000), n_eval_episodes=10)
    print(f"reloaded from {path}.zip: evaluation {reloaded_mean:.1f}")
    return mean


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="CartPole-v1")
    parser.add_argument("--steps", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--path", default="cosyne_cartpole")
    args = parser.parse_args()
    main(args.env, args.steps, args.seed, args.path)
