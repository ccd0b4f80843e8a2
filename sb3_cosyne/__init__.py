"""sb3-cosyne: CoSyNE (Cooperative Synapse NeuroEvolution) as a Stable-Baselines3 algorithm.

The package's layers, each using only those above it in this list:

- :mod:`sb3_cosyne.core`: the evolutionary operators and the ask/tell strategy (numpy and Numba, no RL);
- :mod:`sb3_cosyne.networks`: the network description, its Numba and torch forwards, observation and action mapping;
- :mod:`sb3_cosyne.envs`: the paper's pole-balancing envs and compiled ports of gymnasium's classic control;
- :mod:`sb3_cosyne.evaluation`: running networks' episodes (VecEnv lanes, compiled rollouts, workers, Ray);
- :mod:`sb3_cosyne.algorithm`: the SB3 algorithm, its policies and champion;
- :mod:`sb3_cosyne.hyperparams`, :mod:`sb3_cosyne.zoo`, :mod:`sb3_cosyne.compare`: tuned settings, rl_zoo3 and
  comparisons.
"""

import sb3_cosyne.envs  # noqa: F401  (registers the paper's pole-balancing envs with gymnasium)
from sb3_cosyne._legacy import register_legacy_modules
from sb3_cosyne.algorithm import (
    CoSyNE,
    CoSyNELinearPolicy,
    CoSyNEPolicy,
    CoSyNERecurrentPolicy,
    LinearPolicy,
    MlpPolicy,
    RecurrentPolicy,
)
from sb3_cosyne.core import CoSyNEStrategy
from sb3_cosyne.evaluation import BaseEvaluator, RayEvaluator, SubprocEvaluator

register_legacy_modules()

__version__ = "0.1.0"

__all__ = [
    "BaseEvaluator",
    "CoSyNE",
    "CoSyNELinearPolicy",
    "CoSyNEPolicy",
    "CoSyNERecurrentPolicy",
    "CoSyNEStrategy",
    "LinearPolicy",
    "MlpPolicy",
    "RayEvaluator",
    "RecurrentPolicy",
    "SubprocEvaluator",
    "__version__",
]
