from sb3_cosyne.cosyne.cosyne import CoSyNE
from sb3_cosyne.cosyne.evaluator import BaseEvaluator
from sb3_cosyne.cosyne.policies import (
    CoSyNELinearPolicy,
    CoSyNEPolicy,
    CoSyNERecurrentPolicy,
    LinearPolicy,
    MlpPolicy,
    RecurrentPolicy,
)
from sb3_cosyne.cosyne.ray_evaluator import RayEvaluator
from sb3_cosyne.cosyne.subproc_evaluator import SubprocEvaluator

__all__ = [
    "BaseEvaluator",
    "CoSyNE",
    "CoSyNELinearPolicy",
    "CoSyNEPolicy",
    "CoSyNERecurrentPolicy",
    "LinearPolicy",
    "MlpPolicy",
    "RayEvaluator",
    "RecurrentPolicy",
    "SubprocEvaluator",
]
