"""Launching the runs: one fresh single-threaded process per run, ``--jobs`` at a time, and what ``--resume`` keeps."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Any

from benchmarks.time_to_solve.tasks import CRITERION_DEFAULTS, REPO_ROOT

# numpy wheels use OpenBLAS, hence OPENBLAS_NUM_THREADS on top of the OpenMP/MKL/Numba variables;
# hiding GPUs keeps every algorithm on the same single CPU core.
SINGLE_THREAD_ENV = {
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "NUMBA_NUM_THREADS": "1",
    "CUDA_VISIBLE_DEVICES": "",
}


def make_specs(envs: list[str], algos: list[str], seeds: list[int], base: dict[str, Any], cold: bool) -> list[dict[str, Any]]:
    """
    :param envs: env ids
    :param algos: algorithms
    :param seeds: seeds of the warm-cache runs
    :param base: what every spec shares (``max_cpu``, ``confirm``, ``final_episodes``)
    :param cold: add one CoSyNE run per env with an empty Numba cache (on the first seed)
    :return: the run specs
    """
    run = {**base, "mode": "run", "cold": False}
    specs = [{**run, "env": env_id, "algo": algo, "seed": seed} for env_id in envs for algo in algos for seed in seeds]
    if cold and "cosyne" in algos:
        specs += [{**run, "env": env_id, "algo": "cosyne", "seed": seeds[0], "cold": True} for env_id in envs]
    return specs


def describe(spec: dict[str, Any]) -> str:
    """
    :param spec: run or warm-up spec
    :return: short label for progress messages
    """
    label = f"{spec['mode']} {spec['env']} {spec['algo']} seed={spec['seed']}"
    return label + " (cold Numba cache)" if spec.get("cold") else label


def run_key(run: dict[str, Any]) -> tuple[str, str, int, bool]:
    """
    :param run: run spec or record
    :return: identity of a run, used by ``--resume``
    """
    return run["env"], run["algo"], run["seed"], run["cold"]


def launch(spec: dict[str, Any]) -> dict[str, Any] | None:
    """
    Run a spec in a fresh single-threaded Python process (cold runs get an empty Numba cache).

    :param spec: env, algo, seed, max_cpu, cold, mode
    :return: the run's record, ``None`` for warm-ups and failures (reported on stderr)
    """
    env = {**os.environ, **SINGLE_THREAD_ENV}
    cache_dir = tempfile.mkdtemp(prefix="numba-cold-") if spec.get("cold") else None
    if cache_dir is not None:
        env["NUMBA_CACHE_DIR"] = cache_dir
    fd, out = tempfile.mkstemp(suffix=".json", prefix="time-to-solve-")
    os.close(fd)
    try:
        command = [sys.executable, "-m", "benchmarks.time_to_solve", "--worker", json.dumps({**spec, "out": out})]
        proc = subprocess.run(command, env=env, cwd=REPO_ROOT, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            print(f"FAILED {describe(spec)} (exit {proc.returncode}):\n{proc.stderr[-3000:]}", file=sys.stderr)
            return None
        text = Path(out).read_text()
        return json.loads(text) if text else None
    finally:
        os.remove(out)
        if cache_dir is not None:
            shutil.rmtree(cache_dir, ignore_errors=True)


def warm_up(specs: list[dict[str, Any]]) -> None:
    """
    Fill Numba's cache for the envs of the warm-cache CoSyNE runs, so that compilation is not charged to whichever
    seed runs first.

    :param specs: the runs to come
    """
    for env_id in sorted({spec["env"] for spec in specs if spec["algo"] == "cosyne" and not spec["cold"]}):
        print(f"warm-up {env_id} cosyne", file=sys.stderr)
        launch({"mode": "warmup", "env": env_id, "algo": "cosyne", "seed": 0})


def run_specs(specs: list[dict[str, Any]], jobs: int, on_result: Callable[[dict[str, Any]], None]) -> int:
    """
    Run specs ``jobs`` at a time.

    :param specs: run specs
    :param jobs: number of concurrent worker processes
    :param on_result: called in the main thread with each finished run
    :return: number of failed runs
    """
    failures = 0
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = {pool.submit(launch, spec): spec for spec in specs}
        for future in as_completed(futures):
            result = future.result()
            if result is None:
                failures += 1
                continue
            on_result(result)
            outcome = f"solved in {result['cpu_s']:.2f} CPU s, {result['steps']} steps" if result["solved"] else result["stop"]
            print(f"done {describe(futures[future])}: {outcome}", file=sys.stderr)
    return failures


def load_runs(path: Path, criterion: dict[str, Any]) -> list[dict[str, Any]]:
    """
    Runs from a previous invocation; those measured under another CPU cap or solved criterion are dropped
    (they would be rerun).

    :param path: results document written by ``--out`` (or a bare list of runs, as earlier versions wrote)
    :param criterion: the current ``max_cpu``, ``confirm`` and ``final_episodes``
    :return: runs to keep
    """
    if not path.exists():
        return []
    saved = json.loads(path.read_text())
    runs = saved if isinstance(saved, list) else saved["results"]
    kept = [run for run in runs if all(run.get(key, CRITERION_DEFAULTS.get(key)) == value for key, value in criterion.items())]
    if len(kept) < len(runs):
        flags = ", ".join(f"--{key.replace('_', '-')}" for key in criterion)
        print(f"--resume: dropping {len(runs) - len(kept)} runs measured with another {flags}", file=sys.stderr)
    return kept
