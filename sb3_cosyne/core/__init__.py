"""The RL-agnostic CoSyNE core: Numba operators and an ask/tell optimiser."""

from sb3_cosyne.core.strategy import CoSyNEStrategy

__all__ = ["CoSyNEStrategy"]
