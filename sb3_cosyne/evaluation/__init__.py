"""Running networks' episodes: on the lanes of a VecEnv, in compiled rollouts, or in worker processes and Ray actors.

It uses :mod:`sb3_cosyne.networks` and :mod:`sb3_cosyne.envs`, and knows nothing of the SB3 algorithm.
"""

from sb3_cosyne.evaluation.evaluator import BaseEvaluator, EvaluationCall
from sb3_cosyne.evaluation.fast_path import compiled_rollout
from sb3_cosyne.evaluation.lanes import evaluate_networks
from sb3_cosyne.evaluation.ray_evaluator import RayEvaluator
from sb3_cosyne.evaluation.result import EnvStepError, EvaluationResult
from sb3_cosyne.evaluation.subproc_evaluator import SubprocEvaluator

__all__ = [
    "BaseEvaluator",
    "EnvStepError",
    "EvaluationCall",
    "EvaluationResult",
    "RayEvaluator",
    "SubprocEvaluator",
    "compiled_rollout",
    "evaluate_networks",
]
