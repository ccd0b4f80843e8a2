"""sb3-cosyne: CoSyNE (Cooperative Synapse NeuroEvolution) as a Stable-Baselines3 algorithm."""

import sb3_cosyne.envs  # noqa: F401  (registers the paper's pole-balancing envs with gymnasium)
from sb3_cosyne.core import CoSyNEStrategy
from sb3_cosyne.cosyne import (
    BaseEvaluator,
    CoSyNE,
    CoSyNELinearPolicy,
    CoSyNEPolicy,
    CoSyNERecurrentPolicy,
    LinearPolicy,
    MlpPolicy,
    RecurrentPolicy,
)
from sb3_cosyne.cosyne.ray_evaluator import RayEvaluator
from sb3_cosyne.cosyne.subproc_evaluator import SubprocEvaluator

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
