"""CoSyNE as a Stable-Baselines3 algorithm: the model class, its policies and its champion."""

from sb3_cosyne.algorithm.champion import Champion
from sb3_cosyne.algorithm.cosyne import CoSyNE
from sb3_cosyne.algorithm.policies import (
    CoSyNELinearPolicy,
    CoSyNEPolicy,
    CoSyNERecurrentPolicy,
    LinearPolicy,
    MlpPolicy,
    RecurrentPolicy,
)

__all__ = [
    "Champion",
    "CoSyNE",
    "CoSyNELinearPolicy",
    "CoSyNEPolicy",
    "CoSyNERecurrentPolicy",
    "LinearPolicy",
    "MlpPolicy",
    "RecurrentPolicy",
]
