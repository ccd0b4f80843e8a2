"""The CoSyNE paper's pole-balancing tasks as gymnasium envs, registered on import.

=====================================  ============================================  =======================
id                                     task (JMLR §5)                                observation
=====================================  ============================================  =======================
``sb3_cosyne/SinglePole-v0``           1a: one pole, complete state                  x, ẋ, θ, θ̇
``sb3_cosyne/SinglePoleNoVel-v0``      1b: one pole, incomplete state                x, θ
``sb3_cosyne/DoublePole-v0``           2a: two poles, complete state (Markov)        x, ẋ, θ1, θ̇1, θ2, θ̇2
``sb3_cosyne/DoublePoleNoVel-v0``      2b: two poles, incomplete state (non-Markov)  x, θ1, θ2
=====================================  ============================================  =======================

All truncate at 100,000 steps (the paper's "solved"); pass ``max_episode_steps`` to ``gym.make`` to change
it, and ``fitness="damping"`` for Gruau's damping fitness.
"""

from gymnasium.envs.registration import register, registry

from sb3_cosyne.envs.cartpole import CartPoleEnv, damping_fitness
from sb3_cosyne.envs.generalization import generalization_starts, generalization_successes, generalization_test
from sb3_cosyne.envs.mirrors import MIRRORS
from sb3_cosyne.envs.shaping import FallPenalty

#: Steps after which an episode counts as solved in the paper.
SOLVED_STEPS = 100_000

POLE_ENVS = {
    "sb3_cosyne/SinglePole-v0": {"n_poles": 1, "markov": True},
    "sb3_cosyne/SinglePoleNoVel-v0": {"n_poles": 1, "markov": False},
    "sb3_cosyne/DoublePole-v0": {"n_poles": 2, "markov": True},
    "sb3_cosyne/DoublePoleNoVel-v0": {"n_poles": 2, "markov": False},
}

for _env_id, _kwargs in POLE_ENVS.items():
    # Registering an existing id only warns, but a reloaded module should not even do that.
    if _env_id not in registry:
        register(
            id=_env_id, entry_point="sb3_cosyne.envs.cartpole:CartPoleEnv", max_episode_steps=SOLVED_STEPS, kwargs=_kwargs
        )

__all__ = [
    "MIRRORS",
    "POLE_ENVS",
    "SOLVED_STEPS",
    "CartPoleEnv",
    "FallPenalty",
    "damping_fitness",
    "generalization_starts",
    "generalization_successes",
    "generalization_test",
]
