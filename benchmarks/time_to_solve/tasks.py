"""What each env asks of a run: the return that counts as solved, the step budget and the evaluation schedule."""

from pathlib import Path

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
# The paper's pole-balancing tasks: solved when one episode from their single start state lasts 100,000 steps.
POLE_ENVS = tuple(f"sb3_cosyne/{name}-v0" for name in ("SinglePole", "SinglePoleNoVel", "DoublePole", "DoublePoleNoVel"))
# Mean evaluation return that counts as solved: the env's reward_threshold (gymnasium's spec; Pendulum has none).
THRESHOLDS: dict[str, float] = {
    "CartPole-v1": 475.0,
    "Acrobot-v1": -100.0,
    "MountainCar-v0": -110.0,
    "MountainCarContinuous-v0": 90.0,
    "Pendulum-v1": -200.0,
    "LunarLander-v3": 200.0,
    "LunarLanderContinuous-v3": 200.0,
    "BipedalWalker-v3": 300.0,
    **dict.fromkeys(POLE_ENVS, 100_000.0),
}
# The envs compared across algorithms by default.
COMPARISON_ENVS = ("CartPole-v1", "Acrobot-v1", "MountainCarContinuous-v0", "Pendulum-v1", "LunarLander-v3")
# Training env steps after which a run counts as not solved: the n_timesteps of CoSyNE's tuned entries (read without
# importing sb3_cosyne, whose import is timed apart).
BUDGETS: dict[str, int] = {
    env_id: int(entry["n_timesteps"])
    for env_id, entry in yaml.safe_load((REPO_ROOT / "sb3_cosyne" / "hyperparams" / "cosyne.yml").read_text()).items()
}
ALGOS = ("cosyne", "cmaes", "ars", "ppo")

EVAL_FRACTION = 0.001
# Evaluate less often where evaluation episodes are long and slow (Box2D, up to 1,600 steps), so that they do not
# dominate the benchmark's wall time.
EVAL_FRACTIONS: dict[str, float] = {"LunarLanderContinuous-v3": 0.002, "BipedalWalker-v3": 0.01}
EVAL_EPISODES, EVAL_SEED = 10, 10_000
FINAL_EPISODES, FINAL_SEED = 50, 20_000
#: what a run spec or record without these fields was measured with (recorded before --confirm and --final-episodes)
CRITERION_DEFAULTS = {"confirm": False, "final_episodes": FINAL_EPISODES}
# Deterministic envs (one start state): one episode is the whole evaluation.
DETERMINISTIC_EPISODES = 1


def eval_every(env_id: str) -> int:
    """
    :param env_id: gymnasium id
    :return: training env steps between two evaluations
    """
    return max(1, round(BUDGETS[env_id] * EVAL_FRACTIONS.get(env_id, EVAL_FRACTION)))


def schedule(final_episodes: int = FINAL_EPISODES) -> dict[str, object]:
    """
    :param final_episodes: the fresh episodes that score a passing policy (``--final-episodes``)
    :return: the evaluation schedule, as the results document records it
    """
    return {
        "eval_fraction": EVAL_FRACTION,
        "eval_fractions": EVAL_FRACTIONS,
        "eval_episodes": EVAL_EPISODES,
        "eval_seed": EVAL_SEED,
        "final_episodes": final_episodes,
        "final_seed": FINAL_SEED,
    }
