"""
One timed run, in its own single-threaded process: ``python -m benchmarks.time_to_solve --worker SPEC``.

Gymnasium, numpy, torch and SB3 are imported with this module, before any clock; the algorithm's own modules are
imported and timed apart (a cold Numba cache may compile at import); then the run is timed by its tracker.
"""

import importlib
import json
import math
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import gymnasium  # noqa: F401  (imported untimed, like numpy, torch and SB3: shared by every algorithm)
import numpy  # noqa: F401
import stable_baselines3  # noqa: F401
import torch

from benchmarks.time_to_solve.tasks import BUDGETS, CRITERION_DEFAULTS, THRESHOLDS

# Modules imported (and timed separately) before the training clock starts: the algorithm and what builds it.
ALGO_MODULES = {"cosyne": "sb3_cosyne", "cmaes": "cma", "ars": "rl_zoo3.exp_manager", "ppo": "rl_zoo3.exp_manager"}


def timed_import(module: str) -> tuple[float, float]:
    """
    :param module: module to import
    :return: CPU and wall seconds its import took
    """
    cpu0, wall0 = time.process_time(), time.perf_counter()
    importlib.import_module(module)
    return time.process_time() - cpu0, time.perf_counter() - wall0


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None


def run_one(spec: dict[str, Any]) -> dict[str, Any]:
    """
    One timed run.

    :param spec: env, algo, seed, max_cpu, cold, confirm, final_episodes
    :return: the run's record
    """
    env_id, algo, seed = spec["env"], spec["algo"], spec["seed"]
    import_cpu_s, import_wall_s = timed_import(ALGO_MODULES[algo])
    # Only now: the tracker's clock comes from sb3_cosyne, whose import is CoSyNE's to time.
    from benchmarks.time_to_solve.tracking import OutOfTime, Solved, Tracker
    from benchmarks.time_to_solve.training import train

    criterion = {**CRITERION_DEFAULTS, **spec}
    tracker = Tracker(env_id, spec["max_cpu"], criterion["confirm"], criterion["final_episodes"])
    with tempfile.TemporaryDirectory(prefix="time-to-solve-") as scratch:
        tracker.clock.resume()
        try:
            train(algo, env_id, seed, tracker, Path(scratch))
            stop = "budget"
        except Solved:
            stop = "solved"
        except OutOfTime:
            stop = "cpu_cap"
    solution = tracker.solution
    return {
        "env": env_id,
        "algo": algo,
        "seed": seed,
        "cold": spec["cold"],
        "solved": stop == "solved",
        "stop": stop,
        "cpu_s": solution.get("cpu_s"),
        "wall_s": solution.get("wall_s"),
        "steps": solution.get("steps"),
        # Unsolved runs keep the best 10-episode (and final-episode) means seen; eval_final is the final episodes' mean.
        "eval10": solution.get("eval10", _finite_or_none(tracker.best_eval10)),
        "eval_final": solution.get("eval_final", _finite_or_none(tracker.best_eval_final)),
        "confirm": criterion["confirm"],
        "final_episodes": criterion["final_episodes"],
        # Where every run stopped: training env steps and CPU seconds (evaluation excluded).
        "steps_run": tracker.steps,
        "cpu_run_s": tracker.clock.seconds("cpu"),
        "max_cpu": spec["max_cpu"],
        "threshold": THRESHOLDS[env_id],
        "budget": BUDGETS[env_id],
        "import_cpu_s": import_cpu_s,
        "import_wall_s": import_wall_s,
    }


def worker_main(spec_json: str) -> None:
    """
    Entry point of a worker subprocess: run or warm up, then write the record to ``spec["out"]``.

    :param spec_json: JSON-encoded spec
    """
    spec = json.loads(spec_json)
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore", message="Could not import matplotlib")
    if spec["mode"] == "warmup":
        from benchmarks.time_to_solve.training import warm_up

        warm_up(spec["env"])
        return
    Path(spec["out"]).write_text(json.dumps(run_one(spec)))
