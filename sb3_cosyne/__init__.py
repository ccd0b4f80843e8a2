"""sb3-cosyne: CoSyNE (Cooperative Synapse NeuroEvolution) as a Stable-Baselines3 algorithm."""

from sb3_cosyne.core import CoSyNEStrategy
from sb3_cosyne.cosyne import CoSyNE, CoSyNELinearPolicy, CoSyNEPolicy, LinearPolicy, MlpPolicy

__version__ = "0.1.0"

__all__ = ["CoSyNE", "CoSyNELinearPolicy", "CoSyNEPolicy", "CoSyNEStrategy", "LinearPolicy", "MlpPolicy", "__version__"]
import sb3_cosyne.envs  # noqa: E402, F401  (registers the pole-balancing envs)
