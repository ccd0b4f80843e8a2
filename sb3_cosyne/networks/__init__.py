"""CoSyNE's networks without SB3: their description, the Numba and torch forwards, activations, and how
observations become inputs and outputs become actions."""

from sb3_cosyne.networks.spec import NetworkSpec

__all__ = ["NetworkSpec"]
