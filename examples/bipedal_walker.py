"""
CoSyNE on BipedalWalker-v3 (Box2D), judged as the task defines solved, and a GIF of the returned walker.

A linear policy (24 observations to 4 outputs, squashed by tanh: 100 weights, so 100 subpopulations) drives the
walker's four joints. A walker that falls gets -100, one that stands still until the time limit about -10 to 0,
and one that walks to the end up to about 300 (solved: a mean of 300 over 100 consecutive episodes). Training
uses the walker's ``cosyne.yml`` entry (its settings are explained there) and every core: a ``SubprocEvaluator``
plays the networks' episodes in one worker process per CPU, with the same result as one process. Then the
network ``learn`` returns plays ``--episodes`` fresh episodes deterministically (reset seeds from 2**31 on, which
training never draws), and the GIF films one of them, rendered with gymnasium's ``rgb_array`` mode and written
with Pillow. Needs Box2D: ``pip install "sb3-cosyne[box2d]"``.

    python examples/bipedal_walker.py --gif walker.gif            # the entry's 20M steps: about 25 minutes on 2 cores
    python examples/bipedal_walker.py --steps 5000000 --gif walker.gif
    python examples/bipedal_walker.py --quick --gif walker.gif     # a smoke run: 100-step episodes, pop 8
    python examples/bipedal_walker.py --load cosyne_bipedal_walker.zip --gif walker.gif   # no training
"""

import argparse
import time

import gymnasium as gym
from PIL import Image
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.evaluation import evaluate_policy

from sb3_cosyne import CoSyNE
from sb3_cosyne.evaluation import SubprocEvaluator
from sb3_cosyne.evaluation.subproc_evaluator import available_cpus
from sb3_cosyne.hyperparams import load_hyperparams, model_kwargs

ENV_ID = "BipedalWalker-v3"
#: the first reset seed of the judging episodes: training draws its seeds below 2**31 - 1
FRESH_SEED = 2**31
#: the quick mode's changes: episodes cut at 100 steps, a small population, a few judging episodes
QUICK = dict(max_episode_steps=100, pop_size=8, steps=2000, episodes=4)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, help="training env steps (default: the entry's n_timesteps)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, help="worker processes (default: one per CPU; 1: this process)")
    parser.add_argument("--episodes", type=int, default=100, help="fresh episodes the returned walker is judged on")
    parser.add_argument("--gif", help="write a GIF of the walker's first judging episode to this file")
    parser.add_argument("--frame-skip", type=int, default=3, help="keep every n-th frame in the GIF")
    parser.add_argument("--gif-scale", type=float, default=0.5, help="size of the GIF's frames relative to the render's")
    parser.add_argument("--path", default="cosyne_bipedal_walker", help="where to save the model (.zip is added)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 100-step episodes, population 8, 2,000 steps")
    parser.add_argument("--load", help="judge (and film) a saved model instead of training one")
    return parser.parse_args(argv)


def record_gif(model: CoSyNE, env: gym.Env, path: str, frame_skip: int, scale: float, seed: int) -> tuple[float, int]:
    """
    Play one deterministic episode of ``model`` and write every ``frame_skip``-th frame to a GIF, in real time.

    :param model: the trained model
    :param env: an env made with ``render_mode="rgb_array"``
    :param path: the GIF file
    :param frame_skip: keep one frame in this many
    :param scale: size of the GIF's frames relative to the rendered ones
    :param seed: reset seed of the episode
    :return: the episode's return and the number of frames written
    """
    obs, _ = env.reset(seed=seed)
    frames, total, step, done = [env.render()], 0.0, 0, False
    while not done:
        action, _ = model.predict(obs, deterministic=True)
        obs, reward, terminated, truncated, _ = env.step(action)
        total += float(reward)
        step += 1
        done = terminated or truncated
        if step % frame_skip == 0 or done:
            frames.append(env.render())
    height, width = frames[0].shape[:2]
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    images = [Image.fromarray(frame).resize(size, Image.Resampling.LANCZOS) for frame in frames]
    duration_ms = round(1000 * frame_skip / env.metadata["render_fps"])
    images[0].save(path, save_all=True, append_images=images[1:], duration=duration_ms, loop=0)
    return total, len(images)


def train(args: argparse.Namespace, env_kwargs: dict) -> tuple[CoSyNE, str]:
    """
    Train with the walker's ``cosyne.yml`` entry on ``--workers`` processes, and save.

    :return: the model and its file
    """
    entry = load_hyperparams(ENV_ID)
    policy, settings = model_kwargs(entry)
    steps = args.steps or int(entry["n_timesteps"])
    if args.quick:
        settings["pop_size"], steps = QUICK["pop_size"], QUICK["steps"]
    workers = args.workers or available_cpus()
    evaluator = SubprocEvaluator(ENV_ID, n_workers=workers, env_kwargs=env_kwargs) if workers > 1 else None
    env = make_vec_env(ENV_ID, seed=args.seed, env_kwargs=env_kwargs)
    model = CoSyNE(policy, env, seed=args.seed, evaluator=evaluator, **settings)
    start = time.perf_counter()
    try:
        model.learn(total_timesteps=steps)
    finally:
        if evaluator is not None:
            evaluator.close()
    print(
        f"{ENV_ID}: {model.num_timesteps:,} steps, {model.generation} generations, "
        f"{time.perf_counter() - start:.0f} s on {workers} process(es); champion's held-out score "
        f"{model.champion.holdout:.1f}"
    )
    model.save(args.path)
    print(f"saved to {args.path}.zip")
    return model, f"{args.path}.zip"


def main(argv: list[str] | None = None) -> dict[str, float | int | str | None]:
    """
    Train and save (or load), judge on fresh episodes, and optionally write the GIF.

    :param argv: command-line arguments (None reads ``sys.argv``)
    :return: the mean and standard deviation over the judging episodes, the GIF's episode return and frame
        count, and the saved file
    """
    args = parse_args(argv)
    env_kwargs = {"max_episode_steps": QUICK["max_episode_steps"]} if args.quick else {}
    episodes = QUICK["episodes"] if args.quick else args.episodes
    if args.load:
        model, path = CoSyNE.load(args.load), args.load
    else:
        model, path = train(args, env_kwargs)
    judge_env = make_vec_env(ENV_ID, n_envs=min(episodes, 10), seed=FRESH_SEED, env_kwargs=env_kwargs)
    mean, std = evaluate_policy(model, judge_env, n_eval_episodes=episodes, deterministic=True)
    print(f"{episodes} fresh episodes: {mean:.1f} +/- {std:.1f} (solved: a mean of at least 300 over 100)")
    result: dict[str, float | int | str | None] = {"mean": float(mean), "std": float(std), "path": path, "gif": args.gif}
    if args.gif:
        render_env = gym.make(ENV_ID, render_mode="rgb_array", **env_kwargs)
        episode_return, n_frames = record_gif(model, render_env, args.gif, args.frame_skip, args.gif_scale, seed=FRESH_SEED)
        render_env.close()
        print(f"GIF of the walker's first judging episode (return {episode_return:.1f}, {n_frames} frames): {args.gif}")
        result.update(gif_return=episode_return, gif_frames=n_frames)
    return result


if __name__ == "__main__":
    main()
