"""The module paths of sb3-cosyne 0.1.0, which kept the algorithm, networks and evaluation in ``sb3_cosyne.cosyne``.

Models saved by 0.1.0 name their policy class by its module path (``sb3_cosyne.cosyne.policies``), and code may
import from ``sb3_cosyne.cosyne``: both keep working through these aliases.
"""

import sys
import types

from sb3_cosyne.algorithm import policies
from sb3_cosyne.algorithm.cosyne import CoSyNE
from sb3_cosyne.evaluation import BaseEvaluator, RayEvaluator, SubprocEvaluator


def register_legacy_modules() -> None:
    """Make ``sb3_cosyne.cosyne`` and ``sb3_cosyne.cosyne.policies`` importable (once)."""
    if "sb3_cosyne.cosyne" in sys.modules:
        return
    legacy = types.ModuleType("sb3_cosyne.cosyne", "sb3-cosyne 0.1.0's package of the algorithm (moved)")
    names = {
        "CoSyNE": CoSyNE,
        "BaseEvaluator": BaseEvaluator,
        "RayEvaluator": RayEvaluator,
        "SubprocEvaluator": SubprocEvaluator,
        **{name: getattr(policies, name) for name in policies.__all__},
    }
    legacy.__dict__.update(names, __all__=sorted(names), policies=policies)
    sys.modules["sb3_cosyne.cosyne"] = legacy
    sys.modules["sb3_cosyne.cosyne.policies"] = policies
