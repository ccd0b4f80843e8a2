"""
Overhead benchmark: how close CoSyNE's rollouts on the VecEnv path come to the env's own step rate.

For every env, CoSyNE (its tuned settings from ``cosyne.yml``, the defaults where it has none) trains with
``fast_path=False`` for about ``--steps`` env steps on a ``DummyVecEnv`` of ``--lanes`` lanes, each lane
``Monitor(gym.make(env_id))`` as SB3 builds it; ``learn`` is timed with process CPU time. Against it, in the
same process and the same repeat:

* **same episodes**: the exact episodes of that run (every seeded reset and every action of every lane, in the
  order the run made them, logged by an untimed identical run) replayed on plain ``gym.make(env_id)`` envs, one
  per lane: the env's own cost of the work done. The rollout's share of env time is this time over the rollout's;
  everything else (network, action conversion, lanes, ``Monitor``, callbacks, the evolutionary operators) is
  CoSyNE's overhead.
* **floor**: the least any Python-driven lane step can add to the env: the same episodes replayed on
  ``Monitor``-wrapped envs (as the lanes are), every step's observation, reward and end stored in arrays, and
  per batched step one call of a compiled function that takes the lane step's arguments and does nothing. Its
  env share (replay over floor) bounds what the VecEnv path can reach on this machine.
* **random actions**: the plain env stepped with pre-drawn random actions for as many steps, reset with a new
  seed after every episode as CoSyNE's rollouts are.

Every repeat uses another seed (another population); the table gives medians over repeats.

Usage::

    python -m benchmarks.overhead [--envs CartPole-v1 ...] [--lanes 1 8] [--repeats 5] [--steps 20000] [--markdown out.md]
"""

import argparse
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from numba import njit
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.monitor import Monitor

from sb3_cosyne import CoSyNE
from sb3_cosyne.evaluation.lane_step import LaneNetworks, LaneOutputs, Lanes, direct_call
from sb3_cosyne.hyperparams import tuned_or_default

CLASSIC_CONTROL = ("CartPole-v1", "Acrobot-v1", "MountainCar-v0", "MountainCarContinuous-v0", "Pendulum-v1")
BOX2D = ("LunarLander-v3", "LunarLanderContinuous-v3", "BipedalWalker-v3")
#: env steps per timed run relative to ``--steps``: Box2D steps cost 3-20 times a classic-control step
STEP_SCALE = {env_id: 1.0 for env_id in CLASSIC_CONTROL} | {
    "LunarLander-v3": 0.5,
    "LunarLanderContinuous-v3": 0.5,
    "BipedalWalker-v3": 0.25,
}
#: fraction of the rollout's time the env must take (non-env time at most 15%)
TARGET_ENV_SHARE = 0.85

#: what the lanes did, in order: (lane, True, reset seed) or (lane, False, action)
EventLog = list[tuple[int, bool, Any]]


