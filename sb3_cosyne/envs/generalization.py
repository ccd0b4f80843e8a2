"""The 625-start generalization test of the double-pole task (Gruau et al. 1996; used by ESP and NEAT).

The controller is run from each of the 5⁴ starts of a grid over (x, ẋ, θ1, θ̇1), with the short pole
upright and still, for up to 1000 steps; the score is the number of starts from which it balances all of
them. The grid is Gomez's ``CartPole::generalizationTest`` (identical to NEAT's ``pole2_epoch``):
``v ∈ {0.05, 0.25, 0.5, 0.75, 0.95}``, x = 4.32·v − 2.16, ẋ = 2.70·v − 1.35, θ1 = 0.12566304·v − 0.06283152,
θ̇1 = 0.30019504·v − 0.15009752.

A start succeeds here when the episode does not terminate within ``steps`` actions. Gomez's and NEAT's loops
count a failure at the 1000th action as a success too (their step counter includes the failing step); that
one-step difference is deliberate.
"""

from typing import Any

import gymnasium as gym
import numpy as np

#: Grid fractions of Gomez's and NEAT's code.
GRID_FRACTIONS = np.array([0.05, 0.25, 0.5, 0.75, 0.95])


def generalization_starts() -> np.ndarray:
    """
    The 625 start states of the test, in Gomez's loop order (x outermost, θ̇1 innermost).

    :return: array of shape ``(625, 6)``: ``(x, ẋ, θ1, θ̇1, θ2 = 0, θ̇2 = 0)``
    """
    v = GRID_FRACTIONS
    axes = (v * 4.32 - 2.16, v * 2.70 - 1.35, v * 0.12566304 - 0.06283152, v * 0.30019504 - 0.15009752)
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 4)
    return np.concatenate([grid, np.zeros((len(grid), 2))], axis=1)


def generalization_successes(
    model: Any, env_id: str = "sb3_cosyne/DoublePoleNoVel-v0", steps: int = 1000, env_kwargs: dict | None = None
) -> np.ndarray:
    """
    Run ``model`` from every start of :func:`generalization_starts` and tell which ones it balances.

    All 625 episodes run side by side, the model seeing a batch of 625 observations at each step (finished
    episodes keep their last observation and their actions are ignored), so a recurrent model's ``state`` is
    carried per episode, with ``episode_start`` true at each episode's first step only.

    :param model: anything with SB3's ``predict(obs, state=None, episode_start=None, deterministic=True)``
        returning ``(actions, state)`` for a batch of observations
    :param env_id: a registered pole-balancing env; with one pole only (x, ẋ, θ1, θ̇1) of each start is used
    :param steps: the number of steps to balance
    :param env_kwargs: extra keyword arguments for ``gym.make``
    :return: boolean array of shape ``(625,)``, True where the episode lasted ``steps`` steps without failing
    """
    starts = generalization_starts()
    n = len(starts)
    envs = [gym.make(env_id, max_episode_steps=steps, disable_env_checker=True, **(env_kwargs or {})) for _ in range(n)]
    state_dim = envs[0].unwrapped.state.shape[0]
    obs = np.stack([env.reset(options={"state": start[:state_dim]})[0] for env, start in zip(envs, starts, strict=True)])
    alive = np.ones(n, dtype=bool)
    recurrent_state = None
    episode_start = np.ones(n, dtype=bool)
    for _ in range(steps):
        actions, recurrent_state = model.predict(obs, state=recurrent_state, episode_start=episode_start, deterministic=True)
        episode_start = np.zeros(n, dtype=bool)
        for i in np.flatnonzero(alive):
            obs[i], _, terminated, _, _ = envs[i].step(actions[i])
            alive[i] = not terminated
        if not alive.any():
            break
    for env in envs:
        env.close()
    return alive


def generalization_test(
    model: Any, env_id: str = "sb3_cosyne/DoublePoleNoVel-v0", steps: int = 1000, env_kwargs: dict | None = None
) -> int:
    """
    The generalization score: from how many of the 625 starts ``model`` balances ``steps`` steps.

    :param model: anything with SB3's ``predict(obs, state=None, episode_start=None, deterministic=True)``
    :param env_id: a registered pole-balancing env (the non-Markov double pole by default)
    :param steps: the number of steps to balance (1000 in the literature)
    :param env_kwargs: extra keyword arguments for ``gym.make``
    :return: the number of successful starts, 0 to 625
    """
    return int(generalization_successes(model, env_id, steps, env_kwargs).sum())
