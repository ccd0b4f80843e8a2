"""
CoSyNE on BipedalWalker-v3 (Box2D), and a GIF of the best walker.

A 24-16-4 tanh network (468 weights, so 468 subpopulations) drives the walker's four joints. A walker that
falls gets -100, one that stands still until the time limit about -10 to 0, and one that walks up to 300.
Training episodes are cut at 400 steps (of the env's 1600): a walker that falls still falls early, one that
stands still costs a quarter of the steps, so four times as many generations fit in the budget; the
evaluation and the GIF play whole episodes. The GIF shows the champion (the best network found, what
``predict`` uses) playing one deterministic episode, rendered with gymnasium's ``rgb_array`` mode and
written with Pillow. Needs Box2D: ``pip install "sb3-cosyne[box2d]"``.

    python examples/bipedal_walker.py --gif walker.gif            # 2,000,000 steps, about 7 CPU minutes
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
from sb3_cosyne.hyperparams import load_hyperparams, model_kwargs

ENV_ID = "BipedalWalker-v3"
#: the quick mode's changes: episodes cut at 100 steps and a small population, to run in seconds
QUICK = dict(max_episode_steps=100, pop_size=8, steps=2000)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=2_000_000, help="training env steps")
    parser.add_argument("--train-episode-steps", type=int, default=400, help="time limit of the training episodes")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--gif", help="write a GIF of the champion's episode to this file")
    parser.add_argument("--frame-skip", type=int, default=3, help="keep every n-th frame in the GIF")
    parser.add_argument("--gif-scale", type=float, default=0.5, help="size of the GIF's frames relative to the render's")
    parser.add_argument("--path", default="cosyne_bipedal_walker", help="where to save the model (.zip is added)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 100-step episodes, population 8, 2,000 steps")
    parser.add_argument("--load", help="evaluate (and film) a saved model instead of training one")
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


def main(argv: list[str] | None = None) -> dict[str, float | int | str | None]:
    """
    Train and save (or load), evaluate on fresh episodes, and optionally write the GIF.

    :param argv: command-line arguments (None reads ``sys.argv``)
    :return: the mean evaluation return, the GIF's episode return and frame count, and the saved file
    """
    args = parse_args(argv)
    # The walker's entry of cosyne.yml (its settings are explained there).
    policy, settings = model_kwargs(load_hyperparams(ENV_ID))
    steps = args.steps
    train_kwargs, env_kwargs = {"max_episode_steps": args.train_episode_steps}, {}
    if args.quick:
        settings["pop_size"] = QUICK["pop_size"]
        train_kwargs = env_kwargs = {"max_episode_steps": QUICK["max_episode_steps"]}
        steps = QUICK["steps"]
    if args.load:
        model, path = CoSyNE.load(args.load), args.load
    else:
        model = CoSyNE(policy, make_vec_env(ENV_ID, seed=args.seed, env_kwargs=train_kwargs), seed=args.seed, **settings)
        start = time.process_time()
        model.learn(total_timesteps=steps)
        print(
            f"{ENV_ID}: {model.num_timesteps:,} steps, {model.generation} generations, "
            f"{time.process_time() - start:.1f} CPU s; champion's fitness {model.best_fitness:.1f} "
            f"(over {train_kwargs['max_episode_steps']}-step episodes)"
        )
        model.save(args.path)
        path = f"{args.path}.zip"
        print(f"saved to {path}")
    eval_env = make_vec_env(ENV_ID, seed=args.seed + 1000, env_kwargs=env_kwargs)
    mean, std = evaluate_policy(model, eval_env, n_eval_episodes=5)
    print(f"evaluation over 5 episodes: {mean:.1f} +/- {std:.1f} (300 is the maximum)")
    result: dict[str, float | int | str | None] = {"mean": float(mean), "path": path, "gif": args.gif}
    if args.gif:
        render_env = gym.make(ENV_ID, render_mode="rgb_array", **env_kwargs)
        episode_return, n_frames = record_gif(
            model, render_env, args.gif, args.frame_skip, args.gif_scale, seed=args.seed + 2000
        )
        render_env.close()
        print(f"GIF of the champion's episode (return {episode_return:.1f}, {n_frames} frames): {args.gif}")
        result.update(gif_return=episode_return, gif_frames=n_frames)
    return result


if __name__ == "__main__":
    main()
