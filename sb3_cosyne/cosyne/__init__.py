from sb3_cosyne.cosyne.cosyne import CoSyNE
from sb3_cosyne.cosyne.policies import (
    CoSyNELinearPolicy,
    CoSyNEPolicy,
    CoSyNERecurrentPolicy,
    LinearPolicy,
    MlpPolicy,
    RecurrentPolicy,
)

__all__ = [
    "CoSyNE",
    "CoSyNELinearPolicy",
    "CoSyNEPolicy",
    "CoSyNERecurrentPolicy",
    "LinearPolicy",
    "MlpPolicy",
    "RecurrentPolicy",
]
