"""
CoSyNE on LunarLander-v3 (Box2D), its networks' episodes spread over several env lanes or processes.

Each lane of the VecEnv runs its own network (a lane whose episode ends takes the next network), so
``--n-envs 4 --subproc`` evaluates four networks at a time on four cores; the result does not depend on the
number of lanes, up to rounding (the tuned settings normalise observations, whose statistics the lanes sum in
another order). The settings are the tuned ones from ``sb3_cosyne/hyperparams/cosyne.yml``. Needs Box2D:
``pip install "sb3-cosyne[box2d]"``.

    python examples/lunar_lander.py                          # 2,000,000 steps, about 6 CPU minutes
    python examples/lunar_lander.py --steps 5000 --n-envs 2  # a smoke run
    python examples/lunar_lander.py --n-envs 4 --subproc     # four processes
"""

import argparse
import time

from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv

from sb3_cosyne import CoSyNE
from sb3_cosyne.hyperparams import load_hyperparams, model_kwargs

ENV_ID = "LunarLander-v3"
#: the first reset seed of the judging episodes: training draws its seeds below 2**31 - 1
FRESH_SEED = 2**31


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=2_000_000, help="training env steps")
    parser.add_argument("--n-envs", type=int, default=1, help="env lanes")
    parser.add_argument("--subproc", action="store_true", help="one process per lane (SubprocVecEnv)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--episodes", type=int, default=100, help="fresh episodes the returned network is judged on")
    parser.add_argument("--path", default="cosyne_lunar_lander", help="where to save the model (.zip is added)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> tuple[float, str]:
    """
    Train with the tuned settings on ``--n-envs`` lanes, judge the returned network on fresh episodes, save.

    :param argv: command-line arguments (None reads ``sys.argv``)
    :return: the mean evaluation return and the saved file
    """
    args = parse_args(argv)
    vec_env_cls = SubprocVecEnv if args.subproc else DummyVecEnv
    env = make_vec_env(ENV_ID, n_envs=args.n_envs, seed=args.seed, vec_env_cls=vec_env_cls)
    policy, kwargs = model_kwargs(load_hyperparams(ENV_ID))
    model = CoSyNE(policy, env, seed=args.seed, verbose=1, **kwargs)
    start = time.perf_counter()
    model.learn(total_timesteps=args.steps, log_interval=10)
    print(f"{ENV_ID}: {model.num_timesteps:,} steps, {model.generation} generations, {time.perf_counter() - start:.1f} s")
    print(f"champion's fitness (mean of its re-tests): {model.best_fitness:.1f}")
    judge_env = make_vec_env(ENV_ID, n_envs=min(args.episodes, 10), seed=FRESH_SEED)
    mean, std = evaluate_policy(model, judge_env, n_eval_episodes=args.episodes, deterministic=True)
    print(f"{args.episodes} fresh episodes: {mean:.1f} +/- {std:.1f} (solved: a mean of at least 200 over 100)")
    model.save(args.path)
    env.close()
    print(f"saved to {args.path}.zip")
    return float(mean), f"{args.path}.zip"


if __name__ == "__main__":
    main()
