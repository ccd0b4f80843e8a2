from sb3_cosyne.cosyne.cosyne import CoSyNE
from sb3_cosyne.cosyne.policies import CoSyNELinearPolicy, CoSyNEPolicy, LinearPolicy, MlpPolicy

__all__ = ["CoSyNE", "CoSyNELinearPolicy", "CoSyNEPolicy", "LinearPolicy", "MlpPolicy"]