class EventRecorder(gym.Wrapper):
    """Logs every reset seed and every action of its lane, to replay the same episodes on plain envs."""

    def __init__(self, env: gym.Env, lane: int, log: EventLog) -> None:
        super().__init__(env)
        self.lane = lane
        self.log = log

    def reset(self, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        self.log.append((self.lane, True, kwargs.get("seed")))
        return self.env.reset(**kwargs)

    def step(self, action: Any) -> tuple[Any, Any, bool, bool, dict[str, Any]]:
        self.log.append((self.lane, False, np.array(action, copy=True) if isinstance(action, np.ndarray) else action))
        return self.env.step(action)


@dataclass
class Repeat:
    """One repeat's timings (CPU seconds) and step count."""

    steps: int
    rollout_s: float
    replay_s: float
    floor_s: float
    random_s: float


def build_model(env_id: str, lanes: int, seed: int, render_mode: str | None = None, log: EventLog | None = None) -> CoSyNE:
    """
    CoSyNE on the VecEnv path with the env's tuned settings.

    :param env_id: gymnasium id
    :param lanes: lanes of the DummyVecEnv
    :param seed: run seed
    :param render_mode: the envs' render mode
    :param log: when given, every lane is wrapped in an :class:`EventRecorder` that logs here
    :return: the model
    """
    wrapper_class = None
    if log is not None:
        made = []

        def wrapper_class(env: gym.Env) -> gym.Env:
            made.append(env)
            return EventRecorder(env, len(made) - 1, log)

    policy, kwargs = tuned_or_default(env_id)
    kwargs["fast_path"] = False
    venv = make_vec_env(env_id, n_envs=lanes, wrapper_class=wrapper_class, env_kwargs={"render_mode": render_mode})
    return CoSyNE(policy, venv, seed=seed, verbose=0, **kwargs)


def replay(env_id: str, render_mode: str | None, lanes: int, log: EventLog) -> float:
    """
    Replay a run's resets and steps on plain envs (one per lane), in the run's order.

    :return: CPU seconds
    """
    envs = [gym.make(env_id, render_mode=render_mode) for _ in range(lanes)]
    start = time.process_time()
    for lane, is_reset, value in log:
        if is_reset:
            envs[lane].reset(seed=value)
        else:
            envs[lane].step(value)
    return time.process_time() - start


@njit(cache=True)
def enter(record, lanes, networks, target, actions) -> int:
    """Does nothing: calling it costs what entering a compiled function with the lane step's arguments costs."""
    return 0


def lane_step_arguments(model: CoSyNE, lanes: int) -> tuple:
    """Arguments of the types and shapes the VecEnv path's lane step takes for ``model`` on ``lanes`` lanes."""
    policy, space = model.policy, model.action_space
    float_box = isinstance(space, gym.spaces.Box) and np.issubdtype(space.dtype, np.floating)
    width = int(np.prod(space.shape)) if float_box else 0
    box_dtype = space.dtype if width else np.float64
    lane_arrays = Lanes(
        np.zeros((lanes, 3), dtype=np.int64),
        np.zeros((lanes, 4)),
        np.zeros((lanes, policy.obs_dim)),
        np.zeros((lanes, policy.num_params + policy.state_dim)),
        np.zeros((6, policy.obs_dim)),
        True,
        np.inf,
    )
    networks = LaneNetworks(policy.layer_sizes, policy.with_bias, policy.activation_code, True)
    target = LaneOutputs(np.zeros((lanes, int(policy.layer_sizes[-1]))), 0, np.zeros((3, width)))
    return (True, lane_arrays, networks, target, np.zeros((lanes, width), box_dtype))


def floor_replay(model: CoSyNE, env_id: str, render_mode: str | None, lanes: int, log: EventLog) -> float:
    """
    Replay a run's episodes as the least a Python-driven lane step can do: on ``Monitor``-wrapped envs, each
    step's observation, reward and end stored, and one call of :func:`enter` with the lane step's arguments per
    batched step (lanes step in increasing order, so a batched step starts where a lane does not follow the last).

    :return: CPU seconds
    """
    envs = [Monitor(gym.make(env_id, render_mode=render_mode)) for _ in range(lanes)]
    args = lane_step_arguments(model, lanes)
    kernel = direct_call(enter, *args)
    obs_out = np.zeros((lanes, int(np.prod(envs[0].observation_space.shape))))
    lane_out = np.zeros((lanes, 2))
    last = lanes
    start = time.process_time()
    for lane, is_reset, value in log:
        if is_reset:
            obs_out[lane] = envs[lane].reset(seed=value)[0]
            continue
        if lane <= last:
            kernel(*args)
        last = lane
        obs, reward, terminated, truncated, _ = envs[lane].step(value)
        obs_out[lane] = obs
        lane_out[lane, 0] = reward
        lane_out[lane, 1] = terminated or truncated
    return time.process_time() - start


def random_actions(env_id: str, render_mode: str | None, n_steps: int, seed: int) -> float:
    """
    Step a plain env with pre-drawn random actions, resetting with a new seed after every episode.

    :return: CPU seconds
    """
    env = gym.make(env_id, render_mode=render_mode)
    env.action_space.seed(seed)
    actions = [env.action_space.sample() for _ in range(n_steps)]
    episode = seed * 1_000_000
    start = time.process_time()
    env.reset(seed=episode)
    for action in actions:
        _, _, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            episode += 1
            env.reset(seed=episode)
    return time.process_time() - start


def measure(env_id: str, lanes: int, steps: int, seed: int, render_mode: str | None) -> Repeat:
    """One repeat: a logged untimed run, the same run timed, its replay, and random actions."""
    log: EventLog = []
    build_model(env_id, lanes, seed, render_mode, log).learn(steps)
    model = build_model(env_id, lanes, seed, render_mode)
    start = time.process_time()
    model.learn(steps)
    rollout_s = time.process_time() - start
    logged = sum(not is_reset for _, is_reset, _ in log)
    if logged != model.num_timesteps:
        raise RuntimeError(f"{env_id}: the logged run took {logged} steps, the timed one {model.num_timesteps}")
    replay_s = replay(env_id, render_mode, lanes, log)
    floor_s = floor_replay(model, env_id, render_mode, lanes, log)
    random_s = random_actions(env_id, render_mode, model.num_timesteps, seed)
    return Repeat(model.num_timesteps, rollout_s, replay_s, floor_s, random_s)


def describe(env_id: str) -> str:
    """The policy and population the benchmark runs on ``env_id``."""
    model = build_model(env_id, 1, 0)
    arch = "-".join(str(int(units)) for units in model.policy.layer_sizes)
    return f"{tuned_or_default(env_id)[0]} {arch} ({model.policy.num_params}), pop {model.pop_size}"


def row(env_id: str, lanes: int, repeats: list[Repeat]) -> dict[str, Any]:
    """Medians over repeats of the per-step costs and ratios."""

    def median(values: Any) -> float:
        return float(statistics.median(values))

    return {
        "env": env_id,
        "lanes": lanes,
        "setup": describe(env_id),
        "steps": median(r.steps for r in repeats),
        "rollout_us": median(1e6 * r.rollout_s / r.steps for r in repeats),
        "replay_us": median(1e6 * r.replay_s / r.steps for r in repeats),
        "overhead_us": median(1e6 * (r.rollout_s - r.replay_s) / r.steps for r in repeats),
        "env_share": median(r.replay_s / r.rollout_s for r in repeats),
        "floor_us": median(1e6 * (r.floor_s - r.replay_s) / r.steps for r in repeats),
        "floor_share": median(r.replay_s / r.floor_s for r in repeats),
        "random_us": median(1e6 * r.random_s / r.steps for r in repeats),
        "vs_random": median(r.random_s / r.rollout_s for r in repeats),
    }


def table(rows: list[dict[str, Any]], repeats: int) -> str:
    """The markdown table."""
    lines = [
        "| env | lanes | policy (params), population | steps per run | CoSyNE µs/step | same episodes, plain env µs/step "
        "| CoSyNE's own µs/step | env share of rollout time | floor's own µs/step | floor's env share "
        f"| random actions µs/step | rollout rate / random-action rate | ≥ {TARGET_ENV_SHARE:.0%} |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        met = "✔️" if r["env_share"] >= TARGET_ENV_SHARE else "❌"
        lines.append(
            f"| {r['env']} | {r['lanes']} | {r['setup']} | {r['steps']:,.0f} | {r['rollout_us']:.1f} | {r['replay_us']:.1f} "
            f"| {r['overhead_us']:.1f} | {r['env_share']:.2f} | {r['floor_us']:.1f} | {r['floor_share']:.2f} "
            f"| {r['random_us']:.1f} | {r['vs_random']:.2f} | {met} |"
        )
    lines.append("")
    lines.append(f"Medians over {repeats} repeats (seeds 0..{repeats - 1}), process CPU time, one thread.")
    return "\n".join(lines) + "\n"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--envs", nargs="+", default=[*CLASSIC_CONTROL, *BOX2D], choices=[*CLASSIC_CONTROL, *BOX2D])
    parser.add_argument("--lanes", nargs="+", type=int, default=[1, 8], help="lanes of the DummyVecEnv")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps", type=int, default=20_000, help="env steps per classic-control run (Box2D: fewer)")
    parser.add_argument(
        "--render-mode",
        choices=["rgb_array"],
        help="make every env with this render mode (SB3's make_vec_env asks for rgb_array; CoSyNE makes ids without)",
    )
    parser.add_argument("--markdown", type=Path, help="write the table here")
    return parser.parse_args()


def main() -> None:
    """Measure every env and lane count and print the table."""
    args = parse_args()
    torch.set_num_threads(1)
    rows = []
    for env_id in args.envs:
        steps = max(1, round(args.steps * STEP_SCALE[env_id]))
        for lanes in args.lanes:
            repeats = [measure(env_id, lanes, steps, seed, args.render_mode) for seed in range(args.repeats)]
            rows.append(row(env_id, lanes, repeats))
            share, own = rows[-1]["env_share"], rows[-1]["overhead_us"]
            floor = rows[-1]["floor_share"]
            print(
                f"{env_id} lanes={lanes}: env share {share:.2f} (floor {floor:.2f}), CoSyNE's own {own:.1f} µs/step",
                flush=True,
            )
    markdown = table(rows, args.repeats)
    print(markdown)
    if args.markdown is not None:
        args.markdown.write_text(markdown)


if __name__ == "__main__":
    main()
